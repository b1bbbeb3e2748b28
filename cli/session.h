// A stand-alone program's bus: its own ZeroMQ context, one EventLoop run on the main thread,
// and a logger that writes to stderr. Everything with a socket on this bus must be destroyed
// before the Session (terminating the context waits for open sockets and, up to their linger,
// for messages still leaving).
#pragma once

#include <zmq.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>

#include "tessera/message.h"
#include "tessera/result.h"
#include "tessera/sdk/channels.h"
#include "tessera/sdk/event_loop.h"
#include "tessera/sdk/logger.h"
#include "tessera/sdk/master_detector.h"

namespace tessera::cli {

class Session {
 public:
  // `log_level` is a TESSERA_LOG_* value: messages of the SDK at or above it go to stderr.
  explicit Session(int log_level);
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  sdk::EventLoop& loop() { return loop_; }
  sdk::Bus& bus() { return bus_; }

 private:
  struct Context {
    void* handle = zmq_ctx_new();
    ~Context() { zmq_ctx_term(handle); }
  };
  Context context_;  // first: destroyed last
  sdk::EventLoop loop_;
  sdk::Bus bus_;
};

// The message for masters that do not answer (`masters`: one, or a comma-separated list).
std::string no_answer(const std::string& masters);

// Sends one request to the leading master among `masters` (a list as resolve_master gives) and
// runs the loop until its answer arrives or `timeout` passes. The masters are tried in turn,
// each for its share of `timeout`, and a master.not_leader answer is followed to the leader it
// names (sdk::MasterCall). The error is no_answer(), or says that no master leads.
template <typename T>
Result<Envelope> ask_master(Session& session, const std::string& masters, const T& request,
                            std::chrono::milliseconds timeout) {
  auto detector = sdk::make_master_detector(session.bus(), masters);
  if (!detector) return detector.error();
  auto share =
      std::max(std::chrono::milliseconds(250),
               timeout / static_cast<int64_t>(std::max<size_t>(1, (*detector)->candidates())));
  std::optional<Result<Envelope>> answer;
  sdk::MasterCall call(session.bus(), **detector);
  call.start(request, share, timeout, [&](Result<Envelope> reply, const std::string&) {
    answer.emplace(std::move(reply));
    session.loop().request_stop();
  });
  session.loop().run();
  session.loop().reset_stop();
  if (answer && *answer) return std::move(*answer);
  if (call.found_no_leader()) {
    return make_error("no leading master at " + masters + ": " + call.last_problem());
  }
  return make_error(no_answer(masters));
}

}  // namespace tessera::cli

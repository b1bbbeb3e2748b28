// A stand-alone program's bus: its own ZeroMQ context, one EventLoop run on the main thread,
// and a logger that writes to stderr. Everything with a socket on this bus must be destroyed
// before the Session (terminating the context waits for open sockets and, up to their linger,
// for messages still leaving).
#pragma once

#include <zmq.h>
#include <chrono>
#include <optional>
#include <string>

#include "tessera/message.h"
#include "tessera/result.h"
#include "tessera/sdk/channels.h"
#include "tessera/sdk/event_loop.h"
#include "tessera/sdk/logger.h"

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

// The message for a master that does not answer.
std::string no_answer(const std::string& master);

// Sends one request to the master and runs the loop until its answer arrives or `timeout`
// passes (then the error is no_answer()).
template <typename T>
Result<Envelope> ask_master(Session& session, const std::string& master, const T& request,
                            std::chrono::milliseconds timeout) {
  sdk::Client client(session.bus(), "operator");
  if (auto s = client.connect(master); !s) return s.error();
  std::optional<Result<Envelope>> answer;
  client.request(
      request,
      [&](Result<Envelope> reply) {
        answer.emplace(std::move(reply));
        session.loop().request_stop();
      },
      timeout);
  session.loop().run();
  session.loop().reset_stop();
  if (!answer || !*answer) return make_error(no_answer(master));
  return std::move(*answer);
}

}  // namespace tessera::cli

// A test double of the master for the agent role's tests: a ROUTER on tcp, on its own ZeroMQ
// context, served on the test's thread. It speaks protocol/agent.h: it answers agent.register,
// records what the agent sends, and acknowledges, pings, runs and kills only when a test says so.
#pragma once

#include <gtest/gtest.h>
#include <zmq.h>

#include <chrono>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "tessera/protocol/agent.h"
#include "tessera/sdk/channels.h"
#include "tessera/sdk/event_loop.h"

namespace tessera::testing {

namespace agentp = tessera::protocol::agent;
using tessera::protocol::TaskInfo;
using tessera::protocol::TaskStatus;
using namespace std::chrono_literals;

// A ZeroMQ context terminated after everything declared after it.
struct OwnContext {
  void* handle = zmq_ctx_new();
  ~OwnContext() { zmq_ctx_term(handle); }
};

struct FakeMaster {
  FakeMaster() : bus{context.handle, &loop, {}, "master"}, server(bus, "master") {
    auto bound = server.bind("tcp://127.0.0.1:0");
    EXPECT_TRUE(bound.ok()) << bound.error().message;
    endpoint = *bound;
    server.on<agentp::Register>([this](const tessera::sdk::Request& r, const agentp::Register& m) {
      registers.push_back(m);
      register_times.push_back(std::chrono::steady_clock::now());
      peer = r.peer;
      if (!answer_registrations) return;
      server.reply(r, agentp::Registered{m.agent_id.empty() ? give_id : m.agent_id, "master-1",
                                         ping_interval_seconds, ""});
    });
    server.on<agentp::StatusUpdate>(
        [this](const tessera::sdk::Request& r, const agentp::StatusUpdate& m) {
          peer = r.peer;
          updates.push_back(m.status);
          update_agent_ids.insert(m.agent_id);
          if (auto_ack) ack(m.status);
        });
    server.on<agentp::FrameworkMessage>(
        [this](const tessera::sdk::Request&, const agentp::FrameworkMessage& m) {
          messages.push_back(m);
        });
    server.on<agentp::Pong>(
        [this](const tessera::sdk::Request&, const agentp::Pong& m) { pongs.push_back(m); });
    server.on<agentp::ExecutorExited>(
        [this](const tessera::sdk::Request&, const agentp::ExecutorExited& m) {
          executor_exits.push_back(m);
        });
  }

  // Serves the socket until `done` holds or `timeout` passes; returns `done()`.
  bool wait(const std::function<bool()>& done, std::chrono::milliseconds timeout = 15s) {
    if (done()) return true;
    auto poll = loop.every(10ms, [&] {
      if (done()) loop.request_stop();
    });
    auto limit = loop.after(timeout, [&] { loop.request_stop(); });
    loop.run();
    loop.reset_stop();
    loop.cancel(poll);
    loop.cancel(limit);
    return done();
  }
  // Serves the socket for `period`.
  void serve_for(std::chrono::milliseconds period) {
    wait([] { return false; }, period);
  }

  // Pings the agent and serves until its pong: everything the agent sent on its connection
  // before it handled the ping has arrived by then.
  bool round_trip() {
    size_t before = pongs.size();
    push(agentp::Ping{++ping_sequence});
    return wait([&] { return pongs.size() > before; });
  }

  template <typename T>
  void push(const T& body) {
    ASSERT_FALSE(peer.empty()) << "no agent has spoken to the master yet";
    server.send(peer, body);
  }
  void ack(const TaskStatus& s) {
    server.send(peer, agentp::StatusAck{s.framework_id, s.task_id, s.uuid});
  }

  // The updates received for one task, in arrival order.
  std::vector<TaskStatus> of(const std::string& task) const {
    std::vector<TaskStatus> out;
    for (const auto& u : updates) {
      if (u.task_id == task) out.push_back(u);
    }
    return out;
  }
  std::optional<TaskStatus> last(const std::string& task) const {
    auto list = of(task);
    if (list.empty()) return std::nullopt;
    return list.back();
  }
  bool reached(const std::string& task, const std::string& st) const {
    for (const auto& u : of(task)) {
      if (u.state == st) return true;
    }
    return false;
  }

  OwnContext context;
  tessera::sdk::EventLoop loop;
  tessera::sdk::Bus bus;
  tessera::sdk::Server server;
  std::string endpoint;
  std::string peer;
  bool answer_registrations = true;
  bool auto_ack = false;
  std::string give_id = "agent-1";
  double ping_interval_seconds = 30;
  uint64_t ping_sequence = 0;
  std::vector<agentp::Register> registers;
  std::vector<std::chrono::steady_clock::time_point> register_times;  // when each arrived
  std::vector<TaskStatus> updates;
  std::set<std::string> update_agent_ids;
  std::vector<agentp::Pong> pongs;
  std::vector<agentp::FrameworkMessage> messages;  // from executors
  std::vector<agentp::ExecutorExited> executor_exits;
};

inline TaskInfo shell_task(const std::string& id, const std::string& command) {
  TaskInfo t;
  t.task_id = id;
  t.name = id;
  t.command.value = command;
  t.resources.scalars["cpus"] = 0.1;
  t.resources.scalars["mem"] = 16;
  t.kill_grace_seconds = 1;
  return t;
}

}  // namespace tessera::testing

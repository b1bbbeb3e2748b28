// Test support for tests/master: peers of a real master that speak its protocols message by
// message through the SDK's sdk::Client, so that a test can send what no well-behaved client
// would: values that are not amounts or durations, an offer named twice, ids that are not the
// sender's, updates left unacknowledged, a registration under another agent's id.
//
// Every peer runs on one Peers object's loop, in the test's thread; run_until() turns it.
#pragma once

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "tessera/protocol/agent.h"
#include "tessera/protocol/operator.h"
#include "tessera/protocol/scheduler.h"
#include "tessera/sdk/channels.h"
#include "tessera/sdk/event_loop.h"

namespace tessera::testing {

class Peers {
 public:
  Peers() : context_(zmq_ctx_new()) {}
  ~Peers() {
    clients_.clear();
    buses_.clear();
    zmq_ctx_term(context_);
  }
  Peers(const Peers&) = delete;
  Peers& operator=(const Peers&) = delete;

  // A new DEALER connection to `endpoint` (a new routing id, so a new peer to the master).
  sdk::Client& connect(const std::string& endpoint, const std::string& name) {
    buses_.push_back(std::make_unique<sdk::Bus>(sdk::Bus{context_, &loop_, {}, name}));
    clients_.push_back(std::make_unique<sdk::Client>(*buses_.back(), name));
    sdk::Client& client = *clients_.back();
    client.set_high_water_mark(0);
    if (auto s = client.connect(endpoint); !s) throw std::runtime_error(s.error().message);
    return client;
  }

  // A bus on this loop over another ZeroMQ context (an in-process node's), to reach its
  // inproc:// endpoints.
  sdk::Bus& bus(void* context, const std::string& name) {
    buses_.push_back(std::make_unique<sdk::Bus>(sdk::Bus{context, &loop_, {}, name}));
    return *buses_.back();
  }

  // Runs the loop until `done()` or `timeout`. Returns whether `done()` became true.
  bool run_until(const std::function<bool()>& done,
                 std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    if (done()) return true;
    bool result = false;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    auto tick = loop_.every(std::chrono::milliseconds(5), [&] {
      if (done()) {
        result = true;
        loop_.request_stop();
      } else if (std::chrono::steady_clock::now() > deadline) {
        loop_.request_stop();
      }
    });
    loop_.run();
    loop_.reset_stop();
    loop_.cancel(tick);
    return result;
  }

  // Sends `body` as a request on `client` and waits for its reply (or the error).
  template <typename T>
  Result<Envelope> call(sdk::Client& client, const T& body,
                        std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::optional<Result<Envelope>> answer;
    client.request(
        body, [&](Result<Envelope> reply) { answer = std::move(reply); }, timeout);
    run_until([&] { return answer.has_value(); }, timeout + std::chrono::seconds(5));
    if (!answer) return make_error("no answer to '" + std::string(T::kType) + "'");
    return std::move(*answer);
  }

  // The master's operator state (operator.get_state on a connection of its own).
  protocol::operator_api::State state(const std::string& endpoint) {
    if (!operator_) operator_ = &connect(endpoint, "test-operator");
    auto reply = call(*operator_, protocol::operator_api::GetState{});
    if (!reply) throw std::runtime_error(reply.error().message);
    auto body = reply->body<protocol::operator_api::State>();
    if (!body) throw std::runtime_error(body.error().message);
    return *body;
  }

  // Polls the master's state until `done` holds for it, or `timeout`; `last` is the last state
  // seen (for the failure message).
  bool wait_state(const std::string& endpoint,
                  const std::function<bool(const protocol::operator_api::State&)>& done,
                  protocol::operator_api::State& last,
                  std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    do {
      last = state(endpoint);
      if (done(last)) return true;
      // The poll interval; every peer's messages are handled meanwhile.
      run_until([] { return false; }, std::chrono::milliseconds(50));
    } while (std::chrono::steady_clock::now() < deadline);
    return false;
  }

 private:
  void* context_;
  sdk::EventLoop loop_;
  std::vector<std::unique_ptr<sdk::Bus>> buses_;
  std::vector<std::unique_ptr<sdk::Client>> clients_;
  sdk::Client* operator_ = nullptr;
};

// A framework that sends exactly what the test says, acknowledges only when told to, and records
// everything the master pushes.
class RawFramework {
 public:
  RawFramework(Peers& peers, const std::string& endpoint, const std::string& name)
      : peers_(peers), client_(peers.connect(endpoint, name)) {
    namespace s = protocol::scheduler;
    client_.on<s::Offers>([this](const Envelope&, const s::Offers& m) {
      offers.insert(offers.end(), m.offers.begin(), m.offers.end());
    });
    client_.on<s::Update>([this](const Envelope&, const s::Update& m) {
      updates.push_back(m.status);
      if (auto_acknowledge && !m.status.uuid.empty()) acknowledge(m.status);
    });
    client_.on<s::Rescind>(
        [this](const Envelope&, const s::Rescind& m) { rescinded.push_back(m.offer_id); });
    client_.on<s::Heartbeat>([this](const Envelope&, const s::Heartbeat&) {
      ++heartbeats;
      if (answer_heartbeats) client_.send(s::Heartbeat{});
    });
    client_.on<s::Error>(
        [this](const Envelope&, const s::Error& m) { errors.push_back(m.message); });
  }

  // Subscribes; returns the master's error, or "" once subscribed (id() is then set).
  std::string subscribe(protocol::scheduler::Subscribe message) {
    auto reply = peers_.call(client_, message);
    if (!reply) return reply.error().message;
    if (auto error = reply->body<protocol::scheduler::Error>();
        reply->is<protocol::scheduler::Error>() && error) {
      return error->message;
    }
    auto subscribed = reply->body<protocol::scheduler::Subscribed>();
    if (!subscribed) return subscribed.error().message;
    id_ = subscribed->framework_id;
    return "";
  }

  const std::string& id() const { return id_; }
  sdk::Client& client() { return client_; }

  // Waits for an offer not yet taken (nor rescinded), and takes it.
  std::optional<protocol::scheduler::Offer> next_offer(
      std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    auto usable = [&] {
      while (taken_ < offers.size() && std::find(rescinded.begin(), rescinded.end(),
                                                 offers[taken_].offer_id) != rescinded.end()) {
        ++taken_;
      }
      return taken_ < offers.size();
    };
    if (!peers_.run_until(usable, timeout)) return std::nullopt;
    return offers[taken_++];
  }

  void accept(const std::vector<std::string>& offer_ids,
              const std::vector<protocol::TaskInfo>& tasks, double refuse_seconds = 0.1) {
    client_.send(protocol::scheduler::Accept{id_, offer_ids, tasks, refuse_seconds});
  }
  void decline(const std::vector<std::string>& offer_ids, double refuse_seconds = 0.1) {
    client_.send(protocol::scheduler::Decline{id_, offer_ids, refuse_seconds});
  }
  void acknowledge(const protocol::TaskStatus& status) {
    client_.send(
        protocol::scheduler::Acknowledge{id_, status.agent_id, status.task_id, status.uuid});
  }
  void kill(const std::string& task_id, const std::string& agent_id = "") {
    client_.send(protocol::scheduler::Kill{id_, task_id, agent_id});
  }
  void reconcile(const std::vector<protocol::scheduler::ReconcileTask>& tasks) {
    client_.send(protocol::scheduler::Reconcile{id_, tasks});
  }
  void revive() { client_.send(protocol::scheduler::Revive{id_, ""}); }

  // The updates received for `task_id`, in order.
  std::vector<protocol::TaskStatus> updates_of(const std::string& task_id) const {
    std::vector<protocol::TaskStatus> out;
    for (const auto& status : updates) {
      if (status.task_id == task_id) out.push_back(status);
    }
    return out;
  }
  bool saw(const std::string& task_id, const std::string& state) const {
    for (const auto& status : updates_of(task_id)) {
      if (status.state == state) return true;
    }
    return false;
  }
  bool wait_for_state(const std::string& task_id, const std::string& state,
                      std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    return peers_.run_until([&] { return saw(task_id, state); }, timeout);
  }

  // Whether updates that carry a uuid are acknowledged as they arrive, and heartbeats answered
  // (a framework that stops answering is disconnected after three intervals).
  bool auto_acknowledge = true;
  bool answer_heartbeats = true;
  std::vector<protocol::scheduler::Offer> offers;
  std::vector<protocol::TaskStatus> updates;
  std::vector<std::string> rescinded;
  std::vector<std::string> errors;
  size_t heartbeats = 0;

 private:
  Peers& peers_;
  sdk::Client& client_;
  std::string id_;
  size_t taken_ = 0;
};

// A process that speaks the agent protocol without being an agent.
class RawAgent {
 public:
  RawAgent(Peers& peers, const std::string& endpoint, const std::string& name)
      : peers_(peers), client_(peers.connect(endpoint, name)) {
    // It answers the master's pings once registered, so it stays a live agent.
    client_.on<protocol::agent::Ping>([this](const Envelope&, const protocol::agent::Ping& m) {
      if (!id.empty()) client_.send(protocol::agent::Pong{id, m.sequence});
    });
  }

  // Registers; returns the reply (agent.registered, agent.refused or agent.shutdown). Once
  // registered, `id` is the id the master gave.
  Result<Envelope> register_as(protocol::agent::Register message) {
    auto reply = peers_.call(client_, message);
    if (reply && reply->is<protocol::agent::Registered>()) {
      if (auto body = reply->body<protocol::agent::Registered>()) id = body->agent_id;
    }
    return reply;
  }
  void send_update(const std::string& agent_id, const protocol::TaskStatus& status) {
    protocol::agent::StatusUpdate update;
    update.agent_id = agent_id;
    update.status = status;
    client_.send(update);
  }
  sdk::Client& client() { return client_; }

  std::string id;

 private:
  Peers& peers_;
  sdk::Client& client_;
};

// A command task asking for `cpus` and `mem`.
inline protocol::TaskInfo task(const std::string& id, const std::string& command, double cpus = 0.1,
                               double mem = 16) {
  protocol::TaskInfo info;
  info.task_id = id;
  info.name = id;
  info.resources.scalars["cpus"] = cpus;
  info.resources.scalars["mem"] = mem;
  info.command.value = command;
  info.kill_grace_seconds = 1;
  return info;
}

}  // namespace tessera::testing

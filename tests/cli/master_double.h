// A stand-in for the master, for testing the scheduler client and the CLI before the real
// master exists: an sdk::Server on tcp://127.0.0.1:0, on its own loop thread, that speaks the
// scheduler and operator protocols the way the master is expected to (docs/cli.md, "What the
// master is expected to do") and records every call it receives.
//
// Behaviour: scheduler.subscribe is answered with scheduler.subscribed (a new id "fw-N", or
// the id the framework gave), then `offers` are pushed; every accept pushes `script` (statuses
// with uuids "uuid-N", task and agent ids filled in from the accepted task); kill pushes
// TASK_KILLED; heartbeats are pushed every `heartbeat_interval` to each subscribed peer not
// silenced; operator.get_state is answered with `state`, operator.update_role with an ok
// operator.result. After step_down() it answers as a standby, with master.not_leader. Recorded
// values are read through snapshot() under the double's mutex.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "tessera/protocol/master.h"
#include "tessera/protocol/operator.h"
#include "tessera/protocol/scheduler.h"
#include "tessera/sdk/channels.h"

namespace tessera::testing {

namespace sp = protocol::scheduler;
namespace op = protocol::operator_api;

struct DoubleConfig {
  std::vector<sp::Offer> offers;
  std::vector<protocol::TaskStatus> script;
  double heartbeat_interval = 0.2;
  int ignore_subscribes = 0;     // leave the first N subscriptions unanswered
  std::string refuse_subscribe;  // answer subscriptions with scheduler.error MESSAGE
  op::State state;
};

struct DoubleRecord {
  std::vector<std::pair<std::string, sp::Subscribe>> subscribes;  // peer, call
  std::vector<sp::Accept> accepts;
  std::vector<sp::Decline> declines;
  std::vector<sp::Acknowledge> acks;
  std::vector<sp::Kill> kills;
  std::vector<sp::Reconcile> reconciles;
  std::vector<sp::Teardown> teardowns;
  std::vector<op::UpdateRole> role_updates;
  int suppresses = 0;
  int heartbeats = 0;
  int not_leader_answers = 0;  // requests turned away after step_down()
  int state_requests = 0;
};

class MasterDouble {
 public:
  explicit MasterDouble(DoubleConfig config) : config_(std::move(config)) {
    std::promise<std::string> bound;
    thread_ = std::thread([this, &bound] {
      bus_ = sdk::Bus{context_, &loop_, {}, "master-double"};
      server_ = std::make_unique<sdk::Server>(bus_, "master");
      serve();
      auto address = server_->bind("tcp://127.0.0.1:0");
      bound.set_value(address ? *address : "");
      auto period =
          std::chrono::milliseconds(static_cast<int64_t>(config_.heartbeat_interval * 1000));
      loop_.every(period, [this] { heartbeat(); });
      loop_.run();
      server_.reset();
    });
    endpoint_ = bound.get_future().get();
  }
  ~MasterDouble() {
    loop_.request_stop();
    thread_.join();
    zmq_ctx_term(context_);
  }

  const std::string& endpoint() const { return endpoint_; }

  DoubleRecord snapshot() {
    std::lock_guard<std::mutex> lock(mutex_);
    return record_;
  }

  // Waits until `pred(record)` holds (true) or `timeout` passes (false).
  bool wait_until(const std::function<bool(const DoubleRecord&)>& pred,
                  std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return pred(record_); });
  }

  // Stops heartbeats (and every other push) to the peers subscribed so far, as a master that
  // died or was cut off would; peers that subscribe later are served again. Returns when the
  // double last sent anything: the silence a client can notice starts there, not at this call.
  std::chrono::steady_clock::time_point silence_current_peers() {
    std::promise<std::chrono::steady_clock::time_point> done;
    loop_.post([&] {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        for (const auto& [peer, id] : peers_) silenced_.insert(peer);
      }
      done.set_value(last_sent_);
    });
    return done.get_future().get();
  }

  // From now on the double behaves as a master that is not leading, as a standby does: it
  // pushes nothing and answers subscriptions, heartbeats and operator calls with
  // master.not_leader naming `leader` ("": it knows none). From any thread.
  void step_down(const std::string& leader) {
    std::promise<void> done;
    loop_.post([&] {
      standby_for_ = leader;
      done.set_value();
    });
    done.get_future().get();
  }

  // Pushes an update to every subscribed peer (from any thread).
  void push_update(protocol::TaskStatus status) {
    loop_.post([this, status] {
      for (const auto& [peer, id] : peers_) send(peer, sp::Update{status});
    });
  }

 private:
  template <typename F>
  void record(F f) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      f(record_);
    }
    changed_.notify_all();
  }

  // Every message to a peer goes through these (loop thread), which note when it left.
  template <typename T>
  void send(const std::string& peer, const T& body) {
    last_sent_ = std::chrono::steady_clock::now();
    server_->send(peer, body);
  }
  template <typename T>
  void reply(const sdk::Request& request, const T& body) {
    last_sent_ = std::chrono::steady_clock::now();
    server_->reply(request, body);
  }

  bool silenced(const std::string& peer) {
    std::lock_guard<std::mutex> lock(mutex_);
    return silenced_.count(peer) != 0;
  }

  // True (and answered) when the double has stepped down.
  bool turned_away(const sdk::Request& request) {
    if (!standby_for_) return false;
    record([&](DoubleRecord& rec) { ++rec.not_leader_answers; });
    protocol::master::NotLeader answer;
    answer.leader = *standby_for_;
    answer.master_id = "master-double";
    answer.message = protocol::master::not_leader_message(answer.leader);
    reply(request, answer);
    return true;
  }

  void heartbeat() {
    if (standby_for_) return;
    for (const auto& [peer, id] : peers_) {
      if (!silenced(peer)) send(peer, sp::Heartbeat{});
    }
  }

  void serve() {
    server_->on<sp::Subscribe>([this](const sdk::Request& r, const sp::Subscribe& call) {
      if (turned_away(r)) return;
      record([&](DoubleRecord& rec) { rec.subscribes.emplace_back(r.peer, call); });
      if (ignored_++ < config_.ignore_subscribes) return;
      if (!config_.refuse_subscribe.empty()) {
        reply(r, sp::Error{config_.refuse_subscribe});
        return;
      }
      std::string id =
          call.framework_id.empty() ? "fw-" + std::to_string(++frameworks_) : call.framework_id;
      peers_[r.peer] = id;
      reply(r, sp::Subscribed{id, "master-double", config_.heartbeat_interval});
      if (config_.offers.empty()) return;
      sp::Offers offers{config_.offers};
      int round = ++offer_rounds_;  // ids stay unique across subscriptions
      for (auto& o : offers.offers) {
        o.framework_id = id;
        o.offer_id += "." + std::to_string(round);
      }
      send(r.peer, offers);
    });
    server_->on<sp::Heartbeat>([this](const sdk::Request& r, const sp::Heartbeat&) {
      if (turned_away(r)) return;
      record([&](DoubleRecord& rec) { ++rec.heartbeats; });
    });
    server_->on<sp::Accept>([this](const sdk::Request& r, const sp::Accept& call) {
      record([&](DoubleRecord& rec) { rec.accepts.push_back(call); });
      for (const auto& task : call.tasks) {
        for (protocol::TaskStatus status : config_.script) {
          status.task_id = task.task_id;
          status.agent_id = task.agent_id;
          status.framework_id = call.framework_id;
          status.uuid = "uuid-" + std::to_string(++uuids_);
          send(r.peer, sp::Update{status});
        }
      }
    });
    server_->on<sp::Decline>([this](const sdk::Request&, const sp::Decline& call) {
      record([&](DoubleRecord& rec) { rec.declines.push_back(call); });
    });
    server_->on<sp::Acknowledge>([this](const sdk::Request&, const sp::Acknowledge& call) {
      record([&](DoubleRecord& rec) { rec.acks.push_back(call); });
    });
    server_->on<sp::Kill>([this](const sdk::Request& r, const sp::Kill& call) {
      record([&](DoubleRecord& rec) { rec.kills.push_back(call); });
      protocol::TaskStatus status;
      status.task_id = call.task_id;
      status.agent_id = call.agent_id;
      status.framework_id = call.framework_id;
      status.state = protocol::state::kKilled;
      status.uuid = "uuid-" + std::to_string(++uuids_);
      send(r.peer, sp::Update{status});
    });
    server_->on<sp::Reconcile>([this](const sdk::Request&, const sp::Reconcile& call) {
      record([&](DoubleRecord& rec) { rec.reconciles.push_back(call); });
    });
    server_->on<sp::Suppress>([this](const sdk::Request&, const sp::Suppress&) {
      record([&](DoubleRecord& rec) { ++rec.suppresses; });
    });
    server_->on<sp::Revive>([](const sdk::Request&, const sp::Revive&) {});
    server_->on<sp::Teardown>([this](const sdk::Request& r, const sp::Teardown& call) {
      peers_.erase(r.peer);
      record([&](DoubleRecord& rec) { rec.teardowns.push_back(call); });
    });
    server_->on<op::GetState>([this](const sdk::Request& r, const op::GetState&) {
      if (turned_away(r)) return;
      record([&](DoubleRecord& rec) { ++rec.state_requests; });
      reply(r, config_.state);
    });
    server_->on<op::UpdateRole>([this](const sdk::Request& r, const op::UpdateRole& call) {
      if (turned_away(r)) return;
      record([&](DoubleRecord& rec) { rec.role_updates.push_back(call); });
      reply(r, op::Result{});
    });
  }

  DoubleConfig config_;
  void* context_ = zmq_ctx_new();
  sdk::EventLoop loop_;
  sdk::Bus bus_;
  std::unique_ptr<sdk::Server> server_;
  std::thread thread_;
  std::string endpoint_;
  // Loop thread only.
  std::map<std::string, std::string> peers_;  // peer -> framework id
  int ignored_ = 0;
  int frameworks_ = 0;
  int offer_rounds_ = 0;
  int uuids_ = 0;
  std::chrono::steady_clock::time_point last_sent_{};
  std::optional<std::string> standby_for_;  // set once the double stepped down
  // Shared with the test thread.
  std::mutex mutex_;
  std::condition_variable changed_;
  DoubleRecord record_;
  std::set<std::string> silenced_;
};

// Helpers to build the double's offers and statuses.
inline sp::Offer offer(const std::string& id, const std::string& agent, double cpus, double mem,
                       std::vector<protocol::Range> ports = {}) {
  sp::Offer o;
  o.offer_id = id;
  o.agent_id = agent;
  o.hostname = agent + ".example";
  o.role = "*";
  o.resources.scalars = {{"cpus", cpus}, {"mem", mem}, {"disk", 1000}};
  if (!ports.empty()) o.resources.ranges["ports"] = ports;
  return o;
}

inline protocol::TaskStatus status(const std::string& state, int32_t exit_code = -1,
                                   const std::string& message = "") {
  protocol::TaskStatus s;
  s.state = state;
  s.exit_code = exit_code;
  s.message = message;
  s.source = protocol::source::kAgent;
  return s;
}

}  // namespace tessera::testing

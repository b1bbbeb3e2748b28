// SchedulerClient: the framework side of the scheduler protocol (protocol/scheduler.h).
//
// One client is one framework's connection to the leading master. Framework plugins (Marathon,
// Chronos, third parties), stand-alone programs and the `tessera` CLI all use it the same way:
//
//   tessera::sdk::FrameworkInfo info;
//   info.name = "my-framework";
//   tessera::sdk::SchedulerOptions options;
//   options.master = "tcp://10.0.0.1:5050,tcp://10.0.0.2:5050";  // empty: the leader plugin
//   tessera::sdk::SchedulerClient client(bus, info, options);
//   client.on_offers = [&](const std::vector<protocol::scheduler::Offer>& offers) { ... };
//   client.on_update = [&](const protocol::TaskStatus& status) { ... };
//   client.start();                                 // then the loop runs (plugin or main())
//
// What it does on its own:
// - Subscribes: sends `scheduler.subscribe` as a request and waits `subscribe_timeout` for
//   `scheduler.subscribed`; without an answer it closes the connection, waits (exponential
//   backoff from `backoff_initial` to `backoff_max`) and tries again on a new socket, forever,
//   until stop(). A `scheduler.error` answer is final: on_error is called and the client stops
//   trying (call start() again, e.g. without the framework id, to try anew).
// - Finds the master through a MasterDetector (master_detector.h): `options.master` (HOST:PORT,
//   tcp://HOST:PORT or a comma-separated list, tried in turn) when set; otherwise the leader
//   plugin of this host (`leader.get` at `options.leader_endpoint`, inproc, so only inside a
//   host, and its leader.info events); or `options.detector` when given. A master that answers
//   `master.not_leader` is left for the leader it names at once; a master that does not answer
//   is left for the next one after the backoff. When the detector learns that the leader moved
//   (a leader.info event), the client re-subscribes there at once.
// - Keeps the subscription alive: once subscribed it sends `scheduler.heartbeat` every
//   `heartbeat_interval_seconds` (the interval the master put in `scheduler.subscribed`). Every
//   message from the master proves it is alive (it sends `scheduler.heartbeat` at that interval
//   when it has nothing else to say); after `missed_heartbeats` intervals of silence the master
//   is considered lost: on_disconnected is called and the client re-subscribes on a new socket
//   with the same framework id, so the master keeps its tasks (within the failover timeout).
// - Acknowledges status updates that carry a uuid right after on_update returns, unless
//   `auto_acknowledge` is false (then call acknowledge() once the update is safely handled).
//   Updates are at-least-once: a duplicate (same uuid) can arrive and must be tolerated.
// - Declines offers itself (refuse `default_refuse_seconds`) when on_offers is not set.
//
// Calls (accept, decline, kill, acknowledge, reconcile, revive, suppress, teardown) are one-way
// messages: the master does not answer them. Their outcome comes back as pushed messages
// (a task that cannot be launched gets a TASK_ERROR or TASK_DROPPED update, reconcile answers
// with updates, and so on). A call made while not subscribed is not sent and returns false,
// as with Mesos's scheduler driver: offers are void after a disconnection, and the framework
// reconciles after on_subscribed.
//
// Threading and lifetime: every member, including the constructor and the destructor, runs on
// the thread of the Bus's EventLoop (in a plugin: from start() on); callbacks run on that
// thread, one at a time, and may call any member function (including stop()) but must not
// destroy the client. The Bus and its loop must outlive the client. The client owns its
// sockets and timers and releases them in stop() and in its destructor.
#pragma once

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>
#include <zmq.hpp>

#include "tessera/message.h"
#include "tessera/protocol/duration.h"
#include "tessera/protocol/master.h"
#include "tessera/protocol/scheduler.h"
#include "tessera/protocol/store.h"
#include "tessera/protocol/task.h"
#include "tessera/result.h"
#include "tessera/sdk/channels.h"
#include "tessera/sdk/connection.h"
#include "tessera/sdk/event_loop.h"
#include "tessera/sdk/master_detector.h"

namespace tessera::sdk {

// Who the framework is. framework_id is empty for a new framework; set it to an id the master
// gave earlier to re-subscribe as that framework (after a restart of the framework, within its
// failover timeout). The client fills it in when subscribed.
struct FrameworkInfo {
  std::string framework_id;
  std::string name;
  std::vector<std::string> roles{"*"};
  double failover_timeout_seconds = 0;
  std::vector<std::string> capabilities;
  std::string user;
};

struct SchedulerOptions {
  // The masters: HOST:PORT, tcp://HOST:PORT or a comma-separated list of them. Empty: ask the
  // leader plugin at leader_endpoint.
  std::string master;
  std::string leader_endpoint = protocol::store::kEndpoint;
  // A detector of the caller's instead (e.g. one for a scheme the program registered); it must
  // outlive the client, which sets its on_change.
  MasterDetector* detector = nullptr;
  // Acknowledge every update that carries a uuid after on_update returns.
  bool auto_acknowledge = true;
  // How long one subscription attempt (and one leader.get) waits for its answer.
  std::chrono::milliseconds subscribe_timeout{2000};
  // Wait between failed attempts: doubles from backoff_initial up to backoff_max.
  std::chrono::milliseconds backoff_initial{250};
  std::chrono::milliseconds backoff_max{8000};
  // Intervals of silence after which the master is considered lost.
  int missed_heartbeats = 3;
  // Refuse filter used when offers arrive and on_offers is not set.
  double default_refuse_seconds = 5;
  // How long teardown() lets the Teardown message drain when the socket closes.
  std::chrono::milliseconds teardown_linger{1000};
};

class SchedulerClient {
 public:
  enum class State {
    kStopped,     // before start(), after stop() or teardown()
    kConnecting,  // finding the master and subscribing (also after losing it)
    kSubscribed,  // calls are sent
    kFailed,      // the master refused the subscription or removed the framework
  };

  SchedulerClient(Bus& bus, FrameworkInfo info, SchedulerOptions options = {})
      : bus_(bus), info_(std::move(info)), options_(std::move(options)), master_(bus, "scheduler") {
    master_.on_push = [this](Envelope& message) { on_master_message(message); };
    detector_ = options_.detector;
    if (detector_ == nullptr) {
      DetectorOptions detection;
      detection.leader_endpoint = options_.leader_endpoint;
      detection.leader_timeout = options_.subscribe_timeout;
      auto made = make_master_detector(bus, options_.master, detection);
      if (made) {
        own_detector_ = std::move(*made);
        detector_ = own_detector_.get();
      } else {
        detector_error_ = "master '" + options_.master + "': " + made.error().message;
      }
    }
    if (detector_ != nullptr) {
      detector_->on_change = [this](const std::string& endpoint) { leader_moved(endpoint); };
    }
  }
  ~SchedulerClient() { stop(); }
  SchedulerClient(const SchedulerClient&) = delete;
  SchedulerClient& operator=(const SchedulerClient&) = delete;

  // Callbacks, all optional, all called on the loop thread.
  // Subscribed (the first time and after every re-subscription) with the framework's id.
  std::function<void(const std::string& framework_id)> on_subscribed;
  std::function<void(const std::vector<protocol::scheduler::Offer>&)> on_offers;
  std::function<void(const std::string& offer_id)> on_rescind;
  // A status update; auto-acknowledged after this returns (see SchedulerOptions).
  std::function<void(const protocol::TaskStatus&)> on_update;
  std::function<void(const std::string& agent_id)> on_agent_lost;
  // A framework message from one of the framework's executors (send_message's other way).
  std::function<void(const protocol::scheduler::FrameworkMessage&)> on_message;
  // One of the framework's executors ended (Mesos's FAILURE event): its resources are free
  // again; its unfinished tasks get their own updates. Best effort: not resent.
  std::function<void(const protocol::scheduler::ExecutorExited&)> on_executor_exited;
  // The master refused the subscription or removed the framework (final; see the top).
  std::function<void(const std::string& message)> on_error;
  // The master went silent; the client is re-subscribing.
  std::function<void()> on_disconnected;
  // A subscription attempt failed (no master, no answer); the client tries again.
  std::function<void(const std::string& message)> on_subscribe_failed;

  // Starts subscribing (asynchronously: returns at once). Calling it again restarts.
  void start() {
    stop_timers();
    master_.close();
    state_ = State::kConnecting;
    backoff_ = options_.backoff_initial;
    if (detector_ == nullptr) return fatal(detector_error_);
    attempt();
  }

  // Stops: closes the connection and cancels timers, without telling the master (the
  // framework stays registered until its failover timeout; use teardown() to end it).
  void stop(std::chrono::milliseconds linger = std::chrono::milliseconds(0)) {
    stop_timers();
    master_.close(linger);
    ++attempts_;  // an answer of the detector still on its way is for nobody
    state_ = State::kStopped;
  }

  State state() const { return state_; }
  bool subscribed() const { return state_ == State::kSubscribed; }
  const std::string& framework_id() const { return info_.framework_id; }
  const std::string& master_id() const { return master_id_; }
  // The endpoint of the master subscribed to (or being tried).
  const std::string& master_endpoint() const { return master_.endpoint(); }
  double heartbeat_interval_seconds() const { return heartbeat_interval_seconds_; }
  // How many times the client has subscribed (1 after the first subscription).
  uint64_t subscriptions() const { return subscriptions_; }
  const FrameworkInfo& info() const { return info_; }

  // Launches `tasks` on the resources of `offer_ids` (all from one agent); what is left of the
  // offers is refused for `refuse_seconds`. Accepting no tasks is a decline.
  bool accept(const std::vector<std::string>& offer_ids,
              const std::vector<protocol::TaskInfo>& tasks, double refuse_seconds = 5) {
    protocol::scheduler::Accept call;
    call.framework_id = info_.framework_id;
    call.offer_ids = offer_ids;
    call.tasks = tasks;
    call.refuse_seconds = refuse_seconds;
    return call_master(call);
  }

  bool decline(const std::vector<std::string>& offer_ids, double refuse_seconds = 5) {
    protocol::scheduler::Decline call;
    call.framework_id = info_.framework_id;
    call.offer_ids = offer_ids;
    call.refuse_seconds = refuse_seconds;
    return call_master(call);
  }

  // Sends opaque bytes to the framework's executor `executor_id` on agent `agent_id`, best
  // effort (Mesos's MESSAGE call): nothing says whether it arrived. An error when not subscribed
  // or when data is larger than protocol::kMaxFrameworkMessageBytes.
  Status send_message(const std::string& agent_id, const std::string& executor_id,
                      const std::string& data) {
    if (data.size() > protocol::kMaxFrameworkMessageBytes) {
      return make_error("a framework message carries at most " +
                        std::to_string(protocol::kMaxFrameworkMessageBytes) + " bytes, not " +
                        std::to_string(data.size()));
    }
    protocol::scheduler::FrameworkMessage call{info_.framework_id, agent_id, executor_id, data};
    if (!call_master(call)) return make_error("not subscribed to a master");
    return {};
  }

  // Asks the agent `agent_id` to shut down the framework's executor `executor_id` (Mesos's
  // SHUTDOWN call): it is asked to end and killed after its kill grace if it does not; its
  // unfinished tasks end TASK_KILLED, and on_executor_exited follows. False when not subscribed.
  bool shutdown_executor(const std::string& agent_id, const std::string& executor_id) {
    protocol::scheduler::ShutdownExecutor call;
    call.framework_id = info_.framework_id;
    call.agent_id = agent_id;
    call.executor_id = executor_id;
    return call_master(call);
  }

  bool kill(const std::string& task_id, const std::string& agent_id) {
    protocol::scheduler::Kill call;
    call.framework_id = info_.framework_id;
    call.task_id = task_id;
    call.agent_id = agent_id;
    return call_master(call);
  }

  // Acknowledges an update (only needed with auto_acknowledge off). Updates without a uuid
  // need no acknowledgement: returns false and sends nothing.
  bool acknowledge(const protocol::TaskStatus& status) {
    if (status.uuid.empty()) return false;
    protocol::scheduler::Acknowledge call;
    call.framework_id = info_.framework_id;
    call.agent_id = status.agent_id;
    call.task_id = status.task_id;
    call.uuid = status.uuid;
    return call_master(call);
  }

  // Asks for the latest state of `tasks`; empty asks for every task the master knows of this
  // framework (implicit reconciliation). Answers arrive as updates without a uuid.
  bool reconcile(const std::vector<protocol::scheduler::ReconcileTask>& tasks = {}) {
    protocol::scheduler::Reconcile call;
    call.framework_id = info_.framework_id;
    call.tasks = tasks;
    return call_master(call);
  }

  // Clears refuse filters and resumes offers for `role` (empty: every role of the framework).
  bool revive(const std::string& role = "") {
    protocol::scheduler::Revive call;
    call.framework_id = info_.framework_id;
    call.role = role;
    return call_master(call);
  }

  // Stops offers for `role` (empty: every role) until revive().
  bool suppress(const std::string& role = "") {
    protocol::scheduler::Suppress call;
    call.framework_id = info_.framework_id;
    call.role = role;
    return call_master(call);
  }

  // Ends the framework: the master kills its tasks and forgets it. The client then stops,
  // giving the message `teardown_linger` to leave.
  bool teardown() {
    protocol::scheduler::Teardown call;
    call.framework_id = info_.framework_id;
    bool sent = call_master(call);
    stop(options_.teardown_linger);
    return sent;
  }

 private:
  template <typename T>
  bool call_master(const T& call) {
    if (state_ != State::kSubscribed) {
      bus_.log.debug("scheduler '{}': not subscribed, '{}' not sent", info_.name, T::kType);
      return false;
    }
    master_.send(call);
    return true;
  }

  void stop_timers() {
    for (EventLoop::TimerId* id : {&retry_timer_, &heartbeat_timer_}) {
      if (*id != 0) bus_.loop->cancel(*id);
      *id = 0;
    }
  }

  // One attempt: ask the detector which master to try, then subscribe there.
  void attempt() {
    retry_timer_ = 0;
    uint64_t current = ++attempts_;
    detector_->next([this, current](Result<std::string> endpoint) {
      if (current != attempts_ || state_ != State::kConnecting) return;
      if (!endpoint) return failed(endpoint.error().message);
      subscribe(*endpoint);
    });
  }

  void subscribe(const std::string& endpoint) {
    if (auto s = master_.open(endpoint); !s) {
      detector_->unreachable(endpoint);
      return failed(s.error().message);
    }
    protocol::scheduler::Subscribe call;
    call.framework_id = info_.framework_id;
    call.name = info_.name;
    call.roles = info_.roles;
    call.failover_timeout_seconds = info_.failover_timeout_seconds;
    call.capabilities = info_.capabilities;
    call.user = info_.user;
    master_.request(
        call, [this](Result<Envelope> reply) { on_subscribe_reply(std::move(reply)); },
        options_.subscribe_timeout);
  }

  void on_subscribe_reply(Result<Envelope> reply) {
    if (!reply) {
      detector_->unreachable(master_.endpoint());
      return failed("subscribing: " + reply.error().message);
    }
    if (reply->is<protocol::master::NotLeader>()) {
      auto answer = not_leader(*reply);
      if (detector_->not_leader(master_.endpoint(), answer)) {
        master_.close();
        return attempt();  // straight to the leader it named
      }
      return failed("subscribing: master at " + master_.endpoint() + ": " + answer.message);
    }
    if (reply->is<protocol::scheduler::Error>()) {
      auto error = reply->body<protocol::scheduler::Error>();
      return fatal("subscription refused: " +
                   (error ? printable(error->message, 1000) : error.error().message));
    }
    auto subscribed = reply->body<protocol::scheduler::Subscribed>();
    if (!reply->is<protocol::scheduler::Subscribed>() || !subscribed) {
      return failed("subscribing: unexpected answer " + quote(reply->type()));
    }
    detector_->leading(master_.endpoint());
    info_.framework_id = subscribed->framework_id;
    master_id_ = subscribed->master_id;
    // From the wire: checked, so that a NaN or 1e300 cannot overflow the timer below.
    auto interval_seconds = protocol::wire_duration("heartbeat_interval_seconds",
                                                    subscribed->heartbeat_interval_seconds,
                                                    protocol::limits::kMaxIntervalSeconds);
    heartbeat_interval_seconds_ =
        interval_seconds && interval_seconds->seconds > 0 ? interval_seconds->seconds : 15;
    state_ = State::kSubscribed;
    ++subscriptions_;
    backoff_ = options_.backoff_initial;
    last_heard_ = EventLoop::Clock::now();
    auto interval = std::chrono::milliseconds(
        std::max<int64_t>(1, static_cast<int64_t>(heartbeat_interval_seconds_ * 1000)));
    heartbeat_timer_ = bus_.loop->every(interval, [this] { heartbeat(); });
    bus_.log.info("scheduler '{}': subscribed to master '{}' at {} as framework '{}'", info_.name,
                  escape(master_id_), escape(master_.endpoint()), escape(info_.framework_id));
    if (on_subscribed) on_subscribed(info_.framework_id);
  }

  // A failed attempt: try again after the backoff, on a new socket.
  void failed(const std::string& message) {
    if (state_ != State::kConnecting) return;
    bus_.log.debug("scheduler '{}': {}; retrying in {} ms", info_.name, message, backoff_.count());
    master_.close();
    retry_timer_ = bus_.loop->after(backoff_, [this] { attempt(); });
    backoff_ = std::min(backoff_ * 2, options_.backoff_max);
    if (on_subscribe_failed) on_subscribe_failed(message);
  }

  // The master refused or removed the framework: no more attempts.
  void fatal(const std::string& message) {
    bus_.log.warn("scheduler '{}': {}", info_.name, message);
    stop_timers();
    master_.close();
    state_ = State::kFailed;
    if (on_error) on_error(message);
  }

  void heartbeat() {
    auto silence = EventLoop::Clock::now() - last_heard_;
    auto limit = std::chrono::duration<double>(heartbeat_interval_seconds_ *
                                               std::max(1, options_.missed_heartbeats));
    if (silence > limit) return master_lost();
    master_.send(protocol::scheduler::Heartbeat{});
  }

  void master_lost() {
    bus_.log.warn(
        "scheduler '{}': no word from master '{}' at {} for {} heartbeats; "
        "re-subscribing",
        info_.name, escape(master_id_), escape(master_.endpoint()), options_.missed_heartbeats);
    stop_timers();
    master_.close();
    state_ = State::kConnecting;
    backoff_ = options_.backoff_initial;
    // From a timer, so reconnecting right away is safe; the callback may call stop().
    if (on_disconnected) on_disconnected();
    if (state_ == State::kConnecting && retry_timer_ == 0) attempt();
  }

  // The master answered master.not_leader, or the detector saw the leader move: re-subscribe
  // where the leader is now, at once.
  void reconnect(const std::string& why) {
    bus_.log.warn("scheduler '{}': {}; re-subscribing", info_.name, why);
    bool was_subscribed = state_ == State::kSubscribed;
    stop_timers();
    master_.close();
    state_ = State::kConnecting;
    backoff_ = options_.backoff_initial;
    if (was_subscribed && on_disconnected) on_disconnected();
    if (state_ == State::kConnecting && retry_timer_ == 0) attempt();
  }

  void leader_moved(const std::string& endpoint) {
    if (endpoint.empty() || endpoint == master_.endpoint()) return;
    if (state_ == State::kSubscribed || state_ == State::kConnecting) {
      reconnect("the leading master moved to " + endpoint);
    }
  }

  static protocol::master::NotLeader not_leader(const Envelope& message) {
    auto body = message.body<protocol::master::NotLeader>();
    protocol::master::NotLeader answer = body ? *body : protocol::master::NotLeader{};
    if (answer.message.empty())
      answer.message = protocol::master::not_leader_message(answer.leader);
    return answer;
  }

  void on_master_message(Envelope& message) {
    namespace sp = protocol::scheduler;
    if (message.is<protocol::master::NotLeader>()) {
      if (state_ != State::kSubscribed) return;
      auto answer = not_leader(message);
      std::string endpoint = master_.endpoint();
      detector_->not_leader(endpoint, answer);
      return reconnect("master at " + endpoint + ": " + answer.message);
    }
    last_heard_ = EventLoop::Clock::now();
    if (message.is<sp::Heartbeat>()) return;
    if (message.is<sp::Offers>()) {
      auto body = message.body<sp::Offers>();
      if (!body) return malformed(body.error().message);
      if (on_offers) return on_offers(body->offers);
      std::vector<std::string> ids;
      for (const auto& offer : body->offers) ids.push_back(offer.offer_id);
      decline(ids, options_.default_refuse_seconds);
      return;
    }
    if (message.is<sp::Update>()) {
      auto body = message.body<sp::Update>();
      if (!body) return malformed(body.error().message);
      // Copied: the callback may stop the client, and the ack goes out after it returns.
      protocol::TaskStatus status = body->status;
      if (on_update) on_update(status);
      if (options_.auto_acknowledge && !status.uuid.empty()) acknowledge(status);
      return;
    }
    if (message.is<sp::Rescind>()) {
      auto body = message.body<sp::Rescind>();
      if (!body) return malformed(body.error().message);
      if (on_rescind) on_rescind(body->offer_id);
      return;
    }
    if (message.is<sp::FrameworkMessage>()) {
      auto body = message.body<sp::FrameworkMessage>();
      if (!body) return malformed(body.error().message);
      if (on_message) on_message(*body);
      return;
    }
    if (message.is<sp::ExecutorExited>()) {
      auto body = message.body<sp::ExecutorExited>();
      if (!body) return malformed(body.error().message);
      if (on_executor_exited) on_executor_exited(*body);
      return;
    }
    if (message.is<sp::AgentLost>()) {
      auto body = message.body<sp::AgentLost>();
      if (!body) return malformed(body.error().message);
      if (on_agent_lost) on_agent_lost(body->agent_id);
      return;
    }
    if (message.is<sp::Error>()) {
      auto body = message.body<sp::Error>();
      // The master's reason, as text for a human: escaped, with room for a full sentence.
      return fatal(body ? printable(body->message, 1000) : body.error().message);
    }
    bus_.log.debug("scheduler '{}': ignored a {} from the master", info_.name,
                   quote(message.type()));
  }

  void malformed(const std::string& why) {
    bus_.log.warn("scheduler '{}': dropped a malformed message from the master: {}", info_.name,
                  why);
  }

  Bus& bus_;
  FrameworkInfo info_;
  SchedulerOptions options_;
  DealerConnection master_;
  std::unique_ptr<MasterDetector> own_detector_;
  MasterDetector* detector_ = nullptr;
  std::string detector_error_;
  uint64_t attempts_ = 0;
  State state_ = State::kStopped;
  std::string master_id_;
  double heartbeat_interval_seconds_ = 15;
  uint64_t subscriptions_ = 0;
  std::chrono::milliseconds backoff_{250};
  EventLoop::Clock::time_point last_heard_{};
  EventLoop::TimerId retry_timer_ = 0;
  EventLoop::TimerId heartbeat_timer_ = 0;
};

}  // namespace tessera::sdk

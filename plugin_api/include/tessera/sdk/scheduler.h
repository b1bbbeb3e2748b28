// SchedulerClient: the framework side of the scheduler protocol (protocol/scheduler.h).
//
// One client is one framework's connection to the leading master. Framework plugins (Marathon,
// Chronos, third parties), stand-alone programs and the `tessera` CLI all use it the same way:
//
//   tessera::sdk::FrameworkInfo info;
//   info.name = "my-framework";
//   tessera::sdk::SchedulerOptions options;
//   options.master = "tcp://10.0.0.1:5050";        // or empty: ask the leader plugin
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
// - Finds the master: `options.master` (tcp://HOST:PORT) when set; otherwise it asks the leader
//   plugin of this host (`leader.get` at `options.leader_endpoint`, inproc, so only inside a
//   host) before every subscription attempt, so a master failover is followed.
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
#include "tessera/protocol/scheduler.h"
#include "tessera/protocol/store.h"
#include "tessera/protocol/task.h"
#include "tessera/result.h"
#include "tessera/sdk/channels.h"
#include "tessera/sdk/event_loop.h"

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
  // The master's address (tcp://HOST:PORT). Empty: ask the leader at leader_endpoint.
  std::string master;
  std::string leader_endpoint = protocol::store::kEndpoint;
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

namespace detail {

// A DEALER connection to one endpoint: requests matched by correlation id (each with its own
// timeout), one-way sends, and pushed messages. Unlike sdk::Client it can be closed and
// reopened while the loop runs (it unwatches its socket), which reconnection needs.
class DealerConnection {
 public:
  using ReplyHandler = std::function<void(Result<Envelope>)>;
  using PushHandler = std::function<void(Envelope&)>;

  DealerConnection(Bus& bus, std::string name) : bus_(bus), name_(std::move(name)) {}
  ~DealerConnection() { close(); }
  DealerConnection(const DealerConnection&) = delete;
  DealerConnection& operator=(const DealerConnection&) = delete;

  // Opens a new socket connected to `endpoint` (closing any previous one).
  Status open(const std::string& endpoint) {
    close();
    try {
      socket_ = Socket(bus_.zmq_context, ZMQ_DEALER);
    } catch (const zmq::error_t& e) {
      return make_error("connection '" + name_ + "': cannot open a socket: " + e.what());
    }
    detail::apply_limits(socket_, bus_.limits);
    if (auto s = detail::connect_socket(socket_, endpoint); !s) {
      socket_.close();
      return s.context("connection '" + name_ + "'");
    }
    endpoint_ = endpoint;
    bus_.loop->watch(socket_, [this] { receive(); });
    return {};
  }

  // Closes the socket; requests in flight are forgotten (their handlers are not called).
  // With a linger, messages still queued are given that long to leave (ZeroMQ finishes them in
  // the background; terminating the context waits for them).
  void close(std::chrono::milliseconds linger = std::chrono::milliseconds(0)) {
    for (auto& [sequence, pending] : pending_) bus_.loop->cancel(pending.timer);
    pending_.clear();
    if (!socket_) return;
    bus_.loop->unwatch(socket_);
    if (linger.count() > 0) {
      try {
        socket_.ref().set(zmq::sockopt::linger, static_cast<int>(linger.count()));
      } catch (const zmq::error_t&) {
      }
    }
    socket_.close();
  }

  bool is_open() const { return static_cast<bool>(socket_); }
  const std::string& endpoint() const { return endpoint_; }

  template <typename T>
  uint64_t send(const T& body) {
    Header header;
    header.sender = bus_.sender;
    header.sequence = ++sequence_;
    if (!socket_) return header.sequence;
    encode(buffer_, header, body);
    try {
      socket_.ref().send(zmq::message_t(buffer_.data(), buffer_.size()), zmq::send_flags::dontwait);
    } catch (const zmq::error_t& e) {
      bus_.log.warn("connection '{}': cannot send '{}': {}", name_, T::kType, e.what());
    }
    return header.sequence;
  }

  template <typename T>
  void request(const T& body, ReplyHandler on_reply, std::chrono::milliseconds timeout) {
    uint64_t sequence = send(body);
    EventLoop::TimerId timer = bus_.loop->after(timeout, [this, sequence] {
      auto it = pending_.find(sequence);
      if (it == pending_.end()) return;
      ReplyHandler handler = std::move(it->second.on_reply);
      std::string type = it->second.type;
      pending_.erase(it);
      handler(make_error("no answer to '" + type + "' from " + endpoint_));
    });
    pending_.emplace(sequence, Pending{T::kType, std::move(on_reply), timer});
  }

  PushHandler on_push;

 private:
  struct Pending {
    std::string type;
    ReplyHandler on_reply;
    EventLoop::TimerId timer;
  };

  // Receives and handles one message. Handlers may close or reopen this connection, so
  // nothing here touches the socket after calling one.
  void receive() {
    auto s = socket_.ref();
    zmq::message_t payload;
    if (!s.recv(payload, zmq::recv_flags::dontwait)) return;
    if (detail::discard_rest(s) != 0) {
      bus_.log.warn("connection '{}': dropped a message with more than one frame", name_);
      return;
    }
    auto decoded = Envelope::decode(payload.data(), payload.size(), bus_.limits);
    if (!decoded) {
      bus_.log.warn("connection '{}': dropped a malformed message: {}", name_,
                    decoded.error().message);
      return;
    }
    uint64_t correlation = decoded->header().correlation;
    if (correlation != 0) {
      auto it = pending_.find(correlation);
      if (it == pending_.end()) {
        bus_.log.debug("connection '{}': late or unknown reply to request {}", name_, correlation);
        if (on_push) on_push(*decoded);  // still a sign of life
        return;
      }
      ReplyHandler handler = std::move(it->second.on_reply);
      bus_.loop->cancel(it->second.timer);
      pending_.erase(it);
      handler(std::move(*decoded));
      return;
    }
    if (on_push) on_push(*decoded);
  }

  Bus& bus_;
  std::string name_;
  std::string endpoint_;
  Socket socket_;
  std::map<uint64_t, Pending> pending_;
  msgpack::sbuffer buffer_;
  uint64_t sequence_ = 0;
};

}  // namespace detail

class SchedulerClient {
 public:
  enum class State {
    kStopped,     // before start(), after stop() or teardown()
    kConnecting,  // finding the master and subscribing (also after losing it)
    kSubscribed,  // calls are sent
    kFailed,      // the master refused the subscription or removed the framework
  };

  SchedulerClient(Bus& bus, FrameworkInfo info, SchedulerOptions options = {})
      : bus_(bus),
        info_(std::move(info)),
        options_(std::move(options)),
        master_(bus, "scheduler"),
        leader_(bus, "scheduler.leader") {
    master_.on_push = [this](Envelope& message) { on_master_message(message); };
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
    attempt();
  }

  // Stops: closes the connection and cancels timers, without telling the master (the
  // framework stays registered until its failover timeout; use teardown() to end it).
  void stop(std::chrono::milliseconds linger = std::chrono::milliseconds(0)) {
    stop_timers();
    master_.close(linger);
    leader_.close();
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

  // One attempt: find the master if needed, then subscribe.
  void attempt() {
    retry_timer_ = 0;
    if (!options_.master.empty()) return subscribe(options_.master);
    if (!leader_.is_open()) {
      if (auto s = leader_.open(options_.leader_endpoint); !s) return failed(s.error().message);
    }
    leader_.request(
        protocol::store::GetLeader{},
        [this](Result<Envelope> reply) {
          if (!reply) return failed("asking the leader: " + reply.error().message);
          auto leader = reply->body<protocol::store::Leader>();
          if (!leader || !reply->is<protocol::store::Leader>()) {
            return failed("asking the leader: unexpected answer " + quote(reply->type()));
          }
          if (!leader->known || leader->endpoint.empty()) return failed("no leading master yet");
          subscribe(leader->endpoint);
        },
        options_.subscribe_timeout);
  }

  void subscribe(const std::string& endpoint) {
    if (auto s = master_.open(endpoint); !s) return failed(s.error().message);
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
    if (!reply) return failed("subscribing: " + reply.error().message);
    if (reply->is<protocol::scheduler::Error>()) {
      auto error = reply->body<protocol::scheduler::Error>();
      return fatal("subscription refused: " +
                   (error ? printable(error->message, 1000) : error.error().message));
    }
    auto subscribed = reply->body<protocol::scheduler::Subscribed>();
    if (!reply->is<protocol::scheduler::Subscribed>() || !subscribed) {
      return failed("subscribing: unexpected answer " + quote(reply->type()));
    }
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

  void on_master_message(Envelope& message) {
    namespace sp = protocol::scheduler;
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
  detail::DealerConnection master_;
  detail::DealerConnection leader_;
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

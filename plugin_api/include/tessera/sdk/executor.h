// ExecutorClient: the executor side of the executor protocol (protocol/executor.h).
//
// A framework's executor is a program the agent starts (a task's ExecutorInfo) to run the
// framework's tasks in one process. It connects to its agent and receives tasks and kills:
//
//   auto options = tessera::sdk::ExecutorOptions::from_environment();  // what the agent gave
//   tessera::sdk::ExecutorClient executor(bus, *options);
//   executor.on_launch = [&](const tessera::protocol::TaskInfo& task) {
//     executor.send_status(task.task_id, tessera::protocol::state::kRunning);
//     ...
//     executor.send_status(task.task_id, tessera::protocol::state::kFinished);
//   };
//   executor.on_kill = [&](const std::string& task_id) { ... send_status(..., kKilled); };
//   executor.start();                               // then the loop runs
//
// What it does on its own:
// - Registers (executor.register, with the token from its environment), retrying every
//   `retry_interval` until the agent answers executor.registered.
// - Sends executor.ping every `ping_interval`; an agent that answers executor.refused has
//   restarted and does not know this connection: the client registers again, naming the tasks
//   it runs (every task it was given whose terminal update the agent has not acknowledged), so
//   the agent keeps them. The connection itself (ipc) reconnects on its own.
// - Keeps every status update until the agent acknowledges it (the agent does so once the
//   update is checkpointed) and resends the unacknowledged ones every `resend_interval` and
//   after registering again. Updates of one task are sent in the order they were made.
//
// Threading and lifetime: as SchedulerClient (scheduler.h): every member runs on the thread of
// the Bus's EventLoop; callbacks run there, one at a time, and may call any member except the
// destructor. The Bus and its loop must outlive the client.
#pragma once

#include <chrono>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "tessera/message.h"
#include "tessera/protocol/executor.h"
#include "tessera/protocol/task.h"
#include "tessera/result.h"
#include "tessera/sdk/channels.h"
#include "tessera/sdk/event_loop.h"

namespace tessera::sdk {

struct ExecutorOptions {
  std::string endpoint;
  std::string framework_id;
  std::string executor_id;
  std::string agent_id;
  std::string token;
  std::chrono::milliseconds request_timeout{2000};
  std::chrono::milliseconds retry_interval{500};
  std::chrono::milliseconds ping_interval{1000};
  std::chrono::milliseconds resend_interval{2000};

  // The options the agent put in the executor's environment; an error names what is missing.
  static Result<ExecutorOptions> from_environment() {
    namespace ep = protocol::executor;
    ExecutorOptions options;
    std::pair<const char*, std::string*> wanted[] = {
        {ep::kEndpointVariable, &options.endpoint},
        {ep::kFrameworkVariable, &options.framework_id},
        {ep::kExecutorVariable, &options.executor_id},
        {ep::kTokenVariable, &options.token},
    };
    for (auto& [name, field] : wanted) {
      const char* value = std::getenv(name);
      if (value == nullptr || *value == '\0') {
        return make_error(std::string("the environment has no ") + name +
                          ": is this program started by a Tessera agent as an executor?");
      }
      *field = value;
    }
    if (const char* agent = std::getenv(ep::kAgentVariable)) options.agent_id = agent;
    return options;
  }
};

class ExecutorClient {
 public:
  ExecutorClient(Bus& bus, ExecutorOptions options)
      : bus_(bus), options_(std::move(options)), generator_(std::random_device{}()) {}
  ~ExecutorClient() { stop(); }
  ExecutorClient(const ExecutorClient&) = delete;
  ExecutorClient& operator=(const ExecutorClient&) = delete;

  // Callbacks, all optional, all called on the loop thread.
  std::function<void(const protocol::executor::Registered&)> on_registered;
  std::function<void(const protocol::TaskInfo&)> on_launch;
  std::function<void(const std::string& task_id)> on_kill;
  // A framework message from the executor's scheduler.
  std::function<void(const std::string& data)> on_message;
  // The agent asks the executor to end (its tasks are reported by the agent); without a
  // callback the client stops the loop.
  std::function<void(const std::string& reason)> on_shutdown;
  // The agent refused the registration (a wrong token): the client keeps trying, since a
  // restarting agent may not know the executor yet; it kills an executor that never registers.
  std::function<void(const std::string& reason)> on_refused;

  Status start() {
    if (client_) return {};
    namespace ep = protocol::executor;
    client_ = std::make_unique<Client>(bus_, "executor");
    client_->set_high_water_mark(1 << 20);
    client_->on<ep::LaunchTask>([this](const Envelope&, const ep::LaunchTask& m) {
      active_.insert(m.task.task_id);
      if (on_launch) on_launch(m.task);
    });
    client_->on<ep::KillTask>([this](const Envelope&, const ep::KillTask& m) {
      if (on_kill) on_kill(m.task_id);
    });
    client_->on<ep::Message>([this](const Envelope&, const ep::Message& m) {
      if (on_message) on_message(m.data);
    });
    client_->on<ep::Shutdown>([this](const Envelope&, const ep::Shutdown& m) {
      if (on_shutdown) {
        on_shutdown(m.reason);
      } else {
        bus_.loop->request_stop();
      }
    });
    if (auto s = client_->connect(options_.endpoint); !s) return s;
    send_register();
    ticker_ = bus_.loop->every(std::min(options_.ping_interval, options_.resend_interval),
                               [this] { tick(); });
    return {};
  }

  void stop() {
    if (ticker_ != 0) bus_.loop->cancel(ticker_);
    ticker_ = 0;
    client_.reset();
    registered_ = false;
  }

  // Reports a task's new state (protocol::state::k...: starting, running, killing, finished,
  // failed, killed, error). Kept and resent until the agent acknowledges it. Returns false for a
  // task this executor was not given.
  bool send_status(const std::string& task_id, const std::string& state,
                   const std::string& message = "", const std::string& reason = "") {
    if (active_.count(task_id) == 0) return false;
    protocol::executor::StatusUpdate update{task_id, state, reason, message, new_uuid()};
    pending_.push_back(update);
    if (registered_) send_update(update);
    return true;
  }

  // Sends opaque bytes to the executor's scheduler, best effort (Mesos's frameworkMessage):
  // nothing says whether it arrived. An error when not registered or when data is larger than
  // protocol::kMaxFrameworkMessageBytes.
  Status send_message(const std::string& data) {
    if (data.size() > protocol::kMaxFrameworkMessageBytes) {
      return make_error("a framework message carries at most " +
                        std::to_string(protocol::kMaxFrameworkMessageBytes) + " bytes, not " +
                        std::to_string(data.size()));
    }
    if (!registered_) return make_error("the executor is not registered with its agent");
    client_->send(protocol::executor::Message{data});
    return {};
  }

  bool registered() const { return registered_; }
  // Updates not yet acknowledged by the agent.
  size_t unacknowledged() const { return pending_.size(); }
  // The tasks it was given that have not ended (for the agent: until their end is acknowledged).
  const std::set<std::string>& tasks() const { return active_; }
  const ExecutorOptions& options() const { return options_; }

 private:
  void send_register() {
    namespace ep = protocol::executor;
    if (!client_ || registering_) return;
    registering_ = true;
    last_register_ = EventLoop::Clock::now();
    ep::Register request{options_.framework_id, options_.executor_id, options_.token,
                         std::vector<std::string>(active_.begin(), active_.end())};
    client_->request(
        request,
        [this](Result<Envelope> reply) {
          registering_ = false;
          if (!reply) return;  // tick() tries again
          if (reply->is<ep::Refused>()) {
            auto body = reply->body<ep::Refused>();
            if (on_refused) on_refused(body ? body->reason : body.error().message);
            return;
          }
          auto body = reply->body<ep::Registered>();
          if (!body) return;
          registered_ = true;
          options_.agent_id = body->agent_id;
          if (on_registered) on_registered(*body);
          for (const auto& update : pending_) send_update(update);
          last_resend_ = EventLoop::Clock::now();
        },
        options_.request_timeout);
  }

  void send_update(const protocol::executor::StatusUpdate& update) {
    namespace ep = protocol::executor;
    client_->request(
        update,
        [this, uuid = update.uuid, task_id = update.task_id](Result<Envelope> reply) {
          if (!reply) return;  // resent by tick()
          if (reply->is<ep::Refused>()) {
            // Not registered any more (the agent restarted): registering again resends it.
            registered_ = false;
            return;
          }
          auto ack = reply->body<ep::StatusAck>();
          if (!ack || ack->uuid != uuid) return;
          for (auto it = pending_.begin(); it != pending_.end(); ++it) {
            if (it->uuid != uuid) continue;
            if (protocol::state::terminal(it->state)) active_.erase(task_id);
            pending_.erase(it);
            break;
          }
        },
        options_.request_timeout);
  }

  void tick() {
    namespace ep = protocol::executor;
    auto now = EventLoop::Clock::now();
    if (!registered_) {
      if (!registering_ && now - last_register_ >= options_.retry_interval) send_register();
      return;
    }
    if (now - last_ping_ >= options_.ping_interval && !pinging_) {
      last_ping_ = now;
      pinging_ = true;
      client_->request(
          ep::Ping{++ping_sequence_},
          [this](Result<Envelope> reply) {
            pinging_ = false;
            if (reply && reply->is<ep::Refused>()) {
              registered_ = false;
              send_register();
            }
          },
          options_.request_timeout);
    }
    if (!pending_.empty() && now - last_resend_ >= options_.resend_interval) {
      last_resend_ = now;
      for (const auto& update : pending_) send_update(update);
    }
  }

  std::string new_uuid() {
    char buffer[33];
    std::snprintf(buffer, sizeof buffer, "%016llx%016llx",
                  static_cast<unsigned long long>(generator_()),
                  static_cast<unsigned long long>(generator_()));
    return buffer;
  }

  Bus& bus_;
  ExecutorOptions options_;
  std::unique_ptr<Client> client_;
  EventLoop::TimerId ticker_ = 0;
  bool registering_ = false;
  bool registered_ = false;
  bool pinging_ = false;
  uint64_t ping_sequence_ = 0;
  EventLoop::Clock::time_point last_register_{};
  EventLoop::Clock::time_point last_ping_{};
  EventLoop::Clock::time_point last_resend_{};
  std::set<std::string> active_;
  std::vector<protocol::executor::StatusUpdate> pending_;
  std::mt19937_64 generator_;
};

}  // namespace tessera::sdk

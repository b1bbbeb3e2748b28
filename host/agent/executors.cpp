// The agent's executors: a framework's own process that runs the framework's tasks that name it
// (protocol/executor.h). Its container is launched, recovered and reaped as a task's is (it is
// kept in tasks_ under executor_key()); what is its own is here: the endpoint executors connect
// to, their registration and its timeout, handing them tasks and kills, taking their status
// updates (checkpointed before they are acknowledged), and failing their tasks when they end.
#include <sodium.h>

#include <algorithm>

#include "agent.h"

namespace tessera::host::agent {

namespace agentp = protocol::agent;
namespace executorp = protocol::executor;
namespace state = protocol::state;
namespace reason = protocol::reason;
namespace source = protocol::source;

namespace {

// A task id no framework can use (run_task refuses it): the executor's own entry in tasks_.
constexpr std::string_view kExecutorPrefix = "#executor/";
// The longest executor id and update uuid taken.
constexpr size_t kMaxIdBytes = 256;
constexpr size_t kMaxUuidBytes = 64;
// The longest path of an ipc endpoint (sun_path, less the terminating byte).
constexpr size_t kMaxIpcPath = 107;

std::string new_token() {
  // libsodium's generator: the token is a secret, not just a unique name.
  if (sodium_init() < 0) return "";
  unsigned char bytes[24];
  randombytes_buf(bytes, sizeof bytes);
  char hex[sizeof bytes * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, bytes, sizeof bytes);
  return hex;
}

bool same_secret(const std::string& a, const std::string& b) {
  return !a.empty() && a.size() == b.size() && sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

TaskKey Agent::executor_key(const std::string& framework_id, const std::string& executor_id) {
  return TaskKey{framework_id, std::string(kExecutorPrefix) + executor_id};
}

bool Agent::is_executor_key(const TaskKey& key) {
  return key.task_id.compare(0, kExecutorPrefix.size(), kExecutorPrefix) == 0;
}

Status Agent::bind_executor_endpoint() {
  std::filesystem::path socket = checkpoint_->root() / "executors.sock";
  if (socket.string().size() > kMaxIpcPath) {
    return make_error("the executors' socket path '" + socket.string() + "' is longer than " +
                      std::to_string(kMaxIpcPath) + " bytes; use a shorter work dir");
  }
  auto server = std::make_unique<sdk::Server>(bus(), "executors");
  MessageLimits limits;
  limits.max_bytes = executorp::kMaxMessageBytes;
  limits.max_values = executorp::kMaxTasks + 1024;
  limits.max_depth = 32;
  server->set_limits(limits);
  server->set_high_water_mark(1 << 20);
  server->on<executorp::Register>(
      [this](const sdk::Request& r, const executorp::Register& m) { on_executor_register(r, m); });
  server->on<executorp::StatusUpdate>(
      [this](const sdk::Request& r, const executorp::StatusUpdate& m) {
        on_executor_update(r, m);
      });
  server->on<executorp::Ping>([this](const sdk::Request& r, const executorp::Ping& m) {
    if (executor_of(r.peer) == nullptr) {
      // It registered with an agent that has restarted since: it registers again on this.
      executor_server_->reply(r,
                              executorp::Refused{"this connection is not a registered executor"});
      return;
    }
    executor_server_->reply(r, executorp::Pong{m.sequence});
  });
  server->on<executorp::Message>(
      [this](const sdk::Request& r, const executorp::Message& m) { from_executor(r, m); });
  // A stale socket file of an earlier agent (killed) is replaced.
  std::error_code ec;
  std::filesystem::remove(socket, ec);
  auto bound = server->bind("ipc://" + socket.string());
  if (!bound) return bound.error();
  executor_endpoint_ = *bound;
  executor_server_ = std::move(server);
  return {};
}

void Agent::run_executor_task(const TaskKey& key) {
  Task& task = tasks_[key];
  const protocol::TaskInfo& info = task.saved.task;
  const protocol::ExecutorInfo& executor = info.executor;
  log().info("agent: running {} in executor {}", key.text(), sdk::quote(executor.executor_id));
  std::string problem;
  if (executor.executor_id.size() > kMaxIdBytes) {
    problem = "the executor id is longer than " + std::to_string(kMaxIdBytes) + " bytes";
  } else if (executor.command.value.empty() && executor.container.type.empty()) {
    problem = "executor '" + executor.executor_id + "' has no command";
  } else if (info.data.size() > protocol::TaskInfo::kMaxDataBytes) {
    problem = "the task's data is larger than " +
              std::to_string(protocol::TaskInfo::kMaxDataBytes) + " bytes";
  }
  if (!problem.empty()) {
    return emit(key, state::kError, reason::kTaskInvalid, problem, source::kAgent);
  }
  if (!executor_server_) {
    return emit(key, state::kFailed, reason::kLaunchFailed,
                "this agent cannot run executors: " + executor_endpoint_problem_, source::kAgent);
  }
  TaskKey executor_entry = executor_key(key.framework_id, executor.executor_id);
  auto running = executors_.find(executor_entry);
  if (running == executors_.end() || ended_executors_.count(executor_entry) != 0) {
    if (tasks_.count(executor_entry) != 0 && ended_executors_.count(executor_entry) != 0) {
      // Its previous run ended in this burst and is forgotten at the commit: not yet reusable.
      return emit(key, state::kFailed, reason::kExecutorTerminated,
                  "the executor '" + executor.executor_id + "' has just ended; try again",
                  source::kAgent);
    }
    // The first task that names it starts it, with this task's ExecutorInfo.
    Executor& started = executors_[executor_entry];
    started.framework_id = key.framework_id;
    started.executor_id = executor.executor_id;
    started.token = new_token();
    started.waiting_since = Clock::now();
    Task& process = tasks_[executor_entry];
    process.saved.framework_id = key.framework_id;
    protocol::TaskInfo& launch = process.saved.task;
    launch.task_id = executor_entry.task_id;
    launch.name = executor.name.empty() ? executor.executor_id : executor.name;
    launch.resources = executor.resources;
    launch.command = executor.command;
    launch.container = executor.container;
    launch.kill_grace_seconds = executor.kill_grace_seconds;
    // Kept in its checkpoint too, so that it can register again with a restarted agent.
    auto& env = launch.command.environment;
    env[executorp::kEndpointVariable] = executor_endpoint_;
    env[executorp::kExecutorVariable] = executor.executor_id;
    env[executorp::kTokenVariable] = started.token;
    process.saved.state = state::kStaging;
    log().info("agent: starting executor {} of framework {}", sdk::quote(executor.executor_id),
               sdk::quote(key.framework_id));
    queue_container(executor_entry);
  }
  // Checkpointed (STAGING, no update) before the executor gets it: after a restart the agent
  // knows every task an executor may run. Its sandbox is its executor's, which all the
  // executor's tasks share (as a custom executor's tasks do in Mesos).
  Task& accepted = tasks_[key];
  accepted.saved.state = state::kStaging;
  accepted.saved.sandbox = tasks_[executor_entry].saved.sandbox;
  save(key);
  executor_deliveries_.push_back(key);
}

void Agent::kill_executor_task(const TaskKey& key) {
  Task& task = tasks_[key];
  task.saved.kill_requested = true;
  save(key);
  auto executor =
      executors_.find(executor_key(key.framework_id, task.saved.task.executor.executor_id));
  bool had_it = task.delivered || task.saved.state != state::kStaging;
  if (!had_it || executor == executors_.end()) {
    log().info("agent: {} was killed before its executor had it", key.text());
    return emit(key, state::kKilled, reason::kKilledByFramework,
                "killed before its executor had it", source::kAgent);
  }
  if (executor->second.peer.empty()) {
    // It has the task but is not connected (the agent restarted): the kill goes when it
    // registers again, or its end fails the task.
    log().info("agent: {} is killed once executor {} registers again", key.text(),
               sdk::quote(executor->second.executor_id));
    return;
  }
  log().info("agent: asking executor {} to kill {}", sdk::quote(executor->second.executor_id),
             key.text());
  executor_server_->send(executor->second.peer, executorp::KillTask{key.task_id});
}

void Agent::recover_executor(const TaskKey& key) {
  Task& process = tasks_[key];
  if (state::terminal(process.saved.state)) {
    ended_executors_.insert(key);
    return;
  }
  Executor& executor = executors_[key];
  executor.framework_id = key.framework_id;
  executor.executor_id = key.task_id.substr(kExecutorPrefix.size());
  auto& env = process.saved.task.command.environment;
  auto token = env.find(executorp::kTokenVariable);
  executor.token = token == env.end() ? "" : token->second;
  // A restarted agent binds the same socket, where the executor's connection finds it again.
  executor.waiting_since = Clock::now();
}

void Agent::on_executor_state(const TaskKey& key, const std::string& new_state,
                              const std::string& message, int32_t exit_code) {
  Task& process = tasks_[key];
  process.saved.state = new_state;
  dirty_.insert(key);
  auto it = executors_.find(key);
  if (it == executors_.end()) return;
  Executor& executor = it->second;
  if (new_state == state::kRunning) {
    executor.waiting_since = Clock::now();
    return;
  }
  if (!state::terminal(new_state)) return;
  std::string why =
      executor.timed_out
          ? "it did not register within " +
                std::to_string(settings_.executor_registration_timeout.count() / 1000) + " s"
          : (message.empty() ? new_state : message);
  log().warn("agent: executor {} of framework {} ended: {}", sdk::quote(executor.executor_id),
             sdk::quote(executor.framework_id), why);
  executor.exit_status = exit_code;
  executor.end_message = why;
  const char* task_reason =
      executor.timed_out ? reason::kExecutorRegistrationTimeout : reason::kExecutorTerminated;
  // Tasks of an executor that was shut down were killed with it (as their framework asked).
  std::string ended = executor.shutting_down ? "was shut down" : "ended";
  std::vector<TaskKey> orphans;
  for (const auto& [task_key, task] : tasks_) {
    if (task_key.framework_id == key.framework_id && !is_executor_key(task_key) &&
        task.saved.task.executor.executor_id == executor.executor_id &&
        !state::terminal(task.saved.state)) {
      orphans.push_back(task_key);
    }
  }
  for (const TaskKey& task_key : orphans) {
    bool killed = tasks_[task_key].saved.kill_requested || executor.shutting_down;
    emit(task_key, killed ? state::kKilled : state::kFailed, task_reason,
         "the executor '" + executor.executor_id + "' " + ended + ": " + why, source::kAgent);
  }
  // Forgotten once this state is durable (release_executor_work): a task naming it then starts
  // a new one.
  executor.peer.clear();
  ended_executors_.insert(key);
}

Agent::Executor* Agent::executor_of(const std::string& peer) {
  if (peer.empty()) return nullptr;
  for (auto& [key, executor] : executors_) {
    if (executor.peer == peer && ended_executors_.count(key) == 0) return &executor;
  }
  return nullptr;
}

void Agent::on_executor_register(const sdk::Request& request, const executorp::Register& m) {
  TaskKey key = executor_key(m.framework_id, m.executor_id);
  auto it = executors_.find(key);
  if (it == executors_.end() || ended_executors_.count(key) != 0 ||
      !same_secret(it->second.token, m.token)) {
    log().warn(
        "agent: refused a registration as executor {} of framework {}: no such executor "
        "runs here with that token",
        sdk::quote(m.executor_id), sdk::quote(m.framework_id));
    executor_server_->reply(request,
                            executorp::Refused{"no such executor runs here with that token"});
    return;
  }
  Executor& executor = it->second;
  bool again = !m.tasks.empty();
  executor.peer = request.peer;
  log().info("agent: executor {} of framework {} registered{}", sdk::quote(executor.executor_id),
             sdk::quote(executor.framework_id),
             again ? " again, with " + std::to_string(m.tasks.size()) + " task(s)" : "");
  executor_server_->reply(request, executorp::Registered{agent_id_, executor.framework_id,
                                                         executor.executor_id, settings_.hostname});
  std::set<std::string> named(m.tasks.begin(), m.tasks.end());
  std::vector<TaskKey> gone;
  for (auto& [task_key, task] : tasks_) {
    if (task_key.framework_id != executor.framework_id || is_executor_key(task_key) ||
        task.saved.task.executor.executor_id != executor.executor_id ||
        state::terminal(task.saved.state)) {
      continue;
    }
    if (named.count(task_key.task_id) != 0) {
      task.delivered = true;
      if (task.saved.kill_requested) {
        executor_server_->send(executor.peer, executorp::KillTask{task_key.task_id});
      }
    } else if (task.delivered || task.saved.state != state::kStaging) {
      // It had the task and no longer runs it, without a word about it.
      gone.push_back(task_key);
    } else {
      executor_deliveries_.push_back(task_key);
    }
  }
  for (const TaskKey& task_key : gone) {
    emit(task_key, state::kLost, reason::kExecutorTerminated,
         "the executor '" + executor.executor_id + "' registered again without the task",
         source::kAgent);
  }
}

void Agent::on_executor_update(const sdk::Request& request, const executorp::StatusUpdate& m) {
  Executor* executor = executor_of(request.peer);
  auto refuse = [&](const std::string& why) {
    log().warn("agent: refused a status update from {}: {}",
               executor == nullptr ? std::string("an unregistered connection")
                                   : "executor " + sdk::quote(executor->executor_id),
               why);
    executor_server_->reply(request, executorp::Refused{why});
  };
  if (executor == nullptr) return refuse("this connection is not a registered executor");
  TaskKey key{executor->framework_id, m.task_id};
  auto it = tasks_.find(key);
  if (it == tasks_.end() || is_executor_key(key) ||
      it->second.saved.task.executor.executor_id != executor->executor_id) {
    return refuse("task " + sdk::quote(m.task_id) + " is not a task of executor " +
                  sdk::quote(executor->executor_id));
  }
  if (!executorp::reportable(m.state)) {
    return refuse("'" + sdk::printable(m.state, 64) + "' is not a state an executor reports");
  }
  if (m.uuid.empty() || m.uuid.size() > kMaxUuidBytes) {
    return refuse("the update's uuid must be 1 to " + std::to_string(kMaxUuidBytes) + " bytes");
  }
  Task& task = it->second;
  executorp::StatusAck ack{m.task_id, m.uuid};
  uint64_t sequence = request.message.header().sequence;
  task.delivered = true;
  // A resent update (its ack was lost) or one after the end changes nothing; it is acknowledged
  // so that the executor stops sending it.
  if (state::terminal(task.saved.state) || task.saved.state == m.state) {
    executor_server_->reply(request, ack);
    return;
  }
  emit(key, m.state, sdk::printable(m.reason, 128),
       sdk::printable(m.message, executorp::kMaxTextBytes), source::kExecutor);
  // Acknowledged once the update is durable: from then on it is the agent's to deliver.
  executor_acks_.push_back({request.peer, sequence, std::move(ack)});
}

void Agent::release_executor_work(const std::vector<TaskKey>& deliveries,
                                  const std::vector<ExecutorAck>& acks) {
  for (const TaskKey& key : deliveries) {
    auto it = tasks_.find(key);
    if (it == tasks_.end() || it->second.delivered || state::terminal(it->second.saved.state)) {
      continue;
    }
    auto executor =
        executors_.find(executor_key(key.framework_id, it->second.saved.task.executor.executor_id));
    if (executor == executors_.end() || executor->second.peer.empty()) continue;  // at register
    it->second.delivered = true;
    executor_server_->send(executor->second.peer, executorp::LaunchTask{it->second.saved.task});
  }
  for (const ExecutorAck& pending : acks) {
    executor_server_->reply_later(pending.peer, pending.sequence, pending.ack);
  }
  std::set<TaskKey> not_durable;
  for (const TaskKey& key : ended_executors_) {
    if (dirty_.count(key) != 0) {
      not_durable.insert(key);  // its end is not durable yet
      continue;
    }
    if (auto s = checkpoint_->remove_task(key.framework_id, key.task_id); !s) {
      log().error("agent: {}", s.error().message);
    }
    auto task = tasks_.find(key);
    if (task != tasks_.end()) {
      containers_.erase(task->second.saved.container_id);
      tasks_.erase(task);
    }
    auto executor = executors_.find(key);
    if (executor != executors_.end() && master_ && registered_) {
      // Its end is durable: the master may give its resources to others. Best effort: if this
      // is lost, the next registration reports the executors that still run.
      const Executor& ended = executor->second;
      master_->send(agentp::ExecutorExited{agent_id_, ended.framework_id, ended.executor_id,
                                           ended.exit_status, ended.end_message});
    }
    if (executor != executors_.end()) executors_.erase(executor);
  }
  ended_executors_.swap(not_durable);
}

void Agent::shutdown_executors(const std::string& framework_id) {
  std::vector<TaskKey> keys;
  for (const auto& [key, executor] : executors_) {
    if (key.framework_id == framework_id) keys.push_back(key);
  }
  for (const TaskKey& key : keys) shutdown_executor(key, "its framework was removed");
}

void Agent::shutdown_executor(const TaskKey& key, const std::string& why) {
  auto it = executors_.find(key);
  auto process = tasks_.find(key);
  if (it == executors_.end() || ended_executors_.count(key) != 0 || process == tasks_.end() ||
      state::terminal(process->second.saved.state)) {
    log().info("agent: no executor {} of framework {} runs here to shut down",
               sdk::quote(key.task_id.substr(kExecutorPrefix.size())),
               sdk::quote(key.framework_id));
    return;
  }
  Executor& executor = it->second;
  if (executor.shutting_down) return;
  double grace = process->second.saved.task.kill_grace_seconds;
  log().info(
      "agent: shutting down executor {} of framework {} ({}); killing it in {} s if it "
      "has not ended",
      sdk::quote(executor.executor_id), sdk::quote(key.framework_id), why, grace);
  executor.shutting_down = true;
  process->second.saved.kill_requested = true;
  save(key);
  if (executor.peer.empty() || process->second.stage != Stage::kRunning) {
    // Nobody to ask (not registered yet, or not launched): it is killed now, with its grace (a
    // launch still under way sees kill_requested and stops).
    if (process->second.stage == Stage::kRunning) send_kill(process->second);
    return;
  }
  executor_server_->send(executor.peer, executorp::Shutdown{why});
  // Its kill grace is checked (clamped) by the master when its first task is launched.
  executor.shutdown_deadline =
      Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(grace * 1000));
}

std::vector<agentp::RunningExecutor> Agent::running_executors() const {
  std::vector<agentp::RunningExecutor> out;
  for (const auto& [key, executor] : executors_) {
    auto process = tasks_.find(key);
    if (ended_executors_.count(key) != 0 || process == tasks_.end() ||
        state::terminal(process->second.saved.state)) {
      continue;
    }
    // Its launch is the framework's ExecutorInfo with its display name and the agent's
    // variables, which are taken out again: the token is a secret between agent and executor.
    const protocol::TaskInfo& launch = process->second.saved.task;
    agentp::RunningExecutor running;
    running.framework_id = key.framework_id;
    running.executor.executor_id = executor.executor_id;
    running.executor.name = launch.name;
    running.executor.command = launch.command;
    for (const char* added :
         {executorp::kEndpointVariable, executorp::kExecutorVariable, executorp::kTokenVariable}) {
      running.executor.command.environment.erase(added);
    }
    running.executor.resources = launch.resources;
    running.executor.container = launch.container;
    running.executor.kill_grace_seconds = launch.kill_grace_seconds;
    out.push_back(std::move(running));
  }
  return out;
}

void Agent::to_executor(const protocol::agent::FrameworkMessage& message) {
  auto it = executors_.find(executor_key(message.framework_id, message.executor_id));
  if (it == executors_.end() || it->second.peer.empty() || ended_executors_.count(it->first) != 0) {
    log().info(
        "agent: dropped a framework message for executor {} of framework {}: it is not "
        "registered here",
        sdk::quote(message.executor_id), sdk::quote(message.framework_id));
    return;
  }
  if (message.data.size() > protocol::kMaxFrameworkMessageBytes) {
    log().warn("agent: dropped a framework message of {} bytes for executor {} (at most {})",
               message.data.size(), sdk::quote(message.executor_id),
               protocol::kMaxFrameworkMessageBytes);
    return;
  }
  executor_server_->send(it->second.peer, executorp::Message{message.data});
}

void Agent::from_executor(const sdk::Request& request, const executorp::Message& message) {
  Executor* executor = executor_of(request.peer);
  if (executor == nullptr) {
    log().warn(
        "agent: dropped a framework message from a connection that is not a registered "
        "executor");
    return;
  }
  if (message.data.size() > protocol::kMaxFrameworkMessageBytes) {
    log().warn("agent: dropped a framework message of {} bytes from executor {} (at most {})",
               message.data.size(), sdk::quote(executor->executor_id),
               protocol::kMaxFrameworkMessageBytes);
    return;
  }
  if (!master_ || !registered_) {
    log().info("agent: dropped a framework message from executor {}: no master",
               sdk::quote(executor->executor_id));
    return;
  }
  master_->send(protocol::agent::FrameworkMessage{agent_id_, executor->framework_id,
                                                  executor->executor_id, message.data});
}

void Agent::check_executor_registrations(Clock::time_point now) {
  for (auto& [key, executor] : executors_) {
    if (executor.shutting_down && executor.shutdown_deadline != Clock::time_point{} &&
        now >= executor.shutdown_deadline && ended_executors_.count(key) == 0) {
      auto process = tasks_.find(key);
      if (process != tasks_.end() && process->second.stage == Stage::kRunning) {
        log().warn("agent: executor {} of framework {} did not end within its grace; killing it",
                   sdk::quote(executor.executor_id), sdk::quote(executor.framework_id));
        send_kill(process->second, 0);
      }
      executor.shutdown_deadline = Clock::time_point{};  // killed once
    }
    if (!executor.peer.empty() || executor.timed_out || ended_executors_.count(key) != 0) continue;
    auto task = tasks_.find(key);
    if (task == tasks_.end() || task->second.stage != Stage::kRunning) continue;
    if (now - executor.waiting_since < settings_.executor_registration_timeout) continue;
    log().warn("agent: executor {} of framework {} did not register within {} s; killing it",
               sdk::quote(executor.executor_id), sdk::quote(executor.framework_id),
               settings_.executor_registration_timeout.count() / 1000);
    executor.timed_out = true;
    send_kill(task->second, 0);
  }
}

}  // namespace tessera::host::agent

#include "agent.h"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <set>

#include "agent_secret.h"
#include "resources_text.h"
#include "sandbox_files.h"
#include "tessera/protocol/duration.h"
#include "tessera/sdk/backoff.h"

namespace tessera::host::agent {

namespace agentp = protocol::agent;
namespace isolator = protocol::isolator;
namespace state = protocol::state;
namespace reason = protocol::reason;
namespace source = protocol::source;
using namespace std::chrono_literals;

namespace {

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// What of a task id its container id starts with: the isolators name files and cgroups after
// container ids (at most 200 bytes), and task ids may have 256 bytes of any kind. Up to 100
// bytes, each outside [A-Za-z0-9_.-] written as '_' (the number and random part that follow
// keep container ids apart).
std::string container_name_part(const std::string& task_id) {
  std::string out = task_id.substr(0, 100);
  for (char& c : out) {
    if (!Checkpoint::plain_id_byte(static_cast<unsigned char>(c))) c = '_';
  }
  return out;
}

std::string random_suffix() {
  static thread_local std::mt19937 generator{std::random_device{}()};
  char buffer[9];
  std::snprintf(buffer, sizeof buffer, "%08x", static_cast<unsigned>(generator()));
  return buffer;
}

// The routing id of a new connection to the master: random, so that no other process takes it
// (a master refuses a second connection under an id in use), and numbered by the connection.
std::string master_routing_id(uint64_t generation) {
  std::random_device random;
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "agent-%08x%08x-%llu", static_cast<unsigned>(random()),
                static_cast<unsigned>(random()), static_cast<unsigned long long>(generation));
  return buffer;
}

// Reads an isolator's answer that should be a T into `out`. Returns why it is not ("" when it
// is): no answer, an isolator.failed, a malformed body or another message (`request` names
// what it answers in that message).
template <typename T>
std::string isolator_answer(const Result<Envelope>& reply, T& out, const char* request = "") {
  if (!reply) return reply.error().message;
  if (reply->is<isolator::Failed>()) {
    auto body = reply->body<isolator::Failed>();
    return body ? body->message : body.error().message;
  }
  if (!reply->is<T>()) return "unexpected reply '" + reply->type() + "'" + request;
  auto body = reply->body<T>();
  if (!body) return body.error().message;
  out = std::move(*body);
  return "";
}

// The longest kill grace and ping interval the agent takes from the master, in seconds: larger
// values (and NaN or infinity) are a wrong or hostile master, and would overflow durations.
constexpr double kMaxGraceSeconds = 86400;

// A task's kill grace for the agent's own reckoning (logs, the shutdown deadline): finite, 0 to a
// day (negative or NaN: 0). The isolator gets the task's own value and checks it itself.
double kill_grace(const protocol::TaskInfo& task) {
  double grace = task.kill_grace_seconds;
  if (!(grace > 0)) return 0;
  return std::min(grace, kMaxGraceSeconds);
}

// Makes a new sandbox, WORK_DIR/agent/sandboxes/FRAMEWORK/TASK/CONTAINER: its last two levels
// are new but for a task id seen before, so two mkdirs, and create_directories (a status call
// on every missing level, then its mkdirs) only when they fail (the framework's level missing).
void make_sandbox(const std::filesystem::path& sandbox, std::error_code& ec) {
  ec.clear();
  bool made = (::mkdir(sandbox.parent_path().c_str(), 0755) == 0 || errno == EEXIST) &&
              ::mkdir(sandbox.c_str(), 0755) == 0;
  if (!made) std::filesystem::create_directories(sandbox, ec);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Configuration and pure helpers

AgentSettings read_settings(sdk::ConfigTable& table, const std::string& node_name) {
  AgentSettings s;
  s.isolators = table.get<std::vector<std::string>>("isolators", {});
  // Which plugin runs which kind of container. By default isolator_posix runs posix processes
  // when it is loaded, otherwise the first plugin of the list (a third party's runtime).
  sdk::ConfigTable runtimes = table.table("runtimes");
  for (const std::string& kind : runtimes.keys()) {
    auto name = runtimes.optional<std::string>(kind);
    if (!name) continue;
    if (kind != "posix" && kind != "docker") {
      runtimes.error_at(kind, "unknown runtime '" + kind + "' (valid: posix, docker)");
    } else if (std::find(s.isolators.begin(), s.isolators.end(), *name) == s.isolators.end()) {
      runtimes.error_at(kind, "the runtime '" + *name + "' is not in [agent] isolators");
    } else {
      s.runtimes[kind] = *name;
    }
  }
  if (s.runtimes.count("posix") == 0 && !s.isolators.empty()) {
    bool posix =
        std::find(s.isolators.begin(), s.isolators.end(), "isolator_posix") != s.isolators.end();
    s.runtimes["posix"] = posix ? "isolator_posix" : s.isolators.front();
  }
  for (const std::string& name : s.isolators) {
    bool runtime = std::any_of(s.runtimes.begin(), s.runtimes.end(),
                               [&](const auto& entry) { return entry.second == name; });
    if (!runtime && std::find(s.chain.begin(), s.chain.end(), name) == s.chain.end()) {
      s.chain.push_back(name);
    }
  }
  protocol::Resources defaults = detect_defaults();
  s.resources = defaults;
  if (auto text = table.optional<std::string>("resources")) {
    auto parsed = protocol::parse_resources(*text);
    if (parsed) {
      s.resources = with_defaults(std::move(*parsed), defaults);
    } else {
      table.error_at("resources", parsed.error().message);
    }
  }
  sdk::ConfigTable attributes = table.table("attributes");
  for (const std::string& name : attributes.keys()) {
    if (auto value = attributes.optional<std::string>(name)) {
      s.attributes.push_back({name, *value});
    }
  }
  s.hostname = table.get<std::string>("hostname", node_name);
  if (s.hostname.empty()) table.error_at("hostname", "must not be empty");
  s.status_update_retry =
      std::chrono::milliseconds(table.integer("status_update_retry_ms", 1000, 1, 3600000));
  s.status_update_retry_max =
      std::chrono::milliseconds(table.integer("status_update_retry_max_ms", 60000, 1, 86400000));
  s.status_update_retry_max = std::max(s.status_update_retry_max, s.status_update_retry);
  s.registration_retry =
      std::chrono::milliseconds(table.integer("registration_retry_ms", 200, 1, 3600000));
  s.registration_retry_max = std::max(s.registration_retry_max, s.registration_retry);
  int64_t usage_ms = table.integer("usage_interval_ms", 5000, 0, 3600000);
  if (usage_ms > 0 && usage_ms < 100) {
    table.error_at("usage_interval_ms",
                   "expected 0 (never) or 100 to 3600000, got " + std::to_string(usage_ms));
  }
  s.usage_interval = std::chrono::milliseconds(usage_ms);
  s.executor_registration_timeout =
      std::chrono::seconds(table.integer("executor_registration_timeout_seconds", 60, 1, 86400));
  s.max_launches_in_flight =
      static_cast<size_t>(table.integer("max_launches_in_flight", 64, 1, 100000));
  return s;
}

std::map<std::string, std::string> task_environment(const std::string& framework_id,
                                                    const protocol::TaskInfo& task,
                                                    const std::string& agent_id,
                                                    const std::string& hostname,
                                                    const std::string& sandbox) {
  std::map<std::string, std::string> env = task.command.environment;
  env["TASK_ID"] = task.task_id;
  env["TESSERA_FRAMEWORK_ID"] = framework_id;
  env["TESSERA_AGENT_ID"] = agent_id;
  env["HOST"] = hostname;
  auto ports = task.resources.ranges.find("ports");
  std::string list;
  size_t n = 0;
  if (ports != task.resources.ranges.end()) {
    // In the order the task gave them (not sorted): PORT0 is the first port it asked for.
    for (const protocol::Range& range : ports->second) {
      for (uint64_t p = range.begin; p <= range.end && n < 65536; ++p) {
        env["PORT" + std::to_string(n++)] = std::to_string(p);
        if (!list.empty()) list += ",";
        list += std::to_string(p);
        if (p == UINT64_MAX) break;
      }
    }
  }
  if (n > 0) {
    env["PORT"] = env["PORT0"];
    env["PORTS"] = list;
  }
  if (!sandbox.empty()) env["TESSERA_SANDBOX"] = sandbox;
  return env;
}

std::string runtime_kind(const std::string& container_type) {
  if (container_type.empty() || container_type == "MESOS") return "posix";
  if (container_type == "DOCKER") return "docker";
  return "";
}

ExitOutcome exit_outcome(const isolator::Exited& e, bool kill_requested) {
  ExitOutcome out;
  out.exit_code = e.exit_code;
  std::string how;
  if (e.signal != 0) {
    how = "killed by signal " + std::to_string(e.signal);
  } else if (e.exit_code >= 0) {
    how = "exited with status " + std::to_string(e.exit_code);
  } else {
    how = e.message.empty() ? "ended with an unknown status" : e.message;
  }
  if (kill_requested) {
    out.state = state::kKilled;
    out.message = how;
    return out;
  }
  if (e.signal == 0 && e.exit_code == 0) {
    out.state = state::kFinished;
    out.message = how;
    return out;
  }
  out.state = state::kFailed;
  out.reason = e.reason.empty() ? reason::kCommandExited : e.reason;
  out.message = how;
  if (!e.reason.empty() && !e.message.empty() && e.message != how) out.message += ": " + e.message;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Start, recovery, registration

Agent::Agent(sdk::PluginContext& context) : Role(context) {}

Agent::~Agent() = default;

// The isolators of the chain that run around a task: all of them for a process, none for a
// Docker container, which the daemon isolates itself (its memory and cpu limits, its own
// cgroups): attaching its processes to another cgroup would take them from under the daemon.
size_t Agent::chain_size(const Task& task) const {
  return runtime_kind(task.saved.task.container.type) == "posix" ? settings_.chain.size() : 0;
}

Status Agent::configure(sdk::ConfigTable& table) {
  settings_ = read_settings(table, context().node_name());
  registration_backoff_ = settings_.registration_retry;
  return {};
}

Status Agent::start() {
  checkpoint_ = std::make_unique<Checkpoint>(context().plugin_work_dir());
  updates_ = std::make_unique<StatusUpdateQueue>(settings_.status_update_retry,
                                                 settings_.status_update_retry_max);
  // Group commit at the end of every burst of work (see commit()), flushed off the loop.
  loop().on_idle([this] { commit(); });
  flusher_ = std::make_unique<JournalFlusher>([this] { loop().post([this] { on_flushed(); }); });
  // First, so that a second agent on this work dir stops here, before it reads or writes.
  if (auto s = checkpoint_->open(); !s) return s.context("agent");
  auto id = checkpoint_->read_agent_id();
  if (!id) return id.error().context("agent: reading its id");
  agent_id_ = *id;
  if (auto s = bind_executor_endpoint(); !s) {
    // Tasks without an executor do not need it: they run; those with one fail with this.
    executor_endpoint_problem_ = s.error().message;
    log().error("agent: executors cannot be run: {}", executor_endpoint_problem_);
  }

  if (auto s = connect_plugins(); !s) return s.context("agent");
  if (settings_.isolators.empty()) {
    log().warn("agent: [agent] isolators is empty: every task will fail to launch");
  }

  // The leader plugin of this node says where the master is.
  auto detector = sdk::make_master_detector(bus(), "");
  if (!detector) return detector.error().context("agent");
  detector_ = std::move(*detector);
  detector_->on_change = [this](const std::string& endpoint) { on_leader_moved(endpoint); };

  log().info(
      "agent: {} on '{}' with {}{}", agent_id_.empty() ? "new agent" : "agent '" + agent_id_ + "'",
      settings_.hostname, settings_.resources.to_string(),
      settings_.isolators.empty() ? "" : " (" + [this] {
        std::string text;
        for (const auto& [kind, name] : settings_.runtimes) {
          text += (text.empty() ? "" : ", ") + kind + " runtime '" + name + "'";
        }
        for (const std::string& name : settings_.chain) text += ", isolator '" + name + "'";
        return text;
      }() + ")");
  recover();
  find_master();
  ticker_ = loop().every(100ms, [this] { tick(); });
  return {};
}

Status Agent::connect_plugins() {
  for (const std::string& name : settings_.isolators) {
    if (plugins_.count(name) != 0) continue;
    auto client = std::make_unique<sdk::Client>(bus(), "isolator." + name);
    // A runtime's exits and an isolator's limitations come on the connection of the requests,
    // in order with the replies.
    client->on<isolator::Exited>(
        [this](const Envelope&, const isolator::Exited& e) { on_exited(e); });
    client->on<isolator::Limitation>(
        [this](const Envelope&, const isolator::Limitation& l) { on_limitation(l); });
    if (auto s = client->connect(isolator::endpoint(name)); !s) return s;
    plugins_[name] = std::move(client);
  }
  return {};
}

sdk::Client* Agent::plugin(const std::string& name) {
  auto it = plugins_.find(name);
  return it == plugins_.end() ? nullptr : it->second.get();
}

void Agent::recover() {
  Checkpoint::Recovered found = checkpoint_->read_tasks();
  for (const std::string& problem : found.errors) log().error("agent: {}", problem);
  for (const std::string& note : found.notes) log().warn("agent: {}", note);
  std::vector<TaskKey> live;
  auto now = Clock::now();
  for (TaskCheckpoint& saved : found.tasks) {
    TaskKey key{saved.framework_id, saved.task.task_id};
    for (const protocol::TaskStatus& status : saved.pending) updates_->push(key, status, now);
    Task task;
    task.saved = std::move(saved);
    if (!state::terminal(task.saved.state) && !task.saved.container_id.empty()) {
      containers_[task.saved.container_id] = key;
      live.push_back(key);
    }
    // A task of an executor has no container of its own: its executor's tells.
    bool orphan = !state::terminal(task.saved.state) && task.saved.container_id.empty() &&
                  task.saved.task.executor.executor_id.empty();
    tasks_[key] = std::move(task);
    if (is_executor_key(key)) recover_executor(key);
    if (orphan) {
      emit(key, state::kLost, reason::kAgentRestarted,
           "the agent restarted before the task was launched", source::kAgent);
    }
  }
  // A task whose executor is not in the checkpoint any more cannot be running.
  for (auto& [key, task] : tasks_) {
    const std::string& executor_id = task.saved.task.executor.executor_id;
    if (is_executor_key(key) || executor_id.empty() || state::terminal(task.saved.state) ||
        executors_.count(executor_key(key.framework_id, executor_id)) != 0) {
      continue;
    }
    emit(key, state::kLost, reason::kExecutorTerminated,
         "the executor '" + executor_id + "' is gone since the agent restarted", source::kAgent);
  }
  if (!found.tasks.empty()) {
    log().info(
        "agent: recovered {} task(s) from the checkpoint, {} to reattach, {} update(s) "
        "to deliver",
        found.tasks.size(), live.size(), updates_->size());
  }
  recover_containers(live);
}

void Agent::recover_containers(const std::vector<TaskKey>& keys) {
  if (settings_.isolators.empty()) {
    for (const TaskKey& key : keys) {
      containers_.erase(tasks_[key].saved.container_id);
      emit(key, state::kLost, reason::kAgentRestarted,
           "the agent has no isolator to reattach to the task", source::kAgent);
    }
    recovered_ = true;
    try_register();
    return;
  }
  // Every plugin is asked, even when no task is live: each cleans up what it holds of a
  // container that is not named here (one launched for a task whose checkpoint never became
  // durable, or whose task ended), so that nothing the agent started runs untracked after a
  // restart. A runtime hears of the containers it runs; an isolator of every live one.
  std::map<std::string, isolator::Recover> requests;
  for (const std::string& name : settings_.isolators) requests[name];
  for (const TaskKey& key : keys) {
    Task& task = tasks_[key];
    auto runtime = settings_.runtimes.find(runtime_kind(task.saved.task.container.type));
    task.runtime = runtime == settings_.runtimes.end() ? "" : runtime->second;
    isolator::KnownContainer known{task.saved.container_id, task.saved.pid};
    // Every isolator of its chain prepared it before it ran: an exit that the runtime reports
    // while the others still recover is cleaned up by all of them.
    task.prepared = chain_size(task);
    if (!task.runtime.empty()) requests[task.runtime].containers.push_back(known);
    for (size_t i = 0; i < chain_size(task); ++i) {
      requests[settings_.chain[i]].containers.push_back(known);
    }
  }
  struct Round {
    size_t waiting = 0;
    bool failed = false;
    std::map<std::string, std::set<std::string>> alive;  // by plugin
  };
  auto round = std::make_shared<Round>();
  round->waiting = requests.size();
  auto finish = [this, keys, round] {
    if (round->failed) {
      loop().after(1s, [this, keys] { recover_containers(keys); });
      return;
    }
    for (const TaskKey& key : keys) adopt_or_report(key, round->alive);
    recovered_ = true;
    try_register();
  };
  for (auto& [plugin_name, request] : requests) {
    plugin(plugin_name)
        ->request(
            request,
            [this, name = plugin_name, round, finish](Result<Envelope> reply) {
              isolator::Recovered recovered;
              std::string problem = isolator_answer(reply, recovered);
              if (!problem.empty()) {
                log().error("agent: cannot recover containers from '{}' (retrying in 1 s): {}",
                            name, problem);
                round->failed = true;
              } else {
                round->alive[name].insert(recovered.alive.begin(), recovered.alive.end());
              }
              if (--round->waiting == 0) finish();
            },
            10s);
  }
}

void Agent::adopt_or_report(const TaskKey& key,
                            const std::map<std::string, std::set<std::string>>& alive) {
  auto it = tasks_.find(key);
  if (it == tasks_.end() || state::terminal(it->second.saved.state)) return;
  Task& task = it->second;
  // Its runtime reported its exit during the recovery: it is being cleaned up and reported.
  if (task.exit) return;
  const std::string id = task.saved.container_id;
  auto holds = [&](const std::string& name) {
    auto found = alive.find(name);
    return found != alive.end() && found->second.count(id) != 0;
  };
  if (!task.runtime.empty() && holds(task.runtime)) {
    log().info("agent: reattached to {} (container '{}')", key.text(), id);
    task.stage = Stage::kRunning;
    std::string lost;
    for (size_t i = 0; i < task.prepared; ++i) {
      if (!holds(settings_.chain[i])) lost = settings_.chain[i];
    }
    if (!lost.empty()) {
      // Running without the isolation it was launched with: ended rather than left unlimited.
      log().warn("agent: the isolator '{}' no longer holds container '{}': killing it", lost, id);
      task.launch_failure =
          "the isolator '" + lost + "' lost the container when the agent restarted";
      send_kill(task, 0);
    } else if (task.saved.kill_requested) {
      send_kill(task);
    } else if (task.saved.state != state::kRunning) {
      emit(key, state::kRunning, "", "", source::kAgent);
    }
    return;
  }
  // Gone: the runtime has killed whatever was left of it; the isolators release what they hold
  // and may know why it ended (e.g. its memory limit). Its exit status itself is not known: the
  // agent that was its parent is gone.
  task.stage = Stage::kEnding;
  std::string why = task.saved.pid == 0
                        ? "the agent restarted while launching the task, and it is not running"
                        : "the task ended while the agent was down; its exit status is unknown";
  if (task.runtime.empty()) why = "no runtime of this agent runs its container type";
  cleanup(id, task.prepared,
          [this, key, id, why](const std::string& limit, const std::string& text) {
            Task* ended = owner(key, id);
            if (ended == nullptr) return;
            containers_.erase(id);
            log().warn("agent: {} (container '{}'): {}{}", key.text(), id, why,
                       limit.empty() ? "" : "; " + text);
            if (!limit.empty() && !ended->saved.kill_requested) {
              emit(key, state::kFailed, limit, "ended while the agent was down: " + text,
                   source::kAgent);
            } else {
              emit(key, ended->saved.kill_requested ? state::kKilled : state::kLost,
                   reason::kAgentRestarted, why, source::kAgent);
            }
          });
}

void Agent::find_master() {
  if (finding_master_) return;
  finding_master_ = true;
  last_find_ = Clock::now();
  detector_->next([this](Result<std::string> endpoint) {
    finding_master_ = false;
    if (!endpoint) {
      log().debug("agent: no master yet: {}", endpoint.error().message);
      return;  // tick() asks again
    }
    if (master_ && *endpoint == master_endpoint_) return;
    log().info("agent: the master is at {}", sdk::printable(*endpoint));
    connect_master(*endpoint);
  });
}

void Agent::on_leader_moved(const std::string& endpoint) {
  if (endpoint.empty()) {
    if (master_) {
      log().warn("agent: the master at {} is no longer the leader; waiting for a new one",
                 sdk::printable(master_endpoint_));
      drop_master();
    }
    return;
  }
  find_master();
}

void Agent::drop_master() {
  if (master_) retired_masters_.push_back(std::move(master_));
  ++master_generation_;
  master_endpoint_.clear();
  registered_ = false;
  registering_ = false;
}

void Agent::connect_master(const std::string& endpoint) {
  drop_master();
  uint64_t generation = master_generation_;
  master_ = std::make_unique<sdk::Client>(bus(), "master");
  // Status updates leave in bursts (a commit can release hundreds): a deep queue rather than
  // ZeroMQ's 1000, like the master's towards agents.
  master_->set_high_water_mark(1 << 20);
  // A routing id of its own, kept when ZeroMQ reconnects the socket by itself: without one, a
  // TCP connection that dropped during the first registration came back as another peer of the
  // master, which took the resent registration for a second agent and kept the first, admitted
  // on the dropped connection, as a ghost that got offers. With it the resend comes from the
  // same peer and is answered with the id the first one got.
  if (auto s = master_->set_routing_id(master_routing_id(generation)); !s) {
    log().warn("agent: {}", s.error().message);
  }
  master_endpoint_ = endpoint;
  auto current = [this, generation] { return generation == master_generation_; };
  auto contact = [this] { last_master_contact_ = Clock::now(); };
  master_->on<agentp::RunTask>([=, this](const Envelope&, const agentp::RunTask& m) {
    if (!current()) return;
    contact();
    run_task(m.framework_id, m.task);
  });
  master_->on<agentp::KillTask>([=, this](const Envelope&, const agentp::KillTask& m) {
    if (!current()) return;
    contact();
    kill_task(m.framework_id, m.task_id);
  });
  master_->on<agentp::StatusAck>([=, this](const Envelope&, const agentp::StatusAck& m) {
    if (!current()) return;
    contact();
    on_ack(m);
  });
  master_->on<agentp::Ping>([=, this](const Envelope&, const agentp::Ping& m) {
    if (!current()) return;
    contact();
    master_->send(agentp::Pong{agent_id_, m.sequence});
  });
  master_->on<protocol::files::Request>(
      [=, this](const Envelope&, const protocol::files::Request& m) {
        if (!current()) return;
        contact();
        master_->send(sandbox_files(m));
      });
  master_->on<agentp::FrameworkMessage>(
      [=, this](const Envelope&, const agentp::FrameworkMessage& m) {
        if (!current()) return;
        contact();
        to_executor(m);
      });
  master_->on<agentp::ShutdownFramework>(
      [=, this](const Envelope&, const agentp::ShutdownFramework& m) {
        if (!current()) return;
        contact();
        shutdown_executors(m.framework_id);
      });
  master_->on<agentp::ShutdownExecutor>([=, this](const Envelope&,
                                                  const agentp::ShutdownExecutor& m) {
    if (!current()) return;
    contact();
    shutdown_executor(executor_key(m.framework_id, m.executor_id), "its framework asked for it");
  });
  master_->on<agentp::Shutdown>([=, this](const Envelope&, const agentp::Shutdown& m) {
    if (!current()) return;
    contact();
    shutdown(m.reason);
  });
  // A Registered pushed without a request (e.g. a master that re-registers agents itself).
  master_->on<agentp::Registered>([=, this](const Envelope&, const agentp::Registered& m) {
    if (!current()) return;
    contact();
    on_registered(m);
  });
  if (auto s = master_->connect(endpoint); !s) {
    log().error("agent: {}", s.error().message);
    drop_master();
    return;
  }
  registration_backoff_ = settings_.registration_retry;
  try_register();
}

void Agent::try_register() {
  if (!recovered_ || !master_ || registering_ || registered_ || shutting_down_) return;
  agentp::Register request;
  request.agent_id = agent_id_;
  request.hostname = settings_.hostname;
  request.resources = settings_.resources;
  request.attributes = settings_.attributes;
  if (!agent_id_.empty()) {
    auto secret = read_agent_secret(checkpoint_->root());
    if (!secret) log().error("agent: {}", secret.error().message);
    request.secret = secret ? *secret : "";
  }
  // Every task it has not finished reporting, terminal ones included (as Mesos's agent does):
  // the master then keeps each at its latest state until the agent's own update for it comes,
  // instead of declaring it lost on its own and giving the framework a second terminal status.
  for (const auto& [key, task] : tasks_) {
    if (is_executor_key(key)) continue;  // the master knows executors by their tasks
    request.tasks.push_back(
        {key.framework_id, task.saved.task, task.saved.state, task.saved.sandbox});
  }
  request.executors = running_executors();
  registering_ = true;
  uint64_t generation = master_generation_;
  log().info("agent: {} with the master at {} ({} task(s))",
             agent_id_.empty() ? "registering" : "re-registering as " + sdk::quote(agent_id_),
             sdk::printable(master_endpoint_), request.tasks.size());
  master_->request(
      request,
      [this, generation](Result<Envelope> reply) {
        if (generation != master_generation_) return;
        registering_ = false;
        std::string problem;
        if (!reply) {
          problem = reply.error().message;
        } else if (reply->is<agentp::Registered>()) {
          auto body = reply->body<agentp::Registered>();
          if (body) {
            last_master_contact_ = Clock::now();
            on_registered(*body);
            return;
          }
          problem = body.error().message;
        } else if (reply->is<agentp::Shutdown>()) {
          auto body = reply->body<agentp::Shutdown>();
          shutdown(body ? body->reason : "");
          return;
        } else if (reply->is<protocol::master::NotLeader>()) {
          auto body = reply->body<protocol::master::NotLeader>();
          std::string left = master_endpoint_;
          bool redirected =
              detector_->not_leader(left, body ? *body : protocol::master::NotLeader{});
          drop_master();
          log().info("agent: the master at {} is not the leader{}", sdk::printable(left),
                     redirected ? "; trying the one it names" : "; waiting for a leader");
          // A redirect is what the detector gives now; otherwise tick() asks again later.
          if (redirected) find_master();
          return;
        } else if (reply->is<agentp::Refused>()) {
          auto body = reply->body<agentp::Refused>();
          problem = "refused: " + (body ? body->reason : body.error().message);
        } else {
          problem = "unexpected reply '" + reply->type() + "'";
        }
        // Loud while the delay grows, quiet once it is at its longest.
        if (registration_backoff_ < settings_.registration_retry_max) {
          log().info("agent: no registration with the master at {} yet ({}); retrying",
                     sdk::printable(master_endpoint_), sdk::printable(problem, 1000));
        } else {
          log().debug("agent: no registration with the master at {} yet ({}); retrying",
                      sdk::printable(master_endpoint_), sdk::printable(problem, 1000));
        }
        registration_backoff_ =
            std::min(registration_backoff_ * 2, settings_.registration_retry_max);
        // The detector may know another master by now (one that a redirect pointed to may be
        // gone): it is connected to only if it differs.
        if (!reply) {
          detector_->unreachable(master_endpoint_);
          find_master();
        }
        try_register();
      },
      // The first attempt goes at once; an unanswered one is sent again after a jittered wait,
      // so that the agents of a cluster, which all meet a new master at the same moment, do
      // not all send again at the same moments too.
      sdk::jittered(registration_backoff_, registration_random_));
}

void Agent::on_registered(const agentp::Registered& registered) {
  if (registered.agent_id.empty()) {
    log().error("agent: the master registered this agent without an id; ignoring it");
    return;
  }
  // The secret first: an id saved without its secret could never be proven again, while a
  // secret without its id is only replaced at the next first registration.
  if (!registered.secret.empty()) {
    if (auto s = write_agent_secret(checkpoint_->root(), registered.secret); !s) {
      log().error("agent: cannot keep the secret the master gave: {}", s.error().message);
    }
  }
  if (registered.agent_id != agent_id_) {
    if (!agent_id_.empty()) {
      log().warn("agent: the master gave the id '{}' to this agent, which was '{}'",
                 sdk::escape(registered.agent_id), sdk::escape(agent_id_));
    }
    agent_id_ = registered.agent_id;
    if (auto s = checkpoint_->write_agent_id(agent_id_); !s) {
      log().error("agent: cannot persist the agent id '{}': {}", sdk::escape(agent_id_),
                  s.error().message);
    }
  }
  detector_->leading(master_endpoint_);
  bool was = registered_;
  registered_ = true;
  registering_ = false;
  registration_backoff_ = settings_.registration_retry;
  auto ping = protocol::wire_duration("ping_interval_seconds", registered.ping_interval_seconds,
                                      protocol::limits::kMaxIntervalSeconds);
  if (ping && ping->seconds > 0) ping_interval_ = std::chrono::duration<double>(ping->seconds);
  last_master_contact_ = Clock::now();
  if (!was) {
    log().info("agent: registered as '{}' with master '{}' (ping every {} s)",
               sdk::escape(agent_id_), sdk::escape(registered.master_id), ping_interval_.count());
  }
  updates_->reset(Clock::now());
  flush_updates();
}

void Agent::tick() {
  auto now = Clock::now();
  if (checkpoint_failing_ && now >= next_checkpoint_retry_) commit();
  if (!master_ && !finding_master_ && now - last_find_ >= 1s) find_master();
  flush_updates();
  if (registered_) {
    auto silence = now - last_master_contact_;
    auto limit = std::max<std::chrono::duration<double>>(ping_interval_ * 3, 1s);
    if (silence > limit) {
      log().warn("agent: no word from the master at {} for {:.1f} s; re-registering",
                 sdk::printable(master_endpoint_), std::chrono::duration<double>(silence).count());
      registered_ = false;
      registration_backoff_ = settings_.registration_retry;
      try_register();
    }
  }
  check_executor_registrations(now);
  if (settings_.usage_interval.count() > 0 && registered_ && !collecting_usage_ &&
      now >= next_usage_) {
    next_usage_ = now + settings_.usage_interval;
    collect_usage();
  }
  if (shutting_down_) {
    bool any_live = false;
    for (const auto& [key, task] : tasks_)
      any_live = any_live || !state::terminal(task.saved.state);
    if (!any_live || now >= shutdown_deadline_) finish_shutdown();
  }
}

// ---------------------------------------------------------------------------------------------
// Usage

void Agent::collect_usage() {
  struct Collection {
    std::map<TaskKey, protocol::ResourceUsage> usage;
    size_t waiting = 0;
  };
  auto collection = std::make_shared<Collection>();
  // A slow plugin delays one report by at most this much, never the next ones.
  auto timeout = std::clamp<std::chrono::milliseconds>(settings_.usage_interval, 100ms, 10s);
  for (const auto& [key, task] : tasks_) {
    if (task.stage != Stage::kRunning || state::terminal(task.saved.state)) continue;
    // The isolators measure what they limit (isolator_cgroups); a container without any is
    // measured by its runtime (isolator_docker: the daemon's stats).
    size_t chain = chain_size(task);
    std::vector<std::string> sources(settings_.chain.begin(),
                                     settings_.chain.begin() + static_cast<ptrdiff_t>(chain));
    if (sources.empty()) sources.push_back(task.runtime);
    for (const std::string& name : sources) {
      sdk::Client* client = plugin(name);
      if (client == nullptr) continue;
      ++collection->waiting;
      client->request(
          isolator::GetUsage{task.saved.container_id},
          [this, collection, key = key](Result<Envelope> reply) {
            isolator::Usage measured;
            if (isolator_answer(reply, measured).empty()) {
              // The first plugin that measures a field gives it.
              protocol::ResourceUsage& u = collection->usage[key];
              if (u.cpu_seconds < 0) u.cpu_seconds = measured.cpu_seconds;
              if (u.mem_bytes < 0) u.mem_bytes = measured.memory_bytes;
              if (u.mem_peak_bytes < 0) u.mem_peak_bytes = measured.memory_peak_bytes;
            }
            if (--collection->waiting == 0) {
              collecting_usage_ = false;
              send_usage(collection->usage);
            }
          },
          timeout);
    }
  }
  collecting_usage_ = collection->waiting > 0;
}

void Agent::send_usage(const std::map<TaskKey, protocol::ResourceUsage>& usage) {
  if (!master_ || !registered_) return;
  double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  agentp::Usage message{agent_id_, {}};
  for (auto [key, u] : usage) {
    if (is_executor_key(key)) continue;
    if (u.cpu_seconds < 0 && u.mem_bytes < 0 && u.mem_peak_bytes < 0) continue;
    // What no plugin measured stays -1 (not measured); anything else out of range is dropped
    // here rather than sent.
    u.timestamp = now;
    if (!agentp::valid_usage(u)) continue;
    message.tasks.push_back({key.framework_id, key.task_id, u});
    if (message.tasks.size() == agentp::Usage::kMaxTasks) {
      master_->send(message);
      message.tasks.clear();
    }
  }
  if (!message.tasks.empty()) master_->send(message);
}

// ---------------------------------------------------------------------------------------------
// Tasks

void Agent::run_task(const std::string& framework_id, const protocol::TaskInfo& info) {
  if (info.task_id.empty()) {
    log().warn("agent: run_task from framework '{}' names no task; dropped",
               sdk::escape(framework_id));
    return;
  }
  TaskKey key{framework_id, info.task_id};
  if (is_executor_key(key)) {
    // The master refuses these ids; taking one would put a task where an executor is kept.
    log().warn("agent: run_task of {}: ids starting with '#executor/' are reserved; dropped",
               key.text());
    return;
  }
  if (shutting_down_) {
    log().warn("agent: {} arrived while shutting down; dropped", key.text());
    return;
  }
  if (tasks_.count(key) != 0) {
    log().warn("agent: {} is already known here (state {}); duplicate run_task ignored", key.text(),
               sdk::printable(tasks_[key].saved.state));
    return;
  }
  Task& task = tasks_[key];
  task.saved.framework_id = framework_id;
  task.saved.task = info;
  task.saved.state = state::kStaging;
  if (!info.executor.executor_id.empty()) return run_executor_task(key);
  log().info("agent: running {}: {}", key.text(), sdk::printable(info.command.value));

  if (info.command.value.empty() && info.container.type.empty()) {
    return emit(key, state::kError, reason::kTaskInvalid,
                "task '" + info.task_id + "' has no command", source::kAgent);
  }
  queue_container(key);
}

void Agent::queue_container(const TaskKey& key) {
  Task& task = tasks_[key];
  const protocol::TaskInfo& info = task.saved.task;
  const std::string& framework_id = key.framework_id;
  if (settings_.isolators.empty()) {
    return emit(key, state::kFailed, reason::kLaunchFailed,
                "this agent has no isolator ([agent] isolators is empty)", source::kAgent);
  }
  auto runtime = settings_.runtimes.find(runtime_kind(info.container.type));
  if (runtime == settings_.runtimes.end()) {
    return emit(key, state::kFailed, reason::kLaunchFailed,
                "this agent has no runtime for container type '" +
                    sdk::printable(info.container.type) + "'",
                source::kAgent);
  }
  task.runtime = runtime->second;
  // An executor's key is not a name for a container (it has a '/'); its number and random part
  // make it unique.
  std::string container_id =
      (is_executor_key(key) ? std::string("executor") : container_name_part(info.task_id)) + "-" +
      std::to_string(++launches_) + "-" + random_suffix();
  std::filesystem::path sandbox = checkpoint_->sandbox(framework_id, info.task_id, container_id);
  std::error_code ec;
  make_sandbox(sandbox, ec);
  if (ec) {
    return emit(key, state::kFailed, reason::kLaunchFailed,
                "cannot create the sandbox '" + sandbox.string() + "': " + ec.message(),
                source::kAgent);
  }
  task.saved.container_id = container_id;
  task.saved.sandbox = sandbox.string();
  containers_[container_id] = key;
  emit(key, state::kStarting, "", "", source::kAgent);
  // Launched only once the checkpoint that names its container is durable (commit()): a
  // restarted agent then knows every container it may have started.
  launch_queue_.push_back({key, container_id});
}

bool Agent::in_launch(Stage stage) {
  return stage == Stage::kPreparing || stage == Stage::kLaunching || stage == Stage::kIsolating ||
         stage == Stage::kReleasing;
}

void Agent::set_stage(Task& task, Stage stage) {
  bool was = in_launch(task.stage);
  task.stage = stage;
  if (was == in_launch(stage)) return;
  if (!was) {
    ++launches_in_flight_;
    return;
  }
  if (launches_in_flight_ > 0) --launches_in_flight_;
  pump_launches();
}

void Agent::pump_launches() {
  // A launch that ends at once (killed before it started) leaves the window inside the call
  // that starts it: the loop below starts the next one, not a nested call.
  if (pumping_launches_) return;
  pumping_launches_ = true;
  while (launches_in_flight_ < settings_.max_launches_in_flight && !ready_launches_.empty()) {
    auto [key, container_id] = std::move(ready_launches_.front());
    ready_launches_.pop_front();
    start_launch(key, container_id);
  }
  pumping_launches_ = false;
}

void Agent::start_launch(const TaskKey& key, const std::string& container_id) {
  auto it = tasks_.find(key);
  if (it == tasks_.end() || it->second.saved.container_id != container_id) return;
  Task& task = it->second;
  if (task.saved.kill_requested || state::terminal(task.saved.state)) {
    containers_.erase(container_id);
    if (!state::terminal(task.saved.state)) {
      log().info("agent: {} was killed before it was launched", key.text());
      emit(key, state::kKilled, reason::kKilledByFramework, "killed before it was launched",
           source::kAgent);
    }
    return;
  }
  set_stage(task, Stage::kPreparing);
  prepare(key, container_id, 0);
}

Agent::Task* Agent::owner(const TaskKey& key, const std::string& container_id) {
  auto it = tasks_.find(key);
  if (it == tasks_.end() || it->second.saved.container_id != container_id ||
      state::terminal(it->second.saved.state)) {
    return nullptr;
  }
  return &it->second;
}

Agent::Task* Agent::launching(const TaskKey& key, const std::string& container_id) {
  Task* task = owner(key, container_id);
  return task == nullptr || task->stage == Stage::kEnding ? nullptr : task;
}

void Agent::prepare(const TaskKey& key, const std::string& container_id, size_t index) {
  Task* task = launching(key, container_id);
  if (task == nullptr) return;
  auto fail = [this, key, container_id](size_t prepared, const std::string& state_name,
                                        const std::string& why, const std::string& message) {
    Task& t = tasks_[key];
    set_stage(t, Stage::kEnding);
    cleanup(container_id, prepared,
            [this, key, container_id, state_name, why, message](const std::string&,
                                                                const std::string&) {
              if (owner(key, container_id) == nullptr) return;
              containers_.erase(container_id);
              emit(key, state_name, why, message, source::kAgent);
            });
  };
  if (task->saved.kill_requested) {
    log().info("agent: {} was killed before it was launched", key.text());
    return fail(index, state::kKilled, reason::kKilledByFramework, "killed before it was launched");
  }
  if (index == chain_size(*task)) return launch(key, container_id);
  const std::string& name = settings_.chain[index];
  isolator::Prepare request;
  request.container_id = container_id;
  request.task_id = task->saved.task.task_id;
  request.sandbox = task->saved.sandbox;
  request.container = task->saved.task.container;
  request.resources = task->saved.task.resources;
  plugin(name)->request(
      request,
      [this, key, container_id, index, name, fail](Result<Envelope> reply) {
        Task* t = launching(key, container_id);
        if (t == nullptr) return;
        isolator::Prepared prepared;
        std::string problem = isolator_answer(reply, prepared, " to the prepare");
        if (!problem.empty()) {
          std::string message = "the isolator '" + name +
                                "' cannot prepare the container: " + sdk::printable(problem, 1000);
          log().warn("agent: cannot launch {}: {}", key.text(), message);
          // An isolator that did not answer may still have prepared it: it cleans up too.
          return fail(reply ? index : index + 1, state::kFailed, reason::kLaunchFailed, message);
        }
        t->prepared = index + 1;
        prepare(key, container_id, index + 1);
      },
      60s);
}

void Agent::launch(const TaskKey& key, const std::string& container_id) {
  Task& task = tasks_[key];
  set_stage(task, Stage::kLaunching);
  isolator::Launch request;
  request.container_id = container_id;
  request.task_id = task.saved.task.task_id;
  request.sandbox = task.saved.sandbox;
  request.command = task.saved.task.command;
  request.container = task.saved.task.container;
  request.resources = task.saved.task.resources;
  request.environment = task_environment(key.framework_id, task.saved.task, agent_id_,
                                         settings_.hostname, task.saved.sandbox);
  // An executor is not a task: its entry's key is no task id of the framework's.
  if (is_executor_key(key)) request.environment.erase("TASK_ID");
  // Isolators attach the process before it runs the task's command.
  request.hold = chain_size(task) > 0;
  plugin(task.runtime)
      ->request(
          request,
          [this, key, container_id](Result<Envelope> reply) {
            on_launched(key, container_id, std::move(reply));
          },
          60s);
}

void Agent::on_launched(const TaskKey& key, const std::string& container_id,
                        Result<Envelope> reply) {
  Task* task = launching(key, container_id);
  if (task == nullptr) return;
  isolator::Launched launched;
  std::string problem = isolator_answer(reply, launched, " to the launch");
  if (!reply) {
    problem = "the runtime '" + task->runtime + "' did not answer the launch: " + problem;
    // It may still start it: make sure it does not run unknown.
    plugin(task->runtime)->request(isolator::Kill{container_id, 0}, [](Result<Envelope>) {});
  }
  if (!problem.empty()) {
    log().warn("agent: cannot launch {}: {}", key.text(), sdk::printable(problem, 1000));
    set_stage(*task, Stage::kEnding);
    cleanup(container_id, task->prepared,
            [this, key, container_id, problem](const std::string&, const std::string&) {
              if (owner(key, container_id) == nullptr) return;
              containers_.erase(container_id);
              emit(key, state::kFailed, reason::kLaunchFailed, problem, source::kAgent);
            });
    return;
  }
  task->saved.pid = launched.pid;
  log().info("agent: {} runs in container '{}' (pid {})", key.text(), container_id, launched.pid);
  save(key);
  if (task->saved.kill_requested) {
    set_stage(*task, Stage::kRunning);
    send_kill(*task);
    return;
  }
  if (chain_size(*task) == 0) return running(key);
  set_stage(*task, Stage::kIsolating);
  isolate(key, container_id, 0);
}

void Agent::isolate(const TaskKey& key, const std::string& container_id, size_t index) {
  Task* task = launching(key, container_id);
  if (task == nullptr || task->saved.kill_requested) return;  // the kill ends it
  if (index == chain_size(*task)) return release(key, container_id);
  const std::string& name = settings_.chain[index];
  plugin(name)->request(
      isolator::Isolate{container_id, task->saved.pid},
      [this, key, container_id, index, name](Result<Envelope> reply) {
        if (launching(key, container_id) == nullptr) return;
        isolator::Isolated isolated;
        std::string problem = isolator_answer(reply, isolated, " to the isolate");
        if (!problem.empty()) {
          return abandon_launch(key, "the isolator '" + name + "' cannot isolate the container: " +
                                         sdk::printable(problem, 1000));
        }
        isolate(key, container_id, index + 1);
      },
      60s);
}

void Agent::release(const TaskKey& key, const std::string& container_id) {
  Task& task = tasks_[key];
  set_stage(task, Stage::kReleasing);
  plugin(task.runtime)
      ->request(
          isolator::Release{container_id},
          [this, key, container_id](Result<Envelope> reply) {
            Task* t = launching(key, container_id);
            if (t == nullptr || t->saved.kill_requested) return;
            isolator::Released released;
            std::string problem = isolator_answer(reply, released, " to the release");
            if (!problem.empty()) {
              return abandon_launch(
                  key, "the runtime '" + t->runtime +
                           "' cannot release the container: " + sdk::printable(problem, 1000));
            }
            running(key);
          },
          60s);
}

void Agent::running(const TaskKey& key) {
  Task& task = tasks_[key];
  set_stage(task, Stage::kRunning);
  emit(key, state::kRunning, "", "", source::kExecutor);
}

void Agent::abandon_launch(const TaskKey& key, const std::string& problem) {
  Task& task = tasks_[key];
  log().warn("agent: cannot launch {}: {}", key.text(), problem);
  // Its exit (which follows the kill on the runtime's connection) reports the failure.
  task.launch_failure = problem;
  set_stage(task, Stage::kRunning);
  send_kill(task, 0);
}

void Agent::cleanup(const std::string& container_id, size_t count,
                    std::function<void(std::string reason, std::string message)> done) {
  if (count == 0) return done("", "");
  const std::string& name = settings_.chain[count - 1];
  plugin(name)->request(
      isolator::Cleanup{container_id},
      [this, container_id, count, name, done = std::move(done)](Result<Envelope> reply) mutable {
        isolator::CleanedUp cleaned;
        std::string problem = isolator_answer(reply, cleaned, " to the cleanup");
        if (!problem.empty()) {
          log().warn("agent: the isolator '{}' cannot clean up container '{}': {}", name,
                     container_id, sdk::printable(problem, 1000));
        }
        cleanup(container_id, count - 1,
                [cleaned, done = std::move(done)](std::string reason, std::string message) {
                  // The innermost isolator's limitation wins; the first found otherwise.
                  if (!cleaned.reason.empty()) {
                    reason = cleaned.reason;
                    message = cleaned.message;
                  }
                  done(std::move(reason), std::move(message));
                });
      },
      60s);
}

void Agent::send_kill(const Task& task) { send_kill(task, task.saved.task.kill_grace_seconds); }

void Agent::send_kill(const Task& task, double grace_seconds) {
  std::string container_id = task.saved.container_id;
  sdk::Client* runtime = plugin(task.runtime);
  if (runtime == nullptr) return;
  // The task's own value: the runtime checks it (or takes its default).
  runtime->request(isolator::Kill{container_id, grace_seconds},
                   [this, container_id](Result<Envelope> reply) {
                     if (!reply) {
                       log().warn("agent: no answer to the kill of container '{}': {}",
                                  container_id, reply.error().message);
                     } else if (reply->is<isolator::Failed>()) {
                       auto body = reply->body<isolator::Failed>();
                       // Most likely it ended already and its exit is on the way.
                       log().info("agent: kill of container '{}': {}", container_id,
                                  body ? body->message : body.error().message);
                     }
                   });
}

void Agent::on_limitation(const isolator::Limitation& limitation) {
  auto c = containers_.find(limitation.container_id);
  if (c == containers_.end()) return;
  auto it = tasks_.find(c->second);
  if (it == tasks_.end() || state::terminal(it->second.saved.state)) return;
  Task& task = it->second;
  if (!task.limit_reason.empty() || limitation.reason.empty()) return;
  log().warn("agent: {} reached a limit: {}", c->second.text(),
             sdk::printable(limitation.message, 1000));
  task.limit_reason = sdk::printable(limitation.reason, 100);
  task.limit_message = sdk::printable(limitation.message, 1000);
  send_kill(task, 0);
}

void Agent::on_exited(const isolator::Exited& exited) {
  auto c = containers_.find(exited.container_id);
  if (c == containers_.end()) {
    log().debug("agent: exit of unknown container '{}' ignored", exited.container_id);
    return;
  }
  TaskKey key = c->second;
  auto it = tasks_.find(key);
  if (it == tasks_.end() || state::terminal(it->second.saved.state)) {
    containers_.erase(c);
    return;
  }
  Task& task = it->second;
  if (task.exit) return;  // reported already; cleaning up
  task.exit = exited;
  // A launch still in its isolate or release steps stops there (launching() is false now).
  set_stage(task, Stage::kEnding);
  std::string container_id = exited.container_id;
  cleanup(container_id, task.prepared,
          [this, key, container_id](std::string reason, std::string message) {
            auto found = tasks_.find(key);
            if (found == tasks_.end() || found->second.saved.container_id != container_id) return;
            Task& ended = found->second;
            if (ended.limit_reason.empty() && !reason.empty()) {
              ended.limit_reason = std::move(reason);
              ended.limit_message = std::move(message);
            }
            report_exit(key);
          });
}

void Agent::report_exit(const TaskKey& key) {
  Task& task = tasks_[key];
  if (state::terminal(task.saved.state) || !task.exit) return;
  containers_.erase(task.saved.container_id);
  if (!task.launch_failure.empty()) {
    return emit(key, state::kFailed, reason::kLaunchFailed, task.launch_failure, source::kAgent);
  }
  isolator::Exited exited = *task.exit;
  bool killed = task.saved.kill_requested;
  if (!task.limit_reason.empty()) {
    exited.reason = task.limit_reason;
    exited.message = task.limit_message;
    killed = false;  // killed for its limit, not at the framework's request
  }
  ExitOutcome outcome = exit_outcome(exited, killed);
  log().info("agent: {} {} ({})", key.text(), outcome.message, outcome.state);
  emit(key, outcome.state, outcome.reason, outcome.message, source::kExecutor, outcome.exit_code);
}

void Agent::kill_task(const std::string& framework_id, const std::string& task_id) {
  TaskKey key{framework_id, task_id};
  auto it = tasks_.find(key);
  if (it == tasks_.end()) {
    log().warn("agent: kill of {}, which this agent does not know; reporting it lost", key.text());
    Task& task = tasks_[key];
    task.saved.framework_id = framework_id;
    task.saved.task.task_id = task_id;
    return emit(key, state::kLost, reason::kTaskUnknown,
                "task '" + task_id + "' is not known on this agent", source::kAgent);
  }
  Task& task = it->second;
  if (state::terminal(task.saved.state)) {
    log().info("agent: kill of {} ignored: it is already {}", key.text(), task.saved.state);
    return;
  }
  if (!task.saved.task.executor.executor_id.empty()) return kill_executor_task(key);
  bool again = task.saved.kill_requested;
  task.saved.kill_requested = true;
  if (!again) {
    log().info("agent: killing {} (grace {} s)", key.text(), kill_grace(task.saved.task));
    emit(key, state::kKilling, "", "", source::kAgent);
  }
  if (task.stage == Stage::kQueued && !task.saved.container_id.empty()) {
    // Not sent to any plugin yet (waiting for its checkpoint, or for room among the launches in
    // flight): it ends now, and its turn in the queue is skipped (start_launch()).
    log().info("agent: {} was killed before it was launched", key.text());
    containers_.erase(task.saved.container_id);
    return emit(key, state::kKilled, reason::kKilledByFramework, "killed before it was launched",
                source::kAgent);
  }
  // Before the runtime has the container, the launch chain sees the request and stops; once it
  // has it (held or running), the runtime kills it.
  if (task.stage == Stage::kIsolating || task.stage == Stage::kReleasing ||
      task.stage == Stage::kRunning) {
    send_kill(task);
  }
}

void Agent::shutdown(const std::string& why) {
  if (shutting_down_) return;
  log().warn(
      "agent: the master asked this agent to shut down ({}); killing every task and "
      "starting again as a new agent",
      why.empty() ? "no reason given" : sdk::printable(why, 1000));
  double grace = 0;
  std::vector<TaskKey> live;
  for (auto& [key, task] : tasks_) {
    if (state::terminal(task.saved.state)) continue;
    live.push_back(key);
    grace = std::max(grace, kill_grace(task.saved.task));
  }
  for (const TaskKey& key : live) kill_task(key.framework_id, key.task_id);
  shutting_down_ = true;
  registered_ = false;
  shutdown_deadline_ =
      Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(grace * 1000)) + 10s;
}

void Agent::finish_shutdown() {
  shutting_down_ = false;
  // What the flush in progress holds is forgotten with the rest.
  if (flushing_ && flusher_) flusher_->wait();
  flushing_.reset();
  ready_launches_.clear();
  launches_in_flight_ = 0;
  if (auto s = checkpoint_->remove_all_tasks(); !s) log().error("agent: {}", s.error().message);
  if (auto s = checkpoint_->remove_agent_id(); !s) log().error("agent: {}", s.error().message);
  if (auto s = remove_agent_secret(checkpoint_->root()); !s) {
    log().error("agent: {}", s.error().message);
  }
  tasks_.clear();
  containers_.clear();
  staged_.clear();
  dirty_.clear();
  staged_count_ = 0;
  launch_queue_.clear();
  executors_.clear();
  executor_deliveries_.clear();
  executor_acks_.clear();
  ended_executors_.clear();
  updates_ = std::make_unique<StatusUpdateQueue>(settings_.status_update_retry,
                                                 settings_.status_update_retry_max);
  agent_id_.clear();
  registered_ = false;
  registration_backoff_ = settings_.registration_retry;
  log().info("agent: shut down; registering again as a new agent");
  try_register();
}

// ---------------------------------------------------------------------------------------------
// Status updates

void Agent::emit(const TaskKey& key, const std::string& new_state, const std::string& why,
                 const std::string& message, const std::string& from, int32_t exit_code) {
  if (is_executor_key(key)) return on_executor_state(key, new_state, message, exit_code);
  Task& task = tasks_[key];
  protocol::TaskStatus status;
  status.task_id = key.task_id;
  status.agent_id = agent_id_;
  status.framework_id = key.framework_id;
  status.state = new_state;
  status.reason = why;
  status.source = from;
  status.message = message;
  status.uuid = random_uuid();
  status.exit_code = exit_code;
  status.timestamp = now_seconds();
  task.saved.state = new_state;
  log().debug("agent: {} is {} (update {})", key.text(), new_state, status.uuid);
  // Checkpointed before it can be sent, so an update the framework may have seen is never
  // lost: it waits in staged_ until commit() has made its checkpoint durable. A long burst
  // commits every few hundred updates rather than waiting for the loop to go idle.
  staged_[key].push_back(std::move(status));
  dirty_.insert(key);
  if (++staged_count_ >= 512) commit();
}

void Agent::save(const TaskKey& key) { dirty_.insert(key); }

void Agent::commit() {
  // One flush at a time: what changes while it runs waits for the next one, which
  // on_flushed() starts when this one is done (group commit).
  if (flushing_) return;
  // A commit's launches may end at once (a task killed before it was launched), which stages
  // updates again: commit until nothing is left, since the loop calls this only once per burst.
  while (!dirty_.empty()) {
    auto now = Clock::now();
    if (checkpoint_failing_ && now < next_checkpoint_retry_) return;
    std::string problem;
    for (const TaskKey& key : dirty_) {
      auto it = tasks_.find(key);
      if (it == tasks_.end()) continue;
      Task& task = it->second;
      task.saved.pending = updates_->pending(key);
      auto staged = staged_.find(key);
      if (staged != staged_.end()) {
        task.saved.pending.insert(task.saved.pending.end(), staged->second.begin(),
                                  staged->second.end());
      }
      if (auto s = checkpoint_->write_task(task.saved, /*durable=*/false); !s) {
        problem = s.error().message;
        break;
      }
    }
    Result<int> descriptor = make_error(problem);
    if (problem.empty()) descriptor = checkpoint_->begin_flush();
    if (!descriptor) return hold(descriptor.error().message, now);
    CommitBatch batch;
    batch.updates.swap(staged_);
    batch.update_count = std::exchange(staged_count_, 0);
    batch.launches.swap(launch_queue_);
    batch.deliveries.swap(executor_deliveries_);
    batch.acks.swap(executor_acks_);
    batch.keys.swap(dirty_);
    if (*descriptor >= 0 && flusher_) {
      // The loop goes on serving while the disk works; on_flushed() releases the batch.
      flushing_ = std::move(batch);
      flusher_->start(*descriptor, checkpoint_->journal_file());
      return;
    }
    if (*descriptor >= 0) {
      // Without a flusher (the loop has stopped): flushed here.
      Status flushed = Checkpoint::flush(*descriptor, checkpoint_->journal_file());
      checkpoint_->end_flush(flushed);
      if (!commit_done(std::move(batch), flushed)) return;
    } else if (!commit_done(std::move(batch), {})) {
      return;
    }
  }
  // Nothing waits to be written or flushed: the executors' work left is durable.
  if (!checkpoint_failing_) {
    release_executor_work(std::exchange(executor_deliveries_, {}),
                          std::exchange(executor_acks_, {}));
  }
}

void Agent::on_flushed() {
  if (!flusher_ || !flushing_) return;
  std::optional<Status> flushed = flusher_->take();
  if (!flushed) return;
  checkpoint_->end_flush(*flushed);
  CommitBatch batch = std::move(*flushing_);
  flushing_.reset();
  if (commit_done(std::move(batch), *flushed)) commit();
}

bool Agent::commit_done(CommitBatch batch, const Status& flushed) {
  auto now = Clock::now();
  if (!flushed) {
    // Nothing of it leaves the agent: it goes back in front of what was staged since, to be
    // written and flushed again (see hold()).
    for (auto& [key, later] : staged_) {
      auto& updates = batch.updates[key];
      updates.insert(updates.end(), std::make_move_iterator(later.begin()),
                     std::make_move_iterator(later.end()));
    }
    staged_.swap(batch.updates);
    staged_count_ += batch.update_count;
    batch.launches.insert(batch.launches.end(), launch_queue_.begin(), launch_queue_.end());
    launch_queue_.swap(batch.launches);
    batch.deliveries.insert(batch.deliveries.end(), executor_deliveries_.begin(),
                            executor_deliveries_.end());
    executor_deliveries_.swap(batch.deliveries);
    batch.acks.insert(batch.acks.end(), executor_acks_.begin(), executor_acks_.end());
    executor_acks_.swap(batch.acks);
    dirty_.insert(batch.keys.begin(), batch.keys.end());
    hold(flushed.error().message, now);
    return false;
  }
  if (checkpoint_failing_) {
    checkpoint_failing_ = false;
    log().info(
        "agent: the checkpoint works again; sending {} held status update(s) and starting {} "
        "held launch(es)",
        batch.update_count, batch.launches.size());
  }
  for (auto& [key, list] : batch.updates) {
    for (protocol::TaskStatus& status : list) updates_->push(key, std::move(status), now);
  }
  ready_launches_.insert(ready_launches_.end(), batch.launches.begin(), batch.launches.end());
  pump_launches();
  flush_updates();
  release_executor_work(batch.deliveries, batch.acks);
  return true;
}

void Agent::hold(const std::string& problem, Clock::time_point now) {
  // Nothing of this commit leaves the agent: an update sent now could be seen by the framework
  // and then contradicted after a restart, which would find only the older checkpoint (e.g.
  // TASK_FINISHED, then TASK_LOST). The updates and launches wait in memory, and the whole
  // commit is tried again every second (the journal rewrites itself after a failed flush).
  next_checkpoint_retry_ = now + kCheckpointRetry;
  if (!checkpoint_failing_ || now - last_checkpoint_error_ >= kCheckpointErrorEvery) {
    log().error(
        "agent: cannot checkpoint the tasks ({}); {} status update(s) and {} launch(es) are held "
        "and not sent until the checkpoint works again (retrying every {} s)",
        problem, staged_count_, launch_queue_.size(),
        std::chrono::duration_cast<std::chrono::seconds>(kCheckpointRetry).count());
    last_checkpoint_error_ = now;
  }
  checkpoint_failing_ = true;
}

void Agent::stopping() {
  // The flush in progress is waited for and released; from here on commits flush on this
  // thread.
  std::optional<Status> last = flushing_ && flusher_ ? flusher_->wait() : std::nullopt;
  flusher_.reset();
  if (flushing_) {
    CommitBatch batch = std::move(*flushing_);
    flushing_.reset();
    Status flushed = last ? *last : make_error("the journal's flush did not end");
    checkpoint_->end_flush(flushed);
    commit_done(std::move(batch), flushed);
  }
  commit();
  if (checkpoint_failing_) {
    log().error(
        "agent: stopping with {} status update(s) and {} launch(es) that could not be "
        "checkpointed; they are dropped, and a restarted agent reports those tasks from its "
        "last checkpoint",
        staged_count_, launch_queue_.size());
  }
}

void Agent::on_ack(const agentp::StatusAck& ack) {
  TaskKey key{ack.framework_id, ack.task_id};
  auto acked = updates_->acknowledge(key, ack.uuid, Clock::now());
  if (!acked) {
    log().debug("agent: acknowledgement {} for {} matches no update in flight; ignored",
                sdk::printable(ack.uuid), key.text());
    return;
  }
  auto it = tasks_.find(key);
  if (it == tasks_.end()) return;
  bool flushing_update = flushing_ && flushing_->updates.count(key) != 0;
  if (state::terminal(acked->state) && !updates_->has_pending(key) && staged_.count(key) == 0 &&
      !flushing_update) {
    // Fully reported: the checkpoint goes, the sandbox stays for the logs.
    if (auto s = checkpoint_->remove_task(key.framework_id, key.task_id); !s) {
      log().error("agent: {}", s.error().message);
    }
    containers_.erase(it->second.saved.container_id);
    set_stage(it->second, Stage::kEnding);
    tasks_.erase(it);
  } else {
    save(key);
  }
  flush_updates();
}

protocol::files::Answer Agent::sandbox_files(const protocol::files::Request& request) {
  // Only a sandbox of this agent's own work dir, of the framework and task the request names:
  // WORK_DIR/agent/sandboxes/FRAMEWORK/TASK/CONTAINER, whatever path the master sent; a task
  // of an executor has that executor's (its TASK is the executor's key). The last component is
  // already in its on-disk (escaped) form: its parent is what must match.
  std::filesystem::path named(request.sandbox);
  std::string container = named.filename().string();
  std::string owner = request.executor_id.empty()
                          ? request.task_id
                          : executor_key(request.framework_id, request.executor_id).task_id;
  bool own = !container.empty() && container != "." && container != ".." &&
             !request.framework_id.empty() && !request.task_id.empty() &&
             checkpoint_->task_sandboxes(request.framework_id, owner) == named.parent_path();
  if (!own) {
    protocol::files::Answer refused;
    refused.request_id = request.request_id;
    refused.code = protocol::files::code::kNotFound;
    refused.error = "'" + sdk::printable(request.sandbox, 300) + "' is not the sandbox of task " +
                    sdk::quote(request.task_id) + " on this agent";
    return refused;
  }
  return serve_sandbox_files(named, request);
}

void Agent::flush_updates() {
  if (!registered_ || !master_) return;
  for (protocol::TaskStatus& status : updates_->due(Clock::now())) {
    status.agent_id = agent_id_;
    // The newest state whose update is checkpointed: the master's view of the task follows it
    // even while the framework has not acknowledged the older updates.
    TaskKey key{status.framework_id, status.task_id};
    auto queued = updates_->pending(key);
    std::string latest = queued.empty() ? status.state : queued.back().state;
    auto task = tasks_.find(key);
    std::string sandbox = task == tasks_.end() ? std::string() : task->second.saved.sandbox;
    master_->send(
        agentp::StatusUpdate{agent_id_, std::move(status), std::move(latest), std::move(sandbox)});
  }
}

}  // namespace tessera::host::agent

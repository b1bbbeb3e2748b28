// What the master knows of the cluster: its agents, frameworks, tasks and outstanding offers,
// and the role settings an operator changed. Plain data shared by the master's units (the
// actor in master.cpp, accept validation, the operator snapshot); the actor owns every instance.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "tessera/protocol/scheduler.h"
#include "tessera/protocol/task.h"

namespace tessera::host::master {

using Clock = std::chrono::steady_clock;

// The longest id a peer may choose (a task id, an agent id it re-registers with). Ids become
// registry keys, path components on agents and log fields: a megabyte id is an attack.
constexpr size_t kMaxIdBytes = 256;

// A framework's executor on an agent (Mesos's ExecutorInfo), from the launch of the first task
// that names it until its agent says it ended, or the agent or framework is removed. What it
// asks for is counted against the agent beside its tasks (Mesos does the same): an offer never
// includes it.
struct Executor {
  protocol::ExecutorInfo info;
  std::string framework_id;
  std::string role;  // of the offer its first task was launched on
};

struct Agent {
  std::string id;
  std::string peer;
  std::string hostname;
  protocol::Resources total;
  std::vector<protocol::scheduler::Attribute> attributes;
  bool active = true;
  Clock::time_point last_pong;
  Clock::time_point unreachable_since;
  double registered_at = 0;
  std::set<std::string> tasks;   // task keys
  std::set<std::string> offers;  // offer ids
  // Its live executors, by executor_key(framework id, executor id).
  std::map<std::string, Executor> executors;
};

struct Framework {
  std::string id;
  std::string peer;
  std::string name;
  std::vector<std::string> roles;
  double failover_timeout_seconds = 0;
  bool connected = true;
  double registered_at = 0;
  Clock::time_point last_seen;
  Clock::time_point failover_deadline;
  std::set<std::string> tasks;
  std::set<std::string> offers;
  // What its live executors hold, by executor_key(agent id, executor id) (Agent::executors has
  // the rest).
  std::map<std::string, protocol::Resources> executors;
};

// A task from its launch until its terminal update is acknowledged (or its framework or agent
// is removed). Its id stays taken until then, so that a relaunch under the same id cannot be
// confused with the first run's resent updates.
struct Task {
  protocol::TaskInfo info;
  std::string framework_id;
  std::string role;
  protocol::TaskStatus status;  // the latest update received or made
  // The latest state known: the agent's latest_state, which runs ahead of status.state while
  // the framework has not acknowledged older updates, or a state the master decided.
  std::string state;
  // Its working directory on the agent, as the agent reported it (for operators).
  std::string sandbox;
  bool ended = false;         // terminal: its resources went back to the allocator
  std::string terminal_uuid;  // the terminal update forwarded; its ack removes the task
  // `status` is its agent's update, forwarded (or held while the framework was disconnected)
  // and not yet acknowledged: a framework that re-subscribes is sent it again at once.
  bool unacknowledged = false;
  protocol::ResourceUsage usage;  // the latest its agent reported (agent.usage)

  // The state to show: the latest known, or the last update's.
  const std::string& shown_state() const { return state.empty() ? status.state : state; }
};

struct Offer {
  protocol::scheduler::Offer offer;
  // The first state summary version that shows it (operator.state_summary): a summary against
  // an earlier one lists it as made since.
  uint64_t made_at = 0;
};

// The longest sandbox path the master keeps from an agent.
constexpr size_t kMaxSandboxBytes = 1024;

// Whether `path` may be shown as a task's sandbox: absolute, bounded, without control
// characters. It is only shown; the agent resolves sandbox paths itself.
inline bool acceptable_sandbox(const std::string& path) {
  if (path.empty() || path.size() > kMaxSandboxBytes || path.front() != '/') return false;
  for (char c : path) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
  }
  return true;
}

// A role's settings changed by an operator at run time, as the registry keeps them (weight < 0,
// has_quota or has_priority false: never set). They win over the allocator's TOML.
struct RoleSettings {
  double weight = -1;
  bool has_quota = false;
  protocol::Resources quota;  // empty: no limit
  bool has_priority = false;
  int64_t priority = 0;
  TESSERA_MSGPACK_MAP(weight, has_quota, quota, has_priority, priority);
};

// Tasks are keyed by framework and task id: task ids are unique only within a framework.
inline std::string task_key(const std::string& framework_id, const std::string& task_id) {
  return framework_id + "/" + task_id;
}

// Executors are keyed by their owner (a framework id in Agent::executors, an agent id in
// Framework::executors) and executor id. Owners' ids are the master's own, without '/'.
inline std::string executor_key(const std::string& owner_id, const std::string& executor_id) {
  return owner_id + "/" + executor_id;
}

}  // namespace tessera::host::master

// The operator protocol: what the CLI (and later the HTTP API) asks the leading master.
//
// Requests go to the master's endpoint like the scheduler calls; each is answered.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "tessera/message.h"
#include "tessera/protocol/resources.h"
#include "tessera/protocol/scheduler.h"
#include "tessera/protocol/task.h"

namespace tessera::protocol::operator_api {

// Where the master also answers operator requests inside its own process, for service plugins
// on a master node (the HTTP API): they ask their own master, leading or not, rather than the
// leader a detector would find.
inline constexpr const char* kLocalEndpoint = "inproc://tessera.master";

struct GetState {
  static constexpr const char* kType = "operator.get_state";
  static constexpr uint32_t kSchema = 1;
  TESSERA_NO_FIELDS();
};

struct AgentState {
  std::string agent_id;
  std::string hostname;
  bool active = true;  // false while unreachable
  Resources total;
  Resources used;  // by tasks and executors
  Resources offered;
  std::vector<scheduler::Attribute> attributes;
  double registered_at = 0;
  TESSERA_MSGPACK_MAP(agent_id, hostname, active, total, used, offered, attributes, registered_at);
};

struct FrameworkState {
  std::string framework_id;
  std::string name;
  std::vector<std::string> roles;
  bool connected = true;
  double failover_timeout_seconds = 0;
  Resources used;
  Resources offered;
  uint64_t active_tasks = 0;
  double registered_at = 0;  // when it first subscribed to this master (unix seconds)
  TESSERA_MSGPACK_MAP(framework_id, name, roles, connected, failover_timeout_seconds, used, offered,
                      active_tasks, registered_at);
};

struct TaskState {
  std::string task_id;
  std::string name;
  std::string framework_id;
  std::string agent_id;
  std::string state;
  Resources resources;
  TaskStatus last_status;
  // The task's working directory on its agent (stdout, stderr), as the agent reported it; empty
  // until the agent's first update of the task.
  std::string sandbox;
  ContainerInfo container;  // type "" for the agent's default isolation
  ResourceUsage usage;      // the latest its agent reported (agent.usage); timestamp 0: none yet
  // Appended: the framework's executor that runs it ("" for a command task); its sandbox is
  // that executor's, shared by the executor's tasks (as in Mesos).
  std::string executor_id;
  TESSERA_MSGPACK_MAP(task_id, name, framework_id, agent_id, state, resources, last_status, sandbox,
                      container, usage, executor_id);
};

// A framework's executor on an agent, as the master counts it (what it holds is counted against
// its agent, framework and role beside its tasks'): never its command or environment.
struct ExecutorState {
  std::string executor_id;
  std::string name;
  std::string framework_id;
  std::string agent_id;
  Resources resources;
  TESSERA_MSGPACK_MAP(executor_id, name, framework_id, agent_id, resources);
};

// A role as the master sees it: the settings an operator changed (the allocator's TOML holds the
// rest), and what the role's live tasks hold.
struct RoleState {
  std::string name;
  double weight = 1;  // the operator's weight, or 1 when none was set
  bool has_quota = false;
  Resources quota;
  int64_t priority = 0;
  Resources allocated;  // by live tasks of frameworks in this role
  // The role's dominant share: the largest of its cpus, mem and disk over the cluster's totals.
  double share = 0;
  TESSERA_MSGPACK_MAP(name, weight, has_quota, quota, priority, allocated, share);
};

// Counters of the master process since it started, for metrics.
// The upper bounds (seconds) of the allocation cycle time histogram's buckets; a last bucket,
// +Inf, holds the rest.
inline constexpr double kAllocationCycleBuckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                     0.01,   0.025,   0.05,   0.1,   0.25,   1};

struct MasterCounters {
  // Requests and one-way messages from agents, frameworks and operators.
  uint64_t messages_received = 0;
  uint64_t events_published = 0;  // on the master event stream
  uint64_t allocations = 0;       // allocator.allocated batches received
  // Appended: messages the master sent to agents, frameworks and operators.
  uint64_t messages_sent = 0;
  // Appended: the allocation cycles that made grants, by how long each took (allocator.allocated's
  // cycle_seconds): how many fell in each bucket of kAllocationCycleBuckets and +Inf (not
  // cumulative; one more entry than the bounds), and the sum of their seconds.
  std::vector<uint64_t> allocation_cycle_buckets;
  double allocation_cycle_seconds_sum = 0;
  TESSERA_MSGPACK_MAP(messages_received, events_published, allocations, messages_sent,
                      allocation_cycle_buckets, allocation_cycle_seconds_sum);
};

struct State {
  static constexpr const char* kType = "operator.state";
  static constexpr uint32_t kSchema = 1;
  std::string master_id;
  std::string endpoint;
  std::vector<AgentState> agents;
  std::vector<FrameworkState> frameworks;
  std::vector<TaskState> tasks;  // active tasks, then recently completed ones
  // Appended (schema 1 readers skip them): what an HTTP API shows besides the above.
  std::string version;                   // the host's version
  double start_time = 0;                 // when this master process started (unix seconds)
  std::string hostname;                  // the master's host
  uint64_t active_tasks = 0;             // how many of `tasks` are tracked (the rest are completed)
  std::vector<scheduler::Offer> offers;  // outstanding
  std::vector<RoleState> roles;
  MasterCounters counters;
  // Appended: the live executors, by agent id, then framework id and executor id.
  std::vector<ExecutorState> executors;
  TESSERA_MSGPACK_MAP(master_id, endpoint, agents, frameworks, tasks, version, start_time, hostname,
                      active_tasks, offers, roles, counters, executors);
};

// The state without its tasks, or only its roles: what a client that keeps its own copy of the
// tasks from the master event stream (the HTTP API) or that needs only the roles (tessera exec
// waiting on its role's quota) asks for, so that the answer does not grow with the tasks.
struct GetStateSummary {
  static constexpr const char* kType = "operator.get_state_summary";
  static constexpr uint32_t kSchema = 1;
  bool roles_only = false;  // true: only `state.roles` is filled
  // true: `usages` lists every tracked task's latest usage (which changes without an event);
  // a client that shows it asks as often as it wants it fresh, not on every request.
  bool with_usages = false;
  // Appended: the `version` of the last summary the client holds (0: none). While the state is
  // still that one the answer leaves it out (`unchanged`), so that a client that asks often
  // does not receive, and the master does not pack, every agent again.
  uint64_t known_version = 0;
  // Appended: with known_version, the answer may list only the agents whose views changed since
  // that summary (StateSummary::agents_since) when no agent came or went since.
  bool agents_delta = false;
  // Appended: with known_version, the answer may list only the offers made since that summary
  // and name those gone since (StateSummary::offers_since, offers_gone).
  bool offers_delta = false;
  TESSERA_MSGPACK_MAP(roles_only, with_usages, known_version, agents_delta, offers_delta);
};

// The latest usage an agent reported for one tracked task.
struct TaskUsage {
  std::string framework_id;
  std::string task_id;
  ResourceUsage usage;
  TESSERA_MSGPACK_MAP(framework_id, task_id, usage);
};

struct StateSummary {
  static constexpr const char* kType = "operator.state_summary";
  static constexpr uint32_t kSchema = 1;
  // operator.state with `tasks` empty; `active_tasks` still counts the tracked tasks.
  State state;
  // The sequence number of the last event the master published (master_events.h): the state
  // is the one after that event.
  uint64_t event_sequence = 0;
  uint64_t completed_tasks = 0;      // finished tasks' summaries the master keeps
  uint64_t max_completed_tasks = 0;  // the most it keeps (the oldest are dropped)
  // With with_usages: the latest usage of every tracked task that has one (agents report usage
  // without an event).
  std::vector<TaskUsage> usages;
  // Appended: changes whenever anything in `state` but its counters changes (0: not given, as
  // in a roles_only answer); the same version is the same state, byte for byte.
  uint64_t version = 0;
  // Appended: true when `version` is the known_version asked with: `state` then holds only
  // master_id, and the client's own copy of that summary is the state.
  bool unchanged = false;
  // Appended: 0, or the known_version asked with agents_delta: `state.agents` then lists only
  // the agents whose views changed after that summary (in agent id order), and the agents are
  // those of that summary; everything else in `state` is whole.
  uint64_t agents_since = 0;
  // Appended: 0, or the known_version asked with offers_delta: `state.offers` then lists only
  // the outstanding offers made after that summary (in offer id order), and `offers_gone` the
  // ids of that summary's offers that are no longer outstanding (an offer never changes once
  // made); everything else in `state` is whole.
  uint64_t offers_since = 0;
  std::vector<std::string> offers_gone;
  TESSERA_MSGPACK_MAP(state, event_sequence, completed_tasks, max_completed_tasks, usages, version,
                      unchanged, agents_since, offers_since, offers_gone);
};

// Counts and sums of the master's state, without its lists: what a metrics scrape or a health
// check asks for, at a cost that does not grow with what each task holds.
struct GetMetrics {
  static constexpr const char* kType = "operator.get_metrics";
  static constexpr uint32_t kSchema = 1;
  TESSERA_NO_FIELDS();
};

struct Metrics {
  static constexpr const char* kType = "operator.metrics";
  static constexpr uint32_t kSchema = 1;
  std::string master_id;
  double start_time = 0;
  uint64_t agents_active = 0;
  uint64_t agents_inactive = 0;  // unreachable, not removed yet
  uint64_t frameworks_connected = 0;
  uint64_t frameworks_disconnected = 0;
  std::map<std::string, uint64_t> tasks;            // tracked tasks by latest state
  std::map<std::string, uint64_t> completed_tasks;  // kept summaries by state
  Resources total;                                  // of active agents
  Resources used;                                   // by live tasks
  Resources offered;                                // in outstanding offers
  uint64_t outstanding_offers = 0;
  MasterCounters counters;
  TESSERA_MSGPACK_MAP(master_id, start_time, agents_active, agents_inactive, frameworks_connected,
                      frameworks_disconnected, tasks, completed_tasks, total, used, offered,
                      outstanding_offers, counters);
};

// Changes a role's weight, quota or priority; forwarded to the allocator.
struct UpdateRole {
  static constexpr const char* kType = "operator.update_role";
  static constexpr uint32_t kSchema = 1;
  std::string role;
  double weight = -1;  // < 0: unchanged
  bool set_quota = false;
  Resources quota;
  bool set_priority = false;
  int64_t priority = 0;
  TESSERA_MSGPACK_MAP(role, weight, set_quota, quota, set_priority, priority);
};

// Kills a live task, as its framework would (the agent kills it; the framework gets the update).
// Answered with Result: ok once the kill went to the agent.
struct KillTask {
  static constexpr const char* kType = "operator.kill_task";
  static constexpr uint32_t kSchema = 1;
  std::string task_id;
  std::string framework_id;  // optional: needed only when frameworks share the task id
  TESSERA_MSGPACK_MAP(task_id, framework_id);
};

struct Result {
  static constexpr const char* kType = "operator.result";
  static constexpr uint32_t kSchema = 1;
  bool ok = true;
  std::string error;
  TESSERA_MSGPACK_MAP(ok, error);
};

}  // namespace tessera::protocol::operator_api

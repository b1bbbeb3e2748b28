// The agent protocol: between an agent and the leading master.
//
// The agent opens an sdk::Client to the master's agent endpoint and sends Register (or, with
// its id and running tasks, Reregister); the master answers Registered and then pushes
// RunTask, KillTask, StatusAck, Ping and Shutdown to that connection. The agent answers Ping
// with Pong and sends StatusUpdate for every task state change, resending each (by uuid)
// until the master forwards the framework's acknowledgement as StatusAck.
//
// An agent proves its id with the secret the master gave it in its first Registered: a
// Register that names an id the master knows without that id's secret is answered Refused,
// and the agent that holds the id keeps it.
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "tessera/protocol/resources.h"
#include "tessera/protocol/scheduler.h"
#include "tessera/protocol/task.h"

namespace tessera::protocol::agent {

struct RunningTask {
  std::string framework_id;
  TaskInfo task;
  std::string state;
  std::string sandbox;  // the task's working directory on the agent
  TESSERA_MSGPACK_MAP(framework_id, task, state, sandbox);
};

// An executor the agent runs (not ended), as its framework described it: the master counts its
// resources against the agent again when the agent re-registers.
struct RunningExecutor {
  std::string framework_id;
  ExecutorInfo executor;
  TESSERA_MSGPACK_MAP(framework_id, executor);
};

struct Register {
  static constexpr const char* kType = "agent.register";
  static constexpr uint32_t kSchema = 2;
  std::string agent_id;  // empty on first registration; kept across restarts in the work dir
  std::string hostname;
  Resources resources;
  std::vector<scheduler::Attribute> attributes;
  std::vector<RunningTask> tasks;  // what it runs now (re-registration)
  std::string secret;              // the one from Registered, kept with agent_id (schema 2)
  // Appended: the executors it runs (re-registration); an older agent sends none, and the
  // master then counts only its tasks.
  std::vector<RunningExecutor> executors;
  TESSERA_MSGPACK_MAP(agent_id, hostname, resources, attributes, tasks, secret, executors);
};

struct Registered {
  static constexpr const char* kType = "agent.registered";
  static constexpr uint32_t kSchema = 2;
  std::string agent_id;
  std::string master_id;
  double ping_interval_seconds = 5;
  // Given when the master records a new secret for agent_id (first registration): the agent
  // keeps it beside its id and presents it in every later Register. Empty: keep the one it has.
  std::string secret;
  TESSERA_MSGPACK_MAP(agent_id, master_id, ping_interval_seconds, secret);
};

// The answer to a Register that the master will not admit (an id it cannot prove, resources
// out of range). The agent keeps retrying; nothing it runs is touched.
struct Refused {
  static constexpr const char* kType = "agent.refused";
  static constexpr uint32_t kSchema = 1;
  std::string reason;
  TESSERA_MSGPACK_MAP(reason);
};

struct RunTask {
  static constexpr const char* kType = "agent.run_task";
  static constexpr uint32_t kSchema = 1;
  std::string framework_id;
  TaskInfo task;
  TESSERA_MSGPACK_MAP(framework_id, task);
};

struct KillTask {
  static constexpr const char* kType = "agent.kill_task";
  static constexpr uint32_t kSchema = 1;
  std::string framework_id;
  std::string task_id;
  TESSERA_MSGPACK_MAP(framework_id, task_id);
};

struct StatusUpdate {
  static constexpr const char* kType = "agent.status_update";
  static constexpr uint32_t kSchema = 2;
  std::string agent_id;
  TaskStatus status;
  // The task's latest state on the agent, which is ahead of status.state while older updates
  // wait for their acknowledgement (Mesos's latest_state). The master's view of the task, and
  // when its resources come back, follow it. Empty (schema 1): status.state.
  std::string latest_state;
  // The task's working directory on the agent (absolute), shown to operators; empty from an
  // agent that does not say.
  std::string sandbox;
  TESSERA_MSGPACK_MAP(agent_id, status, latest_state, sandbox);
};

struct StatusAck {
  static constexpr const char* kType = "agent.status_ack";
  static constexpr uint32_t kSchema = 1;
  std::string framework_id;
  std::string task_id;
  std::string uuid;
  TESSERA_MSGPACK_MAP(framework_id, task_id, uuid);
};

struct Ping {
  static constexpr const char* kType = "agent.ping";
  static constexpr uint32_t kSchema = 1;
  uint64_t sequence = 0;
  TESSERA_MSGPACK_MAP(sequence);
};

struct Pong {
  static constexpr const char* kType = "agent.pong";
  static constexpr uint32_t kSchema = 1;
  std::string agent_id;
  uint64_t sequence = 0;
  TESSERA_MSGPACK_MAP(agent_id, sequence);
};

// What the agent's tasks use, sent one-way every [agent] usage_interval_seconds while it is
// registered. The master keeps the latest per task; it acts only on the sender's own tasks, on
// messages of at most kMaxTasks entries whose amounts are finite and not negative (or -1: not
// measured), and ignores the rest.
struct TaskUsage {
  std::string framework_id;
  std::string task_id;
  ResourceUsage usage;
  TESSERA_MSGPACK_MAP(framework_id, task_id, usage);
};

struct Usage {
  static constexpr const char* kType = "agent.usage";
  static constexpr uint32_t kSchema = 1;
  static constexpr size_t kMaxTasks = 1000;  // more tasks go in several messages
  std::string agent_id;
  std::vector<TaskUsage> tasks;
  TESSERA_MSGPACK_MAP(agent_id, tasks);
};

// Whether a usage report's amounts can be kept: finite, not negative or exactly -1 (not
// measured), and a timestamp after the epoch that is not absurdly far ahead.
inline bool valid_usage(const ResourceUsage& u) {
  auto amount = [](double v) { return std::isfinite(v) && (v >= 0 || v == -1); };
  return amount(u.cpu_seconds) && u.cpu_seconds < 1e12 && (u.mem_bytes >= 0 || u.mem_bytes == -1) &&
         (u.mem_peak_bytes >= 0 || u.mem_peak_bytes == -1) && std::isfinite(u.timestamp) &&
         u.timestamp > 0 && u.timestamp < 1e11;
}

// A framework message on its way between the master and an executor on this agent, either way
// (scheduler.h FrameworkMessage). From the agent, agent_id is its own and executor_id the
// sender's; from the master, executor_id names the receiver.
struct FrameworkMessage {
  static constexpr const char* kType = "agent.framework_message";
  static constexpr uint32_t kSchema = 1;
  std::string agent_id;
  std::string framework_id;
  std::string executor_id;
  std::string data;
  TESSERA_MSGPACK_MAP(agent_id, framework_id, executor_id, data);
};

// Pushed to every agent when the master removes a framework (Mesos's ShutdownFrameworkMessage):
// the agent asks the framework's executors to end (executor.shutdown) and kills their containers
// after their kill grace. Its tasks get their own agent.kill_task.
struct ShutdownFramework {
  static constexpr const char* kType = "agent.shutdown_framework";
  static constexpr uint32_t kSchema = 1;
  std::string framework_id;
  TESSERA_MSGPACK_MAP(framework_id);
};

// The master asks the agent to shut one executor down (a framework's scheduler.shutdown_executor,
// checked by the master): the agent sends it executor.shutdown, kills its container after its
// kill grace if it has not ended, and ends its unfinished tasks as TASK_KILLED.
struct ShutdownExecutor {
  static constexpr const char* kType = "agent.shutdown_executor";
  static constexpr uint32_t kSchema = 1;
  std::string framework_id;
  std::string executor_id;
  TESSERA_MSGPACK_MAP(framework_id, executor_id);
};

// Sent one-way by the agent when one of its executors has ended (Mesos's ExitedExecutorMessage),
// once that end is checkpointed: the master gives the executor's resources back and tells its
// framework (scheduler.executor_exited). Best effort: an agent that re-registers reports the
// executors it still runs, and the master forgets the others.
struct ExecutorExited {
  static constexpr const char* kType = "agent.executor_exited";
  static constexpr uint32_t kSchema = 1;
  std::string agent_id;
  std::string framework_id;
  std::string executor_id;
  // The process's exit status as wait(2) gives it: its exit code, or 128 + the signal that
  // ended it; -1 when the agent does not know it (it ended while the agent was down).
  int32_t status = -1;
  std::string message;  // why it ended, for people
  TESSERA_MSGPACK_MAP(agent_id, framework_id, executor_id, status, message);
};

struct Shutdown {
  static constexpr const char* kType = "agent.shutdown";
  static constexpr uint32_t kSchema = 1;
  std::string reason;
  TESSERA_MSGPACK_MAP(reason);
};

}  // namespace tessera::protocol::agent

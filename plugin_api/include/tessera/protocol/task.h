// Tasks: what a framework asks to run, and the states it goes through (Mesos's, by name).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tessera/protocol/resources.h"

namespace tessera::protocol {

// Task states. On the wire they are these strings, so logs and JSON read the same.
namespace state {
inline constexpr const char* kStaging = "TASK_STAGING";
inline constexpr const char* kStarting = "TASK_STARTING";
inline constexpr const char* kRunning = "TASK_RUNNING";
inline constexpr const char* kKilling = "TASK_KILLING";
inline constexpr const char* kFinished = "TASK_FINISHED";
inline constexpr const char* kFailed = "TASK_FAILED";
inline constexpr const char* kKilled = "TASK_KILLED";
inline constexpr const char* kError = "TASK_ERROR";
inline constexpr const char* kDropped = "TASK_DROPPED";
inline constexpr const char* kLost = "TASK_LOST";
inline constexpr const char* kUnreachable = "TASK_UNREACHABLE";
inline constexpr const char* kGone = "TASK_GONE";
inline constexpr const char* kUnknown = "TASK_UNKNOWN";

// Whether `s` is one of the states above (a state from the wire is checked with this).
inline bool known(const std::string& s) {
  for (const char* name : {kStaging, kStarting, kRunning, kKilling, kFinished, kFailed, kKilled,
                           kError, kDropped, kLost, kUnreachable, kGone, kUnknown}) {
    if (s == name) return true;
  }
  return false;
}

// Terminal states: the task will never run again.
inline bool terminal(const std::string& s) {
  return s == kFinished || s == kFailed || s == kKilled || s == kError || s == kDropped ||
         s == kLost || s == kGone;
}
}  // namespace state

// Where a status update came from.
namespace source {
inline constexpr const char* kMaster = "SOURCE_MASTER";
inline constexpr const char* kAgent = "SOURCE_AGENT";
inline constexpr const char* kExecutor = "SOURCE_EXECUTOR";
}  // namespace source

// Why a task is in its state (a subset of Mesos's reasons, same names).
namespace reason {
inline constexpr const char* kCommandExited = "REASON_COMMAND_EXECUTOR_FAILED";
inline constexpr const char* kTaskInvalid = "REASON_TASK_INVALID";
inline constexpr const char* kInvalidOffers = "REASON_INVALID_OFFERS";
inline constexpr const char* kAgentRemoved = "REASON_AGENT_REMOVED";
inline constexpr const char* kAgentUnreachable = "REASON_AGENT_DISCONNECTED";
inline constexpr const char* kAgentUnknown = "REASON_AGENT_UNKNOWN";
inline constexpr const char* kAgentRestarted = "REASON_AGENT_RESTARTED";
inline constexpr const char* kKilledByFramework = "REASON_TASK_KILLED_DURING_LAUNCH";
inline constexpr const char* kFrameworkRemoved = "REASON_FRAMEWORK_REMOVED";
inline constexpr const char* kMemoryLimit = "REASON_CONTAINER_LIMITATION_MEMORY";
inline constexpr const char* kLaunchFailed = "REASON_CONTAINER_LAUNCH_FAILED";
inline constexpr const char* kReconciliation = "REASON_RECONCILIATION";
inline constexpr const char* kTaskUnknown = "REASON_TASK_UNKNOWN";
inline constexpr const char* kExecutorTerminated = "REASON_EXECUTOR_TERMINATED";
inline constexpr const char* kExecutorRegistrationTimeout = "REASON_EXECUTOR_REGISTRATION_TIMEOUT";
}  // namespace reason

struct CommandInfo {
  bool shell = true;  // true: run `value` with /bin/sh -c; false: exec value + arguments
  std::string value;
  std::vector<std::string> arguments;
  std::map<std::string, std::string> environment;
  std::string user;
  TESSERA_MSGPACK_MAP(shell, value, arguments, environment, user);
};

struct ContainerInfo {
  std::string type;   // "" (the agent's default isolators) or "DOCKER"
  std::string image;  // for DOCKER
  std::string network = "none";
  TESSERA_MSGPACK_MAP(type, image, network);
};

// A framework's own executor (Mesos's ExecutorInfo): a long-lived process the agent starts once
// per framework and executor id, in its own sandbox and container, and hands the framework's
// tasks that name it. Empty executor_id: the task is a command run by the agent (the default
// "command executor").
struct ExecutorInfo {
  std::string executor_id;
  std::string name;
  CommandInfo command;
  Resources resources;
  ContainerInfo container;
  double kill_grace_seconds = 3.0;
  TESSERA_MSGPACK_MAP(executor_id, name, command, resources, container, kill_grace_seconds);
};

// The most bytes of data one framework message (scheduler <-> executor, best effort) carries.
inline constexpr size_t kMaxFrameworkMessageBytes = size_t{256} << 10;

struct TaskInfo {
  std::string task_id;
  std::string name;
  std::string agent_id;
  Resources resources;
  CommandInfo command;
  ContainerInfo container;
  double kill_grace_seconds = 3.0;
  std::map<std::string, std::string> labels;
  // Set: the task runs inside this executor rather than as its own command. Tasks of one
  // framework that name the same executor_id share one executor process on an agent.
  ExecutorInfo executor;
  // Opaque bytes for the executor (Mesos's TaskInfo.data); at most kMaxDataBytes.
  std::string data;
  static constexpr size_t kMaxDataBytes = size_t{1} << 20;
  TESSERA_MSGPACK_MAP(task_id, name, agent_id, resources, command, container, kill_grace_seconds,
                      labels, executor, data);
};

// What a task's container used, as its agent last measured it (agent.usage; the master keeps the
// latest per task in operator.state). A field nothing measured is -1; every other amount is
// finite and not negative.
struct ResourceUsage {
  double cpu_seconds = -1;      // user + system cpu time of every process of the task
  int64_t mem_bytes = -1;       // memory charged to it at the measurement
  int64_t mem_peak_bytes = -1;  // the most it was ever charged
  double timestamp = 0;         // when it was measured, seconds since the epoch; 0: never
  TESSERA_MSGPACK_MAP(cpu_seconds, mem_bytes, mem_peak_bytes, timestamp);
};

struct TaskStatus {
  std::string task_id;
  std::string agent_id;
  std::string framework_id;
  std::string state;
  std::string reason;
  std::string source;
  std::string message;
  std::string uuid;        // empty for updates that need no acknowledgement (e.g. reconciliation)
  int32_t exit_code = -1;  // for terminal command tasks; -1 when unknown
  double timestamp = 0;    // seconds since the epoch
  TESSERA_MSGPACK_MAP(task_id, agent_id, framework_id, state, reason, source, message, uuid,
                      exit_code, timestamp);
};

}  // namespace tessera::protocol

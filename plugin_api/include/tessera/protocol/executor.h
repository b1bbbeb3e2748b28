// The executor protocol: between an agent and the executors it started (ExecutorInfo in
// task.h), over a ZeroMQ ROUTER the agent binds at ipc://WORK_DIR/agent/executors.sock.
//
// The agent starts an executor with these variables in its environment: kEndpointVariable (where
// to connect), kFrameworkVariable, kExecutorVariable, kAgentVariable and kTokenVariable (a secret
// made for this launch that proves the connection is that executor). The executor connects a
// DEALER there and sends Register as a request; the agent answers Registered (or Refused) and
// then pushes LaunchTask, KillTask, Message and Shutdown to that connection. The executor sends
// StatusUpdate as a request for each change of its tasks; the agent answers StatusAck once the
// update is checkpointed, after which it is the agent's to deliver (at least once, as for any
// task). An executor resends an update that was not acknowledged. It sends Ping as a request
// every second; an agent that does not know the connection (it restarted) answers Refused, and
// the executor registers again, naming the tasks it runs (sdk/executor.h does all of this).
//
// The agent acts only on the connection's own executor: Register must carry the token of a
// live executor; every later message must come from a registered connection and may name only
// that executor's tasks; text fields are bounded (kMaxTextBytes) and a message is at most
// kMaxMessageBytes on this socket.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tessera/protocol/task.h"

namespace tessera::protocol::executor {

inline constexpr const char* kEndpointVariable = "TESSERA_EXECUTOR_ENDPOINT";
inline constexpr const char* kFrameworkVariable = "TESSERA_FRAMEWORK_ID";
inline constexpr const char* kExecutorVariable = "TESSERA_EXECUTOR_ID";
inline constexpr const char* kAgentVariable = "TESSERA_AGENT_ID";
inline constexpr const char* kTokenVariable = "TESSERA_EXECUTOR_TOKEN";

// The largest message the agent accepts from an executor, and the longest free text (a status
// message, a reason) it keeps from one.
inline constexpr size_t kMaxMessageBytes = size_t{2} << 20;
inline constexpr size_t kMaxTextBytes = 4096;
// The most task ids a re-registering executor may name.
inline constexpr size_t kMaxTasks = 100000;

struct Register {
  static constexpr const char* kType = "executor.register";
  static constexpr uint32_t kSchema = 1;
  std::string framework_id;
  std::string executor_id;
  std::string token;
  // The tasks it runs (not terminal) when it registers again with a restarted agent.
  std::vector<std::string> tasks;
  TESSERA_MSGPACK_MAP(framework_id, executor_id, token, tasks);
};

struct Registered {
  static constexpr const char* kType = "executor.registered";
  static constexpr uint32_t kSchema = 1;
  std::string agent_id;
  std::string framework_id;
  std::string executor_id;
  std::string hostname;
  TESSERA_MSGPACK_MAP(agent_id, framework_id, executor_id, hostname);
};

// The answer to a Register (or any request) the agent will not take, with why.
struct Refused {
  static constexpr const char* kType = "executor.refused";
  static constexpr uint32_t kSchema = 1;
  std::string reason;
  TESSERA_MSGPACK_MAP(reason);
};

struct LaunchTask {
  static constexpr const char* kType = "executor.launch_task";
  static constexpr uint32_t kSchema = 1;
  TaskInfo task;
  TESSERA_MSGPACK_MAP(task);
};

struct KillTask {
  static constexpr const char* kType = "executor.kill_task";
  static constexpr uint32_t kSchema = 1;
  std::string task_id;
  TESSERA_MSGPACK_MAP(task_id);
};

// A task's new state, from the executor. state is one of STARTING, RUNNING, KILLING, FINISHED,
// FAILED, KILLED, ERROR; uuid (at most 64 bytes, not empty) names this update for the ack.
struct StatusUpdate {
  static constexpr const char* kType = "executor.status_update";
  static constexpr uint32_t kSchema = 1;
  std::string task_id;
  std::string state;
  std::string reason;
  std::string message;
  std::string uuid;
  TESSERA_MSGPACK_MAP(task_id, state, reason, message, uuid);
};

struct StatusAck {
  static constexpr const char* kType = "executor.status_ack";
  static constexpr uint32_t kSchema = 1;
  std::string task_id;
  std::string uuid;
  TESSERA_MSGPACK_MAP(task_id, uuid);
};

struct Ping {
  static constexpr const char* kType = "executor.ping";
  static constexpr uint32_t kSchema = 1;
  uint64_t sequence = 0;
  TESSERA_MSGPACK_MAP(sequence);
};

struct Pong {
  static constexpr const char* kType = "executor.pong";
  static constexpr uint32_t kSchema = 1;
  uint64_t sequence = 0;
  TESSERA_MSGPACK_MAP(sequence);
};

// The agent asks the executor to kill its tasks and exit.
struct Shutdown {
  static constexpr const char* kType = "executor.shutdown";
  static constexpr uint32_t kSchema = 1;
  std::string reason;
  TESSERA_MSGPACK_MAP(reason);
};

// A framework message (scheduler.h FrameworkMessage), either way: from the agent, it comes
// from the executor's scheduler; from the executor, it goes to it. Sent one-way, best effort; at
// most kMaxFrameworkMessageBytes of data.
struct Message {
  static constexpr const char* kType = "executor.message";
  static constexpr uint32_t kSchema = 1;
  std::string data;
  TESSERA_MSGPACK_MAP(data);
};

// Whether `s` is a state an executor may report for its task.
inline bool reportable(const std::string& s) {
  return s == state::kStarting || s == state::kRunning || s == state::kKilling ||
         s == state::kFinished || s == state::kFailed || s == state::kKilled || s == state::kError;
}

}  // namespace tessera::protocol::executor

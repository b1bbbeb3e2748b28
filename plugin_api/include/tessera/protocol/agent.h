// The agent protocol: between an agent and the leading master.
//
// The agent opens an sdk::Client to the master's agent endpoint and sends Register (or, with
// its id and running tasks, Reregister); the master answers Registered and then pushes
// RunTask, KillTask, StatusAck, Ping and Shutdown to that connection. The agent answers Ping
// with Pong and sends StatusUpdate for every task state change, resending each (by uuid)
// until the master forwards the framework's acknowledgement as StatusAck.
#pragma once

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
  MSGPACK_DEFINE_MAP(framework_id, task, state);
};

struct Register {
  static constexpr const char* kType = "agent.register";
  static constexpr uint32_t kSchema = 1;
  std::string agent_id;  // empty on first registration; kept across restarts in the work dir
  std::string hostname;
  Resources resources;
  std::vector<scheduler::Attribute> attributes;
  std::vector<RunningTask> tasks;  // what it runs now (re-registration)
  MSGPACK_DEFINE_MAP(agent_id, hostname, resources, attributes, tasks);
};

struct Registered {
  static constexpr const char* kType = "agent.registered";
  static constexpr uint32_t kSchema = 1;
  std::string agent_id;
  std::string master_id;
  double ping_interval_seconds = 5;
  MSGPACK_DEFINE_MAP(agent_id, master_id, ping_interval_seconds);
};

struct RunTask {
  static constexpr const char* kType = "agent.run_task";
  static constexpr uint32_t kSchema = 1;
  std::string framework_id;
  TaskInfo task;
  MSGPACK_DEFINE_MAP(framework_id, task);
};

struct KillTask {
  static constexpr const char* kType = "agent.kill_task";
  static constexpr uint32_t kSchema = 1;
  std::string framework_id;
  std::string task_id;
  MSGPACK_DEFINE_MAP(framework_id, task_id);
};

struct StatusUpdate {
  static constexpr const char* kType = "agent.status_update";
  static constexpr uint32_t kSchema = 1;
  std::string agent_id;
  TaskStatus status;
  MSGPACK_DEFINE_MAP(agent_id, status);
};

struct StatusAck {
  static constexpr const char* kType = "agent.status_ack";
  static constexpr uint32_t kSchema = 1;
  std::string framework_id;
  std::string task_id;
  std::string uuid;
  MSGPACK_DEFINE_MAP(framework_id, task_id, uuid);
};

struct Ping {
  static constexpr const char* kType = "agent.ping";
  static constexpr uint32_t kSchema = 1;
  uint64_t sequence = 0;
  MSGPACK_DEFINE_MAP(sequence);
};

struct Pong {
  static constexpr const char* kType = "agent.pong";
  static constexpr uint32_t kSchema = 1;
  std::string agent_id;
  uint64_t sequence = 0;
  MSGPACK_DEFINE_MAP(agent_id, sequence);
};

struct Shutdown {
  static constexpr const char* kType = "agent.shutdown";
  static constexpr uint32_t kSchema = 1;
  std::string reason;
  MSGPACK_DEFINE_MAP(reason);
};

}  // namespace tessera::protocol::agent

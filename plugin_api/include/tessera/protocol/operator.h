// The operator protocol: what the CLI (and later the HTTP API) asks the leading master.
//
// Requests go to the master's endpoint like the scheduler calls; each is answered.
#pragma once

#include <string>
#include <vector>

#include "tessera/message.h"
#include "tessera/protocol/resources.h"
#include "tessera/protocol/scheduler.h"
#include "tessera/protocol/task.h"

namespace tessera::protocol::operator_api {

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
  Resources used;  // by tasks
  Resources offered;
  std::vector<scheduler::Attribute> attributes;
  double registered_at = 0;
  MSGPACK_DEFINE_MAP(agent_id, hostname, active, total, used, offered, attributes, registered_at);
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
  MSGPACK_DEFINE_MAP(framework_id, name, roles, connected, failover_timeout_seconds, used, offered,
                     active_tasks);
};

struct TaskState {
  std::string task_id;
  std::string name;
  std::string framework_id;
  std::string agent_id;
  std::string state;
  Resources resources;
  TaskStatus last_status;
  ResourceUsage usage;  // the latest its agent reported (agent.usage); timestamp 0: none yet
  MSGPACK_DEFINE_MAP(task_id, name, framework_id, agent_id, state, resources, last_status, usage);
};

struct State {
  static constexpr const char* kType = "operator.state";
  static constexpr uint32_t kSchema = 1;
  std::string master_id;
  std::string endpoint;
  std::vector<AgentState> agents;
  std::vector<FrameworkState> frameworks;
  std::vector<TaskState> tasks;  // active tasks, then recently completed ones
  MSGPACK_DEFINE_MAP(master_id, endpoint, agents, frameworks, tasks);
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
  MSGPACK_DEFINE_MAP(role, weight, set_quota, quota, set_priority, priority);
};

struct Result {
  static constexpr const char* kType = "operator.result";
  static constexpr uint32_t kSchema = 1;
  bool ok = true;
  std::string error;
  MSGPACK_DEFINE_MAP(ok, error);
};

}  // namespace tessera::protocol::operator_api

// What the master checks before it acts on an agent's registration or a framework's accept.
// Pure functions of the message and of what the master knows (model.h): no I/O, no logging, so
// each rule is unit-tested on its own (tests/master/master_units_test.cpp). The actor
// (master.cpp) answers with what they find.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "master/model.h"
#include "tessera/protocol/agent.h"
#include "tessera/protocol/scheduler.h"

namespace tessera::host::master {

// Why `message` cannot be admitted ("" when it can): its resources, its id's length, its
// tasks' ids, resources and states.
std::string registration_problem(const protocol::agent::Register& message);

// The longest role name: with its prefix it is a key of the registry (see protocol/store.h).
constexpr size_t kMaxRoleBytes = 255;

// Why `role` is not a valid role name ("" when it is).
std::string role_problem(const std::string& role);

// The offers an accept names, gathered: every one must be outstanding, the framework's, on one
// agent, and named once (an offer named twice would count its resources twice), and the agent
// must be known and reachable.
struct GatheredOffers {
  std::string agent_id;  // the agent of the offers ("" when none was usable)
  std::string role;      // the role of the last usable offer
  protocol::Resources available;
  // The offers that are outstanding and the framework's, on `agent_id`: used up by the accept
  // whatever else it holds (they leave the outstanding set; what no task uses goes back).
  std::vector<std::string> usable;
  std::string problem;           // "" when the accept may launch
  const char* reason = nullptr;  // the TASK_ERROR reason for `problem`
};
GatheredOffers gather_offers(const Framework& framework, const std::vector<std::string>& offer_ids,
                             const std::map<std::string, Offer>& offers,
                             const std::map<std::string, Agent>& agents);

// Why `task` cannot be launched from `available` on `agent_id` ("" when it can); clamps its
// kill grace period. `ids_in_this_accept` collects the ids seen so far in the accept; `tasks`
// are the tasks the master tracks (an id is in use until its end is acknowledged).
std::string task_problem(const Framework& framework, protocol::TaskInfo& task,
                         const std::string& agent_id, const protocol::Resources& available,
                         const std::map<std::string, Task>& tasks,
                         std::set<std::string>& ids_in_this_accept);

// For a `task` that names an executor (and passed task_problem): why it cannot be launched on
// `agent` from `available` ("" when it can). An executor the framework already runs there must
// be described the same way (same_executor); a new one must ask for finite, non-negative
// resources and a kill grace in range (clamped), and fit in `available` with the task. Sets
// `starts` when the task starts a new executor, whose resources are then the launch's too.
std::string executor_problem(const Agent& agent, const std::string& framework_id,
                             protocol::TaskInfo& task, const protocol::Resources& available,
                             bool& starts);

// Whether two descriptions of an executor are the same executor: command, resources, container
// and kill grace (not its display name). The variables an agent adds to an executor's
// environment (protocol/executor.h) are not the framework's and are left out.
bool same_executor(const protocol::ExecutorInfo& a, const protocol::ExecutorInfo& b);

}  // namespace tessera::host::master

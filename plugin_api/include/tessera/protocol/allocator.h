// The allocator protocol: between the master role and the allocator plugin of the same host.
//
// The allocator binds a Server at the address in the `endpoint` key of its table, by default
// kEndpoint (where the master connects), and announces the bound address as `endpoint`; the
// conformance suite (tessera/conformance/allocator.h, which states the whole contract) binds it
// on ipc://. The master connects an sdk::Client and sends the events below one-way, in order;
// the allocator answers nothing to them, except the role changes (SetWeight, SetQuota,
// SetPriority), which it answers with a RoleResult. After each
// allocation cycle (every `allocation_interval_ms`, and soon after resources come back) it pushes
// one Allocated batch to the master's connection (the peer the events came from). Everything in a
// batch counts as allocated to its framework until the master sends Recover for it (a decline,
// a rescind, an offer timeout, or a task's end) or removes the agent or framework.
#pragma once

#include <string>
#include <vector>

#include "tessera/message.h"
#include "tessera/protocol/resources.h"

namespace tessera::protocol::allocator {

inline constexpr const char* kEndpoint = "inproc://tessera.allocator";

struct Allocation {
  std::string framework_id;
  std::string role;
  Resources resources;
  TESSERA_MSGPACK_MAP(framework_id, role, resources);
};

struct AgentAdded {
  static constexpr const char* kType = "allocator.agent_added";
  static constexpr uint32_t kSchema = 1;
  std::string agent_id;
  std::string hostname;
  Resources total;
  std::vector<Allocation> allocated;  // what its running tasks already use (re-registration)
  TESSERA_MSGPACK_MAP(agent_id, hostname, total, allocated);
};

struct AgentRemoved {
  static constexpr const char* kType = "allocator.agent_removed";
  static constexpr uint32_t kSchema = 1;
  std::string agent_id;
  TESSERA_MSGPACK_MAP(agent_id);
};

// An agent that stops (or resumes) being offered, without forgetting what it runs: unreachable
// agents are deactivated until they come back or are removed.
struct AgentActivation {
  static constexpr const char* kType = "allocator.agent_activation";
  static constexpr uint32_t kSchema = 1;
  std::string agent_id;
  bool active = true;
  TESSERA_MSGPACK_MAP(agent_id, active);
};

struct FrameworkAdded {
  static constexpr const char* kType = "allocator.framework_added";
  static constexpr uint32_t kSchema = 1;
  std::string framework_id;
  std::vector<std::string> roles;
  bool active = true;
  TESSERA_MSGPACK_MAP(framework_id, roles, active);
};

struct FrameworkRemoved {
  static constexpr const char* kType = "allocator.framework_removed";
  static constexpr uint32_t kSchema = 1;
  std::string framework_id;
  TESSERA_MSGPACK_MAP(framework_id);
};

// Connected (active) frameworks are offered resources; disconnected ones are not.
struct FrameworkActivation {
  static constexpr const char* kType = "allocator.framework_activation";
  static constexpr uint32_t kSchema = 1;
  std::string framework_id;
  bool active = true;
  TESSERA_MSGPACK_MAP(framework_id, active);
};

// Resources come back from a framework; with refuse_seconds > 0 they are not offered to that
// framework (for that role) on that agent again until the filter expires.
struct Recover {
  static constexpr const char* kType = "allocator.recover";
  static constexpr uint32_t kSchema = 1;
  std::string framework_id;
  std::string agent_id;
  std::string role;
  Resources resources;
  double refuse_seconds = 0;
  TESSERA_MSGPACK_MAP(framework_id, agent_id, role, resources, refuse_seconds);
};

struct Suppress {
  static constexpr const char* kType = "allocator.suppress";
  static constexpr uint32_t kSchema = 1;
  std::string framework_id;
  std::string role;  // empty: all of the framework's roles
  TESSERA_MSGPACK_MAP(framework_id, role);
};

struct Revive {
  static constexpr const char* kType = "allocator.revive";
  static constexpr uint32_t kSchema = 1;
  std::string framework_id;
  std::string role;  // empty: all of the framework's roles; also clears refuse filters
  TESSERA_MSGPACK_MAP(framework_id, role);
};

struct SetWeight {
  static constexpr const char* kType = "allocator.set_weight";
  static constexpr uint32_t kSchema = 1;
  std::string role;
  double weight = 1;
  TESSERA_MSGPACK_MAP(role, weight);
};

// A role's limit: it is never offered more than this in total (empty: no limit).
struct SetQuota {
  static constexpr const char* kType = "allocator.set_quota";
  static constexpr uint32_t kSchema = 1;
  std::string role;
  Resources limit;
  TESSERA_MSGPACK_MAP(role, limit);
};

// A role's priority band (allocator_priority; other allocators answer it with an error).
struct SetPriority {
  static constexpr const char* kType = "allocator.set_priority";
  static constexpr uint32_t kSchema = 1;
  std::string role;
  int64_t priority = 0;  // higher is served first
  TESSERA_MSGPACK_MAP(role, priority);
};

// allocator -> master: the answer to SetWeight, SetQuota and SetPriority, sent as a reply, so
// that an operator learns when a change was refused (e.g. a priority given to an allocator that
// has none, or a quota on a range resource).
struct RoleResult {
  static constexpr const char* kType = "allocator.role_result";
  static constexpr uint32_t kSchema = 1;
  bool ok = true;
  std::string error;
  TESSERA_MSGPACK_MAP(ok, error);
};

// Asks for a cycle now, besides the periodic ones (a revive does not need it: the allocator
// runs a cycle shortly after one by itself, shared by revives arriving together).
struct AllocateNow {
  static constexpr const char* kType = "allocator.allocate_now";
  static constexpr uint32_t kSchema = 1;
  TESSERA_NO_FIELDS();
};

struct Grant {
  std::string framework_id;
  std::string agent_id;
  std::string role;
  Resources resources;
  TESSERA_MSGPACK_MAP(framework_id, agent_id, role, resources);
};

// allocator -> master, after a cycle that allocated something.
struct Allocated {
  static constexpr const char* kType = "allocator.allocated";
  static constexpr uint32_t kSchema = 1;
  std::vector<Grant> grants;
  // How long the allocation cycle that made these grants took, in seconds; -1 when the
  // allocator does not say (appended: older allocators leave it out).
  double cycle_seconds = -1;
  TESSERA_MSGPACK_MAP(grants, cycle_seconds);
};

}  // namespace tessera::protocol::allocator

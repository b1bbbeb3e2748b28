// The master's event stream: what changes in the master's view of the cluster, published on
// kEventsEndpoint inside the master's process for in-process consumers (the HTTP operator API,
// a web UI, metrics exporters: service plugins on a master node).
//
//   sdk::Subscriber events(bus(), "my_service");
//   events.subscribe<protocol::master_events::TaskUpdated>(
//       [](const Envelope&, const protocol::master_events::TaskUpdated& e) { ... });
//   events.connect(protocol::master_events::kEndpoint);
//
// Only the leading master publishes, from the moment it serves (after reading its registry);
// what existed before is in operator.get_state (protocol/operator.h): a consumer subscribes
// first, then reads the state, then applies the events. Every event's envelope carries a
// sequence number one more than the last event's (header().sequence, per master process): a
// gap means events were lost (a subscriber that did not keep up past its high-water mark), and
// the consumer reads the state again. Strings are the master's own (ids it checked), but a
// consumer showing them (HTML, logs) escapes them as any wire text.
//
// Types are prefixed "master.event." so that one subscription to that prefix takes them all.
#pragma once

#include <string>
#include <vector>

#include "tessera/message.h"
#include "tessera/protocol/operator.h"
#include "tessera/protocol/scheduler.h"

namespace tessera::protocol::master_events {

inline constexpr const char* kEndpoint = "inproc://tessera.master.events";
// The prefix every event type starts with: subscribing to it takes every event.
inline constexpr const char* kPrefix = "master.event.";

// An agent was admitted (registered, or re-registered: its tasks were reconciled).
struct AgentAdded {
  static constexpr const char* kType = "master.event.agent_added";
  static constexpr uint32_t kSchema = 1;
  operator_api::AgentState agent;
  bool reregistered = false;
  TESSERA_MSGPACK_MAP(agent, reregistered);
};

// An agent was removed (unreachable too long); its tasks were lost.
struct AgentRemoved {
  static constexpr const char* kType = "master.event.agent_removed";
  static constexpr uint32_t kSchema = 1;
  std::string agent_id;
  std::string reason;  // for humans
  TESSERA_MSGPACK_MAP(agent_id, reason);
};

// A framework subscribed (or re-subscribed on a new connection).
struct FrameworkAdded {
  static constexpr const char* kType = "master.event.framework_added";
  static constexpr uint32_t kSchema = 1;
  operator_api::FrameworkState framework;
  bool resubscribed = false;
  TESSERA_MSGPACK_MAP(framework, resubscribed);
};

// A framework was removed (teardown, or its failover timeout passed); its tasks were killed.
struct FrameworkRemoved {
  static constexpr const char* kType = "master.event.framework_removed";
  static constexpr uint32_t kSchema = 1;
  std::string framework_id;
  std::string reason;
  TESSERA_MSGPACK_MAP(framework_id, reason);
};

// The master tracks a new task: launched from an accept (TASK_STAGING), or reported by an
// agent that re-registered with it.
struct TaskAdded {
  static constexpr const char* kType = "master.event.task_added";
  static constexpr uint32_t kSchema = 1;
  operator_api::TaskState task;
  TESSERA_MSGPACK_MAP(task);
};

// A task's status changed: an agent's update, or one the master made (unreachable, lost,
// killed). `task.state` is the latest state known, `task.last_status` the update.
struct TaskUpdated {
  static constexpr const char* kType = "master.event.task_updated";
  static constexpr uint32_t kSchema = 1;
  operator_api::TaskState task;
  TESSERA_MSGPACK_MAP(task);
};

// The master no longer tracks a task: its terminal update was acknowledged, or its framework
// or agent was removed. `task` is the bounded summary kept among the completed tasks.
struct TaskRemoved {
  static constexpr const char* kType = "master.event.task_removed";
  static constexpr uint32_t kSchema = 1;
  operator_api::TaskState task;
  TESSERA_MSGPACK_MAP(task);
};

// An offer was made to a framework.
struct OfferMade {
  static constexpr const char* kType = "master.event.offer_made";
  static constexpr uint32_t kSchema = 1;
  scheduler::Offer offer;
  TESSERA_MSGPACK_MAP(offer);
};

// Why an offer left the outstanding set.
namespace offer_end {
inline constexpr const char* kAccepted = "accepted";
inline constexpr const char* kDeclined = "declined";
// Taken back by the master: its agent or framework went away or re-registered.
inline constexpr const char* kRescinded = "rescinded";
}  // namespace offer_end

// An offer is no longer outstanding (accepted, declined or rescinded: `why`, one of offer_end).
struct OfferRescinded {
  static constexpr const char* kType = "master.event.offer_rescinded";
  static constexpr uint32_t kSchema = 1;
  std::string offer_id;
  std::string framework_id;
  std::string agent_id;
  std::string why;
  TESSERA_MSGPACK_MAP(offer_id, framework_id, agent_id, why);
};

}  // namespace tessera::protocol::master_events

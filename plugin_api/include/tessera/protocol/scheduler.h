// The scheduler protocol: between a framework and the leading master.
//
// A framework opens an sdk::Client to the master's scheduler endpoint and sends Subscribe; the
// master answers Subscribed and from then on pushes Offers, Rescind, Update, AgentLost,
// Heartbeat, Error, FrameworkMessage and ExecutorExited to that connection. Calls carry the
// framework id. Status updates that carry a uuid must be acknowledged (Acknowledge), or the
// agent resends them.
#pragma once

#include <string>
#include <vector>

#include "tessera/message.h"  // TESSERA_NO_FIELDS
#include "tessera/protocol/resources.h"
#include "tessera/protocol/task.h"

namespace tessera::protocol::scheduler {

struct Subscribe {
  static constexpr const char* kType = "scheduler.subscribe";
  static constexpr uint32_t kSchema = 1;
  std::string framework_id;  // empty for a new framework; its old id to re-subscribe
  std::string name;
  std::vector<std::string> roles{"*"};
  double failover_timeout_seconds = 0;
  std::vector<std::string> capabilities;
  std::string user;
  TESSERA_MSGPACK_MAP(framework_id, name, roles, failover_timeout_seconds, capabilities, user);
};

struct Subscribed {
  static constexpr const char* kType = "scheduler.subscribed";
  static constexpr uint32_t kSchema = 1;
  std::string framework_id;
  std::string master_id;
  double heartbeat_interval_seconds = 15;
  TESSERA_MSGPACK_MAP(framework_id, master_id, heartbeat_interval_seconds);
};

struct Attribute {
  std::string name;
  std::string value;
  TESSERA_MSGPACK_MAP(name, value);
};

struct Offer {
  std::string offer_id;
  std::string framework_id;
  std::string agent_id;
  std::string hostname;
  std::string role;
  Resources resources;
  std::vector<Attribute> attributes;
  TESSERA_MSGPACK_MAP(offer_id, framework_id, agent_id, hostname, role, resources, attributes);
};

struct Offers {
  static constexpr const char* kType = "scheduler.offers";
  static constexpr uint32_t kSchema = 1;
  std::vector<Offer> offers;
  TESSERA_MSGPACK_MAP(offers);
};

struct Rescind {
  static constexpr const char* kType = "scheduler.rescind";
  static constexpr uint32_t kSchema = 1;
  std::string offer_id;
  TESSERA_MSGPACK_MAP(offer_id);
};

struct Accept {
  static constexpr const char* kType = "scheduler.accept";
  static constexpr uint32_t kSchema = 1;
  std::string framework_id;
  std::vector<std::string> offer_ids;
  std::vector<TaskInfo> tasks;
  double refuse_seconds = 5;  // for what is left of the offers
  TESSERA_MSGPACK_MAP(framework_id, offer_ids, tasks, refuse_seconds);
};

struct Decline {
  static constexpr const char* kType = "scheduler.decline";
  static constexpr uint32_t kSchema = 1;
  std::string framework_id;
  std::vector<std::string> offer_ids;
  double refuse_seconds = 5;
  TESSERA_MSGPACK_MAP(framework_id, offer_ids, refuse_seconds);
};

struct Revive {
  static constexpr const char* kType = "scheduler.revive";
  static constexpr uint32_t kSchema = 1;
  std::string framework_id;
  std::string role;  // empty: every role of the framework
  TESSERA_MSGPACK_MAP(framework_id, role);
};

struct Suppress {
  static constexpr const char* kType = "scheduler.suppress";
  static constexpr uint32_t kSchema = 1;
  std::string framework_id;
  std::string role;
  TESSERA_MSGPACK_MAP(framework_id, role);
};

struct Kill {
  static constexpr const char* kType = "scheduler.kill";
  static constexpr uint32_t kSchema = 1;
  std::string framework_id;
  std::string task_id;
  std::string agent_id;
  TESSERA_MSGPACK_MAP(framework_id, task_id, agent_id);
};

struct Acknowledge {
  static constexpr const char* kType = "scheduler.acknowledge";
  static constexpr uint32_t kSchema = 1;
  std::string framework_id;
  std::string agent_id;
  std::string task_id;
  std::string uuid;
  TESSERA_MSGPACK_MAP(framework_id, agent_id, task_id, uuid);
};

struct ReconcileTask {
  std::string task_id;
  std::string agent_id;
  TESSERA_MSGPACK_MAP(task_id, agent_id);
};

// Explicit (tasks listed) or implicit (empty: the master reports every task it knows).
struct Reconcile {
  static constexpr const char* kType = "scheduler.reconcile";
  static constexpr uint32_t kSchema = 1;
  std::string framework_id;
  std::vector<ReconcileTask> tasks;
  TESSERA_MSGPACK_MAP(framework_id, tasks);
};

struct Teardown {
  static constexpr const char* kType = "scheduler.teardown";
  static constexpr uint32_t kSchema = 1;
  std::string framework_id;
  TESSERA_MSGPACK_MAP(framework_id);
};

struct Update {
  static constexpr const char* kType = "scheduler.update";
  static constexpr uint32_t kSchema = 1;
  TaskStatus status;
  TESSERA_MSGPACK_MAP(status);
};

struct AgentLost {
  static constexpr const char* kType = "scheduler.agent_lost";
  static constexpr uint32_t kSchema = 1;
  std::string agent_id;
  TESSERA_MSGPACK_MAP(agent_id);
};

// A framework message (Mesos's MESSAGE call and frameworkMessage callback): opaque bytes from
// the scheduler to one of its executors (sent by the framework: agent_id and executor_id say
// where) or from an executor to its scheduler (pushed by the master: they say from where).
// Best effort: a message to an agent or executor that is not there is dropped, and so is one
// with more than kMaxFrameworkMessageBytes of data (the SDK refuses to send it).
struct FrameworkMessage {
  static constexpr const char* kType = "scheduler.message";
  static constexpr uint32_t kSchema = 1;
  std::string framework_id;
  std::string agent_id;
  std::string executor_id;
  std::string data;
  TESSERA_MSGPACK_MAP(framework_id, agent_id, executor_id, data);
};

// Asks the agent to shut down one of the framework's executors (Mesos's SHUTDOWN call): it is
// asked to end (executor.shutdown) and killed after its kill grace if it does not; its
// unfinished tasks end as TASK_KILLED. The master answers nothing; a call that names an
// executor the framework does not run on that agent is dropped with a log line, and the end
// comes as ExecutorExited.
struct ShutdownExecutor {
  static constexpr const char* kType = "scheduler.shutdown_executor";
  static constexpr uint32_t kSchema = 1;
  std::string framework_id;
  std::string agent_id;
  std::string executor_id;
  TESSERA_MSGPACK_MAP(framework_id, agent_id, executor_id);
};

// Pushed when one of the framework's executors has ended (Mesos's FAILURE event with an
// executor id): its resources are free again, and tasks it still ran get their own updates
// (REASON_EXECUTOR_TERMINATED). Best effort, as in Mesos: not resent.
struct ExecutorExited {
  static constexpr const char* kType = "scheduler.executor_exited";
  static constexpr uint32_t kSchema = 1;
  std::string framework_id;
  std::string agent_id;
  std::string executor_id;
  int32_t status = -1;  // its exit status (agent.h ExecutorExited), -1 when unknown
  std::string message;
  TESSERA_MSGPACK_MAP(framework_id, agent_id, executor_id, status, message);
};

struct Heartbeat {
  static constexpr const char* kType = "scheduler.heartbeat";
  static constexpr uint32_t kSchema = 1;
  TESSERA_NO_FIELDS();
};

struct Error {
  static constexpr const char* kType = "scheduler.error";
  static constexpr uint32_t kSchema = 1;
  std::string message;
  TESSERA_MSGPACK_MAP(message);
};

}  // namespace tessera::protocol::scheduler

// The master role: tracks agents and frameworks, turns the allocator's grants into offers,
// validates and launches tasks, forwards status updates and acknowledgements, and notices
// agents and frameworks that go away.
//
// One sdk::Server at [master] endpoint serves agents (agent.*), frameworks (scheduler.*) and
// operators (operator.*). The master talks to the allocator plugin (protocol/allocator.h) and
// to the leader plugin (election, and the registry in its durable store: admitted agents,
// removed agents, frameworks and their failover timeouts, role settings changed at run time).
//
// Threading: everything runs on the role's own loop thread; no locks.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "roles.h"
#include "tessera/protocol/agent.h"
#include "tessera/protocol/allocator.h"
#include "tessera/protocol/operator.h"
#include "tessera/protocol/scheduler.h"
#include "tessera/protocol/store.h"

namespace tessera::host::master {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string endpoint = "tcp://127.0.0.1:5050";
  std::string advertise;  // what agents and frameworks are told (default: the bound endpoint)
  std::chrono::milliseconds agent_ping_interval{2000};
  std::chrono::milliseconds agent_ping_timeout{10000};
  std::chrono::milliseconds agent_removal_timeout{60000};
  int64_t agent_removals_per_minute = 10;  // 0: no limit
  std::chrono::milliseconds heartbeat_interval{5000};
  int64_t max_completed_tasks = 1000;
};

// Reads [master]'s own keys (the host reads the slots). Problems are recorded in the table.
Options read_options(sdk::ConfigTable& table);

class Master : public Role {
 public:
  explicit Master(sdk::PluginContext& context);
  ~Master() override;

  Status configure(sdk::ConfigTable& table) override;
  Status start() override;
  void stopping() override;

 private:
  struct Agent {
    std::string id;
    std::string peer;
    std::string hostname;
    protocol::Resources total;
    std::vector<protocol::scheduler::Attribute> attributes;
    bool active = true;
    Clock::time_point last_pong;
    Clock::time_point unreachable_since;
    double registered_at = 0;
    std::set<std::string> tasks;   // task keys
    std::set<std::string> offers;  // offer ids
  };
  struct Framework {
    std::string id;
    std::string peer;
    std::string name;
    std::vector<std::string> roles;
    double failover_timeout_seconds = 0;
    bool connected = true;
    Clock::time_point last_seen;
    Clock::time_point failover_deadline;
    std::set<std::string> tasks;
    std::set<std::string> offers;
  };
  // A task from its launch until its terminal update is acknowledged (or its framework or
  // agent is removed). Its id stays taken until then, so that a relaunch under the same id
  // cannot be confused with the first run's resent updates.
  struct Task {
    protocol::TaskInfo info;
    std::string framework_id;
    std::string role;
    protocol::TaskStatus status;  // the latest update received or made
    // The latest state known: the agent's latest_state, which runs ahead of status.state while
    // the framework has not acknowledged older updates, or a state the master decided.
    std::string state;
    bool ended = false;         // terminal: its resources went back to the allocator
    std::string terminal_uuid;  // the terminal update forwarded; its ack removes the task
  };
  struct Offer {
    protocol::scheduler::Offer offer;
  };
  // A role's settings changed by an operator at run time, as the registry keeps them (weight
  // < 0, has_quota or has_priority false: never set). They win over the allocator's TOML.
  struct RoleSettings {
    double weight = -1;
    bool has_quota = false;
    protocol::Resources quota;  // empty: no limit
    bool has_priority = false;
    int64_t priority = 0;
    MSGPACK_DEFINE_MAP(weight, has_quota, quota, has_priority, priority);
  };

  // Leadership and the registry.
  void campaign();
  void become_leader(const protocol::store::Leader& leader);
  void recover_registry();
  void recover_roles();
  // Lists the registry under `prefix` and calls `then`; retries every second until it can.
  void list_registry(const std::string& prefix, const std::string& what,
                     const std::function<void(const protocol::store::Result&)>& then);
  void put_record(const std::string& key, const std::string& value,
                  std::function<void(bool)> done = nullptr);
  void delete_record(const std::string& key);

  // Agents.
  void on_register(const sdk::Request& request, const protocol::agent::Register& message);
  // Why `message` cannot be admitted ("" when it can): its resources, its tasks' resources.
  static std::string registration_problem(const protocol::agent::Register& message);
  // `secret` is given to the agent in Registered (empty: it keeps the one it proved);
  // `secret_hash` is what the registry keeps of it.
  void admit_agent(const std::string& peer, uint64_t request_sequence,
                   const protocol::agent::Register& message, const std::string& agent_id,
                   const std::string& secret, const std::string& secret_hash);
  void on_status_update(const sdk::Request& request, const protocol::agent::StatusUpdate& message);
  void check_agents();
  void mark_unreachable(Agent& agent);
  void remove_agent(const std::string& agent_id, const std::string& why);

  // Frameworks.
  void on_subscribe(const sdk::Request& request, const protocol::scheduler::Subscribe& message);
  void on_accept(const sdk::Request& request, const protocol::scheduler::Accept& message);
  // Why `task` cannot be launched from `available` on `agent_id` ("" when it can); clamps its
  // kill grace period. `ids_in_this_accept` collects the ids seen so far.
  std::string task_problem(const Framework& framework, protocol::TaskInfo& task,
                           const std::string& agent_id, const protocol::Resources& available,
                           std::set<std::string>& ids_in_this_accept) const;
  // The refuse filter of an accept or decline, checked: what is not a duration is replaced by
  // Mesos's default of 5 s, and the rest is capped at 365 days (both logged).
  double refuse_seconds(const Framework& framework, double requested);
  void on_decline(const protocol::scheduler::Decline& message);
  void on_kill(const protocol::scheduler::Kill& message);
  void on_acknowledge(const protocol::scheduler::Acknowledge& message);
  void on_reconcile(const protocol::scheduler::Reconcile& message);
  void check_frameworks();
  void disconnect_framework(Framework& framework);
  void remove_framework(const std::string& framework_id, const std::string& why);
  Framework* framework_of(const sdk::Request& request, const std::string& framework_id);

  // Offers and tasks.
  void on_allocated(const protocol::allocator::Allocated& message);
  void rescind_offer(const std::string& offer_id, double refuse_seconds, bool tell_framework);
  void task_error(Framework& framework, const protocol::TaskInfo& task, const char* state,
                  const char* reason, const std::string& message);
  void send_update(Framework& framework, const protocol::TaskStatus& status);
  void master_update(Task& task, const char* state, const char* reason, const std::string& message);
  // The task's latest state becomes `state`; a first terminal state gives its resources back.
  void set_state(Task& task, const std::string& state);
  // Forgets the task: its resources go back (if they have not), and a bounded summary of it
  // joins the completed tasks.
  void finish_task(const std::string& key);

  // Operators.
  protocol::operator_api::State state() const;
  void on_update_role(const sdk::Request& request,
                      const protocol::operator_api::UpdateRole& message);
  // Why `role` is not a valid role name ("" when it is).
  static std::string role_problem(const std::string& role);

  bool serving(const sdk::Request& request);
  static std::string task_key(const std::string& framework_id, const std::string& task_id) {
    return framework_id + "/" + task_id;
  }
  double now_seconds() const;

  Options options_;
  std::string master_id_;
  std::string endpoint_;  // advertised
  bool leading_ = false;
  uint64_t next_agent_ = 0, next_framework_ = 0, next_offer_ = 0, next_ping_ = 0;

  std::unique_ptr<sdk::Server> server_;
  std::unique_ptr<sdk::Client> allocator_;
  std::unique_ptr<sdk::Client> leader_;
  std::unique_ptr<sdk::Subscriber> leader_events_;

  std::map<std::string, Agent> agents_;
  std::set<std::string> removed_agents_;
  std::map<std::string, Framework> frameworks_;
  std::set<std::string> removed_frameworks_;
  std::map<std::string, RoleSettings> role_settings_;
  std::map<std::string, Task> tasks_;
  // Recently finished tasks, oldest first: summaries (no command, strings bounded), at most
  // max_completed_tasks.
  std::deque<protocol::operator_api::TaskState> completed_;
  // What the registry keeps of each agent's secret (a hash), by agent id: a registration that
  // names a known id must present the secret.
  std::map<std::string, std::string> agent_secrets_;
  std::map<std::string, Offer> offers_;
  std::map<std::string, std::string> peers_;  // ZeroMQ routing id -> agent or framework id
  std::vector<Clock::time_point> recent_removals_;
};

}  // namespace tessera::host::master

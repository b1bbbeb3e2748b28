// The master role: tracks agents and frameworks, turns the allocator's grants into offers,
// validates and launches tasks, forwards status updates and acknowledgements, and notices
// agents and frameworks that go away.
//
// One sdk::Server at [master] endpoint serves agents (agent.*), frameworks (scheduler.*) and
// operators (operator.*). The master talks to the allocator plugin (protocol/allocator.h) and
// to the leader plugin through the SDK: sdk::Leadership for the election, and the Registry
// (registry.h) over sdk::Store for what must survive it. A master that does not lead (a
// standby, or a new leader still reading its registry) answers everything with
// master.not_leader naming the leader it knows.
//
// Threading: everything runs on the role's own loop thread; no locks.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "master/model.h"
#include "master/registry.h"
#include "master/snapshot.h"
#include "roles.h"
#include "tessera/protocol/agent.h"
#include "tessera/protocol/allocator.h"
#include "tessera/protocol/files.h"
#include "tessera/protocol/master_events.h"
#include "tessera/protocol/operator.h"
#include "tessera/protocol/scheduler.h"
#include "tessera/protocol/store.h"
#include "tessera/sdk/leadership.h"

namespace tessera::host::master {

struct Options {
  std::string endpoint = "tcp://127.0.0.1:5051";
  std::string advertise;  // what agents and frameworks are told (default: the bound endpoint)
  std::chrono::milliseconds agent_ping_interval{2000};
  std::chrono::milliseconds agent_ping_timeout{10000};
  std::chrono::milliseconds agent_removal_timeout{60000};
  int64_t agent_removals_per_minute = 10;  // 0: no limit
  // How long and how many removed agents the registry remembers (Registry::keep_removed_agents).
  std::chrono::seconds registry_max_removed_agent_age{std::chrono::hours(24 * 14)};
  int64_t registry_max_removed_agents = 102400;
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
  // Leadership and the registry.
  void on_elected(uint64_t epoch);
  void on_deposed();
  // Takes what the registry holds, gives the role settings to the allocator, and serves.
  void recovered(RecoveredRegistry registry);

  // Who sent a request, to answer it (now or later): its connection and sequence number.
  struct Caller {
    std::string peer;
    uint64_t sequence = 0;
  };
  static Caller caller_of(const sdk::Request& request) {
    return Caller{request.peer, request.message.header().sequence};
  }

  // Agents.
  void on_register(const Caller& caller, const protocol::agent::Register& message);
  // `secret` is given to the agent in Registered (empty: it keeps the one it proved);
  // `secret_hash` is what the registry keeps of it.
  void admit_agent(const std::string& peer, uint64_t request_sequence,
                   const protocol::agent::Register& message, const std::string& agent_id,
                   const std::string& secret, const std::string& secret_hash);
  // The answer that admits an agent: its id, this master and the ping interval, and `secret`.
  protocol::agent::Registered registered(const std::string& agent_id,
                                         const std::string& secret) const;
  void on_status_update(const sdk::Request& request, const protocol::agent::StatusUpdate& message);
  // Keeps the latest usage of the sender's own tasks; anything else in the report is ignored.
  void on_usage(const sdk::Request& request, const protocol::agent::Usage& message);
  void check_agents();
  void mark_unreachable(Agent& agent);
  // The view of agent `id` in the state summary may have changed; with `aggregate`, what the
  // state takes from every agent too (its total, activity or executors changed, or it came or
  // went).
  void agent_changed(const std::string& id, bool aggregate);
  void remove_agent(const std::string& agent_id, const std::string& why);
  // What every removal ends with, whether the agent was here or only in the registry: the
  // event, scheduler.agent_lost to the frameworks, and the removal in the registry.
  void record_agent_removed(const std::string& agent_id, const std::string& why);

  // Frameworks.
  void on_subscribe(const Caller& caller, const protocol::scheduler::Subscribe& message);
  // The subscription of a framework whose record is stored (or, re-subscribing, known), with
  // the roles and failover timeout on_subscribe checked.
  void subscribe(const Caller& caller, const protocol::scheduler::Subscribe& message,
                 const std::string& id, const std::vector<std::string>& roles,
                 double failover_seconds);
  void on_accept(const sdk::Request& request, const protocol::scheduler::Accept& message);
  // The refuse filter of an accept or decline, checked: what is not a duration is replaced by
  // Mesos's default of 5 s, and the rest is capped at 365 days (both logged).
  double refuse_seconds(const Framework& framework, double requested);
  void on_decline(const protocol::scheduler::Decline& message);
  void on_kill(const protocol::scheduler::Kill& message);
  // Framework messages, routed best effort between a scheduler and its executors.
  void on_framework_message(const protocol::scheduler::FrameworkMessage& message);
  void on_executor_message(const sdk::Request& request,
                           const protocol::agent::FrameworkMessage& message);
  void on_acknowledge(const protocol::scheduler::Acknowledge& message);
  // Sends a re-subscribed framework the updates of its tasks not yet acknowledged.
  void resend_unacknowledged(Framework& fw);

  // Executors: counted against their agent from their first task's launch until their agent
  // says they ended (agent.executor_exited), or the agent or framework is removed.
  void add_executor(Agent& agent, Framework& framework, const std::string& role,
                    const protocol::ExecutorInfo& info);
  // Forgets an executor; what it held goes back to the allocator when `give_back`.
  void remove_executor(Agent& agent, const std::string& framework_id,
                       const std::string& executor_id, bool give_back);
  // The executors a (re-)registering agent reports replace those counted there before; each is
  // added to `allocated`. Returns those of frameworks this master does not know (framework id,
  // executor id), which are shut down.
  std::vector<std::pair<std::string, std::string>> readd_executors(
      Agent& agent, const std::vector<protocol::agent::RunningExecutor>& running,
      std::vector<protocol::allocator::Allocation>& allocated);
  void on_executor_exited(const sdk::Request& request,
                          const protocol::agent::ExecutorExited& message);
  void on_shutdown_executor(Framework& framework,
                            const protocol::scheduler::ShutdownExecutor& message);
  void on_reconcile(const protocol::scheduler::Reconcile& message);
  void check_frameworks();
  // `why` ends "...; it has N s to re-subscribe" in the log.
  void disconnect_framework(Framework& framework, std::string_view why);
  void remove_framework(const std::string& framework_id, const std::string& why);
  Framework* framework_of(const sdk::Request& request, const std::string& framework_id);

  // Offers and tasks.
  void on_allocated(const protocol::allocator::Allocated& message);
  // Takes an offer back: its resources go to the allocator (refused for `refuse_seconds`), and
  // its framework is told when `tell_framework`. `why` is one of master_events::offer_end.
  void rescind_offer(const std::string& offer_id, double refuse_seconds, bool tell_framework,
                     const char* why = protocol::master_events::offer_end::kRescinded);
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
  // The state without its tasks (or only the roles), with what a copy kept from the events needs:
  // kept until the next summary, whose agents' views are rebuilt only where they changed.
  const protocol::operator_api::StateSummary& state_summary(bool roles_only,
                                                            bool with_usages) const;
  // The answer to operator.get_state_summary: the summary, or only that it is still the one of
  // `known_version` (the agents' views and the rest left out).
  protocol::operator_api::StateSummary unchanged_summary(
      const protocol::operator_api::StateSummary& summary) const;
  // Answers with the last summary holding only the agents' views built after `version`
  // (`agents`: agents_since; the client holds that summary and no agent came or went since)
  // and/or only the offers made after it, naming those gone since (`offers`: offers_since).
  void reply_delta(const sdk::Request& request, uint64_t version, bool agents, bool offers);
  // Takes an offer out of the outstanding set (it is in the next summary's offers_gone).
  void forget_offer(std::map<std::string, Offer>::iterator offer);
  SnapshotSource snapshot_source() const;
  protocol::operator_api::Result operator_kill(const protocol::operator_api::KillTask& message);
  void on_update_role(const sdk::Request& request,
                      const protocol::operator_api::UpdateRole& message);

  // Sandbox files: an operator's request goes to the task's agent, whose answer is relayed.
  void on_files_request(const sdk::Request& request, const protocol::files::Request& message);
  void on_files_answer(const sdk::Request& request, const protocol::files::Answer& message);
  void expire_files_requests();

  // True while this master leads and has read its registry; otherwise answers `request` with
  // master.not_leader naming the leader it knows.
  bool serving(const sdk::Request& request);
  // Elected, and reading the registry before it serves.
  bool reading_registry() const;
  // While reading_registry(), keeps `serve` (a registration or a subscription) to run once the
  // registry is read, and returns true. Answering
  // master.not_leader instead would send every agent of the cluster into its retry backoff, and
  // the last ones would come back a backoff step (up to seconds) after the master serves. One
  // request per connection is kept (the latest: a resent registration replaces the one before),
  // at most kMaxHeldRequests in all (beyond that the sender is answered master.not_leader).
  bool held(const sdk::Request& request, std::function<void()> serve);
  // Publishes an event of the master's stream (protocol/master_events.h), while serving.
  template <typename T>
  void publish(const T& event) {
    if (!leading_) return;
    events_->publish(event);
    ++counters_.events_published;
  }
  double now_seconds();

  Options options_;
  std::string master_id_;
  std::string endpoint_;  // advertised
  bool leading_ = false;  // elected, and the registry is read: serving
  double start_time_ = 0;
  std::string hostname_;
  std::string version_;
  protocol::operator_api::MasterCounters counters_;
  uint64_t next_agent_ = 0, next_framework_ = 0, next_offer_ = 0, next_ping_ = 0;

  std::unique_ptr<sdk::Server> server_;
  std::unique_ptr<sdk::Publisher> events_;  // the event stream, on master_events::kEndpoint
  std::unique_ptr<sdk::Client> allocator_;
  std::unique_ptr<sdk::Leadership> leadership_;
  std::unique_ptr<Registry> registry_;

  std::map<std::string, Agent> agents_;
  std::set<std::string> removed_agents_;
  std::map<std::string, Framework> frameworks_;
  std::set<std::string> removed_frameworks_;
  std::map<std::string, RoleSettings> role_settings_;
  std::map<std::string, Task> tasks_;
  // Recently finished tasks, oldest first: summaries (no command, strings bounded), at most
  // max_completed_tasks.
  std::deque<protocol::operator_api::TaskState> completed_;
  // What the tasks that have not ended hold per agent, framework and role, kept as tasks start,
  // end and go (every change to tasks_ that starts or stops a task counting says so here), so
  // that a state summary does not walk every task (docs/bench-state.md). state() still sums
  // afresh, which the API's tests compare with the summaries.
  mutable TaskLedger ledger_;
  // The last state summary (its agents' views are kept there between summaries) and what those
  // views were made of.
  mutable protocol::operator_api::StateSummary summary_;
  // What the offers in summary_ hold, by framework (keep_offers keeps it with them).
  mutable OfferedSums offered_sums_;
  mutable protocol::operator_api::StateSummary roles_summary_;  // the last roles_only summary
  mutable KeptAgentViews kept_agent_views_;
  // The summary's version (operator.state_summary) and the fingerprint of its state but the
  // agents' views, to see whether the next one differs.
  mutable uint64_t summary_version_ = 0;
  // The summary version at which an agent last came or went: a summary that names only the
  // agents that changed (agents_since) can be given against versions from here on.
  mutable uint64_t members_version_ = 0;
  mutable std::string summary_fingerprint_;
  // The agents whose views in the state summary may have changed since the last one was made
  // (besides those whose tasks' sums changed, which the ledger names): only those views are
  // compared and built again. `all_views_marked_`: every view is compared (before the first
  // summary, and when the marks grew past the agents that can be marked).
  mutable std::set<std::string> marked_views_;
  mutable bool all_views_marked_ = true;
  // What the roles and executors of the state take from every agent, kept between summaries;
  // made again when an agent comes or goes, or its total, activity or executors change.
  mutable std::optional<AgentAggregates> aggregates_;
  // What the registry keeps of each agent's secret (a hash), by agent id: a registration that
  // names a known id must present the secret.
  std::map<std::string, std::string> agent_secrets_;
  // The agents of the registry that have not registered with this master since it began
  // serving (serving_since_): each leaves at its registration (admit_agent) or its removal,
  // so none of them is in agents_ or removed_agents_. Their tasks are unknown here; one still
  // away after
  // agent_removal_timeout_ms is removed as an unreachable agent would be, so that frameworks
  // hear its tasks are gone instead of waiting for them forever.
  std::set<std::string> awaited_agents_;
  Clock::time_point serving_since_{};
  std::map<std::string, Offer> offers_;
  // The offers that left offers_, so that a summary can name those gone since an earlier one.
  GoneOffers gone_offers_;
  std::map<std::string, std::string> peers_;  // ZeroMQ routing id -> agent or framework id
  // First registrations (no agent id yet) by connection, until the agent's first pong shows it
  // has its answer. The registry write can outlast the agent's retry: a registration resent
  // meanwhile is answered with the same id and secret instead of making a second agent.
  struct FirstRegistration {
    std::string agent_id;
    std::string secret;
    bool admitted = false;
    std::vector<uint64_t> resent;  // sequences of resent registrations, answered on admission
  };
  std::map<std::string, FirstRegistration> first_registrations_;
  // Requests held while the registry is read (held()), in the order they came, and the index
  // of each connection's one in `held_`.
  static constexpr size_t kMaxHeldRequests = 100'000;
  std::vector<std::function<void()>> held_;
  std::unordered_map<std::string, size_t> held_by_peer_;
  std::vector<Clock::time_point> recent_removals_;
  // Operators' sandbox requests waiting for their agent's answer, by the master's request id.
  struct PendingFiles {
    std::string operator_peer;
    uint64_t operator_sequence = 0;
    std::string agent_id;
    std::string sandbox;
    Clock::time_point deadline;
  };
  std::map<uint64_t, PendingFiles> pending_files_;
  uint64_t next_files_request_ = 0;
};

}  // namespace tessera::host::master

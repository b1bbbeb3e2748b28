// The operator's view of the master (operator.get_state): what it knows of its agents,
// frameworks and tasks, with what each uses and is offered, and the bounded summaries of the
// tasks that ended. Pure functions of the master's state (model.h), unit-tested on their own.
#pragma once

#include <deque>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "master/model.h"
#include "tessera/protocol/operator.h"

namespace tessera::host::master {

// What the snapshot is taken of; references into the master's own state.
struct SnapshotSource {
  const std::string& master_id;
  const std::string& endpoint;
  const std::map<std::string, Agent>& agents;
  const std::map<std::string, Framework>& frameworks;
  const std::map<std::string, Task>& tasks;
  const std::map<std::string, Offer>& offers;
  // Finished tasks, oldest first.
  const std::deque<protocol::operator_api::TaskState>& completed;
  const std::map<std::string, RoleSettings>& role_settings;
};

// A sum of resources that is exact, so that one kept as tasks come and go equals one taken
// afresh, in any order: scalars in the thousandths the cluster accounts in
// (protocol::Resources::fixed; 0.1 + 0.2 is 0.3), range sets as how many holders cover each
// stretch. A name is in the sum while a holder names it, even with nothing in it.
class ExactSum {
 public:
  void add(const protocol::Resources& resources) { change(resources, 1); }
  // Takes away what add() added.
  void remove(const protocol::Resources& resources) { change(resources, -1); }
  protocol::Resources resources() const;
  bool empty() const { return scalars_.empty() && ranges_.empty(); }

 private:
  void change(const protocol::Resources& resources, int64_t sign);
  struct Scalar {
    // Wider than one amount's thousandths (at most 1e13): tasks that agents report when they
    // register are checked one by one but not against any total, so their sum is not bounded
    // by 64 bits.
    __int128 thousandths = 0;
    int64_t holders = 0;
  };
  struct Cover {
    int64_t holders = 0;
    std::map<uint64_t, int64_t> edges;  // where the cover changes, and by how much
  };
  std::map<std::string, Scalar> scalars_;
  std::map<std::string, Cover> ranges_;
};

// What the tracked tasks that have not ended hold, summed per agent, framework and role
// (ExactSum): the part of the snapshot that grows with the tasks. Agents and frameworks
// without such tasks may be missing; a role is there while a task of it is.
struct TaskSums {
  struct FrameworkSum {
    protocol::Resources used;
    uint64_t active_tasks = 0;
  };
  std::map<std::string, protocol::Resources> agents;  // by agent id
  std::map<std::string, FrameworkSum> frameworks;     // by framework id
  std::map<std::string, protocol::Resources> roles;   // by role
};
TaskSums task_sums(const SnapshotSource& source);

// TaskSums kept as tasks start and end, so that a state summary does not walk every task again
// (at 200,000 tasks that walk was most of a summary's cost during a burst of launches,
// docs/bench-state.md). The master adds a task when it starts being tracked and has not ended,
// and removes it when it ends or goes, before changing its agent, framework, role or resources.
// sums() equals task_sums() of the same tasks.
class TaskLedger {
 public:
  void add(const Task& task) { change(task, 1); }
  void remove(const Task& task) { change(task, -1); }
  // Brings the sums up to date with what changed since the last call.
  const TaskSums& sums();
  size_t tasks() const { return tasks_; }
  // The agents whose sum changed since the last call (whatever sums() was called in between),
  // which are then forgotten: the agents' views to build again (keep_agent_views's `marked`).
  // nullopt when more changed than are kept (then any agent's may have).
  std::optional<std::set<std::string>> take_changed_agents() {
    if (std::exchange(changed_overflow_, false)) return std::nullopt;
    return std::exchange(changed_agents_, {});
  }

 private:
  struct Entry {
    ExactSum sum;
    uint64_t tasks = 0;
  };
  using Entries = std::map<std::string, Entry>;
  void change(const Task& task, int64_t sign);
  static void change(Entries& entries, std::set<std::string>& dirty, const std::string& key,
                     const protocol::Resources& resources, int64_t sign);
  Entries agents_, frameworks_, roles_;
  std::set<std::string> dirty_agents_, dirty_frameworks_, dirty_roles_;
  // Bounded: the agents with tasks and those that had some since the last take.
  std::set<std::string> changed_agents_;
  bool changed_overflow_ = false;
  size_t tasks_ = 0;
  TaskSums sums_;
};

// The agents' views of the last state summary, kept so that the next one rebuilds only the
// views of agents that changed: at 10,000 agents building every view again was most of a
// summary's cost (docs/bench-state.md).
struct KeptAgentViews {
  // What a view was made of besides the agent's own fields that it copies.
  struct MadeOf {
    std::set<std::string> offers;  // the agent's offer ids (an offer never changes once made)
    protocol::Resources tasks_used;
    std::vector<std::pair<std::string, protocol::Resources>> executors;  // by executor key
  };
  std::vector<protocol::operator_api::AgentState> agents;  // in agent id order
  std::vector<MadeOf> made_of;                             // one per view
  // One per view: the `version` given when it was last built, so that a summary can name the
  // views that changed after an earlier one.
  std::vector<uint64_t> built_at;
  // Whether the last keep_agent_views added or dropped an agent.
  bool members_changed = false;
};
// Brings `kept` to the agents of `source`, with `sums` (task_sums(source)): afterwards
// kept.agents equals snapshot(source, with_tasks, &sums).agents, and the views it built again
// are marked built at `version`. Returns how many views it built.
//
// Without `marked`, every agent is compared with its kept view (same_view: about 2 us an agent,
// the largest part of a summary at 10,000 agents). With it, only the agents it names are: it
// must name every agent whose view may have changed since `kept` was last brought up to date,
// those that came and went included. A view it does not name is kept as it is.
size_t keep_agent_views(const SnapshotSource& source, const TaskSums& sums, KeptAgentViews& kept,
                        uint64_t version = 0, const std::set<std::string>* marked = nullptr);

// What the state's roles and executors take from every agent: the active agents' cpus, mem and
// disk (what roles' shares are of) and the agents' executors. The master keeps it between state
// summaries and takes it again only when an agent comes or goes, or its total, activity or
// executors change: at 10,000 agents these walks were a fifth of a summary's cost.
struct AgentAggregates {
  static constexpr const char* kShared[] = {"cpus", "mem", "disk"};
  // The active agents' totals of kShared, summed in agent id order.
  double shared[std::size(kShared)] = {};
  // Every agent's executors, by agent id, then framework id and executor id.
  std::vector<protocol::operator_api::ExecutorState> executors;
  // What each executor holds, by its role (in the order of `executors`).
  std::vector<std::pair<std::string, protocol::Resources>> executor_roles;
};
AgentAggregates agent_aggregates(const std::map<std::string, Agent>& agents);

// What the outstanding offers hold, by framework id: kept by keep_offers as offers come and go,
// so that a summary does not add up every offer again (at 10,000 agents that sum was a third of
// a summary's cost during a burst of launches, docs/bench-state.md). A framework whose offers
// are all gone has no entry.
using OfferedSums = std::map<std::string, ExactSum, std::less<>>;

// Brings `kept` (offers in offer id order, those of the last state summary) to the outstanding
// `offers`: an offer still outstanding is moved from `kept` (an offer never changes once made),
// only a new one is copied. Returns whether any came or went. With `offered` (the sums of
// `kept`'s offers), takes what the offers gone held away from it and adds what the new ones hold.
bool keep_offers(const std::map<std::string, Offer>& offers,
                 std::vector<protocol::scheduler::Offer>& kept, OfferedSums* offered = nullptr);

// The offers that left the outstanding set, with the summary versions between which they were
// shown, so that a summary against an earlier one can name those gone since
// (operator.state_summary's offers_gone). Bounded: past `limit` the oldest are dropped, and
// versions before the last one dropped are no longer covered.
class GoneOffers {
 public:
  explicit GoneOffers(size_t limit = 65536) : limit_(limit) {}
  // `made_at`: the first summary version that shows the offer; `gone_at`: the first that does
  // not (neither less than one given before).
  void add(const std::string& offer_id, uint64_t made_at, uint64_t gone_at);
  // Whether every offer gone after summary `version` is kept.
  bool covers(uint64_t version) const { return version >= floor_; }
  // The ids of the offers that summary `version` shows and a later one does not.
  std::vector<std::string> since(uint64_t version) const;
  size_t size() const { return gone_.size(); }

 private:
  struct Gone {
    uint64_t made_at = 0;
    uint64_t gone_at = 0;
    std::string offer_id;
  };
  std::deque<Gone> gone_;  // by gone_at
  size_t limit_;
  uint64_t floor_ = 0;
};

// What a state summary holds besides its agents' views, its offers and its counters, as bytes:
// of two summaries with the same agents' views and offers, those whose fingerprints are equal
// are the same state (operator.state_summary's version changes when any of them changes).
std::string summary_fingerprint(const protocol::operator_api::State& state);

// The counts and sums of the state (operator.get_metrics); counters are the caller's.
protocol::operator_api::Metrics metrics(const SnapshotSource& source);

// The roles of the frameworks, of the live tasks and of the operator's settings, with those
// settings, what the live tasks hold and the dominant share of that over the active agents'
// totals.
// With `sums`, what the tasks hold is taken from them (task_sums(source) of the same state)
// instead of being summed again.
// With `aggregates` (agent_aggregates(source.agents) of the same state), what it holds is not
// taken from the agents again.
std::vector<protocol::operator_api::RoleState> role_states(
    const SnapshotSource& source, const TaskSums* sums = nullptr,
    const AgentAggregates* aggregates = nullptr);

// The state an operator sees: agents and frameworks with what their live tasks use and their
// outstanding offers hold, then the tasks the master tracks, then the finished ones newest
// first.
// Without `with_tasks`, `tasks` is left empty and `active_tasks` still counts the tracked ones.
// With `sums` (task_sums(source) of the same state), what the tasks hold is taken from them.
// Without `with_agents`, `agents` is left empty (keep_agent_views gives them); without
// `with_offers`, `offers` (keep_offers gives them). With `aggregates`, as role_states. With
// `offered` (keep_offers's sums of the same offers), what each framework is offered is taken
// from it.
protocol::operator_api::State snapshot(const SnapshotSource& source, bool with_tasks = true,
                                       const TaskSums* sums = nullptr, bool with_agents = true,
                                       bool with_offers = true,
                                       const AgentAggregates* aggregates = nullptr,
                                       const OfferedSums* offered = nullptr);

// The live executors of every agent, by agent id, then framework id and executor id.
std::vector<protocol::operator_api::ExecutorState> executor_states(
    const std::map<std::string, Agent>& agents);

// The view of one agent, or one framework: what their live tasks use and their outstanding
// offers hold.
protocol::operator_api::AgentState agent_state(const Agent& agent,
                                               const std::map<std::string, Task>& tasks,
                                               const std::map<std::string, Offer>& offers);
protocol::operator_api::FrameworkState framework_state(const Framework& framework,
                                                       const std::map<std::string, Task>& tasks,
                                                       const std::map<std::string, Offer>& offers);

// The view of one tracked task.
protocol::operator_api::TaskState task_state(const Task& task);

// What is kept of a finished task: ids, name, state, resources and the last status, every
// string cut to 256 bytes (a state, reason or source shorter); never the command, environment
// or labels, so that a task of megabytes does not stay in the master.
protocol::operator_api::TaskState completed_summary(Task task);

}  // namespace tessera::host::master

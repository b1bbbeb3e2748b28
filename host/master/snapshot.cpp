#include "master/snapshot.h"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <iterator>
#include <optional>
#include <tuple>
#include <utility>

namespace tessera::host::master {

namespace op = protocol::operator_api;

namespace {

// A string of a completed task's summary, cut to a bounded length.
std::string bounded(const std::string& text, size_t limit = 256) {
  if (text.size() <= limit) return text;
  return text.substr(0, limit) + "...";
}

}  // namespace

op::TaskState task_state(const Task& task) {
  op::TaskState t;
  t.task_id = task.info.task_id;
  t.name = task.info.name;
  t.framework_id = task.framework_id;
  t.agent_id = task.info.agent_id;
  t.state = task.shown_state();
  t.resources = task.info.resources;
  t.last_status = task.status;
  t.usage = task.usage;
  t.sandbox = task.sandbox;
  t.container = task.info.container;
  t.executor_id = task.info.executor.executor_id;
  return t;
}

namespace {

// What the outstanding offers among `offer_ids` hold.
protocol::Resources offered(const std::set<std::string>& offer_ids,
                            const std::map<std::string, Offer>& offers) {
  protocol::Resources total;
  for (const auto& offer_id : offer_ids) {
    if (auto it = offers.find(offer_id); it != offers.end()) total += it->second.offer.resources;
  }
  return total;
}

}  // namespace

namespace {

// An agent's or a framework's view without what its tasks and executors hold.
op::AgentState agent_view(const Agent& agent, const std::map<std::string, Offer>& offers) {
  op::AgentState a;
  a.agent_id = agent.id;
  a.hostname = agent.hostname;
  a.active = agent.active;
  a.total = agent.total;
  a.attributes = agent.attributes;
  a.registered_at = agent.registered_at;
  a.offered = offered(agent.offers, offers);
  return a;
}

// A framework's view without what its tasks and executors hold, with `offered` given.
op::FrameworkState framework_view(const Framework& framework, protocol::Resources offered) {
  op::FrameworkState f;
  f.framework_id = framework.id;
  f.name = framework.name;
  f.roles = framework.roles;
  f.connected = framework.connected;
  f.failover_timeout_seconds = framework.failover_timeout_seconds;
  f.registered_at = framework.registered_at;
  f.offered = std::move(offered);
  return f;
}

op::FrameworkState framework_view(const Framework& framework,
                                  const std::map<std::string, Offer>& offers) {
  return framework_view(framework, offered(framework.offers, offers));
}

}  // namespace

op::AgentState agent_state(const Agent& agent, const std::map<std::string, Task>& tasks,
                           const std::map<std::string, Offer>& offers) {
  op::AgentState a = agent_view(agent, offers);
  ExactSum used;
  for (const auto& key : agent.tasks) {
    auto task = tasks.find(key);
    if (task != tasks.end() && !task->second.ended) used.add(task->second.info.resources);
  }
  // Tasks first, then executors, as the snapshot adds them.
  a.used = used.resources();
  for (const auto& [key, executor] : agent.executors) a.used += executor.info.resources;
  return a;
}

op::FrameworkState framework_state(const Framework& framework,
                                   const std::map<std::string, Task>& tasks,
                                   const std::map<std::string, Offer>& offers) {
  op::FrameworkState f = framework_view(framework, offers);
  ExactSum used;
  for (const auto& key : framework.tasks) {
    auto task = tasks.find(key);
    if (task == tasks.end() || task->second.ended) continue;
    ++f.active_tasks;
    used.add(task->second.info.resources);
  }
  f.used = used.resources();
  for (const auto& [key, resources] : framework.executors) f.used += resources;
  return f;
}

void ExactSum::change(const protocol::Resources& resources, int64_t sign) {
  for (const auto& [name, value] : resources.scalars) {
    auto it = scalars_.try_emplace(name).first;
    it->second.thousandths += static_cast<__int128>(sign * protocol::Resources::fixed(value));
    it->second.holders += sign;
    if (it->second.holders <= 0) scalars_.erase(it);
  }
  for (const auto& [name, list] : resources.ranges) {
    auto it = ranges_.try_emplace(name).first;
    Cover& cover = it->second;
    cover.holders += sign;
    // One holder covers what its own list covers once, however its ranges overlap.
    for (const protocol::Range& range : protocol::Resources::normalise(list)) {
      // The cover ends after `end`; the largest value has nothing after it to mark.
      auto edge = [&](uint64_t at, int64_t by) {
        auto [e, fresh] = cover.edges.try_emplace(at, 0);
        e->second += by;
        if (e->second == 0) cover.edges.erase(e);
      };
      edge(range.begin, sign);
      if (range.end != UINT64_MAX) edge(range.end + 1, -sign);
    }
    if (cover.holders <= 0) ranges_.erase(it);
  }
}

protocol::Resources ExactSum::resources() const {
  protocol::Resources out;
  for (const auto& [name, scalar] : scalars_) {
    out.scalars.emplace(name, static_cast<double>(scalar.thousandths) / 1000.0);
  }
  for (const auto& [name, cover] : ranges_) {
    std::vector<protocol::Range>& list = out.ranges[name];
    // Adjacent stretches are one range, as Resources::normalise makes them.
    auto emit = [&list](uint64_t begin, uint64_t end) {
      if (!list.empty() && list.back().end + 1 == begin) {
        list.back().end = end;
      } else {
        list.push_back(protocol::Range{begin, end});
      }
    };
    int64_t depth = 0;
    uint64_t begin = 0;
    for (const auto& [at, by] : cover.edges) {
      if (depth <= 0 && depth + by > 0) begin = at;
      if (depth > 0 && depth + by <= 0) emit(begin, at - 1);
      depth += by;
    }
    if (depth > 0) emit(begin, UINT64_MAX);
  }
  return out;
}

void TaskLedger::change(Entries& entries, std::set<std::string>& dirty, const std::string& key,
                        const protocol::Resources& resources, int64_t sign) {
  auto it = entries.try_emplace(key).first;
  if (sign > 0) {
    it->second.sum.add(resources);
    ++it->second.tasks;
  } else {
    it->second.sum.remove(resources);
    --it->second.tasks;
  }
  if (it->second.tasks == 0) entries.erase(it);
  dirty.insert(key);
}

void TaskLedger::change(const Task& task, int64_t sign) {
  const protocol::Resources& resources = task.info.resources;
  change(agents_, dirty_agents_, task.info.agent_id, resources, sign);
  if (!changed_overflow_) {
    changed_agents_.insert(task.info.agent_id);
    if (changed_agents_.size() > agents_.size() + 1024) {
      changed_overflow_ = true;
      changed_agents_.clear();
    }
  }
  change(frameworks_, dirty_frameworks_, task.framework_id, resources, sign);
  change(roles_, dirty_roles_, task.role, resources, sign);
  tasks_ = sign > 0 ? tasks_ + 1 : tasks_ - 1;
}

const TaskSums& TaskLedger::sums() {
  auto refresh = [](const Entries& entries, const std::set<std::string>& dirty,
                    std::map<std::string, protocol::Resources>& out) {
    for (const std::string& key : dirty) {
      auto it = entries.find(key);
      if (it == entries.end()) {
        out.erase(key);
      } else {
        out[key] = it->second.sum.resources();
      }
    }
  };
  refresh(agents_, dirty_agents_, sums_.agents);
  refresh(roles_, dirty_roles_, sums_.roles);
  for (const std::string& id : dirty_frameworks_) {
    auto it = frameworks_.find(id);
    if (it == frameworks_.end()) {
      sums_.frameworks.erase(id);
    } else {
      TaskSums::FrameworkSum& sum = sums_.frameworks[id];
      sum.used = it->second.sum.resources();
      sum.active_tasks = it->second.tasks;
    }
  }
  dirty_agents_.clear();
  dirty_frameworks_.clear();
  dirty_roles_.clear();
  return sums_;
}

TaskSums task_sums(const SnapshotSource& source) {
  TaskLedger ledger;
  for (const auto& [key, task] : source.tasks) {
    if (!task.ended) ledger.add(task);
  }
  return ledger.sums();
}

std::vector<op::ExecutorState> executor_states(const std::map<std::string, Agent>& agents) {
  std::vector<op::ExecutorState> out;
  for (const auto& [id, agent] : agents) {
    for (const auto& [key, executor] : agent.executors) {
      out.push_back(op::ExecutorState{executor.info.executor_id, executor.info.name,
                                      executor.framework_id, id, executor.info.resources});
    }
  }
  return out;
}

namespace {

const protocol::Resources kNothing;

// What the agent's tasks hold, from `sums`.
const protocol::Resources& tasks_used(const TaskSums& sums, const std::string& agent_id) {
  auto sum = sums.agents.find(agent_id);
  return sum == sums.agents.end() ? kNothing : sum->second;
}

// The agent's view in the state, with what its tasks hold (`used`, from the task sums).
op::AgentState summed_agent_view(const std::string& id, const Agent& agent,
                                 const std::map<std::string, Offer>& offers,
                                 const protocol::Resources& used) {
  op::AgentState a = agent_view(agent, offers);
  a.agent_id = id;
  // Tasks first, then executors, as agent_state adds them.
  a.used = used;
  for (const auto& [key, executor] : agent.executors) a.used += executor.info.resources;
  return a;
}

bool same_resources(const protocol::Resources& a, const protocol::Resources& b) {
  return a.scalars == b.scalars && a.ranges == b.ranges;
}

// Whether the view of `agent` made of `made` would be made the same now, compared without
// building anything.
bool same_view(const Agent& agent, const protocol::Resources& used, const op::AgentState& view,
               const KeptAgentViews::MadeOf& made) {
  if (view.hostname != agent.hostname || view.active != agent.active ||
      std::bit_cast<uint64_t>(view.registered_at) != std::bit_cast<uint64_t>(agent.registered_at) ||
      !same_resources(view.total, agent.total) || made.offers != agent.offers ||
      !same_resources(made.tasks_used, used) || made.executors.size() != agent.executors.size() ||
      view.attributes.size() != agent.attributes.size()) {
    return false;
  }
  for (size_t i = 0; i < view.attributes.size(); ++i) {
    if (view.attributes[i].name != agent.attributes[i].name ||
        view.attributes[i].value != agent.attributes[i].value) {
      return false;
    }
  }
  size_t i = 0;
  for (const auto& [key, executor] : agent.executors) {
    if (made.executors[i].first != key ||
        !same_resources(made.executors[i].second, executor.info.resources)) {
      return false;
    }
    ++i;
  }
  return true;
}

}  // namespace

namespace {

// The view and what it was made of, of agent `id`.
void build_view(const std::string& id, const Agent& agent, const SnapshotSource& source,
                const protocol::Resources& used, op::AgentState& view,
                KeptAgentViews::MadeOf& made) {
  view = summed_agent_view(id, agent, source.offers, used);
  made.offers = agent.offers;
  made.tasks_used = used;
  made.executors.clear();
  for (const auto& [key, executor] : agent.executors) {
    made.executors.emplace_back(key, executor.info.resources);
  }
}

// keep_agent_views when `marked` names only agents that `kept` has a view of and that are still
// there: those views are brought up to date in place, the others are not looked at. Returns
// nullopt (and changes nothing) when an agent came or went.
std::optional<size_t> keep_marked_views(const SnapshotSource& source, const TaskSums& sums,
                                        KeptAgentViews& kept, uint64_t version,
                                        const std::set<std::string>& marked) {
  if (kept.agents.size() != source.agents.size() || kept.made_of.size() != kept.agents.size() ||
      kept.built_at.size() != kept.agents.size()) {
    return std::nullopt;
  }
  std::vector<std::pair<size_t, const Agent*>> found;
  found.reserve(marked.size());
  for (const std::string& id : marked) {
    auto agent = source.agents.find(id);
    auto view = std::lower_bound(
        kept.agents.begin(), kept.agents.end(), id,
        [](const op::AgentState& a, const std::string& key) { return a.agent_id < key; });
    bool had = view != kept.agents.end() && view->agent_id == id;
    if (had != (agent != source.agents.end())) return std::nullopt;
    if (had) found.emplace_back(static_cast<size_t>(view - kept.agents.begin()), &agent->second);
  }
  size_t rebuilt = 0;
  for (const auto& [i, agent] : found) {
    const std::string& id = kept.agents[i].agent_id;
    const protocol::Resources& used = tasks_used(sums, id);
    if (same_view(*agent, used, kept.agents[i], kept.made_of[i])) continue;
    // `id` refers into the view about to be replaced.
    std::string agent_id = id;
    build_view(agent_id, *agent, source, used, kept.agents[i], kept.made_of[i]);
    kept.built_at[i] = version;
    ++rebuilt;
  }
  kept.members_changed = false;
  return rebuilt;
}

}  // namespace

size_t keep_agent_views(const SnapshotSource& source, const TaskSums& sums, KeptAgentViews& kept,
                        uint64_t version, const std::set<std::string>* marked) {
  if (marked != nullptr) {
    if (auto rebuilt = keep_marked_views(source, sums, kept, version, *marked)) return *rebuilt;
  }
  KeptAgentViews next;
  next.agents.reserve(source.agents.size());
  next.made_of.reserve(source.agents.size());
  next.built_at.reserve(source.agents.size());
  // A kept view without a mark is taken as built now, so that it is not left out of the next
  // summary that names the views built since an earlier one.
  kept.built_at.resize(kept.agents.size(), version);
  size_t rebuilt = 0;
  size_t old = 0;
  size_t known = 0;  // agents that had a kept view
  // Both are in agent id order: the kept view of an agent is found by stepping along.
  for (const auto& [id, agent] : source.agents) {
    while (old < kept.agents.size() && kept.agents[old].agent_id < id) ++old;
    const protocol::Resources& used = tasks_used(sums, id);
    bool had = old < kept.agents.size() && kept.agents[old].agent_id == id;
    if (had) ++known;
    if (had && ((marked != nullptr && marked->count(id) == 0) ||
                same_view(agent, used, kept.agents[old], kept.made_of[old]))) {
      next.agents.push_back(std::move(kept.agents[old]));
      next.made_of.push_back(std::move(kept.made_of[old]));
      next.built_at.push_back(kept.built_at[old]);
      ++old;
      continue;
    }
    ++rebuilt;
    next.built_at.push_back(version);
    build_view(id, agent, source, used, next.agents.emplace_back(), next.made_of.emplace_back());
  }
  next.members_changed = known != kept.agents.size() || known != source.agents.size();
  kept = std::move(next);
  return rebuilt;
}

bool keep_offers(const std::map<std::string, Offer>& offers,
                 std::vector<protocol::scheduler::Offer>& kept, OfferedSums* offered) {
  std::vector<protocol::scheduler::Offer> next;
  next.reserve(offers.size());
  bool changed = false;
  size_t old = 0;
  auto gone = [&](const protocol::scheduler::Offer& offer) {
    changed = true;
    if (offered == nullptr) return;
    auto sum = offered->find(offer.framework_id);
    if (sum == offered->end()) return;
    sum->second.remove(offer.resources);
    if (sum->second.empty()) offered->erase(sum);  // a framework that left leaves no sum behind
  };
  // Both are in offer id order: a kept offer is found by stepping along.
  for (const auto& [id, offer] : offers) {
    while (old < kept.size() && kept[old].offer_id < id) gone(kept[old++]);
    if (old < kept.size() && kept[old].offer_id == id) {
      next.push_back(std::move(kept[old++]));
    } else {
      changed = true;
      if (offered != nullptr) (*offered)[offer.offer.framework_id].add(offer.offer.resources);
      next.push_back(offer.offer);
    }
  }
  while (old < kept.size()) gone(kept[old++]);
  kept = std::move(next);
  return changed;
}

void GoneOffers::add(const std::string& offer_id, uint64_t made_at, uint64_t gone_at) {
  gone_.push_back(Gone{made_at, gone_at, offer_id});
  while (gone_.size() > limit_) {
    floor_ = std::max(floor_, gone_.front().gone_at);
    gone_.pop_front();
  }
}

std::vector<std::string> GoneOffers::since(uint64_t version) const {
  std::vector<std::string> out;
  // By gone_at: the ones gone after `version` are at the back.
  auto first = std::partition_point(
      gone_.begin(), gone_.end(), [version](const Gone& gone) { return gone.gone_at <= version; });
  for (auto it = first; it != gone_.end(); ++it) {
    if (it->made_at <= version) out.push_back(it->offer_id);
  }
  return out;
}

std::string summary_fingerprint(const op::State& state) {
  msgpack::sbuffer bytes;
  msgpack::pack(bytes, std::tie(state.master_id, state.endpoint, state.frameworks, state.tasks,
                                state.version, state.start_time, state.hostname, state.active_tasks,
                                state.roles, state.executors));
  return {bytes.data(), bytes.size()};
}

op::State snapshot(const SnapshotSource& source, bool with_tasks, const TaskSums* sums,
                   bool with_agents, bool with_offers, const AgentAggregates* aggregates,
                   const OfferedSums* offered) {
  // What the tasks hold is summed once for agents, frameworks and roles alike.
  std::optional<TaskSums> own_sums;
  if (sums == nullptr) sums = &own_sums.emplace(task_sums(source));
  op::State out;
  out.master_id = source.master_id;
  out.endpoint = source.endpoint;
  if (with_agents) {
    out.agents.reserve(source.agents.size());
    for (const auto& [id, agent] : source.agents) {
      out.agents.push_back(summed_agent_view(id, agent, source.offers, tasks_used(*sums, id)));
    }
  }
  // What each framework is offered, in one walk over the offers: each framework's sum is added
  // in offer id order, as offered() adds its own offers (a framework holds the ids of exactly
  // its outstanding offers), without looking each one up.
  std::map<std::string, protocol::Resources, std::less<>> framework_offered;
  if (offered != nullptr) {
    for (const auto& [id, sum] : *offered) framework_offered.emplace(id, sum.resources());
  } else {
    for (const auto& [id, offer] : source.offers) {
      framework_offered[offer.offer.framework_id] += offer.offer.resources;
    }
  }
  for (const auto& [id, fw] : source.frameworks) {
    auto offered_to = framework_offered.find(id);
    out.frameworks.push_back(framework_view(fw, offered_to == framework_offered.end()
                                                    ? protocol::Resources{}
                                                    : std::move(offered_to->second)));
    op::FrameworkState& f = out.frameworks.back();
    f.framework_id = id;
    if (auto sum = sums->frameworks.find(id); sum != sums->frameworks.end()) {
      f.used = sum->second.used;
      f.active_tasks = sum->second.active_tasks;
    }
    for (const auto& [key, resources] : fw.executors) f.used += resources;
  }
  out.active_tasks = source.tasks.size();
  if (with_tasks) {
    out.tasks.reserve(source.tasks.size() + source.completed.size());
    for (const auto& [key, task] : source.tasks) out.tasks.push_back(task_state(task));
    for (auto it = source.completed.rbegin(); it != source.completed.rend(); ++it) {
      out.tasks.push_back(*it);
    }
  }
  if (with_offers) {
    out.offers.reserve(source.offers.size());
    for (const auto& [id, offer] : source.offers) out.offers.push_back(offer.offer);
  }
  out.roles = role_states(source, sums, aggregates);
  out.executors = aggregates != nullptr ? aggregates->executors : executor_states(source.agents);
  return out;
}

op::Metrics metrics(const SnapshotSource& source) {
  op::Metrics out;
  out.master_id = source.master_id;
  for (const auto& [id, agent] : source.agents) {
    if (agent.active) {
      ++out.agents_active;
      out.total += agent.total;
    } else {
      ++out.agents_inactive;
    }
  }
  for (const auto& [id, fw] : source.frameworks) {
    ++(fw.connected ? out.frameworks_connected : out.frameworks_disconnected);
  }
  ExactSum used;
  for (const auto& [key, task] : source.tasks) {
    ++out.tasks[task.shown_state()];
    if (!task.ended) used.add(task.info.resources);
  }
  out.used = used.resources();
  for (const auto& [id, agent] : source.agents) {
    for (const auto& [key, executor] : agent.executors) out.used += executor.info.resources;
  }
  for (const auto& summary : source.completed) ++out.completed_tasks[summary.state];
  for (const auto& [id, offer] : source.offers) out.offered += offer.offer.resources;
  out.outstanding_offers = source.offers.size();
  return out;
}

AgentAggregates agent_aggregates(const std::map<std::string, Agent>& agents) {
  AgentAggregates out;
  // Only cpus, mem and disk are summed (in agent order, as a whole sum of the totals would add
  // them), not every agent's ranges.
  for (const auto& [id, agent] : agents) {
    if (!agent.active) continue;
    for (size_t i = 0; i < std::size(AgentAggregates::kShared); ++i) {
      out.shared[i] += agent.total.scalar(AgentAggregates::kShared[i]);
    }
  }
  out.executors = executor_states(agents);
  for (const auto& [id, agent] : agents) {
    for (const auto& [key, executor] : agent.executors) {
      out.executor_roles.emplace_back(executor.role, executor.info.resources);
    }
  }
  return out;
}

std::vector<op::RoleState> role_states(const SnapshotSource& source, const TaskSums* sums,
                                       const AgentAggregates* aggregates) {
  std::map<std::string, op::RoleState> roles;
  auto role = [&roles](const std::string& name) -> op::RoleState& {
    op::RoleState& r = roles[name];
    r.name = name;
    return r;
  };
  for (const auto& [id, fw] : source.frameworks) {
    for (const auto& name : fw.roles) role(name);
  }
  for (const auto& [name, settings] : source.role_settings) {
    op::RoleState& r = role(name);
    if (settings.weight >= 0) r.weight = settings.weight;
    r.has_quota = settings.has_quota && !settings.quota.empty();
    if (r.has_quota) r.quota = settings.quota;
    if (settings.has_priority) r.priority = settings.priority;
  }
  std::optional<TaskSums> own_sums;
  if (sums == nullptr) sums = &own_sums.emplace(task_sums(source));
  for (const auto& [name, allocated] : sums->roles) role(name).allocated += allocated;
  std::optional<AgentAggregates> own_aggregates;
  if (aggregates == nullptr) aggregates = &own_aggregates.emplace(agent_aggregates(source.agents));
  for (const auto& [name, resources] : aggregates->executor_roles) {
    role(name).allocated += resources;
  }
  // The shares are of cpus, mem and disk over the active agents.
  const auto& shared = AgentAggregates::kShared;
  std::vector<op::RoleState> out;
  for (auto& [name, r] : roles) {
    for (size_t i = 0; i < std::size(shared); ++i) {
      double cluster = aggregates->shared[i];
      if (cluster > 0) r.share = std::max(r.share, r.allocated.scalar(shared[i]) / cluster);
    }
    out.push_back(std::move(r));
  }
  return out;
}

op::TaskState completed_summary(Task task) {
  op::TaskState summary;
  summary.task_id = bounded(task.info.task_id);
  summary.name = bounded(task.info.name);
  summary.framework_id = bounded(task.framework_id);
  summary.agent_id = bounded(task.info.agent_id);
  summary.state = task.shown_state();
  summary.resources = std::move(task.info.resources);
  summary.usage = task.usage;
  summary.sandbox = std::move(task.sandbox);
  summary.container.type = bounded(task.info.container.type, 32);
  summary.container.image = bounded(task.info.container.image);
  summary.executor_id = bounded(task.info.executor.executor_id);
  protocol::TaskStatus& last = summary.last_status;
  last.task_id = summary.task_id;
  last.agent_id = summary.agent_id;
  last.framework_id = summary.framework_id;
  last.state = bounded(task.status.state, 32);
  last.reason = bounded(task.status.reason, 64);
  last.source = bounded(task.status.source, 32);
  last.message = bounded(task.status.message);
  last.uuid = bounded(task.status.uuid, 64);
  last.exit_code = task.status.exit_code;
  last.timestamp = task.status.timestamp;
  return summary;
}

}  // namespace tessera::host::master

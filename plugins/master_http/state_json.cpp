#include "state_json.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <iterator>
#include <map>
#include <utility>

namespace tessera::master_http {

namespace json = boost::json;
namespace op = protocol::operator_api;
namespace events = protocol::master_events;

json::value number_json(double value) {
  if (std::isfinite(value) && value == std::floor(value) && std::fabs(value) < 9.0e15) {
    return json::value(static_cast<int64_t>(value));
  }
  return json::value(value);
}

json::object resources_json(const protocol::Resources& resources) {
  json::object out;
  for (const char* name : {"cpus", "mem", "disk"}) out[name] = number_json(resources.scalar(name));
  for (const auto& [name, value] : resources.scalars) out[name] = number_json(value);
  for (const auto& [name, ranges] : resources.ranges) {
    std::string text = "[";
    for (const auto& range : protocol::Resources::normalise(ranges)) {
      if (text.size() > 1) text += ", ";
      text += std::to_string(range.begin) + "-" + std::to_string(range.end);
    }
    out[name] = text + "]";
  }
  return out;
}

json::object usage_json(const protocol::ResourceUsage& usage) {
  json::object out{{"timestamp", number_json(usage.timestamp)}};
  if (usage.cpu_seconds >= 0) out["cpu_seconds"] = usage.cpu_seconds;
  if (usage.mem_bytes >= 0) out["mem_bytes"] = usage.mem_bytes;
  if (usage.mem_peak_bytes >= 0) out["mem_peak_bytes"] = usage.mem_peak_bytes;
  return out;
}

json::object task_json(const op::TaskState& task) {
  json::object out;
  out["id"] = task.task_id;
  out["name"] = task.name;
  out["framework_id"] = task.framework_id;
  out["slave_id"] = task.agent_id;
  out["state"] = task.state;
  out["resources"] = resources_json(task.resources);
  json::array statuses;
  if (!task.last_status.state.empty()) {
    json::object status;
    status["state"] = task.last_status.state;
    status["timestamp"] = number_json(task.last_status.timestamp);
    status["message"] = task.last_status.message;
    status["reason"] = task.last_status.reason;
    status["source"] = task.last_status.source;
    if (task.last_status.exit_code >= 0) status["exit_code"] = task.last_status.exit_code;
    statuses.push_back(std::move(status));
  }
  out["statuses"] = std::move(statuses);
  out["sandbox"] = task.sandbox;
  if (task.usage.timestamp > 0) out["usage"] = usage_json(task.usage);
  if (!task.container.type.empty()) {
    json::object container;
    container["type"] = task.container.type == "DOCKER" ? "DOCKER" : "MESOS";
    if (!task.container.image.empty()) {
      container["docker"] = json::object{{"image", task.container.image}};
    }
    out["container"] = std::move(container);
  }
  return out;
}

json::object agent_json(const op::AgentState& agent) {
  json::object out;
  out["id"] = agent.agent_id;
  out["hostname"] = agent.hostname;
  out["active"] = agent.active;
  out["registered_time"] = number_json(agent.registered_at);
  out["resources"] = resources_json(agent.total);
  out["used_resources"] = resources_json(agent.used);
  out["offered_resources"] = resources_json(agent.offered);
  json::object attributes;
  for (const auto& attribute : agent.attributes) attributes[attribute.name] = attribute.value;
  out["attributes"] = std::move(attributes);
  return out;
}

namespace {

// The set a summary's agents or offers are written into: a new one when the summary holds them
// all (`since` 0), else a copy of the one it names (null when none is held). A copy shares the
// JSON already written.
template <typename Set>
std::shared_ptr<Set> written_from(uint64_t since, const std::shared_ptr<const Set>& known) {
  if (since == 0) return std::make_shared<Set>();
  if (known == nullptr) return nullptr;
  return std::make_shared<Set>(*known);
}

}  // namespace

std::shared_ptr<const AgentsJson> agents_json(const op::StateSummary& summary,
                                              const std::shared_ptr<const AgentsJson>& known) {
  std::shared_ptr<AgentsJson> out = written_from(summary.agents_since, known);
  if (out == nullptr) return nullptr;
  for (const op::AgentState& agent : summary.state.agents) {
    auto it = out->agents.find(agent.agent_id);
    if (summary.agents_since != 0 && it == out->agents.end()) return nullptr;
    if (it == out->agents.end()) it = out->agents.try_emplace(agent.agent_id).first;
    it->second.active = agent.active;
    it->second.json = std::make_shared<const std::string>(json::serialize(agent_json(agent)));
  }
  std::string joined;
  size_t bytes = 0;
  for (const auto& [id, agent] : out->agents) bytes += agent.json->size() + 1;
  joined.reserve(bytes);
  out->active = 0;
  for (const auto& [id, agent] : out->agents) {
    if (!joined.empty()) joined += ',';
    joined += *agent.json;
    if (agent.active) ++out->active;
  }
  out->joined = std::make_shared<const std::string>(std::move(joined));
  return out;
}

json::object offer_json(const protocol::scheduler::Offer& offer) {
  json::object o;
  o["id"] = offer.offer_id;
  o["slave_id"] = offer.agent_id;
  o["hostname"] = offer.hostname;
  o["role"] = offer.role;
  o["resources"] = resources_json(offer.resources);
  return o;
}

std::shared_ptr<const OffersJson> offers_json(const op::StateSummary& summary,
                                              const std::shared_ptr<const OffersJson>& known) {
  std::shared_ptr<OffersJson> out = written_from(summary.offers_since, known);
  if (out == nullptr) return nullptr;
  out->joined.clear();
  // A whole summary names nothing gone: it holds every offer.
  if (summary.offers_since != 0) {
    for (const std::string& id : summary.offers_gone) {
      if (out->offers.erase(id) == 0) return nullptr;
    }
  }
  for (const protocol::scheduler::Offer& offer : summary.state.offers) {
    auto [it, added] = out->offers.try_emplace(offer.offer_id);
    // Made since and already held: not the set the delta was made against. (A whole list that
    // names an offer twice keeps the last: asking again would bring the same answer.)
    if (!added && summary.offers_since != 0) return nullptr;
    it->second.framework_id = offer.framework_id;
    it->second.json = std::make_shared<const std::string>(json::serialize(offer_json(offer)));
  }
  std::map<std::string, std::string, std::less<>> joined;
  for (const auto& [id, offer] : out->offers) {
    std::string& list = joined[offer.framework_id];
    if (!list.empty()) list += ',';
    list += *offer.json;
  }
  for (auto& [framework_id, list] : joined) {
    out->joined.emplace(framework_id, std::make_shared<const std::string>(std::move(list)));
  }
  return out;
}

json::object framework_json(const op::FrameworkState& framework) {
  json::object out;
  out["id"] = framework.framework_id;
  out["name"] = framework.name;
  json::array roles;
  for (const auto& role : framework.roles) roles.emplace_back(role);
  out["roles"] = std::move(roles);
  out["active"] = framework.connected;
  out["registered_time"] = number_json(framework.registered_at);
  out["failover_timeout"] = number_json(framework.failover_timeout_seconds);
  out["used_resources"] = resources_json(framework.used);
  out["offered_resources"] = resources_json(framework.offered);
  out["active_tasks"] = framework.active_tasks;
  return out;
}

json::object role_json(const op::RoleState& role) {
  json::object out;
  out["name"] = role.name;
  out["weight"] = number_json(role.weight);
  out["priority"] = role.priority;
  out["quota"] = role.has_quota ? resources_json(role.quota) : json::object();
  out["allocated"] = resources_json(role.allocated);
  out["share"] = role.share;
  return out;
}

std::string executor_tasks_key(const std::string& framework_id, const std::string& agent_id,
                               const std::string& executor_id) {
  // Framework and agent ids are the master's own, without '/'.
  return framework_id + "/" + agent_id + "/" + executor_id;
}

json::object executor_json(const op::ExecutorState& executor, const ExecutorTasks& tasks) {
  json::object out;
  out["executor_id"] = executor.executor_id;
  out["name"] = executor.name;
  out["framework_id"] = executor.framework_id;
  out["slave_id"] = executor.agent_id;
  out["resources"] = resources_json(executor.resources);
  json::array ids;
  auto it = tasks.find(
      executor_tasks_key(executor.framework_id, executor.agent_id, executor.executor_id));
  if (it != tasks.end()) {
    for (const std::string& id : it->second) ids.emplace_back(id);
  }
  out["tasks"] = std::move(ids);
  return out;
}

json::object state_json(const op::State& state, const StateContext& context) {
  ExecutorTasks executor_tasks;
  size_t active = std::min<size_t>(state.active_tasks, state.tasks.size());
  for (size_t i = 0; i < active; ++i) {
    const op::TaskState& task = state.tasks[i];
    if (task.executor_id.empty()) continue;
    executor_tasks[executor_tasks_key(task.framework_id, task.agent_id, task.executor_id)]
        .push_back(task.task_id);
  }
  return state_json(state, context, executor_tasks);
}

json::object state_json(const op::State& state, const StateContext& context,
                        const ExecutorTasks& executor_tasks) {
  json::object out;
  out["id"] = state.master_id;
  out["hostname"] = state.hostname;
  out["version"] = state.version;
  out["start_time"] = number_json(state.start_time);
  out["leader"] = state.endpoint;
  out["leader_http"] = context.leader_http;
  int64_t active = 0;
  int64_t total = 0;
  json::array slaves;
  if (context.agents != nullptr) {
    active = context.agents->active;
    total = static_cast<int64_t>(context.agents->agents.size());
  } else {
    for (const auto& agent : state.agents) {
      if (agent.active) ++active;
      slaves.push_back(agent_json(agent));
    }
    total = static_cast<int64_t>(state.agents.size());
  }
  out["activated_slaves"] = active;
  out["deactivated_slaves"] = total - active;
  out["slaves"] = std::move(slaves);

  // Each framework with its tasks, completed tasks and offers; tasks of frameworks the master
  // no longer knows are listed on their own.
  std::map<std::string, json::object> frameworks;
  for (const auto& framework : state.frameworks) {
    json::object f = framework_json(framework);
    f["tasks"] = json::array();
    f["completed_tasks"] = json::array();
    f["offers"] = json::array();
    f["executors"] = json::array();
    frameworks.emplace(framework.framework_id, std::move(f));
  }
  json::array orphans;
  for (size_t i = 0; i < state.tasks.size(); ++i) {
    const op::TaskState& task = state.tasks[i];
    bool active_task = i < state.active_tasks;
    auto it = frameworks.find(task.framework_id);
    if (it == frameworks.end()) {
      orphans.push_back(task_json(task));
      continue;
    }
    it->second[active_task ? "tasks" : "completed_tasks"].as_array().push_back(task_json(task));
  }
  // Offers written already (context.offers) are copied in by TaskView::state_pieces.
  if (context.offers == nullptr) {
    for (const auto& offer : state.offers) {
      auto it = frameworks.find(offer.framework_id);
      if (it == frameworks.end()) continue;
      it->second["offers"].as_array().push_back(offer_json(offer));
    }
  }
  for (const auto& executor : state.executors) {
    auto it = frameworks.find(executor.framework_id);
    if (it == frameworks.end()) continue;
    it->second["executors"].as_array().push_back(executor_json(executor, executor_tasks));
  }
  json::array framework_list;
  for (auto& [id, f] : frameworks) framework_list.push_back(std::move(f));
  out["frameworks"] = std::move(framework_list);
  out["orphan_tasks"] = std::move(orphans);
  json::array roles;
  for (const auto& role : state.roles) roles.push_back(role_json(role));
  out["roles"] = std::move(roles);
  json::object proxied;
  for (const auto& [framework, path] : context.frameworks_http) proxied[framework] = path;
  out["frameworks_http"] = std::move(proxied);
  return out;
}

namespace {

Result<size_t> count_value(const char* key, const std::optional<std::string>& text, size_t fallback,
                           size_t high) {
  if (!text) return fallback;
  size_t value = 0;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (text->empty() || ec != std::errc() || end != text->data() + text->size() || value > high) {
    return make_error(ErrorCode::kInvalidArgument,
                      std::string(key) + " must be a whole number from 0 to " +
                          std::to_string(high) + ", not '" + text->substr(0, 64) + "'");
  }
  return value;
}

}  // namespace

Result<TaskQuery> TaskQuery::parse(const std::optional<std::string>& limit,
                                   const std::optional<std::string>& offset,
                                   const std::optional<std::string>& state,
                                   const std::optional<std::string>& framework_id,
                                   const std::optional<std::string>& text) {
  TaskQuery query;
  TESSERA_ASSIGN_OR_RETURN(query.limit, count_value("limit", limit, 100, kMaxLimit));
  TESSERA_ASSIGN_OR_RETURN(query.offset, count_value("offset", offset, 0, 1'000'000'000));
  if (state && !state->empty()) {
    if (!protocol::state::known(*state)) {
      return make_error(
          ErrorCode::kInvalidArgument,
          "state must be a task state such as TASK_RUNNING, not '" + state->substr(0, 64) + "'");
    }
    query.state = *state;
  }
  if (framework_id) query.framework_id = *framework_id;
  if (text) query.text = *text;
  if (query.text.size() > 1024 || query.framework_id.size() > 1024) {
    return make_error(ErrorCode::kInvalidArgument, "framework_id and q are at most 1024 bytes");
  }
  return query;
}

json::object tasks_page(const op::State& state, const TaskQuery& query) {
  json::array page;
  size_t total = 0;
  for (const op::TaskState& task : state.tasks) {
    if (!query.state.empty() && task.state != query.state) continue;
    if (!query.framework_id.empty() && task.framework_id != query.framework_id) continue;
    if (!query.text.empty() && task.task_id.find(query.text) == std::string::npos &&
        task.name.find(query.text) == std::string::npos) {
      continue;
    }
    if (total >= query.offset && page.size() < query.limit) page.push_back(task_json(task));
    ++total;
  }
  json::object out;
  out["total"] = total;
  out["tasks"] = std::move(page);
  return out;
}

namespace {

// A label value in the exposition format: backslash, double quote and newline escaped.
std::string label(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string number(double value) {
  if (!std::isfinite(value)) return "0";
  char text[64];
  auto [end, ec] = std::to_chars(text, text + sizeof text, value);
  return ec == std::errc() ? std::string(text, end) : "0";
}

// A histogram bucket's bound as Prometheus clients write it: "0.0001", never "1e-04".
std::string bucket_bound(double value) {
  char text[64];
  auto [end, ec] = std::to_chars(text, text + sizeof text, value, std::chars_format::general);
  return ec == std::errc() ? std::string(text, end) : "0";
}

class Exposition {
 public:
  void family(const char* name, const char* type, const char* help) {
    out_ += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  }
  void sample(const char* name, double value, std::string_view labels = {}) {
    out_ += name;
    if (!labels.empty()) {
      out_ += '{';
      out_ += labels;
      out_ += '}';
    }
    out_ += ' ' + number(value) + '\n';
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

}  // namespace

std::string StateTiming::header() const {
  std::string out;
  for (size_t i = 0; i + 1 < marks_; ++i) {
    double ms = std::chrono::duration<double, std::milli>(at_[i + 1] - at_[i]).count();
    char text[64];
    std::snprintf(text, sizeof text, "%s%s;dur=%.2f", out.empty() ? "" : ", ", kPhases[i], ms);
    out += text;
  }
  return out;
}

std::string metrics_text(const op::Metrics& m, bool leading, const ApiCounters& api) {
  Exposition e;
  e.family("tessera_master_elected", "gauge", "1 while this master leads and serves");
  e.sample("tessera_master_elected", leading ? 1 : 0);
  e.family("tessera_master_start_time_seconds", "gauge", "when the master process started");
  e.sample("tessera_master_start_time_seconds", m.start_time);
  e.family("tessera_master_agents", "gauge", "agents by state");
  e.sample("tessera_master_agents", static_cast<double>(m.agents_active), "state=\"active\"");
  e.sample("tessera_master_agents", static_cast<double>(m.agents_inactive),
           "state=\"unreachable\"");
  e.family("tessera_master_frameworks", "gauge", "frameworks by state");
  e.sample("tessera_master_frameworks", static_cast<double>(m.frameworks_connected),
           "state=\"connected\"");
  e.sample("tessera_master_frameworks", static_cast<double>(m.frameworks_disconnected),
           "state=\"disconnected\"");
  e.family("tessera_master_tasks", "gauge", "tasks the master tracks, by latest state");
  for (const auto& [state, count] : m.tasks) {
    e.sample("tessera_master_tasks", static_cast<double>(count), "state=\"" + label(state) + "\"");
  }
  e.family("tessera_master_completed_tasks", "gauge",
           "finished tasks whose summaries the master keeps, by state");
  for (const auto& [state, count] : m.completed_tasks) {
    e.sample("tessera_master_completed_tasks", static_cast<double>(count),
             "state=\"" + label(state) + "\"");
  }
  auto resources = [&](const char* name, const char* help, const protocol::Resources& r) {
    e.family(name, "gauge", help);
    for (const char* kind : {"cpus", "mem", "disk"}) {
      e.sample(name, r.scalar(kind), std::string("resource=\"") + kind + "\"");
    }
    for (const auto& [kind, value] : r.scalars) {
      if (kind != "cpus" && kind != "mem" && kind != "disk") {
        e.sample(name, value, "resource=\"" + label(kind) + "\"");
      }
    }
  };
  resources("tessera_master_resources_total", "resources of active agents (mem and disk in MiB)",
            m.total);
  resources("tessera_master_resources_used", "resources held by live tasks", m.used);
  resources("tessera_master_resources_offered", "resources in outstanding offers", m.offered);
  e.family("tessera_master_outstanding_offers", "gauge", "offers not yet accepted or declined");
  e.sample("tessera_master_outstanding_offers", static_cast<double>(m.outstanding_offers));
  e.family("tessera_master_messages_received_total", "counter",
           "messages received from agents, frameworks and operators");
  e.sample("tessera_master_messages_received_total",
           static_cast<double>(m.counters.messages_received));
  e.family("tessera_master_messages_sent_total", "counter",
           "messages sent to agents, frameworks and operators");
  e.sample("tessera_master_messages_sent_total", static_cast<double>(m.counters.messages_sent));
  // A Prometheus histogram: cumulative buckets up to +Inf, then the sum and the count.
  e.family("tessera_master_allocation_cycle_seconds", "histogram",
           "how long the allocation cycles that made grants took");
  const std::vector<uint64_t>& cycles = m.counters.allocation_cycle_buckets;
  uint64_t cumulative = 0;
  size_t bounds = std::size(op::kAllocationCycleBuckets);
  for (size_t i = 0; i <= bounds; ++i) {
    cumulative += i < cycles.size() ? cycles[i] : 0;
    std::string le = i < bounds ? bucket_bound(op::kAllocationCycleBuckets[i]) : "+Inf";
    e.sample("tessera_master_allocation_cycle_seconds_bucket", static_cast<double>(cumulative),
             "le=\"" + le + "\"");
  }
  // Entries past +Inf (a newer master's extra buckets) are counted in the total all the same.
  for (size_t i = bounds + 1; i < cycles.size(); ++i) cumulative += cycles[i];
  e.sample("tessera_master_allocation_cycle_seconds_sum", m.counters.allocation_cycle_seconds_sum);
  e.sample("tessera_master_allocation_cycle_seconds_count", static_cast<double>(cumulative));
  e.family("tessera_master_events_published_total", "counter",
           "events published on the master event stream");
  e.sample("tessera_master_events_published_total",
           static_cast<double>(m.counters.events_published));
  e.family("tessera_master_allocations_total", "counter", "allocation batches from the allocator");
  e.sample("tessera_master_allocations_total", static_cast<double>(m.counters.allocations));
  e.family("tessera_master_http_event_subscribers", "gauge", "clients holding /events open");
  e.sample("tessera_master_http_event_subscribers", static_cast<double>(api.event_subscribers));
  e.family("tessera_master_http_events_sent_total", "counter", "events published on /events");
  e.sample("tessera_master_http_events_sent_total", static_cast<double>(api.events_sent));
  e.family("tessera_master_http_events_lost_total", "counter",
           "gaps in the master event stream (clients were told to read the state again)");
  e.sample("tessera_master_http_events_lost_total", static_cast<double>(api.events_lost));
  e.family("tessera_master_http_state_copy_reads_total", "counter",
           "times the API read the master's whole state again for its copy of the tasks after "
           "missing events");
  e.sample("tessera_master_http_state_copy_reads_total", static_cast<double>(api.view_resyncs));
  e.family("tessera_master_http_state_bodies_reused_total", "counter",
           "/state answers sent again from the body of an earlier one (nothing had changed)");
  e.sample("tessera_master_http_state_bodies_reused_total",
           static_cast<double>(api.state_bodies_reused));
  e.family("tessera_master_http_state_summaries_partial_total", "counter",
           "state summaries in which the master named only the agents and offers that changed "
           "since the last one (only their JSON was written)");
  e.sample("tessera_master_http_state_summaries_partial_total",
           static_cast<double>(api.partial_summaries));
  e.family("tessera_master_http_event_queue_bytes", "gauge",
           "bytes of events written for /events clients and not yet sent to them, in all");
  e.sample("tessera_master_http_event_queue_bytes", static_cast<double>(api.event_queue_bytes));
  e.family("tessera_master_http_event_queue_max_bytes", "gauge",
           "the most bytes waiting for one /events client");
  e.sample("tessera_master_http_event_queue_max_bytes",
           static_cast<double>(api.event_queue_max_bytes));
  e.family("tessera_master_http_slow_readers_total", "counter",
           "/events clients dropped because they did not read");
  e.sample("tessera_master_http_slow_readers_total", static_cast<double>(api.slow_readers));
  e.family("tessera_master_http_requests_total", "counter", "HTTP requests routed");
  e.sample("tessera_master_http_requests_total", static_cast<double>(api.requests));
  e.family("tessera_master_http_proxied_total", "counter",
           "requests forwarded to Marathon or Chronos (/marathon, /chronos)");
  e.sample("tessera_master_http_proxied_total", static_cast<double>(api.proxied));
  e.family("tessera_master_http_proxy_failures_total", "counter",
           "forwarded requests their upstream did not answer (502, 504)");
  e.sample("tessera_master_http_proxy_failures_total", static_cast<double>(api.proxy_failures));
  return e.take();
}

namespace {

auto invalid(const std::string& message) {
  return make_error(ErrorCode::kInvalidArgument, message);
}

Result<double> finite_number(const json::value& value, const char* what) {
  if (!value.is_number()) return invalid(std::string(what) + " must be a number");
  double n = value.to_number<double>();
  if (!std::isfinite(n) || n < 0 || n > 1e10) {
    return invalid(std::string(what) + " must be a finite number from 0 to 1e10");
  }
  return n;
}

}  // namespace

Result<op::UpdateRole> role_update(const std::string& role, const json::value& body) {
  if (!body.is_object()) return invalid("the body must be a JSON object");
  op::UpdateRole update;
  update.role = role;
  bool any = false;
  for (const auto& [key, value] : body.as_object()) {
    if (key == "weight") {
      TESSERA_ASSIGN_OR_RETURN(update.weight, finite_number(value, "weight"));
    } else if (key == "priority") {
      if (!value.is_int64() && !value.is_uint64()) return invalid("priority must be an integer");
      if (value.is_uint64() && value.as_uint64() > uint64_t{1} << 53) {
        return invalid("priority is out of range");
      }
      update.set_priority = true;
      update.priority = value.to_number<int64_t>();
      if (update.priority < -(int64_t{1} << 53) || update.priority > int64_t{1} << 53) {
        return invalid("priority is out of range");
      }
    } else if (key == "quota") {
      if (!value.is_object()) return invalid("quota must be an object such as {\"cpus\": 4}");
      update.set_quota = true;
      for (const auto& [name, amount] : value.as_object()) {
        if (name.empty() || name.size() > 64)
          return invalid("a quota names an empty or long resource");
        std::string what = "quota '" + std::string(name) + "'";
        TESSERA_ASSIGN_OR_RETURN(update.quota.scalars[std::string(name)],
                                 finite_number(amount, what.c_str()));
      }
    } else {
      return invalid("unknown key '" + std::string(key).substr(0, 64) +
                     "' (expected weight, quota, priority)");
    }
    any = true;
  }
  if (!any) return invalid("nothing to change: give weight, quota or priority");
  return update;
}

Result<protocol::files::Request> files_request(const std::string& operation,
                                               const std::optional<std::string>& task_id,
                                               const std::optional<std::string>& framework_id,
                                               const std::optional<std::string>& path,
                                               const std::optional<std::string>& offset,
                                               const std::optional<std::string>& length) {
  namespace files = protocol::files;
  files::Request request;
  request.operation = operation;
  if (!task_id || task_id->empty() || task_id->size() > 256) {
    return invalid("task_id is required (1 to 256 bytes)");
  }
  request.task_id = *task_id;
  if (framework_id) request.framework_id = framework_id->substr(0, 257);
  if (path) request.path = *path;
  if (request.path.size() > files::kMaxPathBytes) return invalid("path is longer than 4096 bytes");
  if (operation == files::kRead && request.path.empty()) {
    return invalid("path is required: the file to read, such as stdout");
  }
  if (offset) {
    int64_t value = 0;
    auto [end, ec] = std::from_chars(offset->data(), offset->data() + offset->size(), value);
    if (offset->empty() || ec != std::errc() || end != offset->data() + offset->size() ||
        value < -1) {
      return invalid("offset must be a whole number from -1 (the size only), not '" +
                     offset->substr(0, 64) + "'");
    }
    request.offset = value;
  }
  TESSERA_ASSIGN_OR_RETURN(
      request.length, count_value("length", length, files::kMaxReadBytes, files::kMaxReadBytes));
  return request;
}

unsigned files_status(const std::string& code) {
  if (code == protocol::files::code::kNotFound) return 404;
  if (code == protocol::files::code::kInvalid) return 400;
  return 503;
}

json::array browse_json(const protocol::files::Answer& answer) {
  json::array out;
  for (const auto& entry : answer.entries) {
    out.push_back(json::object{{"path", entry.path},
                               {"size", entry.size},
                               {"mtime", number_json(entry.mtime)},
                               {"mode", entry.mode}});
  }
  return out;
}

json::object read_json(const protocol::files::Answer& answer) {
  return json::object{{"data", answer.data}, {"offset", answer.offset}, {"size", answer.size}};
}

namespace {

ApiEvent event_of(const char* name, const json::object& data) {
  return ApiEvent{name, json::serialize(data)};
}

}  // namespace

ApiEvent api_event(const events::AgentAdded& event) {
  return event_of(event.reregistered ? "agent_updated" : "agent_added", agent_json(event.agent));
}
ApiEvent api_event(const events::AgentRemoved& event) {
  return event_of("agent_removed", json::object{{"id", event.agent_id}, {"reason", event.reason}});
}
ApiEvent api_event(const events::FrameworkAdded& event) {
  return event_of(event.resubscribed ? "framework_updated" : "framework_added",
                  framework_json(event.framework));
}
ApiEvent api_event(const events::FrameworkRemoved& event) {
  return event_of("framework_removed",
                  json::object{{"id", event.framework_id}, {"reason", event.reason}});
}
ApiEvent api_event(const events::TaskAdded& event) {
  return event_of("task_added", task_json(event.task));
}
ApiEvent api_event(const events::TaskUpdated& event) {
  return event_of("task_updated", task_json(event.task));
}
ApiEvent api_event(const events::TaskRemoved& event) {
  // The master stops tracking it: it is among the completed tasks now, in its last state.
  json::object task = task_json(event.task);
  task["completed"] = true;
  return event_of("task_updated", task);
}

ApiEvent api_event(const events::TaskAdded&, const std::string& task_json) {
  return ApiEvent{"task_added", task_json};
}
ApiEvent api_event(const events::TaskUpdated&, const std::string& task_json) {
  return ApiEvent{"task_updated", task_json};
}
ApiEvent api_event(const events::TaskRemoved&, const std::string& task_json) {
  // "completed" is the last member, as the object above appends it.
  std::string data = task_json;
  if (!data.empty() && data.back() == '}') data.pop_back();
  data += data.size() > 1 ? R"(,"completed":true})" : R"("completed":true})";
  return ApiEvent{"task_updated", std::move(data)};
}

}  // namespace tessera::master_http

#include "task_view.h"

#include <algorithm>
#include <iterator>
#include <string_view>
#include <utility>

namespace tessera::master_http {

namespace json = boost::json;
namespace op = protocol::operator_api;

namespace {

// The master's key of a tracked task (host/master/model.h task_key), so that the copy keeps the
// master's order.
std::string task_key(const std::string& framework_id, const std::string& task_id) {
  return framework_id + "/" + task_id;
}
std::string task_key(const op::TaskState& task) {
  return task_key(task.framework_id, task.task_id);
}

// Appends one element's JSON to a list being written without its brackets.
void append_element(std::string& list, const std::string& element) {
  if (!list.empty()) list += ',';
  list += element;
}

void append_key(std::string& out, std::string_view key) {
  out += json::serialize(json::string_view(key.data(), key.size()));
  out += ':';
}

bool same_usage(const protocol::ResourceUsage& a, const protocol::ResourceUsage& b) {
  return a.timestamp == b.timestamp && a.cpu_seconds == b.cpu_seconds &&
         a.mem_bytes == b.mem_bytes && a.mem_peak_bytes == b.mem_peak_bytes;
}

bool matches(const op::TaskState& task, const TaskQuery& query) {
  if (!query.state.empty() && task.state != query.state) return false;
  if (!query.framework_id.empty() && task.framework_id != query.framework_id) return false;
  return query.text.empty() || task.task_id.find(query.text) != std::string::npos ||
         task.name.find(query.text) != std::string::npos;
}

}  // namespace

TaskView::Entry TaskView::entry_of(op::TaskState task) {
  Entry entry;
  entry.json = json::serialize(task_json(task));
  entry.task = std::move(task);
  return entry;
}

void TaskView::reset(const op::State& state, uint64_t sequence) {
  clear();
  size_t active = std::min<size_t>(state.active_tasks, state.tasks.size());
  for (size_t i = 0; i < active; ++i) track(state.tasks[i]);
  // The state lists finished tasks newest first; the copy keeps them oldest first.
  for (size_t i = state.tasks.size(); i > active; --i) {
    completed_.push_back(entry_of(state.tasks[i - 1]));
  }
  trim_completed();
  master_id_ = state.master_id;
  sequence_ = sequence;
  synced_ = true;
}

void TaskView::clear() {
  synced_ = false;
  sequence_ = 0;
  master_id_.clear();
  active_.clear();
  completed_.clear();
  executor_tasks_.clear();
  placed_.reset();
  ++version_;
}

void TaskView::track(op::TaskState task) {
  std::string key = task_key(task);
  auto it = active_.find(key);
  if (it != active_.end() && (it->second.task.executor_id != task.executor_id ||
                              it->second.task.agent_id != task.agent_id)) {
    untrack(key);
  }
  if (!task.executor_id.empty()) {
    executor_tasks_[executor_tasks_key(task.framework_id, task.agent_id, task.executor_id)].insert(
        task.task_id);
  }
  active_.insert_or_assign(std::move(key), entry_of(std::move(task)));
  ++version_;
}

void TaskView::untrack(const std::string& key) {
  auto it = active_.find(key);
  if (it == active_.end()) return;
  const op::TaskState& task = it->second.task;
  if (!task.executor_id.empty()) {
    auto runs = executor_tasks_.find(
        executor_tasks_key(task.framework_id, task.agent_id, task.executor_id));
    if (runs != executor_tasks_.end()) {
      runs->second.erase(task.task_id);
      if (runs->second.empty()) executor_tasks_.erase(runs);
    }
  }
  active_.erase(it);
  ++version_;
}

TaskView::Step TaskView::advance(uint64_t sequence) {
  if (!synced_) return Step::gap;
  if (sequence <= sequence_) return Step::stale;
  if (sequence != sequence_ + 1) {
    clear();
    return Step::gap;
  }
  sequence_ = sequence;
  return Step::applied;
}

TaskView::Step TaskView::tracked(uint64_t sequence, const op::TaskState& task) {
  Step step = advance(sequence);
  if (step == Step::applied) track(task);
  return step;
}

TaskView::Step TaskView::finished(uint64_t sequence, const op::TaskState& summary) {
  Step step = advance(sequence);
  if (step != Step::applied) return step;
  untrack(task_key(summary));
  completed_.push_back(entry_of(summary));
  ++version_;
  trim_completed();
  return step;
}

TaskView::Step TaskView::other(uint64_t sequence) { return advance(sequence); }

void TaskView::apply_usages(const std::vector<op::TaskUsage>& usages) {
  for (const op::TaskUsage& usage : usages) {
    auto it = active_.find(task_key(usage.framework_id, usage.task_id));
    if (it == active_.end() || same_usage(it->second.task.usage, usage.usage)) continue;
    op::TaskState task = std::move(it->second.task);
    task.usage = usage.usage;
    it->second = entry_of(std::move(task));
    ++version_;
  }
}

void TaskView::set_max_completed(uint64_t max_completed) {
  max_completed_ = std::min(max_completed, kDefaultMaxCompleted);
  trim_completed();
}

void TaskView::trim_completed() {
  while (completed_.size() > max_completed_) {
    completed_.pop_front();
    ++version_;
  }
}

const TaskView::Placed& TaskView::placed(const op::State& summary) const {
  std::vector<std::string> frameworks;
  frameworks.reserve(summary.frameworks.size());
  for (const auto& framework : summary.frameworks) frameworks.push_back(framework.framework_id);
  if (placed_ && placed_->version == version_ && placed_->frameworks == frameworks) {
    return *placed_;
  }
  // The tasks' JSON by framework, in the order state_json lists them: tracked tasks in the
  // master's order, then finished ones newest first; those of frameworks the summary does not
  // list among the orphans.
  Placed& out = placed_.emplace();
  out.version = version_;
  for (const std::string& id : frameworks) out.lists[id];
  out.frameworks = std::move(frameworks);
  auto place = [&out](const Entry& entry, bool active) {
    auto it = out.lists.find(entry.task.framework_id);
    if (it == out.lists.end()) return append_element(out.orphans, entry.json);
    append_element(active ? it->second.tasks : it->second.completed, entry.json);
  };
  for (const auto& [key, entry] : active_) place(entry, true);
  for (auto it = completed_.rbegin(); it != completed_.rend(); ++it) place(*it, false);
  return out;
}

std::string TaskView::state_body(const op::State& summary, const StateContext& context) const {
  const Placed& lists = placed(summary);
  ExecutorTasks executor_tasks;
  for (const auto& [key, ids] : executor_tasks_) {
    executor_tasks.emplace(key, std::vector<std::string>(ids.begin(), ids.end()));
  }

  // The rest is state_json's own, written member by member so that the task lists are copied
  // in where its empty ones stand.
  op::State without_tasks;
  const op::State* shown = &summary;
  if (!summary.tasks.empty()) {
    without_tasks = summary;
    without_tasks.tasks.clear();
    shown = &without_tasks;
  }
  json::object state = state_json(*shown, context, executor_tasks);
  size_t bytes = lists.orphans.size() + 2;
  for (const auto& [id, own] : lists.lists) bytes += own.tasks.size() + own.completed.size() + 4;
  std::string out;
  out.reserve(bytes + 4096 + summary.agents.size() * 512 + summary.executors.size() * 256);
  auto append_list = [&out](const std::string& elements) {
    out += '[';
    out += elements;
    out += ']';
  };
  out += '{';
  bool first = true;
  for (const auto& member : state) {
    if (!first) out += ',';
    first = false;
    append_key(out, member.key());
    if (member.key() == "orphan_tasks") {
      append_list(lists.orphans);
    } else if (member.key() == "frameworks" && member.value().is_array()) {
      out += '[';
      bool first_framework = true;
      for (const json::value& value : member.value().as_array()) {
        if (!first_framework) out += ',';
        first_framework = false;
        const json::object& framework = value.as_object();
        const json::value* id = framework.if_contains("id");
        const Lists* own = nullptr;
        if (id != nullptr && id->is_string()) {
          auto it = lists.lists.find(std::string_view(id->as_string()));
          if (it != lists.lists.end()) own = &it->second;
        }
        out += '{';
        bool first_field = true;
        for (const auto& field : framework) {
          if (!first_field) out += ',';
          first_field = false;
          append_key(out, field.key());
          if (own != nullptr && field.key() == "tasks") {
            append_list(own->tasks);
          } else if (own != nullptr && field.key() == "completed_tasks") {
            append_list(own->completed);
          } else {
            out += json::serialize(field.value());
          }
        }
        out += '}';
      }
      out += ']';
    } else {
      out += json::serialize(member.value());
    }
  }
  out += '}';
  return out;
}

std::string TaskView::tasks_page_body(const TaskQuery& query) const {
  std::string page;
  size_t total = 0;
  size_t shown = 0;
  auto visit = [&](const Entry& entry) {
    if (!matches(entry.task, query)) return;
    if (total >= query.offset && shown < query.limit) {
      append_element(page, entry.json);
      ++shown;
    }
    ++total;
  };
  bool filtered = !query.state.empty() || !query.framework_id.empty() || !query.text.empty();
  if (filtered) {
    for (const auto& [key, entry] : active_) visit(entry);
    for (auto it = completed_.rbegin(); it != completed_.rend(); ++it) visit(*it);
  } else {
    // Every task matches: step to the page and write only its tasks.
    total = active_.size() + completed_.size();
    size_t index = query.offset;
    if (index < active_.size()) {
      const std::vector<const Entry*>& order = active_order();
      for (; index < order.size() && shown < query.limit; ++index, ++shown) {
        append_element(page, order[index]->json);
      }
      index = 0;
    } else {
      index -= active_.size();
    }
    for (auto it = completed_.rbegin() +
                   static_cast<std::ptrdiff_t>(std::min<size_t>(index, completed_.size()));
         it != completed_.rend() && shown < query.limit; ++it, ++shown) {
      append_element(page, it->json);
    }
  }
  std::string out = "{";
  append_key(out, "total");
  out += std::to_string(total);
  out += ',';
  append_key(out, "tasks");
  out += '[' + page + "]}";
  return out;
}

const std::vector<const TaskView::Entry*>& TaskView::active_order() const {
  if (active_order_version_ != version_) {
    active_order_.clear();
    active_order_.reserve(active_.size());
    for (const auto& [key, entry] : active_) active_order_.push_back(&entry);
    active_order_version_ = version_;
  }
  return active_order_;
}

std::vector<op::TaskState> TaskView::tasks() const {
  std::vector<op::TaskState> out;
  out.reserve(active_.size() + completed_.size());
  for (const auto& [key, entry] : active_) out.push_back(entry.task);
  for (auto it = completed_.rbegin(); it != completed_.rend(); ++it) out.push_back(it->task);
  return out;
}

}  // namespace tessera::master_http

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

TaskView::Entry TaskView::entry_of(op::TaskState task, std::string written) {
  Entry entry;
  entry.json = written.empty() ? json::serialize(task_json(task)) : std::move(written);
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
  blocks_.clear();
  ++version_;
}

TaskView::Block& TaskView::block_of(const std::string& framework_id, const std::string& key) {
  Blocks& blocks = blocks_[framework_id];
  auto it = blocks.upper_bound(key);
  if (it != blocks.begin()) return std::prev(it)->second;
  if (blocks.empty()) return blocks[key];
  // Before the first block: it starts at this task from now on.
  auto first = blocks.extract(blocks.begin());
  first.key() = key;
  return blocks.insert(std::move(first)).position->second;
}

void TaskView::write_blocks(const std::string& framework_id, Blocks& blocks) const {
  std::string prefix = framework_id + "/";
  for (auto it = blocks.begin(); it != blocks.end();) {
    if (!it->second.dirty) {
      ++it;
      continue;
    }
    auto next = std::next(it);
    // The block's tasks: from its key to the next block's, those of this framework (another
    // framework's id may begin with this one's and a '/').
    std::vector<const Entry*> entries;
    entries.reserve(it->second.count);
    for (auto task = active_.lower_bound(it->first); task != active_.end(); ++task) {
      if (next != blocks.end() && task->first >= next->first) break;
      if (task->first.compare(0, prefix.size(), prefix) != 0) break;
      if (task->second.task.framework_id == framework_id) entries.push_back(&task->second);
    }
    if (entries.empty()) {
      it = blocks.erase(it);
      continue;
    }
    // Past twice the size, one block becomes several of block_tasks_ each.
    size_t size = entries.size() > 2 * block_tasks_ ? block_tasks_ : entries.size();
    auto at = it;
    for (size_t start = 0; start < entries.size(); start += size) {
      size_t end = std::min(entries.size(), start + size);
      if (start > 0) at = blocks.emplace_hint(next, task_key(entries[start]->task), Block{});
      std::string list;
      size_t bytes = 0;
      for (size_t i = start; i < end; ++i) bytes += entries[i]->json.size() + 1;
      list.reserve(bytes);
      for (size_t i = start; i < end; ++i) append_element(list, entries[i]->json);
      at->second.count = end - start;
      at->second.dirty = false;
      at->second.json = std::make_shared<const std::string>(std::move(list));
    }
    it = next;
  }
}

void TaskView::write_changed_blocks() const {
  for (auto& [id, blocks] : blocks_) write_blocks(id, blocks);
}

void TaskView::track(op::TaskState task, std::string written) {
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
  Block& block = block_of(task.framework_id, key);
  block.dirty = true;
  auto [at, added] =
      active_.insert_or_assign(std::move(key), entry_of(std::move(task), std::move(written)));
  if (added) ++block.count;
  ++version_;
}

void TaskView::untrack(const std::string& key) {
  auto it = active_.find(key);
  if (it == active_.end()) return;
  const op::TaskState& task = it->second.task;
  Block& block = block_of(task.framework_id, key);
  block.dirty = true;
  if (block.count > 0) --block.count;
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

TaskView::Step TaskView::tracked(uint64_t sequence, const op::TaskState& task,
                                 std::string written) {
  Step step = advance(sequence);
  if (step == Step::applied) track(task, std::move(written));
  return step;
}

TaskView::Step TaskView::finished(uint64_t sequence, const op::TaskState& summary,
                                  std::string written) {
  Step step = advance(sequence);
  if (step != Step::applied) return step;
  untrack(task_key(summary));
  completed_.push_back(entry_of(summary, std::move(written)));
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
    block_of(task.framework_id, it->first).dirty = true;
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
  // master's order (the framework's blocks, only the changed ones written again), then
  // finished ones newest first; those of frameworks the summary does not list among the
  // orphans.
  Placed& out = placed_.emplace();
  out.version = version_;
  std::map<std::string, std::string, std::less<>> completed;
  for (const std::string& id : frameworks) {
    out.lists[id];
    completed[id];
  }
  out.frameworks = std::move(frameworks);
  std::string orphans;
  bool tracked_orphans = false;
  for (auto& [id, blocks] : blocks_) {
    auto own = out.lists.find(id);
    if (own == out.lists.end()) {
      tracked_orphans = tracked_orphans || !blocks.empty();
      continue;
    }
    write_blocks(id, blocks);
    for (const auto& [key, block] : blocks) own->second.tasks.push_back(block.json);
  }
  if (tracked_orphans) {
    // In the master's order across every framework not listed.
    for (const auto& [key, entry] : active_) {
      if (!out.lists.contains(entry.task.framework_id)) append_element(orphans, entry.json);
    }
  }
  for (auto it = completed_.rbegin(); it != completed_.rend(); ++it) {
    auto list = completed.find(it->task.framework_id);
    append_element(list == completed.end() ? orphans : list->second, it->json);
  }
  for (auto& [id, list] : completed) {
    out.lists[id].completed = std::make_shared<const std::string>(std::move(list));
  }
  out.orphans = std::make_shared<const std::string>(std::move(orphans));
  return out;
}

std::string TaskView::state_body(const op::State& summary, const StateContext& context) const {
  std::string out;
  for (const Piece& piece : state_pieces(summary, context)) out += *piece;
  return out;
}

std::vector<TaskView::Piece> TaskView::state_pieces(const op::State& summary,
                                                    const StateContext& context) const {
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
  // What lies between the kept lists is written into `out` and becomes a piece of its own at
  // each list.
  std::vector<Piece> pieces;
  std::string out;
  size_t around = 4096 + summary.agents.size() * 512 + summary.executors.size() * 256;
  out.reserve(around);
  auto append_piece = [&out, &pieces](const Piece& elements) {
    if (elements->empty()) return;
    pieces.push_back(std::make_shared<const std::string>(std::move(out)));
    pieces.push_back(elements);
    out = std::string();
    out.reserve(4096);
  };
  auto append_list = [&out, &append_piece](const Piece& elements) {
    out += '[';
    append_piece(elements);
    out += ']';
  };
  auto append_blocks = [&out, &append_piece](const std::vector<Piece>& blocks) {
    out += '[';
    for (size_t i = 0; i < blocks.size(); ++i) {
      if (i > 0) out += ',';
      append_piece(blocks[i]);
    }
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
    } else if (member.key() == "slaves" && context.agents != nullptr) {
      append_list(context.agents->joined);
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
          if (field.key() == "offers" && context.offers != nullptr && id != nullptr &&
              id->is_string()) {
            auto offers = context.offers->joined.find(std::string_view(id->as_string()));
            if (offers == context.offers->joined.end()) {
              out += "[]";
            } else {
              append_list(offers->second);
            }
          } else if (own != nullptr && field.key() == "tasks") {
            append_blocks(own->tasks);
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
  pieces.push_back(std::make_shared<const std::string>(std::move(out)));
  return pieces;
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

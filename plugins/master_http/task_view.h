// The API's own copy of the master's tasks, kept current from the master event stream, so that
// /state and /tasks are written without asking the master for every task (docs/bench-state.md).
//
// It starts from one operator.state (reset), then applies each task event in the order of the
// master's sequence numbers; an event past a gap is refused and the copy must be read again.
// Each task's JSON is written once, when the task changes, and a request copies those bytes.
// Pure logic, unit-tested without a master (tests/task_view_test.cpp).
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "state_json.h"

namespace tessera::master_http {

class TaskView {
 public:
  // The most finished tasks kept until the master says how many it keeps (its default is
  // 1000): a bound on memory, never reached by a master that says.
  static constexpr uint64_t kDefaultMaxCompleted = uint64_t{1} << 20;
  // How many tracked tasks' JSON one kept block holds (it is split past twice this).
  static constexpr size_t kBlockTasks = 1024;

  explicit TaskView(size_t block_tasks = kBlockTasks)
      : block_tasks_(std::max<size_t>(block_tasks, 1)) {}

  // Replaces the copy with `state`'s tasks (tracked, then finished newest first) as they were
  // after the master's event `sequence`.
  void reset(const protocol::operator_api::State& state, uint64_t sequence);
  // Forgets everything: the copy must be read again (a new leader, a gap).
  void clear();
  bool synced() const { return synced_; }
  // The master event the copy is current with.
  uint64_t sequence() const { return sequence_; }
  const std::string& master_id() const { return master_id_; }

  // What an event at `sequence` means for the copy.
  enum class Step {
    applied,  // the next event: the copy is current with it
    stale,    // at or before the copy's sequence (it was in the state read): ignored
    gap,      // events were lost: the copy is cleared and must be read again
  };
  // A task event (master.event.task_added, task_updated: the task as the master tracks it).
  // `written`, when given, is the task's JSON already written
  // (json::serialize(task_json(task))).
  Step tracked(uint64_t sequence, const protocol::operator_api::TaskState& task,
               std::string written = {});
  // master.event.task_removed: the master stops tracking the task and keeps `summary`.
  Step finished(uint64_t sequence, const protocol::operator_api::TaskState& summary,
                std::string written = {});
  // Any other event: only its number counts.
  Step other(uint64_t sequence);

  // What the master's summary says besides the events: the latest usage of tracked tasks, and
  // how many finished tasks it keeps.
  void apply_usages(const std::vector<protocol::operator_api::TaskUsage>& usages);
  void set_max_completed(uint64_t max_completed);

  size_t active_count() const { return active_.size(); }
  size_t completed_count() const { return completed_.size(); }

  // /state's body: json::serialize(state_json(S, context)) for S = `summary` (the master's
  // state without tasks) with this copy's tasks, byte for byte. The tasks' part of it (each
  // framework's lists) is kept between calls until a task changes, so that an answer about an
  // unchanged copy does not walk the tasks.
  std::string state_body(const protocol::operator_api::State& summary,
                         const StateContext& context) const;
  // The same body as pieces to be sent one after another (http::Response::pieces): the tasks'
  // lists are the kept buffers themselves, shared rather than copied, so that an answer of
  // ~54 MB at 200k tasks copies only the few MB around them (docs/bench-state.md). The pieces
  // never change; a later change of the copy places new lists.
  using Piece = std::shared_ptr<const std::string>;
  std::vector<Piece> state_pieces(const protocol::operator_api::State& summary,
                                  const StateContext& context) const;
  // Writes the blocks of tracked tasks that changed since they were last written, as the next
  // state_body would: called once the copy has been quiet for a moment, so that the first
  // /state after a burst (every task of a cluster registering) finds them written.
  void write_changed_blocks() const;
  // Changes whenever a task of the copy changes (for tests: the cache above is rebuilt then).
  uint64_t version() const { return version_; }
  // /tasks's body: json::serialize(tasks_page(S, query)) for the same S, walking the tasks
  // without writing any but the page's.
  std::string tasks_page_body(const TaskQuery& query) const;
  // The copy as operator.state's tasks (tracked, then finished newest first), for tests.
  std::vector<protocol::operator_api::TaskState> tasks() const;

 private:
  struct Entry {
    protocol::operator_api::TaskState task;
    std::string json;  // task_json(task), serialized
  };
  static Entry entry_of(protocol::operator_api::TaskState task, std::string written = {});
  Step advance(uint64_t sequence);
  void trim_completed();
  void track(protocol::operator_api::TaskState task, std::string written = {});
  void untrack(const std::string& key);
  // The tasks' JSON by framework, as state_body places them: rebuilt when the version or the
  // frameworks shown changed.
  struct Lists {
    std::vector<Piece> tasks;  // tracked, in the master's order: its blocks' lists
    Piece completed;           // finished, newest first
  };
  struct Placed {
    // The copy's version they were placed at, set by placed(): with an initializer here, clang
    // could not emplace this nested struct in the optional below.
    uint64_t version;
    std::vector<std::string> frameworks;  // the frameworks' ids these lists were placed for
    std::map<std::string, Lists, std::less<>> lists;
    Piece orphans;  // tasks of frameworks the summary does not list
  };
  const Placed& placed(const protocol::operator_api::State& summary) const;

  bool synced_ = false;
  uint64_t sequence_ = 0;
  std::string master_id_;
  uint64_t max_completed_ = kDefaultMaxCompleted;
  // Tracked tasks by "framework_id/task_id", the master's own key and order.
  std::map<std::string, Entry> active_;
  std::deque<Entry> completed_;  // oldest first, as the master keeps them
  // The tracked tasks each executor runs: task ids by executor_tasks_key().
  std::map<std::string, std::set<std::string>, std::less<>> executor_tasks_;
  uint64_t version_ = 1;
  mutable std::optional<Placed> placed_;
  // Each framework's tracked tasks' JSON in blocks of consecutive tasks (in the master's order),
  // each block's list kept as one piece and written again only when one of its tasks changed:
  // a /state after a few changes (a burst) writes a few blocks, not every task.
  struct Block {
    size_t count = 0;  // tracked tasks in it
    bool dirty = true;
    Piece json;  // their JSON, comma-separated
  };
  // By framework id, then by a key at or before every task key of the block (its first task's
  // when made): a task is in the last block whose key is not after its own.
  using Blocks = std::map<std::string, Block>;
  mutable std::map<std::string, Blocks, std::less<>> blocks_;
  size_t block_tasks_;
  Block& block_of(const std::string& framework_id, const std::string& key);
  // Writes the dirty blocks of `framework_id` again (split when grown past twice block_tasks_).
  void write_blocks(const std::string& framework_id, Blocks& blocks) const;
  // The tracked tasks in the master's order, so that a page deep in /tasks steps to its offset
  // at once: rebuilt by the first page asked after a task changed (version).
  const std::vector<const Entry*>& active_order() const;
  mutable std::vector<const Entry*> active_order_;
  mutable uint64_t active_order_version_ = 0;
};

}  // namespace tessera::master_http

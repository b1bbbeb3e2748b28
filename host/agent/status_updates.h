// The agent's reliable status updates, as pure logic: one ordered stream per task, only the
// head of a stream is ever in flight, and it is resent with exponential backoff until an
// acknowledgement carrying its uuid arrives. An acknowledgement whose uuid is not the head's
// (a duplicate, or one for an update already acknowledged) changes nothing.
//
// Time is an argument of every call, so tests drive it explicitly. Persistence is the caller's
// job (the agent checkpoints an update before it pushes it here). Not thread-safe: owned by the
// agent's loop.
#pragma once

#include <chrono>
#include <compare>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tessera/protocol/task.h"
#include "tessera/sdk/logger.h"

namespace tessera::host::agent {

struct TaskKey {
  std::string framework_id;
  std::string task_id;
  auto operator<=>(const TaskKey&) const =
      default;  // NOLINT(modernize-use-nullptr): clang-tidy 14 misreads a defaulted <=>
  // For logs: the ids come from the wire, so they are escaped and truncated.
  std::string text() const {
    return "task " + sdk::quote(task_id) + " of framework " + sdk::quote(framework_id);
  }
};

class StatusUpdateQueue {
 public:
  using Clock = std::chrono::steady_clock;
  using TimePoint = Clock::time_point;
  using Duration = std::chrono::milliseconds;

  StatusUpdateQueue(Duration initial_backoff, Duration max_backoff)
      : initial_(initial_backoff), max_(max_backoff) {}

  // Appends `status` to its task's stream. When it is the stream's head it is due at `now`.
  void push(const TaskKey& key, protocol::TaskStatus status, TimePoint now);

  // The head of every stream that is due at `now`, to be sent. Each one returned is due again
  // after its current backoff, and its backoff doubles (up to the maximum).
  std::vector<protocol::TaskStatus> due(TimePoint now);

  // An acknowledgement. When `uuid` is the head's, the head is removed and returned, and the next
  // update of the stream (if any) is due at `now` with the initial backoff. Otherwise nothing
  // changes and nullopt is returned (a duplicate or stale acknowledgement).
  std::optional<protocol::TaskStatus> acknowledge(const TaskKey& key, const std::string& uuid,
                                                  TimePoint now);

  // After (re-)registering with a master: every head is due at `now`, backoffs start again.
  void reset(TimePoint now);

  // The unacknowledged updates of a task, oldest first (empty when none).
  std::vector<protocol::TaskStatus> pending(const TaskKey& key) const;
  bool has_pending(const TaskKey& key) const { return streams_.count(key) != 0; }
  void erase(const TaskKey& key) { streams_.erase(key); }

  // When the next resend falls due, or nullopt when nothing waits.
  std::optional<TimePoint> next_due() const;
  size_t size() const;

 private:
  struct Stream {
    std::deque<protocol::TaskStatus> updates;
    TimePoint due;
    Duration backoff;
  };

  Duration initial_;
  Duration max_;
  std::map<TaskKey, Stream> streams_;
};

// A random 128-bit identifier in hex (32 characters), for status update uuids.
std::string random_uuid();

}  // namespace tessera::host::agent

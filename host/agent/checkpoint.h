// What an agent keeps on disk so that a restarted agent is the same agent: its id, and for every
// task it has not finished reporting, the task, its container and its unacknowledged status
// updates.
//
// Layout under the agent's work dir (WORK_DIR/agent):
//   agent_id                                  the id the master gave (plain text)
//   meta/FRAMEWORK/TASK/task                  one TaskCheckpoint (msgpack), rewritten whole
//   sandboxes/FRAMEWORK/TASK/CONTAINER/       the task's working directory (stdout, stderr)
// FRAMEWORK and TASK are the ids with every byte outside [A-Za-z0-9_.-] written as %XX (and
// "." and ".." escaped too), so any id is one safe path component.
//
// Every write goes to a temporary file that is fsynced and renamed over the old one (and the
// directory fsynced), so a crash leaves either the old or the new content, never a mix.
// Not thread-safe: owned by the agent's loop.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "tessera/protocol/task.h"
#include "tessera/result.h"

namespace tessera::host::agent {

struct TaskCheckpoint {
  uint32_t format = 1;
  std::string framework_id;
  protocol::TaskInfo task;
  std::string container_id;  // empty when the task never reached the isolator
  std::string sandbox;
  int64_t pid = 0;    // 0 until the isolator answered the launch
  std::string state;  // the latest state the agent decided on
  bool kill_requested = false;
  std::vector<protocol::TaskStatus> pending;  // unacknowledged updates, oldest first
  MSGPACK_DEFINE_MAP(format, framework_id, task, container_id, sandbox, pid, state, kill_requested,
                     pending);
};

class Checkpoint {
 public:
  explicit Checkpoint(std::filesystem::path root) : root_(std::move(root)) {}

  const std::filesystem::path& root() const { return root_; }

  // The saved agent id, or "" when there is none.
  Result<std::string> read_agent_id() const;
  Status write_agent_id(const std::string& id) const;
  Status remove_agent_id() const;

  // Writes a task's checkpoint (to a temporary file renamed into place). With `durable`
  // false it is not flushed to disk: call sync() before relying on it (group commit).
  Status write_task(const TaskCheckpoint& task, bool durable = true) const;
  // Makes every write so far durable, with one flush of the file system (syncfs).
  Status sync() const;
  // Removes the task's checkpoint (its sandbox stays).
  Status remove_task(const std::string& framework_id, const std::string& task_id) const;
  // Removes every task checkpoint.
  Status remove_all_tasks() const;

  struct Recovered {
    std::vector<TaskCheckpoint> tasks;
    std::vector<std::string> errors;  // unreadable checkpoints (renamed to task.corrupt)
  };
  Recovered read_tasks() const;

  std::filesystem::path task_file(const std::string& framework_id,
                                  const std::string& task_id) const;
  std::filesystem::path sandbox(const std::string& framework_id, const std::string& task_id,
                                const std::string& container_id) const;

  // An id as one safe path component.
  static std::string escape(const std::string& id);

 private:
  std::filesystem::path root_;
};

// Writes `bytes` to `path` atomically (temporary file, fsync, rename, fsync of the directory).
Status write_file_atomically(const std::filesystem::path& path, const std::string& bytes,
                             bool durable = true);

}  // namespace tessera::host::agent

// What an agent keeps on disk so that a restarted agent is the same agent: its id, and for every
// task it has not finished reporting, the task, its container and its unacknowledged status
// updates.
//
// Layout under the agent's work dir (WORK_DIR/agent):
//   agent_id                                  the id the master gave (plain text)
//   meta/tasks.journal                        every task checkpoint change, appended
//   sandboxes/FRAMEWORK/TASK/CONTAINER/       the task's working directory (stdout, stderr)
// FRAMEWORK and TASK are the ids with every byte outside [A-Za-z0-9_.-] written as %XX (and
// "." and ".." escaped too), so any id is one safe path component; an id whose escaped form
// would pass 200 bytes is shortened to its start, '~' and a hash of it (escape()).
//
// The journal is a sequence of records, each a 4-byte little-endian length, the CRC-32 of the
// payload (4 bytes, little-endian) and the payload: a msgpack JournalRecord that puts a task's
// whole TaskCheckpoint or removes it. The last record for a task wins. One file for every task,
// rather than a file per task rewritten through a temporary file, means no inode is created or
// deleted per change: on ext4 that allocation was most of an agent's CPU under a burst of short
// tasks (docs/bench-cluster.md). Appends go to the file at once (write(2)); sync() makes them
// durable with one fdatasync. When the journal is more than twice the live checkpoints (and
// over 1 MiB) it is compacted: the live ones are written to a temporary file that is fsynced
// and renamed over it. Opening it (the first call that needs it) replays and compacts it.
//
// A crash in the middle of an append leaves a torn last record: it is dropped on replay (said
// in Recovered::notes), and the updates it held were never sent, since the agent sends an
// update only after the sync() that follows its checkpoint. A damaged record elsewhere (bad
// length, checksum or content) is skipped: replay goes on at the next intact record (one whose
// payload starts as a JournalRecord and whose CRC matches), so only that record is lost, and it
// is reported in Recovered::errors. Whenever anything is dropped, the journal as found is kept
// as tasks.journal.corrupt.
//
// Not thread-safe: owned by the agent's loop.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
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
  TESSERA_MSGPACK_MAP(format, framework_id, task, container_id, sandbox, pid, state, kill_requested,
                      pending);
};

class Checkpoint {
 public:
  explicit Checkpoint(std::filesystem::path root);
  ~Checkpoint();
  Checkpoint(const Checkpoint&) = delete;
  Checkpoint& operator=(const Checkpoint&) = delete;

  const std::filesystem::path& root() const { return root_; }
  // Opens the journal: takes the work dir's lock (meta/lock, held until destruction, so that
  // two agents never share a work dir), replays the journal and compacts it. Every call below
  // that needs the journal opens it first; the agent calls this at start to fail early.
  Status open();
  std::filesystem::path journal_file() const { return journal_file(root_); }
  static std::filesystem::path journal_file(const std::filesystem::path& root) {
    return root / "meta" / "tasks.journal";
  }

  // The saved agent id, or "" when there is none.
  Result<std::string> read_agent_id() const;
  Status write_agent_id(const std::string& id) const;
  Status remove_agent_id() const;

  // Records a task's checkpoint (appended to the journal). With `durable` false it is not
  // flushed to disk: call sync() before relying on it (group commit).
  Status write_task(const TaskCheckpoint& task, bool durable = true);
  // Makes every write so far durable (one fdatasync), and compacts the journal when due. After
  // a failed flush the next sync() rewrites the whole journal (compaction) instead, since the
  // pages the failed flush lost are not flushed again. A failed write_task() leaves no partial
  // record behind (the journal is cut back to its last whole record).
  Status sync();
  // sync() in three steps, so that the fdatasync (milliseconds on a real disk) can run off the
  // owner's thread while it goes on writing: begin_flush() gives a descriptor of the journal for
  // flush() (a duplicate, which flush() closes), or -1 when what was written is durable already
  // (it compacted the journal instead: after a failed flush, or when the journal has grown to
  // more than twice its live records). flush() is safe on any thread and covers every write made
  // before begin_flush(); end_flush() takes its result back on the owner's thread. One flush at a
  // time: no begin_flush() before the end_flush() of the previous one.
  Result<int> begin_flush();
  static Status flush(int descriptor, const std::filesystem::path& journal);
  void end_flush(const Status& flushed);
  // Removes the task's checkpoint (its sandbox stays). Durable with the next sync().
  Status remove_task(const std::string& framework_id, const std::string& task_id);
  // Removes every task checkpoint, durably.
  Status remove_all_tasks();

  struct Recovered {
    std::vector<TaskCheckpoint> tasks;
    std::vector<std::string> errors;  // damaged records, skipped
    std::vector<std::string> notes;   // a torn last record, dropped
  };
  // The tasks checkpointed and not removed. The first call replays the journal and reports what
  // it found wrong; later calls report nothing more.
  Recovered read_tasks();
  // Reads the journal under `root` without changing anything: for tests and tools, safe while
  // an agent appends to it (a record being written shows as a torn last one).
  static Recovered inspect(const std::filesystem::path& root);

  // The directory of a task's sandboxes (one per container it ran in).
  std::filesystem::path task_sandboxes(const std::string& framework_id,
                                       const std::string& task_id) const;
  std::filesystem::path sandbox(const std::string& framework_id, const std::string& task_id,
                                const std::string& container_id) const;

  // An id as one safe path component: at most kMaxEscapedBytes, escaped whole when that fits,
  // else its first kLongIdPrefixBytes escaped, '~' and a hash of the whole id.
  static constexpr size_t kMaxEscapedBytes = 200;
  static constexpr size_t kLongIdPrefixBytes = 120;
  static std::string escape(const std::string& id);
  // A byte escape() keeps as it is: [A-Za-z0-9_.-].
  static bool plain_id_byte(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
  }

  // For tests: from now on every journal write, flush and compaction in this process fails
  // with `error` (an errno value such as ENOSPC or EIO), as a full or failing disk would; 0
  // stops it. Safe from any thread. failed_writes_for_testing() counts the failures so far.
  static void fail_writes_for_testing(int error);
  static uint64_t failed_writes_for_testing();

 private:
  Status append(const std::string& payload);
  Status compact();

  std::filesystem::path root_;
  int fd_ = -1;
  int lock_fd_ = -1;
  bool opened_ = false;
  bool flush_failed_ = false;                // the last fdatasync failed: the next sync() rewrites
  Recovered found_;                          // what open() reported, until read_tasks()
  std::map<std::string, std::string> live_;  // framework/task key -> packed TaskCheckpoint
  uint64_t live_bytes_ = 0;                  // journal bytes that the live records take
  uint64_t journal_bytes_ = 0;
};

// Writes `bytes` to `path` atomically (temporary file, fsync, rename, fsync of the directory).
Status write_file_atomically(const std::filesystem::path& path, const std::string& bytes,
                             bool durable = true);

}  // namespace tessera::host::agent

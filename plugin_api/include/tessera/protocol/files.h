// A task's sandbox files, for operators: what the master's HTTP API (/files/...) and `tessera
// logs` ask the master, and the master asks the agent that ran the task.
//
//   operator -> master   files.request (answered files.answer, or master.not_leader)
//   master -> agent      files.request, pushed, with the master's own request_id and the
//                        task's sandbox as the agent reported it
//   agent -> master      files.answer (one-way), which the master relays to the operator
//
// The agent serves only sandboxes of its own work dir that belong to the named framework and
// task (for a task of a framework's executor: that executor's sandbox), and resolves `path`
// strictly inside the sandbox: relative, no "..", no symbolic link followed. A read returns at most
// kMaxReadBytes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tessera/message.h"

namespace tessera::protocol::files {

inline constexpr const char* kBrowse = "browse";
inline constexpr const char* kRead = "read";
inline constexpr uint64_t kMaxReadBytes = uint64_t{1} << 20;
inline constexpr size_t kMaxEntries = 10000;
inline constexpr size_t kMaxPathBytes = 4096;

// Why a request failed (Answer::code); empty: it did not.
namespace code {
inline constexpr const char* kNotFound = "not_found";       // no such task or file
inline constexpr const char* kInvalid = "invalid";          // a bad path, operation or amount
inline constexpr const char* kUnavailable = "unavailable";  // the agent is away or silent
}  // namespace code

struct Request {
  static constexpr const char* kType = "files.request";
  static constexpr uint32_t kSchema = 1;
  uint64_t request_id = 0;   // chosen by the master when it asks an agent
  std::string framework_id;  // optional from an operator: the task id alone usually names it
  std::string task_id;
  std::string sandbox;              // set by the master for the agent
  std::string operation;            // kBrowse or kRead
  std::string path;                 // relative to the sandbox; "" is the sandbox itself (browse)
  int64_t offset = 0;               // read: where to start; -1: only the size
  uint64_t length = kMaxReadBytes;  // read: at most this many bytes (at most kMaxReadBytes)
  // Appended, set by the master for the agent: the executor that ran the task ("" for a command
  // task), whose sandbox is the task's.
  std::string executor_id;
  TESSERA_MSGPACK_MAP(request_id, framework_id, task_id, sandbox, operation, path, offset, length,
                      executor_id);
};

struct Entry {
  std::string path;  // relative to the sandbox
  uint64_t size = 0;
  double mtime = 0;   // unix seconds
  uint32_t mode = 0;  // st_mode: type and permission bits
  TESSERA_MSGPACK_MAP(path, size, mtime, mode);
};

struct Answer {
  static constexpr const char* kType = "files.answer";
  static constexpr uint32_t kSchema = 1;
  uint64_t request_id = 0;
  std::string code;  // empty on success, else one of files::code
  std::string error;
  std::vector<Entry> entries;  // browse
  std::string data;            // read: the bytes from `offset`
  int64_t offset = 0;          // read: where `data` starts
  uint64_t size = 0;           // read: the file's size now
  std::string sandbox;         // the task's sandbox on its agent (set by the master)
  TESSERA_MSGPACK_MAP(request_id, code, error, entries, data, offset, size, sandbox);
};

}  // namespace tessera::protocol::files

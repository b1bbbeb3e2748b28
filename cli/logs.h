// `tessera logs TASK`: a task's stdout or stderr, read from its sandbox through the master
// (protocol/files.h), like `tail`: the last lines, then with --follow what the task writes next.
#pragma once

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <string>

namespace tessera::cli {

struct LogsOptions {
  std::string task_id;
  std::string framework_id;  // optional
  bool stderr_file = false;
  bool follow = false;
  uint64_t lines = 10;  // 0: the whole file
  std::chrono::milliseconds poll{500};
};

// The last `lines` lines of `text` (all of it when `lines` is 0); a final newline does not start
// a line of its own.
std::string last_lines(const std::string& text, uint64_t lines);

// Prints the file; with `follow`, keeps polling for more until interrupted or the file can no
// longer be read. Returns the exit status: 0, 1 (no such task or file; the reason on `err`) or 2
// (no master answered).
int run_logs(const std::string& masters, const LogsOptions& options,
             std::chrono::milliseconds timeout, int log_level, std::ostream& out,
             std::ostream& err);

}  // namespace tessera::cli

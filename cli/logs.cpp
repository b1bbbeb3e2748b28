#include "logs.h"

#include <algorithm>
#include <iostream>
#include <thread>

#include "exec.h"
#include "session.h"
#include "tessera/protocol/files.h"

namespace tessera::cli {

namespace files = protocol::files;

std::string last_lines(const std::string& text, uint64_t lines) {
  if (lines == 0 || text.empty()) return text;
  size_t end = text.size();
  if (text.back() == '\n') --end;
  size_t start = end;
  uint64_t seen = 0;
  while (start > 0) {
    if (text[start - 1] == '\n' && ++seen == lines) break;
    --start;
  }
  return text.substr(start);
}

namespace {

// What went wrong reading: the exit status and the message.
struct LogsProblem {
  int status;
  std::string message;
};

class FileReader {
 public:
  FileReader(const std::string& masters, const LogsOptions& options,
             std::chrono::milliseconds timeout, int log_level)
      : masters_(masters), timeout_(timeout), session_(log_level) {
    request_.operation = files::kRead;
    request_.task_id = options.task_id;
    request_.framework_id = options.framework_id;
    request_.path = options.stderr_file ? "stderr" : "stdout";
  }

  // The bytes from `offset` (at most one read's worth), or the file's size for offset -1.
  bool read(int64_t offset, files::Answer& answer, LogsProblem& problem) {
    request_.offset = offset;
    request_.length = files::kMaxReadBytes;
    auto reply = ask_master(session_, masters_, request_, timeout_);
    if (!reply) {
      problem = {kExitMaster, reply.error().message};
      return false;
    }
    auto body = reply->body<files::Answer>();
    if (!reply->is<files::Answer>() || !body) {
      problem = {kExitTaskProblem, "master answered '" + reply->type() + "' to files.request"};
      return false;
    }
    if (!body->code.empty()) {
      problem = {kExitTaskProblem,
                 request_.path + " of task '" + request_.task_id + "': " + body->error};
      return false;
    }
    answer = std::move(*body);
    return true;
  }

 private:
  std::string masters_;
  std::chrono::milliseconds timeout_;
  Session session_;
  files::Request request_;
};

}  // namespace

int run_logs(const std::string& masters, const LogsOptions& options,
             std::chrono::milliseconds timeout, int log_level, std::ostream& out,
             std::ostream& err) {
  FileReader reader(masters, options, timeout, log_level);
  LogsProblem problem{0, ""};
  auto failed = [&] {
    err << "tessera: " << problem.message << std::endl;
    return problem.status;
  };
  files::Answer answer;
  if (!reader.read(-1, answer, problem)) return failed();
  auto size = static_cast<int64_t>(answer.size);
  // The last lines are in the file's last megabyte (or the whole file is wanted).
  int64_t offset = options.lines == 0
                       ? 0
                       : std::max<int64_t>(0, size - static_cast<int64_t>(files::kMaxReadBytes));
  std::string first;
  while (offset < size) {
    if (!reader.read(offset, answer, problem)) return failed();
    if (answer.data.empty()) break;
    offset += static_cast<int64_t>(answer.data.size());
    if (options.lines == 0) {
      out << answer.data;
    } else {
      first += answer.data;
    }
  }
  out << last_lines(first, options.lines) << std::flush;
  while (options.follow) {
    std::this_thread::sleep_for(options.poll);
    if (!reader.read(offset, answer, problem)) return failed();
    if (static_cast<int64_t>(answer.size) < offset) offset = 0;  // truncated: start again
    offset += static_cast<int64_t>(answer.data.size());
    out << answer.data << std::flush;
  }
  return 0;
}

}  // namespace tessera::cli

#include "checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <msgpack.hpp>

namespace tessera::host::agent {

namespace fs = std::filesystem;

namespace {

std::string errno_text() { return std::strerror(errno); }

Status fsync_path(const fs::path& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return make_error("cannot open '" + path.string() + "': " + errno_text());
  int rc = ::fsync(fd);
  std::string why = rc == 0 ? "" : errno_text();
  ::close(fd);
  if (rc != 0) return make_error("cannot fsync '" + path.string() + "': " + why);
  return {};
}

Result<std::string> read_whole(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error("cannot read '" + path.string() + "': " + errno_text());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

Status write_file_atomically(const fs::path& path, const std::string& bytes, bool durable) {
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  if (ec) {
    return make_error("cannot create directory '" + path.parent_path().string() +
                      "': " + ec.message());
  }
  fs::path tmp = path;
  tmp += ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return make_error("cannot create '" + tmp.string() + "': " + errno_text());
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::string why = errno_text();
      ::close(fd);
      ::unlink(tmp.c_str());
      return make_error("cannot write '" + tmp.string() + "': " + why);
    }
    done += static_cast<size_t>(n);
  }
  if (durable && ::fsync(fd) != 0) {
    std::string why = errno_text();
    ::close(fd);
    ::unlink(tmp.c_str());
    return make_error("cannot fsync '" + tmp.string() + "': " + why);
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string why = errno_text();
    ::unlink(tmp.c_str());
    return make_error("cannot rename '" + tmp.string() + "' to '" + path.string() + "': " + why);
  }
  if (!durable) return {};
  return fsync_path(path.parent_path(), O_RDONLY | O_DIRECTORY);
}

std::string Checkpoint::escape(const std::string& id) {
  if (id.empty()) return "%";
  std::string out;
  for (unsigned char c : id) {
    bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_' || c == '-' || (c == '.' && id != "." && id != "..");
    if (plain) {
      out += static_cast<char>(c);
    } else {
      char buffer[4];
      std::snprintf(buffer, sizeof buffer, "%%%02X", c);
      out += buffer;
    }
  }
  return out;
}

fs::path Checkpoint::task_file(const std::string& framework_id, const std::string& task_id) const {
  return root_ / "meta" / escape(framework_id) / escape(task_id) / "task";
}

fs::path Checkpoint::sandbox(const std::string& framework_id, const std::string& task_id,
                             const std::string& container_id) const {
  return root_ / "sandboxes" / escape(framework_id) / escape(task_id) / escape(container_id);
}

Result<std::string> Checkpoint::read_agent_id() const {
  fs::path path = root_ / "agent_id";
  std::error_code ec;
  if (!fs::exists(path, ec)) return std::string();
  auto text = read_whole(path);
  if (!text) return text.error();
  std::string id = *text;
  while (!id.empty() && (id.back() == '\n' || id.back() == '\r' || id.back() == ' ')) id.pop_back();
  return id;
}

Status Checkpoint::write_agent_id(const std::string& id) const {
  return write_file_atomically(root_ / "agent_id", id + "\n");
}

Status Checkpoint::remove_agent_id() const {
  std::error_code ec;
  fs::remove(root_ / "agent_id", ec);
  if (ec)
    return make_error("cannot remove '" + (root_ / "agent_id").string() + "': " + ec.message());
  return {};
}

Status Checkpoint::write_task(const TaskCheckpoint& task, bool durable) const {
  msgpack::sbuffer buffer;
  msgpack::pack(buffer, task);
  return write_file_atomically(task_file(task.framework_id, task.task.task_id),
                               std::string(buffer.data(), buffer.size()), durable)
      .context("checkpointing task '" + task.task.task_id + "'");
}

Status Checkpoint::sync() const {
  std::error_code ec;
  fs::create_directories(root_, ec);
  int fd = ::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return make_error("cannot open '" + root_.string() + "': " + errno_text());
  int rc = ::syncfs(fd);
  std::string why = rc != 0 ? errno_text() : "";
  ::close(fd);
  if (rc != 0)
    return make_error("cannot flush the checkpoints in '" + root_.string() + "': " + why);
  return {};
}

Status Checkpoint::remove_task(const std::string& framework_id, const std::string& task_id) const {
  fs::path dir = task_file(framework_id, task_id).parent_path();
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (ec) return make_error("cannot remove '" + dir.string() + "': " + ec.message());
  // The framework's directory goes with its last task.
  fs::remove(dir.parent_path(), ec);  // fails harmlessly while other tasks remain
  return {};
}

Status Checkpoint::remove_all_tasks() const {
  std::error_code ec;
  fs::remove_all(root_ / "meta", ec);
  if (ec) return make_error("cannot remove '" + (root_ / "meta").string() + "': " + ec.message());
  return {};
}

Checkpoint::Recovered Checkpoint::read_tasks() const {
  Recovered out;
  fs::path meta = root_ / "meta";
  std::error_code ec;
  if (!fs::is_directory(meta, ec)) return out;
  for (const auto& framework : fs::directory_iterator(meta, ec)) {
    if (!framework.is_directory()) continue;
    for (const auto& task : fs::directory_iterator(framework.path(), ec)) {
      fs::path file = task.path() / "task";
      if (!fs::exists(file)) continue;
      auto bytes = read_whole(file);
      TaskCheckpoint checkpoint;
      std::string problem;
      if (!bytes) {
        problem = bytes.error().message;
      } else {
        try {
          msgpack::object_handle handle = msgpack::unpack(bytes->data(), bytes->size());
          handle.get().convert(checkpoint);
        } catch (const std::exception& e) {
          problem = "'" + file.string() + "' is not a task checkpoint: " + e.what();
        }
      }
      if (problem.empty() && checkpoint.task.task_id.empty()) {
        problem = "'" + file.string() + "' names no task";
      }
      if (!problem.empty()) {
        fs::path aside = file;
        aside += ".corrupt";
        fs::rename(file, aside, ec);
        out.errors.push_back(problem + " (moved to '" + aside.string() + "')");
        continue;
      }
      out.tasks.push_back(std::move(checkpoint));
    }
  }
  return out;
}

}  // namespace tessera::host::agent

// Test support: the processes that tasks started, found in /proc by a marker in their
// environment, whoever their parent is now. Tests put a unique NAME=VALUE in their tasks'
// environment (CommandInfo::environment); every process of such a task inherits it, so a test
// can check what really runs after an agent died, and kill whatever is left at its end.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace tessera::testing {

struct TaskProcess {
  pid_t pid = 0;
  std::string task_id;       // TASK_ID in its environment
  std::string container_id;  // TESSERA_CONTAINER_ID in its environment
  std::string program;       // its argv[0] ("sh" for a task's shell, "sleep" for its command)
};

namespace detail {

inline std::optional<std::string> read_proc(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string text;
  char buffer[8192];
  while (true) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n <= 0) break;
    text.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  return text;
}

// NAME=VALUE entries of a /proc/PID/environ text.
inline std::map<std::string, std::string> environ_entries(const std::string& text) {
  std::map<std::string, std::string> out;
  size_t at = 0;
  while (at < text.size()) {
    size_t end = text.find('\0', at);
    if (end == std::string::npos) end = text.size();
    std::string entry = text.substr(at, end - at);
    auto eq = entry.find('=');
    if (eq != std::string::npos) out[entry.substr(0, eq)] = entry.substr(eq + 1);
    at = end + 1;
  }
  return out;
}

// Whether the process is a zombie (or gone): it runs nothing any more.
inline bool ended(pid_t pid) {
  auto stat = read_proc("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return true;
  auto close = stat->rfind(')');
  return close == std::string::npos || close + 2 >= stat->size() || (*stat)[close + 2] == 'Z' ||
         (*stat)[close + 2] == 'X';
}

}  // namespace detail

// The live (non-zombie) processes whose environment holds NAME=VALUE.
inline std::vector<TaskProcess> processes_with(const std::string& name, const std::string& value) {
  std::vector<TaskProcess> out;
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return out;
  while (dirent* entry = ::readdir(proc)) {
    char* end = nullptr;
    long pid = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0' || pid <= 0) continue;
    auto text = detail::read_proc("/proc/" + std::to_string(pid) + "/environ");
    if (!text) continue;
    auto env = detail::environ_entries(*text);
    auto it = env.find(name);
    if (it == env.end() || it->second != value) continue;
    if (detail::ended(static_cast<pid_t>(pid))) continue;
    auto cmdline = detail::read_proc("/proc/" + std::to_string(pid) + "/cmdline");
    std::string program = cmdline ? cmdline->substr(0, cmdline->find('\0')) : std::string();
    out.push_back(
        {static_cast<pid_t>(pid), env["TASK_ID"], env["TESSERA_CONTAINER_ID"], std::move(program)});
  }
  ::closedir(proc);
  return out;
}

// Kills (SIGKILL) every process whose environment holds NAME=VALUE when it goes out of scope,
// so that a failing test leaves none of its tasks running.
class TaskProcessReaper {
 public:
  TaskProcessReaper(std::string name, std::string value)
      : name_(std::move(name)), value_(std::move(value)) {}
  ~TaskProcessReaper() {
    for (const TaskProcess& p : processes_with(name_, value_)) ::kill(p.pid, SIGKILL);
  }
  TaskProcessReaper(const TaskProcessReaper&) = delete;
  TaskProcessReaper& operator=(const TaskProcessReaper&) = delete;

 private:
  std::string name_;
  std::string value_;
};

}  // namespace tessera::testing

#include "posix_launcher.h"

#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>
#include <utility>

#include "tessera/sdk/host_environment.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace tessera::process_launcher {

namespace {

constexpr const char* kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
// How long the rest of a process group may take to die after its leader ended and the group
// was sent SIGKILL, before the exit is reported anyway.
constexpr auto kGroupWait = std::chrono::seconds(2);
constexpr auto kGroupPoll = std::chrono::milliseconds(5);
// The most of a process's environment that recovery reads while looking for a container marker.
constexpr size_t kMaxEnviron = size_t{16} << 20;
constexpr const char* kPhaseLaunching = "launching";
// A container's state file is two pages: the launcher's record (text, then NUL padding to the
// page's end) and, at kStatePage, the status its supervisor writes when the task ends. Every
// write is one pwrite(2) of whole pages or of less than a page, so a killed writer leaves each
// page as it was or whole.
constexpr size_t kStatePage = 4096;
// State files of ended containers kept for the next launches (renamed back into place), so that
// a launch creates and deletes no inode: on ext4, allocating an inode next to many recently
// deleted ones scans them all, and that was half of the runtime's thread in a burst.
constexpr size_t kMaxSpareStateFiles = 1024;
constexpr const char* kPhaseRunning = "running";

std::string errno_text(int error) { return std::strerror(error); }

int pidfd_open(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

struct ProcStat {
  char state = '?';
  pid_t ppid = 0;
  pid_t pgrp = 0;
  pid_t session = 0;
  uint64_t start_time = 0;
  uint64_t cpu_ticks = 0;  // utime + stime + cutime + cstime
};

// Reads /proc/PID/stat, zombies included. The command name (field 2) may hold spaces and
// parentheses, so fields are counted from the last ')'.
std::optional<ProcStat> read_stat(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  if (!in) return std::nullopt;
  std::string text;
  try {
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  } catch (const std::exception&) {
    // The process was reaped between the open and the read: the read fails with ESRCH, and
    // libstdc++'s filebuf throws on a read error whatever the stream's exception mask.
    return std::nullopt;
  }
  auto close = text.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(text.substr(close + 1));
  std::vector<std::string> f;
  std::string token;
  while (fields >> token && f.size() < 20) f.push_back(token);
  if (f.size() < 20) return std::nullopt;
  ProcStat stat;
  stat.state = f[0].empty() ? '?' : f[0][0];
  try {
    stat.ppid = static_cast<pid_t>(std::stol(f[1]));
    stat.pgrp = static_cast<pid_t>(std::stol(f[2]));
    stat.session = static_cast<pid_t>(std::stol(f[3]));
    stat.start_time = std::stoull(f[19]);
    for (size_t field = 11; field <= 14; ++field) stat.cpu_ticks += std::stoull(f[field]);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  return stat;
}

std::string read_boot_id() {
  std::ifstream in("/proc/sys/kernel/random/boot_id");
  std::string id;
  std::getline(in, id);
  return id;
}

// Reads a whole /proc file (up to `limit` bytes) with plain system calls: the process may end
// between the open and the read, and a stream would throw for that read error.
std::optional<std::string> read_proc_file(const std::string& path, size_t limit) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string text;
  char buffer[8192];
  while (text.size() < limit) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      return std::nullopt;
    }
    if (n == 0) break;
    text.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  return text;
}

// A directory's path as the kernel names it (links resolved, as /proc/PID/cwd shows it), or ""
// when it cannot be opened. Three system calls, where std::filesystem::canonical looks at every
// component of the path in turn (a status and a readlink each).
std::string resolved_directory(const std::filesystem::path& dir) {
  int fd = ::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return {};
  char target[PATH_MAX];
  std::string link = "/proc/self/fd/" + std::to_string(fd);
  ssize_t n = ::readlink(link.c_str(), target, sizeof target);
  ::close(fd);
  if (n <= 0 || static_cast<size_t>(n) >= sizeof target || target[0] != '/') return {};
  std::string path(target, static_cast<size_t>(n));
  // A directory removed meanwhile: no process can be caught in it by this name.
  if (path.ends_with(" (deleted)")) return {};
  return path;
}

// Calls `visit(pid)` for every process in /proc but this one.
template <typename Visit>
void for_each_other_process(Visit visit) {
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return;
  pid_t self = ::getpid();
  while (dirent* entry = ::readdir(proc)) {
    char* end = nullptr;
    long pid = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0' || pid <= 0 || pid == self) continue;
    visit(pid);
  }
  ::closedir(proc);
}

// The value of `name` in a /proc/PID/environ text (NUL-separated NAME=VALUE entries).
std::optional<std::string> environ_value(const std::string& environ_text, const std::string& name) {
  std::string prefix = name + "=";
  size_t at = 0;
  while (at < environ_text.size()) {
    size_t end = environ_text.find('\0', at);
    if (end == std::string::npos) end = environ_text.size();
    if (environ_text.compare(at, prefix.size(), prefix) == 0) {
      return environ_text.substr(at + prefix.size(), end - at - prefix.size());
    }
    at = end + 1;
  }
  return std::nullopt;
}

// Sends SIGKILL to `pid` only while it is the process that started at `start_time`: through a
// pidfd opened before the check, so a pid reused in between is never signalled.
void kill_process(pid_t pid, uint64_t start_time) {
  int fd = pidfd_open(pid);
  if (fd < 0) return;
  auto stat = read_stat(pid);
  if (stat && stat->start_time == start_time) {
    ::syscall(SYS_pidfd_send_signal, fd, SIGKILL, nullptr, 0);
  }
  ::close(fd);
}

// Signals a task's process group; or, before the task has made it (its supervisor reports the
// pid right after its fork, and the task's first act is its setsid), the task alone, which has
// started nothing yet then. Only while the pid is still the task's (the recorded start time),
// never a process that took a free pid.
void signal_group(pid_t pid, uint64_t start_time, int signal) {
  if (::kill(-pid, signal) == 0 || errno != ESRCH) return;
  auto stat = read_stat(pid);
  if (stat && stat->start_time == start_time) ::kill(pid, signal);
}

// A file name for a container id: safe characters kept, the rest escaped as %XX.
std::string file_name(const std::string& id) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char ch : id) {
    if (std::isalnum(ch) || ch == '-' || ch == '_' || ch == '.') {
      out += static_cast<char>(ch);
    } else {
      out += '%';
      out += hex[ch >> 4];
      out += hex[ch & 15];
    }
  }
  if (out == "." || out == "..") out = "%2e" + out.substr(1);
  return out;
}

// The container id a state file's name stands for (file_name() undone), or nothing.
std::optional<std::string> id_of_file_name(const std::string& name) {
  std::string out;
  for (size_t i = 0; i < name.size(); ++i) {
    if (name[i] != '%') {
      out += name[i];
      continue;
    }
    if (i + 2 >= name.size() || !std::isxdigit(static_cast<unsigned char>(name[i + 1])) ||
        !std::isxdigit(static_cast<unsigned char>(name[i + 2]))) {
      return std::nullopt;
    }
    out += static_cast<char>(std::stoi(name.substr(i + 1, 2), nullptr, 16));
    i += 2;
  }
  if (out.empty() || file_name(out) != name) return std::nullopt;
  return out;
}

std::map<std::string, std::string> parse_key_values(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    auto eq = line.find('=');
    if (eq != std::string::npos) out[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return out;
}

// The text of one page of a container's state file: from `offset`, up to the first NUL (the
// rest of the page is padding), "" when the file or the page is not there.
std::string read_state_page(const std::filesystem::path& path, off_t offset) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  std::string page(kStatePage, '\0');
  ssize_t n = 0;
  do {
    n = ::pread(fd, page.data(), page.size(), offset);
  } while (n < 0 && errno == EINTR);
  ::close(fd);
  page.resize(n > 0 ? static_cast<size_t>(n) : 0);
  auto end = page.find('\0');
  if (end != std::string::npos) page.resize(end);
  return page;
}

// What a key=value file holds (a status file of an older supervisor).
std::map<std::string, std::string> read_key_values(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return parse_key_values(text.str());
}

// A state file's value for `key`, empty when it has none.
std::string state_field(const std::map<std::string, std::string>& state, const char* key) {
  auto it = state.find(key);
  return it == state.end() ? std::string() : it->second;
}

// Finds `program` on `path` (the task's PATH, not the host's) the way execvp would.
Result<std::string> find_program(const std::string& program, const std::string& path) {
  if (program.find('/') != std::string::npos) return program;
  std::istringstream dirs(path);
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) dir = ".";
    std::string candidate = dir + "/" + program;
    std::error_code ec;
    if (std::filesystem::is_regular_file(candidate, ec) && ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return make_error("program '" + program + "' not found in PATH '" + path + "'");
}

// The supervisor's control socket in the supervisor (and in a held task until its exec).
constexpr int kControlDescriptor = 3;
// How long a launch waits for the supervisor to report its task's pid: it forks at once, so
// only a machine in deep trouble takes this long.
constexpr int kSupervisorReportMs = 10000;

// The supervisor's control channel: a socket pair (a send to a process already gone fails with
// EPIPE instead of raising SIGPIPE in the host). Both ends close on exec and sit above the
// control descriptor, so that the child's dup2 onto it always makes a new, inheritable
// descriptor.
struct Pipe {
  int read_end = -1;
  int write_end = -1;
  Status open() {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
      return make_error("socketpair: " + errno_text(errno));
    }
    read_end = ::fcntl(fds[0], F_DUPFD_CLOEXEC, kControlDescriptor + 1);
    write_end = ::fcntl(fds[1], F_DUPFD_CLOEXEC, kControlDescriptor + 1);
    ::close(fds[0]);
    ::close(fds[1]);
    if (read_end < 0 || write_end < 0) return make_error("fcntl: " + errno_text(errno));
    return {};
  }
  int take_write_end() { return std::exchange(write_end, -1); }
  void close() {
    if (read_end >= 0) ::close(read_end);
    if (write_end >= 0) ::close(write_end);
    read_end = write_end = -1;
  }
  Pipe() = default;
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;
  ~Pipe() { close(); }
};

// posix_spawn's attribute and file-action objects, destroyed whatever happens.
struct SpawnSetup {
  posix_spawnattr_t attr;
  posix_spawn_file_actions_t actions;
  SpawnSetup() {
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_init(&actions);
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
};

// The launch as the supervisor reads it (task_supervisor.cpp): a u32 total size, then
// length-prefixed strings (u32 size + bytes) and lists (u32 count + strings), in host order
// (both ends run on this machine).
std::string encode_launch(const std::string& status_path, bool hold, const std::string& program,
                          const std::vector<std::string>& argv,
                          const std::vector<std::string>& env) {
  std::string out(sizeof(uint32_t), '\0');
  auto put_u32 = [&out](size_t value) {
    auto v = static_cast<uint32_t>(value);
    out.append(reinterpret_cast<const char*>(&v), sizeof v);
  };
  auto put_string = [&](const std::string& text) {
    put_u32(text.size());
    out += text;
  };
  auto put_list = [&](const std::vector<std::string>& list) {
    put_u32(list.size());
    for (const std::string& text : list) put_string(text);
  };
  put_string(status_path);
  put_string(hold ? "1" : "0");
  put_string(program);
  put_list(argv);
  put_list(env);
  auto total = static_cast<uint32_t>(out.size() - sizeof(uint32_t));
  std::memcpy(out.data(), &total, sizeof total);
  return out;
}

// Sends the launch to a just-spawned supervisor (which reads it first thing: a launch is far
// smaller than a socket's buffer unless its environment is huge).
Status send_launch(int control, const std::string& message) {
  size_t sent = 0;
  while (sent < message.size()) {
    ssize_t n = ::send(control, message.data() + sent, message.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return make_error("cannot send the launch to its supervisor: " + errno_text(errno));
    sent += static_cast<size_t>(n);
  }
  return {};
}

// Where the supervisor program is: `configured` when given; else beside the shared object (or
// program) this code is linked into, as installed next to the plugins; else where this build
// made it.
Result<std::filesystem::path> find_supervisor(const std::filesystem::path& configured) {
  std::vector<std::filesystem::path> candidates;
  if (!configured.empty()) {
    candidates.push_back(configured);
  } else {
    Dl_info info{};
    if (::dladdr(reinterpret_cast<const void*>(&find_supervisor), &info) != 0 &&
        info.dli_fname != nullptr) {
      std::error_code ec;
      auto self = std::filesystem::canonical(info.dli_fname, ec);
      if (!ec) candidates.push_back(self.parent_path() / kSupervisorProgram);
    }
#ifdef TESSERA_TASK_SUPERVISOR_BUILD_PATH
    candidates.emplace_back(TESSERA_TASK_SUPERVISOR_BUILD_PATH);
#endif
  }
  std::string tried;
  for (const auto& candidate : candidates) {
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    tried += (tried.empty() ? "'" : ", '") + candidate.string() + "'";
  }
  return make_error("the task supervisor '" + std::string(kSupervisorProgram) +
                    "' is not installed (looked at " + (tried.empty() ? "nothing" : tried) + ")");
}

// What a supervisor wrote when its task ended (task_supervisor.cpp), if it wrote it for
// `supervisor`: key=value lines.
std::optional<Exit> parse_status(std::map<std::string, std::string> fields, pid_t supervisor) {
  try {
    if (fields.count("exit_code") == 0 || fields.count("signal") == 0 ||
        std::stol(fields["supervisor_pid"]) != supervisor) {
      return std::nullopt;
    }
    Exit exit;
    exit.exit_code = static_cast<int32_t>(std::stol(fields["exit_code"]));
    exit.signal = static_cast<int32_t>(std::stol(fields["signal"]));
    if (exit.signal < 0 || exit.signal > 64 || exit.exit_code < -1 || exit.exit_code > 255) {
      return std::nullopt;
    }
    return exit;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// The status a supervisor wrote for `supervisor` into the state file's status page, or, from
// a supervisor of an older build, into the status file beside it (removed once read).
std::optional<Exit> read_status(const std::filesystem::path& state_file,
                                const std::filesystem::path& legacy_status_file, pid_t supervisor) {
  auto status = parse_status(parse_key_values(read_state_page(state_file, kStatePage)), supervisor);
  if (status) return status;
  std::error_code ec;
  if (!std::filesystem::exists(legacy_status_file, ec)) return std::nullopt;
  status = parse_status(read_key_values(legacy_status_file), supervisor);
  std::filesystem::remove(legacy_status_file, ec);
  return status;
}

std::string describe_status(const Exit& e) {
  if (e.signal != 0)
    return "killed by signal " + std::to_string(e.signal) + " (" + strsignal(e.signal) + ")";
  return "exited with status " + std::to_string(e.exit_code);
}

}  // namespace

std::map<std::string, std::string> task_environment(
    const std::map<std::string, std::string>& command_env,
    const std::map<std::string, std::string>& agent_env, char** host_env) {
  static const char* kInherited[] = {"PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ"};
  std::map<std::string, std::string> env;
  for (char** e = host_env; e != nullptr && *e != nullptr; ++e) {
    std::string entry(*e);
    auto eq = entry.find('=');
    if (eq == std::string::npos) continue;
    std::string key = entry.substr(0, eq);
    for (const char* k : kInherited) {
      if (key == k) env[key] = entry.substr(eq + 1);
    }
  }
  if (env.count("PATH") == 0 || env["PATH"].empty()) env["PATH"] = kDefaultPath;
  for (const auto& [k, v] : command_env) env[k] = v;
  for (const auto& [k, v] : agent_env) env[k] = v;
  return env;
}

std::optional<uint64_t> process_start_time(pid_t pid) {
  auto stat = read_stat(pid);
  if (!stat || stat->state == 'Z' || stat->state == 'X') return std::nullopt;
  return stat->start_time;
}

std::optional<ProcessUsage> process_usage(pid_t pid) {
  auto stat = read_stat(pid);
  if (!stat || stat->state == 'Z' || stat->state == 'X') return std::nullopt;
  static const long ticks_per_second = ::sysconf(_SC_CLK_TCK);
  ProcessUsage usage;
  usage.cpu_seconds = static_cast<double>(stat->cpu_ticks) / static_cast<double>(ticks_per_second);
  // VmRSS and VmHWM are in kB.
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    auto kilobytes = [&](const char* key) -> std::optional<int64_t> {
      if (line.rfind(key, 0) != 0) return std::nullopt;
      try {
        return std::stoll(line.substr(std::strlen(key))) * 1024;
      } catch (const std::exception&) {
        return std::nullopt;
      }
    };
    if (auto rss = kilobytes("VmRSS:")) usage.memory_bytes = *rss;
    if (auto peak = kilobytes("VmHWM:")) usage.memory_peak_bytes = *peak;
  }
  return usage;
}

std::map<std::string, std::vector<MarkedProcess>> marked_processes(
    const std::set<std::string>& container_ids,
    const std::map<std::string, std::string>& sandboxes) {
  std::map<std::string, std::vector<MarkedProcess>> out;
  if (container_ids.empty() && sandboxes.empty()) return out;
  for_each_other_process([&](long pid) {
    // Another user's process cannot be read, and cannot be one of ours either.
    std::string proc_dir = "/proc/" + std::to_string(pid);
    auto text = read_proc_file(proc_dir + "/environ", kMaxEnviron);
    if (!text) return;
    std::optional<std::string> id = environ_value(*text, kContainerMarker);
    bool by_sandbox = false;
    if (!id && text->empty() && !sandboxes.empty()) {
      // An exec still in progress shows no environment yet (the kernel sets it up last), but
      // the spawned process moved to its sandbox before the exec.
      std::error_code ec;
      auto cwd = std::filesystem::read_symlink(proc_dir + "/cwd", ec);
      auto sandbox = ec ? sandboxes.end() : sandboxes.find(cwd.string());
      if (sandbox != sandboxes.end()) {
        id = sandbox->second;
        by_sandbox = true;
      }
    } else if (id && container_ids.count(*id) == 0) {
      id.reset();
    }
    if (!id) return;
    auto stat = read_stat(static_cast<pid_t>(pid));
    if (!stat || stat->state == 'Z' || stat->state == 'X') return;
    // Only the spawned process itself can be caught in its exec: it leads its session.
    if (by_sandbox && stat->session != pid) return;
    out[*id].push_back({static_cast<pid_t>(pid), stat->session, stat->start_time});
  });
  return out;
}

std::map<std::string, std::vector<MarkedProcess>> supervisor_processes(
    const std::set<std::string>& container_ids) {
  std::map<std::string, std::vector<MarkedProcess>> out;
  if (container_ids.empty()) return out;
  for_each_other_process([&](long pid) {
    // A supervisor's environment is its one marker: a small read.
    auto text = read_proc_file("/proc/" + std::to_string(pid) + "/environ", 4096);
    if (!text) return;
    auto id = environ_value(*text, kSupervisorMarker);
    if (!id || container_ids.count(*id) == 0) return;
    auto stat = read_stat(static_cast<pid_t>(pid));
    if (!stat || stat->state == 'X') return;
    out[*id].push_back({static_cast<pid_t>(pid), stat->session, stat->start_time});
  });
  return out;
}

namespace {

// Calls `visit(pid, stat)` for every process in /proc that is not a zombie, this one included.
template <typename Visit>
void for_each_live_process(Visit visit) {
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return;
  while (dirent* entry = ::readdir(proc)) {
    char* end = nullptr;
    long pid = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0' || pid <= 0) continue;
    auto stat = read_stat(static_cast<pid_t>(pid));
    if (stat && stat->state != 'Z' && stat->state != 'X') visit(static_cast<pid_t>(pid), *stat);
  }
  ::closedir(proc);
}

}  // namespace

std::vector<pid_t> live_group_members(pid_t pgid) {
  std::vector<pid_t> out;
  for_each_live_process([&](pid_t pid, const ProcStat& stat) {
    if (stat.pgrp == pgid) out.push_back(pid);
  });
  return out;
}

std::set<pid_t> live_process_groups() {
  std::set<pid_t> out;
  for_each_live_process([&](pid_t, const ProcStat& stat) { out.insert(stat.pgrp); });
  return out;
}

Result<std::unique_ptr<PosixLauncher>> PosixLauncher::create(
    std::filesystem::path state_dir, Scheduler scheduler, ExitHandler on_exit,
    const std::filesystem::path& supervisor) {
  auto supervisor_path = find_supervisor(supervisor);
  if (!supervisor_path) return supervisor_path.error();
  std::error_code ec;
  std::filesystem::create_directories(state_dir, ec);
  if (ec) {
    return make_error("cannot create state directory '" + state_dir.string() +
                      "': " + ec.message());
  }
  // pidfds exist since Linux 5.3 and waitid(P_PIDFD) since 5.4; refuse clearly on older kernels.
  int probe = pidfd_open(::getpid());
  if (probe < 0) {
    return make_error("pidfd_open is not available (Linux 5.4 or newer is needed): " +
                      errno_text(errno));
  }
  ::close(probe);
  std::filesystem::create_directories(state_dir / "spare", ec);
  if (ec) {
    return make_error("cannot create directory '" + (state_dir / "spare").string() +
                      "': " + ec.message());
  }
  int epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd < 0) return make_error("epoll_create1: " + errno_text(errno));
  std::unique_ptr<PosixLauncher> launcher(
      new PosixLauncher(std::move(state_dir), std::move(*supervisor_path), epoll_fd,
                        std::move(scheduler), std::move(on_exit)));
  // The spare state files an earlier launcher left (their content is stale, and rewritten whole
  // before use).
  for (const auto& entry : std::filesystem::directory_iterator(launcher->spare_dir(), ec)) {
    uint64_t number = 0;
    const std::string name = entry.path().filename().string();
    auto parsed = std::from_chars(name.data(), name.data() + name.size(), number);
    if (parsed.ec != std::errc() || parsed.ptr != name.data() + name.size() ||
        launcher->spare_state_files_.size() >= kMaxSpareStateFiles) {
      std::filesystem::remove(entry.path(), ec);
      continue;
    }
    launcher->spare_state_files_.push_back(entry.path());
    launcher->next_spare_ = std::max(launcher->next_spare_, number + 1);
  }
  // The soft limit on open descriptors the host had before it raised it (tessera-host raises
  // its own to the hard limit): tasks get that one back.
  if (const char* limit = std::getenv(tessera::sdk::kOriginalNofileLimitVariable)) {
    uint64_t value = 0;
    auto parsed = std::from_chars(limit, limit + std::strlen(limit), value);
    if (parsed.ec == std::errc() && *parsed.ptr == '\0' && value > 0) {
      launcher->task_nofile_soft_limit_ = value;
    }
  }
  return launcher;
}

PosixLauncher::PosixLauncher(std::filesystem::path state_dir, std::filesystem::path supervisor,
                             int epoll_fd, Scheduler scheduler, ExitHandler on_exit)
    : state_dir_(std::move(state_dir)),
      supervisor_(std::move(supervisor)),
      epoll_fd_(epoll_fd),
      scheduler_(std::move(scheduler)),
      on_exit_(std::move(on_exit)),
      boot_id_(read_boot_id()) {}

PosixLauncher::~PosixLauncher() {
  for (auto& [id, c] : containers_) {
    if (c.pidfd >= 0) ::close(c.pidfd);
    if (c.gate >= 0) ::close(c.gate);
    if (c.control >= 0) ::close(c.control);
  }
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
}

std::filesystem::path PosixLauncher::state_file(const std::string& id) const {
  return state_dir_ / (file_name(id) + ".container");
}

std::filesystem::path PosixLauncher::status_file(const std::string& id) const {
  return state_dir_ / (file_name(id) + ".status");
}

Status PosixLauncher::write_state_file(const std::string& id, const std::string& text,
                                       bool create) {
  // One pwrite(2) of whole pages: a process killed during it leaves the file as it was or with
  // the whole text, never a part (a machine crash may, but then the boot id differs and the
  // file is stale anyway). No temporary file and rename, and no truncation: the record is a
  // whole page padded with NULs, written over what was there. The intent also clears the status
  // page, so that a reused file shows no status of the container it held before.
  if (text.size() >= kStatePage) {
    return make_error("the state of container '" + id + "' does not fit in a page");
  }
  std::filesystem::path path = state_file(id);
  int flags = O_WRONLY | O_CLOEXEC;
  if (create && !spare_state_files_.empty()) {
    // A spare file from an ended container, renamed into place: no new inode.
    if (::rename(spare_state_files_.back().c_str(), path.c_str()) != 0) {
      flags |= O_CREAT | O_TRUNC;
    }
    spare_state_files_.pop_back();
  } else if (create) {
    flags |= O_CREAT | O_TRUNC;
  }
  int fd = ::open(path.c_str(), flags, 0644);
  if (fd < 0) return make_error("cannot open '" + path.string() + "': " + errno_text(errno));
  std::string pages(create ? 2 * kStatePage : kStatePage, '\0');
  pages.replace(0, text.size(), text);
  ssize_t n = ::pwrite(fd, pages.data(), pages.size(), 0);
  int error = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(pages.size())) {
    return make_error("cannot write '" + path.string() +
                      "': " + (n < 0 ? errno_text(error) : "short write"));
  }
  return {};
}

void PosixLauncher::retire_state_file(const std::string& id) {
  std::error_code ec;
  if (spare_state_files_.size() < kMaxSpareStateFiles) {
    std::filesystem::path spare = spare_dir() / std::to_string(next_spare_++);
    if (::rename(state_file(id).c_str(), spare.c_str()) == 0) {
      spare_state_files_.push_back(std::move(spare));
      return;
    }
  }
  std::filesystem::remove(state_file(id), ec);
}

Status PosixLauncher::write_intent(const std::string& id, const std::string& sandbox) {
  std::string text = "container_id=" + id + "\nphase=" + kPhaseLaunching + "\n";
  if (!sandbox.empty()) text += "sandbox=" + sandbox + "\n";
  return write_state_file(id, text + "boot_id=" + boot_id_ + "\n", /*create=*/true);
}

std::filesystem::path PosixLauncher::spare_dir() const { return state_dir_ / "spare"; }

Status PosixLauncher::write_state(const Container& c) {
  // Written over the intent from its first byte, and longer than it (everything the intent has,
  // and the pid, process group and start time besides), so it covers the intent whole without a
  // truncation that a kill could separate from the write.
  std::ostringstream out;
  out << "container_id=" << c.id << "\nphase=" << kPhaseRunning << "\npid=" << c.pid
      << "\npgid=" << c.pid << "\nstart_time=" << c.start_time << "\n";
  if (c.supervisor > 0) {
    out << "supervisor_pid=" << c.supervisor
        << "\nsupervisor_start_time=" << c.supervisor_start_time << "\n";
  }
  if (!c.sandbox.empty()) out << "sandbox=" << c.sandbox << "\n";
  out << "boot_id=" << boot_id_ << "\n";
  return write_state_file(c.id, out.str(), /*create=*/false);
}

Status PosixLauncher::watch_fd(int fd, uint64_t serial, bool control) {
  // The low bit tells a launch's control socket from the pidfd of the same container.
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.u64 = (serial << 1) | (control ? 1 : 0);
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event) != 0) {
    return make_error("epoll_ctl: " + errno_text(errno));
  }
  return {};
}

Status PosixLauncher::watch(Container& c) {
  if (auto s = watch_fd(c.pidfd, c.serial, /*control=*/false); !s) return s;
  by_serial_[c.serial] = c.id;
  return {};
}

void PosixLauncher::unwatch(Container& c) {
  if (c.gate >= 0) ::close(c.gate);
  c.gate = -1;
  if (c.control >= 0) {
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c.control, nullptr);
    ::close(c.control);
    c.control = -1;
  }
  if (c.pidfd < 0) return;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c.pidfd, nullptr);
  ::close(c.pidfd);
  c.pidfd = -1;
  by_serial_.erase(c.serial);
}

PosixLauncher::Container* PosixLauncher::find(const std::string& id, uint64_t serial) {
  auto it = containers_.find(id);
  if (it == containers_.end() || it->second.serial != serial) return nullptr;
  return &it->second;
}

Status PosixLauncher::admit(const LaunchSpec& spec, LaunchedHandler on_launched, bool may_queue,
                            uint64_t* serial) {
  const std::string& id = spec.container_id;
  if (id.empty() || id.find('\n') != std::string::npos || id.size() > 200) {
    return make_error("invalid container id '" + id + "' (1 to 200 characters, no newline)");
  }
  if (containers_.count(id) != 0) {
    return make_error("container '" + id + "' is already running");
  }
  if (spec.value.empty()) return make_error("container '" + id + "': the command is empty");
  if (spec.sandbox.empty() || !spec.sandbox.is_absolute()) {
    return make_error("container '" + id + "': the sandbox '" + spec.sandbox.string() +
                      "' is not an absolute path");
  }
  Container& c = containers_[id];
  c.id = id;
  c.serial = ++next_serial_;
  c.hold = spec.hold;
  c.on_launched = std::move(on_launched);
  *serial = c.serial;
  if (may_queue && starting_ >= kMaxStartingLaunches) {
    c.queued = true;
    queue_.push_back(QueuedLaunch{spec, c.serial});
    return {};
  }
  if (auto s = begin_launch(spec, c); !s) {
    containers_.erase(id);
    return s;
  }
  return {};
}

Status PosixLauncher::start_launch(const LaunchSpec& spec, LaunchedHandler on_launched) {
  uint64_t serial = 0;
  return admit(spec, std::move(on_launched), /*may_queue=*/true, &serial);
}

Result<Launched> PosixLauncher::launch(const LaunchSpec& spec) {
  Result<Launched> out = make_error("container '" + spec.container_id + "' was not answered");
  uint64_t serial = 0;
  auto admitted = admit(
      spec, [&out](const std::string&, Result<Launched> result) { out = std::move(result); },
      /*may_queue=*/false, &serial);
  if (!admitted) return admitted.error();
  settle(spec.container_id, serial);
  return out;
}

void PosixLauncher::settle(const std::string& id, uint64_t serial) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kSupervisorReportMs);
  for (Container* c = find(id, serial); c != nullptr && c->launching; c = find(id, serial)) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return fail_launch(id, serial, "its supervisor did not report the task's pid in time");
    }
    pollfd p{c->control, POLLIN, 0};
    int ready = ::poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno != EINTR) {
      return fail_launch(id, serial, "poll: " + errno_text(errno));
    }
    if (ready > 0) read_report(id, serial);
  }
}

Status PosixLauncher::begin_launch(const LaunchSpec& spec, Container& c) {
  const std::string& id = spec.container_id;
  std::error_code ec;
  std::filesystem::create_directories(spec.sandbox, ec);
  if (ec) {
    return make_error("container '" + id + "': cannot create sandbox '" + spec.sandbox.string() +
                      "': " + ec.message());
  }

  std::vector<std::string> argv;
  std::string program;
  if (spec.shell) {
    program = "/bin/sh";
    argv = {"sh", "-c", spec.value};
  } else {
    auto path = spec.environment.find("PATH");
    auto found =
        find_program(spec.value, path != spec.environment.end() ? path->second : kDefaultPath);
    if (!found) return found.error().context("container '" + id + "'");
    program = *found;
    // The supervisor execs it after its fork, too late for the launch to fail: what cannot be
    // run fails here.
    if (::access(program.c_str(), X_OK) != 0) {
      return make_error("container '" + id + "': cannot start '" + program +
                        "': " + errno_text(errno));
    }
    argv.push_back(spec.value);
    argv.insert(argv.end(), spec.arguments.begin(), spec.arguments.end());
  }
  // The task's environment, with the marker by which a recovery finds this container's
  // processes, whoever set it before (and without a supervisor's marker, which would pass the
  // task for a supervisor). It goes to the supervisor through its control socket,
  // not into the supervisor's own environment: only the task's processes carry the marker.
  std::vector<std::string> env;
  for (const auto& [k, v] : spec.environment) {
    if (k != kContainerMarker && k != kSupervisorMarker) env.push_back(k + "=" + v);
  }
  env.push_back(std::string(kContainerMarker) + "=" + id);
  // The supervisor's control socket: the launch goes out on it, the task's pid comes back, and
  // a held task waits on it for its release.
  Pipe control;
  if (auto s = control.open(); !s) return s.error().context("container '" + id + "'");
  std::string launch_message =
      encode_launch(state_file(id).string(), spec.hold, program, argv, env);
  std::vector<std::string> supervisor_argv = {"tessera-task-supervisor", id};
  if (task_nofile_soft_limit_ > 0) {
    supervisor_argv.push_back("--nofile=" + std::to_string(task_nofile_soft_limit_));
  }
  std::vector<std::string> supervisor_env = {std::string(kSupervisorMarker) + "=" + id};
  std::vector<char*> argv_c, env_c;
  for (auto& a : supervisor_argv) argv_c.push_back(a.data());
  argv_c.push_back(nullptr);
  for (auto& e : supervisor_env) env_c.push_back(e.data());
  env_c.push_back(nullptr);

  std::string out_path = (spec.sandbox / "stdout").string();
  std::string err_path = (spec.sandbox / "stderr").string();
  std::string dir = spec.sandbox.string();
  SpawnSetup setup;
  // The supervisor gets a session of its own (no terminal's signals, nor a signal to the host's
  // process group, reach it), and the task another one, which it makes after the supervisor's
  // fork: so the task leads its own process group (sid = pgid = pid), kill reaches the task's
  // children too and never the supervisor, and a recovery can tell the task's leader from its
  // children (only the leader leads a session of its own id, and a session leader cannot leave
  // its group). Both inherit the rest from this spawn: the host blocks SIGINT/SIGTERM in all its
  // threads and may ignore others, so they get an empty mask and default dispositions for every
  // signal; stdin is /dev/null, stdout and stderr the sandbox's files, the working directory the
  // sandbox.
  sigset_t empty, all;
  sigemptyset(&empty);
  sigfillset(&all);
  posix_spawnattr_setflags(&setup.attr,
                           POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setsigmask(&setup.attr, &empty);
  posix_spawnattr_setsigdefault(&setup.attr, &all);
  posix_spawn_file_actions_addopen(&setup.actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&setup.actions, STDOUT_FILENO, out_path.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_addopen(&setup.actions, STDERR_FILENO, err_path.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_addchdir_np(&setup.actions, dir.c_str());
  // Descriptors the host opened without O_CLOEXEC must not leak into tasks.
  posix_spawn_file_actions_adddup2(&setup.actions, control.read_end, kControlDescriptor);
  posix_spawn_file_actions_addclosefrom_np(&setup.actions, kControlDescriptor + 1);

  // The intent comes before the process: if this process dies at any point from here on, the
  // next recovery knows the container may exist and looks for it by its marker, or by its
  // working directory (the sandbox as the kernel names it, links resolved) while its exec is
  // still under way.
  std::string sandbox = resolved_directory(spec.sandbox);
  // Left out of the record when it would not fit in its page (it only helps a recovery find a
  // process caught in its exec).
  if (sandbox.find('\n') != std::string::npos || sandbox.size() > kStatePage / 2) {
    sandbox.clear();
  }
  if (auto s = write_intent(id, sandbox); !s) return s.error().context("container '" + id + "'");
  pid_t supervisor = 0;
  int rc = ::posix_spawn(&supervisor, supervisor_.c_str(), &setup.actions, &setup.attr,
                         argv_c.data(), env_c.data());
  if (rc != 0) {
    std::filesystem::remove(state_file(id), ec);
    return make_error("container '" + id + "': cannot start the task supervisor '" +
                      supervisor_.string() + "': " + errno_text(rc));
  }
  ::close(control.read_end);
  control.read_end = -1;
  c.supervisor = supervisor;
  c.sandbox = sandbox;
  // The supervisor cannot have been reaped (only we wait for it), so its stat is there.
  if (auto stat = read_stat(supervisor)) c.supervisor_start_time = stat->start_time;
  c.pidfd = pidfd_open(supervisor);
  Status problem = send_launch(control.write_end, launch_message);
  if (problem) {
    if (c.pidfd < 0) {
      problem = make_error("pidfd_open: " + errno_text(errno));
    } else if (auto s = watch(c); !s) {
      problem = s;
    }
  }
  c.control = control.take_write_end();
  if (problem) {
    // The pid report is read from the loop: a slow supervisor delays its own launch only.
    problem = watch_fd(c.control, c.serial, /*control=*/true);
  }
  if (!problem) {
    // The supervisor is our child and has no task (or its task never heard from us): end it.
    ::kill(supervisor, SIGKILL);
    siginfo_t info{};
    ::waitid(P_PID, static_cast<id_t>(supervisor), &info, WEXITED);
    unwatch(c);
    std::filesystem::remove(state_file(id), ec);
    std::filesystem::remove(status_file(id), ec);
    return problem.error().context("container '" + id + "'");
  }
  c.launching = true;
  ++starting_;
  uint64_t serial = c.serial;
  scheduler_(std::chrono::milliseconds(kSupervisorReportMs), [this, id, serial] {
    Container* late = find(id, serial);
    if (late != nullptr && late->launching) {
      fail_launch(id, serial, "its supervisor did not report the task's pid in time");
    }
  });
  return {};
}

bool PosixLauncher::read_report(const std::string& id, uint64_t serial) {
  Container* c = find(id, serial);
  if (c == nullptr || !c->launching) return false;
  while (c->report.size() < sizeof(int32_t)) {
    char buffer[sizeof(int32_t)];
    ssize_t n = ::recv(c->control, buffer, sizeof(int32_t) - c->report.size(), MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    if (n <= 0) {
      fail_launch(id, serial,
                  n == 0 ? std::string("its supervisor ended before it started the task")
                         : "cannot read its supervisor's report: " + errno_text(errno));
      return false;
    }
    c->report.append(buffer, static_cast<size_t>(n));
  }
  int32_t pid = 0;
  std::memcpy(&pid, c->report.data(), sizeof pid);
  complete_launch(*c, static_cast<pid_t>(pid));
  return false;
}

void PosixLauncher::complete_launch(Container& c, pid_t pid) {
  std::string id = c.id;
  uint64_t serial = c.serial;
  if (pid <= 0) return fail_launch(id, serial, "its supervisor reported an invalid pid");
  c.pid = pid;
  // The task may be gone already (a task that ends at once); it is then never adopted, and its
  // supervisor's status says how it ended.
  if (auto stat = read_stat(pid)) c.start_time = stat->start_time;
  if (auto w = write_state(c); !w) {
    // Could not checkpoint it: do not leave an unmanaged task behind.
    signal_group(pid, c.start_time, SIGKILL);
    return fail_launch(id, serial, "checkpoint: " + w.error().message);
  }
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c.control, nullptr);
  if (c.hold) {
    c.gate = c.control;
  } else {
    ::close(c.control);
  }
  c.control = -1;
  c.launching = false;
  --starting_;
  LaunchedHandler answer = std::move(c.on_launched);
  auto kill_after = c.kill_after_launch;
  Launched launched{pid, c.start_time};
  // The answer may launch, kill or release containers: `c` is not used after it.
  if (answer) answer(id, launched);
  if (kill_after && find(id, serial) != nullptr) (void)kill(id, *kill_after);
  start_queued();
}

void PosixLauncher::fail_launch(const std::string& id, uint64_t serial,
                                const std::string& message) {
  Container* c = find(id, serial);
  if (c == nullptr) return;
  if (c->launching) {
    // Our child: it is ended and reaped here, whatever it did. A held task it forked exits when
    // the control socket closes; any other is killed with the group it leads once it reported.
    if (c->pid > 0) ::kill(-c->pid, SIGKILL);
    ::kill(c->supervisor, SIGKILL);
    siginfo_t info{};
    ::waitid(P_PID, static_cast<id_t>(c->supervisor), &info, WEXITED);
    --starting_;
  }
  unwatch(*c);
  LaunchedHandler answer = std::move(c->on_launched);
  containers_.erase(id);
  std::error_code ec;
  std::filesystem::remove(state_file(id), ec);
  std::filesystem::remove(status_file(id), ec);
  if (answer) answer(id, make_error("container '" + id + "': " + message));
  start_queued();
}

void PosixLauncher::start_queued() {
  while (starting_ < kMaxStartingLaunches && !queue_.empty()) {
    QueuedLaunch next = std::move(queue_.front());
    queue_.pop_front();
    const std::string& id = next.spec.container_id;
    Container* c = find(id, next.serial);
    if (c == nullptr || !c->queued) continue;
    c->queued = false;
    if (auto s = begin_launch(next.spec, *c); !s) {
      LaunchedHandler answer = std::move(c->on_launched);
      containers_.erase(id);
      if (answer) answer(id, s.error());
    }
  }
}

void PosixLauncher::on_readable() {
  epoll_event events[32];
  while (true) {
    int n = ::epoll_wait(epoll_fd_, events, 32, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    for (int i = 0; i < n; ++i) {
      uint64_t serial = events[i].data.u64 >> 1;
      bool control = (events[i].data.u64 & 1) != 0;
      auto it = by_serial_.find(serial);
      if (it == by_serial_.end()) continue;
      std::string id = it->second;
      Container* c = find(id, serial);
      if (c == nullptr) continue;
      if (c->launching) {
        // The report first, also when the supervisor has ended since: the launch is answered
        // before the exit is reported.
        read_report(id, serial);
        c = find(id, serial);
        if (c == nullptr || control) continue;
        if (c->launching) {
          fail_launch(id, serial, "its supervisor ended before it started the task");
          continue;
        }
      }
      if (!control) leader_ended(*c);
    }
    if (n < 32) return;
  }
}

void PosixLauncher::leader_ended(Container& c) {
  if (c.supervisor > 0) return supervisor_ended(c);
  // While the leader is an unreaped zombie its pid (the group id) cannot be reused, so this
  // SIGKILL reaches only what is left of the task: no orphans outlive their task.
  auto stat = read_stat(c.pid);
  bool leader_zombie = stat && stat->start_time == c.start_time && stat->state == 'Z';
  if (!c.adopted || leader_zombie) ::kill(-c.pid, SIGKILL);
  siginfo_t info{};
  int rc = ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(c.pidfd), &info,
                    WEXITED | WNOHANG);
  if (rc == 0 && info.si_pid == 0) return;  // not ended yet (spurious wake-up)
  if (rc == 0) {
    if (info.si_code == CLD_EXITED) {
      c.exit.exit_code = info.si_status;
    } else {
      c.exit.exit_code = -1;
      c.exit.signal = info.si_status;
    }
    c.exit.message = "container '" + c.id + "' " + describe_status(c.exit);
  } else {
    // Re-adopted after a restart and not our child: someone else reaped it, the status is lost.
    // With the pid free, a group of that id can only be what is left of this task's.
    if (!read_stat(c.pid)) ::kill(-c.pid, SIGKILL);
    c.exit.exit_code = -1;
    c.exit.signal = 0;
    c.exit.message = "container '" + c.id + "' exited; its exit status is unknown because " +
                     (c.supervisor_lost ? std::string("its supervisor was killed")
                                        : std::string("the agent was restarted while it ran and "
                                                      "its supervisor was not found"));
  }
  if (c.sigkilled) c.exit.message += " after the kill grace period expired";
  unwatch(c);
  c.leader_done = true;
  c.group_deadline = std::chrono::steady_clock::now() + kGroupWait;
  await_group(c.id, c.serial);
}

void PosixLauncher::supervisor_ended(Container& c) {
  // Our child unless it was re-adopted after a restart; then waitid fails (ECHILD) and the
  // pidfd being readable is what says it ended.
  siginfo_t info{};
  int rc = ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(c.pidfd), &info,
                    WEXITED | WNOHANG);
  if (rc == 0 && info.si_pid == 0) return;  // not ended yet (spurious wake-up)
  std::error_code ec;
  auto status = read_status(state_file(c.id), status_file(c.id), c.supervisor);
  unwatch(c);
  if (!status) {
    // The supervisor was killed before its task ended, or before it could write the status:
    // the task may run on, no longer anyone's child. It is watched by itself from now on.
    c.supervisor = 0;
    c.adopted = true;
    c.supervisor_lost = true;
    int pidfd = pidfd_open(c.pid);
    auto start = process_start_time(c.pid);
    if (pidfd >= 0 && start && *start == c.start_time && c.start_time != 0) {
      c.pidfd = pidfd;
      if (watch(c)) {
        (void)write_state(c);
        return;
      }
      c.pidfd = -1;
    }
    if (pidfd >= 0) ::close(pidfd);
    if (rc == 0 && info.si_pid != 0) {
      // Our own child, and its task is gone: a supervisor that could not write the status
      // file (a full disk) ends as its task did (task_supervisor.cpp).
      c.exit.exit_code = info.si_code == CLD_EXITED ? info.si_status : -1;
      c.exit.signal = info.si_code == CLD_EXITED ? 0 : info.si_status;
      c.exit.message = "container '" + c.id + "' " + describe_status(c.exit) +
                       " (its supervisor could not write the status file)";
    } else {
      c.exit.exit_code = -1;
      c.exit.signal = 0;
      c.exit.message = "container '" + c.id +
                       "' ended; its exit status is unknown because its supervisor was killed";
    }
  } else {
    c.exit.exit_code = status->exit_code;
    c.exit.signal = status->signal;
    c.exit.message = "container '" + c.id + "' " + describe_status(c.exit);
    if (c.adopted) c.exit.message += " (re-adopted after an agent restart)";
  }
  if (c.sigkilled) c.exit.message += " after the kill grace period expired";
  c.leader_done = true;
  c.group_deadline = std::chrono::steady_clock::now() + kGroupWait;
  await_group(c.id, c.serial);
}

void PosixLauncher::await_group(const std::string& id, uint64_t serial) {
  Container* c = find(id, serial);
  if (c == nullptr) return;
  // kill(-pgid, 0) fails with ESRCH once the group is empty: the common, cheap case. It still
  // succeeds for zombies nobody reaped, so then look at the members themselves.
  bool empty = ::kill(-c->pid, 0) != 0 && errno == ESRCH;
  if (!empty) empty = live_group_members(c->pid).empty();
  if (!empty && std::chrono::steady_clock::now() < c->group_deadline) {
    ::kill(-c->pid, SIGKILL);
    scheduler_(kGroupPoll, [this, id, serial] { await_group(id, serial); });
    return;
  }
  if (!empty) c->exit.message += "; some processes of its group were still alive";
  finish(id);
}

// `id` by value: callers pass the container's own id, which erase() frees.
void PosixLauncher::finish(std::string id) {  // NOLINT(performance-unnecessary-value-param)
  auto it = containers_.find(id);
  if (it == containers_.end()) return;
  Exit exit = it->second.exit;
  exit.container_id = id;
  unwatch(it->second);
  containers_.erase(it);
  // Its supervisor has ended (its status is read): nothing writes to the file any more.
  retire_state_file(id);
  if (on_exit_) on_exit_(exit);
}

Status PosixLauncher::release(const std::string& id) {
  auto it = containers_.find(id);
  if (it == containers_.end()) return make_error("unknown container '" + id + "'");
  Container& c = it->second;
  if (c.queued || c.launching) return make_error("container '" + id + "' is not launched yet");
  if (c.gate < 0) return make_error("container '" + id + "' is not held");
  ssize_t written = 0;
  do {
    written = ::send(c.gate, "\n", 1, MSG_NOSIGNAL);
  } while (written < 0 && errno == EINTR);
  int error = errno;
  ::close(c.gate);
  c.gate = -1;
  // EPIPE: it is gone already (killed while held); its exit is on the way.
  if (written != 1 && error != EPIPE) {
    return make_error("container '" + id + "': cannot release it: " + errno_text(error));
  }
  return {};
}

Status PosixLauncher::kill(const std::string& id, std::chrono::milliseconds grace) {
  auto it = containers_.find(id);
  if (it == containers_.end()) return make_error("unknown container '" + id + "'");
  Container& c = it->second;
  if (c.queued || c.launching) {
    // No pid to signal yet: the kill follows the launch's answer.
    c.kill_after_launch = grace;
    return {};
  }
  if (c.leader_done) return {};  // already ending; its exit follows
  c.killing = true;
  if (grace.count() <= 0) {
    c.sigkilled = true;
    signal_group(c.pid, c.start_time, SIGKILL);
    return {};
  }
  signal_group(c.pid, c.start_time, SIGTERM);
  signal_group(c.pid, c.start_time, SIGCONT);  // a stopped task must run to see its SIGTERM
  uint64_t serial = c.serial;
  scheduler_(grace, [this, id, serial] { escalate(id, serial); });
  return {};
}

void PosixLauncher::escalate(const std::string& id, uint64_t serial) {
  Container* c = find(id, serial);
  if (c == nullptr || c->leader_done) return;
  c->sigkilled = true;
  signal_group(c->pid, c->start_time, SIGKILL);
}

Recovered PosixLauncher::recover(const std::vector<std::pair<std::string, int64_t>>& containers) {
  Recovered out;
  // Every container with a state file, by id; stray temporary files are left-overs of a write
  // cut short.
  std::map<std::string, std::map<std::string, std::string>> states;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(state_dir_, ec)) {
    const std::filesystem::path& path = entry.path();
    if (path.extension() == ".tmp") {
      std::filesystem::remove(path, ec);
      continue;
    }
    if (path.extension() != ".container") continue;
    auto state = parse_key_values(read_state_page(path, 0));
    std::string id = state["container_id"];
    if (id.empty()) {
      // Created, and the launcher died before it wrote its intent, so before the spawn too;
      // looked for by its marker all the same, under the id its name stands for.
      auto named_id = id_of_file_name(path.stem().string());
      if (named_id) {
        id = *named_id;
        state = {{"container_id", id}, {"phase", kPhaseLaunching}, {"boot_id", boot_id_}};
      }
    }
    if (id.empty() || state_file(id) != path) {
      // Not a record this launcher wrote: nothing in it can be trusted to name a process.
      std::filesystem::remove(path, ec);
      continue;
    }
    if (containers_.count(id) == 0) states[id] = std::move(state);
  }
  // One scan of /proc for the marked processes of every container that is not watched already.
  std::set<std::string> ids;
  std::map<std::string, std::string> sandboxes;
  for (const auto& [id, state] : states) {
    ids.insert(id);
    auto sandbox = state.find("sandbox");
    if (sandbox != state.end() && !sandbox->second.empty()) sandboxes[sandbox->second] = id;
  }
  // Supervisors first: a task not exec'd yet carries its supervisor's marker, and its
  // container's marker only after the exec. Scanned in the other order, a task that execs
  // between the two scans was in neither (seen before its exec by the first, after it by the
  // second) and was neither adopted nor killed. In this order it is in one of them, or both.
  std::map<std::string, std::vector<MarkedProcess>> supervisors = supervisor_processes(ids);
  std::map<std::string, std::vector<MarkedProcess>> marked = marked_processes(ids, sandboxes);

  std::set<std::string> named;
  for (const auto& [id, agent_pid] : containers) {
    if (!named.insert(id).second) continue;
    auto known = containers_.find(id);
    if (known != containers_.end()) {
      if (agent_pid == 0 || agent_pid == known->second.pid) {
        out.alive.push_back(id);
      } else {
        // The agent remembers another process than the one running: it reports the task
        // lost, so nothing of the container may run on.
        (void)kill(id, std::chrono::milliseconds(0));
        out.gone.push_back(id);
      }
      continue;
    }
    auto state = states.find(id);
    if (state == states.end()) {
      // Never started here (no intent), or ended and reported before the agent went down.
      out.gone.push_back(id);
      continue;
    }
    if (adopt(id, state->second, agent_pid, marked[id], supervisors[id])) {
      out.alive.push_back(id);
    } else {
      destroy(id, state->second, marked[id], supervisors[id]);
      out.gone.push_back(id);
    }
  }
  for (const auto& [id, state] : states) {
    if (named.count(id) != 0) continue;
    destroy(id, state, marked[id], supervisors[id]);
    out.orphans.push_back(id);
  }
  for (const auto& [id, c] : containers_) {
    if (named.count(id) != 0) continue;
    // Watched already (this launcher started it, the agent does not want it): killed through
    // the usual path (kill() only signals), so its exit is reported and the agent ignores it.
    (void)kill(id, std::chrono::milliseconds(0));
    out.orphans.push_back(id);
  }
  // Statuses of containers that are no more (written by a supervisor after its container was
  // destroyed) are left-overs.
  for (const auto& entry : std::filesystem::directory_iterator(state_dir_, ec)) {
    const std::filesystem::path& path = entry.path();
    if (path.extension() != ".status") continue;
    auto id = id_of_file_name(path.stem().string());
    if (!id || containers_.count(*id) == 0) std::filesystem::remove(path, ec);
  }
  return out;
}

bool PosixLauncher::adopt(const std::string& id, const std::map<std::string, std::string>& state,
                          int64_t agent_pid, const std::vector<MarkedProcess>& marked,
                          const std::vector<MarkedProcess>& supervisors) {
  auto field = [&state](const char* key) { return state_field(state, key); };
  if (field("boot_id") != boot_id_) return false;
  bool launching = field("phase") == kPhaseLaunching;
  pid_t pid = 0;
  uint64_t start_time = 0;
  if (launching) {
    // The launcher died between its intent and its record of the pid. The leader is the marked
    // process that leads a session of its own; a child that made a session of its own later
    // started later (ties broken by the lower pid, pids being handed out in increasing order).
    const MarkedProcess* leader = nullptr;
    for (const MarkedProcess& p : marked) {
      if (p.session != p.pid) continue;
      if (leader == nullptr || p.start_time < leader->start_time ||
          (p.start_time == leader->start_time && p.pid < leader->pid)) {
        leader = &p;
      }
    }
    // Or a task not exec'd yet: still a copy of its supervisor (its marker too), but the child of
    // another supervisor of the container (a supervisor's parent is never one), in a session of
    // its own or, before its setsid, still in its supervisor's.
    for (const MarkedProcess& p : supervisors) {
      if (leader != nullptr) continue;
      auto stat = read_stat(p.pid);
      for (const MarkedProcess& parent : supervisors) {
        if (stat && stat->state != 'Z' && stat->ppid == parent.pid) leader = &p;
      }
    }
    if (leader == nullptr) return false;
    pid = leader->pid;
    start_time = leader->start_time;
  } else {
    try {
      pid = static_cast<pid_t>(std::stol(field("pid")));
      start_time = std::stoull(field("start_time"));
    } catch (const std::exception&) {
      return false;
    }
  }
  if (pid <= 0 || (agent_pid != 0 && agent_pid != pid)) return false;
  std::map<std::string, std::string> supervised = state;
  if (launching) {
    // The record of the supervisor was not written either: it is the leader's parent, found by
    // its marker.
    auto leader = read_stat(pid);
    for (const MarkedProcess& s : supervisors) {
      if (leader && leader->ppid == s.pid) {
        supervised["supervisor_pid"] = std::to_string(s.pid);
        supervised["supervisor_start_time"] = std::to_string(s.start_time);
      }
    }
  }
  if (supervised.count("supervisor_pid") != 0) {
    if (adopt_supervised(id, supervised, pid, start_time)) {
      if (launching) (void)write_state(containers_.at(id));
      return true;
    }
    // The supervisor was killed without writing a status: the task alone is adopted, if it runs.
  }
  // Open the pidfd first, then check the process behind the pid: if the check passes, the
  // pidfd is that process (a pid cannot go round between the two for the same start time).
  int pidfd = pidfd_open(pid);
  auto stat = read_stat(pid);
  bool same = stat && stat->start_time == start_time;
  if (pidfd >= 0 && same && stat->state != 'Z' && stat->state != 'X') {
    Container c = adopted(id, pid, start_time, field("sandbox"));
    c.pidfd = pidfd;
    if (watch(c)) {
      // A record with the pid from now on, so that the next recovery needs no marker.
      if (launching) (void)write_state(c);
      containers_.emplace(id, std::move(c));
      return true;
    }
  }
  if (pidfd >= 0) ::close(pidfd);
  return false;
}

PosixLauncher::Container PosixLauncher::adopted(const std::string& id, pid_t pid,
                                                uint64_t start_time, std::string sandbox) {
  Container c;
  c.id = id;
  c.serial = ++next_serial_;
  c.pid = pid;
  c.start_time = start_time;
  c.adopted = true;
  c.sandbox = std::move(sandbox);
  return c;
}

bool PosixLauncher::adopt_supervised(const std::string& id,
                                     const std::map<std::string, std::string>& state, pid_t pid,
                                     uint64_t start_time) {
  auto field = [&state](const char* key) { return state_field(state, key); };
  pid_t supervisor = 0;
  uint64_t supervisor_start = 0;
  try {
    supervisor = static_cast<pid_t>(std::stol(field("supervisor_pid")));
    supervisor_start = std::stoull(field("supervisor_start_time"));
  } catch (const std::exception&) {
    return false;
  }
  if (supervisor <= 0) return false;
  // A task that still runs must be the recorded one: a record naming another process is not
  // trusted for its supervisor either.
  if (auto task = read_stat(pid); task && task->start_time != start_time) return false;
  Container c = adopted(id, pid, start_time, field("sandbox"));
  c.supervisor = supervisor;
  c.supervisor_start_time = supervisor_start;
  // The supervisor still runs: it is watched again, and says how the task ended when it does.
  int pidfd = pidfd_open(supervisor);
  auto stat = read_stat(supervisor);
  bool same = stat && stat->start_time == supervisor_start;
  bool alive = same && stat->state != 'Z' && stat->state != 'X';
  if (same && !alive && stat->ppid == ::getpid()) {
    // Our own child that ended (the launcher was recreated in this process): reaped here, so
    // that no zombie is left; its status file says the rest.
    siginfo_t info{};
    ::waitid(P_PID, static_cast<id_t>(supervisor), &info, WEXITED | WNOHANG);
  }
  if (pidfd >= 0 && alive) {
    c.pidfd = pidfd;
    if (watch(c)) {
      containers_.emplace(id, std::move(c));
      return true;
    }
    c.pidfd = -1;
  }
  if (pidfd >= 0) ::close(pidfd);
  // The task ended while nobody watched, and its supervisor wrote how: adopted as ended, its
  // exit reported once the caller has heard of the recovery (the scheduler runs it later).
  auto status = read_status(state_file(id), status_file(id), supervisor);
  if (!status) return false;
  c.exit.exit_code = status->exit_code;
  c.exit.signal = status->signal;
  c.exit.message =
      "container '" + id + "' " + describe_status(c.exit) + " while the agent was not running";
  c.leader_done = true;
  c.group_deadline = std::chrono::steady_clock::now() + kGroupWait;
  uint64_t serial = c.serial;
  containers_.emplace(id, std::move(c));
  scheduler_(std::chrono::milliseconds(0), [this, id, serial] { await_group(id, serial); });
  return true;
}

void PosixLauncher::destroy(const std::string& id, const std::map<std::string, std::string>& state,
                            const std::vector<MarkedProcess>& marked,
                            const std::vector<MarkedProcess>& supervisors) {
  auto field = [&state](const char* key) { return state_field(state, key); };
  pid_t pid = 0;
  uint64_t start_time = 0;
  try {
    if (field("boot_id") == boot_id_ && field("phase") != kPhaseLaunching) {
      pid = static_cast<pid_t>(std::stol(field("pid")));
      start_time = std::stoull(field("start_time"));
    }
  } catch (const std::exception&) {
    pid = 0;
  }
  if (pid > 0) {
    // The group is killed only while its id is provably the container's: its leader still has
    // the recorded start time (alive, or our own unreaped zombie), or the pid is free while
    // members of the group live on (a group id is not reused while the group has members). A
    // pid now used by another process is never touched, nor its group.
    auto stat = read_stat(pid);
    if (stat && stat->start_time == start_time) {
      ::kill(-pid, SIGKILL);
      if (stat->ppid == ::getpid()) {
        // Our own child (the launcher was recreated in this process): reap it, so that no
        // zombie is left. SIGKILL ends it at once unless it is in an uninterruptible wait.
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
        siginfo_t info{};
        while (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG) == 0 &&
               info.si_pid == 0 && std::chrono::steady_clock::now() < deadline) {
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
      }
    } else if (!stat) {
      if (!live_group_members(pid).empty()) ::kill(-pid, SIGKILL);
    }
  }
  // And every process that carries the container's marker, wherever it moved.
  for (const MarkedProcess& p : marked) kill_process(p.pid, p.start_time);
  // Its supervisors (the recorded one, and any found by their marker, which includes a task
  // caught before its exec) are killed too: nothing of the container is reported, so their
  // status is not wanted. They are waited for, so that none writes a status after the state is
  // forgotten, and reaped when they are our own children (the launcher was recreated in this
  // process), so that no zombie is left.
  std::vector<MarkedProcess> waited = supervisors;
  try {
    auto recorded = static_cast<pid_t>(std::stol(field("supervisor_pid")));
    auto recorded_start = std::stoull(field("supervisor_start_time"));
    auto stat = recorded > 0 ? read_stat(recorded) : std::nullopt;
    if (stat && stat->start_time == recorded_start) waited.push_back({recorded, 0, recorded_start});
  } catch (const std::exception&) {
    // No supervisor recorded (the intent of a launch cut short).
  }
  for (const MarkedProcess& s : waited) kill_process(s.pid, s.start_time);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  for (const MarkedProcess& s : waited) {
    while (std::chrono::steady_clock::now() < deadline) {
      auto stat = read_stat(s.pid);
      if (!stat || stat->start_time != s.start_time) break;
      if (stat->ppid == ::getpid()) {
        siginfo_t info{};
        if (::waitid(P_PID, static_cast<id_t>(s.pid), &info, WEXITED | WNOHANG) == 0 &&
            info.si_pid != 0) {
          break;
        }
      } else if (stat->state == 'Z') {
        break;  // another's zombie: its parent reaps it
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  std::error_code ec;
  std::filesystem::remove(state_file(id), ec);
  std::filesystem::remove(status_file(id), ec);
}

void PosixLauncher::kill_all(std::chrono::milliseconds grace) {
  // Launches under way are answered first (they have no pid to signal before), and queued ones
  // are never started.
  while (!queue_.empty()) {
    QueuedLaunch next = std::move(queue_.front());
    queue_.pop_front();
    const std::string& id = next.spec.container_id;
    Container* c = find(id, next.serial);
    if (c == nullptr) continue;
    LaunchedHandler answer = std::move(c->on_launched);
    containers_.erase(id);
    if (answer) answer(id, make_error("container '" + id + "': the launcher is stopping"));
  }
  std::vector<std::pair<std::string, uint64_t>> launching;
  for (const auto& [id, c] : containers_) {
    if (c.launching) launching.emplace_back(id, c.serial);
  }
  for (const auto& [id, serial] : launching) settle(id, serial);
  for (auto& [id, c] : containers_) {
    signal_group(c.pid, c.start_time, SIGTERM);
    signal_group(c.pid, c.start_time, SIGCONT);
  }
  auto deadline = std::chrono::steady_clock::now() + grace;
  auto reap = [this] {
    for (auto& [id, c] : containers_) {
      if (c.leader_done) continue;
      siginfo_t info{};
      int rc = ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(c.pidfd), &info,
                        WEXITED | WNOHANG);
      if ((rc == 0 && info.si_pid != 0) || (rc != 0 && ::kill(c.pid, 0) != 0) ||
          (rc != 0 && !process_start_time(c.pid))) {
        c.leader_done = true;
      }
    }
    // Done when the leader is reaped and no other member of its group lives on (a SIGKILLed
    // child can outlast its parent by a moment). kill(-pgid, 0) answers for an empty group;
    // one it finds (zombies count) is looked up in one scan of /proc for all of them, not one
    // scan each (at 500 containers, 500 scans of 1,000 processes every 10 ms kept a core busy
    // for seconds).
    std::optional<std::set<pid_t>> live;
    for (const auto& [id, c] : containers_) {
      if (!c.leader_done) return false;
      if (::kill(-c.pid, 0) != 0 && errno == ESRCH) continue;
      if (!live) live = live_process_groups();
      if (live->count(c.pid) != 0) return false;
    }
    return true;
  };
  while (!reap() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  for (auto& [id, c] : containers_) signal_group(c.pid, c.start_time, SIGKILL);
  auto hard_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (!reap() && std::chrono::steady_clock::now() < hard_deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::error_code ec;
  for (auto& [id, c] : containers_) {
    unwatch(c);
    std::filesystem::remove(state_file(id), ec);
    std::filesystem::remove(status_file(id), ec);
  }
  containers_.clear();
}

bool PosixLauncher::running(const std::string& container_id) const {
  return containers_.count(container_id) != 0;
}

std::optional<pid_t> PosixLauncher::pid(const std::string& container_id) const {
  auto it = containers_.find(container_id);
  if (it == containers_.end() || it->second.pid <= 0) return std::nullopt;
  return it->second.pid;
}

}  // namespace tessera::process_launcher

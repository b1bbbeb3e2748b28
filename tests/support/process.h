// Test support: real child processes and temporary directories, cleaned up whatever happens.
//
// Process starts a program with posix_spawn (never fork: the test binary may be large), sends
// its stdout and stderr to one log file, and can wait for a line in that log, signal it and
// reap it.
//
// Nothing a test starts outlives it, however the test ends:
// - Each process starts in a session of its own (POSIX_SPAWN_SETSID), which is also a process
//   group of its own; Process's destructor SIGKILLs every process of that session.
// - Each process gets PR_SET_PDEATHSIG = SIGKILL (through setpriv(1): posix_spawn has no hook
//   for prctl), so it dies with the test binary, even when the binary is killed with SIGKILL
//   and no destructor runs. The kernel sends that signal when the *thread* that spawned the
//   child ends, so every spawn runs on one helper thread that lives as long as the binary.
// - Tasks are found by their sandbox: an agent's tasks run in sessions of their own (they
//   outlive a killed agent on purpose), but every one has TESSERA_SANDBOX in its environment,
//   under the agent's work dir, which a test keeps in a TempDir. TempDir's destructor SIGKILLs
//   every process whose TESSERA_SANDBOX lies inside it (the children of a task inherit it).
// - A watchdog ends what is left when the binary dies without destructors: one `sh` per test
//   binary, in a session of its own, reads the live sessions and temporary directories from a
//   pipe whose only writer is the test binary. When the binary ends, by any means, the pipe
//   reaches end of file and the watchdog SIGKILLs every process of those sessions and every
//   task whose sandbox is in one of those directories.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace tessera::testing {

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Polls `done` every 10 ms until it holds (true) or `timeout` passes (false), for conditions
// that no event loop of the test's can wait on (a process's state, a file).
inline bool eventually(const std::function<bool()>& done,
                       std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

// What /proc/PID/stat says of one process.
struct ProcessStat {
  char state = '?';         // R, S, D, Z, T...
  pid_t session = 0;        // field 6
  uint64_t start_time = 0;  // field 22: clock ticks since boot, which tells a reused pid apart
};

inline std::optional<ProcessStat> process_stat(pid_t pid) {
  std::string text = read_file("/proc/" + std::to_string(pid) + "/stat");
  // The command name (field 2) is in parentheses and may hold anything: parse after the last ')'.
  size_t close = text.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(text.substr(close + 1));
  ProcessStat stat;
  std::string skip;
  fields >> stat.state;                         // 3
  fields >> skip >> skip;                       // 4 ppid, 5 pgrp
  fields >> stat.session;                       // 6
  for (int i = 7; i < 22; ++i) fields >> skip;  // 7..21
  fields >> stat.start_time;                    // 22
  if (!fields) return std::nullopt;
  return stat;
}

// Whether a process with this pid runs (a zombie does not).
inline bool process_alive(pid_t pid) {
  auto stat = process_stat(pid);
  return stat && stat->state != 'Z';
}

// The live (not zombie) processes of session `session`, this process excepted.
inline std::vector<pid_t> session_members(pid_t session) {
  std::vector<pid_t> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    pid_t pid = static_cast<pid_t>(std::stol(name));
    if (pid == ::getpid()) continue;
    auto stat = process_stat(pid);
    if (stat && stat->session == session && stat->state != 'Z') out.push_back(pid);
  }
  return out;
}

// SIGKILLs every process of session `session` until none is left (or 10 s have passed, for a
// process stuck in the kernel).
inline void kill_session(pid_t session) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (auto members = session_members(session); !members.empty();
       members = session_members(session)) {
    for (pid_t pid : members) ::kill(pid, SIGKILL);
    if (std::chrono::steady_clock::now() > deadline) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

// The live (not zombie) processes whose environment has TESSERA_SANDBOX inside `dir`: the
// tasks (and their children) of agents whose work dir is there.
inline std::vector<pid_t> tasks_in(const std::filesystem::path& dir) {
  const std::string marker = "TESSERA_SANDBOX=" + dir.string() + "/";
  std::vector<pid_t> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    pid_t pid = static_cast<pid_t>(std::stol(name));
    if (pid == ::getpid() || !process_alive(pid)) continue;
    std::string environment = read_file(entry.path() / "environ");
    for (size_t at = 0; at < environment.size();) {
      size_t end = environment.find('\0', at);
      if (end == std::string::npos) end = environment.size();
      if (environment.compare(at, marker.size(), marker) == 0) {
        out.push_back(pid);
        break;
      }
      at = end + 1;
    }
  }
  return out;
}

// SIGKILLs every task in `dir` (see tasks_in) until none is left (or 10 s have passed).
inline void kill_tasks_in(const std::filesystem::path& dir) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (auto tasks = tasks_in(dir); !tasks.empty(); tasks = tasks_in(dir)) {
    for (pid_t pid : tasks) ::kill(pid, SIGKILL);
    if (std::chrono::steady_clock::now() > deadline) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

namespace detail {

// The thread every child is spawned from (see the top: PR_SET_PDEATHSIG follows the spawning
// thread), and the watchdog that ends what is left when the test binary ends. Created on first
// use and deliberately never destroyed: it must outlive every static object that might still
// hold a Process or a TempDir.
class Spawner {
 public:
  static Spawner& instance() {
    static Spawner* spawner = new Spawner();  // NOLINT: leaked on purpose, see above
    return *spawner;
  }

  // Runs `fn` on the spawner's thread and returns its result.
  template <typename F>
  auto run(F fn) -> decltype(fn()) {
    std::packaged_task<decltype(fn())()> task(std::move(fn));
    auto result = task.get_future();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      queue_.push_back([&task] { task(); });
    }
    wake_.notify_one();
    return result.get();
  }

  // Tells the watchdog about a "session" (an id) or a "dir" (a path) whose processes or tasks
  // to end if the test binary dies (`watch`), or that it has been cleaned up (`!watch`), so
  // that a session id, once free, is never mistaken for a new one's.
  void watchdog(const std::string& kind, const std::string& value, bool watch) {
    if (watchdog_pipe_ < 0) return;
    std::string line = (watch ? "" : "-") + kind + " " + value + "\n";
    // One small write to a pipe is atomic, so lines from several threads do not mix.
    [[maybe_unused]] ssize_t n = ::write(watchdog_pipe_, line.data(), line.size());
  }

  // The program that sets PR_SET_PDEATHSIG before exec'ing the child ("" when missing: the
  // children then die with the test binary only through the watchdog and the destructors).
  const std::string& pdeathsig_launcher() const { return setpriv_; }

 private:
  Spawner() {
    for (const char* path : {"/usr/bin/setpriv", "/bin/setpriv"}) {
      if (::access(path, X_OK) == 0) {
        setpriv_ = path;
        break;
      }
    }
    std::thread([this] { serve(); }).detach();
    run([this] {
      start_watchdog();
      return 0;
    });
  }

  void serve() {
    while (true) {
      std::function<void()> fn;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [this] { return !queue_.empty(); });
        fn = std::move(queue_.front());
        queue_.pop_front();
      }
      fn();
    }
  }

  // The watchdog keeps the sessions (" SID SID ") and directories (one a line) it is told of,
  // and at end of file on its stdin SIGKILLs every process of those sessions and every process
  // whose TESSERA_SANDBOX is in those directories. It ignores the terminal's signals (it is in
  // a session of its own anyway), so an interrupted test run is cleaned up too.
  void start_watchdog() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return;
    static const char* const kScript =
        "trap '' INT TERM HUP QUIT\n"
        "nl='\n'\n"
        "sessions=' '\n"
        "dirs=$nl\n"
        "while IFS= read -r line; do\n"
        "  case \"$line\" in\n"
        "    'session '*) sessions=\"$sessions${line#session } \" ;;\n"
        "    '-session '*) s=${line#-session }\n"
        "      case \"$sessions\" in\n"
        "        *\" $s \"*) sessions=\"${sessions%%\" $s \"*} ${sessions#*\" $s \"}\" ;;\n"
        "      esac ;;\n"
        "    'dir '*) dirs=\"$dirs${line#dir }$nl\" ;;\n"
        "    '-dir '*) d=${line#-dir }\n"
        "      case \"$dirs\" in\n"
        "        *\"$nl$d$nl\"*) dirs=\"${dirs%%\"$nl$d$nl\"*}$nl${dirs#*\"$nl$d$nl\"}\" ;;\n"
        "      esac ;;\n"
        "  esac\n"
        "done\n"
        "for s in $sessions; do pkill -KILL -s \"$s\"; done\n"
        "printf '%s\\n' \"$dirs\" | while IFS= read -r d; do\n"
        "  [ -n \"$d\" ] || continue\n"
        "  grep -lzsF \"TESSERA_SANDBOX=$d/\" /proc/[0-9]*/environ | while IFS= read -r f; do\n"
        "    p=${f#/proc/}; kill -KILL \"${p%/environ}\"\n"
        "  done\n"
        "done\n";
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[0], STDIN_FILENO);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    posix_spawnattr_t attributes;
    posix_spawnattr_init(&attributes);
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSID);
    char sh[] = "/bin/sh", dash_c[] = "-c", name[] = "tessera-test-watchdog";
    std::string script = kScript;
    char* argv[] = {sh, dash_c, script.data(), name, nullptr};
    pid_t pid = 0;
    int rc = posix_spawn(&pid, sh, &actions, &attributes, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
    ::close(fds[0]);
    if (rc != 0) {
      ::close(fds[1]);
      return;
    }
    // The watchdog is not reaped: it must outlive this process, and it exits only when this
    // process has ended.
    watchdog_pipe_ = fds[1];
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> queue_;
  std::string setpriv_;
  int watchdog_pipe_ = -1;
};

}  // namespace detail

// A fresh directory under $TMPDIR, removed with everything in it at the end of its scope,
// together with every task whose sandbox is in it (see the top).
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    auto base = std::filesystem::temp_directory_path();
    for (int attempt = 0; attempt < 100; ++attempt) {
      path_ = base / ("tessera-test-" + std::to_string(rd()));
      if (std::filesystem::create_directory(path_)) {
        detail::Spawner::instance().watchdog("dir", path_.string(), true);
        return;
      }
    }
    throw std::runtime_error("cannot create a temporary directory");
  }
  ~TempDir() {
    kill_tasks_in(path_);
    detail::Spawner::instance().watchdog("dir", path_.string(), false);
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

  // Writes `text` to NAME in this directory and returns its path.
  std::filesystem::path write(const std::string& name, const std::string& text) const {
    std::filesystem::path p = path_ / name;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p) << text;
    return p;
  }

 private:
  std::filesystem::path path_;
};

class Process {
 public:
  Process(std::vector<std::string> argv, std::filesystem::path log)
      : argv_(std::move(argv)), log_(std::move(log)) {
    auto& spawner = detail::Spawner::instance();
    std::vector<std::string> command;
    if (!spawner.pdeathsig_launcher().empty()) {
      command = {spawner.pdeathsig_launcher(), "--pdeathsig", "KILL", "--"};
    }
    command.insert(command.end(), argv_.begin(), argv_.end());
    int rc = spawner.run([&] {
      posix_spawn_file_actions_t actions;
      posix_spawn_file_actions_init(&actions);
      posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_.c_str(),
                                       O_WRONLY | O_CREAT | O_TRUNC, 0644);
      posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
      posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
      posix_spawnattr_t attributes;
      posix_spawnattr_init(&attributes);
      posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSID);
      std::vector<char*> args;
      for (auto& a : command) args.push_back(a.data());
      args.push_back(nullptr);
      int result = posix_spawn(&pid_, args[0], &actions, &attributes, args.data(), environ);
      posix_spawn_file_actions_destroy(&actions);
      posix_spawnattr_destroy(&attributes);
      return result;
    });
    if (rc != 0) throw std::runtime_error("cannot start " + argv_[0] + ": " + strerror(rc));
    spawner.watchdog("session", std::to_string(pid_), true);
  }
  // Ends the process and everything left in its session (an agent's tasks), then reaps it.
  // The child is reaped only here: until then its pid, and so its session id, cannot be taken
  // by another process, so no process outside the test is ever killed by mistake.
  ~Process() {
    if (pid_ <= 0) return;
    ::kill(-pid_, SIGKILL);
    kill_session(pid_);
    int status;
    waitpid(pid_, &status, 0);
    detail::Spawner::instance().watchdog("session", std::to_string(pid_), false);
  }
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  std::string output() const { return read_file(log_); }

  // Waits until the log contains `text` (true), or the process exits or `timeout` passes.
  bool wait_for(const std::string& text,
                std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    return wait_for_count(text, 1, timeout);
  }

  // Waits until the log contains `text` at least `times` times (true), or the process exits or
  // `timeout` passes.
  bool wait_for_count(const std::string& text, size_t times,
                      std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (count(text) >= times) return true;
      if (poll_exit()) return count(text) >= times;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  // How often `text` occurs in the log so far.
  size_t count(const std::string& text) const {
    std::string out = output();
    size_t n = 0;
    for (size_t pos = out.find(text); pos != std::string::npos; pos = out.find(text, pos + 1)) ++n;
    return n;
  }

  // Signals the process itself (not its session: a SIGKILLed agent's tasks live on, as they
  // would on a real machine).
  void signal(int sig) const {
    if (!exit_status_) ::kill(pid_, sig);
  }

  // The exit code (or 128 + signal), or nullopt if still running after `timeout`.
  std::optional<int> wait(std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!poll_exit()) {
      if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return exit_status_;
  }

  // Sends SIGTERM and waits for the exit code.
  std::optional<int> stop(std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    signal(SIGTERM);
    return wait(timeout);
  }

 private:
  // Notes the exit status without reaping the child (WNOWAIT; see the destructor).
  bool poll_exit() {
    if (exit_status_) return true;
    siginfo_t info{};
    if (waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) != 0 ||
        info.si_pid != pid_) {
      return false;
    }
    exit_status_ = info.si_code == CLD_EXITED ? info.si_status : 128 + info.si_status;
    return true;
  }

  std::vector<std::string> argv_;
  std::filesystem::path log_;
  pid_t pid_ = -1;
  std::optional<int> exit_status_;
};

// Runs a program to completion and returns {exit code, output}.
inline std::pair<int, std::string> run(
    std::vector<std::string> argv, const std::filesystem::path& log,
    std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
  Process p(std::move(argv), log);
  auto code = p.wait(timeout);
  return {code.value_or(-1), p.output()};
}

}  // namespace tessera::testing

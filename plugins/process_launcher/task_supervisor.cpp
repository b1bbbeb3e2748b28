// tessera-task-supervisor: the small per-task process that the process launcher starts in
// place of the task, so that a task's exit status is known even when the agent is not there to
// read it.
//
// The launcher spawns it in a session of its own (a kill of the task's process group never
// reaches it; a terminal's signals neither), with the sandbox's stdout/stderr and working
// directory, and a control socket on descriptor 3. It runs no task code itself:
//   1. It reads the launch from the socket (see posix_launcher.cpp, encode_launch): the status
//      file's path, whether the launch is held, the program, its argv and its environment. The
//      task's environment travels there rather than in this process's own, so that only the
//      task carries the container marker.
//   2. It forks the task, which makes a session and process group of its own (the container's
//      process group, as before), and, for a held launch, waits for one byte on the socket (the
//      launcher's release) before it execs the program: isolators attach the task's pid first,
//      and every page the task uses is allocated after the exec, so inside its cgroups. The
//      socket closing without that byte (the launcher's process died) makes it exit 125
//      without running anything.
//   3. It sends the task's pid on the socket right after the fork (the launch is answered
//      without waiting for the task to be scheduled), and closes its own copy of the socket.
//   4. It waits for the task (its own child, so the status is real whoever else comes and
//      goes), SIGKILLs whatever is left of the task's process group while the task's zombie
//      still holds the group id, reaps it, and writes the status into the status page of the
//      container's state file (one pwrite(2) of a few dozen bytes at its second page, which the
//      launcher cleared: whole or not at all if it is killed; no file is created, so a burst of
//      launches allocates no inodes for it), then exits 0. When the status cannot be written (a
//      full disk, or the state file is gone), it ends as its task did instead, for the launcher
//      that started it.
// Its arguments: the container id (for people reading ps), and `--nofile=N` when the task's soft
// RLIMIT_NOFILE must be N rather than the one inherited from the agent (which tessera-host
// raised to its hard limit).
// It is linked statically and uses no heap after the launch is read: it starts fast and stays
// small. It lives in the launching agent's cgroups, never in the task's, so a task's memory
// limit cannot kill it.
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr int kControl = 3;
// The most the launch message may hold; the launcher never sends more.
constexpr uint32_t kMaxMessage = uint32_t{64} << 20;
// Where the status page of a state file starts (posix_launcher.cpp, kStatePage).
constexpr off_t kStatusOffset = 4096;

bool read_all(int fd, void* data, size_t size) {
  auto* at = static_cast<char*>(data);
  while (size > 0) {
    ssize_t n = ::read(fd, at, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    at += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

bool write_all(int fd, const void* data, size_t size) {
  const auto* at = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::write(fd, at, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    at += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

void say(const std::string& text) {
  std::string line = "tessera-task-supervisor: " + text + "\n";
  (void)write_all(STDERR_FILENO, line.data(), line.size());
}

// The launch: length-prefixed strings (u32 little-endian count, then u32 length + bytes each).
struct Launch {
  std::string status_path;  // the container's state file
  bool hold = false;
  rlim_t nofile = 0;  // the task's soft RLIMIT_NOFILE; 0: as inherited
  std::string program;
  std::vector<std::string> argv;
  std::vector<std::string> env;
};

bool read_launch(Launch& launch) {
  uint32_t total = 0;
  if (!read_all(kControl, &total, sizeof total) || total > kMaxMessage) return false;
  std::string blob(total, '\0');
  if (!read_all(kControl, blob.data(), blob.size())) return false;
  size_t at = 0;
  auto next_u32 = [&](uint32_t& out) {
    if (blob.size() - at < sizeof out) return false;
    std::memcpy(&out, blob.data() + at, sizeof out);
    at += sizeof out;
    return true;
  };
  auto next_string = [&](std::string& out) {
    uint32_t size = 0;
    if (!next_u32(size) || blob.size() - at < size) return false;
    out.assign(blob, at, size);
    at += size;
    return true;
  };
  auto next_list = [&](std::vector<std::string>& out) {
    uint32_t count = 0;
    if (!next_u32(count) || count > blob.size()) return false;
    out.resize(count);
    for (std::string& s : out) {
      if (!next_string(s)) return false;
    }
    return true;
  };
  std::string hold;
  if (!next_string(launch.status_path) || !next_string(hold) || !next_string(launch.program) ||
      !next_list(launch.argv) || !next_list(launch.env) || at != blob.size()) {
    return false;
  }
  launch.hold = hold == "1";
  return !launch.status_path.empty() && !launch.program.empty() && !launch.argv.empty();
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// In the forked child: becomes the task, in a session and process group of its own.
[[noreturn]] void run_task(Launch& launch) {
  ::setsid();
  if (launch.hold) {
    char line = 0;
    ssize_t n = 0;
    do {
      n = ::read(kControl, &line, 1);
    } while (n < 0 && errno == EINTR);
    if (n != 1) ::_exit(125);
  }
  ::close(kControl);
  if (launch.nofile > 0) {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) == 0) {
      limit.rlim_cur = std::min(launch.nofile, limit.rlim_max);
      if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) {
        say(std::string("cannot restore the task's descriptor limit: ") + std::strerror(errno));
      }
    }
  }
  std::vector<char*> argv = pointers(launch.argv);
  std::vector<char*> env = pointers(launch.env);
  ::execve(launch.program.c_str(), argv.data(), env.data());
  int error = errno;
  say("cannot execute '" + launch.program + "': " + std::strerror(error));
  ::_exit(error == ENOENT ? 127 : 126);
}

bool write_status(const std::string& path, const siginfo_t& info, pid_t task) {
  char text[128];
  int exit_code = info.si_code == CLD_EXITED ? info.si_status : -1;
  int signal = info.si_code == CLD_EXITED ? 0 : info.si_status;
  int size =
      std::snprintf(text, sizeof text, "exit_code=%d\nsignal=%d\ntask_pid=%d\nsupervisor_pid=%d\n",
                    exit_code, signal, static_cast<int>(task), static_cast<int>(::getpid()));
  // Never created: a state file that is gone belongs to a container the launcher forgot.
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool written = size > 0 && ::pwrite(fd, text, static_cast<size_t>(size), kStatusOffset) == size;
  int error = errno;
  ::close(fd);
  errno = error;
  return written;
}

}  // namespace

int main(int argc, char** argv) {
  // A SIGPIPE from the control socket must not end it before it has written the status.
  ::signal(SIGPIPE, SIG_IGN);
  Launch launch;
  if (!read_launch(launch)) {
    say("no launch received from the launcher");
    return 125;
  }
  for (int i = 2; i < argc; ++i) {
    const char* value = argv[i];
    if (std::strncmp(value, "--nofile=", 9) != 0) continue;
    char* end = nullptr;
    unsigned long long number = std::strtoull(value + 9, &end, 10);
    if (end != value + 9 && *end == '\0' && number > 0) launch.nofile = number;
  }
  pid_t task = ::fork();
  if (task < 0) {
    say(std::string("cannot fork the task: ") + std::strerror(errno));
    return 125;
  }
  if (task == 0) {
    ::signal(SIGPIPE, SIG_DFL);
    run_task(launch);
  }
  // The task's pid goes to the launcher now, not from the task once it runs: on a loaded
  // machine a new process waits for a core, and the launch's answer would wait with it. Until
  // the task has made its session, its process group does not exist yet: the launcher signals
  // the task's pid alone then (nothing else of the task runs before its setsid). The launcher
  // may be gone already: the task is started all the same (and, held, ends at once), and its
  // status is written. From here on the control socket is the task's alone.
  auto reported = static_cast<int32_t>(task);
  (void)write_all(kControl, &reported, sizeof reported);
  ::close(kControl);

  siginfo_t info{};
  while (::waitid(P_PID, static_cast<id_t>(task), &info, WEXITED | WNOWAIT) != 0) {
    if (errno != EINTR) return 125;
  }
  // While the task's zombie holds its pid, the group id is the task's: whatever is left of the
  // group is the task's own, and no orphan outlives it.
  ::kill(-task, SIGKILL);
  while (::waitid(P_PID, static_cast<id_t>(task), &info, WEXITED) != 0) {
    if (errno != EINTR) return 125;
  }
  if (!write_status(launch.status_path, info, task)) {
    // A full disk, say. The launcher that started it still reads its end: it ends as its task
    // did (the same exit code, or the same signal), which the launcher takes when no status
    // file is there and the task is gone.
    say("cannot write the exit status to '" + launch.status_path + "': " + std::strerror(errno) +
        "; ending as the task did");
    if (info.si_code == CLD_EXITED) return info.si_status;
    ::signal(info.si_status, SIG_DFL);
    ::raise(info.si_status);
    return 125;
  }
  return 0;
}

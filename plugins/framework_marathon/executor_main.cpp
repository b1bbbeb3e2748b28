// tessera-marathon-executor: runs one Marathon task whose app has COMMAND health checks, and its
// checks beside it, as Mesos's command executor does for Marathon. The agent starts it (the
// task's ExecutorInfo, one executor per task); it starts the task's command in its own process
// group, reports TASK_RUNNING, runs every check's command with /bin/sh -c in the same sandbox
// and environment every intervalSeconds (killed after timeoutSeconds; exit status 0 is
// healthy), and sends each result to Marathon as a framework message. When the task ends it
// reports how, waits until the agent has acknowledged that, and exits.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "command_check.h"
#include "tessera/sdk/executor.h"

extern char** environ;

namespace {

namespace state = tessera::protocol::state;
using Clock = std::chrono::steady_clock;
using tessera::marathon::CheckResult;
using tessera::marathon::CommandCheck;

// How often children are reaped and checks started or timed out.
constexpr std::chrono::milliseconds kTick{100};
// The most output of one check kept for its cause.
constexpr size_t kMaxOutputBytes = 4096;
// How long the executor waits for the agent to acknowledge the task's end before exiting anyway.
constexpr std::chrono::seconds kAcknowledgeWait{30};

void log_sink(void*, int, const char* text, size_t size) {
  std::cerr << "tessera-marathon-executor: " << std::string_view(text, size) << std::endl;
}

// The executor's environment with the task's variables over it, without the executor's own
// secret (the task and its checks must not be able to speak for the executor).
std::vector<std::string> task_environment(const std::map<std::string, std::string>& variables) {
  std::map<std::string, std::string> merged;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    std::string text = *entry;
    size_t equals = text.find('=');
    if (equals == std::string::npos) continue;
    merged[text.substr(0, equals)] = text.substr(equals + 1);
  }
  merged.erase(tessera::protocol::executor::kTokenVariable);
  for (const auto& [name, value] : variables) merged[name] = value;
  std::vector<std::string> result;
  result.reserve(merged.size());
  for (const auto& [name, value] : merged) result.push_back(name + "=" + value);
  return result;
}

// Starts argv in a process group of its own (so a kill reaches its children), stdout and stderr
// into `output_fd` when given. Returns the pid or an error text.
std::variant<pid_t, std::string> spawn(const std::vector<std::string>& argv,
                                       const std::vector<std::string>& environment, int output_fd) {
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  std::vector<char*> env;
  env.reserve(environment.size() + 1);
  for (const auto& entry : environment) env.push_back(const_cast<char*>(entry.c_str()));
  env.push_back(nullptr);
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK);
  posix_spawnattr_setpgroup(&attributes, 0);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attributes, &none);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (output_fd >= 0) {
    posix_spawn_file_actions_adddup2(&actions, output_fd, STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, output_fd, STDERR_FILENO);
  }
  pid_t pid = 0;
  int error = posix_spawnp(&pid, args[0], &actions, &attributes, args.data(), env.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  if (error != 0) return std::string("cannot start '") + argv[0] + "': " + strerror(error);
  return pid;
}

std::string describe_exit(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "ended";
}

class CommandExecutor {
 public:
  CommandExecutor(tessera::sdk::EventLoop& loop, tessera::sdk::ExecutorClient& client)
      : loop_(loop), client_(client) {}

  void launch(const tessera::protocol::TaskInfo& task) {
    if (task_pid_ || ended_) {
      client_.send_status(task.task_id, state::kFailed, "this executor runs one task only");
      return;
    }
    task_id_ = task.task_id;
    auto checks = tessera::marathon::decode_command_checks(task.data);
    if (!checks) {
      client_.send_status(task_id_, state::kFailed, checks.error().message);
      finish();
      return;
    }
    kill_grace_ = std::chrono::milliseconds(
        static_cast<int64_t>(std::clamp(task.kill_grace_seconds, 0.0, 3600.0) * 1000));
    environment_ = task_environment(task.command.environment);
    std::vector<std::string> argv;
    if (task.command.shell) {
      argv = {"/bin/sh", "-c", task.command.value};
    } else {
      argv = task.command.arguments.empty() ? std::vector<std::string>{task.command.value}
                                            : task.command.arguments;
    }
    auto started = spawn(argv, environment_, -1);
    if (auto* error = std::get_if<std::string>(&started)) {
      client_.send_status(task_id_, state::kFailed, *error);
      finish();
      return;
    }
    task_pid_ = std::get<pid_t>(started);
    client_.send_status(task_id_, state::kRunning);
    auto now = Clock::now();
    for (auto& check : *checks) {
      Check running;
      running.definition = std::move(check);
      running.due = now;
      checks_.push_back(std::move(running));
    }
  }

  void kill(const std::string& task_id) {
    if (task_id != task_id_ || !task_pid_ || kill_requested_) return;
    kill_requested_ = true;
    client_.send_status(task_id_, state::kKilling);
    ::kill(-*task_pid_, SIGTERM);
    kill_deadline_ = Clock::now() + kill_grace_;
  }

  void shutdown() {
    if (task_pid_) {
      kill(task_id_);
      kill_deadline_ = Clock::now();
    } else {
      loop_.request_stop();
    }
  }

  // Reaps the task and the checks, starts the checks that are due, ends those out of time.
  void tick() {
    auto now = Clock::now();
    if (task_pid_) {
      int status = 0;
      if (waitpid(*task_pid_, &status, WNOHANG) == *task_pid_) {
        ::kill(-*task_pid_, SIGKILL);  // what the task left in its group ends with it
        task_pid_.reset();
        std::string how = describe_exit(status);
        if (kill_requested_) {
          client_.send_status(task_id_, state::kKilled, how);
        } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
          client_.send_status(task_id_, state::kFinished, how);
        } else {
          client_.send_status(task_id_, state::kFailed, how);
        }
        finish();
      } else if (kill_deadline_ && now >= *kill_deadline_) {
        ::kill(-*task_pid_, SIGKILL);
        kill_deadline_.reset();
      }
    }
    for (auto& check : checks_) tick_check(check, now);
    if (ended_ && (client_.unacknowledged() == 0 || now >= *ended_ + kAcknowledgeWait)) {
      loop_.request_stop();
    }
  }

  void stop_children() {
    if (task_pid_) ::kill(-*task_pid_, SIGKILL);
    for (auto& check : checks_) {
      if (check.pid) ::kill(-*check.pid, SIGKILL);
    }
  }

 private:
  struct Check {
    CommandCheck definition;
    Clock::time_point due;
    std::optional<pid_t> pid;
    int output_fd = -1;
    std::string output;
    Clock::time_point deadline;
  };

  void tick_check(Check& check, Clock::time_point now) {
    if (check.pid) {
      drain(check);
      int status = 0;
      if (waitpid(*check.pid, &status, WNOHANG) == *check.pid) {
        ::kill(-*check.pid, SIGKILL);
        drain(check);
        bool alive = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        report(check, alive, alive ? "" : describe_exit(status) + tail(check.output));
      } else if (now >= check.deadline) {
        ::kill(-*check.pid, SIGKILL);
        waitpid(*check.pid, &status, 0);
        report(check, false,
               "timed out after " + std::to_string(check.definition.timeout_seconds) + " s");
      }
      return;
    }
    if (!task_pid_ || kill_requested_ || now < check.due) return;
    int pipe_fds[2];
    if (pipe2(pipe_fds, O_CLOEXEC) != 0) return;
    auto started = spawn({"/bin/sh", "-c", check.definition.command}, environment_, pipe_fds[1]);
    ::close(pipe_fds[1]);
    check.due = now + std::chrono::seconds(check.definition.interval_seconds);
    if (auto* error = std::get_if<std::string>(&started)) {
      ::close(pipe_fds[0]);
      send_result(check.definition.index, false, *error);
      return;
    }
    fcntl(pipe_fds[0], F_SETFL, O_NONBLOCK);
    check.pid = std::get<pid_t>(started);
    check.output_fd = pipe_fds[0];
    check.output.clear();
    check.deadline = now + std::chrono::seconds(check.definition.timeout_seconds);
  }

  // Reads what the check wrote so far, keeping the last kMaxOutputBytes.
  static void drain(Check& check) {
    char buffer[1024];
    ssize_t n = 0;
    while ((n = ::read(check.output_fd, buffer, sizeof buffer)) > 0) {
      check.output.append(buffer, static_cast<size_t>(n));
      if (check.output.size() > kMaxOutputBytes) {
        check.output.erase(0, check.output.size() - kMaxOutputBytes);
      }
    }
  }

  static std::string tail(const std::string& output) {
    size_t end = output.find_last_not_of(" \n\r\t");
    if (end == std::string::npos) return "";
    return ": " + output.substr(0, end + 1);
  }

  void report(Check& check, bool alive, const std::string& cause) {
    ::close(check.output_fd);
    check.output_fd = -1;
    check.pid.reset();
    send_result(check.definition.index, alive, cause);
  }

  void send_result(size_t index, bool alive, const std::string& cause) {
    auto sent = client_.send_message(
        tessera::marathon::encode_check_result(CheckResult{task_id_, index, alive, cause}));
    if (!sent) std::cerr << "tessera-marathon-executor: " << sent.error().message << std::endl;
  }

  void finish() {
    ended_ = Clock::now();
    for (auto& check : checks_) {
      if (!check.pid) continue;
      ::kill(-*check.pid, SIGKILL);
      waitpid(*check.pid, nullptr, 0);
      ::close(check.output_fd);
    }
    checks_.clear();
  }

  tessera::sdk::EventLoop& loop_;
  tessera::sdk::ExecutorClient& client_;
  std::string task_id_;
  std::optional<pid_t> task_pid_;
  std::vector<std::string> environment_;
  std::vector<Check> checks_;
  bool kill_requested_ = false;
  std::chrono::milliseconds kill_grace_{3000};
  std::optional<Clock::time_point> kill_deadline_;
  std::optional<Clock::time_point> ended_;
};

}  // namespace

int main() {
  auto options = tessera::sdk::ExecutorOptions::from_environment();
  if (!options) {
    std::cerr << "tessera-marathon-executor: " << options.error().message << std::endl;
    return 2;
  }
  // The agent ends an executor with SIGTERM: take it on the loop (through the shutdown path) so
  // that the task's process group is not left behind.
  sigset_t terminate;
  sigemptyset(&terminate);
  sigaddset(&terminate, SIGTERM);
  sigaddset(&terminate, SIGINT);
  pthread_sigmask(SIG_BLOCK, &terminate, nullptr);
  void* context = zmq_ctx_new();
  int status = 0;
  {
    tessera::sdk::EventLoop loop;
    tessera::sdk::Bus bus{context, &loop, tessera::sdk::Logger(nullptr, log_sink, 3),
                          "marathon-executor"};
    tessera::sdk::ExecutorClient client(bus, *options);
    CommandExecutor executor(loop, client);
    client.on_launch = [&](const tessera::protocol::TaskInfo& task) { executor.launch(task); };
    client.on_kill = [&](const std::string& task_id) { executor.kill(task_id); };
    client.on_shutdown = [&](const std::string&) { executor.shutdown(); };
    loop.every(kTick, [&] {
      timespec zero{};
      if (sigtimedwait(&terminate, nullptr, &zero) > 0) executor.shutdown();
      executor.tick();
    });
    if (auto s = client.start(); !s) {
      std::cerr << "tessera-marathon-executor: " << s.error().message << std::endl;
      status = 2;
    } else {
      loop.run();
    }
    executor.stop_children();
  }
  zmq_ctx_term(context);
  return status;
}

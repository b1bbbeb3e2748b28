// Unit tests of the launcher library: real processes, no plugin machinery. A small driver plays
// the event loop (poll on the launcher's fd plus a timer list).
#include "posix_launcher.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <thread>

extern char** environ;

namespace tessera::process_launcher {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Container ids are the test's names behind a prefix of this driver's own (id()): the recovery
// and the helpers scan every process of the machine by container id, and processes left by
// other tests or runs (a full ctest -j2 runs several at once) must not look like this test's.
class Driver {
 public:
  Driver() {
    std::random_device rd;
    std::string tag = std::to_string(rd());
    dir_ = std::filesystem::temp_directory_path() / ("tessera-isolator-" + tag);
    prefix_ = "t" + tag + "-";
    std::filesystem::create_directories(dir_);
    open();
  }
  ~Driver() {
    if (launcher) launcher->kill_all(0ms);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // (Re)creates the launcher on the same state directory, as an agent restart would (with
  // another supervisor program when given).
  void open(const std::filesystem::path& supervisor = {}) {
    launcher.reset();
    auto created = PosixLauncher::create(
        dir_ / "state",
        [this](std::chrono::milliseconds d, std::function<void()> fn) {
          timers_.push_back({Clock::now() + d, std::move(fn)});
        },
        [this](const Exit& e) {
          exits[e.container_id] = e;
          events.push_back("exited " + e.container_id);
        },
        supervisor);
    if (!created) throw std::runtime_error(created.error().message);
    launcher = std::move(*created);
  }

  // The container id of the test's container `name`.
  std::string id(const std::string& name) const { return prefix_ + name; }
  std::vector<std::string> ids(const std::vector<std::string>& names) const {
    std::vector<std::string> out;
    for (const auto& name : names) out.push_back(id(name));
    return out;
  }

  LaunchSpec spec(const std::string& name, const std::string& command, bool shell = true) {
    LaunchSpec s;
    s.container_id = id(name);
    s.sandbox = dir_ / "sandboxes" / name;
    s.shell = shell;
    s.value = command;
    s.environment = task_environment({}, {{"TASK_ID", name}}, environ);
    return s;
  }

  pid_t launch(const LaunchSpec& s) {
    auto launched = launcher->launch(s);
    if (!launched) throw std::runtime_error(launched.error().message);
    return launched->pid;
  }

  // Serves the launcher until `done()` or the timeout.
  template <typename F>
  bool run_until(F done, std::chrono::milliseconds timeout = 10s) {
    auto deadline = Clock::now() + timeout;
    while (!done()) {
      auto now = Clock::now();
      if (now >= deadline) return false;
      auto next = deadline;
      for (const auto& t : timers_) next = std::min(next, t.due);
      int wait = static_cast<int>(
          std::max<int64_t>(0, std::chrono::ceil<std::chrono::milliseconds>(next - now).count()));
      pollfd p{launcher->fd(), POLLIN, 0};
      if (::poll(&p, 1, std::min(wait, 50)) > 0) launcher->on_readable();
      now = Clock::now();
      std::vector<std::function<void()>> due;
      for (auto it = timers_.begin(); it != timers_.end();) {
        if (it->due <= now) {
          due.push_back(std::move(it->fn));
          it = timers_.erase(it);
        } else {
          ++it;
        }
      }
      for (auto& fn : due) fn();
    }
    return true;
  }

  std::optional<Exit> wait_exit(const std::string& name, std::chrono::milliseconds timeout = 10s) {
    if (!run_until([&] { return exits.count(id(name)) != 0; }, timeout)) return std::nullopt;
    return exits[id(name)];
  }

  // Waits for `text` to appear in a container's stdout.
  bool wait_output(const std::string& name, const std::string& text) {
    return run_until([&] {
      return slurp(dir_ / "sandboxes" / name / "stdout").find(text) != std::string::npos;
    });
  }

  std::filesystem::path sandbox(const std::string& name) const { return dir_ / "sandboxes" / name; }
  std::filesystem::path state_dir() const { return dir_ / "state"; }
  std::filesystem::path dir() const { return dir_; }
  // A container's state file (`suffix` ".container", or ".status" for an older supervisor's).
  std::filesystem::path state_file(const std::string& name, const std::string& suffix) const {
    return state_dir() / (id(name) + suffix);
  }
  // The files of the state directory (spare state files, kept for later launches, are not).
  std::vector<std::string> state_files() const {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(state_dir())) {
      if (e.is_regular_file()) out.push_back(e.path().filename().string());
    }
    return out;
  }
  // The status its supervisor wrote into the second page of a container's state file.
  std::string status_page(const std::string& name) const {
    std::string text = slurp(state_file(name, ".container"));
    text = text.size() > 4096 ? text.substr(4096) : "";
    return text.substr(0, text.find('\0'));
  }

  std::unique_ptr<PosixLauncher> launcher;
  std::map<std::string, Exit> exits;  // by container id
  std::vector<std::string> events;    // "launched ID" (the tests add them), "exited ID"

 private:
  struct Timer {
    Clock::time_point due;
    std::function<void()> fn;
  };
  std::filesystem::path dir_;
  std::string prefix_;
  std::vector<Timer> timers_;
};

TEST(PosixLauncher, ReportsExitCodes) {
  Driver d;
  d.launch(d.spec("ok", "true"));
  d.launch(d.spec("three", "exit 3"));
  auto ok = d.wait_exit("ok");
  auto three = d.wait_exit("three");
  ASSERT_TRUE(ok && three);
  EXPECT_EQ(ok->exit_code, 0);
  EXPECT_EQ(ok->signal, 0);
  EXPECT_EQ(three->exit_code, 3);
  EXPECT_EQ(three->signal, 0);
  EXPECT_NE(three->message.find("exited with status 3"), std::string::npos) << three->message;
  EXPECT_EQ(d.launcher->size(), 0u);
  // The state files are gone with the containers.
  EXPECT_TRUE(d.state_files().empty());
}

TEST(PosixLauncher, StdoutAndStderrGoToSandboxFiles) {
  Driver d;
  d.launch(d.spec("out", "echo to-stdout; echo to-stderr >&2"));
  ASSERT_TRUE(d.wait_exit("out"));
  EXPECT_EQ(slurp(d.sandbox("out") / "stdout"), "to-stdout\n");
  EXPECT_EQ(slurp(d.sandbox("out") / "stderr"), "to-stderr\n");
}

TEST(PosixLauncher, TaskSeesItsEnvironmentAndNotTheHosts) {
  Driver d;
  ::setenv("TESSERA_TEST_HOST_ONLY", "leaked", 1);
  auto s = d.spec("env", "echo \"$TASK_ID $PORT0 $FOO ${TESSERA_TEST_HOST_ONLY:-unset} $PATH\"");
  s.environment = task_environment({{"FOO", "bar"}, {"TASK_ID", "from-command"}},
                                   {{"TASK_ID", "task-1"}, {"PORT0", "31000"}}, environ);
  d.launch(s);
  ::unsetenv("TESSERA_TEST_HOST_ONLY");
  ASSERT_TRUE(d.wait_exit("env"));
  std::string out = slurp(d.sandbox("env") / "stdout");
  EXPECT_EQ(out.rfind("task-1 31000 bar unset /", 0), 0u) << out;
}

TEST(PosixLauncher, WorkingDirectoryIsTheSandbox) {
  Driver d;
  d.launch(d.spec("cwd", "pwd -P"));
  ASSERT_TRUE(d.wait_exit("cwd"));
  EXPECT_EQ(slurp(d.sandbox("cwd") / "stdout"),
            std::filesystem::canonical(d.sandbox("cwd")).string() + "\n");
}

TEST(PosixLauncher, CreatesAMissingSandbox) {
  Driver d;
  auto s = d.spec("deep", "true");
  s.sandbox = s.sandbox / "a" / "b";
  d.launch(s);
  ASSERT_TRUE(d.wait_exit("deep"));
  EXPECT_TRUE(std::filesystem::exists(s.sandbox / "stdout"));
}

TEST(PosixLauncher, TaskRunsInItsOwnProcessGroup) {
  Driver d;
  pid_t pid = d.launch(d.spec("group", "sleep 30"));
  // Its first act, which the launch's answer does not wait for.
  EXPECT_TRUE(d.run_until([&] { return ::getsid(pid) == pid; }));
  EXPECT_EQ(::getpgid(pid), pid);
  EXPECT_NE(::getpgid(pid), ::getpgrp());
  EXPECT_EQ(::getsid(pid), pid);
  ASSERT_TRUE(d.launcher->kill(d.id("group"), 0ms));
  auto e = d.wait_exit("group");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->signal, SIGKILL);
}

TEST(PosixLauncher, KillSendsSigtermFirst) {
  Driver d;
  d.launch(d.spec("term", "sleep 30", /*shell=*/true));
  ASSERT_TRUE(d.launcher->kill(d.id("term"), 5000ms));
  // Died of the SIGTERM: the SIGKILL would only come after the 5 s grace.
  auto e = d.wait_exit("term");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->signal, SIGTERM);
  EXPECT_EQ(e->exit_code, -1);
}

TEST(PosixLauncher, IgnoredSigtermIsFollowedBySigkillAfterTheGracePeriod) {
  Driver d;
  d.launch(d.spec("stubborn", "trap '' TERM; echo ready; sleep 60"));
  ASSERT_TRUE(d.wait_output("stubborn", "ready"));
  auto start = Clock::now();
  ASSERT_TRUE(d.launcher->kill(d.id("stubborn"), 300ms));
  auto e = d.wait_exit("stubborn");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->signal, SIGKILL);
  EXPECT_GE(Clock::now() - start, 300ms);  // not before the grace (a lower bound only)
  EXPECT_NE(e->message.find("grace period"), std::string::npos) << e->message;
}

TEST(PosixLauncher, KillLeavesNoGrandchildBehind) {
  Driver d;
  pid_t pid = d.launch(d.spec("family", "sleep 60 & echo ready; sleep 60"));
  ASSERT_TRUE(d.wait_output("family", "ready"));
  EXPECT_GE(live_group_members(pid).size(), 2u);
  ASSERT_TRUE(d.launcher->kill(d.id("family"), 5000ms));
  ASSERT_TRUE(d.wait_exit("family"));
  EXPECT_TRUE(live_group_members(pid).empty());
}

TEST(PosixLauncher, NormalExitLeavesNoBackgroundProcessBehind) {
  Driver d;
  pid_t pid = d.launch(d.spec("daemonish", "sleep 60 & echo started"));
  auto e = d.wait_exit("daemonish");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->exit_code, 0);
  EXPECT_TRUE(live_group_members(pid).empty());
  // Its state file went with it (once left behind: the name was read after it was freed).
  EXPECT_TRUE(d.state_files().empty());
}

TEST(PosixLauncher, BlockedSignalMaskOfTheHostIsNotInherited) {
  // The host blocks SIGTERM in every thread; a task must still die of SIGTERM.
  sigset_t term, old;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  ASSERT_EQ(::pthread_sigmask(SIG_BLOCK, &term, &old), 0);
  Driver d;
  auto s = d.spec("mask", "sleep", /*shell=*/false);  // exec form: sleep has no handler
  s.arguments = {"60"};
  d.launch(s);
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  ASSERT_TRUE(d.launcher->kill(d.id("mask"), 10000ms));
  // Died of the SIGTERM: the SIGKILL would only come after the 10 s grace.
  auto e = d.wait_exit("mask", 9s);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->signal, SIGTERM);
}

TEST(PosixLauncher, ExecFormPassesArguments) {
  Driver d;
  auto s = d.spec("exec", "printf", /*shell=*/false);
  s.arguments = {"%s-%s", "a b", "c"};
  d.launch(s);
  auto e = d.wait_exit("exec");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->exit_code, 0);
  EXPECT_EQ(slurp(d.sandbox("exec") / "stdout"), "a b-c");
}

TEST(PosixLauncher, MissingProgramFailsClearly) {
  Driver d;
  // Shell form: the shell reports it and exits 127.
  d.launch(d.spec("sh-missing", "no-such-program-tessera"));
  auto e = d.wait_exit("sh-missing");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->exit_code, 127);
  EXPECT_NE(slurp(d.sandbox("sh-missing") / "stderr").find("not found"), std::string::npos);
  // Exec form: the launch itself fails.
  auto missing = d.launcher->launch(d.spec("exec-missing", "no-such-program-tessera", false));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("'no-such-program-tessera' not found in PATH"),
            std::string::npos)
      << missing.error().message;
  auto absent = d.launcher->launch(d.spec("exec-absent", "/no/such/program", false));
  ASSERT_FALSE(absent.ok());
  EXPECT_NE(absent.error().message.find("No such file or directory"), std::string::npos)
      << absent.error().message;
  EXPECT_FALSE(d.launcher->running(d.id("exec-missing")));
  EXPECT_FALSE(d.launcher->running(d.id("exec-absent")));
}

TEST(PosixLauncher, DuplicateIdAndUnknownKillFail) {
  Driver d;
  d.launch(d.spec("dup", "sleep 30"));
  auto again = d.launcher->launch(d.spec("dup", "true"));
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.error().message.find("container '" + d.id("dup") + "' is already running"),
            std::string::npos);
  auto unknown = d.launcher->kill(d.id("nope"), 100ms);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().message, "unknown container '" + d.id("nope") + "'");
  ASSERT_TRUE(d.launcher->kill(d.id("dup"), 0ms));
  ASSERT_TRUE(d.wait_exit("dup"));
  // Once it has exited, the id can be used again.
  d.launch(d.spec("dup", "true"));
  d.exits.clear();
  ASSERT_TRUE(d.wait_exit("dup"));
}

TEST(PosixLauncher, RecoversALiveContainerAfterARestart) {
  Driver d;
  pid_t pid = d.launch(d.spec("survivor", "exec sleep 30"));
  d.open();  // the old launcher is destroyed without killing anything
  EXPECT_EQ(::kill(pid, 0), 0);
  auto recovered = d.launcher->recover({{d.id("survivor"), pid}});
  EXPECT_EQ(recovered.alive, std::vector<std::string>{d.id("survivor")});
  EXPECT_TRUE(recovered.gone.empty());
  ASSERT_TRUE(d.launcher->kill(d.id("survivor"), 5000ms));
  auto e = d.wait_exit("survivor");
  ASSERT_TRUE(e);
  // Still this test process's child, so the status is known here.
  EXPECT_EQ(e->signal, SIGTERM);
}

// Its supervisor saw it end while no launcher ran, and wrote how: the recovery adopts it as
// ended, and its real status is reported (once the recovery has been answered).
TEST(PosixLauncher, ContainerThatDiedWhileDownIsReportedWithItsStatus) {
  Driver d;
  pid_t pid = d.launch(d.spec("dead", "exec sleep 30"));
  d.open();
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  ASSERT_TRUE(d.run_until([&] { return !process_start_time(pid); }));
  ASSERT_TRUE(d.run_until([&] { return !d.status_page("dead").empty(); }));
  auto recovered = d.launcher->recover({{d.id("dead"), pid}, {d.id("never-heard-of"), 12345}});
  EXPECT_EQ(recovered.alive, std::vector<std::string>{d.id("dead")});
  EXPECT_EQ(recovered.gone, std::vector<std::string>{d.id("never-heard-of")});
  auto e = d.wait_exit("dead");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->exit_code, -1);
  EXPECT_EQ(e->signal, SIGKILL);
  EXPECT_NE(e->message.find("while the agent was not running"), std::string::npos) << e->message;
  // Its supervisor (this process's child) was reaped, and its state forgotten.
  EXPECT_TRUE(d.run_until([&] { return supervisor_processes({d.id("dead")}).empty(); }));
  EXPECT_TRUE(d.state_files().empty());
}

// A task re-adopted after a restart that ends later is reported with its own exit status.
TEST(PosixLauncher, AReadoptedContainerEndsWithItsRealStatus) {
  Driver d;
  d.launch(d.spec("later", "while [ ! -e stop ]; do sleep 0.02; done; exit 3"));
  d.open();
  auto recovered = d.launcher->recover({{d.id("later"), 0}});
  ASSERT_EQ(recovered.alive, std::vector<std::string>{d.id("later")});
  std::ofstream(d.sandbox("later") / "stop") << "stop\n";
  auto e = d.wait_exit("later");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->exit_code, 3);
  EXPECT_EQ(e->signal, 0);
}

// The supervisor is not one of the task's processes: it has no container marker, stays out of
// the task's process group, and a kill of the group leaves it to record the status.
TEST(PosixLauncher, TheSupervisorStaysOutsideTheTasksProcessGroup) {
  Driver d;
  pid_t pid = d.launch(d.spec("apart", "exec sleep 30"));
  // Until its exec, the task is still a copy of its supervisor.
  std::map<std::string, std::vector<MarkedProcess>> supervisors;
  ASSERT_TRUE(d.run_until([&] {
    supervisors = supervisor_processes({d.id("apart")});
    return supervisors[d.id("apart")].size() == 1;
  }));
  pid_t supervisor = supervisors[d.id("apart")][0].pid;
  // Fields 5 and 6 of /proc/PID/stat (counted after the command name): group and session.
  std::string stat = slurp("/proc/" + std::to_string(supervisor) + "/stat");
  std::istringstream fields(stat.substr(stat.rfind(')') + 1));
  std::string state;
  pid_t parent = 0, group = 0, session = 0;
  fields >> state >> parent >> group >> session;
  EXPECT_NE(group, pid);
  EXPECT_EQ(session, supervisor);
  // The task is marked once it has exec'd (the supervisor can be found before that).
  EXPECT_TRUE(
      d.run_until([&] { return marked_processes({d.id("apart")})[d.id("apart")].size() == 1; }));
  ASSERT_TRUE(d.launcher->kill(d.id("apart"), 0ms));
  auto e = d.wait_exit("apart");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->signal, SIGKILL);
  EXPECT_FALSE(process_start_time(supervisor));
}

// A supervisor killed before its task ends cannot say how the task ended: the task is watched
// by itself from then on, and its end is reported with an unknown status.
TEST(PosixLauncher, ATaskWhoseSupervisorWasKilledIsStillWatched) {
  Driver d;
  pid_t pid = d.launch(d.spec("bereft", "while [ ! -e stop ]; do sleep 0.02; done; exit 3"));
  std::map<std::string, std::vector<MarkedProcess>> supervisors;
  ASSERT_TRUE(d.run_until([&] {
    supervisors = supervisor_processes({d.id("bereft")});
    return supervisors[d.id("bereft")].size() == 1;
  }));
  ASSERT_EQ(::kill(supervisors[d.id("bereft")][0].pid, SIGKILL), 0);
  // Still running, still the launcher's.
  EXPECT_FALSE(d.wait_exit("bereft", 300ms));
  EXPECT_TRUE(process_start_time(pid));
  std::ofstream(d.sandbox("bereft") / "stop") << "stop\n";
  auto e = d.wait_exit("bereft");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->exit_code, -1);
  EXPECT_NE(e->message.find("its supervisor was killed"), std::string::npos) << e->message;
}

// A plain process of this test, outside any container (no marker in its environment).
pid_t spawn_unrelated(const char* seconds) {
  pid_t pid = 0;
  char arg0[] = "sleep";
  std::string arg1 = seconds;
  char* argv[] = {arg0, arg1.data(), nullptr};
  char* env[] = {nullptr};
  if (::posix_spawn(&pid, "/bin/sleep", nullptr, nullptr, argv, env) != 0) return 0;
  return pid;
}

// Rewrites a state file the way a launcher that died at a given point would have left it.
void rewrite_state(const std::filesystem::path& file, const std::string& key,
                   const std::string& value) {
  std::string text = slurp(file);
  auto at = text.find(key + "=");
  ASSERT_NE(at, std::string::npos) << text;
  auto end = text.find('\n', at);
  text.replace(at, end - at, key + "=" + value);
  std::ofstream(file, std::ios::trunc) << text;
}

// Turns a container's record back into the intent written before its spawn: what a launcher
// that died between posix_spawn and the record leaves (phase "launching", no pid).
void rewind_to_intent(const std::filesystem::path& file) {
  std::istringstream lines(slurp(file));
  std::string text, line;
  while (std::getline(lines, line)) {
    if (line.rfind("pid=", 0) == 0 || line.rfind("pgid=", 0) == 0 ||
        line.rfind("start_time=", 0) == 0 || line.rfind("supervisor_", 0) == 0) {
      continue;
    }
    if (line.rfind("phase=", 0) == 0) line = "phase=launching";
    text += line + "\n";
  }
  std::ofstream(file, std::ios::trunc) << text;
}

TEST(PosixLauncher, PidReusedByAnotherProcessIsNotAdopted) {
  Driver d;
  pid_t pid = d.launch(d.spec("impostor", "exec sleep 30"));
  // The shell's exec of sleep done: the test kills nothing in its middle.
  ASSERT_TRUE(d.run_until(
      [&] { return marked_processes({d.id("impostor")})[d.id("impostor")].size() == 1; }));
  d.open();
  // As if the container's pid had been reused: the state file names an unrelated process, whose
  // start time is not the recorded one.
  // Start times are in clock ticks: one started in the same tick would pass for the container.
  pid_t unrelated = 0;
  for (int attempt = 0; attempt < 10000; ++attempt) {
    unrelated = spawn_unrelated("30");
    ASSERT_GT(unrelated, 0);
    if (process_start_time(unrelated) != process_start_time(pid)) break;
    ::kill(unrelated, SIGKILL);
    ::waitpid(unrelated, nullptr, 0);
  }
  ASSERT_NE(process_start_time(unrelated), process_start_time(pid));
  rewrite_state(d.state_file("impostor", ".container"), "pid", std::to_string(unrelated));
  auto recovered = d.launcher->recover({{d.id("impostor"), 0}});
  EXPECT_EQ(recovered.gone, std::vector<std::string>{d.id("impostor")});
  // The unrelated process is left alone...
  EXPECT_TRUE(process_start_time(unrelated).has_value());
  // ... and the container's own process, found by its marker, is not left running untracked.
  EXPECT_TRUE(d.run_until([&] { return !process_start_time(pid); }));
  ::kill(unrelated, SIGKILL);
  ::waitpid(unrelated, nullptr, 0);
}

// The launcher died between writing its intent and recording the pid: the process is found by
// its marker and adopted, and it is the agent's again (kill and exit work).
TEST(PosixLauncher, AContainerStillLaunchingIsFoundByItsMarkerAndAdopted) {
  Driver d;
  pid_t pid = d.launch(d.spec("half", "sleep 30 & sleep 30; wait"));
  d.open();
  std::filesystem::path file = d.state_file("half", ".container");
  rewind_to_intent(file);
  ASSERT_EQ(slurp(file).find("pid="), std::string::npos);
  auto recovered = d.launcher->recover({{d.id("half"), 0}});
  ASSERT_EQ(recovered.alive, std::vector<std::string>{d.id("half")});
  // The leader, not one of its children (which carry the same marker).
  EXPECT_EQ(d.launcher->pid(d.id("half")), pid);
  EXPECT_NE(slurp(file).find("pid=" + std::to_string(pid)), std::string::npos) << slurp(file);
  ASSERT_TRUE(d.launcher->kill(d.id("half"), 0ms));
  ASSERT_TRUE(d.wait_exit("half"));
  EXPECT_TRUE(live_group_members(pid).empty());
}

// The launcher died after its intent, and the process is already gone: nothing to adopt.
TEST(PosixLauncher, AnIntentWithoutAProcessIsGone) {
  Driver d;
  std::ofstream(d.state_file("never", ".container"))
      << "container_id=" << d.id("never")
      << "\nphase=launching\nboot_id=" << slurp("/proc/sys/kernel/random/boot_id");
  auto recovered = d.launcher->recover({{d.id("never"), 0}});
  EXPECT_EQ(recovered.gone, std::vector<std::string>{d.id("never")});
  EXPECT_TRUE(d.state_files().empty());
}

// A process caught in its exec shows no environment yet, so no marker: the launcher's own
// process is recognised by its working directory (set before the exec) and its session. A
// process that merely sits in a sandbox is not mistaken for a task.
TEST(PosixLauncher, AProcessCaughtInItsExecIsFoundByItsSandbox) {
  Driver d;
  std::filesystem::create_directories(d.sandbox("mid-exec"));
  std::filesystem::create_directories(d.sandbox("bystander"));
  auto spawn_in = [](const std::filesystem::path& dir, bool own_session) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addchdir_np(&actions, dir.c_str());
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    if (own_session) posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);
    char arg0[] = "sleep";
    char arg1[] = "30";
    char* argv[] = {arg0, arg1, nullptr};
    char* env[] = {nullptr};  // as /proc shows a process whose exec is not done
    pid_t pid = 0;
    ::posix_spawn(&pid, "/bin/sleep", &actions, &attr, argv, env);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    return pid;
  };
  pid_t task = spawn_in(d.sandbox("mid-exec"), true);
  pid_t bystander = spawn_in(d.sandbox("bystander"), false);
  ASSERT_GT(task, 0);
  ASSERT_GT(bystander, 0);
  std::string boot_id = slurp("/proc/sys/kernel/random/boot_id");
  for (const char* name : {"mid-exec", "bystander"}) {
    std::ofstream(d.state_file(name, ".container"))
        << "container_id=" << d.id(name)
        << "\nphase=launching\nsandbox=" << std::filesystem::canonical(d.sandbox(name)).string()
        << "\nboot_id=" << boot_id;
  }
  auto recovered = d.launcher->recover({{d.id("mid-exec"), 0}, {d.id("bystander"), 0}});
  EXPECT_EQ(recovered.alive, std::vector<std::string>{d.id("mid-exec")});
  EXPECT_EQ(recovered.gone, std::vector<std::string>{d.id("bystander")});
  EXPECT_EQ(d.launcher->pid(d.id("mid-exec")), task);
  EXPECT_TRUE(process_start_time(bystander).has_value());
  ::kill(bystander, SIGKILL);
  ::waitpid(bystander, nullptr, 0);
}

// The launcher died after creating the state file and before writing its intent into it (so
// before the spawn too, but the test plays the worst case): the id is taken from the file name.
TEST(PosixLauncher, AnEmptyStateFileStillNamesItsContainer) {
  Driver d;
  pid_t pid = d.launch(d.spec("odd id/1", "exec sleep 30"));
  d.open();
  std::filesystem::path file = d.state_dir() / (d.id("odd") + "%20id%2f1.container");
  ASSERT_TRUE(std::filesystem::exists(file));
  // An empty file has no sandbox to recognise an exec under way by: let the exec finish.
  ASSERT_TRUE(d.run_until(
      [&] { return marked_processes({d.id("odd id/1")})[d.id("odd id/1")].size() == 1; }));
  std::ofstream(file, std::ios::trunc).close();
  auto recovered = d.launcher->recover({{d.id("odd id/1"), 0}});
  ASSERT_EQ(recovered.alive, std::vector<std::string>{d.id("odd id/1")});
  EXPECT_EQ(d.launcher->pid(d.id("odd id/1")), pid);
}

// Containers the agent does not name (it never recorded them, or no longer wants them) are
// killed, recorded or only intended, with whatever they started.
TEST(PosixLauncher, ContainersTheAgentDoesNotNameAreKilled) {
  Driver d;
  pid_t kept = d.launch(d.spec("kept", "exec sleep 30"));
  pid_t orphan = d.launch(d.spec("orphan", "sleep 30 & sleep 30; wait"));
  pid_t half = d.launch(d.spec("half-orphan", "exec sleep 30"));
  d.open();
  rewind_to_intent(d.state_file("half-orphan", ".container"));
  std::ofstream(d.state_dir() / "stray.container.tmp") << "cut short";
  auto recovered = d.launcher->recover({{d.id("kept"), kept}});
  EXPECT_EQ(recovered.alive, std::vector<std::string>{d.id("kept")});
  EXPECT_EQ(recovered.orphans, d.ids({"half-orphan", "orphan"}));
  // Both are gone, and their supervisors (this process's children) reaped. Waited for: a
  // SIGKILLed process not yet scheduled on a loaded machine still shows as running, with the
  // signal pending.
  EXPECT_TRUE(d.run_until([&] { return !process_start_time(orphan); }));
  EXPECT_TRUE(d.run_until([&] { return !process_start_time(half); }));
  // Waited for: the scan sees every process of the machine, and under load a supervisor being
  // reaped can still be listed for a moment.
  EXPECT_TRUE(d.run_until([&] {
    return supervisor_processes({d.id("orphan"), d.id("half-orphan")}).empty();
  }));
  ASSERT_TRUE(d.run_until([&] { return live_group_members(orphan).empty(); }));
  EXPECT_TRUE(process_start_time(kept).has_value());
  EXPECT_EQ(d.state_files(), std::vector<std::string>{d.id("kept") + ".container"});
}

TEST(PosixLauncher, ProcessesCarryTheirContainersMarker) {
  Driver d;
  auto spec = d.spec("marked", "sleep 30 & exec sleep 31");
  spec.environment[kContainerMarker] = "forged";
  pid_t pid = d.launch(spec);
  std::map<std::string, std::vector<MarkedProcess>> found;
  ASSERT_TRUE(d.run_until([&] {
    found = marked_processes({d.id("marked"), d.id("forged")});
    return found[d.id("marked")].size() == 2;
  })) << found[d.id("marked")].size();
  EXPECT_TRUE(found[d.id("forged")].empty());
  EXPECT_EQ(::getsid(pid), pid);
  for (const MarkedProcess& p : found[d.id("marked")]) EXPECT_EQ(p.session, pid);
}

TEST(PosixLauncher, WrongPidFromTheAgentIsGone) {
  Driver d;
  pid_t pid = d.launch(d.spec("mismatch", "exec sleep 30"));
  d.open();
  auto recovered = d.launcher->recover({{d.id("mismatch"), pid + 1}});
  EXPECT_EQ(recovered.gone, std::vector<std::string>{d.id("mismatch")});
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
}

TEST(PosixLauncher, KillAllEndsEverything) {
  Driver d;
  pid_t a = d.launch(d.spec("a", "trap '' TERM; sleep 60"));
  pid_t b = d.launch(d.spec("b", "exec sleep 60"));
  d.launcher->kill_all(200ms);
  EXPECT_EQ(d.launcher->size(), 0u);
  EXPECT_TRUE(live_group_members(a).empty());
  EXPECT_TRUE(live_group_members(b).empty());
  EXPECT_TRUE(d.state_files().empty());
}

// kill_all waits for every group to be empty, grandchildren that ignore SIGTERM included, and
// finds the live groups in one scan of /proc (live_process_groups) for all containers.
TEST(PosixLauncher, KillAllWaitsForEveryGroupsLastMember) {
  Driver d;
  std::vector<pid_t> pids;
  for (int i = 0; i < 4; ++i) {
    std::string name = "family" + std::to_string(i);
    pids.push_back(
        d.launch(d.spec(name, "trap '' TERM; (trap '' TERM; sleep 60) & echo ready; wait")));
    ASSERT_TRUE(d.wait_output(name, "ready"));
  }
  std::set<pid_t> groups = live_process_groups();
  for (pid_t pid : pids) {
    EXPECT_EQ(groups.count(pid), 1u) << pid;
    EXPECT_GE(live_group_members(pid).size(), 2u) << pid;
  }
  d.launcher->kill_all(200ms);
  EXPECT_EQ(d.launcher->size(), 0u);
  groups = live_process_groups();
  for (pid_t pid : pids) {
    EXPECT_EQ(groups.count(pid), 0u) << pid;
    EXPECT_TRUE(live_group_members(pid).empty()) << pid;
  }
}

// A held launch runs nothing until its release, then the command in place (same pid): a shell
// command runs as under `sh -c` (no positional parameters, its own exit status, exec works);
// an exec-form program gets its arguments.
TEST(PosixLauncher, AHeldLaunchRunsItsCommandInPlaceOnlyOnRelease) {
  Driver d;
  LaunchSpec shell = d.spec("held-shell", "echo \"args=$#\"; exec sh -c 'exit 7'");
  shell.hold = true;
  pid_t pid = d.launch(shell);
  EXPECT_FALSE(d.run_until([&] { return d.exits.count(d.id("held-shell")) != 0; }, 300ms));
  EXPECT_EQ(slurp(d.sandbox("held-shell") / "stdout"), "");
  ASSERT_TRUE(d.launcher->release(d.id("held-shell")));
  auto e = d.wait_exit("held-shell");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->exit_code, 7);
  EXPECT_EQ(slurp(d.sandbox("held-shell") / "stdout"), "args=0\n");
  EXPECT_FALSE(process_start_time(pid));

  LaunchSpec exec_form = d.spec("held-exec", "echo", false);
  exec_form.arguments = {"a b", "c"};
  exec_form.hold = true;
  d.launch(exec_form);
  ASSERT_TRUE(d.launcher->release(d.id("held-exec")));
  ASSERT_TRUE(d.wait_exit("held-exec"));
  EXPECT_EQ(slurp(d.sandbox("held-exec") / "stdout"), "a b c\n");
}

// A supervisor that waits for the file `gate` before it starts, for containers whose id holds
// "slow": as a supervisor delayed by a loaded machine would be.
std::filesystem::path slow_supervisor(const Driver& d, const std::filesystem::path& gate) {
  std::filesystem::path script = d.dir() / "slow-supervisor";
  std::ofstream(script) << "#!/bin/sh\ncase \"$1\" in *slow*) while [ ! -e '" << gate.string()
                        << "' ]; do /bin/sleep 0.01; done;; esac\nexec '"
                        << TESSERA_TASK_SUPERVISOR_BUILD_PATH << "' \"$@\"\n";
  std::filesystem::permissions(script, std::filesystem::perms::owner_all);
  return script;
}

// The launch burst bug: launches were answered one after another, each waiting for its
// supervisor, so one slow supervisor (or a loaded machine's scheduling, 2,000 times over) held
// back every launch behind it until the agent's reply timeout. Now a launch is answered when
// its own supervisor reports: the launches after a slow one are answered, and their exits
// reported (each after its launch's answer), while it still waits.
TEST(PosixLauncher, ASlowSupervisorDelaysOnlyItsOwnLaunch) {
  Driver d;
  std::filesystem::path gate = d.dir() / "gate";
  d.open(slow_supervisor(d, gate));
  std::map<std::string, Result<Launched>> answers;
  auto answer = [&](const std::string& id, Result<Launched> launched) {
    d.events.push_back("launched " + id);
    answers.emplace(id, std::move(launched));
  };
  ASSERT_TRUE(d.launcher->start_launch(d.spec("slow", "exit 4"), answer));
  std::vector<std::string> fast;
  for (int i = 0; i < 4; ++i) {
    fast.push_back("fast-" + std::to_string(i));
    ASSERT_TRUE(d.launcher->start_launch(d.spec(fast.back(), "true"), answer));
  }
  ASSERT_TRUE(d.run_until([&] {
    return std::all_of(fast.begin(), fast.end(),
                       [&](const std::string& name) { return d.exits.count(d.id(name)) != 0; });
  }));
  EXPECT_EQ(answers.count(d.id("slow")), 0u);
  EXPECT_TRUE(d.launcher->running(d.id("slow")));
  EXPECT_FALSE(d.launcher->pid(d.id("slow")));
  for (const std::string& name : fast) {
    auto launched = answers.find(d.id(name));
    ASSERT_NE(launched, answers.end()) << name;
    ASSERT_TRUE(launched->second.ok()) << launched->second.error().message;
    EXPECT_GT(launched->second->pid, 0);
    auto at = [&](const std::string& event) {
      return std::find(d.events.begin(), d.events.end(), event) - d.events.begin();
    };
    EXPECT_LT(at("launched " + d.id(name)), at("exited " + d.id(name)));
  }
  std::ofstream(gate) << "open\n";
  auto e = d.wait_exit("slow");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->exit_code, 4);
  ASSERT_EQ(answers.count(d.id("slow")), 1u);
  EXPECT_TRUE(answers.at(d.id("slow")).ok());
}

// A kill that comes before the launch is answered (the agent kills a launch it gave up on) is
// carried out right after the answer.
TEST(PosixLauncher, AKillBeforeTheLaunchsAnswerEndsTheTaskAfterIt) {
  Driver d;
  std::filesystem::path gate = d.dir() / "gate";
  d.open(slow_supervisor(d, gate));
  std::optional<Result<Launched>> answer;
  ASSERT_TRUE(d.launcher->start_launch(
      d.spec("slow-killed", "exec sleep 30"),
      [&](const std::string&, Result<Launched> launched) { answer = std::move(launched); }));
  ASSERT_TRUE(d.launcher->kill(d.id("slow-killed"), 0ms));
  EXPECT_FALSE(d.launcher->release(d.id("slow-killed")));
  std::ofstream(gate) << "open\n";
  auto e = d.wait_exit("slow-killed");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->signal, SIGKILL);
  ASSERT_TRUE(answer && answer->ok());
  EXPECT_FALSE(process_start_time((*answer)->pid));
}

// More launches at once than may start together: the rest wait their turn, and every one is
// answered and runs.
TEST(PosixLauncher, ABurstBeyondTheStartingLimitIsAllAnswered) {
  Driver d;
  const size_t count = PosixLauncher::kMaxStartingLaunches * 3;
  std::map<std::string, Result<Launched>> answers;
  for (size_t i = 0; i < count; ++i) {
    ASSERT_TRUE(d.launcher->start_launch(d.spec("burst-" + std::to_string(i), "exit 0"),
                                         [&](const std::string& id, Result<Launched> launched) {
                                           answers.emplace(id, std::move(launched));
                                         }));
  }
  ASSERT_TRUE(d.run_until([&] { return d.exits.size() == count; }, 60s))
      << d.exits.size() << " of " << count << " ended, " << answers.size() << " answered";
  ASSERT_EQ(answers.size(), count);
  for (const auto& [id, launched] : answers) {
    EXPECT_TRUE(launched.ok()) << id << ": " << launched.error().message;
    EXPECT_EQ(d.exits[id].exit_code, 0) << id;
  }
  EXPECT_EQ(d.launcher->size(), 0u);
  EXPECT_TRUE(d.state_files().empty());
}

// A busy task's usage, read from /proc: its cpu time grows, its memory is resident, and its peak
// is at least that; a process that ended has none.
TEST(ProcessUsage, ABusyProcessUsesCpuAndMemoryAndAnEndedOneHasNone) {
  Driver d;
  pid_t pid = d.launch(d.spec("busy", "while true; do :; done"));
  auto first = process_usage(pid);
  ASSERT_TRUE(first);
  EXPECT_GE(first->cpu_seconds, 0);
  EXPECT_GT(first->memory_bytes, 0);
  EXPECT_GE(first->memory_peak_bytes, first->memory_bytes);
  double grown = first->cpu_seconds;
  EXPECT_TRUE(d.run_until(
      [&] {
        auto now = process_usage(pid);
        grown = now ? now->cpu_seconds : -1;
        return grown >= first->cpu_seconds + 0.05;
      },
      30s))
      << "cpu time stayed at " << grown;
  ASSERT_TRUE(d.launcher->kill(d.id("busy"), 0ms));
  ASSERT_TRUE(d.wait_exit("busy"));
  EXPECT_FALSE(process_usage(pid));
}

// Ended containers leave their state files as spares, which later launches take back: a burst
// of short tasks creates and deletes no inode per task (on ext4 an inode allocated among many
// recently deleted ones costs a scan of them all).
TEST(PosixLauncher, StateFilesOfEndedContainersAreReused) {
  Driver d;
  d.launch(d.spec("first", "true"));
  ASSERT_TRUE(d.wait_exit("first"));
  std::vector<std::filesystem::path> spares;
  for (const auto& e : std::filesystem::directory_iterator(d.state_dir() / "spare")) {
    spares.push_back(e.path());
  }
  ASSERT_EQ(spares.size(), 1u);
  struct stat spare {};
  ASSERT_EQ(::stat(spares[0].c_str(), &spare), 0);
  d.launch(d.spec("second", "exec sleep 30"));
  struct stat reused {};
  ASSERT_EQ(::stat(d.state_file("second", ".container").c_str(), &reused), 0);
  EXPECT_EQ(reused.st_ino, spare.st_ino);
  EXPECT_FALSE(std::filesystem::exists(spares[0]));
  // Rewritten whole: the record is the new container's, and the old status is gone.
  std::string record = slurp(d.state_file("second", ".container"));
  EXPECT_NE(record.find("container_id=" + d.id("second") + "\n"), std::string::npos);
  EXPECT_EQ(record.find(d.id("first")), std::string::npos);
  EXPECT_EQ(d.status_page("second"), "");
  ASSERT_TRUE(d.launcher->kill(d.id("second"), 0ms).ok());
  auto e = d.wait_exit("second");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->signal, SIGKILL);
}

// The supervisor passes every argument and variable as it was sent, the empty ones too, and a
// command it cannot execute ends the task 126 with the reason in the task's stderr.
TEST(PosixLauncher, TheSupervisorPassesArgumentsWhole) {
  Driver d;
  auto s = d.spec("args", "printf", /*shell=*/false);
  s.arguments = {"[%s]"};
  std::string expected;
  for (int i = 0; i < 300; ++i) {
    std::string argument = i % 3 == 0 ? std::string() : std::string(static_cast<size_t>(i), 'x');
    s.arguments.push_back(argument);
    expected += "[" + argument + "]";
  }
  s.environment["EMPTY_VALUE"] = "";
  d.launch(s);
  auto e = d.wait_exit("args");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->exit_code, 0);
  EXPECT_EQ(slurp(d.sandbox("args") / "stdout"), expected);

  auto env = d.spec("env", "env", /*shell=*/false);
  env.environment["EMPTY_VALUE"] = "";
  d.launch(env);
  ASSERT_TRUE(d.wait_exit("env"));
  EXPECT_NE(("\n" + slurp(d.sandbox("env") / "stdout")).find("\nEMPTY_VALUE=\n"),
            std::string::npos);

  // Executable by its mode, not by its contents: the launch passes, the exec fails.
  std::filesystem::path garbage = d.dir() / "garbage";
  std::ofstream(garbage) << std::string(64, '\x01');
  std::filesystem::permissions(garbage, std::filesystem::perms::owner_all);
  d.launch(d.spec("noexec", garbage.string(), /*shell=*/false));
  auto failed = d.wait_exit("noexec");
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->exit_code, 126);
  EXPECT_EQ(slurp(d.sandbox("noexec") / "stderr"), "tessera-task-supervisor: cannot execute '" +
                                                       garbage.string() + "': Exec format error\n");
}

// A supervisor started without a whole launch on its control socket runs nothing: it says so
// and exits 125.
TEST(PosixLauncher, TheSupervisorRefusesAnIncompleteLaunch) {
  Driver d;
  for (const std::string& message : {std::string(), std::string("\x10\x00\x00\x00\x01", 5),
                                     std::string("\x04\x00\x00\x00\xff\xff\xff\xff", 8)}) {
    int control[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, control), 0);
    std::string err = (d.dir() / "stderr").string();
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, control[0], 3);
    posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    std::string program = TESSERA_TASK_SUPERVISOR_BUILD_PATH;
    char name[] = "tessera-task-supervisor";
    char* argv[] = {name, nullptr};
    pid_t pid = 0;
    ASSERT_EQ(::posix_spawn(&pid, program.c_str(), &actions, nullptr, argv, environ), 0);
    posix_spawn_file_actions_destroy(&actions);
    ::close(control[0]);
    ASSERT_EQ(::write(control[1], message.data(), message.size()),
              static_cast<ssize_t>(message.size()));
    ::close(control[1]);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 125) << status;
    EXPECT_EQ(slurp(err), "tessera-task-supervisor: no launch received from the launcher\n");
  }
}

// tessera-host raises its soft descriptor limit to the hard one and says what it was in
// TESSERA_ORIGINAL_NOFILE_LIMIT: tasks get the original back, not the host's.
TEST(PosixLauncher, TasksGetTheHostsOriginalDescriptorLimit) {
  rlimit limit{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &limit), 0);
  if (limit.rlim_max < 200) GTEST_SKIP() << "the hard descriptor limit is " << limit.rlim_max;
  ::setenv("TESSERA_ORIGINAL_NOFILE_LIMIT", "123", 1);
  Driver d;
  ::unsetenv("TESSERA_ORIGINAL_NOFILE_LIMIT");
  d.launch(d.spec("limit", "ulimit -n"));
  ASSERT_TRUE(d.wait_exit("limit"));
  EXPECT_EQ(slurp(d.sandbox("limit") / "stdout"), "123\n");
  // Without the variable, a task has the host's own limit.
  Driver plain;
  plain.launch(plain.spec("limit", "ulimit -n"));
  ASSERT_TRUE(plain.wait_exit("limit"));
  EXPECT_EQ(slurp(plain.sandbox("limit") / "stdout"), std::to_string(limit.rlim_cur) + "\n");
}

}  // namespace
}  // namespace tessera::process_launcher

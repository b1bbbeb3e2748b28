// bench_launcher: what one task launch costs in the process launcher library, next to a bare
// posix_spawn + waitpid of the same program.
//
// Each of --runs rounds starts /bin/true twice: once with posix_spawn and waitpid, and once
// through PosixLauncher (the sandbox, the state file written for recovery, the pidfd watch and
// the reap of the whole process group), timed from launch() to the exit being reported. A small
// driver plays the agent's event loop: poll on the launcher's descriptor plus its timers.
//
// With --cgroups (root, writable cgroups), two more in the same run: the launcher with a cgroup
// per task as the agent drives isolator_cgroups around isolator_posix (create the cgroup with
// limits, held launch, attach, release, exit, remove the cgroup), and a bare cgroup lifecycle
// (mkdir + limits + posix_spawn + attach + waitpid + rmdir, no launcher). Task counts are
// small: this is a short run, not a load test.
//
// Prints the median and p99 of each, and their ratio. This used to be a unit test without an
// assertion (isolator_posix's LaunchCost); it is a measurement, so it lives here.
//
// With --shell every task is the shell command `true` (what most tasks are: `command.shell`),
// and the bare spawns run `/bin/sh -c true`.
//
// Usage: bench_launcher [--runs N] [--cgroups] [--shell]   (default 1000 runs). See
// docs/bench-launcher.md.
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <fstream>
#include <sstream>

#include "cgroups.h"
#include "posix_launcher.h"

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;
using tessera::process_launcher::Exit;
using tessera::process_launcher::LaunchSpec;
using tessera::process_launcher::PosixLauncher;

// The launcher's owner: its timers, and a loop that serves its descriptor until an exit.
class Driver {
 public:
  std::vector<double> launch_part;  // per unheld launch_and_wait(): launch() alone

  Driver(const std::filesystem::path& dir, bool shell, const std::filesystem::path& supervisor = {})
      : dir_(dir), shell_(shell) {
    auto created = PosixLauncher::create(
        dir_ / "state",
        [this](std::chrono::milliseconds delay, std::function<void()> fn) {
          timers_.push_back({Clock::now() + delay, std::move(fn)});
        },
        [this](const Exit& e) {
          exited_ = e.container_id;
          ++ended_;
        },
        supervisor);
    if (!created) throw std::runtime_error(created.error().message);
    launcher_ = std::move(*created);
  }
  ~Driver() { launcher_->kill_all(std::chrono::milliseconds(0)); }

  // A burst of `count` launches of /bin/true requested at once, as the agent sends a framework's
  // accept, served until every exit is reported. `overlapped`: through start_launch(), each
  // answered when its supervisor reports (the launcher now); else one launch() after another,
  // the exits served between two launches (the launcher before: each launch blocked its loop
  // until its supervisor reported). Fills `answered` with each launch's time from the burst's
  // start to its answer (what the agent's 60 s reply timeout measures) and returns the time to
  // the last exit, or nothing on a failure.
  std::optional<double> burst(int count, const std::string& prefix, bool overlapped,
                              std::vector<double>& answered) {
    std::map<std::string, Clock::time_point> answers;
    size_t ended_before = ended_;
    auto t0 = Clock::now();
    bool failed = false;
    for (int i = 0; i < count && !failed; ++i) {
      LaunchSpec spec = make_spec(prefix + std::to_string(i), false);
      if (overlapped) {
        failed = !launcher_->start_launch(
            spec, [&](const std::string& id,
                      const tessera::Result<tessera::process_launcher::Launched>& launched) {
              if (!launched) failed = true;
              answers[id] = Clock::now();
            });
        continue;
      }
      failed = !launcher_->launch(spec);
      answers[spec.container_id] = Clock::now();
      serve(0);
    }
    auto deadline = Clock::now() + std::chrono::seconds(120);
    while (!failed && ended_ - ended_before < static_cast<size_t>(count)) {
      if (Clock::now() > deadline) failed = true;
      serve(5);
    }
    if (failed || answers.size() != static_cast<size_t>(count)) return std::nullopt;
    for (const auto& [id, at] : answers) answered.push_back(micros(at - t0));
    return micros(Clock::now() - t0);
  }

  // Launches /bin/true as `id` and serves until its exit is reported; false on a failure. With
  // `attach`, the launch is held until attach(pid) has run.
  bool launch_and_wait(const std::string& id, const std::function<bool(pid_t)>& attach = nullptr) {
    LaunchSpec spec = make_spec(id, static_cast<bool>(attach));
    auto t0 = Clock::now();
    auto launched = launcher_->launch(spec);
    // The part until the supervisor reported the task's pid (its start and fork, and the task's
    // report), apart from the rest (the task's run, the supervisor's reap and status file, and
    // the launcher's wake-up): where a launch's time goes.
    if (!attach) launch_part.push_back(micros(Clock::now() - t0));
    if (!launched) {
      std::fprintf(stderr, "launch of '%s' failed: %s\n", id.c_str(),
                   launched.error().message.c_str());
      return false;
    }
    if (attach && (!attach(launched->pid) || !launcher_->release(id))) return false;
    exited_.clear();
    auto deadline = Clock::now() + std::chrono::seconds(10);
    while (exited_ != id) {
      if (Clock::now() > deadline) return false;
      serve(5);
    }
    return true;
  }

 private:
  static double micros(Clock::duration d) {
    return std::chrono::duration<double, std::micro>(d).count();
  }

  LaunchSpec make_spec(const std::string& id, bool hold) const {
    LaunchSpec spec;
    spec.hold = hold;
    spec.container_id = id;
    spec.sandbox = dir_ / "sandboxes" / id;
    spec.shell = shell_;
    spec.value = shell_ ? "true" : "/bin/true";
    spec.environment = tessera::process_launcher::task_environment({}, {{"TASK_ID", id}}, environ);
    return spec;
  }

  // One turn of the owner's loop: the launcher's descriptor (up to `wait_ms`), then its timers.
  void serve(int wait_ms) {
    pollfd p{launcher_->fd(), POLLIN, 0};
    if (::poll(&p, 1, wait_ms) > 0) launcher_->on_readable();
    run_due_timers();
  }

  struct Timer {
    Clock::time_point due;
    std::function<void()> fn;
  };

  void run_due_timers() {
    auto now = Clock::now();
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

  std::filesystem::path dir_;
  bool shell_ = false;
  std::unique_ptr<PosixLauncher> launcher_;
  std::vector<Timer> timers_;
  std::string exited_;
  size_t ended_ = 0;
};

double micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  return v[i];
}

void print_row(const char* what, const std::vector<double>& v) {
  if (v.empty()) return;
  std::printf("| %s | %.0f us | %.0f us |\n", what, percentile(v, 0.5), percentile(v, 0.99));
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 1000;
  int burst = 0;
  // Another build of tessera-task-supervisor (e.g. an older one), timed in the same rounds.
  std::filesystem::path other_supervisor;
  bool with_cgroups = false;
  bool shell = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
      runs = std::atoi(argv[++i]);
    } else if (std::strcmp(argv[i], "--cgroups") == 0) {
      with_cgroups = true;
    } else if (std::strcmp(argv[i], "--shell") == 0) {
      shell = true;
    } else if (std::strcmp(argv[i], "--burst") == 0 && i + 1 < argc) {
      burst = std::atoi(argv[++i]);
    } else if (std::strcmp(argv[i], "--other-supervisor") == 0 && i + 1 < argc) {
      other_supervisor = argv[++i];
    } else {
      std::fprintf(stderr,
                   "usage: bench_launcher [--runs N] [--cgroups] [--shell] [--burst N] "
                   "[--other-supervisor PATH]\n");
      return 2;
    }
  }
  if (runs < 0 || burst < 0 || burst > 10000 || (runs == 0 && burst == 0)) {
    std::fprintf(stderr, "bench_launcher: --runs 0 or more, --burst 0 to 10000, not both 0\n");
    return 2;
  }
  namespace cg = tessera::isolator_cgroups;
  std::optional<cg::Cgroups> cgroups;
  std::string parent = "tessera-bench-" + std::to_string(::getpid());
  if (with_cgroups) {
    std::ifstream in("/proc/self/mounts");
    std::stringstream mounts;
    mounts << in.rdbuf();
    auto hierarchy = cg::detect(mounts.str(), "auto");
    auto opened = hierarchy ? cg::Cgroups::open(*hierarchy, parent)
                            : tessera::Result<cg::Cgroups>(hierarchy.error());
    if (!opened) {
      std::fprintf(stderr, "bench_launcher: --cgroups: %s\n", opened.error().message.c_str());
      return 2;
    }
    cgroups.emplace(std::move(*opened));
  }
  std::random_device rd;
  std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("tessera-bench-launcher-" + std::to_string(rd()));
  std::filesystem::create_directories(dir);
  std::vector<double> bare, launcher, launcher_cgroups, bare_cgroup, launch_part;
  std::vector<double> launcher_other, launch_part_other;
  // Per burst: the time to its last exit, and each launch's time to its answer.
  std::vector<std::pair<double, std::vector<double>>> burst_serial, burst_overlapped;
  double burst_bare = 0;
  cg::Limits limits;
  limits.memory_bytes = 64 << 20;
  limits.pids_max = 64;
  bool ok = true;
  {
    Driver driver(dir, shell);
    std::optional<Driver> other;
    if (!other_supervisor.empty()) other.emplace(dir / "other", shell, other_supervisor);
    char arg0[] = "true";
    char* exec_args[] = {arg0, nullptr};
    char sh[] = "sh", dash_c[] = "-c";
    char* shell_args[] = {sh, dash_c, arg0, nullptr};
    char** args = shell ? shell_args : exec_args;
    const char* program = shell ? "/bin/sh" : "/bin/true";
    for (int i = 0; i < runs && ok; ++i) {
      auto t0 = Clock::now();
      pid_t pid = 0;
      if (::posix_spawn(&pid, program, nullptr, nullptr, args, environ) != 0) {
        ok = false;
        break;
      }
      ::waitpid(pid, nullptr, 0);
      bare.push_back(micros(Clock::now() - t0));

      t0 = Clock::now();
      ok = driver.launch_and_wait("c" + std::to_string(i));
      launcher.push_back(micros(Clock::now() - t0));
      if (ok && other) {
        t0 = Clock::now();
        ok = other->launch_and_wait("c" + std::to_string(i));
        launcher_other.push_back(micros(Clock::now() - t0));
      }
      if (!ok || !cgroups) continue;

      // The same launch inside a cgroup of its own, as the agent runs the two plugins.
      std::string id = "g" + std::to_string(i);
      t0 = Clock::now();
      ok = cgroups->create(id, limits).ok() &&
           driver.launch_and_wait(id, [&](pid_t p) { return cgroups->attach(id, p).ok(); }) &&
           cgroups->destroy(id).ok();
      launcher_cgroups.push_back(micros(Clock::now() - t0));

      // The bare cost: a cgroup made, entered by a fresh process, and removed.
      id = "b" + std::to_string(i);
      t0 = Clock::now();
      ok = ok && cgroups->create(id, limits).ok() &&
           ::posix_spawn(&pid, program, nullptr, nullptr, args, environ) == 0;
      if (ok) {
        ok = cgroups->attach(id, pid).ok();
        ::waitpid(pid, nullptr, 0);
        ok = ok && cgroups->destroy(id).ok();
      }
      bare_cgroup.push_back(micros(Clock::now() - t0));
    }
    if (burst > 0 && ok) {
      // The bare burst: every process spawned back to back, then all reaped.
      auto t0 = Clock::now();
      std::vector<pid_t> pids;
      for (int i = 0; i < burst && ok; ++i) {
        pid_t pid = 0;
        ok = ::posix_spawn(&pid, program, nullptr, nullptr, args, environ) == 0;
        if (ok) pids.push_back(pid);
      }
      for (pid_t pid : pids) ::waitpid(pid, nullptr, 0);
      burst_bare = micros(Clock::now() - t0);
      // Before and after, in turn, twice: the load of the machine drifts.
      for (int round = 0; round < 2 && ok; ++round) {
        for (bool overlapped : {false, true}) {
          std::string prefix = std::string(overlapped ? "o" : "s") + std::to_string(round) + "-";
          std::vector<double> answers;
          auto took = driver.burst(burst, prefix, overlapped, answers);
          ok = took.has_value();
          if (ok) (overlapped ? burst_overlapped : burst_serial).emplace_back(*took, answers);
        }
      }
    }
    launch_part = driver.launch_part;
    if (other) launch_part_other = other->launch_part;
  }
  if (cgroups) cgroups->remove_parent_if_empty();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  if (!ok) {
    std::fprintf(stderr, "bench_launcher: a launch failed or its exit was not reported\n");
    return 1;
  }
  if (burst > 0) {
    std::printf("a burst of %d launches of %s requested at once, served until every exit\n", burst,
                shell ? "the shell command `true`" : "/bin/true");
    std::printf("| | to the last exit | tasks/s | request -> answer p50 / p99 / max |\n");
    std::printf("|---|---|---|---|\n");
    auto row = [&](const char* what,
                   const std::vector<std::pair<double, std::vector<double>>>& runs_of_burst) {
      for (const auto& [t, answers] : runs_of_burst) {
        std::printf("| %s | %.0f ms | %.0f | %.0f / %.0f / %.0f ms |\n", what, t / 1000,
                    burst / (t / 1e6), percentile(answers, 0.5) / 1000,
                    percentile(answers, 0.99) / 1000, percentile(answers, 1.0) / 1000);
      }
    };
    row("one launch() after another (before)", burst_serial);
    row("start_launch(), answered from the loop (now)", burst_overlapped);
    std::printf("| bare posix_spawn of all, then waitpid of all | %.0f ms | %.0f | |\n",
                burst_bare / 1000, burst / (burst_bare / 1e6));
  }
  if (runs == 0) return 0;
  double bare_p50 = percentile(bare, 0.5), launcher_p50 = percentile(launcher, 0.5);
  std::printf("launch + exit of %s, %d runs\n", shell ? "the shell command `true`" : "/bin/true",
              runs);
  std::printf("| | p50 | p99 |\n|---|---|---|\n");
  print_row("PosixLauncher (launch -> exit reported)", launcher);
  print_row("  of which launch() until the supervisor reported the pid", launch_part);
  print_row("PosixLauncher with --other-supervisor (launch -> exit reported)", launcher_other);
  print_row("  of which launch() until the supervisor reported the pid", launch_part_other);
  print_row("bare posix_spawn + waitpid", bare);
  print_row("PosixLauncher + cgroup (create, held launch, attach, release, exit, remove)",
            launcher_cgroups);
  print_row("bare cgroup lifecycle (mkdir + limits + spawn + attach + wait + rmdir)", bare_cgroup);
  std::printf("launcher / bare (p50): %.2fx\n", launcher_p50 / bare_p50);
  if (!launcher_cgroups.empty()) {
    std::printf(
        "launcher + cgroup / (launcher + bare cgroup lifecycle - bare spawn) (p50): %.2fx\n",
        percentile(launcher_cgroups, 0.5) /
            (launcher_p50 + percentile(bare_cgroup, 0.5) - bare_p50));
  }
  return 0;
}

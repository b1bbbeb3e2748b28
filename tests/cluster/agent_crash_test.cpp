// An agent killed (kill -9) in the middle of a burst of launches, then restarted on the same
// work dir, the way the defect was found: whatever the moment, every process it started is
// adopted or killed, and every task ends up either really running (and still the agent's: the
// framework can kill it) or with exactly one terminal status. And an agent whose disk is full
// sends no update it could not checkpoint. Real master and agent processes on loopback
// (support/cluster.h), a framework in the test process; the tasks' processes are found in /proc
// by a marker in their environment (support/task_processes.h), whatever their parent is now.
#include <gtest/gtest.h>
#include <sys/mount.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "agent/checkpoint.h"
#include "support/cluster.h"
#include "support/framework.h"
#include "support/task_processes.h"
#include "support/task_runs.h"

namespace {

using namespace std::chrono_literals;
using tessera::protocol::TaskInfo;
using tessera::protocol::TaskStatus;
using tessera::protocol::scheduler::Offer;
using tessera::testing::Cluster;
using tessera::testing::command_task;
using tessera::testing::processes_with;
using tessera::testing::TaskProcess;
using tessera::testing::TaskProcessReaper;
using tessera::testing::TempDir;
using tessera::testing::TestFramework;
using namespace tessera::testing;
namespace state = tessera::protocol::state;
namespace reason = tessera::protocol::reason;

// The environment variable that marks this test's task processes.
constexpr const char* kMarker = "TESSERA_AGENT_CRASH_TEST";
constexpr int kTasks = 50;

// The moment the agent is killed: once its log holds `line` `count` times.
struct Moment {
  const char* line;
  size_t count;
};

std::ostream& operator<<(std::ostream& out, const Moment& m) {
  return out << "'" << m.line << "' x" << m.count;
}

class AgentCrashDuringLaunchesTest : public ::testing::TestWithParam<Moment> {
 protected:
  TempDir dir_;
  Cluster cluster_{dir_};
};

TEST_P(AgentCrashDuringLaunchesTest, EveryTaskIsAdoptedOrEndsOnceAndNothingRunsUntracked) {
  const Moment moment = GetParam();
  const std::string marker = random_hex();
  TaskProcessReaper reaper(kMarker, marker);
  ASSERT_TRUE(cluster_.start_master());
  ASSERT_TRUE(cluster_.start_agent(0));
  TestFramework framework(cluster_.endpoint(), long_lived_framework("crash"));
  ASSERT_TRUE(framework.subscribed());

  std::vector<TaskInfo> tasks;
  std::vector<std::string> ids;
  for (int i = 0; i < kTasks; ++i) {
    TaskInfo task = command_task("t" + std::to_string(i), "sleep 600", 0.05, 8);
    task.command.environment[kMarker] = marker;
    tasks.push_back(task);
    ids.push_back(task.task_id);
  }
  // All of them in one accept, so that the agent gets one burst of launches.
  std::string agent_id;
  accept_in_one_go(framework, tasks, agent_id);
  bool killed = false;
  ASSERT_TRUE(framework.run_until(
      [&] {
        if (cluster_.agent(0).count(moment.line) >= moment.count) {
          cluster_.agent(0).signal(SIGKILL);
          killed = true;
        }
        return killed;
      },
      30s))
      << "the agent never logged " << moment << ":\n"
      << cluster_.agent(0).output();
  ASSERT_TRUE(cluster_.agent(0).wait().has_value());
  std::string before_crash = cluster_.agent(0).output();
  std::string progress = "at the kill the agent had received " +
                         std::to_string(cluster_.agent(0).count("agent: running task")) +
                         " task(s) and spawned " +
                         std::to_string(cluster_.agent(0).count("launched container"));
  ASSERT_TRUE(restart_agent(cluster_, framework)) << progress;

  // Settled: each task is either terminal with nothing of it running, or running (as last
  // reported) with its process alive. A process whose task is terminal, or that no task
  // accounts for, keeps this from ever holding.
  std::map<std::string, size_t> alive;
  std::vector<TaskProcess> strays;
  auto settled = [&] {
    alive.clear();
    strays.clear();
    for (const TaskProcess& p : processes_with(kMarker, marker)) {
      if (std::find(ids.begin(), ids.end(), p.task_id) == ids.end()) {
        strays.push_back(p);
      } else {
        ++alive[p.task_id];
      }
    }
    if (!strays.empty()) return false;
    for (const std::string& id : ids) {
      bool terminal = terminal_statuses(framework, id) > 0;
      std::string last = framework.state(id);
      bool running = last == state::kRunning || last == state::kUnreachable;
      if (terminal ? alive.count(id) != 0 : !(running && alive.count(id) != 0)) return false;
    }
    return true;
  };
  auto describe = [&] {
    std::string out = progress + "\n";
    for (const std::string& id : ids) {
      out += id + ":" + history(framework, id) + " (" + std::to_string(alive[id]) +
             " process(es) alive)\n";
    }
    for (const TaskProcess& p : strays) {
      out += "stray process " + std::to_string(p.pid) + " of task '" + p.task_id + "'\n";
    }
    return out + "\nagent before the crash:\n" + before_crash + "\nagent after:\n" +
           cluster_.agent(0).output();
  };
  ASSERT_TRUE(framework.run_until(settled, 60s)) << describe();

  // What runs is the agent's: killing it through the framework ends it.
  size_t adopted = 0;
  for (const std::string& id : ids) {
    if (terminal_statuses(framework, id) == 0) {
      framework.client().kill(id, agent_id);
      ++adopted;
    }
  }
  ASSERT_TRUE(framework.run_until(
      [&] {
        for (const std::string& id : ids) {
          if (terminal_statuses(framework, id) == 0) return false;
        }
        return processes_with(kMarker, marker).empty();
      },
      60s))
      << describe();
  for (const std::string& id : ids) {
    EXPECT_EQ(terminal_statuses(framework, id), 1u) << id << ":" << history(framework, id);
  }
  RecordProperty("adopted", std::to_string(adopted));
  RecordProperty("progress", progress);
}

// From the first task received to nearly every one spawned: the windows between the master's
// run_task, the agent's checkpoint, the isolator's intent, posix_spawn, the isolator's record
// and the agent's TASK_RUNNING.
INSTANTIATE_TEST_SUITE_P(
    Moments, AgentCrashDuringLaunchesTest,
    ::testing::Values(Moment{"agent: running task", 1}, Moment{"agent: running task", 30},
                      Moment{"launched container", 1}, Moment{"launched container", 20},
                      Moment{"launched container", 45}, Moment{"runs in container", 35}));

// A tmpfs of a few MB mounted on a directory for the test's duration (root only).
class TmpfsMount {
 public:
  TmpfsMount(std::filesystem::path path, const std::string& size) : path_(std::move(path)) {
    std::filesystem::create_directories(path_);
    std::string options = "size=" + size + ",mode=0755";
    if (::mount("tmpfs", path_.c_str(), "tmpfs", 0, options.c_str()) != 0) {
      error_ = std::strerror(errno);
    }
  }
  ~TmpfsMount() {
    if (error_.empty()) ::umount2(path_.c_str(), MNT_DETACH);
  }
  TmpfsMount(const TmpfsMount&) = delete;
  TmpfsMount& operator=(const TmpfsMount&) = delete;

  const std::string& error() const { return error_; }

  // Fills the file system: the file `name` grows until nothing more fits.
  void fill(const std::string& name) const {
    std::ofstream out(path_ / name, std::ios::binary);
    std::string chunk(64 * 1024, 'x');
    while (out.write(chunk.data(), static_cast<std::streamsize>(chunk.size()))) out.flush();
  }

 private:
  std::filesystem::path path_;
  std::string error_;
};

class AgentDiskFullTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "mounting a tmpfs needs root";
    // Agent 0's work dir (support/cluster.h), so its journal, its isolator's records and its
    // sandboxes all live on a small file system the test can fill. It also holds the host's
    // private copies of its plugins (WORK_DIR/run, about 15 MB unstripped), so it is that much
    // larger; the test fills what is left when it wants the disk full.
    mount_ = std::make_unique<TmpfsMount>(dir_ / "agent0", "64m");
    ASSERT_EQ(mount_->error(), "");
  }

  // A task that ends once `go` exists. Its command is long enough that every checkpoint of it
  // needs more than the pages a full tmpfs may still have free.
  TaskInfo waiting_task(const std::string& id, const std::filesystem::path& go) const {
    TaskInfo task = command_task(id, "while [ ! -e '" + go.string() +
                                         "' ]; do sleep 0.02; done # " + std::string(16384, 'p'));
    task.command.environment[kMarker] = marker_;
    return task;
  }

  // Runs the task and waits until its TASK_RUNNING is acknowledged and that is on disk: then
  // the only thing left to checkpoint is its end.
  void run_until_quiet(TestFramework& framework, const TaskInfo& task) {
    // Launched once: the offers after it are declined.
    auto sent = std::make_shared<bool>(false);
    framework.on_offer = [&framework, task, sent](const Offer& offer) {
      if (!*sent && offer.resources.contains(task.resources)) {
        framework.client().accept({offer.offer_id}, {task}, 1);
        *sent = true;
      } else {
        framework.client().decline({offer.offer_id}, 1);
      }
    };
    ASSERT_TRUE(framework.wait_for_state(task.task_id, state::kRunning))
        << cluster_.agent(0).output();
    ASSERT_TRUE(framework.run_until([&] {
      for (const auto& saved :
           tessera::host::agent::Checkpoint::inspect(dir_ / "agent0" / "agent").tasks) {
        if (saved.task.task_id == task.task_id) {
          return saved.state == state::kRunning && saved.pending.empty();
        }
      }
      return false;
    })) << cluster_.agent(0).output();
  }

  // Fills the disk, lets the task end, and waits until the agent has seen the end and failed to
  // checkpoint it.
  void end_on_a_full_disk(TestFramework& framework, const std::filesystem::path& go) {
    size_t failures = cluster_.agent(0).count("cannot checkpoint the tasks");
    mount_->fill("filler");
    std::ofstream(go).close();
    ASSERT_TRUE(framework.run_until(
        [&] { return cluster_.agent(0).count("cannot checkpoint the tasks") > failures; }, 30s))
        << cluster_.agent(0).output();
  }

  TempDir dir_;
  std::unique_ptr<TmpfsMount> mount_;  // unmounted after the cluster has stopped
  Cluster cluster_{dir_};
  std::string marker_ = random_hex();
  TaskProcessReaper reaper_{kMarker, marker_};
};

TEST_F(AgentDiskFullTest, ROOT_AnUpdateTheDiskCannotHoldIsHeldAndACrashThenGivesOneTerminalStatus) {
  ASSERT_TRUE(cluster_.start_master());
  ASSERT_TRUE(cluster_.start_agent(0));
  TestFramework framework(cluster_.endpoint(), long_lived_framework("full-disk"));
  ASSERT_TRUE(framework.subscribed());

  // The agent dies while the task's end is held: the framework hears what the disk says (the
  // task was running, and is gone), never a TASK_FINISHED that a TASK_LOST then contradicts.
  TaskInfo first = waiting_task("first", dir_ / "go-first");
  ASSERT_NO_FATAL_FAILURE(run_until_quiet(framework, first));
  ASSERT_NO_FATAL_FAILURE(end_on_a_full_disk(framework, dir_ / "go-first"));
  cluster_.agent(0).signal(SIGKILL);
  ASSERT_TRUE(cluster_.agent(0).wait().has_value());
  std::filesystem::remove(dir_ / "agent0" / "filler");
  ASSERT_TRUE(restart_agent(cluster_, framework));
  ASSERT_TRUE(framework.run_until([&] { return terminal_statuses(framework, "first") > 0; }))
      << history(framework, "first") << "\n"
      << cluster_.agent(0).output();
  EXPECT_FALSE(framework.saw("first", state::kFinished)) << history(framework, "first");
  EXPECT_EQ(framework.state("first"), state::kLost) << history(framework, "first");
  EXPECT_EQ(framework.last("first").reason, reason::kAgentRestarted);

  // The agent lives on and the disk gets room again: the held update goes, once.
  TaskInfo second = waiting_task("second", dir_ / "go-second");
  ASSERT_NO_FATAL_FAILURE(run_until_quiet(framework, second));
  ASSERT_NO_FATAL_FAILURE(end_on_a_full_disk(framework, dir_ / "go-second"));
  std::filesystem::remove(dir_ / "agent0" / "filler");
  ASSERT_TRUE(framework.wait_for_state("second", state::kFinished))
      << history(framework, "second") << "\n"
      << cluster_.agent(0).output();
  EXPECT_TRUE(cluster_.agent(0).wait_for("the checkpoint works again"));
  // The first task's only terminal status is still the only one.
  EXPECT_EQ(terminal_statuses(framework, "first"), 1u) << history(framework, "first");
  EXPECT_EQ(terminal_statuses(framework, "second"), 1u) << history(framework, "second");
}

// kill -9 of an agent whose ten tasks run in cgroups (isolator_cgroups around isolator_posix),
// five of which end while it is down: after the restart the five others still run, each once,
// in their cgroups, and the five that ended are reported exactly once, with the exit status
// their supervisors recorded (TASK_FINISHED). Needs root and writable cgroups.
TEST(AgentCrashWithCgroupsTest, ROOT_CGROUPS_TasksRunOnAndThoseThatEndedAreReportedOnce) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to create cgroups";
  TempDir dir;
  Cluster cluster{dir};
  const std::string marker = random_hex();
  TaskProcessReaper reaper(kMarker, marker);
  const std::string parent = "tessera-crash-test-" + std::to_string(::getpid());
  tessera::testing::AgentSettings settings;
  settings.isolators = "\"isolator_posix\", \"isolator_cgroups\"";
  settings.plugins = "[plugins.isolator_cgroups]\nparent = \"" + parent + "\"\n";
  ASSERT_TRUE(cluster.start_master());
  if (auto started = cluster.start_agent(0, settings); !started) {
    GTEST_SKIP() << "the agent cannot start with isolator_cgroups here: " << started.message();
  }
  TestFramework framework(cluster.endpoint(), long_lived_framework("crash-cgroups"));
  ASSERT_TRUE(framework.subscribed());

  // Five tasks end when the test says so (a file appears), five run on.
  const std::filesystem::path stop = dir / "stop";
  std::vector<TaskInfo> tasks;
  std::vector<std::string> ending, running;
  for (int i = 0; i < 10; ++i) {
    bool ends = i % 2 == 0;
    std::string id = (ends ? "end" : "run") + std::to_string(i);
    std::string command = ends ? "while [ ! -e '" + stop.string() + "' ]; do sleep 0.05; done"
                               : std::string("sleep 600");
    TaskInfo task = command_task(id, command, 0.1, 16);
    task.command.environment[kMarker] = marker;
    tasks.push_back(task);
    (ends ? ending : running).push_back(id);
  }
  std::string agent_id;
  accept_in_one_go(framework, tasks, agent_id);
  ASSERT_TRUE(framework.run_until(
      [&] {
        for (const auto& ids : {ending, running}) {
          for (const std::string& id : ids) {
            if (framework.state(id) != state::kRunning) return false;
          }
        }
        return true;
      },
      60s));

  // Each running task's processes (a shell and its sleep): the same ones must run after the
  // restart (nothing relaunched, nothing duplicated).
  auto pids_of = [&](const std::vector<std::string>& ids) {
    std::map<std::string, std::set<pid_t>> out;
    for (const TaskProcess& p : processes_with(kMarker, marker)) {
      if (std::find(ids.begin(), ids.end(), p.task_id) != ids.end()) out[p.task_id].insert(p.pid);
    }
    return out;
  };
  // TASK_RUNNING comes once the held process is released, which may be a moment before its
  // exec shows the task's environment in /proc: wait until every task's process is seen.
  std::map<std::string, std::set<pid_t>> before;
  ASSERT_TRUE(framework.run_until(
      [&] {
        before = pids_of(running);
        return before.size() == running.size();
      },
      30s));
  cluster.agent(0).signal(SIGKILL);
  ASSERT_TRUE(cluster.agent(0).wait().has_value());
  std::ofstream(stop) << "stop\n";
  // The five that end are gone before the agent comes back.
  auto count_alive = [&](const std::vector<std::string>& ids) {
    std::map<std::string, size_t> alive;
    for (const TaskProcess& p : processes_with(kMarker, marker)) {
      if (std::find(ids.begin(), ids.end(), p.task_id) != ids.end()) ++alive[p.task_id];
    }
    return alive;
  };
  ASSERT_TRUE(framework.run_until([&] { return count_alive(ending).empty(); }, 30s));

  ASSERT_TRUE(restart_agent(cluster, framework, settings));

  ASSERT_TRUE(framework.run_until(
      [&] {
        for (const std::string& id : ending) {
          if (terminal_statuses(framework, id) == 0) return false;
        }
        return true;
      },
      60s));
  for (const std::string& id : ending) {
    EXPECT_EQ(terminal_statuses(framework, id), 1u) << id << ":" << history(framework, id);
    // Their supervisors, which outlived the agent, recorded how they ended.
    EXPECT_EQ(framework.state(id), state::kFinished) << id << ":" << history(framework, id);
    EXPECT_EQ(framework.last(id).exit_code, 0) << id << ":" << history(framework, id);
  }
  // The five others run on, the same processes, untouched by the restart.
  auto after = pids_of(running);
  for (const std::string& id : running) {
    // Before the kill a shell may not have forked its sleep yet: what ran then runs still, and
    // its leader (the lowest pid, the session's) is the same: nothing was relaunched.
    ASSERT_FALSE(before[id].empty()) << id;
    EXPECT_TRUE(
        std::includes(after[id].begin(), after[id].end(), before[id].begin(), before[id].end()))
        << id;
    EXPECT_EQ(*after[id].begin(), *before[id].begin()) << id;
    EXPECT_EQ(terminal_statuses(framework, id), 0u) << id << ":" << history(framework, id);
    EXPECT_EQ(framework.state(id), state::kRunning) << id;
  }
  // Killing them through the framework ends them and their cgroups.
  for (const std::string& id : running) framework.client().kill(id, agent_id);
  ASSERT_TRUE(framework.run_until(
      [&] {
        for (const std::string& id : running) {
          if (terminal_statuses(framework, id) == 0) return false;
        }
        return processes_with(kMarker, marker).empty();
      },
      60s));
  for (const std::string& id : running) {
    EXPECT_EQ(terminal_statuses(framework, id), 1u) << id << ":" << history(framework, id);
  }
  const std::string agent_output = cluster.agent(0).output();
  cluster.drop_agent(0);
  size_t left = 0;
  std::string left_paths;
  std::error_code ec;
  for (const auto& hierarchy : std::filesystem::directory_iterator("/sys/fs/cgroup", ec)) {
    for (const auto& agent : std::filesystem::directory_iterator(hierarchy.path() / parent, ec)) {
      for (const auto& task : std::filesystem::directory_iterator(agent.path(), ec)) {
        if (!task.is_directory()) continue;
        ++left;
        left_paths += " " + task.path().string();
      }
      ::rmdir(agent.path().c_str());
    }
    ::rmdir((hierarchy.path() / parent).c_str());
  }
  EXPECT_EQ(left, 0u) << "task cgroups left behind:" << left_paths << "\n" << agent_output;
}

}  // namespace

// The leading master killed (kill -9) 20 times in a row, each time restarted as a standby,
// while tasks run: every time another master serves, the agents re-register with the same
// ids, the framework follows, and no task is killed. Label "soak": run it on its own with
// `ctest -L soak` (about two minutes here).
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include "ha_cluster.h"
#include "support/framework.h"
#include "support/task_processes.h"
#include "tessera/protocol/task.h"
#include "zk_detector.h"

namespace {

using namespace std::chrono_literals;
using tessera::protocol::TaskInfo;
using tessera::protocol::TaskStatus;
using tessera::protocol::scheduler::Offer;
using tessera::testing::command_task;
using tessera::testing::HaCluster;
using tessera::testing::processes_with;
using tessera::testing::TaskProcessReaper;
using tessera::testing::TempDir;
using tessera::testing::TestFramework;
namespace state = tessera::protocol::state;

constexpr const char* kMarker = "TESSERA_HA_LOOP_TEST";
constexpr int kKills = 20;
// Short, so that a killed leader's candidacy ends soon; long enough for a loaded machine.
constexpr int kSessionTimeoutMs = 3000;

TEST(HaFailoverLoopTest, ZOOKEEPER_TheLeaderKilledTwentyTimesLosesNothing) {
  TESSERA_REQUIRE_ZOOKEEPER();
  tessera::sdk::registered_detector_schemes()["zk"] =
      tessera::leader::zk::zookeeper_detector_factory();
  TempDir dir;
  HaCluster cluster(dir, 3, kSessionTimeoutMs);
  const std::string marker = std::to_string(::getpid());
  TaskProcessReaper reaper(kMarker, marker);
  ASSERT_TRUE(cluster.start(3, 2));
  const std::set<std::string> agents = cluster.active_agents();

  tessera::sdk::FrameworkInfo info;
  info.name = "ha-loop";
  info.failover_timeout_seconds = 3600;
  TestFramework framework(cluster.address(), info);
  std::set<std::string> launched_on;
  framework.on_offer = [&](const Offer& offer) {
    if (launched_on.count(offer.agent_id) != 0) {
      framework.client().decline({offer.offer_id}, 1);
      return;
    }
    TaskInfo task = command_task("t-" + offer.agent_id, "sleep 600", 0.1, 16);
    task.command.environment[kMarker] = marker;
    launched_on.insert(offer.agent_id);
    framework.client().accept({offer.offer_id}, {task}, 1);
  };
  ASSERT_TRUE(framework.run_until(
      [&] {
        size_t running = 0;
        for (const TaskStatus& s : framework.all_updates()) running += s.state == state::kRunning;
        return running == 2;
      },
      60s))
      << cluster.logs();
  // TASK_RUNNING comes once the held process is released, which may be a moment before its
  // exec shows the task's environment in /proc: wait until both tasks' processes are seen.
  std::set<pid_t> pids;
  std::set<std::string> task_ids;
  ASSERT_TRUE(framework.run_until(
      [&] {
        pids.clear();
        task_ids.clear();
        for (const auto& p : processes_with(kMarker, marker)) {
          pids.insert(p.pid);
          task_ids.insert(p.task_id);
        }
        return task_ids.size() == 2;
      },
      30s))
      << task_ids.size() << " of 2 tasks' processes seen";

  for (int kill = 1; kill <= kKills; ++kill) {
    int leader = cluster.leader();
    ASSERT_GE(leader, 0) << "kill " << kill << ":\n" << cluster.logs();
    auto killed_at = std::chrono::steady_clock::now();
    cluster.kill_master(static_cast<size_t>(leader));
    int next = -1;
    ASSERT_TRUE(framework.run_until([&] { return (next = cluster.leader()) >= 0; }, 60s))
        << "kill " << kill << ": no new leader\n"
        << cluster.logs();
    ASSERT_TRUE(framework.run_until([&] { return framework.client().subscribed(); }, 60s));
    ASSERT_TRUE(
        tessera::testing::eventually([&] { return cluster.active_agents() == agents; }, 60s))
        << "kill " << kill << ": the agents did not re-register\n"
        << cluster.logs();
    std::cout << "[ measured ] kill " << kill << ": master " << next
              << " serves, agents back after "
              << std::chrono::duration<double>(std::chrono::steady_clock::now() - killed_at).count()
              << " s\n";
    // The killed master comes back as a standby (a new master id on the same work dir), as a
    // supervisor would restart it; so does any master that stopped by itself (a master that
    // loses its leadership stops).
    for (size_t i = 0; i < cluster.masters(); ++i) {
      if (!cluster.running(i)) cluster.start_master(i);
    }
  }
  // The same tasks' processes still run, and no task was started again.
  std::set<std::string> now;
  for (const auto& p : processes_with(kMarker, marker)) now.insert(p.task_id);
  EXPECT_EQ(now, task_ids);
  for (pid_t pid : pids) EXPECT_EQ(::kill(pid, 0), 0) << "process " << pid << " is gone";
  for (const TaskStatus& s : framework.all_updates()) {
    EXPECT_FALSE(state::terminal(s.state)) << s.task_id << " " << s.state << ": " << s.message;
  }
  if (::testing::Test::HasFailure()) std::cout << cluster.logs();
}

}  // namespace

// Master failover end to end, with real processes: a 3-node ZooKeeper ensemble, three masters
// and two agents with leader_zookeeper, a framework in the test process and the `tessera` CLI,
// both finding the leader through zk://. Tasks run throughout:
// - kill -9 of the leading master: the next one serves, the agents re-register with the same
//   ids, no running task is killed, and an update sent while no master led reaches the
//   framework;
// - kill -9 of one ZooKeeper server: nothing changes (the same master leads, the framework
//   stays subscribed to it);
// - SIGSTOP of the leading master past its session timeout, then SIGCONT: another master
//   leads meanwhile, and the stopped one never acts as leader again (it exits).
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
using tessera::testing::Process;
using tessera::testing::processes_with;
using tessera::testing::TaskProcessReaper;
using tessera::testing::TempDir;
using tessera::testing::TestFramework;
namespace state = tessera::protocol::state;

constexpr const char* kMarker = "TESSERA_HA_FAILOVER_TEST";
constexpr int kSessionTimeoutMs = 6000;

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

class HaFailoverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TESSERA_REQUIRE_ZOOKEEPER();
    // Frameworks in this process find the leader through zk://, as the CLI does.
    tessera::sdk::registered_detector_schemes()["zk"] =
        tessera::leader::zk::zookeeper_detector_factory();
    cluster_ = std::make_unique<HaCluster>(dir_, 3, kSessionTimeoutMs);
  }

  // The framework's terminal statuses for `task_id` (resent ones counted once, by uuid).
  static std::set<std::string> terminal(const TestFramework& framework,
                                        const std::string& task_id) {
    std::set<std::string> uuids;
    for (const TaskStatus& s : framework.all_updates()) {
      if (s.task_id == task_id && state::terminal(s.state)) uuids.insert(s.uuid + s.state);
    }
    return uuids;
  }

  TempDir dir_;
  std::unique_ptr<HaCluster> cluster_;
  std::string marker_ = std::to_string(::getpid()) + "-" + std::to_string(std::rand());
};

TEST_F(HaFailoverTest, ZOOKEEPER_LeaderKilledZooKeeperNodeKilledAndLeaderPausedLoseNothing) {
  TaskProcessReaper reaper(kMarker, marker_);
  HaCluster& cluster = *cluster_;
  // The masters started first lead: the first one once it serves, then the standbys.
  ASSERT_TRUE(cluster.start(3, 2));
  const std::set<std::string> agents = cluster.active_agents();

  // Four tasks, two on each agent.
  tessera::sdk::FrameworkInfo info;
  info.name = "ha-test";
  info.failover_timeout_seconds = 3600;
  TestFramework framework(cluster.address(), info);
  std::set<std::string> launched_on;
  int next_task = 0;
  framework.on_offer = [&](const Offer& offer) {
    if (launched_on.count(offer.agent_id) != 0 || next_task >= 4) {
      framework.client().decline({offer.offer_id}, 1);
      return;
    }
    std::vector<TaskInfo> tasks;
    for (int i = 0; i < 2; ++i) {
      TaskInfo task = command_task("t" + std::to_string(next_task++), "sleep 600", 0.1, 16);
      task.command.environment[kMarker] = marker_;
      tasks.push_back(task);
    }
    launched_on.insert(offer.agent_id);
    framework.client().accept({offer.offer_id}, tasks, 1);
  };
  ASSERT_TRUE(framework.run_until(
      [&] {
        for (int i = 0; i < 4; ++i) {
          if (framework.state("t" + std::to_string(i)) != state::kRunning) return false;
        }
        return true;
      },
      60s))
      << cluster.logs();
  framework.on_offer = [&](const Offer& offer) { framework.client().decline({offer.offer_id}, 1); };
  // Each task's processes (its shell and the `sleep` it forks): the same ones must run at the
  // end. TASK_RUNNING comes once the held process is released, which may be a moment before its
  // exec shows the task's environment in /proc, and the shell forks its `sleep` later still:
  // wait until every task's `sleep` is seen (its shell is there before it).
  std::map<std::string, pid_t> pids;
  std::set<pid_t> all_pids;
  ASSERT_TRUE(framework.run_until(
      [&] {
        pids.clear();
        all_pids.clear();
        for (const auto& p : processes_with(kMarker, marker_)) {
          if (p.program == "sleep") pids.emplace(p.task_id, p.pid);
          if (p.task_id != "t0") all_pids.insert(p.pid);
        }
        return pids.size() == 4;
      },
      30s))
      << pids.size() << " of 4 tasks' sleep processes seen";
  const auto tasks_before = cluster.tasks();

  // 1. kill -9 the leader. While no master leads, a task ends: its update must not be lost.
  auto killed_at = std::chrono::steady_clock::now();
  cluster.kill_master(0);
  ::kill(pids.at("t0"), SIGKILL);
  int second = -1;
  ASSERT_TRUE(framework.run_until([&] { return (second = cluster.leader()) >= 0; }, 60s))
      << cluster.logs();
  double elected = seconds_since(killed_at);
  ASSERT_TRUE(framework.run_until(
      [&] { return framework.client().subscribed() && !terminal(framework, "t0").empty(); }, 60s))
      << cluster.logs();
  ASSERT_TRUE(tessera::testing::eventually([&] { return cluster.active_agents() == agents; }, 60s))
      << cluster.logs();
  std::cout << "[ measured ] leader killed: a new master served after " << elected
            << " s, agents re-registered and the framework re-subscribed after "
            << seconds_since(killed_at) << " s (session timeout " << kSessionTimeoutMs << " ms)\n";
  EXPECT_EQ(terminal(framework, "t0").size(), 1U);
  for (const char* id : {"t1", "t2", "t3"}) {
    EXPECT_TRUE(terminal(framework, id).empty()) << id << " ended";
    EXPECT_EQ(::kill(pids.at(id), 0), 0) << id << "'s process is gone";
  }
  auto tasks_after = cluster.tasks();
  for (const char* id : {"t1", "t2", "t3"}) {
    ASSERT_EQ(tasks_after.count(id), 1U) << id;
    EXPECT_EQ(tasks_after[id].first, state::kRunning);
    EXPECT_EQ(tasks_after[id].second, tasks_before.at(id).second) << "on another agent";
  }

  // 2. kill -9 one ZooKeeper server (the ensemble's leader): the same master leads on, and the
  // framework stays with it. Proof that nothing happened: later offers and a CLI round trip.
  const std::string endpoint = framework.client().master_endpoint();
  int zk_leader = cluster.zookeeper().leader();
  ASSERT_GE(zk_leader, 0);
  cluster.zookeeper().kill(static_cast<size_t>(zk_leader));
  size_t offers = framework.offers_received().size();
  ASSERT_TRUE(
      framework.run_until([&] { return framework.offers_received().size() >= offers + 4; }, 60s));
  EXPECT_EQ(cluster.active_agents(), agents);
  EXPECT_EQ(cluster.leader(), second);
  EXPECT_EQ(framework.client().master_endpoint(), endpoint);
  for (size_t i = 0; i < cluster.masters(); ++i) {
    if (cluster.master(i) != nullptr) {
      EXPECT_EQ(cluster.master(i)->count("lost leadership"), 0U) << cluster.logs();
    }
  }
  cluster.zookeeper().start(static_cast<size_t>(zk_leader));
  ASSERT_TRUE(cluster.zookeeper().wait_serving(static_cast<size_t>(zk_leader)));

  // 3. SIGSTOP the leader past its session timeout: another master serves; SIGCONT: the paused
  // one never acts as leader again.
  Process* paused = cluster.master(static_cast<size_t>(second));
  paused->signal(SIGSTOP);
  int third = -1;
  ASSERT_TRUE(framework.run_until([&] { return (third = cluster.leader(second)) >= 0; }, 60s))
      << cluster.logs();
  ASSERT_TRUE(framework.run_until(
      [&] {
        return framework.client().subscribed() && framework.client().master_endpoint() != endpoint;
      },
      60s));
  paused->signal(SIGCONT);
  auto status = paused->wait(60s);
  EXPECT_TRUE(status.has_value()) << "the paused master still runs:\n" << paused->output();
  // It stopped because its leader plugin told it that it no longer leads.
  EXPECT_NE(paused->output().find("no longer leading"), std::string::npos) << paused->output();
  EXPECT_EQ(paused->count(HaCluster::kServing), 1U) << "served again:\n" << paused->output();
  EXPECT_EQ(cluster.leader(), third);
  ASSERT_TRUE(tessera::testing::eventually([&] { return cluster.active_agents() == agents; }, 60s))
      << cluster.logs();
  for (const char* id : {"t1", "t2", "t3"}) {
    EXPECT_TRUE(terminal(framework, id).empty()) << id << " ended";
    EXPECT_EQ(::kill(pids.at(id), 0), 0) << id << "'s process is gone";
  }
  // No task was launched twice: exactly the processes of the three tasks, as before.
  std::set<pid_t> now;
  for (const auto& p : processes_with(kMarker, marker_)) now.insert(p.pid);
  EXPECT_EQ(now, all_pids);
}

}  // namespace

// Executors in a real cluster: a master and an agent as tessera-host processes on loopback, a
// framework in the test process (the SDK's SchedulerClient) and test_executor started by the
// agent. Framework messages both ways through the master, kill -9 of the agent while the
// executor runs, and a scheduler failover that reaches the same executor again.
#include <gtest/gtest.h>
#include <signal.h>

#include "agent/checkpoint.h"
#include "support/cluster.h"
#include "support/framework.h"

namespace {

namespace state = tessera::protocol::state;
using tessera::protocol::TaskInfo;
using tessera::protocol::scheduler::FrameworkMessage;
using tessera::testing::Cluster;
using tessera::testing::TempDir;
using tessera::testing::TestFramework;
using namespace std::chrono_literals;

TaskInfo executor_task(const std::string& id, const std::string& data) {
  TaskInfo t;
  t.task_id = id;
  t.name = id;
  t.resources.scalars["cpus"] = 0.1;
  t.resources.scalars["mem"] = 16;
  t.data = data;
  t.executor.executor_id = "e1";
  t.executor.command.value = TEST_EXECUTOR;
  t.executor.kill_grace_seconds = 1;
  return t;
}

tessera::sdk::FrameworkInfo failover_framework() {
  tessera::sdk::FrameworkInfo info;
  info.name = "executor-test";
  info.failover_timeout_seconds = 120;
  return info;
}

class ExecutorClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(cluster.start_master());
    ASSERT_TRUE(cluster.start_agent(0));
  }

  // Launches `tasks` on the first offer and waits until they all run.
  void launch(TestFramework& framework, const std::vector<TaskInfo>& tasks) {
    bool launched = false;
    framework.on_offer = [&](const tessera::protocol::scheduler::Offer& offer) {
      if (launched) return (void)framework.client().decline({offer.offer_id}, 0.2);
      launched = true;
      framework.client().accept({offer.offer_id}, tasks, 0.2);
    };
    ASSERT_TRUE(framework.run_until([&] {
      return std::all_of(tasks.begin(), tasks.end(), [&](const TaskInfo& t) {
        return framework.saw(t.task_id, state::kRunning);
      });
    })) << cluster.agent(0).output();
    framework.on_offer = nullptr;
  }

  // Sends `data` to the executor until an answer comes (messages are best effort: one sent
  // while the executor is away is dropped). Returns the answer.
  std::string ask_executor(TestFramework& framework, const std::string& agent_id,
                           const std::string& data) {
    std::vector<FrameworkMessage> answers;
    framework.client().on_message = [&](const FrameworkMessage& m) { answers.push_back(m); };
    for (int attempt = 0; attempt < 60 && answers.empty(); ++attempt) {
      (void)framework.client().send_message(agent_id, "e1", data);
      framework.run_until([&] { return !answers.empty(); }, 500ms);
    }
    framework.client().on_message = nullptr;
    if (answers.empty()) return "";
    EXPECT_EQ(answers.front().executor_id, "e1");
    EXPECT_EQ(answers.front().agent_id, agent_id);
    return answers.front().data;
  }

  TempDir dir;
  Cluster cluster{dir};
};

TEST_F(ExecutorClusterTest, FrameworkMessagesGoBothWaysThroughTheMaster) {
  TestFramework framework(cluster.endpoint(), failover_framework());
  ASSERT_TRUE(framework.subscribed());
  ASSERT_NO_FATAL_FAILURE(launch(framework, {executor_task("m", "run")}));
  std::string agent_id = framework.last("m").agent_id;
  EXPECT_EQ(ask_executor(framework, agent_id, "hello"), "echo: hello");
  // Beyond the limit the SDK says why and sends nothing.
  auto too_large = framework.client().send_message(
      agent_id, "e1", std::string(tessera::protocol::kMaxFrameworkMessageBytes + 1, 'x'));
  ASSERT_FALSE(too_large.ok());
  EXPECT_NE(too_large.error().message.find("at most 262144 bytes"), std::string::npos);
}

TEST_F(ExecutorClusterTest, KillNineOfTheAgentLeavesTheExecutorAndItsTasksRunningReportedOnce) {
  TestFramework framework(cluster.endpoint(), failover_framework());
  ASSERT_TRUE(framework.subscribed());
  ASSERT_NO_FATAL_FAILURE(
      launch(framework, {executor_task("x", "run"), executor_task("y", "run")}));
  std::string agent_id = framework.last("x").agent_id;
  std::string pid_text = framework.last("x").message;
  ASSERT_EQ(pid_text.rfind("pid ", 0), 0u) << pid_text;
  pid_t pid = std::stoi(pid_text.substr(4));
  // Every update acknowledged and so off the agent's books before it dies.
  ASSERT_TRUE(framework.run_until([&] {
    for (const auto& t :
         tessera::host::agent::Checkpoint::inspect(dir / "agent0" / "agent").tasks) {
      if (!t.pending.empty()) return false;
    }
    return true;
  }));

  cluster.agent(0).signal(SIGKILL);
  ASSERT_TRUE(cluster.agent(0).wait().has_value());
  ASSERT_EQ(::kill(pid, 0), 0) << "the executor died with its agent";
  ASSERT_TRUE(cluster.start_agent(0));
  // The same process answers, through the restarted agent.
  EXPECT_EQ(ask_executor(framework, agent_id, "pid"), pid_text) << cluster.agent(0).output();
  framework.client().kill("x", agent_id);
  ASSERT_TRUE(framework.wait_for_state("x", state::kKilled)) << cluster.agent(0).output();
  EXPECT_EQ(framework.last("x").source, "SOURCE_EXECUTOR");
  // 'y' runs on, reported once: nothing more came for it.
  framework.run_until([] { return false; }, 500ms);
  ASSERT_EQ(framework.updates("y").size(), 1u);
  EXPECT_EQ(framework.state("y"), state::kRunning);
  EXPECT_EQ(::kill(pid, 0), 0);
}

TEST_F(ExecutorClusterTest, AFailedOverSchedulerReachesTheSameExecutor) {
  std::string framework_id;
  std::string agent_id;
  std::string pid_text;
  {
    TestFramework first(cluster.endpoint(), failover_framework());
    ASSERT_TRUE(first.subscribed());
    ASSERT_NO_FATAL_FAILURE(launch(first, {executor_task("long", "run")}));
    framework_id = first.client().framework_id();
    agent_id = first.last("long").agent_id;
    pid_text = first.last("long").message;
    EXPECT_EQ(ask_executor(first, agent_id, "pid"), pid_text);
    first.client().stop();  // gone without a teardown, as a crashed scheduler is
  }
  tessera::sdk::FrameworkInfo info = failover_framework();
  info.framework_id = framework_id;
  TestFramework second(cluster.endpoint(), info);
  ASSERT_TRUE(second.subscribed());
  EXPECT_EQ(second.client().framework_id(), framework_id);
  EXPECT_EQ(ask_executor(second, agent_id, "pid"), pid_text);
  second.client().kill("long", agent_id);
  ASSERT_TRUE(second.wait_for_state("long", state::kKilled));
}

}  // namespace

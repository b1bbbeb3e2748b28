// Executors in a real cluster: a master and an agent as tessera-host processes on loopback, a
// framework in the test process (the SDK's SchedulerClient) and test_executor started by the
// agent. Framework messages both ways through the master, kill -9 of the agent while the
// executor runs, a scheduler failover that reaches the same executor again; what executors hold
// (in offers, and in the state the `tessera` CLI shows), their exits reaching the scheduler,
// shutdown calls, and their sandboxes read with `tessera logs`.
#include <gtest/gtest.h>
#include <signal.h>

#include <boost/json.hpp>
#include <cmath>
#include <limits>

#include "agent/checkpoint.h"
#include "support/cluster.h"
#include "support/framework.h"

namespace {

namespace state = tessera::protocol::state;
using tessera::protocol::TaskInfo;
using tessera::protocol::scheduler::ExecutorExited;
using tessera::protocol::scheduler::FrameworkMessage;
using tessera::protocol::scheduler::Offer;
namespace reason = tessera::protocol::reason;
namespace json = boost::json;
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
  // The executor's own share, counted by the master beside its tasks'.
  t.executor.resources.scalars["cpus"] = 0.25;
  t.executor.resources.scalars["mem"] = 32;
  return t;
}

// What the agent of every test has (support/cluster.h), and what an executor of
// executor_task() and each of its tasks hold.
constexpr double kAgentCpus = 4, kAgentMem = 1024;
constexpr double kExecutorCpus = 0.25, kExecutorMem = 32;
constexpr double kTaskCpus = 0.1, kTaskMem = 16;

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

  // Waits for an offer, among those received from `from` on, of `cpus` and `mem`: what the
  // agent has left (offers are declined for 0.2 s, so they keep coming).
  bool offered(TestFramework& framework, size_t from, double cpus, double mem) {
    return framework.run_until([&] {
      const auto& offers = framework.offers_received();
      for (size_t i = from; i < offers.size(); ++i) {
        const auto& r = offers[i].resources;
        if (std::abs(r.scalar("cpus") - cpus) < 1e-6 && std::abs(r.scalar("mem") - mem) < 1e-6) {
          return true;
        }
      }
      return false;
    });
  }
  std::string offers_text(TestFramework& framework, size_t from) {
    std::string text;
    const auto& offers = framework.offers_received();
    for (size_t i = from; i < offers.size(); ++i) text += offers[i].resources.to_string() + "\n";
    return text;
  }

  // Runs the `tessera` CLI against the cluster's master; its exit code and output.
  std::pair<int, std::string> cli(std::vector<std::string> args) {
    std::vector<std::string> argv{TESSERA_CLI_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.begin() + 2, {"--master", cluster.endpoint()});
    return tessera::testing::run(argv, dir / "cli.log", 30s);
  }
  // The master's /state, as `tessera state --json` prints it.
  json::object state() {
    auto [code, out] = cli({"state", "--json"});
    EXPECT_EQ(code, 0) << out;
    boost::system::error_code ec;
    json::value parsed = json::parse(out, ec);
    if (ec || !parsed.is_object()) {
      ADD_FAILURE() << "not JSON: " << out;
      return {};
    }
    return parsed.as_object();
  }
  static double used_cpus(const json::object& entry) {
    return json::value_to<double>(entry.at("used_resources").at("cpus"));
  }

  // Accepts the next offer with `tasks`, and waits until each has an update.
  void accept_next(TestFramework& framework, const std::vector<TaskInfo>& tasks) {
    bool launched = false;
    framework.on_offer = [&](const Offer& offer) {
      if (launched) return (void)framework.client().decline({offer.offer_id}, 0.2);
      launched = true;
      framework.client().accept({offer.offer_id}, tasks, 0.2);
    };
    ASSERT_TRUE(framework.run_until([&] {
      return std::all_of(tasks.begin(), tasks.end(),
                         [&](const TaskInfo& t) { return !framework.state(t.task_id).empty(); });
    })) << cluster.agent(0).output();
    framework.on_offer = nullptr;
  }

  TempDir dir;
  Cluster cluster{dir};
};

TEST_F(ExecutorClusterTest,
       AnExecutorsResourcesAreCountedUntilItExitsAndItsExitReachesTheScheduler) {
  TestFramework framework(cluster.endpoint(), failover_framework());
  std::vector<ExecutorExited> exits;
  framework.client().on_executor_exited = [&](const ExecutorExited& e) { exits.push_back(e); };
  ASSERT_TRUE(framework.subscribed());
  ASSERT_NO_FATAL_FAILURE(launch(framework, {executor_task("a", "run")}));
  std::string agent_id = framework.last("a").agent_id;

  // Offers are smaller by the task and its executor.
  size_t from = framework.offers_received().size();
  ASSERT_TRUE(offered(framework, from, kAgentCpus - kTaskCpus - kExecutorCpus,
                      kAgentMem - kTaskMem - kExecutorMem))
      << offers_text(framework, from);
  // The state shows both as used, by the agent and by the framework; the task's sandbox is its
  // executor's, and `tessera logs` reads the executor's output there.
  json::object s = state();
  ASSERT_EQ(s.at("slaves").as_array().size(), 1u);
  EXPECT_NEAR(used_cpus(s.at("slaves").as_array().at(0).as_object()), kTaskCpus + kExecutorCpus,
              1e-6);
  const json::object& fw = s.at("frameworks").as_array().at(0).as_object();
  EXPECT_NEAR(used_cpus(fw), kTaskCpus + kExecutorCpus, 1e-6);
  std::string sandbox =
      json::value_to<std::string>(fw.at("tasks").as_array().at(0).as_object().at("sandbox"));
  EXPECT_NE(sandbox.find("executor"), std::string::npos) << sandbox;
  auto [code, logs] = cli({"logs", "a"});
  EXPECT_EQ(code, 0) << logs;
  EXPECT_NE(logs.find("launched a"), std::string::npos) << logs;

  // A second task in the same executor takes only its own share.
  ASSERT_NO_FATAL_FAILURE(accept_next(framework, {executor_task("b", "run")}));
  ASSERT_TRUE(framework.wait_for_state("b", state::kRunning));
  from = framework.offers_received().size();
  ASSERT_TRUE(offered(framework, from, kAgentCpus - 2 * kTaskCpus - kExecutorCpus,
                      kAgentMem - 2 * kTaskMem - kExecutorMem))
      << offers_text(framework, from);

  // The executor crashes: its tasks fail with the reason, the scheduler hears of the exit, and
  // the offers grow back to the whole agent.
  ASSERT_NO_FATAL_FAILURE(accept_next(framework, {executor_task("c", "crash")}));
  ASSERT_TRUE(framework.run_until([&] { return !exits.empty(); })) << cluster.agent(0).output();
  EXPECT_EQ(exits.front().executor_id, "e1");
  EXPECT_EQ(exits.front().agent_id, agent_id);
  EXPECT_EQ(exits.front().status, 3);
  ASSERT_TRUE(framework.wait_for_state("a", state::kFailed));
  EXPECT_EQ(framework.last("a").reason, reason::kExecutorTerminated);
  from = framework.offers_received().size();
  ASSERT_TRUE(offered(framework, from, kAgentCpus, kAgentMem)) << offers_text(framework, from);
  EXPECT_NEAR(used_cpus(state().at("slaves").as_array().at(0).as_object()), 0, 1e-6);
  EXPECT_EQ(exits.size(), 1u);
}

TEST_F(ExecutorClusterTest, TasksCannotChangeTheirExecutorAndHostileExecutorValuesAreRefused) {
  TestFramework framework(cluster.endpoint(), failover_framework());
  ASSERT_TRUE(framework.subscribed());
  ASSERT_NO_FATAL_FAILURE(launch(framework, {executor_task("a", "run")}));

  TaskInfo other_command = executor_task("other-command", "run");
  other_command.executor.command.value = "/bin/false";
  TaskInfo other_resources = executor_task("other-resources", "run");
  other_resources.executor.resources.scalars["mem"] = 64;
  TaskInfo negative = executor_task("negative", "run");
  negative.executor.executor_id = "e2";
  negative.executor.resources.scalars["cpus"] = -1;
  TaskInfo not_a_number = executor_task("nan", "run");
  not_a_number.executor.executor_id = "e3";
  not_a_number.executor.resources.scalars["mem"] = std::numeric_limits<double>::quiet_NaN();
  TaskInfo too_large = executor_task("too-large", "run");
  too_large.executor.executor_id = "e4";
  too_large.executor.resources.scalars["mem"] = 1e9;
  TaskInfo bad_grace = executor_task("bad-grace", "run");
  bad_grace.executor.executor_id = "e5";
  bad_grace.executor.kill_grace_seconds = std::numeric_limits<double>::infinity();
  ASSERT_NO_FATAL_FAILURE(accept_next(
      framework, {other_command, other_resources, negative, not_a_number, too_large, bad_grace}));
  auto refused = [&](const std::string& task_id, const std::string& words) {
    EXPECT_EQ(framework.state(task_id), state::kError) << task_id;
    EXPECT_NE(framework.last(task_id).message.find(words), std::string::npos)
        << task_id << ": " << framework.last(task_id).message;
  };
  refused("other-command", "already runs on agent");
  refused("other-resources", "already runs on agent");
  refused("negative", "invalid resources");
  refused("nan", "invalid resources");
  refused("too-large", "but the offers have");
  refused("bad-grace", "kill_grace_seconds");
  // Nothing of them was counted, and the executor serves on.
  size_t from = framework.offers_received().size();
  ASSERT_TRUE(offered(framework, from, kAgentCpus - kTaskCpus - kExecutorCpus,
                      kAgentMem - kTaskMem - kExecutorMem))
      << offers_text(framework, from);
  EXPECT_EQ(framework.state("a"), state::kRunning);
  EXPECT_EQ(ask_executor(framework, framework.last("a").agent_id, "hi"), "echo: hi");
}

TEST_F(ExecutorClusterTest, AShutdownCallEndsTheExecutorAndItsTasks) {
  TestFramework framework(cluster.endpoint(), failover_framework());
  std::vector<ExecutorExited> exits;
  framework.client().on_executor_exited = [&](const ExecutorExited& e) { exits.push_back(e); };
  ASSERT_TRUE(framework.subscribed());
  ASSERT_NO_FATAL_FAILURE(
      launch(framework, {executor_task("s1", "run"), executor_task("s2", "run")}));
  std::string agent_id = framework.last("s1").agent_id;
  pid_t pid = std::stoi(framework.last("s1").message.substr(4));

  // Sent once subscribed (a client that is re-subscribing on a loaded machine sends nothing).
  ASSERT_TRUE(
      framework.run_until([&] { return framework.client().shutdown_executor(agent_id, "e1"); }));
  ASSERT_TRUE(framework.run_until([&] {
    return framework.saw("s1", state::kKilled) && framework.saw("s2", state::kKilled) &&
           !exits.empty();
  })) << cluster.agent(0).output();
  EXPECT_EQ(framework.last("s1").reason, reason::kExecutorTerminated);
  EXPECT_NE(framework.last("s1").message.find("shut down"), std::string::npos)
      << framework.last("s1").message;
  // It ended by itself, as asked (the SDK's default on executor.shutdown).
  EXPECT_EQ(exits.front().executor_id, "e1");
  EXPECT_EQ(exits.front().status, 0) << exits.front().message;
  EXPECT_TRUE(framework.run_until([&] { return ::kill(pid, 0) != 0; }));
  size_t from = framework.offers_received().size();
  ASSERT_TRUE(offered(framework, from, kAgentCpus, kAgentMem)) << offers_text(framework, from);
}

TEST_F(ExecutorClusterTest, AnExecutorThatIgnoresTheShutdownIsKilledAfterItsGrace) {
  TestFramework framework(cluster.endpoint(), failover_framework());
  std::vector<ExecutorExited> exits;
  framework.client().on_executor_exited = [&](const ExecutorExited& e) { exits.push_back(e); };
  ASSERT_TRUE(framework.subscribed());
  ASSERT_NO_FATAL_FAILURE(launch(framework, {executor_task("st", "stubborn")}));
  std::string agent_id = framework.last("st").agent_id;

  // Sent once subscribed (a client that is re-subscribing on a loaded machine sends nothing).
  ASSERT_TRUE(
      framework.run_until([&] { return framework.client().shutdown_executor(agent_id, "e1"); }));
  ASSERT_TRUE(framework.run_until([&] { return !exits.empty(); })) << cluster.agent(0).output();
  EXPECT_NE(exits.front().message.find("signal"), std::string::npos) << exits.front().message;
  EXPECT_NE(cluster.agent(0).output().find("did not end within its grace"), std::string::npos);
  ASSERT_TRUE(framework.wait_for_state("st", state::kKilled));
  EXPECT_EQ(framework.last("st").reason, reason::kExecutorTerminated);
}

TEST_F(ExecutorClusterTest, AFrameworkCannotShutDownAnotherFrameworksExecutor) {
  TestFramework owner(cluster.endpoint(), failover_framework());
  ASSERT_TRUE(owner.subscribed());
  ASSERT_NO_FATAL_FAILURE(launch(owner, {executor_task("mine", "run")}));
  std::string agent_id = owner.last("mine").agent_id;
  std::string pid_text = owner.last("mine").message;

  tessera::sdk::FrameworkInfo info = failover_framework();
  info.name = "intruder";
  TestFramework intruder(cluster.endpoint(), info);
  std::vector<ExecutorExited> intruder_exits;
  intruder.client().on_executor_exited = [&](const ExecutorExited& e) {
    intruder_exits.push_back(e);
  };
  ASSERT_TRUE(intruder.subscribed());
  ASSERT_TRUE(
      intruder.run_until([&] { return intruder.client().shutdown_executor(agent_id, "e1"); }));
  // A reconciliation answered after the call shows that the master has handled it.
  ASSERT_TRUE(intruder.run_until([&] {
    return intruder.client().reconcile({{"nothing", agent_id}});
  }));
  ASSERT_TRUE(intruder.run_until([&] { return !intruder.state("nothing").empty(); }));
  EXPECT_NE(cluster.master().output().find("the framework runs no such executor there"),
            std::string::npos);
  // The owner's executor answers after it (the master's pushes to the agent keep their order)
  // and its task runs on.
  EXPECT_EQ(ask_executor(owner, agent_id, "pid"), pid_text);
  EXPECT_EQ(owner.updates("mine").size(), 1u);
  EXPECT_TRUE(intruder_exits.empty());
}

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
  // The re-registered agent reported its executor: the master counts it again (it started the
  // agent's accounting afresh when the agent re-registered, before this answer came).
  size_t from = framework.offers_received().size();
  ASSERT_TRUE(offered(framework, from, kAgentCpus - 2 * kTaskCpus - kExecutorCpus,
                      kAgentMem - 2 * kTaskMem - kExecutorMem))
      << offers_text(framework, from);
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

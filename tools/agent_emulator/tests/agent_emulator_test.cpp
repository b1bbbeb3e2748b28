// tessera-agent-emulator against a real master: 200 emulated agents register with a
// tessera-host master, a framework in the test launches tasks on them and sees them finish, and
// after a kill -9 of the master and its restart on the same store the agents register again
// with the tasks they still run.
#include <gtest/gtest.h>
#include <signal.h>

#include <boost/json.hpp>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "emulator.h"
#include "support/cluster.h"
#include "support/framework.h"
#include "support/process.h"

namespace tessera::testing {
namespace {

namespace state = protocol::state;

TEST(TaskDuration, ComesFromTheLabelOrASleepCommand) {
  protocol::TaskInfo task;
  task.command.value = "sleep 2.5";
  EXPECT_EQ(emulator::task_duration(task), std::chrono::milliseconds(2500));
  task.command.value = "sleep   7 ";
  EXPECT_EQ(emulator::task_duration(task), std::chrono::milliseconds(7000));
  task.labels["emulator.duration_seconds"] = "0.25";
  EXPECT_EQ(emulator::task_duration(task), std::chrono::milliseconds(250));
  // What is not a finite duration from 0 to 10^7 s runs until killed.
  for (const char* bad : {"-1", "nan", "inf", "1e8", "3s", ""}) {
    task.labels["emulator.duration_seconds"] = bad;
    EXPECT_EQ(emulator::task_duration(task), std::nullopt) << bad;
  }
  task.labels.clear();
  for (const char* command : {"true", "sleep", "sleep x", "sleep 1; echo", "/bin/sleep 1"}) {
    task.command.value = command;
    EXPECT_EQ(emulator::task_duration(task), std::nullopt) << command;
  }
}

// Task id -> {state, agent id} as the master lists them (through the CLI); empty on failure.
std::map<std::string, std::pair<std::string, std::string>> master_tasks(const TempDir& dir,
                                                                        const std::string& master) {
  static int runs = 0;
  auto [code, out] = run({TESSERA_CLI_BIN, "tasks", "--master", master, "--json"},
                         dir / ("cli." + std::to_string(++runs) + ".log"));
  std::map<std::string, std::pair<std::string, std::string>> listed;
  if (code != 0) return listed;
  boost::json::value listing = boost::json::parse(out);
  for (const auto& task : listing.at("tasks").as_array()) {
    listed[std::string(task.at("id").as_string())] = {std::string(task.at("state").as_string()),
                                                      std::string(task.at("slave_id").as_string())};
  }
  return listed;
}

TEST(AgentEmulator, TwoHundredAgentsRunTasksAndFollowAMasterKilledAndRestarted) {
  constexpr size_t kAgents = 200;
  constexpr const char* kAllRegistered = "emulator: all 200 agents registered";
  TempDir dir;
  Cluster cluster(dir);
  MasterSettings settings;
  // The restarted master must not remove agents before they are back.
  settings.agent_removal_timeout_ms = 120000;
  settings.agent_ping_timeout_ms = 10000;
  ASSERT_TRUE(cluster.start_master(settings));

  Process agents(
      {TESSERA_AGENT_EMULATOR_BIN, "--master", cluster.endpoint(), "--agents",
       std::to_string(kAgents), "--resources", "cpus:1;mem:256;disk:256;ports:[31000-31009]",
       "--attribute", "rack=r1", "--report-ms", "500"},
      dir / "emulator.log");
  ASSERT_TRUE(agents.wait_for(kAllRegistered, std::chrono::seconds(60)))
      << agents.output() << "\nmaster:\n"
      << cluster.master().output();

  // One offer per agent: a short task that finishes, and a long one that runs across the
  // master's restart.
  sdk::FrameworkInfo info;
  info.name = "emulator-test";
  info.failover_timeout_seconds = 600;
  TestFramework framework(cluster.endpoint(), info);
  std::set<std::string> agents_used;
  std::set<std::string> hostnames;
  bool attributes_seen = false;
  framework.on_offer = [&](const protocol::scheduler::Offer& offer) {
    for (const auto& attribute : offer.attributes) {
      if (attribute.name == "rack" && attribute.value == "r1") attributes_seen = true;
    }
    if (!agents_used.insert(offer.agent_id).second) {
      framework.client().decline({offer.offer_id}, 60);
      return;
    }
    hostnames.insert(offer.hostname);
    std::string n = std::to_string(agents_used.size());
    framework.client().accept({offer.offer_id}, {command_task("short-" + n, "sleep 0.2", 0.1, 16),
                                                 command_task("long-" + n, "sleep 3600", 0.1, 16)});
  };
  ASSERT_TRUE(framework.subscribed());
  auto count = [&](const std::string& prefix, const std::string& wanted) {
    size_t n = 0;
    for (size_t i = 1; i <= kAgents; ++i) {
      if (framework.state(prefix + std::to_string(i)) == wanted) ++n;
    }
    return n;
  };
  ASSERT_TRUE(framework.run_until(
      [&] {
        return count("short-", state::kFinished) == kAgents &&
               count("long-", state::kRunning) == kAgents;
      },
      std::chrono::seconds(60)))
      << "finished " << count("short-", state::kFinished) << ", running "
      << count("long-", state::kRunning) << ", offers from " << agents_used.size() << " agents\n"
      << agents.output();
  EXPECT_EQ(hostnames.size(), kAgents);
  EXPECT_TRUE(attributes_seen);
  for (size_t i = 1; i <= kAgents; ++i) {
    std::string id = "short-" + std::to_string(i);
    EXPECT_TRUE(framework.saw(id, state::kStarting)) << id;
    EXPECT_EQ(framework.last(id).exit_code, 0) << id;
  }

  // kill -9 of the master; the same master starts again on its work dir (its store) and port.
  std::string endpoint = cluster.endpoint();
  cluster.master().signal(SIGKILL);
  ASSERT_TRUE(cluster.master().wait().has_value());
  std::filesystem::rename(dir / "master.log", dir / "master.killed.log");
  std::filesystem::remove(dir / "master.endpoints");
  settings.endpoint = endpoint;
  ASSERT_TRUE(cluster.start_master(settings));

  // Every agent registers again (the emulator reports it a second time), with its long task.
  ASSERT_TRUE(agents.wait_for_count(kAllRegistered, 2, std::chrono::seconds(120)))
      << agents.output() << "\nmaster:\n"
      << cluster.master().output();
  std::map<std::string, std::pair<std::string, std::string>> listed;
  std::set<std::string> agents_with_long_tasks;
  ASSERT_TRUE(eventually(
      [&] {
        listed = master_tasks(dir, endpoint);
        agents_with_long_tasks.clear();
        for (const auto& [id, where] : listed) {
          if (id.rfind("long-", 0) == 0 && where.first == state::kRunning) {
            agents_with_long_tasks.insert(where.second);
          }
        }
        return agents_with_long_tasks.size() == kAgents;
      },
      std::chrono::seconds(60)))
      << agents_with_long_tasks.size() << " agents report their long task\n"
      << cluster.master().output();
  EXPECT_EQ(agents_with_long_tasks, agents_used);
  // Nothing ended the long tasks, and the framework follows the restarted master.
  ASSERT_TRUE(framework.run_until([&] { return framework.client().subscriptions() >= 2; },
                                  std::chrono::seconds(60)));
  for (size_t i = 1; i <= kAgents; ++i) {
    std::string id = "long-" + std::to_string(i);
    for (const auto& update : framework.updates(id)) {
      EXPECT_FALSE(state::terminal(update.state)) << id << " " << update.state;
    }
  }
  agents.stop();
}

// Two emulator processes for one framework, as the failover benchmark runs them: every task of
// every agent is the master's, on its own agent. Task ids used to be the agent's index alone, the
// same in both processes, and the master kept each such task on whichever agent reported it
// first ("agent ... reports task ..., which runs on agent ...; ignored"): half the tasks.
TEST(AgentEmulator, TasksOfEmulatorsRunSideBySideAreEachOnTheirOwnAgent) {
  constexpr size_t kAgentsEach = 20;
  constexpr size_t kTasksEach = 3;
  TempDir dir;
  Cluster cluster(dir);
  MasterSettings settings;
  // A loaded machine must not make an agent unreachable (its tasks would not be RUNNING).
  settings.agent_ping_timeout_ms = 10000;
  settings.agent_removal_timeout_ms = 120000;
  ASSERT_TRUE(cluster.start_master(settings));
  sdk::FrameworkInfo info;
  info.name = "emulator-side-by-side";
  info.failover_timeout_seconds = 600;
  TestFramework framework(cluster.endpoint(), info);
  ASSERT_TRUE(framework.subscribed());

  std::vector<std::unique_ptr<Process>> emulators;
  for (const char* prefix : {"a-", "b-"}) {
    emulators.push_back(std::make_unique<Process>(
        std::vector<std::string>{TESSERA_AGENT_EMULATOR_BIN, "--master", cluster.endpoint(),
                                 "--agents", std::to_string(kAgentsEach), "--hostname-prefix",
                                 prefix, "--tasks-per-agent", std::to_string(kTasksEach),
                                 "--task-framework", framework.client().framework_id(),
                                 "--report-ms", "0"},
        dir / (std::string("emulator-") + prefix + "log")));
  }
  for (auto& emulator : emulators) {
    ASSERT_TRUE(emulator->wait_for("emulator: all 20 agents registered", std::chrono::seconds(60)))
        << emulator->output() << "\nmaster:\n"
        << cluster.master().output();
  }
  std::map<std::string, std::pair<std::string, std::string>> listed;
  std::map<std::string, size_t> tasks_by_agent;
  ASSERT_TRUE(eventually(
      [&] {
        listed = master_tasks(dir, cluster.endpoint());
        return listed.size() >= 2 * kAgentsEach * kTasksEach;
      },
      std::chrono::seconds(30)))
      << listed.size() << " tasks listed\n"
      << cluster.master().output();
  EXPECT_EQ(listed.size(), 2 * kAgentsEach * kTasksEach);
  for (const auto& [id, where] : listed) {
    EXPECT_EQ(where.first, state::kRunning) << id;
    ++tasks_by_agent[where.second];
  }
  EXPECT_EQ(tasks_by_agent.size(), 2 * kAgentsEach);
  for (const auto& [agent, tasks] : tasks_by_agent) EXPECT_EQ(tasks, kTasksEach) << agent;
  EXPECT_EQ(cluster.master().output().find("which runs on agent"), std::string::npos)
      << cluster.master().output();
  for (auto& emulator : emulators) emulator->stop();
}

}  // namespace
}  // namespace tessera::testing

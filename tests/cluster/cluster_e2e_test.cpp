// The cluster end to end: one master and agents as separate tessera-host processes on
// loopback, real isolator_posix processes, and a framework in the test process using the SDK's
// scheduler client. Timeouts are short in the cluster's TOML (support/cluster.h) so that losses
// are noticed in seconds.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <algorithm>
#include <boost/json.hpp>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <regex>
#include <set>
#include <thread>

#include "support/cluster.h"
#include "support/cutting_proxy.h"
#include "support/framework.h"
#include "support/garbage.h"
#include "tessera/protocol/operator.h"

namespace {

using namespace std::chrono_literals;
using tessera::protocol::TaskInfo;
using tessera::protocol::scheduler::Offer;
using tessera::testing::Cluster;
using tessera::testing::command_task;
using tessera::testing::TempDir;
using tessera::testing::TestFramework;
namespace state = tessera::protocol::state;
namespace reason = tessera::protocol::reason;

tessera::sdk::FrameworkInfo framework_info(const std::string& name, double failover = 0) {
  tessera::sdk::FrameworkInfo info;
  info.name = name;
  info.failover_timeout_seconds = failover;
  return info;
}

// A command that sleeps and can be found (and killed) by its unique argument afterwards.
class Sleeper {
 public:
  Sleeper() {
    std::random_device rd;
    seconds_ = "60." + std::to_string(100000 + rd() % 800000);
  }
  ~Sleeper() { signal(SIGKILL); }
  std::string command() const { return "sleep " + seconds_; }
  // Whether the sleep itself still runs. The pattern is anchored and whole: the task's shell
  // ("/bin/sh -c sleep 60.N"), `tessera exec -- sleep 60.N` and the shell that runs pgrep all
  // have the same words in their command lines, and must not count.
  bool running() const {
    return std::system(("pgrep -f '" + pattern() + "' >/dev/null").c_str()) == 0;
  }
  void signal(int sig) const {
    std::system(("pkill -" + std::to_string(sig) + " -f '" + pattern() + "' 2>/dev/null").c_str());
  }

 private:
  std::string pattern() const { return "^sleep " + seconds_ + "$"; }
  std::string seconds_;
};

// Launches each task in `tasks` on the first offer it fits, leftovers refused briefly.
void launch_when_offered(TestFramework& framework, std::vector<TaskInfo> tasks,
                         const std::string& only_agent = "") {
  auto pending = std::make_shared<std::vector<TaskInfo>>(std::move(tasks));
  framework.on_offer = [&framework, pending, only_agent](const Offer& offer) {
    std::vector<TaskInfo> launch;
    tessera::protocol::Resources left = offer.resources;
    if (only_agent.empty() || offer.agent_id == only_agent) {
      for (auto it = pending->begin(); it != pending->end();) {
        if (left.contains(it->resources)) {
          left -= it->resources;
          launch.push_back(*it);
          it = pending->erase(it);
        } else {
          ++it;
        }
      }
    }
    if (launch.empty()) {
      framework.client().decline({offer.offer_id}, 0.1);
    } else {
      framework.client().accept({offer.offer_id}, launch, 0.1);
    }
  };
}

// The tasks that reconciliation answers among the updates from index `from` on reported in
// state `st`.
std::set<std::string> reconciled(const TestFramework& framework, size_t from,
                                 const std::string& st) {
  std::set<std::string> out;
  const auto& updates = framework.all_updates();
  for (size_t i = from; i < updates.size(); ++i) {
    if (updates[i].reason == reason::kReconciliation && updates[i].state == st) {
      out.insert(updates[i].task_id);
    }
  }
  return out;
}

class ClusterTest : public ::testing::Test {
 protected:
  TempDir dir_;
  Cluster cluster_{dir_};
};

TEST_F(ClusterTest, HundredTasksSpreadOverThreeAgentsAllFinish) {
  ASSERT_TRUE(cluster_.start_master());
  for (size_t i = 0; i < 3; ++i) ASSERT_TRUE(cluster_.start_agent(i));
  TestFramework framework(cluster_.endpoint(), framework_info("hundred"));
  ASSERT_TRUE(framework.subscribed());
  std::vector<TaskInfo> tasks;
  for (int i = 0; i < 100; ++i) tasks.push_back(command_task("t" + std::to_string(i), "true"));
  launch_when_offered(framework, tasks);
  auto finished = [&] {
    int n = 0;
    for (int i = 0; i < 100; ++i) n += framework.saw("t" + std::to_string(i), state::kFinished);
    return n;
  };
  ASSERT_TRUE(framework.run_until([&] { return finished() == 100; }, 60s))
      << finished() << " of 100 finished\nmaster:\n"
      << cluster_.master().output();
  std::set<std::string> agents;
  for (const auto& status : framework.all_updates()) agents.insert(status.agent_id);
  EXPECT_EQ(agents.size(), 3u) << "tasks ran on only " << agents.size() << " agent(s)";
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(framework.last("t" + std::to_string(i)).exit_code, 0);
  }
}

TEST_F(ClusterTest, FailingTaskReportsItsExitStatusAndKilledTaskIsKilled) {
  ASSERT_TRUE(cluster_.start_master());
  ASSERT_TRUE(cluster_.start_agent(0));
  TestFramework framework(cluster_.endpoint(), framework_info("exits"));
  ASSERT_TRUE(framework.subscribed());
  Sleeper sleeper;
  launch_when_offered(framework, {command_task("fails", "echo going; exit 1"),
                                  command_task("sleeps", sleeper.command())});
  ASSERT_TRUE(framework.wait_for_state("fails", state::kFailed)) << cluster_.agent(0).output();
  EXPECT_EQ(framework.last("fails").exit_code, 1);
  EXPECT_TRUE(framework.saw("fails", state::kRunning));

  ASSERT_TRUE(framework.wait_for_state("sleeps", state::kRunning));
  framework.client().kill("sleeps", framework.last("sleeps").agent_id);
  ASSERT_TRUE(framework.wait_for_state("sleeps", state::kKilled, 20s))
      << framework.state("sleeps") << "\n"
      << cluster_.agent(0).output();
}

// A framework whose loop stalls past its heartbeats (a slow check run from its own loop, as the
// isolation tests run the CLI) is disconnected by the master; once its loop runs again the
// client notices the master's silence, subscribes again, and hears what happened meanwhile. The
// stall ends in the turn the client's heartbeat timer is due, after the run_until tick that
// stops the loop: the loop once dropped that timer for good, and the client then stayed on its
// dead subscription forever, its kills taken but their TASK_KILLED never sent to it.
TEST_F(ClusterTest, AFrameworkWhoseLoopStalledPastItsHeartbeatsSubscribesAgainAndHearsItsKill) {
  ASSERT_TRUE(cluster_.start_master());
  ASSERT_TRUE(cluster_.start_agent(0));
  TestFramework framework(cluster_.endpoint(), framework_info("stalls", 60));
  ASSERT_TRUE(framework.subscribed());
  Sleeper sleeper;
  launch_when_offered(framework, {command_task("sleeps", sleeper.command())});
  ASSERT_TRUE(framework.wait_for_state("sleeps", state::kRunning));
  uint64_t subscriptions = framework.client().subscriptions();
  // Three stalls of 1.5 s (the master's heartbeats are 300 ms: 0.9 s of silence disconnects):
  // each check returns false once from the loop after stalling, then true in the next turn.
  for (int stall = 0; stall < 3; ++stall) {
    int calls = 0;
    framework.run_until([&] {
      ++calls;
      if (calls == 2) std::this_thread::sleep_for(1500ms);
      return calls >= 3;
    });
  }
  EXPECT_TRUE(cluster_.master().wait_for("missed its heartbeats", 1s))
      << cluster_.master().output();
  EXPECT_TRUE(framework.run_until(
      [&] {
        return framework.client().subscribed() &&
               framework.client().subscriptions() > subscriptions;
      },
      15s))
      << "it never subscribed again\nmaster:\n"
      << cluster_.master().output();
  // A kill is not sent while the client re-subscribes: asked again until it is answered.
  bool killed = false;
  for (int attempt = 0; attempt < 3 && !killed; ++attempt) {
    framework.client().kill("sleeps", framework.last("sleeps").agent_id);
    killed = framework.wait_for_state("sleeps", state::kKilled, 5s);
  }
  EXPECT_TRUE(killed) << framework.state("sleeps") << "\nmaster:\n" << cluster_.master().output();
  EXPECT_TRUE(framework.run_until([&] { return !sleeper.running(); }, 10s));
}

TEST_F(ClusterTest, MalformedTasksGetAnErrorWithAReasonAndTheRestRuns) {
  ASSERT_TRUE(cluster_.start_master());
  ASSERT_TRUE(cluster_.start_agent(0));
  TestFramework framework(cluster_.endpoint(), framework_info("malformed"));
  ASSERT_TRUE(framework.subscribed());
  TaskInfo negative = command_task("negative", "true", -1, 16);
  TaskInfo empty = command_task("empty", "");
  TaskInfo huge = command_task("huge", "true", 1000, 16);
  TaskInfo good = command_task("good", "true");
  bool sent = false;
  framework.on_offer = [&](const Offer& offer) {
    if (sent) return (void)framework.client().decline({offer.offer_id}, 0.1);
    sent = true;
    framework.client().accept({offer.offer_id}, {negative, empty, huge, good}, 0.1);
    // An offer that does not exist (any more).
    framework.client().accept({"no-such-offer"}, {command_task("orphan", "true")}, 0.1);
  };
  ASSERT_TRUE(framework.wait_for_state("good", state::kFinished));
  for (const char* id : {"negative", "empty", "huge"}) {
    ASSERT_TRUE(framework.wait_for_state(id, state::kError)) << id;
    EXPECT_EQ(framework.last(id).reason, reason::kTaskInvalid) << id;
    EXPECT_FALSE(framework.last(id).message.empty()) << id;
  }
  EXPECT_NE(framework.last("negative").message.find("negative"), std::string::npos);
  EXPECT_NE(framework.last("empty").message.find("empty command"), std::string::npos);
  EXPECT_NE(framework.last("huge").message.find("cpus:1000"), std::string::npos);
  ASSERT_TRUE(framework.wait_for_state("orphan", state::kError));
  EXPECT_EQ(framework.last("orphan").reason, reason::kInvalidOffers);
}

// Task ids may have 256 bytes of any kind; the agent's container ids (200) and file names (255)
// are shorter. Ids that long, alike but for their end or escaped three bytes to one, still run,
// each in its own sandbox with its own output.
TEST_F(ClusterTest, TasksWithTheLongestIdsRunInSandboxesOfTheirOwn) {
  ASSERT_TRUE(cluster_.start_master());
  ASSERT_TRUE(cluster_.start_agent(0));
  TestFramework framework(cluster_.endpoint(), framework_info("long-ids"));
  ASSERT_TRUE(framework.subscribed());
  const std::vector<std::string> ids = {std::string(255, 'a') + "1", std::string(255, 'a') + "2",
                                        std::string(256, '/'), std::string(255, '/') + ":"};
  std::vector<TaskInfo> tasks;
  for (size_t i = 0; i < ids.size(); ++i) {
    tasks.push_back(command_task(ids[i], "echo long-id-output-" + std::to_string(i)));
  }
  launch_when_offered(framework, tasks);
  for (size_t i = 0; i < ids.size(); ++i) {
    ASSERT_TRUE(framework.wait_for_state(ids[i], state::kFinished))
        << i << ": " << framework.last(ids[i]).message << "\n"
        << cluster_.agent(0).output();
  }
  // Four sandboxes, each holding only its own task's output.
  std::map<std::string, std::string> outputs;  // sandbox -> stdout
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir_ / "agent0")) {
    if (entry.path().filename() != "stdout") continue;
    std::ifstream in(entry.path());
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (text.find("long-id-output-") == std::string::npos) continue;
    EXPECT_LE(entry.path().parent_path().filename().string().size(), 255u);
    outputs[entry.path().parent_path().string()] = text;
  }
  ASSERT_EQ(outputs.size(), ids.size());
  std::set<std::string> seen;
  for (const auto& [sandbox, text] : outputs) seen.insert(text);
  EXPECT_EQ(seen.size(), ids.size()) << "two tasks wrote into one sandbox";
}

TEST_F(ClusterTest, KilledAgentsTasksBecomeUnreachableThenLostAndItIsNoLongerOffered) {
  ASSERT_TRUE(cluster_.start_master());
  ASSERT_TRUE(cluster_.start_agent(0));
  ASSERT_TRUE(cluster_.start_agent(1));
  TestFramework framework(cluster_.endpoint(), framework_info("survivor"));
  ASSERT_TRUE(framework.subscribed());
  Sleeper sleeper;
  // Find agent0's id from an offer, then run the task there.
  std::string victim;
  ASSERT_TRUE(framework.run_until([&] {
    for (const auto& offer : framework.offers_received()) {
      if (offer.hostname == "agent0") victim = offer.agent_id;
    }
    return !victim.empty();
  }));
  launch_when_offered(framework, {command_task("doomed", sleeper.command())}, victim);
  ASSERT_TRUE(framework.wait_for_state("doomed", state::kRunning)) << cluster_.master().output();

  auto killed_at = std::chrono::steady_clock::now();
  cluster_.agent(0).signal(SIGKILL);
  ASSERT_TRUE(cluster_.agent(0).wait().has_value());
  // Ping timeout 1.5 s, removal timeout 2 s after that (support/cluster.h).
  ASSERT_TRUE(framework.wait_for_state("doomed", state::kUnreachable, 20s))
      << cluster_.master().output();
  ASSERT_TRUE(framework.wait_for_state("doomed", state::kLost, 20s)) << cluster_.master().output();
  EXPECT_EQ(framework.last("doomed").reason, reason::kAgentRemoved);
  // Not before its time: 1.5 s without a pong, then 2 s unreachable. The silence counts from
  // the agent's last pong, which a loaded machine may have delayed to well before the kill, so
  // the bound leaves a second for that; skipping either timeout would still fall below it.
  EXPECT_GE(std::chrono::steady_clock::now() - killed_at, 2500ms);
  ASSERT_TRUE(framework.run_until([&] { return !framework.agents_lost().empty(); }, 10s));
  EXPECT_EQ(framework.agents_lost().front(), victim);

  // From now on, only agent1 is offered. Every offer the master sent before it reported the
  // loss arrived before that report; an offer from agent1 after it shows that allocation went
  // on, and agent0 would have been in that cycle.
  size_t seen = framework.offers_received().size();
  framework.on_offer = nullptr;
  framework.client().revive();
  ASSERT_TRUE(framework.run_until([&] {
    for (size_t i = seen; i < framework.offers_received().size(); ++i) {
      if (framework.offers_received()[i].agent_id != victim) return true;
    }
    return false;
  })) << "agent1 should still be offered";
  for (size_t i = seen; i < framework.offers_received().size(); ++i) {
    EXPECT_NE(framework.offers_received()[i].agent_id, victim);
  }
}

TEST_F(ClusterTest, RestartedAgentReregistersWithTheSameId) {
  ASSERT_TRUE(cluster_.start_master());
  ASSERT_TRUE(cluster_.start_agent(0));
  std::smatch first;
  std::string log = cluster_.master().output();
  ASSERT_TRUE(std::regex_search(log, first, std::regex("registered agent (\\S+) at agent0")));
  std::string id = first[1];
  EXPECT_EQ(cluster_.agent(0).stop(), 0);
  cluster_.drop_agent(0);
  ASSERT_TRUE(cluster_.start_agent(0));
  EXPECT_TRUE(cluster_.master().wait_for("re-registered agent " + id + " at agent0", 10s))
      << cluster_.master().output();
}

// A second agent started by mistake on a running agent's work dir (the same TOML twice) stops
// at once with a clear error, and the first agent is not disturbed.
TEST_F(ClusterTest, ASecondAgentOnTheSameWorkDirRefusesToStart) {
  ASSERT_TRUE(cluster_.start_master());
  ASSERT_TRUE(cluster_.start_agent(0));
  auto [code, output] = tessera::testing::run({TESSERA_HOST_BIN, (dir_ / "agent0.toml").string()},
                                              dir_ / "agent0-twin.log", 20s);
  EXPECT_EQ(code, 1) << output;
  EXPECT_NE(output.find("is in use by another agent"), std::string::npos) << output;
  TestFramework framework(cluster_.endpoint(), framework_info("after-the-twin", 0));
  ASSERT_TRUE(framework.subscribed());
  launch_when_offered(framework, {command_task("fine", "true")});
  EXPECT_TRUE(framework.wait_for_state("fine", state::kFinished)) << cluster_.agent(0).output();
}

TEST_F(ClusterTest, FrameworkBackWithinFailoverTimeoutKeepsTasksOneTooLateLosesThem) {
  ASSERT_TRUE(cluster_.start_master());
  ASSERT_TRUE(cluster_.start_agent(0));
  Sleeper patient_task, hasty_task;
  std::string patient_id;
  {
    TestFramework patient(cluster_.endpoint(), framework_info("patient", 60));
    ASSERT_TRUE(patient.subscribed());
    patient_id = patient.client().framework_id();
    launch_when_offered(patient, {command_task("keep", patient_task.command())});
    ASSERT_TRUE(patient.wait_for_state("keep", state::kRunning));
  }  // gone without a teardown
  {
    TestFramework hasty(cluster_.endpoint(), framework_info("hasty", 0.5));
    ASSERT_TRUE(hasty.subscribed());
    launch_when_offered(hasty, {command_task("lose", hasty_task.command())});
    ASSERT_TRUE(hasty.wait_for_state("lose", state::kRunning));
  }
  // Both miss heartbeats (3 x 300 ms); only "hasty" runs out of failover time.
  ASSERT_TRUE(cluster_.master().wait_for("removing framework", 10s)) << cluster_.master().output();
  EXPECT_NE(cluster_.master().output().find("'hasty': it did not come back"), std::string::npos)
      << cluster_.master().output();

  auto info = framework_info("patient", 60);
  info.framework_id = patient_id;
  TestFramework back(cluster_.endpoint(), info);
  ASSERT_TRUE(back.subscribed());
  EXPECT_EQ(back.client().framework_id(), patient_id);
  back.client().reconcile({{"keep", ""}});
  ASSERT_TRUE(back.wait_for_state("keep", state::kRunning)) << cluster_.master().output();
  EXPECT_NE(cluster_.master().output().find("re-subscribed framework " + patient_id),
            std::string::npos);

  // The hasty framework's task was killed on the agent. (The agent's own line: its launch line
  // already names the task.)
  EXPECT_TRUE(cluster_.agent(0).wait_for("agent: killing task 'lose'", 10s))
      << cluster_.agent(0).output();
  EXPECT_TRUE(back.run_until([&] { return !hasty_task.running(); }, 10s))
      << "the removed framework's task still runs";
  EXPECT_TRUE(patient_task.running());
}

TEST_F(ClusterTest, GarbageSentToTheMasterIsDroppedAndTheClusterKeepsWorking) {
  ASSERT_TRUE(cluster_.start_master());
  ASSERT_TRUE(cluster_.start_agent(0));
  const char junk[] = "\x00\xff garbage \x13\x37 more garbage";
  ASSERT_TRUE(tessera::testing::send_raw_tcp(tessera::testing::port_of(cluster_.endpoint()),
                                             std::string(junk, sizeof junk - 1)));
  tessera::testing::send_zmq_frames(cluster_.endpoint(),
                                    {"\xc1 not msgpack", std::string(1000, '\x92')});
  ASSERT_TRUE(cluster_.master().wait_for("dropped a malformed message"));

  TestFramework framework(cluster_.endpoint(), framework_info("after-garbage"));
  ASSERT_TRUE(framework.subscribed());
  launch_when_offered(framework, {command_task("fine", "true")});
  ASSERT_TRUE(framework.wait_for_state("fine", state::kFinished)) << cluster_.master().output();
}

}  // namespace

namespace {

TEST_F(ClusterTest, MasterRestartRecoversItsRegistryAndFrameworksAndAgentsComeBack) {
  ASSERT_TRUE(cluster_.start_master());
  ASSERT_TRUE(cluster_.start_agent(0));
  Sleeper sleeper;
  TestFramework framework(cluster_.endpoint(), framework_info("durable", 60));
  ASSERT_TRUE(framework.subscribed());
  std::string id = framework.client().framework_id();
  launch_when_offered(framework, {command_task("survivor", sleeper.command())});
  ASSERT_TRUE(framework.wait_for_state("survivor", state::kRunning));

  ASSERT_TRUE(cluster_.restart_master());
  // The framework is in the registry: the new master knows it before it re-subscribes.
  EXPECT_NE(cluster_.master().output().find("recovered 1 framework(s)"), std::string::npos)
      << cluster_.master().output();
  // The agent notices the silence and re-registers with its running task; the framework's
  // client notices too and re-subscribes with its id.
  // (The new master has not seen the agent's connection before, so it logs "registered".)
  ASSERT_TRUE(cluster_.master().wait_for("registered agent", 15s)) << cluster_.master().output();
  ASSERT_TRUE(framework.run_until([&] { return framework.client().subscriptions() >= 2; }, 15s))
      << cluster_.master().output();
  EXPECT_EQ(framework.client().framework_id(), id);
  EXPECT_TRUE(sleeper.running()) << "a master restart must not touch running tasks";
  size_t before = framework.all_updates().size();
  framework.client().reconcile({{"survivor", ""}});
  ASSERT_TRUE(framework.run_until(
      [&] { return reconciled(framework, before, state::kRunning).count("survivor") == 1; }, 10s))
      << cluster_.master().output();
}

// The TCP connection of an agent's first registration drops after the master admitted it and
// before the answer arrives (a connection storm after a failover, a flaky network). ZeroMQ
// reconnects the agent's socket and the agent resends its registration there: the master must
// answer it with the id it gave, not admit a second agent. With a routing id ZeroMQ generates,
// the reconnected socket was a new peer to the master, which admitted the resend as another
// agent and kept the first, admitted on the dropped connection, as a ghost that got offers.
TEST_F(ClusterTest, AnAgentWhoseConnectionDropsDuringItsFirstRegistrationIsAdmittedOnce) {
  tessera::testing::MasterSettings patient;
  // A ghost would stay listed and active for the whole test.
  patient.agent_ping_timeout_ms = 60000;
  patient.agent_removal_timeout_ms = 60000;
  ASSERT_TRUE(cluster_.start_master(patient));
  const std::string& endpoint = cluster_.endpoint();
  tessera::testing::CuttingProxy proxy(std::stoi(endpoint.substr(endpoint.rfind(':') + 1)),
                                       "agent.register");
  tessera::testing::AgentSettings agent;
  agent.master = proxy.endpoint();
  ASSERT_TRUE(cluster_.start_agent(0, agent));
  ASSERT_TRUE(proxy.cut()) << "the registration's answer was not cut off: nothing was tested";
  EXPECT_GE(proxy.connections(), 2);

  std::smatch id;
  std::string agent_log = cluster_.agent(0).output();
  ASSERT_TRUE(std::regex_search(agent_log, id, std::regex("agent: registered as '([^']+)'")))
      << agent_log;
  // Whatever else came after the resend's answer would have come by now.
  std::this_thread::sleep_for(500ms);
  // One admission. ("registered agent " also matches "re-registered agent ": an agent that
  // heard nothing from the master for a second, as on a loaded machine, re-registers under the
  // id it has, which admits no second agent.)
  const tessera::testing::Process& master = cluster_.master();
  EXPECT_EQ(master.count("registered agent ") - master.count("re-registered agent ") -
                master.count("unregistered agent "),
            1u)
      << master.output();
  std::string admitted = "registered agent " + id[1].str() + " at agent0";
  EXPECT_EQ(master.count(admitted) - master.count("re-" + admitted), 1u) << master.output();
  // A framework is offered that one agent only.
  TestFramework framework(cluster_.endpoint(), framework_info("one-agent"));
  ASSERT_TRUE(framework.subscribed());
  ASSERT_TRUE(framework.run_until([&] { return !framework.offers_received().empty(); }));
  framework.run_until([] { return false; }, 500ms);  // a ghost's offer would come with it
  for (const Offer& offer : framework.offers_received()) EXPECT_EQ(offer.agent_id, id[1].str());
}

// An agent that dies while the master restarts never comes back: the new master knows its id
// from the registry but none of its tasks. An explicit reconciliation of such a task is not
// answered while the agent may still re-register (TASK_UNKNOWN would have a framework replace
// a task that runs); once agent_removal_timeout_ms has passed since the election, the agent is
// removed: the framework hears it is lost, and the task is TASK_GONE. Before, the agent stayed
// awaited forever and the framework saw its task running forever.
TEST_F(ClusterTest, AnAgentThatDoesNotComeBackToANewMasterIsRemovedAndItsTasksAreGone) {
  ASSERT_TRUE(cluster_.start_master());
  ASSERT_TRUE(cluster_.start_agent(0));
  ASSERT_TRUE(cluster_.start_agent(1));
  TestFramework framework(cluster_.endpoint(), framework_info("follower", 3600));
  ASSERT_TRUE(framework.subscribed());
  // The task goes to agent 1 (its hostname is "agent1"), which then dies.
  std::string agent_id;
  ASSERT_TRUE(framework.run_until([&] {
    for (const Offer& offer : framework.offers_received()) {
      if (offer.hostname == "agent1") agent_id = offer.agent_id;
    }
    return !agent_id.empty();
  }));
  Sleeper sleeper;
  launch_when_offered(framework, {command_task("stranded", sleeper.command())}, agent_id);
  ASSERT_TRUE(framework.wait_for_state("stranded", state::kRunning));
  const size_t doomed = 1;
  cluster_.agent(doomed).signal(SIGKILL);
  ASSERT_TRUE(cluster_.agent(doomed).wait().has_value());
  cluster_.drop_agent(doomed);
  sleeper.signal(SIGKILL);
  ASSERT_TRUE(cluster_.restart_master(/*crash=*/true));
  ASSERT_TRUE(framework.run_until([&] { return framework.client().subscriptions() >= 2; }, 20s))
      << cluster_.master().output();

  // Asked at once (within agent_removal_timeout_ms, 2 s here, of the election, unless this
  // machine is slow): not answered while the agent may still come back; asked after its removal:
  // TASK_GONE. Never TASK_UNKNOWN, which would have a framework replace a task that may run.
  size_t before = framework.all_updates().size();
  ASSERT_TRUE(framework.client().reconcile({{"stranded", agent_id}}));
  ASSERT_TRUE(framework.run_until(
      [&] {
        const auto& lost = framework.agents_lost();
        return std::find(lost.begin(), lost.end(), agent_id) != lost.end();
      },
      30s))
      << cluster_.master().output();
  EXPECT_TRUE(cluster_.master().wait_for("not registered with the new leader within", 1s))
      << cluster_.master().output();
  ASSERT_TRUE(framework.client().reconcile({{"stranded", agent_id}}));
  ASSERT_TRUE(framework.run_until([&] { return framework.state("stranded") == state::kGone; }))
      << cluster_.master().output();
  for (size_t i = before; i < framework.all_updates().size(); ++i) {
    EXPECT_EQ(framework.all_updates()[i].state, state::kGone) << i;
  }
  // The other agent stays.
  ASSERT_TRUE(cluster_.master().wait_for("registered agent", 1s)) << cluster_.master().output();
}

// `tessera exec` has a failover timeout of 0: its task dies with it. A master restart is not
// the framework going away, so the task keeps running while exec notices the new master and
// re-subscribes, and exec still reports the task's end.
TEST_F(ClusterTest, AMasterRestartDoesNotCostAFrameworkWithoutFailoverTimeItsTasks) {
  ASSERT_TRUE(cluster_.start_master());
  ASSERT_TRUE(cluster_.start_agent(0));
  Sleeper sleeper;
  tessera::testing::Process exec({TESSERA_CLI_BIN, "exec", "-v", "--master", cluster_.endpoint(),
                                  "--cpus", "0.2", "--mem", "32", "--", sleeper.command()},
                                 dir_ / "exec.log");
  ASSERT_TRUE(exec.wait_for("TASK_RUNNING", 20s)) << exec.output();
  // A second framework, also without failover time, that will not come back after the
  // restart: the new master removes it when the grace it gives recovered frameworks (4
  // heartbeats of 300 ms + 5 s) is over, the same moment for both. Its removal is the proof
  // that exec's would have happened by then. It subscribes last, so that the old master has no
  // time to miss its heartbeats before the restart.
  std::string decoy_id;
  {
    TestFramework decoy(cluster_.endpoint(), framework_info("decoy", 0));
    ASSERT_TRUE(decoy.subscribed());
    decoy_id = decoy.client().framework_id();
    ASSERT_TRUE(cluster_.restart_master());
  }
  EXPECT_NE(cluster_.master().output().find("recovered 2 framework(s)"), std::string::npos)
      << "the decoy was lost before the restart; the proof below does not hold\n"
      << cluster_.master().output();
  ASSERT_TRUE(exec.wait_for("re-subscribing as framework", 20s)) << exec.output();
  ASSERT_TRUE(cluster_.master().wait_for("re-subscribed framework", 20s))
      << cluster_.master().output();
  ASSERT_TRUE(cluster_.master().wait_for("removing framework " + decoy_id, 30s))
      << cluster_.master().output();
  EXPECT_EQ(cluster_.master().count("removing framework"), 1u) << cluster_.master().output();
  EXPECT_TRUE(sleeper.running()) << cluster_.master().output();
  EXPECT_FALSE(exec.wait(0s).has_value()) << exec.output();
  // The task's end still reaches exec, which exits with its status.
  sleeper.signal(SIGTERM);
  auto code = exec.wait(20s);
  ASSERT_TRUE(code.has_value()) << exec.output();
  // The task's shell died of the SIGTERM: TASK_FAILED with exit code 143, which exec returns.
  EXPECT_EQ(*code, 143) << exec.output();
  EXPECT_NE(exec.output().find("TASK_FAILED"), std::string::npos) << exec.output();
}

// A task whose framework went away while its agent was down is killed when the agent comes
// back with it, instead of running unmanaged and being listed as running forever.
TEST_F(ClusterTest, ATaskOfAFrameworkThatIsGoneIsKilledWhenItsAgentComesBack) {
  ASSERT_TRUE(cluster_.start_master());
  ASSERT_TRUE(cluster_.start_agent(0));
  Sleeper sleeper;
  {
    TestFramework framework(cluster_.endpoint(), framework_info("short-lived", 0));
    ASSERT_TRUE(framework.subscribed());
    launch_when_offered(framework, {command_task("orphan", sleeper.command())});
    ASSERT_TRUE(framework.wait_for_state("orphan", state::kRunning));
    // The agent dies (its task lives on in its own process group), then the framework ends.
    cluster_.agent(0).signal(SIGKILL);
    ASSERT_TRUE(cluster_.agent(0).wait().has_value());
    cluster_.drop_agent(0);
    framework.client().teardown();
    ASSERT_TRUE(cluster_.master().wait_for("tore itself down", 10s)) << cluster_.master().output();
  }
  ASSERT_TRUE(cluster_.start_agent(0)) << cluster_.master().output();
  ASSERT_TRUE(cluster_.master().wait_for("killing task 'orphan' on agent", 10s))
      << cluster_.master().output();
  EXPECT_TRUE(tessera::testing::eventually([&] { return !sleeper.running(); }))
      << cluster_.agent(0).output();
  // And the master no longer lists it as running.
  auto listed_running = [&] {
    auto [code, out] = tessera::testing::run(
        {TESSERA_CLI_BIN, "tasks", "--json", "--master", cluster_.endpoint()}, dir_ / "tasks.log");
    EXPECT_EQ(code, 0) << out;
    if (code != 0) return true;
    boost::json::value listing = boost::json::parse(out);
    for (const auto& t : listing.at("tasks").as_array()) {
      if (t.at("id").as_string() == "orphan" && t.at("state").as_string() == state::kRunning) {
        return true;
      }
    }
    return false;
  };
  EXPECT_TRUE(tessera::testing::eventually([&] { return !listed_running(); }))
      << cluster_.master().output();
}

TEST_F(ClusterTest, RemovedAgentStaysRemovedAcrossAMasterRestart) {
  ASSERT_TRUE(cluster_.start_master());
  ASSERT_TRUE(cluster_.start_agent(0));
  cluster_.agent(0).signal(SIGKILL);
  ASSERT_TRUE(cluster_.agent(0).wait().has_value());
  cluster_.drop_agent(0);
  ASSERT_TRUE(cluster_.master().wait_for("recorded as removed in the registry", 10s))
      << cluster_.master().output();
  ASSERT_TRUE(cluster_.restart_master());
  EXPECT_NE(cluster_.master().output().find(", 1 removed agent(s)"), std::string::npos)
      << cluster_.master().output();
  // Back with its old id, it is told to shut down; it then joins as a new agent.
  ASSERT_TRUE(cluster_.start_agent(0)) << cluster_.master().output();
  EXPECT_NE(
      cluster_.master().output().find("was removed from the cluster; telling it to shut down"),
      std::string::npos)
      << cluster_.master().output();
}

TEST_F(ClusterTest, CliExecRunsACommandAndListsItWithTheRealMaster) {
  ASSERT_TRUE(cluster_.start_master());
  ASSERT_TRUE(cluster_.start_agent(0));
  auto [ok_code, ok_output] =
      tessera::testing::run({TESSERA_CLI_BIN, "exec", "--master", cluster_.endpoint(), "--cpus",
                             "0.2", "--mem", "32", "--", "echo hello from the cli"},
                            dir_ / "exec-ok.log");
  EXPECT_EQ(ok_code, 0) << ok_output;
  EXPECT_NE(ok_output.find("TASK_RUNNING"), std::string::npos) << ok_output;
  EXPECT_NE(ok_output.find("TASK_FINISHED"), std::string::npos) << ok_output;
  auto [fail_code, fail_output] = tessera::testing::run(
      {TESSERA_CLI_BIN, "exec", "--master", cluster_.endpoint(), "--", "exit 3"},
      dir_ / "exec-fail.log");
  EXPECT_EQ(fail_code, 3) << fail_output;
  EXPECT_NE(fail_output.find("TASK_FAILED"), std::string::npos) << fail_output;
  // The task's output went to its sandbox on the agent.
  EXPECT_EQ(std::system(("grep -rqs 'hello from the cli' " + (dir_ / "agent0").string()).c_str()),
            0);

  auto [list_code, listing] = tessera::testing::run(
      {TESSERA_CLI_BIN, "tasks", "--json", "--master", cluster_.endpoint()}, dir_ / "tasks.log");
  EXPECT_EQ(list_code, 0) << listing;
  EXPECT_NE(listing.find("TASK_FINISHED"), std::string::npos) << listing;
  EXPECT_NE(listing.find("TASK_FAILED"), std::string::npos) << listing;
  auto [agents_code, agents] = tessera::testing::run(
      {TESSERA_CLI_BIN, "agents", "--master", cluster_.endpoint()}, dir_ / "agents.log");
  EXPECT_EQ(agents_code, 0) << agents;
  EXPECT_NE(agents.find("agent0"), std::string::npos) << agents;
}

// A task bigger than its role's quota waits, and `exec` says the quota is why: the offers it
// gets are cut to the quota, so "short of cpus" alone would send the user looking for a bigger
// agent.
TEST_F(ClusterTest, CliExecHeldBackByItsRolesQuotaSaysSo) {
  ASSERT_TRUE(cluster_.start_master());
  ASSERT_TRUE(cluster_.start_agent(0));
  auto [role_code, role_output] =
      tessera::testing::run({TESSERA_CLI_BIN, "roles", "update", "batch", "--master",
                             cluster_.endpoint(), "--quota", "cpus:0.5"},
                            dir_ / "roles.log");
  ASSERT_EQ(role_code, 0) << role_output;
  auto [code, output] =
      tessera::testing::run({TESSERA_CLI_BIN, "exec", "--master", cluster_.endpoint(), "--role",
                             "batch", "--cpus", "1", "--mem", "32", "--timeout", "5", "--", "true"},
                            dir_ / "exec.log");
  EXPECT_EQ(code, 124) << output;
  EXPECT_NE(output.find("role 'batch''s quota leaves too little cpus (quota 0.5, 0 in use, 1 "
                        "needed)"),
            std::string::npos)
      << output;
}

}  // namespace

namespace {

TEST_F(ClusterTest, OffersCarryAgentAttributesAndImplicitReconciliationReportsEveryTask) {
  ASSERT_TRUE(cluster_.start_master());
  tessera::testing::AgentSettings rack;
  rack.extra = "attributes = { rack = \"r7\", zone = \"east\" }";
  ASSERT_TRUE(cluster_.start_agent(0, rack));
  TestFramework framework(cluster_.endpoint(), framework_info("reconciler"));
  ASSERT_TRUE(framework.subscribed());
  ASSERT_TRUE(framework.run_until([&] { return !framework.offers_received().empty(); }));
  std::map<std::string, std::string> attributes;
  for (const auto& a : framework.offers_received().front().attributes) attributes[a.name] = a.value;
  EXPECT_EQ(attributes["rack"], "r7");
  EXPECT_EQ(attributes["zone"], "east");

  Sleeper one, two;
  launch_when_offered(framework,
                      {command_task("one", one.command()), command_task("two", two.command())});
  ASSERT_TRUE(framework.wait_for_state("one", state::kRunning));
  ASSERT_TRUE(framework.wait_for_state("two", state::kRunning));
  size_t before = framework.all_updates().size();
  framework.client().reconcile();  // implicit: every task the master knows for this framework
  ASSERT_TRUE(framework.run_until([&] {
    return reconciled(framework, before, state::kRunning).size() == 2;
  })) << reconciled(framework, before, state::kRunning).size();
  // Explicitly asking about a task nobody launched gets a definite answer.
  framework.client().reconcile({{"never-launched", ""}});
  ASSERT_TRUE(framework.wait_for_state("never-launched", state::kUnknown));
}

}  // namespace

namespace {

TEST_F(ClusterTest, AgentRemovalsAreRateLimited) {
  tessera::testing::MasterSettings settings;
  settings.extra = "agent_removals_per_minute = 1";
  ASSERT_TRUE(cluster_.start_master(settings));
  ASSERT_TRUE(cluster_.start_agent(0));
  ASSERT_TRUE(cluster_.start_agent(1));
  for (size_t i : {0, 1}) {
    cluster_.agent(i).signal(SIGKILL);
    ASSERT_TRUE(cluster_.agent(i).wait().has_value());
    cluster_.drop_agent(i);
  }
  // Both become unreachable; one is removed, the other waits for the next minute. The master
  // looks again at every ping interval and says so each time: a second such line is a later
  // look that did not remove it either.
  ASSERT_TRUE(cluster_.master().wait_for("removing agent", 10s)) << cluster_.master().output();
  ASSERT_TRUE(
      cluster_.master().wait_for_count("agent removals are rate-limited (1 per minute)", 2, 10s))
      << cluster_.master().output();
  EXPECT_EQ(cluster_.master().count("removing agent"), 1u) << cluster_.master().output();
}

}  // namespace

namespace {

// Sends SIGCONT to a process stopped with SIGSTOP when it goes out of scope, so that a failing
// assertion does not leave it stopped (a stopped process does not act on SIGTERM).
class ContinueAtEnd {
 public:
  explicit ContinueAtEnd(tessera::testing::Process& process) : process_(process) {}
  ~ContinueAtEnd() { process_.signal(SIGCONT); }
  ContinueAtEnd(const ContinueAtEnd&) = delete;
  ContinueAtEnd& operator=(const ContinueAtEnd&) = delete;

 private:
  tessera::testing::Process& process_;
};

// An offer the framework holds is rescinded when its agent goes silent, and accepting it after
// that launches nothing: the tasks get TASK_ERROR with REASON_INVALID_OFFERS.
TEST_F(ClusterTest, OffersOfAnUnreachableAgentAreRescindedAndCannotBeAccepted) {
  ASSERT_TRUE(cluster_.start_master());
  ASSERT_TRUE(cluster_.start_agent(0));
  TestFramework framework(cluster_.endpoint(), framework_info("holder"));
  // Set before the loop first runs, so that no offer is declined by the default handler.
  framework.on_offer = [](const Offer&) {};  // held: neither accepted nor declined
  ASSERT_TRUE(framework.subscribed());
  ASSERT_TRUE(framework.run_until([&] { return !framework.offers_received().empty(); }));
  const Offer held = framework.offers_received().front();

  // Stopped, the agent is alive but answers no ping: unreachable after the ping timeout.
  cluster_.agent(0).signal(SIGSTOP);
  ContinueAtEnd resume(cluster_.agent(0));
  ASSERT_TRUE(framework.run_until(
      [&] {
        const auto& r = framework.rescinded();
        return std::find(r.begin(), r.end(), held.offer_id) != r.end();
      },
      20s))
      << framework.rescinded().size() << " rescinded\n"
      << cluster_.master().output();
  EXPECT_TRUE(framework.errors().empty());

  framework.client().accept({held.offer_id}, {command_task("too-late", "true")});
  ASSERT_TRUE(framework.wait_for_state("too-late", state::kError)) << cluster_.master().output();
  EXPECT_EQ(framework.last("too-late").reason, reason::kInvalidOffers);
  EXPECT_NE(framework.last("too-late").message.find("'" + held.offer_id + "'"), std::string::npos)
      << framework.last("too-late").message;
  EXPECT_FALSE(framework.saw("too-late", state::kRunning));
}

// A decline's refuse filter keeps the declined agent from the framework for as long as it
// asked: the other agent, declined without a filter, is offered again and again meanwhile,
// and every one of those allocation cycles passed the filtered agent over. A revive clears the
// filter; a short filter ends by itself.
TEST_F(ClusterTest, ADeclinedAgentIsNotOfferedAgainUntilTheRefuseFilterEndsOrARevive) {
  ASSERT_TRUE(cluster_.start_master());
  ASSERT_TRUE(cluster_.start_agent(0));
  ASSERT_TRUE(cluster_.start_agent(1));
  TestFramework framework(cluster_.endpoint(), framework_info("picky"));

  double refuse_agent0 = 3600;        // the filter the next decline of agent0 asks for
  std::optional<size_t> filtered_at;  // offers_received() index of that decline
  std::optional<std::chrono::steady_clock::time_point> declined_at;
  framework.on_offer = [&](const Offer& offer) {
    if (offer.hostname == "agent0" && !filtered_at) {
      filtered_at = framework.offers_received().size();
      declined_at = std::chrono::steady_clock::now();
      framework.client().decline({offer.offer_id}, refuse_agent0);
    } else {
      framework.client().decline({offer.offer_id}, 0);
    }
  };
  ASSERT_TRUE(framework.subscribed());
  auto offers_of = [&](const std::string& host, size_t from) {
    size_t n = 0;
    for (size_t i = from; i < framework.offers_received().size(); ++i) {
      n += framework.offers_received()[i].hostname == host;
    }
    return n;
  };

  // An hour's filter: agent1 comes back five times (each its own allocation cycle), agent0
  // never.
  ASSERT_TRUE(framework.run_until([&] {
    return filtered_at && offers_of("agent1", *filtered_at) >= 5;
  })) << cluster_.master().output();
  EXPECT_EQ(offers_of("agent0", *filtered_at), 0u) << "offered again despite the refuse filter";

  // A revive clears it. (The handler declines everything without a filter from now on.)
  size_t revived_at = framework.offers_received().size();
  framework.client().revive();
  ASSERT_TRUE(framework.run_until([&] { return offers_of("agent0", revived_at) >= 1; }))
      << cluster_.master().output();

  // A one-second filter ends by itself, not before its second is over.
  refuse_agent0 = 1;
  filtered_at.reset();
  ASSERT_TRUE(framework.run_until([&] {
    return filtered_at && offers_of("agent0", *filtered_at) >= 1;
  })) << cluster_.master().output();
  EXPECT_GE(std::chrono::steady_clock::now() - *declined_at, 1s);
}

// Status updates are at-least-once: with the framework's acknowledgements cut off, the agent
// resends the update in flight with the same uuid, and holds back the next one (one in flight
// per task) although the task has long ended. Acknowledged, each next update follows.
TEST_F(ClusterTest, AnUnacknowledgedUpdateIsResentWithItsUuidUntilTheFrameworkAcknowledgesIt) {
  ASSERT_TRUE(cluster_.start_master());
  tessera::testing::AgentSettings fast_resends;
  fast_resends.extra = "status_update_retry_ms = 100\nstatus_update_retry_max_ms = 400";
  ASSERT_TRUE(cluster_.start_agent(0, fast_resends));
  tessera::sdk::SchedulerOptions no_acks;
  no_acks.auto_acknowledge = false;
  TestFramework framework(cluster_.endpoint(), framework_info("forgetful", 60), no_acks);
  ASSERT_TRUE(framework.subscribed());
  launch_when_offered(framework, {command_task("resent", "true")});

  ASSERT_TRUE(framework.run_until([&] { return framework.updates("resent").size() >= 3; }))
      << cluster_.agent(0).output();
  const auto first = framework.updates("resent").front();
  EXPECT_FALSE(first.uuid.empty());
  for (const auto& update : framework.updates("resent")) {
    EXPECT_EQ(update.state, state::kStarting);
    EXPECT_EQ(update.uuid, first.uuid);
  }

  // Acknowledging each new update as it comes lets the rest through, in order.
  std::set<std::string> acknowledged;
  auto acknowledge_new = [&] {
    for (const auto& update : framework.updates("resent")) {
      if (acknowledged.insert(update.uuid).second) framework.client().acknowledge(update);
    }
  };
  ASSERT_TRUE(framework.run_until([&] {
    acknowledge_new();
    return framework.saw("resent", state::kFinished);
  })) << cluster_.agent(0).output();
  acknowledge_new();
  std::vector<std::string> order;
  std::set<std::string> uuids;
  for (const auto& update : framework.updates("resent")) {
    if (order.empty() || order.back() != update.state) order.push_back(update.state);
    uuids.insert(update.uuid);
  }
  EXPECT_EQ(order, (std::vector<std::string>{state::kStarting, state::kRunning, state::kFinished}));
  EXPECT_EQ(uuids.size(), 3u) << "one uuid per update, kept across its resends";
  EXPECT_EQ(framework.last("resent").exit_code, 0);
}

// The pid the agent logged for a task ("... runs in container 'C' (pid N)").
pid_t task_pid(const std::string& agent_log, const std::string& task_id) {
  std::smatch m;
  std::regex line("task '" + task_id +
                  "' of framework '[^']*' runs in container '[^']*' \\(pid (\\d+)\\)");
  if (!std::regex_search(agent_log, m, line)) return 0;
  return static_cast<pid_t>(std::stol(m[1]));
}

// kill -9 of an agent does not touch its tasks. Restarted on the same work dir, the agent
// re-attaches to them (the same processes: same pid, same start time), the master and the
// framework see them run on, and their ends are reported: a kill as TASK_KILLED, and a task
// that ends by itself with its real status (its supervisor, which outlived the agent, recorded
// it), here TASK_FINISHED.
TEST_F(ClusterTest, AnAgentKilledAndRestartedReattachesToItsRunningTasks) {
  tessera::testing::MasterSettings patient;
  // The restart must not look like a lost agent, however slow the machine.
  patient.agent_ping_timeout_ms = 30000;
  patient.agent_removal_timeout_ms = 60000;
  ASSERT_TRUE(cluster_.start_master(patient));
  ASSERT_TRUE(cluster_.start_agent(0));
  TestFramework framework(cluster_.endpoint(), framework_info("steady", 60));
  ASSERT_TRUE(framework.subscribed());
  Sleeper sleeper;
  const auto go = dir_ / "go";
  launch_when_offered(framework, {command_task("kept", sleeper.command()),
                                  command_task("ends", "while [ ! -e '" + go.string() +
                                                           "' ]; do sleep 0.05; done")});
  ASSERT_TRUE(framework.wait_for_state("kept", state::kRunning)) << cluster_.agent(0).output();
  ASSERT_TRUE(framework.wait_for_state("ends", state::kRunning)) << cluster_.agent(0).output();
  std::map<std::string, pid_t> pids;
  std::map<std::string, uint64_t> started;
  for (const char* id : {"kept", "ends"}) {
    pids[id] = task_pid(cluster_.agent(0).output(), id);
    ASSERT_GT(pids[id], 0) << cluster_.agent(0).output();
    auto stat = tessera::testing::process_stat(pids[id]);
    ASSERT_TRUE(stat.has_value());
    started[id] = stat->start_time;
  }

  cluster_.agent(0).signal(SIGKILL);
  ASSERT_TRUE(cluster_.agent(0).wait().has_value());
  for (const char* id : {"kept", "ends"}) {
    EXPECT_TRUE(tessera::testing::process_alive(pids[id])) << id << " died with its agent";
  }
  size_t updates_before = framework.all_updates().size();
  ASSERT_TRUE(cluster_.start_agent(0)) << cluster_.master().output();
  ASSERT_TRUE(cluster_.agent(0).wait_for("agent: reattached to task 'kept'"))
      << cluster_.agent(0).output();
  ASSERT_TRUE(cluster_.agent(0).wait_for("agent: reattached to task 'ends'"))
      << cluster_.agent(0).output();
  EXPECT_NE(cluster_.master().output().find("re-registered agent"), std::string::npos)
      << cluster_.master().output();
  for (const char* id : {"kept", "ends"}) {
    auto stat = tessera::testing::process_stat(pids[id]);
    ASSERT_TRUE(stat && stat->state != 'Z') << id << " is gone";
    EXPECT_EQ(stat->start_time, started[id]) << id << ": another process took its pid";
  }
  // The master still has both running: asked, it says so (these answers come after anything
  // the restart made it send).
  framework.client().reconcile({{"kept", ""}, {"ends", ""}});
  ASSERT_TRUE(framework.run_until([&] {
    return reconciled(framework, updates_before, state::kRunning).size() == 2;
  })) << cluster_.master().output();
  for (size_t i = updates_before; i < framework.all_updates().size(); ++i) {
    const auto& u = framework.all_updates()[i];
    EXPECT_EQ(u.state, state::kRunning) << u.task_id << " " << u.reason << " " << u.message;
  }

  // The re-attached tasks are the new agent's to kill and to report.
  framework.client().kill("kept", framework.last("kept").agent_id);
  ASSERT_TRUE(framework.wait_for_state("kept", state::kKilled)) << cluster_.agent(0).output();
  EXPECT_TRUE(
      tessera::testing::eventually([&] { return !tessera::testing::process_alive(pids["kept"]); }));
  std::ofstream(go) << "go\n";
  ASSERT_TRUE(framework.run_until([&] { return state::terminal(framework.state("ends")); }))
      << cluster_.agent(0).output();
  EXPECT_EQ(framework.state("ends"), state::kFinished) << framework.last("ends").message;
  EXPECT_EQ(framework.last("ends").message, "exited with status 0");
  EXPECT_FALSE(tessera::testing::process_alive(pids["ends"]));
}

}  // namespace

// tessera-host raises its soft descriptor limit to the hard one (a master holds a connection per
// agent); its tasks must not inherit that: they get the limit the host was started with.
TEST_F(ClusterTest, TasksGetTheDescriptorLimitTheAgentWasStartedWithNotItsRaisedOne) {
  rlimit mine{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &mine), 0);
  if (mine.rlim_max <= 1024) GTEST_SKIP() << "the hard descriptor limit is " << mine.rlim_max;
  // The hosts started below inherit a soft limit of 420, below their hard limit.
  rlimit lowered = mine;
  lowered.rlim_cur = 420;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &lowered), 0);
  bool started = cluster_.start_master() && cluster_.start_agent(0);
  ::setrlimit(RLIMIT_NOFILE, &mine);
  ASSERT_TRUE(started);
  TestFramework framework(cluster_.endpoint(), framework_info("nofile"));
  ASSERT_TRUE(framework.subscribed());
  // Its exit status says what `ulimit -n` showed it: 420 - 400.
  launch_when_offered(framework, {command_task("limit", "exit $(( $(ulimit -n) - 400 ))")});
  ASSERT_TRUE(framework.wait_for_state("limit", state::kFailed)) << cluster_.agent(0).output();
  EXPECT_EQ(framework.last("limit").exit_code, 20)
      << "the task's soft limit was not 420: " << framework.last("limit").message;
}

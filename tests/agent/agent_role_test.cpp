// The agent role in an in-process node (roles = ["agent"]) with the real leader_standalone and
// isolator_posix plugins, talking over tcp to a test double of the master that the test runs on
// its own thread and ZeroMQ context. The double speaks protocol/agent.h: it answers
// agent.register, records what the agent sends, and acknowledges, pings, runs and kills only
// when a test says so. The real master's end-to-end tests are elsewhere.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <zmq.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <functional>
#include <set>

#include "agent/checkpoint.h"
#include "fake_master.h"
#include "support/node.h"
#include "tessera/protocol/agent.h"
#include "tessera/protocol/isolator.h"

namespace {

namespace agentp = tessera::protocol::agent;
namespace state = tessera::protocol::state;
using tessera::protocol::TaskInfo;
using tessera::protocol::TaskStatus;
using tessera::testing::FakeMaster;
using tessera::testing::InProcessNode;
using tessera::testing::shell_task;
using tessera::testing::TempDir;
using namespace std::chrono_literals;

class AgentRoleTest : public ::testing::Test {
 protected:
  std::string toml(bool kill_on_stop) const {
    return "roles = [\"agent\"]\nleader = \"leader_standalone\"\n"
           "[agent]\nisolators = [\"isolator_posix\"" +
           std::string(with_cgroups ? ", \"isolator_cgroups\"" : "") + more_isolators + "]\n" +
           more_agent_keys +
           "resources = \"cpus:2;mem:512;gpus:1;ports:[31000-31009]\"\n"
           "hostname = \"agent-host\"\nstatus_update_retry_ms = 300\nregistration_retry_ms = 50\n"
           "[agent.attributes]\nrack = \"r1\"\n"
           "[plugins.leader_standalone]\nmaster = \"" +
           master.endpoint +
           "\"\n[plugins.isolator_posix]\nkill_on_stop = " + (kill_on_stop ? "true" : "false") +
           "\ndefault_grace_seconds = 1\n" +
           (with_cgroups ? "[plugins.isolator_cgroups]\nparent = \"" + cgroup_parent + "\"\n"
                         : std::string());
  }

  void start_agent(bool kill_on_stop = true) {
    node = std::make_unique<InProcessNode>(dir, toml(kill_on_stop), "node", /*run_roles=*/true);
    auto started = node->start();
    ASSERT_TRUE(started.ok()) << started.error().message;
  }

  void register_agent() {
    size_t before = master.registers.size();
    ASSERT_TRUE(master.wait([&] { return master.registers.size() > before; }))
        << "the agent never registered";
  }

  std::filesystem::path agent_dir() const { return dir / "work-node" / "agent"; }

  // The agent's task checkpoints, read without disturbing the running agent.
  std::vector<tessera::host::agent::TaskCheckpoint> checkpoints() const {
    return tessera::host::agent::Checkpoint::inspect(agent_dir()).tasks;
  }
  bool checkpointed(const std::string& task_id) const {
    for (const auto& t : checkpoints()) {
      if (t.task.task_id == task_id) return true;
    }
    return false;
  }

  // The pids the agent checkpointed for its tasks, remembered for the tear-down.
  std::map<std::string, int64_t> checkpointed_pids() {
    std::map<std::string, int64_t> out;
    for (const auto& t : checkpoints()) {
      out[t.task.task_id] = t.pid;
      if (t.pid > 0) pids.insert(t.pid);
    }
    return out;
  }

  void TearDown() override {
    node.reset();
    for (int64_t pid : pids) {
      ::kill(-static_cast<pid_t>(pid), SIGKILL);
      ::waitpid(static_cast<pid_t>(pid), nullptr, WNOHANG);
    }
  }

  // The task cgroups left under the test's parent, in any hierarchy.
  std::vector<std::filesystem::path> task_cgroups() const {
    std::vector<std::filesystem::path> out;
    std::error_code ec;
    for (const auto& hierarchy : std::filesystem::directory_iterator("/sys/fs/cgroup", ec)) {
      for (const auto& agent :
           std::filesystem::directory_iterator(hierarchy.path() / cgroup_parent, ec)) {
        for (const auto& task : std::filesystem::directory_iterator(agent.path(), ec)) {
          if (task.is_directory()) out.push_back(task.path());
        }
      }
    }
    return out;
  }

  TempDir dir;
  FakeMaster master;
  std::unique_ptr<InProcessNode> node;
  std::set<int64_t> pids;
  bool with_cgroups = false;
  std::string more_isolators;   // appended to [agent] isolators, e.g. ", \"fixture_...\""
  std::string more_agent_keys;  // more lines of [agent]
  std::string cgroup_parent = "tessera-agent-test-" + std::to_string(::getpid());
};

TEST_F(AgentRoleTest, RegistersWithItsResourcesAndAttributesAndPersistsItsId) {
  start_agent();
  register_agent();
  const agentp::Register& r = master.registers.front();
  EXPECT_EQ(r.agent_id, "");
  EXPECT_EQ(r.hostname, "agent-host");
  EXPECT_DOUBLE_EQ(r.resources.scalar("cpus"), 2);
  EXPECT_DOUBLE_EQ(r.resources.scalar("mem"), 512);
  EXPECT_DOUBLE_EQ(r.resources.scalar("gpus"), 1);
  EXPECT_DOUBLE_EQ(r.resources.scalar("disk"), 10240);  // the default for what is not named
  ASSERT_EQ(r.resources.ranges.count("ports"), 1u);
  EXPECT_EQ(r.resources.ranges.at("ports"),
            (std::vector<tessera::protocol::Range>{{31000, 31009}}));
  ASSERT_EQ(r.attributes.size(), 1u);
  EXPECT_EQ(r.attributes[0].name, "rack");
  EXPECT_EQ(r.attributes[0].value, "r1");
  EXPECT_TRUE(r.tasks.empty());
  ASSERT_TRUE(master.wait([&] { return std::filesystem::exists(agent_dir() / "agent_id"); }));
  EXPECT_EQ(tessera::testing::read_file(agent_dir() / "agent_id"), "agent-1\n");
}

TEST_F(AgentRoleTest, RetriesRegistrationUntilTheMasterAnswers) {
  master.answer_registrations = false;
  start_agent();
  // 50 ms doubling: several attempts in a second.
  ASSERT_TRUE(master.wait([&] { return master.registers.size() >= 3; }, 5s));
  master.answer_registrations = true;
  size_t before = master.registers.size();
  ASSERT_TRUE(master.wait([&] { return std::filesystem::exists(agent_dir() / "agent_id"); }));
  size_t answered = master.registers.size();
  ASSERT_LE(answered, before + 1);
  // Registered: no more attempts. The delay doubles, so an unanswered agent would try again at
  // most twice the last gap after its last attempt; serve four times that gap, then a ping
  // round trip brings in whatever the agent sent before it.
  auto gap = master.register_times[answered - 1] - master.register_times[answered - 2];
  master.serve_for(std::chrono::ceil<std::chrono::milliseconds>(4 * gap));
  ASSERT_TRUE(master.round_trip());
  EXPECT_EQ(master.registers.size(), answered);
}

TEST_F(AgentRoleTest, FailedTaskReportsInOrderOnlyAfterAcksAndResendsWhatIsNotAcked) {
  start_agent();
  register_agent();
  TaskInfo task = shell_task("t1",
                             "echo hi; echo PORT0=$PORT0 PORTS=$PORTS TASK_ID=$TASK_ID "
                             "FW=$TESSERA_FRAMEWORK_ID HOST=$HOST; exit 3");
  task.resources.ranges["ports"] = {{31003, 31004}};
  master.push(agentp::RunTask{"fw1", task});

  ASSERT_TRUE(master.wait([&] { return master.of("t1").size() >= 1; }));
  TaskStatus starting = master.of("t1")[0];
  EXPECT_EQ(starting.state, state::kStarting);
  EXPECT_EQ(starting.agent_id, "agent-1");
  EXPECT_EQ(starting.framework_id, "fw1");
  EXPECT_EQ(starting.uuid.size(), 32u);
  // Not acknowledged: resent (300 ms, then 600 ms), and nothing after it is sent meanwhile,
  // although the task has long exited.
  ASSERT_TRUE(master.wait([&] { return master.of("t1").size() >= 3; }, 5s));
  for (const auto& u : master.of("t1")) {
    EXPECT_EQ(u.state, state::kStarting);
    EXPECT_EQ(u.uuid, starting.uuid);
  }
  master.ack(starting);
  ASSERT_TRUE(master.wait([&] { return master.reached("t1", state::kRunning); }));
  TaskStatus running = *master.last("t1");
  EXPECT_EQ(running.state, state::kRunning);
  EXPECT_NE(running.uuid, starting.uuid);
  // A duplicate acknowledgement of the old update changes nothing: RUNNING is resent as is.
  master.ack(starting);
  size_t seen = master.of("t1").size();
  ASSERT_TRUE(master.wait([&] { return master.of("t1").size() > seen; }, 5s));
  EXPECT_EQ(master.last("t1")->uuid, running.uuid);
  master.ack(running);
  ASSERT_TRUE(master.wait([&] { return master.reached("t1", state::kFailed); }));
  TaskStatus failed = *master.last("t1");
  EXPECT_EQ(failed.exit_code, 3);
  EXPECT_EQ(failed.message, "exited with status 3");
  EXPECT_EQ(failed.reason, "REASON_COMMAND_EXECUTOR_FAILED");
  EXPECT_EQ(failed.source, "SOURCE_EXECUTOR");
  // In order, each state once per uuid.
  std::vector<std::string> order;
  for (const auto& u : master.of("t1")) {
    if (order.empty() || order.back() != u.state) order.push_back(u.state);
  }
  EXPECT_EQ(order, (std::vector<std::string>{state::kStarting, state::kRunning, state::kFailed}));

  // The checkpoint stays until the terminal update is acknowledged, the sandbox stays after.
  EXPECT_TRUE(checkpointed("t1"));
  master.ack(failed);
  ASSERT_TRUE(master.wait([&] { return !checkpointed("t1"); }));
  auto sandboxes = agent_dir() / "sandboxes" / "fw1" / "t1";
  ASSERT_TRUE(std::filesystem::is_directory(sandboxes));
  std::string out;
  for (const auto& c : std::filesystem::directory_iterator(sandboxes)) {
    out += tessera::testing::read_file(c.path() / "stdout");
  }
  EXPECT_NE(out.find("hi\n"), std::string::npos) << out;
  EXPECT_NE(out.find("PORT0=31003 PORTS=31003,31004 TASK_ID=t1 FW=fw1 HOST=agent-host"),
            std::string::npos)
      << out;
}

TEST_F(AgentRoleTest, KillReportsKillingThenKilled) {
  master.auto_ack = true;
  start_agent();
  register_agent();
  master.push(agentp::RunTask{"fw1", shell_task("sleeper", "sleep 30")});
  ASSERT_TRUE(master.wait([&] { return master.reached("sleeper", state::kRunning); }));
  checkpointed_pids();
  master.push(agentp::KillTask{"fw1", "sleeper"});
  ASSERT_TRUE(master.wait([&] { return master.reached("sleeper", state::kKilled); }));
  std::vector<std::string> order;
  for (const auto& u : master.of("sleeper")) order.push_back(u.state);
  EXPECT_EQ(order, (std::vector<std::string>{state::kStarting, state::kRunning, state::kKilling,
                                             state::kKilled}));
  EXPECT_EQ(master.last("sleeper")->message, "killed by signal 15");

  // A kill of a task the agent does not know is answered, so the framework learns.
  master.push(agentp::KillTask{"fw1", "nobody"});
  ASSERT_TRUE(master.wait([&] { return master.last("nobody").has_value(); }));
  EXPECT_EQ(master.last("nobody")->state, state::kLost);
  EXPECT_EQ(master.last("nobody")->reason, "REASON_TASK_UNKNOWN");
}

TEST_F(AgentRoleTest, InvalidTaskIsReportedAsError) {
  master.auto_ack = true;
  start_agent();
  register_agent();
  master.push(agentp::RunTask{"fw1", shell_task("empty", "")});
  ASSERT_TRUE(master.wait([&] { return master.last("empty").has_value(); }));
  EXPECT_EQ(master.last("empty")->state, state::kError);
  EXPECT_EQ(master.last("empty")->reason, "REASON_TASK_INVALID");
  ASSERT_TRUE(master.wait([&] { return !checkpointed("empty"); }));
}

TEST_F(AgentRoleTest, AnswersPingsAndReregistersWhenThePingsStop) {
  master.ping_interval_seconds = 0.2;
  start_agent();
  register_agent();
  master.push(agentp::Ping{7});
  ASSERT_TRUE(master.wait([&] { return !master.pongs.empty(); }));
  EXPECT_EQ(master.pongs[0].agent_id, "agent-1");
  EXPECT_EQ(master.pongs[0].sequence, 7u);
  // No ping for 3 intervals (at least 1 s): the agent registers again, with its id.
  size_t before = master.registers.size();
  ASSERT_TRUE(master.wait([&] { return master.registers.size() > before; }, 5s));
  EXPECT_EQ(master.registers.back().agent_id, "agent-1");
}

TEST_F(AgentRoleTest, RestartKeepsTheIdReattachesLiveTasksAndReportsTheDeadOnes) {
  master.auto_ack = true;
  start_agent(/*kill_on_stop=*/false);
  register_agent();
  master.push(agentp::RunTask{"fw1", shell_task("alive", "sleep 30")});
  master.push(agentp::RunTask{"fw1", shell_task("dead", "sleep 30")});
  ASSERT_TRUE(master.wait([&] {
    return master.reached("alive", state::kRunning) && master.reached("dead", state::kRunning);
  }));
  // Every update acknowledged (auto_ack): wait until the checkpoint holds no pending update, so
  // that the restart below has none to resend.
  ASSERT_TRUE(master.wait([&] {
    auto found = checkpoints();
    return found.size() == 2 && std::all_of(found.begin(), found.end(), [](const auto& t) {
             return t.pending.empty() && t.pid > 0;
           });
  }));
  auto task_pids = checkpointed_pids();
  ASSERT_GT(task_pids["alive"], 0);
  ASSERT_GT(task_pids["dead"], 0);
  node.reset();  // the tasks keep running (kill_on_stop = false)

  ASSERT_EQ(::kill(static_cast<pid_t>(task_pids["alive"]), 0), 0)
      << "the live task died with its agent";
  ::kill(-static_cast<pid_t>(task_pids["dead"]), SIGKILL);
  // Signals are delivered asynchronously: dead before the agent comes back and looks.
  ASSERT_TRUE(tessera::testing::eventually(
      [&] { return !tessera::testing::process_alive(static_cast<pid_t>(task_pids["dead"])); }));

  size_t before = master.registers.size();
  size_t updates_before = master.updates.size();
  start_agent(/*kill_on_stop=*/true);
  ASSERT_TRUE(master.wait([&] { return master.registers.size() > before; }));
  const agentp::Register& again = master.registers.back();
  EXPECT_EQ(again.agent_id, "agent-1");
  // Both tasks, the dead one with the state its pending update will report, so that the master
  // does not declare it lost a second time.
  ASSERT_EQ(again.tasks.size(), 2u);
  std::map<std::string, agentp::RunningTask> reported;
  for (const auto& t : again.tasks) reported[t.task.task_id] = t;
  ASSERT_EQ(reported.count("alive"), 1u);
  EXPECT_EQ(reported["alive"].framework_id, "fw1");
  EXPECT_EQ(reported["alive"].state, state::kRunning);
  EXPECT_EQ(reported["alive"].task.command.value, "sleep 30");
  // The dead one's supervisor recorded how it ended: the runtime answers it alive and its exit
  // follows, so it is running or already failed here, never lost.
  ASSERT_EQ(reported.count("dead"), 1u);
  EXPECT_TRUE(reported["dead"].state == state::kRunning || reported["dead"].state == state::kFailed)
      << reported["dead"].state;

  ASSERT_TRUE(master.wait([&] { return master.reached("dead", state::kFailed); }));
  TaskStatus failed = *master.last("dead");
  EXPECT_EQ(failed.reason, tessera::protocol::reason::kCommandExited);
  EXPECT_EQ(failed.message, "killed by signal 9");
  EXPECT_EQ(failed.agent_id, "agent-1");
  EXPECT_FALSE(master.reached("dead", state::kLost));
  for (size_t i = updates_before; i < master.updates.size(); ++i) {
    EXPECT_NE(master.updates[i].task_id, "alive")
        << "the live task changed state: " << master.updates[i].state;
  }

  // The reattached task is still the agent's: it can be killed, and its exit is seen.
  master.push(agentp::KillTask{"fw1", "alive"});
  ASSERT_TRUE(master.wait([&] { return master.reached("alive", state::kKilled); }));
  EXPECT_EQ(master.last("alive")->message, "killed by signal 15");
}

TEST_F(AgentRoleTest, UnacknowledgedUpdatesSurviveARestart) {
  start_agent();
  register_agent();
  master.push(agentp::RunTask{"fw1", shell_task("quick", "exit 0")});
  ASSERT_TRUE(master.wait([&] { return master.reached("quick", state::kStarting); }));
  TaskStatus starting = *master.last("quick");
  node.reset();

  size_t before = master.registers.size();
  size_t updates_before = master.updates.size();
  master.auto_ack = true;
  start_agent();
  ASSERT_TRUE(master.wait([&] { return master.registers.size() > before; }));
  // The same STARTING (same uuid) first, then the rest, which the checkpoint kept or the
  // agent learns from the isolator's recovery.
  ASSERT_TRUE(master.wait(
      [&] { return master.last("quick") && state::terminal(master.last("quick")->state); }));
  std::vector<TaskStatus> after;
  for (size_t i = updates_before; i < master.updates.size(); ++i) {
    if (master.updates[i].task_id == "quick") after.push_back(master.updates[i]);
  }
  ASSERT_FALSE(after.empty());
  EXPECT_EQ(after.front().uuid, starting.uuid);
  EXPECT_TRUE(after.back().state == state::kFinished || after.back().state == state::kLost)
      << after.back().state;
}

// Undoes Checkpoint::fail_writes_for_testing() whatever the test's outcome.
struct InjectedCheckpointFailure {
  explicit InjectedCheckpointFailure(int error) {
    tessera::host::agent::Checkpoint::fail_writes_for_testing(error);
  }
  ~InjectedCheckpointFailure() { tessera::host::agent::Checkpoint::fail_writes_for_testing(0); }
  InjectedCheckpointFailure(const InjectedCheckpointFailure&) = delete;
  InjectedCheckpointFailure& operator=(const InjectedCheckpointFailure&) = delete;
};

class CheckpointFailureTest : public AgentRoleTest {
 protected:
  // Runs a task that ends once the file `go` exists, and waits until its TASK_RUNNING is
  // acknowledged and that acknowledgement is on disk (nothing else left to checkpoint).
  void run_waiting_task() {
    master.auto_ack = true;
    start_agent();
    register_agent();
    master.push(agentp::RunTask{
        "fw1", shell_task("waits", "while [ ! -e '" + go.string() + "' ]; do sleep 0.02; done")});
    ASSERT_TRUE(master.wait([&] { return master.reached("waits", state::kRunning); }));
    ASSERT_TRUE(master.wait([&] {
      auto saved = checkpoints();
      return saved.size() == 1 && saved[0].state == state::kRunning && saved[0].pending.empty();
    }));
  }

  // Lets the task end while every checkpoint write fails, and waits until the agent has tried
  // (and failed) to checkpoint its exit.
  void end_task_while_the_disk_is_full() {
    uint64_t failures = tessera::host::agent::Checkpoint::failed_writes_for_testing();
    failing = std::make_unique<InjectedCheckpointFailure>(ENOSPC);
    std::ofstream(go).close();
    ASSERT_TRUE(master.wait(
        [&] { return tessera::host::agent::Checkpoint::failed_writes_for_testing() > failures; }));
  }

  size_t terminal_updates(const std::string& task) const {
    std::set<std::string> uuids;
    for (const TaskStatus& s : master.of(task)) {
      if (state::terminal(s.state)) uuids.insert(s.uuid);
    }
    return uuids.size();
  }

  std::filesystem::path go = dir / "go";
  std::unique_ptr<InjectedCheckpointFailure> failing;
};

TEST_F(CheckpointFailureTest, AnUpdateThatCannotBeCheckpointedIsHeldUntilTheCheckpointWorks) {
  run_waiting_task();
  end_task_while_the_disk_is_full();
  // The agent answers this ping after the failed commit, on the same connection: had it sent the
  // update anyway, the update would have come first.
  master.push(agentp::Ping{41});
  ASSERT_TRUE(
      master.wait([&] { return !master.pongs.empty() && master.pongs.back().sequence == 41; }));
  EXPECT_FALSE(master.reached("waits", state::kFinished))
      << "an update that is not on disk was sent";
  EXPECT_TRUE(checkpointed("waits"));

  failing.reset();  // the disk has room again
  ASSERT_TRUE(master.wait([&] { return master.reached("waits", state::kFinished); }));
  EXPECT_EQ(terminal_updates("waits"), 1u);
  // Acknowledged, so its checkpoint goes.
  EXPECT_TRUE(master.wait([&] { return !checkpointed("waits"); }));
}

TEST_F(CheckpointFailureTest, AnAgentStoppedWhileItsCheckpointFailsReportsItsLastCheckpoint) {
  run_waiting_task();
  end_task_while_the_disk_is_full();
  node.reset();
  failing.reset();

  start_agent();
  ASSERT_TRUE(master.wait([&] {
    auto last = master.last("waits");
    return last && state::terminal(last->state);
  }));
  // What the framework hears is what the disk says: the task was running, and it is gone. Never
  // a TASK_FINISHED followed by a TASK_LOST.
  EXPECT_FALSE(master.reached("waits", state::kFinished));
  EXPECT_EQ(master.last("waits")->state, state::kLost);
  EXPECT_EQ(terminal_updates("waits"), 1u);
}

// Through the agent with isolator_cgroups around isolator_posix, on real v1 or v2 cgroups:
// needs root and a writable hierarchy.
TEST_F(AgentRoleTest, ROOT_CGROUPS_ATaskBeyondItsMemoryLimitFailsWithTheMemoryReason) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to create cgroups";
  with_cgroups = true;
  master.auto_ack = true;
  node = std::make_unique<InProcessNode>(dir, toml(true), "node", /*run_roles=*/true);
  if (auto started = node->start(); !started) {
    GTEST_SKIP() << "cgroups are not usable here: " << started.error().message;
  }
  register_agent();
  // A task within its limits runs its command inside its cgroup (held until attached).
  TaskInfo small = shell_task("small", "cat /proc/self/cgroup");
  master.push(agentp::RunTask{"fw1", small});
  TaskInfo hog = shell_task("hog", "head -c 400000000 /dev/zero | tail > /dev/null");
  hog.resources.scalars["mem"] = 32;
  master.push(agentp::RunTask{"fw1", hog});
  ASSERT_TRUE(master.wait([&] { return master.reached("small", state::kFinished); }));
  ASSERT_TRUE(master.wait([&] { return master.reached("hog", state::kFailed); }));
  auto failed = master.last("hog");
  EXPECT_EQ(failed->reason, "REASON_CONTAINER_LIMITATION_MEMORY");
  EXPECT_NE(failed->message.find("memory limit"), std::string::npos) << failed->message;
  std::vector<std::string> order;
  for (const auto& u : master.of("hog")) order.push_back(u.state);
  EXPECT_EQ(order, (std::vector<std::string>{state::kStarting, state::kRunning, state::kFailed}));
  // The small task's own output names its cgroup under the agent's parent.
  std::string sandbox;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(agent_dir())) {
    if (entry.path().filename() == "stdout" &&
        entry.path().string().find("/small/") != std::string::npos) {
      sandbox = tessera::testing::read_file(entry.path());
    }
  }
  EXPECT_NE(sandbox.find(cgroup_parent), std::string::npos) << sandbox;
  // Both tasks ended: no cgroup of theirs is left.
  EXPECT_TRUE(task_cgroups().empty());
  node.reset();
  std::error_code ec;
  for (const auto& hierarchy : std::filesystem::directory_iterator("/sys/fs/cgroup", ec)) {
    ::rmdir((hierarchy.path() / cgroup_parent).c_str());
  }
}

}  // namespace

// At most max_launches_in_flight launches are under way in the isolators at once; the others
// wait, in the order their tasks came, and one killed while it waits ends without reaching any
// plugin. fixture_holding_isolator never answers the isolate of a task named "held...", so such
// a launch stays under way until the task is killed, and it lists the tasks it was asked to
// prepare.
TEST_F(AgentRoleTest, LaunchesBeyondMaxLaunchesInFlightWaitTheirTurnInOrder) {
  master.auto_ack = true;
  more_isolators = ", \"fixture_holding_isolator\"";
  more_agent_keys = "max_launches_in_flight = 2\n";
  start_agent();
  register_agent();
  for (const char* name : {"held-1", "held-2", "t3", "t4", "t5"}) {
    master.push(agentp::RunTask{"fw1", shell_task(name, "sleep 30")});
  }
  tessera::testing::TestBus bus(node->zmq_context());
  tessera::sdk::Client fixture(bus.bus, "test");
  ASSERT_TRUE(
      fixture.connect(tessera::protocol::isolator::endpoint("fixture_holding_isolator")).ok());
  // "prepared tasks|held tasks", as the fixture saw them.
  auto seen = [&] {
    auto reply = bus.call(fixture, tessera::protocol::isolator::GetUsage{"?"});
    if (!reply) return reply.error().message;
    auto body = reply->body<tessera::protocol::isolator::Failed>();
    return body ? body->message : body.error().message;
  };
  // Both held launches are under way (their isolate reached the fixture, after every prepare
  // the agent had sent before it on the same connection), and nothing else was prepared: the
  // other three wait, their containers checkpointed (TASK_STARTING).
  std::string both_held = "held-1,held-2|held-1,held-2";
  ASSERT_TRUE(tessera::testing::eventually([&] { return seen() == both_held; })) << seen();
  ASSERT_TRUE(master.wait([&] {
    return master.reached("t3", state::kStarting) && master.reached("t4", state::kStarting) &&
           master.reached("t5", state::kStarting);
  }));
  EXPECT_FALSE(master.reached("t3", state::kRunning));

  // A task killed while it waits ends at once.
  master.push(agentp::KillTask{"fw1", "t4"});
  ASSERT_TRUE(master.wait([&] { return master.reached("t4", state::kKilled); }));
  EXPECT_EQ(master.last("t4")->reason, tessera::protocol::reason::kKilledByFramework);
  EXPECT_EQ(seen(), both_held);

  // Killing a launch under way makes room: the waiting tasks launch in their order, t4 never.
  master.push(agentp::KillTask{"fw1", "held-1"});
  ASSERT_TRUE(master.wait([&] {
    return master.reached("held-1", state::kKilled) && master.reached("t3", state::kRunning) &&
           master.reached("t5", state::kRunning);
  }));
  EXPECT_EQ(seen(), "held-1,held-2,t3,t5|held-1,held-2");
}

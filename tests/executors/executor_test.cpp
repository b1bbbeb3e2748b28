// A framework's own executor on a real agent: an in-process node (roles = ["agent"]) with the real
// leader_standalone and isolator_posix, driven by the test double of the master (tests/agent),
// running test_executor (a real process built on sdk/executor.h) for tasks that name it.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <zmq.h>

#include <set>

#include "agent/checkpoint.h"
#include "fake_master.h"
#include "support/loop.h"
#include "support/node.h"
#include "tessera/protocol/executor.h"

namespace {

namespace agentp = tessera::protocol::agent;
namespace executorp = tessera::protocol::executor;
namespace state = tessera::protocol::state;
namespace reason = tessera::protocol::reason;
using tessera::protocol::TaskInfo;
using tessera::protocol::TaskStatus;
using tessera::testing::FakeMaster;
using tessera::testing::InProcessNode;
using tessera::testing::TempDir;
using namespace std::chrono_literals;

// A task for test_executor: `data` says what it does with it (see test_executor.cpp).
TaskInfo executor_task(const std::string& id, const std::string& data,
                       const std::string& executor_id = "e1",
                       const std::string& executor_command = TEST_EXECUTOR) {
  TaskInfo t = tessera::testing::shell_task(id, "");
  t.data = data;
  t.executor.executor_id = executor_id;
  t.executor.name = "test executor";
  t.executor.command.value = executor_command;
  t.executor.resources.scalars["cpus"] = 0.1;
  t.executor.resources.scalars["mem"] = 32;
  t.executor.kill_grace_seconds = 1;
  return t;
}

class ExecutorTest : public ::testing::Test {
 protected:
  std::string toml() const {
    return "roles = [\"agent\"]\nleader = \"leader_standalone\"\n"
           "[agent]\nisolators = [\"isolator_posix\"]\n"
           "resources = \"cpus:8;mem:4096\"\nhostname = \"agent-host\"\n"
           "status_update_retry_ms = 300\nregistration_retry_ms = 50\n"
           "executor_registration_timeout_seconds = " +
           std::to_string(registration_timeout_seconds) +
           "\n[plugins.leader_standalone]\nmaster = \"" + master.endpoint +
           "\"\n[plugins.isolator_posix]\nkill_on_stop = " + (kill_on_stop ? "true" : "false") +
           "\ndefault_grace_seconds = 1\n";
  }

  void start_agent() {
    node = std::make_unique<InProcessNode>(dir, toml(), "node", /*run_roles=*/true);
    auto started = node->start();
    ASSERT_TRUE(started.ok()) << started.error().message;
    size_t before = master.registers.size();
    ASSERT_TRUE(master.wait([&] { return master.registers.size() > before; }))
        << "the agent never registered";
  }

  std::filesystem::path agent_dir() const { return dir / "work-node" / "agent"; }

  // The executor processes the agent checkpointed ("FRAMEWORK #executor/ID" -> pid), remembered
  // for the tear-down.
  std::map<std::string, int64_t> executor_pids() {
    std::map<std::string, int64_t> out;
    for (const auto& t : tessera::host::agent::Checkpoint::inspect(agent_dir()).tasks) {
      if (t.task.task_id.rfind("#executor/", 0) != 0) continue;
      out[t.framework_id + " " + t.task.task_id] = t.pid;
      if (t.pid > 0) pids.insert(t.pid);
    }
    return out;
  }

  void run(const TaskInfo& task) { master.push(agentp::RunTask{"fw-1", task}); }

  bool all_reached(const std::vector<std::string>& ids, const std::string& st) {
    return master.wait([&] {
      return std::all_of(ids.begin(), ids.end(),
                         [&](const std::string& id) { return master.reached(id, st); });
    });
  }

  void TearDown() override {
    executor_pids();
    node.reset();
    for (int64_t pid : pids) {
      ::kill(-static_cast<pid_t>(pid), SIGKILL);
      ::kill(static_cast<pid_t>(pid), SIGKILL);
      ::waitpid(static_cast<pid_t>(pid), nullptr, WNOHANG);
    }
  }

  TempDir dir;
  FakeMaster master;
  std::unique_ptr<InProcessNode> node;
  std::set<int64_t> pids;
  bool kill_on_stop = true;
  int registration_timeout_seconds = 60;
};

TEST_F(ExecutorTest, RunsAHundredTasksInOneExecutorProcess) {
  master.auto_ack = true;
  start_agent();
  std::vector<std::string> ids;
  for (int i = 0; i < 100; ++i) {
    ids.push_back("t" + std::to_string(i));
    run(executor_task(ids.back(), "finish"));
  }
  ASSERT_TRUE(all_reached(ids, state::kFinished));
  std::set<std::string> processes;
  for (const std::string& id : ids) {
    auto updates = master.of(id);
    std::vector<std::string> states;
    for (const TaskStatus& u : updates) {
      states.push_back(u.state);
      if (u.state == state::kRunning) {
        processes.insert(u.message);
        EXPECT_EQ(u.source, "SOURCE_EXECUTOR");
      }
    }
    EXPECT_EQ(states, (std::vector<std::string>{state::kRunning, state::kFinished})) << id;
  }
  ASSERT_EQ(processes.size(), 1u) << "the tasks ran in more than one executor process";
  EXPECT_EQ(processes.begin()->rfind("pid ", 0), 0u);
  // Finished and acknowledged tasks leave the checkpoint; the executor stays.
  ASSERT_TRUE(master.wait(
      [&] { return tessera::host::agent::Checkpoint::inspect(agent_dir()).tasks.size() == 1; }));
  EXPECT_EQ(executor_pids().size(), 1u);
}

TEST_F(ExecutorTest, TheFrameworksExecutorsAreSeparateProcesses) {
  master.auto_ack = true;
  start_agent();
  run(executor_task("a", "run", "e1"));
  run(executor_task("b", "run", "e2"));
  ASSERT_TRUE(all_reached({"a", "b"}, state::kRunning));
  EXPECT_NE(master.last("a")->message, master.last("b")->message);
  EXPECT_EQ(executor_pids().size(), 2u);
}

TEST_F(ExecutorTest, ACrashingExecutorFailsItsUnfinishedTasks) {
  master.auto_ack = true;
  start_agent();
  run(executor_task("done", "finish"));
  run(executor_task("r1", "run"));
  run(executor_task("r2", "run"));
  ASSERT_TRUE(all_reached({"done", "r1", "r2"}, state::kRunning));
  ASSERT_TRUE(all_reached({"done"}, state::kFinished));
  run(executor_task("boom", "crash"));
  ASSERT_TRUE(all_reached({"r1", "r2", "boom"}, state::kFailed));
  for (const char* id : {"r1", "r2", "boom"}) {
    TaskStatus last = *master.last(id);
    EXPECT_EQ(last.reason, reason::kExecutorTerminated) << id;
    EXPECT_NE(last.message.find("the executor 'e1' ended: exited with status 3"), std::string::npos)
        << last.message;
  }
  // The finished task keeps its end; nothing more came for it.
  EXPECT_EQ(master.last("done")->state, state::kFinished);
  // The next task that names the executor starts a new one.
  run(executor_task("after", "finish"));
  ASSERT_TRUE(all_reached({"after"}, state::kFinished));
  EXPECT_NE(master.of("after").front().message, master.of("r1").front().message);
}

TEST_F(ExecutorTest, KillsGoThroughTheExecutor) {
  master.auto_ack = true;
  start_agent();
  run(executor_task("k", "run"));
  ASSERT_TRUE(all_reached({"k"}, state::kRunning));
  master.push(agentp::KillTask{"fw-1", "k"});
  ASSERT_TRUE(all_reached({"k"}, state::kKilled));
  EXPECT_EQ(master.last("k")->source, "SOURCE_EXECUTOR");
  EXPECT_EQ(master.last("k")->message, "killed by the test executor");
}

TEST_F(ExecutorTest, AnExecutorThatNeverRegistersIsKilledAfterTheTimeout) {
  master.auto_ack = true;
  registration_timeout_seconds = 1;
  start_agent();
  run(executor_task("w", "run", "silent", "exec sleep 600"));
  ASSERT_TRUE(all_reached({"w"}, state::kFailed));
  EXPECT_EQ(master.last("w")->reason, reason::kExecutorRegistrationTimeout);
  EXPECT_NE(master.last("w")->message.find("did not register within 1 s"), std::string::npos)
      << master.last("w")->message;
}

TEST_F(ExecutorTest, AnExecutorWithABadCommandFailsItsTask) {
  master.auto_ack = true;
  start_agent();
  run(executor_task("bad", "run", "broken", "exit 7"));
  ASSERT_TRUE(all_reached({"bad"}, state::kFailed));
  EXPECT_EQ(master.last("bad")->reason, reason::kExecutorTerminated);
  EXPECT_NE(master.last("bad")->message.find("exited with status 7"), std::string::npos);
}

TEST_F(ExecutorTest, TaskIdsOfExecutorsAreReservedAndExecutorIdsBounded) {
  master.auto_ack = true;
  start_agent();
  // The master refuses such an id; an agent given one drops it (and runs nothing).
  run(tessera::testing::shell_task("#executor/e1", "touch " + (dir / "ran").string()));
  run(executor_task("long", "run", std::string(300, 'x')));
  ASSERT_TRUE(all_reached({"long"}, state::kError));
  EXPECT_EQ(master.last("long")->reason, reason::kTaskInvalid);
  ASSERT_TRUE(master.round_trip());
  EXPECT_TRUE(master.of("#executor/e1").empty());
  EXPECT_FALSE(std::filesystem::exists(dir / "ran"));
}

// A process that is not the executor (no token, or another executor's tasks) gets nothing.
TEST_F(ExecutorTest, RefusesConnectionsThatAreNotTheExecutor) {
  master.auto_ack = true;
  start_agent();
  run(executor_task("mine", "run"));
  ASSERT_TRUE(all_reached({"mine"}, state::kRunning));

  tessera::sdk::EventLoop loop;
  void* context = zmq_ctx_new();
  {
    tessera::sdk::Bus bus{context, &loop, {}, "intruder"};
    tessera::sdk::Client intruder(bus, "intruder");
    ASSERT_TRUE(intruder.connect("ipc://" + (agent_dir() / "executors.sock").string()).ok());
    auto ask = [&](auto body) {
      std::optional<tessera::Result<tessera::Envelope>> answer;
      intruder.request(
          body, [&](tessera::Result<tessera::Envelope> r) { answer = std::move(r); }, 5s);
      EXPECT_TRUE(tessera::testing::run_until(loop, [&] { return answer.has_value(); }));
      return std::move(*answer);
    };
    auto wrong_token = ask(executorp::Register{"fw-1", "e1", "not-the-token", {}});
    ASSERT_TRUE(wrong_token.ok());
    EXPECT_TRUE(wrong_token->is<executorp::Refused>());
    auto update =
        ask(executorp::StatusUpdate{"mine", state::kFinished, "", "forged", "0123456789abcdef"});
    ASSERT_TRUE(update.ok());
    ASSERT_TRUE(update->is<executorp::Refused>());
    EXPECT_EQ(update->body<executorp::Refused>()->reason,
              "this connection is not a registered executor");
  }
  zmq_ctx_term(context);
  ASSERT_TRUE(master.round_trip());
  EXPECT_EQ(master.last("mine")->state, state::kRunning);
}

// The agent stops without killing what runs (as a crash would leave it) and starts again on its
// work dir: the executor keeps running, registers with the new agent and still takes its kills;
// no task is reported twice.
TEST_F(ExecutorTest, AnExecutorOutlivesAnAgentRestartAndRegistersAgain) {
  master.auto_ack = true;
  kill_on_stop = false;
  start_agent();
  run(executor_task("x", "run"));
  run(executor_task("y", "run"));
  ASSERT_TRUE(all_reached({"x", "y"}, state::kRunning));
  ASSERT_TRUE(master.round_trip());
  auto before = executor_pids();
  ASSERT_EQ(before.size(), 1u);
  int64_t pid = before.begin()->second;
  node.reset();
  ASSERT_EQ(::kill(static_cast<pid_t>(pid), 0), 0) << "the executor died with the agent";

  start_agent();
  const agentp::Register& again = master.registers.back();
  std::set<std::string> listed;
  for (const auto& t : again.tasks) listed.insert(t.task.task_id);
  EXPECT_EQ(listed, (std::set<std::string>{"x", "y"}));
  // Its executor is listed for the master's count, as the framework described it: without the
  // variables the agent added (its token is a secret between agent and executor).
  ASSERT_EQ(again.executors.size(), 1u);
  EXPECT_EQ(again.executors[0].framework_id, "fw-1");
  EXPECT_EQ(again.executors[0].executor.executor_id, "e1");
  EXPECT_EQ(again.executors[0].executor.command.value, TEST_EXECUTOR);
  EXPECT_EQ(again.executors[0].executor.command.environment.count(
                tessera::protocol::executor::kTokenVariable),
            0u);
  EXPECT_EQ(executor_pids(), before);
  // Sent to the executor once it has registered again.
  master.push(agentp::KillTask{"fw-1", "x"});
  ASSERT_TRUE(all_reached({"x"}, state::kKilled));
  EXPECT_EQ(master.last("x")->source, "SOURCE_EXECUTOR");
  ASSERT_TRUE(master.round_trip());
  EXPECT_EQ(master.of("y").size(), 1u) << "task 'y' was reported again";
  EXPECT_EQ(master.of("x").size(), 2u);
}

TEST_F(ExecutorTest, FrameworkMessagesReachTheExecutorAndComeBack) {
  master.auto_ack = true;
  start_agent();
  run(executor_task("m", "run"));
  ASSERT_TRUE(all_reached({"m"}, state::kRunning));
  master.push(agentp::FrameworkMessage{"", "fw-1", "e1", std::string("hello\0bytes", 11)});
  ASSERT_TRUE(master.wait([&] { return !master.messages.empty(); }));
  const agentp::FrameworkMessage& back = master.messages.front();
  EXPECT_EQ(back.agent_id, "agent-1");
  EXPECT_EQ(back.framework_id, "fw-1");
  EXPECT_EQ(back.executor_id, "e1");
  EXPECT_EQ(back.data, std::string("echo: hello\0bytes", 17));
  // To an executor that is not there, or too large: dropped, and the agent goes on.
  master.push(agentp::FrameworkMessage{"", "fw-1", "nobody", "lost"});
  master.push(agentp::FrameworkMessage{
      "", "fw-1", "e1", std::string(tessera::protocol::kMaxFrameworkMessageBytes + 1, 'x')});
  master.push(agentp::FrameworkMessage{"", "fw-1", "e1", "second"});
  ASSERT_TRUE(master.wait([&] { return master.messages.size() >= 2; }));
  ASSERT_TRUE(master.round_trip());
  ASSERT_EQ(master.messages.size(), 2u);
  EXPECT_EQ(master.messages[1].data, "echo: second");
}

// A removed framework's executor is asked to end, and its unfinished tasks are killed with it.
TEST_F(ExecutorTest, TheExecutorsOfARemovedFrameworkEnd) {
  master.auto_ack = true;
  start_agent();
  run(executor_task("left", "run"));
  master.push(agentp::RunTask{"fw-2", executor_task("other", "run")});
  ASSERT_TRUE(all_reached({"left", "other"}, state::kRunning));
  ASSERT_EQ(executor_pids().size(), 2u);
  master.push(agentp::ShutdownFramework{"fw-1"});
  ASSERT_TRUE(all_reached({"left"}, state::kKilled));
  EXPECT_EQ(master.last("left")->reason, reason::kExecutorTerminated);
  // The master hears that it ended (by itself, when asked: status 0), once that is durable.
  ASSERT_TRUE(master.wait([&] { return !master.executor_exits.empty(); }));
  EXPECT_EQ(master.executor_exits.front().framework_id, "fw-1");
  EXPECT_EQ(master.executor_exits.front().executor_id, "e1");
  EXPECT_EQ(master.executor_exits.front().agent_id, "agent-1");
  EXPECT_EQ(master.executor_exits.front().status, 0) << master.executor_exits.front().message;
  // Forgotten once ended; another framework's executor is not touched.
  ASSERT_TRUE(master.wait([&] { return executor_pids().size() == 1; }));
  EXPECT_EQ(executor_pids().begin()->first, "fw-2 #executor/e1");
  ASSERT_TRUE(master.round_trip());
  EXPECT_EQ(master.last("other")->state, state::kRunning);
  EXPECT_EQ(master.executor_exits.size(), 1u);
}

// One executor shut down (its framework's call, passed on by the master): a stubborn one that
// ignores executor.shutdown is killed after its kill grace, and its tasks end TASK_KILLED.
TEST_F(ExecutorTest, AnExecutorShutDownIsKilledAfterItsGraceWhenItDoesNotEnd) {
  master.auto_ack = true;
  start_agent();
  run(executor_task("stays", "stubborn"));
  ASSERT_TRUE(all_reached({"stays"}, state::kRunning));
  master.push(agentp::ShutdownExecutor{"fw-1", "nobody"});  // not here: ignored
  master.push(agentp::ShutdownExecutor{"fw-1", "e1"});
  ASSERT_TRUE(all_reached({"stays"}, state::kKilled));
  EXPECT_EQ(master.last("stays")->reason, reason::kExecutorTerminated);
  ASSERT_TRUE(master.wait([&] { return !master.executor_exits.empty(); }));
  EXPECT_NE(master.executor_exits.front().message.find("signal"), std::string::npos)
      << master.executor_exits.front().message;
  ASSERT_TRUE(master.wait([&] { return executor_pids().empty(); }));
}

}  // namespace

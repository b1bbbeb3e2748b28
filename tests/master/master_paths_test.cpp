// The master's own answers, through a real master and real agents (support/cluster.h) and a
// framework that speaks the scheduler protocol message by message (peers.h): a kill of a task it
// does not know, reconciliation of a task whose agent was removed, a subscription with a role
// that is not one, and the bounded list of completed tasks.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>

#include "peers.h"
#include "support/cluster.h"

namespace {

using namespace std::chrono_literals;
using tessera::protocol::TaskInfo;
using tessera::protocol::TaskStatus;
using tessera::testing::Cluster;
using tessera::testing::MasterSettings;
using tessera::testing::Peers;
using tessera::testing::RawFramework;
using tessera::testing::task;
using tessera::testing::TempDir;
namespace state = tessera::protocol::state;
namespace reason = tessera::protocol::reason;
namespace scheduler = tessera::protocol::scheduler;
namespace op = tessera::protocol::operator_api;

scheduler::Subscribe subscribe_message(const std::string& name,
                                       std::vector<std::string> roles = {"*"}) {
  scheduler::Subscribe message;
  message.name = name;
  message.roles = std::move(roles);
  return message;
}

// The resident memory of process `pid`, in bytes (VmRSS).
size_t resident_bytes(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string key;
  while (status >> key) {
    if (key == "VmRSS:") {
      size_t kb = 0;
      status >> kb;
      return kb * 1024;
    }
    std::getline(status, key);
  }
  return 0;
}

class MasterPaths : public ::testing::Test {
 protected:
  // Runs `tasks` one after the other, each on the next offer, and waits until each has ended
  // (its terminal update acknowledged, as the framework acknowledges every update).
  void run_one_by_one(RawFramework& framework, const std::vector<TaskInfo>& tasks) {
    for (const TaskInfo& t : tasks) {
      auto offer = framework.next_offer();
      ASSERT_TRUE(offer) << cluster_.master().output();
      framework.accept({offer->offer_id}, {t}, 0);
      ASSERT_TRUE(peers_.run_until([&] {
        auto updates = framework.updates_of(t.task_id);
        return !updates.empty() && state::terminal(updates.back().state);
      })) << t.task_id
          << "\n"
          << cluster_.agent(0).output();
    }
  }

  TempDir dir_;
  Cluster cluster_{dir_};
  Peers peers_;
};

TEST_F(MasterPaths, AKillOfATaskTheMasterDoesNotKnowIsAnsweredTaskUnknown) {
  ASSERT_TRUE(cluster_.start_master());
  ASSERT_TRUE(cluster_.start_agent(0));
  RawFramework framework(peers_, cluster_.endpoint(), "killer");
  ASSERT_EQ(framework.subscribe(subscribe_message("killer")), "");
  framework.kill("never-launched", "some-agent");
  ASSERT_TRUE(framework.wait_for_state("never-launched", state::kUnknown))
      << cluster_.master().output();
  const TaskStatus status = framework.updates_of("never-launched").back();
  EXPECT_EQ(status.reason, reason::kTaskUnknown);
  EXPECT_EQ(status.source, tessera::protocol::source::kMaster);
  EXPECT_EQ(status.message, "no task 'never-launched' is known to this master");
  EXPECT_TRUE(status.uuid.empty());
  // Nothing was sent to the agent on its behalf.
  EXPECT_EQ(cluster_.agent(0).output().find("never-launched"), std::string::npos);
}

// Explicit reconciliation of a task on an agent the master removed answers TASK_GONE; of a task
// on an agent it never knew, TASK_UNKNOWN; of a task it runs, its state.
TEST_F(MasterPaths, ReconcilingATaskOfARemovedAgentAnswersTaskGone) {
  ASSERT_TRUE(cluster_.start_master());
  ASSERT_TRUE(cluster_.start_agent(0));
  RawFramework framework(peers_, cluster_.endpoint(), "reconciler");
  ASSERT_EQ(framework.subscribe(subscribe_message("reconciler")), "");
  auto offer = framework.next_offer();
  ASSERT_TRUE(offer);
  std::string agent = offer->agent_id;
  framework.accept({offer->offer_id}, {task("doomed", "sleep 60")});
  ASSERT_TRUE(framework.wait_for_state("doomed", state::kRunning));

  // The agent dies and stays away: unreachable, then removed (short timeouts in support/cluster.h).
  cluster_.agent(0).signal(SIGKILL);
  ASSERT_TRUE(cluster_.agent(0).wait());
  ASSERT_TRUE(framework.wait_for_state("doomed", state::kLost)) << cluster_.master().output();
  EXPECT_EQ(framework.updates_of("doomed").back().reason, reason::kAgentRemoved);
  ASSERT_TRUE(cluster_.master().wait_for("is recorded as removed in the registry"));

  framework.reconcile({{"doomed", agent}, {"elsewhere", "an-agent-never-seen"}});
  ASSERT_TRUE(framework.wait_for_state("doomed", state::kGone)) << cluster_.master().output();
  EXPECT_EQ(framework.updates_of("doomed").back().reason, reason::kReconciliation);
  EXPECT_EQ(framework.updates_of("doomed").back().message, "the task's agent was removed");
  ASSERT_TRUE(framework.wait_for_state("elsewhere", state::kUnknown));
  EXPECT_EQ(framework.updates_of("elsewhere").back().reason, reason::kReconciliation);
  EXPECT_EQ(framework.updates_of("elsewhere").back().message, "the master knows no such task");
}

TEST_F(MasterPaths, ASubscriptionWithARoleThatIsNotARoleIsRefused) {
  ASSERT_TRUE(cluster_.start_master());
  for (const std::string& role : {std::string("a b"), std::string("/eng"), std::string("eng//web"),
                                  std::string(".."), std::string("")}) {
    RawFramework framework(peers_, cluster_.endpoint(), "bad-role");
    std::string error = framework.subscribe(subscribe_message("bad-role", {"*", role}));
    EXPECT_EQ(error.rfind("invalid role: ", 0), 0u) << "'" << role << "': " << error;
  }
  RawFramework good(peers_, cluster_.endpoint(), "good-role");
  EXPECT_EQ(good.subscribe(subscribe_message("good-role", {"eng/web"})), "");
  op::State s = peers_.state(cluster_.endpoint());
  ASSERT_EQ(s.frameworks.size(), 1u);
  EXPECT_EQ(s.frameworks[0].roles, (std::vector<std::string>{"eng/web"}));
}

// The completed tasks the master keeps for `tessera tasks` are the newest max_completed_tasks,
// each a summary of what it was and how it ended.
TEST_F(MasterPaths, CompletedTasksAreTheNewestFewAsSummaries) {
  MasterSettings settings;
  settings.extra = "max_completed_tasks = 3";
  ASSERT_TRUE(cluster_.start_master(settings));
  ASSERT_TRUE(cluster_.start_agent(0));
  RawFramework framework(peers_, cluster_.endpoint(), "completer");
  ASSERT_EQ(framework.subscribe(subscribe_message("completer")), "");
  std::vector<TaskInfo> tasks;
  for (int i = 0; i < 5; ++i) {
    tasks.push_back(task("done-" + std::to_string(i), "exit " + std::to_string(i)));
  }
  tasks[4].name = std::string(100000, 'n');  // a name is kept, but bounded
  ASSERT_NO_FATAL_FAILURE(run_one_by_one(framework, tasks));

  // Once the last acknowledgement is in, every task has completed.
  op::State s;
  ASSERT_TRUE(peers_.wait_state(
      cluster_.endpoint(), [](const op::State& now) { return now.tasks.size() == 3; }, s));
  std::vector<std::string> ids;
  for (const auto& t : s.tasks) ids.push_back(t.task_id);
  EXPECT_EQ(ids, (std::vector<std::string>{"done-4", "done-3", "done-2"}));
  ASSERT_EQ(s.tasks.size(), 3u);
  const op::TaskState& newest = s.tasks[0];
  EXPECT_EQ(newest.state, state::kFailed);
  EXPECT_EQ(newest.last_status.exit_code, 4);
  EXPECT_EQ(newest.last_status.message, "exited with status 4");
  EXPECT_EQ(newest.framework_id, framework.id());
  EXPECT_EQ(newest.resources.scalar("cpus"), 0.1);
  EXPECT_EQ(newest.name.size(), 259u);  // 256 bytes and "..."
  EXPECT_EQ(s.frameworks[0].active_tasks, 0u);
  EXPECT_TRUE(s.agents[0].used.empty());
}

// 30 finished tasks with 5 MB commands grew the master from 30 to 220 MB: it kept every whole
// task. The summaries it keeps now hold neither the command nor the labels.
TEST_F(MasterPaths, FinishedTasksWithHugePayloadsDoNotStayInTheMaster) {
  ASSERT_TRUE(cluster_.start_master());
  ASSERT_TRUE(cluster_.start_agent(0));
  RawFramework framework(peers_, cluster_.endpoint(), "payloads");
  ASSERT_EQ(framework.subscribe(subscribe_message("payloads")), "");
  // A command under the kernel's limit on one argument (128 KiB), and a megabyte of labels.
  auto heavy = [](int i) {
    TaskInfo t = task("heavy-" + std::to_string(i), "true # " + std::string(100000, 'c'));
    t.labels["payload"] = std::string(1 << 20, static_cast<char>('a' + i % 26));
    return t;
  };
  // The first few grow the master's buffers to the size of these messages; then the rest.
  std::vector<TaskInfo> warm_up, measured;
  for (int i = 0; i < 4; ++i) warm_up.push_back(heavy(i));
  for (int i = 4; i < 34; ++i) measured.push_back(heavy(i));
  ASSERT_NO_FATAL_FAILURE(run_one_by_one(framework, warm_up));
  size_t before = resident_bytes(cluster_.master().pid());
  ASSERT_NO_FATAL_FAILURE(run_one_by_one(framework, measured));
  size_t after = resident_bytes(cluster_.master().pid());
  for (const TaskInfo& t : measured) EXPECT_TRUE(framework.saw(t.task_id, state::kFinished));
  // Whole tasks would be 30 x 1.1 MB; summaries are a few hundred bytes each.
  EXPECT_LT(after, before + 12 * 1024 * 1024)
      << "the master grew from " << before / 1024 << " KiB to " << after / 1024 << " KiB";
  op::State s;
  EXPECT_TRUE(peers_.wait_state(
      cluster_.endpoint(), [](const op::State& now) { return now.tasks.size() == 34; }, s));
}

}  // namespace

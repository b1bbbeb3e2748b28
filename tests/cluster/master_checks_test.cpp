// What the master refuses in an accept, through a real master and agent: an offer listed twice
// (it used to count twice: two cpus:2 tasks on a cpus:2 agent) and amounts that are not finite,
// are huge, or round to nothing (cpus 0.0004 used to launch without limit).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "support/cluster.h"
#include "support/framework.h"

namespace {

using tessera::protocol::TaskInfo;
using tessera::protocol::scheduler::Offer;
using tessera::testing::Cluster;
using tessera::testing::command_task;
using tessera::testing::TempDir;
using tessera::testing::TestFramework;
namespace state = tessera::protocol::state;
namespace reason = tessera::protocol::reason;

tessera::sdk::FrameworkInfo framework_info(const std::string& name) {
  tessera::sdk::FrameworkInfo info;
  info.name = name;
  return info;
}

class MasterChecks : public ::testing::Test {
 protected:
  // Accepts the first offer with `tasks`, naming it `times` times, and declines the others.
  void accept_first(TestFramework& framework, std::vector<TaskInfo> tasks, int times) {
    auto sent = std::make_shared<bool>(false);
    framework.on_offer = [&framework, tasks, times, sent](const Offer& offer) {
      if (*sent) {
        framework.client().decline({offer.offer_id}, 1);
        return;
      }
      *sent = true;
      std::vector<std::string> ids(times, offer.offer_id);
      framework.client().accept(ids, tasks, 1);
    };
  }

  // The one update of `task_id`, once it is terminal.
  tessera::protocol::TaskStatus error_of(TestFramework& framework, const std::string& task_id) {
    EXPECT_TRUE(framework.wait_for_state(task_id, state::kError)) << cluster_.master().output();
    const auto& updates = framework.updates(task_id);
    return updates.empty() ? tessera::protocol::TaskStatus{} : updates.back();
  }

  TempDir dir_;
  Cluster cluster_{dir_};
};

TEST_F(MasterChecks, AnOfferListedTwiceInOneAcceptIsRefused) {
  ASSERT_TRUE(cluster_.start_master());
  ASSERT_TRUE(cluster_.start_agent(0));
  TestFramework framework(cluster_.endpoint(), framework_info("twice"));
  ASSERT_TRUE(framework.subscribed());
  accept_first(framework, {command_task("a", "true"), command_task("b", "true")}, 2);
  for (const char* id : {"a", "b"}) {
    auto status = error_of(framework, id);
    EXPECT_EQ(status.reason, reason::kInvalidOffers) << id;
    EXPECT_NE(status.message.find("is named twice"), std::string::npos) << status.message;
  }
}

TEST_F(MasterChecks, AmountsThatAreNotFiniteHugeOrRoundToNothingAreRefused) {
  ASSERT_TRUE(cluster_.start_master());
  ASSERT_TRUE(cluster_.start_agent(0));
  TestFramework framework(cluster_.endpoint(), framework_info("amounts"));
  ASSERT_TRUE(framework.subscribed());
  std::vector<TaskInfo> tasks = {
      command_task("nan", "true", std::numeric_limits<double>::quiet_NaN()),
      command_task("inf", "true", std::numeric_limits<double>::infinity()),
      command_task("huge", "true", 1e300),
      command_task("tiny", "true", 0.0004),
      command_task("memhuge", "true", 0.1, 1e19),
  };
  accept_first(framework, tasks, 1);
  for (const auto& task : tasks) {
    auto status = error_of(framework, task.task_id);
    EXPECT_EQ(status.reason, reason::kTaskInvalid) << task.task_id;
    EXPECT_NE(status.message.find("task asks for invalid resources: "), std::string::npos)
        << task.task_id << ": " << status.message;
  }
  // Nothing was launched, and the offer's resources came back: a valid task still fits.
  TaskInfo ok = command_task("ok", "true");
  accept_first(framework, {ok}, 1);
  EXPECT_TRUE(framework.wait_for_state("ok", state::kFinished)) << cluster_.master().output();
}

}  // namespace

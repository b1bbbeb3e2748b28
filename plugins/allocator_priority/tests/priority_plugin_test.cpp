// allocator_priority through the real loader, beyond the conformance suite that every allocator
// plugin passes (allocation_core/tests/plugin_conformance_test.cpp): a band is served in full
// before the next, priorities come from TOML and change with set_priority.
#include <gtest/gtest.h>

#include "fake_master.h"

namespace tessera::allocation::testing {
namespace {

class PriorityPlugin : public ::testing::Test {
 protected:
  void start(const std::string& keys) {
    node_ =
        std::make_unique<AllocatorNode>("allocator_priority", "batch_delay_ms = 3600000\n" + keys);
    auto started = node_->start();
    ASSERT_TRUE(started.ok()) << started.error().message;
    master_ = std::make_unique<FakeMaster>(node_->zmq_context(), node_->endpoint());
  }
  std::unique_ptr<AllocatorNode> node_;
  std::unique_ptr<FakeMaster> master_;
};

// prod (priority 10) takes every agent, however large its share; batch (priority 0) gets only
// what prod declines.
TEST_F(PriorityPlugin, HigherBandIsServedFullyFirst) {
  ASSERT_NO_FATAL_FAILURE(start("priorities = { prod = 10 }\n"));
  FakeMaster& master = *master_;
  master.addFramework("p", {"prod"});
  master.addFramework("b", {"batch"});
  for (int i = 0; i < 10; ++i) master.addAgent(numbered("a", i), "cpus:1;mem:1");
  master.allocateNow();
  auto batch = master.next();
  ASSERT_TRUE(batch);
  auto held = byFramework(*batch);
  EXPECT_DOUBLE_EQ(held["p"].scalar("cpus"), 10.0);
  EXPECT_EQ(held.count("b"), 0U);

  // prod declines three agents for an hour: those, and only those, go to batch.
  for (int i = 0; i < 3; ++i) master.decline(batch->grants[i], 3600);
  master.allocateNow();
  auto lower = master.next();
  ASSERT_TRUE(lower);
  ASSERT_EQ(lower->grants.size(), 3U);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(lower->grants[i].framework_id, "b");
    EXPECT_EQ(lower->grants[i].agent_id, batch->grants[i].agent_id);
  }
}

// Within a band the order is DRF; a child role inherits its parent's band.
TEST_F(PriorityPlugin, DrfWithinABandAndInheritedBands) {
  ASSERT_NO_FATAL_FAILURE(start("priorities = { eng = 5 }\n"));
  FakeMaster& master = *master_;
  master.addFramework("web", {"eng/web"});
  master.addFramework("db", {"eng/db"});
  master.addFramework("other", {"other"});
  for (int i = 0; i < 10; ++i) master.addAgent(numbered("a", i), "cpus:1;mem:1");
  master.allocateNow();
  auto batch = master.next();
  ASSERT_TRUE(batch);
  auto held = byFramework(*batch);
  EXPECT_DOUBLE_EQ(held["web"].scalar("cpus"), 5.0);
  EXPECT_DOUBLE_EQ(held["db"].scalar("cpus"), 5.0);
  EXPECT_EQ(held.count("other"), 0U);
}

// set_priority changes the bands at run time.
TEST_F(PriorityPlugin, SetPriorityReordersBands) {
  ASSERT_NO_FATAL_FAILURE(start("priorities = { prod = 10 }\n"));
  FakeMaster& master = *master_;
  master.addFramework("p", {"prod"});
  master.addFramework("b", {"batch"});
  for (int i = 0; i < 4; ++i) master.addAgent(numbered("a", i), "cpus:1;mem:1");
  master.allocateNow();
  auto batch = master.next();
  ASSERT_TRUE(batch);
  EXPECT_DOUBLE_EQ(byFramework(*batch)["p"].scalar("cpus"), 4.0);
  master.send(msg::SetPriority{"batch", 20});
  for (const msg::Grant& grant : batch->grants) master.decline(grant);
  master.allocateNow();
  auto after = master.next();
  ASSERT_TRUE(after);
  auto held = byFramework(*after);
  EXPECT_DOUBLE_EQ(held["b"].scalar("cpus"), 4.0);
  EXPECT_EQ(held.count("p"), 0U);
  EXPECT_EQ(master.stats().ignored, 0U);
}

TEST_F(PriorityPlugin, PrioritiesMustBeIntegers) {
  AllocatorNode node("allocator_priority", "priorities = { prod = 1.5, batch = \"low\" }\n");
  auto started = node.start();
  ASSERT_FALSE(started.ok());
  const std::string& error = started.error().message;
  EXPECT_NE(
      error.find("plugins.allocator_priority.priorities.prod: expected an integer, got a float"),
      std::string::npos)
      << error;
  EXPECT_NE(
      error.find("plugins.allocator_priority.priorities.batch: expected an integer, got a string"),
      std::string::npos)
      << error;
}

}  // namespace
}  // namespace tessera::allocation::testing

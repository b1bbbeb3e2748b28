#include <gtest/gtest.h>

#include "allocator_priority/priority_policy.h"
#include "conformance.h"

namespace tessera::allocation::testing {
namespace {

struct PriorityFactory {
  static std::unique_ptr<Allocator> make(AllocatorOptions options) {
    return makePriorityAllocator(options).allocator;
  }
};

INSTANTIATE_TYPED_TEST_SUITE_P(Priority, AllocatorConformance, PriorityFactory);

class PriorityAllocatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto made = makePriorityAllocator();
    allocator = std::move(made.allocator);
    policy = made.policy;
    ASSERT_TRUE(allocator->addFramework("prod", {"prod"}).ok());
    ASSERT_TRUE(allocator->addFramework("dev", {"dev"}).ok());
    for (int i = 0; i < 4; ++i) {
      ASSERT_TRUE(allocator->addAgent(id("s", i), res("cpus:4;mem:16")).ok());
    }
    policy->setPriority("prod", 10);
  }

  std::unique_ptr<Allocator> allocator;
  PriorityPolicy* policy = nullptr;
};

TEST_F(PriorityAllocatorTest, HigherBandIsServedFully) {
  auto offers = byFramework(allocator->allocate(at(0)));
  EXPECT_DOUBLE_EQ(offers["prod"].scalar("cpus"), 16.0);
  EXPECT_TRUE(offers["dev"].empty());
}

TEST_F(PriorityAllocatorTest, LowerBandGetsWhatHigherDeclines) {
  auto offers = allocator->allocate(at(0));
  ASSERT_EQ(offers.size(), 4U);
  // prod keeps two agents and declines two for a minute.
  for (std::size_t i = 2; i < offers.size(); ++i) {
    ASSERT_TRUE(allocator
                    ->recoverResources("prod", offers[i].agentId, "prod", offers[i].resources,
                                       std::chrono::seconds(60), at(0))
                    .ok());
  }
  auto next = byFramework(allocator->allocate(at(1)));
  EXPECT_DOUBLE_EQ(next["dev"].scalar("cpus"), 8.0);
  EXPECT_TRUE(next["prod"].empty());
}

TEST_F(PriorityAllocatorTest, LowerBandGetsWhatHigherCannotUse) {
  ASSERT_TRUE(allocator->setQuota("prod", res("cpus:6")).ok());
  auto offers = byFramework(allocator->allocate(at(0)));
  EXPECT_DOUBLE_EQ(offers["prod"].scalar("cpus"), 6.0);
  EXPECT_DOUBLE_EQ(offers["dev"].scalar("cpus"), 10.0);
}

TEST_F(PriorityAllocatorTest, SuppressedHigherBandLeavesEverythingToLower) {
  ASSERT_TRUE(allocator->suppress("prod").ok());
  auto offers = byFramework(allocator->allocate(at(0)));
  EXPECT_DOUBLE_EQ(offers["dev"].scalar("cpus"), 16.0);
}

TEST_F(PriorityAllocatorTest, PriorityChangesApplyWhileRunning) {
  policy->setPriority("dev", 20);
  EXPECT_EQ(allocator->roleOrder(), (std::vector<std::string>{"dev", "prod"}));
  auto offers = byFramework(allocator->allocate(at(0)));
  EXPECT_DOUBLE_EQ(offers["dev"].scalar("cpus"), 16.0);
  policy->clearPriority("dev");
  EXPECT_EQ(allocator->roleOrder(), (std::vector<std::string>{"prod", "dev"}));
}

TEST(PriorityPolicy, ChildrenInheritTheirParentsBand) {
  PriorityPolicy policy;
  policy.setPriority("eng", 5);
  policy.setPriority("eng/batch", -1);
  EXPECT_EQ(policy.priority("eng/web"), 5);
  EXPECT_EQ(policy.priority("eng/web/api"), 5);
  EXPECT_EQ(policy.priority("eng/batch"), -1);
  EXPECT_EQ(policy.priority("ops"), 0);
  EXPECT_EQ(policy.roleBand("eng/web"), -5);
}

// Bands are strict across the hierarchy: a low-priority child of a high-priority parent waits
// behind every role of a higher band, while DRF orders the roles within one band.
TEST(PriorityPolicy, BandsAreStrictAcrossTheHierarchy) {
  auto made = makePriorityAllocator();
  Allocator& allocator = *made.allocator;
  made.policy->setPriority("eng", 5);
  made.policy->setPriority("eng/batch", -1);
  ASSERT_TRUE(allocator.addFramework("web", {"eng/web"}).ok());
  ASSERT_TRUE(allocator.addFramework("api", {"eng/api"}).ok());
  ASSERT_TRUE(allocator.addFramework("batch", {"eng/batch"}).ok());
  ASSERT_TRUE(allocator.addFramework("ops", {"ops"}).ok());
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(allocator.addAgent(id("s", i), res("cpus:1;mem:1")).ok());
  }
  auto order = allocator.roleOrder();
  ASSERT_EQ(order.size(), 4U);
  EXPECT_EQ(order[3], "eng/batch");
  EXPECT_EQ(order[2], "ops");
  auto offers = byFramework(allocator.allocate(at(0)));
  // Band 5 (web and api) takes everything, split by DRF.
  EXPECT_DOUBLE_EQ(offers["web"].scalar("cpus"), 4.0);
  EXPECT_DOUBLE_EQ(offers["api"].scalar("cpus"), 4.0);
  EXPECT_TRUE(offers["ops"].empty());
  EXPECT_TRUE(offers["batch"].empty());
}

}  // namespace
}  // namespace tessera::allocation::testing

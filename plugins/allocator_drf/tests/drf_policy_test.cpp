#include <gtest/gtest.h>

#include "allocator_drf/drf_policy.h"
#include "conformance.h"

namespace tessera::allocation::testing {
namespace {

struct DrfFactory {
  static std::unique_ptr<Allocator> make(AllocatorOptions options) {
    return makeDrfAllocator(options);
  }
};

INSTANTIATE_TYPED_TEST_SUITE_P(Drf, AllocatorConformance, DrfFactory);

TEST(DrfPolicy, KeysAreWeightedDominantShares) {
  DrfPolicy policy;
  EXPECT_EQ(policy.name(), "drf");
  EXPECT_DOUBLE_EQ(policy.roleKey(RoleView{"eng", 2.0, 0.5, false}), 0.25);
  EXPECT_DOUBLE_EQ(policy.clientKey(ClientView{"f1", "eng", 0.3}), 0.3);
  EXPECT_EQ(policy.roleBand("eng"), 0);
}

// The dominant share is taken over every scalar, custom names included: a framework holding
// most of the cluster's gpus is served after one holding a little cpu.
TEST(DrfPolicy, DominantShareCoversCustomScalars) {
  auto allocator = makeDrfAllocator();
  ASSERT_TRUE(allocator->addFramework("gpu", {"ml"}).ok());
  ASSERT_TRUE(allocator->addFramework("cpu", {"web"}).ok());
  ASSERT_TRUE(
      allocator
          ->addAgent("g1", res("cpus:8;mem:64;gpus:4"), {{"gpu", "ml", res("cpus:1;mem:1;gpus:3")}})
          .ok());
  ASSERT_TRUE(
      allocator->addAgent("c1", res("cpus:8;mem:64"), {{"cpu", "web", res("cpus:4;mem:8")}}).ok());
  EXPECT_DOUBLE_EQ(*allocator->frameworkDominantShare("gpu", "ml"), 0.75);
  EXPECT_DOUBLE_EQ(*allocator->frameworkDominantShare("cpu", "web"), 0.25);
  EXPECT_EQ(allocator->roleOrder(), (std::vector<std::string>{"web", "ml"}));
  auto offers = allocator->allocate(at(0));
  ASSERT_FALSE(offers.empty());
  EXPECT_EQ(offers[0].frameworkId, "cpu");
}

TEST(DrfPolicy, WeightChangesApplyWhileRunning) {
  auto allocator = makeDrfAllocator();
  ASSERT_TRUE(allocator->addFramework("fa", {"a"}).ok());
  ASSERT_TRUE(allocator->addFramework("fb", {"b"}).ok());
  ASSERT_TRUE(allocator
                  ->addAgent("s1", res("cpus:10;mem:10"),
                             {{"fa", "a", res("cpus:3")}, {"fb", "b", res("cpus:2")}})
                  .ok());
  EXPECT_EQ(allocator->roleOrder(), (std::vector<std::string>{"b", "a"}));
  ASSERT_TRUE(allocator->setWeight("a", 2.0).ok());
  EXPECT_EQ(allocator->roleOrder(), (std::vector<std::string>{"a", "b"}));
}

TEST(DrfPolicy, FrameworksWithinARoleAreOrderedByShare) {
  auto allocator = makeDrfAllocator();
  ASSERT_TRUE(allocator->addFramework("big", {"r"}).ok());
  ASSERT_TRUE(allocator->addFramework("small", {"r"}).ok());
  ASSERT_TRUE(allocator
                  ->addAgent("s1", res("cpus:10;mem:10"),
                             {{"big", "r", res("cpus:5")}, {"small", "r", res("mem:1")}})
                  .ok());
  auto offers = allocator->allocate(at(0));
  ASSERT_EQ(offers.size(), 1U);
  EXPECT_EQ(offers[0].frameworkId, "small");
}

}  // namespace
}  // namespace tessera::allocation::testing

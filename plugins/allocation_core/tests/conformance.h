// The conformance suite every allocator built on the allocation core passes (the DRF and the
// priority policies instantiate it in their own test binaries), in the spirit of Mesos's typed
// allocator tests. A factory type provides:
//   static std::unique_ptr<Allocator> make(AllocatorOptions options);
//
// Time is a plain value that the tests advance by hand; nothing sleeps.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "allocation_core/allocator.h"

namespace tessera::allocation::testing {

inline Resources res(const std::string& text) {
  auto parsed = Resources::parse(text);
  EXPECT_TRUE(parsed.ok()) << (parsed.ok() ? "" : parsed.error().message);
  return parsed.ok() ? *parsed : Resources{};
}

// "a" + std::to_string(i) trips a false -Wrestrict in GCC 12; appending does not.
inline std::string id(const char* prefix, int i) {
  std::string out(prefix);
  out += std::to_string(i);
  return out;
}

inline TimePoint at(int seconds) { return TimePoint{} + std::chrono::seconds(seconds); }

inline constexpr Duration kNoFilter = Duration::zero();
inline constexpr Duration kForever = Duration::max();

// Sums the offers of a cycle per framework.
inline std::map<std::string, Resources> byFramework(const std::vector<Offer>& offers) {
  std::map<std::string, Resources> out;
  for (const Offer& offer : offers) out[offer.frameworkId] += offer.resources;
  return out;
}

template <typename Factory>
class AllocatorConformance : public ::testing::Test {
 protected:
  std::unique_ptr<Allocator> make(AllocatorOptions options = {}) { return Factory::make(options); }

  // Declines every offer of a cycle with the given filter.
  static void declineAll(Allocator& allocator, const std::vector<Offer>& offers, Duration filter,
                         TimePoint now) {
    for (const Offer& offer : offers) {
      ASSERT_TRUE(allocator
                      .recoverResources(offer.frameworkId, offer.agentId, offer.role,
                                        offer.resources, filter, now)
                      .ok());
    }
  }
};

TYPED_TEST_SUITE_P(AllocatorConformance);

// Ghodsi et al., "Dominant Resource Fairness", section 4: 9 CPUs and 18 GB; A's tasks need
// <1 CPU, 4 GB>, B's <3 CPUs, 1 GB>. Each framework launches one task per offer and returns the
// rest; DRF ends with A running 3 tasks and B running 2.
TYPED_TEST_P(AllocatorConformance, DrfPaperExample) {
  auto allocator = this->make();
  ASSERT_TRUE(allocator->addFramework("A", {"a"}).ok());
  ASSERT_TRUE(allocator->addFramework("B", {"b"}).ok());
  ASSERT_TRUE(allocator->addAgent("agent", res("cpus:9;mem:18")).ok());

  const std::map<std::string, Resources> task = {{"A", res("cpus:1;mem:4")},
                                                 {"B", res("cpus:3;mem:1")}};
  std::map<std::string, int> tasks;
  for (int cycle = 0; cycle < 100; ++cycle) {
    auto offers = allocator->allocate(at(cycle));
    bool launched = false;
    for (const Offer& offer : offers) {
      Resources rest = offer.resources;
      if (offer.resources.contains(task.at(offer.frameworkId))) {
        tasks[offer.frameworkId]++;
        rest -= task.at(offer.frameworkId);
        launched = true;
      }
      ASSERT_TRUE(allocator
                      ->recoverResources(offer.frameworkId, offer.agentId, offer.role, rest,
                                         kNoFilter, at(cycle))
                      .ok());
    }
    if (!launched) break;
  }
  EXPECT_EQ(tasks["A"], 3);
  EXPECT_EQ(tasks["B"], 2);
  EXPECT_EQ(*allocator->frameworkAllocation("A"), res("cpus:3;mem:12"));
  EXPECT_EQ(*allocator->frameworkAllocation("B"), res("cpus:6;mem:2"));
}

TYPED_TEST_P(AllocatorConformance, OfferedResourcesCountUntilRecovered) {
  auto allocator = this->make();
  ASSERT_TRUE(allocator->addFramework("f1", {"r"}).ok());
  ASSERT_TRUE(allocator->addAgent("a1", res("cpus:4;mem:1024;ports:[31000-32000]")).ok());
  auto first = allocator->allocate(at(0));
  ASSERT_EQ(first.size(), 1U);
  EXPECT_EQ(first[0].resources, res("cpus:4;mem:1024;ports:[31000-32000]"));
  EXPECT_EQ(first[0].role, "r");
  EXPECT_TRUE(allocator->allocate(at(1)).empty());
  EXPECT_DOUBLE_EQ(*allocator->roleDominantShare("r"), 1.0);
  ASSERT_TRUE(
      allocator
          ->recoverResources("f1", "a1", "r", res("cpus:1;ports:[31000-31009]"), kNoFilter, at(2))
          .ok());
  EXPECT_TRUE(allocator->allocationPending());
  auto second = allocator->allocate(at(3));
  ASSERT_EQ(second.size(), 1U);
  EXPECT_EQ(second[0].resources, res("cpus:1;ports:[31000-31009]"));
}

TYPED_TEST_P(AllocatorConformance, RefuseFilterExpires) {
  auto allocator = this->make();
  ASSERT_TRUE(allocator->addFramework("f1", {"r"}).ok());
  ASSERT_TRUE(allocator->addAgent("a1", res("cpus:4;mem:1024")).ok());
  auto offers = allocator->allocate(at(0));
  ASSERT_EQ(offers.size(), 1U);
  this->declineAll(*allocator, offers, std::chrono::seconds(10), at(0));
  EXPECT_TRUE(allocator->allocate(at(5)).empty());
  EXPECT_TRUE(allocator->allocate(at(9)).empty());
  EXPECT_EQ(allocator->allocate(at(10)).size(), 1U);
}

// A filter refuses what was declined, not the agent: when more becomes free the framework sees
// the agent again (Mesos semantics).
TYPED_TEST_P(AllocatorConformance, RefuseFilterDoesNotHideMoreResources) {
  auto allocator = this->make();
  ASSERT_TRUE(allocator->addFramework("f1", {"r"}).ok());
  ASSERT_TRUE(allocator->addFramework("f2", {"r"}).ok());
  ASSERT_TRUE(
      allocator->addAgent("a1", res("cpus:4;mem:1024"), {{"f2", "r", res("cpus:2;mem:512")}}).ok());
  auto offers = allocator->allocate(at(0));
  ASSERT_EQ(offers.size(), 1U);
  EXPECT_EQ(offers[0].frameworkId, "f1");
  this->declineAll(*allocator, offers, kForever, at(0));
  // f2 is the only one left that is not refusing: it gets the agent.
  offers = allocator->allocate(at(1));
  ASSERT_EQ(offers.size(), 1U);
  EXPECT_EQ(offers[0].frameworkId, "f2");
  this->declineAll(*allocator, offers, kForever, at(1));
  EXPECT_TRUE(allocator->allocate(at(2)).empty());
  // f2's task ends: more is free than either framework refused.
  ASSERT_TRUE(
      allocator->recoverResources("f2", "a1", "r", res("cpus:2;mem:512"), kNoFilter, at(3)).ok());
  offers = allocator->allocate(at(4));
  ASSERT_EQ(offers.size(), 1U);
  EXPECT_EQ(offers[0].resources, res("cpus:4;mem:1024"));
}

TYPED_TEST_P(AllocatorConformance, SuppressedRoleGetsNothingUntilRevived) {
  auto allocator = this->make();
  ASSERT_TRUE(allocator->addFramework("f1", {"r1", "r2"}).ok());
  ASSERT_TRUE(allocator->addAgent("a1", res("cpus:4;mem:1024")).ok());
  ASSERT_TRUE(allocator->addAgent("a2", res("cpus:4;mem:1024")).ok());
  ASSERT_TRUE(allocator->suppress("f1", "r1").ok());
  auto offers = allocator->allocate(at(0));
  ASSERT_EQ(offers.size(), 2U);
  for (const Offer& offer : offers) EXPECT_EQ(offer.role, "r2");
  this->declineAll(*allocator, offers, kNoFilter, at(0));
  ASSERT_TRUE(allocator->suppress("f1").ok());
  for (int t = 1; t < 5; ++t) EXPECT_TRUE(allocator->allocate(at(t)).empty());
  ASSERT_TRUE(allocator->revive("f1", "r1").ok());
  offers = allocator->allocate(at(5));
  ASSERT_EQ(offers.size(), 2U);
  for (const Offer& offer : offers) EXPECT_EQ(offer.role, "r1");
}

TYPED_TEST_P(AllocatorConformance, ReviveDropsRefuseFilters) {
  auto allocator = this->make();
  ASSERT_TRUE(allocator->addFramework("f1", {"r"}).ok());
  ASSERT_TRUE(allocator->addAgent("a1", res("cpus:4;mem:1024")).ok());
  this->declineAll(*allocator, allocator->allocate(at(0)), kForever, at(0));
  EXPECT_TRUE(allocator->allocate(at(1000000)).empty());
  ASSERT_TRUE(allocator->revive("f1").ok());
  EXPECT_EQ(allocator->allocate(at(1000001)).size(), 1U);
}

TYPED_TEST_P(AllocatorConformance, QuotaLimitsHold) {
  auto allocator = this->make();
  ASSERT_TRUE(allocator->addFramework("web", {"eng/web"}).ok());
  ASSERT_TRUE(allocator->addFramework("db", {"eng/db"}).ok());
  ASSERT_TRUE(allocator->addFramework("batch", {"batch"}).ok());
  ASSERT_TRUE(allocator->setQuota("eng", res("cpus:6")).ok());
  ASSERT_TRUE(allocator->setQuota("eng/db", res("cpus:1;mem:100")).ok());
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(allocator->addAgent(id("a", i), res("cpus:2;mem:1000")).ok());
  }
  Resources eng;
  Resources db;
  for (int cycle = 0; cycle < 5; ++cycle) {
    auto offers = allocator->allocate(at(cycle));
    for (const Offer& offer : offers) {
      if (offer.role.starts_with("eng")) eng += offer.resources;
      if (offer.role == "eng/db") db += offer.resources;
    }
    EXPECT_LE(allocator->roleAllocation("eng")->scalar("cpus"), 6.0);
    EXPECT_LE(allocator->roleAllocation("eng/db")->scalar("cpus"), 1.0);
    EXPECT_LE(allocator->roleAllocation("eng/db")->scalar("mem"), 100.0);
  }
  EXPECT_DOUBLE_EQ(eng.scalar("cpus"), 6.0);
  EXPECT_DOUBLE_EQ(db.scalar("cpus"), 1.0);
  EXPECT_DOUBLE_EQ(db.scalar("mem"), 100.0);
  // Whatever eng may not take goes to batch.
  EXPECT_DOUBLE_EQ(allocator->roleAllocation("batch")->scalar("cpus"), 10.0);
  // Quota can change while running: raising it lets eng grow once resources come back.
  ASSERT_TRUE(allocator->setQuota("eng", res("cpus:8")).ok());
  ASSERT_TRUE(allocator->removeFramework("batch").ok());
  allocator->allocate(at(10));
  EXPECT_DOUBLE_EQ(allocator->roleAllocation("eng")->scalar("cpus"), 8.0);
}

TYPED_TEST_P(AllocatorConformance, RemovedAgentIsNeverOffered) {
  auto allocator = this->make();
  ASSERT_TRUE(allocator->addFramework("f1", {"r"}).ok());
  ASSERT_TRUE(allocator->addAgent("a1", res("cpus:4;mem:1024")).ok());
  ASSERT_TRUE(allocator->addAgent("a2", res("cpus:4;mem:1024")).ok());
  auto offers = allocator->allocate(at(0));
  ASSERT_EQ(offers.size(), 2U);
  ASSERT_TRUE(allocator->removeAgent("a1").ok());
  // Recovering from a removed agent is an error quoting the agent, and offers nothing.
  auto status =
      allocator->recoverResources("f1", "a1", "r", res("cpus:4;mem:1024"), kNoFilter, at(1));
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().message.find("'a1'"), std::string::npos);
  this->declineAll(*allocator, {offers[1].agentId == "a2" ? offers[1] : offers[0]}, kNoFilter,
                   at(1));
  for (int t = 2; t < 5; ++t) {
    for (const Offer& offer : allocator->allocate(at(t))) {
      EXPECT_EQ(offer.agentId, "a2");
      this->declineAll(*allocator, {offer}, kNoFilter, at(t));
    }
  }
  EXPECT_EQ(allocator->clusterTotal(), res("cpus:4;mem:1024"));
}

TYPED_TEST_P(AllocatorConformance, MaxOffersPerFrameworkPerCycle) {
  AllocatorOptions options;
  options.maxOffersPerFrameworkPerCycle = 2;
  auto allocator = this->make(options);
  ASSERT_TRUE(allocator->addFramework("f1", {"r"}).ok());
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(allocator->addAgent(id("a", i), res("cpus:1;mem:10")).ok());
  }
  EXPECT_EQ(allocator->allocate(at(0)).size(), 2U);
  EXPECT_EQ(allocator->allocate(at(1)).size(), 2U);
  allocator->setMaxOffersPerFrameworkPerCycle(0);
  EXPECT_EQ(allocator->allocate(at(2)).size(), 1U);
}

TYPED_TEST_P(AllocatorConformance, WeightsScaleShares) {
  auto allocator = this->make();
  ASSERT_TRUE(allocator->addFramework("fa", {"a"}).ok());
  ASSERT_TRUE(allocator->addFramework("fb", {"b"}).ok());
  ASSERT_TRUE(allocator->setWeight("a", 2.0).ok());
  for (int i = 0; i < 30; ++i) {
    ASSERT_TRUE(allocator->addAgent(id("s", i), res("cpus:1;mem:1")).ok());
  }
  auto offers = byFramework(allocator->allocate(at(0)));
  EXPECT_DOUBLE_EQ(offers["fa"].scalar("cpus"), 20.0);
  EXPECT_DOUBLE_EQ(offers["fb"].scalar("cpus"), 10.0);
  EXPECT_FALSE(allocator->setWeight("a", 0.0).ok());
}

TYPED_TEST_P(AllocatorConformance, HierarchicalRolesShareTopDown) {
  auto allocator = this->make();
  ASSERT_TRUE(allocator->addFramework("web", {"eng/web"}).ok());
  ASSERT_TRUE(allocator->addFramework("db", {"eng/db"}).ok());
  ASSERT_TRUE(allocator->addFramework("ops", {"ops"}).ok());
  for (int i = 0; i < 40; ++i) {
    ASSERT_TRUE(allocator->addAgent(id("s", i), res("cpus:1;mem:1")).ok());
  }
  auto offers = byFramework(allocator->allocate(at(0)));
  // eng (web + db together) and ops split evenly; web and db split eng.
  EXPECT_DOUBLE_EQ(offers["ops"].scalar("cpus"), 20.0);
  EXPECT_DOUBLE_EQ(offers["web"].scalar("cpus"), 10.0);
  EXPECT_DOUBLE_EQ(offers["db"].scalar("cpus"), 10.0);
  EXPECT_DOUBLE_EQ(*allocator->roleDominantShare("eng"), 0.5);
}

TYPED_TEST_P(AllocatorConformance, InactiveFrameworkGetsNothing) {
  auto allocator = this->make();
  ASSERT_TRUE(allocator->addFramework("f1", {"r"}, /*active=*/false).ok());
  ASSERT_TRUE(allocator->addAgent("a1", res("cpus:4;mem:1024")).ok());
  EXPECT_TRUE(allocator->allocate(at(0)).empty());
  ASSERT_TRUE(allocator->activateFramework("f1").ok());
  auto offers = allocator->allocate(at(1));
  ASSERT_EQ(offers.size(), 1U);
  this->declineAll(*allocator, offers, kNoFilter, at(1));
  ASSERT_TRUE(allocator->deactivateFramework("f1").ok());
  EXPECT_TRUE(allocator->allocate(at(2)).empty());
}

REGISTER_TYPED_TEST_SUITE_P(AllocatorConformance, DrfPaperExample,
                            OfferedResourcesCountUntilRecovered, RefuseFilterExpires,
                            RefuseFilterDoesNotHideMoreResources,
                            SuppressedRoleGetsNothingUntilRevived, ReviveDropsRefuseFilters,
                            QuotaLimitsHold, RemovedAgentIsNeverOffered,
                            MaxOffersPerFrameworkPerCycle, WeightsScaleShares,
                            HierarchicalRolesShareTopDown, InactiveFrameworkGetsNothing);

}  // namespace tessera::allocation::testing

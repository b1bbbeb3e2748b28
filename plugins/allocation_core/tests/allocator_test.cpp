// Unit tests of the allocation core with a minimal policy defined here, so that the core is
// tested without either real policy. The behaviour every allocator must have is in
// conformance.h, run by the DRF and priority test binaries.
#include <gtest/gtest.h>

#include "allocation_core/allocator.h"
#include "conformance.h"

#include <random>

namespace tessera::allocation::testing {
namespace {

// Plain unweighted dominant share; enough to exercise the core.
class ShareOrder final : public OrderingPolicy {
 public:
  std::string_view name() const override { return "share"; }
  double roleKey(const RoleView& role) const override { return role.dominantShare / role.weight; }
  double clientKey(const ClientView& client) const override { return client.dominantShare; }
};

struct ShareFactory {
  static std::unique_ptr<Allocator> make(AllocatorOptions options) {
    return std::make_unique<Allocator>(std::make_unique<ShareOrder>(), options);
  }
};

// The core with the minimal policy passes the conformance suite too.
INSTANTIATE_TYPED_TEST_SUITE_P(Core, AllocatorConformance, ShareFactory);

std::unique_ptr<Allocator> make() { return ShareFactory::make({}); }

TEST(Allocator, ErrorsQuoteIdsWithoutTrailingPeriod) {
  auto allocator = make();
  ASSERT_TRUE(allocator->addFramework("f1", {"r"}).ok());
  ASSERT_TRUE(allocator->addAgent("a1", res("cpus:1")).ok());
  std::vector<std::string> messages = {
      allocator->addAgent("a1", res("cpus:1")).error().message,
      allocator->addFramework("f1", {"r"}).error().message,
      allocator->removeAgent("nope").error().message,
      allocator->suppress("ghost").error().message,
      allocator->addFramework("f2", {"bad//role"}).error().message,
      allocator->recoverResources("f1", "a1", "r", res("cpus:1"), kNoFilter, at(0)).error().message,
      allocator->recoverResources("f1", "a1", "other", res("cpus:1"), kNoFilter, at(0))
          .error()
          .message,
  };
  EXPECT_EQ(messages[0], "agent 'a1' already exists");
  EXPECT_EQ(messages[1], "framework 'f1' already exists");
  EXPECT_EQ(messages[2], "unknown agent 'nope'");
  EXPECT_EQ(messages[3], "unknown framework 'ghost'");
  EXPECT_EQ(messages[4], "adding framework 'f2': invalid role 'bad//role'");
  EXPECT_EQ(messages[5], "framework 'f1' does not hold cpus:1 on agent 'a1'");
  EXPECT_EQ(messages[6], "framework 'f1' is not subscribed to role 'other'");
  for (const std::string& m : messages) EXPECT_NE(m.back(), '.');
}

TEST(Allocator, AddAgentChargesExistingAllocations) {
  auto allocator = make();
  ASSERT_TRUE(allocator->addFramework("f1", {"r"}).ok());
  ASSERT_TRUE(allocator
                  ->addAgent("a1", res("cpus:24;mem:4096;ports:[31000-32000]"),
                             {{"f1", "", res("cpus:16;mem:2014;ports:[31000-31015]")},
                              {"late", "r", res("cpus:1")}})
                  .ok());
  EXPECT_EQ(*allocator->frameworkAllocation("f1"), res("cpus:16;mem:2014;ports:[31000-31015]"));
  EXPECT_EQ(*allocator->agentFree("a1"), res("cpus:7;mem:2082;ports:[31016-32000]"));
  // Resources of a framework the core does not know are used, and recoverable later.
  ASSERT_TRUE(allocator->recoverResources("late", "a1", "r", res("cpus:1"), kNoFilter, at(0)).ok());
  EXPECT_EQ(allocator->agentFree("a1")->scalar("cpus"), 8.0);
  auto tooMuch = allocator->addAgent("a2", res("cpus:1"), {{"f1", "r", res("cpus:2")}});
  ASSERT_FALSE(tooMuch.ok());
  EXPECT_EQ(tooMuch.error().message,
            "agent 'a2' has more allocated (cpus:2) than its total (cpus:1)");
  EXPECT_EQ(allocator->agentCount(), 1U);
}

TEST(Allocator, UpdateAgentKeepsAllocations) {
  auto allocator = make();
  ASSERT_TRUE(allocator->addFramework("f1", {"r"}).ok());
  ASSERT_TRUE(allocator->addAgent("a1", res("cpus:4;mem:100"), {{"f1", "r", res("cpus:2")}}).ok());
  EXPECT_FALSE(allocator->updateAgent("a1", res("cpus:1;mem:100")).ok());
  ASSERT_TRUE(allocator->updateAgent("a1", res("cpus:8;mem:100")).ok());
  EXPECT_EQ(*allocator->agentFree("a1"), res("cpus:6;mem:100"));
  EXPECT_DOUBLE_EQ(*allocator->frameworkDominantShare("f1", "r"), 0.25);
}

TEST(Allocator, RemoveFrameworkFreesWhatItHeld) {
  auto allocator = make();
  ASSERT_TRUE(allocator->addFramework("f1", {"r"}).ok());
  ASSERT_TRUE(allocator->addFramework("f2", {"r"}).ok());
  ASSERT_TRUE(allocator->addAgent("a1", res("cpus:4;mem:100")).ok());
  auto offers = allocator->allocate(at(0));
  ASSERT_EQ(offers.size(), 1U);
  std::string holder = offers[0].frameworkId;
  std::string other = holder == "f1" ? "f2" : "f1";
  ASSERT_TRUE(allocator->removeFramework(holder).ok());
  EXPECT_EQ(allocator->roleAllocation("r")->scalar("cpus"), 0.0);
  offers = allocator->allocate(at(1));
  ASSERT_EQ(offers.size(), 1U);
  EXPECT_EQ(offers[0].frameworkId, other);
  // The slot of the removed framework is reused without leaking its filters or shares.
  ASSERT_TRUE(allocator->addFramework("f3", {"r"}).ok());
  EXPECT_DOUBLE_EQ(*allocator->frameworkDominantShare("f3", "r"), 0.0);
}

TEST(Allocator, NewerFilterReplacesOlder) {
  auto allocator = make();
  ASSERT_TRUE(allocator->addFramework("f1", {"r"}).ok());
  ASSERT_TRUE(allocator->addAgent("a1", res("cpus:4;mem:100")).ok());
  auto offers = allocator->allocate(at(0));
  ASSERT_TRUE(
      allocator->recoverResources("f1", "a1", "r", offers[0].resources, kForever, at(0)).ok());
  ASSERT_TRUE(
      allocator
          ->addRefuseFilter("f1", "a1", "r", offers[0].resources, std::chrono::seconds(5), at(1))
          .ok());
  EXPECT_TRUE(allocator->allocate(at(5)).empty());
  EXPECT_EQ(allocator->allocate(at(6)).size(), 1U);
}

// A quota can make what a role may take smaller than what is free; a filter that covers that
// smaller offer must still hold, which the core checks exactly rather than on the fast path.
TEST(Allocator, FilterAppliesToQuotaCappedOffers) {
  auto allocator = make();
  ASSERT_TRUE(allocator->addFramework("f1", {"r"}).ok());
  ASSERT_TRUE(allocator->setQuota("r", res("cpus:1")).ok());
  ASSERT_TRUE(allocator->addAgent("a1", res("cpus:4;mem:100")).ok());
  auto offers = allocator->allocate(at(0));
  ASSERT_EQ(offers.size(), 1U);
  EXPECT_EQ(offers[0].resources, res("cpus:1;mem:100"));
  ASSERT_TRUE(
      allocator->recoverResources("f1", "a1", "r", offers[0].resources, kForever, at(0)).ok());
  EXPECT_TRUE(allocator->allocate(at(1)).empty());
  ASSERT_TRUE(allocator->setQuota("r", Resources{}).ok());
  EXPECT_EQ(allocator->allocate(at(2)).size(), 1U);
}

TEST(Allocator, RoleOrderIsHierarchicalWithVirtualLeaves) {
  auto allocator = make();
  ASSERT_TRUE(allocator->addFramework("eng", {"eng"}).ok());
  ASSERT_TRUE(allocator->addFramework("web", {"eng/web"}).ok());
  ASSERT_TRUE(allocator->addFramework("ops", {"ops"}).ok());
  ASSERT_TRUE(allocator
                  ->addAgent("a1", res("cpus:10;mem:10"),
                             {{"eng", "eng", res("cpus:1")}, {"ops", "ops", res("cpus:2")}})
                  .ok());
  // eng's subtree (0.1) is below ops (0.2); inside eng, web (0) comes before eng's own (0.1).
  EXPECT_EQ(allocator->roleOrder(), (std::vector<std::string>{"eng/web", "eng", "ops"}));
}

TEST(Allocator, ExpiredFiltersAcrossManyAgents) {
  auto allocator = make();
  ASSERT_TRUE(allocator->addFramework("f1", {"r"}).ok());
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(allocator->addAgent(id("a", i), res("cpus:1;mem:1")).ok());
  }
  auto offers = allocator->allocate(at(0));
  ASSERT_EQ(offers.size(), 100U);
  for (std::size_t i = 0; i < offers.size(); ++i) {
    ASSERT_TRUE(allocator
                    ->recoverResources("f1", offers[i].agentId, "r", offers[i].resources,
                                       std::chrono::seconds(i % 2 == 0 ? 10 : 20), at(0))
                    .ok());
  }
  EXPECT_EQ(allocator->nextFilterExpiry(), at(10));
  EXPECT_TRUE(allocator->allocate(at(9)).empty());
  EXPECT_EQ(allocator->allocate(at(10)).size(), 50U);
  EXPECT_EQ(allocator->nextFilterExpiry(), at(20));
  EXPECT_EQ(allocator->allocate(at(20)).size(), 50U);
}

}  // namespace
}  // namespace tessera::allocation::testing

namespace tessera::allocation::testing {
namespace {

// The core keeps its orders up to date incrementally (one rotate per change); a twin that is
// forced to re-sort from scratch before every cycle must make exactly the same offers through a
// long random sequence of operations. Also checks that nothing is created or lost.
TEST(Allocator, IncrementalOrderMatchesFullResort) {
  auto incremental = make();
  auto resorted = make();
  std::mt19937 random(42);  // Seeded: the test is deterministic.
  const std::vector<std::string> roles = {"eng", "eng/web", "eng/db", "ops", "batch/x"};
  for (auto* allocator : {incremental.get(), resorted.get()}) {
    ASSERT_TRUE(allocator->setWeight("zz", 1.0).ok());
    ASSERT_TRUE(allocator->setWeight("ops", 2.0).ok());
    ASSERT_TRUE(allocator->setQuota("eng", res("cpus:40")).ok());
    for (int f = 0; f < 12; ++f) {
      ASSERT_TRUE(allocator->addFramework(id("f", f), {roles[f % roles.size()]}).ok());
    }
    for (int a = 0; a < 30; ++a) {
      ASSERT_TRUE(allocator
                      ->addAgent(id("a", a), res(a % 3 == 0 ? "cpus:8;mem:64;gpus:1"
                                                            : "cpus:4;mem:128;ports:[1-100]"))
                      .ok());
    }
  }
  const Resources total = incremental->clusterTotal();
  std::vector<Offer> outstanding;
  for (int step = 0; step < 300; ++step) {
    ASSERT_TRUE(resorted->setWeight("zz", 1.0).ok());  // Forces a full re-sort.
    auto offers = incremental->allocate(at(step));
    auto expected = resorted->allocate(at(step));
    ASSERT_EQ(offers.size(), expected.size()) << "step " << step;
    for (std::size_t i = 0; i < offers.size(); ++i) {
      ASSERT_EQ(offers[i].frameworkId, expected[i].frameworkId) << "step " << step;
      ASSERT_EQ(offers[i].agentId, expected[i].agentId) << "step " << step;
      ASSERT_EQ(offers[i].resources, expected[i].resources) << "step " << step;
    }
    outstanding.insert(outstanding.end(), offers.begin(), offers.end());
    // Each outstanding offer is kept (a task), partly returned, or declined with a filter.
    std::vector<Offer> kept;
    for (const Offer& offer : outstanding) {
      int choice = static_cast<int>(random() % 4);
      if (choice == 0) {
        kept.push_back(offer);
        continue;
      }
      Resources back = offer.resources;
      if (choice == 1) back = back.scalarsOnly() - res("cpus:1");
      Duration filter = choice == 3 ? std::chrono::seconds(random() % 5) : kNoFilter;
      for (auto* allocator : {incremental.get(), resorted.get()}) {
        ASSERT_TRUE(allocator
                        ->recoverResources(offer.frameworkId, offer.agentId, offer.role, back,
                                           filter, at(step))
                        .ok());
      }
      Offer rest = offer;
      rest.resources -= back;
      if (!rest.resources.empty()) kept.push_back(rest);
    }
    outstanding = std::move(kept);
    std::string framework = id("f", static_cast<int>(random() % 12));
    switch (random() % 8) {
      case 0:
        for (auto* allocator : {incremental.get(), resorted.get()}) {
          ASSERT_TRUE(allocator->suppress(framework).ok());
        }
        break;
      case 1:
        for (auto* allocator : {incremental.get(), resorted.get()}) {
          ASSERT_TRUE(allocator->revive(framework).ok());
        }
        break;
      default:
        break;
    }
    // Conservation: free plus held is the cluster, on every scalar.
    Resources accounted;
    for (int a = 0; a < 30; ++a) accounted += incremental->agentFree(id("a", a))->scalarsOnly();
    for (int f = 0; f < 12; ++f) {
      accounted += incremental->frameworkAllocation(id("f", f))->scalarsOnly();
    }
    ASSERT_EQ(accounted, total) << "step " << step;
    ASSERT_LE(incremental->roleAllocation("eng")->scalar("cpus"), 40.0);
  }
}

}  // namespace
}  // namespace tessera::allocation::testing

namespace tessera::allocation::testing {
namespace {

// Filters that expire at different times and filters that share one expiry (more of them than a
// kind remembers members for) both expire exactly on time.
TEST(Allocator, FiltersExpireWhetherSharedOrNot) {
  auto allocator = make();
  for (int f = 0; f < 100; ++f) ASSERT_TRUE(allocator->addFramework(id("f", f), {"r"}).ok());
  ASSERT_TRUE(allocator->addAgent("a1", res("cpus:1;mem:1")).ok());
  const Resources free = res("cpus:1;mem:1");
  // f0..f79 share one kind (expiry 100); f80..f99 each have their own (expiry 10 + f).
  for (int f = 0; f < 80; ++f) {
    ASSERT_TRUE(
        allocator->addRefuseFilter(id("f", f), "a1", "r", free, std::chrono::seconds(100), at(0))
            .ok());
  }
  for (int f = 80; f < 100; ++f) {
    ASSERT_TRUE(
        allocator->addRefuseFilter(id("f", f), "a1", "r", free, std::chrono::seconds(f - 70), at(0))
            .ok());
  }
  EXPECT_TRUE(allocator->allocate(at(9)).empty());
  for (int f = 80; f < 100; ++f) {
    auto offers = allocator->allocate(at(f - 70));
    ASSERT_EQ(offers.size(), 1U) << f;
    EXPECT_EQ(offers[0].frameworkId, id("f", f));
    ASSERT_TRUE(allocator
                    ->recoverResources(offers[0].frameworkId, "a1", "r", offers[0].resources,
                                       kForever, at(f - 70))
                    .ok());
  }
  EXPECT_TRUE(allocator->allocate(at(99)).empty());
  auto offers = allocator->allocate(at(100));
  ASSERT_EQ(offers.size(), 1U);
  EXPECT_EQ(offers[0].frameworkId, "f0");
}

}  // namespace
}  // namespace tessera::allocation::testing

namespace tessera::allocation::testing {
namespace {

// An inactive (unreachable) agent keeps what runs on it and its filters, and is offered again
// once it comes back.
TEST(Allocator, DeactivatedAgentKeepsItsStateButIsNotOffered) {
  auto allocator = make();
  ASSERT_TRUE(allocator->addFramework("f1", {"r"}).ok());
  ASSERT_TRUE(allocator->addAgent("a1", res("cpus:4;mem:100"), {{"f1", "r", res("cpus:1")}}).ok());
  ASSERT_TRUE(allocator->deactivateAgent("a1").ok());
  EXPECT_TRUE(allocator->allocate(at(0)).empty());
  EXPECT_EQ(allocator->frameworkAllocation("f1")->scalar("cpus"), 1.0);
  ASSERT_TRUE(allocator->recoverResources("f1", "a1", "r", res("cpus:1"), kNoFilter, at(1)).ok());
  EXPECT_TRUE(allocator->allocate(at(2)).empty());
  ASSERT_TRUE(allocator->activateAgent("a1").ok());
  EXPECT_TRUE(allocator->allocationPending());
  auto offers = allocator->allocate(at(3));
  ASSERT_EQ(offers.size(), 1U);
  EXPECT_EQ(offers[0].resources, res("cpus:4;mem:100"));
  EXPECT_EQ(allocator->deactivateAgent("nope").error().message, "unknown agent 'nope'");
  EXPECT_EQ(allocator->activateAgent("nope").error().message, "unknown agent 'nope'");
}

}  // namespace
}  // namespace tessera::allocation::testing

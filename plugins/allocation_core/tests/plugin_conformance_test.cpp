// The conformance suite of allocator plugins: every allocator plugin passes it, loaded through
// the real loader in an in-process node and driven by allocator protocol messages the way the
// master drives it (tessera/protocol/allocator.h). Parameterized by the plugin's name.
//
// Time is real here (the plugin's loop clock), so the timing tests use short filters and assert
// only lower bounds; cycles run only when something is pending, on allocate_now or on filter
// expiry (the periodic interval is an hour), so each batch has a known cause. That nothing is
// offered is checked after allocate_now with a round trip (FakeMaster::quiet), not a silence.
#include <gtest/gtest.h>

#include "fake_master.h"

namespace tessera::allocation::testing {
namespace {

class AllocatorPlugin : public ::testing::TestWithParam<std::string> {
 protected:
  // Starts a node with the plugin under test and `keys` in its table.
  void start(const std::string& keys = "") {
    node_ = std::make_unique<AllocatorNode>(GetParam(), keys);
    auto started = node_->start();
    ASSERT_TRUE(started.ok()) << started.error().message;
    master_ = std::make_unique<FakeMaster>(node_->zmq_context(), node_->endpoint());
  }

  FakeMaster& master() { return *master_; }

  std::unique_ptr<AllocatorNode> node_;
  std::unique_ptr<FakeMaster> master_;
};

// Ghodsi et al., "Dominant Resource Fairness", section 4: 9 CPUs and 18 GB; A's tasks need
// <1 CPU, 4 GB>, B's <3 CPUs, 1 GB>. Each framework launches one task per grant and recovers the
// rest; the progression ends when a batch launches nothing, with A running 3 tasks and B 2.
TEST_P(AllocatorPlugin, DrfPaperExample) {
  ASSERT_NO_FATAL_FAILURE(start());
  master().addFramework("A", {"a"});
  master().addFramework("B", {"b"});
  master().addAgent("agent", "cpus:9;mem:18");

  const std::map<std::string, Resources> task = {{"A", *Resources::parse("cpus:1;mem:4")},
                                                 {"B", *Resources::parse("cpus:3;mem:1")}};
  std::map<std::string, int> tasks;
  std::map<std::string, Resources> used;
  for (int round = 0; round < 100; ++round) {
    auto batch = master().next();
    ASSERT_TRUE(batch) << "no batch in round " << round;
    bool launched = false;
    for (const msg::Grant& grant : batch->grants) {
      Resources rest = *fromProtocol(grant.resources);
      const Resources& need = task.at(grant.framework_id);
      if (rest.contains(need)) {
        ++tasks[grant.framework_id];
        used[grant.framework_id] += need;
        rest -= need;
        launched = true;
      }
      master().recover(grant, toProtocol(rest));
    }
    if (!launched) break;
  }
  EXPECT_EQ(tasks["A"], 3);
  EXPECT_EQ(tasks["B"], 2);
  EXPECT_EQ(used["A"].toString(), "cpus:3;mem:12");
  EXPECT_EQ(used["B"].toString(), "cpus:6;mem:2");
}

TEST_P(AllocatorPlugin, GrantedResourcesCountUntilRecovered) {
  ASSERT_NO_FATAL_FAILURE(start());
  master().addFramework("f1", {"r"});
  master().addAgent("a1", "cpus:4;mem:1024;ports:[31000-32000]");
  auto batch = master().next();
  ASSERT_TRUE(batch);
  ASSERT_EQ(batch->grants.size(), 1U);
  EXPECT_EQ(batch->grants[0].framework_id, "f1");
  EXPECT_EQ(batch->grants[0].agent_id, "a1");
  EXPECT_EQ(batch->grants[0].role, "r");
  EXPECT_EQ(text(batch->grants[0].resources), "cpus:4;mem:1024;ports:[31000-32000]");
  // Nothing is offered twice.
  master().allocateNow();
  EXPECT_TRUE(master().quiet());
  // Part comes back (a task ended): only that part is granted again, without asking.
  master().recover(batch->grants[0], wire("cpus:1;ports:[31000-31009]"));
  auto again = master().next();
  ASSERT_TRUE(again);
  ASSERT_EQ(again->grants.size(), 1U);
  EXPECT_EQ(text(again->grants[0].resources), "cpus:1;ports:[31000-31009]");
}

TEST_P(AllocatorPlugin, RefuseFilterExpires) {
  ASSERT_NO_FATAL_FAILURE(start());
  master().addFramework("f1", {"r"});
  master().addAgent("a1", "cpus:4;mem:1024");
  auto batch = master().next();
  ASSERT_TRUE(batch);
  ASSERT_EQ(batch->grants.size(), 1U);
  auto declined = std::chrono::steady_clock::now();
  // A second: long enough that the allocate_now right behind the decline is handled while the
  // filter holds, on however slow a machine.
  master().decline(batch->grants[0], 1);
  // Refused while the filter holds, even when asked.
  master().allocateNow();
  EXPECT_TRUE(master().quiet());
  // Offered again once it expires, without being asked, and not before.
  auto again = master().next(10s);
  ASSERT_TRUE(again);
  EXPECT_GE(std::chrono::steady_clock::now() - declined, 1s);
  ASSERT_EQ(again->grants.size(), 1U);
  EXPECT_EQ(again->grants[0].agent_id, "a1");
}

TEST_P(AllocatorPlugin, ReviveDropsRefuseFilters) {
  ASSERT_NO_FATAL_FAILURE(start());
  master().addFramework("f1", {"r"});
  master().addAgent("a1", "cpus:4;mem:1024");
  auto batch = master().next();
  ASSERT_TRUE(batch);
  master().decline(batch->grants[0], 3600);
  master().allocateNow();
  EXPECT_TRUE(master().quiet());
  master().send(msg::Revive{"f1", ""});
  auto again = master().next();
  ASSERT_TRUE(again);
  EXPECT_EQ(again->grants.size(), 1U);
}

TEST_P(AllocatorPlugin, SuppressedRoleGetsNothingUntilRevived) {
  ASSERT_NO_FATAL_FAILURE(start());
  master().addFramework("f1", {"r1", "r2"});
  master().send(msg::Suppress{"f1", "r1"});
  master().addAgent("a1", "cpus:4;mem:1024");
  master().addAgent("a2", "cpus:4;mem:1024");
  auto batch = master().next();
  ASSERT_TRUE(batch);
  // A batch may come before the second agent is known; collect both grants.
  std::vector<msg::Grant> grants = batch->grants;
  if (grants.size() < 2) {
    auto more = master().next();
    ASSERT_TRUE(more);
    grants.insert(grants.end(), more->grants.begin(), more->grants.end());
  }
  ASSERT_EQ(grants.size(), 2U);
  for (const msg::Grant& grant : grants) EXPECT_EQ(grant.role, "r2");
  // Everything suppressed: declined resources are not offered again, even when asked.
  master().send(msg::Suppress{"f1", ""});
  for (const msg::Grant& grant : grants) master().decline(grant);
  master().allocateNow();
  EXPECT_TRUE(master().quiet());
  master().send(msg::Revive{"f1", "r1"});
  master().allocateNow();
  auto revived = master().next();
  ASSERT_TRUE(revived);
  ASSERT_EQ(revived->grants.size(), 2U);
  for (const msg::Grant& grant : revived->grants) EXPECT_EQ(grant.role, "r1");
}

// Quota from TOML and from set_quota: eng (web + db) never holds more than 6 cpus and eng/db
// more than 1 cpu and 100 mem; what eng may not take goes to batch; raising the quota at run
// time lets eng grow.
TEST_P(AllocatorPlugin, QuotaLimitsHold) {
  ASSERT_NO_FATAL_FAILURE(start("batch_delay_ms = 3600000\nquota = { eng = \"cpus:6\" }\n"));
  master().send(msg::SetQuota{"eng/db", wire("cpus:1;mem:100")});
  master().addFramework("web", {"eng/web"});
  master().addFramework("db", {"eng/db"});
  master().addFramework("batch", {"batch"});
  for (int i = 0; i < 8; ++i) master().addAgent(numbered("a", i), "cpus:2;mem:1000");
  master().allocateNow();
  std::map<std::string, Resources> held;  // by role
  for (const msg::Allocated& batch : master().drain()) {
    for (const msg::Grant& grant : batch.grants) held[grant.role] += *fromProtocol(grant.resources);
  }
  EXPECT_DOUBLE_EQ(held["eng/web"].scalar("cpus") + held["eng/db"].scalar("cpus"), 6.0);
  EXPECT_DOUBLE_EQ(held["eng/db"].scalar("cpus"), 1.0);
  EXPECT_DOUBLE_EQ(held["eng/db"].scalar("mem"), 100.0);
  EXPECT_DOUBLE_EQ(held["batch"].scalar("cpus"), 10.0);
  // Raise eng's quota and remove batch: eng grows to the new limit and no further.
  master().send(msg::SetQuota{"eng", wire("cpus:8")});
  master().send(msg::FrameworkRemoved{"batch"});
  master().allocateNow();
  double grown = 0;
  for (const msg::Allocated& batch : master().drain()) {
    for (const msg::Grant& grant : batch.grants) {
      EXPECT_TRUE(grant.role.starts_with("eng")) << grant.role;
      grown += fromProtocol(grant.resources)->scalar("cpus");
    }
  }
  EXPECT_DOUBLE_EQ(grown, 2.0);
}

TEST_P(AllocatorPlugin, RemovedAgentIsNeverOffered) {
  ASSERT_NO_FATAL_FAILURE(start());
  master().addFramework("f1", {"r"});
  master().addAgent("a1", "cpus:4;mem:1024");
  master().addAgent("a2", "cpus:4;mem:1024");
  std::vector<msg::Grant> grants;
  while (grants.size() < 2) {
    auto batch = master().next();
    ASSERT_TRUE(batch);
    grants.insert(grants.end(), batch->grants.begin(), batch->grants.end());
  }
  master().send(msg::AgentRemoved{"a1"});
  // Declining everything, the removed agent's grant included (logged and ignored).
  for (const msg::Grant& grant : grants) master().decline(grant);
  for (int round = 0; round < 3; ++round) {
    master().allocateNow();
    auto batch = master().next();
    ASSERT_TRUE(batch);
    for (const msg::Grant& grant : batch->grants) {
      EXPECT_EQ(grant.agent_id, "a2");
      master().decline(grant);
    }
  }
  EXPECT_EQ(master().stats().agents, 1U);
}

TEST_P(AllocatorPlugin, DeactivatedAgentIsNotOfferedUntilActivated) {
  ASSERT_NO_FATAL_FAILURE(start());
  master().addFramework("f1", {"r"});
  master().addAgent("a1", "cpus:4;mem:1024");
  master().send(msg::AgentActivation{"a1", false});
  master().allocateNow();
  // A batch may have been cut before the deactivation arrived: declined, it is not offered
  // again.
  for (const msg::Allocated& early : master().drain()) {
    for (const msg::Grant& grant : early.grants) master().decline(grant);
  }
  master().allocateNow();
  EXPECT_TRUE(master().quiet());
  master().send(msg::AgentActivation{"a1", true});
  auto batch = master().next();
  ASSERT_TRUE(batch);
  EXPECT_EQ(batch->grants[0].agent_id, "a1");
}

TEST_P(AllocatorPlugin, InactiveFrameworkGetsNothing) {
  ASSERT_NO_FATAL_FAILURE(start());
  master().addFramework("f1", {"r"}, /*active=*/false);
  master().addAgent("a1", "cpus:4;mem:1024");
  master().allocateNow();
  EXPECT_TRUE(master().quiet());
  master().send(msg::FrameworkActivation{"f1", true});
  auto batch = master().next();
  ASSERT_TRUE(batch);
  EXPECT_EQ(batch->grants[0].framework_id, "f1");
}

// An agent re-registering with tasks (or known to a new master) carries what they use; it is
// charged to its framework and never offered.
TEST_P(AllocatorPlugin, AgentAddedWithAllocationsOffersOnlyTheRest) {
  ASSERT_NO_FATAL_FAILURE(start("batch_delay_ms = 3600000\n"));
  master().addFramework("f1", {"r"});
  master().addAgent("a1", "cpus:4;mem:1024", {msg::Allocation{"f1", "r", wire("cpus:3;mem:1000")}});
  master().allocateNow();
  auto batch = master().next();
  ASSERT_TRUE(batch);
  ASSERT_EQ(batch->grants.size(), 1U);
  EXPECT_EQ(text(batch->grants[0].resources), "cpus:1;mem:24");
  // Re-added with fewer tasks: what the message says replaces what was known.
  master().decline(batch->grants[0]);
  master().addAgent("a1", "cpus:4;mem:1024", {msg::Allocation{"f1", "r", wire("cpus:2;mem:1000")}});
  master().allocateNow();
  auto again = master().next();
  ASSERT_TRUE(again);
  ASSERT_EQ(again->grants.size(), 1U);
  EXPECT_EQ(text(again->grants[0].resources), "cpus:2;mem:24");
}

TEST_P(AllocatorPlugin, MaxOffersPerFrameworkPerCycle) {
  ASSERT_NO_FATAL_FAILURE(
      start("batch_delay_ms = 3600000\nmax_offers_per_framework_per_cycle = 2\n"));
  master().addFramework("f1", {"r"});
  for (int i = 0; i < 5; ++i) master().addAgent(numbered("a", i), "cpus:1;mem:10");
  EXPECT_EQ(master().stats().agents, 5U);
  std::size_t granted = 0;
  for (int cycle = 0; cycle < 3; ++cycle) {
    master().allocateNow();
    auto batch = master().next();
    ASSERT_TRUE(batch);
    EXPECT_LE(batch->grants.size(), 2U);
    granted += batch->grants.size();
  }
  EXPECT_EQ(granted, 5U);
}

// Weights from TOML, then from set_weight at run time.
TEST_P(AllocatorPlugin, WeightsScaleShares) {
  ASSERT_NO_FATAL_FAILURE(start("batch_delay_ms = 3600000\nweights = { a = 2.0 }\n"));
  master().addFramework("fa", {"a"});
  master().addFramework("fb", {"b"});
  for (int i = 0; i < 30; ++i) master().addAgent(numbered("s", i), "cpus:1;mem:1");
  EXPECT_EQ(master().stats().agents, 30U);
  master().allocateNow();
  std::map<std::string, Resources> held;
  std::vector<msg::Grant> grants;
  for (const msg::Allocated& batch : master().drain()) {
    for (const auto& [framework, resources] : byFramework(batch)) held[framework] += resources;
    grants.insert(grants.end(), batch.grants.begin(), batch.grants.end());
  }
  EXPECT_DOUBLE_EQ(held["fa"].scalar("cpus"), 20.0);
  EXPECT_DOUBLE_EQ(held["fb"].scalar("cpus"), 10.0);

  master().send(msg::SetWeight{"b", 2.0});
  master().send(msg::SetWeight{"a", 1.0});
  for (const msg::Grant& grant : grants) master().decline(grant);
  master().allocateNow();
  held.clear();
  for (const msg::Allocated& batch : master().drain()) {
    for (const auto& [framework, resources] : byFramework(batch)) held[framework] += resources;
  }
  EXPECT_DOUBLE_EQ(held["fa"].scalar("cpus"), 10.0);
  EXPECT_DOUBLE_EQ(held["fb"].scalar("cpus"), 20.0);
}

// A burst of recovers makes one cycle, not one per message. (The quiet moment that ends a burst
// is a second: a loaded machine can pause the plugin's thread for tens of milliseconds between
// two messages of one burst.)
TEST_P(AllocatorPlugin, BurstOfRecoversMakesOneBatch) {
  ASSERT_NO_FATAL_FAILURE(start("batch_delay_ms = 1000\n"));
  master().addFramework("f1", {"r"});
  for (int i = 0; i < 20; ++i) master().addAgent(numbered("a", i), "cpus:1;mem:1");
  master().allocateNow();
  std::vector<msg::Grant> grants;
  while (grants.size() < 20) {
    auto batch = master().next();
    ASSERT_TRUE(batch);
    grants.insert(grants.end(), batch->grants.begin(), batch->grants.end());
  }
  uint64_t before = master().stats().batches;
  for (const msg::Grant& grant : grants) master().decline(grant);
  auto batch = master().next();
  ASSERT_TRUE(batch);
  EXPECT_EQ(batch->grants.size(), 20U);
  EXPECT_EQ(master().stats().batches, before + 1);
}

// The periodic cycle runs by itself (here every 50 ms), and a pending cycle never waits longer
// than one interval, whatever batch_delay_ms says.
TEST_P(AllocatorPlugin, PeriodicCycleRuns) {
  ASSERT_NO_FATAL_FAILURE(start("allocation_interval_ms = 50\nbatch_delay_ms = 3600000\n"));
  master().addFramework("f1", {"r"});
  master().addAgent("a1", "cpus:1;mem:1");
  auto batch = master().next(10s);
  ASSERT_TRUE(batch);
  EXPECT_GE(master().stats().cycles, 1U);
}

// After a failover a new master (another connection) re-adds what it knows; from its first
// agent or framework event, batches go to it and no longer to the old one.
TEST_P(AllocatorPlugin, NewMasterTakesOverTheBatches) {
  ASSERT_NO_FATAL_FAILURE(start());
  master().addFramework("f1", {"r"});
  master().addAgent("a1", "cpus:1;mem:1");
  ASSERT_TRUE(master().next());
  FakeMaster successor(node_->zmq_context(), node_->endpoint(), "master2");
  successor.addFramework("f1", {"r"});
  successor.addAgent("a2", "cpus:1;mem:1");
  auto batch = successor.next();
  ASSERT_TRUE(batch);
  ASSERT_EQ(batch->grants.size(), 1U);
  EXPECT_EQ(batch->grants[0].agent_id, "a2");
  EXPECT_TRUE(master().quiet());
  EXPECT_EQ(successor.stats().master_changes, 2U);
}

// What the master may get wrong, or race on, is logged and ignored; the allocator keeps serving.
TEST_P(AllocatorPlugin, BadMessagesAreIgnored) {
  ASSERT_NO_FATAL_FAILURE(start());
  protocol::Resources negative;
  negative.scalars["cpus"] = -1;
  protocol::Resources inverted;
  inverted.scalars["cpus"] = 1;
  inverted.ranges["ports"] = {protocol::Range{10, 5}};
  master().addAgent("bad", "cpus:1");
  master().send(msg::AgentAdded{"neg", "h", negative, {}});
  master().send(msg::AgentAdded{"inv", "h", inverted, {}});
  master().send(msg::AgentRemoved{"ghost"});
  master().send(msg::AgentActivation{"ghost", true});
  master().send(msg::FrameworkRemoved{"ghost"});
  master().send(msg::FrameworkActivation{"ghost", false});
  master().send(msg::FrameworkAdded{"noroles", {}, true});
  master().send(msg::FrameworkAdded{"badrole", {"a//b"}, true});
  master().send(msg::Recover{"ghost", "bad", "r", wire("cpus:1"), 5});
  master().send(msg::Suppress{"ghost", ""});
  master().send(msg::Revive{"ghost", "r"});
  master().send(msg::SetWeight{"r", -3});
  master().send(msg::SetQuota{"r", negative});
  Stats stats = master().stats();
  EXPECT_EQ(stats.ignored, 13U);
  EXPECT_EQ(stats.agents, 1U);
  EXPECT_EQ(stats.frameworks, 0U);
  // Still serving.
  master().addFramework("f1", {"r"});
  auto batch = master().next();
  ASSERT_TRUE(batch);
  EXPECT_EQ(batch->grants[0].agent_id, "bad");
}

INSTANTIATE_TEST_SUITE_P(Plugins, AllocatorPlugin,
                         ::testing::Values("allocator_drf", "allocator_priority"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

// --- Configuration, through the real loader ------------------------------------------------

class AllocatorPluginConfig : public AllocatorPlugin {};

TEST_P(AllocatorPluginConfig, BadKeysAreReportedWithTheirPlace) {
  const std::string plugin = GetParam();
  AllocatorNode node(plugin,
                     "allocation_interval_ms = 0\n"
                     "weights = { a = \"heavy\", b = -1 }\n"
                     "quota = { eng = \"cpus:lots\", ops = \"ports:[1-2]\" }\n"
                     "max_offers = 3\n");
  auto started = node.start();
  ASSERT_FALSE(started.ok());
  const std::string& error = started.error().message;
  const std::string table = "plugins." + plugin;
  for (const std::string& expected :
       {table + ".allocation_interval_ms: expected a value from 1 to 3600000, got 0",
        table + ".weights.a: expected a number, got a string",
        table + ".weights.b: weight -1.000000 of role 'b' must be positive", table + ".quota.eng: ",
        table + ".quota.ops: quota of role 'ops' limits ranges, only scalars are supported",
        "unknown key '" + table + ".max_offers'"}) {
    EXPECT_NE(error.find(expected), std::string::npos) << "missing: " << expected << "\n" << error;
  }
}

// A tool (or a master on another host) can reach the allocator over tcp as well.
TEST_P(AllocatorPluginConfig, ExtraEndpointServesTcp) {
  AllocatorNode node(GetParam(), "extra_endpoints = [\"tcp://127.0.0.1:0\"]\n");
  auto started = node.start();
  ASSERT_TRUE(started.ok()) << started.error().message;
  EXPECT_EQ(node.announced("endpoint"), node.endpoint());
  std::string tcp = node.announced("extra_endpoint.1");
  ASSERT_TRUE(tcp.starts_with("tcp://127.0.0.1:")) << tcp;
  FakeMaster master(node.zmq_context(), tcp);
  EXPECT_EQ(master.stats().policy, GetParam() == "allocator_drf" ? "drf" : "priority");
  master.addFramework("f1", {"r"});
  master.addAgent("a1", "cpus:1;mem:1");
  auto batch = master.next();
  ASSERT_TRUE(batch);
  EXPECT_EQ(batch->grants.size(), 1U);
}

INSTANTIATE_TEST_SUITE_P(Plugins, AllocatorPluginConfig,
                         ::testing::Values("allocator_drf", "allocator_priority"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

}  // namespace
}  // namespace tessera::allocation::testing

// The conformance suite of allocator plugins: what every allocator must honour, whatever its
// policy. The plugin runs in a real tessera-host (harness.h); the test plays the master role,
// the only master the allocator has, and speaks tessera/protocol/allocator.h to it over ipc://.
//
// Run it for your allocator from one test source file (it defines the tests, so include it in
// one file only), at namespace scope:
//
//   #include "tessera/conformance/allocator.h"
//   TESSERA_ALLOCATOR_CONFORMANCE(Fifo, .name = "allocator_fifo", .dir = PLUGIN_DIR);
//
// (the arguments after the first initialise a tessera::conformance::PluginUnderTest) and link
// Tessera::conformance, which brings GoogleTest and gtest_main. Test names are
// `Fifo/AllocatorConformance.NAME/allocator_fifo`.
//
// THE CONTRACT (what the suite checks, and what an allocator must therefore do):
//
// Endpoint. The allocator binds an sdk::Server at the address in the `endpoint` key of its
// table, by default protocol::allocator::kEndpoint (where the master connects), and announces
// the address it bound as `endpoint` (context().announce("endpoint", address)). The harness
// sets `endpoint = "ipc://..."` and waits for that announcement.
//
// Messages it must handle (all in tessera/protocol/allocator.h), in the order they arrive on a
// connection, one after the other:
// - allocator.agent_added: the agent's `total` may be offered, less its `allocated` (what its
//   running tasks use, charged to their frameworks). An agent added again replaces what was
//   known of it.
// - allocator.agent_removed / allocator.framework_removed: never offer that agent, or to that
//   framework, again; what was granted to a removed framework may be offered to the others.
// - allocator.agent_activation / allocator.framework_activation: an inactive agent is not
//   offered, an inactive framework is offered nothing, until activated again.
// - allocator.recover: the resources are free again and are offered again soon, without an
//   allocate_now; with refuse_seconds > 0 not to that framework (for that role) on that agent
//   until the filter expires, even on allocate_now, and again after it (at the latest on the
//   first allocate_now after it expired).
// - allocator.suppress / allocator.revive: a suppressed role (every role of the framework when
//   `role` is empty) is offered nothing until revived; revive also drops the framework's refuse
//   filters.
// - allocator.allocate_now: run a cycle before handling the next message, so that the batch it
//   produces is pushed before the answer to any later request.
// - allocator.set_weight, allocator.set_quota, allocator.set_priority: answer each with
//   allocator.role_result, ok or with an `error` saying why not (an allocator without weights,
//   quotas or priorities refuses them; a weight that is not positive or a quota that is not
//   valid resources is refused). A quota answered ok is never exceeded. The suite also uses
//   set_weight on a role of its own as a barrier: its answer says that every message sent
//   before it was handled.
// What it sends: after a cycle that allocated something, one allocator.allocated batch, pushed
// (Server::send) to the peer that sent the latest agent or framework event (after a failover,
// a new master's connection).
//
// What every batch must respect (checked on every batch of every test): each grant names an
// agent that was added and not removed, a framework that was added and not removed, one of that
// framework's roles, and resources that are valid and not empty; and nothing is offered twice:
// on each agent, what its tasks use, plus everything granted and not yet recovered, fits in its
// total. With one framework and nothing filtered or suppressed, everything free is offered.
//
// Bad input (unknown agents and frameworks, negative or inverted resources, a framework
// without roles, a recover of what was not granted) is ignored (logged) and the allocator keeps
// serving everyone else.
//
// Not checked, because allocators may differ: who is offered first, how resources are split
// between grants and batches, how often cycles run, weights, priorities and whether quotas are
// supported at all.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "tessera/conformance/harness.h"
#include "tessera/protocol/allocator.h"
#include "tessera/protocol/resources.h"

namespace tessera::conformance {

namespace allocator_msg = protocol::allocator;

// "cpus:4;mem:1024;ports:[31000-32000]" as wire resources (a test failure when it does not
// parse).
inline protocol::Resources resources(const std::string& text) {
  auto parsed = protocol::parse_resources(text);
  EXPECT_TRUE(parsed.ok()) << "'" << text << "': " << (parsed.ok() ? "" : parsed.error().message);
  return parsed.ok() ? *parsed : protocol::Resources{};
}

inline bool same_resources(const protocol::Resources& a, const protocol::Resources& b) {
  return a.contains(b) && b.contains(a);
}

// The master's side of the allocator protocol, with the book-keeping that checks every batch:
// what each agent has, what its tasks use and what is granted and not yet recovered.
class TestMaster {
 public:
  static constexpr const char* kBarrierRole = "tessera-conformance-barrier";

  explicit TestMaster(const std::string& endpoint, const std::string& name = "master")
      : peer_(name), client_(peer_.bus, name) {
    auto connected = client_.connect(endpoint);
    EXPECT_TRUE(connected.ok()) << (connected.ok() ? "" : connected.error().message);
    client_.on<allocator_msg::Allocated>(
        [this](const Envelope&, const allocator_msg::Allocated& batch) {
          check(batch);
          batches_.push_back(batch);
        });
  }

  // Sends a one-way event, and notes what it changes.
  template <typename T>
  void send(const T& body) {
    note(body);
    client_.send(body);
  }

  void add_framework(const std::string& id, std::vector<std::string> roles, bool active = true) {
    send(allocator_msg::FrameworkAdded{id, std::move(roles), active});
  }
  void add_agent(const std::string& id, const std::string& total,
                 std::vector<allocator_msg::Allocation> allocated = {}) {
    send(allocator_msg::AgentAdded{id, id + ".example", resources(total), std::move(allocated)});
  }
  void recover(const allocator_msg::Grant& grant, const protocol::Resources& part,
               double refuse_seconds = 0) {
    send(allocator_msg::Recover{grant.framework_id, grant.agent_id, grant.role, part,
                                refuse_seconds});
  }
  void decline(const allocator_msg::Grant& grant, double refuse_seconds = 0) {
    recover(grant, grant.resources, refuse_seconds);
  }
  void decline(const std::vector<allocator_msg::Grant>& grants, double refuse_seconds = 0) {
    for (const auto& grant : grants) decline(grant, refuse_seconds);
  }
  void allocate_now() { send(allocator_msg::AllocateNow{}); }

  // A role change, and its answer (a test failure when there is none).
  template <typename T>
  allocator_msg::RoleResult change_role(const T& body) {
    return peer_.ask<allocator_msg::RoleResult>(client_, body);
  }

  // Returns once every message sent before was handled (and any batch it caused arrived: it
  // travels on the same connection, ahead of the answer).
  void barrier() {
    auto answer = peer_.call(client_, allocator_msg::SetWeight{kBarrierRole, 1.0});
    EXPECT_TRUE(answer.ok()) << "no answer to allocator.set_weight (the suite's barrier): "
                             << answer.error().message;
  }

  // The next batch, waiting up to `timeout` for it.
  std::optional<allocator_msg::Allocated> next(std::chrono::milliseconds timeout = 10s) {
    peer_.run_until([this] { return !batches_.empty(); }, timeout);
    if (batches_.empty()) return std::nullopt;
    allocator_msg::Allocated batch = std::move(batches_.front());
    batches_.pop_front();
    return batch;
  }

  // Grants from the batches that come, until they hold `wanted` in total (or `timeout`).
  std::vector<allocator_msg::Grant> collect(const protocol::Resources& wanted,
                                            std::chrono::milliseconds timeout = 10s) {
    std::vector<allocator_msg::Grant> grants;
    protocol::Resources total;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!total.contains(wanted) && std::chrono::steady_clock::now() < deadline) {
      auto batch = next(std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now()));
      if (!batch) break;
      for (const auto& grant : batch->grants) {
        total += grant.resources;
        grants.push_back(grant);
      }
    }
    EXPECT_TRUE(total.contains(wanted)) << "offered " << total.to_string() << ", expected "
                                        << protocol::Resources(wanted).to_string();
    return grants;
  }

  // Every batch that what was sent so far caused, taken out of the queue.
  std::vector<allocator_msg::Allocated> drain() {
    barrier();
    std::vector<allocator_msg::Allocated> out(batches_.begin(), batches_.end());
    batches_.clear();
    return out;
  }

  // True when nothing sent so far caused a batch.
  bool quiet() {
    auto batches = drain();
    for (const auto& batch : batches) {
      for (const auto& grant : batch.grants) {
        ADD_FAILURE() << "unexpected grant to '" << grant.framework_id << "' on '" << grant.agent_id
                      << "': " << protocol::Resources(grant.resources).to_string();
      }
    }
    return batches.empty();
  }

 private:
  struct Agent {
    protocol::Resources total;
    protocol::Resources used;                                // by its tasks
    std::map<std::string, protocol::Resources> outstanding;  // granted, by framework
  };

  void note(const allocator_msg::AgentAdded& added) {
    // Bad agents are to be ignored: they are not known, and a grant on one is a failure.
    if (!protocol::check_resources(added.total).ok()) return;
    Agent agent{added.total, {}, {}};
    for (const auto& allocation : added.allocated) agent.used += allocation.resources;
    agents_[added.agent_id] = agent;
  }
  void note(const allocator_msg::AgentRemoved& removed) { agents_.erase(removed.agent_id); }
  void note(const allocator_msg::FrameworkAdded& added) {
    if (!added.roles.empty()) frameworks_[added.framework_id] = added.roles;
  }
  void note(const allocator_msg::FrameworkRemoved& removed) {
    frameworks_.erase(removed.framework_id);
    for (auto& [id, agent] : agents_) agent.outstanding.erase(removed.framework_id);
  }
  void note(const allocator_msg::Recover& recovered) {
    auto agent = agents_.find(recovered.agent_id);
    if (agent == agents_.end()) return;
    auto granted = agent->second.outstanding.find(recovered.framework_id);
    if (granted != agent->second.outstanding.end()) granted->second -= recovered.resources;
  }
  template <typename T>
  void note(const T&) {}

  void check(const allocator_msg::Allocated& batch) {
    for (const auto& grant : batch.grants) {
      std::string what = "grant to '" + grant.framework_id + "' (role '" + grant.role + "') on '" +
                         grant.agent_id + "' of " +
                         protocol::Resources(grant.resources).to_string();
      auto framework = frameworks_.find(grant.framework_id);
      EXPECT_NE(framework, frameworks_.end()) << what << ": no such framework";
      if (framework != frameworks_.end()) {
        EXPECT_NE(std::find(framework->second.begin(), framework->second.end(), grant.role),
                  framework->second.end())
            << what << ": not one of the framework's roles";
      }
      EXPECT_TRUE(protocol::check_resources(grant.resources).ok()) << what << ": invalid";
      EXPECT_FALSE(grant.resources.empty()) << what << ": empty";
      auto agent = agents_.find(grant.agent_id);
      EXPECT_NE(agent, agents_.end()) << what << ": no such agent";
      if (agent == agents_.end()) continue;
      agent->second.outstanding[grant.framework_id] += grant.resources;
      protocol::Resources held = agent->second.used;
      for (const auto& [id, granted] : agent->second.outstanding) held += granted;
      EXPECT_TRUE(agent->second.total.contains(held))
          << what << ": offered twice (its tasks and the grants not recovered hold "
          << held.to_string() << ", the agent has " << agent->second.total.to_string() << ")";
    }
  }

  Peer peer_;
  sdk::Client client_;
  std::deque<allocator_msg::Allocated> batches_;
  std::map<std::string, Agent> agents_;
  std::map<std::string, std::vector<std::string>> frameworks_;
};

// Starts the plugin under test in a host of its own (roles = [], the plugin in the [master]
// allocator slot, its endpoint on ipc://) and connects a TestMaster to it.
class AllocatorConformance : public ::testing::TestWithParam<PluginUnderTest> {
 protected:
  void SetUp() override {
    const PluginUnderTest& plugin = GetParam();
    node_ = std::make_unique<Node>(plugin);
    node_->configure("roles = []\n[master]\nallocator = \"" + plugin.name + "\"\n");
    ASSERT_NO_FATAL_FAILURE(node_->start("endpoint"));
    endpoint_ = node_->announced("endpoint");
    master_ = std::make_unique<TestMaster>(endpoint_);
  }

  void TearDown() override {
    master_.reset();
    if (node_) node_->stop();
  }

  TestMaster& master() { return *master_; }
  const std::string& endpoint() const { return endpoint_; }

  std::unique_ptr<Node> node_;
  std::string endpoint_;
  std::unique_ptr<TestMaster> master_;
};

inline std::set<std::string> roles_of(const std::vector<allocator_msg::Grant>& grants) {
  std::set<std::string> out;
  for (const auto& grant : grants) out.insert(grant.role);
  return out;
}

inline protocol::Resources sum(const std::vector<allocator_msg::Grant>& grants) {
  protocol::Resources out;
  for (const auto& grant : grants) out += grant.resources;
  return out;
}

// The allocator binds the endpoint it was given and announces it.
TEST_P(AllocatorConformance, BindsAndAnnouncesItsEndpoint) {
  EXPECT_EQ(endpoint(), node_->endpoint());
}

// One framework, one agent: everything the agent has is offered to it, once.
TEST_P(AllocatorConformance, OffersWhatAnAgentHasOnce) {
  master().add_framework("f1", {"r"});
  master().add_agent("a1", "cpus:4;mem:1024;ports:[31000-32000]");
  auto grants = master().collect(resources("cpus:4;mem:1024;ports:[31000-32000]"));
  for (const auto& grant : grants) {
    EXPECT_EQ(grant.framework_id, "f1");
    EXPECT_EQ(grant.agent_id, "a1");
    EXPECT_EQ(grant.role, "r");
  }
  // Nothing is offered twice, even when asked, nor to a framework that comes later.
  master().allocate_now();
  EXPECT_TRUE(master().quiet());
  master().add_framework("f2", {"r"});
  master().allocate_now();
  EXPECT_TRUE(master().quiet());
}

// What comes back (a task ended, an offer was declined) is offered again without asking, and
// only that.
TEST_P(AllocatorConformance, RecoveredResourcesAreOfferedAgain) {
  master().add_framework("f1", {"r"});
  master().add_agent("a1", "cpus:4;mem:1024;ports:[31000-32000]");
  auto grants = master().collect(resources("cpus:4;mem:1024;ports:[31000-32000]"));
  ASSERT_FALSE(grants.empty());
  // Part of the first grant comes back.
  const auto part = resources("cpus:1;ports:[31000-31009]");
  auto holder = std::find_if(grants.begin(), grants.end(),
                             [&](const auto& grant) { return grant.resources.contains(part); });
  ASSERT_NE(holder, grants.end()) << "no single grant holds " << part.to_string();
  master().recover(*holder, part);
  auto again = master().collect(part);
  EXPECT_TRUE(same_resources(sum(again), part)) << sum(again).to_string();
  // Everything comes back (declined): everything is offered again.
  for (const auto& grant : grants) {
    master().recover(grant, &grant == &*holder ? grant.resources - part : grant.resources);
  }
  master().decline(again);
  master().collect(resources("cpus:4;mem:1024;ports:[31000-32000]"));
  master().allocate_now();
  EXPECT_TRUE(master().quiet());
}

// Several frameworks and agents: however the allocator shares them out, no resource is granted
// twice (every batch is checked), and all of it is offered.
TEST_P(AllocatorConformance, NothingIsGrantedTwice) {
  master().add_framework("f1", {"r1"});
  master().add_framework("f2", {"r2"});
  master().add_framework("f3", {"r1", "r2"});
  for (int i = 0; i < 4; ++i) master().add_agent("a" + std::to_string(i), "cpus:2;mem:512");
  auto grants = master().collect(resources("cpus:8;mem:2048"));
  EXPECT_TRUE(same_resources(sum(grants), resources("cpus:8;mem:2048"))) << sum(grants).to_string();
  // Declined and recovered in turns: still never twice.
  for (int round = 0; round < 3; ++round) {
    master().decline(grants);
    grants = master().collect(resources("cpus:8;mem:2048"));
  }
  master().allocate_now();
  EXPECT_TRUE(master().quiet());
}

// A refuse filter holds for its framework, even on allocate_now, until it expires; then the
// resources are offered to it again.
TEST_P(AllocatorConformance, RefuseFilterHoldsUntilItExpires) {
  master().add_framework("f1", {"r"});
  master().add_agent("a1", "cpus:4;mem:1024");
  auto grants = master().collect(resources("cpus:4;mem:1024"));
  auto declined = std::chrono::steady_clock::now();
  // Two seconds: long enough that the allocate_now right behind the decline is handled while
  // the filter holds, on however slow a machine.
  master().decline(grants, 2);
  master().allocate_now();
  EXPECT_TRUE(master().quiet());
  // Offered again once it has expired (asked for every 100 ms), and not before.
  std::optional<allocator_msg::Allocated> again;
  auto deadline = declined + 30s;
  while (!again && std::chrono::steady_clock::now() < deadline) {
    master().allocate_now();
    again = master().next(100ms);
  }
  ASSERT_TRUE(again) << "not offered again within 30 s of a 2 s refuse filter";
  EXPECT_GE(std::chrono::steady_clock::now() - declined, 2s);
  ASSERT_FALSE(again->grants.empty());
  EXPECT_EQ(again->grants[0].framework_id, "f1");
  EXPECT_EQ(again->grants[0].agent_id, "a1");
}

// What one framework refuses goes to another (no framework is starved by a refusal), and a
// revive drops the refuse filters of the framework that revives.
TEST_P(AllocatorConformance, RefusedResourcesGoToAnotherFrameworkAndReviveDropsFilters) {
  master().add_framework("f1", {"r"});
  master().add_agent("a1", "cpus:4;mem:1024");
  auto first = master().collect(resources("cpus:4;mem:1024"));
  master().add_framework("f2", {"r"});
  master().decline(first, 3600);
  auto second = master().collect(resources("cpus:4;mem:1024"));
  for (const auto& grant : second) {
    EXPECT_EQ(grant.framework_id, "f2") << "refused by 'f1' for an hour";
  }
  master().decline(second, 3600);
  master().allocate_now();
  EXPECT_TRUE(master().quiet());
  master().send(allocator_msg::Revive{"f1", ""});
  auto revived = master().collect(resources("cpus:4;mem:1024"));
  for (const auto& grant : revived) EXPECT_EQ(grant.framework_id, "f1");
}

// A suppressed role is offered nothing, even when asked, until it is revived.
TEST_P(AllocatorConformance, SuppressedRoleGetsNothingUntilRevived) {
  master().add_framework("f1", {"r1", "r2"});
  master().send(allocator_msg::Suppress{"f1", "r1"});
  master().add_agent("a1", "cpus:4;mem:1024");
  master().add_agent("a2", "cpus:4;mem:1024");
  auto grants = master().collect(resources("cpus:8;mem:2048"));
  EXPECT_EQ(roles_of(grants), std::set<std::string>{"r2"});
  // Everything suppressed: declined resources are not offered again, even when asked.
  master().send(allocator_msg::Suppress{"f1", ""});
  master().decline(grants);
  master().allocate_now();
  EXPECT_TRUE(master().quiet());
  master().send(allocator_msg::Revive{"f1", "r1"});
  master().allocate_now();
  auto revived = master().collect(resources("cpus:8;mem:2048"));
  EXPECT_EQ(roles_of(revived), std::set<std::string>{"r1"});
}

// A removed framework is offered nothing more, and what it held goes to the others.
TEST_P(AllocatorConformance, RemovedFrameworkIsNeverOfferedAndItsResourcesComeBack) {
  master().add_framework("f1", {"r"});
  master().add_agent("a1", "cpus:4;mem:1024");
  master().collect(resources("cpus:4;mem:1024"));
  master().add_framework("f2", {"r"});
  master().allocate_now();
  EXPECT_TRUE(master().quiet());
  master().send(allocator_msg::FrameworkRemoved{"f1"});
  auto grants = master().collect(resources("cpus:4;mem:1024"));
  for (const auto& grant : grants) EXPECT_EQ(grant.framework_id, "f2");
}

// A removed agent is never offered again, even when what was granted on it is declined.
TEST_P(AllocatorConformance, RemovedAgentIsNeverOffered) {
  master().add_framework("f1", {"r"});
  master().add_agent("a1", "cpus:4;mem:1024");
  master().add_agent("a2", "cpus:4;mem:1024");
  auto grants = master().collect(resources("cpus:8;mem:2048"));
  master().send(allocator_msg::AgentRemoved{"a1"});
  // Declining everything, the removed agent's grants included (to be ignored).
  master().decline(grants);
  for (int round = 0; round < 3; ++round) {
    auto again = master().collect(resources("cpus:4;mem:1024"));
    for (const auto& grant : again) EXPECT_EQ(grant.agent_id, "a2");
    master().decline(again);
  }
}

// An inactive agent is not offered until it is activated again.
TEST_P(AllocatorConformance, DeactivatedAgentIsNotOfferedUntilActivated) {
  master().add_framework("f1", {"r"});
  master().add_agent("a1", "cpus:4;mem:1024");
  master().send(allocator_msg::AgentActivation{"a1", false});
  master().allocate_now();
  // A batch may have been cut before the deactivation arrived: declined, it is not offered
  // again.
  for (const auto& early : master().drain()) master().decline(early.grants);
  master().allocate_now();
  EXPECT_TRUE(master().quiet());
  master().send(allocator_msg::AgentActivation{"a1", true});
  auto grants = master().collect(resources("cpus:4;mem:1024"));
  ASSERT_FALSE(grants.empty());
  EXPECT_EQ(grants[0].agent_id, "a1");
}

// An inactive framework is offered nothing until it is activated again.
TEST_P(AllocatorConformance, InactiveFrameworkGetsNothing) {
  master().add_framework("f1", {"r"}, /*active=*/false);
  master().add_agent("a1", "cpus:4;mem:1024");
  master().allocate_now();
  EXPECT_TRUE(master().quiet());
  master().send(allocator_msg::FrameworkActivation{"f1", true});
  auto grants = master().collect(resources("cpus:4;mem:1024"));
  // Deactivated again: what it declines is not offered to it again.
  master().send(allocator_msg::FrameworkActivation{"f1", false});
  master().decline(grants);
  master().allocate_now();
  EXPECT_TRUE(master().quiet());
}

// An agent re-registering with tasks (or known to a new master) carries what they use: that is
// never offered. Added again (here after its removal) with fewer tasks, the rest is offered.
TEST_P(AllocatorConformance, AgentAddedWithAllocationsOffersOnlyTheRest) {
  master().add_framework("f1", {"r"});
  master().add_agent("a1", "cpus:4;mem:1024",
                     {allocator_msg::Allocation{"f1", "r", resources("cpus:3;mem:1000")}});
  auto grants = master().collect(resources("cpus:1;mem:24"));
  EXPECT_TRUE(same_resources(sum(grants), resources("cpus:1;mem:24"))) << sum(grants).to_string();
  master().allocate_now();
  EXPECT_TRUE(master().quiet());
  master().send(allocator_msg::AgentRemoved{"a1"});
  master().add_agent("a1", "cpus:4;mem:1024",
                     {allocator_msg::Allocation{"f1", "r", resources("cpus:2;mem:1000")}});
  auto again = master().collect(resources("cpus:2;mem:24"));
  EXPECT_TRUE(same_resources(sum(again), resources("cpus:2;mem:24"))) << sum(again).to_string();
}

// After a failover a new master (another connection) adds what it knows; from its first agent
// or framework event, batches go to it and no longer to the old one.
TEST_P(AllocatorConformance, NewMasterTakesOverTheBatches) {
  master().add_framework("f1", {"r"});
  master().add_agent("a1", "cpus:1;mem:1");
  master().collect(resources("cpus:1;mem:1"));
  TestMaster successor(endpoint(), "master2");
  successor.add_framework("f1", {"r"});
  successor.add_agent("a2", "cpus:1;mem:1");
  auto grants = successor.collect(resources("cpus:1;mem:1"));
  for (const auto& grant : grants) EXPECT_EQ(grant.agent_id, "a2");
  EXPECT_TRUE(master().quiet());
}

// Role changes are answered, ok or with a reason; bad ones are refused.
TEST_P(AllocatorConformance, RoleChangesAreAnswered) {
  auto weight = master().change_role(allocator_msg::SetWeight{"w", 2.0});
  EXPECT_TRUE(weight.ok || !weight.error.empty()) << "a refusal must say why";
  auto quota = master().change_role(allocator_msg::SetQuota{"q", resources("cpus:2")});
  EXPECT_TRUE(quota.ok || !quota.error.empty()) << "a refusal must say why";
  auto priority = master().change_role(allocator_msg::SetPriority{"p", 1});
  EXPECT_TRUE(priority.ok || !priority.error.empty()) << "a refusal must say why";
  for (double bad : {0.0, -3.0}) {
    auto refused = master().change_role(allocator_msg::SetWeight{"w", bad});
    EXPECT_FALSE(refused.ok) << "weight " << bad;
    EXPECT_FALSE(refused.error.empty()) << "weight " << bad;
  }
  protocol::Resources negative;
  negative.scalars["cpus"] = -1;
  auto refused = master().change_role(allocator_msg::SetQuota{"q", negative});
  EXPECT_FALSE(refused.ok);
  EXPECT_FALSE(refused.error.empty());
}

// A quota the allocator accepts is never exceeded (an allocator without quotas refuses it,
// and the test has nothing more to check).
TEST_P(AllocatorConformance, AcceptedQuotaIsNeverExceeded) {
  auto quota = master().change_role(allocator_msg::SetQuota{"q", resources("cpus:2")});
  if (!quota.ok) GTEST_SKIP() << "quotas refused: " << quota.error;
  master().add_framework("f1", {"q"});
  for (int i = 0; i < 4; ++i) master().add_agent("a" + std::to_string(i), "cpus:1;mem:10");
  master().collect(resources("cpus:2"));
  for (int round = 0; round < 2; ++round) {
    master().allocate_now();
    EXPECT_TRUE(master().quiet());
  }
}

// What a master may get wrong, or race on, is ignored; the allocator keeps serving.
TEST_P(AllocatorConformance, BadMessagesAreIgnored) {
  protocol::Resources negative;
  negative.scalars["cpus"] = -1;
  protocol::Resources inverted;
  inverted.scalars["cpus"] = 1;
  inverted.ranges["ports"] = {protocol::Range{10, 5}};
  protocol::Resources not_a_number;
  not_a_number.scalars["cpus"] = std::numeric_limits<double>::quiet_NaN();
  master().send(allocator_msg::AgentAdded{"neg", "h", negative, {}});
  master().send(allocator_msg::AgentAdded{"inv", "h", inverted, {}});
  master().send(allocator_msg::AgentAdded{"nan", "h", not_a_number, {}});
  master().send(allocator_msg::AgentRemoved{"ghost"});
  master().send(allocator_msg::AgentActivation{"ghost", true});
  master().send(allocator_msg::FrameworkRemoved{"ghost"});
  master().send(allocator_msg::FrameworkActivation{"ghost", false});
  master().send(allocator_msg::FrameworkAdded{"noroles", {}, true});
  master().send(allocator_msg::Recover{"ghost", "ghost", "r", resources("cpus:1"), 5});
  master().send(allocator_msg::Recover{"ghost", "ghost", "r", negative, 5});
  master().send(allocator_msg::Suppress{"ghost", ""});
  master().send(allocator_msg::Revive{"ghost", "r"});
  master().barrier();
  // Still serving: a good agent and framework are served, and only they.
  master().add_agent("good", "cpus:1;mem:1");
  master().add_framework("f1", {"r"});
  auto grants = master().collect(resources("cpus:1;mem:1"));
  for (const auto& grant : grants) EXPECT_EQ(grant.agent_id, "good");
  master().allocate_now();
  EXPECT_TRUE(master().quiet());
}

}  // namespace tessera::conformance

// Instantiates the allocator suite for one plugin. Use at namespace scope, in one file:
//   TESSERA_ALLOCATOR_CONFORMANCE(Fifo, .name = "allocator_fifo", .dir = "/path/to/plugins");
#define TESSERA_ALLOCATOR_CONFORMANCE(instance, ...) \
  TESSERA_CONFORMANCE_INSTANTIATE(AllocatorConformance, instance, __VA_ARGS__)

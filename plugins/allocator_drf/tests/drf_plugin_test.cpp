// allocator_drf through the real loader, beyond the conformance suite that every allocator
// plugin passes (allocation_core/tests/plugin_conformance_test.cpp).
#include <gtest/gtest.h>

#include "fake_master.h"

namespace tessera::allocation::testing {
namespace {

// DRF has no priority bands: set_priority is refused (answered with an error), and the shares
// stay even.
TEST(DrfPlugin, SetPriorityIsIgnored) {
  AllocatorNode node("allocator_drf", "batch_delay_ms = 3600000\n");
  auto started = node.start();
  ASSERT_TRUE(started.ok()) << started.error().message;
  FakeMaster master(node.zmq_context(), node.endpoint());
  master.send(msg::SetPriority{"prod", 10});
  master.addFramework("p", {"prod"});
  master.addFramework("b", {"batch"});
  for (int i = 0; i < 10; ++i) master.addAgent(numbered("a", i), "cpus:1;mem:1");
  master.allocateNow();
  auto batch = master.next();
  ASSERT_TRUE(batch);
  auto held = byFramework(*batch);
  EXPECT_DOUBLE_EQ(held["p"].scalar("cpus"), 5.0);
  EXPECT_DOUBLE_EQ(held["b"].scalar("cpus"), 5.0);
  Stats stats = master.stats();
  EXPECT_EQ(stats.policy, "drf");
  EXPECT_EQ(stats.ignored, 1U);
}

// The priority plugin's key is not one of DRF's.
TEST(DrfPlugin, PrioritiesKeyIsUnknown) {
  AllocatorNode node("allocator_drf", "priorities = { prod = 10 }\n");
  auto started = node.start();
  ASSERT_FALSE(started.ok());
  EXPECT_NE(started.error().message.find("unknown key 'plugins.allocator_drf.priorities'"),
            std::string::npos)
      << started.error().message;
}

}  // namespace
}  // namespace tessera::allocation::testing

// Unit tests of the allocator service's conversions between the wire and the core. The service
// itself is tested through the real loader by the plugin conformance suite.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "allocation_core/allocator_service.h"
#include "conformance.h"

namespace tessera::allocation::testing {
namespace {

TEST(AllocatorService, ResourcesRoundTripThroughTheWire) {
  const Resources core = res("cpus:1.5;mem:128;gpus:1;ports:[31000-31009,32000-32000]");
  protocol::Resources wire = toProtocol(core);
  EXPECT_DOUBLE_EQ(wire.scalar("cpus"), 1.5);
  EXPECT_DOUBLE_EQ(wire.scalar("mem"), 128);
  ASSERT_EQ(wire.ranges["ports"].size(), 2U);
  EXPECT_EQ(wire.ranges["ports"][0], (protocol::Range{31000, 31009}));
  EXPECT_EQ(wire.to_string(), "cpus:1.5;gpus:1;mem:128;ports:[31000-31009,32000-32000]");
  auto back = fromProtocol(wire);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, core);
}

TEST(AllocatorService, WireResourcesAreNormalised) {
  protocol::Resources wire;
  wire.scalars["cpus"] = 0.1;
  wire.scalars["disk"] = 0;  // zero amounts are dropped, as in the core
  wire.ranges["ports"] = {protocol::Range{5, 9}, protocol::Range{1, 4}, protocol::Range{3, 6}};
  wire.ranges["empty"] = {};
  auto core = fromProtocol(wire);
  ASSERT_TRUE(core.ok());
  EXPECT_EQ(core->toString(), "cpus:0.1;ports:[1-9]");
}

TEST(AllocatorService, InvalidWireResourcesAreErrorsNamingTheResource) {
  protocol::Resources negative;
  negative.scalars["mem"] = -5;
  EXPECT_EQ(fromProtocol(negative).error().message, "resource 'mem': the amount -5 is negative");
  protocol::Resources nan;
  nan.scalars["cpus"] = std::nan("");
  EXPECT_EQ(fromProtocol(nan).error().message,
            "resource 'cpus': the amount nan is not a finite number");
  protocol::Resources huge;
  huge.scalars["mem"] = 1e19;
  EXPECT_EQ(fromProtocol(huge).error().message,
            "resource 'mem': the amount 1e+19 is above the maximum 1e+10");
  protocol::Resources inverted;
  inverted.ranges["ports"] = {protocol::Range{10, 2}};
  EXPECT_EQ(fromProtocol(inverted).error().message,
            "resource 'ports': range '10-2' ends before it begins");
  protocol::Resources unnamed;
  unnamed.scalars[""] = 1;
  EXPECT_EQ(fromProtocol(unnamed).error().message,
            "resource name '' is not valid (letters, digits, '_', '-' and '.' only)");
}

TEST(AllocatorService, RefuseSecondsBecomeFilterDurations) {
  EXPECT_EQ(refuseDuration(0), Duration::zero());
  EXPECT_EQ(refuseDuration(-1), Duration::zero());
  EXPECT_EQ(refuseDuration(std::nan("")), Duration::zero());
  EXPECT_EQ(refuseDuration(5), std::chrono::seconds(5));
  EXPECT_EQ(refuseDuration(0.25), std::chrono::milliseconds(250));
  // Capped at 365 days, as Mesos caps refuse filters; what is not a duration is no filter.
  EXPECT_EQ(refuseDuration(1e9), std::chrono::hours(24 * 365));
  EXPECT_EQ(refuseDuration(1e300), std::chrono::hours(24 * 365));
  EXPECT_EQ(refuseDuration(std::numeric_limits<double>::infinity()), Duration::zero());
}

// The batch packed straight from the core's offers reads back as the protocol's Allocated, with
// the same content the struct-by-struct conversion gives.
TEST(AllocatorService, AllocatedBatchDecodesAsTheProtocolMessage) {
  std::vector<Offer> offers = {
      {"f1", "a1", "eng/web", res("cpus:1.5;mem:128;ports:[31000-31009,31020-31029]")},
      {"f2", "a2", "ops", res("cpus:0.001;gpus:2")},
  };
  std::string bytes = encode(Header{}, AllocatedBatch{&offers, 0.004});
  auto envelope = Envelope::decode(bytes.data(), bytes.size());
  ASSERT_TRUE(envelope.ok());
  EXPECT_EQ(envelope->type(), "allocator.allocated");
  auto batch = envelope->body<protocol::allocator::Allocated>();
  ASSERT_TRUE(batch.ok()) << batch.error().message;
  ASSERT_EQ(batch->grants.size(), 2U);
  EXPECT_EQ(batch->cycle_seconds, 0.004);
  for (std::size_t i = 0; i < offers.size(); ++i) {
    const protocol::allocator::Grant& grant = batch->grants[i];
    EXPECT_EQ(grant.framework_id, offers[i].frameworkId);
    EXPECT_EQ(grant.agent_id, offers[i].agentId);
    EXPECT_EQ(grant.role, offers[i].role);
    EXPECT_EQ(grant.resources.scalars, toProtocol(offers[i].resources).scalars);
    EXPECT_EQ(grant.resources.ranges, toProtocol(offers[i].resources).ranges);
  }
  std::vector<Offer> none;
  std::string empty = encode(Header{}, AllocatedBatch{&none});
  auto decoded =
      Envelope::decode(empty.data(), empty.size())->body<protocol::allocator::Allocated>();
  ASSERT_TRUE(decoded.ok());
  EXPECT_TRUE(decoded->grants.empty());
}

}  // namespace
}  // namespace tessera::allocation::testing

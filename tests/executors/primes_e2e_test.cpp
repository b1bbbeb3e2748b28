// The example framework of examples/frameworks/primes end to end: a real master and two real
// agents (tessera-host processes on loopback), the primes scheduler as its own process, and its
// executor started by each agent. The answer printed is checked against the known count.
#include <gtest/gtest.h>

#include "support/cluster.h"

namespace {

using tessera::testing::Cluster;
using tessera::testing::Process;
using tessera::testing::TempDir;

TEST(PrimesExample, CountsThePrimesOnTwoAgentsWithItsOwnExecutor) {
  TempDir dir;
  Cluster cluster(dir);
  ASSERT_TRUE(cluster.start_master());
  ASSERT_TRUE(cluster.start_agent(0));
  ASSERT_TRUE(cluster.start_agent(1));
  // 9592 primes below 100,000; 20 ranges, 4 an offer: both agents run some.
  Process scheduler({PRIMES_SCHEDULER, cluster.endpoint(), PRIMES_EXECUTOR, "100000", "20"},
                    dir / "scheduler.log");
  auto status = scheduler.wait(std::chrono::seconds(120));
  ASSERT_TRUE(status.has_value()) << "the scheduler did not finish:\n" << scheduler.output();
  EXPECT_EQ(*status, 0) << scheduler.output();
  EXPECT_NE(scheduler.output().find("primes below 100000: 9592 (20 ranges on 2 agent(s))"),
            std::string::npos)
      << scheduler.output();
}

}  // namespace

// The HTTP/TCP health checker against a scheduler with a recording driver and a manual clock:
// how its results are judged (the grace period), without a server to probe.
#include "health_checker.h"

#include <gtest/gtest.h>

#include "recording_driver.h"

namespace tessera::marathon {
namespace {

using namespace std::chrono_literals;
using testing::offer;
using testing::RecordingDriver;

class HealthCheckerTest : public ::testing::Test {
 protected:
  HealthCheckerTest() : scheduler_(clock_, driver_, SchedulerOptions{}) {}

  // One running task of an app with one TCP check: a 60 s grace period, one failure kills.
  std::string running_task() {
    App app;
    app.id = "/web";
    app.cmd = "sleep 100";
    app.cpus = 1;
    app.mem = 100;
    app.instances = 1;
    app.port_definitions = {PortDefinition{}};
    HealthCheck check;
    check.protocol = "TCP";
    check.grace_period_seconds = 60;
    check.interval_seconds = 1;
    check.max_consecutive_failures = 1;
    app.health_checks = {check};
    scheduler_.create_app(app);
    scheduler_.on_offers({offer("o1", "agent0", "host0", "cpus:4;mem:1024;ports:[31000-31099]")});
    EXPECT_EQ(scheduler_.tasks().size(), 1u);
    std::string id = scheduler_.tasks().begin()->first;
    protocol::TaskStatus status;
    status.task_id = id;
    status.agent_id = "agent0";
    status.state = protocol::state::kRunning;
    scheduler_.on_update(status);
    return id;
  }

  sdk::EventLoop loop_;
  sdk::ManualClock clock_;
  RecordingDriver driver_;
  Scheduler scheduler_;
};

// A probe that fails before it is under way (here: a connect(2) the kernel refuses at once, as
// it refuses TCP to a broadcast address; an agent hostname that does not resolve fails the same
// way) is a failure like any other: within the grace period, before a first success, it is
// ignored, as Marathon's HealthCheckActor.ignoreFailures does. It used to be counted at once,
// so a task whose host did not resolve was killed seconds after its start.
TEST_F(HealthCheckerTest, AFailureBeforeTheProbeStartsIsIgnoredWithinTheGracePeriod) {
  std::string id = running_task();
  HealthChecker checker(loop_, clock_, scheduler_, "255.255.255.255");
  checker.tick();
  EXPECT_TRUE(driver_.killed.empty()) << "killed within its grace period";
  EXPECT_EQ(scheduler_.counts("/web").unhealthy, 0);

  clock_.advance(61s);
  checker.tick();
  EXPECT_EQ(driver_.killed, std::vector<std::string>{id}) << "after it, the failure counts";
}

}  // namespace
}  // namespace tessera::marathon

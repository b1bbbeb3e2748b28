// COMMAND health checks between the scheduler and tessera-marathon-executor: which tasks run in
// the executor, and both messages decoded with every field bounded.
#include <gtest/gtest.h>

#include "command_check.h"
#include "recording_driver.h"
#include "scheduler.h"

namespace tessera::marathon {
namespace {

HealthCheck command_check(const std::string& command) {
  HealthCheck check;
  check.protocol = "COMMAND";
  check.command = command;
  check.interval_seconds = 2;
  check.timeout_seconds = 1;
  return check;
}

TEST(CommandCheck, ATaskWithCommandChecksRunsInTheExecutorWithItsChecksInItsData) {
  sdk::ManualClock clock;
  testing::RecordingDriver driver;
  SchedulerOptions options;
  options.seed = 7;
  options.command_executor = "/opt/tessera/bin/tessera-marathon-executor";
  Scheduler scheduler(clock, driver, options);
  App app;
  app.id = "/checked";
  app.cmd = "sleep 100";
  app.cpus = 1;
  app.mem = 100;
  HealthCheck tcp;
  tcp.protocol = "TCP";
  app.health_checks = {tcp, command_check("test -f ok")};
  scheduler.create_app(app);
  App plain = app;
  plain.id = "/plain";
  plain.health_checks = {tcp};
  scheduler.create_app(plain);
  scheduler.on_offers(
      {testing::offer("o1", "agent0", "host0", "cpus:4;mem:1024;ports:[31000-31099]", {})});

  ASSERT_EQ(driver.launched.size(), 2u);
  for (const auto& task : driver.launched) {
    if (task.task_id.rfind("checked.", 0) != 0) {
      EXPECT_TRUE(task.executor.executor_id.empty()) << "no COMMAND check, no executor";
      continue;
    }
    EXPECT_EQ(task.executor.executor_id, task.task_id);
    EXPECT_EQ(task.executor.command.value, options.command_executor);
    EXPECT_EQ(task.command.value, "sleep 100");
    auto checks = decode_command_checks(task.data);
    ASSERT_TRUE(checks) << checks.error().message;
    ASSERT_EQ(checks->size(), 1u);
    EXPECT_EQ((*checks)[0].index, 1u);
    EXPECT_EQ((*checks)[0].command, "test -f ok");
    EXPECT_EQ((*checks)[0].interval_seconds, 2);
    EXPECT_EQ((*checks)[0].timeout_seconds, 1);
  }
}

TEST(CommandCheck, AResultIsTakenOnlyFromTheTasksOwnExecutorOnItsAgent) {
  sdk::ManualClock clock;
  testing::RecordingDriver driver;
  SchedulerOptions options;
  options.command_executor = "/bin/executor";
  Scheduler scheduler(clock, driver, options);
  App app;
  app.id = "/checked";
  app.cmd = "sleep 100";
  app.health_checks = {command_check("true")};
  scheduler.create_app(app);
  scheduler.on_offers(
      {testing::offer("o1", "agent0", "host0", "cpus:4;mem:1024;ports:[31000-31099]", {})});
  ASSERT_EQ(driver.launched.size(), 1u);
  std::string task = driver.launched[0].task_id;

  EXPECT_FALSE(refuse_check_result(scheduler, {task, 0, true, ""}, task, "agent0"));
  EXPECT_TRUE(refuse_check_result(scheduler, {task, 0, true, ""}, "other", "agent0"));
  EXPECT_TRUE(refuse_check_result(scheduler, {task, 0, true, ""}, task, "agent1"));
  EXPECT_TRUE(refuse_check_result(scheduler, {task, 1, true, ""}, task, "agent0"));
  auto gone =
      refuse_check_result(scheduler, {"checked.gone", 0, true, ""}, "checked.gone", "agent0");
  ASSERT_TRUE(gone);
  EXPECT_TRUE(gone->quiet);
}

TEST(CommandCheck, ResultsRoundTripAndHostileOnesAreRefused) {
  CheckResult sent{"web.1", 2, false, std::string(5000, 'x')};
  auto got = decode_check_result(encode_check_result(sent));
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(got->task_id, "web.1");
  EXPECT_EQ(got->index, 2u);
  EXPECT_FALSE(got->alive);
  EXPECT_EQ(got->cause.size(), kMaxCheckCauseBytes);

  EXPECT_FALSE(decode_check_result("not json"));
  EXPECT_FALSE(decode_check_result(R"({"taskId": "t", "index": -1, "alive": true})"));
  EXPECT_FALSE(decode_check_result(R"({"taskId": "t", "index": 1e9, "alive": true})"));
  EXPECT_FALSE(decode_check_result(R"({"taskId": 3, "index": 0, "alive": true})"));
  EXPECT_FALSE(decode_check_result(R"({"taskId": "t", "index": 0, "alive": "yes"})"));
  EXPECT_FALSE(decode_check_result(std::string(1 << 20, ' ')));
}

TEST(CommandCheck, ChecksInTheTaskDataAreBounded) {
  EXPECT_TRUE(decode_command_checks(encode_command_checks({{0, "true", 1, 1}})));
  EXPECT_FALSE(decode_command_checks(""));
  EXPECT_FALSE(decode_command_checks(R"({"commandChecks": [{"index": 0, "command": "",
      "intervalSeconds": 1, "timeoutSeconds": 1}]})"));
  EXPECT_FALSE(decode_command_checks(R"({"commandChecks": [{"index": 0, "command": "true",
      "intervalSeconds": 0, "timeoutSeconds": 1}]})"));
  EXPECT_FALSE(decode_command_checks(R"({"commandChecks": [{"index": 0, "command": "true",
      "intervalSeconds": 1, "timeoutSeconds": 1e12}]})"));
  EXPECT_FALSE(decode_command_checks(
      encode_command_checks({{0, std::string(kMaxCheckCommandBytes + 1, 'x'), 1, 1}})));
  std::vector<CommandCheck> many(kMaxCommandChecks + 1, CommandCheck{0, "true", 1, 1});
  EXPECT_FALSE(decode_command_checks(encode_command_checks(many)));
}

TEST(CommandCheck, AnAppsCommandIsBoundedAndNamedWhenTooLong) {
  std::vector<Violation> violations;
  std::string body = R"({"id": "/c", "cmd": "sleep 1", "healthChecks": [{"protocol": "COMMAND",
      "command": {"value": ")" +
                     std::string(kMaxCheckCommandBytes + 1, 'x') + R"("}}]})";
  parse_app(boost::json::parse(body), violations);
  ASSERT_EQ(violations.size(), 1u);
  EXPECT_EQ(violations[0].path, "/healthChecks(0)/command");
}

}  // namespace
}  // namespace tessera::marathon

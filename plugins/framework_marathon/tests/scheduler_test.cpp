// The scheduler with a recording driver and a manual clock: placement, scaling, replacing exited
// tasks with backoff, kill selection, rolling restarts within upgradeStrategy, unreachable
// agents, health, deployments and their rollback, and recovery from the store's records.
#include <gtest/gtest.h>

#include <algorithm>

#include "recording_driver.h"
#include "scheduler.h"

namespace tessera::marathon {
namespace {

using namespace std::chrono_literals;
using testing::offer;
using testing::RecordingDriver;
namespace state = protocol::state;

App make_app(const std::string& id, int64_t instances) {
  App app;
  app.id = id;
  app.cmd = "sleep 100";
  app.cpus = 1;
  app.mem = 100;
  app.instances = instances;
  return app;
}

class SchedulerTest : public ::testing::Test {
 protected:
  SchedulerTest() : scheduler_(clock_, driver_, options()) {}
  static SchedulerOptions options() {
    SchedulerOptions options;
    options.seed = 42;
    options.backoff_reset_after = 10s;
    return options;
  }

  std::vector<protocol::scheduler::Offer> three_agents(int round) {
    std::vector<protocol::scheduler::Offer> out;
    for (int i = 0; i < 3; ++i) {
      std::string n = std::to_string(i);
      out.push_back(offer("o" + std::to_string(round) + "-" + n, "agent" + n, "host" + n,
                          "cpus:4;mem:1024;ports:[31000-31099]", {{"rack", "r" + n}}));
    }
    return out;
  }
  int round_ = 0;
  void offer_round() { scheduler_.on_offers(three_agents(++round_)); }

  void update(const std::string& task_id, const std::string& new_state) {
    protocol::TaskStatus status;
    status.task_id = task_id;
    status.state = new_state;
    auto it = scheduler_.tasks().find(task_id);
    if (it != scheduler_.tasks().end()) status.agent_id = it->second.agent_id;
    scheduler_.on_update(status);
  }
  // Every launched task that is still known reports TASK_RUNNING.
  void run_all() {
    std::vector<std::string> ids;
    for (const auto& [id, task] : scheduler_.tasks()) {
      if (task.state == state::kStaging && !task.kill_sent) ids.push_back(id);
    }
    for (const auto& id : ids) update(id, state::kRunning);
  }
  // Kills that were sent are confirmed.
  void confirm_kills() {
    for (const auto& id : driver_.killed) {
      if (scheduler_.tasks().count(id) != 0) update(id, state::kKilled);
    }
  }
  std::map<std::string, int> per_host(const std::string& app_id) {
    std::map<std::string, int> out;
    for (const Task* task : scheduler_.tasks_of(app_id)) ++out[task->hostname];
    return out;
  }

  sdk::ManualClock clock_;
  RecordingDriver driver_;
  Scheduler scheduler_;
};

TEST_F(SchedulerTest, DeploysUniqueInstancesOnePerHostAndFinishesTheDeployment) {
  App app = make_app("/web", 3);
  app.constraints = {{"hostname", "UNIQUE", std::nullopt}};
  auto change = scheduler_.create_app(app);
  EXPECT_FALSE(change.deployment_id.empty());
  EXPECT_EQ(scheduler_.waiting("/web"), 3);
  EXPECT_GE(driver_.revives, 1);
  offer_round();
  EXPECT_EQ(per_host("/web"),
            (std::map<std::string, int>{{"host0", 1}, {"host1", 1}, {"host2", 1}}));
  EXPECT_EQ(scheduler_.waiting("/web"), 0);
  ASSERT_EQ(driver_.launched.size(), 3u);
  EXPECT_EQ(driver_.launched[0].command.environment.at("PORT0"), "31000");
  EXPECT_EQ(driver_.launched[0].command.environment.at("PORTS"), "31000");
  EXPECT_EQ(driver_.launched[0].task_id.rfind("web.", 0), 0u);
  EXPECT_EQ(driver_.stored_tasks.size(), 3u);
  EXPECT_EQ(scheduler_.deployments().size(), 1u);
  run_all();
  EXPECT_TRUE(scheduler_.deployments().empty());
  EXPECT_EQ(driver_.count_events("deployment_success"), 1u);
  EXPECT_EQ(driver_.count_events("status_update_event"), 3u);
  EXPECT_EQ(scheduler_.counts("/web").running, 3);
}

TEST_F(SchedulerTest, SpreadsByDefaultAndPacksWhenAsked) {
  scheduler_.create_app(make_app("/web", 6));
  offer_round();
  EXPECT_EQ(per_host("/web"),
            (std::map<std::string, int>{{"host0", 2}, {"host1", 2}, {"host2", 2}}));

  RecordingDriver driver;
  SchedulerOptions packed = options();
  packed.spread = false;
  Scheduler packing(clock_, driver, packed);
  packing.create_app(make_app("/web", 4));
  packing.on_offers(three_agents(1));
  std::map<std::string, int> hosts;
  for (const Task* task : packing.tasks_of("/web")) ++hosts[task->hostname];
  EXPECT_EQ(hosts, (std::map<std::string, int>{{"host0", 4}}));
}

// A LIKE or UNLIKE pattern too costly to match against an agent's field places nothing there
// (an UNLIKE may exclude that agent), and the plugin says so once per app version, not at every
// offer.
TEST_F(SchedulerTest, APatternTooCostlyToMatchPlacesNothingAndIsReportedOnce) {
  const std::string long_host(5000, 'a');
  App app = make_app("/web", 1);
  app.constraints = {{"hostname", "UNLIKE", std::string("(a|aa)*b")}};
  scheduler_.create_app(app);
  for (int n = 1; n <= 3; ++n) {
    scheduler_.on_offers({offer("o" + std::to_string(n), "agent0", long_host,
                                "cpus:4;mem:1024;ports:[31000-31099]")});
  }
  EXPECT_TRUE(driver_.launched.empty());
  EXPECT_EQ(scheduler_.waiting("/web"), 1);
  ASSERT_EQ(driver_.warnings.size(), 1u);
  EXPECT_NE(driver_.warnings[0].find("'/web'"), std::string::npos) << driver_.warnings[0];
  EXPECT_NE(driver_.warnings[0].find("UNLIKE"), std::string::npos) << driver_.warnings[0];
  // Where the pattern can be decided, the instance is placed.
  scheduler_.on_offers({offer("o4", "agent1", "host1", "cpus:4;mem:1024;ports:[31000-31099]")});
  ASSERT_EQ(driver_.launched.size(), 1u);
  EXPECT_EQ(per_host("/web"), (std::map<std::string, int>{{"host1", 1}}));
  EXPECT_EQ(driver_.warnings.size(), 1u);
  // A new version of the app is reported again, once.
  app.instances = 2;
  scheduler_.update_app(app);
  for (int n = 5; n <= 6; ++n) {
    scheduler_.on_offers({offer("o" + std::to_string(n), "agent0", long_host,
                                "cpus:4;mem:1024;ports:[31000-31099]")});
  }
  EXPECT_EQ(driver_.launched.size(), 1u);
  EXPECT_EQ(driver_.warnings.size(), 2u);
}

TEST_F(SchedulerTest, ScalesUpAndDownKillingYoungestFirst) {
  scheduler_.create_app(make_app("/web", 2));
  offer_round();
  run_all();
  App bigger = *scheduler_.app("/web");
  bigger.instances = 5;
  auto change = scheduler_.update_app(bigger);
  EXPECT_EQ(scheduler_.deployments().at(change.deployment_id).steps[0][0].action,
            "ScaleApplication");
  offer_round();
  run_all();
  EXPECT_EQ(scheduler_.counts("/web").running, 5);
  uint64_t youngest = 0;
  for (const Task* task : scheduler_.tasks_of("/web"))
    youngest = std::max(youngest, task->sequence);
  App smaller = *scheduler_.app("/web");
  smaller.instances = 4;
  scheduler_.update_app(smaller);
  ASSERT_EQ(driver_.killed.size(), 1u);
  EXPECT_EQ(scheduler_.tasks().at(driver_.killed[0]).sequence, youngest);
  confirm_kills();
  EXPECT_EQ(scheduler_.counts("/web").running, 4);
  EXPECT_TRUE(scheduler_.deployments().empty());
}

TEST_F(SchedulerTest, OldestFirstKillsTheOldest) {
  App app = make_app("/web", 3);
  app.kill_selection = KillSelection::oldest_first;
  scheduler_.create_app(app);
  offer_round();
  run_all();
  uint64_t oldest = UINT64_MAX;
  for (const Task* task : scheduler_.tasks_of("/web")) oldest = std::min(oldest, task->sequence);
  App smaller = *scheduler_.app("/web");
  smaller.instances = 2;
  scheduler_.update_app(smaller);
  ASSERT_EQ(driver_.killed.size(), 1u);
  EXPECT_EQ(scheduler_.tasks().at(driver_.killed[0]).sequence, oldest);
}

TEST_F(SchedulerTest, ReplacesAFailedTaskAfterABackoffThatGrowsAndIsCapped) {
  App app = make_app("/crash", 1);
  app.backoff_seconds = 1;
  app.backoff_factor = 2;
  app.max_launch_delay_seconds = 5;
  scheduler_.create_app(app);
  std::vector<double> delays;
  for (int attempt = 0; attempt < 5; ++attempt) {
    offer_round();
    ASSERT_EQ(scheduler_.tasks_of("/crash").size(), 1u) << attempt;
    std::string id = scheduler_.tasks_of("/crash").front()->id;
    update(id, state::kRunning);
    update(id, state::kFailed);
    const Backoff* backoff = scheduler_.backoff("/crash");
    ASSERT_NE(backoff, nullptr);
    delays.push_back(backoff->delay_seconds);
    // While delayed, offers are declined and nothing launches.
    size_t launched = driver_.launched.size();
    offer_round();
    EXPECT_EQ(driver_.launched.size(), launched);
    int revives = driver_.revives;
    clock_.advance(std::chrono::milliseconds(static_cast<int64_t>(backoff->delay_seconds * 1000)));
    EXPECT_GT(driver_.revives, revives) << "the delay's end revives offers";
  }
  EXPECT_EQ(delays, (std::vector<double>{1, 2, 4, 5, 5}));
  EXPECT_EQ(driver_.count_events("status_update_event"), 10u);
  EXPECT_FALSE(scheduler_.last_task_failures().at("/crash").empty());
}

TEST_F(SchedulerTest, AHealthyRunResetsTheBackoff) {
  scheduler_.create_app(make_app("/a", 1));
  offer_round();
  std::string id = scheduler_.tasks_of("/a").front()->id;
  update(id, state::kFailed);
  ASSERT_NE(scheduler_.backoff("/a"), nullptr);
  clock_.advance(2s);
  offer_round();
  run_all();
  clock_.advance(11s);
  scheduler_.converge();
  EXPECT_EQ(scheduler_.backoff("/a"), nullptr);
}

TEST_F(SchedulerTest, QueueCountsRejectionsPerReasonAndTheLargestOffer) {
  App big = make_app("/big", 1);
  big.cpus = 8;
  big.mem = 100;
  scheduler_.create_app(big);
  offer_round();
  EXPECT_EQ(scheduler_.waiting("/big"), 1);
  const OfferStatistics* stats = scheduler_.statistics("/big");
  ASSERT_NE(stats, nullptr);
  EXPECT_EQ(stats->processed, 3u);
  EXPECT_EQ(stats->unused, 3u);
  EXPECT_EQ(stats->declined.at(RejectReason::insufficient_cpus), 3u);
  EXPECT_EQ(stats->declined.count(RejectReason::insufficient_memory), 0u);
  EXPECT_EQ(stats->largest.scalar("cpus"), 4.0);
  // Unfit offers are refused briefly so they come back soon.
  EXPECT_EQ(driver_.declined.back().second, 1.0);
}

// Apps with the same needs share the judgement of an offer within a round, until a launch takes
// from the offer: then it is judged again. Each app's statistics are what judging it alone
// against the offer as it stands gives (an app with a constraint is judged alone).
TEST_F(SchedulerTest, QueueStatisticsJudgeEachOfferAsItStandsForEveryApp) {
  auto round = [&](int n) {
    scheduler_.on_offers(
        {offer("o" + std::to_string(n) + "-0", "agent0", "host0", "cpus:4;mem:1024"),
         offer("o" + std::to_string(n) + "-1", "agent1", "host1", "cpus:1;mem:512")});
  };
  App a = make_app("/a", 1);
  a.cpus = 3;
  App b = make_app("/b", 2);
  b.cpus = 3;
  App c = make_app("/c", 2);
  c.cpus = 3;
  c.constraints = {{"hostname", "UNLIKE", std::string("nowhere")}};
  for (App app : {a, b, c}) {
    app.port_definitions.clear();
    scheduler_.create_app(app);
  }
  // Round 1: /a takes 3 of agent0's 4 cpus; for /b and /c, after it, neither offer fits.
  round(1);
  EXPECT_EQ(scheduler_.waiting("/a"), 0);
  EXPECT_EQ(scheduler_.waiting("/b"), 2);
  EXPECT_EQ(scheduler_.waiting("/c"), 2);
  const OfferStatistics* first = scheduler_.statistics("/a");
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->processed, 2u);
  EXPECT_EQ(first->unused, 1u);
  EXPECT_EQ(first->largest.scalar("cpus"), 4.0);
  for (const char* id : {"/b", "/c"}) {
    const OfferStatistics* stats = scheduler_.statistics(id);
    ASSERT_NE(stats, nullptr) << id;
    EXPECT_EQ(stats->processed, 2u) << id;
    EXPECT_EQ(stats->unused, 2u) << id;
    EXPECT_EQ(stats->declined.at(RejectReason::insufficient_cpus), 2u) << id;
    // The largest is what was left of agent0's offer when the app was judged.
    EXPECT_EQ(stats->largest.scalar("cpus"), 1.0) << id;
    EXPECT_EQ(stats->largest.scalar("mem"), 924.0) << id;
    ASSERT_EQ(stats->last_unused.size(), 2u) << id;
    EXPECT_EQ(stats->last_unused.at("agent0").offer.offer_id, "o1-0") << id;
    EXPECT_EQ(stats->last_unused.at("agent1").reasons,
              std::vector<RejectReason>{RejectReason::insufficient_cpus})
        << id;
  }
  // Round 2: /b takes agent0's offer for one instance; /c, judged after it, gets neither.
  round(2);
  EXPECT_EQ(scheduler_.waiting("/b"), 1);
  EXPECT_EQ(scheduler_.waiting("/c"), 2);
  EXPECT_EQ(scheduler_.statistics("/b")->processed, 4u);
  EXPECT_EQ(scheduler_.statistics("/b")->unused, 3u);
  EXPECT_EQ(scheduler_.statistics("/b")->largest.scalar("cpus"), 4.0);
  EXPECT_EQ(scheduler_.statistics("/c")->processed, 4u);
  EXPECT_EQ(scheduler_.statistics("/c")->unused, 4u);
  EXPECT_EQ(scheduler_.statistics("/c")->last_unused.at("agent0").offer.offer_id, "o2-0");
}

TEST_F(SchedulerTest, ConfigChangeRollsWithinUpgradeStrategy) {
  App app = make_app("/web", 4);
  app.upgrade_strategy = {0.5, 0.0};  // keep 2 healthy, never more than 4 tasks
  scheduler_.create_app(app);
  offer_round();
  run_all();
  App changed = *scheduler_.app("/web");
  changed.cmd = "sleep 200";
  auto change = scheduler_.update_app(changed);
  EXPECT_EQ(scheduler_.deployments().at(change.deployment_id).steps[0][0].action,
            "RestartApplication");
  // Two old ones go first (4 healthy, 2 needed), none start (no room above 4).
  EXPECT_EQ(driver_.killed.size(), 2u);
  EXPECT_EQ(scheduler_.waiting("/web"), 0);
  confirm_kills();
  EXPECT_EQ(scheduler_.waiting("/web"), 2);
  auto healthy_count = [&] {
    int n = 0;
    for (const auto& [id, task] : scheduler_.tasks()) n += scheduler_.healthy(task) ? 1 : 0;
    return n;
  };
  for (int i = 0; i < 6 && !scheduler_.deployments().empty(); ++i) {
    EXPECT_GE(healthy_count(), 2);
    offer_round();
    run_all();
    confirm_kills();
  }
  EXPECT_TRUE(scheduler_.deployments().empty());
  for (const Task* task : scheduler_.tasks_of("/web")) {
    EXPECT_EQ(task->config_version, scheduler_.app("/web")->last_config_change_at);
  }
  EXPECT_EQ(scheduler_.counts("/web").running, 4);
}

TEST_F(SchedulerTest, RestartWithFullCapacityStartsNewBeforeKillingOld) {
  App app = make_app("/web", 2);  // minimumHealthCapacity 1, maximumOverCapacity 1
  scheduler_.create_app(app);
  offer_round();
  run_all();
  scheduler_.restart_app("/web");
  EXPECT_TRUE(driver_.killed.empty());
  EXPECT_EQ(scheduler_.waiting("/web"), 2);
  offer_round();
  EXPECT_TRUE(driver_.killed.empty()) << "new tasks are not running yet";
  run_all();
  EXPECT_EQ(driver_.killed.size(), 2u);
  confirm_kills();
  EXPECT_TRUE(scheduler_.deployments().empty());
}

TEST_F(SchedulerTest, UnreachableTaskIsReplacedAfterInactiveAfterAndKilledIfItReturns) {
  App app = make_app("/web", 1);
  app.unreachable_strategy = {false, 5, 10};
  scheduler_.create_app(app);
  offer_round();
  run_all();
  std::string old_id = scheduler_.tasks_of("/web").front()->id;
  update(old_id, state::kUnreachable);
  EXPECT_EQ(scheduler_.waiting("/web"), 0);
  size_t timers = clock_.pending_timers();
  for (int i = 0; i < 10; ++i) scheduler_.converge();
  EXPECT_EQ(clock_.pending_timers(), timers) << "one timer per unreachable task";
  clock_.advance(5s);
  EXPECT_EQ(scheduler_.waiting("/web"), 1);
  offer_round();
  run_all();
  update(old_id, state::kRunning);
  EXPECT_NE(std::find(driver_.killed.begin(), driver_.killed.end(), old_id), driver_.killed.end());
}

TEST_F(SchedulerTest, LostTaskIsReplacedAtOnce) {
  scheduler_.create_app(make_app("/web", 2));
  offer_round();
  run_all();
  std::string agent = scheduler_.tasks_of("/web").front()->agent_id;
  scheduler_.on_agent_lost(agent);
  EXPECT_EQ(scheduler_.waiting("/web"), 1);
  EXPECT_EQ(driver_.count_events("status_update_event"), 3u);
}

TEST_F(SchedulerTest, FailingHealthChecksKillTheTask) {
  App app = make_app("/web", 1);
  HealthCheck check;
  check.protocol = "TCP";
  check.max_consecutive_failures = 2;
  app.health_checks = {check};
  scheduler_.create_app(app);
  offer_round();
  run_all();
  std::string id = scheduler_.tasks_of("/web").front()->id;
  EXPECT_EQ(scheduler_.counts("/web").healthy, 0);
  EXPECT_EQ(scheduler_.deployments().size(), 1u) << "not healthy yet";
  scheduler_.on_health(id, 0, true, "");
  EXPECT_EQ(scheduler_.counts("/web").healthy, 1);
  EXPECT_TRUE(scheduler_.deployments().empty());
  scheduler_.on_health(id, 0, false, "connection refused");
  EXPECT_EQ(scheduler_.counts("/web").unhealthy, 1);
  EXPECT_TRUE(driver_.killed.empty());
  scheduler_.on_health(id, 0, false, "connection refused");
  ASSERT_EQ(driver_.killed, std::vector<std::string>{id});
  EXPECT_EQ(driver_.count_events("unhealthy_task_kill_event"), 1u);
  update(id, state::kKilled);
  EXPECT_EQ(scheduler_.waiting("/web"), 1);
  size_t launched = driver_.launched.size();
  offer_round();
  EXPECT_EQ(driver_.launched.size(), launched) << "backoff delays the replacement";
  clock_.advance(2s);
  offer_round();
  EXPECT_EQ(driver_.launched.size(), launched + 1);
}

TEST_F(SchedulerTest, DeleteKillsEverythingThenForgetsTheApp) {
  scheduler_.create_app(make_app("/web", 2));
  offer_round();
  run_all();
  scheduler_.delete_app("/web");
  EXPECT_EQ(driver_.killed.size(), 2u);
  EXPECT_NE(scheduler_.app("/web"), nullptr);
  confirm_kills();
  EXPECT_EQ(scheduler_.app("/web"), nullptr);
  EXPECT_TRUE(driver_.stored_apps.empty());
  EXPECT_TRUE(driver_.stored_versions.empty());
  EXPECT_EQ(driver_.count_events("app_terminated_event"), 1u);
}

TEST_F(SchedulerTest, RollbackRestoresThePreviousVersion) {
  scheduler_.create_app(make_app("/web", 1));
  offer_round();
  run_all();
  App huge = *scheduler_.app("/web");
  huge.instances = 50;
  auto change = scheduler_.update_app(huge);
  auto rollback = scheduler_.cancel_deployment(change.deployment_id, false);
  ASSERT_TRUE(rollback);
  EXPECT_EQ(scheduler_.app("/web")->instances, 1);
  EXPECT_EQ(driver_.count_events("deployment_failed"), 1u);
  EXPECT_FALSE(scheduler_.cancel_deployment("nope", true));
}

TEST_F(SchedulerTest, DeploymentWithoutProgressIsRolledBackAfterTheDeadline) {
  RecordingDriver driver;
  SchedulerOptions with_deadline = options();
  with_deadline.deployment_deadline = 30s;
  Scheduler scheduler(clock_, driver, with_deadline);
  scheduler.create_app(make_app("/web", 1));
  scheduler.on_offers(three_agents(1));
  for (const auto& [id, task] : scheduler.tasks()) {
    protocol::TaskStatus running;
    running.task_id = id;
    running.agent_id = task.agent_id;
    running.state = state::kRunning;
    scheduler.on_update(running);
  }
  App huge = *scheduler.app("/web");
  huge.cpus = 64;
  scheduler.update_app(huge);
  clock_.advance(31s);
  scheduler.converge();
  EXPECT_EQ(scheduler.app("/web")->cpus, 1.0);
  bool said_why = false;
  for (const auto& [type, body] : driver.events) {
    if (type == "deployment_failed" && body.contains("reason")) {
      said_why =
          std::string(body.at("reason").as_string()).find("no progress") != std::string::npos;
    }
  }
  EXPECT_TRUE(said_why);
}

TEST_F(SchedulerTest, RecoveryAdoptsStoredTasksWithoutRelaunching) {
  scheduler_.create_app(make_app("/web", 3));
  offer_round();
  run_all();
  RecordingDriver fresh_driver;
  Scheduler recovered(clock_, fresh_driver, options());
  for (const auto& [id, app] : driver_.stored_apps) recovered.adopt_app(app);
  for (const auto& [key, app] : driver_.stored_versions) recovered.adopt_version(app);
  for (const auto& [id, task] : driver_.stored_tasks) recovered.adopt_task(task);
  recovered.converge();
  EXPECT_EQ(recovered.waiting("/web"), 0);
  EXPECT_TRUE(fresh_driver.killed.empty());
  EXPECT_EQ(recovered.counts("/web").running, 3);
  recovered.on_offers(three_agents(9));
  EXPECT_TRUE(fresh_driver.launched.empty());
  // A task it does not know is killed.
  protocol::TaskStatus stray;
  stray.task_id = "stray.1";
  stray.agent_id = "agent0";
  stray.state = state::kRunning;
  recovered.on_update(stray);
  EXPECT_EQ(fresh_driver.killed, std::vector<std::string>{"stray.1"});
}

TEST_F(SchedulerTest, ANewLeaderKeepsTheStoredBackoff) {
  App app = make_app("/crash", 1);
  app.backoff_seconds = 4;
  app.backoff_factor = 2;
  scheduler_.create_app(app);
  offer_round();
  update(scheduler_.tasks_of("/crash").front()->id, state::kFailed);
  ASSERT_EQ(driver_.stored_backoffs.count("/crash"), 1u);
  EXPECT_EQ(driver_.stored_backoffs.at("/crash").delay_seconds, 4);
  clock_.advance(1s);

  // The next leader reads what the store holds: 3 s of the delay are left.
  RecordingDriver fresh_driver;
  Scheduler recovered(clock_, fresh_driver, options());
  for (const auto& [id, stored] : driver_.stored_apps) recovered.adopt_app(stored);
  for (const auto& [id, stored] : driver_.stored_backoffs) recovered.adopt_backoff(stored);
  recovered.converge();
  ASSERT_NE(recovered.backoff("/crash"), nullptr);
  recovered.on_offers(three_agents(20));
  EXPECT_TRUE(fresh_driver.launched.empty()) << "still delayed after the failover";
  clock_.advance(3s);
  recovered.on_offers(three_agents(21));
  ASSERT_EQ(fresh_driver.launched.size(), 1u);

  // The delay keeps growing from the stored one, and a reset removes the record.
  protocol::TaskStatus failed;
  failed.task_id = fresh_driver.launched.front().task_id;
  failed.agent_id = fresh_driver.launched.front().agent_id;
  failed.state = state::kFailed;
  recovered.on_update(failed);
  EXPECT_EQ(fresh_driver.stored_backoffs.at("/crash").delay_seconds, 8);
  App changed = app;
  changed.cmd = "sleep 200";
  recovered.update_app(changed);
  EXPECT_EQ(fresh_driver.stored_backoffs.count("/crash"), 0u);
}

TEST_F(SchedulerTest, ADroppedSchedulerLeavesNoTimerBehind) {
  {
    RecordingDriver driver;
    Scheduler dropped(clock_, driver, options());
    dropped.create_app(make_app("/a", 1));
    dropped.on_offers(three_agents(1));
    std::string id = dropped.tasks_of("/a").front()->id;
    protocol::TaskStatus failed;
    failed.task_id = id;
    failed.agent_id = "agent0";
    failed.state = state::kFailed;
    dropped.on_update(failed);
    ASSERT_GT(clock_.pending_timers(), 0u);
  }
  EXPECT_EQ(clock_.pending_timers(), 0u);
}

TEST_F(SchedulerTest, ServicePortsAreAssignedAndKept) {
  scheduler_.create_app(make_app("/a", 1));
  scheduler_.create_app(make_app("/b", 1));
  EXPECT_EQ(scheduler_.app("/a")->port_definitions[0].port, 10000);
  EXPECT_EQ(scheduler_.app("/b")->port_definitions[0].port, 10001);
  App a = *scheduler_.app("/a");
  a.port_definitions[0].port = 0;
  a.cmd = "other";
  scheduler_.update_app(a);
  EXPECT_EQ(scheduler_.app("/a")->port_definitions[0].port, 10000);
}

TEST_F(SchedulerTest, VersionsGrowStrictly) {
  scheduler_.create_app(make_app("/a", 1));
  std::string first = scheduler_.app("/a")->version;
  App scaled = *scheduler_.app("/a");
  scaled.instances = 2;
  scheduler_.update_app(scaled);
  EXPECT_GT(scheduler_.app("/a")->version, first);
  EXPECT_EQ(scheduler_.versions("/a")->size(), 2u);
  EXPECT_EQ(first, "2025-01-01T00:00:00.000Z");
}

// ---- group deployments ----

// The ids of the apps whose tasks were launched, in launch order, each once.
std::vector<std::string> launch_order(const RecordingDriver& driver) {
  std::vector<std::string> out;
  for (const auto& task : driver.launched) {
    std::string app = "/" + task.task_id.substr(0, task.task_id.find('.'));
    if (std::find(out.begin(), out.end(), app) == out.end()) out.push_back(app);
  }
  return out;
}

App depending(const std::string& id, int64_t instances, std::vector<std::string> dependencies) {
  App app = make_app(id, instances);
  app.dependencies = std::move(dependencies);
  return app;
}

TEST_F(SchedulerTest, AGroupIsOneDeploymentWhoseStepsFollowTheDependencies) {
  auto change = scheduler_.deploy_group(
      {depending("/lb", 1, {"/web"}), depending("/web", 2, {"/db"}), make_app("/db", 2)}, {});
  ASSERT_EQ(scheduler_.deployments().size(), 1u);
  const Deployment& plan = scheduler_.deployments().at(change.deployment_id);
  ASSERT_EQ(plan.steps.size(), 4u);
  EXPECT_EQ(plan.steps[0].size(), 3u);
  EXPECT_EQ(plan.steps[0][0].action, "StartApplication");
  EXPECT_EQ(plan.steps[1][0].app, "/db");
  EXPECT_EQ(plan.steps[2][0].app, "/web");
  EXPECT_EQ(plan.steps[3][0].app, "/lb");
  EXPECT_EQ(plan.steps[3][0].action, "ScaleApplication");
  // Every app has the deployment's version.
  for (const char* id : {"/db", "/web", "/lb"}) {
    EXPECT_EQ(scheduler_.app(id)->version, change.version);
  }
  // Each app starts only once everything it depends on runs.
  offer_round();
  EXPECT_EQ(launch_order(driver_), std::vector<std::string>{"/db"});
  EXPECT_EQ(scheduler_.waiting("/web"), 0);
  offer_round();
  EXPECT_EQ(driver_.launched.size(), 2u) << "web went before db ran";
  run_all();
  EXPECT_EQ(scheduler_.deployments().at(change.deployment_id).current_step, 3u);
  offer_round();
  EXPECT_EQ(launch_order(driver_), (std::vector<std::string>{"/db", "/web"}));
  run_all();
  offer_round();
  run_all();
  EXPECT_EQ(launch_order(driver_), (std::vector<std::string>{"/db", "/web", "/lb"}));
  EXPECT_TRUE(scheduler_.deployments().empty());
  EXPECT_EQ(driver_.count_events("deployment_success"), 1u);
  EXPECT_EQ(driver_.count_events("deployment_info"), 1u);
}

TEST_F(SchedulerTest, RemovingAGroupStopsItsAppsInOneDeployment) {
  scheduler_.deploy_group({make_app("/g/a", 1), make_app("/g/b", 2)}, {});
  for (int i = 0; i < 3; ++i) {
    offer_round();
    run_all();
  }
  ASSERT_TRUE(scheduler_.deployments().empty());
  auto change = scheduler_.deploy_group({}, {"/g/a", "/g/b"});
  ASSERT_EQ(scheduler_.deployments().size(), 1u);
  const Deployment& plan = scheduler_.deployments().at(change.deployment_id);
  ASSERT_EQ(plan.steps.size(), 1u);
  EXPECT_EQ(plan.steps[0].size(), 2u);
  EXPECT_EQ(plan.steps[0][0].action, "StopApplication");
  EXPECT_EQ(driver_.killed.size(), 3u);
  confirm_kills();
  EXPECT_TRUE(scheduler_.apps().empty());
  EXPECT_TRUE(scheduler_.deployments().empty());
  EXPECT_EQ(driver_.count_events("app_terminated_event"), 2u);
  EXPECT_EQ(driver_.count_events("deployment_success"), 2u);
}

TEST_F(SchedulerTest, AGroupChangeLeavesUnchangedAppsOutAndRollsBackAsOne) {
  scheduler_.deploy_group({make_app("/g/a", 1), make_app("/g/b", 1)}, {});
  offer_round();
  run_all();
  ASSERT_TRUE(scheduler_.deployments().empty());
  std::string b_version = scheduler_.app("/g/b")->version;
  // a scales, b stays, c is new.
  auto change =
      scheduler_.deploy_group({make_app("/g/a", 3), make_app("/g/b", 1), make_app("/g/c", 1)}, {});
  const Deployment& plan = scheduler_.deployments().at(change.deployment_id);
  EXPECT_EQ(plan.apps, (std::vector<std::string>{"/g/a", "/g/c"}));
  EXPECT_EQ(scheduler_.app("/g/b")->version, b_version);
  offer_round();
  // The rollback is one deployment again: a back to 1, c removed.
  auto rollback = scheduler_.cancel_deployment(change.deployment_id, false);
  ASSERT_TRUE(rollback);
  ASSERT_EQ(scheduler_.deployments().size(), 1u);
  const Deployment& back = scheduler_.deployments().at(rollback->deployment_id);
  EXPECT_EQ(back.stopping, std::set<std::string>{"/g/c"});
  EXPECT_EQ(scheduler_.app("/g/a")->instances, 1);
  // Marathon's order: the removed app is stopped first, then a scales down.
  EXPECT_EQ(driver_.killed.size(), 1u);
  confirm_kills();
  EXPECT_EQ(driver_.killed.size(), 3u);
  confirm_kills();
  EXPECT_EQ(scheduler_.app("/g/c"), nullptr);
  EXPECT_TRUE(scheduler_.deployments().empty());
}

TEST_F(SchedulerTest, DependencyCyclesAreFound) {
  scheduler_.deploy_group({depending("/a", 0, {"/b"})}, {});
  EXPECT_EQ(scheduler_.dependency_cycle({depending("/b", 0, {"/a"})}, {}), "/a");
  EXPECT_FALSE(scheduler_.dependency_cycle({depending("/b", 0, {"/a"})}, {"/a"}));
  EXPECT_FALSE(scheduler_.dependency_cycle({depending("/b", 0, {"/c"})}, {}));
  EXPECT_TRUE(scheduler_.dependency_cycle({depending("/c", 0, {"/c"})}, {}));
}

TEST_F(SchedulerTest, AGroupsDependenciesOrderItsAppsAfterEveryAppOfTheGroupsItDependsOn) {
  // /shop/web depends on the group /shop/db: front waits for both db apps; /shop/db's apps do
  // not wait for anything.
  auto change = scheduler_.deploy_group(
      {make_app("/shop/web/front", 1), make_app("/shop/db/main", 1),
       make_app("/shop/db/replica", 1)},
      {}, {GroupSpec{"/shop/web", {"/shop/db"}, ""}, GroupSpec{"/shop/db", {}, ""}});
  const Deployment& plan = scheduler_.deployments().at(change.deployment_id);
  ASSERT_EQ(plan.steps.size(), 3u);
  EXPECT_EQ(plan.steps[1].size(), 2u);
  EXPECT_EQ(plan.steps[2].size(), 1u);
  EXPECT_EQ(plan.steps[2][0].app, "/shop/web/front");
  // The groups are stored with the deployment's version.
  ASSERT_EQ(driver_.stored_groups.size(), 2u);
  EXPECT_EQ(driver_.stored_groups.at("/shop/web").version, change.version);
  EXPECT_EQ(driver_.stored_groups.at("/shop/web").dependencies,
            std::vector<std::string>{"/shop/db"});
  EXPECT_TRUE(scheduler_.group_exists("/shop/web"));
  // A group that waits for one holding it waits for itself, and groups waiting for each other
  // form a cycle.
  EXPECT_TRUE(scheduler_.dependency_cycle({}, {}, {GroupSpec{"/shop", {"/shop/db"}, ""}}));
  EXPECT_TRUE(scheduler_.dependency_cycle({}, {}, {GroupSpec{"/shop/db", {"/shop/web"}, ""}}));
  EXPECT_FALSE(scheduler_.dependency_cycle({}, {}, {GroupSpec{"/shop/db", {"/other"}, ""}}));
  // Removing a group forgets its definition; an empty group exists only while defined.
  scheduler_.deploy_group({}, {}, {GroupSpec{"/empty", {}, ""}});
  EXPECT_TRUE(scheduler_.group_exists("/empty"));
  EXPECT_FALSE(scheduler_.group_exists("/emp"));
  scheduler_.deploy_group({}, {}, {}, {"/empty"});
  EXPECT_FALSE(scheduler_.group_exists("/empty"));
  EXPECT_EQ(driver_.stored_groups.count("/empty"), 0u);
}

TEST_F(SchedulerTest, ANewLeaderResumesAGroupDeploymentAtItsStep) {
  scheduler_.deploy_group({depending("/web", 1, {"/db"}), make_app("/db", 1)}, {});
  offer_round();
  run_all();
  ASSERT_EQ(driver_.stored_deployments.size(), 1u);
  EXPECT_EQ(driver_.stored_deployments.begin()->second.current_step, 3u);
  RecordingDriver fresh_driver;
  Scheduler recovered(clock_, fresh_driver, options());
  for (const auto& [id, app] : driver_.stored_apps) recovered.adopt_app(app);
  for (const auto& [id, task] : driver_.stored_tasks) recovered.adopt_task(task);
  for (const auto& [id, stored] : driver_.stored_deployments) recovered.adopt_deployment(stored);
  recovered.converge();
  ASSERT_EQ(recovered.deployments().size(), 1u);
  EXPECT_EQ(recovered.deployments().begin()->second.apps.size(), 2u);
  recovered.on_offers(three_agents(7));
  ASSERT_EQ(fresh_driver.launched.size(), 1u);
  EXPECT_EQ(fresh_driver.launched[0].task_id.rfind("web.", 0), 0u);
}

// The dependencies of each defined group.
std::map<std::string, std::vector<std::string>> group_dependencies(const Scheduler& scheduler) {
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& [id, group] : scheduler.groups()) out[id] = group.dependencies;
  return out;
}

TEST_F(SchedulerTest, ARollbackRestoresTheGroupsAsTheyWereAlsoOnANewLeader) {
  scheduler_.deploy_group({make_app("/g/a", 1)}, {}, {GroupSpec{"/g", {"/base"}, ""}});
  offer_round();
  run_all();
  ASSERT_TRUE(scheduler_.deployments().empty());
  // The change scales a up (no offers come: it stays in progress), creates b in a new group,
  // and changes /g's dependencies; /g/empty is created without anything in it.
  auto change =
      scheduler_.deploy_group({make_app("/g/a", 3), make_app("/g/new/b", 1)}, {},
                              {GroupSpec{"/g", {"/other"}, ""}, GroupSpec{"/g/new", {"/g/a"}, ""},
                               GroupSpec{"/g/empty", {}, ""}});
  using Dependencies = std::map<std::string, std::vector<std::string>>;
  EXPECT_EQ(group_dependencies(scheduler_),
            (Dependencies{{"/g", {"/other"}}, {"/g/empty", {}}, {"/g/new", {"/g/a"}}}));
  // The plan is stored with the groups as they were, and a new leader rolls it back.
  const StoredDeployment& stored = driver_.stored_deployments.at(change.deployment_id);
  EXPECT_EQ(stored.groups_before.size(), 1u);
  EXPECT_EQ(stored.groups_after.size(), 3u);
  RecordingDriver fresh_driver;
  Scheduler recovered(clock_, fresh_driver, options());
  for (const auto& [id, app] : driver_.stored_apps) recovered.adopt_app(app);
  for (const auto& [id, group] : driver_.stored_groups) recovered.adopt_group(group);
  for (const auto& [id, task] : driver_.stored_tasks) recovered.adopt_task(task);
  for (const auto& [id, plan] : driver_.stored_deployments) recovered.adopt_deployment(plan);
  auto rollback = recovered.cancel_deployment(change.deployment_id, false);
  ASSERT_TRUE(rollback);
  // /g has its dependencies back; the groups the change created are gone, /g/new with the app
  // it held.
  EXPECT_EQ(group_dependencies(recovered), (Dependencies{{"/g", {"/base"}}}));
  EXPECT_EQ(fresh_driver.stored_groups.at("/g").dependencies, std::vector<std::string>{"/base"});
  EXPECT_EQ(fresh_driver.stored_groups.at("/g").version, rollback->version);
  EXPECT_EQ(recovered.app("/g/a")->instances, 1);
  // b never ran and a runs its one task: the rollback is done at once.
  EXPECT_EQ(recovered.app("/g/new/b"), nullptr);
  EXPECT_TRUE(recovered.deployments().empty());
  EXPECT_EQ(fresh_driver.count_events("deployment_success"), 1u);
}

TEST_F(SchedulerTest, RollingBackAGroupsRemovalBringsItBackWithItsAppsAndKeepsLaterChanges) {
  scheduler_.deploy_group({make_app("/g/a", 1), make_app("/h/c", 1)}, {},
                          {GroupSpec{"/g", {"/h"}, ""}, GroupSpec{"/h", {"/x"}, ""}});
  // /g's app waits for /h's: two rounds.
  for (int i = 0; i < 2; ++i) {
    offer_round();
    run_all();
  }
  ASSERT_TRUE(scheduler_.deployments().empty());
  // /g is removed; its task's kill is not confirmed, so the deployment is in progress.
  auto removal = scheduler_.deploy_group({}, {"/g/a"}, {}, {"/g"});
  EXPECT_EQ(scheduler_.groups().count("/g"), 0u);
  // Meanwhile another change gives /h a dependency of its own; a rollback of the removal keeps it.
  scheduler_.deploy_group({}, {}, {GroupSpec{"/h", {"/x", "/y"}, ""}});
  auto rollback = scheduler_.cancel_deployment(removal.deployment_id, false);
  ASSERT_TRUE(rollback);
  using Dependencies = std::map<std::string, std::vector<std::string>>;
  EXPECT_EQ(group_dependencies(scheduler_), (Dependencies{{"/g", {"/h"}}, {"/h", {"/x", "/y"}}}));
  ASSERT_NE(scheduler_.app("/g/a"), nullptr);
  EXPECT_EQ(scheduler_.app("/g/a")->instances, 1);
  confirm_kills();
  offer_round();
  run_all();
  EXPECT_EQ(scheduler_.counts("/g/a").running, 1);
  EXPECT_TRUE(scheduler_.deployments().empty());
}

// As Marathon's TaskBuilder and EnvironmentHelper: a named port is PORT_<NAME> in upper case
// (it was PORT_<name> as given, so $PORT_HTTP was empty), each port also PORT_<its service
// port>, the app's resources and labels are there, and the app's own env wins over all of it
// (it was overwritten: an app setting PORT or HOST itself got Tessera's).
TEST_F(SchedulerTest, TasksGetMarathonsEnvironmentAndTheAppsEnvWins) {
  App app = make_app("/web", 1);
  app.cpus = 0.5;
  PortDefinition http;
  http.port = 10000;
  http.name = "http";
  app.port_definitions = {http, PortDefinition{}};
  app.labels = {{"tier", "front"}, {"com.example/team", "a"}};
  app.env = {{"HOST", "0.0.0.0"}, {"FOO", "bar"}};
  scheduler_.create_app(app);
  offer_round();
  ASSERT_EQ(driver_.launched.size(), 1u);
  const auto& env = driver_.launched[0].command.environment;
  EXPECT_EQ(env.at("PORT0"), "31000");
  EXPECT_EQ(env.at("PORT1"), "31001");
  EXPECT_EQ(env.at("PORT_HTTP"), "31000");
  EXPECT_EQ(env.count("PORT_http"), 0u);
  EXPECT_EQ(env.at("PORT_10000"), "31000");
  EXPECT_EQ(env.at("PORT"), "31000");
  EXPECT_EQ(env.at("PORTS"), "31000,31001");
  EXPECT_EQ(env.at("MARATHON_APP_ID"), "/web");
  EXPECT_EQ(env.at("MARATHON_APP_RESOURCE_CPUS"), "0.5");
  EXPECT_EQ(env.at("MARATHON_APP_RESOURCE_MEM"), "100.0");
  EXPECT_EQ(env.at("MARATHON_APP_LABEL_TIER"), "front");
  EXPECT_EQ(env.at("MARATHON_APP_LABEL_COM_EXAMPLE_TEAM"), "a");
  EXPECT_EQ(env.at("MARATHON_APP_LABELS"), "COM_EXAMPLE_TEAM TIER");
  EXPECT_EQ(env.at("MESOS_TASK_ID"), driver_.launched[0].task_id);
  EXPECT_EQ(env.at("HOST"), "0.0.0.0") << "the app's env wins";
  EXPECT_EQ(env.at("FOO"), "bar");
}

// The record of a change of many apps holds each one's definition before it (for a rollback):
// for a thousand apps that is over the store's limit of a value (1 MiB), and the store refused
// it (DELETE /v2/groups/big answered 503 "the change is not stored" though it went ahead, and a
// new leader had no deployment to resume or roll back). It is stored in parts.
TEST(DeploymentRecords, ALargeRecordIsStoredInPartsAndReadBackWhole) {
  StoredDeployment whole;
  whole.id = "d1";
  whole.version = "2026-01-01T00:00:00.000Z";
  whole.current_step = 2;
  whole.steps = {{"StopApplication", "/big/app0"}};
  for (int i = 0; i < 3000; ++i) {
    std::string id = "/big/app" + std::to_string(i);
    whole.apps.push_back(id);
    whole.previous_apps[id] = std::string(1000, 'x');
  }
  whole.groups_before["/big"] = R"({"id": "/big"})";
  constexpr size_t kMax = 256 * 1024;
  std::vector<StoredDeployment> parts = split_deployment(whole, kMax);
  ASSERT_GT(parts.size(), 10u);
  for (size_t i = 0; i < parts.size(); ++i) {
    EXPECT_EQ(parts[i].part, i);
    EXPECT_EQ(parts[i].parts, parts.size());
    EXPECT_EQ(parts[i].id, "d1");
    size_t bytes = 0;
    for (const auto& [id, json] : parts[i].previous_apps) bytes += id.size() + json.size();
    for (const auto& id : parts[i].apps) bytes += id.size();
    EXPECT_LE(bytes, kMax) << "part " << i;
  }
  EXPECT_EQ(parts[0].apps.size(), 3000u) << "part 0 has all but the definitions";
  EXPECT_EQ(parts[0].current_step, 2u);
  // Read back in any order.
  std::reverse(parts.begin(), parts.end());
  auto joined = join_deployment(parts);
  ASSERT_TRUE(joined);
  EXPECT_EQ(joined->previous_apps, whole.previous_apps);
  EXPECT_EQ(joined->groups_before, whole.groups_before);
  EXPECT_EQ(joined->apps, whole.apps);
  EXPECT_EQ(joined->steps, whole.steps);
  // Without part 0 there is no deployment; a small record is one part, as before.
  parts.pop_back();
  EXPECT_FALSE(join_deployment(parts));
  StoredDeployment small;
  small.id = "d2";
  small.previous_apps["/a"] = "{}";
  auto one = split_deployment(small, kMax);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].parts, 0u);
  EXPECT_EQ(join_deployment(one)->previous_apps, small.previous_apps);
}

// A deployment's record in parts was written whole (every part, each a store write of up to
// 384 KiB) at every step it passed, though only part 0 (the current step) changes: a change of a
// thousand apps rewrote megabytes of unchanged definitions per step. Only the parts whose bytes
// changed are written, and what is written reads back as the deployment it was.
TEST_F(SchedulerTest, ADeploymentsStepRewritesOnlyThePartsOfItsRecordThatChanged) {
  // /g/a and the idle /g/c* (large definitions) first, then /g/b after /g/a.
  auto apps = [](const std::string& cmd) {
    std::vector<App> out;
    App a = make_app("/g/a", 1);
    a.cmd = cmd;
    App b = make_app("/g/b", 1);
    b.cmd = cmd;
    b.dependencies = {"/g/a"};
    out = {a, b};
    for (int i = 0; i < 20; ++i) {
      App idle = make_app("/g/c" + std::to_string(i), 0);
      idle.cmd = cmd;
      idle.labels["blob"] = std::string(600, static_cast<char>('a' + i));
      out.push_back(std::move(idle));
    }
    return out;
  };
  scheduler_.deploy_group(apps("sleep 100"), {});
  for (int i = 0; i < 3 && !scheduler_.deployments().empty(); ++i) {
    offer_round();
    run_all();
  }
  ASSERT_TRUE(scheduler_.deployments().empty());
  auto change = scheduler_.deploy_group(apps("sleep 200"), {});
  const std::string& id = change.deployment_id;
  ASSERT_EQ(driver_.stored_deployments.at(id).current_step, 1u);

  // The store: key ("ID/PART") -> the bytes written.
  std::map<std::string, std::string> store;
  auto apply = [&](const std::vector<DeploymentRecordParts::Write>& writes) {
    for (const auto& write : writes) {
      std::string key = id + "/" + std::to_string(write.part);
      if (write.encoded) {
        store[key] = *write.encoded;
      } else {
        store.erase(key);
      }
    }
    return writes;
  };
  constexpr size_t kPartBytes = 4 * 1024;
  DeploymentRecordParts parts(kPartBytes);
  auto first = apply(parts.save(driver_.stored_deployments.at(id)));
  size_t count = parts.parts(id);
  ASSERT_GE(count, 3u) << "the record is split";
  ASSERT_EQ(first.size(), count) << "every part is written the first time";
  EXPECT_EQ(first.back().part, 0u) << "part 0 last: it never names parts not stored yet";

  // /g/a's new task runs and the old one is gone: the deployment passes to /g/b's step.
  offer_round();
  run_all();
  confirm_kills();
  scheduler_.converge();
  ASSERT_EQ(driver_.stored_deployments.at(id).current_step, 2u);
  auto second = apply(parts.save(driver_.stored_deployments.at(id)));
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].part, 0u) << "only the part with the current step changed";
  EXPECT_TRUE(parts.save(driver_.stored_deployments.at(id)).empty()) << "nothing changed";

  // A new leader reads the parts back: the same deployment, at its step, which it can roll
  // back to every definition it held.
  std::vector<StoredDeployment> read;
  for (const auto& [key, bytes] : store) {
    msgpack::object_handle handle = msgpack::unpack(bytes.data(), bytes.size());
    read.push_back(handle.get().as<StoredDeployment>());
  }
  ASSERT_EQ(read.size(), count);
  DeploymentRecordParts reread(kPartBytes);
  auto recovered = reread.recover(read);
  ASSERT_TRUE(recovered.whole);
  EXPECT_TRUE(recovered.leftovers.empty());
  StoredDeployment expected = driver_.stored_deployments.at(id);
  EXPECT_EQ(recovered.whole->previous_apps, expected.previous_apps);
  EXPECT_EQ(recovered.whole->groups_before, expected.groups_before);
  EXPECT_EQ(recovered.whole->groups_after, expected.groups_after);
  EXPECT_EQ(recovered.whole->apps, expected.apps);
  EXPECT_EQ(recovered.whole->steps, expected.steps);
  EXPECT_EQ(recovered.whole->current_step, 2u);
  EXPECT_TRUE(reread.save(expected).empty()) << "what was read back is known to be stored";
  RecordingDriver fresh_driver;
  Scheduler restarted(clock_, fresh_driver, options());
  for (const auto& [app_id, app] : driver_.stored_apps) restarted.adopt_app(app);
  for (const auto& [task_id, task] : driver_.stored_tasks) restarted.adopt_task(task);
  restarted.adopt_deployment(*recovered.whole);
  ASSERT_EQ(restarted.deployments().count(id), 1u);
  EXPECT_EQ(restarted.deployment_json(restarted.deployments().at(id)),
            scheduler_.deployment_json(scheduler_.deployments().at(id)));
  ASSERT_TRUE(restarted.cancel_deployment(id, false));
  for (int i = 0; i < 20; ++i) {
    std::string app_id = "/g/c" + std::to_string(i);
    ASSERT_NE(restarted.app(app_id), nullptr);
    EXPECT_EQ(restarted.app(app_id)->cmd, "sleep 100") << app_id;
    EXPECT_EQ(restarted.app(app_id)->labels.at("blob"),
              std::string(600, static_cast<char>('a' + i)));
  }

  // A part whose write failed is written again; a record that shrinks removes the parts it no
  // longer has, after part 0; a removal takes part 0 first.
  reread.failed(id, 1);
  auto again = apply(reread.save(expected));
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].part, 1u);
  StoredDeployment smaller = expected;
  smaller.previous_apps.clear();
  auto shrunk = apply(reread.save(smaller));
  ASSERT_EQ(shrunk.size(), count);
  EXPECT_EQ(shrunk[0].part, 0u);
  EXPECT_TRUE(shrunk[0].encoded);
  for (size_t i = 1; i < count; ++i) EXPECT_FALSE(shrunk[i].encoded) << i;
  EXPECT_EQ(store.size(), 1u);
  EXPECT_EQ(reread.parts(id), 1u);
  auto removal = apply(reread.remove(id));
  ASSERT_EQ(removal.size(), 1u);
  EXPECT_TRUE(store.empty());
  EXPECT_EQ(reread.parts(id), 0u);
}

// A write into fewer parts cut short after its part 0 leaves the old later parts behind, and one
// into more parts cut short before its part 0 leaves the new ones: neither is part of the
// record part 0 makes (their definitions would have come back with a rollback), and a new
// leader removes them.
TEST(DeploymentRecords, PartsThatPart0DoesNotCountAreLeftOutAndRemoved) {
  StoredDeployment whole;
  whole.id = "d";
  for (int i = 0; i < 40; ++i) {
    whole.previous_apps["/app" + std::to_string(i)] = std::string(200, 'x');
  }
  std::vector<StoredDeployment> split = split_deployment(whole, 2048);
  ASSERT_GE(split.size(), 3u);
  // Now one part: the earlier parts 1... are left behind.
  StoredDeployment alone;
  alone.id = "d";
  alone.previous_apps["/app0"] = "{}";
  std::vector<StoredDeployment> read = split_deployment(alone, 2048);
  ASSERT_EQ(read.size(), 1u);
  read.insert(read.end(), split.begin() + 1, split.end());
  DeploymentRecordParts parts(2048);
  auto recovered = parts.recover(read);
  ASSERT_TRUE(recovered.whole);
  EXPECT_EQ(recovered.whole->previous_apps, alone.previous_apps);
  EXPECT_EQ(recovered.leftovers.size(), split.size() - 1);
  EXPECT_EQ(parts.parts("d"), 1u);
  // Without part 0, every part is left over.
  read.erase(read.begin());
  auto orphans = DeploymentRecordParts(2048).recover(read);
  EXPECT_FALSE(orphans.whole);
  EXPECT_EQ(orphans.leftovers.size(), split.size() - 1);
  EXPECT_FALSE(join_deployment(read));
}

}  // namespace
}  // namespace tessera::marathon

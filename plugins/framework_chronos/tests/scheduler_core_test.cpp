// The scheduler core driven as the plugin will drive it: time passed in, actions out, status
// updates in. A small fake cluster finishes launched runs after a given time.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "scheduler_core.h"

namespace tessera::chronos {
namespace {

namespace json = boost::json;
using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;
using Names = std::vector<std::string>;

TimePoint at(const char* text) { return *parse_time(text); }

const TimePoint T0 = at("2024-05-01T12:00:00Z");

std::string iso(TimePoint t) { return format_time(t); }

Job job(const std::string& text, TimePoint now = T0) {
  auto parsed = parse_job(json::parse(text), JobForm::any, {}, now);
  EXPECT_TRUE(parsed.ok()) << text << ": " << (parsed.ok() ? "" : parsed.error().message);
  return parsed.ok() ? *parsed : Job{};
}

// A job running every `period` from T0, with extra JSON fields.
Job every(const std::string& name, const std::string& period, const std::string& extra = "") {
  return job(R"({"name": ")" + name + R"(", "command": "run )" + name + R"(", "schedule": "R/)" +
             iso(T0) + "/" + period + "\"" + (extra.empty() ? "" : ", " + extra) + "}");
}

Job child(const std::string& name, const Names& parents, const std::string& extra = "") {
  std::string list;
  for (const std::string& p : parents) list += (list.empty() ? "\"" : ", \"") + p + "\"";
  return job(R"({"name": ")" + name + R"(", "command": "run )" + name + R"(", "parents": [)" +
             list + "]" + (extra.empty() ? "" : ", " + extra) + "}");
}

std::vector<LaunchRun> launches(const std::vector<Action>& actions) {
  std::vector<LaunchRun> out;
  for (const Action& a : actions) {
    if (const auto* launch = std::get_if<LaunchRun>(&a)) out.push_back(*launch);
  }
  return out;
}

// The one launch among `actions`; a test failure (and an empty launch) if there is not exactly
// one, so that a test never reads past the end.
LaunchRun only_launch(const std::vector<Action>& actions) {
  std::vector<LaunchRun> all = launches(actions);
  EXPECT_EQ(all.size(), 1u);
  return all.empty() ? LaunchRun{} : all.front();
}

Names launched_ids(const std::vector<Action>& actions) {
  Names out;
  for (const LaunchRun& l : launches(actions)) out.push_back(l.run_id);
  return out;
}

Names killed_tasks(const std::vector<Action>& actions) {
  Names out;
  for (const Action& a : actions) {
    if (const auto* kill = std::get_if<KillRun>(&a)) out.push_back(kill->task_id);
  }
  return out;
}

std::vector<Action> ok(Result<std::vector<Action>> result) {
  EXPECT_TRUE(result.ok()) << (result.ok() ? "" : result.error().message);
  return result.ok() ? *result : std::vector<Action>{};
}

// Launched runs start at once on "agent-1" and end `run_time` later with `outcome`.
class FakeCluster {
 public:
  explicit FakeCluster(SchedulerCore& core) : core_(core) {}
  Millis run_time{500};
  RunOutcome outcome = RunOutcome::succeeded;
  std::set<std::string> failing;  // task ids that fail whatever `outcome` is
  TimePoint clock{};  // never goes back: a restored scheduler is driven from its restore time
  Names launched;     // run ids, in launch order

  void handle(const std::vector<Action>& actions, TimePoint now) {
    for (const LaunchRun& launch : launches(actions)) {
      launched.push_back(launch.run_id);
      EXPECT_TRUE(core_.run_started(launch.task_id, "agent-1", now).ok());
      ending_[now + run_time].push_back(launch.task_id);
    }
  }

  // Ticks at every wakeup and ends runs, in time order, up to `until` inclusive.
  void run_until(TimePoint until) {
    // A scheduler that asks to be woken again for what it just did would spin: fail instead.
    for (int step = 0;; ++step) {
      if (step == 100'000) {
        ADD_FAILURE() << "still busy at " << format_time(clock) << " after 100,000 steps";
        return;
      }
      auto wakeup = core_.next_wakeup();
      bool end_first = !ending_.empty() && (!wakeup || ending_.begin()->first <= *wakeup);
      TimePoint t = end_first ? ending_.begin()->first : wakeup.value_or(until + Millis{1});
      if (t > until) return;
      t = std::max(t, clock);
      clock = t;
      if (end_first) {
        Names tasks = std::move(ending_.begin()->second);
        ending_.erase(ending_.begin());
        for (const std::string& task : tasks) {
          RunOutcome end = failing.count(task) != 0 ? RunOutcome::failed : outcome;
          auto actions = core_.run_finished(task, end, end == RunOutcome::succeeded ? 0 : 1, "",
                                            "output of " + task, t);
          if (actions.ok()) handle(*actions, t);
        }
      } else {
        handle(core_.tick(t), t);
      }
    }
  }

  // The same cluster under a new leader: the runs still in flight end when they would have.
  void take_over(const FakeCluster& before) {
    ending_ = before.ending_;
    clock = before.clock;
  }

 private:
  SchedulerCore& core_;
  std::map<TimePoint, Names> ending_;
};

// The newest run record of a job (an empty one, and a test failure, if it has none).
RunRecord last_record(const SchedulerCore& core, const std::string& name) {
  const RunHistory* history = core.history(name);
  EXPECT_TRUE(history != nullptr && !history->records().empty()) << name;
  if (history == nullptr || history->records().empty()) return {};
  return history->records().back();
}

std::vector<json::value> save_all(const SchedulerCore& core) {
  std::vector<json::value> saved;
  for (const Job* j : core.jobs()) {
    // Through text, as the store keeps it.
    saved.push_back(json::parse(json::serialize(core.save_job(j->name))));
  }
  return saved;
}

// What a new leader does: restores every job, then every history, from what `from` saved.
SchedulerCore::RestoreReport restore_from(const SchedulerCore& from, SchedulerCore& to,
                                          TimePoint now) {
  SchedulerCore::RestoreReport report = to.restore(save_all(from), now);
  for (const Job* j : from.jobs()) {
    Status restored =
        to.restore_history(j->name, json::parse(json::serialize(from.save_history(j->name))));
    EXPECT_TRUE(restored.ok()) << (restored.ok() ? "" : restored.error().message);
  }
  return report;
}

Names ids_at(const std::string& job_name, TimePoint from, Millis step, int count) {
  Names out;
  for (int i = 0; i < count; ++i) out.push_back(job_name + "@" + iso(from + step * i));
  return out;
}

TEST(SchedulerCore, AJobEveryTwoSecondsRunsThreeTimesInSixSeconds) {
  SchedulerCore core;
  ASSERT_TRUE(core.put_job(every("tick", "PT2S"), T0).ok());
  EXPECT_EQ(core.next_wakeup(), T0);
  FakeCluster cluster(core);
  cluster.run_until(T0 + Millis{5999});
  EXPECT_EQ(cluster.launched, ids_at("tick", T0, seconds{2}, 3));
  EXPECT_EQ(core.next_wakeup(), T0 + seconds{6});
  EXPECT_EQ(core.find_job("tick")->success_count, 3);
  EXPECT_EQ(core.find_job("tick")->last_success, T0 + seconds{4} + Millis{500});
}

TEST(SchedulerCore, ARunOfAJobWithUrisSaysTheyAreNotFetched) {
  SchedulerCore core;
  ASSERT_TRUE(core.put_job(every("fetching", "PT10S", R"("uris": ["http://x/a.tgz"])"), T0).ok());
  ASSERT_TRUE(core.put_job(every("plain", "PT10S"), T0).ok());
  FakeCluster cluster(core);
  cluster.run_until(T0 + Millis{1000});
  RunRecord fetching = last_record(core, "fetching");
  EXPECT_EQ(fetching.status, RunStatus::succeeded);
  EXPECT_EQ(fetching.message.rfind("'uris' not fetched: unsupported on this cluster", 0), 0u)
      << fetching.message;
  EXPECT_EQ(last_record(core, "plain").message, "");
}

TEST(SchedulerCore, ARunLaterThanEpsilonIsSkippedAndRecorded) {
  SchedulerCore core;
  ASSERT_TRUE(core.put_job(every("slow", "PT10S", R"("epsilon": "PT1S")"), T0).ok());
  EXPECT_EQ(launched_ids(core.tick(T0)), (Names{"slow@" + iso(T0)}));
  // The loop was stalled: the 10 s run is 5 s late.
  EXPECT_TRUE(core.tick(T0 + seconds{15}).empty());
  RunRecord skipped = last_record(core, "slow");
  EXPECT_EQ(skipped.status, RunStatus::skipped);
  EXPECT_EQ(skipped.run_id, "slow@" + iso(T0 + seconds{10}));
  EXPECT_EQ(skipped.message,
            "missed by more than epsilon PT1S (later runs missed as long are not listed)");
  EXPECT_EQ(core.next_wakeup(), T0 + seconds{20});
}

TEST(SchedulerCore, AnEpsilonOfZeroStillRunsWhatTheTimerWakesForALittleLate) {
  // The loop's timer wakes a few milliseconds after a due time: with epsilon PT0S every run
  // was "missed by more than epsilon". Lateness within a second is always on time.
  SchedulerCore core;
  ASSERT_TRUE(
      core.put_job(every("prompt", "PT10S", R"("epsilon": "PT0S", "concurrent": true)"), T0).ok());
  EXPECT_EQ(launched_ids(core.tick(T0 + Millis{3})), (Names{"prompt@" + iso(T0)}));
  EXPECT_EQ(launched_ids(core.tick(T0 + seconds{10} + Millis{40})),
            (Names{"prompt@" + iso(T0 + seconds{10})}));
  // Later than that is late.
  EXPECT_TRUE(core.tick(T0 + seconds{25}).empty());
  EXPECT_EQ(last_record(core, "prompt").status, RunStatus::skipped);
}

// Runs a job every 10 s from T0 on one scheduler until T0+35 s, saves it, restores it on a new
// scheduler at `resume`, and runs on until `until`: the launched run ids of both.
Names run_with_failover(const std::string& extra, Millis resume, Millis until) {
  SchedulerCore first;
  EXPECT_TRUE(first.put_job(every("job", "PT10S", extra), T0).ok());
  FakeCluster a(first);
  a.run_until(T0 + seconds{35});
  SchedulerCore second;
  SchedulerCore::RestoreReport report = restore_from(first, second, T0 + resume);
  EXPECT_EQ(report.restored, 1u);
  EXPECT_TRUE(report.dropped.empty());
  FakeCluster b(second);
  b.clock = T0 + resume;
  b.run_until(T0 + until);
  Names all = a.launched;
  all.insert(all.end(), b.launched.begin(), b.launched.end());
  return all;
}

Names concat(Names a, const Names& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

TEST(SchedulerCore, AfterAFailoverSkipRunsNothingThatWasMissed) {
  Names runs = run_with_failover(R"("catchUpPolicy": "skip")", seconds{75}, seconds{100});
  EXPECT_EQ(runs, concat(ids_at("job", T0, seconds{10}, 4),
                         ids_at("job", T0 + seconds{80}, seconds{10}, 3)));
}

TEST(SchedulerCore, AfterAFailoverOnceRunsTheLatestMissedRun) {
  Names runs = run_with_failover(R"("catchUpPolicy": "once")", seconds{75}, seconds{100});
  EXPECT_EQ(runs, concat(ids_at("job", T0, seconds{10}, 4),
                         ids_at("job", T0 + seconds{70}, seconds{10}, 4)));
}

TEST(SchedulerCore, AfterAFailoverAllRunsEveryMissedRun) {
  Names runs =
      run_with_failover(R"("catchUpPolicy": "all", "concurrent": true)", seconds{75}, seconds{100});
  EXPECT_EQ(runs, ids_at("job", T0, seconds{10}, 11));
}

TEST(SchedulerCore, AfterAFailoverAllRunsEveryMissedRunOneAfterTheOtherUnderForbid) {
  // concurrencyPolicy forbid (the default): the missed runs are not skipped as runs due while
  // another is active; they run in turn, each once.
  SchedulerCore first;
  ASSERT_TRUE(first.put_job(every("job", "PT10S", R"("catchUpPolicy": "all")"), T0).ok());
  FakeCluster a(first);
  a.run_until(T0 + seconds{35});
  SchedulerCore second;
  restore_from(first, second, T0 + seconds{75});
  FakeCluster b(second);
  b.clock = T0 + seconds{75};
  b.run_until(T0 + seconds{100});
  EXPECT_EQ(concat(a.launched, b.launched), ids_at("job", T0, seconds{10}, 11));
  // One after the other: each missed run queued as the one before it ended (500 ms each).
  std::map<std::string, TimePoint> queued;
  for (const RunRecord& record : second.history("job")->records()) {
    EXPECT_NE(record.status, RunStatus::skipped) << record.run_id << ": " << record.message;
    queued[record.run_id] = record.queued;
  }
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(queued["job@" + iso(T0 + seconds{40 + 10 * i})], T0 + seconds{75} + Millis{500} * i);
  }
  EXPECT_EQ(second.find_job("job")->success_count, 10);  // 100 s is still running
}

TEST(SchedulerCore, CatchUpRunsWaitingTheirTurnSurviveARestoreAndRunOnce) {
  SchedulerCore first;
  ASSERT_TRUE(first.put_job(every("job", "PT10S", R"("catchUpPolicy": "all")"), T0).ok());
  FakeCluster a(first);
  a.run_until(T0 + seconds{35});
  // Back at 75 s with runs of 3 s: 40 s runs from 75 s, 50 s from 78 s; 60 s and 70 s wait.
  SchedulerCore second;
  restore_from(first, second, T0 + seconds{75});
  FakeCluster b(second);
  b.run_time = seconds{3};
  b.clock = T0 + seconds{75};
  b.run_until(T0 + seconds{79});
  EXPECT_EQ(b.launched, ids_at("job", T0 + seconds{40}, seconds{10}, 2));
  EXPECT_EQ(second.current_state("job"), "1 running");
  json::value state = second.save_job_state("job").at("state");
  EXPECT_EQ(state.at("waiting"), (json::array{json::string(iso(T0 + seconds{60})),
                                              json::string(iso(T0 + seconds{70}))}));

  // The leader fails; the next one has the run of 50 s in flight and 60 s and 70 s waiting.
  SchedulerCore third;
  SchedulerCore::RestoreReport report =
      third.restore(save_all(second), T0 + seconds{79},
                    {{"job", json::parse(json::serialize(second.save_job_state("job")))}});
  EXPECT_EQ(report.restored, 1u);
  EXPECT_TRUE(report.dropped.empty());
  EXPECT_TRUE(third.tick(T0 + seconds{79}).empty());
  // 80 s comes due while they wait: it joins them rather than leaving a gap.
  EXPECT_TRUE(third.tick(T0 + seconds{80}).empty());
  EXPECT_EQ(third.save_job_state("job").at("state").at("waiting"),
            (json::array{json::string(iso(T0 + seconds{60})), json::string(iso(T0 + seconds{70})),
                         json::string(iso(T0 + seconds{80}))}));
  FakeCluster c(third);
  c.run_time = seconds{3};
  c.clock = T0 + seconds{81};
  std::string in_flight = "job@" + iso(T0 + seconds{50}) + "#0";
  c.handle(ok(third.run_finished(in_flight, RunOutcome::succeeded, 0, "", "", T0 + seconds{81})),
           T0 + seconds{81});
  c.run_until(T0 + seconds{100});
  // Each due time once, in order: 60, 70 and 80 s from 81 s on, 3 s each, then 90 and 100 s on
  // time; none skipped.
  EXPECT_EQ(concat(concat(a.launched, b.launched), c.launched), ids_at("job", T0, seconds{10}, 11));
  for (const RunRecord& record : third.history("job")->records()) {
    EXPECT_NE(record.status, RunStatus::skipped) << record.run_id << ": " << record.message;
  }
  EXPECT_EQ(third.current_state("job"), "1 running");
}

TEST(SchedulerCore, AWaitingCatchUpRunWaitsForTheRetriesOfTheRunBeforeAndAKillCancelsIt) {
  SchedulerConfig config;
  config.failure_retry_delay = seconds{5};
  SchedulerCore core(config);
  ASSERT_TRUE(
      core.put_job(every("job", "PT10S", R"("catchUpPolicy": "all", "retries": 1)"), T0).ok());
  LaunchRun zero = only_launch(core.tick(T0));
  ok(core.run_finished(zero.task_id, RunOutcome::succeeded, 0, "", "", T0 + seconds{1}));
  core.resume(T0 + seconds{35});
  LaunchRun ten = only_launch(core.tick(T0 + seconds{35}));
  EXPECT_EQ(ten.run_id, "job@" + iso(T0 + seconds{10}));
  // It fails: 20 s waits for its retry, not only for it to end.
  EXPECT_TRUE(
      ok(core.run_finished(ten.task_id, RunOutcome::failed, 1, "", "", T0 + seconds{36})).empty());
  EXPECT_EQ(core.current_state("job"), "queued");
  LaunchRun retry = only_launch(core.tick(T0 + seconds{41}));
  EXPECT_EQ(retry.task_id, ten.run_id + "#1");
  LaunchRun twenty = only_launch(
      ok(core.run_finished(retry.task_id, RunOutcome::succeeded, 0, "", "", T0 + seconds{42})));
  EXPECT_EQ(twenty.run_id, "job@" + iso(T0 + seconds{20}));
  // A kill ends the catch-up: the run is killed, and 30 s and 40 s (which came due while they
  // waited), still waiting, never run.
  EXPECT_EQ(killed_tasks(ok(core.kill_runs("job", T0 + seconds{43}))), (Names{twenty.task_id}));
  const auto& records = core.history("job")->records();
  ASSERT_GE(records.size(), 2u);
  for (int i = 0; i < 2; ++i) {
    const RunRecord& cancelled = records[records.size() - 2 + i];
    EXPECT_EQ(cancelled.run_id, "job@" + iso(T0 + seconds{30 + 10 * i}));
    EXPECT_EQ(cancelled.status, RunStatus::skipped);
    EXPECT_EQ(cancelled.message, "catch-up run cancelled by a kill request");
  }
  EXPECT_TRUE(ok(core.run_finished(twenty.task_id, RunOutcome::killed, std::nullopt, "", "",
                                   T0 + seconds{44}))
                  .empty());
  EXPECT_EQ(core.current_state("job"), "idle");
}

TEST(SchedulerCore, CatchUpRunsWaitingTheirTurnAreBoundedByTheCatchUpLimit) {
  SchedulerConfig config;
  config.catch_up_limit = 3;
  SchedulerCore core(config);
  ASSERT_TRUE(
      core.put_job(every("job", "PT10S", R"("catchUpPolicy": "all", "epsilon": "PT1H")"), T0).ok());
  // A run that goes on for good, and two outages while it runs.
  LaunchRun forever = only_launch(core.tick(T0));
  core.resume(T0 + seconds{60});
  EXPECT_TRUE(core.tick(T0 + seconds{60}).empty());
  core.resume(T0 + seconds{100});
  EXPECT_TRUE(core.tick(T0 + seconds{100}).empty());
  // At 60 s: 40 and 50 s missed, 60 s joining them; at 100 s, 80 and 90 s missed and 100 s:
  // six, of which the newest three wait and the others are recorded as skipped.
  json::value state = core.save_job_state("job").at("state");
  EXPECT_EQ(state.at("waiting"),
            (json::array{json::string(iso(T0 + seconds{80})), json::string(iso(T0 + seconds{90})),
                         json::string(iso(T0 + seconds{100}))}));
  std::set<std::string> dropped;
  for (const RunRecord& record : core.history("job")->records()) {
    if (record.message ==
        "more than 3 runs were waiting their turn to catch up; only the newest of them run") {
      dropped.insert(record.run_id);
    }
  }
  EXPECT_EQ(dropped,
            (std::set<std::string>{"job@" + iso(T0 + seconds{40}), "job@" + iso(T0 + seconds{50}),
                                   "job@" + iso(T0 + seconds{60})}));
  EXPECT_EQ(launched_ids(ok(core.run_finished(forever.task_id, RunOutcome::succeeded, 0, "", "",
                                              T0 + seconds{101}))),
            (Names{"job@" + iso(T0 + seconds{80})}));
}

TEST(SchedulerCore, CatchingUpIsBoundedByEpsilon) {
  // Down from 35 s to 200 s with epsilon 60 s: runs before 140 s are too old; 200 s is on time.
  Names all = run_with_failover(R"("catchUpPolicy": "all", "concurrent": true)", seconds{200},
                                seconds{210});
  EXPECT_EQ(all, concat(ids_at("job", T0, seconds{10}, 4),
                        ids_at("job", T0 + seconds{140}, seconds{10}, 8)));
  Names once = run_with_failover(R"("catchUpPolicy": "once", "concurrent": true)", seconds{200},
                                 seconds{210});
  EXPECT_EQ(once, concat(ids_at("job", T0, seconds{10}, 4),
                         ids_at("job", T0 + seconds{190}, seconds{10}, 3)));
  Names skip = run_with_failover(R"("catchUpPolicy": "skip")", seconds{200}, seconds{210});
  EXPECT_EQ(skip, concat(ids_at("job", T0, seconds{10}, 4),
                         ids_at("job", T0 + seconds{200}, seconds{10}, 2)));
}

TEST(SchedulerCore, AtMostCatchUpLimitRunsStartAtOnce) {
  SchedulerConfig config;
  config.catch_up_limit = 5;
  SchedulerCore core(config);
  // Every second, epsilon a year, and the scheduler away for a day: 86,400 runs are due.
  ASSERT_TRUE(
      core.put_job(every("busy", "PT1S",
                         R"("epsilon": "P365D", "catchUpPolicy": "all", "concurrent": true)"),
                   T0)
          .ok());
  core.tick(T0);
  core.resume(T0 + hours{24});
  Names launched = launched_ids(core.tick(T0 + hours{24}));
  // The newest five: four missed and the one due at the instant of resuming.
  EXPECT_EQ(launched, ids_at("busy", T0 + hours{24} - seconds{4}, seconds{1}, 5));
  const RunRecord& skipped = core.history("busy")->records().at(1);
  EXPECT_EQ(skipped.run_id, "busy@" + iso(T0 + seconds{1}));
  EXPECT_EQ(skipped.message, "more than 5 runs were due at once; only the newest of them run");
  EXPECT_EQ(core.next_wakeup(), T0 + hours{24} + seconds{1});
}

TEST(SchedulerCore, ARestoreRightAfterSavingNeitherSkipsNorRepeats) {
  // Saved and restored at once, at every moment of a schedule: each run exactly once.
  for (int cut = 0; cut < 40; ++cut) {
    SchedulerCore first;
    // Runs in flight when saved stay active (nobody ends them here), so allow overlaps.
    ASSERT_TRUE(
        first.put_job(every("job", "PT2S", R"("catchUpPolicy": "all", "concurrent": true)"), T0)
            .ok());
    FakeCluster a(first);
    a.run_until(T0 + Millis{cut * 250});
    SchedulerCore second;
    restore_from(first, second, T0 + Millis{cut * 250});
    FakeCluster b(second);
    b.clock = T0 + Millis{cut * 250};
    b.run_until(T0 + Millis{9999});
    Names all = concat(a.launched, b.launched);
    EXPECT_EQ(all, ids_at("job", T0, seconds{2}, 5)) << "cut at " << cut * 250 << " ms";
  }
}

TEST(SchedulerCore, ARunInFlightSurvivesARestore) {
  SchedulerCore first;
  ASSERT_TRUE(first.put_job(every("job", "PT1H"), T0).ok());
  LaunchRun launched = only_launch(first.tick(T0));
  ASSERT_TRUE(first.run_started(launched.task_id, "agent-7", T0 + seconds{1}).ok());
  SchedulerCore second;
  restore_from(first, second, T0 + seconds{30});
  EXPECT_EQ(second.current_state("job"), "1 running");
  // Not launched again, and its end is still expected.
  EXPECT_TRUE(second.tick(T0 + seconds{30}).empty());
  EXPECT_TRUE(
      second.run_finished(launched.task_id, RunOutcome::succeeded, 0, "", "done", T0 + seconds{40})
          .ok());
  EXPECT_EQ(second.find_job("job")->success_count, 1);
  ASSERT_EQ(second.history("job")->records().size(), 1u);
  RunRecord record = last_record(second, "job");
  EXPECT_EQ(record.agent, "agent-7");
  EXPECT_EQ(record.started, T0 + seconds{1});
  EXPECT_EQ(record.status, RunStatus::succeeded);
  EXPECT_EQ(record.output_tail, "done");
  EXPECT_EQ(second.next_wakeup(), T0 + hours{1});
}

TEST(SchedulerCore, AFailingRunIsRetriedThenCountsAnError) {
  SchedulerConfig config;
  config.failure_retry_delay = seconds{5};
  SchedulerCore core(config);
  ASSERT_TRUE(core.put_job(every("flaky", "PT1H", R"("retries": 2)"), T0).ok());
  LaunchRun first = only_launch(core.tick(T0));
  std::string run_id = first.run_id;
  std::string task = first.task_id;
  for (int attempt = 0; attempt < 2; ++attempt) {
    TimePoint failed_at = T0 + seconds{1 + attempt * 10};
    EXPECT_TRUE(
        ok(core.run_finished(task, RunOutcome::failed, 1, "exit 1", "", failed_at)).empty());
    EXPECT_EQ(core.next_wakeup(), failed_at + seconds{5});
    EXPECT_EQ(core.current_state("flaky"), "queued");
    LaunchRun retry = only_launch(core.tick(failed_at + seconds{5}));
    EXPECT_EQ(retry.run_id, run_id);
    EXPECT_EQ(retry.attempt, attempt + 1);
    task = retry.task_id;
  }
  EXPECT_EQ(core.find_job("flaky")->error_count, 0);
  ok(core.run_finished(task, RunOutcome::failed, 1, "", "", T0 + seconds{30}));
  const Job& failed = *core.find_job("flaky");
  EXPECT_EQ(failed.error_count, 1);
  EXPECT_EQ(failed.errors_since_last_success, 1);
  EXPECT_EQ(failed.last_error, T0 + seconds{30});
  EXPECT_EQ(core.next_wakeup(), T0 + hours{1});

  // Chronos does not retry a job whose last run failed for good.
  LaunchRun next = only_launch(core.tick(T0 + hours{1}));
  ok(core.run_finished(next.task_id, RunOutcome::failed, 1, "", "", T0 + hours{1}));
  EXPECT_EQ(core.find_job("flaky")->error_count, 2);
  EXPECT_EQ(core.next_wakeup(), T0 + hours{2});

  // After a success it retries again.
  LaunchRun third = only_launch(core.tick(T0 + hours{2}));
  ok(core.run_finished(third.task_id, RunOutcome::succeeded, 0, "", "", T0 + hours{2}));
  EXPECT_EQ(core.find_job("flaky")->errors_since_last_success, 0);
  LaunchRun fourth = only_launch(core.tick(T0 + hours{3}));
  ok(core.run_finished(fourth.task_id, RunOutcome::failed, 1, "", "", T0 + hours{3}));
  EXPECT_EQ(core.next_wakeup(), T0 + hours{3} + seconds{5});
}

TEST(SchedulerCore, AJobIsDisabledAfterNFailuresInARowWhereConfigured) {
  SchedulerConfig config;
  config.disable_after_failures = 2;
  SchedulerCore core(config);
  ASSERT_TRUE(core.put_job(every("broken", "PT1M", R"("retries": 0)"), T0).ok());
  FakeCluster cluster(core);
  cluster.outcome = RunOutcome::failed;
  cluster.run_until(T0 + minutes{10});
  EXPECT_EQ(cluster.launched.size(), 2u);
  const Job& job = *core.find_job("broken");
  EXPECT_TRUE(job.disabled);
  EXPECT_EQ(job.error_count, 2);
  EXPECT_FALSE(core.next_wakeup().has_value());
  EXPECT_EQ(last_record(core, "broken").message, "job disabled after 2 failures in a row");
}

TEST(SchedulerCore, ChildrenRunAfterTheirParentsAndGrandchildrenAfterThem) {
  SchedulerCore core;
  ASSERT_TRUE(core.put_job(every("a", "PT1H"), T0).ok());
  ASSERT_TRUE(core.put_job(child("b", {"a"}), T0).ok());
  ASSERT_TRUE(core.put_job(child("c", {"b"}), T0).ok());
  FakeCluster cluster(core);
  cluster.run_until(T0 + minutes{1});
  EXPECT_EQ(cluster.launched,
            (Names{"a@" + iso(T0), "b@" + iso(T0 + Millis{500}), "c@" + iso(T0 + Millis{1000})}));
  EXPECT_EQ(last_record(core, "b").trigger, RunTrigger::parent);
}

TEST(SchedulerCore, AJobWithTwoParentsRunsOncePerRoundOfBoth) {
  SchedulerCore core;
  ASSERT_TRUE(core.put_job(every("fast", "PT10S"), T0).ok());
  ASSERT_TRUE(core.put_job(every("slow", "PT30S"), T0).ok());
  ASSERT_TRUE(core.put_job(child("join", {"fast", "slow"}), T0).ok());
  FakeCluster cluster(core);
  cluster.run_until(T0 + seconds{65});
  // Rounds complete when slow finishes (0.5 s, 30.5 s, 60.5 s); fast completes in between.
  Names joins;
  for (const std::string& id : cluster.launched) {
    if (id.rfind("join@", 0) == 0) joins.push_back(id);
  }
  EXPECT_EQ(joins, (Names{"join@" + iso(T0 + Millis{500}), "join@" + iso(T0 + Millis{30'500}),
                          "join@" + iso(T0 + Millis{60'500})}));
}

TEST(SchedulerCore, SoftErrorFiresDependentsOfAFailureForGood) {
  for (bool soft : {false, true}) {
    SchedulerCore core;
    ASSERT_TRUE(core.put_job(every("p", "PT1H",
                                   std::string(R"("retries": 0, "softError": )") +
                                       (soft ? "true" : "false")),
                             T0)
                    .ok());
    ASSERT_TRUE(core.put_job(child("c", {"p"}), T0).ok());
    LaunchRun run = only_launch(core.tick(T0));
    auto actions = ok(core.run_finished(run.task_id, RunOutcome::failed, 1, "", "", T0));
    EXPECT_EQ(launched_ids(actions).size(), soft ? 1u : 0u) << "softError " << soft;
  }
}

TEST(SchedulerCore, ConcurrencyPolicies) {
  // forbid (Chronos's concurrent: false): the new run is skipped.
  SchedulerCore forbid;
  ASSERT_TRUE(forbid.put_job(every("j", "PT10S"), T0).ok());
  ASSERT_EQ(launches(forbid.tick(T0)).size(), 1u);
  EXPECT_TRUE(forbid.tick(T0 + seconds{10}).empty());
  EXPECT_EQ(last_record(forbid, "j").message,
            "run 'j@" + iso(T0) + "' is still active (concurrencyPolicy forbid)");

  // allow (concurrent: true): both run.
  SchedulerCore allow;
  ASSERT_TRUE(allow.put_job(every("j", "PT10S", R"("concurrent": true)"), T0).ok());
  allow.tick(T0);
  EXPECT_EQ(launches(allow.tick(T0 + seconds{10})).size(), 1u);
  EXPECT_EQ(allow.current_state("j"), "queued");

  // replace: the active run is killed, and its end counts nothing.
  SchedulerCore replace;
  ASSERT_TRUE(replace.put_job(every("j", "PT10S", R"("concurrencyPolicy": "replace")"), T0).ok());
  LaunchRun old_run = only_launch(replace.tick(T0));
  auto actions = replace.tick(T0 + seconds{10});
  EXPECT_EQ(killed_tasks(actions), (Names{old_run.task_id}));
  EXPECT_EQ(launched_ids(actions), (Names{"j@" + iso(T0 + seconds{10})}));
  EXPECT_TRUE(
      ok(replace.run_finished(old_run.task_id, RunOutcome::failed, 137, "", "", T0 + seconds{11}))
          .empty());
  EXPECT_EQ(replace.find_job("j")->error_count, 0);
  const RunRecord* killed =
      replace.history("j")->records().empty() ? nullptr : &replace.history("j")->records().front();
  ASSERT_NE(killed, nullptr);
  EXPECT_EQ(killed->status, RunStatus::killed);
  EXPECT_EQ(killed->message,
            "replaced by run 'j@" + iso(T0 + seconds{10}) + "' (concurrencyPolicy replace)");
}

// A job's run records as a user reads them: "RUN_ID#ATTEMPT TRIGGER STATUS", oldest first.
Names history_lines(const SchedulerCore& core, const std::string& name) {
  Names out;
  const RunHistory* history = core.history(name);
  if (history == nullptr) return out;
  for (const RunRecord& record : history->records()) {
    out.push_back(record.run_id + "#" + std::to_string(record.attempt) + " " +
                  std::string(to_string(record.trigger)) + " " +
                  std::string(to_string(record.status)));
  }
  return out;
}

// A job every 10 s from T0 whose first attempts may be retried once, 15 s after they fail.
SchedulerConfig retry_in_15s() {
  SchedulerConfig config;
  config.failure_retry_delay = seconds{15};
  return config;
}

TEST(SchedulerCore, UnderForbidATimeDueWhileARetryIsPendingIsSkippedAndTheRetryRuns) {
  SchedulerCore core(retry_in_15s());
  ASSERT_TRUE(core.put_job(every("job", "PT10S", R"("retries": 1)"), T0).ok());
  LaunchRun zero = only_launch(core.tick(T0));
  ASSERT_TRUE(core.run_started(zero.task_id, "agent-1", T0).ok());
  EXPECT_TRUE(
      ok(core.run_finished(zero.task_id, RunOutcome::failed, 1, "exit 1", "", T0 + seconds{1}))
          .empty());
  // 10 s comes due while attempt 1 waits out its delay (until 16 s): the run of 0 s has not
  // ended, so 10 s is skipped as a time due while a run is active.
  EXPECT_TRUE(core.tick(T0 + seconds{10}).empty());
  EXPECT_EQ(last_record(core, "job").message,
            "run 'job@" + iso(T0) + "' is still active: attempt 1 waits to retry at " +
                iso(T0 + seconds{16}) + " (concurrencyPolicy forbid)");
  EXPECT_EQ(core.current_state("job"), "queued");
  // So is a run asked for now, as while a run is active.
  EXPECT_TRUE(ok(core.run_now("job", "", T0 + seconds{12})).empty());
  EXPECT_EQ(last_record(core, "job").status, RunStatus::skipped);
  // The retry runs at its time.
  EXPECT_EQ(core.next_wakeup(), T0 + seconds{16});
  LaunchRun retry = only_launch(core.tick(T0 + seconds{16}));
  EXPECT_EQ(retry.task_id, "job@" + iso(T0) + "#1");
  EXPECT_EQ(retry.trigger, RunTrigger::schedule);
  EXPECT_EQ(retry.scheduled, T0);
  ASSERT_TRUE(core.run_started(retry.task_id, "agent-1", T0 + seconds{16}).ok());
  EXPECT_TRUE(
      ok(core.run_finished(retry.task_id, RunOutcome::succeeded, 0, "", "", T0 + seconds{17}))
          .empty());
  LaunchRun twenty = only_launch(core.tick(T0 + seconds{20}));
  EXPECT_EQ(twenty.run_id, "job@" + iso(T0 + seconds{20}));
  EXPECT_EQ(history_lines(core, "job"),
            (Names{"job@" + iso(T0) + "#0 schedule failed",
                   "job@" + iso(T0 + seconds{10}) + "#0 schedule skipped",
                   "job@" + iso(T0 + seconds{12}) + "#0 manual skipped",
                   "job@" + iso(T0) + "#1 schedule succeeded",
                   "job@" + iso(T0 + seconds{20}) + "#0 schedule queued"}));
  const Job& counted = *core.find_job("job");
  EXPECT_EQ(counted.success_count, 1);
  EXPECT_EQ(counted.error_count, 0);
}

TEST(SchedulerCore, UnderAllowATimeDueWhileARetryIsPendingRunsAndSoDoesTheRetry) {
  SchedulerCore core(retry_in_15s());
  ASSERT_TRUE(core.put_job(every("job", "PT10S", R"("retries": 1, "concurrent": true)"), T0).ok());
  FakeCluster cluster(core);
  cluster.failing = {"job@" + iso(T0) + "#0"};
  cluster.run_until(T0 + seconds{19});
  // 0 s fails at 0.5 s; 10 s runs on time; the retry of 0 s runs at 15.5 s.
  EXPECT_EQ(cluster.launched,
            (Names{"job@" + iso(T0), "job@" + iso(T0 + seconds{10}), "job@" + iso(T0)}));
  EXPECT_EQ(history_lines(core, "job"),
            (Names{"job@" + iso(T0) + "#0 schedule failed",
                   "job@" + iso(T0 + seconds{10}) + "#0 schedule succeeded",
                   "job@" + iso(T0) + "#1 schedule succeeded"}));
  EXPECT_EQ(core.find_job("job")->success_count, 2);
  EXPECT_EQ(core.find_job("job")->error_count, 0);
}

TEST(SchedulerCore, UnderReplaceATimeDueWhileARetryIsPendingCancelsTheRetry) {
  SchedulerCore core(retry_in_15s());
  ASSERT_TRUE(
      core.put_job(every("job", "PT10S", R"("retries": 1, "concurrencyPolicy": "replace")"), T0)
          .ok());
  LaunchRun zero = only_launch(core.tick(T0));
  EXPECT_TRUE(
      ok(core.run_finished(zero.task_id, RunOutcome::failed, 1, "", "", T0 + seconds{1})).empty());
  // The run of 10 s replaces the run of 0 s, whose retry is cancelled (nothing to kill).
  auto actions = core.tick(T0 + seconds{10});
  EXPECT_TRUE(killed_tasks(actions).empty());
  LaunchRun ten = only_launch(actions);
  EXPECT_EQ(ten.run_id, "job@" + iso(T0 + seconds{10}));
  const RunRecord& cancelled = core.history("job")->records().at(1);
  EXPECT_EQ(cancelled.run_id, "job@" + iso(T0));
  EXPECT_EQ(cancelled.attempt, 1);
  EXPECT_EQ(cancelled.status, RunStatus::skipped);
  EXPECT_EQ(cancelled.message, "retry cancelled: replaced by run 'job@" + iso(T0 + seconds{10}) +
                                   "' (concurrencyPolicy replace)");
  EXPECT_TRUE(core.save_job_state("job").at("state").at("retries").as_array().empty());
  // The retry never runs, nor kills the run that replaced it.
  EXPECT_EQ(core.next_wakeup(), T0 + seconds{20});
  EXPECT_TRUE(core.tick(T0 + seconds{16}).empty());
  EXPECT_TRUE(ok(core.run_finished(ten.task_id, RunOutcome::succeeded, 0, "", "", T0 + seconds{17}))
                  .empty());
  EXPECT_EQ(
      history_lines(core, "job"),
      (Names{"job@" + iso(T0) + "#0 schedule failed", "job@" + iso(T0) + "#1 schedule skipped",
             "job@" + iso(T0 + seconds{10}) + "#0 schedule succeeded"}));
  // The replaced run counts nothing.
  const Job& counted = *core.find_job("job");
  EXPECT_EQ(counted.success_count, 1);
  EXPECT_EQ(counted.error_count, 0);
  EXPECT_EQ(core.current_state("job"), "idle");
}

TEST(SchedulerCore, APendingRetryUnderForbidSurvivesAFailoverAtAnyMoment) {
  // Saved and restored at every quarter second up to 39 s: 0 s fails, 10 s is skipped while its
  // retry waits, the retry runs at 15.5 s, then 20 s and 30 s; each once.
  const Names expected{"job@" + iso(T0) + "#0 schedule failed",
                       "job@" + iso(T0 + seconds{10}) + "#0 schedule skipped",
                       "job@" + iso(T0) + "#1 schedule succeeded",
                       "job@" + iso(T0 + seconds{20}) + "#0 schedule succeeded",
                       "job@" + iso(T0 + seconds{30}) + "#0 schedule succeeded"};
  for (int cut = 0; cut <= 156; ++cut) {
    SchedulerCore first(retry_in_15s());
    ASSERT_TRUE(first.put_job(every("job", "PT10S", R"("retries": 1)"), T0).ok());
    FakeCluster a(first);
    a.failing = {"job@" + iso(T0) + "#0"};
    a.run_until(T0 + Millis{cut * 250});
    SchedulerCore second(retry_in_15s());
    restore_from(first, second, T0 + Millis{cut * 250});
    FakeCluster b(second);
    b.take_over(a);
    b.failing = a.failing;
    b.run_until(T0 + seconds{39});
    EXPECT_EQ(history_lines(second, "job"), expected) << "cut at " << cut * 250 << " ms";
    EXPECT_EQ(concat(a.launched, b.launched),
              (Names{"job@" + iso(T0), "job@" + iso(T0), "job@" + iso(T0 + seconds{20}),
                     "job@" + iso(T0 + seconds{30})}))
        << "cut at " << cut * 250 << " ms";
    EXPECT_EQ(second.find_job("job")->success_count, 3) << "cut at " << cut * 250 << " ms";
  }
}

TEST(SchedulerCore, ATimeMissedDuringAnOutageWhileARetryIsPendingWaitsForTheRetry) {
  // Under forbid a missed time that the catch-up policy keeps waits its turn behind a pending
  // retry, as behind an active run.
  SchedulerCore first(retry_in_15s());
  ASSERT_TRUE(
      first.put_job(every("job", "PT10S", R"("retries": 1, "catchUpPolicy": "all")"), T0).ok());
  LaunchRun zero = only_launch(first.tick(T0));
  ok(first.run_finished(zero.task_id, RunOutcome::failed, 1, "", "", T0 + seconds{1}));
  // No scheduler leads from 5 s to 12 s, across 10 s.
  SchedulerCore second(retry_in_15s());
  restore_from(first, second, T0 + seconds{12});
  EXPECT_TRUE(second.tick(T0 + seconds{12}).empty());
  EXPECT_EQ(second.save_job_state("job").at("state").at("waiting"),
            (json::array{json::string(iso(T0 + seconds{10}))}));
  LaunchRun retry = only_launch(second.tick(T0 + seconds{16}));
  EXPECT_EQ(retry.task_id, "job@" + iso(T0) + "#1");
  LaunchRun ten = only_launch(
      ok(second.run_finished(retry.task_id, RunOutcome::succeeded, 0, "", "", T0 + seconds{17})));
  EXPECT_EQ(ten.run_id, "job@" + iso(T0 + seconds{10}));
  ok(second.run_finished(ten.task_id, RunOutcome::succeeded, 0, "", "", T0 + seconds{18}));
  EXPECT_EQ(launched_ids(second.tick(T0 + seconds{20})), (Names{"job@" + iso(T0 + seconds{20})}));
  for (const RunRecord& record : second.history("job")->records()) {
    EXPECT_NE(record.status, RunStatus::skipped) << record.run_id << ": " << record.message;
  }
}

TEST(SchedulerCore, RunNowTakesArgumentsAndGetsAnIdOfItsOwn) {
  SchedulerCore core;
  ASSERT_TRUE(core.put_job(every("j", "PT1H", R"("concurrent": true)"), T0).ok());
  core.tick(T0);
  LaunchRun first = only_launch(ok(core.run_now("j", "-v; rm -rf /", T0)));
  // Not the scheduled run's id, although asked for at the same instant.
  EXPECT_EQ(first.run_id, "j@" + iso(T0 + Millis{1}));
  EXPECT_EQ(first.arguments, "-v rm -rf /");
  EXPECT_EQ(first.trigger, RunTrigger::manual);
  LaunchRun second = only_launch(ok(core.run_now("j", "  ", T0)));
  EXPECT_EQ(second.run_id, "j@" + iso(T0 + Millis{2}));
  EXPECT_EQ(second.arguments, "");
  // A manual run never takes the id of a scheduled time to come.
  LaunchRun third = only_launch(ok(core.run_now("j", "", T0 + hours{1})));
  EXPECT_EQ(third.run_id, "j@" + iso(T0 + hours{1} + Millis{1}));
  EXPECT_FALSE(core.run_now("nope", "", T0).ok());
}

TEST(SchedulerCore, MarkingSuccessCountsAndFiresDependents) {
  SchedulerCore core;
  ASSERT_TRUE(core.put_job(every("a", "PT1H"), T0).ok());
  ASSERT_TRUE(core.put_job(child("b", {"a"}), T0).ok());
  auto actions = ok(core.mark_success("a", T0 + seconds{3}));
  EXPECT_EQ(launched_ids(actions), (Names{"b@" + iso(T0 + seconds{3})}));
  EXPECT_EQ(core.find_job("a")->success_count, 1);
  EXPECT_EQ(core.find_job("a")->last_success, T0 + seconds{3});
  EXPECT_FALSE(core.mark_success("zz", T0).ok());
}

TEST(SchedulerCore, KillingAJobsTasksKillsRunsAndCancelsRetries) {
  SchedulerConfig config;
  config.failure_retry_delay = seconds{30};
  SchedulerCore core(config);
  ASSERT_TRUE(core.put_job(every("j", "PT1H", R"("concurrent": true)"), T0).ok());
  LaunchRun first = only_launch(core.tick(T0));
  LaunchRun second = only_launch(ok(core.run_now("j", "", T0)));
  ok(core.run_finished(first.task_id, RunOutcome::failed, 1, "", "", T0 + seconds{1}));
  EXPECT_EQ(core.next_wakeup(), T0 + seconds{31});
  auto actions = ok(core.kill_runs("j", T0 + seconds{2}));
  EXPECT_EQ(killed_tasks(actions), (Names{second.task_id}));
  EXPECT_EQ(core.next_wakeup(), T0 + hours{1});
  EXPECT_TRUE(core.tick(T0 + seconds{31}).empty());
  ok(core.run_finished(second.task_id, RunOutcome::killed, std::nullopt, "", "", T0 + seconds{3}));
  EXPECT_EQ(core.current_state("j"), "idle");
  EXPECT_EQ(core.find_job("j")->error_count, 0);
}

TEST(SchedulerCore, RemovingAJobHandsItsChildrenOnAsChronosDoes) {
  SchedulerCore core;
  ASSERT_TRUE(core.put_job(every("a", "PT1H"), T0).ok());
  ASSERT_TRUE(core.put_job(every("x", "PT1H"), T0).ok());
  ASSERT_TRUE(core.put_job(child("b", {"a"}), T0).ok());
  ASSERT_TRUE(core.put_job(child("c", {"b"}), T0).ok());
  ASSERT_TRUE(core.put_job(child("d", {"b", "x"}), T0).ok());
  core.take_dirty();
  // A dependent job's children move to its parents.
  ASSERT_TRUE(core.remove_job("b").ok());
  EXPECT_EQ(core.find_job("c")->parents, (Names{"a"}));
  EXPECT_EQ(core.find_job("d")->parents, (Names{"a", "x"}));
  EXPECT_EQ(core.find_job("b"), nullptr);
  SchedulerCore::Dirty dirty = core.take_dirty();
  EXPECT_EQ(dirty.removed, (Names{"b"}));
  EXPECT_EQ(dirty.changed, (Names{"c", "d"}));
  // A scheduled job's only child takes its schedule; a child with another parent keeps that.
  ASSERT_TRUE(core.remove_job("a").ok());
  EXPECT_FALSE(core.find_job("c")->is_dependent());
  EXPECT_EQ(core.find_job("c")->schedule, "R/" + iso(T0) + "/PT1H");
  EXPECT_EQ(core.find_job("d")->parents, (Names{"x"}));
  EXPECT_EQ(launched_ids(core.tick(T0)), (Names{"c@" + iso(T0), "x@" + iso(T0)}));
  EXPECT_FALSE(core.remove_job("a").ok());
}

TEST(SchedulerCore, RemovingAJobKillsItsRuns) {
  SchedulerCore core;
  ASSERT_TRUE(core.put_job(every("j", "PT1H"), T0).ok());
  LaunchRun run = only_launch(core.tick(T0));
  auto actions = ok(core.remove_job("j"));
  EXPECT_EQ(killed_tasks(actions), (Names{run.task_id}));
  // Its last status update finds nothing to change.
  EXPECT_FALSE(
      core.run_finished(run.task_id, RunOutcome::killed, std::nullopt, "", "", T0 + seconds{2})
          .ok());
}

TEST(SchedulerCore, RefusesUnknownParentsAndCyclesAndKeepsServing) {
  SchedulerCore core;
  ASSERT_TRUE(core.put_job(every("a", "PT1H"), T0).ok());
  ASSERT_TRUE(core.put_job(child("b", {"a"}), T0).ok());
  Status unknown = core.put_job(child("c", {"a", "ghost"}), T0);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().message, "parent 'ghost' of job 'c' does not exist");
  Status cycle = core.put_job(child("a", {"b"}), T0);
  ASSERT_FALSE(cycle.ok());
  EXPECT_EQ(cycle.error().message, "parents of job 'a' would make a cycle: 'a' -> 'b' -> 'a'");
  // Nothing changed: a is still scheduled and runs.
  EXPECT_FALSE(core.find_job("a")->is_dependent());
  EXPECT_EQ(core.find_job("c"), nullptr);
  EXPECT_EQ(launched_ids(core.tick(T0)), (Names{"a@" + iso(T0)}));
}

TEST(SchedulerCore, AJobThatUsedUpItsRepetitionsIsDisabled) {
  SchedulerCore core;
  ASSERT_TRUE(core.put_job(job(R"({"name": "twice", "command": "true", "schedule": "R2/)" +
                               iso(T0) + R"(/PT1S"})"),
                           T0)
                  .ok());
  FakeCluster cluster(core);
  cluster.run_until(T0 + seconds{10});
  EXPECT_EQ(cluster.launched, ids_at("twice", T0, seconds{1}, 2));
  EXPECT_TRUE(core.find_job("twice")->disabled);
  EXPECT_FALSE(core.next_wakeup().has_value());
}

TEST(SchedulerCore, ADisabledJobDoesNotRunNorCatchUpWhenEnabledAgain) {
  SchedulerCore core;
  ASSERT_TRUE(core.put_job(every("j", "PT10S", R"("disabled": true)"), T0).ok());
  EXPECT_FALSE(core.next_wakeup().has_value());
  EXPECT_TRUE(core.tick(T0 + seconds{30}).empty());
  ASSERT_TRUE(core.put_job(every("j", "PT10S"), T0 + seconds{35}).ok());
  EXPECT_EQ(core.next_wakeup(), T0 + seconds{40});
}

TEST(SchedulerCore, AChangedScheduleNeverRepeatsAConsumedTime) {
  SchedulerCore core;
  ASSERT_TRUE(core.put_job(every("j", "PT10S"), T0).ok());
  core.tick(T0);
  ASSERT_TRUE(core.put_job(every("j", "PT5S"), T0 + seconds{1}).ok());
  EXPECT_EQ(core.next_wakeup(), T0 + seconds{5});
}

TEST(SchedulerCore, AnEmptyStartRunsAtCreationAndKeepsItsTimesAcrossUpdates) {
  SchedulerCore core;
  TimePoint created = T0 + Millis{300};
  ASSERT_TRUE(
      core.put_job(job(R"({"name": "now", "command": "a", "schedule": "R//PT10S"})"), created)
          .ok());
  EXPECT_EQ(launched_ids(core.tick(created)), (Names{"now@" + iso(created)}));
  ASSERT_TRUE(core.put_job(job(R"({"name": "now", "command": "b", "schedule": "R//PT10S"})"),
                           T0 + seconds{4})
                  .ok());
  EXPECT_EQ(core.next_wakeup(), created + seconds{10});
}

TEST(SchedulerCore, ACronJobRunsFromWhenItIsSetNeverForTimesBefore) {
  SchedulerCore core;
  TimePoint set_at = T0 + seconds{150};  // 12:02:30
  ASSERT_TRUE(core.put_job(job(R"({"name": "five", "command": "true",
                                   "schedule": "cron:*/5 * * * *"})",
                               set_at),
                           set_at)
                  .ok());
  EXPECT_EQ(core.next_wakeup(), T0 + minutes{5});
  EXPECT_TRUE(core.tick(set_at).empty());
  EXPECT_TRUE(core.history("five")->records().empty());
  EXPECT_EQ(launched_ids(core.tick(T0 + minutes{5})), (Names{"five@" + iso(T0 + minutes{5})}));
  // A new expression does not run the times it matches between the last run and now.
  ASSERT_TRUE(core.put_job(job(R"({"name": "five", "command": "true",
                                   "schedule": "cron:*/2 * * * *"})",
                               T0 + minutes{9}),
                           T0 + minutes{9})
                  .ok());
  EXPECT_EQ(core.next_wakeup(), T0 + minutes{10});
}

TEST(SchedulerCore, ADailyJobFollowsTheWallClockAcrossTheSpringChange) {
  SchedulerCore core;
  ASSERT_TRUE(core.put_job(job(R"({"name": "daily", "command": "true",
                                   "schedule": "R/2024-03-08T09:00:00Z/P1D",
                                   "scheduleTimeZone": "America/New_York"})",
                               at("2024-03-08T00:00:00Z")),
                           at("2024-03-08T00:00:00Z"))
                  .ok());
  FakeCluster cluster(core);
  cluster.run_until(at("2024-03-11T23:00:00Z"));
  EXPECT_EQ(cluster.launched,
            (Names{"daily@2024-03-08T14:00:00.000Z", "daily@2024-03-09T14:00:00.000Z",
                   "daily@2024-03-10T13:00:00.000Z", "daily@2024-03-11T13:00:00.000Z"}));
}

TEST(SchedulerCore, ACronJobInBerlinAcrossTheAutumnChange) {
  SchedulerCore core;
  TimePoint start = at("2024-10-26T00:00:00Z");
  ASSERT_TRUE(core.put_job(job(R"({"name": "nightly", "command": "true",
                                   "schedule": "cron:30 2 * * *",
                                   "scheduleTimeZone": "Europe/Berlin"})",
                               start),
                           start)
                  .ok());
  FakeCluster cluster(core);
  cluster.run_until(at("2024-10-29T00:00:00Z"));
  EXPECT_EQ(cluster.launched,
            (Names{"nightly@2024-10-26T00:30:00.000Z", "nightly@2024-10-27T00:30:00.000Z",
                   "nightly@2024-10-28T01:30:00.000Z"}));
}

TEST(SchedulerCore, ViewsShowStatesAsChronosDoes) {
  SchedulerCore core;
  ASSERT_TRUE(core.put_job(every("a", "PT1H"), T0).ok());
  ASSERT_TRUE(core.put_job(child("b", {"a"}), T0).ok());
  LaunchRun run = only_launch(core.tick(T0));
  EXPECT_EQ(core.current_state("a"), "queued");
  ASSERT_TRUE(core.run_started(run.task_id, "agent-1", T0).ok());
  EXPECT_EQ(core.graph_csv(), "node,a,fresh,1 running\nnode,b,fresh,idle\nlink,a,b\n");
  ok(core.run_finished(run.task_id, RunOutcome::succeeded, 0, "", "", T0 + seconds{1}));
  json::object summary = core.summary_json();
  const json::array& jobs = summary.at("jobs").as_array();
  ASSERT_EQ(jobs.size(), 2u);
  EXPECT_EQ(jobs[0].at("name"), "a");
  EXPECT_EQ(jobs[0].at("status"), "success");
  EXPECT_EQ(jobs[0].at("state"), "idle");
  EXPECT_EQ(jobs[0].at("schedule"), json::value("R/" + iso(T0) + "/PT1H"));
  EXPECT_TRUE(jobs[0].at("parents").as_array().empty());
  EXPECT_EQ(jobs[0].at("disabled"), false);
  EXPECT_EQ(jobs[1].at("state"), "queued");
  EXPECT_EQ(jobs[1].at("parents"), json::value(json::array{"a"}));
  EXPECT_EQ(core.graph_dot(),
            "digraph G {\n  1 [ label=\"a\" ];\n  2 [ label=\"b\" ];\n"
            "  1 -> 2;\n}\n");
  auto stat = core.stat_json("a");
  ASSERT_TRUE(stat.ok());
  EXPECT_EQ(stat->at("histogram").at("count"), 1);
  EXPECT_EQ(stat->at("histogram").at("median").to_number<double>(), 1000);
  auto runs = core.runs_json("a");
  ASSERT_TRUE(runs.ok());
  ASSERT_FALSE(runs->empty());
  EXPECT_EQ((*runs)[0].at("status"), "succeeded");
  EXPECT_FALSE(core.stat_json("zz").ok());
}

TEST(SchedulerCore, SearchMatchesAsChronossJobsSearch) {
  SchedulerCore core;
  ASSERT_TRUE(core.put_job(job(R"({"name": "Backup_db", "command": "pg_dump main"})"), T0).ok());
  ASSERT_TRUE(core.put_job(job(R"({"name": "report", "command": "python report.py"})"), T0).ok());
  ASSERT_TRUE(core.put_job(job(R"({"name": "backup_files", "command": "rsync -a"})"), T0).ok());
  auto names = [&](const std::string& name, const std::string& command, const std::string& any,
                   size_t limit = 10, size_t offset = 0) {
    SchedulerCore::SearchQuery query;
    query.name = name;
    query.command = command;
    query.any = any;
    query.limit = limit;
    query.offset = offset;
    Names out;
    for (const Job* j : core.search(query)) out.push_back(j->name);
    return out;
  };
  EXPECT_EQ(names("", "", ""), (Names{"Backup_db", "backup_files", "report"}));
  EXPECT_EQ(names("BACKUP", "", ""), (Names{"Backup_db", "backup_files"}));
  EXPECT_EQ(names("", "PY", ""), (Names{"report"}));
  EXPECT_EQ(names("backup", "rsync", ""), (Names{"backup_files"}));
  EXPECT_EQ(names("", "", "dump"), (Names{"Backup_db"}));
  EXPECT_EQ(names("report", "", "rsync"), (Names{"backup_files", "report"}));
  EXPECT_EQ(names("", "", "", 2), (Names{"Backup_db", "backup_files"}));
  EXPECT_EQ(names("", "", "", 10, 2), (Names{"report"}));
  EXPECT_EQ(names("nothing", "", ""), Names{});
}

TEST(SchedulerCore, DuplicateAndUnknownStatusUpdatesChangeNothing) {
  SchedulerCore core;
  ASSERT_TRUE(core.put_job(every("j", "PT1H"), T0).ok());
  LaunchRun run = only_launch(core.tick(T0));
  ok(core.run_finished(run.task_id, RunOutcome::succeeded, 0, "", "", T0 + seconds{1}));
  auto again = core.run_finished(run.task_id, RunOutcome::succeeded, 0, "", "", T0 + seconds{2});
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().message, "task '" + run.task_id + "' is not an active run");
  EXPECT_EQ(core.find_job("j")->success_count, 1);
  EXPECT_FALSE(core.run_started("j@nonsense#0", "agent", T0).ok());
  EXPECT_FALSE(core.run_started("no-hash", "agent", T0).ok());
}

TEST(SchedulerCore, RestoreDropsWhatItCannotTrustAndKeepsTheRest) {
  SchedulerCore first;
  ASSERT_TRUE(first.put_job(every("a", "PT1H"), T0).ok());
  ASSERT_TRUE(first.put_job(child("b", {"a"}), T0).ok());
  ASSERT_TRUE(first.put_job(child("c", {"b"}), T0).ok());
  std::vector<json::value> saved = save_all(first);
  // Lose "a", corrupt one state, add garbage.
  saved.erase(saved.begin());
  saved.push_back(json::value(42));
  json::value bad = json::parse(json::serialize(first.save_job("a")));
  bad.as_object()["job"].as_object()["name"] = "other";
  bad.as_object()["state"].as_object()["created"] = "not a time";
  saved.push_back(bad);

  SchedulerCore second;
  SchedulerCore::RestoreReport report = second.restore(saved, T0);
  EXPECT_EQ(report.restored, 0u);
  EXPECT_EQ(report.dropped,
            (Names{"a saved job lacks 'job' or 'state'",
                   "job 'other': state: 'created': invalid date-time 'not a time': expected "
                   "YYYY-MM-DD",
                   "job 'b': parent 'a' does not exist",
                   "job 'c': parent 'b' could not be restored (a missing ancestor or a cycle)"}));
}

TEST(SchedulerCore, HistoryIsSavedApartAndSurvivesARestore) {
  SchedulerCore first;
  ASSERT_TRUE(first.put_job(every("job", "PT10S"), T0).ok());
  FakeCluster a(first);
  a.run_until(T0 + seconds{25});
  // The job's own key stays small: no records, no output.
  EXPECT_FALSE(first.save_job("job").at("state").as_object().contains("history"));
  EXPECT_EQ(first.save_history("job").at("history").as_array().size(), 3u);
  SchedulerCore second;
  restore_from(first, second, T0 + seconds{25});
  ASSERT_EQ(second.history("job")->records().size(), 3u);
  EXPECT_EQ(second.history("job")->records().front().output_tail,
            "output of job@" + iso(T0) + "#0");
  EXPECT_EQ(second.stat_json("job")->at("histogram").at("count"), 3);
  // A history that arrives after new runs were recorded keeps those runs.
  SchedulerCore third;
  third.restore(save_all(first), T0 + seconds{30});
  LaunchRun run = only_launch(third.tick(T0 + seconds{30}));
  ASSERT_TRUE(
      third.restore_history("job", json::parse(json::serialize(first.save_history("job")))).ok());
  ASSERT_EQ(third.history("job")->records().size(), 4u);
  EXPECT_EQ(last_record(third, "job").run_id, run.run_id);
  EXPECT_FALSE(third.restore_history("nobody", json::object{}).ok());
  EXPECT_FALSE(third.restore_history("job", json::parse(R"({"history": [1]})")).ok());
}

// The history is written after the job's state: a crash between the two leaves a history that
// shows a run running which the state says has ended. Restored, that run is shown ended with
// its end unknown, not running forever; a run the state still holds stays as it was.
TEST(SchedulerCore, ARunThatEndedButWhoseEndMissedTheHistoryIsShownUnknown) {
  SchedulerCore first;
  ASSERT_TRUE(first.put_job(every("done", "PT1H"), T0).ok());
  ASSERT_TRUE(first.put_job(every("busy", "PT1H"), T0).ok());
  std::vector<LaunchRun> launched = launches(first.tick(T0));
  ASSERT_EQ(launched.size(), 2u);
  for (const LaunchRun& run : launched) {
    ASSERT_TRUE(first.run_started(run.task_id, "agent-1", T0 + seconds{1}).ok());
  }
  json::value done_history = json::parse(json::serialize(first.save_history("done")));
  json::value busy_history = json::parse(json::serialize(first.save_history("busy")));
  const LaunchRun& done_run = launched[0].run_id.rfind("done@", 0) == 0 ? launched[0] : launched[1];
  ASSERT_TRUE(
      first.run_finished(done_run.task_id, RunOutcome::succeeded, 0, "", "ok", T0 + seconds{2})
          .ok());

  SchedulerCore second;
  second.restore(save_all(first), T0 + seconds{30});
  ASSERT_TRUE(second.restore_history("done", done_history).ok());
  ASSERT_TRUE(second.restore_history("busy", busy_history).ok());
  RunRecord ended = last_record(second, "done");
  EXPECT_EQ(ended.status, RunStatus::unknown);
  EXPECT_NE(ended.message.find("its end was not recorded"), std::string::npos) << ended.message;
  EXPECT_EQ(second.find_job("done")->success_count, 1);
  EXPECT_EQ(to_json(ended).at("status"), "unknown");
  EXPECT_EQ(last_record(second, "busy").status, RunStatus::running);
  EXPECT_EQ(second.current_state("busy"), "1 running");
}

TEST(SchedulerCore, DirtyJobsAreWhatChanged) {
  SchedulerCore core;
  ASSERT_TRUE(core.put_job(every("a", "PT1H"), T0).ok());
  ASSERT_TRUE(core.put_job(every("b", "PT2H"), T0).ok());
  EXPECT_EQ(core.take_dirty().changed, (Names{"a", "b"}));
  EXPECT_TRUE(core.take_dirty().changed.empty());
  core.tick(T0);
  EXPECT_EQ(core.take_dirty().changed, (Names{"a", "b"}));
  core.tick(T0 + hours{1});
  SchedulerCore::Dirty dirty = core.take_dirty();
  EXPECT_EQ(dirty.changed, (Names{"a"}));
  // The skipped run (forbid: a@T0 is still active) is only history.
  EXPECT_EQ(dirty.history_changed, (Names{"a"}));
  auto run = launches(core.run_now("b", "", T0 + hours{1}).value());
  EXPECT_TRUE(run.empty());  // forbidden too: recorded, nothing else changed
  dirty = core.take_dirty();
  EXPECT_TRUE(dirty.changed.empty());
  EXPECT_EQ(dirty.history_changed, (Names{"b"}));
}

// Many jobs due at once are decided a part at a time: each due job once, none left behind.
TEST(SchedulerCore, ATickTakesAtMostItsShareOfTheDueJobs) {
  SchedulerCore core;
  for (const char* name : {"a", "b", "c"}) ASSERT_TRUE(core.put_job(every(name, "PT1H"), T0).ok());
  EXPECT_EQ(launched_ids(core.tick(T0, 2)), (Names{"a@" + iso(T0), "b@" + iso(T0)}));
  ASSERT_TRUE(core.next_wakeup().has_value());
  EXPECT_LE(*core.next_wakeup(), T0 + seconds{1});
  EXPECT_EQ(launched_ids(core.tick(T0 + seconds{1}, 2)), (Names{"c@" + iso(T0)}));
  EXPECT_EQ(core.next_wakeup(), T0 + hours{1});
  EXPECT_TRUE(core.tick(T0 + seconds{2}, 2).empty());
}

json::value through_text(const json::object& saved) { return json::parse(json::serialize(saved)); }

// A run changes its job's state, not its definition: only the small state is written, and a
// restore takes the state from whichever of the two documents is not older.
TEST(SchedulerCore, ARunChangesOnlyItsJobsStateAndARestoreTakesTheNewerState) {
  SchedulerCore core;
  ASSERT_TRUE(core.put_job(job(R"({"name": "a", "command": "run a", "schedule": "R1/)" + iso(T0) +
                               R"(/PT1H"})"),
                           T0)
                  .ok());
  SchedulerCore::Dirty dirty = core.take_dirty();
  EXPECT_EQ(dirty.defined, (Names{"a"}));
  EXPECT_EQ(dirty.changed, (Names{"a"}));
  json::value definition = through_text(core.save_job("a"));

  LaunchRun run = only_launch(core.tick(T0));
  ASSERT_TRUE(core.run_started(run.task_id, "agent-1", T0 + seconds{1}).ok());
  ASSERT_TRUE(
      core.run_finished(run.task_id, RunOutcome::succeeded, 0, "", "", T0 + seconds{2}).ok());
  dirty = core.take_dirty();
  EXPECT_TRUE(dirty.defined.empty());
  EXPECT_EQ(dirty.changed, (Names{"a"}));
  json::value state = through_text(core.save_job_state("a"));
  // The state holds what a run changes of the job: its counters, and `disabled` once its one
  // repetition is used up.
  EXPECT_FALSE(state.as_object().contains("job"));

  SchedulerCore restored;
  EXPECT_EQ(restored.restore({definition}, T0 + seconds{3}, {{"a", state}}).restored, 1u);
  EXPECT_EQ(restored.find_job("a")->success_count, 1);
  EXPECT_TRUE(restored.find_job("a")->disabled);
  EXPECT_TRUE(restored.tick(T0 + seconds{3}).empty());
  // Without its state the definition's own (older) state is what there is: the run is due.
  SchedulerCore definition_only;
  definition_only.restore({definition}, T0 + seconds{3});
  EXPECT_EQ(definition_only.find_job("a")->success_count, 0);
  EXPECT_EQ(launched_ids(definition_only.tick(T0 + seconds{3})), (Names{run.run_id}));

  // A newer definition whose state was not written (a crash between the two writes): the
  // state saved with the definition wins over the older state document.
  ASSERT_TRUE(core.put_job(every("a", "PT1H", R"("command": "new")"), T0 + seconds{4}).ok());
  json::value redefinition = through_text(core.save_job("a"));
  SchedulerCore newer_definition;
  newer_definition.restore({redefinition}, T0 + seconds{5}, {{"a", state}});
  EXPECT_EQ(newer_definition.find_job("a")->command, "new");
  EXPECT_FALSE(newer_definition.find_job("a")->disabled);
  // And a state written before its definition (the other order): the old definition with the
  // newer state, so that the run launched since is not lost.
  LaunchRun later = only_launch(core.tick(T0 + hours{1}));
  json::value newer_state = through_text(core.save_job_state("a"));
  SchedulerCore newer_state_only;
  newer_state_only.restore({definition}, T0 + hours{1}, {{"a", newer_state}});
  EXPECT_EQ(newer_state_only.find_job("a")->command, "run a");
  ASSERT_TRUE(newer_state_only.active_task(later.task_id).has_value());
}

// A state left behind by a removed job (its removal half written) never passes for the state
// of a new job of that name: every definition made after a restore has a newer version.
TEST(SchedulerCore, ALeftoverStateIsOlderThanAnyNewDefinition) {
  SchedulerCore first;
  ASSERT_TRUE(first.put_job(every("gone", "PT1H"), T0).ok());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(first.put_job(every("gone", "PT1H"), T0).ok());
  only_launch(first.tick(T0));
  json::value leftover = through_text(first.save_job_state("gone"));

  SchedulerCore second;
  second.restore({}, T0 + seconds{1}, {{"gone", leftover}});
  ASSERT_TRUE(second.put_job(every("gone", "PT1H"), T0 + seconds{1}).ok());
  SchedulerCore third;
  third.restore({through_text(second.save_job("gone"))}, T0 + seconds{2}, {{"gone", leftover}});
  // Not the leftover's run in flight.
  EXPECT_TRUE(third.active_tasks().empty());

  // A state that cannot be read drops its job rather than restore an older one.
  SchedulerCore fourth;
  SchedulerCore::RestoreReport report = fourth.restore(
      {through_text(second.save_job("gone"))}, T0 + seconds{2}, {{"gone", json::value(42)}});
  EXPECT_EQ(report.restored, 0u);
  EXPECT_EQ(report.dropped,
            (Names{"job 'gone': its saved state lacks 'version', 'state' or 'stats'"}));
}

// A run's output comes after the run was counted: it goes into that attempt's record.
TEST(SchedulerCore, OutputIsAttachedToAFinishedRunsRecord) {
  SchedulerConfig config;
  config.output_tail_limit = 4;
  SchedulerCore core(config);
  ASSERT_TRUE(core.put_job(every("a", "PT1H"), T0).ok());
  LaunchRun run = only_launch(core.tick(T0));
  ASSERT_TRUE(core.run_started(run.task_id, "agent-1", T0 + seconds{1}).ok());
  ASSERT_TRUE(
      core.run_finished(run.task_id, RunOutcome::succeeded, 0, "", "", T0 + seconds{2}).ok());
  core.take_dirty();
  ASSERT_TRUE(core.attach_output(run.task_id, "hello").ok());
  EXPECT_EQ(last_record(core, "a").output_tail, "ello");
  EXPECT_EQ(last_record(core, "a").status, RunStatus::succeeded);
  SchedulerCore::Dirty dirty = core.take_dirty();
  EXPECT_TRUE(dirty.changed.empty());
  EXPECT_EQ(dirty.history_changed, (Names{"a"}));
  EXPECT_FALSE(core.attach_output("a@2020-01-01T00:00:00.000Z#0", "x").ok());
  EXPECT_FALSE(core.attach_output("nobody@2020-01-01T00:00:00.000Z#0", "x").ok());
  EXPECT_FALSE(core.attach_output("not a task", "x").ok());
}

// A run that started is a change that may be stored late (reconciliation tells it again): it is
// `started`, not `changed`, unless the job changed otherwise too; either way save_job has it.
TEST(SchedulerCore, AStartedRunIsALateChange) {
  SchedulerCore core;
  ASSERT_TRUE(core.put_job(every("a", "PT1H"), T0).ok());
  ASSERT_TRUE(core.put_job(every("b", "PT1H"), T0).ok());
  auto due = launches(core.tick(T0));
  ASSERT_EQ(due.size(), 2u);
  core.take_dirty();
  ASSERT_TRUE(core.run_started(due[0].task_id, "agent-1", T0 + seconds{1}).ok());
  ASSERT_TRUE(core.run_started(due[1].task_id, "agent-2", T0 + seconds{1}).ok());
  ASSERT_TRUE(
      core.run_finished(due[1].task_id, RunOutcome::succeeded, 0, "", "", T0 + seconds{2}).ok());
  SchedulerCore::Dirty dirty = core.take_dirty();
  EXPECT_EQ(dirty.started, (Names{due[0].job}));
  EXPECT_EQ(dirty.changed, (Names{due[1].job}));
  EXPECT_EQ(dirty.history_changed, (Names{"a", "b"}));
  EXPECT_TRUE(core.take_dirty().started.empty());
  // What a late write stores has the start: restored, the run is in flight and started.
  SchedulerCore restored;
  restored.restore({json::parse(json::serialize(core.save_job(due[0].job)))}, T0 + seconds{3});
  auto active = restored.active_task(due[0].task_id);
  ASSERT_TRUE(active.has_value());
  EXPECT_TRUE(active->started);
  EXPECT_EQ(active->agent, "agent-1");
}

TEST(SchedulerCore, RunsInFlightAreListedAndFoundByTaskIdWithWhatLaunchedThem) {
  SchedulerCore core;
  // Concurrent, so that the run-now starts beside the scheduled run.
  ASSERT_TRUE(core.put_job(every("tick", "PT1M", R"("concurrent": true)"), T0).ok());
  LaunchRun launch = only_launch(core.tick(T0));
  auto ran = core.run_now("tick", "a b", T0 + seconds{1});
  ASSERT_TRUE(ran.ok());
  LaunchRun manual = only_launch(*ran);

  std::vector<SchedulerCore::ActiveTask> active = core.active_tasks();
  ASSERT_EQ(active.size(), 2u);
  auto found = core.active_task(launch.task_id);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->launch.run_id, launch.run_id);
  EXPECT_EQ(found->launch.scheduled, T0);
  EXPECT_FALSE(found->started);
  EXPECT_EQ(core.active_task(manual.task_id)->launch.arguments, "a b");
  EXPECT_EQ(core.active_task(manual.task_id)->launch.trigger, RunTrigger::manual);

  ASSERT_TRUE(core.run_started(launch.task_id, "agent-7", T0 + seconds{2}).ok());
  EXPECT_EQ(core.active_task(launch.task_id)->agent, "agent-7");
  EXPECT_TRUE(core.active_task(launch.task_id)->started);
  ASSERT_TRUE(
      core.run_finished(launch.task_id, RunOutcome::succeeded, 0, "", "", T0 + seconds{3}).ok());
  EXPECT_FALSE(core.active_task(launch.task_id).has_value());
  EXPECT_FALSE(core.active_task("tick@nonsense#0").has_value());
  EXPECT_FALSE(core.active_task("not a task id").has_value());
  EXPECT_EQ(core.active_tasks().size(), 1u);
}

}  // namespace
}  // namespace tessera::chronos

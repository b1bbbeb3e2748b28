// Run records, their retention, the output tail, and the percentiles of /job/stat.
#include <gtest/gtest.h>

#include <string>

#include "run_history.h"

namespace tessera::chronos {
namespace {

namespace json = boost::json;

const TimePoint kNow = *parse_time("2024-05-01T12:00:00Z");

RunRecord record(const std::string& run_id, int attempt, RunStatus status) {
  RunRecord r;
  r.run_id = run_id;
  r.attempt = attempt;
  r.status = status;
  r.scheduled = kNow;
  r.queued = kNow;
  return r;
}

TEST(RunTimes, PercentilesInterpolateAsCodahalesUniformSnapshot) {
  RunTimes times;
  for (int ms = 1; ms <= 10; ++ms) times.add(Millis{ms * 1000});
  RunTimes::Snapshot s = times.snapshot();
  EXPECT_EQ(s.count, 10u);
  // Position q x (n + 1) in the sorted values, 1-based, interpolated.
  EXPECT_DOUBLE_EQ(s.median, 5500);  // 5.5
  EXPECT_DOUBLE_EQ(s.p75, 8250);     // 8.25
  EXPECT_DOUBLE_EQ(s.p95, 10000);    // 10.45 is past the end
  EXPECT_DOUBLE_EQ(s.mean, 5500);
  RunTimes empty;
  EXPECT_EQ(empty.snapshot().count, 0u);
  EXPECT_DOUBLE_EQ(empty.snapshot().p99, 0);
  RunTimes one;
  one.add(Millis{42});
  EXPECT_DOUBLE_EQ(one.snapshot().median, 42);
  EXPECT_DOUBLE_EQ(one.snapshot().p99, 42);
}

TEST(RunTimes, KeepsOnlyTheLastWindow) {
  RunTimes times(3);
  for (int ms : {100, 1, 2, 3}) times.add(Millis{ms});
  EXPECT_EQ(times.snapshot().count, 3u);
  EXPECT_DOUBLE_EQ(times.snapshot().p99, 3);
  EXPECT_DOUBLE_EQ(times.snapshot().mean, 2);
}

TEST(RunHistory, KeepsTheNewestRecordsUpToItsLimit) {
  RunHistory history(3);
  for (int i = 0; i < 5; ++i)
    history.add(record("job@" + std::to_string(i), 0, RunStatus::succeeded));
  ASSERT_EQ(history.records().size(), 3u);
  EXPECT_EQ(history.records().front().run_id, "job@2");
  EXPECT_EQ(history.find("job@1", 0), nullptr);
  ASSERT_NE(history.find("job@4", 0), nullptr);
  EXPECT_EQ(history.find("job@4", 1), nullptr);
  json::array newest_first = history.to_json();
  EXPECT_EQ(newest_first[0].at("runId"), "job@4");
  history.set_limit(1);
  EXPECT_EQ(history.records().size(), 1u);
}

TEST(RunHistory, RecordsSurviveJson) {
  RunRecord r = record("job@2024-05-01T12:00:00.000Z", 2, RunStatus::failed);
  r.trigger = RunTrigger::parent;
  r.agent = "agent-1";
  r.started = kNow + Millis{5};
  r.ended = kNow + Millis{1500};
  r.exit_status = 3;
  r.message = "Command exited with status 3";
  r.output_tail = "oops\n";
  json::object written = to_json(r);
  EXPECT_EQ(written.at("taskId"), "job@2024-05-01T12:00:00.000Z#2");
  EXPECT_EQ(written.at("trigger"), "parent");
  auto read = run_record_from_json(written);
  ASSERT_TRUE(read.ok()) << read.error().message;
  EXPECT_EQ(*read, r);
  written["status"] = "exploded";
  EXPECT_FALSE(run_record_from_json(written).ok());
}

TEST(TaskIds, NameTheRunAndTheAttempt) {
  EXPECT_EQ(task_id("job@2024-05-01T12:00:00.000Z", 0), "job@2024-05-01T12:00:00.000Z#0");
  auto parsed = parse_task_id("job@2024-05-01T12:00:00.000Z#12");
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->first, "job@2024-05-01T12:00:00.000Z");
  EXPECT_EQ(parsed->second, 12);
  for (const char* bad : {"job", "#1", "job#", "job#-1", "job#x", "job#1x"}) {
    EXPECT_FALSE(parse_task_id(bad).has_value()) << bad;
  }
}

TEST(OutputTail, KeepsTheEndOnACharacterBoundaryAsValidUtf8) {
  EXPECT_EQ(output_tail("hello world", 5), "world");
  EXPECT_EQ(output_tail("short", 100), "short");
  // "é" is two bytes; cutting through it drops the orphaned half.
  EXPECT_EQ(output_tail("caf\xc3\xa9!", 2), "!");
  EXPECT_EQ(output_tail("caf\xc3\xa9!", 3), "\xc3\xa9!");
  // Invalid bytes become U+FFFD.
  EXPECT_EQ(output_tail("a\xff"
                        "b",
                        10),
            "a\xef\xbf\xbd"
            "b");
  EXPECT_EQ(output_tail("\xc0\xaf", 10), "\xef\xbf\xbd\xef\xbf\xbd");  // overlong '/'
}

TEST(JobStat, WritesChronossHistogramAndTaskHistory) {
  RunTimes times;
  times.add(Millis{3'661'000});
  RunHistory history;
  RunRecord done = record("job@2024-05-01T12:00:00.000Z", 0, RunStatus::succeeded);
  done.agent = "agent-1";
  done.started = *parse_time("2024-05-01T12:00:01Z");
  done.ended = *parse_time("2024-05-01T13:01:02Z");
  history.add(done);
  history.add(record("job@2024-05-01T12:00:05.000Z", 0, RunStatus::skipped));
  RunRecord running = record("job@2024-05-01T13:00:00.000Z", 1, RunStatus::running);
  running.started = *parse_time("2024-05-01T13:00:00Z");
  history.add(running);

  json::object stat = job_stat_json("job", times, history);
  const json::object& histogram = stat.at("histogram").as_object();
  for (const char* key :
       {"75thPercentile", "95thPercentile", "98thPercentile", "99thPercentile", "median", "mean"}) {
    EXPECT_EQ(histogram.at(key).to_number<double>(), 3'661'000) << key;
  }
  EXPECT_EQ(histogram.at("count"), 1);
  const json::array& tasks = stat.at("taskStatHistory").as_array();
  ASSERT_EQ(tasks.size(), 2u);  // the skipped run was never a task
  EXPECT_EQ(tasks[0].at("taskId"), "job@2024-05-01T13:00:00.000Z#1");
  EXPECT_EQ(tasks[0].at("status"), "TASK_RUNNING");
  EXPECT_EQ(tasks[0].at("startTime"), "05/01/24 13:00:00");
  EXPECT_EQ(tasks[0].at("endTime"), "N/A");
  EXPECT_FALSE(tasks[0].as_object().contains("duration"));
  EXPECT_EQ(tasks[1].at("jobName"), "job");
  EXPECT_EQ(tasks[1].at("slaveId"), "agent-1");
  EXPECT_EQ(tasks[1].at("status"), "TASK_FINISHED");
  EXPECT_EQ(tasks[1].at("duration"), "1h1m1s");
}

}  // namespace
}  // namespace tessera::chronos

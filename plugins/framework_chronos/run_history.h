// What happened to a job's runs: one record per attempt (or per skipped run), kept up to a
// retention limit, and the run times that Chronos's /job/stat reports as percentiles.
//
// Values owned by the scheduler core, used from one thread; no I/O.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>

#include "chronos_time.h"
#include "tessera/result.h"

namespace tessera::chronos {

// Why a run exists: its schedule came due, its parents completed, or someone asked for it
// (PUT /v1/scheduler/job/NAME).
enum class RunTrigger { schedule, parent, manual };
// queued: launch asked for, not yet reported running. skipped: never launched (the reason says
// why: missed by more than epsilon, forbidden while another run was active, replaced).
// `unknown`: the run ended while no scheduler led and its end did not reach the history (the
// job's state, written first, counted it); see SchedulerCore::restore_history.
enum class RunStatus { queued, running, succeeded, failed, killed, skipped, unknown };

std::string_view to_string(RunTrigger trigger);
std::string_view to_string(RunStatus status);
std::optional<RunTrigger> run_trigger_from(std::string_view name);

// The id of a run's task in the cluster: "RUN_ID#ATTEMPT" (job@scheduled-time#0), so that
// every retry is a distinct task and a status update names the run and attempt it is about.
std::string task_id(const std::string& run_id, int attempt);
// The run id and attempt of a task id made by task_id, if it is one.
std::optional<std::pair<std::string, int>> parse_task_id(std::string_view task_id);

struct RunRecord {
  std::string run_id;  // job@scheduled-time
  RunTrigger trigger = RunTrigger::schedule;
  int attempt = 0;  // 0 is the first try, then one more per retry
  TimePoint scheduled;
  TimePoint queued;  // when the launch was asked for (or the run was skipped)
  std::string agent;
  std::optional<TimePoint> started;
  std::optional<TimePoint> ended;
  std::optional<int> exit_status;
  RunStatus status = RunStatus::queued;
  std::string message;      // the reason for a skip, or the cluster's message on failure
  std::string output_tail;  // the end of the task's stdout/stderr, as the agent reported it
  bool operator==(const RunRecord&) const = default;
};

boost::json::object to_json(const RunRecord& record);
Result<RunRecord> run_record_from_json(const boost::json::value& json);

// The last `limit` bytes of `output`, starting on a character boundary, with any invalid UTF-8
// replaced by U+FFFD, so that what an agent sends can always be written as JSON.
std::string output_tail(std::string_view output, size_t limit);

// A job's run records, oldest first, at most `limit` of them (the oldest go first).
class RunHistory {
 public:
  explicit RunHistory(size_t limit = 100) : limit_(limit) {}
  RunRecord& add(RunRecord record);
  // The record of this attempt of this run, if still kept.
  RunRecord* find(const std::string& run_id, int attempt);
  const std::deque<RunRecord>& records() const { return records_; }
  void set_limit(size_t limit);
  // Newest first, as /v1/scheduler/job/NAME/runs answers.
  boost::json::array to_json() const;

 private:
  size_t limit_;
  std::deque<RunRecord> records_;
};

// The last `window` run times of a job (start to end of each attempt that ran), and their
// percentiles as Chronos's /job/stat reports them.
class RunTimes {
 public:
  explicit RunTimes(size_t window = 1000) : window_(window) {}
  void add(Millis run_time);
  const std::deque<std::int64_t>& values() const { return values_; }
  void set_window(size_t window);

  // Percentiles of the kept values in milliseconds, interpolated as Codahale Metrics'
  // uniform snapshot does (position q x (n + 1) in the sorted values). `mean` is the
  // arithmetic mean (Chronos writes its median there).
  struct Snapshot {
    double p75 = 0;
    double p95 = 0;
    double p98 = 0;
    double p99 = 0;
    double median = 0;
    double mean = 0;
    size_t count = 0;
  };
  Snapshot snapshot() const;

 private:
  size_t window_;
  std::deque<std::int64_t> values_;
};

// Chronos's /v1/scheduler/job/stat/NAME answer: {"histogram": {75thPercentile, 95thPercentile,
// 98thPercentile, 99thPercentile, median, mean, count}, "taskStatHistory": [{taskId, jobName,
// slaveId, startTime, endTime, duration, status}, ...]} with the newest task first.
boost::json::object job_stat_json(const std::string& job_name, const RunTimes& times,
                                  const RunHistory& history);

}  // namespace tessera::chronos

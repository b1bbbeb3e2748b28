// The Chronos scheduler's decisions, without I/O: which runs to start and kill, given the jobs,
// the time and what the cluster reported. The plugin drives it from its event loop:
//
//   SchedulerCore core(config);
//   core.restore(saved_jobs, now);          // after winning leadership (or start empty),
//   core.restore_history(name, saved);      // then each job's history
//   actions = core.tick(now);               // whenever next_wakeup() has come
//   actions = core.run_finished(task, ...); // on each final status update
//   dirty = core.take_dirty();              // store save_job() of dirty.changed, delete
//                                           // dirty.removed, store save_history() lazily
//   ... persist the jobs first, then carry out the actions (launch or kill tasks).
//
// Exactly once: every run has an id `job@scheduled-time` (ISO 8601 UTC, milliseconds), and its
// attempts are the tasks `job@scheduled-time#attempt`. Per job the core keeps how far its
// schedule has been consumed (`consumedUntil`): a scheduled time at or before it never runs
// again, whatever happens to the schedule. That mark, the runs in flight, the pending retries
// and the dependency round are all in save_job(); so a scheduler that persists the changed jobs
// before acting on the returned actions, and restores them after a restart or failover, neither
// skips nor repeats a run: a run it launched is in the store as active, a time it consumed is
// behind consumedUntil. The run history is kept apart (save_history) because it is
// larger and only informative.
//
// When a job is due (tick):
// - Scheduled times within the job's epsilon of now run; older ones are skipped (Chronos: "if
//   Chronos misses the scheduled run time for any reason, it will still run the job if the
//   time is within this interval").
// - Times that passed while no scheduler led (before restore() or resume()) or before the job
//   existed follow its catch-up policy: skip (none runs), once (the latest runs), all (each
//   runs), always within epsilon. At most config.catch_up_limit runs of a job (the newest)
//   start in one tick.
// - A run due while another run of the job is active follows the concurrency policy: allow
//   (both run), forbid (the new one is skipped, as Chronos does when `concurrent` is false),
//   replace (the active one is killed, the new one runs). A run whose retry is pending has
//   not ended: a new run meets it as an active one (forbid: the new one is skipped and the
//   retry runs at its time; allow: both run; replace: the retry is cancelled, recorded as
//   skipped, counting nothing). Under forbid the missed runs that the catch-up policy keeps
//   are not skipped: they wait, oldest first, and each starts when the run before it has
//   ended (its retries included); a time that comes due while they wait joins them; at most
//   config.catch_up_limit wait (the newest).
//
// When a run ends (run_finished): success counts it (successCount, lastSuccess) and fires the
// dependents whose round it completes; failure is retried after config.failure_retry_delay
// while attempts remain, with Chronos's rule that a job whose last run failed for good (lastError
// after lastSuccess) is not retried; a failure for good counts an error, may disable the job
// after config.disable_after_failures consecutive ones, and fires dependents only with
// softError. A run killed on request counts nothing.
//
// Every error is a reason for a 400 answer, as Chronos answers every bad request.
//
// Ownership and threading: one owner, one thread (the plugin's loop); no locks, no clock, no I/O.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "chronos_time.h"
#include "job.h"
#include "job_graph.h"
#include "run_history.h"
#include "schedule.h"
#include "tessera/result.h"

namespace tessera::chronos {

class FieldReader;

struct SchedulerConfig {
  JobDefaults job_defaults;
  // Chronos's --failure_retry: how long a failed attempt waits before the next one.
  Millis failure_retry_delay{60'000};
  // Chronos's --disable_after_failures: disable a job after this many failures in a row
  // (0: never).
  std::int64_t disable_after_failures = 0;
  // Run records kept per job, and the bytes of output kept per record.
  size_t history_limit = 20;
  size_t output_tail_limit = 2048;
  // Run times kept per job for the percentiles.
  size_t run_time_window = 1000;
  // The most runs of one job started in one tick (the newest; older ones are skipped), and the
  // most runs of a job with concurrencyPolicy forbid waiting their turn to catch up.
  size_t catch_up_limit = 100;
};

// Start this attempt of this run. The job's definition is find_job(job); `arguments`, when not
// empty, are the run-now arguments (Chronos appends them to the command).
struct LaunchRun {
  std::string job;
  std::string run_id;
  int attempt = 0;
  std::string task_id;
  RunTrigger trigger = RunTrigger::schedule;
  TimePoint scheduled;
  std::string arguments;
};

// Kill this task; its final status update is still expected (run_finished with killed).
struct KillRun {
  std::string job;
  std::string run_id;
  int attempt = 0;
  std::string task_id;
  std::string reason;
};

using Action = std::variant<LaunchRun, KillRun>;

enum class RunOutcome { succeeded, failed, killed };

class SchedulerCore {
 public:
  explicit SchedulerCore(SchedulerConfig config = {});

  const SchedulerConfig& config() const { return config_; }

  // ---- Jobs (POST /iso8601, POST /dependency, DELETE /job/NAME, GET /jobs, /jobs/search).

  // Adds a job or replaces the one of that name, as Chronos does (counters included). Checks
  // that its parents exist and make no cycle, and that its schedule parses. A replaced job
  // keeps its consumed schedule, runs in flight, retries and history; scheduled times that a
  // changed schedule puts in the past follow the catch-up policy; a re-enabled job does not
  // catch up on what it missed while disabled.
  Status put_job(Job job, TimePoint now);
  // Removes a job, as Chronos's DELETE does: its children move to its parents (if it was
  // dependent); a child whose only parent it was becomes a scheduled job with its schedule (if
  // it was scheduled). Its active runs are killed.
  Result<std::vector<Action>> remove_job(const std::string& name);

  const Job* find_job(const std::string& name) const;
  // Every job, in name order.
  std::vector<const Job*> jobs() const;
  size_t job_count() const { return entries_.size(); }

  // GET /jobs/search: a job matches when its name contains `name` and its command contains
  // `command` (each ignored when empty), or when its name or command contains `any`; all
  // case-insensitive. Chronos's defaults: limit 10, offset 0. In name order.
  struct SearchQuery {
    std::string name;
    std::string command;
    std::string any;
    size_t limit = 10;
    size_t offset = 0;
  };
  std::vector<const Job*> search(const SearchQuery& query) const;

  const JobGraph& graph() const { return graph_; }

  // ---- Time.

  // The runs due at `now`: retries whose delay has passed, then scheduled times, of at most
  // `max_jobs` scheduled jobs (the earliest due): the rest stay due, next_wakeup() is then at
  // or before `now`, and the next tick takes them. A caller with many jobs due at one second
  // takes them a part at a time, so that it stores and launches the first part while deciding
  // the next, and serves other events in between.
  std::vector<Action> tick(TimePoint now, size_t max_jobs = SIZE_MAX);
  // When tick() next has something to do, if ever.
  std::optional<TimePoint> next_wakeup() const;
  // This scheduler (again) leads from `now`: scheduled times before it were missed and follow
  // the catch-up policy. restore() calls it.
  void resume(TimePoint now);

  // ---- Requests.

  // PUT /job/NAME: runs the job now (even if disabled). Chronos removes ';' from the arguments.
  Result<std::vector<Action>> run_now(const std::string& name, std::string_view arguments,
                                      TimePoint now);
  // PUT /job/success/NAME: counts a success now and fires the dependents it completes.
  Result<std::vector<Action>> mark_success(const std::string& name, TimePoint now);
  // DELETE /task/kill/NAME: kills the job's active runs and cancels its pending retries and the
  // catch-up runs waiting their turn.
  Result<std::vector<Action>> kill_runs(const std::string& name, TimePoint now);

  // ---- What the cluster reports, by task id (task_id() of run_history.h).

  // The task is running on `agent`. Repeats are harmless. The change is reported by take_dirty
  // as `started`, not `changed`: it may be stored after the update is acknowledged.
  Status run_started(const std::string& task_id, const std::string& agent, TimePoint now);
  // The task ended. `message` is the cluster's reason, `output` the end of its stdout/stderr
  // (cut to config.output_tail_limit here). An unknown or already finished task is an error,
  // so that a duplicate status update changes nothing.
  Result<std::vector<Action>> run_finished(const std::string& task_id, RunOutcome outcome,
                                           std::optional<int> exit_status, std::string_view message,
                                           std::string_view output, TimePoint now);

  // The end of a finished task's stdout/stderr, read after the run was counted: put in its run
  // record (cut to config.output_tail_limit), a history change. An error when the record is no
  // longer kept (the retention limit, or the job was removed).
  Status attach_output(const std::string& task_id, std::string_view output);

  // ---- Views for the REST API.

  // Chronos's job state: "idle", "queued" or "N running".
  std::string current_state(const std::string& name) const;
  // GET /graph/csv and /graph/dot.
  std::string graph_csv() const;
  std::string graph_dot() const;
  // GET /jobs/summary: {"jobs": [{name, status, state, schedule, parents, disabled}]}, where
  // status is the last state (success, failure, fresh) and state the current one.
  boost::json::object summary_json() const;
  // GET /job/stat/NAME.
  Result<boost::json::object> stat_json(const std::string& name) const;
  // GET /job/NAME/runs: the run records, newest first.
  Result<boost::json::array> runs_json(const std::string& name) const;
  const RunHistory* history(const std::string& name) const;
  // The next scheduled time of a job, if it has one.
  std::optional<TimePoint> next_due(const std::string& name) const;

  // Every run in flight, in job order: what the plugin reconciles with the cluster after it
  // (re)subscribes, and where it sends a kill.
  struct ActiveTask {
    LaunchRun launch;   // what launched it, to launch it again if the cluster never got it
    std::string agent;  // empty until run_started
    bool started = false;
  };
  std::vector<ActiveTask> active_tasks() const;
  // One run in flight, by its task id (in time independent of how many runs are in flight).
  std::optional<ActiveTask> active_task(const std::string& task_id) const;

  // ---- Persistence: per job, one key for the job as defined, one for its scheduling state and
  // one for its run history. The first two matter for exactly-once; the third can be written
  // lazily.
  //
  // A run changes only the scheduling state (and the counters and `disabled`, which the state
  // holds too), so each run writes its small state document, not the job's whole definition.
  // The definition's document also holds the state as of its own write, and both carry the
  // definition's version (one more at every change of a definition, above every version ever
  // restored): restore() takes a job's state from its state document when that has at least
  // the definition's version, else from the definition's document. So a change of definition
  // needs only save_job() (the older state document is then passed over), and a state
  // document, or a definition's, written in either order restores a state at least as new as
  // the last one acted on.

  // The job as defined, its version and its scheduling state: what put_job() and a removed
  // parent change (Dirty's `defined`).
  boost::json::object save_job(const std::string& name) const;
  // The job's scheduling state (consumed schedule, runs in flight, pending retries, catch-up
  // runs waiting their turn, dependency round), its counters and `disabled`, and the version
  // of its definition. Small; persist it before acting on the actions that changed it.
  boost::json::object save_job_state(const std::string& name) const;
  // The job's run records and run times (up to history_limit records of output tails).
  boost::json::object save_history(const std::string& name) const;
  // The jobs changed and removed since the last call (a removed job's history goes too).
  // `changed` need save_job_state(), or for those in `defined`, save_job() (which holds it).
  // `started` names the jobs whose only change is that runs started (run_started): their
  // state may be stored later, since reconciliation after a failover tells a new scheduler
  // again which runs are running; a job in `changed` is not repeated there.
  struct Dirty {
    std::vector<std::string> changed;
    std::vector<std::string> defined;
    std::vector<std::string> started;
    std::vector<std::string> history_changed;
    std::vector<std::string> removed;
  };
  Dirty take_dirty();
  // Replaces everything with saved jobs (values of save_job) and their saved states (values of
  // save_job_state, by job name; a job without one, or whose state is of an older definition,
  // has the state saved with its definition), then resume(now). A job that cannot be read, or
  // whose parents are missing or make a cycle, is dropped (Chronos drops a job whose parents
  // are missing) and named in the report; so is a state that cannot be read.
  struct RestoreReport {
    size_t restored = 0;
    std::vector<std::string> dropped;  // "job 'x': reason"
  };
  RestoreReport restore(const std::vector<boost::json::value>& saved, TimePoint now,
                        const std::map<std::string, boost::json::value>& saved_states = {});
  // Puts back a job's saved history (a value of save_history) after restore(). Records made
  // since the restore are kept.
  Status restore_history(const std::string& name, const boost::json::value& saved);

 private:
  // What identifies one attempt of one run, and what it runs with.
  struct RunSpec {
    std::string run_id;
    int attempt = 0;
    RunTrigger trigger = RunTrigger::schedule;
    TimePoint scheduled;
    std::string arguments;
  };
  struct ActiveRun {
    RunSpec spec;
    std::optional<TimePoint> started;
    std::string agent;
    bool kill_requested = false;
    std::string kill_reason;
  };
  struct PendingRetry {
    RunSpec spec;
    TimePoint due;
  };
  struct Entry {
    Job job;
    std::optional<Schedule> schedule;  // scheduled jobs only
    TimePoint created;                 // what an empty schedule start stands for
    std::optional<TimePoint> consumed_until;
    std::optional<TimePoint> catch_up_before;
    std::optional<TimePoint> next_due;  // also a key of due_
    std::vector<ActiveRun> active;
    std::vector<PendingRetry> retries;
    // Scheduled times, oldest first, waiting their turn to catch up while concurrencyPolicy
    // forbid lets one run at a time: each starts when the job has no run active and no retry
    // pending. Consumed (at or before consumed_until), so held here until they start.
    std::deque<TimePoint> waiting;
    RunHistory history;
    RunTimes times;
    std::string name_lower;
    std::string command_lower;
    // The version of the definition (save_job, save_job_state).
    std::uint64_t version = 0;
  };

  // An active run found by its task id.
  struct ActiveRef {
    Entry* entry;
    std::vector<ActiveRun>::iterator run;
  };
  std::optional<ActiveRef> find_active(const std::string& task);
  static ActiveTask active_task_of(const std::string& job, const ActiveRun& run);
  Entry* entry(const std::string& name);
  const Entry* entry(const std::string& name) const;
  void touch(const std::string& name) { dirty_.insert(name); }
  void touch_definition(Entry& entry);
  void touch_history(const std::string& name) { history_dirty_.insert(name); }
  void requeue(Entry& entry);
  void unqueue(Entry& entry);
  void process_schedule(Entry& entry, TimePoint now, std::vector<Action>& actions);
  // Starts the waiting catch-up runs the concurrency policy lets start now (under forbid, the
  // oldest if nothing of the job is active or pending a retry).
  void start_waiting(Entry& entry, TimePoint now, std::vector<Action>& actions);
  // Drops every waiting catch-up run, each recorded as skipped for `reason`.
  void cancel_waiting(Entry& entry, const std::string& reason, TimePoint now);
  // Starts a run (attempt 0) or a retry as the concurrency policy lets it: a new run meets
  // the job's active runs and pending retries, a retry only the active runs.
  void start_run(Entry& entry, RunSpec spec, TimePoint now, std::vector<Action>& actions);
  void record_skip(Entry& entry, const RunSpec& spec, TimePoint now, std::string reason);
  std::string unique_run_id(const Entry& entry, TimePoint t) const;
  void fire_dependents(const std::string& parent, TimePoint now, std::vector<Action>& actions);
  void kill_active(Entry& entry, const std::string& reason, std::vector<Action>& actions);
  void cancel_retries(Entry& entry, const std::string& reason, TimePoint now);
  void remove_retry_index(const Entry& entry);
  Status set_schedule(Entry& entry, const Job& job, TimePoint now, bool keep_created);
  static RunRecord record_of(const RunSpec& spec, TimePoint queued, RunStatus status);
  // What a run record says of the job's uris or fetch entries ("" when it has none).
  static std::string unsupported_note(const Job& job);
  static boost::json::object& write_spec(boost::json::array& into, const RunSpec& spec);
  static void read_spec(FieldReader& in, RunSpec& spec);
  boost::json::object save_state(const Entry& entry) const;
  Status load_state(Entry& entry, const boost::json::value& state);
  // The counters and `disabled` of a saved state, into the job.
  static Status load_stats(Job& job, const boost::json::value& stats);

  SchedulerConfig config_;
  std::map<std::string, Entry> entries_;
  JobGraph graph_;
  std::set<std::pair<TimePoint, std::string>> due_;           // (next due, job)
  std::set<std::pair<TimePoint, std::string>> retry_due_;     // (due, task id)
  std::unordered_map<std::string, std::string> task_to_job_;  // active and pending tasks
  std::set<std::string> dirty_;
  std::set<std::string> defined_;
  std::uint64_t next_version_ = 1;
  std::set<std::string> started_dirty_;
  std::set<std::string> history_dirty_;
  std::set<std::string> removed_;
};

}  // namespace tessera::chronos

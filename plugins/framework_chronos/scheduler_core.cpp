#include "scheduler_core.h"

#include <algorithm>
#include <cctype>

#include "json_fields.h"

namespace tessera::chronos {

namespace json = boost::json;

namespace {

constexpr size_t kMaxArgumentsLength = 4096;
constexpr size_t kMaxAgentLength = 255;
constexpr size_t kMaxMessageLength = 1024;
// The least lateness a due time is allowed whatever its job's epsilon: the loop's timer wakes a
// little after the time it was set for, so with an epsilon of PT0S (or a few milliseconds) a
// run due on time would be skipped as "missed by more than epsilon" nearly every time.
constexpr Millis kMinEpsilon{1'000};

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string run_id_at(const std::string& job, TimePoint t) { return job + "@" + format_time(t); }

// A schedule's occurrences in [from, until], oldest first: all of them, or with more than
// `limit`, the newest `limit` and the first one left out. Never walks more than about 50 x
// limit occurrences, however many there are (PT1S over an epsilon of a year).
struct RecentTimes {
  std::vector<TimePoint> times;
  std::optional<TimePoint> first_dropped;
};

RecentTimes recent_occurrences(const Schedule& schedule, TimePoint from, TimePoint until,
                               size_t limit) {
  // Up to limit + 1 occurrences from `start` on.
  auto collect = [&](TimePoint start) {
    std::vector<TimePoint> out;
    for (auto t = schedule.next_after(start - Millis{1}); t && *t <= until;
         t = schedule.next_after(*t)) {
      out.push_back(*t);
      if (out.size() > limit) break;
    }
    return out;
  };
  RecentTimes recent;
  recent.times = collect(from);
  if (recent.times.size() <= limit) return recent;
  recent.first_dropped = recent.times.front();
  // Fewer occurrences remain as the start moves later: find the earliest start from which at
  // most `limit` do.
  TimePoint too_early = from;
  TimePoint late_enough = until + Millis{1};
  while (late_enough - too_early > Millis{1}) {
    TimePoint middle = too_early + (late_enough - too_early) / 2;
    (collect(middle).size() > limit ? too_early : late_enough) = middle;
  }
  recent.times = collect(late_enough);
  return recent;
}

// A saved document's definition version: 0 when it has none (saved before versions were).
std::optional<std::uint64_t> saved_version(const json::object& saved) {
  const json::value* version = saved.if_contains("version");
  if (version == nullptr) return 0;
  if (version->is_uint64()) return version->get_uint64();
  if (version->is_int64() && version->get_int64() >= 0) {
    return static_cast<std::uint64_t>(version->get_int64());
  }
  return std::nullopt;
}

json::value optional_time(const std::optional<TimePoint>& t) {
  if (!t) return nullptr;
  return json::string(format_time(*t));
}

json::array string_array(const std::vector<std::string>& items) {
  json::array out;
  for (const std::string& item : items) out.push_back(json::string(item));
  return out;
}

}  // namespace

SchedulerCore::SchedulerCore(SchedulerConfig config) : config_(std::move(config)) {}

void SchedulerCore::touch_definition(Entry& e) {
  e.version = next_version_++;
  dirty_.insert(e.job.name);
  defined_.insert(e.job.name);
}

SchedulerCore::Entry* SchedulerCore::entry(const std::string& name) {
  auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : &it->second;
}

const SchedulerCore::Entry* SchedulerCore::entry(const std::string& name) const {
  auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : &it->second;
}

// ---- Jobs.

Status SchedulerCore::put_job(Job job, TimePoint now) {
  auto it = entries_.find(job.name);
  const bool exists = it != entries_.end();
  if (job.is_dependent()) {
    Status parents = graph_.check_parents(job.name, job.parents);
    if (!parents) return parents;
  }
  std::optional<Schedule> schedule;
  TimePoint created = now;
  bool schedule_changed = true;
  if (!job.is_dependent()) {
    if (exists && !it->second.job.is_dependent() && it->second.job.schedule == job.schedule &&
        it->second.job.schedule_time_zone == job.schedule_time_zone) {
      created = it->second.created;
      schedule_changed = false;
    }
    auto parsed = Schedule::parse(job.schedule, job.schedule_time_zone, created);
    if (!parsed) {
      return make_error("job '" + job.name + "': cannot parse schedule '" + job.schedule +
                        "': " + parsed.error().message);
    }
    schedule = *parsed;
  }

  Entry& e = exists ? it->second : entries_[job.name];
  if (!exists) {
    e.history.set_limit(config_.history_limit);
    e.times.set_window(config_.run_time_window);
  }
  const bool was_disabled = exists && e.job.disabled;
  // Disabling a job stops what it would still start on its schedule, the catch-up runs waiting
  // their turn too (retries of runs already started go on).
  if (exists && !was_disabled && job.disabled) cancel_waiting(e, "job was disabled", now);
  unqueue(e);
  e.schedule = schedule;
  e.created = created;
  if (e.schedule) {
    // Times a new or changed schedule puts in the past follow the catch-up policy; times a
    // disabled job missed are not caught up on.
    if (schedule_changed) e.catch_up_before = now;
    // A cron expression has no start: it runs from when it is set, never for times before.
    if (schedule_changed && e.schedule->kind() == Schedule::Kind::cron) {
      e.consumed_until = std::max(e.consumed_until.value_or(min_time()), now - Millis{1});
    }
    if (was_disabled && !job.disabled) {
      e.consumed_until = std::max(e.consumed_until.value_or(min_time()), now - Millis{1});
    }
  }
  e.job = std::move(job);
  e.name_lower = lower(e.job.name);
  e.command_lower = lower(e.job.command);
  graph_.set(e.job.name, e.job.parents);
  removed_.erase(e.job.name);
  touch_definition(e);
  requeue(e);
  return {};
}

Result<std::vector<Action>> SchedulerCore::remove_job(const std::string& name) {
  Entry* e = entry(name);
  if (e == nullptr) return make_error("job '" + name + "' not found");
  std::vector<Action> actions;
  const Job& removed = e->job;
  const std::vector<std::string> children(graph_.children_of(name).begin(),
                                          graph_.children_of(name).end());
  for (const std::string& child_name : children) {
    Entry* child = entry(child_name);
    if (child == nullptr) continue;
    std::vector<std::string> parents;
    for (const std::string& parent : child->job.parents) {
      if (parent != name) parents.push_back(parent);
    }
    if (removed.is_dependent()) {
      parents.insert(parents.end(), removed.parents.begin(), removed.parents.end());
    }
    std::sort(parents.begin(), parents.end());
    parents.erase(std::unique(parents.begin(), parents.end()), parents.end());
    if (parents.empty()) {
      // Its only parent was a scheduled job: it takes over that schedule and how far it ran.
      child->job.parents.clear();
      child->job.schedule = removed.schedule;
      child->job.schedule_time_zone = removed.schedule_time_zone;
      child->schedule = e->schedule;
      child->created = e->created;
      child->consumed_until = e->consumed_until;
      child->catch_up_before = e->catch_up_before;
    } else {
      child->job.parents = parents;
    }
    graph_.set(child_name, child->job.parents);
    unqueue(*child);
    requeue(*child);
    touch_definition(*child);
  }
  kill_active(*e, "job '" + name + "' was removed", actions);
  for (const ActiveRun& run : e->active)
    task_to_job_.erase(task_id(run.spec.run_id, run.spec.attempt));
  remove_retry_index(*e);
  unqueue(*e);
  graph_.remove(name);
  entries_.erase(name);
  dirty_.erase(name);
  defined_.erase(name);
  started_dirty_.erase(name);
  history_dirty_.erase(name);
  removed_.insert(name);
  return actions;
}

const Job* SchedulerCore::find_job(const std::string& name) const {
  const Entry* e = entry(name);
  return e == nullptr ? nullptr : &e->job;
}

std::vector<const Job*> SchedulerCore::jobs() const {
  std::vector<const Job*> out;
  out.reserve(entries_.size());
  for (const auto& [name, e] : entries_) out.push_back(&e.job);
  return out;
}

std::vector<const Job*> SchedulerCore::search(const SearchQuery& query) const {
  const std::string name = lower(query.name);
  const std::string command = lower(query.command);
  const std::string any = lower(query.any);
  const bool filtered = !name.empty() || !command.empty();
  std::vector<const Job*> out;
  size_t skipped = 0;
  for (const auto& [key, e] : entries_) {
    if (out.size() >= query.limit) break;
    bool any_match = !any.empty() && (e.name_lower.find(any) != std::string::npos ||
                                      e.command_lower.find(any) != std::string::npos);
    bool fields_match = (name.empty() || e.name_lower.find(name) != std::string::npos) &&
                        (command.empty() || e.command_lower.find(command) != std::string::npos);
    bool match = filtered ? (fields_match || any_match) : (any.empty() || any_match);
    if (!match) continue;
    if (skipped < query.offset) {
      ++skipped;
      continue;
    }
    out.push_back(&e.job);
  }
  return out;
}

// ---- Time.

void SchedulerCore::requeue(Entry& e) {
  unqueue(e);
  if (!e.schedule || e.job.disabled) return;
  auto next = e.schedule->next_after(e.consumed_until.value_or(min_time()));
  if (!next) return;
  e.next_due = next;
  due_.emplace(*next, e.job.name);
}

void SchedulerCore::unqueue(Entry& e) {
  if (e.next_due) due_.erase({*e.next_due, e.job.name});
  e.next_due.reset();
}

std::vector<Action> SchedulerCore::tick(TimePoint now, size_t max_jobs) {
  std::vector<Action> actions;
  while (!retry_due_.empty() && retry_due_.begin()->first <= now) {
    std::string task = retry_due_.begin()->second;
    retry_due_.erase(retry_due_.begin());
    auto owner = task_to_job_.find(task);
    if (owner == task_to_job_.end()) continue;
    Entry* e = entry(owner->second);
    task_to_job_.erase(owner);
    if (e == nullptr) continue;
    auto parsed = parse_task_id(task);
    auto retry = std::find_if(e->retries.begin(), e->retries.end(), [&](const PendingRetry& r) {
      return parsed && r.spec.run_id == parsed->first && r.spec.attempt == parsed->second;
    });
    if (retry == e->retries.end()) continue;
    RunSpec spec = retry->spec;
    e->retries.erase(retry);
    touch(e->job.name);
    start_run(*e, std::move(spec), now, actions);
  }
  // Each due job once per tick: take them all out first, so that nothing requeued at or
  // before now can keep this loop going.
  std::vector<std::string> due_now;
  while (!due_.empty() && due_.begin()->first <= now && due_now.size() < max_jobs) {
    due_now.push_back(due_.begin()->second);
    due_.erase(due_.begin());
  }
  for (const std::string& name : due_now) {
    Entry* e = entry(name);
    if (e == nullptr) continue;
    e->next_due.reset();
    process_schedule(*e, now, actions);
    requeue(*e);
  }
  return actions;
}

void SchedulerCore::process_schedule(Entry& e, TimePoint now, std::vector<Action>& actions) {
  if (!e.schedule || e.job.disabled) return;
  const Schedule& schedule = *e.schedule;
  const std::string& name = e.job.name;
  const TimePoint consumed = e.consumed_until.value_or(min_time());
  const TimePoint window_start = std::max(now - std::max(e.job.epsilon, kMinEpsilon), min_time());
  auto spec_at = [&](TimePoint t) {
    return RunSpec{run_id_at(name, t), 0, RunTrigger::schedule, t, ""};
  };

  // Times older than epsilon never run. Only the first is recorded: there may be very many.
  if (auto first = schedule.next_after(consumed); first && *first < window_start) {
    record_skip(e, spec_at(*first), now,
                "missed by more than epsilon " + format_duration(e.job.epsilon) +
                    " (later runs missed as long are not listed)");
  }
  // Times within epsilon, oldest first, at most catch_up_limit of them (the newest): those
  // before catch_up_before were missed while no scheduler led (or before the job existed),
  // the others are on time.
  RecentTimes recent = recent_occurrences(schedule, std::max(consumed + Millis{1}, window_start),
                                          now, std::max<size_t>(config_.catch_up_limit, 1));
  if (recent.first_dropped) {
    record_skip(e, spec_at(*recent.first_dropped), now,
                "more than " + std::to_string(config_.catch_up_limit) +
                    " runs were due at once; only the newest of them run");
  }
  std::vector<TimePoint> missed;
  std::vector<TimePoint> on_time;
  for (TimePoint t : recent.times) {
    (e.catch_up_before && t < *e.catch_up_before ? missed : on_time).push_back(t);
  }
  size_t run_from = missed.size();  // missed[run_from..] run, the others are skipped
  if (e.job.catch_up == CatchUpPolicy::once && !missed.empty()) run_from = missed.size() - 1;
  if (e.job.catch_up == CatchUpPolicy::all) run_from = 0;
  if (run_from > 0) {
    record_skip(e, spec_at(missed.front()), now,
                std::to_string(run_from) + " run(s) missed while no scheduler led, not run " +
                    "(catchUpPolicy " + std::string(to_string(e.job.catch_up)) + ")");
  }
  // Under forbid the missed runs kept wait their turn rather than being skipped as runs due
  // while one is active: with catchUpPolicy all, each runs, one after the other. A time that
  // comes due while they wait joins them, so that catching up leaves no gap; one that comes
  // due while nothing waits follows forbid as always (skipped while a run is active).
  if (e.job.concurrency != ConcurrencyPolicy::forbid) {
    start_waiting(e, now, actions);  // left from before its policy changed
    for (size_t i = run_from; i < missed.size(); ++i) {
      start_run(e, spec_at(missed[i]), now, actions);
    }
    for (TimePoint t : on_time) start_run(e, spec_at(t), now, actions);
  } else {
    e.waiting.insert(e.waiting.end(), missed.begin() + static_cast<std::ptrdiff_t>(run_from),
                     missed.end());
    size_t joined = e.waiting.empty() ? 0 : on_time.size();
    e.waiting.insert(e.waiting.end(), on_time.begin(),
                     on_time.begin() + static_cast<std::ptrdiff_t>(joined));
    // Bounded as one tick's catch-up is: outages that follow one another while a long run is
    // active, or runs longer than the period, would otherwise add up for good.
    const size_t waiting_limit = std::max<size_t>(config_.catch_up_limit, 1);
    while (e.waiting.size() > waiting_limit) {
      record_skip(e, spec_at(e.waiting.front()), now,
                  "more than " + std::to_string(waiting_limit) +
                      " runs were waiting their turn to catch up; only the newest of them run");
      e.waiting.pop_front();
    }
    start_waiting(e, now, actions);
    for (size_t i = joined; i < on_time.size(); ++i) {
      start_run(e, spec_at(on_time[i]), now, actions);
    }
  }

  e.consumed_until = now;
  e.catch_up_before.reset();
  if (!schedule.next_after(now)) {
    // As Chronos does when a job has used up its repetitions.
    e.job.disabled = true;
  }
  touch(name);
}

void SchedulerCore::resume(TimePoint now) {
  for (auto& [name, e] : entries_) {
    if (e.schedule) e.catch_up_before = now;
  }
}

std::optional<TimePoint> SchedulerCore::next_wakeup() const {
  std::optional<TimePoint> out;
  if (!due_.empty()) out = due_.begin()->first;
  if (!retry_due_.empty() && (!out || retry_due_.begin()->first < *out)) {
    out = retry_due_.begin()->first;
  }
  return out;
}

// ---- Starting, skipping and killing runs.

void SchedulerCore::start_run(Entry& e, RunSpec spec, TimePoint now, std::vector<Action>& actions) {
  const std::string& name = e.job.name;
  // A run whose retry is pending has not ended: a new run (attempt 0) meets it as it meets an
  // active run. A retry starting is its own run going on, and meets only the active ones.
  const bool new_run = spec.attempt == 0;
  const bool retry_pending = new_run && !e.retries.empty();
  if (!e.active.empty() || retry_pending) {
    switch (e.job.concurrency) {
      case ConcurrencyPolicy::allow:
        break;
      case ConcurrencyPolicy::forbid: {
        std::string reason;
        if (!e.active.empty()) {
          reason = "run '" + e.active.back().spec.run_id + "' is still active";
        } else {
          const PendingRetry& retry = e.retries.back();
          reason = "run '" + retry.spec.run_id + "' is still active: attempt " +
                   std::to_string(retry.spec.attempt) + " waits to retry at " +
                   format_time(retry.due);
        }
        record_skip(e, spec, now, reason + " (concurrencyPolicy forbid)");
        return;
      }
      case ConcurrencyPolicy::replace: {
        const std::string reason =
            "replaced by run '" + spec.run_id + "' (concurrencyPolicy replace)";
        kill_active(e, reason, actions);
        // The retries the new run replaces never run; like a killed run they count nothing.
        if (new_run) cancel_retries(e, "retry cancelled: " + reason, now);
        break;
      }
    }
  }
  touch(name);
  std::string task = task_id(spec.run_id, spec.attempt);
  task_to_job_[task] = name;
  ActiveRun run;
  run.spec = spec;
  e.active.push_back(std::move(run));
  RunRecord queued = record_of(spec, now, RunStatus::queued);
  queued.message = unsupported_note(e.job);
  e.history.add(std::move(queued));
  touch_history(name);

  actions.push_back(LaunchRun{name, std::move(spec.run_id), spec.attempt, std::move(task),
                              spec.trigger, spec.scheduled, std::move(spec.arguments)});
}

void SchedulerCore::record_skip(Entry& e, const RunSpec& spec, TimePoint now, std::string reason) {
  RunRecord record = record_of(spec, now, RunStatus::skipped);
  record.message = std::move(reason);
  e.history.add(std::move(record));
  touch_history(e.job.name);
}

void SchedulerCore::start_waiting(Entry& e, TimePoint now, std::vector<Action>& actions) {
  while (!e.waiting.empty()) {
    if (e.job.concurrency == ConcurrencyPolicy::forbid &&
        (!e.active.empty() || !e.retries.empty())) {
      return;
    }
    TimePoint t = e.waiting.front();
    e.waiting.pop_front();
    touch(e.job.name);
    start_run(e, RunSpec{run_id_at(e.job.name, t), 0, RunTrigger::schedule, t, ""}, now, actions);
  }
}

void SchedulerCore::cancel_waiting(Entry& e, const std::string& reason, TimePoint now) {
  if (e.waiting.empty()) return;
  for (TimePoint t : e.waiting) {
    record_skip(e, RunSpec{run_id_at(e.job.name, t), 0, RunTrigger::schedule, t, ""}, now, reason);
  }
  e.waiting.clear();
  touch(e.job.name);
}

std::string SchedulerCore::unique_run_id(const Entry& e, TimePoint t) const {
  // Manual and dependency runs are named after the time they were asked for; that name must
  // not be one a run already has, nor one the schedule will give.
  for (;; t += Millis{1}) {
    std::string id = run_id_at(e.job.name, t);
    auto same = [&](const auto& item) { return item.spec.run_id == id; };
    auto same_record = [&](const RunRecord& record) { return record.run_id == id; };
    bool taken = std::any_of(e.active.begin(), e.active.end(), same) ||
                 std::any_of(e.retries.begin(), e.retries.end(), same) ||
                 std::find(e.waiting.begin(), e.waiting.end(), t) != e.waiting.end() ||
                 std::any_of(e.history.records().begin(), e.history.records().end(), same_record) ||
                 (e.schedule && e.schedule->next_after(t - Millis{1}) == t);
    if (!taken) return id;
  }
}

void SchedulerCore::fire_dependents(const std::string& parent, TimePoint now,
                                    std::vector<Action>& actions) {
  // Every child's round changes, fired or not.
  for (const std::string& child : graph_.children_of(parent)) touch(child);
  for (const std::string& child_name : graph_.record_completion(parent)) {
    Entry* child = entry(child_name);
    if (child == nullptr) continue;
    RunSpec spec{unique_run_id(*child, now), 0, RunTrigger::parent, now, ""};
    if (child->job.disabled) {
      record_skip(*child, spec, now, "job is disabled");
      continue;
    }
    start_run(*child, std::move(spec), now, actions);
  }
}

void SchedulerCore::kill_active(Entry& e, const std::string& reason, std::vector<Action>& actions) {
  for (ActiveRun& run : e.active) {
    if (run.kill_requested) continue;
    run.kill_requested = true;
    run.kill_reason = reason;
    actions.push_back(KillRun{e.job.name, run.spec.run_id, run.spec.attempt,
                              task_id(run.spec.run_id, run.spec.attempt), reason});
  }
  touch(e.job.name);
}

void SchedulerCore::remove_retry_index(const Entry& e) {
  for (const PendingRetry& retry : e.retries) {
    std::string task = task_id(retry.spec.run_id, retry.spec.attempt);
    retry_due_.erase({retry.due, task});
    task_to_job_.erase(task);
  }
}

void SchedulerCore::cancel_retries(Entry& e, const std::string& reason, TimePoint now) {
  if (e.retries.empty()) return;
  remove_retry_index(e);
  for (const PendingRetry& retry : e.retries) {
    record_skip(e, retry.spec, now, reason);
  }
  e.retries.clear();
  touch(e.job.name);
}

// ---- Requests.

Result<std::vector<Action>> SchedulerCore::run_now(const std::string& name,
                                                   std::string_view arguments, TimePoint now) {
  Entry* e = entry(name);
  if (e == nullptr) return make_error("job '" + name + "' not found");
  if (arguments.size() > kMaxArgumentsLength) {
    return make_error("arguments are longer than " + std::to_string(kMaxArgumentsLength));
  }
  std::string args;
  for (char c : arguments) {
    if (c != ';') args.push_back(c);
  }
  // Chronos: blank arguments are no arguments.
  if (std::all_of(args.begin(), args.end(),
                  [](char c) { return std::isspace(static_cast<unsigned char>(c)); })) {
    args.clear();
  }
  std::vector<Action> actions;
  start_run(*e, RunSpec{unique_run_id(*e, now), 0, RunTrigger::manual, now, std::move(args)}, now,
            actions);
  return actions;
}

Result<std::vector<Action>> SchedulerCore::mark_success(const std::string& name, TimePoint now) {
  Entry* e = entry(name);
  if (e == nullptr) return make_error("job '" + name + "' not found");
  e->job.success_count += 1;
  e->job.errors_since_last_success = 0;
  e->job.last_success = now;
  graph_.reset_round(name);
  touch(name);
  std::vector<Action> actions;
  fire_dependents(name, now, actions);
  return actions;
}

Result<std::vector<Action>> SchedulerCore::kill_runs(const std::string& name, TimePoint now) {
  Entry* e = entry(name);
  if (e == nullptr) return make_error("job '" + name + "' not found");
  std::vector<Action> actions;
  kill_active(*e, "killed on request", actions);
  cancel_retries(*e, "retry cancelled by a kill request", now);
  cancel_waiting(*e, "catch-up run cancelled by a kill request", now);
  return actions;
}

// ---- Cluster events.

std::optional<SchedulerCore::ActiveRef> SchedulerCore::find_active(const std::string& task) {
  auto owner = task_to_job_.find(task);
  auto parsed = parse_task_id(task);
  Entry* e = owner == task_to_job_.end() ? nullptr : entry(owner->second);
  if (e == nullptr || !parsed) return std::nullopt;
  auto run = std::find_if(e->active.begin(), e->active.end(), [&](const ActiveRun& r) {
    return r.spec.run_id == parsed->first && r.spec.attempt == parsed->second;
  });
  if (run == e->active.end()) return std::nullopt;
  return ActiveRef{e, run};
}

Status SchedulerCore::run_started(const std::string& task, const std::string& agent,
                                  TimePoint now) {
  auto found = find_active(task);
  if (!found) return make_error("task '" + task + "' is not an active run");
  Entry* e = found->entry;
  auto run = found->run;
  if (run->started) return {};
  run->started = now;
  run->agent = agent.substr(0, kMaxAgentLength);
  if (RunRecord* record = e->history.find(run->spec.run_id, run->spec.attempt)) {
    record->status = RunStatus::running;
    record->started = now;
    record->agent = run->agent;
  }
  // That a run started is learned again from the cluster by reconciliation after a failover,
  // so it need not be stored before the update is acknowledged (take_dirty's `started`).
  started_dirty_.insert(e->job.name);
  touch_history(e->job.name);
  return {};
}

Status SchedulerCore::attach_output(const std::string& task, std::string_view output) {
  auto parsed = parse_task_id(task);
  if (!parsed) return make_error("'" + task + "' is not a task id");
  const auto& [run_id, attempt] = *parsed;
  // A run id is JOB@TIME, and a job's name has no '@'.
  Entry* e = entry(run_id.substr(0, run_id.find('@')));
  RunRecord* record = e == nullptr ? nullptr : e->history.find(run_id, attempt);
  if (record == nullptr) return make_error("task '" + task + "' has no run record");
  record->output_tail = output_tail(output, config_.output_tail_limit);
  touch_history(e->job.name);
  return {};
}

Result<std::vector<Action>> SchedulerCore::run_finished(const std::string& task, RunOutcome outcome,
                                                        std::optional<int> exit_status,
                                                        std::string_view message,
                                                        std::string_view output, TimePoint now) {
  auto found = find_active(task);
  if (!found) return make_error("task '" + task + "' is not an active run");
  Entry* e = found->entry;
  ActiveRun run = std::move(*found->run);
  e->active.erase(found->run);
  task_to_job_.erase(task);
  Job& job = e->job;
  const std::string name = job.name;
  touch(name);
  touch_history(name);

  RunRecord* record = e->history.find(run.spec.run_id, run.spec.attempt);
  if (record == nullptr) {
    // Dropped by the retention limit while it ran: keep its end at least.
    RunRecord fresh = record_of(run.spec, now, RunStatus::running);
    fresh.started = run.started;
    fresh.agent = run.agent;
    record = &e->history.add(std::move(fresh));
  }
  record->ended = now;
  record->exit_status = exit_status;
  std::string note = unsupported_note(job);
  record->message = note.empty() ? std::string(message.substr(0, kMaxMessageLength))
                                 : note + (message.empty() ? "" : "; ") +
                                       std::string(message.substr(0, kMaxMessageLength));
  record->output_tail = output_tail(output, config_.output_tail_limit);

  std::vector<Action> actions;
  // Whatever the outcome, the next catch-up run waiting its turn may start.
  auto next_waiting = [&] {
    start_waiting(*e, now, actions);
    return actions;
  };
  if (run.kill_requested || outcome == RunOutcome::killed) {
    // Killed on purpose (or outside the scheduler): Chronos counts nothing for it.
    record->status = RunStatus::killed;
    if (run.kill_requested) record->message = run.kill_reason;
    return next_waiting();
  }
  if (outcome == RunOutcome::succeeded) {
    record->status = RunStatus::succeeded;
    if (run.started) e->times.add(now - *run.started);
    job.success_count += 1;
    job.errors_since_last_success = 0;
    job.last_success = now;
    fire_dependents(name, now, actions);
    return next_waiting();
  }

  record->status = RunStatus::failed;
  const bool attempts_left = run.spec.attempt < job.retries;
  // Chronos retries only a job whose previous run did not fail for good.
  const bool failing = job.last_error && (!job.last_success || *job.last_success < *job.last_error);
  if (attempts_left && !failing) {
    PendingRetry retry{run.spec, now + config_.failure_retry_delay};
    retry.spec.attempt += 1;
    std::string retry_task = task_id(retry.spec.run_id, retry.spec.attempt);
    retry_due_.emplace(retry.due, retry_task);
    task_to_job_[retry_task] = name;
    e->retries.push_back(std::move(retry));
    return next_waiting();
  }
  job.error_count += 1;
  job.errors_since_last_success += 1;
  job.last_error = now;
  if (config_.disable_after_failures > 0 &&
      job.errors_since_last_success >= config_.disable_after_failures) {
    job.disabled = true;
    unqueue(*e);
    record->message += (record->message.empty() ? "" : "; ") + std::string("job disabled after ") +
                       std::to_string(job.errors_since_last_success) + " failures in a row";
    cancel_waiting(*e,
                   "job disabled after " + std::to_string(job.errors_since_last_success) +
                       " failures in a row",
                   now);
  }
  if (job.soft_error) fire_dependents(name, now, actions);
  return next_waiting();
}

// ---- Views.

std::string SchedulerCore::current_state(const std::string& name) const {
  const Entry* e = entry(name);
  if (e == nullptr) return "idle";
  size_t running = std::count_if(e->active.begin(), e->active.end(),
                                 [](const ActiveRun& run) { return run.started.has_value(); });
  if (running > 0) return std::to_string(running) + " running";
  if (!e->active.empty() || !e->retries.empty() || !e->waiting.empty()) return "queued";
  return "idle";
}

std::string SchedulerCore::graph_csv() const {
  return graph_.to_csv([this](const std::string& name) {
    const Entry* e = entry(name);
    std::string_view last = e == nullptr ? std::string_view("fresh") : last_state(e->job);
    return std::make_pair(last, current_state(name));
  });
}

std::string SchedulerCore::graph_dot() const { return graph_.to_dot(); }

json::object SchedulerCore::summary_json() const {
  json::array jobs;
  jobs.reserve(entries_.size());
  for (const auto& [name, e] : entries_) {
    json::object summary;
    summary["name"] = name;
    summary["status"] = last_state(e.job);
    summary["state"] = current_state(name);
    summary["schedule"] = e.job.is_dependent() ? "" : e.job.schedule;
    summary["parents"] = string_array(e.job.parents);
    summary["disabled"] = e.job.disabled;
    jobs.push_back(std::move(summary));
  }
  json::object out;
  out["jobs"] = std::move(jobs);
  return out;
}

Result<json::object> SchedulerCore::stat_json(const std::string& name) const {
  const Entry* e = entry(name);
  if (e == nullptr) return make_error("job '" + name + "' not found");
  return job_stat_json(name, e->times, e->history);
}

Result<json::array> SchedulerCore::runs_json(const std::string& name) const {
  const Entry* e = entry(name);
  if (e == nullptr) return make_error("job '" + name + "' not found");
  return e->history.to_json();
}

const RunHistory* SchedulerCore::history(const std::string& name) const {
  const Entry* e = entry(name);
  return e == nullptr ? nullptr : &e->history;
}

std::optional<TimePoint> SchedulerCore::next_due(const std::string& name) const {
  const Entry* e = entry(name);
  return e == nullptr ? std::nullopt : e->next_due;
}

// ---- Persistence.

std::string SchedulerCore::unsupported_note(const Job& job) {
  // Chronos fetches these into the sandbox before the command runs; Tessera's agents have no
  // fetcher, so every run says that the command runs without them.
  if (job.uris.empty() && job.fetch.empty()) return "";
  return std::string(job.uris.empty() ? "'fetch'" : "'uris'") +
         " not fetched: unsupported on this cluster (the command runs without them)";
}

RunRecord SchedulerCore::record_of(const RunSpec& spec, TimePoint queued, RunStatus status) {
  RunRecord record;
  record.run_id = spec.run_id;
  record.trigger = spec.trigger;
  record.attempt = spec.attempt;
  record.scheduled = spec.scheduled;
  record.queued = queued;
  record.status = status;
  return record;
}

json::object& SchedulerCore::write_spec(json::array& into, const RunSpec& spec) {
  json::object& item = into.emplace_back(nullptr).emplace_object();
  item["runId"] = spec.run_id;
  item["attempt"] = spec.attempt;
  item["trigger"] = to_string(spec.trigger);
  item["scheduled"] = format_time(spec.scheduled);
  item["arguments"] = spec.arguments;
  return item;
}

void SchedulerCore::read_spec(FieldReader& in, RunSpec& spec) {
  spec.run_id = in.text("runId");
  if (spec.run_id.empty()) in.fail("'runId' is missing");
  spec.attempt = static_cast<int>(in.integer("attempt", 0, 1'000'000));
  auto trigger = run_trigger_from(in.text("trigger"));
  if (!trigger) in.fail("unknown 'trigger'");
  spec.trigger = trigger.value_or(RunTrigger::schedule);
  auto scheduled = in.time("scheduled");
  if (!scheduled) in.fail("'scheduled' is missing");
  spec.scheduled = scheduled.value_or(TimePoint{});
  spec.arguments = in.text("arguments", "", kMaxArgumentsLength);
}

json::object SchedulerCore::save_state(const Entry& e) const {
  json::object state;
  state["created"] = format_time(e.created);
  state["consumedUntil"] = optional_time(e.consumed_until);
  json::array& active = state["active"].emplace_array();
  for (const ActiveRun& run : e.active) {
    json::object& item = write_spec(active, run.spec);
    item["started"] = optional_time(run.started);
    item["agent"] = run.agent;
    item["killRequested"] = run.kill_requested;
    item["killReason"] = run.kill_reason;
  }
  json::array& retries = state["retries"].emplace_array();
  for (const PendingRetry& retry : e.retries) {
    json::object& item = write_spec(retries, retry.spec);
    item["due"] = format_time(retry.due);
  }
  json::array& waiting = state["waiting"].emplace_array();
  for (TimePoint t : e.waiting) waiting.push_back(json::string(format_time(t)));
  state["round"] = string_array(graph_.round_progress(e.job.name));
  return state;
}

json::object SchedulerCore::save_job(const std::string& name) const {
  const Entry* e = entry(name);
  if (e == nullptr) return {};
  json::object out;
  out["job"] = job_to_json(e->job);
  out["version"] = e->version;
  out["state"] = save_state(*e);
  return out;
}

json::object SchedulerCore::save_job_state(const std::string& name) const {
  const Entry* e = entry(name);
  if (e == nullptr) return {};
  json::object out;
  out["version"] = e->version;
  out["state"] = save_state(*e);
  json::object& stats = out["stats"].emplace_object();
  stats["successCount"] = e->job.success_count;
  stats["errorCount"] = e->job.error_count;
  stats["errorsSinceLastSuccess"] = e->job.errors_since_last_success;
  stats["lastSuccess"] = optional_time(e->job.last_success);
  stats["lastError"] = optional_time(e->job.last_error);
  stats["disabled"] = e->job.disabled;
  return out;
}

Status SchedulerCore::load_stats(Job& job, const json::value& value) {
  if (!value.is_object()) return make_error("'stats' must be an object");
  FieldReader in(value.get_object(), "stats");
  job.success_count = in.integer("successCount", job.success_count, INT64_MAX);
  job.error_count = in.integer("errorCount", job.error_count, INT64_MAX);
  job.errors_since_last_success =
      in.integer("errorsSinceLastSuccess", job.errors_since_last_success, INT64_MAX);
  job.last_success = in.time("lastSuccess");
  job.last_error = in.time("lastError");
  job.disabled = in.boolean("disabled", job.disabled);
  if (in.error()) return *in.error();
  return {};
}

json::object SchedulerCore::save_history(const std::string& name) const {
  const Entry* e = entry(name);
  if (e == nullptr) return {};
  json::object out;
  json::array& history = out["history"].emplace_array();
  for (const RunRecord& record : e->history.records()) history.push_back(to_json(record));
  json::array& times = out["runTimes"].emplace_array();
  for (std::int64_t value : e->times.values()) times.push_back(value);
  return out;
}

SchedulerCore::Dirty SchedulerCore::take_dirty() {
  Dirty out;
  for (const std::string& name : dirty_) {
    if (entries_.count(name) != 0) out.changed.push_back(name);
  }
  for (const std::string& name : defined_) {
    if (entries_.count(name) != 0) out.defined.push_back(name);
  }
  for (const std::string& name : history_dirty_) {
    if (entries_.count(name) != 0) out.history_changed.push_back(name);
  }
  for (const std::string& name : started_dirty_) {
    if (entries_.count(name) != 0 && dirty_.count(name) == 0) out.started.push_back(name);
  }
  out.removed.assign(removed_.begin(), removed_.end());
  started_dirty_.clear();
  dirty_.clear();
  defined_.clear();
  history_dirty_.clear();
  removed_.clear();
  return out;
}

Status SchedulerCore::restore_history(const std::string& name, const json::value& value) {
  Entry* e = entry(name);
  if (e == nullptr) return make_error("job '" + name + "' not found");
  if (!value.is_object()) return make_error("job '" + name + "': history must be an object");
  FieldReader in(value.get_object(), "job '" + name + "': history");
  RunHistory history(config_.history_limit);
  RunTimes times(config_.run_time_window);
  in.array("history", [&](const json::value& item) {
    auto record = run_record_from_json(item);
    if (!record) {
      in.fail(record.error().message);
      return;
    }
    history.add(std::move(*record));
  });
  in.array("runTimes", [&](const json::value& item) {
    if (!item.is_int64() || item.get_int64() < 0) {
      in.fail("'runTimes' must hold whole numbers");
      return;
    }
    times.add(Millis{item.get_int64()});
  });
  if (in.error()) return *in.error();
  // What happened since the history was saved (runs launched or ended after it) stays.
  for (const RunRecord& record : e->history.records()) {
    if (RunRecord* kept = history.find(record.run_id, record.attempt)) {
      *kept = record;
    } else {
      history.add(record);
    }
  }
  // The history is written after the job's state (and at most once a second): a run that the
  // saved history shows queued or running but that the state no longer holds ended before the
  // scheduler stopped, and its end did not reach the history. Shown as such, not as waiting
  // forever; the job's counters include it.
  std::vector<std::pair<std::string, int>> ended_unrecorded;
  for (const RunRecord& record : history.records()) {
    if (record.status != RunStatus::queued && record.status != RunStatus::running) continue;
    auto same = [&](const RunSpec& spec) {
      return spec.run_id == record.run_id && spec.attempt == record.attempt;
    };
    bool held = std::any_of(e->active.begin(), e->active.end(),
                            [&](const ActiveRun& run) { return same(run.spec); }) ||
                std::any_of(e->retries.begin(), e->retries.end(),
                            [&](const PendingRetry& retry) { return same(retry.spec); });
    if (!held) ended_unrecorded.emplace_back(record.run_id, record.attempt);
  }
  for (const auto& [run_id, attempt] : ended_unrecorded) {
    RunRecord* record = history.find(run_id, attempt);
    record->status = RunStatus::unknown;
    record->message =
        "ended while the scheduler stopped; its end was not recorded here (the job's counts "
        "include it)";
  }
  e->history = std::move(history);
  e->times = std::move(times);
  return {};
}

Status SchedulerCore::load_state(Entry& e, const json::value& value) {
  if (!value.is_object()) return make_error("'state' must be an object");
  FieldReader in(value.get_object(), "state");
  auto created = in.time("created");
  if (!created) in.fail("'created' is missing");
  e.created = created.value_or(TimePoint{});
  e.consumed_until = in.time("consumedUntil");
  in.array("active", [&](const json::value& item) {
    in.object(item, "an active run", [&](FieldReader& r) {
      ActiveRun run;
      read_spec(r, run.spec);
      run.started = r.time("started");
      run.agent = r.text("agent", "", kMaxAgentLength);
      run.kill_requested = r.boolean("killRequested", false);
      run.kill_reason = r.text("killReason");
      e.active.push_back(std::move(run));
    });
  });
  in.array("retries", [&](const json::value& item) {
    in.object(item, "a retry", [&](FieldReader& r) {
      PendingRetry retry;
      read_spec(r, retry.spec);
      auto due = r.time("due");
      if (!due) r.fail("'due' is missing");
      retry.due = due.value_or(TimePoint{});
      e.retries.push_back(std::move(retry));
    });
  });
  // Saved since catch-up runs wait their turn; absent from older states.
  in.array("waiting", [&](const json::value& item) {
    const json::string* text = item.if_string();
    Result<TimePoint> t =
        text == nullptr ? Result<TimePoint>(make_error("not a string")) : parse_time(*text);
    if (!t) {
      in.fail("'waiting' must hold date-times");
      return;
    }
    // Oldest first and each once, whatever the store holds: a time twice would run twice.
    if (e.waiting.empty() || *t > e.waiting.back()) e.waiting.push_back(*t);
  });
  if (in.error()) return *in.error();
  return {};
}

SchedulerCore::RestoreReport SchedulerCore::restore(
    const std::vector<json::value>& saved, TimePoint now,
    const std::map<std::string, json::value>& saved_states) {
  entries_.clear();
  graph_ = JobGraph();
  due_.clear();
  retry_due_.clear();
  task_to_job_.clear();
  dirty_.clear();
  defined_.clear();
  started_dirty_.clear();
  history_dirty_.clear();
  removed_.clear();

  RestoreReport report;
  struct Loaded {
    Entry entry;
    std::vector<std::string> round;
    bool placed = false;
  };
  std::map<std::string, Loaded> loaded;
  // Every version restored, also of states whose job is gone: a definition made from now on
  // has a newer one than any state left in the store.
  std::uint64_t newest_version = 0;
  for (const auto& [name, value] : saved_states) {
    const json::object* object = value.if_object();
    if (auto version = object == nullptr ? std::nullopt : saved_version(*object))
      newest_version = std::max(newest_version, *version);
  }
  for (const json::value& value : saved) {
    const json::object* object = value.if_object();
    const json::value* job_json = object == nullptr ? nullptr : object->if_contains("job");
    const json::value* state = object == nullptr ? nullptr : object->if_contains("state");
    if (job_json == nullptr || state == nullptr) {
      report.dropped.push_back("a saved job lacks 'job' or 'state'");
      continue;
    }
    std::optional<std::uint64_t> version = saved_version(*object);
    if (!version) {
      report.dropped.push_back("a saved job's 'version' is not a whole number");
      continue;
    }
    newest_version = std::max(newest_version, *version);
    auto job = parse_job(*job_json, JobForm::any, config_.job_defaults, now);
    if (!job) {
      report.dropped.push_back(job.error().message);
      continue;
    }
    std::string name = job->name;
    if (loaded.count(name) != 0) {
      report.dropped.push_back("job '" + name + "': saved twice");
      continue;
    }
    // The state saved on its own, when it is not older than the definition (save_job_state).
    const json::value* stats = nullptr;
    if (auto own = saved_states.find(name); own != saved_states.end()) {
      const json::object* own_object = own->second.if_object();
      std::optional<std::uint64_t> own_version =
          own_object == nullptr ? std::nullopt : saved_version(*own_object);
      const json::value* own_state =
          own_object == nullptr ? nullptr : own_object->if_contains("state");
      stats = own_object == nullptr ? nullptr : own_object->if_contains("stats");
      if (!own_version || own_state == nullptr || stats == nullptr) {
        report.dropped.push_back("job '" + name +
                                 "': its saved state lacks 'version', 'state' or 'stats'");
        continue;
      }
      if (*own_version >= *version) {
        state = own_state;
      } else {
        stats = nullptr;
      }
    }
    if (stats != nullptr) {
      if (Status stats_ok = load_stats(*job, *stats); !stats_ok) {
        report.dropped.push_back("job '" + name + "': " + stats_ok.error().message);
        continue;
      }
    }
    Loaded item;
    item.entry.version = *version;
    item.entry.history.set_limit(config_.history_limit);
    item.entry.times.set_window(config_.run_time_window);
    Status state_ok = load_state(item.entry, *state);
    if (!state_ok) {
      report.dropped.push_back("job '" + name + "': " + state_ok.error().message);
      continue;
    }
    if (!job->is_dependent()) {
      auto schedule = Schedule::parse(job->schedule, job->schedule_time_zone, item.entry.created);
      if (!schedule) {
        report.dropped.push_back("job '" + name + "': " + schedule.error().message);
        continue;
      }
      item.entry.schedule = *schedule;
    }
    if (const json::value* round = state->as_object().if_contains("round");
        round != nullptr && round->is_array()) {
      for (const json::value& parent : round->get_array()) {
        if (parent.is_string()) item.round.emplace_back(parent.get_string());
      }
    }
    item.entry.job = std::move(*job);
    loaded.emplace(name, std::move(item));
  }

  // Scheduled jobs first, then each dependent job once all its parents are in, as Chronos
  // registers them; what never gets in has a missing parent or is part of a cycle.
  bool progress = true;
  while (progress) {
    progress = false;
    for (auto& [name, item] : loaded) {
      if (item.placed) continue;
      const std::vector<std::string>& parents = item.entry.job.parents;
      if (!std::all_of(parents.begin(), parents.end(),
                       [&](const std::string& p) { return graph_.contains(p); })) {
        continue;
      }
      graph_.set(name, parents);
      item.placed = true;
      progress = true;
    }
  }
  for (auto& [name, item] : loaded) {
    if (!item.placed) {
      std::string reason;
      for (const std::string& parent : item.entry.job.parents) {
        if (graph_.contains(parent)) continue;
        reason =
            loaded.count(parent) == 0
                ? "parent '" + parent + "' does not exist"
                : "parent '" + parent + "' could not be restored (a missing ancestor or a cycle)";
        break;
      }
      report.dropped.push_back("job '" + name + "': " + reason);
      continue;
    }
    Entry& e = entries_.emplace(name, std::move(item.entry)).first->second;
    e.name_lower = lower(e.job.name);
    e.command_lower = lower(e.job.command);
    graph_.restore_round(name, item.round);
    for (const ActiveRun& run : e.active)
      task_to_job_[task_id(run.spec.run_id, run.spec.attempt)] = name;
    for (const PendingRetry& retry : e.retries) {
      std::string task = task_id(retry.spec.run_id, retry.spec.attempt);
      task_to_job_[task] = name;
      retry_due_.emplace(retry.due, task);
    }
    requeue(e);
    ++report.restored;
  }
  next_version_ = newest_version + 1;
  resume(now);
  return report;
}

SchedulerCore::ActiveTask SchedulerCore::active_task_of(const std::string& job,
                                                        const ActiveRun& run) {
  LaunchRun launch{job,
                   run.spec.run_id,
                   run.spec.attempt,
                   task_id(run.spec.run_id, run.spec.attempt),
                   run.spec.trigger,
                   run.spec.scheduled,
                   run.spec.arguments};
  return ActiveTask{std::move(launch), run.agent, run.started.has_value()};
}

std::vector<SchedulerCore::ActiveTask> SchedulerCore::active_tasks() const {
  std::vector<ActiveTask> out;
  for (const auto& [name, e] : entries_) {
    for (const ActiveRun& run : e.active) out.push_back(active_task_of(name, run));
  }
  return out;
}

std::optional<SchedulerCore::ActiveTask> SchedulerCore::active_task(
    const std::string& task_id) const {
  auto owner = task_to_job_.find(task_id);
  auto parsed = parse_task_id(task_id);
  const Entry* e = owner == task_to_job_.end() ? nullptr : entry(owner->second);
  if (e == nullptr || !parsed) return std::nullopt;
  for (const ActiveRun& run : e->active) {
    if (run.spec.run_id == parsed->first && run.spec.attempt == parsed->second) {
      return active_task_of(owner->second, run);
    }
  }
  return std::nullopt;
}

}  // namespace tessera::chronos

// bench_chronos_core: the Chronos scheduler core (plugins/framework_chronos) at 10,000 jobs, the
// sizes at which Chronos's UI and API became unusable. The logic library only: no HTTP, no store,
// no cluster; what the plugin will add on top is measured by its own end-to-end bench.
//
//   DueRuns/iso, DueRuns/cron   10,000 jobs due at the same second: one tick() that decides
//       all 10,000 launches (ISO 8601 "R/T0/PT1H", or "cron:0 14 * * *" in Europe/Berlin).
//       The core is rebuilt for every iteration, untimed (manual time).
//   DueRunsRound/iso   the same tick, then run_started and run_finished (success) for every
//       run: all the core's work for one round of 10,000 runs.
//   GraphCsv, GraphDot   GET /graph/csv and /graph/dot over 10,000 jobs: 5,000 scheduled, 5,000
//       dependent on one or two earlier jobs.
//   Search/scan   GET /jobs/search?any=... matching nothing (every job looked at).
//   Search/page   GET /jobs/search?name=job-1&limit=10&offset=500.
//   JobsJson   GET /jobs: every job as Chronos's JSON (built in one monotonic buffer), written
//       as text.
//   SaveAll   save_job() of every job, written as text: what the store gets after a tick
//       in which every job ran (each with one run in flight).
//
// Run: BUILD/bench/bench_chronos_core [--benchmark_filter=...]
#include <benchmark/benchmark.h>

#include <time.h>

#include <chrono>
#include <string>
#include <vector>

#include "json_fields.h"
#include "scheduler_core.h"

namespace {

using namespace tessera::chronos;
namespace json = boost::json;

constexpr int kJobs = 10'000;
const TimePoint T0 = *parse_time("2024-05-01T12:00:00Z");

Job scheduled_job(int i, const std::string& schedule, const std::string& zone = "") {
  Job job;
  job.name = "job-" + std::to_string(i);
  job.command = "echo job " + std::to_string(i) + " && sleep 1";
  job.schedule = schedule;
  job.schedule_time_zone = zone;
  job.owner = "ops@example.com";
  return job;
}

// 10,000 scheduled jobs, all due at T0.
SchedulerCore due_at_t0(bool cron) {
  SchedulerCore core;
  for (int i = 0; i < kJobs; ++i) {
    Job job = cron ? scheduled_job(i, "cron:0 14 * * *", "Europe/Berlin")
                   : scheduled_job(i, "R/" + format_time(T0) + "/PT1H");
    // Cron jobs run from when they are set: set them before 14:00 in Berlin (12:00 UTC).
    if (!core.put_job(std::move(job), T0 - std::chrono::hours{3}).ok()) std::abort();
  }
  return core;
}

// 5,000 scheduled jobs and 5,000 dependent jobs with one or two earlier parents.
const SchedulerCore& graph_of_10k() {
  static SchedulerCore core = [] {
    SchedulerCore built;
    for (int i = 0; i < kJobs; ++i) {
      Job job = scheduled_job(i, "R/" + format_time(T0) + "/PT1H");
      if (i >= kJobs / 2) {
        job.schedule.clear();
        job.parents.push_back("job-" + std::to_string(i / 2));
        if (i % 3 == 0) job.parents.push_back("job-" + std::to_string(i / 3));
      }
      if (!built.put_job(std::move(job), T0).ok()) std::abort();
    }
    return built;
  }();
  return core;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// This thread's CPU time in seconds: on a loaded machine the wall time of the timed part also
// counts the time other processes held the CPU.
double thread_cpu_seconds() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) * 1e-9;
}

// Times one tick() at T0 over 10,000 fresh due jobs, and with `whole_round` also every run's
// start and successful end; the core is rebuilt untimed for each iteration.
void time_due_runs(benchmark::State& state, bool cron, bool whole_round) {
  size_t launched = 0;
  double cpu = 0;
  for (auto _ : state) {
    SchedulerCore core = due_at_t0(cron);
    auto start = std::chrono::steady_clock::now();
    double cpu_start = thread_cpu_seconds();
    std::vector<Action> actions = core.tick(T0);
    for (const Action& action : actions) {
      if (!whole_round) break;
      const auto& launch = std::get<LaunchRun>(action);
      (void)core.run_started(launch.task_id, "agent-1", T0 + Millis{100});
      (void)core.run_finished(launch.task_id, RunOutcome::succeeded, 0, "", "ok\n",
                              T0 + Millis{1100});
    }
    cpu += thread_cpu_seconds() - cpu_start;
    state.SetIterationTime(seconds_since(start));
    launched = actions.size();
    benchmark::DoNotOptimize(actions);
  }
  state.counters["runs"] = static_cast<double>(launched);
  state.counters["cpu_ms"] = cpu * 1000 / static_cast<double>(state.iterations());
}

void DueRuns(benchmark::State& state) {
  const bool cron = state.range(0) == 1;
  time_due_runs(state, cron, false);
  state.SetLabel(cron ? "cron" : "iso");
}
BENCHMARK(DueRuns)->Arg(0)->Arg(1)->UseManualTime()->Iterations(10)->Unit(benchmark::kMillisecond);

void DueRunsRound(benchmark::State& state) { time_due_runs(state, false, true); }
BENCHMARK(DueRunsRound)->UseManualTime()->Iterations(10)->Unit(benchmark::kMillisecond);

void GraphCsv(benchmark::State& state) {
  const SchedulerCore& core = graph_of_10k();
  size_t bytes = 0;
  for (auto _ : state) {
    std::string csv = core.graph_csv();
    bytes = csv.size();
    benchmark::DoNotOptimize(csv);
  }
  state.counters["bytes"] = static_cast<double>(bytes);
}
BENCHMARK(GraphCsv)->Unit(benchmark::kMillisecond);

void GraphDot(benchmark::State& state) {
  const SchedulerCore& core = graph_of_10k();
  for (auto _ : state) {
    std::string dot = core.graph_dot();
    benchmark::DoNotOptimize(dot);
  }
}
BENCHMARK(GraphDot)->Unit(benchmark::kMillisecond);

void Search(benchmark::State& state) {
  const SchedulerCore& core = graph_of_10k();
  SchedulerCore::SearchQuery query;
  if (state.range(0) == 0) {
    query.any = "no-such-job";
    state.SetLabel("scan");
  } else {
    query.name = "job-1";
    query.limit = 10;
    query.offset = 500;
    state.SetLabel("page");
  }
  size_t found = 0;
  for (auto _ : state) {
    // The answer as the API writes it, in one monotonic buffer.
    json::monotonic_resource memory;
    json::array jobs(&memory);
    for (const Job* job : core.search(query)) jobs.push_back(job_to_json(*job, true, &memory));
    std::string text = to_json_text(jobs);
    found = jobs.size();
    benchmark::DoNotOptimize(text);
  }
  state.counters["found"] = static_cast<double>(found);
}
BENCHMARK(Search)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

void JobsJson(benchmark::State& state) {
  const SchedulerCore& core = graph_of_10k();
  size_t bytes = 0;
  for (auto _ : state) {
    json::monotonic_resource memory;
    json::array jobs(&memory);
    jobs.reserve(core.job_count());
    for (const Job* job : core.jobs()) jobs.push_back(job_to_json(*job, true, &memory));
    std::string text = to_json_text(jobs);
    bytes = text.size();
    benchmark::DoNotOptimize(text);
  }
  state.counters["bytes"] = static_cast<double>(bytes);
}
BENCHMARK(JobsJson)->Unit(benchmark::kMillisecond);

void SaveAll(benchmark::State& state) {
  SchedulerCore core = due_at_t0(false);
  core.tick(T0);
  size_t bytes = 0;
  for (auto _ : state) {
    bytes = 0;
    for (const Job* job : core.jobs()) bytes += json::serialize(core.save_job(job->name)).size();
  }
  state.counters["bytes"] = static_cast<double>(bytes);
}
BENCHMARK(SaveAll)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();

// bench_chronos: the Chronos framework plugin on a real cluster on this machine, at N jobs due
// at the same second.
//
// A master host running framework_chronos and one agent (isolator_posix, resources for every
// run at once) run as separate tessera-host processes on loopback in a temporary directory
// (their logs at the default level: the cluster's readiness is read from them). With
// --emulated-agents N the agents are instead N agents of one tessera-agent-emulator process
// (tools/agent_emulator: real peers of the agent protocol whose tasks are timers, so that the
// scheduler's and the master's path is measured without the cost of starting 10,000 processes
// on two cores). This program posts N scheduled jobs (`true`, or `sleep 0` on emulated agents;
// R1 at one instant T a few seconds after the last post) over one keep-alive connection, waits
// until every job has one success, and then reads each job's run record. It reports:
//   posting           N POST /v1/scheduler/iso8601 from 8 clients at once, each answered once
//                     stored: total and per job
//   all ran           from T to the last run's end (as the plugin recorded it)
//   scheduling delay  per run, from its due time T to TASK_RUNNING (the record's `started`):
//                     p50 / p99 / max
//   REST at N jobs    GET jobs, jobs/summary, jobs/search (one page; every job scanned),
//                     graph/csv, graph/dot: the first answer after the last change, the
//                     median of the next 5, and the answer's size
//
// Usage: bench_chronos [--jobs N] [--lead-ms N] [--emulated-agents N] [--rest-only] [--logs DIR].
// Default 1000 jobs, one real agent; keep
// runs under a minute on a shared machine. Every process started and the temporary directory are
// cleaned up (support/process.h).
#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "chronos_time.h"
#include "http/http_support.h"
#include "support/cluster.h"

namespace {

using Steady = std::chrono::steady_clock;
using tessera::chronos::format_time;
using tessera::chronos::parse_time;
using tessera::chronos::TimePoint;
using tessera::testing::http::RawClient;
namespace json = boost::json;

struct Options {
  int jobs = 1000;
  int lead_ms = 3000;
  std::string logs;         // a directory to copy the hosts' logs into
  bool rest_only = false;   // post never-due jobs and time only the REST answers
  int emulated_agents = 0;  // 0: one real agent (tessera-host, isolator_posix)
};

Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> int {
      if (i + 1 >= argc) {
        std::cerr << arg << " needs a value\n";
        std::exit(2);
      }
      return std::atoi(argv[++i]);
    };
    if (arg == "--jobs") {
      o.jobs = value();
    } else if (arg == "--lead-ms") {
      o.lead_ms = value();
    } else if (arg == "--emulated-agents") {
      o.emulated_agents = value();
    } else if (arg == "--rest-only") {
      o.rest_only = true;
    } else if (arg == "--logs" && i + 1 < argc) {
      o.logs = argv[++i];
    } else {
      std::cerr << "usage: bench_chronos [--jobs N] [--lead-ms N] [--emulated-agents N] "
                   "[--rest-only] [--logs DIR]\n";
      std::exit(2);
    }
  }
  if (o.jobs < 1 || o.jobs > 100000 || o.lead_ms < 100 || o.emulated_agents < 0 ||
      o.emulated_agents > 4000) {
    std::cerr << "--jobs takes 1 to 100000, --lead-ms at least 100, --emulated-agents 0 to 4000\n";
    std::exit(2);
  }
  return o;
}

double ms_since(Steady::time_point start) {
  return std::chrono::duration<double, std::milli>(Steady::now() - start).count();
}

// One request on the keep-alive connection; throws on anything but `expected`.
tessera::testing::http::Reply call(RawClient& client, const std::string& method,
                                   const std::string& target, const std::string& body = "",
                                   int expected = 200) {
  std::string request = method + " " + target + " HTTP/1.1\r\nHost: localhost\r\n";
  if (!body.empty()) {
    request +=
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  request += "\r\n" + body;
  if (!client.send(request)) throw std::runtime_error(method + " " + target + ": send failed");
  auto reply = client.read_reply();
  if (!reply || reply->status != expected) {
    throw std::runtime_error(
        method + " " + target + ": " +
        (reply ? std::to_string(reply->status) + " " + reply->body : std::string("no answer")));
  }
  return *reply;
}

double percentile(std::vector<double> values, double q) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  size_t index = static_cast<size_t>(q * static_cast<double>(values.size() - 1) + 0.5);
  return values[std::min(index, values.size() - 1)];
}

}  // namespace

// Copies the hosts' logs to `to` (when given) as it goes out of scope, so that a failed run
// leaves them too.
struct LogKeeper {
  const tessera::testing::TempDir& dir;
  std::string to;
  ~LogKeeper() {
    if (to.empty()) return;
    std::error_code ec;
    std::filesystem::create_directories(to, ec);
    for (const char* log : {"master.log", "agent0.log", "emulator.log"}) {
      std::filesystem::copy_file(dir / log, std::filesystem::path(to) / log,
                                 std::filesystem::copy_options::overwrite_existing, ec);
    }
  }
};

int run(const Options& options) {
  tessera::testing::TempDir dir;
  tessera::testing::Cluster cluster(dir);
  LogKeeper keeper{dir, options.logs};
  tessera::testing::MasterSettings master;
  // The master's defaults (2 s pings, 10 s timeout) rather than the tests' quick ones (200 ms, 1.5
  // s): on a loaded 2-core machine one emulator process answering for 100 agents during the burst
  // missed 1.5 s of pings, and agents marked unreachable lose their runs.
  master.agent_ping_interval_ms = 2000;
  master.agent_ping_timeout_ms = 10000;
  // Likewise the master's default framework heartbeat (5 s) rather than the tests' 300 ms: under
  // load the plugin went 0.9 s without a word from the master mid-burst, re-subscribed, the
  // accepts sent meanwhile were dropped and those runs waited for reconcile_grace_ms (10 s) to
  // be launched again (p99 12 to 18 s in such runs).
  master.heartbeat_interval_ms = 5000;
  master.extra =
      "frameworks = [\"framework_chronos\"]\n"
      "[plugins.framework_chronos]\n"
      "address = \"127.0.0.1:0\"\n"
      "task_cpus = 0.01\ntask_mem = 1\ntask_disk = 1\n";
  if (!cluster.start_master(master)) {
    std::cerr << "master did not start\n" << cluster.master().output();
    return 1;
  }
  int n = options.jobs;
  std::unique_ptr<tessera::testing::Process> emulator;
  if (options.emulated_agents == 0) {
    tessera::testing::AgentSettings agent;
    agent.resources = "cpus:" + std::to_string(n / 50 + 10) + ";mem:" + std::to_string(n + 1000) +
                      ";disk:" + std::to_string(n + 1000);
    if (!cluster.start_agent(0, agent)) {
      std::cerr << "agent did not start\n";
      return 1;
    }
  } else {
#ifdef TESSERA_AGENT_EMULATOR_BIN
    // Room on the agents for every run at once (0.01 cpus, 1 MB of mem and disk each).
    int agents = options.emulated_agents;
    int per_agent = n / agents + 10;
    std::string resources = "cpus:" + std::to_string(per_agent / 100 + 1) +
                            ";mem:" + std::to_string(per_agent) +
                            ";disk:" + std::to_string(per_agent);
    emulator = std::make_unique<tessera::testing::Process>(
        std::vector<std::string>{TESSERA_AGENT_EMULATOR_BIN, "--master", cluster.endpoint(),
                                 "--agents", std::to_string(agents), "--resources", resources,
                                 "--report-ms", "0"},
        dir / "emulator.log");
    if (!emulator->wait_for("emulator: all " + std::to_string(agents) + " agents registered",
                            std::chrono::seconds(60 + agents / 50))) {
      std::cerr << "the emulated agents did not register\n" << emulator->output();
      return 1;
    }
#else
    std::cerr << "this build has no tessera-agent-emulator\n";
    return 1;
#endif
  }
  std::regex line("framework_chronos\\.http = \"127\\.0\\.0\\.1:([0-9]+)\"");
  uint16_t port = 0;
  tessera::testing::eventually([&] {
    std::smatch m;
    std::string text = tessera::testing::read_file(dir / "master.endpoints");
    if (!std::regex_search(text, m, line)) return false;
    port = static_cast<uint16_t>(std::stoi(m[1]));
    return true;
  });
  tessera::testing::eventually([&] {
    RawClient probe(port);
    probe.send(tessera::testing::http::get_request("/v1/scheduler/jobs"));
    auto reply = probe.read_reply();
    return reply && reply->status == 200;
  });

  // Every job due at T, a moment after the last post is expected to be answered.
  constexpr int kPosters = 8;
  auto wall_now = [] {
    return std::chrono::time_point_cast<tessera::chronos::Millis>(std::chrono::system_clock::now());
  };
  TimePoint due =
      wall_now() + std::chrono::milliseconds(options.lead_ms) + std::chrono::milliseconds(n * 3);
  std::string start = format_time(due);
  // R0 is never due: the jobs only fill the REST API's answers.
  std::string repeat = options.rest_only ? "R0/" : "R1/";
  // An emulated agent ends a task `sleep N` after N seconds and runs any other until killed.
  std::string command = options.emulated_agents > 0 ? "sleep 0" : "true";
  // Several clients post at once, as several users would: each POST is answered once stored,
  // and the plugin stores what arrives together in one batch.
  auto posting = Steady::now();
  std::vector<std::thread> posters;
  std::atomic<bool> post_failed{false};
  for (int p = 0; p < kPosters; ++p) {
    posters.emplace_back([&, p] {
      try {
        RawClient poster(port, std::chrono::seconds(120));
        for (int i = p; i < n && !post_failed; i += kPosters) {
          call(poster, "POST", "/v1/scheduler/iso8601",
               R"({"name": "job-)" + std::to_string(i) + R"(", "command": ")" + command +
                   R"(", "schedule": ")" + repeat + start + R"(/PT1H"})",
               204);
        }
      } catch (const std::exception& e) {
        std::cerr << "bench_chronos: " << e.what() << "\n";
        post_failed = true;
      }
    });
  }
  for (auto& poster : posters) poster.join();
  if (post_failed) return 1;
  // Connected now: one left idle while the others posted would have been closed by the server.
  RawClient client(port, std::chrono::seconds(120));
  double posting_ms = ms_since(posting);
  if (!options.rest_only && wall_now() >= due) {
    std::cerr << "posting took longer than the lead time; raise --lead-ms\n";
    return 1;
  }

  // Until every job has succeeded once. Asked of /graph/csv (`node,NAME,success,...` per job
  // whose last run succeeded), the smallest answer that tells it: a poll of /jobs/summary
  // (1.3 MB at 10,000 jobs) every half second would take a share of the scheduler's thread
  // while the runs it measures start.
  for (; !options.rest_only;) {
    std::string graph = call(client, "GET", "/v1/scheduler/graph/csv").body;
    size_t done = 0;
    for (size_t at = graph.find(",success,"); at != std::string::npos;
         at = graph.find(",success,", at + 1)) {
      ++done;
    }
    if (done == static_cast<size_t>(n)) break;
    if (wall_now() > due + std::chrono::seconds(300)) {
      std::cerr << "only " << done << " of " << n << " jobs ran within 300 s\n";
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }

  std::vector<double> delays;
  size_t without_start = 0;
  TimePoint last_end = due;
  for (int i = 0; i < n && !options.rest_only; ++i) {
    auto runs = json::parse(
        call(client, "GET", "/v1/scheduler/job/job-" + std::to_string(i) + "/runs").body);
    for (const auto& run : runs.as_array()) {
      if (run.at("status") != "succeeded") continue;
      if (!run.at("ended").is_string()) {
        std::cerr << "bench_chronos: a succeeded run without its end: " << run << "\n";
        return 1;
      }
      TimePoint ended = *parse_time(run.at("ended").as_string());
      // A run whose TASK_RUNNING the scheduler never got (it re-subscribed meanwhile, and
      // reconciliation told it the run had ended) counts with its end as its start: an upper
      // bound of its delay.
      TimePoint started = ended;
      if (run.at("started").is_string()) {
        started = *parse_time(run.at("started").as_string());
      } else {
        ++without_start;
      }
      delays.push_back(std::chrono::duration<double, std::milli>(started - due).count());
      last_end = std::max(last_end, ended);
    }
  }

  std::printf("bench_chronos: %d jobs%s, %s\n", n,
              options.rest_only ? " (never due)" : " due at the same second",
              options.emulated_agents > 0
                  ? (std::to_string(options.emulated_agents) + " emulated agents").c_str()
                  : "one agent");
  std::printf("  posting            %.0f ms (%.2f ms per job)\n", posting_ms, posting_ms / n);
  if (!options.rest_only) {
    std::printf("  all ran            %.0f ms after the due time\n",
                std::chrono::duration<double, std::milli>(last_end - due).count());
    std::printf(
        "  scheduling delay   p50 %.0f ms, p99 %.0f ms, max %.0f ms (due -> TASK_RUNNING)\n",
        percentile(delays, 0.5), percentile(delays, 0.99), percentile(delays, 1.0));
    if (without_start > 0) {
      std::printf("  runs whose start was never reported (counted at their end): %zu\n",
                  without_start);
    }
  }
  for (const char* target :
       {"/v1/scheduler/jobs", "/v1/scheduler/jobs/summary",
        "/v1/scheduler/jobs/search?name=job-99&limit=10", "/v1/scheduler/jobs/search?any=nomatch",
        "/v1/scheduler/graph/csv", "/v1/scheduler/graph/dot"}) {
    std::vector<double> times;
    size_t bytes = 0;
    for (int k = 0; k < 6; ++k) {
      auto t = Steady::now();
      bytes = call(client, "GET", target).body.size();
      times.push_back(ms_since(t));
    }
    // The first answer after the last change, then the median of the next five (GET /jobs
    // keeps its answer until a job changes).
    double first = times.front();
    times.erase(times.begin());
    std::printf("  GET %-48s first %7.1f ms, then median %7.1f ms  (%zu bytes)\n", target, first,
                percentile(times, 0.5), bytes);
  }
  return 0;
}

int main(int argc, char** argv) {
  Options options = parse_options(argc, argv);
  try {
    return run(options);
  } catch (const std::exception& e) {
    std::cerr << "bench_chronos: " << e.what() << "\n";
    return 1;
  }
}

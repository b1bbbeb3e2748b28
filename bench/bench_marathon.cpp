// bench_marathon: how fast framework_marathon gets instances running, and how fast its API
// answers, on a real cluster on this machine (issue 10, point 9).
//
// A master host running framework_marathon (allocator_drf with allocation_interval_ms = 50)
// and --agents agent hosts (default 2, each cpus:64;mem:65536), separate tessera-host processes
// on loopback (tests/support/cluster.h). Measured through the REST API with raw HTTP/1.1:
//   1 x 500   POST one app of 500 instances of `sleep 3600` -> GET /v2/apps/ID shows 500 running
//   100 x 5   POST 100 apps of 5 instances, one after the other -> GET /v2/apps shows 500 running
//   GET /v2/apps?embed=apps.tasks with 1,000 apps (the 101 above plus 899 of 0 instances) and
//             1,000 tasks: median and max of 20 requests
//   direct    the same N tasks launched by a framework in this program (the SDK's
//             SchedulerClient, every task that fits accepted at each offer), first, in the same
//             run: what the master and the agents take without Marathon, so that the rest of
//             1 x 500 is Marathon's
// Running is polled every 20 ms, so times are accurate to about that.
// With --emulated, the agents are emulated (tools/agent_emulator: one process, each agent a real
// peer of the agent protocol whose tasks are timers, not processes), so the times are the
// master's and Marathon's without process spawning.
// With --apps N, only one case instead: one PUT /v2/apps (or with --group, PUT /v2/groups/wide)
// of N apps of one instance each -> answered, and GET /v2/apps?id=/wide/ shows N running; the
// converging passes meanwhile (count, mean and longest, from /metrics); then GET
// /v2/apps?embed=apps.tasks with the N apps.
// Usage: bench_marathon [--agents N] [--instances N] [--emulated] [--apps N [--group]].
// See docs/bench-marathon.md.
#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "http/http_support.h"
#include "support/cluster.h"
#include "support/framework.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace json = boost::json;
using tessera::testing::http::RawClient;

struct Api {
  uint16_t port = 0;

  // One request on its own connection; the body of a 2xx answer, or throws.
  std::string call(const std::string& method, const std::string& target,
                   const std::string& body = "",
                   std::chrono::seconds timeout = std::chrono::seconds(60)) {
    RawClient client(port, timeout);
    std::string request = method + " " + target + " HTTP/1.1\r\nHost: localhost\r\n";
    if (!body.empty()) {
      request +=
          "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
          "\r\n";
    }
    request += "Connection: close\r\n\r\n" + body;
    client.send(request);
    auto reply = client.read_reply();
    if (!reply || reply->status / 100 != 2) {
      throw std::runtime_error(
          method + " " + target + ": " +
          (reply ? std::to_string(reply->status) + " " + reply->body : std::string("no answer")));
    }
    return reply->body;
  }
  // Tasks running, and tasks launched (staged or running), of one app or a listing.
  std::pair<int64_t, int64_t> counts(const std::string& target) {
    json::value value = json::parse(call("GET", target));
    std::pair<int64_t, int64_t> total{0, 0};
    auto add = [&](const json::value& app) {
      int64_t running = app.at("tasksRunning").as_int64();
      total.first += running;
      total.second += running + app.at("tasksStaged").as_int64();
    };
    if (value.as_object().contains("app")) {
      add(value.at("app"));
    } else {
      for (const auto& app : value.at("apps").as_array()) add(app);
    }
    return total;
  }
};

std::string app(const std::string& id, int instances) {
  return R"({"id": ")" + id +
         R"(", "cmd": "exec sleep 3600", "cpus": 0.01, "mem": 1, "instances": )" +
         std::to_string(instances) + R"(, "portDefinitions": []})";
}

struct Timing {
  double launched = 0;  // every instance staged or running: Marathon's part is done
  double running = 0;   // every instance running
};

Timing wait_running(Api& api, const std::string& target, int64_t want, Clock::time_point start) {
  auto deadline = start + std::chrono::seconds(120);
  Timing timing;
  for (;;) {
    auto [running, launched] = api.counts(target);
    double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    if (timing.launched == 0 && launched >= want) timing.launched = elapsed;
    if (running >= want) {
      timing.running = elapsed;
      return timing;
    }
    if (Clock::now() > deadline) throw std::runtime_error("not all running after 120 s");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// The same tasks launched straight from offers by a framework in this process: seconds from
// its first offer round to all accepted (launched) and to all TASK_RUNNING.
Timing launch_directly(const std::string& master, int count) {
  tessera::sdk::FrameworkInfo info;
  info.name = "direct";
  info.failover_timeout_seconds = 3600;
  auto framework = std::make_unique<tessera::testing::TestFramework>(master, info);
  if (!framework->subscribed()) throw std::runtime_error("the direct framework did not subscribe");
  int launched = 0;
  int running = 0;
  Timing timing;
  auto start = Clock::now();
  auto since = [&] { return std::chrono::duration<double>(Clock::now() - start).count(); };
  framework->on_offer = [&](const tessera::protocol::scheduler::Offer& offer) {
    std::vector<tessera::protocol::TaskInfo> tasks;
    double cpus = offer.resources.scalar("cpus");
    double mem = offer.resources.scalar("mem");
    while (launched < count && cpus >= 0.01 && mem >= 1) {
      auto task = tessera::testing::command_task("direct." + std::to_string(launched++),
                                                 "exec sleep 3600", 0.01, 1);
      tasks.push_back(std::move(task));
      cpus -= 0.01;
      mem -= 1;
    }
    if (tasks.empty()) {
      framework->client().decline({offer.offer_id}, 5);
      return;
    }
    framework->client().accept({offer.offer_id}, tasks, 5);
    if (launched == count && timing.launched == 0) timing.launched = since();
  };
  framework->client().on_update = [&](const tessera::protocol::TaskStatus& status) {
    if (status.state == tessera::protocol::state::kRunning) ++running;
  };
  framework->client().revive();
  if (!framework->run_until([&] { return running >= count; }, std::chrono::seconds(120))) {
    throw std::runtime_error("the direct framework's tasks did not all run");
  }
  timing.running = since();
  // The tasks stay (failover timeout): the Marathon phases run beside them, as they would
  // beside any other framework's.
  framework.reset();
  return timing;
}

// Converging so far, from the plugin's /metrics.
struct Converging {
  double count = 0;
  double seconds = 0;
  double max_seconds = 0;
};

Converging converging(Api& api) {
  std::string text = api.call("GET", "/metrics");
  Converging out;
  auto value = [&](const std::string& name) {
    auto at = text.find("\n" + name + " ");
    return at == std::string::npos ? 0.0 : std::stod(text.substr(at + name.size() + 2));
  };
  out.count = value("marathon_converges_total");
  out.seconds = value("marathon_converge_seconds_total");
  out.max_seconds = value("marathon_converge_seconds_max");
  return out;
}

double median_get_ms(Api& api, const std::string& target, int requests, double* max_ms,
                     size_t* bytes) {
  std::vector<double> times;
  for (int i = 0; i < requests; ++i) {
    auto t0 = Clock::now();
    *bytes = api.call("GET", target).size();
    times.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  std::sort(times.begin(), times.end());
  *max_ms = times.back();
  return times[times.size() / 2];
}

// Thousands of apps in one change took minutes before converging was indexed.
constexpr std::chrono::seconds kSlow{300};

// One change of `count` apps of one instance each (PUT /v2/apps, or PUT /v2/groups/wide), timed
// to its answer and to all running, with the converging it took.
void wide_change(Api& api, int count, bool group) {
  std::string apps;
  for (int i = 0; i < count; ++i) {
    apps += (i == 0 ? "" : ",") + app("/wide/app" + std::to_string(i), 1);
  }
  Converging before = converging(api);
  auto start = Clock::now();
  if (group) {
    api.call("PUT", "/v2/groups/wide", R"({"id": "/wide", "apps": [)" + apps + "]}", kSlow);
  } else {
    api.call("PUT", "/v2/apps", "[" + apps + "]", kSlow);
  }
  double answered = std::chrono::duration<double>(Clock::now() - start).count();
  // Listing thousands of apps is itself work for Marathon: polled every 100 ms, not 20.
  auto deadline = start + std::chrono::seconds(300);
  double running_at = 0;
  for (;;) {
    auto [running, launched] = api.counts("/v2/apps?id=/wide/");
    if (running >= count) {
      running_at = std::chrono::duration<double>(Clock::now() - start).count();
      break;
    }
    if (Clock::now() > deadline) throw std::runtime_error("not all running after 300 s");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  Converging after = converging(api);
  double passes = after.count - before.count;
  double seconds = after.seconds - before.seconds;
  std::fflush(stdout);
  std::printf("%s of %d apps x 1 instance: answered %.2f s, all running %.2f s\n",
              group ? "PUT /v2/groups/wide" : "PUT /v2/apps", count, answered, running_at);
  std::printf("  converging meanwhile: %.0f passes, %.2f s in all, mean %.2f ms, longest %.1f ms\n",
              passes, seconds, passes > 0 ? seconds / passes * 1000 : 0.0,
              after.max_seconds * 1000);
  double max_ms = 0;
  size_t bytes = 0;
  double median = median_get_ms(api, "/v2/apps?embed=apps.tasks", 10, &max_ms, &bytes);
  std::printf("GET /v2/apps?embed=apps.tasks (%d apps, %zu bytes): median %.1f ms, max %.1f ms\n",
              count, bytes, median, max_ms);
}

}  // namespace

int main(int argc, char** argv) {
  int agents = 2;
  int instances = 500;
  bool emulated = false;
  int wide_apps = 0;
  bool group = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--emulated") == 0) emulated = true;
    if (std::strcmp(argv[i], "--group") == 0) group = true;
    if (i + 1 >= argc) continue;
    if (std::strcmp(argv[i], "--agents") == 0) agents = std::atoi(argv[++i]);
    if (std::strcmp(argv[i], "--instances") == 0) instances = std::atoi(argv[++i]);
    if (std::strcmp(argv[i], "--apps") == 0) wide_apps = std::atoi(argv[++i]);
  }
  if (agents < 1 || agents > 10000 || instances < 5 || instances > 100000 || wide_apps < 0 ||
      wide_apps > 20000) {
    std::cerr << "bench_marathon: --agents 1..10000, --instances 5..100000, --apps 1..20000"
              << std::endl;
    return 2;
  }
  try {
    tessera::testing::TempDir dir;
    tessera::testing::Cluster cluster(dir);
    tessera::testing::MasterSettings master;
    // The master's defaults (2 s pings, 10 s timeout) rather than the tests' quick ones: with
    // --apps 3000 the emulator, busy with the burst, missed 1.5 s of pings, its agents were
    // removed and their tasks lost.
    master.agent_ping_interval_ms = 2000;
    master.agent_ping_timeout_ms = 10000;
    master.extra =
        "frameworks = [\"framework_marathon\"]\n"
        "[plugins.framework_marathon]\nhttp_address = \"127.0.0.1:0\"\n"
        "[plugins.allocator_drf]\nallocation_interval_ms = 50\n";
    if (!cluster.start_master(master)) throw std::runtime_error(cluster.master().output());
    const std::string resources = "cpus:64;mem:65536;disk:1024;ports:[31000-31099]";
    std::unique_ptr<tessera::testing::Process> emulator;
    if (emulated) {
#ifdef TESSERA_AGENT_EMULATOR_BIN
      emulator = std::make_unique<tessera::testing::Process>(
          std::vector<std::string>{TESSERA_AGENT_EMULATOR_BIN, "--master", cluster.endpoint(),
                                   "--agents", std::to_string(agents), "--resources", resources,
                                   "--report-ms", "0"},
          dir / "emulator.log");
      if (!emulator->wait_for("all " + std::to_string(agents) + " agents registered",
                              std::chrono::seconds(60))) {
        throw std::runtime_error("the emulated agents did not register:\n" + emulator->output());
      }
#else
      throw std::runtime_error("built without tools/agent_emulator");
#endif
    } else {
      tessera::testing::AgentSettings agent;
      agent.resources = resources;
      for (int i = 0; i < agents; ++i) {
        if (!cluster.start_agent(static_cast<size_t>(i), agent)) {
          throw std::runtime_error("agent did not start");
        }
      }
    }
    std::regex line("framework_marathon\\.http = \"[^\"]+:([0-9]+)\"");
    Api api;
    for (int i = 0; i < 500 && api.port == 0; ++i) {
      std::smatch m;
      std::string text = tessera::testing::read_file(dir / "master.endpoints");
      if (std::regex_search(text, m, line)) api.port = static_cast<uint16_t>(std::stoi(m[1]));
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    // Marathon answers only once it has subscribed and read the store.
    for (int i = 0; i < 500; ++i) {
      try {
        api.call("GET", "/v2/apps");
        break;
      } catch (const std::exception&) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }

    if (wide_apps > 0) {
      std::printf("agents %d (%s)\n", agents, emulated ? "emulated" : "tessera-host agents");
      wide_change(api, wide_apps, group);
      return 0;
    }

    Timing direct = launch_directly(cluster.endpoint(), instances);

    auto start = Clock::now();
    api.call("POST", "/v2/apps", app("/one", instances));
    Timing one = wait_running(api, "/v2/apps?id=/one", instances, start);

    int apps = instances / 5;
    start = Clock::now();
    for (int i = 0; i < apps; ++i)
      api.call("POST", "/v2/apps", app("/many/app" + std::to_string(i), 5));
    double posted = std::chrono::duration<double>(Clock::now() - start).count();
    Timing many = wait_running(api, "/v2/apps?id=/many/", int64_t{apps} * 5, start);

    for (int i = apps + 1; i < 1000; ++i) {
      api.call("POST", "/v2/apps", app("/idle/app" + std::to_string(i), 0));
    }
    double get_max = 0;
    size_t bytes = 0;
    double get_median = median_get_ms(api, "/v2/apps?embed=apps.tasks", 20, &get_max, &bytes);
    std::printf("agents %d (%s)\n", agents, emulated ? "emulated" : "tessera-host agents");
    std::printf("direct, %d tasks: all launched  %.2f s, all running  %.2f s\n", instances,
                direct.launched, direct.running);
    std::printf("1 x %d instances: POST -> all launched  %.2f s, all running  %.2f s\n", instances,
                one.launched, one.running);
    std::printf(
        "%d x 5 instances: first POST -> all launched  %.2f s, all running  %.2f s (the POSTs "
        "took %.2f s)\n",
        apps, many.launched, many.running, posted);
    std::printf(
        "GET /v2/apps?embed=apps.tasks (1000 apps, %d tasks, %zu bytes): median %.1f ms, "
        "max %.1f ms\n",
        instances * 2, bytes, get_median, get_max);
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "bench_marathon: " << e.what() << std::endl;
    return 1;
  }
}

// bench_state: the master's HTTP API (plugins/master_http) on a large emulated cluster.
//
// One master (leader_standalone, allocator_drf, master_http, [log] level = "warn") and
// tessera-agent-emulator processes (tools/agent_emulator, at most 4000 agents each) running
// --agents agents that hold --tasks tasks between them (RUNNING, of the bench's framework, which
// subscribes first and declines every offer for an hour). Once every agent is registered:
//   GET /state, GET /tasks (the first page of 100) and GET /tasks?offset=N (a page deep in the
//   list), --requests times each, one at a time on fresh connections: median and p99 (the
//   largest below 100 requests) of the time to the last byte, and the body's size;
//   the first GET /state on its own (it reads the API's copy of the tasks whole), as soon as every
//   task runs or --settle-seconds later (the master and the API then no longer busy with the
//   load: what a first /state costs on its own);
//   "get_state + state_json": the path every /state took before the API kept its own copy
//   (operator.get_state from the master, decoded, converted to JSON and serialized), timed in
//   this process over the master's TCP endpoint, for comparison in the same run;
//   a burst: the framework launches --burst-rate tasks/s (each running 1 s) for
//   --burst-seconds, first with no /events client, then with --event-clients clients holding
//   /events open and reading it: the master process's CPU (user + system) per second of burst,
//   and the bytes the clients read; during the second, GET /state one at a time.
//
// Usage: bench_state [--agents N] [--tasks N] [--requests N] [--burst-rate N]
//                    [--burst-seconds N] [--event-clients N] [--former-requests N]
//                    [--profile-seconds N] [--settle-seconds N] [--build DIR]
// --build runs another build tree's tessera-host, plugins and emulator (DIR/bin/tessera-host,
// DIR/lib/tessera/plugins, DIR/bin/tessera-agent-emulator): two builds measured alternately by one
// bench binary, the same client for both.
// See docs/bench-state.md.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "master/peers.h"
#include "process_stats.h"
#include "state_json.h"
#include "support/framework.h"
#include "support/process.h"
#include "support/zookeeper.h"  // free_port()

namespace {

using Clock = std::chrono::steady_clock;
using tessera::bench::cpu_seconds;
using tessera::bench::rss_mb;
using tessera::testing::Process;
using tessera::testing::TempDir;
using tessera::testing::TestFramework;
namespace protocol = tessera::protocol;

struct Options {
  size_t agents = 10000;
  size_t tasks = 200000;
  size_t requests = 20;
  size_t burst_rate = 1000;
  size_t burst_seconds = 5;
  size_t event_clients = 10;
  // How often the former path (get_state + state_json) is timed; 0: not at all. At 200k tasks
  // one costs up to a minute.
  size_t former_requests = 3;
  size_t agents_per_emulator = 4000;
  // Seconds of GET /state one after another before the measurements, for a profiler attached
  // to the master (its pid is printed first); 0: none.
  size_t profile_seconds = 0;
  // Seconds between every task running and the first GET /state.
  size_t settle_seconds = 0;
  // The programs run: this build's, or those of another build tree (--build).
  std::string host_bin = TESSERA_HOST_BIN;
  std::string plugin_dir = TESSERA_PLUGIN_DIR;
  std::string emulator_bin = TESSERA_AGENT_EMULATOR_BIN;
};

int connect_to(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

struct Answer {
  double ms = 0;
  size_t bytes = 0;  // the whole answer, head included
  int status = 0;
  std::string text;  // the whole answer, when asked to keep it
  // The answer's Server-Timing phases (/state: copy, master, summary, events, body), in ms.
  std::vector<std::pair<std::string, double>> phases;
};

// The phases of a Server-Timing header in `head` ("name;dur=1.5, name;dur=2").
std::vector<std::pair<std::string, double>> server_timing(const std::string& head) {
  std::vector<std::pair<std::string, double>> phases;
  const std::string field = "\r\nServer-Timing: ";
  size_t at = head.find(field);
  if (at == std::string::npos) return phases;
  at += field.size();
  size_t end = head.find("\r\n", at);
  std::string value = head.substr(at, end == std::string::npos ? std::string::npos : end - at);
  for (size_t from = 0; from < value.size();) {
    size_t comma = value.find(',', from);
    std::string metric = value.substr(from, comma == std::string::npos ? comma : comma - from);
    size_t dur = metric.find(";dur=");
    if (dur != std::string::npos) {
      size_t name = metric.find_first_not_of(' ');
      phases.emplace_back(metric.substr(name, dur - name),
                          std::strtod(metric.c_str() + dur + 5, nullptr));
    }
    if (comma == std::string::npos) break;
    from = comma + 1;
  }
  return phases;
}

// One GET on a fresh connection, read until the server closes it; `keep`: the answer is kept
// in `text` (the timed requests only count its bytes).
Answer get(int port, const std::string& target, bool keep = false) {
  Answer answer;
  auto start = Clock::now();
  int fd = connect_to(port);
  if (fd < 0) return answer;
  std::string request =
      "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) < 0) {
    ::close(fd);
    return answer;
  }
  std::string head;
  // A kept body is read into room made beforehand, so that the time is the server's, not this
  // string's growth (copies of up to 2x the ~55 MB body and faults on fresh pages).
  if (keep) answer.text.reserve(size_t{128} << 20);
  char buffer[65536];
  for (;;) {
    ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    if (head.size() < 2048) head.append(buffer, static_cast<size_t>(std::min<ssize_t>(n, 2048)));
    if (keep) answer.text.append(buffer, static_cast<size_t>(n));
    answer.bytes += static_cast<size_t>(n);
  }
  ::close(fd);
  answer.ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  if (head.rfind("HTTP/1.1 ", 0) == 0) answer.status = std::atoi(head.c_str() + 9);
  answer.phases = server_timing(head);
  return answer;
}

// The value of the Prometheus sample `name` (with its labels, as written) in `metrics`, or -1.
double sample(const std::string& metrics, const std::string& name) {
  size_t at = metrics.find("\n" + name + " ");
  if (at == std::string::npos) return -1;
  return std::strtod(metrics.c_str() + at + name.size() + 2, nullptr);
}

// The number after `"key":` in a JSON body, or -1.
long long json_count(const std::string& body, const std::string& key) {
  size_t at = body.find("\"" + key + "\":");
  if (at == std::string::npos) return -1;
  return std::strtoll(body.c_str() + at + key.size() + 3, nullptr, 10);
}

// How many times `needle` occurs in `text`.
size_t occurrences(const std::string& text, const std::string& needle) {
  size_t count = 0;
  for (size_t at = text.find(needle); at != std::string::npos;
       at = text.find(needle, at + needle.size())) {
    ++count;
  }
  return count;
}

void print_row(const char* what, const std::vector<Answer>& answers) {
  std::vector<double> ms;
  size_t bytes = 0;
  int failed = 0;
  for (const Answer& a : answers) {
    if (a.status != 200) ++failed;
    ms.push_back(a.ms);
    bytes = std::max(bytes, a.bytes);
  }
  std::sort(ms.begin(), ms.end());
  double median = ms.empty() ? 0 : ms[ms.size() / 2];
  double p99 = ms.empty() ? 0 : ms[std::min(ms.size() - 1, ms.size() * 99 / 100)];
  std::printf("%-28s %10.1f %10.1f %12.2f %8d\n", what, median, p99,
              static_cast<double>(bytes) / (1024.0 * 1024.0), failed);
  // Each row as it comes: a profiler is attached when the first one shows.
  std::fflush(stdout);
}

// Where the answers spent their time by the server's Server-Timing: each phase's median and
// p99, then the rest of the time to the last byte ("send": the body's transfer and this client's
// reading it, connecting, and the request's wait for the API's thread), and the slowest answer's
// own split: what its tail is made of.
void print_phases(const std::vector<Answer>& answers) {
  std::vector<std::string> names;
  for (const Answer& a : answers) {
    for (const auto& [name, ms] : a.phases) {
      if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
    }
  }
  if (names.empty()) return;
  names.push_back("send");
  auto phase = [](const Answer& a, const std::string& name) {
    double server = 0;
    for (const auto& [n, ms] : a.phases) {
      if (n == name) return ms;
      server += ms;
    }
    return name == "send" ? a.ms - server : 0.0;
  };
  const Answer* slowest = &answers.front();
  for (const Answer& a : answers) {
    if (a.ms > slowest->ms) slowest = &a;
  }
  for (const std::string& name : names) {
    std::vector<double> ms;
    for (const Answer& a : answers) ms.push_back(phase(a, name));
    std::sort(ms.begin(), ms.end());
    std::printf("  %-26s %10.1f %10.1f   slowest answer (%.1f ms): %.1f\n", name.c_str(),
                ms[ms.size() / 2], ms[std::min(ms.size() - 1, ms.size() * 99 / 100)], slowest->ms,
                phase(*slowest, name));
  }
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (i + 1 >= argc) {
      std::fprintf(stderr,
                   "usage: bench_state [--agents N] [--tasks N] [--requests N] [--burst-rate N] "
                   "[--burst-seconds N] [--event-clients N] [--former-requests N] "
                   "[--profile-seconds N] [--settle-seconds N] [--build DIR]\n");
      return 2;
    }
    if (arg == "--build") {
      if (!tessera::bench::build_programs(argv[++i], options.host_bin, options.plugin_dir,
                                          options.emulator_bin)) {
        return 2;
      }
      continue;
    }
    size_t value = std::stoul(argv[++i]);
    if (arg == "--agents") {
      options.agents = std::max<size_t>(1, value);
    } else if (arg == "--tasks") {
      options.tasks = value;
    } else if (arg == "--requests") {
      options.requests = std::max<size_t>(1, value);
    } else if (arg == "--burst-rate") {
      options.burst_rate = value;
    } else if (arg == "--burst-seconds") {
      options.burst_seconds = value;
    } else if (arg == "--event-clients") {
      options.event_clients = value;
    } else if (arg == "--former-requests") {
      options.former_requests = value;
    } else if (arg == "--profile-seconds") {
      options.profile_seconds = value;
    } else if (arg == "--settle-seconds") {
      options.settle_seconds = value;
    } else {
      std::fprintf(stderr, "bench_state: unknown option %s\n", arg.c_str());
      return 2;
    }
  }
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }

  TempDir dir;
  int http_port = tessera::testing::ZooKeeperServers::free_port();
  std::string text =
      "[node]\nname = \"master\"\nroles = [\"master\"]\nleader = \"leader_standalone\"\n"
      "services = [\"master_http\"]\nwork_dir = \"" +
      (dir / "master").string() + "\"\nplugin_dirs = [\"" + options.plugin_dir +
      "\"]\nendpoints_file = \"" + (dir / "master.endpoints").string() +
      "\"\n[log]\nlevel = \"warn\"\n[master]\nallocator = \"allocator_drf\"\n"
      "endpoint = \"tcp://127.0.0.1:0\"\nagent_ping_interval_ms = 5000\n"
      "agent_ping_timeout_ms = 60000\nagent_removal_timeout_ms = 600000\n"
      "[plugins.master_http]\naddress = \"127.0.0.1:" +
      std::to_string(http_port) + "\"\nmaster_timeout_ms = 60000\n";
  Process master({options.host_bin, dir.write("master.toml", text).string()}, dir / "master.log");
  std::regex endpoint_line("master\\.endpoint = \"([^\"]+)\"");
  std::string endpoint;
  tessera::testing::eventually(
      [&] {
        std::smatch m;
        std::string file = tessera::testing::read_file(dir / "master.endpoints");
        if (!std::regex_search(file, m, endpoint_line)) return false;
        endpoint = m[1];
        return true;
      },
      std::chrono::seconds(30));
  if (endpoint.empty()) {
    std::fprintf(stderr, "bench_state: the master did not start:\n%s\n", master.output().c_str());
    return 1;
  }

  tessera::sdk::FrameworkInfo info;
  info.name = "bench-state";
  info.failover_timeout_seconds = 3600;
  TestFramework framework(endpoint, info);
  bool bursting = false;
  size_t launched = 0;
  Clock::time_point burst_start;
  uint64_t next_task = 0;
  std::set<std::string> offered;
  framework.on_offer = [&](const protocol::scheduler::Offer& offer) {
    offered.insert(offer.agent_id);
    if (!bursting) {
      framework.client().decline({offer.offer_id}, 3600);
      return;
    }
    double elapsed = std::chrono::duration<double>(Clock::now() - burst_start).count();
    size_t due = static_cast<size_t>(elapsed * static_cast<double>(options.burst_rate)) + 1;
    std::vector<protocol::TaskInfo> tasks;
    while (launched < due && tasks.size() < 20) {
      auto task = tessera::testing::command_task("burst-" + std::to_string(++next_task), "sleep 1",
                                                 0.01, 1);
      tasks.push_back(task);
      ++launched;
    }
    framework.client().accept({offer.offer_id}, tasks, 0.05);
  };
  if (!framework.subscribed()) {
    std::fprintf(stderr, "bench_state: the framework did not subscribe\n");
    return 1;
  }

  size_t processes =
      (options.agents + options.agents_per_emulator - 1) / options.agents_per_emulator;
  size_t tasks_per_agent = options.tasks / options.agents;
  std::vector<std::unique_ptr<Process>> emulators;
  auto start = Clock::now();
  for (size_t p = 0; p < processes; ++p) {
    size_t count = options.agents / processes + (p < options.agents % processes ? 1 : 0);
    emulators.push_back(std::make_unique<Process>(
        std::vector<std::string>{
            options.emulator_bin, "--master", endpoint, "--agents", std::to_string(count),
            "--hostname-prefix", "emu" + std::to_string(p) + "-", "--tasks-per-agent",
            std::to_string(tasks_per_agent), "--task-framework", framework.client().framework_id(),
            "--task-resources", "cpus:0.01;mem:8", "--report-ms", "5000"},
        dir / ("emulator-" + std::to_string(p) + ".log")));
  }
  bool registered = framework.run_until(
      [&] {
        for (auto& emulator : emulators) {
          if (emulator->output().find("emulator: all ") == std::string::npos) return false;
        }
        return offered.size() >= options.agents;
      },
      std::chrono::seconds(60 + options.agents / 20));
  double start_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (!registered) {
    std::fprintf(stderr, "bench_state: the agents did not all register in %.0f s (%zu offered)\n",
                 start_seconds, offered.size());
    for (auto& emulator : emulators) {
      std::string out = emulator->output();
      std::fprintf(stderr, "%s\n", out.substr(out.size() > 2000 ? out.size() - 2000 : 0).c_str());
    }
    std::string log = master.output();
    std::fprintf(stderr, "master:\n%s\n",
                 log.substr(log.size() > 4000 ? log.size() - 4000 : 0).c_str());
    return 1;
  }
  // The agents report their tasks in their registrations, but the master may take longer to
  // track them all than to answer and offer (resent registrations, its loop busy): nothing is
  // timed until its own count of running tasks is the whole cluster's.
  size_t expected_tasks = tasks_per_agent * options.agents;
  std::string running_sample = "tessera_master_tasks{state=\"TASK_RUNNING\"}";
  double running = -1;
  Clock::time_point polled{};
  bool reported = framework.run_until(
      [&] {
        if (Clock::now() - polled < std::chrono::milliseconds(500)) return false;
        polled = Clock::now();
        running = sample(get(http_port, "/metrics", true).text, running_sample);
        return running == static_cast<double>(expected_tasks) ||
               (expected_tasks == 0 && running <= 0);
      },
      std::chrono::seconds(120 + expected_tasks / 500));
  double reported_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (!reported) {
    std::fprintf(stderr, "bench_state: the master tracks %.0f running tasks of %zu after %.0f s\n",
                 running, expected_tasks, reported_seconds);
    return 1;
  }
  std::printf(
      "bench_state: %zu agents, %zu tasks (emulated; %zu emulator processes), registered "
      "and offered in %.1f s, every task running in the master's metrics at %.1f s; master RSS "
      "%.0f MB, pid %d; host %s\n",
      options.agents, expected_tasks, processes, start_seconds, reported_seconds,
      rss_mb(master.pid()), static_cast<int>(master.pid()), options.host_bin.c_str());
  std::fflush(stdout);
  std::printf("%-28s %10s %10s %12s %8s\n", "request", "median ms", "p99 ms", "size MB", "failed");
  // The master process's CPU per request (master_http shares it) is printed after each row: on
  // a loaded machine the time to answer says more about the load than about the request.
  auto measure = [&](const char* what, const std::string& target) {
    std::vector<Answer> answers;
    double cpu_before = cpu_seconds(master.pid());
    for (size_t i = 0; i < options.requests; ++i) answers.push_back(get(http_port, target));
    double cpu = cpu_seconds(master.pid()) - cpu_before;
    print_row(what, answers);
    print_phases(answers);
    std::printf("  master CPU per request: %.1f ms\n",
                cpu * 1000.0 / static_cast<double>(options.requests));
  };
  // The requests are made from another thread while this one runs the framework's loop, so
  // that the framework keeps its heartbeats (a silent one is disconnected).
  std::atomic<bool> measured{false};
  std::thread requests([&] {
    std::this_thread::sleep_for(std::chrono::seconds(options.settle_seconds));
    Answer first = get(http_port, "/state", true);
    print_row(options.settle_seconds > 0 ? "GET /state (first, settled)" : "GET /state (first)",
              {first});
    if (options.profile_seconds > 0) {
      std::vector<Answer> answers;
      auto until = Clock::now() + std::chrono::seconds(options.profile_seconds);
      while (Clock::now() < until) answers.push_back(get(http_port, "/state"));
      print_row("GET /state (profiled)", answers);
    }
    measure("GET /state", "/state");
    measure("GET /tasks (first 100)", "/tasks");
    std::string last_page =
        "/tasks?offset=" + std::to_string(expected_tasks > 100 ? expected_tasks - 100 : 0);
    measure("GET /tasks?offset=N-100", last_page);
    // The tasks page's search: every task's id and name is looked at.
    measure("GET /tasks?q=emu0-1-", "/tasks?q=emu0-1-");
    // What the answers held, so that a run that measured a partial copy shows it.
    Answer page = get(http_port, last_page, true);
    std::printf(
        "valid: /state lists %zu tasks of the framework, /tasks says total %lld, its last page "
        "holds %zu tasks (expected %zu and 100)\n",
        occurrences(first.text,
                    "\"framework_id\":\"" + framework.client().framework_id() + "\",\"slave_id\":"),
        json_count(page.text, "total"), occurrences(page.text, "\"slave_id\":"), expected_tasks);
    tessera::testing::Peers peers;
    tessera::sdk::Client& operator_client = peers.connect(endpoint, "bench-operator");
    // The whole state of a large cluster is a large message, as master_http's client allows.
    tessera::MessageLimits limits;
    limits.max_bytes = size_t{1} << 30;
    limits.max_values = size_t{1} << 28;
    operator_client.set_limits(limits);
    std::vector<Answer> former;
    for (size_t i = 0; i < options.former_requests; ++i) {
      auto start = Clock::now();
      Answer answer;
      try {
        auto reply = peers.call(operator_client, protocol::operator_api::GetState{},
                                std::chrono::seconds(60));
        if (!reply) throw std::runtime_error(reply.error().message);
        auto state = reply->body<protocol::operator_api::State>();
        if (!state) throw std::runtime_error(state.error().message);
        tessera::master_http::StateContext context;
        context.leader_http = "http://127.0.0.1:" + std::to_string(http_port);
        answer.bytes =
            boost::json::serialize(tessera::master_http::state_json(*state, context)).size();
        answer.status = 200;
      } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_state: operator.get_state: %s\n", e.what());
      }
      answer.ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
      former.push_back(answer);
    }
    if (!former.empty()) print_row("get_state + state_json", former);
    std::fflush(stdout);
    measured = true;
  });
  framework.run_until([&] { return measured.load(); }, std::chrono::hours(1));
  requests.join();

  // The burst, without and then with /events clients.
  auto burst = [&](size_t clients) {
    std::atomic<bool> reading{true};
    std::atomic<size_t> event_bytes{0};
    std::vector<std::thread> readers;
    std::vector<int> fds;
    for (size_t c = 0; c < clients; ++c) {
      int fd = connect_to(http_port);
      if (fd < 0) continue;
      std::string request =
          "GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n";
      ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
      timeval timeout{0, 200000};
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
      fds.push_back(fd);
      readers.emplace_back([fd, &reading, &event_bytes] {
        char buffer[65536];
        while (reading) {
          ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
          if (n == 0) break;
          if (n > 0) event_bytes += static_cast<size_t>(n);
        }
      });
    }
    launched = 0;
    framework.client().revive();
    double cpu_before = cpu_seconds(master.pid());
    burst_start = Clock::now();
    bursting = true;
    // With clients, /state is also asked during the burst, one request at a time.
    std::atomic<bool> asking{clients > 0};
    std::vector<Answer> during;
    std::thread asker([&] {
      while (asking) during.push_back(get(http_port, "/state"));
    });
    framework.run_until([] { return false; }, std::chrono::seconds(options.burst_seconds));
    bursting = false;
    asking = false;
    asker.join();
    double seconds = std::chrono::duration<double>(Clock::now() - burst_start).count();
    double cpu = cpu_seconds(master.pid()) - cpu_before;
    reading = false;
    for (auto& reader : readers) reader.join();
    for (int fd : fds) ::close(fd);
    std::printf(
        "burst, %2zu /events clients: %zu tasks launched in %.1f s (%.0f/s), master CPU "
        "%.2f s/s, events read %.1f MB\n",
        clients, launched, seconds, static_cast<double>(launched) / seconds, cpu / seconds,
        static_cast<double>(event_bytes.load()) / (1024.0 * 1024.0));
    if (!during.empty()) {
      print_row("GET /state during burst", during);
      print_phases(during);
    }
    std::fflush(stdout);
    // Let the burst's tasks end before the next one.
    framework.run_until([] { return false; }, std::chrono::seconds(2));
  };
  if (options.burst_seconds > 0) {
    burst(0);
    burst(options.event_clients);
  }
  // Whether the API's copy of the tasks kept up with the events or had to be read again.
  std::string metrics = get(http_port, "/metrics", true).text;
  for (const char* name :
       {"tessera_master_http_state_copy_reads_total", "tessera_master_http_events_lost_total",
        "tessera_master_http_state_summaries_partial_total"}) {
    std::printf("%s %.0f\n", name, sample(metrics, name));
  }
  for (auto& emulator : emulators) emulator->stop(std::chrono::seconds(10));
  master.stop(std::chrono::seconds(20));
  return 0;
}

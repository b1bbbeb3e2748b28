// bench_failover: master failover at scale, with emulated agents (tools/agent_emulator).
//
// On this machine, in a temporary directory: one ZooKeeper server on loopback
// (tests/support/zookeeper.h), --masters tessera-host masters with leader_zookeeper and
// allocator_drf ([log] level = "warn"), tessera-agent-emulator processes (at most
// --agents-per-emulator agents each, 4000 by default) running --agents agents that each hold
// --tasks-per-agent RUNNING tasks of the bench's framework, and that framework in this process
// (sdk::SchedulerClient on zk://, failover timeout one hour, declining every offer for an hour so
// that an offer after the failover is a new master's). Once every agent is registered and the
// framework has had an offer from each, the leading master gets SIGKILL, and the bench reports,
// from the kill:
//   election       the emulator's detector sees another master lead (its znode lowest, read from
//                  ZooKeeper): bounded below by the session timeout, after which ZooKeeper
//                  drops the dead master's ephemeral znode
//   first          the first agent the new master registered: it answers from then on (after
//                  its election and its registry read)
//   re-registered  every agent has re-registered with the new master, with its tasks
//   offers         the framework's first offer from the new master
//   master RSS     of the old leader before the kill and of the new one once offers came back
//   CPU            from the kill until then: the new leader's (every thread of its process) and
//                  the emulators' together; less dependent on the machine's load than the times
// Baseline in the same run: the session timeout itself, the floor of any failover on
// ZooKeeper sessions, and ZooKeeper's own re-election, measured once before the runs: a 3-node
// ensemble on loopback, SIGKILL to its leader, until another server says it leads (`srvr`).
//
// Usage: bench_failover [--agents N[,N...]] [--tasks-per-agent N] [--masters N]
//                       [--session-timeout-ms N] [--agents-per-emulator N] [--runs N]
//                       [--master-log-level LEVEL] [--keep-logs] [--build DIR]
// --build runs another build tree's tessera-host, plugins and emulator (DIR/bin/tessera-host,
// DIR/lib/tessera/plugins, DIR/bin/tessera-agent-emulator): two builds measured alternately by one
// binary.
// --runs repeats each count (a fresh cluster each time) and adds a row of medians. The column
// "after elect." is re-register minus election: the new leader's own part.
// Needs Java and ZooKeeper (scripts/setup.sh), and as root it raises its descriptor limit for
// large runs. See docs/bench-failover.md.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "process_stats.h"
#include "support/framework.h"
#include "support/process.h"
#include "support/zookeeper.h"
#include "zk_detector.h"

namespace {

using Clock = std::chrono::steady_clock;
using tessera::bench::rss_mb;
using tessera::testing::Process;
using tessera::testing::TempDir;
using tessera::testing::TestFramework;
using tessera::testing::ZooKeeperServers;
namespace sdk = tessera::sdk;

struct Options {
  std::vector<size_t> agents{1000};
  size_t tasks_per_agent = 10;
  size_t masters = 2;
  int session_timeout_ms = 2000;
  size_t agents_per_emulator = 4000;
  size_t runs = 1;
  std::string master_log_level = "warn";
  bool keep_logs = false;
  // The programs run: this build's, or those of another build tree (--build), so that one
  // bench binary measures two builds alternately with the same code.
  std::string host_bin = TESSERA_HOST_BIN;
  std::string plugin_dir = TESSERA_PLUGIN_DIR;
  std::string emulator_bin = TESSERA_AGENT_EMULATOR_BIN;
};

struct Result {
  size_t agents = 0;
  double start_seconds = 0;  // from the emulator's start to every agent registered
  double election_ms = -1;
  double first_ms = -1;  // from the kill to the first agent the new master registered
  double reregistered_ms = -1;
  double offers_ms = -1;
  double rss_before_mb = 0;
  double rss_after_mb = 0;
  double emulator_rss_mb = 0;
  // CPU used from the kill until every agent re-registered and offers came back: by the master
  // that took over (all its threads: the role, the leader plugin, the allocator, ZeroMQ's I/O),
  // and by the emulators together. Unlike the times, these hardly depend on the machine's load.
  double master_cpu_s = -1;
  double emulator_cpu_s = -1;
  std::string problem;
};

int64_t mono_ms(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

// The time (group 2 of `pattern`, mono_ms) of the nth line of `text` that matches `pattern`.
std::optional<int64_t> nth_time(const std::string& text, const std::regex& pattern, size_t nth) {
  size_t seen = 0;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), pattern);
       it != std::sregex_iterator(); ++it) {
    if (++seen == nth) return std::stoll((*it)[2]);
  }
  return std::nullopt;
}

// ZooKeeper's own failover, the baseline: milliseconds from SIGKILL to a 3-node ensemble's
// leader until another of its servers leads (-1 when none did within 30 s).
double zookeeper_reelection_ms() {
  TempDir dir;
  ZooKeeperServers ensemble(dir, 3);
  int leader = -1;
  tessera::testing::eventually([&] { return (leader = ensemble.leader()) >= 0; },
                               std::chrono::seconds(30));
  if (leader < 0) return -1;
  auto killed = Clock::now();
  ensemble.kill(static_cast<size_t>(leader));
  auto deadline = killed + std::chrono::seconds(30);
  while (Clock::now() < deadline) {
    for (size_t i = 0; i < ensemble.size(); ++i) {
      if (static_cast<int>(i) != leader && ensemble.mode(i) == "leader") {
        return std::chrono::duration<double, std::milli>(Clock::now() - killed).count();
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return -1;
}

class Bench {
 public:
  Bench(const Options& options, size_t agents) : options_(options), agents_(agents) {}

  Result run() {
    Result result;
    result.agents = agents_;
    ZooKeeperServers zookeeper(dir_, 1);
    std::string address = zookeeper.address("/bench");
    for (size_t i = 0; i < options_.masters; ++i) {
      start_master(i, zookeeper.connect_string());
      // The first one leads: the others start once it has announced its endpoint.
      if (i == 0 && !wait_file(dir_ / "master-0.endpoints")) {
        result.problem = "master 0 did not start:\n" + masters_[0]->output();
        return result;
      }
    }

    sdk::FrameworkInfo info;
    info.name = "bench-failover";
    info.failover_timeout_seconds = 3600;
    TestFramework framework(address, info);
    std::set<std::string> offered_agents;
    Clock::time_point kill_time = Clock::time_point::max();
    std::optional<Clock::time_point> first_offer_after;
    framework.on_offer = [&](const tessera::protocol::scheduler::Offer& offer) {
      auto now = Clock::now();
      if (now > kill_time && !first_offer_after) first_offer_after = now;
      offered_agents.insert(offer.agent_id);
      framework.client().decline({offer.offer_id}, 3600);
    };
    if (!framework.subscribed()) {
      result.problem = "the framework did not subscribe:\n" + logs();
      return result;
    }

    auto emulator_start = Clock::now();
    // One emulator process per kAgentsPerEmulator agents: each agent costs an emulator two
    // descriptors, four during a master change.
    size_t processes = (agents_ + options_.agents_per_emulator - 1) / options_.agents_per_emulator;
    for (size_t p = 0; p < processes; ++p) {
      size_t count = agents_ / processes + (p < agents_ % processes ? 1 : 0);
      emulators_.push_back(std::make_unique<Process>(
          std::vector<std::string>{options_.emulator_bin, "--master", address, "--agents",
                                   std::to_string(count), "--hostname-prefix",
                                   "emu" + std::to_string(p) + "-", "--tasks-per-agent",
                                   std::to_string(options_.tasks_per_agent), "--task-framework",
                                   framework.client().framework_id(), "--report-ms", "1000"},
          dir_ / ("emulator-" + std::to_string(p) + ".log")));
    }
    auto start_deadline = std::chrono::seconds(60 + agents_ / 50);
    if (!framework.run_until(
            [&] {
              return (offered_agents.size() >= agents_ && latest(all_registered_, 1).has_value()) ||
                     emulator_exited();
            },
            start_deadline) ||
        emulator_exited()) {
      result.problem = "the agents did not all register and get offered (" +
                       std::to_string(offered_agents.size()) + " offered):\n" + emulator_tails();
      return result;
    }
    if (auto t = latest(all_registered_, 1)) {
      result.start_seconds = static_cast<double>(*t - mono_ms(emulator_start)) / 1000.0;
    }
    int leader = leading_master();
    if (leader < 0) {
      result.problem = "cannot tell which master leads:\n" + emulator_tails();
      return result;
    }
    result.rss_before_mb = rss_mb(masters_[leader]->pid());
    for (auto& emulator : emulators_) result.emulator_rss_mb += rss_mb(emulator->pid());
    std::vector<double> masters_cpu(masters_.size());
    for (size_t i = 0; i < masters_.size(); ++i) {
      masters_cpu[i] = tessera::bench::cpu_seconds(masters_[i]->pid());
    }
    double emulators_cpu = 0;
    for (auto& emulator : emulators_) emulators_cpu += tessera::bench::cpu_seconds(emulator->pid());

    kill_time = Clock::now();
    masters_[leader]->signal(SIGKILL);
    bool done = framework.run_until(
        [&] {
          return (first_offer_after && latest(all_registered_, 2).has_value()) || emulator_exited();
        },
        std::chrono::seconds(120 + agents_ / 100));
    if (auto t = earliest(master_line_, 2)) {
      result.election_ms = static_cast<double>(*t - mono_ms(kill_time));
    }
    if (auto t = earliest(first_registered_, 2)) {
      result.first_ms = static_cast<double>(*t - mono_ms(kill_time));
    }
    if (auto t = latest(all_registered_, 2)) {
      result.reregistered_ms = static_cast<double>(*t - mono_ms(kill_time));
    }
    if (first_offer_after) {
      result.offers_ms =
          std::chrono::duration<double, std::milli>(*first_offer_after - kill_time).count();
    }
    int next = leading_master();
    if (next >= 0 && next != leader) {
      result.rss_after_mb = rss_mb(masters_[next]->pid());
      result.master_cpu_s = tessera::bench::cpu_seconds(masters_[next]->pid()) - masters_cpu[next];
    }
    if (done) {
      double after = 0;
      for (auto& emulator : emulators_) after += tessera::bench::cpu_seconds(emulator->pid());
      result.emulator_cpu_s = after - emulators_cpu;
    }
    if (!done || emulator_exited()) {
      result.problem = "the failover did not complete:\n" + emulator_tails();
    }
    masters_[leader].reset();
    for (auto& emulator : emulators_) emulator->stop(std::chrono::seconds(10));
    for (auto& master : masters_) {
      if (master) master->stop(std::chrono::seconds(10));
    }
    return result;
  }

  ~Bench() {
    if (options_.keep_logs) {
      std::fprintf(stderr, "logs kept in %s\n", dir_.path().c_str());
      std::string command = "cp -r " + dir_.path().string() + " /tmp/bench_failover.logs";
      if (std::system(command.c_str()) != 0) std::fprintf(stderr, "copy failed\n");
    }
  }

 private:
  void start_master(size_t i, const std::string& servers) {
    std::string name = "master-" + std::to_string(i);
    std::string text =
        "[node]\nname = \"" + name + "\"\nroles = [\"master\"]\nleader = \"leader_zookeeper\"\n" +
        "work_dir = \"" + (dir_ / name).string() + "\"\nplugin_dirs = [\"" + options_.plugin_dir +
        "\"]\nendpoints_file = \"" + (dir_ / (name + ".endpoints")).string() +
        "\"\n[log]\nlevel = \"" + options_.master_log_level +
        "\"\n[master]\nallocator = \"allocator_drf\"\n"
        "endpoint = \"tcp://127.0.0.1:0\"\nagent_ping_interval_ms = 5000\n"
        "agent_ping_timeout_ms = 30000\nagent_removal_timeout_ms = 600000\n"
        "[plugins.leader_zookeeper]\nservers = \"" +
        servers + "\"\npath = \"/bench\"\nsession_timeout_ms = " +
        std::to_string(options_.session_timeout_ms) + "\n";
    auto config = dir_.write(name + ".toml", text);
    masters_.push_back(std::make_unique<Process>(
        std::vector<std::string>{options_.host_bin, config.string()}, dir_ / (name + ".log")));
  }

  bool wait_file(const std::filesystem::path& path) {
    return tessera::testing::eventually(
        [&] {
          return tessera::testing::read_file(path).find("master.endpoint") != std::string::npos;
        },
        std::chrono::seconds(30));
  }

  // Over every emulator process: the latest (or earliest) time of its nth line matching
  // `pattern`; nothing until every process has printed it.
  std::optional<int64_t> latest(const std::regex& pattern, size_t nth) {
    std::optional<int64_t> found;
    for (auto& emulator : emulators_) {
      auto t = nth_time(emulator->output(), pattern, nth);
      if (!t) return std::nullopt;
      found = std::max(found.value_or(*t), *t);
    }
    return found;
  }
  std::optional<int64_t> earliest(const std::regex& pattern, size_t nth) {
    std::optional<int64_t> found;
    for (auto& emulator : emulators_) {
      if (auto t = nth_time(emulator->output(), pattern, nth)) {
        found = std::min(found.value_or(*t), *t);
      }
    }
    return found;
  }
  bool emulator_exited() {
    for (auto& emulator : emulators_) {
      if (emulator->wait(std::chrono::milliseconds(0)).has_value()) return true;
    }
    return false;
  }
  std::string emulator_tails() {
    std::string out;
    for (auto& emulator : emulators_) out += tail(*emulator);
    return out;
  }

  // The master whose endpoint the (first) emulator follows now.
  int leading_master() {
    std::regex master_line("emulator: master (\\S+) \\(generation");
    std::string out = emulators_.front()->output();
    std::string endpoint;
    for (auto it = std::sregex_iterator(out.begin(), out.end(), master_line);
         it != std::sregex_iterator(); ++it) {
      endpoint = (*it)[1];
    }
    for (size_t i = 0; i < masters_.size(); ++i) {
      if (!masters_[i]) continue;
      std::string file =
          tessera::testing::read_file(dir_ / ("master-" + std::to_string(i) + ".endpoints"));
      if (!endpoint.empty() && file.find("\"" + endpoint + "\"") != std::string::npos) {
        return static_cast<int>(i);
      }
    }
    return -1;
  }

  std::string tail(const Process& process) {
    std::string out = process.output();
    return out.size() > 4000 ? out.substr(out.size() - 4000) : out;
  }

  std::string logs() {
    std::string out;
    for (auto& master : masters_) {
      if (master) out += tail(*master);
    }
    return out;
  }

  const Options& options_;
  size_t agents_;
  TempDir dir_;
  std::vector<std::unique_ptr<Process>> masters_;
  std::vector<std::unique_ptr<Process>> emulators_;
  const std::regex all_registered_{
      "emulator: all \\d+ agents registered with (\\S+) .*mono_ms=(\\d+)"};
  const std::regex first_registered_{
      "emulator: first agent registered with (\\S+) .*mono_ms=(\\d+)"};
  const std::regex master_line_{"emulator: master (\\S+) \\(generation \\d+\\) mono_ms=(\\d+)"};
};

// Field by field, the median of the runs (a failed run's -1 counts as the lowest value).
Result median(std::vector<Result> runs) {
  auto middle = [&](double Result::*field) {
    std::vector<double> values;
    values.reserve(runs.size());
    for (const Result& r : runs) values.push_back(r.*field);
    std::sort(values.begin(), values.end());
    return values[values.size() / 2];
  };
  Result m;
  m.agents = runs.front().agents;
  m.start_seconds = middle(&Result::start_seconds);
  m.election_ms = middle(&Result::election_ms);
  m.first_ms = middle(&Result::first_ms);
  m.reregistered_ms = middle(&Result::reregistered_ms);
  m.offers_ms = middle(&Result::offers_ms);
  m.rss_before_mb = middle(&Result::rss_before_mb);
  m.rss_after_mb = middle(&Result::rss_after_mb);
  m.emulator_rss_mb = middle(&Result::emulator_rss_mb);
  m.master_cpu_s = middle(&Result::master_cpu_s);
  m.emulator_cpu_s = middle(&Result::emulator_cpu_s);
  return m;
}

std::vector<size_t> parse_list(const std::string& text) {
  std::vector<size_t> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    out.push_back(std::stoul(text.substr(start, comma - start)));
    start = comma + 1;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", arg.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--agents") {
      options.agents = parse_list(value());
    } else if (arg == "--tasks-per-agent") {
      options.tasks_per_agent = std::stoul(value());
    } else if (arg == "--masters") {
      options.masters = std::max<size_t>(2, std::stoul(value()));
    } else if (arg == "--session-timeout-ms") {
      options.session_timeout_ms = std::stoi(value());
    } else if (arg == "--agents-per-emulator") {
      options.agents_per_emulator = std::max<size_t>(1, std::stoul(value()));
    } else if (arg == "--runs") {
      options.runs = std::clamp<size_t>(std::stoul(value()), 1, 20);
    } else if (arg == "--master-log-level") {
      options.master_log_level = value();
      if (options.master_log_level.find_first_not_of("abcdefghijklmnopqrstuvwxyz") !=
          std::string::npos) {
        std::fprintf(stderr, "--master-log-level takes a level such as info or debug\n");
        return 2;
      }
    } else if (arg == "--keep-logs") {
      options.keep_logs = true;
    } else if (arg == "--build") {
      // Another build tree of this project: its tessera-host, plugins and emulator.
      if (!tessera::bench::build_programs(value(), options.host_bin, options.plugin_dir,
                                          options.emulator_bin)) {
        return 2;
      }
    } else {
      std::fprintf(stderr,
                   "usage: bench_failover [--agents N[,N...]] [--tasks-per-agent N] "
                   "[--masters N] [--session-timeout-ms N] [--agents-per-emulator N] "
                   "[--runs N] [--master-log-level LEVEL] [--keep-logs] [--build DIR]\n");
      return 2;
    }
  }
  if (std::string missing = ZooKeeperServers::missing(); !missing.empty()) {
    std::fprintf(stderr, "bench_failover: ZooKeeper cannot run here: %s\n", missing.c_str());
    return 2;
  }
  // The master holds one connection per agent, and children inherit the limit.
  size_t largest = *std::max_element(options.agents.begin(), options.agents.end());
  rlim_t wanted = static_cast<rlim_t>(largest) * 3 + 4096;
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  if (limit.rlim_cur < wanted) {
    rlimit raised{wanted, std::max(wanted, limit.rlim_max)};
    if (setrlimit(RLIMIT_NOFILE, &raised) != 0) {
      std::fprintf(stderr, "bench_failover: cannot raise the descriptor limit to %llu\n",
                   static_cast<unsigned long long>(wanted));
    }
  }
  sdk::registered_detector_schemes()["zk"] = tessera::leader::zk::zookeeper_detector_factory();

  std::printf(
      "bench_failover: %zu masters (leader_zookeeper, session timeout %d ms, one "
      "ZooKeeper server), %zu tasks per agent, at most %zu agents per emulator process\n",
      options.masters, options.session_timeout_ms, options.tasks_per_agent,
      options.agents_per_emulator);
  std::printf("%s\n", options.host_bin.c_str());
  std::printf("%8s %10s %12s %9s %14s %10s %12s %12s %12s %12s %11s %11s\n", "agents", "start s",
              "election ms", "first ms", "re-register ms", "offers ms", "after elect.",
              "RSS before", "RSS after", "emulator RSS", "master CPU", "emul. CPU");
  auto print = [](const char* label, const Result& r) {
    std::printf(
        "%8s %10.1f %12.0f %9.0f %14.0f %10.0f %12.0f %9.0f MB %9.0f MB %9.0f MB %9.2f s "
        "%9.2f s\n",
        label, r.start_seconds, r.election_ms, r.first_ms, r.reregistered_ms, r.offers_ms,
        r.reregistered_ms >= 0 && r.election_ms >= 0 ? r.reregistered_ms - r.election_ms : -1,
        r.rss_before_mb, r.rss_after_mb, r.emulator_rss_mb, r.master_cpu_s, r.emulator_cpu_s);
    std::fflush(stdout);
  };
  double zookeeper_ms = zookeeper_reelection_ms();
  int status = 0;
  for (size_t agents : options.agents) {
    std::vector<Result> results;
    for (size_t run = 0; run < options.runs; ++run) {
      Bench bench(options, agents);
      results.push_back(bench.run());
      const Result& r = results.back();
      print(std::to_string(agents).c_str(), r);
      if (!r.problem.empty()) {
        std::fprintf(stderr, "%zu agents: %s\n", agents, r.problem.c_str());
        status = 1;
      }
    }
    if (results.size() > 1) print("median", median(results));
  }
  std::printf(
      "baseline: the session timeout (%d ms) is the floor of the election here; a 3-node "
      "ZooKeeper ensemble re-elected its own leader %.0f ms after SIGKILL to it (this run)\n",
      options.session_timeout_ms, zookeeper_ms);
  return status;
}

// bench_allocator: one allocation cycle of the allocation core, driven by direct calls.
//
// A clone of Mesos's HierarchicalAllocator_BENCHMARK_Test.DeclineOffers: agents of
// cpus:24;mem:4096;disk:4096;ports:[31000-32000], each starting with cpus:16;mem:2014;disk:1024
// and 16 port ranges allocated to one framework, round-robin; all frameworks in one role; DRF.
// Only allocate() is timed (manual time); declines, suppressions and setup are not.
//
//   Direct/DeclineOffers/<agents>/<frameworks>   Mesos's loop: every iteration is one round in
//       which every framework declines what it was offered with a long refuse filter, then one
//       cycle is timed. These early rounds are the ones that make offers (about one per agent).
//   Direct/DeclineOffersSaturated/<agents>/<frameworks>   the state Mesos's loop converges to:
//       every framework has declined every agent (filters installed in bulk, untimed), so a
//       cycle makes no offer and is all filter checks. Mesos's published numbers
//       (10k x 1k: 1.06 s) are of this kind.
//   Direct/SuppressOffers/<agents>/<frameworks>   as DeclineOffers, but every framework also
//       suppresses after declining.
//   Messages/DeclineOffers/<agents>/<frameworks>   the DeclineOffers loop through the plugin's
//       message interface, the way the master drives it: allocator_drf is loaded by the real
//       loader into a host::Host in this process, and this thread plays the master over inproc,
//       sending allocator.* messages (one allocator.recover per declined grant) and receiving
//       allocator.allocated batches. The timed part is from sending allocator.allocate_now to
//       having the batch decoded (cycle + converting and encoding the grants + transfer +
//       decoding); the declines are timed separately (declines_ms, sent and handled) and the
//       plugin's own allocate() is reported as core_ms.
//
// Counters: offers per cycle; median, 99th percentile, max and first cycle time (ms). The number of
// rounds is TESSERA_BENCH_ROUNDS (default 5). Select points with --benchmark_filter, e.g.
//   bench_allocator --benchmark_filter='DeclineOffers/10000/'
//   bench_allocator --benchmark_filter='(Direct|Messages)/DeclineOffers/10000/1000$'
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>

#include "allocation_core/allocator_service.h"
#include "allocator_drf/drf_policy.h"
#include "config.h"
#include "host.h"
#include "tessera/message.h"
#include "tessera/protocol/allocator.h"
#include "tessera/sdk/event_loop.h"

namespace {

using namespace tessera::allocation;

constexpr Duration kLongFilter = std::chrono::seconds(INT_MAX);

int rounds() {
  const char* env = std::getenv("TESSERA_BENCH_ROUNDS");
  int value = env != nullptr ? std::atoi(env) : 0;
  return value > 0 ? value : 5;
}

Resources parse(const char* text) {
  auto parsed = Resources::parse(text);
  if (!parsed.ok()) {
    std::fprintf(stderr, "bench: %s\n", parsed.error().message.c_str());
    std::abort();
  }
  return *parsed;
}

// What each agent starts with allocated: Mesos's fragment(31000-32000, 16) gives 16 disjoint
// port ranges; ours are 32 ports every 64, which leaves 17 free fragments per agent.
Resources initialAllocation() {
  Resources allocation = parse("cpus:16;mem:2014;disk:1024");
  Ranges ports;
  for (std::uint64_t k = 0; k < 16; ++k) ports.add(Interval{31000 + 64 * k, 31000 + 64 * k + 31});
  allocation.addRanges("ports", ports);
  return allocation;
}

std::string name(const char* prefix, std::int64_t i) {
  std::string out(prefix);
  out += std::to_string(i);
  return out;
}

struct Cluster {
  std::unique_ptr<Allocator> allocator = makeDrfAllocator();
  std::vector<std::string> agents;
  std::vector<std::string> frameworks;
  Resources agentFree;

  Cluster(std::int64_t agentCount, std::int64_t frameworkCount) {
    const Resources total = parse("cpus:24;mem:4096;disk:4096;ports:[31000-32000]");
    const Resources used = initialAllocation();
    agentFree = total - used;
    for (std::int64_t f = 0; f < frameworkCount; ++f) {
      frameworks.push_back(name("framework-", f));
      check(allocator->addFramework(frameworks.back(), {"role1"}));
    }
    for (std::int64_t a = 0; a < agentCount; ++a) {
      agents.push_back(name("agent-", a));
      check(allocator->addAgent(agents.back(), total,
                                {{frameworks[a % frameworkCount], "role1", used}}));
    }
  }

  static void check(const tessera::Status& status) {
    if (!status.ok()) {
      std::fprintf(stderr, "bench: %s\n", status.error().message.c_str());
      std::abort();
    }
  }
};

struct CycleStats {
  std::vector<double> ms;
  double first = 0;  // The first cycle also sorts everything once after the setup.
  std::size_t offers = 0;

  void report(benchmark::State& state) {
    if (ms.empty()) return;
    std::sort(ms.begin(), ms.end());
    state.counters["offers_per_cycle"] = static_cast<double>(offers) / ms.size();
    state.counters["median_ms"] = ms[ms.size() / 2];
    state.counters["p99_ms"] = ms[std::min(ms.size() - 1, ms.size() * 99 / 100)];
    state.counters["max_ms"] = ms.back();
    state.counters["first_ms"] = first;
  }
};

// Times allocate() alone and records it.
void timedCycle(benchmark::State& state, Allocator& allocator, TimePoint now,
                std::vector<Offer>& offers, CycleStats& stats) {
  offers.clear();
  auto start = std::chrono::steady_clock::now();
  allocator.allocate(now, offers);
  auto elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  state.SetIterationTime(elapsed);
  if (stats.ms.empty()) stats.first = elapsed * 1000.0;
  stats.ms.push_back(elapsed * 1000.0);
  stats.offers += offers.size();
  benchmark::DoNotOptimize(offers.data());
}

void declineOffers(benchmark::State& state, bool suppress) {
  Cluster cluster(state.range(0), state.range(1));
  std::vector<Offer> offers;
  offers.reserve(cluster.agents.size());
  TimePoint now{};
  CycleStats stats;
  for (auto _ : state) {
    // Untimed: every framework declines everything it was offered last round.
    for (const Offer& offer : offers) {
      Cluster::check(cluster.allocator->recoverResources(
          offer.frameworkId, offer.agentId, offer.role, offer.resources, kLongFilter, now));
      if (suppress) Cluster::check(cluster.allocator->suppress(offer.frameworkId));
    }
    now += std::chrono::seconds(1);
    timedCycle(state, *cluster.allocator, now, offers, stats);
  }
  stats.report(state);
}

void DeclineOffers(benchmark::State& state) { declineOffers(state, false); }
void SuppressOffers(benchmark::State& state) { declineOffers(state, true); }

void DeclineOffersSaturated(benchmark::State& state) {
  Cluster cluster(state.range(0), state.range(1));
  // Untimed: every framework has declined every agent's free resources with a long filter,
  // agent by agent as Mesos's rounds leave it.
  const TimePoint start{};
  for (const std::string& agent : cluster.agents) {
    for (const std::string& framework : cluster.frameworks) {
      Cluster::check(cluster.allocator->addRefuseFilter(framework, agent, "role1",
                                                        cluster.agentFree, kLongFilter, start));
    }
  }
  std::vector<Offer> offers;
  TimePoint now = start;
  CycleStats stats;
  for (auto _ : state) {
    now += std::chrono::seconds(1);
    timedCycle(state, *cluster.allocator, now, offers, stats);
    if (!offers.empty()) {
      state.SkipWithError("a saturated cluster made offers");
      break;
    }
  }
  stats.report(state);
}

// ----------------------------------------------------------------------------------------------
// Through messages

namespace msg = tessera::protocol::allocator;

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "bench: %s\n", what.c_str());
  std::abort();
}

// A node running allocator_drf, loaded by the real loader, and this thread as its master. The
// master's socket is a plain DEALER with no high-water mark, so a burst of thousands of declines
// is queued rather than dropped (sdk::Client sends with ZMQ_DONTWAIT and would drop past it).
class MessagingNode {
 public:
  MessagingNode() {
    static int serial = 0;
    dir_ =
        std::filesystem::temp_directory_path() /
        ("tessera-bench-allocator-" + std::to_string(::getpid()) + "-" + std::to_string(++serial));
    std::filesystem::create_directories(dir_);
    // No built-in role: the node runs allocator_drf alone and this thread is its master. Cycles
    // only on allocate_now: no periodic or early cycle may interleave with the rounds.
    std::string text = std::string("[node]\nname = \"bench\"\nroles = []\n") + "work_dir = \"" +
                       (dir_ / "work").string() + "\"\n" + "plugin_dirs = [\"" +
                       TESSERA_PLUGIN_DIR + "\"]\n" +
                       "[log]\nlevel = \"warn\"\n[master]\nallocator = \"allocator_drf\"\n" +
                       "[plugins.allocator_drf]\nendpoint = \"" + kEndpoint + "\"\n" +
                       "allocation_interval_ms = 3600000\nbatch_delay_ms = 3600000\n";
    std::ofstream(dir_ / "bench.toml") << text;
    auto config = tessera::host::load_config(dir_ / "bench.toml", "");
    if (!config) fail(config.error().message);
    auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    host_ = std::make_unique<tessera::host::Host>(std::move(*config),
                                                  std::vector<spdlog::sink_ptr>{sink});
    for (auto step :
         {&tessera::host::Host::load, &tessera::host::Host::create, &tessera::host::Host::start}) {
      if (auto s = ((*host_).*step)(); !s) fail(s.error().message);
    }
    socket_ = tessera::sdk::Socket(host_->zmq_context(), ZMQ_DEALER);
    socket_.ref().set(zmq::sockopt::sndhwm, 0);
    socket_.ref().set(zmq::sockopt::rcvhwm, 0);
    socket_.ref().set(zmq::sockopt::rcvtimeo, 600000);
    socket_.ref().connect(kEndpoint);
  }

  ~MessagingNode() {
    socket_.close();  // Before the host terminates the ZeroMQ context.
    host_->stop();
    host_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  template <typename T>
  void send(const T& body) {
    tessera::Header header;
    header.sender = "bench";
    header.sequence = ++sequence_;
    tessera::encode(buffer_, header, body);
    socket_.ref().send(zmq::message_t(buffer_.data(), buffer_.size()), zmq::send_flags::none);
  }

  // Sends allocator.stats and receives until its reply; a batch received meanwhile (the one the
  // messages before it caused) is decoded into `batch`.
  tessera::allocation::Stats sync(std::optional<msg::Allocated>* batch = nullptr) {
    send(tessera::allocation::StatsRequest{});
    const std::uint64_t request = sequence_;
    while (true) {
      zmq::message_t frame;
      if (!socket_.ref().recv(frame, zmq::recv_flags::none)) fail("no answer from allocator_drf");
      auto envelope = tessera::Envelope::decode(frame.data(), frame.size());
      if (!envelope) fail(envelope.error().message);
      if (envelope->is<msg::Allocated>()) {
        auto body = envelope->body<msg::Allocated>();
        if (!body) fail(body.error().message);
        if (batch != nullptr) *batch = std::move(*body);
        continue;
      }
      if (envelope->header().correlation == request) {
        auto stats = envelope->body<tessera::allocation::Stats>();
        if (!stats) fail(stats.error().message);
        return *stats;
      }
    }
  }

 private:
  static constexpr const char* kEndpoint = "inproc://bench.allocator";
  std::filesystem::path dir_;
  std::unique_ptr<tessera::host::Host> host_;
  tessera::sdk::Socket socket_;
  msgpack::sbuffer buffer_;
  std::uint64_t sequence_ = 0;
};

double msSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

double median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

void MessagesDeclineOffers(benchmark::State& state) {
  const std::int64_t agentCount = state.range(0);
  const std::int64_t frameworkCount = state.range(1);
  MessagingNode node;
  // Setup, untimed: the same cluster as Cluster, as the master would announce it.
  const Resources total = parse("cpus:24;mem:4096;disk:4096;ports:[31000-32000]");
  const auto wireTotal = tessera::allocation::toProtocol(total);
  const auto wireUsed = tessera::allocation::toProtocol(initialAllocation());
  std::vector<std::string> frameworks;
  for (std::int64_t f = 0; f < frameworkCount; ++f) {
    frameworks.push_back(name("framework-", f));
    node.send(msg::FrameworkAdded{frameworks.back(), {"role1"}, true});
  }
  for (std::int64_t a = 0; a < agentCount; ++a) {
    std::string agent = name("agent-", a);
    node.send(
        msg::AgentAdded{agent,
                        agent,
                        wireTotal,
                        {msg::Allocation{frameworks[a % frameworkCount], "role1", wireUsed}}});
  }
  auto setup = node.sync();
  if (setup.agents != static_cast<std::uint64_t>(agentCount)) fail("agents were lost in setup");

  std::optional<msg::Allocated> batch;
  CycleStats stats;
  std::vector<double> coreMs;
  std::vector<double> batchMs;
  std::vector<double> declinesMs;
  std::vector<double> perDeclineUs;
  for (auto _ : state) {
    // Untimed in the cycle: every framework declines what it was offered last round (one
    // allocator.recover per grant, "until revive"), and the allocator has handled them all.
    if (batch) {
      auto start = std::chrono::steady_clock::now();
      for (const msg::Grant& grant : batch->grants) {
        node.send(msg::Recover{grant.framework_id, grant.agent_id, grant.role, grant.resources,
                               static_cast<double>(INT_MAX)});
      }
      node.sync();
      declinesMs.push_back(msSince(start));
      perDeclineUs.push_back(declinesMs.back() * 1000.0 / batch->grants.size());
    }
    batch.reset();
    // Timed: allocate_now until the batch is received and decoded.
    auto start = std::chrono::steady_clock::now();
    node.send(msg::AllocateNow{});
    auto after = node.sync(&batch);
    double elapsed = msSince(start);
    state.SetIterationTime(elapsed / 1000.0);
    if (stats.ms.empty()) stats.first = elapsed;
    stats.ms.push_back(elapsed);
    stats.offers += batch ? batch->grants.size() : 0;
    coreMs.push_back(after.last_cycle_ns / 1e6);
    batchMs.push_back(batch ? after.last_batch_ns / 1e6 : 0.0);
  }
  stats.report(state);
  state.counters["core_ms"] = median(coreMs);
  state.counters["batch_ms"] = median(batchMs);
  state.counters["declines_ms"] = median(declinesMs);
  state.counters["decline_us"] = median(perDeclineUs);
}

void registerGrid() {
  const std::vector<std::int64_t> agents = {1000, 5000, 10000, 20000, 50000};
  const std::vector<std::int64_t> frameworks = {1, 50, 100, 200, 500, 1000, 2000, 3000};
  const int iterations = rounds();
  struct Variant {
    const char* name;
    void (*fn)(benchmark::State&);
  };
  for (Variant variant : {Variant{"Direct/DeclineOffers", DeclineOffers},
                          Variant{"Direct/DeclineOffersSaturated", DeclineOffersSaturated},
                          Variant{"Direct/SuppressOffers", SuppressOffers},
                          Variant{"Messages/DeclineOffers", MessagesDeclineOffers}}) {
    for (std::int64_t a : agents) {
      for (std::int64_t f : frameworks) {
        benchmark::RegisterBenchmark(variant.name, variant.fn)
            ->Args({a, f})
            ->Iterations(iterations)
            ->UseManualTime()
            ->Unit(benchmark::kMillisecond);
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  registerGrid();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

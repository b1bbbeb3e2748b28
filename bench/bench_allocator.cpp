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
//
// Counters: offers per cycle; median, 99th percentile, max and first cycle time (ms). The number of
// rounds is TESSERA_BENCH_ROUNDS (default 5). Select points with --benchmark_filter, e.g.
//   bench_allocator --benchmark_filter='DeclineOffers/10000/'
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "allocator_drf/drf_policy.h"

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
                          Variant{"Direct/SuppressOffers", SuppressOffers}}) {
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

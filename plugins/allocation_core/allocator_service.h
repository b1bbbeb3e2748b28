// The allocator service: the one place where the allocator protocol (tessera/protocol/
// allocator.h) meets the allocation core. Both allocator plugins are this service around a core
// with their own ordering policy; they differ in nothing else.
//
// What it does, on its plugin's loop thread:
// - Binds an sdk::Server (by default at protocol::allocator::kEndpoint) and maps every message
//   of the protocol to one core call, converting protocol::Resources to the core's Resources.
// - Remembers the master: the peer (ZeroMQ routing id) that sent the latest agent or framework
//   event. When another peer sends one (a new master after a failover), batches go to it.
// - Runs an allocation cycle every `interval`; soon after something that can produce offers
//   (Allocator::allocationPending(): resources recovered, agent or framework added, revive),
//   once no message has arrived for `batchDelay` (so a burst of recovers makes one cycle, and
//   at most `interval` after the first); when a refuse filter expires; and on AllocateNow.
// - Pushes one allocator.allocated batch per cycle that allocated something, to the master.
// - Messages naming unknown agents or frameworks, or carrying unusable resources, are logged
//   and ignored: the master and the allocator can disagree briefly (an agent removed while its
//   offers were being declined) and that must never stop the allocator.
//
// Ownership and threading: the service is created, used and destroyed on its plugin's loop
// thread; it borrows the Bus (and loop) and the Allocator, which must outlive it, and owns its
// Server and its timers (cancelled on destruction).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "allocation_core/allocator.h"
#include "tessera/protocol/allocator.h"
#include "tessera/protocol/resources.h"
#include "tessera/sdk/plugin.h"

namespace tessera::allocation {

// --- Conversions between the wire and the core ---------------------------------------------

// fromProtocol() is in resources.h.
protocol::Resources toProtocol(const Resources& resources);
// A Recover's refuse_seconds as the core's filter duration, checked by protocol::wire_duration:
// zero, or what is not a duration (negative, NaN, infinite), means no filter; more than 365
// days (Mesos's cap, protocol::limits::kMaxRefuseSeconds) is 365 days.
Duration refuseDuration(double seconds);

// --- Extension messages --------------------------------------------------------------------
// Not in protocol/allocator.h (proposed for it): a request answered with the service's
// counters, for tools and benchmarks. Messages are handled in order, so its reply also says
// that everything sent before it has been handled (after an AllocateNow: the cycle ran and its
// batch, if any, was pushed first).
struct StatsRequest {
  static constexpr const char* kType = "allocator.stats";
  static constexpr uint32_t kSchema = 1;
  TESSERA_NO_FIELDS();
};

struct Stats {
  static constexpr const char* kType = "allocator.stats_reply";
  static constexpr uint32_t kSchema = 1;
  std::string policy;           // "drf" or "priority"
  uint64_t cycles = 0;          // allocation cycles run
  uint64_t grants = 0;          // grants pushed, all cycles together
  uint64_t batches = 0;         // allocator.allocated batches pushed
  uint64_t ignored = 0;         // messages logged and ignored (unknown ids, bad resources)
  uint64_t master_changes = 0;  // times a new peer became the master
  uint64_t last_cycle_ns = 0;   // Allocator::allocate alone, last cycle
  uint64_t last_batch_ns = 0;   // converting, encoding and sending the last batch
  uint64_t agents = 0;
  uint64_t frameworks = 0;
  TESSERA_MSGPACK_MAP(policy, cycles, grants, batches, ignored, master_changes, last_cycle_ns,
                      last_batch_ns, agents, frameworks);
};

// The allocator.allocated batch packed straight from the core's offers: it decodes as
// protocol::allocator::Allocated (same keys and types), without building that struct's maps and
// strings first, which is most of what a batch costs. Encode-only; `offers` must outlive it.
struct AllocatedBatch {
  static constexpr const char* kType = protocol::allocator::Allocated::kType;
  static constexpr uint32_t kSchema = protocol::allocator::Allocated::kSchema;
  const std::vector<Offer>* offers = nullptr;
  double cycle_seconds = -1;  // how long the cycle that made these offers took

  template <typename Packer>
  void msgpack_pack(Packer& packer) const {
    packer.pack_map(2);
    key(packer, "grants");
    packer.pack_array(static_cast<uint32_t>(offers->size()));
    for (const Offer& offer : *offers) {
      packer.pack_map(4);
      key(packer, "framework_id");
      packer.pack(offer.frameworkId);
      key(packer, "agent_id");
      packer.pack(offer.agentId);
      key(packer, "role");
      packer.pack(offer.role);
      key(packer, "resources");
      packResources(packer, offer.resources);
    }
    key(packer, "cycle_seconds");
    packer.pack_double(cycle_seconds);
  }

 private:
  template <typename Packer>
  static void key(Packer& packer, std::string_view name) {
    packer.pack_str(static_cast<uint32_t>(name.size()));
    packer.pack_str_body(name.data(), static_cast<uint32_t>(name.size()));
  }
  // As protocol::Resources: {"scalars": {name: double}, "ranges": {name: [[begin, end], ...]}}.
  template <typename Packer>
  static void packResources(Packer& packer, const Resources& resources) {
    packer.pack_map(2);
    key(packer, "scalars");
    packer.pack_map(static_cast<uint32_t>(resources.scalars().size()));
    for (const Resources::Scalar& scalar : resources.scalars()) {
      key(packer, ResourceNames::name(scalar.id));
      packer.pack_double(fromMilli(scalar.value));
    }
    key(packer, "ranges");
    packer.pack_map(static_cast<uint32_t>(resources.rangeSets().size()));
    for (const Resources::RangeSet& set : resources.rangeSets()) {
      key(packer, ResourceNames::name(set.id));
      packer.pack_array(static_cast<uint32_t>(set.ranges.intervals().size()));
      for (const Interval& interval : set.ranges.intervals()) {
        packer.pack_array(2);
        packer.pack(interval.begin);
        packer.pack(interval.end);
      }
    }
  }
};

// --- The service -----------------------------------------------------------------------------

struct ServiceOptions {
  std::string endpoint = protocol::allocator::kEndpoint;
  std::vector<std::string> extraEndpoints;  // also bound, e.g. tcp:// for tools
  std::chrono::milliseconds interval{1000};
  std::chrono::milliseconds batchDelay{5};
};

// Sets a role's priority band; null for policies without bands (SetPriority is then logged
// and ignored).
using SetPriorityHook = std::function<Status(const std::string& role, std::int64_t priority)>;

class AllocatorService {
 public:
  AllocatorService(sdk::Bus& bus, Allocator& allocator, ServiceOptions options,
                   SetPriorityHook setPriority = nullptr);
  ~AllocatorService();
  AllocatorService(const AllocatorService&) = delete;
  AllocatorService& operator=(const AllocatorService&) = delete;

  // Binds every endpoint, registers the handlers and starts the periodic cycle. Returns the
  // resolved addresses, the main endpoint first.
  Result<std::vector<std::string>> start();

  // Runs one cycle now and pushes its batch (what AllocateNow does).
  void runCycle();

  const Stats& stats() const { return stats_; }
  const std::string& master() const { return master_; }

 private:
  template <typename T, typename F>
  void handle(F handler);
  // Records the sender of an agent or framework event as the master.
  void noteMaster(const std::string& peer, const char* type);
  // After every message: schedules the early cycle and the filter-expiry cycle as needed.
  void afterMessage();
  void onPendingTimer();
  void scheduleExpiry();
  void ignore(const char* type, const Error& error);

  void agentAdded(const protocol::allocator::AgentAdded& message);
  void frameworkAdded(const protocol::allocator::FrameworkAdded& message);

  sdk::Bus& bus_;
  Allocator& allocator_;
  ServiceOptions options_;
  SetPriorityHook setPriority_;
  std::unique_ptr<sdk::Server> server_;

  std::string master_;
  sdk::EventLoop::TimerId periodicTimer_ = 0;
  sdk::EventLoop::TimerId pendingTimer_ = 0;
  sdk::EventLoop::TimerId expiryTimer_ = 0;
  TimePoint expiryTimerAt_{};
  TimePoint lastMessage_{};
  TimePoint pendingSince_{};

  std::vector<Offer> offers_;  // Reused by every cycle.
  Stats stats_;
};

// --- The plugin both allocators are ---------------------------------------------------------
//
// Reads the TOML keys every allocator plugin has (endpoint, extra_endpoints,
// allocation_interval_ms, batch_delay_ms, max_offers_per_framework_per_cycle, weights, quota),
// builds the core with the subclass's policy and serves it. A subclass provides the core and,
// optionally, its own keys and a priority hook.
class AllocatorServicePlugin : public sdk::AllocatorPlugin {
 public:
  using sdk::AllocatorPlugin::AllocatorPlugin;

  Status configure(sdk::ConfigTable& table) final;
  Status start() final;
  void stopping() final;

 protected:
  // The core ordered by the plugin's policy. Called once, from configure().
  virtual std::unique_ptr<Allocator> makeAllocator(AllocatorOptions options) = 0;
  // Reads the policy's own keys and applies them to the core (after makeAllocator).
  virtual void configurePolicy(sdk::ConfigTable& table) {}
  // How SetPriority reaches the policy; null when the policy has no priorities.
  virtual SetPriorityHook priorityHook() { return nullptr; }

  Allocator& allocator() { return *allocator_; }

 private:
  ServiceOptions options_;
  std::unique_ptr<Allocator> allocator_;
  std::unique_ptr<AllocatorService> service_;  // Declared last: destroyed first.
};

}  // namespace tessera::allocation

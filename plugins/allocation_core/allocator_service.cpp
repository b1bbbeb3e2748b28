#include "allocation_core/allocator_service.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "tessera/protocol/duration.h"

namespace tessera::allocation {

namespace msg = protocol::allocator;
using std::chrono::milliseconds;

// ----------------------------------------------------------------------------------------------
// Conversions

protocol::Resources toProtocol(const Resources& resources) {
  protocol::Resources out;
  for (const Resources::Scalar& scalar : resources.scalars()) {
    out.scalars.emplace(ResourceNames::name(scalar.id), fromMilli(scalar.value));
  }
  for (const Resources::RangeSet& set : resources.rangeSets()) {
    std::vector<protocol::Range>& list = out.ranges[ResourceNames::name(set.id)];
    list.reserve(set.ranges.intervals().size());
    for (const Interval& interval : set.ranges.intervals()) {
      list.push_back(protocol::Range{interval.begin, interval.end});
    }
  }
  return out;
}

Duration refuseDuration(double seconds) {
  auto checked =
      protocol::wire_duration("refuse_seconds", seconds, protocol::limits::kMaxRefuseSeconds);
  return checked ? checked->as<Duration>() : Duration::zero();
}

// ----------------------------------------------------------------------------------------------
// The service

namespace {

// Routing ids are binary (ZeroMQ's anonymous ones are a zero byte and four bytes): hex them.
std::string printable(const std::string& peer) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : peer) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out.empty() ? "(none)" : out;
}

milliseconds ceilMs(Duration d) {
  if (d <= Duration::zero()) return milliseconds(0);
  return std::chrono::ceil<milliseconds>(d);
}

// A timer further out than this is re-armed when it fires rather than scheduled exactly, so no
// time arithmetic ever approaches the clock's limits.
constexpr milliseconds kLongestTimer = std::chrono::hours(1);

}  // namespace

AllocatorService::AllocatorService(sdk::Bus& bus, Allocator& allocator, ServiceOptions options,
                                   SetPriorityHook setPriority)
    : bus_(bus),
      allocator_(allocator),
      options_(std::move(options)),
      setPriority_(std::move(setPriority)) {
  stats_.policy = std::string(allocator_.policy().name());
}

AllocatorService::~AllocatorService() {
  for (sdk::EventLoop::TimerId id : {periodicTimer_, pendingTimer_, expiryTimer_}) {
    if (id != 0) bus_.loop->cancel(id);
  }
}

template <typename T, typename F>
void AllocatorService::handle(F handler) {
  server_->on<T>([this, handler = std::move(handler)](const sdk::Request& request, const T& body) {
    lastMessage_ = Clock::now();
    handler(request, body);
    afterMessage();
  });
}

Result<std::vector<std::string>> AllocatorService::start() {
  server_ = std::make_unique<sdk::Server>(bus_, "allocator");
  const sdk::Logger& log = bus_.log;

  handle<msg::AgentAdded>([this](const sdk::Request& request, const msg::AgentAdded& m) {
    noteMaster(request.peer, msg::AgentAdded::kType);
    agentAdded(m);
  });
  handle<msg::AgentRemoved>([this](const sdk::Request& request, const msg::AgentRemoved& m) {
    noteMaster(request.peer, msg::AgentRemoved::kType);
    if (auto s = allocator_.removeAgent(m.agent_id); !s)
      ignore(msg::AgentRemoved::kType, s.error());
  });
  handle<msg::AgentActivation>([this](const sdk::Request& request, const msg::AgentActivation& m) {
    noteMaster(request.peer, msg::AgentActivation::kType);
    Status s =
        m.active ? allocator_.activateAgent(m.agent_id) : allocator_.deactivateAgent(m.agent_id);
    if (!s) ignore(msg::AgentActivation::kType, s.error());
  });
  handle<msg::FrameworkAdded>([this](const sdk::Request& request, const msg::FrameworkAdded& m) {
    noteMaster(request.peer, msg::FrameworkAdded::kType);
    frameworkAdded(m);
  });
  handle<msg::FrameworkRemoved>(
      [this](const sdk::Request& request, const msg::FrameworkRemoved& m) {
        noteMaster(request.peer, msg::FrameworkRemoved::kType);
        if (auto s = allocator_.removeFramework(m.framework_id); !s) {
          ignore(msg::FrameworkRemoved::kType, s.error());
        }
      });
  handle<msg::FrameworkActivation>(
      [this](const sdk::Request& request, const msg::FrameworkActivation& m) {
        noteMaster(request.peer, msg::FrameworkActivation::kType);
        Status s = m.active ? allocator_.activateFramework(m.framework_id)
                            : allocator_.deactivateFramework(m.framework_id);
        if (!s) ignore(msg::FrameworkActivation::kType, s.error());
      });
  handle<msg::Recover>([this](const sdk::Request&, const msg::Recover& m) {
    auto resources = fromProtocol(m.resources);
    if (!resources) {
      return ignore(msg::Recover::kType,
                    resources.error().context("framework '" + m.framework_id + "' on agent '" +
                                              m.agent_id + "'"));
    }
    Status s = allocator_.recoverResources(m.framework_id, m.agent_id, m.role, *resources,
                                           refuseDuration(m.refuse_seconds), lastMessage_);
    if (!s) ignore(msg::Recover::kType, s.error());
  });
  handle<msg::Suppress>([this](const sdk::Request&, const msg::Suppress& m) {
    if (auto s = allocator_.suppress(m.framework_id, m.role); !s) {
      ignore(msg::Suppress::kType, s.error());
    }
  });
  handle<msg::Revive>([this](const sdk::Request&, const msg::Revive& m) {
    if (auto s = allocator_.revive(m.framework_id, m.role); !s)
      ignore(msg::Revive::kType, s.error());
  });
  // Role changes are answered (RoleResult), so an operator hears about a refusal.
  auto answer = [this](const sdk::Request& request, const char* type, const Status& status) {
    if (!status) {
      ++stats_.ignored;
      bus_.log.warn("refused '{}': {}", type, status.error().message);
    }
    server_->reply(request,
                   msg::RoleResult{status.ok(), status.ok() ? "" : status.error().message});
  };
  handle<msg::SetWeight>([this, answer](const sdk::Request& request, const msg::SetWeight& m) {
    Status s = allocator_.setWeight(m.role, m.weight);
    if (s) bus_.log.info("role '{}' has weight {}", m.role, m.weight);
    answer(request, msg::SetWeight::kType, s);
  });
  handle<msg::SetQuota>([this, answer](const sdk::Request& request, const msg::SetQuota& m) {
    auto limit = fromProtocol(m.limit);
    if (!limit) {
      return answer(request, msg::SetQuota::kType, limit.error().context("role '" + m.role + "'"));
    }
    Status s = allocator_.setQuota(m.role, *limit);
    if (s) {
      bus_.log.info("role '{}' has quota limit '{}'", m.role,
                    limit->empty() ? std::string("none") : limit->toString());
    }
    answer(request, msg::SetQuota::kType, s);
  });
  handle<msg::SetPriority>([this, answer](const sdk::Request& request, const msg::SetPriority& m) {
    if (!setPriority_) {
      return answer(request, msg::SetPriority::kType,
                    make_error("role '" + m.role + "': the " + stats_.policy +
                               " allocator has no priorities (use allocator_priority)"));
    }
    Status s = setPriority_(m.role, m.priority);
    if (s) bus_.log.info("role '{}' has priority {}", m.role, m.priority);
    answer(request, msg::SetPriority::kType, s);
  });
  handle<msg::AllocateNow>([this](const sdk::Request&, const msg::AllocateNow&) { runCycle(); });
  server_->on<StatsRequest>([this](const sdk::Request& request, const StatsRequest&) {
    stats_.agents = allocator_.agentCount();
    stats_.frameworks = allocator_.frameworkCount();
    server_->reply(request, stats_);
  });

  std::vector<std::string> bound;
  std::vector<std::string> endpoints = {options_.endpoint};
  endpoints.insert(endpoints.end(), options_.extraEndpoints.begin(), options_.extraEndpoints.end());
  for (const std::string& endpoint : endpoints) {
    auto address = server_->bind(endpoint);
    if (!address) return address.error();
    bound.push_back(*address);
  }
  periodicTimer_ = bus_.loop->every(options_.interval, [this] { runCycle(); });
  log.info("{} allocator serving on {} (a cycle every {} ms)", stats_.policy,
           sdk::detail::join(bound, ", "), options_.interval.count());
  return bound;
}

void AllocatorService::noteMaster(const std::string& peer, const char* type) {
  if (peer == master_) return;
  if (master_.empty()) {
    bus_.log.info("the master is peer {} (first '{}')", printable(peer), type);
  } else {
    bus_.log.warn("a new master: peer {} sent '{}'; batches now go to it instead of peer {}",
                  printable(peer), type, printable(master_));
  }
  master_ = peer;
  ++stats_.master_changes;
}

void AllocatorService::ignore(const char* type, const Error& error) {
  ++stats_.ignored;
  bus_.log.warn("ignoring '{}': {}", type, error.message);
}

void AllocatorService::agentAdded(const msg::AgentAdded& m) {
  auto total = fromProtocol(m.total);
  if (!total) {
    return ignore(msg::AgentAdded::kType, total.error().context("agent '" + m.agent_id + "'"));
  }
  std::vector<AgentAllocation> allocated;
  allocated.reserve(m.allocated.size());
  for (const msg::Allocation& allocation : m.allocated) {
    auto resources = fromProtocol(allocation.resources);
    if (!resources) {
      return ignore(msg::AgentAdded::kType,
                    resources.error().context("agent '" + m.agent_id + "', framework '" +
                                              allocation.framework_id + "'"));
    }
    allocated.push_back(
        AgentAllocation{allocation.framework_id, allocation.role, std::move(*resources)});
  }
  // A known agent is re-registering (or a new master re-adds it): what the message says
  // replaces what the core had, including what runs there.
  if (allocator_.agentFree(m.agent_id).ok()) {
    bus_.log.info("agent '{}' re-added: replacing its resources and allocations", m.agent_id);
    (void)allocator_.removeAgent(m.agent_id);
  }
  if (auto s = allocator_.addAgent(m.agent_id, *total, allocated); !s) {
    ignore(msg::AgentAdded::kType, s.error());
  }
}

void AllocatorService::frameworkAdded(const msg::FrameworkAdded& m) {
  if (!allocator_.frameworkAllocation(m.framework_id).ok()) {
    if (auto s = allocator_.addFramework(m.framework_id, m.roles, m.active); !s) {
      ignore(msg::FrameworkAdded::kType, s.error());
    }
    return;
  }
  // A known framework re-added (a new master re-adds what it knows): keep what it holds and
  // apply the activation. Changing a framework's roles is not supported by the core.
  for (const std::string& role : m.roles) {
    if (!allocator_.frameworkAllocation(m.framework_id, role).ok()) {
      bus_.log.warn(
          "framework '{}' re-added with the new role '{}': role changes are not "
          "supported, it keeps its roles",
          m.framework_id, role);
      ++stats_.ignored;
    }
  }
  Status s = m.active ? allocator_.activateFramework(m.framework_id)
                      : allocator_.deactivateFramework(m.framework_id);
  if (!s) ignore(msg::FrameworkAdded::kType, s.error());
}

void AllocatorService::afterMessage() {
  if (allocator_.allocationPending() && pendingTimer_ == 0) {
    pendingSince_ = lastMessage_;
    pendingTimer_ = bus_.loop->after(options_.batchDelay, [this] { onPendingTimer(); });
  }
  scheduleExpiry();
}

void AllocatorService::onPendingTimer() {
  pendingTimer_ = 0;
  if (!allocator_.allocationPending()) return;
  // Wait for a quiet moment so that a burst of recovers makes one cycle, but never longer than
  // one interval after the first of them.
  TimePoint now = Clock::now();
  TimePoint due = std::min(lastMessage_ + options_.batchDelay, pendingSince_ + options_.interval);
  if (now < due) {
    pendingTimer_ = bus_.loop->after(ceilMs(due - now), [this] { onPendingTimer(); });
    return;
  }
  runCycle();
}

void AllocatorService::scheduleExpiry() {
  std::optional<TimePoint> next = allocator_.nextFilterExpiry();
  if (!next) return;
  if (expiryTimer_ != 0) {
    if (expiryTimerAt_ <= *next) return;
    bus_.loop->cancel(expiryTimer_);
  }
  TimePoint now = Clock::now();
  milliseconds delay =
      *next <= now ? milliseconds(0) : std::min(ceilMs(*next - now), kLongestTimer);
  expiryTimerAt_ = now + delay;
  expiryTimer_ = bus_.loop->after(delay, [this] {
    expiryTimer_ = 0;
    std::optional<TimePoint> due = allocator_.nextFilterExpiry();
    if (due && *due <= Clock::now()) {
      runCycle();  // Reschedules from the next expiry.
    } else {
      scheduleExpiry();  // A re-armed long timer, or the filter was dropped meanwhile.
    }
  });
}

void AllocatorService::runCycle() {
  if (pendingTimer_ != 0) {
    bus_.loop->cancel(pendingTimer_);
    pendingTimer_ = 0;
  }
  offers_.clear();
  TimePoint start = Clock::now();
  allocator_.allocate(start, offers_);
  TimePoint allocated = Clock::now();
  ++stats_.cycles;
  stats_.last_cycle_ns = static_cast<uint64_t>((allocated - start).count());
  if (!offers_.empty()) {
    if (master_.empty()) {
      // Offers need frameworks, and frameworks come only from the master's events.
      bus_.log.error("{} offer(s) made before any master spoke; they stay allocated",
                     offers_.size());
    } else {
      server_->send(
          master_,
          AllocatedBatch{&offers_, std::chrono::duration<double>(allocated - start).count()});
      ++stats_.batches;
      stats_.grants += offers_.size();
      bus_.log.debug("cycle {}: {} grant(s) to peer {}", stats_.cycles, offers_.size(),
                     printable(master_));
    }
    stats_.last_batch_ns = static_cast<uint64_t>((Clock::now() - allocated).count());
  }
  scheduleExpiry();
}

// ----------------------------------------------------------------------------------------------
// The plugin

Status AllocatorServicePlugin::configure(sdk::ConfigTable& table) {
  options_.endpoint = table.endpoint("endpoint", options_.endpoint);
  options_.extraEndpoints = table.endpoints("extra_endpoints", options_.extraEndpoints);
  options_.interval = milliseconds(table.integer("allocation_interval_ms", 1000, 1, 3600000));
  options_.batchDelay = milliseconds(table.integer("batch_delay_ms", 5, 0, 3600000));
  AllocatorOptions core;
  core.maxOffersPerFrameworkPerCycle = static_cast<std::uint32_t>(table.integer(
      "max_offers_per_framework_per_cycle", 0, 0, std::numeric_limits<std::uint32_t>::max()));
  allocator_ = makeAllocator(core);

  sdk::ConfigTable weights = table.table("weights");
  for (const std::string& role : weights.keys()) {
    auto weight = weights.optional<double>(role);
    if (!weight) continue;
    if (auto s = allocator_->setWeight(role, *weight); !s)
      weights.error_at(role, s.error().message);
  }
  sdk::ConfigTable quota = table.table("quota");
  for (const std::string& role : quota.keys()) {
    auto text = quota.optional<std::string>(role);
    if (!text) continue;
    auto limit = Resources::parse(*text);
    if (!limit) {
      quota.error_at(role, limit.error().message);
      continue;
    }
    if (auto s = allocator_->setQuota(role, *limit); !s) quota.error_at(role, s.error().message);
  }
  configurePolicy(table);
  return {};
}

Status AllocatorServicePlugin::start() {
  service_ = std::make_unique<AllocatorService>(bus(), *allocator_, options_, priorityHook());
  auto bound = service_->start();
  if (!bound) return bound.error();
  context().announce("endpoint", bound->front());
  for (std::size_t i = 1; i < bound->size(); ++i) {
    context().announce("extra_endpoint." + std::to_string(i), (*bound)[i]);
  }
  return {};
}

void AllocatorServicePlugin::stopping() {
  if (!service_) return;
  const Stats& stats = service_->stats();
  log().info("{} cycle(s), {} grant(s) in {} batch(es), {} message(s) ignored", stats.cycles,
             stats.grants, stats.batches, stats.ignored);
}

}  // namespace tessera::allocation

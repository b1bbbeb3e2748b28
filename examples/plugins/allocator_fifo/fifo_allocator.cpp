#include "fifo_allocator.h"

#include <algorithm>

#include "tessera/protocol/duration.h"

namespace example {

namespace msg = tessera::protocol::allocator;
using tessera::sdk::quote;
using tessera::sdk::Request;

namespace {

// What is left after subtractions holds names with nothing in them ("cpus:0"): a grant names
// only what it gives.
tessera::protocol::Resources without_zeros(tessera::protocol::Resources resources) {
  std::erase_if(resources.scalars, [](const auto& scalar) {
    return tessera::protocol::Resources::fixed(scalar.second) == 0;
  });
  std::erase_if(resources.ranges, [](const auto& range) { return range.second.empty(); });
  return resources;
}

}  // namespace

FifoAllocator::FifoAllocator(tessera::sdk::PluginContext& context) : AllocatorPlugin(context) {}

tessera::Status FifoAllocator::configure(tessera::sdk::ConfigTable& table) {
  // The endpoint is part of every allocator's contract: the master connects to the default,
  // and the conformance suite binds it on ipc://.
  endpoint_ = table.endpoint("endpoint", endpoint_, tessera::sdk::EndpointUse::bind);
  interval_ = std::chrono::milliseconds(
      table.integer("allocation_interval_ms", interval_.count(), 1, int64_t{3600} * 1000));
  return {};
}

tessera::Status FifoAllocator::start() {
  server_ = std::make_unique<tessera::sdk::Server>(bus(), "allocator");
  serve();
  auto bound = server_->bind(endpoint_);
  if (!bound) return bound.error();
  context().announce("endpoint", *bound);
  clock().every(interval_, [this] { cycle(); });
  log().info("serving frameworks first come, first served on {}", *bound);
  return {};
}

void FifoAllocator::serve() {
  server_->on<msg::AgentAdded>([this](const Request& request, const msg::AgentAdded& added) {
    heard_from_master(request);
    Resources used;
    for (const msg::Allocation& allocation : added.allocated) used += allocation.resources;
    auto total_ok = tessera::protocol::check_resources(added.total);
    auto used_ok = tessera::protocol::check_resources(used);
    if (!total_ok || !used_ok || !added.total.contains(used)) {
      log().warn("agent {} ignored: {}", quote(added.agent_id),
                 !total_ok  ? total_ok.error().message
                 : !used_ok ? used_ok.error().message
                            : "its tasks use more than it has");
      return;
    }
    // Added again (re-registered): what the message says replaces what was known.
    agents_[added.agent_id] = Agent{added.total - used, {}, true};
    cycle_soon();
  });
  server_->on<msg::AgentRemoved>([this](const Request& request, const msg::AgentRemoved& removed) {
    heard_from_master(request);
    agents_.erase(removed.agent_id);
  });
  server_->on<msg::AgentActivation>(
      [this](const Request& request, const msg::AgentActivation& activation) {
        heard_from_master(request);
        auto agent = agents_.find(activation.agent_id);
        if (agent == agents_.end())
          return log().warn("unknown agent {}", quote(activation.agent_id));
        agent->second.active = activation.active;
        cycle_soon();
      });
  server_->on<msg::FrameworkAdded>([this](const Request& request,
                                          const msg::FrameworkAdded& added) {
    heard_from_master(request);
    bool roles_ok =
        !added.roles.empty() && std::none_of(added.roles.begin(), added.roles.end(),
                                             [](const std::string& role) { return role.empty(); });
    if (!roles_ok) return log().warn("framework {} ignored: no roles", quote(added.framework_id));
    auto [framework, created] = frameworks_.try_emplace(added.framework_id);
    if (created) framework->second.arrival = ++arrivals_;
    framework->second.roles = added.roles;
    framework->second.active = added.active;
    cycle_soon();
  });
  server_->on<msg::FrameworkRemoved>(
      [this](const Request& request, const msg::FrameworkRemoved& removed) {
        heard_from_master(request);
        if (frameworks_.erase(removed.framework_id) == 0) return;
        // What it held is free again.
        for (auto& [id, agent] : agents_) {
          auto granted = agent.granted.find(removed.framework_id);
          if (granted == agent.granted.end()) continue;
          agent.free += granted->second;
          agent.granted.erase(granted);
        }
        cycle_soon();
      });
  server_->on<msg::FrameworkActivation>(
      [this](const Request& request, const msg::FrameworkActivation& activation) {
        heard_from_master(request);
        auto framework = frameworks_.find(activation.framework_id);
        if (framework == frameworks_.end()) return;
        framework->second.active = activation.active;
        cycle_soon();
      });
  server_->on<msg::Recover>([this](const Request&, const msg::Recover& recovered) {
    auto agent = agents_.find(recovered.agent_id);
    auto framework = frameworks_.find(recovered.framework_id);
    if (agent == agents_.end() || framework == frameworks_.end()) return;
    auto granted = agent->second.granted.find(recovered.framework_id);
    // Only what was granted to that framework comes back, so nothing is ever counted twice.
    if (!tessera::protocol::check_resources(recovered.resources) ||
        granted == agent->second.granted.end() || !granted->second.contains(recovered.resources)) {
      return log().warn("recover of {} from {} on {} ignored: not granted to it",
                        quote(recovered.resources.to_string()), quote(recovered.framework_id),
                        quote(recovered.agent_id));
    }
    granted->second -= recovered.resources;
    agent->second.free += recovered.resources;
    auto refuse = tessera::protocol::wire_duration("refuse_seconds", recovered.refuse_seconds,
                                                   tessera::protocol::limits::kMaxRefuseSeconds);
    if (refuse && refuse->seconds > 0) {
      auto duration = refuse->as<std::chrono::milliseconds>();
      framework->second.filters[{recovered.agent_id, recovered.role}] = clock().now() + duration;
      // Offered again once the filter expires, without waiting for the periodic cycle.
      clock().after(duration + std::chrono::milliseconds(1), [this] { cycle(); });
    }
    cycle_soon();
  });
  server_->on<msg::Suppress>([this](const Request&, const msg::Suppress& suppress) {
    auto framework = frameworks_.find(suppress.framework_id);
    if (framework == frameworks_.end()) return;
    if (suppress.role.empty()) {
      framework->second.suppressed.insert(framework->second.roles.begin(),
                                          framework->second.roles.end());
    } else {
      framework->second.suppressed.insert(suppress.role);
    }
  });
  server_->on<msg::Revive>([this](const Request&, const msg::Revive& revive) {
    auto framework = frameworks_.find(revive.framework_id);
    if (framework == frameworks_.end()) return;
    Framework& revived = framework->second;
    if (revive.role.empty()) {
      revived.suppressed.clear();
      revived.filters.clear();
    } else {
      revived.suppressed.erase(revive.role);
      std::erase_if(revived.filters,
                    [&](const auto& filter) { return filter.first.second == revive.role; });
    }
    cycle_soon();
  });
  server_->on<msg::AllocateNow>([this](const Request&, const msg::AllocateNow&) { cycle(); });
  server_->on<msg::SetWeight>([this](const Request& request, const msg::SetWeight&) {
    refuse_role_change(request, "weights");
  });
  server_->on<msg::SetQuota>([this](const Request& request, const msg::SetQuota&) {
    refuse_role_change(request, "quotas");
  });
  server_->on<msg::SetPriority>([this](const Request& request, const msg::SetPriority&) {
    refuse_role_change(request, "priorities");
  });
}

void FifoAllocator::refuse_role_change(const Request& request, const char* what) {
  server_->reply(request, msg::RoleResult{false, std::string("allocator_fifo has no ") + what +
                                                     ": it serves frameworks in arrival order"});
}

void FifoAllocator::cycle_soon() {
  if (cycle_pending_) return;
  cycle_pending_ = true;
  // Posted work runs after the messages already received: one cycle for a burst of them.
  loop().post([this] {
    if (cycle_pending_) cycle();
  });
}

bool FifoAllocator::wants(Framework& framework, const std::string& agent_id, std::string& role) {
  if (!framework.active) return false;
  auto now = clock().now();
  for (const std::string& candidate : framework.roles) {
    if (framework.suppressed.contains(candidate)) continue;
    auto filter = framework.filters.find({agent_id, candidate});
    if (filter != framework.filters.end()) {
      if (filter->second > now) continue;
      framework.filters.erase(filter);
    }
    role = candidate;
    return true;
  }
  return false;
}

void FifoAllocator::cycle() {
  cycle_pending_ = false;
  // Nothing can be granted before a master added agents and frameworks.
  if (master_.empty()) return;
  std::vector<std::pair<const std::string*, Framework*>> queue;
  for (auto& [id, framework] : frameworks_) queue.emplace_back(&id, &framework);
  std::sort(queue.begin(), queue.end(),
            [](const auto& a, const auto& b) { return a.second->arrival < b.second->arrival; });
  msg::Allocated batch;
  for (auto& [agent_id, agent] : agents_) {
    if (!agent.active || agent.free.empty()) continue;
    for (auto& [framework_id, framework] : queue) {
      std::string role;
      if (!wants(*framework, agent_id, role)) continue;
      Resources offered = without_zeros(agent.free);
      agent.granted[*framework_id] += offered;
      batch.grants.push_back(msg::Grant{*framework_id, agent_id, role, offered});
      agent.free = Resources{};
      break;
    }
  }
  if (!batch.grants.empty()) server_->send(master_, batch);
}

}  // namespace example

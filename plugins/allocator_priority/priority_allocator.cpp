#include "allocator_priority/priority_allocator.h"

namespace tessera::allocation {

std::unique_ptr<Allocator> PriorityAllocatorPlugin::makeAllocator(AllocatorOptions options) {
  auto made = makePriorityAllocator(options);
  policy_ = made.policy;
  return std::move(made.allocator);
}

void PriorityAllocatorPlugin::configurePolicy(sdk::ConfigTable& table) {
  sdk::ConfigTable priorities = table.table("priorities");
  for (const std::string& role : priorities.keys()) {
    auto priority = priorities.optional<int64_t>(role);
    if (priority) policy_->setPriority(role, *priority);
  }
}

SetPriorityHook PriorityAllocatorPlugin::priorityHook() {
  return [policy = policy_](const std::string& role, std::int64_t priority) -> Status {
    if (role.empty()) return make_error("a priority needs a role");
    policy->setPriority(role, priority);
    return {};
  };
}

}  // namespace tessera::allocation

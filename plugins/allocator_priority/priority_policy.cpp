#include "allocator_priority/priority_policy.h"

namespace tessera::allocation {

double PriorityPolicy::roleKey(const RoleView& role) const {
  return role.dominantShare / role.weight;
}

double PriorityPolicy::clientKey(const ClientView& client) const { return client.dominantShare; }

std::int64_t PriorityPolicy::roleBand(std::string_view rolePath) const {
  // Smaller bands are served first, and higher priorities must be served first.
  return -priority(rolePath);
}

void PriorityPolicy::setPriority(const std::string& role, std::int64_t priority) {
  priorities_[role] = priority;
  ++generation_;
}

void PriorityPolicy::clearPriority(const std::string& role) {
  if (priorities_.erase(role) > 0) ++generation_;
}

std::int64_t PriorityPolicy::priority(std::string_view role) const {
  std::string path(role);
  while (true) {
    auto it = priorities_.find(path);
    if (it != priorities_.end()) return it->second;
    std::size_t slash = path.rfind('/');
    if (slash == std::string::npos) return 0;
    path.resize(slash);
  }
}

PriorityAllocator makePriorityAllocator(AllocatorOptions options) {
  auto policy = std::make_unique<PriorityPolicy>();
  PriorityPolicy* raw = policy.get();
  return PriorityAllocator{std::make_unique<Allocator>(std::move(policy), options), raw};
}

}  // namespace tessera::allocation

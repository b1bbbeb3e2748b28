#include "allocator_drf/drf_policy.h"

namespace tessera::allocation {

double DrfPolicy::roleKey(const RoleView& role) const {
  // The core guarantees a positive weight; a heavier role may hold proportionally more.
  return role.dominantShare / role.weight;
}

double DrfPolicy::clientKey(const ClientView& client) const { return client.dominantShare; }

std::unique_ptr<Allocator> makeDrfAllocator(AllocatorOptions options) {
  return std::make_unique<Allocator>(std::make_unique<DrfPolicy>(), options);
}

}  // namespace tessera::allocation

// Weighted Dominant Resource Fairness as an ordering policy for the allocation core.
//
// Among sibling roles the one with the smallest dominant share divided by its weight is offered
// first (Ghodsi et al., NSDI 2011, weighted as in Mesos); among the frameworks of a role, the
// one with the smallest dominant share. Weights live in the core (Allocator::setWeight), so
// this policy has no state and never changes generation.
//
// Ownership and threading: owned by an Allocator, called on its owner thread only; stateless.
#pragma once

#include <memory>

#include "allocation_core/allocator.h"
#include "allocation_core/ordering_policy.h"

namespace tessera::allocation {

class DrfPolicy final : public OrderingPolicy {
 public:
  std::string_view name() const override { return "drf"; }
  double roleKey(const RoleView& role) const override;
  double clientKey(const ClientView& client) const override;
};

// An allocation core ordered by weighted DRF.
std::unique_ptr<Allocator> makeDrfAllocator(AllocatorOptions options = {});

}  // namespace tessera::allocation

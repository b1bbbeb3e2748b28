// Strict priority between bands, weighted DRF within a band, as an ordering policy for the
// allocation core.
//
// Every role has a priority (an integer, higher first; default 0). A role without its own
// priority takes its nearest ancestor's, so 'eng/web' is in the band of 'eng' unless told
// otherwise. On every agent, all roles of a higher band are offered before any role of a lower
// band; so a lower band only gets what the higher ones decline (refuse filters), cannot use
// (suppressed, quota reached, offer limit reached) or do not want. Within a band the order is the
// hierarchical weighted DRF order of DrfPolicy.
//
// Preemption is not implemented; the core keeps allocations per role queryable
// (Allocator::roleAllocation) and priority() answers which band a role is in, which is what a
// preemption pass needs to pick victims in lower bands.
//
// Ownership and threading: owned by an Allocator, called on its owner thread only. setPriority
// and clearPriority must be called on that same thread (they are cheap; the core re-sorts at its
// next cycle because generation() changes).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include "allocation_core/allocator.h"
#include "allocation_core/ordering_policy.h"

namespace tessera::allocation {

class PriorityPolicy final : public OrderingPolicy {
 public:
  std::string_view name() const override { return "priority"; }
  double roleKey(const RoleView& role) const override;
  double clientKey(const ClientView& client) const override;
  std::int64_t roleBand(std::string_view rolePath) const override;
  std::uint64_t generation() const override { return generation_; }

  // Sets the role's own priority (higher is served first).
  void setPriority(const std::string& role, std::int64_t priority);
  // Back to inheriting the parent's priority (or 0 at the top).
  void clearPriority(const std::string& role);
  // The priority in effect for the role: its own, else its nearest ancestor's, else 0.
  std::int64_t priority(std::string_view role) const;

 private:
  std::unordered_map<std::string, std::int64_t> priorities_;
  std::uint64_t generation_ = 1;
};

// An allocation core ordered by priority bands. The returned policy pointer is owned by the
// allocator and lives as long as it; use it to set priorities at run time.
struct PriorityAllocator {
  std::unique_ptr<Allocator> allocator;
  PriorityPolicy* policy = nullptr;
};
PriorityAllocator makePriorityAllocator(AllocatorOptions options = {});

}  // namespace tessera::allocation

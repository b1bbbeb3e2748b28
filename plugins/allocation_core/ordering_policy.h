// The ordering policy: the only thing that differs between Tessera's allocators.
//
// The allocation core owns the allocation loop, the bookkeeping and the filters; it asks the
// policy for sort keys, exactly as Mesos's hierarchical allocator asks its sorter. The core
// computes each role's and each framework's dominant share (the largest fraction of any scalar
// resource of the cluster it holds, offered resources included) and hands it to the policy,
// which turns it into a key: smaller keys are offered first.
//
// The core calls a policy only when a share, a weight or the policy's generation changed, never
// per comparison, so a key may do a hash lookup.
//
// Ownership and threading: the Allocator owns its policy (std::unique_ptr) and calls it from the
// allocator's single owner thread; policies hold no locks. Anything that changes a policy's own
// state (e.g. a priority) must be called on that same thread, and must bump generation().
#pragma once

#include <cstdint>
#include <string_view>

namespace tessera::allocation {

// A role, or the frameworks directly in a role, as its siblings see it.
//
// Hierarchical roles: 'eng/web' is a child of 'eng'. A role that has frameworks of its own and
// children is split like Mesos's "virtual leaf": its own frameworks compete with its children
// as one more sibling (self == true, with the share of those frameworks alone), while the role
// as a whole (self == false, share of the whole subtree) competes with its own siblings.
struct RoleView {
  std::string_view path;  // "eng/web"
  double weight = 1.0;    // Set by Allocator::setWeight; never zero.
  double dominantShare = 0.0;
  bool self = false;
};

// One framework's subscription to one role, among the other subscriptions of that role.
struct ClientView {
  std::string_view frameworkId;
  std::string_view role;
  double dominantShare = 0.0;  // Of what this framework holds in this role.
};

class OrderingPolicy {
 public:
  virtual ~OrderingPolicy() = default;

  virtual std::string_view name() const = 0;

  // Key of a role among its siblings; smaller is offered first, ties go to the smaller path.
  virtual double roleKey(const RoleView& role) const = 0;

  // Key of a framework among the frameworks of its role; ties go to the smaller framework id.
  virtual double clientKey(const ClientView& client) const = 0;

  // Strict bands over the flattened list of roles: every role of a smaller band is offered an
  // agent before any role of a larger band, whatever the shares; within a band the hierarchical
  // order above holds. Policies without bands return 0 for every role.
  virtual std::int64_t roleBand(std::string_view /*rolePath*/) const { return 0; }

  // Changes whenever the policy's own state changes (e.g. a priority was set), so the core
  // recomputes every key and band before its next allocation cycle.
  virtual std::uint64_t generation() const { return 0; }
};

}  // namespace tessera::allocation

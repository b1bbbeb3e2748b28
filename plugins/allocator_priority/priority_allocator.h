// PriorityAllocatorPlugin: the allocator_priority plugin. The shared allocator service
// (allocation_core/ allocator_service.h) around an allocation core ordered by strict priority bands
// (weighted DRF within a band); it adds the `priorities` key and answers allocator.set_priority. It
// knows nothing about being a plugin (see plugin.cpp).
//
// Threading: created and configured on the host's main thread, then used only on its loop
// thread (see sdk/plugin.h); the policy is owned by the core, which the plugin owns.
#pragma once

#include "allocation_core/allocator_service.h"
#include "allocator_priority/priority_policy.h"

namespace tessera::allocation {

class PriorityAllocatorPlugin final : public AllocatorServicePlugin {
 public:
  using AllocatorServicePlugin::AllocatorServicePlugin;

 protected:
  std::unique_ptr<Allocator> makeAllocator(AllocatorOptions options) override;
  void configurePolicy(sdk::ConfigTable& table) override;
  SetPriorityHook priorityHook() override;

 private:
  PriorityPolicy* policy_ = nullptr;  // Owned by the core.
};

}  // namespace tessera::allocation

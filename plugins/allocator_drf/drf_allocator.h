// DrfAllocatorPlugin: the allocator_drf plugin. The shared allocator service (allocation_core/
// allocator_service.h) around an allocation core ordered by weighted DRF; it knows nothing about
// being a plugin (see plugin.cpp).
//
// Threading: created and configured on the host's main thread, then used only on its loop
// thread (see sdk/plugin.h).
#pragma once

#include "allocation_core/allocator_service.h"

namespace tessera::allocation {

class DrfAllocatorPlugin final : public AllocatorServicePlugin {
 public:
  using AllocatorServicePlugin::AllocatorServicePlugin;

 protected:
  std::unique_ptr<Allocator> makeAllocator(AllocatorOptions options) override;
};

}  // namespace tessera::allocation

#include "allocator_drf/drf_allocator.h"

#include "allocator_drf/drf_policy.h"

namespace tessera::allocation {

std::unique_ptr<Allocator> DrfAllocatorPlugin::makeAllocator(AllocatorOptions options) {
  return makeDrfAllocator(options);
}

}  // namespace tessera::allocation

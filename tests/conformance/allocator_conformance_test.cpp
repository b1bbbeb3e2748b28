// The allocator conformance suite of the SDK, run against both shipped allocators.
#include "tessera/conformance/allocator.h"

TESSERA_ALLOCATOR_CONFORMANCE(Drf, .name = "allocator_drf", .dir = PLUGIN_DIR);
TESSERA_ALLOCATOR_CONFORMANCE(Priority, .name = "allocator_priority", .dir = PLUGIN_DIR);

// The only file of allocator_drf that knows it is a plugin.
#include "allocator_drf/drf_allocator.h"
#include "tessera/plugin_export.h"

TESSERA_PLUGIN(tessera::allocation::DrfAllocatorPlugin, "allocator_drf", "1.0.0")

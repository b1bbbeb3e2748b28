// The only file of allocator_priority that knows it is a plugin.
#include "allocator_priority/priority_allocator.h"
#include "tessera/plugin_export.h"

TESSERA_PLUGIN(tessera::allocation::PriorityAllocatorPlugin, "allocator_priority", "1.0.0")

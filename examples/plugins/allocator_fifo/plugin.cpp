// The only file of allocator_fifo that knows it is a plugin.
#include "fifo_allocator.h"
#include "tessera/plugin_export.h"

TESSERA_PLUGIN(example::FifoAllocator, "allocator_fifo", "1.0.0")

// allocator_fifo against the SDK's allocator conformance suite: the plugin built beside this
// test, in a real tessera-host.
#include "tessera/conformance/allocator.h"

TESSERA_ALLOCATOR_CONFORMANCE(Fifo, .name = "allocator_fifo", .dir = PLUGIN_DIR);

// The defaults an agent advertises for what [agent] resources leaves out. The text itself
// ("cpus:4;mem:4096;disk:10000;ports:[31000-32000]") is read by protocol::parse_resources
// (tessera/protocol/resources.h), the one parser the CLI and the allocators use too.
//
// Pure functions on values; no I/O except detect_defaults() (reads /proc/meminfo).
#pragma once

#include <string>

#include "tessera/protocol/resources.h"

namespace tessera::host::agent {

// What this machine has: cpus from the hardware concurrency; mem from /proc/meminfo minus a
// 1 GiB reserve for the system (half of the memory on machines with less than 2 GiB); disk
// 10240 MB; ports [31000-32000].
protocol::Resources detect_defaults();

// Fills in the default for each of cpus, mem, disk and ports that `configured` does not name
// (Mesos does the same for its --resources flag).
protocol::Resources with_defaults(protocol::Resources configured,
                                  const protocol::Resources& defaults);

}  // namespace tessera::host::agent

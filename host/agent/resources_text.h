// The Mesos text form of an agent's resources ("cpus:4;mem:4096;disk:10000;ports:[31000-32000]"),
// as written in [agent] resources, and the defaults an agent advertises for what it leaves out.
//
// Pure functions on values; no I/O except detect_defaults() (reads /proc/meminfo).
#pragma once

#include <string>

#include "tessera/protocol/resources.h"
#include "tessera/result.h"

namespace tessera::host::agent {

// Parses "NAME:VALUE;NAME:[B-E,B-E];...". A VALUE is a non-negative number (a scalar: cpus, mem
// and disk in MB, gpus, any custom name); a bracketed list of inclusive ranges is a range set
// (ports). Blanks around names, values and separators are allowed; an empty text is empty
// resources. Errors name the offending item, e.g. "resource 'cpus': expected a number, got 'x'".
Result<protocol::Resources> parse_resources(const std::string& text);

// What this machine has: cpus from the hardware concurrency; mem from /proc/meminfo minus a
// 1 GiB reserve for the system (half of the memory on machines with less than 2 GiB); disk
// 10240 MB; ports [31000-32000].
protocol::Resources detect_defaults();

// Fills in the default for each of cpus, mem, disk and ports that `configured` does not name
// (Mesos does the same for its --resources flag).
protocol::Resources with_defaults(protocol::Resources configured,
                                  const protocol::Resources& defaults);

}  // namespace tessera::host::agent

// The isolator conformance suite of the SDK, run against the shipped isolators: isolator_posix
// (a runtime) and isolator_cgroups (an isolator; its tests are skipped, with its reason, where
// cgroups are not writable).
#include "tessera/conformance/isolator.h"

TESSERA_ISOLATOR_CONFORMANCE(Posix, Runtime, .name = "isolator_posix", .dir = PLUGIN_DIR);
TESSERA_ISOLATOR_CONFORMANCE(Cgroups, Isolator, .name = "isolator_cgroups", .dir = PLUGIN_DIR,
                             .table = "parent = \"tessera-conformance\"\n");

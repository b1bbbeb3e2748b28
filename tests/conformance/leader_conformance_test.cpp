// The leader conformance suite of the SDK, run against the shipped leader plugin.
#include "tessera/conformance/leader.h"

TESSERA_LEADER_CONFORMANCE(Standalone, .name = "leader_standalone", .dir = PLUGIN_DIR);

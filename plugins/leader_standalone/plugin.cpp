// The only file of leader_standalone that knows it is a plugin.
#include "standalone_leader.h"
#include "tessera/plugin_export.h"

TESSERA_PLUGIN(tessera::leader::StandaloneLeader, "leader_standalone", "1.0.0")

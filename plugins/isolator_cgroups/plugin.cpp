// The only file of isolator_cgroups that knows it is a plugin.
#include "cgroups_isolator.h"
#include "tessera/plugin_export.h"

TESSERA_PLUGIN(tessera::isolator_cgroups::CgroupsIsolator, "isolator_cgroups", "1.0.0")

// The only file of framework_marathon that knows it is a plugin.
#include "marathon_framework.h"
#include "tessera/plugin_export.h"

TESSERA_PLUGIN(tessera::marathon::MarathonFramework, "framework_marathon", "0.1.0")

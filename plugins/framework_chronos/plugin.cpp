// framework_chronos: the only file that knows the Chronos scheduler is a plugin.
#include "chronos_framework.h"
#include "tessera/plugin_export.h"

TESSERA_PLUGIN(tessera::chronos::ChronosFramework, "framework_chronos", "0.1.0")

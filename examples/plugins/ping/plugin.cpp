// The only file of example_ping that knows it is a plugin.
#include "ping.h"
#include "tessera/plugin_export.h"

TESSERA_PLUGIN(example::Pinger, "example_ping", "1.0.0")

// The only file of example_pong that knows it is a plugin.
#include "pong.h"
#include "tessera/plugin_export.h"

TESSERA_PLUGIN(example::Ponger, "example_pong", "1.0.0")

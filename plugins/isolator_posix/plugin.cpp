// The only file of isolator_posix that knows it is a plugin.
#include "posix_isolator.h"
#include "tessera/plugin_export.h"

TESSERA_PLUGIN(tessera::isolator_posix::PosixIsolator, "isolator_posix", "1.0.0")

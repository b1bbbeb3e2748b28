// The only file of isolator_docker that knows it is a plugin.
#include "docker_isolator.h"
#include "tessera/plugin_export.h"

TESSERA_PLUGIN(tessera::docker::DockerIsolator, "isolator_docker", "1.0.0")

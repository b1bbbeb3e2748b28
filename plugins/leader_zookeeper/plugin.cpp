// The only file of leader_zookeeper that knows it is a plugin.
#include "tessera/plugin_export.h"
#include "zookeeper_leader.h"

TESSERA_PLUGIN(tessera::leader::ZooKeeperLeader, "leader_zookeeper", "1.0.0")

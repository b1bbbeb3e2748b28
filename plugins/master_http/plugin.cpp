// The only file of master_http that knows it is a plugin.
#include "master_http.h"
#include "tessera/plugin_export.h"

TESSERA_PLUGIN(tessera::master_http::MasterHttp, "master_http", "0.1.0")

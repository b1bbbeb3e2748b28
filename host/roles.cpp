// Registration of the built-in roles: the only place that lists them.
#include "roles.h"

#include "agent/agent.h"
#include "master/master.h"
#include "tessera/plugin_export.h"

namespace tessera::host {

namespace {
const tessera_plugin_descriptor master_descriptor =
    sdk::detail::make_descriptor<master::Master>("master", TESSERA_SDK_VERSION);
const tessera_plugin_descriptor agent_descriptor =
    sdk::detail::make_descriptor<agent::Agent>("agent", TESSERA_SDK_VERSION);
}  // namespace

const tessera_plugin_descriptor* builtin_role(const std::string& name) {
  if (name == "master") return &master_descriptor;
  if (name == "agent") return &agent_descriptor;
  return nullptr;
}

}  // namespace tessera::host

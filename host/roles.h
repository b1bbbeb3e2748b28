// The roles built into tessera-host (master, agent). Each is written against the plugin SDK
// like any plugin and runs through the same descriptor lifecycle (its own thread and loop,
// start timeout, ordered stop), but is compiled into the host and configured by its own
// top-level table.
#pragma once

#include <string>

#include "tessera/abi.h"
#include "tessera/sdk/plugin.h"

namespace tessera::host {

// Base of the built-in roles. kKind is 0: a role is not a plugin kind and never fills a slot.
class Role : public sdk::Plugin {
 public:
  static constexpr uint32_t kKind = 0;
  using sdk::Plugin::Plugin;
};

// The descriptor of a built-in role, or null when this host has none by that name. The one
// place where built-in roles are registered is roles.cpp.
const tessera_plugin_descriptor* builtin_role(const std::string& name);

}  // namespace tessera::host

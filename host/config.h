// The node configuration: which roles this host plays and which plugin fills each slot.
//
//   [node]    name, roles, leader, services, work_dir, plugin_dirs, start_timeout_ms,
//             stop_timeout_ms, endpoints_file
//   [log]     level, pattern
//   [master]  allocator, frameworks, and the master role's own keys
//   [agent]   isolators, and the agent role's own keys
//   [plugins.NAME]  each plugin's own table, read by the plugin itself
//
// Everything that can be checked without loading a plugin is checked here, each problem with
// its FILE:LINE:COL: types and ranges, endpoints (sdk::EndpointUse), the directories the node
// writes into (they must be directories, or creatable), the agent's resources. Nothing is
// created or changed on disk.
//
// Parsing is done once on the main thread; the result is a plain value.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "tessera/abi.h"
#include "tessera/result.h"

namespace tessera::host {

// One plugin a node runs: the slot it fills, the kind that slot takes and where it was named.
struct Selection {
  std::string name;
  std::string slot;  // "master.allocator", "agent.isolators", ...
  tessera_plugin_kind kind;
  std::string where;  // "node.toml:7:13", for error messages
  // A role built into the host ("master", "agent"): run like a plugin, configured by its own
  // top-level table ([master], [agent]) instead of [plugins.NAME].
  bool builtin = false;
};

struct NodeConfig {
  std::filesystem::path file;
  std::string text;  // the whole file, handed to plugins so their errors carry line numbers

  std::string name;
  std::vector<std::string> roles;
  std::filesystem::path work_dir;
  std::vector<std::filesystem::path> plugin_dirs;  // searched in order
  std::chrono::milliseconds start_timeout{10000};
  std::chrono::milliseconds stop_timeout{10000};
  std::filesystem::path endpoints_file;  // empty: none

  // "FILE:LINE:COL" of what a later error concerns: the work directory (when it cannot be
  // created after all), and where each slot the roles need is, or would be, set.
  std::string work_dir_where;
  std::string leader_where;
  std::string allocator_where;
  std::string isolators_where;

  std::string log_level = "info";
  std::string log_pattern = "%Y-%m-%d %H:%M:%S.%e %^%-5l%$ [%n] %v";

  // Whether the built-in roles run. Tests of a plugin turn them off and play the role's part
  // themselves; tessera-host always runs them.
  bool run_roles = true;

  // In start order: leader, allocator, isolators, the master role, the agent role,
  // frameworks, services. Stopped in reverse.
  std::vector<Selection> plugins;

  bool has_role(const std::string& role) const;
  std::string roles_text() const;  // "master,agent"
};

// Reads and checks `file`. `default_plugin_dir` is searched after the configured ones.
// Every problem found is reported at once, each as "FILE:LINE:COL: what".
Result<NodeConfig> load_config(const std::filesystem::path& file,
                               const std::filesystem::path& default_plugin_dir);

}  // namespace tessera::host

#include "config.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "agent/agent.h"
#include "master/master.h"
#include "tessera/sdk/config.h"

namespace tessera::host {

bool NodeConfig::has_role(const std::string& role) const {
  for (const auto& r : roles) {
    if (r == role) return true;
  }
  return false;
}

std::string NodeConfig::roles_text() const { return sdk::detail::join(roles, ","); }

namespace {

std::string hostname() {
  char buffer[256] = {};
  if (gethostname(buffer, sizeof buffer - 1) != 0) return "localhost";
  return buffer;
}

// The agent's resources, beyond what their parser checks (it refuses ports past 65535): port 0
// is not a port a task can be given, it asks the kernel for any free one.
void check_agent_resources(sdk::ConfigTable& agent, const protocol::Resources& resources) {
  auto ports = resources.ranges.find("ports");
  if (ports == resources.ranges.end()) return;
  for (const protocol::Range& range : ports->second) {
    if (range.begin == 0) {
      agent.error_at("resources", "resource 'ports': [" + std::to_string(range.begin) + "-" +
                                      std::to_string(range.end) +
                                      "] is out of range: ports are 1 to 65535");
    }
  }
}

// The paths the node writes into, checked as the user wrote them.
void check_node_paths(sdk::ConfigTable& node, const NodeConfig& config) {
  for (const auto& dir : config.plugin_dirs) {
    std::error_code ec;
    if (std::filesystem::exists(dir, ec) && !std::filesystem::is_directory(dir, ec)) {
      node.error_at("plugin_dirs", "'" + dir.string() + "' is not a directory");
    }
  }
  if (!config.endpoints_file.empty()) {
    std::error_code ec;
    if (std::filesystem::is_directory(config.endpoints_file, ec)) {
      node.error_at("endpoints_file", "'" + config.endpoints_file.string() + "' is a directory");
    } else if (std::string problem =
                   sdk::detail::directory_problem(config.endpoints_file.parent_path());
               !problem.empty()) {
      node.error_at("endpoints_file", problem);
    }
  }
}

// Where a slot the roles need is set, or where it belongs when it is not: its table, or the
// roles that need it when the table is absent too.
std::string slot_location(const sdk::ConfigTable& table, const char* key,
                          const sdk::ConfigTable& node) {
  return table.present() ? table.location(key) : node.location("roles");
}

}  // namespace

Result<NodeConfig> load_config(const std::filesystem::path& file,
                               const std::filesystem::path& default_plugin_dir) {
  std::ifstream in(file);
  if (!in) return make_error("cannot read configuration '" + file.string() + "'");
  std::stringstream buffer;
  buffer << in.rdbuf();

  NodeConfig config;
  config.file = file;
  config.text = buffer.str();
  auto parsed = sdk::ConfigDocument::parse(file.string(), config.text);
  if (!parsed) return parsed.error();
  sdk::ConfigDocument& doc = **parsed;
  // Relative paths in the file are relative to the file's own directory.
  std::filesystem::path base = std::filesystem::absolute(file).parent_path();
  auto resolve = [&](const std::string& p) {
    std::filesystem::path path(p);
    return path.is_absolute() ? path : (base / path).lexically_normal();
  };

  sdk::ConfigTable root = doc.root();
  sdk::ConfigTable node = root.table("node");
  sdk::ConfigTable log = root.table("log");
  sdk::ConfigTable master = root.table("master");
  sdk::ConfigTable agent = root.table("agent");
  sdk::ConfigTable plugins = root.table("plugins");
  root.reject_unknown_keys();

  config.name = node.get<std::string>("name", hostname());
  config.roles = node.get<std::vector<std::string>>("roles", {"master", "agent"});
  for (const auto& role : config.roles) {
    if (role != "master" && role != "agent") {
      node.error_at("roles", "unknown role '" + role + "' (valid roles: master, agent)");
    }
  }
  config.work_dir = node.directory("work_dir", "/var/lib/tessera", base);
  config.work_dir_where = node.location("work_dir");
  for (const auto& dir : node.get<std::vector<std::string>>("plugin_dirs", {})) {
    config.plugin_dirs.push_back(resolve(dir));
  }
  if (!default_plugin_dir.empty() && std::find(config.plugin_dirs.begin(), config.plugin_dirs.end(),
                                               default_plugin_dir) == config.plugin_dirs.end()) {
    config.plugin_dirs.push_back(default_plugin_dir);
  }
  config.start_timeout =
      std::chrono::milliseconds(node.integer("start_timeout_ms", 10000, 1, 3600000));
  config.stop_timeout =
      std::chrono::milliseconds(node.integer("stop_timeout_ms", 10000, 1, 3600000));
  if (auto f = node.optional<std::string>("endpoints_file")) config.endpoints_file = resolve(*f);
  check_node_paths(node, config);

  config.log_level =
      log.choice("level", "info", {"trace", "debug", "info", "warn", "error", "critical", "off"});
  config.log_pattern = log.get<std::string>("pattern", config.log_pattern);
  log.reject_unknown_keys();

  // Slots, in start order. A plugin named in a slot is loaded whatever the roles: the roles only
  // decide which built-in roles run (a node with roles = [] runs its plugins only, e.g. a
  // framework plugin on a node of its own).
  auto select = [&](sdk::ConfigTable& table, const char* key, tessera_plugin_kind kind,
                    const std::vector<std::string>& names) {
    for (const auto& name : names) {
      if (name.empty()) {
        table.error_at(key, "a plugin name is empty");
        continue;
      }
      config.plugins.push_back(
          Selection{name, table.path() + "." + key, kind, table.location(key)});
    }
  };
  auto select_one = [&](sdk::ConfigTable& table, const char* key, tessera_plugin_kind kind) {
    if (auto name = table.optional<std::string>(key)) select(table, key, kind, {*name});
  };
  auto select_many = [&](sdk::ConfigTable& table, const char* key, tessera_plugin_kind kind) {
    if (auto names = table.optional<std::vector<std::string>>(key))
      select(table, key, kind, *names);
  };
  select_one(node, "leader", TESSERA_KIND_LEADER);
  select_one(master, "allocator", TESSERA_KIND_ALLOCATOR);
  select_many(agent, "isolators", TESSERA_KIND_ISOLATOR);
  // The roles themselves, built into the host, come after the plugins they use.
  for (const char* role : {"master", "agent"}) {
    if (config.has_role(role)) {
      config.plugins.push_back(
          Selection{role, "node.roles", TESSERA_KIND_FRAMEWORK, node.location("roles"), true});
    }
  }
  select_many(master, "frameworks", TESSERA_KIND_FRAMEWORK);
  select_many(node, "services", TESSERA_KIND_SERVICE);
  config.leader_where = slot_location(node, "leader", node);
  config.allocator_where = slot_location(master, "allocator", node);
  config.isolators_where = slot_location(agent, "isolators", node);
  // The roles' own keys, checked whether or not this node plays the role, so a typo is found
  // before the role is switched on.
  (void)master::read_options(master);
  (void)master.optional_endpoint("endpoint", sdk::EndpointUse::bind);
  if (!master.get<std::string>("advertise", "").empty()) {
    (void)master.optional_endpoint("advertise", sdk::EndpointUse::connect);
  }
  agent::AgentSettings agent_settings = agent::read_settings(agent, config.name);
  check_agent_resources(agent, agent_settings.resources);
  node.reject_unknown_keys();
  master.reject_unknown_keys();
  agent.reject_unknown_keys();

  std::set<std::string> seen;
  for (const auto& selection : config.plugins) {
    if (!seen.insert(selection.name).second) {
      return make_error(selection.where + ": plugin '" + selection.name +
                        "' is selected twice; a plugin fills one slot");
    }
  }
  // Each [plugins.NAME] is read by its plugin; here it need only be a table, and belong to a
  // plugin some slot names (anything else is most likely a misspelt name, whose settings
  // would otherwise be silently ignored).
  std::set<std::string> selected;
  for (const auto& selection : config.plugins) {
    if (!selection.builtin) selected.insert(selection.name);
  }
  for (const auto& name : plugins.keys()) {
    plugins.table(name);  // marks the key as known and checks that it is a table
    if (selected.count(name) == 0) {
      std::vector<std::string> valid(selected.begin(), selected.end());
      plugins.error_at(
          name, "no slot selects a plugin named '" + name + "' (selected: " +
                    (valid.empty() ? std::string("none") : sdk::detail::join(valid, ", ")) + ")");
    }
  }

  Status status = doc.status();
  if (!status) return status.error();
  return config;
}

}  // namespace tessera::host

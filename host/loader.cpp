#include "loader.h"

#include <dlfcn.h>

#include <algorithm>
#include <set>

#include "tessera/abi_fingerprint.h"
#include "tessera/sdk/config.h"
#include "tessera/sdk/plugin.h"

namespace tessera::host {

namespace {

std::string quoted(const char* text) { return text ? "'" + std::string(text) + "'" : "null"; }

std::string join_paths(const std::vector<std::filesystem::path>& dirs) {
  std::vector<std::string> names;
  names.reserve(dirs.size());
  for (const auto& d : dirs) names.push_back(d.string());
  return names.empty() ? "(no directories)" : sdk::detail::join(names, ", ");
}

}  // namespace

Status check_descriptor(const tessera_plugin_descriptor& d, const std::string& expected_name) {
  if (d.abi_version != TESSERA_ABI_VERSION) {
    return make_error("abi_version is " + std::to_string(d.abi_version) + ", this host supports " +
                      std::to_string(TESSERA_ABI_VERSION) +
                      ": rebuild the plugin against this host's SDK");
  }
  if (d.struct_size < sizeof(tessera_plugin_descriptor)) {
    return make_error("struct_size is " + std::to_string(d.struct_size) + ", expected at least " +
                      std::to_string(sizeof(tessera_plugin_descriptor)));
  }
  if (d.kind < TESSERA_KIND_ALLOCATOR || d.kind > TESSERA_KIND_FRAMEWORK) {
    return make_error("kind is " + std::to_string(d.kind) +
                      ", expected 1 (allocator), 2 (isolator), 3 (leader) or 4 (framework)");
  }
  if (d.name == nullptr || expected_name != d.name) {
    return make_error("name is " + quoted(d.name) + " but the file is named '" + expected_name +
                      ".so': a plugin's file is named after it");
  }
  if (d.version == nullptr || d.version[0] == '\0') return make_error("version is empty");
  if (d.abi_fingerprint == nullptr || std::string(d.abi_fingerprint) != TESSERA_ABI_FINGERPRINT) {
    return make_error("abi_fingerprint is " + quoted(d.abi_fingerprint) + ", this host's is '" +
                      TESSERA_ABI_FINGERPRINT +
                      "': the plugin was built against a different tessera/abi.h; rebuild it "
                      "against this host's SDK");
  }
  const char* missing = d.create == nullptr         ? "create"
                        : d.start == nullptr        ? "start"
                        : d.run == nullptr          ? "run"
                        : d.request_stop == nullptr ? "request_stop"
                        : d.destroy == nullptr      ? "destroy"
                                                    : nullptr;
  if (missing != nullptr) return make_error(std::string("entry point '") + missing + "' is null");
  return {};
}

std::vector<std::string> list_plugins(const std::vector<std::filesystem::path>& dirs) {
  std::set<std::string> names;
  for (const auto& dir : dirs) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
      if (entry.path().extension() == ".so") names.insert(entry.path().stem().string());
    }
  }
  return {names.begin(), names.end()};
}

Result<PluginLibrary> load_plugin_file(const std::filesystem::path& path) {
  std::string name = path.stem().string();
  // dlopen first on our own, for its plain error text (Boost's wraps it in noise).
  void* probe = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (probe == nullptr) {
    const char* why = dlerror();
    return make_error("cannot load '" + path.string() + "': " + (why ? why : "dlopen failed"));
  }
  boost::dll::shared_library library;
  try {
    // RTLD_LOCAL keeps one plugin's symbols from resolving another's.
    library.load(path.string(),
                 boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
  } catch (const std::exception& e) {
    dlclose(probe);
    return make_error("cannot load '" + path.string() + "': " + e.what());
  }
  dlclose(probe);  // Boost's handle keeps the library loaded
  if (!library.has(TESSERA_DESCRIPTOR_SYMBOL)) {
    return make_error("'" + path.string() + "' has no Tessera descriptor (no exported symbol '" +
                      TESSERA_DESCRIPTOR_SYMBOL + "'): is it built with TESSERA_PLUGIN?");
  }
  const auto& descriptor =
      library.get_alias<const tessera_plugin_descriptor>(TESSERA_DESCRIPTOR_SYMBOL);
  Status checked = check_descriptor(descriptor, name);
  if (!checked) return checked.error().context("'" + path.string() + "' descriptor");
  return PluginLibrary(std::move(library), &descriptor, path);
}

Result<PluginLibrary> load_plugin(const std::string& name,
                                  const std::vector<std::filesystem::path>& dirs) {
  for (const auto& dir : dirs) {
    std::filesystem::path candidate = dir / (name + ".so");
    if (std::filesystem::exists(candidate)) return load_plugin_file(candidate);
  }
  std::vector<std::string> found = list_plugins(dirs);
  return make_error("unknown plugin '" + name + "'; plugins found: " +
                    (found.empty() ? std::string("none") : sdk::detail::join(found, ", ")) +
                    "; searched: " + join_paths(dirs));
}

}  // namespace tessera::host

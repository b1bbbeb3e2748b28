#include "loader.h"

#include <dlfcn.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
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

using Version = std::array<uint64_t, 3>;

// "MAJOR.MINOR.PATCH", with MINOR and PATCH optional (0) and anything after a '-' or '+'
// (a pre-release or build tag) ignored.
std::optional<Version> parse_version(const char* text) {
  if (text == nullptr) return std::nullopt;
  std::string_view rest(text);
  rest = rest.substr(0, rest.find_first_of("-+"));
  Version version{};
  for (size_t part = 0; part < version.size(); ++part) {
    auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), version[part]);
    if (ec != std::errc() || end == rest.data()) return std::nullopt;
    rest.remove_prefix(static_cast<size_t>(end - rest.data()));
    if (rest.empty()) return version;
    if (rest.front() != '.' || part + 1 == version.size()) return std::nullopt;
    rest.remove_prefix(1);
  }
  return std::nullopt;
}

// Bytes of a descriptor holding its first `fields` fields, as its compiler pads it.
size_t descriptor_size(size_t fields) {
  const abi::Field& last = abi::kDescriptorFields[fields - 1];
  size_t end = last.offset + last.size;
  constexpr size_t kAlign = alignof(tessera_plugin_descriptor);
  return (end + kAlign - 1) / kAlign * kAlign;
}

// Whether the plugin's descriptor is large enough to hold `field` (it was built after the field
// was appended).
bool has_field(const tessera_plugin_descriptor& d, size_t offset, size_t size) {
  return d.struct_size >= offset + size;
}

Status check_min_host_version(const tessera_plugin_descriptor& d) {
  if (!has_field(d, offsetof(tessera_plugin_descriptor, min_host_version),
                 sizeof(d.min_host_version))) {
    return {};
  }
  auto needed = parse_version(d.min_host_version);
  if (!needed) {
    return make_error("min_host_version is " + quoted(d.min_host_version) +
                      ", expected a version such as '" TESSERA_SDK_VERSION "'");
  }
  auto host = parse_version(TESSERA_SDK_VERSION);
  if (host && *needed > *host) {
    return make_error("min_host_version is " + quoted(d.min_host_version) +
                      ", this host is " TESSERA_SDK_VERSION
                      ": upgrade tessera-host, or use a build of the plugin made for this host");
  }
  return {};
}

struct FileStamp {
  off_t size = 0;
  timespec modified{};
  bool operator==(const FileStamp& o) const {
    return size == o.size && modified.tv_sec == o.modified.tv_sec &&
           modified.tv_nsec == o.modified.tv_nsec;
  }
};

std::optional<FileStamp> stamp(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return FileStamp{st.st_size, st.st_mtim};
}

// Copies `file` into `dir` and returns the copy's path. A file that changes while it is copied
// (someone writing it in place) is copied again, a few times, so the copy is never half old
// and half new. The copy is written under a temporary name and renamed into place, so that a
// copy already mapped (an earlier host of this process on the same work dir) is never
// rewritten.
Result<std::filesystem::path> private_copy(const std::filesystem::path& file,
                                           const std::filesystem::path& dir) {
  std::filesystem::path copy = dir / file.filename();
  std::filesystem::path partial = dir / ("." + file.filename().string() + ".partial");
  auto cannot_copy = [&](const std::error_code& ec) {
    return make_error("cannot copy '" + file.string() + "' to '" + copy.string() +
                      "': " + ec.message());
  };
  constexpr int kAttempts = 3;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    auto before = stamp(file);
    std::error_code ec;
    std::filesystem::copy_file(file, partial, std::filesystem::copy_options::overwrite_existing,
                               ec);
    if (ec) return cannot_copy(ec);
    if (before && before == stamp(file)) {
      std::filesystem::rename(partial, copy, ec);
      if (ec) return cannot_copy(ec);
      return copy;
    }
  }
  std::error_code ignored;
  std::filesystem::remove(partial, ignored);
  return make_error("'" + file.string() +
                    "' kept changing while it was being copied: install a plugin under a new "
                    "name and rename it into place");
}

// dlerror()'s text about the private copy, told about the file the user knows.
std::string loader_error(std::string why, const std::filesystem::path& loaded,
                         const std::filesystem::path& file) {
  if (loaded == file) return why;
  const std::string from = loaded.string();
  for (size_t at = why.find(from); at != std::string::npos; at = why.find(from, at)) {
    why.replace(at, from.size(), file.string());
    at += file.string().size();
  }
  return why;
}

}  // namespace

std::optional<AbiLayout> served_layout(const char* fingerprint) {
  if (fingerprint == nullptr) return std::nullopt;
  for (size_t d = abi::kDescriptorBaseFields; d <= abi::count(abi::kDescriptorFields); ++d) {
    for (size_t s = abi::kHostServicesBaseFields; s <= abi::count(abi::kHostServicesFields); ++s) {
      if (std::strcmp(abi::to_text(abi::layout_fingerprint(d, s)).text, fingerprint) == 0) {
        return AbiLayout{d, s};
      }
    }
  }
  return std::nullopt;
}

Status check_descriptor(const tessera_plugin_descriptor& d, const std::string& expected_name) {
  if (d.abi_version != TESSERA_ABI_VERSION) {
    return make_error("abi_version is " + std::to_string(d.abi_version) + ", this host supports " +
                      std::to_string(TESSERA_ABI_VERSION) +
                      ": rebuild the plugin against this host's SDK");
  }
  const size_t base_size = descriptor_size(abi::kDescriptorBaseFields);
  if (d.struct_size < base_size) {
    return make_error("struct_size is " + std::to_string(d.struct_size) + ", expected at least " +
                      std::to_string(base_size));
  }
  if (d.kind < TESSERA_KIND_ALLOCATOR || d.kind > TESSERA_KIND_SERVICE) {
    return make_error("kind is " + std::to_string(d.kind) +
                      ", expected 1 (allocator), 2 (isolator), 3 (leader), 4 (framework) or 5 "
                      "(service)");
  }
  if (d.name == nullptr || expected_name != d.name) {
    return make_error("name is " + quoted(d.name) + " but the file is named '" + expected_name +
                      ".so': a plugin's file is named after it");
  }
  if (d.version == nullptr || d.version[0] == '\0') return make_error("version is empty");
  if (d.sdk_version == nullptr || d.sdk_version[0] == '\0') {
    return make_error("sdk_version is empty");
  }
  // Before the fingerprint: a plugin built against a newer SDK has a layout this host cannot
  // recognise, and "upgrade the host" is what its user needs to read.
  if (auto s = check_min_host_version(d); !s) return s;
  auto layout = served_layout(d.abi_fingerprint);
  if (!layout || descriptor_size(layout->descriptor_fields) != d.struct_size) {
    return make_error("abi_fingerprint is " + quoted(d.abi_fingerprint) + ", this host's is '" +
                      TESSERA_ABI_FINGERPRINT +
                      "' (or an older layout of it): the plugin was built against a "
                      "tessera/abi.h whose structs are laid out differently; rebuild it against "
                      "this host's SDK");
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

Result<PluginLibrary> load_plugin_file(const std::filesystem::path& path,
                                       const std::filesystem::path& copy_dir) {
  std::string name = path.stem().string();
  std::filesystem::path loaded = path;
  if (!copy_dir.empty()) {
    auto copy = private_copy(path, copy_dir);
    if (!copy) return copy.error();
    loaded = *copy;
  }
  // dlopen first on our own, for its plain error text (Boost's wraps it in noise).
  void* probe = dlopen(loaded.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (probe == nullptr) {
    const char* why = dlerror();
    return make_error("cannot load '" + path.string() +
                      "': " + loader_error(why ? why : "dlopen failed", loaded, path));
  }
  boost::dll::shared_library library;
  try {
    // RTLD_LOCAL keeps one plugin's symbols from resolving another's.
    library.load(loaded.string(),
                 boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
  } catch (const std::exception& e) {
    dlclose(probe);
    return make_error("cannot load '" + path.string() +
                      "': " + loader_error(e.what(), loaded, path));
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
  return PluginLibrary(std::move(library), &descriptor, path, loaded);
}

Result<PluginLibrary> load_plugin(const std::string& name,
                                  const std::vector<std::filesystem::path>& dirs,
                                  const std::filesystem::path& copy_dir) {
  for (const auto& dir : dirs) {
    std::filesystem::path candidate = dir / (name + ".so");
    if (std::filesystem::exists(candidate)) return load_plugin_file(candidate, copy_dir);
  }
  std::vector<std::string> found = list_plugins(dirs);
  return make_error("unknown plugin '" + name + "'; plugins found: " +
                    (found.empty() ? std::string("none") : sdk::detail::join(found, ", ")) +
                    "; searched: " + join_paths(dirs));
}

}  // namespace tessera::host

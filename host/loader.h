// Finding plugin libraries and checking their descriptors.
//
// A plugin named NAME is the file NAME.so in one of the node's plugin directories (searched in
// order). Loading it means: copy it into the host's private directory (so that a file replaced
// in place cannot change code that runs; see load_plugin_file), dlopen the copy through
// Boost.DLL, find the `tessera_plugin` descriptor and check it field by field
// (check_descriptor) before anything else in the library is called.
//
// All loading happens on the host's main thread. A PluginLibrary must outlive every instance
// created from it: the Host destroys instances before it releases libraries.
#pragma once

#include <boost/dll/shared_library.hpp>
#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "tessera/abi.h"
#include "tessera/result.h"

namespace tessera::host {

class PluginLibrary {
 public:
  PluginLibrary(boost::dll::shared_library library, const tessera_plugin_descriptor* descriptor,
                std::filesystem::path path, std::filesystem::path loaded_path)
      : library_(std::move(library)),
        descriptor_(descriptor),
        path_(std::move(path)),
        loaded_path_(std::move(loaded_path)) {}

  const tessera_plugin_descriptor& descriptor() const { return *descriptor_; }
  // The file as found in the plugin directories.
  const std::filesystem::path& path() const { return path_; }
  // The file that is mapped: the private copy, or path() when loaded in place.
  const std::filesystem::path& loaded_path() const { return loaded_path_; }

 private:
  boost::dll::shared_library library_;
  const tessera_plugin_descriptor* descriptor_;
  std::filesystem::path path_;
  std::filesystem::path loaded_path_;
};

// The layout a plugin was built with, in fields of the descriptor and of the host services
// (see tessera::abi in abi.h).
struct AbiLayout {
  size_t descriptor_fields = 0;
  size_t services_fields = 0;
};

// The layout an abi_fingerprint stands for, when this host serves it: its own, or its own with
// fewer fields appended (a plugin built against an older SDK). Nothing otherwise.
std::optional<AbiLayout> served_layout(const char* fingerprint);

// Checks a descriptor read from `expected_name`.so against this host's ABI. Each failure has
// its own message naming the field, what it holds and what the host expected. Fields beyond
// the descriptor's struct_size (a plugin built before they were appended) are not read.
Status check_descriptor(const tessera_plugin_descriptor& descriptor,
                        const std::string& expected_name);

// The names of the plugins (NAME.so files) in `dirs`, sorted, without loading any.
std::vector<std::string> list_plugins(const std::vector<std::filesystem::path>& dirs);

// Finds NAME.so in `dirs`, loads it and checks its descriptor (see load_plugin_file).
Result<PluginLibrary> load_plugin(const std::string& name,
                                  const std::vector<std::filesystem::path>& dirs,
                                  const std::filesystem::path& copy_dir = {});

// Loads and checks the library at `path` (its file name gives the expected plugin name). With
// a `copy_dir`, the library is copied there first and the copy is loaded: the dynamic loader
// maps a library's file, so overwriting the file in place would change the code of a running
// plugin under it (and crash the host); the copy is the host's alone.
Result<PluginLibrary> load_plugin_file(const std::filesystem::path& path,
                                       const std::filesystem::path& copy_dir = {});

}  // namespace tessera::host

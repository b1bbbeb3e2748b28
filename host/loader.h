// Finding plugin libraries and checking their descriptors.
//
// A plugin named NAME is the file NAME.so in one of the node's plugin directories (searched in
// order). Loading it means: dlopen through Boost.DLL, find the `tessera_plugin` descriptor and
// check it field by field (check_descriptor) before anything else in the library is called.
//
// All loading happens on the host's main thread. A PluginLibrary must outlive every instance
// created from it: the Host destroys instances before it releases libraries.
#pragma once

#include <boost/dll/shared_library.hpp>
#include <filesystem>
#include <string>
#include <vector>

#include "tessera/abi.h"
#include "tessera/result.h"

namespace tessera::host {

class PluginLibrary {
 public:
  PluginLibrary(boost::dll::shared_library library, const tessera_plugin_descriptor* descriptor,
                std::filesystem::path path)
      : library_(std::move(library)), descriptor_(descriptor), path_(std::move(path)) {}

  const tessera_plugin_descriptor& descriptor() const { return *descriptor_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  boost::dll::shared_library library_;
  const tessera_plugin_descriptor* descriptor_;
  std::filesystem::path path_;
};

// Checks a descriptor read from `file_name` (e.g. "drf.so") against this host's ABI. Each
// failure has its own message naming the field, what it holds and what the host expected.
Status check_descriptor(const tessera_plugin_descriptor& descriptor,
                        const std::string& expected_name);

// The names of the plugins (NAME.so files) in `dirs`, sorted, without loading any.
std::vector<std::string> list_plugins(const std::vector<std::filesystem::path>& dirs);

// Finds NAME.so in `dirs`, loads it and checks its descriptor.
Result<PluginLibrary> load_plugin(const std::string& name,
                                  const std::vector<std::filesystem::path>& dirs);

// Loads and checks the library at `path` (its file name gives the expected plugin name).
Result<PluginLibrary> load_plugin_file(const std::filesystem::path& path);

}  // namespace tessera::host

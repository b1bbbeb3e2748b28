// The web UI's files (assets/), embedded into the master_http plugin at build time by
// embed_assets.cmake: the generated webui_assets.cpp holds each file's bytes and its content type.
#pragma once

#include <optional>
#include <string_view>

namespace tessera::webui {

// One embedded file. Both views point into static storage of the plugin: they live as long as
// the library is loaded, and may be read from any thread.
struct Asset {
  std::string_view body;
  std::string_view content_type;
};

// The asset served at the request path `path` (without the query string): "/" and "/ui/" are the
// page itself (index.html), "/ui/NAME" is assets/NAME. Anything else, including a path with a
// ".." segment, is not an asset: std::nullopt.
std::optional<Asset> find_asset(std::string_view path);

}  // namespace tessera::webui

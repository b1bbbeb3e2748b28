// Helpers for the tessera-host tests: a node file in a temporary directory, a run of the real
// binary on it, and the "LINE:COLUMN" of a piece of that file, so that each test states where
// the host must point the user.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "support/process.h"

namespace tessera::testing {

inline const std::string kHostBin = TESSERA_HOST_BIN;
inline const std::string kPluginDir = TESSERA_PLUGIN_DIR;
inline const std::string kFixtureDir = TESSERA_FIXTURE_PLUGIN_DIR;

// "LINE:COLUMN" (1-based, as toml++ and the host count) of the character at `offset` in `text`.
inline std::string position(const std::string& text, size_t offset) {
  size_t line = 1;
  size_t line_start = 0;
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      line_start = i + 1;
    }
  }
  return std::to_string(line) + ":" + std::to_string(offset - line_start + 1);
}

// A node file in its own temporary directory, for a node that runs plugins only (roles = []),
// so that the host's handling of plugins is what is tested. The [node] table puts the work
// directory inside the temporary directory and searches the fixture plugins; the host adds its own
// plugin directory (where example_ping and example_pong are) after the configured ones.
class NodeFile {
 public:
  // `body` follows the [node] table; `node_extra` is appended to the [node] table.
  explicit NodeFile(const std::string& body, const std::string& node_extra = "",
                    int start_timeout_ms = 5000) {
    text_ =
        "[node]\n"
        "name = \"test-node\"\n"
        "roles = []\n"  // plugins only: these tests are about the plugins
        "work_dir = \"" +
        (dir_ / "work").string() +
        "\"\n"
        "plugin_dirs = [\"" +
        kFixtureDir +
        "\"]\n"
        "start_timeout_ms = " +
        std::to_string(start_timeout_ms) +
        "\n"
        "stop_timeout_ms = 5000\n" +
        node_extra + "\n" + body;
    path_ = dir_.write("node.toml", text_);
  }

  // A file whose whole text is given (no [node] table added).
  struct Raw {
    std::string text;
  };
  explicit NodeFile(Raw raw) : text_(std::move(raw.text)) {
    path_ = dir_.write("node.toml", text_);
  }

  const std::string& text() const { return text_; }
  const std::filesystem::path& path() const { return path_; }
  const TempDir& dir() const { return dir_; }
  std::string file() const { return path_.string(); }

  // "node.toml:LINE:COL" of the first occurrence of `needle`, as the host prints it.
  std::string at(const std::string& needle) const {
    size_t offset = text_.find(needle);
    if (offset == std::string::npos) return "not found: " + needle;
    return file() + ":" + position(text_, offset);
  }
  // "node.toml:LINE:COL" of what follows the first `prefix` (e.g. the value after "tick_ms = ").
  std::string after(const std::string& prefix) const {
    size_t offset = text_.find(prefix);
    if (offset == std::string::npos) return "not found: " + prefix;
    return file() + ":" + position(text_, offset + prefix.size());
  }

  // Runs tessera-host with `args` then this file, to completion. Returns {exit code, output}.
  std::pair<int, std::string> host(std::vector<std::string> args = {},
                                   std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    std::vector<std::string> argv{kHostBin};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back(file());
    return run(argv, dir_ / ("host-" + std::to_string(runs_++) + ".log"), timeout);
  }
  std::pair<int, std::string> check() { return host({"--check"}); }

  NodeFile(const NodeFile&) = delete;
  NodeFile& operator=(const NodeFile&) = delete;

 private:
  TempDir dir_;
  std::string text_;
  std::filesystem::path path_;
  int runs_ = 0;
};

}  // namespace tessera::testing

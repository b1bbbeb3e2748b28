// Replacing a plugin's file while a host runs it, as an operator upgrading by mistake does
// (`cp new.so plugins/NAME.so` truncates and rewrites the very file the dynamic loader mapped).
// The host runs private copies of its plugins, so it keeps serving with the code it loaded.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "support/process.h"

namespace tessera::testing {
namespace {

const std::filesystem::path kPluginDir = TESSERA_PLUGIN_DIR;

// Rewrites `file` in place (same inode, truncated first) with `bytes`, as cp does.
void overwrite_in_place(const std::filesystem::path& file, const std::string& bytes) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << bytes;
}

TEST(DropinReplace, OverwritingLoadedPluginsInPlaceKeepsTheHostServing) {
  TempDir dir;
  std::filesystem::create_directories(dir / "plugins");
  for (const char* name : {"example_ping.so", "example_pong.so"}) {
    std::filesystem::copy_file(kPluginDir / name, dir / "plugins" / name);
  }
  std::string toml = "[node]\nname = \"replace\"\nroles = []\nwork_dir = \"" +
                     (dir / "work").string() + "\"\nplugin_dirs = [\"" +
                     (dir / "plugins").string() +
                     "\"]\n[master]\nframeworks = [\"example_pong\", \"example_ping\"]\n"
                     "[plugins.example_ping]\ninterval_ms = 20\ntext = \"still here\"\n";
  Process host({TESSERA_HOST_BIN, dir.write("node.toml", toml).string()}, dir / "host.log");
  const std::string pong = "'still here' from 'example_pong'";
  ASSERT_TRUE(host.wait_for("pong 3 " + pong)) << host.output();

  // Each file gets the other's bytes: a valid library with different code at every offset,
  // which the running host would execute (or fault on) if it had mapped the installed files.
  std::string ping_bytes = read_file(kPluginDir / "example_ping.so");
  std::string pong_bytes = read_file(kPluginDir / "example_pong.so");
  ASSERT_NE(ping_bytes, pong_bytes);
  overwrite_in_place(dir / "plugins" / "example_pong.so", ping_bytes);
  overwrite_in_place(dir / "plugins" / "example_ping.so", pong_bytes);

  // Twenty more round trips through both plugins' code after the files changed.
  size_t replaced_at = host.count(pong);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (host.count(pong) < replaced_at + 20 && std::chrono::steady_clock::now() < deadline &&
         !host.wait(std::chrono::milliseconds(0))) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_GE(host.count(pong), replaced_at + 20) << host.output();
  auto code = host.stop();
  ASSERT_TRUE(code.has_value()) << host.output();
  EXPECT_EQ(*code, 0) << host.output();
}

}  // namespace
}  // namespace tessera::testing

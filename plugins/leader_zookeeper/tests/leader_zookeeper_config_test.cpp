// leader_zookeeper's keys as `tessera-host --check` reports them (the real binary and .so; no
// ZooKeeper is needed: --check only creates the plugin), and the examples/ha node files pass.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>

#include "support/process.h"

namespace {

using tessera::testing::run;
using tessera::testing::TempDir;

constexpr int kConfigError = 2;

std::string node(const std::string& table) {
  return "[node]\nname = \"m\"\nroles = [\"master\"]\nleader = \"leader_zookeeper\"\n"
         "plugin_dirs = [\"" TESSERA_PLUGIN_DIR
         "\"]\nwork_dir = \"work\"\n"
         "[master]\nallocator = \"allocator_drf\"\n"
         "[plugins.leader_zookeeper]\n" +
         table;
}

std::pair<int, std::string> check(const TempDir& dir, const std::string& text) {
  auto file = dir.write("node.toml", text);
  return run({TESSERA_HOST_BIN, file.string(), "--check"}, dir / "check.log");
}

TEST(LeaderZooKeeperConfig, EachKeyIsCheckedWithWhereAndWhy) {
  TempDir dir;
  struct Case {
    std::string table;
    std::string expected;
  };
  const Case cases[] = {
      {"path = \"/t\"\n", "plugins.leader_zookeeper.servers"},
      {"servers = \"127.0.0.1:99999\"\n", "port 99999"},
      {"servers = \"127.0.0.1:2181,\"\n", "an empty server"},
      {"servers = \"127.0.0.1:2181\"\npath = \"tessera\"\n", "absolute znode path"},
      {"servers = \"127.0.0.1:2181\"\npath = \"/a/../b\"\n", "'.' or '..' segment"},
      {"servers = \"127.0.0.1:2181\"\npath = \"/zookeeper/x\"\n", "reserves"},
      {"servers = \"127.0.0.1:2181\"\nsession_timeout_ms = 10\n", "session_timeout_ms"},
      {"servers = \"127.0.0.1:2181\"\nconnect_timeout_ms = -1\n", "connect_timeout_ms"},
      {"servers = \"127.0.0.1:2181\"\nendpoint = \"tcp://127.0.0.1:99999\"\n", "out of range"},
      {"servers = \"127.0.0.1:2181\"\nsever = \"x\"\n", "sever"},
  };
  for (const Case& c : cases) {
    auto [code, output] = check(dir, node(c.table));
    EXPECT_EQ(code, kConfigError) << c.table << output;
    EXPECT_NE(output.find(c.expected), std::string::npos) << c.table << output;
    // Where: the file, and a line and column.
    EXPECT_TRUE(std::regex_search(output, std::regex("node\\.toml:[0-9]+:[0-9]+: ")))
        << c.table << output;
  }
  auto [code, output] = check(dir, node("servers = \"zk1:2181, zk2:2181\"\npath = \"/a/b\"\n"));
  EXPECT_EQ(code, 0) << output;
}

TEST(LeaderZooKeeperConfig, TheHaExamplesPass) {
  TempDir dir;
  for (const char* name : {"master-1", "master-2", "master-3", "agent-1", "agent-2"}) {
    std::ifstream in(std::string(TESSERA_SOURCE_DIR) + "/examples/ha/" + name + ".toml");
    std::stringstream text;
    text << in.rdbuf();
    ASSERT_FALSE(text.str().empty()) << name;
    // The examples' work dirs are under /tmp/tessera-ha: the check writes into the test's own.
    std::string config = std::regex_replace(
        text.str(), std::regex("work_dir = \"[^\"]*\""),
        "work_dir = \"" + (dir / name).string() + "\"\nplugin_dirs = [\"" TESSERA_PLUGIN_DIR "\"]");
    auto [code, output] = check(dir, config);
    EXPECT_EQ(code, 0) << name << ":\n" << output;
  }
}

}  // namespace

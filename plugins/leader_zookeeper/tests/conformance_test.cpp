// The SDK's leader conformance suite (tessera/conformance/leader.h) against leader_zookeeper on
// a real ZooKeeper server that this binary starts on a free loopback port.
//
// The suite expects a fresh store in each test, and its plugin table is fixed when the tests
// are registered: so main() starts the server before GoogleTest registers them (not when it
// only lists them), and a listener empties the plugin's root path before each test. Where
// ZooKeeper cannot run, every test is skipped (failed in CI).
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include "support/zookeeper.h"
#include "tessera/conformance/leader.h"
#include "zk_session.h"

namespace {

constexpr const char* kRoot = "/conformance";

std::unique_ptr<tessera::testing::TempDir> server_dir;
std::unique_ptr<tessera::testing::ZooKeeperServers> servers;
std::string missing;

std::string plugin_table() {
  if (!servers) return "servers = \"127.0.0.1:1\"\n";
  return "servers = \"" + servers->connect_string() + "\"\npath = \"" + kRoot +
         "\"\nsession_timeout_ms = 4000\n";
}

// Deletes `path` and everything under it.
void remove_tree(tessera::leader::zk::Session& session, const std::string& path) {
  std::vector<std::string> children;
  if (session.children(path, children) != ZOK) return;
  for (const auto& child : children) remove_tree(session, path + "/" + child);
  session.remove(path, -1);
}

class EmptyRoot : public ::testing::EmptyTestEventListener {
  void OnTestStart(const ::testing::TestInfo&) override {
    if (!servers) return;
    tessera::sdk::EventLoop loop;
    auto session = tessera::leader::zk::Session::open(servers->connect_string(), 4000, &loop,
                                                      [](const auto&) {});
    if (session && (*session)->wait_connected(std::chrono::seconds(30))) {
      remove_tree(**session, kRoot);
    }
  }
};

class RequireZooKeeper : public ::testing::Environment {
  void SetUp() override {
    if (missing.empty()) return;
    const char* ci = std::getenv("CI");
    if (ci != nullptr && std::string(ci) == "true") {
      FAIL() << "ZooKeeper is required in CI: " << missing;
    }
    GTEST_SKIP() << "ZooKeeper cannot run here: " << missing;
  }
};

}  // namespace

TESSERA_LEADER_CONFORMANCE(ZooKeeper, .name = "leader_zookeeper", .dir = PLUGIN_DIR,
                           .table = plugin_table());

int main(int argc, char** argv) {
  bool listing = false;
  for (int i = 1; i < argc; ++i) listing |= std::strcmp(argv[i], "--gtest_list_tests") == 0;
  if (!listing) {
    missing = tessera::testing::ZooKeeperServers::missing();
    if (missing.empty()) {
      server_dir = std::make_unique<tessera::testing::TempDir>();
      servers = std::make_unique<tessera::testing::ZooKeeperServers>(*server_dir);
    }
  }
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new RequireZooKeeper);
  ::testing::UnitTest::GetInstance()->listeners().Append(new EmptyRoot);
  int status = RUN_ALL_TESTS();
  servers.reset();
  server_dir.reset();
  return status;
}

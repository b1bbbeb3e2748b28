// leader_standalone in a real tessera-host process, reached over real tcp: a value written
// through the store endpoint survives stopping and starting the host on the same work dir, and
// a bad configuration stops the host with exit status 2 and the key's name.
#include <gtest/gtest.h>

#include <chrono>
#include <regex>
#include <thread>

#include "support/node.h"
#include "support/process.h"
#include "tessera/protocol/store.h"

namespace {

namespace store = tessera::protocol::store;
using namespace std::chrono_literals;
using tessera::testing::Process;
using tessera::testing::TempDir;
using tessera::testing::TestBus;

std::string node_toml(const TempDir& dir, const std::string& roles, const std::string& plugin) {
  // The roles need their plugins: a master an allocator, an agent an isolator.
  std::string role_tables;
  if (roles.find("master") != std::string::npos) {
    role_tables += "[master]\nallocator = \"allocator_drf\"\nendpoint = \"tcp://127.0.0.1:0\"\n";
  }
  if (roles.find("agent") != std::string::npos) {
    role_tables += "[agent]\nisolators = [\"isolator_posix\"]\n";
  }
  return "[node]\nname = \"e2e\"\nroles = " + roles + "\nwork_dir = \"" + (dir / "work").string() +
         "\"\nplugin_dirs = [\"" + TESSERA_PLUGIN_DIR + "\"]\nendpoints_file = \"" +
         (dir / "endpoints").string() + "\"\nleader = \"leader_standalone\"\n" + role_tables +
         "[plugins.leader_standalone]\n" + plugin;
}

// Waits until the host announces the store's tcp address and returns it ("" on timeout).
std::string wait_for_store(const TempDir& dir) {
  std::regex line("leader_standalone\\.store = \"([^\"]+)\"");
  for (int i = 0; i < 500; ++i) {
    std::smatch m;
    std::string text = tessera::testing::read_file(dir / "endpoints");
    if (std::regex_search(text, m, line)) return m[1];
    std::this_thread::sleep_for(20ms);
  }
  return "";
}

store::Result call(const std::string& address, const auto& request) {
  zmq::context_t context;
  store::Result result;
  {
    TestBus test(context.handle());
    tessera::sdk::Client client(test.bus, "e2e-client");
    EXPECT_TRUE(client.connect(address).ok());
    auto reply = test.call(client, request);
    EXPECT_TRUE(reply.ok()) << reply.error().message;
    if (reply.ok()) {
      auto body = reply->template body<store::Result>();
      EXPECT_TRUE(body.ok()) << body.error().message;
      if (body.ok()) result = *body;
    }
  }
  return result;
}

TEST(LeaderStandaloneEndToEnd, StoreOverTcpSurvivesAHostRestart) {
  TempDir dir;
  auto config =
      dir.write("node.toml", node_toml(dir, "[\"master\"]", "endpoint = \"tcp://127.0.0.1:0\"\n"));
  {
    Process host({TESSERA_HOST_BIN, config.string()}, dir / "host1.log");
    std::string address = wait_for_store(dir);
    ASSERT_FALSE(address.empty()) << host.output();
    EXPECT_EQ(call(address, store::Put{"test/registry/master", "first"}).version, 1u);
    EXPECT_EQ(call(address, store::Put{"test/registry/master", "second"}).version, 2u);
    ASSERT_EQ(host.stop(), 0) << host.output();
  }
  std::filesystem::remove(dir / "endpoints");
  {
    Process host({TESSERA_HOST_BIN, config.string()}, dir / "host2.log");
    std::string address = wait_for_store(dir);
    ASSERT_FALSE(address.empty()) << host.output();
    auto got = call(address, store::Get{"test/registry/master"});
    ASSERT_TRUE(got.ok) << got.error;
    ASSERT_EQ(got.entries.size(), 1u);
    EXPECT_EQ(got.entries[0].value, "second");
    EXPECT_EQ(got.entries[0].version, 2u);
    ASSERT_EQ(host.stop(), 0) << host.output();
  }
}

TEST(LeaderStandaloneEndToEnd, AgentOnlyNodeWithoutMasterExitsWithTheKeysName) {
  TempDir dir;
  auto config = dir.write("node.toml", node_toml(dir, "[\"agent\"]", ""));
  auto [code, output] =
      tessera::testing::run({TESSERA_HOST_BIN, config.string(), "--check"}, dir / "check.log");
  EXPECT_EQ(code, 2) << output;
  EXPECT_NE(output.find("plugins.leader_standalone.master: required on a node without the "
                        "master role"),
            std::string::npos)
      << output;
}

}  // namespace

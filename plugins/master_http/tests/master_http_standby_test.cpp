// A standby master's HTTP API with leader_zookeeper on a real ZooKeeper: two master hosts, each
// with master_http on port 0. The standby redirects to the leader's API (307, Location), answers
// /health and /metrics itself, the CLI given the standby's URL follows the redirect, and after
// the leader is killed the standby, now leading, serves.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <regex>

#include "http/http_support.h"
#include "support/process.h"
#include "support/zookeeper.h"

namespace {

using namespace std::chrono_literals;
namespace json = boost::json;
using tessera::testing::Process;
using tessera::testing::TempDir;
using tessera::testing::ZooKeeperServers;
using tessera::testing::http::curl;
using tessera::testing::http::CurlResult;
using tessera::testing::http::eventually;

constexpr const char* kServing = "from the registry; serving";

class Masters {
 public:
  Masters(const TempDir& dir, const ZooKeeperServers& zookeeper)
      : dir_(dir), zookeeper_(zookeeper) {}

  std::unique_ptr<Process> start(const std::string& name) {
    std::string text =
        "[node]\nname = \"" + name +
        "\"\nroles = [\"master\"]\nleader = \"leader_zookeeper\"\nservices = [\"master_http\"]\n"
        "work_dir = \"" +
        (dir_ / name).string() +
        "\"\nplugin_dirs = [\"" TESSERA_PLUGIN_DIR "\"]\nendpoints_file = \"" +
        (dir_ / (name + ".endpoints")).string() +
        "\"\n[master]\nallocator = \"allocator_drf\"\nendpoint = \"tcp://127.0.0.1:0\"\n"
        "[plugins.leader_zookeeper]\nservers = \"" +
        zookeeper_.connect_string() +
        "\"\npath = \"/standby-test\"\nsession_timeout_ms = 2000\n"
        "[plugins.master_http]\naddress = \"127.0.0.1:0\"\n";
    return std::make_unique<Process>(
        std::vector<std::string>{TESSERA_HOST_BIN, dir_.write(name + ".toml", text).string()},
        dir_ / (name + ".log"));
  }

  // What the master named `name` announced as `key` ("master.endpoint", "master_http.http").
  std::string announced(const std::string& name, const std::string& key) {
    std::string found;
    eventually(
        [&] {
          std::smatch m;
          std::string text = tessera::testing::read_file(dir_ / (name + ".endpoints"));
          std::regex line(std::regex_replace(key, std::regex("\\."), "\\.") + " = \"([^\"]+)\"");
          if (!std::regex_search(text, m, line)) return false;
          found = m[1];
          return true;
        },
        30s);
    return found;
  }

 private:
  const TempDir& dir_;
  const ZooKeeperServers& zookeeper_;
};

TEST(MasterHttpStandby, ZOOKEEPER_AStandbyRedirectsToTheLeadersApiAndTheCliFollows) {
  TESSERA_REQUIRE_ZOOKEEPER();
  TempDir dir;
  ZooKeeperServers zookeeper(dir, 1);
  Masters masters(dir, zookeeper);

  auto first = masters.start("master-a");
  ASSERT_TRUE(first->wait_for(kServing, 60s)) << first->output();
  auto second = masters.start("master-b");
  ASSERT_TRUE(second->wait_for("standing by", 60s)) << second->output();
  std::string leader_bus = masters.announced("master-a", "master.endpoint");
  std::string leader_http = "http://" + masters.announced("master-a", "master_http.http");
  std::string standby_http = "http://" + masters.announced("master-b", "master_http.http");
  ASSERT_NE(leader_http, "http://");
  ASSERT_NE(standby_http, "http://");

  // The standby learns the leader's API from the store, then sends every API request there,
  // path and query kept.
  CurlResult redirect;
  ASSERT_TRUE(eventually(
      [&] {
        redirect = curl(dir, {"-D", "-", standby_http + "/tasks?limit=1&q=web"});
        return redirect.status == 307;
      },
      30s))
      << redirect.output << redirect.body << second->output();
  EXPECT_NE(redirect.output.find("Location: " + leader_http + "/tasks?limit=1&q=web"),
            std::string::npos)
      << redirect.output;
  for (const char* path : {"/state", "/roles", "/events", "/marathon/v2/apps", "/"}) {
    CurlResult r = curl(dir, {"-D", "-", "--max-time", "5", standby_http + path});
    EXPECT_EQ(r.status, 307) << path << ": " << r.body;
    EXPECT_NE(r.output.find("Location: " + leader_http + path), std::string::npos) << r.output;
  }
  // A client that follows redirects gets the leader's state.
  CurlResult followed = curl(dir, {"-L", standby_http + "/state"});
  ASSERT_EQ(followed.status, 200) << followed.body;
  EXPECT_EQ(json::parse(followed.body).at("leader").as_string(), leader_bus);

  // /health and /metrics answer on the standby itself.
  CurlResult health = curl(dir, {standby_http + "/health"});
  EXPECT_EQ(health.status, 200) << health.body;
  EXPECT_EQ(health.body, "standby; the leader is at " + leader_http + "\n");
  CurlResult metrics = curl(dir, {standby_http + "/metrics"});
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("tessera_master_elected 0\n"), std::string::npos) << metrics.body;
  EXPECT_EQ(curl(dir, {leader_http + "/health"}).body, "ok\n");

  // The CLI given the standby's URL follows the one redirect to the leader's API.
  auto [code, state] = tessera::testing::run(
      {TESSERA_CLI_BIN, "state", "--json", "--master", standby_http}, dir / "cli-state.log", 60s);
  EXPECT_EQ(code, 0) << state;
  EXPECT_NE(state.find(leader_bus), std::string::npos) << state;

  // The leader dies: the standby is elected and serves its own API instead of redirecting.
  first.reset();
  ASSERT_TRUE(second->wait_for(kServing, 60s)) << second->output();
  CurlResult own;
  ASSERT_TRUE(eventually(
      [&] {
        own = curl(dir, {standby_http + "/health"});
        return own.status == 200 && own.body == "ok\n";
      },
      30s))
      << own.body;
  CurlResult state_now = curl(dir, {standby_http + "/state"});
  EXPECT_EQ(state_now.status, 200) << state_now.body;
  EXPECT_EQ(json::parse(state_now.body).at("leader_http").as_string(), standby_http);
  second->stop(10s);
}

}  // namespace

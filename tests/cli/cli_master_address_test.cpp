// The forms of `--master` the CLI takes (HOST:PORT, tcp://HOST:PORT, a comma-separated list),
// what it says when given an http:// address, and the real `tessera` binary finding the leader
// in a list whose first master is down or a standby that redirects.
#include <gtest/gtest.h>

#include "master_double.h"
#include "options.h"
#include "support/endpoints.h"
#include "support/process.h"

namespace {

using namespace std::chrono_literals;
using namespace tessera;
using namespace tessera::testing;
using cli::resolve_master;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(ResolveMaster, FlagThenEnvironmentThenDefault) {
  EXPECT_EQ(*resolve_master("tcp://m:1", "tcp://env:2"), "tcp://m:1");
  EXPECT_EQ(*resolve_master("", "tcp://env:2"), "tcp://env:2");
  EXPECT_EQ(*resolve_master("", nullptr), "tcp://127.0.0.1:5051");
  EXPECT_EQ(*resolve_master("", ""), "tcp://127.0.0.1:5051");
}

TEST(ResolveMaster, HostPortTcpAndListsBecomeOneTcpList) {
  EXPECT_EQ(*resolve_master("10.0.0.1:5050", nullptr), "tcp://10.0.0.1:5050");
  EXPECT_EQ(*resolve_master("tcp://10.0.0.1:5050", nullptr), "tcp://10.0.0.1:5050");
  EXPECT_EQ(*resolve_master("a:5050, tcp://b:5051,c.example:5052", nullptr),
            "tcp://a:5050,tcp://b:5051,tcp://c.example:5052");
  EXPECT_EQ(*resolve_master("", "a:1,b:2"), "tcp://a:1,tcp://b:2");
}

TEST(ResolveMaster, SaysWhatItExpectsAndWhereTheBadAddressCameFrom) {
  auto http = resolve_master("http://10.0.0.1:5050", nullptr);
  ASSERT_FALSE(http.ok());
  EXPECT_EQ(http.error().message,
            "--master: 'http://10.0.0.1:5050' is an HTTP address, but masters are reached over "
            "ZeroMQ at their [master] endpoint: give HOST:PORT or tcp://HOST:PORT, or a "
            "comma-separated list of them such as tcp://10.0.0.1:5051,tcp://10.0.0.2:5051");
  auto env = resolve_master("", "a:5050,b");
  ASSERT_FALSE(env.ok());
  EXPECT_EQ(env.error().message.rfind("TESSERA_MASTER: 'b' has no port", 0), 0u)
      << env.error().message;
  auto port = resolve_master("m:123456", nullptr);
  ASSERT_FALSE(port.ok());
  EXPECT_EQ(port.error().message.rfind("--master: 'm:123456': port '123456' is not a number", 0),
            0u)
      << port.error().message;
}

class CliMasters : public ::testing::Test {
 protected:
  std::pair<int, std::string> tessera(std::vector<std::string> args,
                                      const std::string& environment = "") {
    std::vector<std::string> argv;
    if (!environment.empty()) argv = {"/usr/bin/env", environment};
    argv.push_back(TESSERA_CLI_BIN);
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, dir_ / "out.log", 60s);
  }
  TempDir dir_;
};

TEST_F(CliMasters, AnHttpsAddressOrListIsAUsageErrorThatSaysWhatIsExpected) {
  for (const auto& command :
       {std::vector<std::string>{"agents", "--master", "http://m:5050,http://n:5050"},
        std::vector<std::string>{"exec", "--master", "https://m", "--", "true"}}) {
    auto [code, out] = tessera(command);
    EXPECT_EQ(code, 2) << out;
    EXPECT_TRUE(contains(out, "tessera: --master: '")) << out;
    EXPECT_TRUE(contains(out, "is an HTTP address, but masters are reached over ZeroMQ")) << out;
    EXPECT_TRUE(contains(out, "give HOST:PORT or tcp://HOST:PORT, or a comma-separated list"))
        << out;
  }
  auto [code, out] = tessera({"agents"}, "TESSERA_MASTER=https://m:5050");
  EXPECT_EQ(code, 2) << out;
  EXPECT_TRUE(contains(out, "tessera: TESSERA_MASTER: 'https://m:5050' is an HTTP address")) << out;
}

// http://HOST:PORT is the master's HTTP API, asked for the leader's bus endpoint: when nothing
// answers there, the CLI says so.
TEST_F(CliMasters, AnHttpApiThatDoesNotAnswerIsReported) {
  std::string down = unused_tcp_endpoint();
  std::string url = "http://" + down.substr(std::string("tcp://").size());
  auto [code, out] = tessera({"agents", "--master", url, "--connect-timeout", "2"});
  EXPECT_EQ(code, 2) << out;
  EXPECT_TRUE(contains(
      out, "tessera: --master: cannot ask '" + url + "/state' for the master's bus endpoint: "))
      << out;
}

TEST_F(CliMasters, AListWhoseFirstMasterIsDownReachesTheNext) {
  DoubleConfig config;
  config.state.master_id = "the-leader";
  MasterDouble leader(config);
  std::string down = unused_tcp_endpoint();
  // HOST:PORT form for the second one.
  std::string list = down + "," + leader.endpoint().substr(std::string("tcp://").size());
  auto [code, out] = tessera({"agents", "--json", "--master", list, "--connect-timeout", "4"});
  EXPECT_EQ(code, 0) << out;
  EXPECT_EQ(leader.snapshot().state_requests, 1);
}

TEST_F(CliMasters, AStandbyIsFollowedToTheLeaderForCallsAndForExec) {
  DoubleConfig config;
  config.offers = {offer("fits", "a1", 1, 1024)};
  config.script = {status(protocol::state::kRunning), status(protocol::state::kFinished, 0)};
  MasterDouble leader(config);
  MasterDouble standby(DoubleConfig{});
  standby.step_down(leader.endpoint());

  auto [listed, listing] = tessera({"frameworks", "--master", standby.endpoint()});
  EXPECT_EQ(listed, 0) << listing;
  EXPECT_EQ(leader.snapshot().state_requests, 1);

  auto [code, out] = tessera({"exec", "--master", standby.endpoint(), "--", "true"});
  EXPECT_EQ(code, 0) << out;
  EXPECT_TRUE(contains(out, "TASK_FINISHED")) << out;
  EXPECT_EQ(leader.snapshot().subscribes.size(), 1u);
  EXPECT_EQ(standby.snapshot().not_leader_answers, 2);
}

TEST_F(CliMasters, StandbysWithNoLeaderAreNotCalledUnreachable) {
  MasterDouble standby(DoubleConfig{});
  standby.step_down("");
  auto [code, out] = tessera({"tasks", "--master", standby.endpoint(), "--connect-timeout", "1"});
  EXPECT_EQ(code, 2) << out;
  EXPECT_TRUE(contains(out, "tessera: no leading master at " + standby.endpoint() + ": master at " +
                                standby.endpoint() +
                                ": not the leader; the leader is not known yet"))
      << out;

  auto [exec_code, exec_out] =
      tessera({"exec", "--master", standby.endpoint(), "--connect-timeout", "1", "--", "true"});
  EXPECT_EQ(exec_code, 2) << exec_out;
  EXPECT_TRUE(contains(exec_out, "tessera: no leading master at " + standby.endpoint()))
      << exec_out;
}

TEST_F(CliMasters, NoMasterOfAListAnsweringNamesThemAll) {
  std::string first = unused_tcp_endpoint();
  std::string second = unused_tcp_endpoint();
  auto [code, out] =
      tessera({"agents", "--master", first + "," + second, "--connect-timeout", "0.6"});
  EXPECT_EQ(code, 2) << out;
  EXPECT_TRUE(contains(out, "tessera: no answer from the masters at " + first + "," + second +
                                ": is one of them running?"))
      << out;
}

}  // namespace

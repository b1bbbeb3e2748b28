// Plugins exchanging messages through real tessera-host processes: inside one host over
// inproc, and across two hosts over tcp on loopback, including garbage sent to a live socket.
#include <gtest/gtest.h>

#include <regex>
#include <zmq.hpp>

#include "support/garbage.h"
#include "support/process.h"
#include "tessera/message.h"

namespace {

using namespace std::chrono_literals;
using tessera::testing::Process;
using tessera::testing::TempDir;

std::string node_toml(const TempDir& dir, const std::string& name, const std::string& body) {
  return "[node]\nname = \"" + name + "\"\nroles = []\nwork_dir = \"" +
         (dir / ("work-" + name)).string() + "\"\nplugin_dirs = [\"" + TESSERA_PLUGIN_DIR +
         "\"]\nendpoints_file = \"" + (dir / (name + ".endpoints")).string() + "\"\n" + body;
}

// Waits until the host's endpoints file names `key` and returns its value.
std::string wait_for_endpoint(const TempDir& dir, const std::string& node, const std::string& key) {
  std::regex line(key + " = \"([^\"]+)\"");
  for (int i = 0; i < 500; ++i) {
    std::smatch m;
    std::string text = tessera::testing::read_file(dir / (node + ".endpoints"));
    if (std::regex_search(text, m, line)) return m[1];
    std::this_thread::sleep_for(20ms);
  }
  return "";
}

TEST(BusEndToEnd, InprocRequestReplyAndPubSubInOneHost) {
  TempDir dir;
  auto config = dir.write("node.toml", node_toml(dir, "solo", R"(
[master]
frameworks = ["example_pong", "example_ping"]
[plugins.example_pong]
tick_ms = 100
[plugins.example_ping]
interval_ms = 50
text = "over inproc"
)"));
  Process host({TESSERA_HOST_BIN, config.string()}, dir / "host.log");
  ASSERT_TRUE(host.wait_for("pong 5 'over inproc' from 'example_pong'")) << host.output();
  ASSERT_TRUE(host.wait_for("tick 3 from 'example_pong'")) << host.output();
  EXPECT_EQ(host.stop(), 0) << host.output();
  EXPECT_NE(host.output().find("stopped plugin 'example_ping'"), std::string::npos);
  EXPECT_NE(host.output().find("stopped plugin 'example_pong'"), std::string::npos);
  EXPECT_EQ(host.count("dropped"), 0u) << host.output();
}

class TwoHosts : public ::testing::Test {
 protected:
  void start_server() {
    auto config = dir_.write("server.toml", node_toml(dir_, "server", R"(
[master]
frameworks = ["example_pong"]
[plugins.example_pong]
reply_endpoint = "tcp://127.0.0.1:0"
events_endpoint = "tcp://127.0.0.1:0"
tick_ms = 100
)"));
    server_ = std::make_unique<Process>(std::vector<std::string>{TESSERA_HOST_BIN, config.string()},
                                        dir_ / "server.log");
    reply_ = wait_for_endpoint(dir_, "server", "example_pong.reply");
    events_ = wait_for_endpoint(dir_, "server", "example_pong.events");
    ASSERT_EQ(reply_.rfind("tcp://127.0.0.1:", 0), 0u) << server_->output();
    ASSERT_EQ(events_.rfind("tcp://127.0.0.1:", 0), 0u) << server_->output();
  }

  void start_client() {
    auto config =
        dir_.write("client.toml", node_toml(dir_, "client",
                                            "[master]\nframeworks = [\"example_ping\"]\n"
                                            "[plugins.example_ping]\ninterval_ms = 50\n"
                                            "text = \"over tcp\"\nserver = \"" +
                                                reply_ + "\"\nevents = \"" + events_ + "\"\n"));
    client_ = std::make_unique<Process>(std::vector<std::string>{TESSERA_HOST_BIN, config.string()},
                                        dir_ / "client.log");
  }

  TempDir dir_;
  std::unique_ptr<Process> server_, client_;
  std::string reply_, events_;
};

TEST_F(TwoHosts, TcpRequestReplyAndPubSubAcrossHosts) {
  start_server();
  start_client();
  ASSERT_TRUE(client_->wait_for("pong 5 'over tcp' from 'example_pong'")) << client_->output();
  ASSERT_TRUE(client_->wait_for("tick 3 from 'example_pong'")) << client_->output();
  EXPECT_EQ(client_->stop(), 0) << client_->output();
  EXPECT_EQ(server_->stop(), 0) << server_->output();
}

TEST_F(TwoHosts, GarbageOnALiveSocketIsLoggedAndDroppedAndServingContinues) {
  start_server();
  // Raw bytes straight to the tcp port: not even ZeroMQ's handshake.
  const char junk[] = "GET / HTTP/1.1\r\n\r\n\xff\x00\x13garbage";
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(tessera::testing::send_raw_tcp(tessera::testing::port_of(reply_),
                                               std::string(junk, sizeof junk - 1)));
  }
  // Well-framed ZeroMQ messages whose payloads are not envelopes.
  tessera::testing::send_zmq_frames(
      reply_, {"\xde\xad\xbe\xef", "{\"json\": true}", std::string(4096, '\x91')});
  ASSERT_TRUE(server_->wait_for("dropped a malformed message")) << server_->output();

  start_client();
  ASSERT_TRUE(client_->wait_for("pong 5 'over tcp' from 'example_pong'")) << client_->output();
  EXPECT_EQ(server_->count("dropped a malformed message"), 3u) << server_->output();
  EXPECT_EQ(client_->stop(), 0) << client_->output();
  EXPECT_EQ(server_->stop(), 0) << server_->output();
}

TEST_F(TwoHosts, ServerThatDisappearsIsReportedAndClientKeepsRunning) {
  start_server();
  start_client();
  ASSERT_TRUE(client_->wait_for("pong 2 ")) << client_->output();
  server_->signal(SIGKILL);
  ASSERT_TRUE(server_->wait().has_value());
  // It keeps running: its plugin goes on pinging, and says so at every ping that goes
  // unanswered.
  ASSERT_TRUE(client_->wait_for_count("no pong: ", 2)) << client_->output();
  EXPECT_FALSE(client_->wait(0ms).has_value()) << "the client must keep running";
  EXPECT_EQ(client_->stop(), 0) << client_->output();
}

}  // namespace

// A plugin serving HTTP inside a real tessera-host process: its handlers run on the plugin's
// thread, its TOML table sets the server's limits, an event stream is open while the host
// stops, and a malformed request leaves it serving.
#include <gtest/gtest.h>

#include <regex>

#include "http_support.h"

namespace {

using namespace std::chrono_literals;
using namespace tessera::testing::http;
using tessera::testing::Process;
using tessera::testing::TempDir;

std::string wait_for_endpoint(const TempDir& dir, const std::string& key) {
  std::regex line(key + " = \"([^\"]+)\"");
  std::string found;
  eventually([&] {
    std::smatch m;
    std::string text = tessera::testing::read_file(dir / "node.endpoints");
    if (!std::regex_search(text, m, line)) return false;
    found = m[1];
    return true;
  });
  return found;
}

TEST(HttpPlugin, ServesFromThePluginThreadInsideTesseraHost) {
  TempDir dir;
  auto config = dir.write("node.toml", "[node]\nname = \"web\"\nroles = []\nwork_dir = \"" +
                                           (dir / "work").string() + "\"\nplugin_dirs = [\"" +
                                           TESSERA_HTTP_PLUGIN_DIR + "\"]\nendpoints_file = \"" +
                                           (dir / "node.endpoints").string() + R"("
[master]
frameworks = ["fixture_http_plugin"]
[plugins.fixture_http_plugin.http]
max_body_bytes = 1024
)");
  Process host({TESSERA_HOST_BIN, config.string()}, dir / "host.log");
  std::string address = wait_for_endpoint(dir, "fixture_http_plugin.http");
  ASSERT_EQ(address.rfind("127.0.0.1:", 0), 0u) << host.output();
  std::string base = "http://" + address;

  auto hello = curl(dir, {base + "/hello"});
  ASSERT_EQ(hello.status, 200) << hello.output << host.output();
  EXPECT_EQ(hello.body, R"({"plugin":"fixture_http_plugin","on_plugin_thread":true})");

  auto echo = curl(dir, {"--data", R"({"a":[1,2]})", base + "/echo"});
  EXPECT_EQ(echo.status, 200);
  EXPECT_EQ(echo.body, R"({"a":[1,2]})");
  EXPECT_EQ(curl(dir, {"--data", "{oops", base + "/echo"}).status, 400);
  // The plugin's TOML table set the body limit.
  EXPECT_EQ(curl(dir, {"--data", std::string(2000, ' '), base + "/echo"}).status, 413);
  EXPECT_TRUE(host.wait_for("request body larger than 1024 bytes (413)")) << host.output();

  uint16_t port = static_cast<uint16_t>(std::stoi(address.substr(address.rfind(':') + 1)));
  RawClient garbage(port);
  garbage.send("NOT HTTP AT ALL\r\n\r\n");
  auto refused = garbage.read_reply();
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 400);

  RawClient events(port);
  events.send(get_request("/events"));
  ASSERT_TRUE(events.read_until("event: tick\n"));
  events.buffer().clear();
  ASSERT_TRUE(events.read_until("event: tick\n"));  // the plugin's timer keeps publishing

  EXPECT_EQ(curl(dir, {base + "/hello"}).status, 200);
  // Stops cleanly with a stream still open.
  EXPECT_EQ(host.stop(), 0) << host.output();
  // Five reached a handler; the 413 and the garbage were refused before routing.
  EXPECT_NE(host.output().find("served 5 HTTP request(s)"), std::string::npos) << host.output();
  EXPECT_TRUE(events.read_to_eof());
}

}  // namespace

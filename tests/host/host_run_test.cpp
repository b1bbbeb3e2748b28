// tessera-host running for real: a clean start and stop, and the plugins that fail once the
// node is starting or serving (start() fails, run() fails later, start() hangs). Each test
// starts the real binary on a file in a temporary directory and stops or reaps it.
#include <gtest/gtest.h>

#include <chrono>

#include "host_test.h"

namespace tessera::testing {
namespace {

using std::chrono::seconds;

constexpr int kRuntimeError = 1;  // tessera-host's status when something fails while running

// Position of `text` in `output` (npos when absent), for checking the order of log lines.
size_t where(const std::string& output, const std::string& text) { return output.find(text); }

TEST(HostRun, PingAndPongStartAndStopCleanlyOnSigterm) {
  NodeFile node(
      "[master]\n"
      "frameworks = [\"example_pong\", \"example_ping\"]\n"
      "\n"
      "[plugins.example_pong]\n"
      "tick_ms = 100\n"
      "\n"
      "[plugins.example_ping]\n"
      "interval_ms = 50\n"
      "text = \"hello from the test\"\n");
  Process host({kHostBin, node.file()}, node.dir() / "host.log");
  ASSERT_TRUE(host.wait_for("node 'test-node' running as plugins only with 2 plugin(s)"))
      << host.output();
  // Ping reached pong over the bus: the node is really serving, not just started.
  ASSERT_TRUE(host.wait_for("pong 1 'hello from the test' from 'example_pong'")) << host.output();

  auto code = host.stop();
  ASSERT_TRUE(code.has_value()) << "did not stop on SIGTERM: " << host.output();
  std::string output = host.output();
  EXPECT_EQ(*code, 0) << output;
  EXPECT_NE(where(output, "received SIGTERM, stopping"), std::string::npos) << output;
  // Stopped in the reverse of the start order.
  size_t ping_stopped = where(output, "stopped plugin 'example_ping'");
  size_t pong_stopped = where(output, "stopped plugin 'example_pong'");
  ASSERT_NE(ping_stopped, std::string::npos) << output;
  ASSERT_NE(pong_stopped, std::string::npos) << output;
  EXPECT_LT(ping_stopped, pong_stopped) << output;
  // The plugins' work directories were made inside the node's work directory.
  EXPECT_TRUE(std::filesystem::is_directory(node.dir() / "work" / "plugins" / "example_pong"));
}

TEST(HostRun, StartThatFailsNamesPluginAndStopsTheOthers) {
  NodeFile node("[master]\nframeworks = [\"example_pong\", \"fixture_start_fails\"]\n");
  auto [code, output] = node.host();
  EXPECT_EQ(code, kRuntimeError) << output;
  EXPECT_NE(where(output,
                  "tessera-host: plugin 'fixture_start_fails' failed to start: "
                  "fixture_start_fails cannot bind its socket\n"),
            std::string::npos)
      << output;
  EXPECT_NE(where(output, "started plugin 'example_pong'"), std::string::npos) << output;
  EXPECT_EQ(where(output, "started plugin 'fixture_start_fails'"), std::string::npos) << output;
  EXPECT_NE(where(output, "stopped plugin 'example_pong'"), std::string::npos) << output;
  EXPECT_EQ(where(output, "node 'test-node' running"), std::string::npos) << output;
}

TEST(HostRun, RunThatFailsLaterIsLoggedAndNodeExitsOneAfterStoppingTheOthers) {
  NodeFile node(
      "[master]\n"
      "frameworks = [\"example_pong\", \"fixture_run_fails\"]\n"
      "\n"
      "[plugins.fixture_run_fails]\n"
      "fail_after_ms = 300\n");
  auto [code, output] = node.host();
  EXPECT_EQ(code, kRuntimeError) << output;
  size_t running = where(output, "node 'test-node' running as plugins only with 2 plugin(s)");
  size_t failed = where(output,
                        "plugin 'fixture_run_fails' failed: run threw: fixture_run_fails "
                        "lost its backend; stopping the node");
  size_t pong_stopped = where(output, "stopped plugin 'example_pong'");
  ASSERT_NE(running, std::string::npos) << output;
  ASSERT_NE(failed, std::string::npos) << output;
  ASSERT_NE(pong_stopped, std::string::npos) << output;
  EXPECT_LT(running, failed) << output;
  EXPECT_LT(failed, pong_stopped) << output;
}

TEST(HostRun, StartThatHangsTimesOutNamingPluginAndTimeout) {
  NodeFile node("[master]\nframeworks = [\"example_pong\", \"fixture_start_hangs\"]\n", "",
                /*start_timeout_ms=*/500);
  // The hung plugin sleeps for an hour: an exit code at all (run() gives -1 for a host still
  // running after 60 s) shows that the host did not wait for it.
  auto [code, output] = node.host({}, seconds(60));
  EXPECT_EQ(code, kRuntimeError) << output;
  EXPECT_NE(where(output,
                  "tessera-host: plugin 'fixture_start_hangs' did not finish starting "
                  "within 500 ms (node.start_timeout_ms); giving up\n"),
            std::string::npos)
      << output;
  // The plugins that did start were stopped before the host left the hung one behind.
  EXPECT_NE(where(output, "stopped plugin 'example_pong'"), std::string::npos) << output;
}

}  // namespace
}  // namespace tessera::testing

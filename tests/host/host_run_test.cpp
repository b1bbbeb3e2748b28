// tessera-host running for real: a clean start and stop, and the plugins that fail once the
// node is starting or serving (start() fails, run() fails later, start() hangs). Each test
// starts the real binary on a file in a temporary directory and stops or reaps it.
#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <string>

#include "host_test.h"
#include "tessera/abi.h"
#include "tessera/abi_fingerprint.h"

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

TEST(HostRun, ServicePluginRunsFromNodeServices) {
  NodeFile node("", "services = [\"fixture_service\"]\n");
  Process host({kHostBin, node.file()}, node.dir() / "host.log");
  ASSERT_TRUE(host.wait_for("node 'test-node' running as plugins only with 1 plugin(s)"))
      << host.output();
  std::string output = host.output();
  EXPECT_NE(where(output, "loaded plugin 'fixture_service' 1.0.0 (service)"), std::string::npos)
      << output;
  EXPECT_NE(where(output, "plugin 'fixture_service' announced endpoint = inproc://fixture_service"),
            std::string::npos)
      << output;
  // The host services appended after the first layout reach the plugin.
  EXPECT_NE(where(output, "fixture_service serving, installed as " + kFixtureDir +
                              "/fixture_service.so, on host " TESSERA_SDK_VERSION),
            std::string::npos)
      << output;
  auto code = host.stop();
  ASSERT_TRUE(code.has_value()) << host.output();
  EXPECT_EQ(*code, 0) << host.output();
  EXPECT_NE(where(host.output(), "stopped plugin 'fixture_service'"), std::string::npos)
      << host.output();
}

TEST(HostRun, PluginBuiltAgainstTheOlderHeaderRunsAndStops) {
  // fixture_older_sdk.so knows the host services only up to `announce`: the host hands it the
  // longer struct, and it reads what it knows.
  NodeFile node("", "services = [\"fixture_older_sdk\"]\n");
  Process host({kHostBin, node.file()}, node.dir() / "host.log");
  ASSERT_TRUE(
      host.wait_for("fixture_older_sdk started on node 'test-node': the host's services "
                    "are " +
                    std::to_string(sizeof(tessera_host_services)) + " bytes, this plugin reads " +
                    std::to_string(offsetof(tessera_host_services, host_version))))
      << host.output();
  auto code = host.stop();
  ASSERT_TRUE(code.has_value()) << host.output();
  std::string output = host.output();
  EXPECT_EQ(*code, 0) << output;
  EXPECT_LT(where(output, "fixture_older_sdk stopping"),
            where(output, "stopped plugin 'fixture_older_sdk'"))
      << output;
}

TEST(HostRun, PluginsRunFromPrivateCopiesRemovedAtStop) {
  NodeFile node("[master]\nframeworks = [\"example_pong\"]\n");
  Process host({kHostBin, node.file()}, node.dir() / "host.log");
  ASSERT_TRUE(host.wait_for("node 'test-node' running")) << host.output();
  std::filesystem::path copies = node.dir() / "work" / "run" / std::to_string(host.pid());
  EXPECT_TRUE(std::filesystem::exists(copies / "example_pong.so"));
  std::string maps = read_file("/proc/" + std::to_string(host.pid()) + "/maps");
  EXPECT_NE(maps.find((copies / "example_pong.so").string()), std::string::npos) << maps;
  EXPECT_EQ(maps.find(kPluginDir + "/example_pong.so"), std::string::npos) << maps;
  auto code = host.stop();
  ASSERT_TRUE(code.has_value()) << host.output();
  EXPECT_EQ(*code, 0) << host.output();
  EXPECT_FALSE(std::filesystem::exists(copies));
}

TEST(HostRun, CopiesLeftByAHostThatIsGoneAreRemoved) {
  // A host killed, or one that abandoned a hung plugin, leaves its copies (for a debugger);
  // the next host on the work dir removes them, but not those of a host still running.
  NodeFile node("[master]\nframeworks = [\"example_pong\"]\n");
  std::filesystem::path run = node.dir() / "work" / "run";
  const std::string gone = "2147483646";  // beyond any pid_max
  const std::string alive = std::to_string(getpid());
  node.dir().write("work/run/" + gone + "/example_pong.so", "copy");
  node.dir().write("work/run/" + alive + "/example_pong.so", "copy");
  auto [code, output] = node.check();
  EXPECT_EQ(code, 0) << output;
  EXPECT_FALSE(std::filesystem::exists(run / gone));
  EXPECT_TRUE(std::filesystem::exists(run / alive / "example_pong.so"));
}

}  // namespace
}  // namespace tessera::testing

// A hostile client against a real master process: frames built to cost the master as much
// memory as possible, and a message type that tries to forge a log line. The master's peak
// memory (VmHWM) stays bounded, its log stays one line per event, and it keeps serving its
// agent and a normal client (the `tessera` CLI) afterwards.
#include <gtest/gtest.h>

#include <iostream>
#include <sstream>

#include "support/cluster.h"
#include "support/garbage.h"
#include "support/hostile_peer.h"
#include "tessera/message.h"

namespace {

using namespace std::chrono_literals;
using tessera::testing::Cluster;
using tessera::testing::HostilePeer;
using tessera::testing::memory_of;
using tessera::testing::nil_array;
using tessera::testing::TempDir;

constexpr uint64_t kMiB = 1 << 20;

// A message type that, written raw into a log, would start a line of its own.
struct Forged {
  static constexpr const char* kType = "scheduler.forged\nFORGED LINE: registered agent 'fake'";
  static constexpr uint32_t kSchema = 1;
  std::string text;
  MSGPACK_DEFINE_MAP(text);
};

class HostileMasterTest : public ::testing::Test {
 protected:
  uint64_t peak_memory() {
    auto memory = memory_of(cluster_.master().pid());
    EXPECT_TRUE(memory.has_value()) << "the master is gone";
    return memory ? memory->peak : 0;
  }

  // The CLI's list of agents (a normal client of the master).
  std::string agents() {
    auto [code, output] = tessera::testing::run(
        {TESSERA_CLI_BIN, "agents", "--master", cluster_.endpoint()}, dir_ / "cli.log");
    EXPECT_EQ(code, 0) << output;
    return output;
  }

  TempDir dir_;
  Cluster cluster_{dir_};
};

TEST_F(HostileMasterTest, FramesBuiltToExhaustMemoryLeaveTheMasterBoundedAndServing) {
  ASSERT_TRUE(cluster_.start_master());
  ASSERT_TRUE(cluster_.start_agent(0));
  ASSERT_NE(agents().find("agent0"), std::string::npos);
  uint64_t before = peak_memory();
  uint16_t port = tessera::testing::port_of(cluster_.endpoint());

  // 60 MB of nils in one frame (unpacked, 24 bytes each: 1.5 GB). Larger than the master's
  // 16 MiB limit, so ZeroMQ hangs up on it after reading the frame's size.
  {
    HostilePeer peer(port);
    ASSERT_TRUE(peer.connected());
    (void)peer.send_frame(nil_array(60'000'000));
    EXPECT_TRUE(peer.closed_within(30s)) << "the master kept reading a 60 MB frame";
  }
  uint64_t after_oversized = peak_memory();

  // Just under the limit: read whole, then refused before unpacking (16.7 million values).
  {
    HostilePeer peer(port);
    ASSERT_TRUE(peer.connected());
    ASSERT_TRUE(peer.send_frame(nil_array(16 * kMiB - 64)));
    ASSERT_TRUE(cluster_.master().wait_for("declares more than 1048576 values", 30s))
        << cluster_.master().output();
  }
  uint64_t after_under_limit = peak_memory();
  std::cout << "master peak memory: " << before / kMiB << " MiB before, " << after_oversized / kMiB
            << " MiB after a 60 MB frame of nils, " << after_under_limit / kMiB
            << " MiB after a 16 MiB one\n";
  // Without the limits the first frame alone took the master to 1.5 GB, the second to 400 MB.
  // Now a frame costs its own bytes, a few times over at most (ZeroMQ's buffers and the frame).
  EXPECT_LT(after_oversized - before, 32 * kMiB);
  EXPECT_LT(after_under_limit - before, 96 * kMiB);

  // A message type with a newline: logged escaped, on the line of the drop.
  {
    HostilePeer peer(port);
    ASSERT_TRUE(peer.connected());
    ASSERT_TRUE(peer.send_frame(tessera::encode({}, Forged{"hi"})));
    ASSERT_TRUE(cluster_.master().wait_for("scheduler.forged\\nFORGED LINE", 30s))
        << cluster_.master().output();
  }
  std::istringstream log(cluster_.master().output());
  for (std::string line; std::getline(log, line);) {
    if (line.find("FORGED LINE") != std::string::npos) {
      EXPECT_NE(line.find("dropped a malformed message"), std::string::npos) << line;
    }
  }

  // The master still serves a new client, and still knows its agent.
  EXPECT_NE(agents().find("agent0"), std::string::npos);
}

}  // namespace

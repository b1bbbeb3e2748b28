// The in-process node harness (support/node.h) against a real plugin: what conformance suites
// build on.
#include <gtest/gtest.h>

#include "example_protocol.h"
#include "support/node.h"

namespace {

TEST(InProcessNode, TalksToAPluginLoadedThroughTheRealLoader) {
  tessera::testing::TempDir dir;
  tessera::testing::InProcessNode node(dir,
                                       "roles = [\"master\"]\n[master]\n"
                                       "frameworks = [\"example_pong\"]\n");
  auto started = node.start();
  ASSERT_TRUE(started.ok()) << started.error().message;
  tessera::testing::TestBus test(node.zmq_context());
  tessera::sdk::Client client(test.bus, "pong-client");
  ASSERT_TRUE(client.connect("inproc://example_pong").ok());
  for (uint64_t i = 1; i <= 3; ++i) {
    auto reply = test.call(client, example::Ping{"n" + std::to_string(i), i});
    ASSERT_TRUE(reply.ok()) << reply.error().message;
    auto pong = reply->body<example::Pong>();
    ASSERT_TRUE(pong.ok());
    EXPECT_EQ(pong->text, "n" + std::to_string(i));
    EXPECT_EQ(pong->served, i);
  }
}

TEST(InProcessNode, StartErrorIsWhatTheHostWouldPrint) {
  tessera::testing::TempDir dir;
  tessera::testing::InProcessNode node(dir,
                                       "roles = [\"master\"]\n[master]\n"
                                       "frameworks = [\"no_such_plugin\"]\n");
  auto started = node.start();
  ASSERT_FALSE(started.ok());
  EXPECT_NE(started.error().message.find("unknown plugin 'no_such_plugin'"), std::string::npos)
      << started.error().message;
}

}  // namespace

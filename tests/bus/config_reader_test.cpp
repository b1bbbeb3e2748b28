// The SDK's TOML reader: what a user reads when a table is wrong.
#include <gtest/gtest.h>

#include "tessera/sdk/config.h"

namespace {

using tessera::sdk::ConfigDocument;

TEST(ConfigReader, SyntaxErrorNamesFileLineColumnAndWhatWasExpected) {
  auto doc = ConfigDocument::parse("node.toml", "[node]\nname = \"a\"\nroles = [\"master\"\n");
  ASSERT_FALSE(doc.ok());
  // The array opened on line 3 never closes: toml++ reports where the file ended.
  EXPECT_EQ(doc.error().message,
            "node.toml:3:19: Error while parsing array: encountered end-of-file");
}

TEST(ConfigReader, TypedValuesDefaultsAndRanges) {
  auto doc = ConfigDocument::parse("n.toml",
                                   "[p]\nport = 80\nratio = 1\nname = \"x\"\n"
                                   "tags = [\"a\", \"b\"]\nmode = \"fast\"\n");
  ASSERT_TRUE(doc.ok());
  auto t = (*doc)->at("p");
  EXPECT_EQ(t.get<int64_t>("port", 0), 80);
  EXPECT_DOUBLE_EQ(t.get<double>("ratio", 0), 1.0);  // an integer is a fine number
  EXPECT_EQ(t.get<std::string>("name", ""), "x");
  EXPECT_EQ(t.get<std::vector<std::string>>("tags", {}), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(t.choice("mode", "slow", {"slow", "fast"}), "fast");
  EXPECT_EQ(t.get<int64_t>("absent", 5), 5);
  t.reject_unknown_keys();
  EXPECT_TRUE(t.status().ok()) << t.status().error().message;
}

TEST(ConfigReader, WrongTypeNamesKeyPathAndExpectedType) {
  auto doc = ConfigDocument::parse("n.toml", "[plugins.pong]\ntick_ms = \"fast\"\n");
  ASSERT_TRUE(doc.ok());
  auto t = (*doc)->at("plugins.pong");
  EXPECT_EQ(t.integer("tick_ms", 1000, 1, 100000), 1000);
  EXPECT_EQ(t.status().error().message,
            "n.toml:2:11: plugins.pong.tick_ms: expected an integer, got a string");
}

TEST(ConfigReader, UnknownKeyListsValidKeys) {
  auto doc = ConfigDocument::parse("n.toml", "[plugins.pong]\ntik_ms = 5\n");
  ASSERT_TRUE(doc.ok());
  auto t = (*doc)->at("plugins.pong");
  (void)t.get<int64_t>("tick_ms", 1);
  (void)t.get<std::string>("endpoint", "");
  t.reject_unknown_keys();
  EXPECT_EQ(t.status().error().message,
            "n.toml:2:1: unknown key 'plugins.pong.tik_ms' (valid keys: endpoint, tick_ms)");
}

TEST(ConfigReader, OutOfRangeAndBadChoiceAndMissingRequired) {
  auto doc = ConfigDocument::parse("n.toml", "[a]\nn = 0\nmode = \"warp\"\n");
  ASSERT_TRUE(doc.ok());
  auto t = (*doc)->at("a");
  (void)t.integer("n", 1, 1, 10);
  (void)t.choice("mode", "slow", {"slow", "fast"});
  (void)t.required<std::string>("address");
  std::string message = t.status().error().message;
  EXPECT_NE(message.find("n.toml:2:5: a.n: expected a value from 1 to 10, got 0"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("a.mode: 'warp' is not one of slow, fast"), std::string::npos) << message;
  EXPECT_NE(message.find("a.address: required key is missing"), std::string::npos) << message;
}

TEST(ConfigReader, AbsentTableReadsAsEmpty) {
  auto doc = ConfigDocument::parse("n.toml", "[other]\nx = 1\n");
  ASSERT_TRUE(doc.ok());
  auto t = (*doc)->at("plugins.missing");
  EXPECT_FALSE(t.present());
  EXPECT_EQ(t.get<int64_t>("x", 9), 9);
  t.reject_unknown_keys();
  EXPECT_TRUE(t.status().ok());
}

}  // namespace

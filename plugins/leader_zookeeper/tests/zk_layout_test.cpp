// The ZooKeeper layout alone: key escaping, candidate data, election order, zk:// addresses and
// the store znode format, with what ZooKeeper could hand back that is not ours.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "zk_layout.h"

namespace zk = tessera::leader::zk;

TEST(ZooKeeperLayout, SegmentsOfAnyBytesRoundTripAsZnodeNames) {
  const std::vector<std::string> segments = {
      "plain",    "",         ".", "..", "a.b", "%", "a b", std::string("nul\0byte", 8),
      "\xff\x01", "zookeeper"};
  for (const std::string& segment : segments) {
    std::string name = zk::encode_segment(segment);
    EXPECT_FALSE(name.empty());
    EXPECT_NE(name, ".");
    EXPECT_NE(name, "..");
    EXPECT_EQ(name.find('/'), std::string::npos);
    auto back = zk::decode_segment(name);
    ASSERT_TRUE(back.has_value()) << name;
    EXPECT_EQ(*back, segment);
  }
  EXPECT_EQ(zk::key_path("/t/store", "master/agents/a1"), "/t/store/master/agents/a1");
  EXPECT_EQ(zk::key_path("/t/store", "x//y"), "/t/store/x/%/y");
}

TEST(ZooKeeperLayout, NamesThatAreNotOursDoNotDecode) {
  for (const char* name : {"", ".", "..", "%4", "%zz", "a b", "a%2"}) {
    EXPECT_FALSE(zk::decode_segment(name).has_value()) << name;
  }
}

TEST(ZooKeeperLayout, CandidatesAreOrderedBySequenceAndStrangersLeftOut) {
  auto ordered =
      zk::order_candidates({"candidate-0000000010", "candidate-0000000002", "lock", "candidate-12",
                            "candidate-000000000x", "candidate-0000000007"});
  EXPECT_EQ(ordered, (std::vector<std::string>{"candidate-0000000002", "candidate-0000000007",
                                               "candidate-0000000010"}));
}

TEST(ZooKeeperLayout, CandidateDataIsCheckedBeforeItIsUsed) {
  zk::Candidate candidate{"tcp://127.0.0.1:5051", "m1"};
  auto back = zk::parse_candidate(zk::candidate_data(candidate));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->endpoint, "tcp://127.0.0.1:5051");
  EXPECT_EQ(back->master_id, "m1");
  // Unknown keys (a newer version's) are skipped.
  EXPECT_TRUE(zk::parse_candidate("endpoint=tcp://h:1\nmaster_id=m\nweight=3\n").ok());
  EXPECT_FALSE(zk::parse_candidate("endpoint=tcp://h:1\n").ok());
  EXPECT_FALSE(zk::parse_candidate("endpoint=http://h:1\nmaster_id=m\n").ok());
  EXPECT_FALSE(zk::parse_candidate("endpoint=tcp://h:0\nmaster_id=m\n").ok());
  EXPECT_FALSE(zk::parse_candidate("endpoint=tcp://h:1\nmaster_id=m").ok());
  EXPECT_FALSE(zk::parse_candidate("garbage").ok());
  EXPECT_FALSE(
      zk::parse_candidate("endpoint=tcp://h:1\nmaster_id=" + std::string(5000, 'm') + "\n").ok());
}

TEST(ZooKeeperLayout, ZkAddressesAndServerLists) {
  auto parsed = zk::parse_zk_address("zk://127.0.0.1:2181, 127.0.0.1:2182/tessera/prod");
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(parsed->servers, "127.0.0.1:2181,127.0.0.1:2182");
  EXPECT_EQ(parsed->path, "/tessera/prod");
  for (const char* bad :
       {"zk://127.0.0.1:2181", "zk://127.0.0.1:2181/", "zk://127.0.0.1/t", "zk://127.0.0.1:0/t",
        "zk://:2181/t", "zk://h:2181/t/", "zk://h:2181/a//b", "zk://h:2181/zookeeper",
        "tcp://h:2181/t", "zk://h:2181,/t"}) {
    auto refused = zk::parse_zk_address(bad);
    EXPECT_FALSE(refused.ok()) << bad;
    if (!refused.ok()) {
      EXPECT_FALSE(refused.error().message.empty());
    }
  }
  EXPECT_TRUE(zk::check_servers("zk1:2181,zk2:2181").ok());
  EXPECT_FALSE(zk::check_servers("").ok());
  EXPECT_FALSE(zk::check_servers("h:99999").ok());
  EXPECT_EQ(zk::path_problem("/tessera"), "");
  EXPECT_NE(zk::path_problem("tessera"), "");
  EXPECT_NE(zk::path_problem("/a/./b"), "");
}

TEST(ZooKeeperLayout, StoreNodesRoundTripAndMalformedOnesAreRefused) {
  zk::StoreNode inline_node;
  inline_node.kind = zk::StoreNode::Kind::kInline;
  inline_node.version = 7;
  inline_node.value = std::string("a\0b", 3);
  auto back = zk::parse_store_node(zk::store_node_data(inline_node));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->version, 7U);
  EXPECT_EQ(back->value, inline_node.value);

  zk::StoreNode chunked;
  chunked.kind = zk::StoreNode::Kind::kChunked;
  chunked.version = 2;
  chunked.size = zk::kChunkBytes + 1;
  chunked.chunks = 2;
  chunked.blob = "123-4";
  back = zk::parse_store_node(zk::store_node_data(chunked));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->chunks, 2U);
  EXPECT_EQ(back->blob, "123-4");

  // Chunk counts that do not fit the size, blob names that would escape, and headers that are
  // not ours are refused.
  chunked.chunks = 3;
  EXPECT_FALSE(zk::parse_store_node(zk::store_node_data(chunked)).ok());
  chunked.chunks = 2;
  chunked.blob = "../../x";
  EXPECT_FALSE(zk::parse_store_node(zk::store_node_data(chunked)).ok());
  EXPECT_FALSE(zk::parse_store_node("").ok());
  EXPECT_FALSE(zk::parse_store_node("tsk1v").ok());
  EXPECT_FALSE(zk::parse_store_node("nope and more bytes").ok());
  EXPECT_TRUE(zk::parse_store_node(zk::store_node_data(zk::StoreNode{})).ok());
}

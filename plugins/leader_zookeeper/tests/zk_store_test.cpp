// ZooKeeperStore on a real ZooKeeper server: versions, compare-and-set between two sessions,
// fencing by the epoch znode, and values split into chunks.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include <memory>
#include <string>
#include <vector>

#include "support/zookeeper.h"
#include "zk_session.h"
#include "zk_store.h"

namespace {

namespace zk = tessera::leader::zk;
using tessera::testing::TempDir;
using tessera::testing::ZooKeeperServers;

class ZooKeeperStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TESSERA_REQUIRE_ZOOKEEPER();
    servers_ = std::make_unique<ZooKeeperServers>(dir_);
    session_ = connect();
    ASSERT_TRUE(store_.prepare(*session_).ok());
  }

  std::unique_ptr<zk::Session> connect() {
    auto session = zk::Session::open(servers_->connect_string(), 4000, &loop_, [](const auto&) {});
    EXPECT_TRUE(session.ok());
    EXPECT_TRUE((*session)->wait_connected(std::chrono::seconds(30)));
    return std::move(*session);
  }

  // Starts the next term as a leader does: the epoch znode's version moves on by one.
  uint64_t next_epoch() {
    uint64_t epoch = *store_.epoch(*session_);
    EXPECT_EQ(
        session_->set(store_.epoch_path(), zk::epoch_data(epoch + 1), static_cast<int>(epoch)),
        ZOK);
    return epoch + 1;
  }

  TempDir dir_;
  tessera::sdk::EventLoop loop_;
  std::unique_ptr<ZooKeeperServers> servers_;
  std::unique_ptr<zk::Session> session_;
  zk::ZooKeeperStore store_{"/tessera"};
};

TEST_F(ZooKeeperStoreTest, ZOOKEEPER_VersionsAndCompareAndSetAcrossSessions) {
  auto other = connect();
  zk::ZooKeeperStore other_store("/tessera");
  auto created = store_.put(*session_, "m/k", "v1", 0, 0);
  ASSERT_TRUE(created.ok()) << created.error().message;
  EXPECT_EQ(created->outcome, zk::Write::Outcome::kDone);
  EXPECT_EQ(created->version, 1U);
  // The other session sees it, and its compare-and-set on the old version loses.
  auto stale = other_store.put(*other, "m/k", "lost", 0, 0);
  ASSERT_TRUE(stale.ok());
  EXPECT_EQ(stale->outcome, zk::Write::Outcome::kConflict);
  EXPECT_EQ(stale->version, 1U);
  auto next = other_store.put(*other, "m/k", "v2", 0, 1);
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->version, 2U);
  auto got = store_.get(*session_, "m/k");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->value, "v2");
  EXPECT_EQ((*got)->version, 2U);
  // A key that is also the parent of another keeps its child when deleted, and starts again at
  // version 1.
  ASSERT_TRUE(store_.put(*session_, "m/k/child", "c", 0).ok());
  auto removed = store_.remove(*session_, "m/k", 0);
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(removed->version, 2U);
  EXPECT_FALSE(store_.get(*session_, "m/k")->has_value());
  EXPECT_TRUE(store_.get(*session_, "m/k/child")->has_value());
  EXPECT_EQ(store_.put(*session_, "m/k", "again", 0)->version, 1U);
  EXPECT_EQ(store_.remove(*session_, "m/absent", 0)->outcome, zk::Write::Outcome::kNotFound);
}

TEST_F(ZooKeeperStoreTest, ZOOKEEPER_WritesOfATermThatIsOverAreFencedByZooKeeper) {
  uint64_t first = next_epoch();
  ASSERT_EQ(store_.put(*session_, "m/k", "first", first)->outcome, zk::Write::Outcome::kDone);
  uint64_t second = next_epoch();
  // Whatever the writer believes, ZooKeeper's check on the epoch znode refuses the old term.
  auto late = store_.put(*session_, "m/k", "late", first);
  ASSERT_TRUE(late.ok());
  EXPECT_EQ(late->outcome, zk::Write::Outcome::kFenced);
  EXPECT_EQ(late->epoch, second);
  EXPECT_EQ(store_.remove(*session_, "m/k", first)->outcome, zk::Write::Outcome::kFenced);
  EXPECT_EQ(store_.put(*session_, "m/k", "future", second + 1)->outcome,
            zk::Write::Outcome::kEpochUnknown);
  EXPECT_EQ((*store_.get(*session_, "m/k"))->value, "first");
  EXPECT_EQ(store_.put(*session_, "m/k", "second", second)->outcome, zk::Write::Outcome::kDone);
  EXPECT_EQ(store_.put(*session_, "m/k", "tool", 0)->outcome, zk::Write::Outcome::kDone);
}

TEST_F(ZooKeeperStoreTest, ZOOKEEPER_ValuesLargerThanAZnodeAreChunkedAndTheOldChunksRemoved) {
  std::string large(1024 * 1024, 'x');
  for (size_t i = 0; i < large.size(); i += 4096) large[i] = static_cast<char>('a' + i % 26);
  auto put = store_.put(*session_, "m/big", large, 0);
  ASSERT_TRUE(put.ok()) << put.error().message;
  auto got = store_.get(*session_, "m/big");
  ASSERT_TRUE(got.ok() && got->has_value()) << (got.ok() ? "absent" : got.error().message);
  EXPECT_EQ((*got)->value, large);
  std::vector<std::string> chunks;
  ASSERT_EQ(session_->children("/tessera/blobs", chunks), ZOK);
  EXPECT_EQ(chunks.size(), 2U);  // 1 MiB in chunks of 512 KiB
  ASSERT_TRUE(store_.put(*session_, "m/big", "small", 0).ok());
  ASSERT_EQ(session_->children("/tessera/blobs", chunks), ZOK);
  EXPECT_TRUE(chunks.empty());
  EXPECT_EQ((*store_.get(*session_, "m/big"))->value, "small");
}

// A batch in one multi: a thousand new keys, an update, the removal of a key and of an absent
// one, all applied with their versions; a batch of a term that is over writes nothing; one that
// cannot go in one multi (a repeated key, a chunked value) is left to the write-by-write path.
TEST_F(ZooKeeperStoreTest, ZOOKEEPER_ABatchGoesInOneMultiOrNotAtAll) {
  uint64_t epoch = next_epoch();
  ASSERT_EQ(store_.put(*session_, "m/old", "o", epoch)->outcome, zk::Write::Outcome::kDone);
  ASSERT_EQ(store_.put(*session_, "m/gone", "g", epoch)->outcome, zk::Write::Outcome::kDone);
  using tessera::protocol::store::BatchWrite;
  std::vector<BatchWrite> writes;
  for (int i = 0; i < 1000; ++i) {
    writes.push_back(BatchWrite{"m/agents/a" + std::to_string(i), "r" + std::to_string(i), false});
  }
  writes.push_back(BatchWrite{"m/old", "o2", false});
  writes.push_back(BatchWrite{"m/gone", "", true});
  writes.push_back(BatchWrite{"m/never", "", true});
  auto applied = store_.apply_together(*session_, writes, epoch);
  ASSERT_TRUE(applied.has_value());
  ASSERT_EQ(applied->size(), writes.size());
  EXPECT_EQ((*applied)[0].outcome, zk::Write::Outcome::kDone);
  EXPECT_EQ((*applied)[0].version, 1U);
  EXPECT_EQ((*applied)[1000].version, 2U);
  EXPECT_EQ((*applied)[1001].outcome, zk::Write::Outcome::kDone);
  EXPECT_EQ((*applied)[1001].version, 1U);
  EXPECT_EQ((*applied)[1002].outcome, zk::Write::Outcome::kNotFound);
  auto listed = store_.list(*session_, "m/agents/");
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->size(), 1000U);
  EXPECT_EQ((*store_.get(*session_, "m/agents/a7"))->value, "r7");
  EXPECT_EQ((*store_.get(*session_, "m/old"))->value, "o2");
  EXPECT_FALSE(store_.get(*session_, "m/gone")->has_value());

  // The next term began: the old one's batch writes nothing at all.
  uint64_t next = next_epoch();
  std::vector<BatchWrite> late{{"m/late", "l", false}, {"m/old", "late", false}};
  EXPECT_FALSE(store_.apply_together(*session_, late, epoch).has_value());
  EXPECT_FALSE(store_.get(*session_, "m/late")->has_value());
  EXPECT_EQ((*store_.get(*session_, "m/old"))->value, "o2");
  EXPECT_TRUE(store_.apply_together(*session_, late, next).has_value());
  EXPECT_EQ((*store_.get(*session_, "m/old"))->value, "late");

  std::vector<BatchWrite> repeated{{"m/twice", "1", false}, {"m/twice", "2", false}};
  EXPECT_FALSE(store_.apply_together(*session_, repeated, next).has_value());
  EXPECT_FALSE(store_.get(*session_, "m/twice")->has_value());
  std::vector<BatchWrite> large{{"m/big", std::string(600 * 1024, 'x'), false}};
  EXPECT_FALSE(store_.apply_together(*session_, large, next).has_value());
}

TEST_F(ZooKeeperStoreTest, ZOOKEEPER_TwoWritersIncrementingWithCompareAndSetLoseNothing) {
  auto other = connect();
  zk::ZooKeeperStore other_store("/tessera");
  ASSERT_TRUE(store_.put(*session_, "m/counter", "0", 0).ok());
  auto increment = [](zk::Session& session, zk::ZooKeeperStore& store) {
    while (true) {
      auto current = store.get(session, "m/counter");
      ASSERT_TRUE(current.ok() && current->has_value());
      int value = std::stoi((*current)->value);
      auto written =
          store.put(session, "m/counter", std::to_string(value + 1), 0, (*current)->version);
      ASSERT_TRUE(written.ok());
      if (written->outcome == zk::Write::Outcome::kDone) return;
    }
  };
  for (int i = 0; i < 50; ++i) {
    increment(*session_, store_);
    increment(*other, other_store);
  }
  auto final_value = store_.get(*session_, "m/counter");
  EXPECT_EQ((*final_value)->value, "100");
  EXPECT_EQ((*final_value)->version, 101U);
}

// What another client left in the store's znodes is checked, not trusted: data without the
// store's header, a znode larger than the plugin writes, a chunk list that does not fit its
// size, and names the plugin never writes. A get refuses them, a listing leaves them out, a
// write replaces them.
TEST_F(ZooKeeperStoreTest, ZOOKEEPER_ZnodesThatAreNotTheStoresAreRefusedNotUsed) {
  ASSERT_EQ(session_->ensure_path("/tessera/store/m"), ZOK);
  ASSERT_EQ(session_->create("/tessera/store/m/garbage", "not a store node", 0), ZOK);
  auto garbage = store_.get(*session_, "m/garbage");
  ASSERT_FALSE(garbage.ok());
  EXPECT_NE(garbage.error().message.find("'/tessera/store/m/garbage'"), std::string::npos)
      << garbage.error().message;
  ASSERT_EQ(session_->create("/tessera/store/m/huge", std::string(600 * 1024, 'x'), 0), ZOK);
  auto huge = store_.get(*session_, "m/huge");
  ASSERT_FALSE(huge.ok());
  EXPECT_NE(huge.error().message.find("larger than this plugin ever writes"), std::string::npos)
      << huge.error().message;
  zk::StoreNode lying;
  lying.kind = zk::StoreNode::Kind::kChunked;
  lying.version = 1;
  lying.size = 10;
  lying.chunks = 1;
  lying.blob = "1-1";
  ASSERT_EQ(session_->create("/tessera/blobs/1-1-0", "short", 0), ZOK);
  ASSERT_EQ(session_->create("/tessera/store/m/lying", zk::store_node_data(lying), 0), ZOK);
  EXPECT_FALSE(store_.get(*session_, "m/lying").ok());
  // A listing skips a name the plugin never writes, and leaves out (saying why) the znodes it
  // cannot use, rather than failing whole: the store's own keys are listed.
  ASSERT_EQ(session_->create("/tessera/store/m/not encoded", "", 0), ZOK);
  ASSERT_TRUE(store_.put(*session_, "m/ok", "v", 0).ok());
  // A key below a znode whose data was overwritten is still listed.
  ASSERT_TRUE(store_.put(*session_, "m/garbage/below", "b", 0).ok());
  auto page = store_.list_page(*session_, "m/", "", 100, 1 << 20);
  ASSERT_TRUE(page.ok()) << page.error().message;
  ASSERT_EQ(page->entries.size(), 2U);
  EXPECT_EQ(page->entries[0].key, "m/garbage/below");
  EXPECT_EQ(page->entries[1].key, "m/ok");
  ASSERT_EQ(page->skipped.size(), 3U);
  for (const char* name : {"garbage", "huge", "lying"}) {
    EXPECT_TRUE(std::any_of(page->skipped.begin(), page->skipped.end(),
                            [&](const auto& why) {
                              return why.find(std::string("'/tessera/store/m/") + name + "'") !=
                                     std::string::npos;
                            }))
        << name << " not named in " << ::testing::PrintToString(page->skipped);
  }
  // A write replaces data the plugin did not write, alone or in a batch: the key then holds
  // the store's value (a registry set someone overwrote with zkCli is written again).
  auto replaced = store_.put(*session_, "m/garbage", "fixed", 0);
  ASSERT_TRUE(replaced.ok()) << replaced.error().message;
  EXPECT_EQ(replaced->version, 1U);
  auto fixed = store_.get(*session_, "m/garbage");
  ASSERT_TRUE(fixed.ok() && fixed->has_value()) << (fixed.ok() ? "absent" : fixed.error().message);
  EXPECT_EQ((*fixed)->value, "fixed");
  ASSERT_EQ(session_->create("/tessera/store/m/garbage2", "not a store node", 0), ZOK);
  auto batch = store_.apply_together(
      *session_, {tessera::protocol::store::BatchWrite{"m/garbage2", "batched", false}}, 0);
  ASSERT_TRUE(batch.has_value());
  auto batched = store_.get(*session_, "m/garbage2");
  ASSERT_TRUE(batched.ok() && batched->has_value());
  EXPECT_EQ((*batched)->value, "batched");
  ASSERT_TRUE(session_->remove("/tessera/store/m/garbage/below", -1) == ZOK &&
              session_->remove("/tessera/store/m/garbage", -1) == ZOK &&
              session_->remove("/tessera/store/m/garbage2", -1) == ZOK &&
              session_->remove("/tessera/store/m/huge", -1) == ZOK &&
              session_->remove("/tessera/store/m/lying", -1) == ZOK);
  auto listed = store_.list(*session_, "m/");
  ASSERT_TRUE(listed.ok()) << listed.error().message;
  ASSERT_EQ(listed->size(), 1U);
  EXPECT_EQ((*listed)[0].key, "m/ok");
}

// A listing reads the znodes of one parent in windows of pipelined requests: more keys than
// one window holds, a key that is also the parent of others, a chunked value and a directory
// that holds no value of its own all come back, in key order, with their values and versions.
TEST_F(ZooKeeperStoreTest, ZOOKEEPER_AListingOfThousandsOfKeysReadsEveryValue) {
  constexpr size_t kKeys = zk::Session::kReadWindow + 200;
  for (size_t i = 0; i < kKeys; ++i) {
    std::string key = "agents/" + std::to_string(100000 + i);
    ASSERT_TRUE(store_.put(*session_, "m/" + key, "record " + key, 0).ok()) << key;
  }
  ASSERT_TRUE(store_.put(*session_, "m/agents/100007/note", "nested", 0).ok());
  ASSERT_TRUE(store_.put(*session_, "m/agents/100007", "rewritten", 0).ok());
  std::string large(zk::kInlineValueBytes + 1000, 'x');
  ASSERT_TRUE(store_.put(*session_, "m/agents/large", large, 0).ok());
  // Only a directory: "m/dir" holds no value, its child does.
  ASSERT_TRUE(store_.put(*session_, "m/agents/dir/leaf", "leaf", 0).ok());

  auto listed = store_.list(*session_, "m/agents/");
  ASSERT_TRUE(listed.ok()) << listed.error().message;
  ASSERT_EQ(listed->size(), kKeys + 3);
  EXPECT_TRUE(std::is_sorted(listed->begin(), listed->end(),
                             [](const auto& a, const auto& b) { return a.key < b.key; }));
  std::map<std::string, zk::StoreEntry> by_key;
  for (const auto& entry : *listed) by_key[entry.key] = entry;
  EXPECT_EQ(by_key["m/agents/100000"].value, "record agents/100000");
  EXPECT_EQ(by_key["m/agents/101199"].value, "record agents/101199");
  EXPECT_EQ(by_key["m/agents/100007"].value, "rewritten");
  EXPECT_EQ(by_key["m/agents/100007"].version, 2U);
  EXPECT_EQ(by_key["m/agents/100007/note"].value, "nested");
  EXPECT_EQ(by_key["m/agents/large"].value, large);
  EXPECT_EQ(by_key["m/agents/dir/leaf"].value, "leaf");
  EXPECT_EQ(by_key.count("m/agents/dir"), 0U);
}

// ZooKeeper's jute.maxbuffer (1 MiB) bounds the requests a server takes, not the getChildren
// reply the C client reads: a listing goes on past a megabyte of names under one znode (here
// 1,100 names of 1,000 bytes, as a registry of about 55,000 agents' ids would make), whole, in
// key order and through pages.
TEST_F(ZooKeeperStoreTest, ZOOKEEPER_AListingGoesPastAMegabyteOfNamesUnderOneZnode) {
  constexpr size_t kKeys = 1100;
  size_t name_bytes = 0;
  std::vector<std::string> keys;
  for (size_t i = 0; i < kKeys; ++i) {
    std::string id = std::to_string(100000 + i) + std::string(994, 'a');
    keys.push_back("m/agents/" + id);
    // What getChildren sends for each name: a 4-byte length and the escaped segment.
    name_bytes += 4 + zk::encode_segment(id).size();
    ASSERT_TRUE(store_.put(*session_, keys.back(), "record " + std::to_string(i), 0).ok()) << i;
  }
  ASSERT_GT(name_bytes, size_t{1} << 20);

  auto listed = store_.list(*session_, "m/agents/");
  ASSERT_TRUE(listed.ok()) << listed.error().message;
  ASSERT_EQ(listed->size(), kKeys);
  for (size_t i = 0; i < kKeys; ++i) {
    EXPECT_EQ((*listed)[i].key, keys[i]);
    EXPECT_EQ((*listed)[i].value, "record " + std::to_string(i));
  }

  // In pages of 400: every key once, in order.
  std::vector<std::string> paged;
  std::string after;
  for (int pages = 0; pages < 10; ++pages) {
    auto page = store_.list_page(*session_, "m/agents/", after, 400, size_t{4} << 20);
    ASSERT_TRUE(page.ok()) << page.error().message;
    for (const auto& entry : page->entries) paged.push_back(entry.key);
    if (!page->more) break;
    after = paged.back();
  }
  EXPECT_EQ(paged, keys);
}

// A listing under a znode with more children than it reads is refused whole, with an error
// that names the znode and both counts: a registry read in part would pass for all of it.
TEST_F(ZooKeeperStoreTest, ZOOKEEPER_AListingUnderMoreChildrenThanItReadsIsRefusedNotCut) {
  zk::ZooKeeperStore bounded("/tessera", 20);
  for (size_t i = 0; i < 21; ++i) {
    ASSERT_TRUE(store_.put(*session_, "m/agents/" + std::to_string(100 + i), "r", 0).ok());
  }
  ASSERT_TRUE(store_.put(*session_, "m/few/a", "r", 0).ok());

  auto listed = bounded.list(*session_, "m/agents/");
  ASSERT_FALSE(listed.ok());
  EXPECT_EQ(listed.error().code, tessera::ErrorCode::kInvalidArgument);
  EXPECT_NE(listed.error().message.find("/tessera/store/m/agents"), std::string::npos)
      << listed.error().message;
  EXPECT_NE(listed.error().message.find("it has 21 children, more than the 20"), std::string::npos)
      << listed.error().message;
  auto page = bounded.list_page(*session_, "m/agents/", "m/agents/110", 5, size_t{1} << 20);
  EXPECT_FALSE(page.ok());

  // Under the bound, the same store lists.
  auto few = bounded.list(*session_, "m/few/");
  ASSERT_TRUE(few.ok()) << few.error().message;
  EXPECT_EQ(few->size(), 1U);
}

}  // namespace

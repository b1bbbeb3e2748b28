// The conformance suite of leader plugins: election, leader information and the durable store
// with its rules. The plugin runs in a real tessera-host (harness.h) on a node whose roles are
// ["master"] but run with --without-roles: the plugin is on a master node, and the test plays
// the master (it campaigns) and the plugins that use the store, over ipc://.
//
// Run it for your leader plugin from one test source file (it defines the tests, so include it
// in one file only), at namespace scope:
//
//   #include "tessera/conformance/leader.h"
//   TESSERA_LEADER_CONFORMANCE(Mine, .name = "leader_mine", .dir = PLUGIN_DIR);
//
// and link Tessera::conformance. Keys a plugin needs (e.g. a ZooKeeper address started by the
// test) go in PluginUnderTest::table.
//
// THE CONTRACT (what the suite checks; tessera/protocol/store.h has the messages):
//
// Endpoints. The plugin serves its requests at protocol::store::kEndpoint (inproc, for the
// plugins of its host) and publishes leader.info and store.changed at kEventsEndpoint. It takes
// an `endpoint` key: another address (tcp:// or ipc://) where it serves the same requests, and
// announces the address it bound as `store`. The harness sets `endpoint = "ipc://..."` and
// waits for that announcement.
//
// Requests it must answer:
// - leader.get: leader.info. Before any master campaigned (a fresh store), known = false.
// - leader.campaign (from the master of its host): leader.info at once, elected or not. The
//   one campaigner is elected: leader.get then answers known = true, this_node = true, its
//   master_id and endpoint, and an epoch of at least 1. The same master campaigning again keeps
//   its epoch; a new master_id (a restarted master) is elected in a new, larger epoch. Epochs
//   never go back, across restarts too.
// - leader.resign (from a plugin of its host): the leading master named gives up leadership.
//   The one campaigner is elected again in a new, larger epoch, so writes of the old epoch are
//   fenced; a master that does not lead (an unknown master_id) changes nothing.
// - store.get, store.put, store.cas, store.delete, store.list: one store.result each, whose
//   `epoch` is the store's current epoch.
//   - get: ok, the entry (or none and version 0 when absent).
//   - put: ok and the key's new version: 1 when created, one more on every write.
//   - cas: like put when `expected_version` is the key's version (0: only if absent);
//     otherwise ok = false, conflict = true, code "conflict" and the key's version.
//   - delete: ok and the version the key had; an absent key: code "not_found". A key created
//     again starts at version 1.
//   - list: every entry whose key starts with the prefix (bytes compared exactly), in key
//     order, in pages: those after `start_after`, at most `limit` (0: kMaxListEntries), a page
//     stopping once its keys and values reach kMaxListBytes, with `more` when it stopped at a
//     limit (the next page starts after its last key).
//   Values are bytes (NUL included) and come back unchanged.
// Rules (a refused request changes nothing):
// - Prefixes: keys and list prefixes must start with the sender's name (the envelope's `from`)
//   and '/'; otherwise code "permission_denied".
// - Limits: a key of at most kMaxKeyBytes and a value of at most kMaxValueBytes are accepted;
//   one byte more is code "too_large". An empty key is code "invalid".
// - Batches (store.batch): applied in order with each write's version; checked whole (prefix,
//   sizes, count, epoch) before any write is applied.
// - Fencing: a write (put, cas, delete) with an epoch older than the store's is code "fenced";
//   with a newer one than the store's, code "invalid"; epoch 0 is never fenced.
// Durability: what was answered ok survives a restart of the host (SIGTERM, start again on the
// same work dir): values and versions, and the epoch.
//
// Not checked: events (they are published on inproc only), how an election among several
// hosts' masters is won, and store failures (code "unavailable").
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "tessera/conformance/harness.h"
#include "tessera/protocol/store.h"

namespace tessera::conformance {

namespace store_msg = protocol::store;

// Starts the plugin under test in a host of its own and connects a client to its `endpoint`,
// as a plugin named "conformance" (so its keys are "conformance/...").
class LeaderConformance : public ::testing::TestWithParam<PluginUnderTest> {
 protected:
  static constexpr const char* kSender = "conformance";

  void SetUp() override {
    const PluginUnderTest& plugin = GetParam();
    node_ = std::make_unique<Node>(plugin);
    node_->configure("roles = [\"master\"]\nleader = \"" + plugin.name + "\"\n");
    ASSERT_NO_FATAL_FAILURE(start());
  }

  void TearDown() override {
    disconnect();
    if (node_) node_->stop();
  }

  void start() {
    ASSERT_NO_FATAL_FAILURE(node_->start("store"));
    peer_ = std::make_unique<Peer>(kSender);
    client_ = std::make_unique<sdk::Client>(peer_->bus, "store-client");
    auto connected = client_->connect(node_->announced("store"));
    ASSERT_TRUE(connected.ok()) << connected.error().message;
  }

  void disconnect() {
    client_.reset();
    peer_.reset();
  }

  // SIGTERM to the host and a new one on the same work dir.
  void restart() {
    disconnect();
    node_->stop();
    ASSERT_NO_FATAL_FAILURE(start());
  }

  template <typename T>
  store_msg::Result request(const T& body) {
    return peer_->ask<store_msg::Result>(*client_, body);
  }
  store_msg::Leader get_leader() {
    return peer_->ask<store_msg::Leader>(*client_, store_msg::GetLeader{});
  }

  // Campaigns as `master_id` and waits until leader.get says it leads; returns that answer.
  store_msg::Leader elect(const std::string& master_id, const std::string& endpoint) {
    // The answer comes at once, elected or not (a contested election is decided later).
    peer_->ask<store_msg::Leader>(*client_, store_msg::Campaign{master_id, endpoint});
    store_msg::Leader leader;
    peer_->run_until(
        [&] {
          leader = get_leader();
          return leader.known && leader.this_node && leader.master_id == master_id;
        },
        30s);
    EXPECT_TRUE(leader.known && leader.this_node && leader.master_id == master_id)
        << "'" << master_id << "' was not elected; the leader is '" << leader.master_id
        << "' (known " << leader.known << ", this_node " << leader.this_node << ")";
    return leader;
  }

  // The same request as another plugin ("other") would send it.
  template <typename T>
  store_msg::Result request_as_other(const T& body) {
    Peer other("other");
    sdk::Client client(other.bus, "other-client");
    EXPECT_TRUE(client.connect(node_->announced("store")).ok());
    return other.ask<store_msg::Result>(client, body);
  }

  std::unique_ptr<Node> node_;
  std::unique_ptr<Peer> peer_;
  std::unique_ptr<sdk::Client> client_;
};

// A refusal with `code`, changing nothing.
#define TESSERA_EXPECT_REFUSED(result, expected_code)                \
  do {                                                               \
    const ::tessera::protocol::store::Result& refusal = (result);    \
    EXPECT_FALSE(refusal.ok);                                        \
    EXPECT_EQ(refusal.code, expected_code) << refusal.error;         \
    EXPECT_FALSE(refusal.error.empty()) << "a refusal must say why"; \
  } while (false)

TEST_P(LeaderConformance, NoLeaderIsKnownBeforeACampaign) {
  auto leader = get_leader();
  EXPECT_FALSE(leader.known);
}

TEST_P(LeaderConformance, ElectsTheOneCampaignerAndReportsIt) {
  auto leader = elect("m1", "tcp://127.0.0.1:5050");
  EXPECT_EQ(leader.endpoint, "tcp://127.0.0.1:5050");
  EXPECT_GE(leader.epoch, 1U);
  // The same master campaigning again keeps its term.
  auto again = elect("m1", "tcp://127.0.0.1:5050");
  EXPECT_EQ(again.epoch, leader.epoch);
  EXPECT_EQ(request(store_msg::Get{"conformance/k"}).epoch, leader.epoch);
}

TEST_P(LeaderConformance, PutGetAndVersions) {
  auto absent = request(store_msg::Get{"conformance/k"});
  ASSERT_TRUE(absent.ok) << absent.error;
  EXPECT_TRUE(absent.entries.empty());
  EXPECT_EQ(absent.version, 0U);
  const std::string bytes("a\0b\xff", 4);
  EXPECT_EQ(request(store_msg::Put{"conformance/k", "first"}).version, 1U);
  auto second = request(store_msg::Put{"conformance/k", bytes});
  ASSERT_TRUE(second.ok) << second.error;
  EXPECT_EQ(second.version, 2U);
  auto got = request(store_msg::Get{"conformance/k"});
  ASSERT_TRUE(got.ok) << got.error;
  ASSERT_EQ(got.entries.size(), 1U);
  EXPECT_EQ(got.entries[0].key, "conformance/k");
  EXPECT_EQ(got.entries[0].value, bytes);
  EXPECT_EQ(got.entries[0].version, 2U);
}

TEST_P(LeaderConformance, CompareAndSetOnVersions) {
  auto created = request(store_msg::CompareAndSet{"conformance/k", 0, "v1"});
  ASSERT_TRUE(created.ok) << created.error;
  EXPECT_EQ(created.version, 1U);
  auto exists = request(store_msg::CompareAndSet{"conformance/k", 0, "again"});
  TESSERA_EXPECT_REFUSED(exists, store_msg::code::kConflict);
  EXPECT_TRUE(exists.conflict);
  EXPECT_EQ(exists.version, 1U);
  auto next = request(store_msg::CompareAndSet{"conformance/k", 1, "v2"});
  ASSERT_TRUE(next.ok) << next.error;
  EXPECT_EQ(next.version, 2U);
  auto stale = request(store_msg::CompareAndSet{"conformance/k", 1, "lost"});
  TESSERA_EXPECT_REFUSED(stale, store_msg::code::kConflict);
  EXPECT_TRUE(stale.conflict);
  EXPECT_EQ(stale.version, 2U);
  auto got = request(store_msg::Get{"conformance/k"});
  ASSERT_EQ(got.entries.size(), 1U);
  EXPECT_EQ(got.entries[0].value, "v2");
}

TEST_P(LeaderConformance, DeleteAndCreateAgain) {
  request(store_msg::Put{"conformance/k", "v1"});
  request(store_msg::Put{"conformance/k", "v2"});
  auto deleted = request(store_msg::Delete{"conformance/k"});
  ASSERT_TRUE(deleted.ok) << deleted.error;
  EXPECT_EQ(deleted.version, 2U);
  EXPECT_TRUE(request(store_msg::Get{"conformance/k"}).entries.empty());
  TESSERA_EXPECT_REFUSED(request(store_msg::Delete{"conformance/k"}), store_msg::code::kNotFound);
  EXPECT_EQ(request(store_msg::Put{"conformance/k", "v3"}).version, 1U);
}

TEST_P(LeaderConformance, ListsByPrefixInKeyOrder) {
  for (const char* key : {"conformance/b/1", "conformance/a/2", "conformance/a/1", "conformance/a",
                          "conformance/a%/1"}) {
    ASSERT_TRUE(request(store_msg::Put{key, std::string("value of ") + key}).ok);
  }
  request(store_msg::Put{"conformance/a/2", "changed"});
  auto listed = request(store_msg::List{"conformance/a/", "", 0});
  ASSERT_TRUE(listed.ok) << listed.error;
  ASSERT_EQ(listed.entries.size(), 2U);
  EXPECT_EQ(listed.entries[0].key, "conformance/a/1");
  EXPECT_EQ(listed.entries[0].value, "value of conformance/a/1");
  EXPECT_EQ(listed.entries[0].version, 1U);
  EXPECT_EQ(listed.entries[1].key, "conformance/a/2");
  EXPECT_EQ(listed.entries[1].value, "changed");
  EXPECT_EQ(listed.entries[1].version, 2U);
  // Bytes compared exactly: '%' and '_' are ordinary.
  auto literal = request(store_msg::List{"conformance/a%", "", 0});
  ASSERT_EQ(literal.entries.size(), 1U);
  EXPECT_EQ(literal.entries[0].key, "conformance/a%/1");
  auto all = request(store_msg::List{"conformance/", "", 0});
  ASSERT_EQ(all.entries.size(), 5U);
  for (size_t i = 1; i < all.entries.size(); ++i) {
    EXPECT_LT(all.entries[i - 1].key, all.entries[i].key);
  }
}

TEST_P(LeaderConformance, ListsInPagesThatContinueAfterTheirLastKey) {
  // Keys at several levels whose order is not the order of a walk down the tree: "p/a-b" and
  // "p/a!" come before and after "p/a/1" ('!' < '-' < '/').
  std::vector<std::string> keys = {"conformance/p/a",     "conformance/p/a/1", "conformance/p/a/2",
                                   "conformance/p/a-b",   "conformance/p/a!",  "conformance/p/b",
                                   "conformance/p/b/x/y", "conformance/p/c",   "conformance/q"};
  store_msg::Batch batch;
  for (const auto& key : keys) batch.writes.push_back(store_msg::BatchWrite{key, "v " + key});
  ASSERT_TRUE(request(batch).ok);
  keys.pop_back();  // "conformance/q" is outside the prefix.
  std::sort(keys.begin(), keys.end());
  auto whole = request(store_msg::List{"conformance/p/", "", 0});
  ASSERT_TRUE(whole.ok) << whole.error;
  EXPECT_FALSE(whole.more);
  std::vector<std::string> listed;
  for (const auto& entry : whole.entries) listed.push_back(entry.key);
  EXPECT_EQ(listed, keys);

  for (uint32_t limit : {1U, 2U, 3U}) {
    std::vector<std::string> paged;
    std::string after;
    for (int page = 0; page < 20; ++page) {
      auto answer = request(store_msg::List{"conformance/p/", after, limit});
      ASSERT_TRUE(answer.ok) << answer.error;
      ASSERT_LE(answer.entries.size(), limit);
      for (const auto& entry : answer.entries) {
        paged.push_back(entry.key);
        EXPECT_EQ(entry.value, "v " + entry.key);
        EXPECT_EQ(entry.version, 1U);
      }
      if (!answer.more) break;
      ASSERT_FALSE(answer.entries.empty()) << "a page with more holds no entry";
      after = answer.entries.back().key;
    }
    EXPECT_EQ(paged, keys) << "pages of " << limit;
  }
  // After a key that does not exist: the keys after it.
  auto rest = request(store_msg::List{"conformance/p/", "conformance/p/a0", 0});
  ASSERT_TRUE(rest.ok) << rest.error;
  ASSERT_EQ(rest.entries.size(), 3U);
  EXPECT_EQ(rest.entries[0].key, "conformance/p/b");
  EXPECT_EQ(rest.entries[1].key, "conformance/p/b/x/y");
  EXPECT_EQ(rest.entries[2].key, "conformance/p/c");
}

TEST_P(LeaderConformance, APageStopsAtItsEntryAndByteLimits) {
  // More keys than a page holds: the first page is full and says there is more.
  const size_t count = store_msg::kMaxListEntries + 10;
  for (size_t first = 0; first < count; first += store_msg::kMaxBatchWrites) {
    store_msg::Batch batch;
    for (size_t i = first; i < std::min(count, first + store_msg::kMaxBatchWrites); ++i) {
      char key[64];
      std::snprintf(key, sizeof key, "conformance/many/%05zu", i);
      batch.writes.push_back(store_msg::BatchWrite{key, "v"});
    }
    ASSERT_TRUE(request(batch).ok);
  }
  auto first = request(store_msg::List{"conformance/many/", "", 0});
  ASSERT_TRUE(first.ok) << first.error;
  EXPECT_EQ(first.entries.size(), store_msg::kMaxListEntries);
  EXPECT_TRUE(first.more);
  auto second = request(store_msg::List{"conformance/many/", first.entries.back().key, 0});
  ASSERT_TRUE(second.ok) << second.error;
  EXPECT_EQ(second.entries.size(), 10U);
  EXPECT_FALSE(second.more);
  EXPECT_EQ(second.entries.front().key, "conformance/many/02000");

  // Values of the largest size: a page stops once it holds kMaxListBytes.
  const size_t large = 6;
  for (size_t i = 0; i < large; ++i) {
    std::string value(store_msg::kMaxValueBytes, static_cast<char>('a' + i));
    ASSERT_TRUE(request(store_msg::Put{"conformance/large/" + std::to_string(i), value}).ok);
  }
  size_t listed = 0;
  std::string after;
  for (size_t page = 0; page < large + 1; ++page) {
    auto answer = request(store_msg::List{"conformance/large/", after, 0});
    ASSERT_TRUE(answer.ok) << answer.error;
    size_t bytes = 0;
    for (const auto& entry : answer.entries) {
      EXPECT_EQ(entry.value, std::string(store_msg::kMaxValueBytes, entry.value.front()));
      bytes += entry.value.size();
    }
    EXPECT_LE(bytes, store_msg::kMaxListBytes + store_msg::kMaxValueBytes);
    listed += answer.entries.size();
    if (!answer.more) break;
    ASSERT_FALSE(answer.entries.empty());
    EXPECT_LT(answer.entries.size(), large) << "the first page stopped at no byte limit";
    after = answer.entries.back().key;
  }
  EXPECT_EQ(listed, large);
}

TEST_P(LeaderConformance, KeysOutsideTheSendersPrefixAreRefused) {
  const auto denied = store_msg::code::kPermissionDenied;
  TESSERA_EXPECT_REFUSED(request(store_msg::Get{"other/k"}), denied);
  TESSERA_EXPECT_REFUSED(request(store_msg::Put{"master/k", "v"}), denied);
  TESSERA_EXPECT_REFUSED(request(store_msg::CompareAndSet{"other/k", 0, "v"}), denied);
  TESSERA_EXPECT_REFUSED(request(store_msg::Delete{"other/k"}), denied);
  TESSERA_EXPECT_REFUSED(request(store_msg::List{"other/", "", 0}), denied);
  TESSERA_EXPECT_REFUSED(request(store_msg::List{"", "", 0}), denied);
  // The name must be followed by '/': "conformance-x/" belongs to another plugin.
  TESSERA_EXPECT_REFUSED(request(store_msg::Put{"conformance-x/k", "v"}), denied);
  TESSERA_EXPECT_REFUSED(request(store_msg::Put{"conformance", "v"}), denied);
  // Another plugin can neither read nor change this one's keys, and has its own.
  ASSERT_TRUE(request(store_msg::Put{"conformance/k", "mine"}).ok);
  TESSERA_EXPECT_REFUSED(request_as_other(store_msg::Get{"conformance/k"}), denied);
  TESSERA_EXPECT_REFUSED(request_as_other(store_msg::Delete{"conformance/k"}), denied);
  EXPECT_TRUE(request_as_other(store_msg::Put{"other/k", "theirs"}).ok);
  auto mine = request(store_msg::Get{"conformance/k"});
  ASSERT_EQ(mine.entries.size(), 1U);
  EXPECT_EQ(mine.entries[0].value, "mine");
  EXPECT_EQ(mine.entries[0].version, 1U);
}

TEST_P(LeaderConformance, SizeLimitsAreEnforced) {
  const std::string longest_key =
      "conformance/" +
      std::string(store_msg::kMaxKeyBytes - std::string("conformance/").size(), 'k');
  EXPECT_TRUE(request(store_msg::Put{longest_key, "v"}).ok);
  TESSERA_EXPECT_REFUSED(request(store_msg::Put{longest_key + "k", "v"}),
                         store_msg::code::kTooLarge);
  TESSERA_EXPECT_REFUSED(request(store_msg::Get{longest_key + "k"}), store_msg::code::kTooLarge);
  const std::string largest(store_msg::kMaxValueBytes, 'v');
  EXPECT_TRUE(request(store_msg::Put{"conformance/big", largest}).ok);
  TESSERA_EXPECT_REFUSED(request(store_msg::Put{"conformance/big", largest + "v"}),
                         store_msg::code::kTooLarge);
  TESSERA_EXPECT_REFUSED(request(store_msg::CompareAndSet{"conformance/big", 1, largest + "v"}),
                         store_msg::code::kTooLarge);
  auto kept = request(store_msg::Get{"conformance/big"});
  ASSERT_EQ(kept.entries.size(), 1U);
  EXPECT_EQ(kept.entries[0].value.size(), store_msg::kMaxValueBytes);
  EXPECT_EQ(kept.entries[0].version, 1U);
  TESSERA_EXPECT_REFUSED(request(store_msg::Put{"", "v"}), store_msg::code::kInvalid);
}

// A batch applies its writes in order and answers each one's version; a removal of an absent
// key is not an error.
TEST_P(LeaderConformance, BatchAppliesItsWritesInOrder) {
  ASSERT_TRUE(request(store_msg::Put{"conformance/a", "a1"}).ok);
  ASSERT_TRUE(request(store_msg::Put{"conformance/gone", "x"}).ok);
  store_msg::Batch batch;
  batch.writes = {{"conformance/a", "a2", false},
                  {"conformance/b", "b1", false},
                  {"conformance/b", "b2", false},
                  {"conformance/gone", "", true},
                  {"conformance/never", "", true}};
  auto applied = request(batch);
  ASSERT_TRUE(applied.ok) << applied.error;
  ASSERT_EQ(applied.entries.size(), 5U);
  std::vector<uint64_t> versions;
  for (const auto& entry : applied.entries) versions.push_back(entry.version);
  EXPECT_EQ(versions, (std::vector<uint64_t>{2, 1, 2, 1, 0}));
  EXPECT_EQ(applied.entries[1].key, "conformance/b");
  auto listed = request(store_msg::List{"conformance/", "", 0});
  ASSERT_EQ(listed.entries.size(), 2U);
  EXPECT_EQ(listed.entries[0].value, "a2");
  EXPECT_EQ(listed.entries[1].key, "conformance/b");
  EXPECT_EQ(listed.entries[1].value, "b2");
  EXPECT_EQ(listed.entries[1].version, 2U);
}

// A batch is checked whole before any of it is applied: a key outside the prefix, a write too
// large, too many writes, an empty batch or a fenced epoch changes nothing.
TEST_P(LeaderConformance, BatchIsCheckedBeforeItIsApplied) {
  auto refused_batch = [&](std::vector<store_msg::BatchWrite> writes, const char* code,
                           uint64_t epoch = 0) {
    store_msg::Batch batch;
    batch.writes = std::move(writes);
    batch.epoch = epoch;
    TESSERA_EXPECT_REFUSED(request(batch), code);
  };
  const store_msg::BatchWrite first{"conformance/first", "v", false};
  refused_batch({first, {"other/k", "v", false}}, store_msg::code::kPermissionDenied);
  refused_batch({first, {"conformance/big", std::string(store_msg::kMaxBatchBytes, 'v'), false}},
                store_msg::code::kTooLarge);
  refused_batch(std::vector<store_msg::BatchWrite>(store_msg::kMaxBatchWrites + 1, first),
                store_msg::code::kTooLarge);
  refused_batch({first, {"", "v", false}}, store_msg::code::kInvalid);
  refused_batch({}, store_msg::code::kInvalid);
  auto first_term = elect("m1", "tcp://127.0.0.1:5050");
  auto second_term = elect("m2", "tcp://127.0.0.1:5051");
  ASSERT_GT(second_term.epoch, first_term.epoch);
  refused_batch({first}, store_msg::code::kFenced, first_term.epoch);
  EXPECT_TRUE(request(store_msg::Get{"conformance/first"}).entries.empty());
  store_msg::Batch current;
  current.writes = {first};
  current.epoch = second_term.epoch;
  EXPECT_TRUE(request(current).ok);
}

// A new master is elected in a new epoch, and writes of the deposed one's epoch are refused.
TEST_P(LeaderConformance, ANewMasterFencesTheDeposedOne) {
  auto first = elect("m1", "tcp://127.0.0.1:5050");
  const uint64_t old_epoch = first.epoch;
  ASSERT_TRUE(request(store_msg::Put{"conformance/k", "m1", old_epoch}).ok);
  auto second = elect("m2", "tcp://127.0.0.1:5051");
  EXPECT_GT(second.epoch, old_epoch);
  const uint64_t epoch = second.epoch;
  const auto fenced = store_msg::code::kFenced;
  TESSERA_EXPECT_REFUSED(request(store_msg::Put{"conformance/k", "late m1", old_epoch}), fenced);
  TESSERA_EXPECT_REFUSED(request(store_msg::CompareAndSet{"conformance/k", 1, "late", old_epoch}),
                         fenced);
  TESSERA_EXPECT_REFUSED(request(store_msg::Delete{"conformance/k", old_epoch}), fenced);
  // An epoch the plugin never started did not come from it.
  TESSERA_EXPECT_REFUSED(request(store_msg::Put{"conformance/k", "future", epoch + 1}),
                         store_msg::code::kInvalid);
  auto unchanged = request(store_msg::Get{"conformance/k"});
  ASSERT_EQ(unchanged.entries.size(), 1U);
  EXPECT_EQ(unchanged.entries[0].value, "m1");
  EXPECT_EQ(unchanged.epoch, epoch);
  // The new leader's epoch, and epoch 0 (a writer that never leads), are not fenced.
  auto written = request(store_msg::CompareAndSet{"conformance/k", 1, "m2", epoch});
  ASSERT_TRUE(written.ok) << written.error;
  EXPECT_EQ(written.version, 2U);
  EXPECT_TRUE(request(store_msg::Put{"conformance/tool", "x", 0}).ok);
  EXPECT_TRUE(request(store_msg::Delete{"conformance/tool", 0}).ok);
}

TEST_P(LeaderConformance, AResigningLeaderIsElectedAgainInANewEpochWhenAlone) {
  auto first = elect("m1", "tcp://127.0.0.1:5050");
  // Not the leading master: nothing changes.
  peer_->ask<store_msg::Leader>(*client_, store_msg::Resign{"m9"});
  auto unchanged = get_leader();
  EXPECT_TRUE(unchanged.known && unchanged.this_node);
  EXPECT_EQ(unchanged.master_id, "m1");
  EXPECT_EQ(unchanged.epoch, first.epoch);
  ASSERT_TRUE(request(store_msg::Put{"conformance/k", "m1", first.epoch}).ok);
  // The leader resigns: the only candidate leads again, in a new term.
  peer_->ask<store_msg::Leader>(*client_, store_msg::Resign{"m1"});
  store_msg::Leader again;
  peer_->run_until(
      [&] {
        again = get_leader();
        return again.known && again.this_node && again.epoch > first.epoch;
      },
      30s);
  ASSERT_TRUE(again.known && again.this_node) << "no leader after the resignation";
  EXPECT_EQ(again.master_id, "m1");
  EXPECT_GT(again.epoch, first.epoch);
  TESSERA_EXPECT_REFUSED(request(store_msg::Put{"conformance/k", "old term", first.epoch}),
                         store_msg::code::kFenced);
  EXPECT_TRUE(request(store_msg::Put{"conformance/k", "new term", again.epoch}).ok);
}

// What was answered ok survives a restart of the host, and epochs never go back.
TEST_P(LeaderConformance, StoreAndEpochSurviveARestart) {
  ASSERT_TRUE(request(store_msg::Put{"conformance/k", "v1"}).ok);
  ASSERT_TRUE(request(store_msg::Put{"conformance/k", "v2"}).ok);
  ASSERT_TRUE(request(store_msg::Put{"conformance/gone", "x"}).ok);
  ASSERT_TRUE(request(store_msg::Delete{"conformance/gone"}).ok);
  const uint64_t epoch = elect("m1", "tcp://127.0.0.1:5050").epoch;
  ASSERT_NO_FATAL_FAILURE(restart());
  auto got = request(store_msg::Get{"conformance/k"});
  ASSERT_TRUE(got.ok) << got.error;
  ASSERT_EQ(got.entries.size(), 1U);
  EXPECT_EQ(got.entries[0].value, "v2");
  EXPECT_EQ(got.entries[0].version, 2U);
  EXPECT_GE(got.epoch, epoch);
  EXPECT_TRUE(request(store_msg::Get{"conformance/gone"}).entries.empty());
  // The master of the restarted host (a new id) leads in a later epoch; the old one is fenced.
  auto leader = elect("m2", "tcp://127.0.0.1:5050");
  EXPECT_GT(leader.epoch, epoch);
  TESSERA_EXPECT_REFUSED(request(store_msg::Put{"conformance/k", "late", epoch}),
                         store_msg::code::kFenced);
}

}  // namespace tessera::conformance

// Instantiates the leader suite for one plugin. Use at namespace scope, in one file:
//   TESSERA_LEADER_CONFORMANCE(Mine, .name = "leader_mine", .dir = "/path/to/plugins");
#define TESSERA_LEADER_CONFORMANCE(instance, ...) \
  TESSERA_CONFORMANCE_INSTANTIATE(LeaderConformance, instance, __VA_ARGS__)

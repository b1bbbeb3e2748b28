// The rules leader_standalone enforces on its store, through the real .so in an in-process
// node: every sender only under its own prefix, keys and values within their limits, epochs
// that count elections durably, and writes from a term that is over refused (fencing).
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>

#include "support/node.h"
#include "tessera/protocol/store.h"

namespace {

namespace store = tessera::protocol::store;
using tessera::testing::InProcessNode;
using tessera::testing::TempDir;
using tessera::testing::TestBus;

constexpr const char* kMasterNode = "roles = [\"master\"]\nleader = \"leader_standalone\"\n";

class RulesTest : public ::testing::Test {
 protected:
  void start() {
    node_ = std::make_unique<InProcessNode>(dir_, kMasterNode);
    auto started = node_->start();
    ASSERT_TRUE(started.ok()) << started.error().message;
  }
  // The peers' sockets first: the node's context waits for them when it ends.
  void stop() {
    peers_.clear();
    node_.reset();
  }
  void TearDown() override { stop(); }

  // A client of the leader plugin that sends as `sender`.
  struct Peer {
    std::unique_ptr<TestBus> bus;
    std::unique_ptr<tessera::sdk::Client> client;
  };
  Peer& as(const std::string& sender) {
    auto it = peers_.find(sender);
    if (it != peers_.end()) return it->second;
    Peer peer;
    peer.bus = std::make_unique<TestBus>(node_->zmq_context(), sender);
    peer.client = std::make_unique<tessera::sdk::Client>(peer.bus->bus, "rules");
    EXPECT_TRUE(peer.client->connect(store::kEndpoint).ok());
    return peers_.emplace(sender, std::move(peer)).first->second;
  }

  template <typename Reply, typename Request>
  Reply call(const std::string& sender, const Request& request) {
    Peer& peer = as(sender);
    auto reply = peer.bus->call(*peer.client, request);
    EXPECT_TRUE(reply.ok()) << reply.error().message;
    if (!reply.ok()) return Reply{};
    auto body = reply->template body<Reply>();
    EXPECT_TRUE(body.ok()) << body.error().message;
    return body.ok() ? *body : Reply{};
  }
  store::Result request(const std::string& sender, const auto& body) {
    return call<store::Result>(sender, body);
  }
  store::Leader elect(const std::string& master_id) {
    return call<store::Leader>("master", store::Campaign{master_id, "tcp://127.0.0.1:5050"});
  }

  TempDir dir_;
  std::unique_ptr<InProcessNode> node_;
  std::map<std::string, Peer> peers_;
};

TEST_F(RulesTest, EverySenderIsConfinedToItsOwnPrefix) {
  start();
  EXPECT_TRUE(request("framework_marathon", store::Put{"framework_marathon/apps/web", "w"}).ok);

  for (const auto& refused :
       {request("framework_chronos", store::Get{"framework_marathon/apps/web"}),
        request("framework_chronos", store::Put{"framework_marathon/apps/web", "x"}),
        request("framework_chronos", store::CompareAndSet{"framework_marathon/apps/web", 1, "x"}),
        request("framework_chronos", store::Delete{"framework_marathon/apps/web"}),
        request("framework_chronos", store::List{"framework_marathon/", "", 0}),
        request("framework_chronos", store::List{"", "", 0}),
        request("framework_chronos", store::Put{"framework_chronos", "no slash"})}) {
    EXPECT_FALSE(refused.ok);
    EXPECT_EQ(refused.code, store::code::kPermissionDenied) << refused.error;
    EXPECT_NE(refused.error.find("refused: 'framework_chronos' may only use keys under "
                                 "'framework_chronos/'"),
              std::string::npos)
        << refused.error;
    EXPECT_TRUE(refused.entries.empty());
  }
  auto kept = request("framework_marathon", store::Get{"framework_marathon/apps/web"});
  ASSERT_EQ(kept.entries.size(), 1u);
  EXPECT_EQ(kept.entries[0].value, "w");
  EXPECT_EQ(kept.entries[0].version, 1u);

  // The plugin's own epoch is its own too.
  auto epoch = request("framework_marathon", store::Put{"leader_standalone/epoch", "99"});
  EXPECT_EQ(epoch.code, store::code::kPermissionDenied);
}

TEST_F(RulesTest, KeysAndValuesHaveLimits) {
  start();
  std::string key = "test/" + std::string(store::kMaxKeyBytes - 5, 'k');
  EXPECT_TRUE(request("test", store::Put{key, "at the key limit"}).ok);
  auto long_key = request("test", store::Put{key + "k", "v"});
  EXPECT_EQ(long_key.code, store::code::kTooLarge);
  EXPECT_NE(long_key.error.find("the key is 1025 bytes, more than the limit of 1024"),
            std::string::npos)
      << long_key.error;

  std::string value(store::kMaxValueBytes, 'v');
  auto largest = request("test", store::Put{"test/blob", value});
  EXPECT_TRUE(largest.ok) << largest.error;
  auto too_big = request("test", store::CompareAndSet{"test/blob", 1, value + "v"});
  EXPECT_FALSE(too_big.ok);
  EXPECT_EQ(too_big.code, store::code::kTooLarge);
  EXPECT_EQ(too_big.error,
            "compare-and-set 'test/blob': the value is 1048577 bytes, more than the limit of "
            "1048576 (1 MiB)");
  EXPECT_EQ(request("test", store::Get{"test/blob"}).entries.at(0).version, 1u);
}

TEST_F(RulesTest, AnswersCarryCodesCallersCanActOn) {
  start();
  EXPECT_EQ(request("test", store::CompareAndSet{"test/lock", 3, "x"}).code,
            store::code::kConflict);
  EXPECT_EQ(request("test", store::Delete{"test/lock"}).code, store::code::kNotFound);
  auto empty = request("test", store::Get{""});
  EXPECT_EQ(empty.code, store::code::kInvalid);
  EXPECT_EQ(empty.error, "get '': the key is empty");
}

TEST_F(RulesTest, EachElectionStartsANewEpochThatSurvivesARestart) {
  start();
  EXPECT_EQ(call<store::Leader>("test", store::GetLeader{}).epoch, 0u);
  EXPECT_EQ(elect("master-1").epoch, 1u);
  EXPECT_EQ(elect("master-1").epoch, 1u);  // the same master again: the same term
  EXPECT_EQ(call<store::Leader>("test", store::GetLeader{}).epoch, 1u);
  EXPECT_EQ(elect("master-2").epoch, 2u);
  EXPECT_EQ(request("test", store::Get{"test/x"}).epoch, 2u);  // every answer says it
  stop();

  start();
  EXPECT_EQ(elect("master-3").epoch, 3u);
}

TEST_F(RulesTest, WritesFromATermThatIsOverAreRefused) {
  start();
  ASSERT_EQ(elect("master-1").epoch, 1u);
  EXPECT_TRUE(request("master", store::Put{"master/agents/a1", "one", 1}).ok);
  ASSERT_EQ(elect("master-2").epoch, 2u);

  // The deposed master's writes, all of them.
  for (const auto& fenced : {request("master", store::Put{"master/agents/a1", "stale", 1}),
                             request("master", store::CompareAndSet{"master/agents/a1", 1, "x", 1}),
                             request("master", store::Delete{"master/agents/a1", 1})}) {
    EXPECT_FALSE(fenced.ok);
    EXPECT_EQ(fenced.code, store::code::kFenced) << fenced.error;
    EXPECT_NE(fenced.error.find("refused: epoch 1 is over (the store is at epoch 2: another "
                                "master was elected since)"),
              std::string::npos)
        << fenced.error;
  }
  auto kept = request("master", store::Get{"master/agents/a1"});
  ASSERT_EQ(kept.entries.size(), 1u);
  EXPECT_EQ(kept.entries[0].value, "one");

  // The current term writes; an epoch from the future did not come from this plugin; epoch 0
  // is a writer that never leads and is not fenced.
  EXPECT_TRUE(request("master", store::Put{"master/agents/a1", "two", 2}).ok);
  auto future = request("master", store::Put{"master/agents/a1", "x", 7});
  EXPECT_EQ(future.code, store::code::kInvalid);
  EXPECT_NE(future.error.find("epoch 7 is newer than the store's epoch 2"), std::string::npos)
      << future.error;
  EXPECT_TRUE(request("master", store::Put{"master/tools/note", "unfenced", 0}).ok);
  // Reads are never fenced.
  EXPECT_TRUE(request("master", store::Get{"master/agents/a1"}).ok);
}

}  // namespace

// leader_zookeeper in real nodes (the real loader and .so, in the test process) on a real
// ZooKeeper server: who is elected, in what order, what agents and standbys see, and what a
// leader does when it loses ZooKeeper.
#include <gtest/gtest.h>

#include <chrono>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "support/node.h"
#include "support/zookeeper.h"
#include "tessera/protocol/store.h"

namespace {

namespace store = tessera::protocol::store;
using namespace std::chrono_literals;
using tessera::testing::InProcessNode;
using tessera::testing::TempDir;
using tessera::testing::TestBus;
using tessera::testing::ZooKeeperServers;

constexpr int kSessionTimeoutMs = 4000;

// One node running leader_zookeeper, and the test's client of it (playing its master).
struct ZkNode {
  ZkNode(const TempDir& dir, const std::string& name, const std::string& role,
         const std::string& servers, int session_timeout_ms = kSessionTimeoutMs) {
    node = std::make_unique<InProcessNode>(
        dir,
        "roles = [\"" + role + "\"]\nleader = \"leader_zookeeper\"\n[plugins.leader_zookeeper]\n" +
            "servers = \"" + servers +
            "\"\npath = \"/ha\"\nsession_timeout_ms = " + std::to_string(session_timeout_ms) + "\n",
        name);
    auto started = node->start();
    EXPECT_TRUE(started.ok()) << started.error().message;
    test = std::make_unique<TestBus>(node->zmq_context(), "master");
    client = std::make_unique<tessera::sdk::Client>(test->bus, "leader");
    EXPECT_TRUE(client->connect(store::kEndpoint).ok());
  }
  ~ZkNode() {
    client.reset();
    test.reset();
    node.reset();
  }

  store::Leader leader() {
    auto reply = test->call(*client, store::GetLeader{});
    if (!reply.ok()) return {};
    auto body = reply->body<store::Leader>();
    return body.ok() ? *body : store::Leader{};
  }
  void campaign(const std::string& id, const std::string& endpoint) {
    auto reply = test->call(*client, store::Campaign{id, endpoint});
    EXPECT_TRUE(reply.ok());
  }
  store::Leader resign(const std::string& id) {
    auto reply = test->call(*client, store::Resign{id});
    if (!reply.ok()) return {};
    auto body = reply->body<store::Leader>();
    return body.ok() ? *body : store::Leader{};
  }
  store::Result put(const std::string& key, const std::string& value, uint64_t epoch) {
    auto reply = test->call(*client, store::Put{key, value, epoch});
    if (!reply.ok()) return {};
    auto body = reply->body<store::Result>();
    return body.ok() ? *body : store::Result{};
  }

  std::unique_ptr<InProcessNode> node;
  std::unique_ptr<TestBus> test;
  std::unique_ptr<tessera::sdk::Client> client;
};

// Polls `check` until it holds or `timeout` passes.
bool eventually(const std::function<bool()>& check, std::chrono::milliseconds timeout = 30s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!check()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

class LeaderZooKeeperTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TESSERA_REQUIRE_ZOOKEEPER();
    servers_ = std::make_unique<ZooKeeperServers>(dir_);
  }
  std::unique_ptr<ZkNode> node(const std::string& name, const std::string& role = "master") {
    return std::make_unique<ZkNode>(dir_, name, role, servers_->connect_string());
  }

  TempDir dir_;
  std::unique_ptr<ZooKeeperServers> servers_;
};

TEST_F(LeaderZooKeeperTest, ZOOKEEPER_CandidatesLeadInTheOrderTheyCampaigned) {
  auto agent = node("agent", "agent");
  EXPECT_FALSE(agent->leader().known);
  auto a = node("a");
  auto b = node("b");
  auto c = node("c");
  a->campaign("ma", "tcp://127.0.0.1:5101");
  ASSERT_TRUE(eventually([&] { return a->leader().this_node; }));
  b->campaign("mb", "tcp://127.0.0.1:5102");
  c->campaign("mc", "tcp://127.0.0.1:5103");
  const uint64_t first = a->leader().epoch;
  EXPECT_GE(first, 1U);
  // Standbys and agents see the leader, and its endpoint, without leading.
  for (auto* other : {b.get(), c.get(), agent.get()}) {
    ASSERT_TRUE(eventually([&] { return other->leader().master_id == "ma"; }));
    EXPECT_FALSE(other->leader().this_node);
    EXPECT_EQ(other->leader().endpoint, "tcp://127.0.0.1:5101");
  }
  // No herd: nobody watches the election's children while there are candidates; the leader's
  // znode is watched by every node (to detect it), the middle candidate only by the last one
  // (its successor), and the last one by nobody.
  std::map<std::string, int> watched;
  ASSERT_TRUE(eventually([&] {
    watched.clear();
    for (const auto& [path, sessions] : servers_->watches(0)) {
      if (path.rfind("/ha/election", 0) == 0) watched[path] = sessions;
    }
    return watched.size() == 2;
  })) << "watched election paths: "
      << watched.size();
  EXPECT_EQ(watched.count("/ha/election"), 0U);
  auto leader_watch = watched.begin();
  auto middle_watch = std::next(leader_watch);
  EXPECT_EQ(leader_watch->second, 4);  // a, b, c and the agent
  EXPECT_EQ(middle_watch->second, 1);  // c, b's successor
  // A standby that goes away changes nothing for the leader (c only watched b).
  b.reset();
  auto still = a->leader();
  EXPECT_TRUE(still.this_node);
  EXPECT_EQ(still.epoch, first);
  ASSERT_TRUE(eventually([&] { return !c->leader().this_node && c->leader().master_id == "ma"; }));
  // The leader goes: the next candidate leads, in a new term.
  a.reset();
  ASSERT_TRUE(eventually([&] { return c->leader().this_node; }));
  EXPECT_GT(c->leader().epoch, first);
  ASSERT_TRUE(eventually([&] { return agent->leader().master_id == "mc"; }));
  EXPECT_EQ(agent->leader().endpoint, "tcp://127.0.0.1:5103");
  // The deposed term's writes are refused; the new one's are taken.
  EXPECT_EQ(c->put("master/k", "old", first).code, store::code::kFenced);
  EXPECT_TRUE(c->put("master/k", "new", c->leader().epoch).ok);
}

// Marathon's abdication (DELETE /v2/leader): the leader gives up, the next candidate leads in a
// new term, and the one that resigned waits behind it as a standby.
TEST_F(LeaderZooKeeperTest, ZOOKEEPER_AResigningLeaderHandsOverToTheNextCandidate) {
  auto a = node("a");
  auto b = node("b");
  a->campaign("ma", "tcp://127.0.0.1:5111");
  ASSERT_TRUE(eventually([&] { return a->leader().this_node; }));
  b->campaign("mb", "tcp://127.0.0.1:5112");
  ASSERT_TRUE(eventually([&] { return b->leader().master_id == "ma"; }));
  const uint64_t first = a->leader().epoch;
  // Only the leading master's own resignation counts.
  b->resign("mb");
  a->resign("mb");
  EXPECT_TRUE(a->leader().this_node);
  EXPECT_EQ(a->leader().epoch, first);
  a->resign("ma");
  ASSERT_TRUE(eventually([&] { return b->leader().this_node; }));
  EXPECT_GT(b->leader().epoch, first);
  ASSERT_TRUE(eventually([&] { return a->leader().master_id == "mb"; }));
  EXPECT_FALSE(a->leader().this_node);
  EXPECT_EQ(a->put("master/k", "deposed", first).code, store::code::kFenced);
  // The one that resigned is still a candidate: it leads when the other goes.
  const uint64_t second = b->leader().epoch;
  b.reset();
  ASSERT_TRUE(eventually([&] { return a->leader().this_node; }));
  EXPECT_GT(a->leader().epoch, second);
}

// A leader that can no longer reach ZooKeeper stops leading by itself, while the server is
// hung (so before any server could expire its session and elect another), and leads again
// only in a new term once ZooKeeper is back.
TEST_F(LeaderZooKeeperTest, ZOOKEEPER_ALeaderCutOffFromZooKeeperStopsLeadingBeforeItsSessionEnds) {
  auto a = node("a");
  a->campaign("ma", "tcp://127.0.0.1:5101");
  ASSERT_TRUE(eventually([&] { return a->leader().this_node; }));
  const uint64_t first = a->leader().epoch;
  servers_->pause(0);
  EXPECT_TRUE(eventually([&] { return !a->leader().this_node; }))
      << "still leading with ZooKeeper hung";
  servers_->resume(0);
  ASSERT_TRUE(eventually([&] { return a->leader().this_node; }, 60s));
  EXPECT_GT(a->leader().epoch, first);
}

// The server dies: the leader stops leading; a new server process on the same data lets it
// lead again (its session may have survived, but the term is new).
TEST_F(LeaderZooKeeperTest, ZOOKEEPER_ALeaderWhoseServerDiesStopsLeading) {
  auto a = node("a");
  a->campaign("ma", "tcp://127.0.0.1:5101");
  ASSERT_TRUE(eventually([&] { return a->leader().this_node; }));
  const uint64_t first = a->leader().epoch;
  servers_->kill(0);
  EXPECT_TRUE(eventually([&] { return !a->leader().this_node; }));
  EXPECT_EQ(a->put("master/k", "v", 0).code, store::code::kUnavailable);
  servers_->start(0);
  ASSERT_TRUE(servers_->wait_serving(0));
  ASSERT_TRUE(eventually([&] { return a->leader().this_node; }, 60s));
  EXPECT_GT(a->leader().epoch, first);
  EXPECT_TRUE(a->put("master/k", "v", a->leader().epoch).ok);
}

// One server of an ensemble after another dies: the leader's client moves to another server
// in time, and it leads on in the same term.
TEST(LeaderZooKeeperEnsembleTest, ZOOKEEPER_LosingAnyOneServerOfAnEnsembleChangesNothing) {
  TESSERA_REQUIRE_ZOOKEEPER();
  TempDir dir;
  ZooKeeperServers ensemble(dir, 3);
  // A leader cut off from ZooKeeper leads on for a quarter of its session: with 10 s (the most
  // the ensemble's tickTime of 500 ms allows) that is 2.5 s for the ensemble to elect again
  // when its own leader is the server killed, and for the client to move, on a loaded machine.
  constexpr int kEnsembleSessionMs = 10000;
  ZkNode a(dir, "a", "master", ensemble.connect_string(), kEnsembleSessionMs);
  ZkNode b(dir, "b", "master", ensemble.connect_string(), kEnsembleSessionMs);
  a.campaign("ma", "tcp://127.0.0.1:5101");
  ASSERT_TRUE(eventually([&] { return a.leader().this_node; }));
  b.campaign("mb", "tcp://127.0.0.1:5102");
  const uint64_t epoch = a.leader().epoch;
  for (size_t server = 0; server < ensemble.size(); ++server) {
    ensemble.kill(server);
    // A write in the leader's term goes through once the client is on another server.
    ASSERT_TRUE(eventually([&] { return a.put("master/k", "v", epoch).ok; }))
        << "server " << server + 1 << " killed";
    auto leader = a.leader();
    EXPECT_TRUE(leader.this_node);
    EXPECT_EQ(leader.epoch, epoch);
    EXPECT_FALSE(b.leader().this_node);
    ensemble.start(server);
    ASSERT_TRUE(ensemble.wait_serving(server));
  }
}

}  // namespace

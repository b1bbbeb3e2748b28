// leader_standalone through a real node in the test process: the real loader loads the real
// .so, and the test talks to it over inproc:// (and tcp://) like the master and agents do.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <regex>

#include "support/node.h"
#include "tessera/protocol/store.h"

namespace {

namespace store = tessera::protocol::store;
using tessera::Envelope;
using tessera::Result;
using tessera::testing::InProcessNode;
using tessera::testing::TempDir;
using tessera::testing::TestBus;

constexpr const char* kMasterNode = "roles = [\"master\"]\nleader = \"leader_standalone\"\n";
constexpr const char* kAgentNode = "roles = [\"agent\"]\nleader = \"leader_standalone\"\n";

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// A started node and a client connected to its leader plugin.
class LeaderTest : public ::testing::Test {
 protected:
  void start(const std::string& body, const std::string& name = "node") {
    node_ = std::make_unique<InProcessNode>(dir_, body, name);
    auto started = node_->start();
    ASSERT_TRUE(started.ok()) << started.error().message;
    test_ = std::make_unique<TestBus>(node_->zmq_context());
    client_ = std::make_unique<tessera::sdk::Client>(test_->bus, "store-client");
    ASSERT_TRUE(client_->connect(store::kEndpoint).ok());
  }

  void stop() {
    client_.reset();
    subscriber_.reset();
    test_.reset();
    node_.reset();
  }

  void TearDown() override { stop(); }

  template <typename Reply, typename Request>
  Reply call(const Request& request) {
    auto reply = test_->call(*client_, request);
    EXPECT_TRUE(reply.ok()) << reply.error().message;
    if (!reply.ok()) return Reply{};
    EXPECT_EQ(reply->type(), Reply::kType);
    auto body = reply->template body<Reply>();
    EXPECT_TRUE(body.ok()) << body.error().message;
    return body.ok() ? *body : Reply{};
  }
  store::Result request(const auto& body) { return call<store::Result>(body); }

  // Runs the test's loop until `done()` or the timeout; returns done().
  bool run_until(const std::function<bool()>& done,
                 std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      test_->loop.after(std::chrono::milliseconds(10), [this] { test_->loop.request_stop(); });
      test_->loop.run();
      test_->loop.reset_stop();
    }
    return done();
  }

  // Subscribes to the leader's events and waits until the subscription is in place (PUB/SUB
  // drops what is published before a subscriber's subscription arrived): it writes a key
  // until its store.changed comes back.
  void subscribe() {
    subscriber_ = std::make_unique<tessera::sdk::Subscriber>(test_->bus, "events");
    subscriber_->subscribe<store::Leader>(
        [this](const Envelope&, const store::Leader& leader) { leaders_.push_back(leader); });
    subscriber_->subscribe<store::Changed>([this](const Envelope&, const store::Changed& changed) {
      if (changed.key == "test/warm-up") {
        warmed_up_ = true;
      } else if (changed.key == "test/barrier") {
        ++barriers_;
      } else {
        changes_.push_back(changed);
      }
    });
    ASSERT_TRUE(subscriber_->connect(store::kEventsEndpoint).ok());
    for (int attempt = 0; attempt < 100 && !warmed_up_; ++attempt) {
      ASSERT_TRUE(request(store::Put{"test/warm-up", "x"}).ok);
      run_until([this] { return warmed_up_; }, std::chrono::milliseconds(50));
    }
    ASSERT_TRUE(warmed_up_) << "no store.changed event arrived";
  }

  // Writes a key and waits for its store.changed. Events from one publisher arrive in order,
  // so every event published before the write (store.changed and leader.info alike) is in by
  // then: what did not come was not published.
  void barrier() {
    int before = barriers_;
    ASSERT_TRUE(request(store::Put{"test/barrier", "x"}).ok);
    ASSERT_TRUE(run_until([&] { return barriers_ > before; }))
        << "no store.changed for the barrier";
  }

  TempDir dir_;
  std::unique_ptr<InProcessNode> node_;
  std::unique_ptr<TestBus> test_;
  std::unique_ptr<tessera::sdk::Client> client_;
  std::unique_ptr<tessera::sdk::Subscriber> subscriber_;
  std::vector<store::Leader> leaders_;
  std::vector<store::Changed> changes_;
  bool warmed_up_ = false;
  int barriers_ = 0;
};

TEST_F(LeaderTest, PutGetAndVersions) {
  start(kMasterNode);
  auto absent = request(store::Get{"test/registry/agents"});
  EXPECT_TRUE(absent.ok) << absent.error;
  EXPECT_TRUE(absent.entries.empty());

  for (uint64_t i = 1; i <= 2; ++i) {
    auto put = request(store::Put{"test/registry/agents", "v" + std::to_string(i)});
    EXPECT_TRUE(put.ok) << put.error;
    EXPECT_EQ(put.version, i);
  }
  auto got = request(store::Get{"test/registry/agents"});
  ASSERT_TRUE(got.ok) << got.error;
  ASSERT_EQ(got.entries.size(), 1u);
  EXPECT_EQ(got.entries[0].key, "test/registry/agents");
  EXPECT_EQ(got.entries[0].value, "v2");
  EXPECT_EQ(got.entries[0].version, 2u);
  EXPECT_EQ(got.version, 2u);
}

TEST_F(LeaderTest, CompareAndSet) {
  start(kMasterNode);
  auto created = request(store::CompareAndSet{"test/lock", 0, "a"});
  EXPECT_TRUE(created.ok) << created.error;
  EXPECT_FALSE(created.conflict);
  EXPECT_EQ(created.version, 1u);

  auto exists = request(store::CompareAndSet{"test/lock", 0, "b"});
  EXPECT_FALSE(exists.ok);
  EXPECT_TRUE(exists.conflict);
  EXPECT_EQ(exists.version, 1u);
  EXPECT_EQ(exists.error,
            "version conflict on key 'test/lock': expected it to be absent, it is at version 1");

  auto updated = request(store::CompareAndSet{"test/lock", 1, "c"});
  EXPECT_TRUE(updated.ok) << updated.error;
  EXPECT_EQ(updated.version, 2u);

  auto stale = request(store::CompareAndSet{"test/lock", 1, "d"});
  EXPECT_FALSE(stale.ok);
  EXPECT_TRUE(stale.conflict);
  EXPECT_EQ(stale.error,
            "version conflict on key 'test/lock': expected version 1, it is at version 2");

  auto missing = request(store::CompareAndSet{"test/nothing", 3, "x"});
  EXPECT_TRUE(missing.conflict);
  EXPECT_EQ(missing.error,
            "version conflict on key 'test/nothing': expected version 3, it is absent");

  auto got = request(store::Get{"test/lock"});
  ASSERT_EQ(got.entries.size(), 1u);
  EXPECT_EQ(got.entries[0].value, "c");
}

TEST_F(LeaderTest, Delete) {
  start(kMasterNode);
  ASSERT_TRUE(request(store::Put{"test/a", "1"}).ok);
  ASSERT_TRUE(request(store::Put{"test/a", "2"}).ok);
  auto removed = request(store::Delete{"test/a"});
  EXPECT_TRUE(removed.ok) << removed.error;
  EXPECT_EQ(removed.version, 2u);
  EXPECT_TRUE(request(store::Get{"test/a"}).entries.empty());

  auto again = request(store::Delete{"test/a"});
  EXPECT_FALSE(again.ok);
  EXPECT_FALSE(again.conflict);
  EXPECT_EQ(again.error, "key 'test/a' not found");
}

TEST_F(LeaderTest, ListByPrefixTakesPercentAndUnderscoreLiterally) {
  start(kMasterNode);
  for (std::string key : {"apps/a", "apps/b", "appsx", "50%/a", "50x/a", "a_b/1", "acb/1"}) {
    key = "test/" + key;
    ASSERT_TRUE(request(store::Put{key, "value of " + key}).ok);
  }
  auto apps = request(store::List{"test/apps/", "", 0});
  ASSERT_TRUE(apps.ok) << apps.error;
  ASSERT_EQ(apps.entries.size(), 2u);
  EXPECT_EQ(apps.entries[0].key, "test/apps/a");
  EXPECT_EQ(apps.entries[0].value, "value of test/apps/a");
  EXPECT_EQ(apps.entries[0].version, 1u);
  EXPECT_EQ(apps.entries[1].key, "test/apps/b");

  auto percent = request(store::List{"test/50%", "", 0});
  ASSERT_EQ(percent.entries.size(), 1u);
  EXPECT_EQ(percent.entries[0].key, "test/50%/a");
  auto underscore = request(store::List{"test/a_", "", 0});
  ASSERT_EQ(underscore.entries.size(), 1u);
  EXPECT_EQ(underscore.entries[0].key, "test/a_b/1");
  EXPECT_EQ(request(store::List{"test/", "", 0}).entries.size(), 7u);
}

TEST_F(LeaderTest, EmptyKeyIsAnErrorReply) {
  start(kMasterNode);
  auto put = request(store::Put{"", "x"});
  EXPECT_FALSE(put.ok);
  EXPECT_TRUE(contains(put.error, "put '': the key is empty")) << put.error;
}

TEST_F(LeaderTest, EveryWriteIsPublishedAsStoreChanged) {
  start(kMasterNode);
  subscribe();
  ASSERT_TRUE(request(store::Put{"test/apps/web", "1"}).ok);
  ASSERT_TRUE(request(store::Put{"test/apps/web", "2"}).ok);
  ASSERT_TRUE(request(store::CompareAndSet{"test/apps/web", 2, "3"}).ok);
  ASSERT_TRUE(request(store::CompareAndSet{"test/apps/web", 1, "stale"}).conflict);  // not a write
  ASSERT_TRUE(request(store::Delete{"test/apps/web"}).ok);
  ASSERT_FALSE(request(store::Delete{"test/apps/web"}).ok);  // not a write
  ASSERT_TRUE(request(store::CompareAndSet{"test/apps/db", 0, "x"}).ok);
  ASSERT_TRUE(request(store::Get{"test/apps/db"}).ok);  // reads publish nothing
  ASSERT_TRUE(request(store::List{"test/apps/", "", 0}).ok);

  barrier();  // nothing more comes
  ASSERT_EQ(changes_.size(), 5u);
  auto expect = [&](size_t i, const std::string& key, uint64_t version, bool deleted) {
    EXPECT_EQ(changes_[i].key, key) << i;
    EXPECT_EQ(changes_[i].version, version) << i;
    EXPECT_EQ(changes_[i].deleted, deleted) << i;
  };
  expect(0, "test/apps/web", 1, false);
  expect(1, "test/apps/web", 2, false);
  expect(2, "test/apps/web", 3, false);
  expect(3, "test/apps/web", 3, true);
  expect(4, "test/apps/db", 1, false);
}

TEST_F(LeaderTest, MasterNodeKnowsNoLeaderBeforeItsMasterCampaigns) {
  start(kMasterNode);
  auto leader = call<store::Leader>(store::GetLeader{});
  EXPECT_FALSE(leader.known);
  EXPECT_FALSE(leader.this_node);
}

TEST_F(LeaderTest, CampaignOnAMasterNodeElectsTheLocalMasterAndPublishesIt) {
  start(kMasterNode);
  subscribe();
  auto elected = call<store::Leader>(store::Campaign{"master-1", "tcp://127.0.0.1:5050"});
  EXPECT_TRUE(elected.known);
  EXPECT_EQ(elected.master_id, "master-1");
  EXPECT_EQ(elected.endpoint, "tcp://127.0.0.1:5050");
  EXPECT_TRUE(elected.this_node);

  ASSERT_TRUE(run_until([this] { return !leaders_.empty(); })) << "no leader.info published";
  EXPECT_TRUE(leaders_[0].known);
  EXPECT_EQ(leaders_[0].master_id, "master-1");
  EXPECT_EQ(leaders_[0].endpoint, "tcp://127.0.0.1:5050");
  EXPECT_TRUE(leaders_[0].this_node);

  auto now = call<store::Leader>(store::GetLeader{});
  EXPECT_TRUE(now.known);
  EXPECT_EQ(now.master_id, "master-1");
  EXPECT_TRUE(now.this_node);

  // The same campaign again changes nothing and publishes nothing; a new master does.
  EXPECT_TRUE(call<store::Leader>(store::Campaign{"master-1", "tcp://127.0.0.1:5050"}).this_node);
  auto next = call<store::Leader>(store::Campaign{"master-2", "tcp://127.0.0.1:5051"});
  EXPECT_EQ(next.master_id, "master-2");
  barrier();  // nothing more comes
  ASSERT_EQ(leaders_.size(), 2u);
  EXPECT_EQ(leaders_[1].master_id, "master-2");
  EXPECT_EQ(leaders_[1].endpoint, "tcp://127.0.0.1:5051");
}

TEST_F(LeaderTest, MasterNodeWithADifferentConfiguredMasterStillElectsTheLocalOne) {
  start(std::string(kMasterNode) +
        "[plugins.leader_standalone]\nmaster = \"tcp://10.0.0.1:5050\"\n");
  auto elected = call<store::Leader>(store::Campaign{"local", "tcp://127.0.0.1:5050"});
  EXPECT_TRUE(elected.known);
  EXPECT_TRUE(elected.this_node);
  EXPECT_EQ(elected.endpoint, "tcp://127.0.0.1:5050");
}

TEST_F(LeaderTest, AgentOnlyNodeFindsTheConfiguredMaster) {
  start(std::string(kAgentNode) +
        "[plugins.leader_standalone]\nmaster = \"tcp://10.0.0.1:5050\"\n");
  auto leader = call<store::Leader>(store::GetLeader{});
  EXPECT_TRUE(leader.known);
  EXPECT_EQ(leader.endpoint, "tcp://10.0.0.1:5050");
  EXPECT_FALSE(leader.this_node);
  // A campaign there (no master role) does not change who leads.
  auto after = call<store::Leader>(store::Campaign{"rogue", "tcp://127.0.0.1:1"});
  EXPECT_EQ(after.endpoint, "tcp://10.0.0.1:5050");
  EXPECT_FALSE(after.this_node);
}

TEST_F(LeaderTest, AgentOnlyNodeWithoutMasterFailsToStartNamingTheKey) {
  InProcessNode node(dir_, kAgentNode);
  auto started = node.start();
  ASSERT_FALSE(started.ok());
  const std::string& message = started.error().message;
  EXPECT_TRUE(contains(message, "cannot create plugin 'leader_standalone'")) << message;
  EXPECT_TRUE(contains(message, "plugins.leader_standalone.master")) << message;
  EXPECT_TRUE(contains(message, "without the master role")) << message;
}

TEST_F(LeaderTest, BadValuesAndUnknownKeysAreRefused) {
  InProcessNode node(dir_, std::string(kAgentNode) +
                               "[plugins.leader_standalone]\nmaster = \"10.0.0.1\"\n"
                               "store_file = 3\nendpont = \"tcp://127.0.0.1:0\"\n");
  auto started = node.start();
  ASSERT_FALSE(started.ok());
  const std::string& message = started.error().message;
  EXPECT_TRUE(contains(message,
                       "plugins.leader_standalone.master: '10.0.0.1' is not an endpoint: "
                       "expected tcp://HOST:PORT, ipc://PATH or inproc://NAME"))
      << message;
  EXPECT_TRUE(contains(message, "plugins.leader_standalone.store_file: expected a string"))
      << message;
  EXPECT_TRUE(contains(message, "unknown key 'plugins.leader_standalone.endpont'")) << message;
}

TEST_F(LeaderTest, DataSurvivesARestartOnTheSameWorkDir) {
  start(kMasterNode);
  ASSERT_TRUE(request(store::Put{"test/registry", "one"}).ok);
  ASSERT_TRUE(request(store::Put{"test/registry", "two"}).ok);
  ASSERT_TRUE(request(store::Put{"test/apps/web", "w"}).ok);
  stop();
  EXPECT_TRUE(std::filesystem::exists(dir_ / "work-node/plugins/leader_standalone/store.sqlite"));

  start(kMasterNode);
  auto got = request(store::Get{"test/registry"});
  ASSERT_EQ(got.entries.size(), 1u);
  EXPECT_EQ(got.entries[0].value, "two");
  EXPECT_EQ(got.entries[0].version, 2u);
  EXPECT_EQ(request(store::Put{"test/registry", "three"}).version, 3u);
  EXPECT_EQ(request(store::List{"test/apps/", "", 0}).entries.size(), 1u);
}

TEST_F(LeaderTest, StoreFileKeyChoosesTheFile) {
  auto file = dir_ / "elsewhere" / "registry.db";
  start(std::string(kMasterNode) + "[plugins.leader_standalone]\nstore_file = \"" + file.string() +
        "\"\n");
  ASSERT_TRUE(request(store::Put{"test/k", "v"}).ok);
  EXPECT_TRUE(std::filesystem::exists(file));
}

TEST_F(LeaderTest, ACorruptStoreFileFailsTheStartNamingTheFile) {
  auto file = dir_.write("work-node/plugins/leader_standalone/store.sqlite",
                         std::string(4096, 'x') + "not a database");
  InProcessNode node(dir_, kMasterNode);
  auto started = node.start();
  ASSERT_FALSE(started.ok());
  const std::string& message = started.error().message;
  EXPECT_TRUE(contains(message, "plugin 'leader_standalone' failed to start")) << message;
  EXPECT_TRUE(contains(message, "cannot open store '" + file.string() + "'")) << message;
  EXPECT_TRUE(contains(message, "file is not a database")) << message;
}

// A message whose body has the wrong field types.
struct BadPut {
  static constexpr const char* kType = "store.put";
  static constexpr uint32_t kSchema = 1;
  int64_t key = 5;
  std::vector<int> value{1, 2};
  MSGPACK_DEFINE_MAP(key, value);
};
struct UnknownRequest {
  static constexpr const char* kType = "store.frobnicate";
  static constexpr uint32_t kSchema = 1;
  TESSERA_NO_FIELDS();
};

TEST_F(LeaderTest, GarbageIsDroppedAndTheServerKeepsServing) {
  start(kMasterNode);
  tessera::sdk::Socket raw(node_->zmq_context(), ZMQ_DEALER);
  raw.ref().connect(store::kEndpoint);
  raw.ref().send(zmq::str_buffer("definitely not msgpack"), zmq::send_flags::none);
  raw.ref().send(zmq::str_buffer("two"), zmq::send_flags::sndmore);
  raw.ref().send(zmq::str_buffer("frames"), zmq::send_flags::none);
  raw.ref().send(zmq::buffer(std::string("\x93\x01\x02\x03", 4)), zmq::send_flags::none);
  client_->send(BadPut{});
  client_->send(UnknownRequest{});

  // Still serving, on the same connection and on the raw one's neighbours.
  auto put = request(store::Put{"test/after-garbage", "ok"});
  EXPECT_TRUE(put.ok) << put.error;
  EXPECT_EQ(put.version, 1u);
  auto got = request(store::Get{"test/after-garbage"});
  ASSERT_EQ(got.entries.size(), 1u);
  EXPECT_EQ(got.entries[0].value, "ok");
  raw.close();
}

TEST_F(LeaderTest, OptionalTcpEndpointServesTheSameStoreAndIsAnnounced) {
  auto endpoints = dir_ / "endpoints.toml";
  start(std::string(kMasterNode) + "endpoints_file = \"" + endpoints.string() + "\"\n" +
        "[plugins.leader_standalone]\nendpoint = \"tcp://127.0.0.1:0\"\n");
  ASSERT_TRUE(request(store::Put{"test/shared", "via inproc"}).ok);

  std::string announced = tessera::testing::read_file(endpoints);
  std::smatch match;
  ASSERT_TRUE(std::regex_search(announced, match,
                                std::regex("leader_standalone\\.store = \"(tcp://[^\"]+)\"")))
      << announced;
  std::string address = match[1];
  EXPECT_EQ(address.find(":0\""), std::string::npos);

  tessera::sdk::Client remote(test_->bus, "remote-client");
  ASSERT_TRUE(remote.connect(address).ok());
  auto reply = test_->call(remote, store::Get{"test/shared"});
  ASSERT_TRUE(reply.ok()) << reply.error().message;
  auto body = reply->body<store::Result>();
  ASSERT_TRUE(body.ok());
  ASSERT_EQ(body->entries.size(), 1u);
  EXPECT_EQ(body->entries[0].value, "via inproc");
}

}  // namespace

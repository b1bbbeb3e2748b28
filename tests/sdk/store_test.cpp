// sdk::Store against the real leader_standalone plugin, loaded by the real loader in an
// in-process node: typed values, versions, compare-and-set conflicts, listing by prefix, each
// plugin confined to its own prefix, the value size limit, fencing of a deposed leader, and
// retries while the leader plugin is slow to start.
#include "tessera/sdk/store.h"
#include "tessera/sdk/store_writer.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <optional>

#include "support/endpoints.h"
#include "support/loop.h"
#include "support/node.h"
#include "tessera/sdk/leadership.h"

namespace {

using namespace std::chrono_literals;
namespace store = tessera::protocol::store;
namespace sdk = tessera::sdk;
using sdk::StoreCode;
using tessera::Envelope;
using tessera::Result;
using tessera::testing::InProcessNode;
using tessera::testing::TempDir;

constexpr const char* kMasterNode = "roles = [\"master\"]\nleader = \"leader_standalone\"\n";

// What a framework plugin might keep.
struct App {
  std::string name;
  int64_t instances = 0;
  std::vector<std::string> ports;
  MSGPACK_DEFINE_MAP(name, instances, ports);
  bool operator==(const App&) const = default;
};

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

class StoreTest : public ::testing::Test {
 protected:
  StoreTest() : own_context_(zmq_ctx_new()) {}
  ~StoreTest() override {
    stores_.clear();
    leaderships_.clear();
    raw_.clear();
    buses_.clear();
    node_.reset();
    zmq_ctx_term(own_context_);
  }

  void start_node(const std::string& body = kMasterNode) {
    node_ = std::make_unique<InProcessNode>(dir_, body);
    auto started = node_->start();
    ASSERT_TRUE(started.ok()) << started.error().message;
  }

  // A bus on this test's loop, sending as `name` (a plugin's name), on the node's context
  // unless another is given.
  sdk::Bus& bus(const std::string& name, void* context = nullptr) {
    buses_.push_back(
        sdk::Bus{context != nullptr ? context : node_->zmq_context(), &loop_, {}, name});
    return buses_.back();
  }
  sdk::Store& make_store(sdk::Bus& on, sdk::StoreOptions options = {}) {
    stores_.push_back(std::make_unique<sdk::Store>(on, clock_, options));
    return *stores_.back();
  }
  // A store client of `name` reaching the leader plugin over tcp, made before the node exists
  // (start_node_on_tcp() starts it there), with retries every 20 ms.
  sdk::Store& store_before_node(const std::string& name, sdk::StoreOptions options) {
    tcp_endpoint_ = tessera::testing::unused_tcp_endpoint();
    options.endpoint = tcp_endpoint_;
    options.backoff_initial = 20ms;
    return make_store(bus(name, own_context_), options);
  }
  void start_node_on_tcp() {
    start_node(std::string(kMasterNode) + "[plugins.leader_standalone]\nendpoint = \"" +
               tcp_endpoint_ + "\"\n");
  }
  // A leadership helper on `on`, started (it leads once a master campaigns).
  sdk::Leadership& start_leadership(sdk::Bus& on) {
    leaderships_.push_back(std::make_unique<sdk::Leadership>(on, clock_));
    EXPECT_TRUE(leaderships_.back()->start().ok());
    return *leaderships_.back();
  }
  // A plain client of the leader plugin, for requests the Store would never send.
  sdk::Client& raw(sdk::Bus& on, const std::string& endpoint = store::kEndpoint) {
    raw_.push_back(std::make_unique<sdk::Client>(on, "raw"));
    EXPECT_TRUE(raw_.back()->connect(endpoint).ok());
    return *raw_.back();
  }

  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds timeout = 10s) {
    return tessera::testing::run_until(loop_, done, timeout);
  }

  // Starts an operation with a callback and runs the loop until it is called.
  template <typename T, typename Start>
  sdk::StoreResult<T> await(Start start, std::chrono::milliseconds timeout = 20s) {
    std::optional<sdk::StoreResult<T>> out;
    start([&](sdk::StoreResult<T> result) { out.emplace(std::move(result)); });
    if (!run_until([&] { return out.has_value(); }, timeout)) {
      return sdk::StoreError{StoreCode::kUnavailable, "test: the callback never came"};
    }
    return std::move(*out);
  }

  template <typename Request>
  store::Result ask(sdk::Client& client, const Request& request) {
    std::optional<Result<Envelope>> reply;
    client.request(request, [&](Result<Envelope> r) { reply.emplace(std::move(r)); });
    EXPECT_TRUE(run_until([&] { return reply.has_value(); }));
    if (!reply || !reply->ok()) return store::Result{};
    auto body = (*reply)->body<store::Result>();
    EXPECT_TRUE(body.ok());
    return body.ok() ? *body : store::Result{};
  }

  TempDir dir_;
  std::string tcp_endpoint_;
  std::unique_ptr<InProcessNode> node_;
  void* own_context_;
  sdk::EventLoop loop_;
  sdk::SystemClock clock_{loop_};
  std::deque<sdk::Bus> buses_;
  std::vector<std::unique_ptr<sdk::Client>> raw_;
  std::vector<std::unique_ptr<sdk::Leadership>> leaderships_;
  std::vector<std::unique_ptr<sdk::Store>> stores_;
};

TEST_F(StoreTest, TypedValuesRoundTripWithVersionsUnderThePluginsPrefix) {
  start_node();
  auto& marathon = bus("framework_marathon");
  auto& apps = make_store(marathon);
  EXPECT_EQ(apps.prefix(), "framework_marathon/");

  auto absent = await<std::optional<sdk::Versioned<App>>>(
      [&](auto done) { apps.get<App>("apps/web", done); });
  ASSERT_TRUE(absent.ok()) << absent.error().message;
  EXPECT_FALSE(absent->has_value());

  App web{"web", 3, {"http", "admin"}};
  auto first = await<uint64_t>([&](auto done) { apps.put("apps/web", web, done); });
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_EQ(*first, 1u);
  web.instances = 5;
  auto second = await<uint64_t>([&](auto done) { apps.put("apps/web", web, done); });
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_EQ(*second, 2u);

  auto got = await<std::optional<sdk::Versioned<App>>>(
      [&](auto done) { apps.get<App>("apps/web", done); });
  ASSERT_TRUE(got.ok()) << got.error().message;
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->key, "apps/web");
  EXPECT_EQ((*got)->value, web);
  EXPECT_EQ((*got)->version, 2u);

  // In the store, the key is under the plugin's name.
  auto stored = ask(raw(marathon), store::Get{"framework_marathon/apps/web"});
  ASSERT_TRUE(stored.ok) << stored.error;
  ASSERT_EQ(stored.entries.size(), 1u);
  EXPECT_EQ(stored.entries[0].version, 2u);

  // A value that is not an App says so, with its key.
  auto as_number = await<std::optional<sdk::Versioned<int64_t>>>(
      [&](auto done) { apps.get<int64_t>("apps/web", done); });
  ASSERT_FALSE(as_number.ok());
  EXPECT_EQ(as_number.code(), StoreCode::kInvalid);
  EXPECT_TRUE(contains(as_number.error().message,
                       "store: get 'framework_marathon/apps/web': the value does not decode"))
      << as_number.error().message;
}

TEST_F(StoreTest, CompareAndSetConflictCarriesTheCurrentVersion) {
  start_node();
  auto& apps = make_store(bus("framework_marathon"));
  App web{"web", 1, {}};
  auto created =
      await<uint64_t>([&](auto done) { apps.compare_and_set("apps/web", 0, web, done); });
  ASSERT_TRUE(created.ok()) << created.error().message;
  EXPECT_EQ(*created, 1u);

  auto again = await<uint64_t>([&](auto done) { apps.compare_and_set("apps/web", 0, web, done); });
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.code(), StoreCode::kConflict);
  EXPECT_EQ(again.error().version, 1u);
  EXPECT_EQ(again.error().message,
            "store: compare-and-set 'framework_marathon/apps/web': version conflict on key "
            "'framework_marathon/apps/web': expected it to be absent, it is at version 1");

  web.instances = 2;
  auto updated =
      await<uint64_t>([&](auto done) { apps.compare_and_set("apps/web", 1, web, done); });
  ASSERT_TRUE(updated.ok()) << updated.error().message;
  EXPECT_EQ(*updated, 2u);
  auto stale = await<uint64_t>([&](auto done) { apps.compare_and_set("apps/web", 1, web, done); });
  EXPECT_EQ(stale.code(), StoreCode::kConflict);
  EXPECT_EQ(stale.error().version, 2u);
}

TEST_F(StoreTest, ListByPrefixIsRelativeAndKeepsUnreadableEntriesApart) {
  start_node();
  auto& marathon = bus("framework_marathon");
  auto& apps = make_store(marathon);
  for (const char* name : {"b", "a"}) {
    auto put = await<uint64_t>([&](auto done) {
      apps.put(std::string("apps/") + name, App{name, 1, {}}, done);
    });
    ASSERT_TRUE(put.ok()) << put.error().message;
  }
  ASSERT_TRUE(await<uint64_t>([&](auto done) {
                apps.put("deployments/d1", App{"d1", 1, {}}, done);
              }).ok());
  // Bytes that are not msgpack, written around the client.
  ASSERT_TRUE(
      ask(raw(marathon), store::Put{"framework_marathon/apps/broken", "\xc1 not msgpack"}).ok);

  auto listed = await<sdk::Listing<App>>([&](auto done) { apps.list<App>("apps/", done); });
  ASSERT_TRUE(listed.ok()) << listed.error().message;
  ASSERT_EQ(listed->entries.size(), 2u);
  EXPECT_EQ(listed->entries[0].key, "apps/a");
  EXPECT_EQ(listed->entries[0].value.name, "a");
  EXPECT_EQ(listed->entries[1].key, "apps/b");
  EXPECT_EQ(listed->unreadable, std::vector<std::string>{"apps/broken"});

  auto everything = await<sdk::Listing<App>>([&](auto done) { apps.list<App>("", done); });
  ASSERT_TRUE(everything.ok()) << everything.error().message;
  EXPECT_EQ(everything->entries.size(), 3u);
  EXPECT_EQ(everything->entries[2].key, "deployments/d1");
}

TEST_F(StoreTest, AListingOfMoreKeysThanAPageHoldsComesWholeFromItsPages) {
  start_node();
  auto& marathon = bus("framework_marathon");
  auto& apps = make_store(marathon);
  // Two and a half pages, and keys around the prefix that must not be listed.
  const size_t count = store::kMaxListEntries * 2 + store::kMaxListEntries / 2;
  std::vector<std::string> expected;
  for (size_t first = 0; first < count; first += store::kMaxBatchWrites) {
    sdk::StoreBatch batch;
    for (size_t i = first; i < std::min(count, first + store::kMaxBatchWrites); ++i) {
      std::string name = fmt::format("app-{:05}", i);
      batch.put("apps/" + name, App{name, static_cast<int64_t>(i), {}});
      expected.push_back("apps/" + name);
    }
    auto written =
        await<std::vector<uint64_t>>([&](auto done) { apps.write_batch(std::move(batch), done); });
    ASSERT_TRUE(written.ok()) << written.error().message;
  }
  sdk::StoreBatch around;
  around.put("apps", App{"apps", 0, {}});
  around.put("appsz/other", App{"other", 0, {}});
  ASSERT_TRUE(await<std::vector<uint64_t>>([&](auto done) {
                apps.write_batch(std::move(around), done);
              }).ok());

  // The plugin answers one page at most.
  auto page = ask(raw(marathon), store::List{"framework_marathon/apps/", "", 0});
  ASSERT_TRUE(page.ok) << page.error;
  EXPECT_EQ(page.entries.size(), store::kMaxListEntries);
  EXPECT_TRUE(page.more);

  auto listed = await<sdk::Listing<App>>([&](auto done) { apps.list<App>("apps/", done); });
  ASSERT_TRUE(listed.ok()) << listed.error().message;
  ASSERT_EQ(listed->entries.size(), count);
  for (size_t i = 0; i < count; ++i) {
    ASSERT_EQ(listed->entries[i].key, expected[i]) << "entry " << i;
    ASSERT_EQ(listed->entries[i].value.instances, static_cast<int64_t>(i));
  }
  EXPECT_EQ(apps.pages(), 2U);
}

TEST_F(StoreTest, RemoveGivesTheVersionAndAnAbsentKeyIsNotFound) {
  start_node();
  auto& apps = make_store(bus("framework_marathon"));
  ASSERT_TRUE(await<uint64_t>([&](auto done) { apps.put("apps/web", App{}, done); }).ok());
  ASSERT_TRUE(await<uint64_t>([&](auto done) { apps.put("apps/web", App{}, done); }).ok());
  auto removed = await<uint64_t>([&](auto done) { apps.remove("apps/web", done); });
  ASSERT_TRUE(removed.ok()) << removed.error().message;
  EXPECT_EQ(*removed, 2u);
  auto again = await<uint64_t>([&](auto done) { apps.remove("apps/web", done); });
  EXPECT_EQ(again.code(), StoreCode::kNotFound);
  EXPECT_EQ(again.error().message,
            "store: delete 'framework_marathon/apps/web': key 'framework_marathon/apps/web' not "
            "found");
  auto empty_key = await<uint64_t>([&](auto done) { apps.remove("", done); });
  EXPECT_EQ(empty_key.code(), StoreCode::kInvalid);
}

TEST_F(StoreTest, APluginCannotReachAnotherPluginsKeys) {
  start_node();
  auto& a = bus("framework_a");
  auto& b = bus("framework_b");
  auto& store_a = make_store(a);
  auto& store_b = make_store(b);
  ASSERT_TRUE(
      await<uint64_t>([&](auto done) { store_a.put("secret", std::string("a's"), done); }).ok());

  // Through the client, b's "secret" is its own key: absent.
  auto mine = await<std::optional<sdk::Versioned<std::string>>>(
      [&](auto done) { store_b.get<std::string>("secret", done); });
  ASSERT_TRUE(mine.ok()) << mine.error().message;
  EXPECT_FALSE(mine->has_value());
  auto listed =
      await<sdk::Listing<std::string>>([&](auto done) { store_b.list<std::string>("", done); });
  ASSERT_TRUE(listed.ok());
  EXPECT_TRUE(listed->entries.empty());

  // Around the client, the leader plugin refuses every access outside b's prefix.
  auto& raw_b = raw(b);
  auto read = ask(raw_b, store::Get{"framework_a/secret"});
  EXPECT_FALSE(read.ok);
  EXPECT_EQ(read.code, store::code::kPermissionDenied);
  EXPECT_EQ(read.error,
            "get 'framework_a/secret' refused: 'framework_b' may only use keys under "
            "'framework_b/'");
  EXPECT_TRUE(read.entries.empty());
  EXPECT_EQ(ask(raw_b, store::Put{"framework_a/secret", "b's"}).code,
            store::code::kPermissionDenied);
  EXPECT_EQ(ask(raw_b, store::Delete{"framework_a/secret"}).code, store::code::kPermissionDenied);
  EXPECT_EQ(ask(raw_b, store::List{"", "", 0}).code, store::code::kPermissionDenied);
  // A name that is a prefix of another's is not enough.
  EXPECT_EQ(ask(raw(bus("framework")), store::Get{"framework_a/secret"}).code,
            store::code::kPermissionDenied);
  auto nameless = ask(raw(bus("")), store::Get{"/secret"});
  EXPECT_EQ(nameless.code, store::code::kPermissionDenied);
  EXPECT_TRUE(contains(nameless.error, "the request names no sender")) << nameless.error;

  auto still = await<std::optional<sdk::Versioned<std::string>>>(
      [&](auto done) { store_a.get<std::string>("secret", done); });
  ASSERT_TRUE(still.ok() && still->has_value());
  EXPECT_EQ((*still)->value, "a's");
  EXPECT_EQ((*still)->version, 1u);
}

TEST_F(StoreTest, ValuesOverOneMebibyteAreRefusedWithAClearError) {
  start_node();
  auto& apps = make_store(bus("framework_marathon"));
  // A msgpack string of this length has a 5-byte header: exactly the limit once encoded.
  std::string largest(store::kMaxValueBytes - 5, 'x');
  auto fits = await<uint64_t>([&](auto done) { apps.put("blob", largest, done); });
  ASSERT_TRUE(fits.ok()) << fits.error().message;
  auto back = await<std::optional<sdk::Versioned<std::string>>>(
      [&](auto done) { apps.get<std::string>("blob", done); });
  ASSERT_TRUE(back.ok() && back->has_value());
  EXPECT_EQ((*back)->value.size(), largest.size());

  auto too_big = await<uint64_t>([&](auto done) { apps.put("blob", largest + "y", done); });
  ASSERT_FALSE(too_big.ok());
  EXPECT_EQ(too_big.code(), StoreCode::kTooLarge);
  EXPECT_EQ(too_big.error().message,
            "store: put 'framework_marathon/blob': the value is 1048577 bytes, more than the "
            "limit of 1048576 (1 MiB)");
  auto cas_too_big =
      await<uint64_t>([&](auto done) { apps.compare_and_set("blob", 1, largest + "y", done); });
  EXPECT_EQ(cas_too_big.code(), StoreCode::kTooLarge);
  auto long_key = await<uint64_t>([&](auto done) { apps.put(std::string(1100, 'k'), 1, done); });
  EXPECT_EQ(long_key.code(), StoreCode::kTooLarge);
  EXPECT_TRUE(contains(long_key.error().message, "more than the limit of 1024"))
      << long_key.error().message;

  // The value in the store is the one that fitted.
  auto kept = await<std::optional<sdk::Versioned<std::string>>>(
      [&](auto done) { apps.get<std::string>("blob", done); });
  ASSERT_TRUE(kept.ok() && kept->has_value());
  EXPECT_EQ((*kept)->version, 1u);
}

TEST_F(StoreTest, ABatchWritesTypedValuesInOrderUnderThePluginsPrefix) {
  start_node();
  auto& marathon = bus("framework_marathon");
  auto& apps = make_store(marathon);
  ASSERT_TRUE(await<uint64_t>([&](auto done) {
                apps.put("apps/old", App{"old", 1, {}}, done);
              }).ok());
  sdk::StoreBatch batch;
  batch.put("apps/web", App{"web", 3, {"http"}});
  batch.put("apps/web", App{"web", 4, {"http"}});
  batch.remove("apps/old");
  batch.remove("apps/never");
  auto versions =
      await<std::vector<uint64_t>>([&](auto done) { apps.write_batch(std::move(batch), done); });
  ASSERT_TRUE(versions.ok()) << versions.error().message;
  EXPECT_EQ(*versions, (std::vector<uint64_t>{1, 2, 1, 0}));
  auto listed = await<sdk::Listing<App>>([&](auto done) { apps.list<App>("apps/", done); });
  ASSERT_TRUE(listed.ok()) << listed.error().message;
  ASSERT_EQ(listed->entries.size(), 1u);
  EXPECT_EQ(listed->entries[0].key, "apps/web");
  EXPECT_EQ(listed->entries[0].value, (App{"web", 4, {"http"}}));
  EXPECT_EQ(listed->entries[0].version, 2u);

  // Refused before anything is sent: empty, or more than a batch may hold.
  auto empty =
      await<std::vector<uint64_t>>([&](auto done) { apps.write_batch(sdk::StoreBatch{}, done); });
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.code(), StoreCode::kInvalid);
  sdk::StoreBatch large;
  for (size_t i = 0; i <= store::kMaxBatchWrites; ++i) large.put("apps/" + std::to_string(i), 1);
  auto too_many =
      await<std::vector<uint64_t>>([&](auto done) { apps.write_batch(std::move(large), done); });
  ASSERT_FALSE(too_many.ok());
  EXPECT_EQ(too_many.code(), StoreCode::kTooLarge);
  EXPECT_TRUE(contains(too_many.error().message, "more than the limit of 1000"))
      << too_many.error().message;
}

TEST_F(StoreTest, WritesOfADeposedLeaderAreFenced) {
  start_node();
  // The master role campaigns from its own loop; the framework's helper and store are on
  // this one and only learn of elections when this loop runs.
  tessera::testing::TestBus master(node_->zmq_context(), "master");
  tessera::sdk::Client campaigns(master.bus, "campaigns");
  ASSERT_TRUE(campaigns.connect(store::kEndpoint).ok());

  auto& marathon = bus("framework_marathon");
  sdk::Leadership& leadership = start_leadership(marathon);
  auto& apps = make_store(marathon);
  apps.fence_with(&leadership);

  auto before = await<uint64_t>([&](auto done) { apps.put("apps/web", App{"web", 1, {}}, done); });
  ASSERT_FALSE(before.ok());
  EXPECT_EQ(before.code(), StoreCode::kFenced);
  EXPECT_EQ(before.error().message,
            "store: put 'framework_marathon/apps/web': this host is not leading (its writes are "
            "fenced to the leader's term)");

  ASSERT_TRUE(master.call(campaigns, store::Campaign{"master-1", "tcp://127.0.0.1:5050"}).ok());
  ASSERT_TRUE(run_until([&] { return leadership.leading(); }));
  EXPECT_EQ(leadership.epoch(), 1u);
  ASSERT_TRUE(await<uint64_t>([&](auto done) {
                apps.put("apps/web", App{"web", 1, {}}, done);
              }).ok());

  // A new master is elected; this loop has not run, so the helper still believes in epoch 1:
  // its write reaches the leader plugin, which refuses it.
  ASSERT_TRUE(master.call(campaigns, store::Campaign{"master-2", "tcp://127.0.0.1:5051"}).ok());
  std::optional<sdk::StoreResult<uint64_t>> late;
  apps.put("apps/web", App{"stale", 1, {}},
           [&](sdk::StoreResult<uint64_t> r) { late.emplace(std::move(r)); });
  ASSERT_TRUE(run_until([&] { return late.has_value(); }));
  ASSERT_FALSE(late->ok());
  EXPECT_EQ(late->code(), StoreCode::kFenced);
  EXPECT_TRUE(contains(late->error().message,
                       "put 'framework_marathon/apps/web' refused: epoch 1 is over (the store is "
                       "at epoch 2: another master was elected since)"))
      << late->error().message;

  // Once it has heard of the new term, the host (still the leader's host) writes again.
  ASSERT_TRUE(run_until([&] { return leadership.epoch() == 2; }));
  auto now = await<uint64_t>([&](auto done) { apps.put("apps/web", App{"web", 2, {}}, done); });
  ASSERT_TRUE(now.ok()) << now.error().message;
  EXPECT_EQ(*now, 2u);  // the stale write never landed
}

TEST_F(StoreTest, RetriesUntilASlowLeaderPluginHasStarted) {
  sdk::StoreOptions options;
  options.request_timeout = 150ms;
  options.backoff_max = 100ms;
  auto& apps = store_before_node("framework_slow", options);

  // A compare-and-set retried: duplicates of the attempts queued before the plugin started
  // reach it too, and the client still reports its own write as applied.
  std::optional<sdk::StoreResult<uint64_t>> created;
  apps.compare_and_set("apps/web", 0, App{"web", 1, {}},
                       [&](sdk::StoreResult<uint64_t> r) { created.emplace(std::move(r)); });
  ASSERT_TRUE(run_until([&] { return apps.retries() >= 2; }));
  EXPECT_FALSE(created.has_value());
  EXPECT_EQ(apps.in_flight(), 1u);

  start_node_on_tcp();
  ASSERT_TRUE(run_until([&] { return created.has_value(); }, 30s));
  ASSERT_TRUE(created->ok()) << created->error().message;
  EXPECT_EQ(**created, 1u);
  EXPECT_EQ(apps.in_flight(), 0u);

  auto got = await<std::optional<sdk::Versioned<App>>>(
      [&](auto done) { apps.get<App>("apps/web", done); });
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->version, 1u);
  EXPECT_EQ((*got)->value.name, "web");
}

TEST_F(StoreTest, GivesUpAfterItsDeadlineWithTheLastProblem) {
  auto& lonely = bus("framework_lonely", own_context_);
  sdk::StoreOptions options;
  options.endpoint = tessera::testing::unused_tcp_endpoint();
  options.request_timeout = 100ms;
  options.backoff_initial = 20ms;
  options.give_up_after = 400ms;
  auto& apps = make_store(lonely, options);
  auto got = await<std::optional<sdk::Versioned<App>>>(
      [&](auto done) { apps.get<App>("apps/web", done); });
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.code(), StoreCode::kUnavailable);
  const std::string& message = got.error().message;
  EXPECT_EQ(message.rfind("store: get 'framework_lonely/apps/web': gave up after ", 0), 0u)
      << message;
  EXPECT_TRUE(contains(message, "no answer from the leader plugin")) << message;
}

// A leader plugin serves one request at a time: the client sends at most max_in_flight at once
// and keeps the others, in order, so that none waits at the plugin past its timeout and is
// sent (and applied) twice. Here a scripted plugin answers one request per millisecond and
// counts how many were waiting at once.
TEST_F(StoreTest, SendsAtMostMaxInFlightRequestsAtOnce) {
  auto& plugin_bus = bus("fake_leader", own_context_);
  sdk::Server plugin(plugin_bus, "fake_leader");
  ASSERT_TRUE(plugin.bind("inproc://store.one-at-a-time").ok());
  std::deque<std::pair<std::string, uint64_t>> waiting;  // peer, sequence
  std::vector<std::string> keys;
  size_t most_waiting = 0;
  plugin.on<store::Put>([&](const sdk::Request& r, const store::Put& put) {
    waiting.emplace_back(r.peer, r.message.header().sequence);
    keys.push_back(put.key);
    most_waiting = std::max(most_waiting, waiting.size());
  });
  uint64_t version = 0;
  loop_.every(1ms, [&] {
    if (waiting.empty()) return;
    store::Result result;
    result.ok = true;
    result.version = ++version;
    plugin.reply_later(waiting.front().first, waiting.front().second, result);
    waiting.pop_front();
  });

  auto& writer = bus("framework_busy", own_context_);
  sdk::StoreOptions options;
  options.endpoint = "inproc://store.one-at-a-time";
  options.max_in_flight = 4;
  auto& apps = make_store(writer, options);
  constexpr int kWrites = 60;
  int written = 0;
  for (int i = 0; i < kWrites; ++i) {
    apps.put("apps/" + std::to_string(i), App{"app", i, {}}, [&](sdk::StoreResult<uint64_t> r) {
      EXPECT_TRUE(r.ok()) << r.error().message;
      ++written;
    });
  }
  ASSERT_TRUE(run_until([&] { return written == kWrites; }, 30s));
  EXPECT_LE(most_waiting, 4u);
  EXPECT_EQ(apps.retries(), 0u);
  // Sent in the order they were made.
  ASSERT_EQ(keys.size(), static_cast<size_t>(kWrites));
  for (int i = 0; i < kWrites; ++i) EXPECT_EQ(keys[i], "framework_busy/apps/" + std::to_string(i));
}

}  // namespace

// ---- StoreWriter: coalesced, batched writes on the same real leader plugin ----

namespace writer_test {

// The values of `keys` as stored (nullopt: absent).
std::map<std::string, std::optional<App>> stored(const sdk::Listing<App>& listing,
                                                 const std::vector<std::string>& keys) {
  std::map<std::string, std::optional<App>> out;
  for (const auto& key : keys) out[key] = std::nullopt;
  for (const auto& entry : listing.entries) {
    if (out.count(entry.key) != 0) out[entry.key] = entry.value;
  }
  return out;
}

}  // namespace writer_test

TEST_F(StoreTest, AWritersChangesOfOneTurnGoAsFewBatchesAndTheLastValueOfEachKeyWins) {
  start_node();
  auto& marathon = bus("framework_marathon");
  auto& apps = make_store(marathon);
  sdk::StoreWriter writer(apps);
  // 3,000 changes of 1,200 keys asked for in one turn: each key's last value is stored, every
  // callback hears success, and 1,200 distinct writes need two batches of at most 1,000.
  constexpr int kKeys = 1200;
  int answered = 0;
  int failed = 0;
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < kKeys; ++i) {
      if (round == 1 && i % 2 == 0) continue;
      writer.put("apps/" + std::to_string(i), App{"app", round * 10000 + i, {}},
                 [&](const sdk::StoreResult<uint64_t>& r) { r.ok() ? ++answered : ++failed; });
    }
  }
  EXPECT_EQ(writer.pending(), 3000u);
  std::optional<bool> all;
  writer.when_stored([&](bool ok, const std::string&) { all = ok; });
  ASSERT_TRUE(run_until([&] { return all.has_value(); }));
  EXPECT_TRUE(*all);
  EXPECT_EQ(answered, 3000);
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(writer.requests(), 2u);
  EXPECT_EQ(writer.pending(), 0u);
  auto listed = await<sdk::Listing<App>>([&](auto done) { apps.list<App>("apps/", done); });
  ASSERT_TRUE(listed.ok()) << listed.error().message;
  ASSERT_EQ(listed->entries.size(), static_cast<size_t>(kKeys));
  for (const auto& entry : listed->entries) {
    int i = std::stoi(entry.key.substr(5));
    EXPECT_EQ(entry.value.instances, 20000 + i) << entry.key;
    EXPECT_EQ(entry.version, 1u) << entry.key;  // one write per key reached the store
  }
}

TEST_F(StoreTest, AWriterKeepsARemovalAndTheWritesAroundItInOrder) {
  start_node();
  auto& marathon = bus("framework_marathon");
  auto& apps = make_store(marathon);
  sdk::StoreWriter writer(apps);
  ASSERT_TRUE(await<uint64_t>([&](auto done) {
                apps.put("apps/gone", App{"gone", 1, {}}, done);
              }).ok());
  writer.put("apps/back", App{"back", 1, {}});
  writer.remove("apps/back");
  writer.put("apps/back", App{"back", 2, {}});  // after the removal, not merged before it
  writer.put("apps/gone", App{"gone", 2, {}});
  writer.remove("apps/gone");
  std::optional<sdk::StoreResult<uint64_t>> absent;
  writer.remove("apps/never", [&](const sdk::StoreResult<uint64_t>& r) { absent.emplace(r); });
  std::optional<bool> all;
  writer.when_stored([&](bool ok, const std::string&) { all = ok; });
  ASSERT_TRUE(run_until([&] { return all.has_value(); }));
  EXPECT_TRUE(*all);
  ASSERT_TRUE(absent && absent->ok());
  EXPECT_EQ(**absent, 0u);  // removing an absent key is no error
  auto listed = await<sdk::Listing<App>>([&](auto done) { apps.list<App>("apps/", done); });
  ASSERT_TRUE(listed.ok());
  auto values = writer_test::stored(*listed, {"apps/back", "apps/gone"});
  ASSERT_TRUE(values["apps/back"].has_value());
  EXPECT_EQ(values["apps/back"]->instances, 2);
  EXPECT_FALSE(values["apps/gone"].has_value());
}

TEST_F(StoreTest, AWritersFirstLaneGoesFirstAndOneBadWriteFailsAlone) {
  start_node();
  auto& chronos = bus("framework_chronos");
  auto& jobs = make_store(chronos);
  sdk::StoreWriterOptions options;
  options.lanes = 2;
  sdk::StoreWriter writer(jobs, options);
  std::vector<std::string> order;
  auto note = [&](std::string what) {
    return [&order, what](const sdk::StoreResult<uint64_t>& r) {
      order.push_back(what + (r.ok() ? "" : " failed: " + r.error().message));
    };
  };
  writer.put("history/a", App{"a", 1, {}}, note("history"), 1);
  writer.put("jobs/a", App{"a", 1, {}}, note("job"), 0);
  // A key over the store's limit makes the store refuse its whole batch: the writes are sent
  // again one by one, and only that one fails.
  writer.put("jobs/" + std::string(store::kMaxKeyBytes, 'x'), App{"long", 1, {}}, note("long"), 0);
  writer.put("jobs/b", App{"b", 1, {}}, note("job"), 0);
  std::optional<std::pair<bool, std::string>> all;
  writer.when_stored([&](bool ok, const std::string& why) { all.emplace(ok, why); });
  ASSERT_TRUE(run_until([&] { return order.size() == 4; }));
  ASSERT_EQ(order.size(), 4u);
  EXPECT_EQ(order[0], "job");
  EXPECT_EQ(order[1].rfind("long failed: store: put 'framework_chronos/jobs/xxx", 0), 0u)
      << order[1];
  EXPECT_TRUE(contains(order[1], "more than the limit of 1024")) << order[1];
  EXPECT_EQ(order[2], "job");
  EXPECT_EQ(order[3], "history");
  ASSERT_TRUE(all.has_value());
  EXPECT_FALSE(all->first);
  EXPECT_EQ(writer.failures(), 1u);
  auto listed = await<sdk::Listing<App>>([&](auto done) { jobs.list<App>("", done); });
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->entries.size(), 3u);  // jobs/a, jobs/b, history/a
}

TEST_F(StoreTest, AWriterOfAHostThatDoesNotLeadFailsItsWritesAndDropForgetsThem) {
  start_node();
  auto& marathon = bus("framework_marathon");
  sdk::Leadership& leadership = start_leadership(marathon);
  auto& apps = make_store(marathon);
  apps.fence_with(&leadership);
  sdk::StoreWriter writer(apps);

  std::optional<sdk::StoreResult<uint64_t>> fenced;
  writer.put("apps/web", App{"web", 1, {}},
             [&](const sdk::StoreResult<uint64_t>& r) { fenced.emplace(r); });
  std::optional<std::pair<bool, std::string>> all;
  writer.when_stored([&](bool ok, const std::string& why) { all.emplace(ok, why); });
  ASSERT_TRUE(run_until([&] { return fenced.has_value() && all.has_value(); }));
  EXPECT_EQ(fenced->code(), StoreCode::kFenced);
  EXPECT_FALSE(all->first);
  EXPECT_TRUE(contains(all->second, "this host is not leading")) << all->second;
  EXPECT_EQ(writer.failures(), 1u);

  // Dropped before they were sent: never stored, their callbacks never called, the waiter told.
  bool called = false;
  writer.put("apps/dropped", App{"dropped", 1, {}},
             [&](const sdk::StoreResult<uint64_t>&) { called = true; });
  all.reset();
  writer.when_stored([&](bool ok, const std::string& why) { all.emplace(ok, why); });
  writer.drop("deposed");
  ASSERT_TRUE(all.has_value());
  EXPECT_FALSE(all->first);
  EXPECT_EQ(all->second, "deposed");
  EXPECT_EQ(writer.pending(), 0u);
  bool after = false;
  writer.when_stored([&](bool ok, const std::string&) { after = ok; });
  ASSERT_TRUE(run_until([&] { return after; }));
  EXPECT_FALSE(called);
}

TEST_F(StoreTest, AWriterWithRetriesKeepsItsWritesUntilTheStoreAnswers) {
  sdk::StoreOptions options;
  options.request_timeout = 100ms;
  options.give_up_after = 250ms;
  auto& apps = store_before_node("framework_slow", options);
  sdk::StoreWriterOptions writer_options;
  writer_options.retry_unavailable_after = 100ms;
  sdk::StoreWriter writer(apps, writer_options);

  std::optional<sdk::StoreResult<uint64_t>> first;
  writer.put("apps/web", App{"web", 1, {}},
             [&](const sdk::StoreResult<uint64_t>& r) { first.emplace(r); });
  std::optional<std::pair<bool, std::string>> waited;
  writer.when_stored([&](bool ok, const std::string& why) { waited.emplace(ok, why); });
  // The store client gives up: the waiter hears it, the write is kept and sent again.
  ASSERT_TRUE(run_until([&] { return waited.has_value(); }));
  EXPECT_FALSE(waited->first);
  EXPECT_TRUE(contains(waited->second, "the change is kept and written again")) << waited->second;
  EXPECT_FALSE(first.has_value());
  // A newer value asked for meanwhile merges into the kept write.
  writer.put("apps/web", App{"web", 2, {}});
  EXPECT_EQ(writer.failures(), 0u);

  start_node_on_tcp();
  std::optional<bool> all;
  ASSERT_TRUE(run_until(
      [&] {
        if (!all && writer.pending() == 0) writer.when_stored([&](bool ok, auto&) { all = ok; });
        return all.has_value();
      },
      30s));
  EXPECT_TRUE(*all);
  ASSERT_TRUE(first && first->ok()) << (first ? first->error().message : "no answer");
  auto got = await<std::optional<sdk::Versioned<App>>>(
      [&](auto done) { apps.get<App>("apps/web", done); });
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->value.instances, 2);
  EXPECT_EQ(writer.failures(), 0u);
}

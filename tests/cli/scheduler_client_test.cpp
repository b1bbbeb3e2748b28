// SchedulerClient against the master double, in process: the client runs on this thread's
// loop, the double on its own thread, over tcp on loopback.
#include "tessera/sdk/scheduler.h"

#include <gtest/gtest.h>

#include "master_double.h"
#include "support/loop.h"

namespace {

using namespace std::chrono_literals;
using namespace tessera;
using namespace tessera::testing;
using tessera::sdk::SchedulerClient;

class SchedulerClientTest : public ::testing::Test {
 protected:
  SchedulerClientTest() : context_(zmq_ctx_new()) { bus_ = sdk::Bus{context_, &loop_, {}, "test"}; }
  ~SchedulerClientTest() override {
    client_.reset();
    zmq_ctx_term(context_);
  }

  std::unique_ptr<SchedulerClient>& make_client(const std::string& master,
                                                sdk::SchedulerOptions options = {}) {
    sdk::FrameworkInfo info;
    info.name = "test-framework";
    info.roles = {"web"};
    info.failover_timeout_seconds = 30;
    options.master = master;
    client_ = std::make_unique<SchedulerClient>(bus_, info, options);
    return client_;
  }

  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds timeout = 10s) {
    return tessera::testing::run_until(loop_, done, timeout);
  }

  void* context_;
  sdk::EventLoop loop_;
  sdk::Bus bus_;
  std::unique_ptr<SchedulerClient> client_;
};

TEST_F(SchedulerClientTest, SubscribesAcceptsAndAcknowledgesUpdatesByItself) {
  DoubleConfig config;
  config.offers = {offer("o-small", "a1", 0.1, 16), offer("o-big", "a2", 2, 1024)};
  config.script = {status(protocol::state::kRunning), status(protocol::state::kFinished, 0)};
  MasterDouble master(config);
  auto& client = make_client(master.endpoint());

  std::string subscribed_id;
  std::vector<protocol::TaskStatus> updates;
  client->on_subscribed = [&](const std::string& id) { subscribed_id = id; };
  client->on_offers = [&](const std::vector<sp::Offer>& offers) {
    ASSERT_EQ(offers.size(), 2u);
    protocol::TaskInfo task;
    task.task_id = "t1";
    task.agent_id = offers[1].agent_id;
    task.resources.scalars = {{"cpus", 1}, {"mem", 128}};
    task.command.value = "true";
    EXPECT_TRUE(client->accept({offers[1].offer_id}, {task}, 10));
    EXPECT_TRUE(client->decline({offers[0].offer_id}, 2));
  };
  client->on_update = [&](const protocol::TaskStatus& s) { updates.push_back(s); };
  // Before subscription, calls are not sent.
  EXPECT_FALSE(client->decline({"nothing"}));
  client->start();
  ASSERT_TRUE(run_until([&] { return master.snapshot().acks.size() == 2; }));

  EXPECT_EQ(subscribed_id, "fw-1");
  EXPECT_EQ(client->framework_id(), "fw-1");
  EXPECT_EQ(client->master_id(), "master-double");
  auto rec = master.snapshot();
  ASSERT_EQ(rec.subscribes.size(), 1u);
  EXPECT_EQ(rec.subscribes[0].second.name, "test-framework");
  EXPECT_EQ(rec.subscribes[0].second.roles, std::vector<std::string>{"web"});
  EXPECT_EQ(rec.subscribes[0].second.failover_timeout_seconds, 30);
  EXPECT_TRUE(rec.subscribes[0].second.framework_id.empty());
  ASSERT_EQ(rec.accepts.size(), 1u);
  EXPECT_EQ(rec.accepts[0].framework_id, "fw-1");
  EXPECT_EQ(rec.accepts[0].offer_ids, std::vector<std::string>{"o-big.1"});
  EXPECT_EQ(rec.accepts[0].refuse_seconds, 10);
  ASSERT_EQ(rec.declines.size(), 1u);
  EXPECT_EQ(rec.declines[0].offer_ids, std::vector<std::string>{"o-small.1"});
  ASSERT_EQ(updates.size(), 2u);
  EXPECT_EQ(updates[0].state, protocol::state::kRunning);
  EXPECT_EQ(updates[1].state, protocol::state::kFinished);
  EXPECT_EQ(rec.acks[0].uuid, "uuid-1");
  EXPECT_EQ(rec.acks[1].uuid, "uuid-2");
  EXPECT_EQ(rec.acks[1].task_id, "t1");
  EXPECT_EQ(rec.acks[1].agent_id, "a2");
  EXPECT_EQ(rec.acks[1].framework_id, "fw-1");
}

TEST_F(SchedulerClientTest, ManualAcknowledgementSendsNothingUntilAsked) {
  DoubleConfig config;
  MasterDouble master(config);
  sdk::SchedulerOptions options;
  options.auto_acknowledge = false;
  auto& client = make_client(master.endpoint(), options);
  std::vector<protocol::TaskStatus> updates;
  client->on_update = [&](const protocol::TaskStatus& s) { updates.push_back(s); };
  client->start();
  ASSERT_TRUE(run_until([&] { return client->subscribed(); }));
  auto s = status(protocol::state::kRunning);
  s.task_id = "t9";
  s.agent_id = "a1";
  s.uuid = "u-manual";
  master.push_update(s);
  ASSERT_TRUE(run_until([&] { return updates.size() == 1; }));
  // An automatic acknowledgement would have left right after on_update; a reconcile sent now
  // travels behind it on the same connection, so once the double has the reconcile it would
  // have the acknowledgement too.
  EXPECT_TRUE(client->reconcile());
  ASSERT_TRUE(master.wait_until([](const DoubleRecord& r) { return r.reconciles.size() == 1; }));
  EXPECT_TRUE(master.snapshot().acks.empty());
  EXPECT_TRUE(client->acknowledge(updates[0]));
  ASSERT_TRUE(master.wait_until([](const DoubleRecord& r) { return r.acks.size() == 1; }));
  EXPECT_EQ(master.snapshot().acks[0].uuid, "u-manual");
  // An update without a uuid (reconciliation) needs no acknowledgement.
  auto reconciled = updates[0];
  reconciled.uuid.clear();
  EXPECT_FALSE(client->acknowledge(reconciled));
}

TEST_F(SchedulerClientTest, ResubscribesWithTheSameIdWhenTheMasterGoesSilent) {
  DoubleConfig config;
  // Half a second: three missed intervals must be more than a loaded machine's pause of the
  // double's or the client's threads (at 0.1 s, 300 ms of scheduling delay looked like a
  // silent master).
  config.heartbeat_interval = 0.5;
  MasterDouble master(config);
  auto& client = make_client(master.endpoint());
  int subscribed = 0, disconnected = 0;
  client->on_subscribed = [&](const std::string&) { ++subscribed; };
  client->on_disconnected = [&] { ++disconnected; };
  client->start();
  ASSERT_TRUE(run_until([&] { return subscribed == 1; }));
  EXPECT_EQ(client->heartbeat_interval_seconds(), 0.5);
  // The client heartbeats while the master does.
  ASSERT_TRUE(run_until([&] { return master.snapshot().heartbeats >= 3; }));
  EXPECT_EQ(disconnected, 0);

  auto last_sent = master.silence_current_peers();
  ASSERT_TRUE(run_until([&] { return subscribed == 2; }));
  // The silence the client can notice began with the double's last message (which may have
  // left up to an interval before the silencing call), so that is what the delay counts from.
  auto silence = std::chrono::steady_clock::now() - last_sent;
  EXPECT_EQ(disconnected, 1);
  // Not before three missed intervals of 0.5 s. (A lower bound only: a loaded machine makes it
  // later, never sooner.)
  EXPECT_GE(silence, 1500ms);
  auto rec = master.snapshot();
  ASSERT_EQ(rec.subscribes.size(), 2u);
  EXPECT_EQ(rec.subscribes[1].second.framework_id, "fw-1");
  EXPECT_NE(rec.subscribes[1].first, rec.subscribes[0].first) << "a new socket";
  EXPECT_EQ(client->framework_id(), "fw-1");
  EXPECT_EQ(client->subscriptions(), 2u);
  // The new connection stays up: the client's own heartbeats count its intervals, and six of
  // them on the new connection are twice the three missed intervals that would drop it.
  int heartbeats = master.snapshot().heartbeats;
  ASSERT_TRUE(run_until([&] { return master.snapshot().heartbeats >= heartbeats + 6; }));
  EXPECT_EQ(disconnected, 1);
  EXPECT_TRUE(client->subscribed());
}

TEST_F(SchedulerClientTest, RetriesUnansweredSubscriptionsWithBackoff) {
  DoubleConfig config;
  config.ignore_subscribes = 2;
  MasterDouble master(config);
  sdk::SchedulerOptions options;
  // Long enough for the answered third attempt (a new connection, its handshake and the
  // double's reply) on a loaded machine: a late answer would count as a third failure.
  options.subscribe_timeout = 1s;
  options.backoff_initial = 50ms;
  auto& client = make_client(master.endpoint(), options);
  std::vector<std::string> failures;
  client->on_subscribe_failed = [&](const std::string& m) { failures.push_back(m); };
  client->start();
  ASSERT_TRUE(run_until([&] { return client->subscribed(); }));
  EXPECT_EQ(failures.size(), 2u);
  ASSERT_FALSE(failures.empty());
  EXPECT_NE(failures[0].find("no answer to 'scheduler.subscribe'"), std::string::npos)
      << failures[0];
  EXPECT_EQ(master.snapshot().subscribes.size(), 3u);
}

TEST_F(SchedulerClientTest, ARefusedSubscriptionIsFinal) {
  DoubleConfig config;
  config.refuse_subscribe = "role 'web' is not allowed";
  MasterDouble master(config);
  sdk::SchedulerOptions options;
  options.backoff_initial = 10ms;
  auto& client = make_client(master.endpoint(), options);
  std::string error;
  int errors = 0;
  client->on_error = [&](const std::string& m) {
    error = m;
    ++errors;
  };
  client->start();
  ASSERT_TRUE(run_until([&] { return !error.empty(); }));
  EXPECT_EQ(error, "subscription refused: role 'web' is not allowed");
  EXPECT_EQ(client->state(), SchedulerClient::State::kFailed);
  // A retry would be due 10 ms after the refusal on the client's own loop, whose timers run in
  // the order they are due: once this loop has counted thirty times that, it would have been
  // sent, on however slow a machine. (Only its trip to the double is not awaited.)
  ASSERT_FALSE(run_until([] { return false; }, 30 * options.backoff_initial));
  EXPECT_EQ(master.snapshot().subscribes.size(), 1u);
  EXPECT_EQ(errors, 1);
}

TEST_F(SchedulerClientTest, FindsTheMasterThroughTheLeader) {
  MasterDouble master(DoubleConfig{});
  // The leader plugin of this host, on the client's context and loop.
  sdk::Server leader(bus_, "leader");
  int asked = 0;
  leader.on<protocol::store::GetLeader>(
      [&](const sdk::Request& r, const protocol::store::GetLeader&) {
        protocol::store::Leader answer;
        // Not known at first: the client must ask again.
        answer.known = ++asked > 1;
        answer.master_id = "master-double";
        answer.endpoint = answer.known ? master.endpoint() : "";
        leader.reply(r, answer);
      });
  ASSERT_TRUE(leader.bind("inproc://test.leader").ok());
  sdk::SchedulerOptions options;
  options.leader_endpoint = "inproc://test.leader";
  options.backoff_initial = 20ms;
  auto& client = make_client("", options);
  client->start();
  ASSERT_TRUE(run_until([&] { return client->subscribed(); }));
  EXPECT_EQ(asked, 2);
  EXPECT_EQ(client->master_endpoint(), master.endpoint());
  client_.reset();  // before the leader server, on this loop
}

TEST_F(SchedulerClientTest, TeardownReachesTheMasterAndStops) {
  MasterDouble master(DoubleConfig{});
  auto& client = make_client(master.endpoint());
  client->start();
  ASSERT_TRUE(run_until([&] { return client->subscribed(); }));
  EXPECT_TRUE(client->suppress("web"));
  EXPECT_TRUE(client->reconcile());
  EXPECT_TRUE(client->teardown());
  EXPECT_EQ(client->state(), SchedulerClient::State::kStopped);
  EXPECT_FALSE(client->revive());
  ASSERT_TRUE(master.wait_until([](const DoubleRecord& r) { return r.teardowns.size() == 1; }));
  auto rec = master.snapshot();
  EXPECT_EQ(rec.teardowns[0].framework_id, "fw-1");
  EXPECT_EQ(rec.suppresses, 1);
  ASSERT_EQ(rec.reconciles.size(), 1u);
  EXPECT_TRUE(rec.reconciles[0].tasks.empty());
}

}  // namespace

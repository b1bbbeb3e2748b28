// sdk::MasterDetector and the clients that use it: a list whose first master is down, a standby
// that redirects to the leader, standbys that know no leader, and the scheme hook. The leader is
// the master double of the CLI tests, and a standby is that double after step_down(): it answers
// every request with master.not_leader. Both are real servers over tcp on loopback.
#include "tessera/sdk/master_detector.h"

#include <gtest/gtest.h>

#include <optional>

#include "cli/master_double.h"
#include "support/endpoints.h"
#include "support/loop.h"
#include "tessera/protocol/operator.h"
#include "tessera/sdk/scheduler.h"

namespace {

using namespace std::chrono_literals;
using namespace tessera;
using namespace tessera::testing;

TEST(MasterAddresses, AcceptHostPortTcpAndListsInOrderWithoutRepeats) {
  auto one = sdk::parse_master_addresses("10.0.0.1:5050");
  ASSERT_TRUE(one.ok()) << one.error().message;
  EXPECT_EQ(*one, std::vector<std::string>{"tcp://10.0.0.1:5050"});

  auto list = sdk::parse_master_addresses(" tcp://a:5050, b.example:5051 ,tcp://a:5050,[::1]:5052");
  ASSERT_TRUE(list.ok()) << list.error().message;
  EXPECT_EQ(*list,
            (std::vector<std::string>{"tcp://a:5050", "tcp://b.example:5051", "tcp://[::1]:5052"}));

  auto local = sdk::parse_master_addresses("ipc:///tmp/m.sock,inproc://m");
  ASSERT_TRUE(local.ok()) << local.error().message;
  EXPECT_EQ(*local, (std::vector<std::string>{"ipc:///tmp/m.sock", "inproc://m"}));
}

TEST(MasterAddresses, SayWhatIsExpected) {
  auto error = [](const std::string& text) {
    auto parsed = sdk::parse_master_addresses(text);
    EXPECT_FALSE(parsed.ok()) << text;
    return parsed.ok() ? std::string() : parsed.error().message;
  };
  EXPECT_EQ(error("http://m:5050"),
            "'http://m:5050' is an HTTP address, but masters are reached over ZeroMQ at their "
            "[master] endpoint: give HOST:PORT or tcp://HOST:PORT, or a comma-separated list of "
            "them such as tcp://10.0.0.1:5051,tcp://10.0.0.2:5051");
  EXPECT_NE(error("a:5050,HTTPS://m").find("'HTTPS://m' is an HTTP address"), std::string::npos);
  EXPECT_NE(error("m").find("'m' has no port: expected HOST:PORT or tcp://HOST:PORT"),
            std::string::npos);
  EXPECT_EQ(error("m:70000"),
            "'m:70000': port 70000 is out of range (1 to 65535): expected HOST:PORT or "
            "tcp://HOST:PORT, or a comma-separated list of them such as "
            "tcp://10.0.0.1:5051,tcp://10.0.0.2:5051");
  EXPECT_NE(error("tcp://m:0").find("'tcp://m:0': port 0 only picks a free port when binding"),
            std::string::npos);
  EXPECT_NE(error("m:50x").find("'m:50x': port '50x' is not a number"), std::string::npos);
  EXPECT_NE(error("::1:5050").find("host '::1' is not a host name or address"), std::string::npos);
  EXPECT_NE(error("ipc://").find("'ipc://' has no path"), std::string::npos);
  EXPECT_NE(error(":5050").find("has no host"), std::string::npos);
  EXPECT_NE(error("zk://zk1:2181/tessera").find("the scheme 'zk', which this program cannot use"),
            std::string::npos);
  EXPECT_NE(error(" , ").find("no master address given"), std::string::npos);
}

// A bus on this thread, and a way to run it until something holds.
class DetectorTest : public ::testing::Test {
 protected:
  DetectorTest() : context_(zmq_ctx_new()) { bus_ = sdk::Bus{context_, &loop_, {}, "test"}; }
  ~DetectorTest() override {
    call_.reset();
    client_.reset();
    detector_.reset();
    zmq_ctx_term(context_);
  }

  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds timeout = 10s) {
    return tessera::testing::run_until(loop_, done, timeout);
  }

  sdk::MasterDetector& detector(const std::string& masters, sdk::DetectorOptions options = {}) {
    auto made = sdk::make_master_detector(bus_, masters, options);
    EXPECT_TRUE(made.ok()) << made.error().message;
    detector_ = std::move(*made);
    return *detector_;
  }

  // One operator.get_state through MasterCall; the answer and who gave it.
  struct Answer {
    Result<Envelope> reply = make_error("none");
    std::string endpoint;
  };
  Answer ask(sdk::MasterDetector& detector, std::chrono::milliseconds attempt,
             std::chrono::milliseconds deadline) {
    std::optional<Answer> answer;
    call_ = std::make_unique<sdk::MasterCall>(bus_, detector);
    call_->start(protocol::operator_api::GetState{}, attempt, deadline,
                 [&](Result<Envelope> reply, const std::string& endpoint) {
                   answer.emplace(Answer{std::move(reply), endpoint});
                 });
    EXPECT_TRUE(run_until([&] { return answer.has_value(); }, deadline + 10s));
    return answer ? std::move(*answer) : Answer{};
  }

  std::unique_ptr<sdk::SchedulerClient>& scheduler(const std::string& masters,
                                                   sdk::SchedulerOptions options = {}) {
    sdk::FrameworkInfo info;
    info.name = "detector-test";
    options.master = masters;
    options.backoff_initial = 50ms;
    client_ = std::make_unique<sdk::SchedulerClient>(bus_, info, options);
    return client_;
  }

  void* context_;
  sdk::EventLoop loop_;
  sdk::Bus bus_;
  std::unique_ptr<sdk::MasterDetector> detector_;
  std::unique_ptr<sdk::MasterCall> call_;
  std::unique_ptr<sdk::SchedulerClient> client_;
};

TEST_F(DetectorTest, AListWhoseFirstMasterIsDownReachesTheSecond) {
  DoubleConfig config;
  config.state.master_id = "the-leader";
  MasterDouble leader(config);
  std::string down = unused_tcp_endpoint();
  auto& masters = detector(down + "," + leader.endpoint());
  EXPECT_EQ(masters.describe(), "tcp://" + down.substr(6) + "," + leader.endpoint());
  EXPECT_EQ(masters.candidates(), 2u);

  // Each attempt may take 2 s: an answer later than its attempt's timeout (a loaded machine)
  // would be asked again, and counted twice below.
  auto answer = ask(masters, 2s, 10s);
  ASSERT_TRUE(answer.reply.ok()) << answer.reply.error().message;
  EXPECT_EQ(answer.endpoint, leader.endpoint());
  auto state = answer.reply->body<protocol::operator_api::State>();
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->master_id, "the-leader");

  // The leader found is remembered: the next call goes straight to it.
  auto again = ask(masters, 2s, 10s);
  ASSERT_TRUE(again.reply.ok());
  EXPECT_EQ(again.endpoint, leader.endpoint());
  EXPECT_EQ(leader.snapshot().state_requests, 2);
}

TEST_F(DetectorTest, AStandbyRedirectsToTheLeaderAtOnce) {
  MasterDouble leader(DoubleConfig{});
  MasterDouble standby(DoubleConfig{});
  standby.step_down(leader.endpoint());
  auto& masters = detector(standby.endpoint());
  // An attempt timeout longer than the test may take: the redirect must not wait for it, and
  // the only problem met on the way is the standby's answer, not a timeout.
  auto answer = ask(masters, 20s, 30s);
  ASSERT_TRUE(answer.reply.ok()) << answer.reply.error().message;
  EXPECT_EQ(call_->last_problem(), "master at " + standby.endpoint() +
                                       ": not the leader; the leader is at " + leader.endpoint());
  EXPECT_EQ(answer.endpoint, leader.endpoint());
  EXPECT_TRUE(answer.reply->is<protocol::operator_api::State>()) << answer.reply->type();
  EXPECT_EQ(standby.snapshot().not_leader_answers, 1);
  EXPECT_EQ(leader.snapshot().state_requests, 1);
}

TEST_F(DetectorTest, StandbysThatKnowNoLeaderGiveAClearErrorAtTheDeadline) {
  MasterDouble first(DoubleConfig{});
  MasterDouble second(DoubleConfig{});
  first.step_down("");
  second.step_down("");
  auto& masters = detector(first.endpoint() + "," + second.endpoint());
  auto answer = ask(masters, 300ms, 1500ms);
  ASSERT_FALSE(answer.reply.ok());
  const std::string& message = answer.reply.error().message;
  EXPECT_EQ(
      message.rfind(
          "no leading master at " + first.endpoint() + "," + second.endpoint() + ": master at ", 0),
      0u)
      << message;
  EXPECT_NE(message.find(": not the leader; the leader is not known yet"), std::string::npos)
      << message;
  // Both were asked, again and again after a pause, not in a tight loop.
  int first_answers = first.snapshot().not_leader_answers;
  int second_answers = second.snapshot().not_leader_answers;
  EXPECT_GE(first_answers, 1);
  EXPECT_GE(second_answers, 1);
  EXPECT_LT(first_answers + second_answers, 20);
}

TEST_F(DetectorTest, StandbysPointingAtEachOtherAreNotFollowedForever) {
  MasterDouble first(DoubleConfig{});
  MasterDouble second(DoubleConfig{});
  first.step_down(second.endpoint());
  second.step_down(first.endpoint());
  auto& masters = detector(first.endpoint());
  auto answer = ask(masters, 300ms, 1500ms);
  ASSERT_FALSE(answer.reply.ok());
  EXPECT_NE(answer.reply.error().message.find("no leading master at " + first.endpoint()),
            std::string::npos)
      << answer.reply.error().message;
  // A few redirects per round, a pause between rounds.
  EXPECT_LT(first.snapshot().not_leader_answers + second.snapshot().not_leader_answers, 40);
}

TEST_F(DetectorTest, NoMasterAnsweringIsNoAnswer) {
  auto& masters = detector(unused_tcp_endpoint());
  auto answer = ask(masters, 200ms, 600ms);
  ASSERT_FALSE(answer.reply.ok());
  EXPECT_EQ(answer.reply.error().message.rfind("no answer from master at tcp://127.0.0.1:", 0), 0u)
      << answer.reply.error().message;
}

TEST_F(DetectorTest, SchedulerClientSkipsADownMasterAndFollowsAStandby) {
  MasterDouble leader(DoubleConfig{});
  MasterDouble standby(DoubleConfig{});
  standby.step_down(leader.endpoint());
  sdk::SchedulerOptions options;
  // The down master's attempt ends at this timeout; the standby's and the leader's must not
  // (each on a new connection, on a machine that may be loaded).
  options.subscribe_timeout = 2s;
  std::vector<std::string> failures;
  auto& client = scheduler(unused_tcp_endpoint() + "," + standby.endpoint(), options);
  client->on_subscribe_failed = [&](const std::string& m) { failures.push_back(m); };
  client->start();
  ASSERT_TRUE(run_until([&] { return client->subscribed(); }));
  EXPECT_EQ(client->master_endpoint(), leader.endpoint());
  EXPECT_EQ(standby.snapshot().not_leader_answers, 1);
  // Only the down master cost a failed attempt; the redirect did not.
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_NE(failures[0].find("no answer to 'scheduler.subscribe'"), std::string::npos)
      << failures[0];
  ASSERT_EQ(leader.snapshot().subscribes.size(), 1u);
}

TEST_F(DetectorTest, ASchedulerClientTurnedAwayByItsMasterResubscribesAtTheLeader) {
  // A master that loses the leadership answers the client's next heartbeat with not_leader:
  // the client goes to the leader it names at once, with the same framework id.
  DoubleConfig config;
  config.heartbeat_interval = 0.1;
  MasterDouble old_leader(config);
  MasterDouble new_leader(config);
  auto& client = scheduler(old_leader.endpoint());
  int disconnected = 0;
  client->on_disconnected = [&] { ++disconnected; };
  client->start();
  ASSERT_TRUE(run_until([&] { return client->subscribed(); }));
  std::string framework_id = client->framework_id();

  old_leader.step_down(new_leader.endpoint());
  ASSERT_TRUE(run_until([&] { return !new_leader.snapshot().subscribes.empty(); }));
  ASSERT_TRUE(run_until([&] { return client->subscribed(); }));
  EXPECT_EQ(client->master_endpoint(), new_leader.endpoint());
  EXPECT_EQ(new_leader.snapshot().subscribes[0].second.framework_id, framework_id);
  EXPECT_EQ(disconnected, 1);
  EXPECT_EQ(old_leader.snapshot().subscribes.size(), 1u);
}

TEST_F(DetectorTest, OtherSchemesGoThroughTheHook) {
  MasterDouble leader(DoubleConfig{});
  sdk::DetectorOptions options;
  std::string asked;
  options.schemes["zk"] =
      [&](sdk::Bus& bus,
          const std::string& address) -> Result<std::unique_ptr<sdk::MasterDetector>> {
    asked = address;
    return std::unique_ptr<sdk::MasterDetector>(
        std::make_unique<sdk::MasterList>(bus, std::vector<std::string>{leader.endpoint()}));
  };
  auto& masters = detector("zk://127.0.0.1:2181/tessera", options);
  EXPECT_EQ(asked, "zk://127.0.0.1:2181/tessera");
  auto answer = ask(masters, 2s, 5s);
  ASSERT_TRUE(answer.reply.ok()) << answer.reply.error().message;
  EXPECT_EQ(answer.endpoint, leader.endpoint());

  auto unknown = sdk::make_master_detector(bus_, "zk://127.0.0.1:2181/tessera");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message.find("the scheme 'zk', which this program cannot use"),
            std::string::npos);
}

TEST_F(DetectorTest, TheLeaderPluginDetectorFollowsLeaderEvents) {
  // The leader plugin of this host, played on the test's own loop.
  sdk::Server plugin(bus_, "leader");
  sdk::Publisher events(bus_, "leader.events");
  protocol::store::Leader current;
  current.known = true;
  current.endpoint = "tcp://10.0.0.1:5050";
  plugin.on<protocol::store::GetLeader>(
      [&](const sdk::Request& r, const protocol::store::GetLeader&) { plugin.reply(r, current); });
  ASSERT_TRUE(plugin.bind("inproc://test.leader").ok());
  ASSERT_TRUE(events.bind("inproc://test.leader.events").ok());

  sdk::DetectorOptions options;
  options.leader_endpoint = "inproc://test.leader";
  auto& leader = detector("", options);
  std::vector<std::string> moves;
  leader.on_change = [&](const std::string& endpoint) { moves.push_back(endpoint); };
  std::optional<Result<std::string>> found;
  leader.next([&](Result<std::string> endpoint) { found.emplace(std::move(endpoint)); });
  ASSERT_TRUE(run_until([&] { return found.has_value(); }));
  ASSERT_TRUE(found->ok()) << found->error().message;
  EXPECT_EQ(**found, "tcp://10.0.0.1:5050");

  // Published until the subscription has taken (publish/subscribe drops what comes before).
  current.endpoint = "tcp://10.0.0.2:5050";
  current.epoch = 2;
  ASSERT_TRUE(run_until([&] {
    events.publish(current);
    return !moves.empty();
  }));
  EXPECT_EQ(moves.front(), "tcp://10.0.0.2:5050");
  found.reset();
  leader.next([&](Result<std::string> endpoint) { found.emplace(std::move(endpoint)); });
  ASSERT_TRUE(run_until([&] { return found.has_value(); }));
  EXPECT_EQ(**found, "tcp://10.0.0.2:5050");
  detector_.reset();  // before the plugin's sockets, on this loop
}

}  // namespace

// A master that does not lead answers everything with master.not_leader naming the leader, and
// clients follow it. Two real masters: the leader (support/cluster.h, with leader_standalone)
// and a standby whose leader plugin (fixture_leader_elsewhere) says the first one leads.
#include <gtest/gtest.h>

#include <regex>

#include "peers.h"
#include "support/cluster.h"
#include "support/loop.h"
#include "tessera/protocol/master.h"
#include "tessera/sdk/connection.h"
#include "tessera/sdk/master_detector.h"

namespace {

using namespace std::chrono_literals;
using tessera::Envelope;
using tessera::Result;
using tessera::testing::Cluster;
using tessera::testing::Peers;
using tessera::testing::Process;
using tessera::testing::TempDir;
namespace agent_msg = tessera::protocol::agent;
namespace scheduler = tessera::protocol::scheduler;
namespace op = tessera::protocol::operator_api;
namespace master = tessera::protocol::master;
namespace sdk = tessera::sdk;

class MasterStandby : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(cluster_.start_master());
    std::string text =
        "[node]\nname = \"standby\"\nroles = [\"master\"]\nleader = \"fixture_leader_elsewhere\"\n"
        "work_dir = \"" +
        (dir_ / "standby").string() + "\"\nplugin_dirs = [\"" TESSERA_PLUGIN_DIR "\", \"" +
        TESSERA_FIXTURE_PLUGIN_DIR + "\"]\nendpoints_file = \"" +
        (dir_ / "standby.endpoints").string() +
        "\"\n[master]\nallocator = \"allocator_drf\"\nendpoint = \"tcp://127.0.0.1:0\"\n"
        "[plugins.fixture_leader_elsewhere]\nleader = \"" +
        cluster_.endpoint() + "\"\n";
    standby_ = std::make_unique<Process>(
        std::vector<std::string>{TESSERA_HOST_BIN, dir_.write("standby.toml", text).string()},
        dir_ / "standby.log");
    ASSERT_TRUE(standby_->wait_for("standing by", 20s)) << standby_->output();
    std::smatch m;
    std::string endpoints = tessera::testing::read_file(dir_ / "standby.endpoints");
    std::regex line("master\\.endpoint = \"([^\"]+)\"");
    ASSERT_TRUE(std::regex_search(endpoints, m, line)) << endpoints;
    standby_endpoint_ = m[1];
  }
  void TearDown() override {
    if (standby_) standby_->stop(10s);
  }

  // The not_leader answer in `reply`, checked to name the leading master.
  void expect_redirect(const Result<Envelope>& reply, const char* what) {
    ASSERT_TRUE(reply.ok()) << what << ": " << reply.error().message << standby_->output();
    ASSERT_TRUE(reply->is<master::NotLeader>()) << what << ": answered " << reply->type();
    auto body = reply->body<master::NotLeader>();
    ASSERT_TRUE(body.ok());
    EXPECT_EQ(body->leader, cluster_.endpoint()) << what;
    EXPECT_EQ(body->leader_id, "elsewhere") << what;
    EXPECT_FALSE(body->master_id.empty()) << what;
    EXPECT_EQ(body->message, master::not_leader_message(cluster_.endpoint())) << what;
  }

  TempDir dir_;
  Cluster cluster_{dir_};
  std::unique_ptr<Process> standby_;
  std::string standby_endpoint_;
  Peers peers_;
};

TEST_F(MasterStandby, EveryRequestIsAnsweredWithTheLeader) {
  sdk::Client& framework = peers_.connect(standby_endpoint_, "framework");
  scheduler::Subscribe subscribe;
  subscribe.name = "lost";
  subscribe.roles = {"*"};
  expect_redirect(peers_.call(framework, subscribe), "scheduler.subscribe");
  expect_redirect(peers_.call(framework, scheduler::Reconcile{"some-framework", {}}),
                  "scheduler.reconcile");

  sdk::Client& agent = peers_.connect(standby_endpoint_, "agent");
  agent_msg::Register registration;
  registration.hostname = "h1";
  registration.resources.scalars["cpus"] = 1;
  expect_redirect(peers_.call(agent, registration), "agent.register");

  sdk::Client& operator_client = peers_.connect(standby_endpoint_, "operator");
  expect_redirect(peers_.call(operator_client, op::GetState{}), "operator.get_state");
  op::UpdateRole update;
  update.role = "web";
  update.weight = 2;
  expect_redirect(peers_.call(operator_client, update), "operator.update_role");

  // A one-way message gets its answer too; a client meets it among pushed messages (here on a
  // DealerConnection, as the SchedulerClient's).
  void* context = zmq_ctx_new();
  {
    sdk::EventLoop loop;
    sdk::Bus bus{context, &loop, {}, "test-framework"};
    sdk::DealerConnection connection(bus, "framework");
    std::vector<master::NotLeader> pushed;
    connection.on_push = [&](Envelope& message) {
      if (auto body = message.body<master::NotLeader>(); message.is<master::NotLeader>() && body) {
        pushed.push_back(*body);
      }
    };
    ASSERT_TRUE(connection.open(standby_endpoint_).ok());
    connection.send(scheduler::Heartbeat{});
    ASSERT_TRUE(tessera::testing::run_until(
        loop, [&] { return !pushed.empty(); }, 10s));
    EXPECT_EQ(pushed.front().leader, cluster_.endpoint());
  }
  zmq_ctx_term(context);

  // Nothing the standby was sent reached its allocator or changed its view.
  EXPECT_EQ(standby_->count("registered agent"), 0u);
  EXPECT_EQ(standby_->count("subscribed framework"), 0u);
}

TEST_F(MasterStandby, AClientThatReachesTheStandbyFollowsItToTheLeader) {
  // The CLI's way: a list of masters, the standby first; its answer sends the call on.
  void* context = zmq_ctx_new();
  {
    sdk::EventLoop loop;
    sdk::Bus bus{context, &loop, {}, "test-cli"};
    auto detector = sdk::make_master_detector(bus, standby_endpoint_ + "," + cluster_.endpoint());
    ASSERT_TRUE(detector.ok()) << detector.error().message;
    sdk::MasterCall call(bus, **detector);
    std::optional<Result<Envelope>> answer;
    std::string answered_by;
    call.start(op::GetState{}, 5s, 30s, [&](Result<Envelope> reply, const std::string& endpoint) {
      answer = std::move(reply);
      answered_by = endpoint;
      loop.request_stop();
    });
    loop.run();
    ASSERT_TRUE(answer && answer->ok()) << call.last_problem();
    ASSERT_TRUE((*answer)->is<op::State>()) << (*answer)->type();
    EXPECT_EQ(answered_by, cluster_.endpoint());
    EXPECT_EQ((*answer)->body<op::State>()->endpoint, cluster_.endpoint());
  }
  zmq_ctx_term(context);
}

TEST_F(MasterStandby, AnAgentPointedAtTheStandbyRegistersWithTheLeader) {
  std::string text =
      "[node]\nname = \"agent0\"\nroles = [\"agent\"]\nleader = \"leader_standalone\"\n"
      "work_dir = \"" +
      (dir_ / "agent0").string() +
      "\"\nplugin_dirs = [\"" TESSERA_PLUGIN_DIR
      "\"]\n[agent]\nisolators = [\"isolator_posix\"]\nhostname = \"agent0\"\n"
      "resources = \"cpus:1;mem:64\"\n[plugins.leader_standalone]\nmaster = \"" +
      standby_endpoint_ + "\"\n[plugins.isolator_posix]\nkill_on_stop = true\n";
  Process agent({TESSERA_HOST_BIN, dir_.write("agent0.toml", text).string()}, dir_ / "agent0.log");
  ASSERT_TRUE(cluster_.master().wait_for("registered agent", 30s))
      << agent.output() << "\nstandby:\n"
      << standby_->output();
  ASSERT_TRUE(agent.wait_for("agent: registered as '", 10s)) << agent.output();
  EXPECT_EQ(standby_->count("registered agent"), 0u);
  agent.stop(10s);
}

}  // namespace

// sdk::Leadership: against the real leader_standalone plugin (a master node, an agent-only
// node), and against a scripted leader plugin driven by a ManualClock, for what the real one
// cannot be made to do on cue (an event lost before the subscription, a slow stale answer).
#include "tessera/sdk/leadership.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/loop.h"
#include "support/node.h"

namespace {

using namespace std::chrono_literals;
namespace store = tessera::protocol::store;
namespace sdk = tessera::sdk;
using tessera::testing::InProcessNode;
using tessera::testing::TempDir;

// What the helper told its plugin, in order: "elected N", "deposed".
struct Journal {
  std::vector<std::string> events;
  void follow(sdk::Leadership& leadership) {
    leadership.on_elected = [this](uint64_t epoch) {
      events.push_back("elected " + std::to_string(epoch));
    };
    leadership.on_deposed = [this] { events.push_back("deposed"); };
  }
};

class LeadershipTest : public ::testing::Test {
 protected:
  ~LeadershipTest() override {
    helpers_.clear();
    servers_.clear();
    publishers_.clear();
    node_.reset();
    if (own_context_ != nullptr) zmq_ctx_term(own_context_);
  }

  void start_node(const std::string& body) {
    node_ = std::make_unique<InProcessNode>(dir_, body);
    auto started = node_->start();
    ASSERT_TRUE(started.ok()) << started.error().message;
    bus_ = sdk::Bus{node_->zmq_context(), &loop_, {}, "framework_test"};
  }

  sdk::Leadership& helper(sdk::Clock& clock, sdk::LeadershipOptions options = {}) {
    helpers_.push_back(std::make_unique<sdk::Leadership>(bus_, clock, options));
    return *helpers_.back();
  }

  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds timeout = 10s) {
    return tessera::testing::run_until(loop_, done, timeout);
  }

  TempDir dir_;
  std::unique_ptr<InProcessNode> node_;
  void* own_context_ = nullptr;
  sdk::EventLoop loop_;
  sdk::SystemClock clock_{loop_};
  sdk::Bus bus_;
  std::vector<std::unique_ptr<sdk::Server>> servers_;
  std::vector<std::unique_ptr<sdk::Publisher>> publishers_;
  std::vector<std::unique_ptr<sdk::Leadership>> helpers_;
};

TEST_F(LeadershipTest, APluginLearnsWhenItsHostStartsAndStopsLeading) {
  start_node("roles = [\"master\"]\nleader = \"leader_standalone\"\n");
  sdk::Leadership& framework = helper(clock_);
  Journal journal;
  journal.follow(framework);
  ASSERT_TRUE(framework.start().ok());
  // No master has campaigned: nobody leads.
  ASSERT_TRUE(run_until([&] { return framework.answers() >= 1; }));
  EXPECT_FALSE(framework.leading());
  EXPECT_FALSE(framework.leader().known);
  EXPECT_TRUE(journal.events.empty());

  // The master role campaigns through a helper of its own and is elected in epoch 1.
  sdk::Leadership& master = helper(clock_);
  Journal master_journal;
  master_journal.follow(master);
  ASSERT_TRUE(master.campaign("master-1", "tcp://127.0.0.1:5050").ok());
  ASSERT_TRUE(run_until([&] { return framework.leading() && master.leading(); }));
  EXPECT_EQ(master_journal.events, std::vector<std::string>{"elected 1"});
  EXPECT_EQ(journal.events, std::vector<std::string>{"elected 1"});
  EXPECT_EQ(framework.epoch(), 1u);
  EXPECT_EQ(framework.leader().master_id, "master-1");
  EXPECT_EQ(framework.leader().endpoint, "tcp://127.0.0.1:5050");

  // Another master of this host is elected: a new term, so the plugin is told it lost the old
  // one before it is told it leads again.
  ASSERT_TRUE(master.campaign("master-2", "tcp://127.0.0.1:5051").ok());
  ASSERT_TRUE(run_until([&] { return framework.epoch() == 2; }));
  EXPECT_EQ(journal.events, (std::vector<std::string>{"elected 1", "deposed", "elected 2"}));
  EXPECT_EQ(framework.leader().master_id, "master-2");

  // Stopped, it hears nothing more: a helper still following sees the event of the next
  // election, published to both at once, and the stopped one has said nothing.
  framework.stop();
  EXPECT_FALSE(framework.leading());
  sdk::Leadership& follower = helper(clock_);
  ASSERT_TRUE(follower.start().ok());
  ASSERT_TRUE(run_until([&] { return follower.epoch() == 2; }));
  ASSERT_TRUE(master.campaign("master-3", "tcp://127.0.0.1:5052").ok());
  ASSERT_TRUE(run_until([&] { return master.epoch() == 3 && follower.epoch() == 3; }));
  EXPECT_EQ(journal.events.size(), 3u);
}

TEST_F(LeadershipTest, AnAgentOnlyNodeKnowsItsMasterAndNeverLeads) {
  start_node(
      "roles = [\"agent\"]\nleader = \"leader_standalone\"\n[plugins.leader_standalone]\n"
      "master = \"tcp://10.0.0.1:5050\"\n");
  sdk::Leadership& framework = helper(clock_);
  Journal journal;
  journal.follow(framework);
  std::vector<store::Leader> seen;
  framework.on_leader = [&](const store::Leader& leader) { seen.push_back(leader); };
  ASSERT_TRUE(framework.start().ok());
  ASSERT_TRUE(run_until([&] { return framework.leader().known; }));
  EXPECT_EQ(framework.leader().endpoint, "tcp://10.0.0.1:5050");
  // Leading would have been reported when this view was taken.
  EXPECT_FALSE(framework.leading());
  EXPECT_TRUE(journal.events.empty());
  EXPECT_EQ(seen.size(), 1u);
}

// A leader plugin whose answers the test writes, on the test's own loop and context.
class ScriptedLeaderTest : public LeadershipTest {
 protected:
  void SetUp() override {
    own_context_ = zmq_ctx_new();
    bus_ = sdk::Bus{own_context_, &loop_, {}, "framework_test"};
    servers_.push_back(std::make_unique<sdk::Server>(bus_, "leader"));
    plugin_ = servers_.back().get();
    plugin_->on<store::GetLeader>([this](const sdk::Request& r, const store::GetLeader&) {
      ++asked_;
      plugin_->reply(r, answer_);
    });
    ASSERT_TRUE(plugin_->bind("inproc://scripted.leader").ok());
    publishers_.push_back(std::make_unique<sdk::Publisher>(bus_, "events"));
    ASSERT_TRUE(publishers_.back()->bind("inproc://scripted.leader.events").ok());
    options_.leader_endpoint = "inproc://scripted.leader";
    options_.events_endpoint = "inproc://scripted.leader.events";
    options_.resync_interval = 30s;
  }
  // The helpers use manual_, which goes before the base class's members.
  void TearDown() override { helpers_.clear(); }

  static store::Leader leading_here(uint64_t epoch) {
    store::Leader leader;
    leader.known = true;
    leader.master_id = "m" + std::to_string(epoch);
    leader.endpoint = "tcp://127.0.0.1:5050";
    leader.this_node = true;
    leader.epoch = epoch;
    return leader;
  }

  sdk::Server* plugin_ = nullptr;
  store::Leader answer_;
  int asked_ = 0;
  sdk::LeadershipOptions options_;
  sdk::ManualClock manual_;
};

TEST_F(ScriptedLeaderTest, AnElectionWhoseEventWasLostIsFoundAtTheNextResync) {
  sdk::Leadership& framework = helper(manual_, options_);
  Journal journal;
  journal.follow(framework);
  ASSERT_TRUE(framework.start().ok());
  ASSERT_TRUE(run_until([&] { return framework.answers() == 1; }));
  EXPECT_FALSE(framework.leader().known);

  // Elected, but the event never reaches the helper (nothing is published): only the resync,
  // 30 s later on the manual clock, can tell. No real time passes for it.
  answer_ = leading_here(3);
  EXPECT_FALSE(framework.leading());
  manual_.advance(30s);
  ASSERT_TRUE(run_until([&] { return framework.leading(); }));
  EXPECT_EQ(asked_, 2);
  EXPECT_EQ(framework.epoch(), 3u);
  EXPECT_EQ(journal.events, std::vector<std::string>{"elected 3"});
}

TEST_F(ScriptedLeaderTest, AnAnswerOlderThanAnEventIsIgnored) {
  sdk::Leadership& framework = helper(manual_, options_);
  Journal journal;
  journal.follow(framework);
  answer_ = leading_here(5);
  ASSERT_TRUE(framework.start().ok());
  ASSERT_TRUE(run_until([&] { return framework.leading(); }));

  // A slow answer from before epoch 5 (not leading, epoch 4) arrives after it: ignored.
  store::Leader stale;
  stale.known = true;
  stale.master_id = "elsewhere";
  stale.endpoint = "tcp://10.0.0.9:5050";
  stale.epoch = 4;
  answer_ = stale;
  manual_.advance(30s);
  ASSERT_TRUE(run_until([&] { return framework.answers() == 2; }));
  EXPECT_TRUE(framework.leading());
  EXPECT_EQ(journal.events, std::vector<std::string>{"elected 5"});

  // A newer one that is not this host deposes it.
  stale.epoch = 6;
  answer_ = stale;
  manual_.advance(30s);
  ASSERT_TRUE(run_until([&] { return !framework.leading(); }));
  EXPECT_EQ(journal.events, (std::vector<std::string>{"elected 5", "deposed"}));
  EXPECT_EQ(framework.epoch(), 5u);  // the term it last led in
  EXPECT_EQ(framework.leader().endpoint, "tcp://10.0.0.9:5050");
}

}  // namespace

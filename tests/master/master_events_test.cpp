// The master's event stream (protocol/master_events.h): a subscriber in the master's process
// sees a task's whole life (launched, running, killed, removed), and the offer it came from, in
// order and without gaps. A node with the master and agent roles runs in the test process
// (support/node.h), so that the stream's inproc:// endpoint is reachable; the framework speaks
// to it over tcp (peers.h).
#include <gtest/gtest.h>

#include <regex>

#include "peers.h"
#include "support/node.h"
#include "tessera/protocol/master_events.h"

namespace {

using namespace std::chrono_literals;
using tessera::Envelope;
using tessera::testing::InProcessNode;
using tessera::testing::Peers;
using tessera::testing::RawFramework;
using tessera::testing::TempDir;
namespace events = tessera::protocol::master_events;
namespace scheduler = tessera::protocol::scheduler;
namespace state = tessera::protocol::state;
namespace sdk = tessera::sdk;

// One event as the test saw it: its type, sequence number and what it says about the task.
struct Seen {
  std::string type;
  uint64_t sequence = 0;
  std::string task_id;
  std::string state;
  std::string offer_id;
  std::string why;
};

TEST(MasterEvents, ASubscriberSeesATasksWholeLife) {
  TempDir dir;
  InProcessNode node(dir,
                     "roles = [\"master\", \"agent\"]\nleader = \"leader_standalone\"\n"
                     "endpoints_file = \"" +
                         (dir / "endpoints").string() +
                         "\"\n[master]\nallocator = \"allocator_drf\"\n"
                         "endpoint = \"tcp://127.0.0.1:0\"\n[agent]\n"
                         "isolators = [\"isolator_posix\"]\nresources = \"cpus:1;mem:64\"\n"
                         "[plugins.isolator_posix]\nkill_on_stop = true\n",
                     "node", true);
  auto started = node.start();
  ASSERT_TRUE(started.ok()) << started.error().message;
  std::smatch m;
  std::string endpoints = tessera::testing::read_file(dir / "endpoints");
  ASSERT_TRUE(std::regex_search(endpoints, m, std::regex("master\\.endpoint = \"([^\"]+)\"")))
      << endpoints;
  std::string endpoint = m[1];

  Peers peers;
  sdk::Subscriber subscriber(peers.bus(node.zmq_context(), "test-events"), "test-events");
  std::vector<Seen> seen;
  auto record = [&](const Envelope& e, Seen s) {
    s.type = e.type();
    s.sequence = e.header().sequence;
    seen.push_back(std::move(s));
  };
  auto task_event = [&](const Envelope& e, const tessera::protocol::operator_api::TaskState& t) {
    record(e, Seen{"", 0, t.task_id, t.state, "", ""});
  };
  subscriber.subscribe<events::TaskAdded>(
      [&](const Envelope& e, const events::TaskAdded& ev) { task_event(e, ev.task); });
  subscriber.subscribe<events::TaskUpdated>(
      [&](const Envelope& e, const events::TaskUpdated& ev) { task_event(e, ev.task); });
  subscriber.subscribe<events::TaskRemoved>(
      [&](const Envelope& e, const events::TaskRemoved& ev) { task_event(e, ev.task); });
  subscriber.subscribe<events::OfferMade>([&](const Envelope& e, const events::OfferMade& ev) {
    record(e, Seen{"", 0, "", "", ev.offer.offer_id, ""});
  });
  subscriber.subscribe<events::OfferRescinded>(
      [&](const Envelope& e, const events::OfferRescinded& ev) {
        record(e, Seen{"", 0, "", "", ev.offer_id, ev.why});
      });
  subscriber.subscribe<events::FrameworkAdded>(
      [&](const Envelope& e, const events::FrameworkAdded&) { record(e, Seen{}); });
  subscriber.subscribe<events::FrameworkRemoved>(
      [&](const Envelope& e, const events::FrameworkRemoved&) { record(e, Seen{}); });
  subscriber.subscribe<events::AgentAdded>(
      [&](const Envelope& e, const events::AgentAdded&) { record(e, Seen{}); });
  subscriber.subscribe<events::AgentRemoved>(
      [&](const Envelope& e, const events::AgentRemoved&) { record(e, Seen{}); });
  ASSERT_TRUE(subscriber.connect(events::kEndpoint).ok());

  RawFramework framework(peers, endpoint, "events-test");
  scheduler::Subscribe subscribe;
  subscribe.name = "events-test";
  subscribe.roles = {"*"};
  ASSERT_EQ(framework.subscribe(subscribe), "");
  auto offer = framework.next_offer(30s);
  ASSERT_TRUE(offer);
  // A task that runs until it is killed, so that it is seen running (a task that ends at once
  // may be reported finished before the master hears it run: the state follows the agent's
  // latest).
  framework.accept({offer->offer_id}, {tessera::testing::task("t1", "sleep 60")});
  auto seen_in = [&](const char* type, const char* task_state) {
    return std::any_of(seen.begin(), seen.end(), [&](const Seen& s) {
      return s.type == type && s.task_id == "t1" && s.state == task_state;
    });
  };
  ASSERT_TRUE(
      peers.run_until([&] { return seen_in(events::TaskUpdated::kType, state::kRunning); }, 30s))
      << "updates: " << framework.updates.size();
  framework.kill("t1");
  // Its end acknowledged (the framework acknowledges every update), the task is removed.
  ASSERT_TRUE(
      peers.run_until([&] { return seen_in(events::TaskRemoved::kType, state::kKilled); }, 30s))
      << "updates: " << framework.updates.size();

  // The framework, the offer, then the task's states in order, ending removed.
  std::vector<std::string> life;
  bool framework_added = false;
  bool offer_made = false;
  std::string offer_end;
  for (const Seen& s : seen) {
    if (s.type == events::FrameworkAdded::kType) framework_added = true;
    if (s.type == events::OfferMade::kType && s.offer_id == offer->offer_id) offer_made = true;
    if (s.type == events::OfferRescinded::kType && s.offer_id == offer->offer_id) {
      offer_end = s.why;
    }
    if (s.task_id != "t1") continue;
    std::string step = s.type.substr(std::string(events::kPrefix).size()) + " " + s.state;
    if (life.empty() || life.back() != step) life.push_back(step);
  }
  EXPECT_TRUE(framework_added);
  EXPECT_TRUE(offer_made);
  EXPECT_EQ(offer_end, events::offer_end::kAccepted);
  ASSERT_GE(life.size(), 3u);
  EXPECT_EQ(life.front(), std::string("task_added ") + state::kStaging);
  EXPECT_NE(std::find(life.begin(), life.end(), std::string("task_updated ") + state::kRunning),
            life.end())
      << ::testing::PrintToString(life);
  EXPECT_EQ(life[life.size() - 2], std::string("task_updated ") + state::kKilled)
      << ::testing::PrintToString(life);
  EXPECT_EQ(life.back(), std::string("task_removed ") + state::kKilled);
  // Every event since the subscription took, none lost: the sequence numbers follow each other.
  for (size_t i = 1; i < seen.size(); ++i) {
    EXPECT_EQ(seen[i].sequence, seen[i - 1].sequence + 1) << seen[i].type;
  }
}

}  // namespace

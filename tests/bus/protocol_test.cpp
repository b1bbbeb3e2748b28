// The cluster protocol's value types: resource arithmetic and wire round trips.
#include <gtest/gtest.h>

#include "tessera/message.h"
#include "tessera/protocol/agent.h"
#include "tessera/protocol/isolator.h"
#include "tessera/protocol/scheduler.h"
#include "tessera/protocol/store.h"

namespace {

using tessera::protocol::Range;
using tessera::protocol::Resources;

Resources make(double cpus, double mem, std::vector<Range> ports = {}) {
  Resources r;
  r.scalars["cpus"] = cpus;
  r.scalars["mem"] = mem;
  if (!ports.empty()) r.ranges["ports"] = ports;
  return r;
}

TEST(Resources, ContainsUsesFixedPointAndRanges) {
  Resources agent = make(0.3, 1024, {{31000, 31010}});
  EXPECT_TRUE(agent.contains(make(0.1 + 0.2, 1024)));  // 0.30000000000000004 fits in 0.3
  EXPECT_FALSE(agent.contains(make(0.301, 1)));
  EXPECT_TRUE(agent.contains(make(0.1, 1, {{31000, 31000}, {31005, 31010}})));
  EXPECT_FALSE(agent.contains(make(0.1, 1, {{31010, 31011}})));
  Resources gpu;
  gpu.scalars["gpus"] = 1;
  EXPECT_FALSE(agent.contains(gpu));
}

TEST(Resources, AddAndSubtractMergeAndSplitRanges) {
  Resources total = make(4, 4096, {{31000, 31099}});
  Resources used = make(1.5, 1000, {{31010, 31019}, {31050, 31050}});
  Resources left = total - used;
  EXPECT_DOUBLE_EQ(left.scalar("cpus"), 2.5);
  EXPECT_DOUBLE_EQ(left.scalar("mem"), 3096);
  EXPECT_EQ(left.ranges["ports"],
            (std::vector<Range>{{31000, 31009}, {31020, 31049}, {31051, 31099}}));
  Resources back = left + used;
  EXPECT_EQ(back.ranges["ports"], (std::vector<Range>{{31000, 31099}}));
  EXPECT_DOUBLE_EQ(back.scalar("cpus"), 4);
  EXPECT_EQ(back.to_string(), "cpus:4;mem:4096;ports:[31000-31099]");
  EXPECT_DOUBLE_EQ((used - total).scalar("cpus"), 0);  // never below zero
  EXPECT_TRUE((used - total).empty());
}

TEST(Protocol, TaskLaunchRoundTrip) {
  tessera::protocol::scheduler::Accept accept;
  accept.framework_id = "f-1";
  accept.offer_ids = {"o-1", "o-2"};
  tessera::protocol::TaskInfo task;
  task.task_id = "web.1";
  task.agent_id = "a-1";
  task.resources = make(0.5, 64, {{31000, 31000}});
  task.command.value = "sleep 10";
  task.command.environment["A"] = "b";
  accept.tasks.push_back(task);
  std::string bytes = tessera::encode({}, accept);
  auto message = tessera::Envelope::decode(bytes.data(), bytes.size());
  ASSERT_TRUE(message.ok());
  auto back = message->body<tessera::protocol::scheduler::Accept>();
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->offer_ids, accept.offer_ids);
  ASSERT_EQ(back->tasks.size(), 1u);
  EXPECT_EQ(back->tasks[0].command.value, "sleep 10");
  EXPECT_EQ(back->tasks[0].command.environment.at("A"), "b");
  EXPECT_TRUE(back->tasks[0].resources.contains(task.resources));
  EXPECT_TRUE(task.resources.contains(back->tasks[0].resources));
}

TEST(Protocol, TerminalStates) {
  namespace state = tessera::protocol::state;
  for (const char* s : {state::kFinished, state::kFailed, state::kKilled, state::kError,
                        state::kDropped, state::kLost, state::kGone}) {
    EXPECT_TRUE(state::terminal(s)) << s;
  }
  for (const char* s : {state::kStaging, state::kStarting, state::kRunning, state::kKilling,
                        state::kUnreachable, state::kUnknown}) {
    EXPECT_FALSE(state::terminal(s)) << s;
  }
}

}  // namespace

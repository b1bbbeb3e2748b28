// sdk::Clock: a ManualClock drives timers, timeouts and schedules without sleeping, and the
// plugin context's clock can be replaced by one.
#include "tessera/sdk/clock.h"

#include <gtest/gtest.h>
#include <zmq.h>

#include <string>
#include <vector>

#include "tessera/sdk/plugin.h"

namespace {

using namespace std::chrono_literals;
using tessera::sdk::Clock;
using tessera::sdk::ManualClock;

// Milliseconds since the clock's start, as the timers saw it.
int64_t since(const ManualClock& clock, Clock::Monotonic::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock.now() - start).count();
}

TEST(ManualClock, TimersRunOnlyWhenTimeIsAdvancedInDueOrder) {
  ManualClock clock;
  auto start = clock.now();
  std::vector<std::string> ran;
  clock.after(5s, [&] { ran.push_back("once@" + std::to_string(since(clock, start))); });
  clock.after(1s, [&] { ran.push_back("first@" + std::to_string(since(clock, start))); });
  clock.every(2s, [&] { ran.push_back("every@" + std::to_string(since(clock, start))); });

  EXPECT_EQ(clock.advance(999ms), 0u);
  EXPECT_TRUE(ran.empty());
  EXPECT_EQ(clock.next_due_in(), std::chrono::milliseconds(1));
  EXPECT_EQ(clock.advance(1ms), 1u);
  EXPECT_EQ(ran, std::vector<std::string>{"first@1000"});

  // Each timer sees now() at its own due time, and a period is run once per period passed.
  EXPECT_EQ(clock.advance(5s), 4u);
  EXPECT_EQ(ran, (std::vector<std::string>{"first@1000", "every@2000", "every@4000", "once@5000",
                                           "every@6000"}));
  EXPECT_EQ(since(clock, start), 6000);
  EXPECT_EQ(clock.pending_timers(), 1u);  // only the periodic one is left
}

TEST(ManualClock, CallbacksMayCancelAndAddTimersInTheSameAdvance) {
  ManualClock clock;
  std::vector<std::string> ran;
  Clock::TimerId later = clock.after(3s, [&] { ran.push_back("cancelled"); });
  Clock::TimerId ticker = 0;
  int ticks = 0;
  ticker = clock.every(1s, [&] {
    ran.push_back("tick");
    if (++ticks == 2) clock.cancel(ticker);  // cancels itself on its second run
  });
  clock.after(1s, [&] {
    ran.push_back("adds");
    clock.cancel(later);
    clock.after(500ms, [&] { ran.push_back("added"); });  // due within this advance
  });
  clock.advance(10s);
  EXPECT_EQ(ran, (std::vector<std::string>{"tick", "adds", "added", "tick"}));
  EXPECT_EQ(clock.pending_timers(), 0u);
  EXPECT_FALSE(clock.next_due_in().has_value());
}

TEST(ManualClock, WallTimeStartsFixedMovesWithAdvanceAndCanJump) {
  ManualClock clock;
  EXPECT_EQ(clock.wall_seconds(), 1735689600.0);  // 2025-01-01T00:00:00Z
  auto monotonic = clock.now();
  clock.advance(90s);
  EXPECT_EQ(clock.wall_seconds(), 1735689690.0);

  // An NTP step back by an hour moves the wall clock only, and runs nothing.
  bool ran = false;
  clock.after(1s, [&] { ran = true; });
  clock.set_wall(clock.wall_now() - std::chrono::hours(1));
  EXPECT_EQ(clock.wall_seconds(), 1735689690.0 - 3600);
  EXPECT_EQ(clock.now() - monotonic, std::chrono::seconds(90));
  EXPECT_FALSE(ran);

  ManualClock elsewhere(Clock::Wall::time_point(std::chrono::seconds(86400)));
  EXPECT_EQ(elsewhere.wall_seconds(), 86400.0);
}

// What a plugin's timeout logic looks like when written against the clock: the test covers a
// 30-minute timeout in microseconds of real time.
TEST(ManualClock, DrivesATimeoutAndABackoffWithoutSleeping) {
  ManualClock clock;
  std::vector<int64_t> attempts;  // seconds since start of each retry
  auto start = clock.now();
  std::chrono::milliseconds backoff = 1s;
  std::function<void()> retry = [&] {
    attempts.push_back(
        std::chrono::duration_cast<std::chrono::seconds>(clock.now() - start).count());
    backoff = std::min<std::chrono::milliseconds>(backoff * 2, 60s);
    clock.after(backoff, retry);
  };
  clock.after(backoff, retry);
  bool timed_out = false;
  clock.after(30min, [&] { timed_out = true; });

  clock.advance(2min);
  EXPECT_EQ(attempts, (std::vector<int64_t>{1, 3, 7, 15, 31, 63}));
  EXPECT_FALSE(timed_out);
  clock.advance(28min);
  EXPECT_TRUE(timed_out);
  EXPECT_EQ(attempts.size(), 6u + 28u);  // then one a minute, from 123 s to 1743 s
  EXPECT_EQ(attempts.back(), 1743);
}

// A plugin's context gives a real clock on its loop by default; a test can put a manual one in.
TEST(PluginContextClock, IsTheLoopsRealClockUntilReplaced) {
  void* zmq_context = zmq_ctx_new();
  {
    tessera_host_services services{};
    services.struct_size = sizeof services;
    services.zmq_context = zmq_context;
    services.plugin_name = "clock_test";
    services.node_name = "node";
    services.node_roles = "";
    tessera::sdk::PluginContext context(services);

    Clock& real = context.clock();
    auto before = real.now();
    bool fired = false;
    real.after(1ms, [&] {
      fired = true;
      context.loop().request_stop();
    });
    context.loop().run();  // the SystemClock's timers are the loop's
    EXPECT_TRUE(fired);
    EXPECT_GE(real.now() - before, 1ms);

    ManualClock manual;
    context.use_clock(manual);
    EXPECT_EQ(&context.clock(), &manual);
    bool manual_fired = false;
    context.clock().after(1h, [&] { manual_fired = true; });
    manual.advance(1h);
    EXPECT_TRUE(manual_fired);
  }
  zmq_ctx_term(zmq_context);
}

}  // namespace

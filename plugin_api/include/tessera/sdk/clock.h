// Clock: a plugin's time, monotonic and wall, and its timers; replaceable in tests.
//
// Code that waits, times out, backs off or runs on a schedule asks its Clock instead of
// std::chrono and EventLoop::after, so that a test can give it a ManualClock and move time by
// hand: a five-minute backoff or tomorrow's 03:00 run is then one advance() away, with no
// sleeping and no flakiness on a loaded machine.
//
//   SystemClock  the real clocks; timers are EventLoop timers (they fire inside run()).
//   ManualClock  time moves only in advance(); due timers run inside advance(), in due order.
//
// Monotonic time (now()) is for durations and deadlines; wall time (wall_now()) is for what a
// user reads (timestamps, calendar schedules) and may jump, as NTP makes the real one jump.
//
// Threading and lifetime: a clock and its timers belong to one loop thread; every call is made
// on it. Timer callbacks run on that thread, one at a time, and may add or cancel timers
// (including their own). A clock must outlive the timers set on it; cancel() of an unknown or
// fired id does nothing.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <utility>

#include "tessera/sdk/event_loop.h"

namespace tessera::sdk {

class Clock {
 public:
  using Monotonic = std::chrono::steady_clock;
  using Wall = std::chrono::system_clock;
  using TimerId = uint64_t;

  Clock() = default;
  virtual ~Clock() = default;
  Clock(const Clock&) = delete;
  Clock& operator=(const Clock&) = delete;

  virtual Monotonic::time_point now() const = 0;
  virtual Wall::time_point wall_now() const = 0;

  // Calls `fn` once, `delay` from now.
  virtual TimerId after(std::chrono::milliseconds delay, std::function<void()> fn) = 0;
  // Calls `fn` every `period` (the first time one period from now).
  virtual TimerId every(std::chrono::milliseconds period, std::function<void()> fn) = 0;
  virtual void cancel(TimerId id) = 0;

  // Seconds since the Unix epoch on the wall clock, as timestamps in messages carry them.
  double wall_seconds() const {
    return std::chrono::duration<double>(wall_now().time_since_epoch()).count();
  }
};

// The real clocks, with timers on an EventLoop (which must outlive the clock).
class SystemClock final : public Clock {
 public:
  explicit SystemClock(EventLoop& loop) : loop_(loop) {}

  Monotonic::time_point now() const override { return Monotonic::now(); }
  Wall::time_point wall_now() const override { return Wall::now(); }
  TimerId after(std::chrono::milliseconds delay, std::function<void()> fn) override {
    return loop_.after(delay, std::move(fn));
  }
  TimerId every(std::chrono::milliseconds period, std::function<void()> fn) override {
    return loop_.every(period, std::move(fn));
  }
  void cancel(TimerId id) override { loop_.cancel(id); }

 private:
  EventLoop& loop_;
};

// Time that moves only when a test says so. Starts at a fixed monotonic point and at
// `wall_start` (by default 2025-01-01T00:00:00Z), so runs are repeatable.
class ManualClock final : public Clock {
 public:
  static constexpr int64_t kDefaultWallStartSeconds = 1735689600;  // 2025-01-01T00:00:00Z

  explicit ManualClock(Wall::time_point wall_start =
                           Wall::time_point(std::chrono::seconds(kDefaultWallStartSeconds)))
      : now_(Monotonic::time_point(std::chrono::hours(24))), wall_(wall_start) {}

  Monotonic::time_point now() const override { return now_; }
  Wall::time_point wall_now() const override { return wall_; }

  TimerId after(std::chrono::milliseconds delay, std::function<void()> fn) override {
    return add(delay, std::chrono::milliseconds(0), std::move(fn));
  }
  TimerId every(std::chrono::milliseconds period, std::function<void()> fn) override {
    // A period below 1 ms would make advance() loop forever.
    return add(period, std::max(period, std::chrono::milliseconds(1)), std::move(fn));
  }
  void cancel(TimerId id) override { timers_.erase(id); }

  // Moves both clocks forward by `step`, running every timer that falls due on the way in due
  // order (ties in the order they were set), with now() reading each timer's due time while it
  // runs. A periodic timer runs once per period passed. Returns how many timer calls ran.
  size_t advance(std::chrono::milliseconds step) {
    Monotonic::time_point target = now_ + step;
    size_t ran = 0;
    while (true) {
      auto next = earliest();
      if (!next || next->second.due > target) break;
      auto [id, timer] = *next;
      wall_ += timer.due - now_;
      now_ = timer.due;
      if (timer.period.count() > 0) {
        timers_[id].due = timer.due + timer.period;
      } else {
        timers_.erase(id);
      }
      ++ran;
      timer.fn();
    }
    wall_ += target - now_;
    now_ = target;
    return ran;
  }

  // Sets the wall clock (a jump, as NTP or an operator makes); monotonic time does not move
  // and no timer runs.
  void set_wall(Wall::time_point wall) { wall_ = wall; }

  size_t pending_timers() const { return timers_.size(); }
  // How long until the next timer is due (nullopt: none is set).
  std::optional<std::chrono::milliseconds> next_due_in() const {
    auto next = earliest();
    if (!next) return std::nullopt;
    return std::chrono::ceil<std::chrono::milliseconds>(next->second.due - now_);
  }

 private:
  struct Timer {
    Monotonic::time_point due;
    std::chrono::milliseconds period;
    std::function<void()> fn;
  };

  TimerId add(std::chrono::milliseconds delay, std::chrono::milliseconds period,
              std::function<void()> fn) {
    TimerId id = ++next_id_;
    timers_.emplace(
        id, Timer{now_ + std::max(delay, std::chrono::milliseconds(0)), period, std::move(fn)});
    return id;
  }

  // The timer due first; among equal due times the one set first (ids grow).
  std::optional<std::pair<TimerId, Timer>> earliest() const {
    const std::pair<const TimerId, Timer>* best = nullptr;
    for (const auto& entry : timers_) {
      if (best == nullptr || entry.second.due < best->second.due) best = &entry;
    }
    if (best == nullptr) return std::nullopt;
    return std::make_pair(best->first, best->second);
  }

  Monotonic::time_point now_;
  Wall::time_point wall_;
  std::map<TimerId, Timer> timers_;
  TimerId next_id_ = 0;
};

}  // namespace tessera::sdk

// Durations from the wire: the one check every duration passes before it is trusted.
//
// Messages carry durations as seconds in a double (refuse_seconds, failover_timeout_seconds,
// kill_grace_seconds, heartbeat and ping intervals). Converted to std::chrono nanoseconds
// unchecked, a NaN, an infinity or anything past about 292 years is undefined behaviour, and in
// practice a negative deadline: a failover timeout of 1e10 s killed a framework's tasks at its
// first disconnect. wire_duration() refuses what is not a duration (not finite, or negative) and
// clamps the rest to a cap that depends on what the duration is for (the kMax constants below),
// so every conversion after it is exact and in range. Header-only, pure functions.
#pragma once

#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <string_view>

#include "tessera/result.h"

namespace tessera::protocol {

namespace limits {
inline constexpr double kDay = 86400;
// A refuse filter (decline, accept): 365 days, Mesos's cap. Revive clears one earlier.
inline constexpr double kMaxRefuseSeconds = 365 * kDay;
// A framework's failover timeout: 365 days. Longer is not a timeout but "never"; a framework
// that means never still leaves with teardown.
inline constexpr double kMaxFailoverTimeoutSeconds = 365 * kDay;
// A task's kill grace period (SIGTERM to SIGKILL): one hour. A kill that waits longer is a
// task that cannot be stopped, and agents wait for the longest grace when they shut down.
inline constexpr double kMaxKillGraceSeconds = 3600;
// Heartbeat and ping intervals one peer tells another: one hour.
inline constexpr double kMaxIntervalSeconds = 3600;
}  // namespace limits

// A checked duration: `seconds` is finite, not negative and at most the cap it was checked
// against; `clamped` says it was lowered to that cap.
struct WireDuration {
  double seconds = 0;
  bool clamped = false;

  // The duration in any std::chrono type; exact to the type's tick (the caps fit every
  // std::chrono duration of nanoseconds or coarser).
  template <typename Duration>
  Duration as() const {
    return std::chrono::duration_cast<Duration>(std::chrono::duration<double>(seconds));
  }
};

// Checks `seconds`, the value of the field `what`, against `max_seconds`. Not a finite number, or
// negative: an error that names the field and the value. Above the cap: the cap, with `clamped`.
inline Result<WireDuration> wire_duration(std::string_view what, double seconds,
                                          double max_seconds) {
  if (!std::isfinite(seconds) || seconds < 0) {
    char value[64];
    std::snprintf(value, sizeof value, "%g", seconds);
    return make_error(std::string(what) +
                      " must be a finite, non-negative number of seconds, not " + value);
  }
  if (seconds > max_seconds) return WireDuration{max_seconds, true};
  return WireDuration{seconds, false};
}

}  // namespace tessera::protocol

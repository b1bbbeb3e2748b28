// When a scheduled job is due: Chronos's ISO 8601 repeating intervals and, beyond Chronos,
// cron expressions, both read in the job's scheduleTimeZone.
//
// ISO 8601 ("R[n]/[start]/period"), as Chronos reads it:
// - `R` repeats forever, `Rn` n times (R0 never runs); an empty start stands for the instant
//   the job was created (the caller passes it in, so that a restored job keeps its times).
// - With a scheduleTimeZone the start's fields are read as wall-clock time in that zone and its
//   own offset is ignored (Chronos: "this field takes precedence"); without one, the start's
//   offset defines a fixed zone, and a start without an offset is UTC.
// - Occurrence k is start + k x period. As in Joda-Time, years, months, weeks and days are added
//   on the wall clock of the zone (P1D keeps 09:00 across a clock change; Jan 31 + P1M is the
//   last day of February) and hours, minutes and seconds as elapsed time (PT24H is 24 hours,
//   so 09:00 becomes 10:00 or 08:00 across a clock change). A wall-clock time that a spring
//   forward skips moves forward by the gap; one that a fall back repeats is the occurrence with
//   the start's offset if it has one, else the earlier. Each occurrence is computed from the
//   start, never from the previous one, so no error accumulates.
//
// Cron ("cron:EXPR", see cron.h): every minute whose wall-clock reading in the zone (UTC when
// no zone is given) matches. Through clock changes it behaves as Vixie cron: "wildcard" jobs
// follow the new wall clock; a fixed-time job whose time a spring forward skips runs at the
// instant the clocks jump, and a fixed-time job runs only in the first pass of a repeated hour.
//
// A Schedule is an immutable value, safe to share between threads.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "chronos_time.h"
#include "cron.h"
#include "tessera/result.h"

namespace tessera::chronos {

class Schedule {
 public:
  enum class Kind { iso8601, cron };

  // Reads `text` ("R[n]/[start]/period" or "cron:EXPR") with `zone_name` (scheduleTimeZone, may
  // be empty). `empty_start` is what an empty ISO start stands for. The error says what is wrong
  // with the schedule.
  static Result<Schedule> parse(std::string_view text, std::string_view zone_name,
                                TimePoint empty_start);

  Kind kind() const { return kind_; }
  const TimeZone& zone() const { return zone_; }

  // The first occurrence strictly after t, or none when the schedule is exhausted (or the next
  // one would fall after the year 9999).
  std::optional<TimePoint> next_after(TimePoint t) const;

  // ISO 8601 only: occurrence k (from 0), or none past the repetitions.
  std::optional<TimePoint> occurrence(std::int64_t k) const;
  // ISO 8601 only: -1 for forever.
  std::int64_t repetitions() const { return repetitions_; }
  TimePoint start() const { return start_; }
  const IsoPeriod& period() const { return period_; }

 private:
  static Result<Schedule> parse_iso(std::string_view text, std::string_view zone_name,
                                    TimePoint empty_start);
  std::optional<TimePoint> iso_next_after(TimePoint t) const;
  std::optional<TimePoint> cron_next_after(TimePoint t) const;
  bool cron_matches_local_range(LocalTime from, LocalTime until) const;

  Kind kind_ = Kind::iso8601;
  TimeZone zone_;
  // ISO 8601.
  std::int64_t repetitions_ = -1;
  TimePoint start_;
  LocalTime start_local_;
  std::chrono::seconds start_offset_{0};
  IsoPeriod period_;
  // Cron.
  std::optional<CronExpression> cron_;
};

}  // namespace tessera::chronos

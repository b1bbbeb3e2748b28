// Time values as Chronos's JSON writes them: instants in ISO 8601 with milliseconds, ISO 8601
// periods (P1Y2M3DT4H5M6S) and the time zones that schedules are computed in.
//
// Nothing here reads the system clock: every function that needs "now" takes it as an argument,
// so that tests and the plugin's event loop decide what time it is.
//
// Threading: free functions are reentrant. A TimeZone is an immutable value (it points into the
// process-wide tz database of the date library, which is loaded once, thread-safely, on first use).
#pragma once

#include <date/tz.h>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "tessera/result.h"

namespace tessera::chronos {

using Millis = std::chrono::milliseconds;
// An instant, in milliseconds since the Unix epoch (UTC), the precision of Chronos's JSON.
using TimePoint = std::chrono::time_point<std::chrono::system_clock, Millis>;
// A wall-clock reading in some time zone, not yet tied to an instant.
using LocalTime = date::local_time<Millis>;

// The earliest and latest instants the scheduler accepts (years 1970 to 9999). Keeping every
// instant inside this range means that no arithmetic on it can overflow.
TimePoint min_time();
TimePoint max_time();

// "2024-03-10T07:00:00.000Z": how Chronos writes lastSuccess and lastError (Joda's
// DateTime.toString in UTC), and how run ids write their scheduled time.
std::string format_time(TimePoint t);

// An ISO 8601 date-time as written: the local fields and the offset if one was given.
struct ParsedDateTime {
  LocalTime local;
  std::optional<std::chrono::minutes> offset;  // Z is +00:00
};

// Reads YYYY-MM-DD, optionally followed by Thh, Thh:mm, Thh:mm:ss or Thh:mm:ss.fff (1 to 9
// fraction digits, kept to the millisecond), optionally followed by Z, +hh, +hh:mm or +hhmm
// (or -). The year must lie in 1970..9999.
Result<ParsedDateTime> parse_date_time(std::string_view text);

// Reads an instant; without an offset the fields are taken as UTC.
Result<TimePoint> parse_time(std::string_view text);

// An ISO 8601 period as Joda's standard format reads it: PnYnMnWnDTnHnMnS, seconds may have up
// to three fraction digits. Every component is a whole number from 0 to 1,000,000,000.
struct IsoPeriod {
  std::int64_t years = 0;
  std::int64_t months = 0;
  std::int64_t weeks = 0;
  std::int64_t days = 0;
  std::int64_t hours = 0;
  std::int64_t minutes = 0;
  std::int64_t seconds = 0;
  std::int64_t millis = 0;

  bool is_zero() const;
  // Years, months, weeks or days: parts added on the calendar in the schedule's time zone.
  bool has_calendar_part() const;
  // Hours, minutes, seconds and milliseconds: parts added as elapsed time.
  Millis time_part() const;
  // Weeks and days as 24 hours each plus the time part; only meaningful without years or months.
  Millis fixed_length() const;
  // A rough length (a year as 365.2425 days, a month as a twelfth of that), to estimate how
  // many periods fit in an interval before counting exactly.
  Millis approximate_length() const;
  bool operator==(const IsoPeriod&) const = default;
};

Result<IsoPeriod> parse_period(std::string_view text);
// The standard form, e.g. "PT2S", "P1Y2M3DT4H5M6.5S"; a zero period is "PT0S".
std::string format_period(const IsoPeriod& period);

// Reads a duration written as an ISO 8601 period without years or months (epsilon, "PT15M").
Result<Millis> parse_duration(std::string_view text);
std::string format_duration(Millis duration);

// The zone a schedule's wall-clock times are read in: an IANA zone from the tz database
// (scheduleTimeZone), or a fixed offset from UTC (the offset written in the start time, or UTC).
class TimeZone {
 public:
  // UTC.
  TimeZone() = default;
  static TimeZone fixed(std::chrono::minutes offset);
  // Looks the name up in the tz database (the system's zoneinfo, see the README).
  static Result<TimeZone> named(std::string_view name);

  bool is_fixed() const { return zone_ == nullptr; }
  // The IANA name, or "" for a fixed offset.
  std::string name() const;

  LocalTime to_local(TimePoint t) const;
  // The UTC offset in force at t.
  std::chrono::seconds offset_at(TimePoint t) const;

  // How a wall-clock time is turned into an instant, as Joda-Time does it for Chronos: a time
  // that the clocks skip (spring forward) is moved forward by the length of the gap (02:30 in
  // New York on a spring-forward day is 03:30 EDT); a time that happens twice (fall back) is
  // the occurrence with `preferred_offset` when given and possible, else the earlier one.
  TimePoint from_local(LocalTime local,
                       std::optional<std::chrono::seconds> preferred_offset = std::nullopt) const;

  // The stretch of time around t during which the offset does not change: [begin, end) with
  // that offset. For a fixed offset it is the whole range.
  struct Span {
    TimePoint begin;
    TimePoint end;
    std::chrono::seconds offset;
  };
  Span span_at(TimePoint t) const;

 private:
  const date::time_zone* zone_ = nullptr;
  std::chrono::minutes fixed_offset_{0};
};

}  // namespace tessera::chronos

// Cron expressions, the alternative schedule form ("cron:*/5 * * * *"), read as Vixie cron
// reads a crontab line's five time fields.
//
// Fields: minute (0-59), hour (0-23), day of month (1-31), month (1-12 or JAN-DEC), day of
// week (0-7 or SUN-SAT, 0 and 7 are Sunday). Each field is a comma-separated list of `*`, `N`,
// `N-M`, each optionally followed by `/STEP`; `N/STEP` means from N to the field's maximum.
// Names are case-insensitive. The shorthands @yearly (@annually), @monthly, @weekly, @daily
// (@midnight) and @hourly are accepted. As in Vixie cron, when both day fields are restricted
// (neither starts with `*`) a day matches if either matches; otherwise both must.
//
// An expression is a value: immutable after parsing, safe to share between threads.
#pragma once

#include <bitset>
#include <optional>
#include <string>
#include <string_view>

#include "chronos_time.h"
#include "tessera/result.h"

namespace tessera::chronos {

using LocalMinutes = date::local_time<std::chrono::minutes>;

class CronExpression {
 public:
  // Reads the five fields (or a shorthand). An expression that can never match, such as
  // "0 0 30 2 *" (February 30th), is refused.
  static Result<CronExpression> parse(std::string_view text);

  // The first local minute in [from, until) that matches, if any.
  std::optional<LocalMinutes> next_match(LocalMinutes from, LocalMinutes until) const;
  bool matches(LocalMinutes minute) const;

  // Vixie cron's "wildcard" jobs: the minute or the hour field starts with `*` (or @hourly).
  // They run by the new wall-clock time through both clock changes: minutes that a spring
  // forward skips are skipped, minutes that a fall back repeats run twice. Other ("fixed-time")
  // jobs run once soon after a spring forward that skipped their time, and once only in a
  // repeated hour.
  bool wildcard() const { return wildcard_; }

 private:
  bool day_matches(date::year_month_day ymd) const;

  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_;     // 1..31
  std::bitset<13> months_;   // 1..12
  std::bitset<7> weekdays_;  // 0..6, Sunday is 0
  bool day_of_month_star_ = false;
  bool day_of_week_star_ = false;
  bool wildcard_ = false;
};

}  // namespace tessera::chronos

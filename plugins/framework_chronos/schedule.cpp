#include "schedule.h"

#include <algorithm>

namespace tessera::chronos {

namespace {

using std::chrono::minutes;

constexpr std::string_view kCronPrefix = "cron:";

// A calendar period advances at least a day per occurrence, so no occurrence beyond this
// index can fall before the year 9999.
constexpr std::int64_t kMaxCalendarIndex = 4'000'000;

// The last day of a month, for clamping as Joda-Time does (Jan 31 + 1 month = Feb 28 or 29).
date::day last_day(date::year year, date::month month) { return (year / month / date::last).day(); }

}  // namespace

Result<Schedule> Schedule::parse(std::string_view text, std::string_view zone_name,
                                 TimePoint empty_start) {
  if (text.size() > 512) return make_error("schedule is too long");
  if (text.substr(0, kCronPrefix.size()) == kCronPrefix) {
    Schedule schedule;
    schedule.kind_ = Kind::cron;
    if (!zone_name.empty()) {
      auto zone = TimeZone::named(zone_name);
      if (!zone) return zone.error();
      schedule.zone_ = *zone;
    }
    auto cron = CronExpression::parse(text.substr(kCronPrefix.size()));
    if (!cron) return cron.error();
    schedule.cron_ = *cron;
    return schedule;
  }
  return parse_iso(text, zone_name, empty_start);
}

Result<Schedule> Schedule::parse_iso(std::string_view text, std::string_view zone_name,
                                     TimePoint empty_start) {
  size_t first_slash = text.find('/');
  size_t last_slash = text.rfind('/');
  if (text.empty() || text[0] != 'R' || first_slash == std::string_view::npos ||
      first_slash == last_slash) {
    return make_error("expected R[n]/[start]/period or cron:EXPR");
  }
  std::string_view repeat = text.substr(1, first_slash - 1);
  std::string_view start_text = text.substr(first_slash + 1, last_slash - first_slash - 1);
  std::string_view period_text = text.substr(last_slash + 1);

  Schedule schedule;
  if (repeat.empty()) {
    schedule.repetitions_ = -1;
  } else {
    if (repeat.size() > 18 ||
        !std::all_of(repeat.begin(), repeat.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return make_error("invalid repetitions 'R" + std::string(repeat) + "'");
    }
    schedule.repetitions_ = std::stoll(std::string(repeat));
  }

  auto period = parse_period(period_text);
  if (!period) return period.error();
  schedule.period_ = *period;
  if (period->is_zero() && (schedule.repetitions_ < 0 || schedule.repetitions_ > 1)) {
    return make_error("a zero period repeats at the same instant; use R1 or a longer period");
  }

  if (!zone_name.empty()) {
    auto zone = TimeZone::named(zone_name);
    if (!zone) return zone.error();
    schedule.zone_ = *zone;
  }
  if (start_text.empty()) {
    schedule.start_ = empty_start;
    schedule.start_local_ = schedule.zone_.to_local(empty_start);
  } else {
    auto parsed = parse_date_time(start_text);
    if (!parsed) return parsed.error();
    // scheduleTimeZone wins over the written offset: the fields are kept, the zone replaced.
    if (zone_name.empty() && parsed->offset) schedule.zone_ = TimeZone::fixed(*parsed->offset);
    schedule.start_local_ = parsed->local;
    schedule.start_ = schedule.zone_.from_local(parsed->local);
  }
  if (schedule.start_ < min_time() + std::chrono::seconds{1}) {
    return make_error("scheduled start date '" + format_time(schedule.start_) + "' is before 1970");
  }
  if (schedule.start_ > max_time()) {
    return make_error("scheduled start date '" + std::string(start_text) + "' is after 9999");
  }
  schedule.start_offset_ = schedule.zone_.offset_at(schedule.start_);
  return schedule;
}

std::optional<TimePoint> Schedule::next_after(TimePoint t) const {
  return kind_ == Kind::cron ? cron_next_after(t) : iso_next_after(t);
}

std::optional<TimePoint> Schedule::occurrence(std::int64_t k) const {
  if (kind_ != Kind::iso8601 || k < 0) return std::nullopt;
  if (repetitions_ >= 0 && k >= repetitions_) return std::nullopt;
  if (k == 0) return start_;
  if (!period_.has_calendar_part()) {
    std::int64_t step = period_.fixed_length().count();
    if (step == 0 || k > (max_time() - start_).count() / step) return std::nullopt;
    return start_ + Millis{k * step};
  }
  if (k > kMaxCalendarIndex) return std::nullopt;
  // Calendar parts on the wall clock: years, then months (clamping the day), then weeks and
  // days; then the time part as elapsed time, as Joda-Time adds a period field by field.
  auto day = date::floor<date::days>(start_local_);
  Millis time_of_day = start_local_ - day;
  date::year_month_day ymd{day};
  std::int64_t month_index = static_cast<std::int64_t>(static_cast<int>(ymd.year())) * 12 +
                             (static_cast<unsigned>(ymd.month()) - 1) +
                             (period_.years * 12 + period_.months) * k;
  if (month_index / 12 > 9999) return std::nullopt;
  date::year year{static_cast<int>(month_index / 12)};
  date::month month{static_cast<unsigned>(month_index % 12 + 1)};
  date::day day_of_month = std::min(ymd.day(), last_day(year, month));
  date::local_days shifted = date::local_days{year / month / day_of_month} +
                             date::days{(period_.weeks * 7 + period_.days) * k};
  if (date::year_month_day{shifted}.year() > date::year{9999}) return std::nullopt;
  TimePoint wall = zone_.from_local(LocalTime{shifted} + time_of_day, start_offset_);
  Millis elapsed = period_.time_part();
  if (elapsed.count() != 0 && k > (max_time() - wall).count() / elapsed.count()) {
    return std::nullopt;
  }
  TimePoint t = wall + elapsed * k;
  if (t > max_time()) return std::nullopt;
  return t;
}

std::optional<TimePoint> Schedule::iso_next_after(TimePoint t) const {
  if (repetitions_ == 0) return std::nullopt;
  if (t < start_) return start_;
  if (!period_.has_calendar_part()) {
    std::int64_t step = period_.fixed_length().count();
    if (step == 0) return std::nullopt;
    return occurrence((t - start_).count() / step + 1);
  }
  // Occurrences grow with k: find the first one after t, starting from an estimate and falling
  // back to a binary search when the estimate is off by more than one.
  auto after = [&](std::int64_t k) {
    auto occ = occurrence(k);
    return !occ || *occ > t;  // past the end counts as "after"
  };
  std::int64_t limit = repetitions_ >= 0 ? repetitions_ : kMaxCalendarIndex + 1;
  std::int64_t estimate = (t - start_) / period_.approximate_length();
  estimate = std::clamp<std::int64_t>(estimate, 0, limit - 1);
  if (after(estimate) && (estimate == 0 || !after(estimate - 1))) return occurrence(estimate);
  std::int64_t low = 0;       // every k below low is at or before t
  std::int64_t high = limit;  // every k from high on is after t, or past the end
  while (low < high) {
    std::int64_t mid = low + (high - low) / 2;
    if (after(mid)) {
      high = mid;
    } else {
      low = mid + 1;
    }
  }
  return occurrence(low);
}

bool Schedule::cron_matches_local_range(LocalTime from, LocalTime until) const {
  LocalMinutes first = date::ceil<minutes>(from);
  LocalMinutes end = date::ceil<minutes>(until);
  return first < end && cron_->next_match(first, end).has_value();
}

std::optional<TimePoint> Schedule::cron_next_after(TimePoint t) const {
  const bool wildcard = cron_->wildcard();
  TimePoint cursor = t + Millis{1};
  while (cursor <= max_time()) {
    TimeZone::Span span = zone_.span_at(cursor);
    std::chrono::seconds offset = span.offset;
    LocalTime from = LocalTime{cursor.time_since_epoch() + offset};
    // A fixed-time job runs once in a repeated hour: skip the wall-clock times that this span
    // repeats from the previous one (a fall back).
    if (!wildcard && span.begin > min_time()) {
      std::chrono::seconds previous = zone_.span_at(span.begin - Millis{1}).offset;
      if (previous > offset) {
        from = std::max(from, LocalTime{span.begin.time_since_epoch() + previous});
      }
    }
    LocalTime until = LocalTime{span.end.time_since_epoch() + offset};
    if (from < until) {
      LocalMinutes first = date::ceil<minutes>(from);
      LocalMinutes end = date::ceil<minutes>(until);
      if (first < end) {
        if (auto match = cron_->next_match(first, end)) {
          return TimePoint{match->time_since_epoch() - offset};
        }
      }
    }
    if (span.end > max_time()) break;
    // A fixed-time job whose time a spring forward skips runs when the clocks jump.
    if (!wildcard) {
      std::chrono::seconds next = zone_.span_at(span.end).offset;
      if (next > offset &&
          cron_matches_local_range(until, LocalTime{span.end.time_since_epoch() + next})) {
        return span.end;
      }
    }
    cursor = span.end;
  }
  return std::nullopt;
}

}  // namespace tessera::chronos

#include "chronos_time.h"

#include <array>
#include <cstdio>
#include <stdexcept>

namespace tessera::chronos {

namespace {

using std::chrono::minutes;
using std::chrono::seconds;

std::string quoted(std::string_view text) { return "'" + std::string(text) + "'"; }

// A small cursor over the text being parsed; every read is bounds-checked.
class Cursor {
 public:
  explicit Cursor(std::string_view text) : text_(text) {}
  bool done() const { return pos_ == text_.size(); }
  char peek() const { return done() ? '\0' : text_[pos_]; }
  bool take(char c) {
    if (peek() != c) return false;
    ++pos_;
    return true;
  }
  // Exactly `count` decimal digits.
  std::optional<int> digits(int count) {
    if (text_.size() - pos_ < static_cast<size_t>(count)) return std::nullopt;
    int value = 0;
    for (int i = 0; i < count; ++i) {
      char c = text_[pos_ + i];
      if (c < '0' || c > '9') return std::nullopt;
      value = value * 10 + (c - '0');
    }
    pos_ += count;
    return value;
  }
  // One or more digits, at most `max_count` of them; returns the value and the count read.
  std::optional<std::pair<std::int64_t, int>> some_digits(int max_count) {
    std::int64_t value = 0;
    int count = 0;
    while (!done() && peek() >= '0' && peek() <= '9') {
      if (count == max_count) return std::nullopt;
      value = value * 10 + (peek() - '0');
      ++count;
      ++pos_;
    }
    if (count == 0) return std::nullopt;
    return std::make_pair(value, count);
  }

 private:
  std::string_view text_;
  size_t pos_ = 0;
};

// The fraction digits after a decimal point, as milliseconds (digits past the third are
// dropped, as a millisecond clock would).
std::optional<std::int64_t> fraction_millis(Cursor& in) {
  auto digits = in.some_digits(9);
  if (!digits) return std::nullopt;
  auto [value, count] = *digits;
  while (count > 3) {
    value /= 10;
    --count;
  }
  while (count < 3) {
    value *= 10;
    ++count;
  }
  return value;
}

constexpr std::int64_t kMillisPerDay = 86'400'000;
// The longest that any single component of a period may add, about 12,700 years: long enough
// for any schedule, short enough that sums of components never overflow.
constexpr std::int64_t kMaxComponentMillis = 400'000'000'000'000;

}  // namespace

TimePoint min_time() { return TimePoint{date::sys_days{date::year{1970} / 1 / 1}}; }
TimePoint max_time() {
  return TimePoint{date::sys_days{date::year{9999} / 12 / 31}} + std::chrono::hours{24} - Millis{1};
}

std::string format_time(TimePoint t) {
  auto day = date::floor<date::days>(t);
  date::year_month_day ymd{day};
  date::hh_mm_ss<Millis> time{t - day};
  std::array<char, 40> buffer{};
  std::snprintf(buffer.data(), buffer.size(), "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ",
                static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()), static_cast<int>(time.hours().count()),
                static_cast<int>(time.minutes().count()), static_cast<int>(time.seconds().count()),
                static_cast<int>(time.subseconds().count()));
  return buffer.data();
}

Result<ParsedDateTime> parse_date_time(std::string_view text) {
  auto bad = [&](const std::string& why) -> Error {
    return make_error("invalid date-time " + quoted(text) + ": " + why);
  };
  if (text.size() > 64) return bad("too long");
  Cursor in(text);
  auto year = in.digits(4);
  if (!year || !in.take('-')) return bad("expected YYYY-MM-DD");
  auto month = in.digits(2);
  if (!month || !in.take('-')) return bad("expected YYYY-MM-DD");
  auto day = in.digits(2);
  if (!day) return bad("expected YYYY-MM-DD");
  date::year_month_day ymd{date::year{*year}, date::month{static_cast<unsigned>(*month)},
                           date::day{static_cast<unsigned>(*day)}};
  if (*year < 1 || !ymd.ok()) return bad("no such date");

  Millis time_of_day{0};
  if (in.take('T')) {
    auto hour = in.digits(2);
    if (!hour || *hour > 23) return bad("expected an hour from 00 to 23");
    time_of_day += std::chrono::hours{*hour};
    if (in.take(':')) {
      auto minute = in.digits(2);
      if (!minute || *minute > 59) return bad("expected minutes from 00 to 59");
      time_of_day += minutes{*minute};
      if (in.take(':')) {
        auto second = in.digits(2);
        if (!second || *second > 59) return bad("expected seconds from 00 to 59");
        time_of_day += seconds{*second};
        if (in.take('.') || in.take(',')) {
          auto millis = fraction_millis(in);
          if (!millis) return bad("expected 1 to 9 fraction digits");
          time_of_day += Millis{*millis};
        }
      }
    }
  }

  ParsedDateTime parsed;
  parsed.local = LocalTime{date::local_days{ymd}} + time_of_day;
  if (in.take('Z')) {
    parsed.offset = minutes{0};
  } else if (in.peek() == '+' || in.peek() == '-') {
    int sign = in.peek() == '-' ? -1 : 1;
    in.take(in.peek());
    auto hours = in.digits(2);
    if (!hours || *hours > 23) return bad("expected an offset hour from 00 to 23");
    int mins = 0;
    if (!in.done()) {
      in.take(':');
      auto m = in.digits(2);
      if (!m || *m > 59) return bad("expected offset minutes from 00 to 59");
      mins = *m;
    }
    parsed.offset = minutes{sign * (*hours * 60 + mins)};
  }
  if (!in.done()) return bad("unexpected text after the date-time");
  return parsed;
}

Result<TimePoint> parse_time(std::string_view text) {
  auto parsed = parse_date_time(text);
  if (!parsed) return parsed.error();
  TimePoint t{parsed->local.time_since_epoch() - parsed->offset.value_or(minutes{0})};
  if (t < min_time() || t > max_time()) {
    return make_error("invalid date-time " + quoted(text) + ": outside 1970 to 9999");
  }
  return t;
}

bool IsoPeriod::is_zero() const { return *this == IsoPeriod{}; }

bool IsoPeriod::has_calendar_part() const {
  return years != 0 || months != 0 || weeks != 0 || days != 0;
}

Millis IsoPeriod::time_part() const {
  return std::chrono::hours{hours} + std::chrono::minutes{minutes} + std::chrono::seconds{seconds} +
         Millis{millis};
}

Millis IsoPeriod::fixed_length() const {
  return Millis{(weeks * 7 + days) * kMillisPerDay} + time_part();
}

Millis IsoPeriod::approximate_length() const {
  // 365.2425 days a year, in milliseconds: 31,556,952,000.
  constexpr std::int64_t kYear = 31'556'952'000;
  return Millis{years * kYear + months * (kYear / 12)} + fixed_length();
}

Result<IsoPeriod> parse_period(std::string_view text) {
  auto bad = [&](const std::string& why) -> Error {
    return make_error("invalid period " + quoted(text) + ": " + why);
  };
  if (text.size() > 64) return bad("too long");
  Cursor in(text);
  if (!in.take('P')) return bad("it must start with P");
  IsoPeriod period;
  // The designators in the order ISO 8601 requires, with the length of one unit in
  // milliseconds (a calendar unit at its longest) to bound each component.
  struct Unit {
    char designator;
    bool time;
    std::int64_t* field;
    std::int64_t unit_millis;
  };
  const std::array<Unit, 7> units{{
      {'Y', false, &period.years, 366 * kMillisPerDay},
      {'M', false, &period.months, 31 * kMillisPerDay},
      {'W', false, &period.weeks, 7 * kMillisPerDay},
      {'D', false, &period.days, kMillisPerDay},
      {'H', true, &period.hours, 3'600'000},
      {'M', true, &period.minutes, 60'000},
      {'S', true, &period.seconds, 1'000},
  }};
  size_t next = 0;
  bool in_time = false;
  bool any = false;
  bool time_any = false;
  while (!in.done()) {
    if (in.take('T')) {
      if (in_time) return bad("T appears twice");
      in_time = true;
      continue;
    }
    auto number = in.some_digits(10);
    if (!number) return bad("expected a number");
    std::int64_t millis = -1;
    if (in.take('.') || in.take(',')) {
      auto fraction = fraction_millis(in);
      if (!fraction) return bad("expected fraction digits");
      millis = *fraction;
    }
    char designator = in.peek();
    if (designator == '\0') return bad("a number lacks its designator");
    in.take(designator);
    while (next < units.size() &&
           (units[next].designator != designator || units[next].time != in_time)) {
      ++next;
    }
    if (next == units.size()) {
      return bad(std::string("unexpected '") + designator + "' (order is PnYnMnWnDTnHnMnS)");
    }
    const Unit& unit = units[next++];
    if (millis >= 0 && unit.designator != 'S') return bad("only seconds may have a fraction");
    if (number->first > kMaxComponentMillis / unit.unit_millis) return bad("too long");
    *unit.field = number->first;
    if (millis >= 0) period.millis = millis;
    any = true;
    time_any = time_any || in_time;
  }
  if (!any) return bad("it has no components");
  if (in_time && !time_any) return bad("T must be followed by hours, minutes or seconds");
  return period;
}

std::string format_period(const IsoPeriod& period) {
  if (period.is_zero()) return "PT0S";
  std::string out = "P";
  auto add = [&out](std::int64_t value, char designator) {
    if (value != 0) out += std::to_string(value) + designator;
  };
  add(period.years, 'Y');
  add(period.months, 'M');
  add(period.weeks, 'W');
  add(period.days, 'D');
  if (period.hours != 0 || period.minutes != 0 || period.seconds != 0 || period.millis != 0) {
    out += 'T';
    add(period.hours, 'H');
    add(period.minutes, 'M');
    if (period.millis != 0) {
      std::array<char, 8> fraction{};
      std::snprintf(fraction.data(), fraction.size(), ".%03d", static_cast<int>(period.millis));
      out += std::to_string(period.seconds) + fraction.data() + 'S';
    } else {
      add(period.seconds, 'S');
    }
  }
  return out;
}

Result<Millis> parse_duration(std::string_view text) {
  auto period = parse_period(text);
  if (!period) return period.error();
  if (period->years != 0 || period->months != 0) {
    return make_error("invalid duration " + quoted(text) +
                      ": years and months have no fixed length");
  }
  return period->fixed_length();
}

std::string format_duration(Millis duration) {
  IsoPeriod period;
  std::int64_t ms = duration.count();
  period.hours = ms / 3'600'000;
  period.minutes = ms / 60'000 % 60;
  period.seconds = ms / 1'000 % 60;
  period.millis = ms % 1'000;
  return format_period(period);
}

TimeZone TimeZone::fixed(std::chrono::minutes offset) {
  TimeZone zone;
  zone.fixed_offset_ = offset;
  return zone;
}

Result<TimeZone> TimeZone::named(std::string_view name) {
  if (name.empty() || name.size() > 128) return make_error("invalid time zone " + quoted(name));
  try {
    TimeZone zone;
    zone.zone_ = date::locate_zone(name);
    return zone;
  } catch (const std::exception&) {
    return make_error("unknown time zone " + quoted(name) + " (use an IANA name such as " +
                      "'America/New_York')");
  }
}

std::string TimeZone::name() const { return zone_ ? std::string(zone_->name()) : std::string(); }

LocalTime TimeZone::to_local(TimePoint t) const {
  if (zone_) return zone_->to_local(t);
  return LocalTime{t.time_since_epoch() + fixed_offset_};
}

std::chrono::seconds TimeZone::offset_at(TimePoint t) const {
  if (zone_) return zone_->get_info(t).offset;
  return fixed_offset_;
}

TimePoint TimeZone::from_local(LocalTime local,
                               std::optional<std::chrono::seconds> preferred_offset) const {
  if (!zone_) return TimePoint{local.time_since_epoch() - fixed_offset_};
  date::local_info info = zone_->get_info(local);
  auto with = [&](const date::sys_info& span) {
    return TimePoint{local.time_since_epoch() - span.offset};
  };
  switch (info.result) {
    case date::local_info::unique:
    case date::local_info::nonexistent:
      // In a gap, `first` is the span before it: its offset moves the time forward.
      return with(info.first);
    case date::local_info::ambiguous:
    default:
      if (preferred_offset && *preferred_offset == info.second.offset) return with(info.second);
      return with(info.first);
  }
}

TimeZone::Span TimeZone::span_at(TimePoint t) const {
  if (!zone_) return Span{min_time(), max_time() + Millis{1}, fixed_offset_};
  date::sys_info info = zone_->get_info(t);
  TimePoint begin = std::max(TimePoint{info.begin}, min_time());
  TimePoint end = std::min(TimePoint{info.end}, max_time() + Millis{1});
  return Span{begin, end, info.offset};
}

}  // namespace tessera::chronos

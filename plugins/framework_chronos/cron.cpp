#include "cron.h"

#include <array>
#include <cctype>
#include <cstdint>
#include <vector>

namespace tessera::chronos {

namespace {

using std::chrono::hours;
using std::chrono::minutes;

struct FieldSpec {
  const char* what;
  int min;
  int max;
  // Names for the values min, min+1, ... (months from 1, weekdays from 0), or none.
  const std::array<const char*, 12>* names;
  size_t name_count;
};

const std::array<const char*, 12> kMonthNames{"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                              "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
const std::array<const char*, 12> kDayNames{"SUN", "MON", "TUE", "WED", "THU", "FRI",
                                            "SAT", "",    "",    "",    "",    ""};

struct Field {
  std::uint64_t bits = 0;  // bit v set when value v matches
  bool star = false;       // the field starts with '*'
};

std::string upper(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

Result<int> parse_value(std::string_view text, const FieldSpec& spec) {
  if (text.empty()) return make_error(std::string("empty value in the ") + spec.what + " field");
  if (spec.names != nullptr && std::isalpha(static_cast<unsigned char>(text[0]))) {
    std::string name = upper(text);
    for (size_t i = 0; i < spec.name_count; ++i) {
      if (name == (*spec.names)[i]) return spec.min + static_cast<int>(i);
    }
    return make_error("unknown name '" + std::string(text) + "' in the " + spec.what + " field");
  }
  if (text.size() > 2) {
    return make_error("value '" + std::string(text) + "' out of range in the " + spec.what +
                      " field");
  }
  int value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') {
      return make_error("invalid value '" + std::string(text) + "' in the " + spec.what + " field");
    }
    value = value * 10 + (c - '0');
  }
  // Day of week 7 is Sunday, as 0 is.
  int max = spec.names == &kDayNames ? 7 : spec.max;
  if (value < spec.min || value > max) {
    return make_error("value " + std::to_string(value) + " out of range " +
                      std::to_string(spec.min) + "-" + std::to_string(max) + " in the " +
                      spec.what + " field");
  }
  return value;
}

Result<Field> parse_field(std::string_view text, const FieldSpec& spec) {
  Field field;
  field.star = !text.empty() && text[0] == '*';
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    std::string_view item = text.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    if (item.empty())
      return make_error(std::string("empty list item in the ") + spec.what + " field");
    std::string_view range = item;
    int step = 1;
    bool has_step = false;
    if (size_t slash = item.find('/'); slash != std::string_view::npos) {
      range = item.substr(0, slash);
      auto parsed =
          parse_value(item.substr(slash + 1), FieldSpec{spec.what, 1, spec.max + 1, nullptr, 0});
      if (!parsed) return make_error("invalid step in the " + std::string(spec.what) + " field");
      step = *parsed;
      has_step = true;
    }
    int low = spec.min;
    int high = spec.max;
    if (range != "*") {
      size_t dash = range.find('-');
      auto first = parse_value(range.substr(0, dash), spec);
      if (!first) return first.error();
      low = *first;
      if (dash != std::string_view::npos) {
        auto last = parse_value(range.substr(dash + 1), spec);
        if (!last) return last.error();
        high = *last;
      } else if (!has_step) {
        high = low;
      }
    }
    if (low > high) {
      return make_error("range " + std::to_string(low) + "-" + std::to_string(high) +
                        " is reversed in the " + spec.what + " field");
    }
    for (int v = low; v <= high; v += step) field.bits |= std::uint64_t{1} << v;
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return field;
}

std::vector<std::string_view> split_fields(std::string_view text) {
  std::vector<std::string_view> fields;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
    size_t start = i;
    while (i < text.size() && text[i] != ' ' && text[i] != '\t') ++i;
    if (i > start) fields.push_back(text.substr(start, i - start));
  }
  return fields;
}

std::string_view expand_shorthand(std::string_view text) {
  if (text == "@yearly" || text == "@annually") return "0 0 1 1 *";
  if (text == "@monthly") return "0 0 1 * *";
  if (text == "@weekly") return "0 0 * * 0";
  if (text == "@daily" || text == "@midnight") return "0 0 * * *";
  if (text == "@hourly") return "0 * * * *";
  return text;
}

int next_bit(std::uint64_t bits, int from, int limit) {
  for (int v = from; v < limit; ++v) {
    if (bits & (std::uint64_t{1} << v)) return v;
  }
  return -1;
}

}  // namespace

Result<CronExpression> CronExpression::parse(std::string_view text) {
  if (text.size() > 256) return make_error("cron expression is too long");
  std::string_view expanded = expand_shorthand(text);
  if (!expanded.empty() && expanded[0] == '@') {
    return make_error("unknown cron shorthand '" + std::string(text) + "'");
  }
  auto fields = split_fields(expanded);
  if (fields.size() != 5) {
    return make_error("a cron expression has 5 fields (minute hour day month weekday), got " +
                      std::to_string(fields.size()));
  }
  const std::array<FieldSpec, 5> specs{{
      {"minute", 0, 59, nullptr, 0},
      {"hour", 0, 23, nullptr, 0},
      {"day of month", 1, 31, nullptr, 0},
      {"month", 1, 12, &kMonthNames, 12},
      {"day of week", 0, 6, &kDayNames, 7},
  }};
  std::array<Field, 5> parsed;
  for (size_t i = 0; i < 5; ++i) {
    auto field = parse_field(fields[i], specs[i]);
    if (!field) return field.error();
    parsed[i] = *field;
  }
  CronExpression cron;
  cron.minutes_ = std::bitset<60>(parsed[0].bits);
  cron.hours_ = std::bitset<24>(parsed[1].bits);
  cron.days_ = std::bitset<32>(parsed[2].bits);
  cron.months_ = std::bitset<13>(parsed[3].bits);
  std::uint64_t weekdays = parsed[4].bits;
  if (weekdays & (std::uint64_t{1} << 7)) weekdays |= 1;  // 7 is Sunday
  cron.weekdays_ = std::bitset<7>(weekdays & 0x7f);
  cron.day_of_month_star_ = parsed[2].star;
  cron.day_of_week_star_ = parsed[4].star;
  cron.wildcard_ = parsed[0].star || parsed[1].star;

  // An expression must match at least once in a full 400-year Gregorian cycle, or it never
  // will (February 30th, or the 31st of months that have 30 days).
  LocalMinutes from{date::local_days{date::year{2000} / 1 / 1}};
  LocalMinutes until{date::local_days{date::year{2400} / 1 / 1}};
  if (!cron.next_match(from, until)) {
    return make_error("cron expression '" + std::string(text) + "' never matches");
  }
  return cron;
}

bool CronExpression::day_matches(date::year_month_day ymd) const {
  bool day_of_month = days_[static_cast<unsigned>(ymd.day())];
  bool day_of_week = weekdays_[date::weekday{ymd}.c_encoding()];
  if (day_of_month_star_ || day_of_week_star_) return day_of_month && day_of_week;
  return day_of_month || day_of_week;
}

bool CronExpression::matches(LocalMinutes minute) const {
  auto day = date::floor<date::days>(minute);
  date::year_month_day ymd{day};
  date::hh_mm_ss<minutes> time{minute - day};
  return months_[static_cast<unsigned>(ymd.month())] && day_matches(ymd) &&
         hours_[time.hours().count()] && minutes_[time.minutes().count()];
}

std::optional<LocalMinutes> CronExpression::next_match(LocalMinutes from,
                                                       LocalMinutes until) const {
  const std::uint64_t hour_bits = hours_.to_ullong();
  const std::uint64_t minute_bits = minutes_.to_ullong();
  LocalMinutes t = from;
  while (t < until) {
    auto day = date::floor<date::days>(t);
    date::year_month_day ymd{day};
    if (!months_[static_cast<unsigned>(ymd.month())]) {
      date::year_month first_of_next = ymd.year() / ymd.month() + date::months{1};
      t = LocalMinutes{date::local_days{first_of_next / 1}};
      continue;
    }
    if (!day_matches(ymd)) {
      t = LocalMinutes{day + date::days{1}};
      continue;
    }
    date::hh_mm_ss<minutes> time{t - day};
    int hour = static_cast<int>(time.hours().count());
    int minute = static_cast<int>(time.minutes().count());
    int matching_hour = next_bit(hour_bits, hour, 24);
    if (matching_hour < 0) {
      t = LocalMinutes{day + date::days{1}};
      continue;
    }
    if (matching_hour != hour) {
      t = LocalMinutes{day} + hours{matching_hour};
      continue;
    }
    int matching_minute = next_bit(minute_bits, minute, 60);
    if (matching_minute < 0) {
      t = LocalMinutes{day} + hours{hour + 1};
      continue;
    }
    LocalMinutes match = LocalMinutes{day} + hours{hour} + minutes{matching_minute};
    if (match >= until) break;
    return match;
  }
  return std::nullopt;
}

}  // namespace tessera::chronos

// Resources on the wire, the arithmetic every part of the cluster does on them, the one check
// every amount passes before it is trusted, and the one parser of their text form.
//
// A Resources value is named scalars (cpus, mem in MB, disk in MB, gpus, any custom scalar)
// plus named range sets (ports). Scalars compare with Mesos's fixed-point rule (three decimal
// places), so 0.1 + 0.2 fits in 0.3. Header-only value types and pure functions; not
// thread-safe to share.
#pragma once

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <msgpack.hpp>

#include "tessera/msgpack_map.h"
#include "tessera/result.h"

namespace tessera::protocol {

// An inclusive range [begin, end] (ports 31000-32000 is {31000, 32000}).
struct Range {
  uint64_t begin = 0;
  uint64_t end = 0;
  MSGPACK_DEFINE(begin, end);
  bool operator==(const Range&) const = default;
};

namespace detail {

// The shortest text that reads back as `value`: plain from 0.00001 up to below 1e10 (0.0004,
// 1234567), with an exponent outside (1e+10, 1.00000000005e+10, 1e-300). "%g" kept six digits, so
// an amount just above the maximum was shown as the maximum itself, and mem 1234567 as 1.23457e+06.
inline std::string format_amount(double value) {
  char buffer[64];  // the longest plain text, below 1e10 and above 0.00001, is far shorter
  const double size = std::fabs(value);
  const bool plain = size == 0 || (size >= 1e-5 && size < 1e10);
  auto result = std::to_chars(buffer, buffer + sizeof buffer, value,
                              plain ? std::chars_format::fixed : std::chars_format::scientific);
  return std::string(buffer, result.ptr);
}

}  // namespace detail

// An amount as people read it: rounded to the unit amounts are compared in (0.001, see
// Resources::fixed), so sums show no binary noise (0.1 + 0.2 is "0.3"), then its shortest text
// (mem 1234567 is "1234567"). Used by to_string() and the CLI's tables.
inline std::string format_scalar(double value) {
  if (std::isfinite(value) && std::fabs(value) < 1e15) value = std::round(value * 1000.0) / 1000.0;
  return detail::format_amount(value);
}

struct Resources {
  std::map<std::string, double> scalars;
  std::map<std::string, std::vector<Range>> ranges;
  TESSERA_MSGPACK_MAP(scalars, ranges);

  static int64_t fixed(double v) { return static_cast<int64_t>(std::llround(v * 1000.0)); }

  double scalar(const std::string& name) const {
    auto it = scalars.find(name);
    return it == scalars.end() ? 0.0 : it->second;
  }
  bool empty() const {
    for (const auto& [n, v] : scalars) {
      if (fixed(v) != 0) return false;
    }
    for (const auto& [n, r] : ranges) {
      if (!r.empty()) return false;
    }
    return true;
  }

  // Normalises a range list: sorted, merged, no overlaps.
  static std::vector<Range> normalise(std::vector<Range> list) {
    std::sort(list.begin(), list.end(),
              [](const Range& a, const Range& b) { return a.begin < b.begin; });
    std::vector<Range> out;
    for (const Range& r : list) {
      if (r.end < r.begin) continue;
      if (!out.empty() && r.begin <= out.back().end + 1) {
        out.back().end = std::max(out.back().end, r.end);
      } else {
        out.push_back(r);
      }
    }
    return out;
  }

  static bool ranges_contain(const std::vector<Range>& have, const std::vector<Range>& want) {
    for (const Range& w : want) {
      bool inside = false;
      for (const Range& h : have) {
        if (w.begin >= h.begin && w.end <= h.end) {
          inside = true;
          break;
        }
      }
      if (!inside) return false;
    }
    return true;
  }

  static std::vector<Range> ranges_minus(const std::vector<Range>& have,
                                         const std::vector<Range>& take) {
    std::vector<Range> out = normalise(have);
    for (const Range& t : normalise(take)) {
      std::vector<Range> next;
      for (const Range& h : out) {
        if (t.end < h.begin || t.begin > h.end) {
          next.push_back(h);
          continue;
        }
        if (t.begin > h.begin) next.push_back({h.begin, t.begin - 1});
        if (t.end < h.end) next.push_back({t.end + 1, h.end});
      }
      out = std::move(next);
    }
    return out;
  }

  // True when every scalar and range of `other` fits in this.
  bool contains(const Resources& other) const {
    for (const auto& [name, v] : other.scalars) {
      if (fixed(v) > fixed(scalar(name))) return false;
    }
    for (const auto& [name, want] : other.ranges) {
      if (want.empty()) continue;
      auto it = ranges.find(name);
      if (it == ranges.end() || !ranges_contain(normalise(it->second), normalise(want)))
        return false;
    }
    return true;
  }

  Resources& operator+=(const Resources& other) {
    for (const auto& [name, v] : other.scalars) scalars[name] += v;
    for (const auto& [name, r] : other.ranges) {
      auto& mine = ranges[name];
      mine.insert(mine.end(), r.begin(), r.end());
      mine = normalise(std::move(mine));
    }
    return *this;
  }

  // Subtracts what fits; scalars never go below zero.
  Resources& operator-=(const Resources& other) {
    for (const auto& [name, v] : other.scalars) {
      double left = scalar(name) - v;
      scalars[name] = fixed(left) <= 0 ? 0.0 : left;
    }
    for (const auto& [name, r] : other.ranges) {
      auto it = ranges.find(name);
      if (it != ranges.end()) it->second = ranges_minus(it->second, r);
    }
    return *this;
  }

  friend Resources operator+(Resources a, const Resources& b) { return a += b; }
  friend Resources operator-(Resources a, const Resources& b) { return a -= b; }

  // "cpus:2;mem:1024;ports:[31000-31010]" (the Mesos text form), for logs and the CLI.
  std::string to_string() const {
    std::string out;
    for (const auto& [name, v] : scalars) {
      if (!out.empty()) out += ";";
      out += name + ":" + format_scalar(v);
    }
    for (const auto& [name, list] : ranges) {
      if (!out.empty()) out += ";";
      out += name + ":[";
      for (size_t i = 0; i < list.size(); ++i) {
        if (i) out += ",";
        out += std::to_string(list[i].begin) + "-" + std::to_string(list[i].end);
      }
      out += "]";
    }
    return out;
  }
};

// What a Resources value may hold. Every amount that enters the cluster (from a framework, an
// agent's registration, the TOML or the CLI) goes through check_resources(), so the
// fixed-point arithmetic above never sees NaN, infinity, a negative amount or an overflow.
namespace limits {
// The unit scalars are accounted in: thousandths. A positive amount that rounds to zero in it
// (below half a unit) would be accounted as nothing, and could be launched without limit.
inline constexpr double kScalarUnit = 0.001;
// The largest scalar amount: ten billion cpus, or 10 PB of mem or disk (in MB). 100,000 agents
// at this maximum still add up to 1e18 thousandths, inside the int64 the arithmetic uses.
inline constexpr double kMaxScalar = 1e10;
// Ports are TCP/UDP ports.
inline constexpr uint64_t kMaxPort = 65535;
// Any other range value: 2^53, the largest integer JSON readers hold exactly.
inline constexpr uint64_t kMaxRangeValue = uint64_t{1} << 53;
// Named scalars and range sets in one value, intervals in one range set, bytes in one name:
// bounds on the work that arithmetic on a value from the wire can cost.
inline constexpr size_t kMaxNames = 128;
inline constexpr size_t kMaxRanges = 4096;
inline constexpr size_t kMaxNameLength = 128;
}  // namespace limits

namespace detail {

inline std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t' || text.front() == '\r' ||
                           text.front() == '\n')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r' ||
                           text.back() == '\n')) {
    text.remove_suffix(1);
  }
  return text;
}

// Calls `item` for each piece of `text` between `separator`s, trimmed; blank pieces are
// skipped (as Mesos's tokenizer does). Stops at the first error `item` returns.
template <typename F>
Status for_each_item(std::string_view text, char separator, F&& item) {
  while (true) {
    size_t end = text.find(separator);
    std::string_view piece = trim(text.substr(0, end));
    if (!piece.empty()) {
      if (Status s = item(piece); !s) return s;
    }
    if (end == std::string_view::npos) return {};
    text.remove_prefix(end + 1);
  }
}

inline bool parse_integer(std::string_view text, uint64_t& out) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string_view::npos) return false;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), out);
  return error == std::errc() && end == text.data() + text.size();
}

}  // namespace detail

// Why `name` cannot name a resource ("" when it can): letters, digits, '_', '-' and '.' only,
// at most limits::kMaxNameLength bytes.
inline std::string resource_name_problem(std::string_view name) {
  bool plain = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
  });
  if (name.size() > limits::kMaxNameLength) {
    return "a resource name is longer than " + std::to_string(limits::kMaxNameLength) + " bytes";
  }
  if (!plain) {
    return "resource name '" + std::string(name) +
           "' is not valid (letters, digits, '_', '-' and '.' only)";
  }
  return "";
}

// Why `value` is not a valid amount of the scalar `name` ("" when it is): it must be finite,
// not negative, at most limits::kMaxScalar, and zero or at least one unit once rounded to
// limits::kScalarUnit. (Rounded, so that what the arithmetic leaves, such as 0.3 - 0.299, is
// valid whenever it is not nothing.)
inline std::string amount_problem(std::string_view name, double value) {
  // The message is built only for a problem: every amount of every message from the wire is
  // checked here (an agent's re-registration after a failover carries each of its tasks').
  const char* what = nullptr;
  std::string bound;
  if (!std::isfinite(value)) {
    what = " is not a finite number";
  } else if (value < 0) {
    what = " is negative";
  } else if (value > limits::kMaxScalar) {
    what = " is above the maximum ";
    bound = detail::format_amount(limits::kMaxScalar);
  } else if (value > 0 && Resources::fixed(value) == 0) {
    what = " rounds to nothing in the unit ";
    bound = detail::format_amount(limits::kScalarUnit);
  } else {
    return "";
  }
  return "resource '" + std::string(name) + "': the amount " + detail::format_amount(value) + what +
         bound;
}

// Checks every name, amount and range of `resources` against the limits above, and that cpus,
// mem and disk are scalars and ports a range set. The error names the first problem.
inline Status check_resources(const Resources& resources) {
  if (resources.scalars.size() + resources.ranges.size() > limits::kMaxNames) {
    return make_error("more than " + std::to_string(limits::kMaxNames) + " resource names");
  }
  for (const auto& [name, value] : resources.scalars) {
    if (std::string problem = resource_name_problem(name); !problem.empty()) {
      return make_error(problem);
    }
    if (name == "ports") return make_error("resource 'ports' must be a range set, not a number");
    if (std::string problem = amount_problem(name, value); !problem.empty()) {
      return make_error(problem);
    }
  }
  for (const auto& [name, list] : resources.ranges) {
    if (std::string problem = resource_name_problem(name); !problem.empty()) {
      return make_error(problem);
    }
    if (resources.scalars.count(name) != 0) {
      return make_error("resource '" + name + "' is both a number and a range set");
    }
    if (name == "cpus" || name == "mem" || name == "disk") {
      return make_error("resource '" + name + "' must be a number, not a range set");
    }
    if (list.size() > limits::kMaxRanges) {
      return make_error("resource '" + name + "' has more than " +
                        std::to_string(limits::kMaxRanges) + " ranges");
    }
    uint64_t largest = name == "ports" ? limits::kMaxPort : limits::kMaxRangeValue;
    for (const Range& range : list) {
      if (range.begin <= range.end && range.end <= largest) continue;
      std::string text = std::to_string(range.begin) + "-" + std::to_string(range.end);
      if (range.end < range.begin) {
        return make_error("resource '" + name + "': range '" + text + "' ends before it begins");
      }
      if (range.end > largest) {
        return make_error("resource '" + name + "': range '" + text + "' goes past " +
                          (name == "ports" ? "the largest port " : "the largest value ") +
                          std::to_string(largest));
      }
    }
  }
  return {};
}

// Parses the Mesos text form, the one parser the agent's TOML, the allocator's TOML and the
// CLI use: "cpus:4;mem:4096;disk:10000;ports:[31000-32000,32500]". A scalar is a number; a
// range set is a bracketed list of BEGIN-END ranges or single numbers, which must not overlap
// (they are sorted and merged). cpus, mem and disk are scalars and ports a range set; any other
// name may be either. Blanks around names, values and separators, and blank items, are
// ignored; an empty text is empty resources. What is read then passes check_resources(), and
// every error names the resource, e.g. "resource 'cpus': expected a number, got 'x'".
inline Result<Resources> parse_resources(std::string_view text) {
  Resources out;
  Status status = detail::for_each_item(text, ';', [&](std::string_view item) -> Status {
    size_t colon = item.find(':');
    if (colon == std::string_view::npos) {
      return make_error("resource '" + std::string(item) +
                        "': expected NAME:VALUE (e.g. cpus:4 or ports:[31000-32000])");
    }
    std::string name(detail::trim(item.substr(0, colon)));
    std::string_view value = detail::trim(item.substr(colon + 1));
    auto error = [&name](const std::string& what) {
      return make_error("resource '" + name + "': " + what);
    };
    if (name.find('(') != std::string::npos) {
      return error("roles and reservations in resource names are not supported");
    }
    if (std::string problem = resource_name_problem(name); !problem.empty()) {
      return make_error(problem);
    }
    if (out.scalars.count(name) != 0 || out.ranges.count(name) != 0) {
      return make_error("resource '" + name + "' is given twice");
    }
    if (!value.empty() && value.front() == '{') {
      return error("set values ({a,b}) are not supported");
    }
    bool is_ranges = !value.empty() && value.front() == '[';
    if (name == "ports" && !is_ranges) {
      return error("expected a range list such as [31000-32000], got '" + std::string(value) + "'");
    }
    if (!is_ranges || name == "cpus" || name == "mem" || name == "disk") {
      double amount = 0;
      auto [end, failure] = std::from_chars(value.data(), value.data() + value.size(), amount);
      if (value.empty() || failure != std::errc() || end != value.data() + value.size()) {
        return error("expected a number, got '" + std::string(value) + "'");
      }
      out.scalars[name] = amount;
      return {};
    }
    if (value.back() != ']') {
      return error("a range list must look like [31000-32000], got '" + std::string(value) + "'");
    }
    std::vector<Range> list;
    Status ranges = detail::for_each_item(
        value.substr(1, value.size() - 2), ',', [&](std::string_view piece) -> Status {
          size_t dash = piece.find('-');
          Range range;
          bool ok =
              dash == std::string_view::npos
                  ? detail::parse_integer(piece, range.begin)
                  : detail::parse_integer(detail::trim(piece.substr(0, dash)), range.begin) &&
                        detail::parse_integer(detail::trim(piece.substr(dash + 1)), range.end);
          if (dash == std::string_view::npos) range.end = range.begin;
          if (!ok) {
            return error("expected BEGIN-END or a single number in a range list, got '" +
                         std::string(piece) + "'");
          }
          if (range.end < range.begin) {
            return error("range '" + std::string(piece) + "' ends before it begins");
          }
          for (const Range& earlier : list) {
            if (range.begin <= earlier.end && earlier.begin <= range.end) {
              return error("range '" + std::string(piece) + "' overlaps " +
                           std::to_string(earlier.begin) + "-" + std::to_string(earlier.end));
            }
          }
          if (list.size() == limits::kMaxRanges) {
            return error("more than " + std::to_string(limits::kMaxRanges) + " ranges");
          }
          list.push_back(range);
          return {};
        });
    if (!ranges) return ranges;
    out.ranges[name] = Resources::normalise(std::move(list));
    return {};
  });
  if (!status) return status.error();
  if (Status checked = check_resources(out); !checked) return checked.error();
  return out;
}

}  // namespace tessera::protocol

// Resources on the wire, and the arithmetic every part of the cluster does on them.
//
// A Resources value is named scalars (cpus, mem in MB, disk in MB, gpus, any custom scalar)
// plus named range sets (ports). Scalars compare with Mesos's fixed-point rule (three decimal
// places), so 0.1 + 0.2 fits in 0.3. Header-only value types; not thread-safe to share.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <msgpack.hpp>

namespace tessera::protocol {

// An inclusive range [begin, end] (ports 31000-32000 is {31000, 32000}).
struct Range {
  uint64_t begin = 0;
  uint64_t end = 0;
  MSGPACK_DEFINE(begin, end);
  bool operator==(const Range&) const = default;
};

struct Resources {
  std::map<std::string, double> scalars;
  std::map<std::string, std::vector<Range>> ranges;
  MSGPACK_DEFINE_MAP(scalars, ranges);

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
      char buf[64];
      std::snprintf(buf, sizeof buf, "%g", v);
      out += name + ":" + buf;
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

}  // namespace tessera::protocol

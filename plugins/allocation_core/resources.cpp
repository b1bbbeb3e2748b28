#include "allocation_core/resources.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <mutex>
#include <unordered_map>

namespace tessera::allocation {

Milli toMilli(double value) { return static_cast<Milli>(std::llround(value * 1000.0)); }

namespace {

struct NameTable {
  std::mutex mutex;
  // A deque keeps references to names stable while the table grows.
  std::deque<std::string> names;
  std::unordered_map<std::string, ResourceId> ids;
};

NameTable& nameTable() {
  static NameTable table;
  return table;
}

}  // namespace

ResourceId ResourceNames::intern(std::string_view name) {
  NameTable& table = nameTable();
  std::lock_guard lock(table.mutex);
  auto it = table.ids.find(std::string(name));
  if (it != table.ids.end()) return it->second;
  // Sixty-five thousand distinct resource names would be a bug in the caller, not a workload.
  if (table.names.size() >= std::numeric_limits<ResourceId>::max()) std::abort();
  auto id = static_cast<ResourceId>(table.names.size());
  table.names.emplace_back(name);
  table.ids.emplace(std::string(name), id);
  return id;
}

const std::string& ResourceNames::name(ResourceId id) {
  NameTable& table = nameTable();
  std::lock_guard lock(table.mutex);
  return table.names.at(id);
}

std::size_t ResourceNames::count() {
  NameTable& table = nameTable();
  std::lock_guard lock(table.mutex);
  return table.names.size();
}

// ----------------------------------------------------------------------------------------------
// Ranges

Ranges::Ranges(std::initializer_list<Interval> intervals) {
  for (const Interval& interval : intervals) add(interval);
}

void Ranges::add(Interval interval) {
  if (interval.begin > interval.end) std::swap(interval.begin, interval.end);
  // Find the first interval that could touch the new one (its end reaches begin - 1).
  auto first = std::lower_bound(
      intervals_.begin(), intervals_.end(), interval.begin,
      [](const Interval& existing, std::uint64_t begin) { return existing.end + 1 < begin; });
  auto last = first;
  while (last != intervals_.end() && last->begin <= interval.end + 1) {
    interval.begin = std::min(interval.begin, last->begin);
    interval.end = std::max(interval.end, last->end);
    ++last;
  }
  if (first == last) {
    intervals_.insert(first, interval);
  } else {
    *first = interval;
    intervals_.erase(first + 1, last);
  }
}

void Ranges::add(const Ranges& other) {
  if (intervals_.empty()) {
    intervals_ = other.intervals_;
    return;
  }
  // Merge two sorted lists, then coalesce: linear rather than one insert per interval.
  std::vector<Interval> merged;
  merged.reserve(intervals_.size() + other.intervals_.size());
  std::merge(intervals_.begin(), intervals_.end(), other.intervals_.begin(), other.intervals_.end(),
             std::back_inserter(merged),
             [](const Interval& a, const Interval& b) { return a.begin < b.begin; });
  std::vector<Interval> out;
  out.reserve(merged.size());
  for (const Interval& interval : merged) {
    if (!out.empty() && interval.begin <= out.back().end + 1) {
      out.back().end = std::max(out.back().end, interval.end);
    } else {
      out.push_back(interval);
    }
  }
  intervals_ = std::move(out);
}

void Ranges::subtract(const Ranges& other) {
  if (intervals_.empty() || other.intervals_.empty()) return;
  std::vector<Interval> out;
  out.reserve(intervals_.size() + other.intervals_.size());
  std::size_t j = 0;
  const auto& cut = other.intervals_;
  for (Interval current : intervals_) {
    bool alive = true;
    while (j < cut.size() && cut[j].end < current.begin) ++j;
    std::size_t k = j;
    while (alive && k < cut.size() && cut[k].begin <= current.end) {
      if (cut[k].begin > current.begin) out.push_back({current.begin, cut[k].begin - 1});
      if (cut[k].end >= current.end) {
        alive = false;
      } else {
        current.begin = cut[k].end + 1;
        ++k;
      }
    }
    if (alive) out.push_back(current);
  }
  intervals_ = std::move(out);
}

bool Ranges::contains(const Ranges& other) const {
  // Intervals are coalesced, so each interval of other must sit inside a single one of ours.
  std::size_t i = 0;
  for (const Interval& wanted : other.intervals_) {
    while (i < intervals_.size() && intervals_[i].end < wanted.begin) ++i;
    if (i == intervals_.size()) return false;
    if (intervals_[i].begin > wanted.begin || intervals_[i].end < wanted.end) return false;
  }
  return true;
}

std::uint64_t Ranges::count() const {
  std::uint64_t total = 0;
  for (const Interval& interval : intervals_) total += interval.end - interval.begin + 1;
  return total;
}

std::string Ranges::toString() const {
  std::string out = "[";
  for (std::size_t i = 0; i < intervals_.size(); ++i) {
    if (i > 0) out += ",";
    out += std::to_string(intervals_[i].begin) + "-" + std::to_string(intervals_[i].end);
  }
  return out + "]";
}

// ----------------------------------------------------------------------------------------------
// Resources

Result<Resources> fromProtocol(const protocol::Resources& resources) {
  if (Status s = protocol::check_resources(resources); !s) return s.error();
  Resources out;
  for (const auto& [name, value] : resources.scalars) out.set(name, value);
  for (const auto& [name, list] : resources.ranges) {
    Ranges ranges;
    for (const protocol::Range& range : list) ranges.add(Interval{range.begin, range.end});
    out.addRanges(name, ranges);
  }
  return out;
}

Result<Resources> Resources::parse(std::string_view text) {
  auto wire = protocol::parse_resources(text);
  if (!wire) return wire.error();
  return fromProtocol(*wire);
}

Resources& Resources::set(std::string_view name, double value) {
  return setMilli(ResourceNames::intern(name), toMilli(value));
}

Resources& Resources::setMilli(ResourceId id, Milli value) {
  auto it = std::lower_bound(scalars_.begin(), scalars_.end(), id,
                             [](const Scalar& s, ResourceId key) { return s.id < key; });
  bool present = it != scalars_.end() && it->id == id;
  if (value <= 0) {
    if (present) scalars_.erase(it);
  } else if (present) {
    it->value = value;
  } else {
    scalars_.insert(it, Scalar{id, value});
  }
  return *this;
}

Resources& Resources::addRanges(std::string_view name, const Ranges& ranges) {
  if (ranges.empty()) return *this;
  ResourceId id = ResourceNames::intern(name);
  auto it = std::lower_bound(ranges_.begin(), ranges_.end(), id,
                             [](const RangeSet& s, ResourceId key) { return s.id < key; });
  if (it != ranges_.end() && it->id == id) {
    it->ranges.add(ranges);
  } else {
    ranges_.insert(it, RangeSet{id, ranges});
  }
  return *this;
}

double Resources::scalar(std::string_view name) const {
  return fromMilli(scalarMilli(ResourceNames::intern(name)));
}

Milli Resources::scalarMilli(ResourceId id) const {
  for (const Scalar& s : scalars_) {
    if (s.id == id) return s.value;
  }
  return 0;
}

const Ranges* Resources::ranges(std::string_view name) const {
  return ranges(ResourceNames::intern(name));
}

const Ranges* Resources::ranges(ResourceId id) const {
  for (const RangeSet& set : ranges_) {
    if (set.id == id) return &set.ranges;
  }
  return nullptr;
}

bool Resources::contains(const Resources& other) const {
  std::size_t i = 0;
  for (const Scalar& wanted : other.scalars_) {
    while (i < scalars_.size() && scalars_[i].id < wanted.id) ++i;
    if (i == scalars_.size() || scalars_[i].id != wanted.id || scalars_[i].value < wanted.value) {
      return false;
    }
  }
  i = 0;
  for (const RangeSet& wanted : other.ranges_) {
    while (i < ranges_.size() && ranges_[i].id < wanted.id) ++i;
    if (i == ranges_.size() || ranges_[i].id != wanted.id ||
        !ranges_[i].ranges.contains(wanted.ranges)) {
      return false;
    }
  }
  return true;
}

Resources& Resources::operator+=(const Resources& other) {
  // Offers are small (a handful of names), so a merge into a fresh vector beats clever in-place
  // insertion and keeps the code obviously correct.
  if (!other.scalars_.empty()) {
    std::vector<Scalar> merged;
    merged.reserve(scalars_.size() + other.scalars_.size());
    std::size_t i = 0;
    std::size_t j = 0;
    while (i < scalars_.size() || j < other.scalars_.size()) {
      if (j == other.scalars_.size() ||
          (i < scalars_.size() && scalars_[i].id < other.scalars_[j].id)) {
        merged.push_back(scalars_[i++]);
      } else if (i == scalars_.size() || other.scalars_[j].id < scalars_[i].id) {
        merged.push_back(other.scalars_[j++]);
      } else {
        merged.push_back(Scalar{scalars_[i].id, scalars_[i].value + other.scalars_[j].value});
        ++i;
        ++j;
      }
    }
    scalars_ = std::move(merged);
  }
  for (const RangeSet& set : other.ranges_) {
    auto it = std::lower_bound(ranges_.begin(), ranges_.end(), set.id,
                               [](const RangeSet& s, ResourceId key) { return s.id < key; });
    if (it != ranges_.end() && it->id == set.id) {
      it->ranges.add(set.ranges);
    } else {
      ranges_.insert(it, set);
    }
  }
  return *this;
}

Resources& Resources::operator-=(const Resources& other) {
  std::size_t i = 0;
  for (const Scalar& cut : other.scalars_) {
    while (i < scalars_.size() && scalars_[i].id < cut.id) ++i;
    if (i < scalars_.size() && scalars_[i].id == cut.id) scalars_[i].value -= cut.value;
  }
  std::erase_if(scalars_, [](const Scalar& s) { return s.value <= 0; });
  i = 0;
  for (const RangeSet& cut : other.ranges_) {
    while (i < ranges_.size() && ranges_[i].id < cut.id) ++i;
    if (i < ranges_.size() && ranges_[i].id == cut.id) ranges_[i].ranges.subtract(cut.ranges);
  }
  std::erase_if(ranges_, [](const RangeSet& s) { return s.ranges.empty(); });
  return *this;
}

Resources Resources::scalarsOnly() const {
  Resources out;
  out.scalars_ = scalars_;
  return out;
}

std::string Resources::toString() const {
  std::string out;
  auto append = [&out](const std::string& item) {
    if (!out.empty()) out += ";";
    out += item;
  };
  for (const Scalar& s : scalars_) {
    std::string number = std::to_string(s.value / 1000);
    if (Milli frac = s.value % 1000; frac != 0) {
      std::string digits = std::to_string(1000 + frac).substr(1);
      while (digits.back() == '0') digits.pop_back();
      number += "." + digits;
    }
    append(ResourceNames::name(s.id) + ":" + number);
  }
  for (const RangeSet& set : ranges_) {
    append(ResourceNames::name(set.id) + ":" + set.ranges.toString());
  }
  return out;
}

}  // namespace tessera::allocation

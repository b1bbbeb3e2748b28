// Resources as the allocator sees them: named scalars (cpus, mem, disk, gpus, any custom name)
// and named sets of integer ranges (ports).
//
// Scalars are stored in fixed point with three decimal places, as Mesos does, so that adding and
// subtracting offers never drifts and comparisons are exact. Names are interned once into a
// small integer (ResourceId) so that the allocation loop never hashes or compares strings.
//
// Ownership and threading: Resources and Ranges are plain values (copyable, movable, not
// thread-safe, like std::vector). ResourceNames is process-wide and safe to call from any thread;
// ids are stable for the life of the process.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/protocol/resources.h"
#include "tessera/result.h"

namespace tessera::allocation {

using ResourceId = std::uint16_t;

// Scalar quantities in thousandths: 1.5 cpus is 1500.
using Milli = std::int64_t;

Milli toMilli(double value);
inline double fromMilli(Milli value) { return static_cast<double>(value) / 1000.0; }

// Process-wide table of resource names. Interning takes a lock; the hot loop only uses ids.
class ResourceNames {
 public:
  static ResourceId intern(std::string_view name);
  // The reference stays valid for the life of the process.
  static const std::string& name(ResourceId id);
  // Number of names interned so far; every id is smaller than this.
  static std::size_t count();
};

// An inclusive interval of integers, e.g. ports 31000-32000.
struct Interval {
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
  friend bool operator==(const Interval&, const Interval&) = default;
};

// A set of integers as sorted, disjoint, non-adjacent intervals.
class Ranges {
 public:
  Ranges() = default;
  Ranges(std::initializer_list<Interval> intervals);

  void add(Interval interval);
  void add(const Ranges& other);
  void subtract(const Ranges& other);
  bool contains(const Ranges& other) const;
  bool empty() const { return intervals_.empty(); }
  // How many integers the set holds.
  std::uint64_t count() const;
  const std::vector<Interval>& intervals() const { return intervals_; }
  std::string toString() const;

  friend bool operator==(const Ranges&, const Ranges&) = default;

 private:
  std::vector<Interval> intervals_;
};

// A bag of named scalars and named range sets. Zero scalars and empty range sets are not stored,
// so two Resources holding the same amounts compare equal.
class Resources {
 public:
  struct Scalar {
    ResourceId id;
    Milli value;
    friend bool operator==(const Scalar&, const Scalar&) = default;
  };
  struct RangeSet {
    ResourceId id;
    Ranges ranges;
    friend bool operator==(const RangeSet&, const RangeSet&) = default;
  };

  Resources() = default;

  // Parses the Mesos text form, "cpus:4;mem:1024;ports:[31000-31999,33000-33010]", with the
  // parser the whole cluster shares (protocol::parse_resources), then converts it.
  static Result<Resources> parse(std::string_view text);

  // Sets a scalar; a value of zero or below removes it.
  Resources& set(std::string_view name, double value);
  Resources& setMilli(ResourceId id, Milli value);
  // Adds integers to a named range set.
  Resources& addRanges(std::string_view name, const Ranges& ranges);

  double scalar(std::string_view name) const;
  Milli scalarMilli(ResourceId id) const;
  // Null when the set is absent (empty).
  const Ranges* ranges(std::string_view name) const;
  const Ranges* ranges(ResourceId id) const;

  const std::vector<Scalar>& scalars() const { return scalars_; }
  const std::vector<RangeSet>& rangeSets() const { return ranges_; }

  bool empty() const { return scalars_.empty() && ranges_.empty(); }
  // Whether some scalar is positive: an offer of ports alone is useless, as in Mesos.
  bool hasScalars() const { return !scalars_.empty(); }

  // Whether every scalar and every range of other is also in this.
  bool contains(const Resources& other) const;

  Resources& operator+=(const Resources& other);
  // Subtraction saturates: a scalar never goes below zero and missing ranges are ignored.
  Resources& operator-=(const Resources& other);
  friend Resources operator+(Resources a, const Resources& b) { return a += b; }
  friend Resources operator-(Resources a, const Resources& b) { return a -= b; }
  friend bool operator==(const Resources&, const Resources&) = default;

  // The scalars only, e.g. for quota arithmetic.
  Resources scalarsOnly() const;

  std::string toString() const;

 private:
  std::vector<Scalar> scalars_;   // Sorted by id, values > 0.
  std::vector<RangeSet> ranges_;  // Sorted by id, non-empty.
};

// The wire form as the core's, after protocol::check_resources (so no NaN, infinity, negative,
// oversized or inverted amount reaches the fixed-point arithmetic); the error names the
// resource.
Result<Resources> fromProtocol(const protocol::Resources& resources);

}  // namespace tessera::allocation

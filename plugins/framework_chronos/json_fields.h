// Reading JSON objects field by field (for jobs, run records and stored state), and writing
// JSON text with numbers as Chronos's Jackson writes them.
//
// Internal to framework_chronos_core. Values only, no I/O.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chronos_time.h"
#include "tessera/result.h"

namespace tessera::chronos {

// Reads the fields of one JSON object the way Chronos's Jackson deserializer does (a missing or
// null field takes its default; numbers and booleans may also come as strings, "0.5" or
// "true"), but refuses what Jackson would silently turn into something else. The first problem
// found is kept in error() and every later read returns its fallback, so a parser reads on
// without checking after each field. The reader refers to the object; it must outlive it.
class FieldReader {
 public:
  static constexpr size_t kMaxTextLength = 65'536;
  static constexpr size_t kMaxListLength = 10'000;

  // `where` prefixes every error ("job 'x'"); it may be empty.
  FieldReader(const boost::json::object& object, std::string where);

  const std::optional<Error>& error() const { return error_; }
  void fail(const std::string& message);

  // The field's value, or nullptr when it is missing or null.
  const boost::json::value* find(std::string_view key) const;
  bool has(std::string_view key) const { return find(key) != nullptr; }

  std::string text(std::string_view key, std::string fallback = "",
                   size_t max_length = kMaxTextLength);
  bool boolean(std::string_view key, bool fallback);
  // A finite number from 0 to max.
  double number(std::string_view key, double fallback, double max);
  // A whole number from 0 to max.
  std::int64_t integer(std::string_view key, std::int64_t fallback, std::int64_t max);
  // "" or missing: none; otherwise an ISO 8601 instant.
  std::optional<TimePoint> time(std::string_view key);
  std::vector<std::string> strings(std::string_view key);

  // An array (missing or null: empty); each element is handed to `read(element)` until the
  // first error.
  template <typename Read>
  void array(std::string_view key, Read read) {
    const boost::json::array* items = checked_array(key);
    if (items == nullptr) return;
    for (const boost::json::value& item : *items) {
      if (error_) return;
      read(item);
    }
  }

  // An element that must be an object, read with a reader of its own whose first error
  // becomes this one's.
  template <typename Read>
  void object(const boost::json::value& value, const std::string& what, Read read) {
    if (!value.is_object()) {
      fail(what + " must be an object");
      return;
    }
    FieldReader inner(value.get_object(), where_.empty() ? what : where_ + ": " + what);
    read(inner);
    if (inner.error_ && !error_) error_ = inner.error_;
  }

 private:
  const boost::json::array* checked_array(std::string_view key);

  const boost::json::object& object_;
  std::string where_;
  std::optional<Error> error_;
};

// A finite double as Java's Double.toString writes it, which is how Chronos (Scala's
// Double.toString, Jackson) writes a job's numbers: the shortest digits that read back as the
// same double, as a decimal with at least one fraction digit from 0.001 up to below 10,000,000
// ("128.0", "0.5", "0.001", "9999999.0"), and otherwise as one digit, a fraction and a decimal
// exponent ("1.0E7", "1.5E12", "1.0E-4"). Java before 19 wrote a longer form for a few values
// whose shortest digits it missed; this writes the shortest, as Java 19 and later do.
std::string java_double_text(double value);

// Compact JSON text in which a number with a fraction is written as Chronos's Jackson writes
// it (java_double_text: "0.1", "128.0", "1.0E7"), not as Boost.JSON does ("1E-1", "1.28E2").
// For answers to Chronos clients.
std::string to_json_text(const boost::json::value& value);

}  // namespace tessera::chronos

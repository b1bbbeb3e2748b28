#include "json_fields.h"

#include <cctype>
#include <charconv>
#include <cmath>

namespace tessera::chronos {

namespace json = boost::json;

namespace {

// Jackson's asText: strings as they are, numbers and booleans as written.
std::optional<std::string> scalar_text(const json::value& value) {
  if (value.is_string()) return std::string(value.get_string());
  if (value.is_number() || value.is_bool()) return json::serialize(value);
  return std::nullopt;
}

std::string shortest(double value, std::chars_format format = std::chars_format::general) {
  char buffer[64];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value, format);
  return ec == std::errc() ? std::string(buffer, end) : std::string("?");
}

// Whole numbers from text, for fields that clients send as strings ("512").
template <typename Number>
std::optional<Number> number_from_text(const json::string& text) {
  Number parsed{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), parsed);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return parsed;
}

void write_string(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  size_t plain = 0;  // start of the run of characters that need no escape
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    auto byte = static_cast<unsigned char>(c);
    if (c != '"' && c != '\\' && byte >= 0x20) continue;
    out.append(text.substr(plain, i - plain));
    plain = i + 1;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        out += "\\u00";
        out.push_back(kHex[byte >> 4]);
        out.push_back(kHex[byte & 0xf]);
    }
  }
  out.append(text.substr(plain));
  out.push_back('"');
}

template <typename Number>
void write_integer(std::string& out, Number number) {
  char buffer[24];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, number);
  out.append(buffer, end);
}

void write_json(std::string& out, const json::value& value) {
  switch (value.kind()) {
    case json::kind::object: {
      out.push_back('{');
      bool first = true;
      for (const auto& [key, item] : value.get_object()) {
        if (!first) out.push_back(',');
        first = false;
        write_string(out, key);
        out.push_back(':');
        write_json(out, item);
      }
      out.push_back('}');
      break;
    }
    case json::kind::array: {
      out.push_back('[');
      bool first = true;
      for (const json::value& item : value.get_array()) {
        if (!first) out.push_back(',');
        first = false;
        write_json(out, item);
      }
      out.push_back(']');
      break;
    }
    case json::kind::string:
      write_string(out, value.get_string());
      break;
    case json::kind::int64:
      write_integer(out, value.get_int64());
      break;
    case json::kind::uint64:
      write_integer(out, value.get_uint64());
      break;
    case json::kind::bool_:
      out += value.get_bool() ? "true" : "false";
      break;
    case json::kind::double_: {
      double number = value.get_double();
      if (!std::isfinite(number)) {
        out += "null";
        break;
      }
      // As Java writes it (128.0, 1.0E7): clients compare the text.
      out += java_double_text(number);
      break;
    }
    case json::kind::null:
    default:
      out += "null";
  }
}

}  // namespace

FieldReader::FieldReader(const json::object& object, std::string where)
    : object_(object), where_(std::move(where)) {}

void FieldReader::fail(const std::string& message) {
  if (!error_) error_ = make_error(where_.empty() ? message : where_ + ": " + message);
}

const json::value* FieldReader::find(std::string_view key) const {
  const json::value* value = object_.if_contains(key);
  return value == nullptr || value->is_null() ? nullptr : value;
}

std::string FieldReader::text(std::string_view key, std::string fallback, size_t max_length) {
  const json::value* value = find(key);
  if (value == nullptr) return fallback;
  auto out = scalar_text(*value);
  if (!out) {
    fail("'" + std::string(key) + "' must be a string");
    return fallback;
  }
  if (out->size() > max_length) {
    fail("'" + std::string(key) + "' is longer than " + std::to_string(max_length));
    return fallback;
  }
  return *out;
}

bool FieldReader::boolean(std::string_view key, bool fallback) {
  const json::value* value = find(key);
  if (value == nullptr) return fallback;
  if (value->is_bool()) return value->get_bool();
  if (value->is_string()) {
    std::string text(value->get_string());
    for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (text == "true") return true;
    if (text == "false") return false;
  }
  fail("'" + std::string(key) + "' must be true or false");
  return fallback;
}

double FieldReader::number(std::string_view key, double fallback, double max) {
  const json::value* value = find(key);
  if (value == nullptr) return fallback;
  std::optional<double> number;
  if (value->is_number()) {
    number = value->to_number<double>();
  } else if (value->is_string()) {
    number = number_from_text<double>(value->get_string());
  }
  if (!number || !std::isfinite(*number) || *number < 0 || *number > max) {
    fail("'" + std::string(key) + "' must be a number from 0 to " +
         shortest(max, std::chars_format::fixed));
    return fallback;
  }
  return *number;
}

std::int64_t FieldReader::integer(std::string_view key, std::int64_t fallback, std::int64_t max) {
  const json::value* value = find(key);
  if (value == nullptr) return fallback;
  std::optional<std::int64_t> number;
  if (value->is_int64()) {
    number = value->get_int64();
  } else if (value->is_uint64() && value->get_uint64() <= static_cast<std::uint64_t>(max)) {
    number = static_cast<std::int64_t>(value->get_uint64());
  } else if (value->is_string()) {
    number = number_from_text<std::int64_t>(value->get_string());
  }
  if (!number || *number < 0 || *number > max) {
    fail("'" + std::string(key) + "' must be a whole number from 0 to " + std::to_string(max));
    return fallback;
  }
  return *number;
}

std::optional<TimePoint> FieldReader::time(std::string_view key) {
  std::string value = text(key);
  if (value.empty()) return std::nullopt;
  auto parsed = parse_time(value);
  if (!parsed) {
    fail("'" + std::string(key) + "': " + parsed.error().message);
    return std::nullopt;
  }
  return *parsed;
}

std::vector<std::string> FieldReader::strings(std::string_view key) {
  std::vector<std::string> out;
  array(key, [&](const json::value& item) {
    auto text = scalar_text(item);
    if (!text || text->size() > kMaxTextLength) {
      fail("'" + std::string(key) + "' must hold strings");
      return;
    }
    out.push_back(std::move(*text));
  });
  return out;
}

const json::array* FieldReader::checked_array(std::string_view key) {
  const json::value* value = find(key);
  if (value == nullptr) return nullptr;
  if (!value->is_array()) {
    fail("'" + std::string(key) + "' must be an array");
    return nullptr;
  }
  if (value->get_array().size() > kMaxListLength) {
    fail("'" + std::string(key) + "' has more than " + std::to_string(kMaxListLength) +
         " elements");
    return nullptr;
  }
  return &value->get_array();
}

std::string java_double_text(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value < 0 ? "-Infinity" : "Infinity";
  if (value == 0) return std::signbit(value) ? "-0.0" : "0.0";
  // The shortest digits that read back as `value`, as d.ddde[+-]XX.
  std::string scientific = shortest(value, std::chars_format::scientific);
  std::string out;
  std::string_view text = scientific;
  if (text.front() == '-') {
    out.push_back('-');
    text.remove_prefix(1);
  }
  size_t e = text.find('e');
  int exponent = 0;
  std::from_chars(text.data() + e + 1 + (text[e + 1] == '+' ? 1 : 0), text.data() + text.size(),
                  exponent);
  std::string digits;
  for (char c : text.substr(0, e)) {
    if (c != '.') digits.push_back(c);
  }
  // Java's FloatingDecimal: plain from 10^-3 up to below 10^7, else "computerized scientific
  // notation", both with at least one digit after the point.
  if (exponent >= -3 && exponent < 7) {
    if (exponent < 0) {
      out += "0.";
      out.append(static_cast<size_t>(-exponent - 1), '0');
      out += digits;
    } else {
      auto whole = static_cast<size_t>(exponent) + 1;
      if (digits.size() < whole) digits.append(whole - digits.size(), '0');
      out += digits.substr(0, whole);
      out.push_back('.');
      out += digits.size() > whole ? digits.substr(whole) : "0";
    }
    return out;
  }
  out.push_back(digits.front());
  out.push_back('.');
  out += digits.size() > 1 ? digits.substr(1) : "0";
  out += "E" + std::to_string(exponent);
  return out;
}

std::string to_json_text(const json::value& value) {
  std::string out;
  out.reserve(256);
  write_json(out, value);
  return out;
}

}  // namespace tessera::chronos

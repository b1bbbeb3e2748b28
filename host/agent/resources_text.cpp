#include "resources_text.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

namespace tessera::host::agent {

namespace {

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

std::vector<std::string> split(const std::string& s, char separator) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream in(s);
  while (std::getline(in, item, separator)) out.push_back(item);
  if (!s.empty() && s.back() == separator) out.emplace_back();
  return out;
}

bool valid_name(const std::string& name) {
  if (name.empty()) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

Result<uint64_t> parse_port(const std::string& name, const std::string& text) {
  std::string t = trim(text);
  if (t.empty() || t.find_first_not_of("0123456789") != std::string::npos) {
    return make_error("resource '" + name + "': expected a non-negative integer in a range, got '" +
                      t + "'");
  }
  errno = 0;
  unsigned long long v = std::strtoull(t.c_str(), nullptr, 10);
  if (errno == ERANGE) return make_error("resource '" + name + "': '" + t + "' is too large");
  return static_cast<uint64_t>(v);
}

Result<std::vector<protocol::Range>> parse_ranges(const std::string& name,
                                                  const std::string& value) {
  if (value.size() < 2 || value.front() != '[' || value.back() != ']') {
    return make_error("resource '" + name + "': a range list must look like [31000-32000], got '" +
                      value + "'");
  }
  std::string inner = trim(value.substr(1, value.size() - 2));
  std::vector<protocol::Range> out;
  if (inner.empty()) return out;
  for (const std::string& raw : split(inner, ',')) {
    std::string item = trim(raw);
    size_t dash = item.find('-');
    if (item.empty() || dash == std::string::npos) {
      return make_error("resource '" + name + "': expected a range BEGIN-END, got '" + item + "'");
    }
    auto begin = parse_port(name, item.substr(0, dash));
    if (!begin) return begin.error();
    auto end = parse_port(name, item.substr(dash + 1));
    if (!end) return end.error();
    if (*end < *begin) {
      return make_error("resource '" + name + "': range '" + item + "' ends before it begins");
    }
    for (const protocol::Range& r : out) {
      if (*begin <= r.end && r.begin <= *end) {
        return make_error("resource '" + name + "': range '" + item + "' overlaps " +
                          std::to_string(r.begin) + "-" + std::to_string(r.end));
      }
    }
    out.push_back({*begin, *end});
  }
  return protocol::Resources::normalise(std::move(out));
}

Result<double> parse_scalar(const std::string& name, const std::string& value) {
  const char* start = value.c_str();
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(start, &end);
  if (value.empty() || end != start + value.size() || errno == ERANGE || !std::isfinite(v)) {
    return make_error("resource '" + name + "': expected a number, got '" + value + "'");
  }
  if (v < 0)
    return make_error("resource '" + name + "': must not be negative, got '" + value + "'");
  return v;
}

}  // namespace

Result<protocol::Resources> parse_resources(const std::string& text) {
  protocol::Resources out;
  if (trim(text).empty()) return out;
  for (const std::string& raw : split(text, ';')) {
    std::string item = trim(raw);
    if (item.empty()) {
      return make_error("empty resource between ';' separators in '" + text + "'");
    }
    size_t colon = item.find(':');
    if (colon == std::string::npos) {
      return make_error("resource '" + item +
                        "': expected NAME:VALUE (e.g. cpus:4 or ports:[31000-32000])");
    }
    std::string name = trim(item.substr(0, colon));
    std::string value = trim(item.substr(colon + 1));
    if (name.find('(') != std::string::npos) {
      return make_error("resource '" + name +
                        "': roles and reservations in resource names are not supported");
    }
    if (!valid_name(name)) {
      return make_error("resource name '" + name +
                        "' is not valid (letters, digits, '_', '-' and '.' only)");
    }
    if (out.scalars.count(name) != 0 || out.ranges.count(name) != 0) {
      return make_error("resource '" + name + "' is given twice");
    }
    if (!value.empty() && value.front() == '{') {
      return make_error("resource '" + name + "': set values ({a,b}) are not supported");
    }
    bool is_ranges = !value.empty() && value.front() == '[';
    if (name == "ports" && !is_ranges) {
      return make_error("resource 'ports': expected a range list such as [31000-32000], got '" +
                        value + "'");
    }
    if ((name == "cpus" || name == "mem" || name == "disk") && is_ranges) {
      return make_error("resource '" + name + "': expected a number, got '" + value + "'");
    }
    if (is_ranges) {
      auto ranges = parse_ranges(name, value);
      if (!ranges) return ranges.error();
      out.ranges[name] = std::move(*ranges);
    } else {
      auto scalar = parse_scalar(name, value);
      if (!scalar) return scalar.error();
      out.scalars[name] = *scalar;
    }
  }
  return out;
}

protocol::Resources detect_defaults() {
  protocol::Resources out;
  unsigned cpus = std::thread::hardware_concurrency();
  out.scalars["cpus"] = cpus == 0 ? 1.0 : static_cast<double>(cpus);
  double total_mb = 0;
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  uint64_t kb = 0;
  std::string unit;
  while (meminfo >> key >> kb) {
    std::getline(meminfo, unit);
    if (key == "MemTotal:") {
      total_mb = static_cast<double>(kb) / 1024.0;
      break;
    }
  }
  if (total_mb <= 0) total_mb = 2048;
  // Leave the system 1 GiB, or half of a small machine.
  double mem = total_mb >= 2048 ? total_mb - 1024 : total_mb / 2;
  out.scalars["mem"] = std::floor(mem);
  out.scalars["disk"] = 10240;
  out.ranges["ports"] = {{31000, 32000}};
  return out;
}

protocol::Resources with_defaults(protocol::Resources configured,
                                  const protocol::Resources& defaults) {
  for (const char* name : {"cpus", "mem", "disk"}) {
    if (configured.scalars.count(name) == 0 && configured.ranges.count(name) == 0) {
      configured.scalars[name] = defaults.scalar(name);
    }
  }
  if (configured.scalars.count("ports") == 0 && configured.ranges.count("ports") == 0) {
    auto it = defaults.ranges.find("ports");
    if (it != defaults.ranges.end()) configured.ranges["ports"] = it->second;
  }
  return configured;
}

}  // namespace tessera::host::agent

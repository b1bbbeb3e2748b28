#include "options.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "tessera/sdk/master_detector.h"

namespace tessera::cli {

Result<std::string> resolve_master(const std::string& flag, const char* env) {
  std::string source = "--master";
  std::string address = flag;
  if (address.empty() && env != nullptr && *env != '\0') {
    source = "TESSERA_MASTER";
    address = env;
  }
  if (address.empty()) return std::string(kDefaultMaster);
  auto endpoints = sdk::parse_master_addresses(address);
  if (!endpoints) return endpoints.error().context(source);
  std::string list;
  for (const auto& endpoint : *endpoints) list += (list.empty() ? "" : ",") + endpoint;
  return list;
}

namespace {

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

Result<uint64_t> parse_port(const std::string& text, const std::string& item) {
  std::string t = trim(text);
  if (t.empty() || t.find_first_not_of("0123456789") != std::string::npos) {
    return make_error("bad resource '" + item + "': '" + t + "' is not a non-negative integer");
  }
  errno = 0;
  unsigned long long v = std::strtoull(t.c_str(), nullptr, 10);
  if (errno != 0) return make_error("bad resource '" + item + "': '" + t + "' is too large");
  return static_cast<uint64_t>(v);
}

}  // namespace

Result<protocol::Resources> parse_resources(const std::string& text) {
  protocol::Resources out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(';', start);
    if (end == std::string::npos) end = text.size();
    std::string item = trim(text.substr(start, end - start));
    start = end + 1;
    if (item.empty()) continue;
    size_t colon = item.find(':');
    if (colon == std::string::npos || colon == 0) {
      return make_error("bad resource '" + item + "': expected NAME:VALUE");
    }
    std::string name = trim(item.substr(0, colon));
    std::string value = trim(item.substr(colon + 1));
    if (out.scalars.count(name) || out.ranges.count(name)) {
      return make_error("bad resource '" + item + "': '" + name + "' given twice");
    }
    if (!value.empty() && value.front() == '[') {
      if (value.back() != ']') return make_error("bad resource '" + item + "': missing ']'");
      std::string list = value.substr(1, value.size() - 2);
      std::vector<protocol::Range> ranges;
      size_t p = 0;
      while (p <= list.size()) {
        size_t q = list.find(',', p);
        if (q == std::string::npos) q = list.size();
        std::string r = trim(list.substr(p, q - p));
        p = q + 1;
        if (r.empty()) continue;
        size_t dash = r.find('-');
        auto begin = parse_port(r.substr(0, dash), item);
        if (!begin) return begin.error();
        auto last = dash == std::string::npos ? begin : parse_port(r.substr(dash + 1), item);
        if (!last) return last.error();
        if (*last < *begin) {
          return make_error("bad resource '" + item + "': range '" + r + "' ends before it begins");
        }
        ranges.push_back({*begin, *last});
      }
      out.ranges[name] = protocol::Resources::normalise(std::move(ranges));
      continue;
    }
    char* rest = nullptr;
    errno = 0;
    double v = std::strtod(value.c_str(), &rest);
    if (value.empty() || rest == nullptr || *rest != '\0' || errno != 0 || !std::isfinite(v)) {
      return make_error("bad resource '" + item + "': '" + value + "' is not a number");
    }
    if (v < 0) return make_error("bad resource '" + item + "': must not be negative");
    out.scalars[name] = v;
  }
  return out;
}

protocol::Resources TaskNeeds::scalars() const {
  protocol::Resources r;
  if (cpus > 0) r.scalars["cpus"] = cpus;
  if (mem > 0) r.scalars["mem"] = mem;
  if (disk > 0) r.scalars["disk"] = disk;
  return r;
}

std::string TaskNeeds::describe() const {
  std::string out;
  auto add = [&](const char* name, const std::string& v) {
    if (!out.empty()) out += ";";
    out += std::string(name) + ":" + v;
  };
  if (cpus > 0) add("cpus", number(cpus));
  if (mem > 0) add("mem", number(mem));
  if (disk > 0) add("disk", number(disk));
  if (ports > 0) add("ports", std::to_string(ports));
  return out.empty() ? "nothing" : out;
}

std::optional<std::vector<protocol::Range>> pick_ports(const std::vector<protocol::Range>& offered,
                                                       uint64_t count) {
  std::vector<protocol::Range> out;
  uint64_t left = count;
  for (const protocol::Range& r : protocol::Resources::normalise(offered)) {
    if (left == 0) break;
    uint64_t size = r.end - r.begin + 1;
    uint64_t take = std::min(size, left);
    out.push_back({r.begin, r.begin + take - 1});
    left -= take;
  }
  if (left > 0) return std::nullopt;
  return out;
}

std::optional<protocol::Resources> fit(const TaskNeeds& needs, const protocol::Resources& offered) {
  protocol::Resources take = needs.scalars();
  if (!offered.contains(take)) return std::nullopt;
  if (needs.ports > 0) {
    auto it = offered.ranges.find("ports");
    if (it == offered.ranges.end()) return std::nullopt;
    auto ports = pick_ports(it->second, needs.ports);
    if (!ports) return std::nullopt;
    take.ranges["ports"] = *ports;
  }
  return take;
}

Result<std::pair<std::string, std::string>> parse_env(const std::string& item) {
  size_t eq = item.find('=');
  if (eq == std::string::npos || eq == 0) {
    return make_error("bad environment variable '" + item + "': expected NAME=VALUE");
  }
  return std::make_pair(item.substr(0, eq), item.substr(eq + 1));
}

std::string number(double value) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g", value);
  return buf;
}

}  // namespace tessera::cli

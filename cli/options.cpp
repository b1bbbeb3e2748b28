#include "options.h"

#include <algorithm>
#include <cstdio>

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
  // A scheme the program registered a detector for (zk://) is checked by that detector.
  if (size_t scheme_end = address.find("://"); scheme_end != std::string::npos) {
    std::string scheme = sdk::detail::trim_spaces(address.substr(0, scheme_end));
    if (sdk::registered_detector_schemes().count(scheme) != 0) {
      return sdk::detail::trim_spaces(address);
    }
  }
  auto endpoints = sdk::parse_master_addresses(address);
  if (!endpoints) return endpoints.error().context(source);
  std::string list;
  for (const auto& endpoint : *endpoints) list += (list.empty() ? "" : ",") + endpoint;
  return list;
}

protocol::Resources TaskNeeds::scalars() const {
  protocol::Resources r;
  if (cpus > 0) r.scalars["cpus"] = cpus;
  if (mem > 0) r.scalars["mem"] = mem;
  if (disk > 0) r.scalars["disk"] = disk;
  r += other;
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
  if (!other.empty()) out += (out.empty() ? "" : ";") + other.to_string();
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

std::vector<std::string> shortfall(const TaskNeeds& needs, const protocol::Resources& offered) {
  std::vector<std::string> out;
  protocol::Resources wanted = needs.scalars();
  for (const auto& [name, amount] : wanted.scalars) {
    if (protocol::Resources::fixed(amount) > protocol::Resources::fixed(offered.scalar(name))) {
      out.push_back(name + " (" + number(offered.scalar(name)) + " offered, " + number(amount) +
                    " needed)");
    }
  }
  if (needs.ports > 0) {
    uint64_t count = 0;
    if (auto it = offered.ranges.find("ports"); it != offered.ranges.end()) {
      for (const auto& r : protocol::Resources::normalise(it->second)) count += r.end - r.begin + 1;
    }
    if (count < needs.ports) {
      out.push_back("ports (" + std::to_string(count) + " offered, " + std::to_string(needs.ports) +
                    " needed)");
    }
  }
  for (const auto& [name, ranges] : wanted.ranges) {
    protocol::Resources only;
    only.ranges[name] = ranges;
    if (!offered.contains(only)) out.push_back(name + " (the ranges asked for are not offered)");
  }
  return out;
}

std::vector<std::string> quota_shortfall(const TaskNeeds& needs,
                                         const protocol::operator_api::RoleState& role) {
  std::vector<std::string> out;
  if (!role.has_quota) return out;
  for (const auto& [name, amount] : needs.scalars().scalars) {
    auto limit = role.quota.scalars.find(name);
    if (limit == role.quota.scalars.end()) continue;
    double in_use = role.allocated.scalar(name);
    if (protocol::Resources::fixed(in_use + amount) > protocol::Resources::fixed(limit->second)) {
      out.push_back(name + " (quota " + number(limit->second) + ", " + number(in_use) +
                    " in use, " + number(amount) + " needed)");
    }
  }
  return out;
}

Result<std::pair<std::string, std::string>> parse_env(const std::string& item) {
  size_t eq = item.find('=');
  if (eq == std::string::npos || eq == 0) {
    return make_error("bad environment variable '" + item + "': expected NAME=VALUE");
  }
  return std::make_pair(item.substr(0, eq), item.substr(eq + 1));
}

std::string number(double value) { return protocol::format_scalar(value); }

}  // namespace tessera::cli

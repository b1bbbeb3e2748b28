#include "matcher.h"

#include <algorithm>
#include <charconv>

namespace tessera::marathon {

namespace {

uint64_t whole_number(const std::optional<std::string>& text, uint64_t fallback) {
  if (!text || text->empty()) return fallback;
  uint64_t out = 0;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), out);
  return ec == std::errc() && end == text->data() + text->size() ? out : fallback;
}

bool has_docker_runtime(const Placement& placement) {
  auto runtimes = placement.attributes.find(kRuntimesAttribute);
  if (runtimes == placement.attributes.end()) return false;
  std::string_view list = runtimes->second;
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item == "docker") return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

// Takes `count` ports from `ranges`: the `wanted` ones where given (requirePorts), otherwise
// the lowest free ones. Empty when they are not there.
std::optional<std::vector<uint64_t>> take_ports(const std::vector<protocol::Range>& ranges,
                                                const std::vector<PortDefinition>& definitions,
                                                bool require_ports) {
  std::vector<protocol::Range> free = protocol::Resources::normalise(ranges);
  std::vector<uint64_t> out;
  for (const PortDefinition& definition : definitions) {
    std::optional<uint64_t> port;
    if (require_ports && definition.port != 0) {
      auto wanted = static_cast<uint64_t>(definition.port);
      if (protocol::Resources::ranges_contain(free, {{wanted, wanted}})) port = wanted;
    } else if (!free.empty()) {
      port = free.front().begin;
    }
    if (!port) return std::nullopt;
    free = protocol::Resources::ranges_minus(free, {{*port, *port}});
    out.push_back(*port);
  }
  return out;
}

}  // namespace

std::optional<std::string> Placement::field(const std::string& name) const {
  if (name == "hostname") return hostname;
  auto it = attributes.find(name);
  if (it == attributes.end()) return std::nullopt;
  return it->second;
}

std::string_view reason_name(RejectReason reason) {
  switch (reason) {
    case RejectReason::unfulfilled_role:
      return "UnfulfilledRole";
    case RejectReason::unfulfilled_constraint:
      return "UnfulfilledConstraint";
    case RejectReason::no_docker_runtime:
      return "NoDockerRuntime";
    case RejectReason::insufficient_cpus:
      return "InsufficientCpus";
    case RejectReason::insufficient_memory:
      return "InsufficientMemory";
    case RejectReason::insufficient_disk:
      return "InsufficientDisk";
    case RejectReason::insufficient_gpus:
      return "InsufficientGpus";
    case RejectReason::insufficient_ports:
      return "InsufficientPorts";
  }
  return "Unknown";
}

bool constraint_allows(const Constraint& constraint, const Placement& candidate,
                       const std::vector<Placement>& placed, bool* undecided) {
  std::optional<std::string> value = candidate.field(constraint.field);
  const std::string& op = constraint.op;
  if (op == "LIKE" || op == "UNLIKE") {
    // A missing attribute is unlike anything, as in Marathon.
    if (!value) return op == "UNLIKE";
    PatternMatch match = constraint.match(*value);
    if (match == PatternMatch::undecided) {
      // Neither LIKE nor UNLIKE can be said to hold: an UNLIKE must not place an instance on an
      // agent it may exclude.
      if (undecided != nullptr) *undecided = true;
      return false;
    }
    return (match == PatternMatch::matches) == (op == "LIKE");
  }
  if (!value) return false;
  std::map<std::string, uint64_t> counts;  // instances per value of the field
  for (const Placement& other : placed) {
    if (auto other_value = other.field(constraint.field)) ++counts[*other_value];
  }
  uint64_t here = counts.count(*value) != 0 ? counts[*value] : 0;
  if (op == "UNIQUE") return here == 0;
  if (op == "IS") return *value == constraint.value.value_or("");
  if (op == "MAX_PER") return here < whole_number(constraint.value, 1);
  if (op == "CLUSTER") {
    if (constraint.value && !constraint.value->empty()) return *value == *constraint.value;
    // Without a value: wherever the first instance went.
    return counts.empty() || here > 0;
  }
  if (op == "GROUP_BY") {
    // Spread evenly: a value may take one more instance while it has no more than the least
    // loaded value. Until `n` values are known, an unseen one counts as the least loaded.
    uint64_t groups = whole_number(constraint.value, 0);
    uint64_t least = UINT64_MAX;
    for (const auto& [group, count] : counts) least = std::min(least, count);
    if (counts.empty() || (groups > 0 && counts.size() < groups)) least = 0;
    return here <= least;
  }
  return false;
}

MatchResult match_offer(const App& app, const OfferView& offer,
                        const std::vector<Placement>& placed) {
  MatchResult result;
  if (app.accepted_resource_roles && !app.accepted_resource_roles->empty() &&
      std::find(app.accepted_resource_roles->begin(), app.accepted_resource_roles->end(),
                offer.role) == app.accepted_resource_roles->end()) {
    result.reasons.push_back(RejectReason::unfulfilled_role);
  }
  for (const Constraint& constraint : app.constraints) {
    bool undecided = false;
    if (!constraint_allows(constraint, offer.placement, placed, &undecided)) {
      result.reasons.push_back(RejectReason::unfulfilled_constraint);
      if (undecided) result.undecided = constraint;
      break;
    }
  }
  if (app.docker_image && !has_docker_runtime(offer.placement)) {
    result.reasons.push_back(RejectReason::no_docker_runtime);
  }
  using protocol::Resources;
  auto short_of = [&](const char* name, double wanted) {
    return wanted > 0 && Resources::fixed(offer.available.scalar(name)) < Resources::fixed(wanted);
  };
  if (short_of("cpus", app.cpus)) result.reasons.push_back(RejectReason::insufficient_cpus);
  if (short_of("mem", app.mem)) result.reasons.push_back(RejectReason::insufficient_memory);
  if (short_of("disk", app.disk)) result.reasons.push_back(RejectReason::insufficient_disk);
  if (short_of("gpus", app.gpus)) result.reasons.push_back(RejectReason::insufficient_gpus);
  std::optional<std::vector<uint64_t>> ports;
  if (app.port_count() > 0) {
    auto ranges = offer.available.ranges.find("ports");
    if (ranges != offer.available.ranges.end()) {
      ports = take_ports(ranges->second, app.port_definitions, app.require_ports);
    }
    if (!ports) result.reasons.push_back(RejectReason::insufficient_ports);
  }
  if (!result.reasons.empty()) return result;
  Match match;
  for (const auto& [name, amount] : {std::pair<const char*, double>{"cpus", app.cpus},
                                     {"mem", app.mem},
                                     {"disk", app.disk},
                                     {"gpus", app.gpus}}) {
    if (amount > 0) match.resources.scalars[name] = amount;
  }
  if (ports) {
    match.host_ports = *ports;
    std::vector<protocol::Range> taken;
    for (uint64_t port : *ports) taken.push_back({port, port});
    match.resources.ranges["ports"] = Resources::normalise(taken);
  }
  result.match = std::move(match);
  return result;
}

}  // namespace tessera::marathon

#include "offer_matching.h"

#include <algorithm>

namespace tessera::chronos {

std::map<std::string, std::string> offer_attributes(const protocol::scheduler::Offer& offer) {
  std::map<std::string, std::string> attributes;
  for (const auto& attribute : offer.attributes) attributes[attribute.name] = attribute.value;
  attributes.emplace("hostname", offer.hostname);
  return attributes;
}

protocol::Resources task_resources(const RunDemand& demand) {
  protocol::Resources resources;
  resources.scalars["cpus"] = demand.cpus;
  resources.scalars["mem"] = demand.mem;
  if (demand.disk > 0) resources.scalars["disk"] = demand.disk;
  return resources;
}

std::vector<size_t> place_on_offer(const protocol::scheduler::Offer& offer,
                                   const std::vector<RunDemand>& demands) {
  std::vector<size_t> placed;
  protocol::Resources left = offer.resources;
  std::map<std::string, std::string> attributes = offer_attributes(offer);
  for (size_t i = 0; i < demands.size(); ++i) {
    const RunDemand& demand = demands[i];
    bool allowed = std::all_of(demand.constraints.begin(), demand.constraints.end(),
                               [&](const Constraint& c) { return c.matches(attributes); });
    if (!allowed) continue;
    protocol::Resources wanted = task_resources(demand);
    if (!left.contains(wanted)) continue;
    left -= wanted;
    placed.push_back(i);
  }
  return placed;
}

}  // namespace tessera::chronos

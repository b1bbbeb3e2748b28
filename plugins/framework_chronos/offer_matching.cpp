#include "offer_matching.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "json_fields.h"

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

std::map<std::string, std::string> task_environment(const Job& job, const std::string& task_id,
                                                    TimePoint scheduled, int attempt,
                                                    const std::string& hostname) {
  // As Chronos writes them, with Scala's Double.toString: "128.0", "0.5", "1.0E7".
  std::map<std::string, std::string> environment{
      {"mesos_task_id", task_id},
      {"MESOS_TASK_ID", task_id},
      {"CHRONOS_JOB_OWNER", job.owner},
      {"CHRONOS_JOB_NAME", job.name},
      {"HOST", hostname},
      {"CHRONOS_RESOURCE_MEM", java_double_text(job.mem)},
      {"CHRONOS_RESOURCE_CPU", java_double_text(job.cpus)},
      {"CHRONOS_RESOURCE_DISK", java_double_text(job.disk)},
      {"CHRONOS_JOB_RUN_TIME", std::to_string(scheduled.time_since_epoch().count())},
      {"CHRONOS_JOB_RUN_ATTEMPT", std::to_string(attempt)},
  };
  // emplace keeps what is there: Chronos's own variables, and the first of a repeated name.
  for (const auto& variable : job.environment_variables) {
    environment.emplace(variable.name, variable.value);
  }
  return environment;
}

std::vector<size_t> place_on_offer(const protocol::scheduler::Offer& offer,
                                   const std::vector<RunDemand>& demands) {
  std::vector<size_t> placed;
  protocol::Resources left = offer.resources;
  std::map<std::string, std::string> attributes = offer_attributes(offer);
  // The least any demand asks of each resource: once what is left is below it, no later demand
  // fits, and the scan stops (10,000 waiting runs, many offers each taking a few hundred).
  double least_cpus = std::numeric_limits<double>::infinity();
  double least_mem = least_cpus;
  double least_disk = least_cpus;
  for (const RunDemand& demand : demands) {
    least_cpus = std::min(least_cpus, demand.cpus);
    least_mem = std::min(least_mem, demand.mem);
    least_disk = std::min(least_disk, demand.disk > 0 ? demand.disk : 0.0);
  }
  // Compared in the unit Resources::contains uses, so that rounding never stops it early.
  auto below = [&](const char* name, double least) {
    return std::isfinite(least) &&
           protocol::Resources::fixed(left.scalar(name)) < protocol::Resources::fixed(least);
  };
  auto exhausted = [&] {
    return demands.empty() || below("cpus", least_cpus) || below("mem", least_mem) ||
           below("disk", least_disk);
  };
  for (size_t i = 0; i < demands.size() && !exhausted(); ++i) {
    const RunDemand& demand = demands[i];
    // Resources first: they are cheap to compare, a regular expression may not be.
    protocol::Resources wanted = task_resources(demand);
    if (!left.contains(wanted)) continue;
    bool allowed = std::all_of(demand.constraints.begin(), demand.constraints.end(),
                               [&](const Constraint& c) { return c.matches(attributes); });
    if (!allowed) continue;
    left -= wanted;
    placed.push_back(i);
  }
  return placed;
}

}  // namespace tessera::chronos

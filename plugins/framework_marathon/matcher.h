// Matching an app's instance against an offer: resources (cpus, mem, disk, gpus and host ports
// from the agent's ranges), accepted roles, the Docker runtime and constraints (UNIQUE, CLUSTER,
// GROUP_BY, LIKE, UNLIKE, MAX_PER, IS on `hostname` or an agent attribute). A refusal names
// every reason, with Marathon's launch-queue reason names, so that /v2/queue can say why an
// instance waits.
//
// Pure functions of values; no I/O.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "app.h"
#include "tessera/protocol/resources.h"

namespace tessera::marathon {

// The agent attribute that says an agent runs Docker containers: "runtimes" holding "docker"
// in its comma-separated list (e.g. runtimes = "posix,docker").
inline constexpr const char* kRuntimesAttribute = "runtimes";

// Where an instance runs (or would run): what constraints look at.
struct Placement {
  std::string agent_id;
  std::string hostname;
  std::map<std::string, std::string> attributes;

  // The value of a constraint's field: the hostname, or an attribute (nullopt when missing).
  std::optional<std::string> field(const std::string& name) const;
};

// An offer as the matcher sees it: where, for which role, and what is left of it.
struct OfferView {
  Placement placement;
  std::string role = "*";
  protocol::Resources available;
};

// In the order of Marathon's reason funnel (NoOfferMatchReason.reasonFunnel), NoDockerRuntime
// after the constraints: an unused offer is counted under its first reason in this order.
enum class RejectReason {
  unfulfilled_role,
  unfulfilled_constraint,
  no_docker_runtime,
  insufficient_cpus,
  insufficient_memory,
  insufficient_disk,
  insufficient_gpus,
  insufficient_ports,
};
inline constexpr RejectReason kAllRejectReasons[] = {
    RejectReason::unfulfilled_role,    RejectReason::unfulfilled_constraint,
    RejectReason::no_docker_runtime,   RejectReason::insufficient_cpus,
    RejectReason::insufficient_memory, RejectReason::insufficient_disk,
    RejectReason::insufficient_gpus,   RejectReason::insufficient_ports,
};

// Marathon's names ("InsufficientCpus"); "NoDockerRuntime" is Tessera's.
std::string_view reason_name(RejectReason reason);

struct Match {
  protocol::Resources resources;     // what the task takes from the offer
  std::vector<uint64_t> host_ports;  // one per port definition, in order
};

struct MatchResult {
  std::optional<Match> match;
  std::vector<RejectReason> reasons;  // empty when matched
  // The LIKE or UNLIKE constraint that refused the offer because its pattern was too costly to
  // match against the offer's field (PatternMatch::undecided), so that the scheduler can say so.
  std::optional<Constraint> undecided;
};

// Whether `constraint` lets one more instance run at `candidate`, given where the app's other
// instances run (`placed`). A LIKE or UNLIKE pattern too costly to match against the field
// (PatternMatch::undecided) holds neither way: the constraint is not met, and `undecided` (when
// given) is set.
bool constraint_allows(const Constraint& constraint, const Placement& candidate,
                       const std::vector<Placement>& placed, bool* undecided = nullptr);

// Matches one instance of `app` against `offer`.
MatchResult match_offer(const App& app, const OfferView& offer,
                        const std::vector<Placement>& placed);

}  // namespace tessera::marathon

// The allocation core shared by Tessera's allocators (DRF and priority).
//
// The master tells the core what exists (agents, frameworks and the roles they subscribe to)
// and what comes back (recovered resources, with a refuse filter when a framework declined);
// each allocation cycle the core answers with a batch of offers. Offered resources count
// against a framework's and a role's share until they are recovered, exactly like resources
// in use by tasks: the core does not distinguish "offered" from "running" (the master keeps
// what was accepted allocated by simply not recovering it).
//
// Algorithm (Mesos's hierarchical allocator, one stage): for every agent with something free,
// walk the roles in the policy's order (hierarchical, top-down, lowest key first), and within
// a role the frameworks in the policy's order; the first framework that is active, not
// suppressed, not refusing this agent, and under its per-cycle offer limit gets everything the
// role may take from the agent (all that is free, capped by the quota limits of the role and of
// its ancestors). Shares are updated after each offer, so the next agent sees the new order.
//
// Ownership and threading: an Allocator is owned by one thread (the allocator plugin's actor)
// and is not thread-safe; it owns its OrderingPolicy. Nothing blocks, sleeps or reads a clock:
// time comes in as `now` arguments, so tests drive it by hand.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <queue>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "allocation_core/ordering_policy.h"
#include "allocation_core/resources.h"
#include "tessera/result.h"

namespace tessera::allocation {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using Duration = Clock::duration;

// Resources an agent already runs for a framework when it is added (after a master failover).
struct AgentAllocation {
  std::string frameworkId;
  std::string role;  // Empty: the framework's first role.
  Resources resources;
};

struct Offer {
  std::string frameworkId;
  std::string agentId;
  std::string role;
  Resources resources;
};

struct AllocatorOptions {
  // At most this many offers per framework per allocation cycle; 0 means no limit.
  std::uint32_t maxOffersPerFrameworkPerCycle = 0;
};

class Allocator {
 public:
  explicit Allocator(std::unique_ptr<OrderingPolicy> policy, AllocatorOptions options = {});
  ~Allocator();
  Allocator(const Allocator&) = delete;
  Allocator& operator=(const Allocator&) = delete;

  // --- Agents ------------------------------------------------------------------------------
  // Adds an agent with its total resources and what already runs on it. Allocations for
  // frameworks the core does not know yet are held as used (never offered) but charged to no
  // one until they are recovered.
  Status addAgent(const std::string& agentId, const Resources& total,
                  const std::vector<AgentAllocation>& allocated = {});
  // Forgets the agent: its resources leave the cluster totals and every share, and are never
  // offered again. Outstanding offers on it are the master's to rescind.
  Status removeAgent(const std::string& agentId);
  // Replaces the agent's total; fails when the new total cannot hold what is allocated on it.
  Status updateAgent(const std::string& agentId, const Resources& total);
  // An inactive agent (e.g. unreachable) is offered nothing but keeps everything: its totals,
  // what runs on it and its filters. Agents are added active.
  Status activateAgent(const std::string& agentId);
  Status deactivateAgent(const std::string& agentId);

  // --- Frameworks --------------------------------------------------------------------------
  // A framework subscribes to one or more roles ("eng/web"); parent roles are created as needed.
  Status addFramework(const std::string& frameworkId, const std::vector<std::string>& roles,
                      bool active = true);
  // Forgets the framework; whatever it held on agents becomes free.
  Status removeFramework(const std::string& frameworkId);
  Status activateFramework(const std::string& frameworkId);
  // An inactive framework is offered nothing and, as in Mesos, loses its refuse filters.
  Status deactivateFramework(const std::string& frameworkId);

  // --- Resources coming back ---------------------------------------------------------------
  // Returns resources the framework held on an agent in a role (empty role: the framework's
  // only or first role). A positive refuseFor installs a refuse filter: the framework is not
  // offered this agent again until now + refuseFor, unless the agent has more free than what it
  // refused (Mesos semantics). A newer filter for the same framework, role and agent replaces
  // the older one. Duration::max() means "until revive".
  Status recoverResources(const std::string& frameworkId, const std::string& agentId,
                          const std::string& role, const Resources& resources, Duration refuseFor,
                          TimePoint now);
  // Installs a refuse filter without returning resources: what the master does when a decline
  // arrives for an offer it had already recovered (rescinded). The bench uses it to reach the
  // "everything declined" state without replaying thousands of rounds.
  Status addRefuseFilter(const std::string& frameworkId, const std::string& agentId,
                         const std::string& role, const Resources& refused, Duration refuseFor,
                         TimePoint now);

  // --- Revive and suppress (role empty: every role of the framework) ----------------------
  Status suppress(const std::string& frameworkId, const std::string& role = {});
  // Un-suppresses and drops the framework's refuse filters in the role(s).
  Status revive(const std::string& frameworkId, const std::string& role = {});

  // --- Weights, quota, limits (may change at any time) --------------------------------------
  Status setWeight(const std::string& role, double weight);
  // Quota limits: the role (with its subtree) is never offered beyond these scalars. Names
  // absent from limits are unlimited. An empty Resources removes the limits.
  Status setQuota(const std::string& role, const Resources& limits);
  void setMaxOffersPerFrameworkPerCycle(std::uint32_t maxOffers);

  // --- The cycle -----------------------------------------------------------------------------
  // Expires filters due at `now`, then makes this cycle's offers (appended to `out`, which is
  // not cleared, so the caller can reuse its capacity).
  void allocate(TimePoint now, std::vector<Offer>& out);
  std::vector<Offer> allocate(TimePoint now);
  // True when something happened since the last cycle that could produce offers (resources
  // recovered, agent added, revive...): the owner runs a cycle early instead of waiting for
  // the interval.
  bool allocationPending() const { return allocationPending_; }
  // When the earliest refuse filter may expire (possibly earlier than any live filter, never
  // later), so the owner can schedule a cycle then; nullopt when no filter expires.
  std::optional<TimePoint> nextFilterExpiry() const;

  // --- Queries (for the master's /state, for tests and for a future preemption pass) -------
  // Everything held in the role and its subtree (scalars and ranges).
  Result<Resources> roleAllocation(const std::string& role) const;
  // What the framework holds, all roles together.
  Result<Resources> frameworkAllocation(const std::string& frameworkId) const;
  // What the framework holds in one role.
  Result<Resources> frameworkAllocation(const std::string& frameworkId,
                                        const std::string& role) const;
  Result<Resources> agentFree(const std::string& agentId) const;
  Result<double> roleDominantShare(const std::string& role) const;
  Result<double> frameworkDominantShare(const std::string& frameworkId,
                                        const std::string& role) const;
  // The roles with frameworks in the order the next cycle would visit them.
  std::vector<std::string> roleOrder();
  Resources clusterTotal() const;
  std::size_t agentCount() const { return agentIndex_.size(); }
  std::size_t frameworkCount() const { return frameworkIndex_.size(); }
  const OrderingPolicy& policy() const { return *policy_; }
  OrderingPolicy& policy() { return *policy_; }

 private:
  using Index = std::uint32_t;
  static constexpr Index kNone = ~Index{0};
  using Bits = std::vector<std::uint64_t>;

  // What refuse filters on one agent refused. Every decline of an agent usually refuses the
  // same thing (all that was free), so the resources are stored once per agent and whether they
  // still cover the agent's free resources is computed once, not once per filter.
  struct RefusedSet {
    Resources refused;
    std::uint32_t refs = 0;   // Kinds using it; 0 means the slot is free.
    bool coversFree = false;  // refused contains the agent's free resources.
  };

  // A filter "kind" is what a group of refuse filters on one agent share: the refused set and
  // the expiry. Declines in one round share one kind, so an agent stores one small id per
  // client (a framework in a role) instead of a filter object.
  struct FilterKind {
    std::uint16_t set = 0;
    TimePoint expiry;
    std::uint64_t serial = 0;  // Unique across the allocator; 0 means the slot is free.
    std::uint32_t refs = 0;
    // The clients that joined this kind, so that expiring it touches only them. A kind shared by
    // more than kMaxKindMembers clients forgets them and expiry scans the agent instead, which
    // is then amortized over at least that many filters.
    std::vector<Index> members;
    bool scanOnExpiry = false;
  };
  static constexpr std::size_t kMaxKindMembers = 64;

  struct AgentFilters {
    std::vector<std::uint16_t> kindOf;  // Per client index; 0 is "no filter".
    std::vector<FilterKind> kinds;      // Slot 0 unused.
    std::vector<std::uint16_t> freeKinds;
    std::vector<RefusedSet> sets;
    // Clients whose filter refuses everything free on the agent: the fast path of the cycle.
    Bits covered;
    // Free grew since coversFree was computed, so some covered bits may be wrong.
    bool stale = false;
    std::size_t count = 0;  // Live filters.
  };

  struct Agent {
    std::string id;
    bool live = false;
    bool active = true;  // Inactive agents are skipped by the cycle.
    Resources total;
    Resources free;
    // Per client what it holds here; a handful of entries on a typical agent.
    std::vector<std::pair<Index, Resources>> held;
    // Held by frameworks the core has not been told about yet.
    Resources unattributed;
    AgentFilters filters;
  };

  // One framework's subscription to one role: the unit the policy orders within a role.
  struct Client {
    Index framework = kNone;
    Index role = kNone;
    bool live = false;
    bool suppressed = false;
    std::vector<Milli> held;  // Dense by ResourceId.
    double key = 0.0;
  };

  struct Framework {
    std::string id;
    bool live = false;
    bool active = false;
    std::vector<Index> clients;
    std::uint32_t offersThisCycle = 0;
  };

  struct Role {
    std::string path;
    Index parent = kNone;
    std::vector<Index> children;
    // Siblings order at this node: child role indices and, for the role's own frameworks,
    // the role's own index (the "virtual leaf").
    std::vector<Index> order;
    std::vector<Index> clients;  // Sorted by client key.
    std::size_t subtreeClients = 0;
    double weight = 1.0;
    std::vector<Milli> subtreeHeld;  // Dense by ResourceId.
    std::vector<Milli> selfHeld;
    double subtreeKey = 0.0;
    double selfKey = 0.0;
    std::int64_t band = 0;
    bool hasLimit = false;
    std::vector<Milli> limit;  // Dense; -1 means unlimited.
    bool limitOnPath = false;  // This role or an ancestor has a limit.
  };

  struct Expiry {
    TimePoint at;
    Index agent;
    std::uint16_t kind;
    std::uint64_t serial;
    bool operator>(const Expiry& other) const { return at > other.at; }
  };

  // Lookups.
  Result<Index> findAgent(const std::string& agentId) const;
  Result<Index> findFramework(const std::string& frameworkId) const;
  Result<Index> findClient(Index framework, const std::string& role) const;
  Result<Index> roleFor(const std::string& path);  // Creates the role and its ancestors.
  std::optional<Index> findRole(const std::string& path) const;

  // Bookkeeping.
  void charge(Index client, Index agent, const Resources& resources);
  void uncharge(Index client, Index agent, const Resources& resources);
  void changeShares(Index client, const Resources& resources, int sign);
  void removeClient(Index client);
  void setEligible(Index client);
  void markFree(Agent& agent, bool grew);

  // Ordering.
  double clientShare(const Client& client) const;
  double shareOf(const std::vector<Milli>& held) const;
  void rekeyClient(Index client, bool reposition);
  void rekeyRolePath(Index role, bool reposition);
  void repositionClient(Role& role, Index client);
  void repositionInParent(Index role);
  bool clientBefore(Index a, Index b) const;
  bool entryBefore(const Role& node, Index a, Index b) const;
  void rebuildOrder();
  void flattenRoles();
  void flattenFrom(Index role);
  void recomputeLimitsOnPath();

  // Filters.
  void addFilter(Index agent, Index client, const Resources& refused, TimePoint expiry);
  void clearFilter(Agent& agent, Index client);
  void releaseKind(AgentFilters& filters, std::uint16_t kind);
  std::uint16_t refusedSetFor(Agent& agent, const Resources& refused);
  void clearClientFilters(Index client);
  void expireFilters(TimePoint now);
  void refreshCoverage(Agent& agent);
  bool refusedExactly(const Agent& agent, Index client, const Resources& offerable) const;

  // The cycle.
  void allocateAgent(Index agent, std::vector<Offer>& out);
  bool offerableFor(const Role& role, const Resources& free, Resources& out) const;

  std::unique_ptr<OrderingPolicy> policy_;
  AllocatorOptions options_;

  std::vector<Agent> agents_;
  std::vector<Index> freeAgentSlots_;
  std::unordered_map<std::string, Index> agentIndex_;

  std::vector<Framework> frameworks_;
  std::vector<Index> freeFrameworkSlots_;
  std::unordered_map<std::string, Index> frameworkIndex_;

  std::vector<Client> clients_;
  std::vector<Index> freeClientSlots_;
  Bits eligible_;       // Live, active, unsuppressed clients.
  Bits cycleEligible_;  // eligible_ minus frameworks at their offer limit, during a cycle.

  std::vector<Role> roles_;  // roles_[0] is the root (path "").
  std::unordered_map<std::string, Index> roleIndex_;
  std::vector<Index> roleOrder_;  // Flattened: roles with frameworks, in offer order.

  std::vector<Milli> clusterTotal_;  // Dense by ResourceId.

  std::priority_queue<Expiry, std::vector<Expiry>, std::greater<>> expiries_;
  std::uint64_t nextFilterSerial_ = 1;

  bool orderDirty_ = true;      // Keys must be recomputed and everything re-sorted.
  bool roleOrderDirty_ = true;  // roleOrder_ must be flattened again.
  std::uint64_t policyGeneration_ = 0;
  bool allocationPending_ = false;
  Resources scratch_;  // Reused for the offerable resources of a role on an agent.
};

}  // namespace tessera::allocation

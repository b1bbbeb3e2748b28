#include "allocation_core/allocator.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

namespace tessera::allocation {

namespace {

using Bits = std::vector<std::uint64_t>;

inline void setBit(Bits& bits, std::uint32_t i) {
  if (i / 64 >= bits.size()) bits.resize(i / 64 + 1, 0);
  bits[i / 64] |= std::uint64_t{1} << (i % 64);
}

inline void clearBit(Bits& bits, std::uint32_t i) {
  if (i / 64 < bits.size()) bits[i / 64] &= ~(std::uint64_t{1} << (i % 64));
}

inline bool testBit(const Bits& bits, std::uint32_t i) {
  return i / 64 < bits.size() && ((bits[i / 64] >> (i % 64)) & 1U) != 0;
}

// Whether some eligible client is not covered by a refuse filter: one AND-NOT per 64 clients,
// which is what lets a cycle skip an agent every framework has declined without looking at
// the frameworks one by one.
inline bool anyCandidate(const Bits& eligible, const Bits& covered) {
  const std::size_t shared = std::min(eligible.size(), covered.size());
  for (std::size_t w = 0; w < shared; ++w) {
    if ((eligible[w] & ~covered[w]) != 0) return true;
  }
  for (std::size_t w = shared; w < eligible.size(); ++w) {
    if (eligible[w] != 0) return true;
  }
  return false;
}

inline void addDense(std::vector<Milli>& dense, const Resources& resources, Milli sign) {
  for (const Resources::Scalar& s : resources.scalars()) {
    if (s.id >= dense.size()) dense.resize(s.id + 1, 0);
    dense[s.id] += sign * s.value;
  }
}

inline Milli denseAt(const std::vector<Milli>& dense, ResourceId id) {
  return id < dense.size() ? dense[id] : 0;
}

TimePoint expiryOf(TimePoint now, Duration refuseFor) {
  if (refuseFor >= TimePoint::max() - now) return TimePoint::max();
  return now + refuseFor;
}

// Moves `element` of the sorted vector `v` to its place after its key changed: binary search on
// the side it moved towards and one rotate, so a reorder costs a memmove, not a sort.
template <typename Less>
void reposition(std::vector<std::uint32_t>& v, std::uint32_t element, Less less) {
  auto pos = std::find(v.begin(), v.end(), element);
  if (pos == v.end()) return;
  if (pos != v.begin() && less(element, *(pos - 1))) {
    auto target = std::upper_bound(v.begin(), pos, element, less);
    std::rotate(target, pos, pos + 1);
  } else if (pos + 1 != v.end() && less(*(pos + 1), element)) {
    auto target = std::lower_bound(pos + 1, v.end(), element, less);
    std::rotate(pos, pos + 1, target);
  }
}

bool validRole(const std::string& path) {
  if (path.empty() || path.front() == '/' || path.back() == '/') return false;
  if (path.find("//") != std::string::npos) return false;
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    std::string_view segment(path.data() + start, end - start);
    if (segment == "." || segment == "..") return false;
    for (char c : segment) {
      if (c == ' ' || c == '\t' || c == '\n') return false;
    }
    start = end + 1;
  }
  return true;
}

}  // namespace

Allocator::Allocator(std::unique_ptr<OrderingPolicy> policy, AllocatorOptions options)
    : policy_(std::move(policy)), options_(options) {
  Role root;
  root.path = "";
  roles_.push_back(std::move(root));
  policyGeneration_ = policy_->generation();
}

Allocator::~Allocator() = default;

// ----------------------------------------------------------------------------------------------
// Lookups

Result<Allocator::Index> Allocator::findAgent(const std::string& agentId) const {
  auto it = agentIndex_.find(agentId);
  if (it == agentIndex_.end()) return make_error("unknown agent '" + agentId + "'");
  return it->second;
}

Result<Allocator::Index> Allocator::findFramework(const std::string& frameworkId) const {
  auto it = frameworkIndex_.find(frameworkId);
  if (it == frameworkIndex_.end()) return make_error("unknown framework '" + frameworkId + "'");
  return it->second;
}

Result<Allocator::Index> Allocator::findClient(Index framework, const std::string& role) const {
  const Framework& fw = frameworks_[framework];
  if (role.empty()) return fw.clients.front();
  for (Index c : fw.clients) {
    if (roles_[clients_[c].role].path == role) return c;
  }
  return make_error("framework '" + fw.id + "' is not subscribed to role '" + role + "'");
}

std::optional<Allocator::Index> Allocator::findRole(const std::string& path) const {
  auto it = roleIndex_.find(path);
  if (it == roleIndex_.end()) return std::nullopt;
  return it->second;
}

Result<Allocator::Index> Allocator::roleFor(const std::string& path) {
  if (auto existing = findRole(path)) return *existing;
  if (!validRole(path)) return make_error("invalid role '" + path + "'");
  Index parent = 0;
  std::size_t end = 0;
  while (end != std::string::npos) {
    end = path.find('/', end + 1);
    std::string prefix = path.substr(0, end);
    if (auto existing = findRole(prefix)) {
      parent = *existing;
      continue;
    }
    Index index = static_cast<Index>(roles_.size());
    Role role;
    role.path = prefix;
    role.parent = parent;
    role.order.push_back(index);  // The role's own frameworks, as one of its entries.
    role.limitOnPath = roles_[parent].limitOnPath;
    roles_.push_back(std::move(role));
    roles_[parent].children.push_back(index);
    roles_[parent].order.push_back(index);
    roleIndex_.emplace(prefix, index);
    parent = index;
  }
  orderDirty_ = true;
  return parent;
}

// ----------------------------------------------------------------------------------------------
// Agents

Status Allocator::addAgent(const std::string& agentId, const Resources& total,
                           const std::vector<AgentAllocation>& allocated) {
  if (agentIndex_.contains(agentId)) return make_error("agent '" + agentId + "' already exists");

  // Validate everything before touching any state, so a failed add leaves no trace.
  std::vector<std::pair<Index, const Resources*>> charges;
  Resources used;
  Resources unattributed;
  for (const AgentAllocation& allocation : allocated) {
    used += allocation.resources;
    auto framework = frameworkIndex_.find(allocation.frameworkId);
    if (framework == frameworkIndex_.end()) {
      unattributed += allocation.resources;
      continue;
    }
    auto client = findClient(framework->second, allocation.role);
    if (!client) return client.error().context("adding agent '" + agentId + "'");
    charges.emplace_back(*client, &allocation.resources);
  }
  if (!total.contains(used)) {
    return make_error("agent '" + agentId + "' has more allocated (" + used.toString() +
                      ") than its total (" + total.toString() + ")");
  }

  Index index;
  if (!freeAgentSlots_.empty()) {
    index = freeAgentSlots_.back();
    freeAgentSlots_.pop_back();
  } else {
    index = static_cast<Index>(agents_.size());
    agents_.emplace_back();
  }
  Agent& agent = agents_[index];
  agent = Agent{};
  agent.id = agentId;
  agent.live = true;
  agent.total = total;
  agent.free = total;
  agent.free -= unattributed;
  agent.unattributed = std::move(unattributed);
  agentIndex_.emplace(agentId, index);
  addDense(clusterTotal_, total, +1);
  for (const auto& [client, resources] : charges) charge(client, index, *resources);
  orderDirty_ = true;  // Every share has a new denominator.
  allocationPending_ = true;
  return {};
}

Status Allocator::removeAgent(const std::string& agentId) {
  auto found = findAgent(agentId);
  if (!found) return found.error();
  Index index = *found;
  Agent& agent = agents_[index];
  for (const auto& [client, resources] : agent.held) changeShares(client, resources, -1);
  addDense(clusterTotal_, agent.total, -1);
  agent = Agent{};
  agentIndex_.erase(agentId);
  freeAgentSlots_.push_back(index);
  orderDirty_ = true;
  return {};
}

Status Allocator::updateAgent(const std::string& agentId, const Resources& total) {
  auto found = findAgent(agentId);
  if (!found) return found.error();
  Agent& agent = agents_[*found];
  Resources used = agent.total - agent.free;
  if (!total.contains(used)) {
    return make_error("agent '" + agentId + "' cannot shrink to " + total.toString() + ": " +
                      used.toString() + " is allocated on it");
  }
  addDense(clusterTotal_, agent.total, -1);
  addDense(clusterTotal_, total, +1);
  agent.total = total;
  agent.free = total - used;
  markFree(agent, true);
  orderDirty_ = true;
  allocationPending_ = true;
  return {};
}

Status Allocator::activateAgent(const std::string& agentId) {
  auto found = findAgent(agentId);
  if (!found) return found.error();
  Agent& agent = agents_[*found];
  if (!agent.active) {
    agent.active = true;
    allocationPending_ = true;
  }
  return {};
}

Status Allocator::deactivateAgent(const std::string& agentId) {
  auto found = findAgent(agentId);
  if (!found) return found.error();
  agents_[*found].active = false;
  return {};
}

// ----------------------------------------------------------------------------------------------
// Frameworks

Status Allocator::addFramework(const std::string& frameworkId,
                               const std::vector<std::string>& roles, bool active) {
  if (frameworkIndex_.contains(frameworkId)) {
    return make_error("framework '" + frameworkId + "' already exists");
  }
  if (roles.empty()) return make_error("framework '" + frameworkId + "' has no role");
  std::vector<Index> roleIndices;
  for (const std::string& role : roles) {
    auto index = roleFor(role);
    if (!index) return index.error().context("adding framework '" + frameworkId + "'");
    if (std::find(roleIndices.begin(), roleIndices.end(), *index) != roleIndices.end()) {
      return make_error("framework '" + frameworkId + "' lists role '" + role + "' twice");
    }
    roleIndices.push_back(*index);
  }

  Index fwIndex;
  if (!freeFrameworkSlots_.empty()) {
    fwIndex = freeFrameworkSlots_.back();
    freeFrameworkSlots_.pop_back();
  } else {
    fwIndex = static_cast<Index>(frameworks_.size());
    frameworks_.emplace_back();
  }
  Framework& fw = frameworks_[fwIndex];
  fw = Framework{};
  fw.id = frameworkId;
  fw.live = true;
  fw.active = active;
  frameworkIndex_.emplace(frameworkId, fwIndex);

  for (Index roleIndex : roleIndices) {
    Index c;
    if (!freeClientSlots_.empty()) {
      c = freeClientSlots_.back();
      freeClientSlots_.pop_back();
    } else {
      c = static_cast<Index>(clients_.size());
      clients_.emplace_back();
    }
    Client& client = clients_[c];
    client = Client{};
    client.framework = fwIndex;
    client.role = roleIndex;
    client.live = true;
    frameworks_[fwIndex].clients.push_back(c);
    roles_[roleIndex].clients.push_back(c);
    for (Index r = roleIndex; r != kNone; r = roles_[r].parent) roles_[r].subtreeClients++;
    setEligible(c);
  }
  orderDirty_ = true;
  allocationPending_ = true;
  return {};
}

Status Allocator::removeFramework(const std::string& frameworkId) {
  auto found = findFramework(frameworkId);
  if (!found) return found.error();
  Framework& fw = frameworks_[*found];
  for (Index c : fw.clients) removeClient(c);
  frameworkIndex_.erase(frameworkId);
  fw = Framework{};
  freeFrameworkSlots_.push_back(*found);
  allocationPending_ = true;
  return {};
}

void Allocator::removeClient(Index c) {
  // Whatever the client held comes back to its agents.
  for (Index a = 0; a < agents_.size(); ++a) {
    Agent& agent = agents_[a];
    if (!agent.live) continue;
    auto it = std::find_if(agent.held.begin(), agent.held.end(),
                           [c](const auto& entry) { return entry.first == c; });
    if (it != agent.held.end()) {
      Resources resources = std::move(it->second);
      agent.held.erase(it);
      agent.free += resources;
      markFree(agent, true);
      changeShares(c, resources, -1);
    }
  }
  clearClientFilters(c);
  Client& client = clients_[c];
  Role& role = roles_[client.role];
  std::erase(role.clients, c);
  for (Index r = client.role; r != kNone; r = roles_[r].parent) roles_[r].subtreeClients--;
  client = Client{};
  clearBit(eligible_, c);
  freeClientSlots_.push_back(c);
  roleOrderDirty_ = true;
}

Status Allocator::activateFramework(const std::string& frameworkId) {
  auto found = findFramework(frameworkId);
  if (!found) return found.error();
  Framework& fw = frameworks_[*found];
  fw.active = true;
  for (Index c : fw.clients) setEligible(c);
  allocationPending_ = true;
  return {};
}

Status Allocator::deactivateFramework(const std::string& frameworkId) {
  auto found = findFramework(frameworkId);
  if (!found) return found.error();
  Framework& fw = frameworks_[*found];
  fw.active = false;
  for (Index c : fw.clients) {
    setEligible(c);
    clearClientFilters(c);
  }
  return {};
}

void Allocator::setEligible(Index c) {
  const Client& client = clients_[c];
  bool eligible = client.live && frameworks_[client.framework].active && !client.suppressed;
  if (eligible) {
    setBit(eligible_, c);
  } else {
    clearBit(eligible_, c);
  }
}

// ----------------------------------------------------------------------------------------------
// Resources coming back

Status Allocator::recoverResources(const std::string& frameworkId, const std::string& agentId,
                                   const std::string& role, const Resources& resources,
                                   Duration refuseFor, TimePoint now) {
  auto agentFound = findAgent(agentId);
  if (!agentFound) {
    return agentFound.error().context("recovering resources of framework '" + frameworkId + "'");
  }
  Agent& agent = agents_[*agentFound];
  auto fwFound = findFramework(frameworkId);
  if (!fwFound) {
    // Resources an agent reported for a framework that never (re)subscribed.
    if (!agent.unattributed.contains(resources)) {
      return fwFound.error().context("recovering resources on agent '" + agentId + "'");
    }
    agent.unattributed -= resources;
    agent.free += resources;
    markFree(agent, true);
    allocationPending_ = true;
    return {};
  }
  auto client = findClient(*fwFound, role);
  if (!client) return client.error();
  auto held = std::find_if(agent.held.begin(), agent.held.end(),
                           [c = *client](const auto& entry) { return entry.first == c; });
  if (held == agent.held.end() || !held->second.contains(resources)) {
    return make_error("framework '" + frameworkId + "' does not hold " + resources.toString() +
                      " on agent '" + agentId + "'");
  }
  uncharge(*client, *agentFound, resources);
  if (refuseFor > Duration::zero()) {
    addFilter(*agentFound, *client, resources, expiryOf(now, refuseFor));
  }
  return {};
}

Status Allocator::addRefuseFilter(const std::string& frameworkId, const std::string& agentId,
                                  const std::string& role, const Resources& refused,
                                  Duration refuseFor, TimePoint now) {
  auto agentFound = findAgent(agentId);
  if (!agentFound) return agentFound.error();
  auto fwFound = findFramework(frameworkId);
  if (!fwFound) return fwFound.error();
  auto client = findClient(*fwFound, role);
  if (!client) return client.error();
  if (refuseFor > Duration::zero()) {
    addFilter(*agentFound, *client, refused, expiryOf(now, refuseFor));
  }
  return {};
}

// ----------------------------------------------------------------------------------------------
// Revive and suppress

Status Allocator::suppress(const std::string& frameworkId, const std::string& role) {
  auto found = findFramework(frameworkId);
  if (!found) return found.error();
  if (role.empty()) {
    for (Index c : frameworks_[*found].clients) {
      clients_[c].suppressed = true;
      setEligible(c);
    }
    return {};
  }
  auto client = findClient(*found, role);
  if (!client) return client.error();
  clients_[*client].suppressed = true;
  setEligible(*client);
  return {};
}

Status Allocator::revive(const std::string& frameworkId, const std::string& role) {
  auto found = findFramework(frameworkId);
  if (!found) return found.error();
  std::vector<Index> targets;
  if (role.empty()) {
    targets = frameworks_[*found].clients;
  } else {
    auto client = findClient(*found, role);
    if (!client) return client.error();
    targets.push_back(*client);
  }
  for (Index c : targets) {
    clients_[c].suppressed = false;
    clearClientFilters(c);
    setEligible(c);
  }
  allocationPending_ = true;
  return {};
}

// ----------------------------------------------------------------------------------------------
// Weights, quota, limits

Status Allocator::setWeight(const std::string& role, double weight) {
  if (!(weight > 0) || !std::isfinite(weight)) {
    return make_error("weight " + std::to_string(weight) + " of role '" + role +
                      "' must be positive");
  }
  auto index = roleFor(role);
  if (!index) return index.error();
  roles_[*index].weight = weight;
  orderDirty_ = true;
  return {};
}

Status Allocator::setQuota(const std::string& role, const Resources& limits) {
  auto index = roleFor(role);
  if (!index) return index.error();
  if (!limits.rangeSets().empty()) {
    return make_error("quota of role '" + role + "' limits ranges, only scalars are supported");
  }
  Role& r = roles_[*index];
  r.limit.clear();
  r.hasLimit = limits.hasScalars();
  for (const Resources::Scalar& s : limits.scalars()) {
    if (s.id >= r.limit.size()) r.limit.resize(s.id + 1, -1);
    r.limit[s.id] = s.value;
  }
  recomputeLimitsOnPath();
  allocationPending_ = true;
  return {};
}

void Allocator::recomputeLimitsOnPath() {
  // Parents come before their children in roles_, so one forward pass is enough.
  for (Index r = 1; r < roles_.size(); ++r) {
    roles_[r].limitOnPath = roles_[r].hasLimit || roles_[roles_[r].parent].limitOnPath;
  }
}

void Allocator::setMaxOffersPerFrameworkPerCycle(std::uint32_t maxOffers) {
  options_.maxOffersPerFrameworkPerCycle = maxOffers;
}

// ----------------------------------------------------------------------------------------------
// Bookkeeping

void Allocator::charge(Index c, Index a, const Resources& resources) {
  Agent& agent = agents_[a];
  agent.free -= resources;
  auto it = std::find_if(agent.held.begin(), agent.held.end(),
                         [c](const auto& entry) { return entry.first == c; });
  if (it == agent.held.end()) {
    agent.held.emplace_back(c, resources);
  } else {
    it->second += resources;
  }
  markFree(agent, false);
  changeShares(c, resources, +1);
}

void Allocator::uncharge(Index c, Index a, const Resources& resources) {
  Agent& agent = agents_[a];
  auto it = std::find_if(agent.held.begin(), agent.held.end(),
                         [c](const auto& entry) { return entry.first == c; });
  it->second -= resources;
  if (it->second.empty()) agent.held.erase(it);
  agent.free += resources;
  markFree(agent, true);
  changeShares(c, resources, -1);
  allocationPending_ = true;
}

void Allocator::changeShares(Index c, const Resources& resources, int sign) {
  Client& client = clients_[c];
  addDense(client.held, resources, sign);
  addDense(roles_[client.role].selfHeld, resources, sign);
  for (Index r = client.role; r != kNone; r = roles_[r].parent) {
    addDense(roles_[r].subtreeHeld, resources, sign);
  }
  if (!orderDirty_) {
    rekeyClient(c, true);
    rekeyRolePath(client.role, true);
    roleOrderDirty_ = true;
  }
}

void Allocator::markFree(Agent& agent, bool grew) {
  // When free shrinks, every filter that covered it still does; only growth can uncover.
  if (grew && agent.filters.count > 0) agent.filters.stale = true;
}

// ----------------------------------------------------------------------------------------------
// Ordering

double Allocator::shareOf(const std::vector<Milli>& held) const {
  double best = 0.0;
  const std::size_t n = std::min(held.size(), clusterTotal_.size());
  for (std::size_t id = 0; id < n; ++id) {
    if (held[id] > 0 && clusterTotal_[id] > 0) {
      best = std::max(best, static_cast<double>(held[id]) / static_cast<double>(clusterTotal_[id]));
    }
  }
  return best;
}

double Allocator::clientShare(const Client& client) const { return shareOf(client.held); }

void Allocator::rekeyClient(Index c, bool reposition) {
  Client& client = clients_[c];
  Role& role = roles_[client.role];
  client.key = policy_->clientKey(
      ClientView{frameworks_[client.framework].id, role.path, clientShare(client)});
  if (reposition) repositionClient(role, c);
}

void Allocator::rekeyRolePath(Index r, bool reposition) {
  for (; r != 0 && r != kNone; r = roles_[r].parent) {
    Role& role = roles_[r];
    role.selfKey = policy_->roleKey(RoleView{role.path, role.weight, shareOf(role.selfHeld), true});
    role.subtreeKey =
        policy_->roleKey(RoleView{role.path, role.weight, shareOf(role.subtreeHeld), false});
    if (reposition) {
      tessera::allocation::reposition(
          role.order, r, [this, &role](Index x, Index y) { return entryBefore(role, x, y); });
      repositionInParent(r);
    }
  }
}

void Allocator::repositionClient(Role& role, Index c) {
  tessera::allocation::reposition(role.clients, c,
                                  [this](Index x, Index y) { return clientBefore(x, y); });
}

void Allocator::repositionInParent(Index r) {
  Role& parent = roles_[roles_[r].parent];
  tessera::allocation::reposition(
      parent.order, r, [this, &parent](Index x, Index y) { return entryBefore(parent, x, y); });
}

bool Allocator::clientBefore(Index a, Index b) const {
  const Client& x = clients_[a];
  const Client& y = clients_[b];
  if (x.key != y.key) return x.key < y.key;
  return frameworks_[x.framework].id < frameworks_[y.framework].id;
}

bool Allocator::entryBefore(const Role& node, Index a, Index b) const {
  // The node's own index in its order stands for its own frameworks (the "virtual leaf").
  const Index self = static_cast<Index>(&node - roles_.data());
  double ka = a == self ? roles_[a].selfKey : roles_[a].subtreeKey;
  double kb = b == self ? roles_[b].selfKey : roles_[b].subtreeKey;
  if (ka != kb) return ka < kb;
  return roles_[a].path < roles_[b].path;
}

void Allocator::rebuildOrder() {
  for (Index c = 0; c < clients_.size(); ++c) {
    if (clients_[c].live) rekeyClient(c, false);
  }
  for (Index r = 1; r < roles_.size(); ++r) {
    rekeyRolePath(r, false);
    roles_[r].band = policy_->roleBand(roles_[r].path);
  }
  for (Role& role : roles_) {
    std::sort(role.clients.begin(), role.clients.end(),
              [this](Index x, Index y) { return clientBefore(x, y); });
    std::sort(role.order.begin(), role.order.end(),
              [this, &role](Index x, Index y) { return entryBefore(role, x, y); });
  }
  policyGeneration_ = policy_->generation();
  orderDirty_ = false;
  roleOrderDirty_ = true;
}

void Allocator::flattenRoles() {
  roleOrder_.clear();
  flattenFrom(0);
  // Bands are strict: a stable sort keeps the hierarchical order within each band.
  bool banded = std::any_of(roleOrder_.begin(), roleOrder_.end(),
                            [this](Index r) { return roles_[r].band != 0; });
  if (banded) {
    std::stable_sort(roleOrder_.begin(), roleOrder_.end(),
                     [this](Index x, Index y) { return roles_[x].band < roles_[y].band; });
  }
  roleOrderDirty_ = false;
}

void Allocator::flattenFrom(Index r) {
  for (Index entry : roles_[r].order) {
    if (entry == r) {
      if (!roles_[r].clients.empty()) roleOrder_.push_back(r);
    } else if (roles_[entry].subtreeClients > 0) {
      flattenFrom(entry);
    }
  }
}

std::vector<std::string> Allocator::roleOrder() {
  if (policy_->generation() != policyGeneration_) orderDirty_ = true;
  if (orderDirty_) rebuildOrder();
  if (roleOrderDirty_) flattenRoles();
  std::vector<std::string> out;
  for (Index r : roleOrder_) out.push_back(roles_[r].path);
  return out;
}

// ----------------------------------------------------------------------------------------------
// Filters

std::uint16_t Allocator::refusedSetFor(Agent& agent, const Resources& refused) {
  AgentFilters& filters = agent.filters;
  for (std::size_t s = 0; s < filters.sets.size(); ++s) {
    if (filters.sets[s].refs > 0 && filters.sets[s].refused == refused) {
      return static_cast<std::uint16_t>(s);
    }
  }
  std::size_t slot = 0;
  while (slot < filters.sets.size() && filters.sets[slot].refs > 0) ++slot;
  if (slot == filters.sets.size()) filters.sets.emplace_back();
  RefusedSet& set = filters.sets[slot];
  set.refused = refused;
  set.refs = 0;
  set.coversFree = refused.contains(agent.free);
  return static_cast<std::uint16_t>(slot);
}

void Allocator::addFilter(Index a, Index c, const Resources& refused, TimePoint expiry) {
  Agent& agent = agents_[a];
  AgentFilters& filters = agent.filters;
  clearFilter(agent, c);  // A newer decline replaces the older filter.
  if (filters.kinds.empty()) filters.kinds.emplace_back();  // Slot 0 means "none".

  // Declines of one round share their expiry and usually their resources: look at the most
  // recent kinds only, so adding a filter stays O(1).
  std::uint16_t kind = 0;
  std::size_t looked = 0;
  for (std::size_t k = filters.kinds.size() - 1; k > 0 && looked < 8; --k) {
    const FilterKind& candidate = filters.kinds[k];
    if (candidate.serial == 0) continue;
    ++looked;
    if (candidate.expiry == expiry && filters.sets[candidate.set].refused == refused) {
      kind = static_cast<std::uint16_t>(k);
      break;
    }
  }
  if (kind == 0) {
    if (!filters.freeKinds.empty()) {
      kind = filters.freeKinds.back();
      filters.freeKinds.pop_back();
    } else if (filters.kinds.size() < std::numeric_limits<std::uint16_t>::max()) {
      kind = static_cast<std::uint16_t>(filters.kinds.size());
      filters.kinds.emplace_back();
    } else {
      // 65535 distinct (resources, expiry) pairs on one agent: dropping the filter only means
      // the framework may see this agent again sooner, never a wrong offer.
      return;
    }
    std::uint16_t set = refusedSetFor(agent, refused);
    filters.sets[set].refs++;
    FilterKind& fresh = filters.kinds[kind];
    fresh.set = set;
    fresh.expiry = expiry;
    fresh.serial = nextFilterSerial_++;
    fresh.refs = 0;
    if (expiry != TimePoint::max()) expiries_.push(Expiry{expiry, a, kind, fresh.serial});
  }
  FilterKind& chosen = filters.kinds[kind];
  if (filters.kindOf.size() <= c) {
    filters.kindOf.resize(std::max<std::size_t>(c + 1, clients_.size()), 0);
  }
  filters.kindOf[c] = kind;
  if (!chosen.scanOnExpiry) {
    if (chosen.members.size() < kMaxKindMembers) {
      chosen.members.push_back(c);
    } else {
      chosen.scanOnExpiry = true;
      chosen.members = {};
    }
  }
  chosen.refs++;
  filters.count++;
  if (filters.sets[chosen.set].coversFree) setBit(filters.covered, c);
}

void Allocator::releaseKind(AgentFilters& filters, std::uint16_t kind) {
  FilterKind& k = filters.kinds[kind];
  if (--filters.sets[k.set].refs == 0) filters.sets[k.set] = RefusedSet{};
  k = FilterKind{};
  filters.freeKinds.push_back(kind);
}

void Allocator::clearFilter(Agent& agent, Index c) {
  AgentFilters& filters = agent.filters;
  if (c >= filters.kindOf.size() || filters.kindOf[c] == 0) return;
  std::uint16_t kind = filters.kindOf[c];
  filters.kindOf[c] = 0;
  clearBit(filters.covered, c);
  filters.count--;
  if (--filters.kinds[kind].refs == 0) releaseKind(filters, kind);
}

void Allocator::clearClientFilters(Index c) {
  for (Agent& agent : agents_) {
    if (agent.live && agent.filters.count > 0) clearFilter(agent, c);
  }
}

void Allocator::expireFilters(TimePoint now) {
  while (!expiries_.empty() && expiries_.top().at <= now) {
    Expiry due = expiries_.top();
    expiries_.pop();
    if (due.agent >= agents_.size()) continue;
    Agent& agent = agents_[due.agent];
    AgentFilters& filters = agent.filters;
    // A kind freed by revive (or an agent slot reused) has a different serial: nothing to do.
    if (!agent.live || due.kind >= filters.kinds.size() ||
        filters.kinds[due.kind].serial != due.serial) {
      continue;
    }
    auto expire = [&filters, kind = due.kind](Index c) {
      if (c < filters.kindOf.size() && filters.kindOf[c] == kind) {
        filters.kindOf[c] = 0;
        clearBit(filters.covered, c);
        filters.count--;
      }
    };
    FilterKind& expired = filters.kinds[due.kind];
    if (expired.scanOnExpiry) {
      for (Index c = 0; c < filters.kindOf.size(); ++c) expire(c);
    } else {
      // A client may be listed twice (it left the kind and joined again); the second visit
      // finds its entry already cleared.
      for (Index c : expired.members) expire(c);
    }
    releaseKind(filters, due.kind);
    allocationPending_ = true;
  }
}

std::optional<TimePoint> Allocator::nextFilterExpiry() const {
  if (expiries_.empty()) return std::nullopt;
  return expiries_.top().at;
}

void Allocator::refreshCoverage(Agent& agent) {
  AgentFilters& filters = agent.filters;
  bool changed = false;
  for (RefusedSet& set : filters.sets) {
    if (set.refs == 0) continue;
    bool covers = set.refused.contains(agent.free);
    if (covers != set.coversFree) {
      set.coversFree = covers;
      changed = true;
    }
  }
  if (changed) {
    std::fill(filters.covered.begin(), filters.covered.end(), 0);
    for (Index c = 0; c < filters.kindOf.size(); ++c) {
      std::uint16_t kind = filters.kindOf[c];
      if (kind != 0 && filters.sets[filters.kinds[kind].set].coversFree) {
        setBit(filters.covered, c);
      }
    }
  }
  filters.stale = false;
}

bool Allocator::refusedExactly(const Agent& agent, Index c, const Resources& offerable) const {
  const AgentFilters& filters = agent.filters;
  if (c >= filters.kindOf.size() || filters.kindOf[c] == 0) return false;
  return filters.sets[filters.kinds[filters.kindOf[c]].set].refused.contains(offerable);
}

// ----------------------------------------------------------------------------------------------
// The cycle

std::vector<Offer> Allocator::allocate(TimePoint now) {
  std::vector<Offer> out;
  allocate(now, out);
  return out;
}

void Allocator::allocate(TimePoint now, std::vector<Offer>& out) {
  expireFilters(now);
  if (policy_->generation() != policyGeneration_) orderDirty_ = true;
  if (orderDirty_) rebuildOrder();
  cycleEligible_ = eligible_;
  for (Framework& fw : frameworks_) fw.offersThisCycle = 0;

  for (Index a = 0; a < agents_.size(); ++a) {
    Agent& agent = agents_[a];
    if (!agent.live || !agent.active || !agent.free.hasScalars()) continue;
    if (agent.filters.stale) refreshCoverage(agent);
    if (!anyCandidate(cycleEligible_, agent.filters.covered)) continue;
    if (roleOrderDirty_) flattenRoles();
    allocateAgent(a, out);
  }
  allocationPending_ = false;
}

void Allocator::allocateAgent(Index a, std::vector<Offer>& out) {
  Agent& agent = agents_[a];
  const std::uint32_t maxOffers = options_.maxOffersPerFrameworkPerCycle;
  for (Index r : roleOrder_) {
    Role& role = roles_[r];
    bool computed = false;
    for (Index c : role.clients) {
      if (!testBit(cycleEligible_, c) || testBit(agent.filters.covered, c)) continue;
      if (!computed) {
        computed = true;
        if (!offerableFor(role, agent.free, scratch_)) break;
      }
      if (refusedExactly(agent, c, scratch_)) continue;

      Framework& fw = frameworks_[clients_[c].framework];
      out.push_back(Offer{fw.id, agent.id, role.path, scratch_});
      // charge() re-sorts role.clients, so the loop over it must end here.
      charge(c, a, out.back().resources);
      if (++fw.offersThisCycle == maxOffers && maxOffers != 0) {
        for (Index fc : fw.clients) clearBit(cycleEligible_, fc);
      }
      break;
    }
    if (!agent.free.hasScalars()) return;
  }
}

bool Allocator::offerableFor(const Role& role, const Resources& free, Resources& out) const {
  out = free;
  if (!role.limitOnPath) return out.hasScalars();
  // Cap every limited scalar at the headroom of the role and of each ancestor with a limit:
  // a quota on 'eng' bounds 'eng/web' too.
  const Role* node = &role;
  while (node != nullptr && node != &roles_[0]) {
    if (node->hasLimit) {
      for (const Resources::Scalar& s : free.scalars()) {
        Milli limit = s.id < node->limit.size() ? node->limit[s.id] : -1;
        if (limit < 0) continue;
        Milli headroom = limit - denseAt(node->subtreeHeld, s.id);
        if (out.scalarMilli(s.id) > headroom) out.setMilli(s.id, std::max<Milli>(headroom, 0));
      }
    }
    node = node->parent == kNone ? nullptr : &roles_[node->parent];
  }
  return out.hasScalars();
}

// ----------------------------------------------------------------------------------------------
// Queries

Result<Resources> Allocator::roleAllocation(const std::string& role) const {
  auto index = findRole(role);
  if (!index) return make_error("unknown role '" + role + "'");
  Resources out;
  for (const Agent& agent : agents_) {
    if (!agent.live) continue;
    for (const auto& [c, resources] : agent.held) {
      for (Index r = clients_[c].role; r != kNone; r = roles_[r].parent) {
        if (r == *index) {
          out += resources;
          break;
        }
      }
    }
  }
  return out;
}

Result<Resources> Allocator::frameworkAllocation(const std::string& frameworkId) const {
  auto fw = findFramework(frameworkId);
  if (!fw) return fw.error();
  Resources out;
  for (const Agent& agent : agents_) {
    if (!agent.live) continue;
    for (const auto& [c, resources] : agent.held) {
      if (clients_[c].framework == *fw) out += resources;
    }
  }
  return out;
}

Result<Resources> Allocator::frameworkAllocation(const std::string& frameworkId,
                                                 const std::string& role) const {
  auto fw = findFramework(frameworkId);
  if (!fw) return fw.error();
  auto client = findClient(*fw, role);
  if (!client) return client.error();
  Resources out;
  for (const Agent& agent : agents_) {
    if (!agent.live) continue;
    for (const auto& [c, resources] : agent.held) {
      if (c == *client) out += resources;
    }
  }
  return out;
}

Result<Resources> Allocator::agentFree(const std::string& agentId) const {
  auto index = findAgent(agentId);
  if (!index) return index.error();
  return agents_[*index].free;
}

Result<double> Allocator::roleDominantShare(const std::string& role) const {
  auto index = findRole(role);
  if (!index) return make_error("unknown role '" + role + "'");
  return shareOf(roles_[*index].subtreeHeld);
}

Result<double> Allocator::frameworkDominantShare(const std::string& frameworkId,
                                                 const std::string& role) const {
  auto fw = findFramework(frameworkId);
  if (!fw) return fw.error();
  auto client = findClient(*fw, role);
  if (!client) return client.error();
  return clientShare(clients_[*client]);
}

Resources Allocator::clusterTotal() const {
  Resources out;
  for (std::size_t id = 0; id < clusterTotal_.size(); ++id) {
    if (clusterTotal_[id] > 0) out.setMilli(static_cast<ResourceId>(id), clusterTotal_[id]);
  }
  return out;
}

}  // namespace tessera::allocation

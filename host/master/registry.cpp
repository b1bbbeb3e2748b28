#include "master/registry.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "tessera/protocol/duration.h"

namespace tessera::host::master {

Registry::Registry(sdk::Bus& bus, sdk::Clock& clock, const sdk::Leadership* leadership,
                   sdk::StoreOptions options, std::chrono::milliseconds retry)
    : bus_(bus),
      clock_(clock),
      retry_(retry),
      store_(bus, clock, std::move(options)),
      agent_writer_(store_) {
  store_.fence_with(leadership);
}

template <typename T>
void Registry::list(const std::string& prefix, const char* what,
                    std::function<void(sdk::Listing<T>)> then) {
  store_.template list<T>(
      prefix, [this, prefix, what, then = std::move(then)](sdk::StoreResult<sdk::Listing<T>> r) {
        if (!r) {
          bus_.log.error("cannot read the registry's {}: {}; retrying", what, r.error().message);
          clock_.after(retry_, [this, prefix, what, then] { list<T>(prefix, what, then); });
          return;
        }
        then(std::move(*r));
      });
}

size_t Registry::agent_set_of(const std::string& agent_id) {
  uint64_t hash = 14695981039346656037ULL;  // FNV-1a, 64 bits
  for (unsigned char c : agent_id) {
    hash ^= c;
    hash *= 1099511628211ULL;
  }
  return static_cast<size_t>(hash % kAgentSetCount);
}

std::string Registry::agent_set_key(size_t set) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string key = kAgentSets;
  key += kHex[(set >> 4) & 0xf];
  key += kHex[set & 0xf];
  return key;
}

size_t Registry::forget_removed(AgentSet& set, double now) {
  size_t changes = 0;
  // A time that is not a number (a damaged set) or in the future (another master's clock)
  // counts from now: removal stays final for the age at least, and the set is written so.
  for (auto& entry : set.removed) {
    if (!std::isfinite(entry.second) || entry.second > now) {
      entry.second = now;
      ++changes;
    }
  }
  std::vector<std::string> forgotten;
  if (removed_max_age_.count() > 0) {
    double oldest = now - static_cast<double>(removed_max_age_.count());
    for (auto it = set.removed.begin(); it != set.removed.end();) {
      if (it->second < oldest) {
        forgotten.push_back(it->first);
        it = set.removed.erase(it);
      } else {
        ++it;
      }
    }
  }
  size_t cap = (removed_max_count_ + kAgentSetCount - 1) / kAgentSetCount;
  if (removed_max_count_ > 0 && set.removed.size() > cap) {
    // The oldest go first (ties by id, so that every master forgets the same ones).
    std::vector<std::pair<double, std::string>> by_age;
    by_age.reserve(set.removed.size());
    for (const auto& [agent_id, at] : set.removed) by_age.emplace_back(at, agent_id);
    size_t excess = set.removed.size() - cap;
    std::nth_element(by_age.begin(), by_age.begin() + static_cast<std::ptrdiff_t>(excess - 1),
                     by_age.end());
    for (size_t i = 0; i < excess; ++i) {
      set.removed.erase(by_age[i].second);
      forgotten.push_back(std::move(by_age[i].second));
    }
  }
  changes += forgotten.size();
  if (!forgotten.empty()) {
    bus_.log.info(
        "registry: forgot {} removed agent(s) (removed over {} h ago, or the oldest "
        "beyond the {} kept)",
        forgotten.size(), std::chrono::duration_cast<std::chrono::hours>(removed_max_age_).count(),
        removed_max_count_);
    if (on_forgotten_) on_forgotten_(forgotten);
  }
  return changes;
}

void Registry::recover(std::function<void(RecoveredRegistry)> done) {
  uint64_t reading = ++reading_;
  sets_read_ = false;
  struct Reading {
    RecoveredRegistry registry;
    std::vector<AgentSet> sets = std::vector<AgentSet>(kAgentSetCount);
    std::vector<std::string> legacy_keys;
    std::set<size_t> legacy_sets;  // sets that gain an earlier version's agent
  };
  auto read = std::make_shared<Reading>();
  auto finish = [this, read, reading, done = std::move(done)] {
    RecoveredRegistry& recovered = read->registry;
    double now = clock_.wall_seconds();
    std::vector<size_t> shrunk;
    for (size_t index = 0; index < read->sets.size(); ++index) {
      AgentSet& set = read->sets[index];
      // Removal is final: an id also admitted was admitted before it was removed.
      for (const auto& entry : set.removed) set.admitted.erase(entry.first);
      if (forget_removed(set, now) > 0) shrunk.push_back(index);
      for (const auto& entry : set.removed) recovered.removed_agents.insert(entry.first);
      for (const auto& [agent_id, hash] : set.admitted) {
        if (!hash.empty()) recovered.agent_secrets[agent_id] = hash;
      }
    }
    if (reading == reading_) {
      sets_ = std::move(read->sets);
      sets_read_ = true;
      // Earlier versions' records: their agents are written into the sets first, then the
      // records are deleted (the writer keeps that order), so that a crash between the two
      // leaves both, which the next reading merges again.
      legacy_keys_ = std::move(read->legacy_keys);
      for (size_t set : read->legacy_sets) changed_[set];
      for (size_t set : shrunk) changed_[set];
      if (!legacy_keys_.empty()) {
        bus_.log.info("moving {} agent record(s) of an earlier version into the registry's sets",
                      legacy_keys_.size());
      }
      if (!changed_.empty()) post_write();
    }
    done(std::move(recovered));
  };
  // One listing after the other, so that the store is never asked for all of them at once.
  auto roles = [this, read, finish] {
    list<RoleSettings>(kRoles, "role settings", [read, finish](auto roles) {
      for (auto& entry : roles.entries) {
        read->registry.roles[entry.key.substr(std::string(kRoles).size())] = std::move(entry.value);
      }
      finish();
    });
  };
  auto legacy = [this, read, roles] {
    list<AgentRecord>(kLegacyAgents, "agents", [this, read, roles](auto agents) {
      for (const auto& entry : agents.entries) {
        std::string agent_id = entry.key.substr(std::string(kLegacyAgents).size());
        size_t set = agent_set_of(agent_id);
        AgentSet& into = read->sets[set];
        if (!entry.value.secret_hash.empty() && into.admitted.count(agent_id) == 0 &&
            into.removed.count(agent_id) == 0) {
          into.admitted[agent_id] = entry.value.secret_hash;
          read->legacy_sets.insert(set);
        }
        read->legacy_keys.push_back(entry.key);
      }
      list<double>(kLegacyRemovedAgents, "removed agents", [this, read, roles](auto removed) {
        // The key says which agent was removed; an unreadable time does not bring it back (it
        // counts from now for registry_max_removed_agent_age).
        auto remove = [&](const std::string& key, double at) {
          std::string agent_id = key.substr(std::string(kLegacyRemovedAgents).size());
          size_t set = agent_set_of(agent_id);
          read->sets[set].admitted.erase(agent_id);
          read->sets[set].removed.emplace(agent_id, at);
          read->legacy_sets.insert(set);
          read->legacy_keys.push_back(key);
        };
        for (const auto& entry : removed.entries) remove(entry.key, entry.value);
        for (const auto& key : removed.unreadable) remove(key, clock_.wall_seconds());
        roles();
      });
    });
  };
  list<FrameworkRecord>(kFrameworks, "frameworks", [this, read, legacy](auto frameworks) {
    for (auto& entry : frameworks.entries) {
      FrameworkRecord& record = entry.value;
      auto timeout =
          protocol::wire_duration("failover_timeout_seconds", record.failover_timeout_seconds,
                                  protocol::limits::kMaxFailoverTimeoutSeconds);
      if (!timeout) {
        bus_.log.warn("registry entry '{}{}': {}; using 0", store_.prefix(), sdk::escape(entry.key),
                      sdk::printable(timeout.error().message));
      }
      record.failover_timeout_seconds = timeout ? timeout->seconds : 0;
      read->registry.frameworks.push_back(std::move(record));
    }
    list<AgentSet>(kAgentSets, "agent sets", [this, read, legacy](auto sets) {
      for (auto& entry : sets.entries) {
        // Each agent goes where its id hashes to, whichever set it was read from.
        for (auto& [agent_id, hash] : entry.value.admitted) {
          read->sets[agent_set_of(agent_id)].admitted[agent_id] = std::move(hash);
        }
        for (const auto& [agent_id, at] : entry.value.removed) {
          read->sets[agent_set_of(agent_id)].removed[agent_id] = at;
        }
      }
      legacy();
    });
  });
}

std::function<void(sdk::StoreResult<uint64_t>)> Registry::outcome(const std::string& key,
                                                                  std::function<void(bool)> done) {
  return [this, key, done = std::move(done)](const sdk::StoreResult<uint64_t>& r) {
    if (!r) bus_.log.error("registry write of '{}' failed: {}", key, r.error().message);
    if (done) done(r.ok());
  };
}

Registry::~Registry() { *alive_ = false; }

bool Registry::refused_before_reading(const char* change, const std::string& agent_id,
                                      std::function<void(bool)>& done) {
  if (sets_read_) return false;
  bus_.log.error("registry {} of agent '{}' refused: the registry is not read yet", change,
                 sdk::printable(agent_id));
  if (done) bus_.loop->post([done = std::move(done)] { done(false); });
  return true;
}

void Registry::put_agent(const std::string& agent_id, const std::string& secret_hash,
                         std::function<void(bool)> done) {
  if (refused_before_reading("write", agent_id, done)) return;
  size_t set = agent_set_of(agent_id);
  sets_[set].admitted[agent_id] = secret_hash;
  changed(set, std::move(done));
}

void Registry::remove_agent(const std::string& agent_id, double removed_at,
                            std::function<void(bool)> done) {
  if (refused_before_reading("removal", agent_id, done)) return;
  size_t set = agent_set_of(agent_id);
  // One write of one set: the agent is never neither admitted nor removed.
  sets_[set].admitted.erase(agent_id);
  sets_[set].removed[agent_id] = removed_at;
  changed(set, std::move(done));
}

void Registry::changed(size_t set, std::function<void(bool)> done) {
  auto& waiting = changed_[set];
  if (done) waiting.push_back(std::move(done));
  post_write();
}

void Registry::post_write() {
  if (write_posted_) return;
  write_posted_ = true;
  // Every change asked for in this turn of the loop goes in one write of its set.
  bus_.loop->post([this, alive = alive_] {
    if (*alive) write_changed_sets();
  });
}

void Registry::write_changed_sets() {
  write_posted_ = false;
  // The round's earlier versions' records are deleted only once every set of the round is
  // stored: their agents are then in the sets (the migrated sets are in the first round, and a
  // set that failed is in the round that retries it, which takes the records with it).
  struct Round {
    size_t waiting = 0;
    bool failed = false;
    std::vector<std::string> legacy;
  };
  auto round = std::make_shared<Round>();
  round->legacy = std::exchange(legacy_keys_, {});
  auto finish = [this](Round& done_round) {
    if (done_round.legacy.empty()) return;
    if (done_round.failed) {
      legacy_keys_.insert(legacy_keys_.end(), done_round.legacy.begin(), done_round.legacy.end());
      return;
    }
    for (const std::string& key : done_round.legacy) agent_writer_.remove(key);
  };
  auto sets = std::exchange(changed_, {});
  round->waiting = sets.size();
  for (auto& entry : sets) {
    // Named, not a structured binding: the callback captures them.
    size_t set = entry.first;
    std::vector<std::function<void(bool)>>& dones = entry.second;
    forget_removed(sets_[set], clock_.wall_seconds());
    // A put of a set still waiting in the writer takes this value where it stands.
    agent_writer_.put(agent_set_key(set), sets_[set],
                      [this, alive = alive_, set, round, finish,
                       dones = std::move(dones)](const sdk::StoreResult<uint64_t>& r) {
                        for (const auto& done : dones) done(r.ok());
                        if (!*alive) return;
                        if (r) set_retry_.erase(set);
                        if (!r && r.code() != sdk::StoreCode::kFenced) {
                          // The set as held here is not stored: it is written again (whole, with
                          // whatever changed meanwhile) after retry_, doubling while it keeps
                          // failing (up to a minute), so that a removal or an admission that
                          // failed is not left to the next change of a neighbour.
                          round->failed = true;
                          auto [it, first] = set_retry_.try_emplace(set, retry_);
                          if (!first) it->second = std::min(it->second * 2, kMaxSetRetry);
                          bus_.log.error(
                              "registry write of '{}' failed: {}; writing it again in {} ms",
                              agent_set_key(set), r.error().message, it->second.count());
                          // One retry per set at a time, however many writes of it failed.
                          if (retry_pending_.insert(set).second) {
                            clock_.after(it->second, [this, alive, set] {
                              if (!*alive) return;
                              retry_pending_.erase(set);
                              changed(set, nullptr);
                            });
                          }
                        } else if (!r) {
                          round->failed = true;
                          bus_.log.error("registry write of '{}' refused: {}", agent_set_key(set),
                                         r.error().message);
                        }
                        if (--round->waiting == 0) finish(*round);
                      });
  }
  if (round->waiting == 0) finish(*round);
}

void Registry::put_framework(const FrameworkRecord& record, std::function<void(bool)> done) {
  std::string key = kFrameworks + record.framework_id;
  store_.put(key, record, outcome(key, std::move(done)));
}

void Registry::remove_framework(const std::string& framework_id, std::function<void(bool)> done) {
  std::string key = kFrameworks + framework_id;
  store_.remove(key, [this, key, done = std::move(done)](const sdk::StoreResult<uint64_t>& r) {
    bool ok = r.ok() || r.code() == sdk::StoreCode::kNotFound;
    if (!ok) bus_.log.error("registry delete of '{}' failed: {}", key, r.error().message);
    if (done) done(ok);
  });
}

void Registry::put_role(const std::string& role, const RoleSettings& settings,
                        std::function<void(bool)> done) {
  std::string key = kRoles + role;
  store_.put(key, settings, outcome(key, std::move(done)));
}

}  // namespace tessera::host::master

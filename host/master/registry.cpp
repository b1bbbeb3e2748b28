#include "master/registry.h"

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

void Registry::recover(std::function<void(RecoveredRegistry)> done) {
  auto recovered = std::make_shared<RecoveredRegistry>();
  auto finish = [recovered, done = std::move(done)] { done(std::move(*recovered)); };
  // Frameworks first, then the agents' secrets, the removed agents and the role settings: one
  // listing after the other, so that the store is never asked for all four at once.
  list<FrameworkRecord>(kFrameworks, "frameworks", [this, recovered, finish](auto frameworks) {
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
      recovered->frameworks.push_back(std::move(record));
    }
    list<AgentSecretRecord>(kAgents, "agents", [this, recovered, finish](auto agents) {
      for (const auto& entry : agents.entries) {
        std::string agent_id = entry.key.substr(std::string(kAgents).size());
        if (!entry.value.secret_hash.empty()) {
          recovered->agent_secrets[agent_id] = entry.value.secret_hash;
        }
      }
      list<double>(kRemovedAgents, "removed agents", [this, recovered, finish](auto removed) {
        // The key says which agent was removed; an unreadable time does not bring it back.
        for (const auto& entry : removed.entries) {
          recovered->removed_agents.insert(entry.key.substr(std::string(kRemovedAgents).size()));
        }
        for (const auto& key : removed.unreadable) {
          recovered->removed_agents.insert(key.substr(std::string(kRemovedAgents).size()));
        }
        list<RoleSettings>(kRoles, "role settings", [recovered, finish](auto roles) {
          for (auto& entry : roles.entries) {
            recovered->roles[entry.key.substr(std::string(kRoles).size())] = std::move(entry.value);
          }
          finish();
        });
      });
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

namespace {

// The writer logs a failed batch once; each write only reports whether it was stored.
sdk::StoreWriter::Done stored(std::function<void(bool)> done) {
  if (!done) return {};
  return [done = std::move(done)](const sdk::StoreResult<uint64_t>& r) { done(r.ok()); };
}

}  // namespace

void Registry::put_agent(const AgentRecord& record, std::function<void(bool)> done) {
  agent_writer_.put(kAgents + record.agent_id, record, stored(std::move(done)));
}

void Registry::remove_agent(const std::string& agent_id, double removed_at,
                            std::function<void(bool)> done) {
  // The record of its removal first: an agent must never be neither admitted nor removed.
  // `done` waits for the second write, which the writer stores after the first.
  agent_writer_.put(kRemovedAgents + agent_id, removed_at);
  agent_writer_.remove(kAgents + agent_id, stored(std::move(done)));
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

// The master's registry: what must survive a master restart or failover, kept in the leader
// plugin's durable store through sdk::Store, under the master's own prefix ("master/"):
//
//   agents/ID          AgentRecord: an admitted agent, with the hash of its secret
//   removed_agents/ID  when it was removed (wall seconds): it may not come back under that id
//   frameworks/ID      FrameworkRecord: a framework and its failover timeout
//   roles/ROLE         RoleSettings: weight, quota and priority an operator changed
//
// Tasks are not here: they are soft state, rebuilt from the agents' re-registrations.
//
// Writes are fenced to the leadership given (sdk::Store::fence_with): a write made while this
// master does not lead, or from a term that is over, is refused by the leader plugin, so a
// deposed master cannot overwrite what its successor wrote.
//
// Threading and lifetime: created, used and destroyed on the master's loop thread; callbacks run
// there. The Bus, its loop, the clock, the logger and the leadership must outlive it.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "master/model.h"
#include "tessera/sdk/store.h"
#include "tessera/sdk/store_writer.h"

namespace tessera::host::master {

// What the registry keeps of an admitted agent.
struct AgentRecord {
  std::string agent_id;
  std::string hostname;
  protocol::Resources resources;
  std::string secret_hash;  // empty in records written before agents had secrets
  MSGPACK_DEFINE_MAP(agent_id, hostname, resources, secret_hash);
};

// The part of an AgentRecord a new leader reads back: only the secret's hash is needed to
// re-admit an agent (what it runs and offers comes in its re-registration), and decoding each
// of 10,000 records' resources cost the new leader time before it served.
struct AgentSecretRecord {
  std::string secret_hash;
  MSGPACK_DEFINE_MAP(secret_hash);
};

// What the registry keeps of a framework.
struct FrameworkRecord {
  std::string framework_id;
  std::string name;
  std::vector<std::string> roles;
  double failover_timeout_seconds = 0;
  MSGPACK_DEFINE_MAP(framework_id, name, roles, failover_timeout_seconds);
};

// Everything a new leader reads back before it serves.
struct RecoveredRegistry {
  // Failover timeouts checked and capped as on subscribe (records written before the checks
  // may hold anything; one that is not a duration is read as 0, logged).
  std::vector<FrameworkRecord> frameworks;
  std::map<std::string, std::string> agent_secrets;  // agent id -> secret hash
  std::set<std::string> removed_agents;
  std::map<std::string, RoleSettings> roles;
};

class Registry {
 public:
  // `leadership` fences the writes (null: not fenced, for tests of the registry alone).
  // `retry` is how long a failed read waits before it is tried again.
  Registry(sdk::Bus& bus, sdk::Clock& clock, const sdk::Leadership* leadership,
           sdk::StoreOptions options = {},
           std::chrono::milliseconds retry = std::chrono::seconds(1));

  // Reads the whole registry and calls `done` once with it. A part that cannot be read is
  // logged and read again every `retry` until it can: a master must not serve on half a
  // registry. Entries that do not decode are logged and skipped (a removed agent's entry
  // counts whatever its value).
  void recover(std::function<void(RecoveredRegistry)> done);

  // Each write calls `done` (when given) with whether the store took it; a failure is logged.
  //
  // The agents' writes go out in batches (sdk::StoreWriter), one batch at a time: those asked
  // for while a batch is out wait and go together in the next, in the order asked, so that
  // thousands of agents registering at once cost tens of store requests, not one each, and a
  // removal never overtakes the write it follows. `done` runs once the write is durable (or
  // failed).
  void put_agent(const AgentRecord& record, std::function<void(bool)> done = {});
  // Forgets the agent's record and records it as removed at `removed_at` (wall seconds).
  void remove_agent(const std::string& agent_id, double removed_at,
                    std::function<void(bool)> done = {});
  void put_framework(const FrameworkRecord& record, std::function<void(bool)> done = {});
  void remove_framework(const std::string& framework_id, std::function<void(bool)> done = {});
  void put_role(const std::string& role, const RoleSettings& settings,
                std::function<void(bool)> done = {});

  // The store client (for its counters in tests).
  const sdk::Store& store() const { return store_; }

  static constexpr const char* kAgents = "agents/";
  static constexpr const char* kRemovedAgents = "removed_agents/";
  static constexpr const char* kFrameworks = "frameworks/";
  static constexpr const char* kRoles = "roles/";

 private:
  // Lists `prefix` as T; on failure logs and tries again after retry_.
  template <typename T>
  void list(const std::string& prefix, const char* what, std::function<void(sdk::Listing<T>)> then);
  // A callback for a write's outcome: logs a failure, then calls `done`.
  std::function<void(sdk::StoreResult<uint64_t>)> outcome(const std::string& key,
                                                          std::function<void(bool)> done);

  sdk::Bus& bus_;
  sdk::Clock& clock_;
  std::chrono::milliseconds retry_;
  sdk::Store store_;
  // The agents' writes: batched, in the order asked (see put_agent).
  sdk::StoreWriter agent_writer_;
};

}  // namespace tessera::host::master

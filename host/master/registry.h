// The master's registry: what must survive a master restart or failover, kept in the leader
// plugin's durable store through sdk::Store, under the master's own prefix ("master/"):
//
//   agent_sets/XX      AgentSet: the admitted agents (id -> hash of its secret) and the removed
//                      ones (id -> when) whose ids hash to XX, one of kAgentSetCount (256)
//   frameworks/ID      FrameworkRecord: a framework and its failover timeout
//   roles/ROLE         RoleSettings: weight, quota and priority an operator changed
//
// Tasks are not here: they are soft state, rebuilt from the agents' re-registrations.
//
// The agents are kept in sets rather than a record each because a new leader reads them all
// before it serves: 10,000 records were 10,000 znode reads on ZooKeeper, 2-5 s of a failover
// (docs/bench-failover.md), where 256 sets are 256 reads. A set is written whole from what this
// registry holds in memory (read back at election, then changed by put_agent and remove_agent),
// at most once per batch of the store writer however many of its agents changed meanwhile; an
// agent's move from admitted to removed is one write of one set. Earlier versions wrote
// `agents/ID` (AgentRecord) and `removed_agents/ID` (wall seconds): recover() still reads them,
// then writes their agents into the sets and, after that, deletes them.
//
// Writes are fenced to the leadership given (sdk::Store::fence_with): a write made while this
// master does not lead, or from a term that is over, is refused by the leader plugin, so a
// deposed master cannot overwrite what its successor wrote.
//
// Threading and lifetime: created, used and destroyed on the master's loop thread; callbacks run
// there. The Bus, its loop, the clock, the logger and the leadership must outlive it.
#pragma once

#include <chrono>
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

// An agent's record as earlier versions wrote it (`agents/ID`); read at recovery, then moved
// into its set. Only the secret's hash is needed to re-admit an agent (what it runs and offers
// comes in its re-registration), so only that is decoded.
struct AgentRecord {
  std::string secret_hash;
  TESSERA_MSGPACK_MAP(secret_hash);
};

// One of the kAgentSetCount sets of agents (see the top). An id in both maps (a set written before
// a removal, read with one written after) is removed: removal is final.
struct AgentSet {
  std::map<std::string, std::string> admitted;  // agent id -> its secret's hash
  std::map<std::string, double> removed;        // agent id -> when removed (wall seconds)
  TESSERA_MSGPACK_MAP(admitted, removed);
};

// What the registry keeps of a framework.
struct FrameworkRecord {
  std::string framework_id;
  std::string name;
  std::vector<std::string> roles;
  double failover_timeout_seconds = 0;
  TESSERA_MSGPACK_MAP(framework_id, name, roles, failover_timeout_seconds);
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
  // `retry` is how long a failed read, or a failed write of an agent set, waits before it is
  // tried again.
  Registry(sdk::Bus& bus, sdk::Clock& clock, const sdk::Leadership* leadership,
           sdk::StoreOptions options = {},
           std::chrono::milliseconds retry = std::chrono::seconds(1));
  ~Registry();

  // Reads the whole registry and calls `done` once with it. A part that cannot be read is
  // logged and read again every `retry` until it can: a master must not serve on half a
  // registry. Entries that do not decode are logged and skipped (an earlier version's removed
  // agent's entry counts whatever its value). Only the latest call's reading becomes this
  // registry's sets (a reading of a term that ended may complete after a newer one).
  void recover(std::function<void(RecoveredRegistry)> done);

  // Each write calls `done` (when given) with whether the store took it; a failure is logged.
  //
  // The agents' writes change this registry's sets and go out as whole sets in batches
  // (sdk::StoreWriter), one batch at a time: the sets changed while a batch is out go together in
  // the next, so that thousands of agents registering at once cost a few store requests, and an
  // agent's removal is one write of its set. `done` runs once a write of its set holding the
  // change is durable (or failed). They are refused (done(false)) before recover() has read the
  // sets: a set written from an empty registry would forget the agents the store holds.
  void put_agent(const std::string& agent_id, const std::string& secret_hash,
                 std::function<void(bool)> done = {});
  // Moves the agent from admitted to removed at `removed_at` (wall seconds): it may not come
  // back under that id.
  void remove_agent(const std::string& agent_id, double removed_at,
                    std::function<void(bool)> done = {});
  void put_framework(const FrameworkRecord& record, std::function<void(bool)> done = {});
  void remove_framework(const std::string& framework_id, std::function<void(bool)> done = {});
  void put_role(const std::string& role, const RoleSettings& settings,
                std::function<void(bool)> done = {});

  // How long, and how many, removed agents are remembered (an agent of a removed id is refused
  // and told to start afresh). As Mesos's registry_max_agent_age and registry_max_agent_count:
  // without a bound the sets would grow with every agent ever removed, until a set passes the
  // store's 1 MiB and no agent of it can be admitted. A removed agent older than `max_age`
  // (a time that is not a number counts from now), and the oldest beyond `max_count` (spread
  // over the sets:
  // each keeps max_count / kAgentSetCount, rounded up), are forgotten whenever their set is
  // written, and at recovery (the sets that shrink are written). Forgotten, an id may register
  // again, as a new agent. 0 keeps them forever / without a count.
  void keep_removed_agents(std::chrono::seconds max_age, size_t max_count) {
    removed_max_age_ = max_age;
    removed_max_count_ = max_count;
  }
  // Called with the ids forgotten, whenever some are (the master then stops refusing them).
  void on_forgotten(std::function<void(const std::vector<std::string>&)> fn) {
    on_forgotten_ = std::move(fn);
  }
  // Forgets what of `set`'s removed agents is beyond the bounds above, at wall time `now`, and
  // dates a removal time that is not a number or is in the future at `now`; returns how many
  // entries changed (the set needs writing when any did).
  size_t forget_removed(AgentSet& set, double now);

  // The store client (for its counters in tests).
  const sdk::Store& store() const { return store_; }

  static constexpr const char* kAgentSets = "agent_sets/";
  static constexpr size_t kAgentSetCount = 256;
  // Where earlier versions kept each agent (read and moved into the sets, see the top).
  static constexpr const char* kLegacyAgents = "agents/";
  static constexpr const char* kLegacyRemovedAgents = "removed_agents/";

  // The set an agent id belongs to (FNV-1a of the id, modulo kAgentSetCount: the same on every
  // platform and version), and its key.
  static size_t agent_set_of(const std::string& agent_id);
  static std::string agent_set_key(size_t set);
  static constexpr const char* kFrameworks = "frameworks/";
  static constexpr const char* kRoles = "roles/";

 private:
  // Lists `prefix` as T; on failure logs and tries again after retry_.
  template <typename T>
  void list(const std::string& prefix, const char* what, std::function<void(sdk::Listing<T>)> then);
  // A callback for a write's outcome: logs a failure, then calls `done`.
  std::function<void(sdk::StoreResult<uint64_t>)> outcome(const std::string& key,
                                                          std::function<void(bool)> done);
  // Before recover() read the sets: logs that the `change` of the agent is refused, posts
  // done(false) and returns true.
  bool refused_before_reading(const char* change, const std::string& agent_id,
                              std::function<void(bool)>& done);
  // Marks set `set` changed, with `done` waiting for its next write.
  void changed(size_t set, std::function<void(bool)> done);
  // Writes every changed set whole (a set whose write fails is marked changed again after
  // retry_, doubling while it keeps failing), then, once every set of that round is stored, deletes
  // legacy_keys_ (posted once per turn of the loop by post_write).
  void post_write();
  void write_changed_sets();

  sdk::Bus& bus_;
  sdk::Clock& clock_;
  std::chrono::milliseconds retry_;
  sdk::Store store_;
  // The agents' writes: batched, in the order asked (see put_agent).
  sdk::StoreWriter agent_writer_;
  // The agent sets as the store has them plus the changes asked for since (see the top); empty
  // until recover() read them.
  std::vector<AgentSet> sets_;
  bool sets_read_ = false;
  uint64_t reading_ = 0;  // recover() calls so far
  // Sets changed since they were last given to the writer, each with the callbacks that wait.
  std::map<size_t, std::vector<std::function<void(bool)>>> changed_;
  bool write_posted_ = false;
  // Keys of earlier versions' records to delete once their agents' sets are written.
  std::vector<std::string> legacy_keys_;
  // The wait before each set whose last write failed is written again (retry_, doubling up to
  // kMaxSetRetry while it keeps failing: a set over the store's size limit is not resent every
  // second).
  std::map<size_t, std::chrono::milliseconds> set_retry_;
  static constexpr std::chrono::milliseconds kMaxSetRetry{60000};
  // See keep_removed_agents (defaults: Mesos's two weeks and 102,400 agents).
  std::chrono::seconds removed_max_age_{std::chrono::hours(24 * 14)};
  size_t removed_max_count_ = 102400;
  std::function<void(const std::vector<std::string>&)> on_forgotten_;
  // Sets with a retry of a failed write waiting (one at a time per set).
  std::set<size_t> retry_pending_;
  // Guards callbacks posted to the loop against this registry's destruction.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace tessera::host::master

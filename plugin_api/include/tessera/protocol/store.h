// The leader protocol: leader detection and the small durable key-value store, both served by
// the leader plugin (leader_standalone: SQLite; leader_zookeeper: ZooKeeper).
//
// The leader plugin binds a Server at inproc://tessera.leader (requests below) and a Publisher
// at inproc://tessera.leader.events (LeaderChanged, Changed). Values are opaque bytes (callers
// store msgpack). Versions start at 1 and grow by one on every write of a key; compare-and-set
// against version 0 means "only if absent".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tessera/message.h"

namespace tessera::protocol::store {

inline constexpr const char* kEndpoint = "inproc://tessera.leader";
inline constexpr const char* kEventsEndpoint = "inproc://tessera.leader.events";

struct Get {
  static constexpr const char* kType = "store.get";
  static constexpr uint32_t kSchema = 1;
  std::string key;
  MSGPACK_DEFINE_MAP(key);
};

struct Put {
  static constexpr const char* kType = "store.put";
  static constexpr uint32_t kSchema = 1;
  std::string key;
  std::string value;
  MSGPACK_DEFINE_MAP(key, value);
};

struct CompareAndSet {
  static constexpr const char* kType = "store.cas";
  static constexpr uint32_t kSchema = 1;
  std::string key;
  uint64_t expected_version = 0;
  std::string value;
  MSGPACK_DEFINE_MAP(key, expected_version, value);
};

struct Delete {
  static constexpr const char* kType = "store.delete";
  static constexpr uint32_t kSchema = 1;
  std::string key;
  MSGPACK_DEFINE_MAP(key);
};

struct List {
  static constexpr const char* kType = "store.list";
  static constexpr uint32_t kSchema = 1;
  std::string prefix;
  MSGPACK_DEFINE_MAP(prefix);
};

struct Entry {
  std::string key;
  std::string value;
  uint64_t version = 0;
  MSGPACK_DEFINE_MAP(key, value, version);
};

// The answer to every store request.
struct Result {
  static constexpr const char* kType = "store.result";
  static constexpr uint32_t kSchema = 1;
  bool ok = false;  // false: `error` says why (e.g. version conflict, not found)
  std::string error;
  bool conflict = false;       // a compare-and-set whose expected version did not match
  std::vector<Entry> entries;  // Get: zero or one; List: all under the prefix
  uint64_t version = 0;        // Put/CompareAndSet: the new version
  MSGPACK_DEFINE_MAP(ok, error, conflict, entries, version);
};

// Event: a key changed (published for every write; subscribers filter by key prefix).
struct Changed {
  static constexpr const char* kType = "store.changed";
  static constexpr uint32_t kSchema = 1;
  std::string key;
  uint64_t version = 0;
  bool deleted = false;
  MSGPACK_DEFINE_MAP(key, version, deleted);
};

struct GetLeader {
  static constexpr const char* kType = "leader.get";
  static constexpr uint32_t kSchema = 1;
  TESSERA_NO_FIELDS();
};

// Sent by the master role of this host: "make me leader when you can". Answered with Leader
// at once (elected or not) and published again as Leader whenever the outcome changes.
struct Campaign {
  static constexpr const char* kType = "leader.campaign";
  static constexpr uint32_t kSchema = 1;
  std::string master_id;
  std::string endpoint;  // where agents and frameworks reach this master (tcp)
  MSGPACK_DEFINE_MAP(master_id, endpoint);
};

// The answer to GetLeader and Campaign, and an event whenever the leader changes.
struct Leader {
  static constexpr const char* kType = "leader.info";
  static constexpr uint32_t kSchema = 1;
  bool known = false;
  std::string master_id;
  std::string endpoint;    // tcp address agents and frameworks connect to
  bool this_node = false;  // true when the leader is the master of this host
  MSGPACK_DEFINE_MAP(known, master_id, endpoint, this_node);
};

}  // namespace tessera::protocol::store

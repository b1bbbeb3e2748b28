// The leader protocol: leader detection and the small durable key-value store, both served by
// the leader plugin (leader_standalone: SQLite; leader_zookeeper: ZooKeeper).
//
// The leader plugin binds a Server at inproc://tessera.leader (requests below) and a Publisher
// at inproc://tessera.leader.events (Leader, Changed). It serves the same requests at the
// address of its `endpoint` key (for tools, and the conformance suite), announced as `store`.
// Values are opaque bytes (callers store msgpack; sdk/store.h does it for them). Versions start at
// 1 and grow by one on every write of a key; compare-and-set against version 0 means "only if
// absent".
//
// Rules every leader plugin enforces (and the conformance suite, tessera/conformance/leader.h,
// checks):
// - Prefixes: a request's keys (a list's prefix) must start with the sender's name and '/'
//   (the envelope's `from`: "master/", "framework_marathon/"); anything else is refused with
//   code "permission_denied". The name is what the sender claims: on inproc the senders are
//   the plugins of the same process, so the rule keeps honest plugins apart and catches
//   mistakes; it is not authentication (a tcp endpoint must be reached only by trusted tools).
// - Limits: a key is at most kMaxKeyBytes, a value at most kMaxValueBytes (1 MiB, as
//   ZooKeeper's default jute.maxbuffer); beyond them the answer is code "too_large".
// - Fencing: every election of a master starts a new epoch (one more than the last, kept
//   durably). Writes carry the epoch their writer leads in; a write with an older epoch than
//   the store's is refused with code "fenced", so a deposed master (or a framework on its host)
//   cannot overwrite what the new leader wrote. Epoch 0 means "not fenced": writers that never
//   lead (tools, agent-side plugins) use it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "tessera/message.h"

namespace tessera::protocol::store {

inline constexpr const char* kEndpoint = "inproc://tessera.leader";
inline constexpr const char* kEventsEndpoint = "inproc://tessera.leader.events";

inline constexpr size_t kMaxKeyBytes = 1024;
inline constexpr size_t kMaxValueBytes = size_t{1024} * 1024;

// The codes of Result::code, each something a caller can act on.
namespace code {
inline constexpr const char* kConflict = "conflict";                   // CAS: another version
inline constexpr const char* kNotFound = "not_found";                  // delete of an absent key
inline constexpr const char* kPermissionDenied = "permission_denied";  // outside the prefix
inline constexpr const char* kTooLarge = "too_large";                  // key or value too big
inline constexpr const char* kFenced = "fenced";                       // the writer's epoch is over
inline constexpr const char* kInvalid = "invalid";          // empty key, epoch from elsewhere
inline constexpr const char* kUnavailable = "unavailable";  // the store failed; try again
}  // namespace code

// A key as messages show it: in single quotes, control bytes, quotes and backslashes escaped as
// \xNN, keys longer than 200 bytes shortened with "...".
inline std::string quote_key(const std::string& key) {
  constexpr size_t kShown = 200;
  std::string out = "'";
  for (size_t i = 0; i < key.size() && i < kShown; ++i) {
    auto c = static_cast<unsigned char>(key[i]);
    if (c < 0x20 || c == 0x7f || c == '\'' || c == '\\') {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", c);
      out += escaped;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (key.size() > kShown) out += "...";
  return out + "'";
}

struct Get {
  static constexpr const char* kType = "store.get";
  static constexpr uint32_t kSchema = 1;
  std::string key;
  TESSERA_MSGPACK_MAP(key);
};

// Writes carry `epoch` (schema 2): the epoch their writer leads in, 0 when not fenced.
struct Put {
  static constexpr const char* kType = "store.put";
  static constexpr uint32_t kSchema = 2;
  std::string key;
  std::string value;
  uint64_t epoch = 0;
  TESSERA_MSGPACK_MAP(key, value, epoch);
};

struct CompareAndSet {
  static constexpr const char* kType = "store.cas";
  static constexpr uint32_t kSchema = 2;
  std::string key;
  uint64_t expected_version = 0;
  std::string value;
  uint64_t epoch = 0;
  TESSERA_MSGPACK_MAP(key, expected_version, value, epoch);
};

struct Delete {
  static constexpr const char* kType = "store.delete";
  static constexpr uint32_t kSchema = 2;
  std::string key;
  uint64_t epoch = 0;
  TESSERA_MSGPACK_MAP(key, epoch);
};

// One write of a Batch: a put of `value`, or, when `remove`, a deletion of `key`.
struct BatchWrite {
  std::string key;
  std::string value;
  bool remove = false;
  TESSERA_MSGPACK_MAP(key, value, remove);
};

// A batch's limits: at most kMaxBatchWrites writes, and their keys and values together at most
// kMaxBatchBytes, so that a batch fits in one ZooKeeper multi (jute.maxbuffer, 1 MiB by
// default) with room for its headers.
inline constexpr size_t kMaxBatchWrites = 1000;
inline constexpr size_t kMaxBatchBytes = size_t{512} * 1024;

// Several writes applied together (schema 1), in order, all durable before the answer, so that
// many small writes cost one round trip and, where the store allows, one commit. Every write's
// key follows the rules of a single write (prefix, limits); one fenced epoch covers them all.
// leader_standalone applies a batch as one SQLite transaction (all or none, one sync);
// leader_zookeeper applies it write by write and stops at the first that fails, whose failure
// is the answer (the writes before it stay applied): callers must not rely on atomicity. A removal
// of an absent key is not an error (it removes nothing, version 0). Answered with one Result:
// `entries` holds each write's key and its new version (a removal: the version the key had), in the
// order of `writes`, values left empty; published as one Changed per write. A leader plugin older
// than this message does not answer it.
struct Batch {
  static constexpr const char* kType = "store.batch";
  static constexpr uint32_t kSchema = 1;
  std::vector<BatchWrite> writes;
  uint64_t epoch = 0;
  TESSERA_MSGPACK_MAP(writes, epoch);
};

// A listing is answered in pages (schema 2): the entries under `prefix` whose keys come after
// `start_after` ("" from the first), in key order, at most `limit` of them (0, or more than
// kMaxListEntries: kMaxListEntries), and no more once their keys and values together reach
// kMaxListBytes, so that any number of keys can be listed without a reply over the bus's
// message limit. The Result says `more` when the page stopped at one of those limits: the next
// page starts after its last key. A plugin older than paging ignores both fields and answers
// everything in one reply, without `more`.
inline constexpr size_t kMaxListEntries = 2000;
inline constexpr size_t kMaxListBytes = size_t{4} * 1024 * 1024;

struct List {
  static constexpr const char* kType = "store.list";
  static constexpr uint32_t kSchema = 2;
  std::string prefix;
  std::string start_after;
  uint32_t limit = 0;
  TESSERA_MSGPACK_MAP(prefix, start_after, limit);
};

// The number of entries a page of `list` may hold.
inline size_t list_page_limit(const List& list) {
  return list.limit == 0 || list.limit > kMaxListEntries ? kMaxListEntries : list.limit;
}

struct Entry {
  std::string key;
  std::string value;
  uint64_t version = 0;
  TESSERA_MSGPACK_MAP(key, value, version);
};

// The answer to every store request.
struct Result {
  static constexpr const char* kType = "store.result";
  static constexpr uint32_t kSchema = 3;
  bool ok = false;  // false: `error` says why (e.g. version conflict, not found)
  std::string error;
  bool conflict = false;       // a compare-and-set whose expected version did not match
  std::vector<Entry> entries;  // Get: zero or one; List: one page under the prefix
  uint64_t version = 0;        // Put/CompareAndSet: the new version
  std::string code;            // when !ok, one of code::* (schema 2; empty from older plugins)
  uint64_t epoch = 0;          // the store's current epoch (schema 2)
  bool more = false;           // List: the page stopped at a limit; ask after its last key (3)
  TESSERA_MSGPACK_MAP(ok, error, conflict, entries, version, code, epoch, more);
};

// Event: a key changed (published for every write; subscribers filter by key prefix).
struct Changed {
  static constexpr const char* kType = "store.changed";
  static constexpr uint32_t kSchema = 1;
  std::string key;
  uint64_t version = 0;
  bool deleted = false;
  TESSERA_MSGPACK_MAP(key, version, deleted);
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
  TESSERA_MSGPACK_MAP(master_id, endpoint);
};

// Sent by a plugin of the leading host to give up its leadership (Marathon's DELETE
// /v2/leader): the master `master_id` (the one leading, as leader.info names it) leaves the
// election and enters it again as its last candidate, so another master leads if one
// campaigns; the only candidate is elected again, in a new epoch. Ignored (answered with the
// unchanged leader.info) when `master_id` is not this host's leading master. Answered with
// leader.info; the outcome is published as usual.
struct Resign {
  static constexpr const char* kType = "leader.resign";
  static constexpr uint32_t kSchema = 1;
  std::string master_id;
  TESSERA_MSGPACK_MAP(master_id);
};

// The answer to GetLeader, Campaign and Resign, and an event whenever the leader changes.
struct Leader {
  static constexpr const char* kType = "leader.info";
  static constexpr uint32_t kSchema = 2;
  bool known = false;
  std::string master_id;
  std::string endpoint;    // tcp address agents and frameworks connect to
  bool this_node = false;  // true when the leader is the master of this host
  // The leader's term (schema 2): one more at every election, never reused; what writes of the
  // leader's host carry for fencing. 0 when the plugin knows of no election (e.g. an agent-only
  // node of leader_standalone, which is told its master).
  uint64_t epoch = 0;
  TESSERA_MSGPACK_MAP(known, master_id, endpoint, this_node, epoch);
};

}  // namespace tessera::protocol::store

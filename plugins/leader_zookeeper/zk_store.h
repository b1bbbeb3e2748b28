// ZooKeeperStore: the key-value store of the leader protocol (tessera/protocol/store.h) kept in
// ZooKeeper, one znode per key (zk_layout.h has the layout).
//
// - Versions are the key's own (in its znode's header): 1 when created, one more per write,
//   1 again after a delete. Every change is applied with the znode's version as a condition
//   (compare-and-set in ZooKeeper), so concurrent writers from several hosts never lose an
//   update: a write that raced another is read again and retried.
// - Fencing: a write with a non-zero epoch is one zoo_multi with a check that the epoch znode
//   is still at that version (the epoch is the epoch znode's version), so a write of a term
//   that is over is refused by ZooKeeper itself, atomically with the write.
// - Values larger than one znode can hold (kInlineValueBytes) are written first as chunks
//   under ROOT/blobs, then the key's znode is switched to name them in one atomic write; the
//   chunks of the value it replaced are deleted after. A reader that finds a chunk gone (the
//   value was replaced under it) reads again.
//
// The caller checks the protocol's rules (prefixes, sizes, the epoch against its cached one)
// first; this class only keeps the data. Calls are synchronous, on the owner's thread, with a
// connected Session; a ZooKeeper failure is an error with code kUnavailable.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tessera/protocol/store.h"
#include "tessera/result.h"
#include "zk_layout.h"
#include "zk_session.h"

namespace tessera::leader::zk {

struct StoreEntry {
  std::string key;
  std::string value;
  uint64_t version = 0;
};

struct Write {
  enum class Outcome { kDone, kConflict, kNotFound, kFenced, kEpochUnknown };
  Outcome outcome = Outcome::kDone;
  uint64_t version = 0;  // kDone: the new version (delete: the version it had); kConflict: the
                         // current one (0: absent)
  uint64_t epoch = 0;    // kFenced, kEpochUnknown: the epoch the store is at
};

class ZooKeeperStore {
 public:
  // A listing under a znode with more than `max_children` children is refused (kMaxChildren;
  // a test gives a smaller bound to see the refusal).
  explicit ZooKeeperStore(std::string root, size_t max_children = kMaxChildren);

  const std::string& root() const { return root_; }
  const std::string& election_path() const { return election_; }
  const std::string& epoch_path() const { return epoch_; }
  const std::string& store_path() const { return store_; }

  // Creates the root, election, store and blobs znodes and the epoch znode where missing.
  Status prepare(Session& session);
  // The current epoch (the epoch znode's version), optionally leaving a watch on it.
  Result<uint64_t> epoch(Session& session, bool watch = false);

  Result<std::optional<StoreEntry>> get(Session& session, const std::string& key);
  // `expected`: compare-and-set on that version (0: only if absent); none: a plain put.
  Result<Write> put(Session& session, const std::string& key, const std::string& value,
                    uint64_t epoch, std::optional<uint64_t> expected = std::nullopt);
  Result<Write> remove(Session& session, const std::string& key, uint64_t epoch);
  // Every entry under `prefix`, in key order.
  Result<std::vector<StoreEntry>> list(Session& session, const std::string& prefix);
  // One page of that listing (protocol::store::List): the entries after `start_after`, in key
  // order, at most `limit`, stopping once their keys and values reach `max_bytes`; `more` when
  // it stopped at either limit. Only the znodes of the page (and of the path down to
  // `start_after`) are read, so listing N keys in pages costs N reads, not N per page.
  struct Page {
    std::vector<StoreEntry> entries;
    bool more = false;
    // Why each znode of the page's range that holds data this plugin did not write (or that
    // does not read back whole) was left out of it.
    std::vector<std::string> skipped;
  };
  Result<Page> list_page(Session& session, const std::string& prefix,
                         const std::string& start_after, size_t limit, size_t max_bytes);
  // Applies `writes` (puts of inline values and removals, of distinct keys) in one ZooKeeper
  // multi after one pipelined read of their znodes: a batch of a thousand new keys costs a few
  // round trips instead of four each. Every write's outcome (kDone, or kNotFound for the
  // removal of an absent key) when the multi succeeded; nullopt when it cannot or did not
  // apply them together (a large value, a repeated key, a chunked value replaced, a race, a
  // fenced epoch, ZooKeeper unreachable): nothing was written, and the caller applies them one
  // by one, which tells each failure apart.
  std::optional<std::vector<Write>> apply_together(
      Session& session, const std::vector<protocol::store::BatchWrite>& writes, uint64_t epoch);

 private:
  struct Node {
    StoreNode node;
    Stat stat{};
  };
  Result<std::optional<Node>> read_node(Session& session, const std::string& path);
  // The node a read of `path` found (nullopt: none), or why it cannot be used.
  static Result<std::optional<Node>> node_of(const std::string& path, const Session::Read& read);
  // As node_of, but a znode holding data this plugin did not write is one without a value (of
  // its znode version), which a write replaces.
  static Result<std::optional<Node>> node_to_write(const std::string& path,
                                                   const Session::Read& read);
  // The value of a present node; nullopt when a chunk is gone (replaced meanwhile).
  Result<std::optional<std::string>> read_value(Session& session, const StoreNode& node);
  // Writes the chunks of a new value; returns its blob's name.
  Result<std::string> write_chunks(Session& session, const std::string& value);
  void delete_chunks(Session& session, const std::string& blob, uint32_t chunks);
  Status ensure_parents(Session& session, const std::string& key);
  // A write refused by the epoch check: which of fenced or unknown it is.
  Result<Write> refused_epoch(Session& session, uint64_t epoch);
  struct Paging;
  Status walk(Session& session, const std::string& path, const std::string& key, Paging& paging);

  std::string root_;
  std::string election_;
  std::string epoch_;
  std::string store_;
  std::string blobs_;
  size_t max_children_;
  uint64_t blob_counter_ = 0;
};

}  // namespace tessera::leader::zk

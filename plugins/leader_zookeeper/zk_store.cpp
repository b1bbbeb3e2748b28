#include "zk_store.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <optional>
#include <set>

#include "tessera/protocol/store.h"

namespace tessera::leader::zk {

namespace {

// Attempts of a read or write that keeps meeting concurrent changes before it gives up.
constexpr int kAttempts = 20;

Error unavailable(const std::string& what, int rc) {
  return make_error(ErrorCode::kUnavailable, what + ": " + describe(rc));
}

bool raced(int rc) {
  return rc == ZBADVERSION || rc == ZNODEEXISTS || rc == ZNONODE || rc == ZNOTEMPTY;
}

}  // namespace

ZooKeeperStore::ZooKeeperStore(std::string root, size_t max_children)
    : root_(std::move(root)),
      election_(root_ + "/election"),
      epoch_(root_ + "/epoch"),
      store_(root_ + "/store"),
      blobs_(root_ + "/blobs"),
      max_children_(max_children) {}

Status ZooKeeperStore::prepare(Session& session) {
  for (const std::string& path : {election_, store_, blobs_}) {
    if (int rc = session.ensure_path(path); rc != ZOK) {
      return unavailable("creating " + protocol::store::quote_key(path), rc);
    }
  }
  int rc = session.create(epoch_, epoch_data(0), 0);
  if (rc != ZOK && rc != ZNODEEXISTS) {
    return unavailable("creating " + protocol::store::quote_key(epoch_), rc);
  }
  auto current = epoch(session);
  if (!current) return current.error();
  return {};
}

Result<uint64_t> ZooKeeperStore::epoch(Session& session, bool watch) {
  std::string data;
  Stat stat{};
  int rc = session.get(epoch_, data, &stat, 64, watch);
  if (rc != ZOK) return unavailable("reading the epoch " + protocol::store::quote_key(epoch_), rc);
  auto written = parse_epoch(data);
  // The data repeats the version; a znode whose data disagrees was written by someone else.
  if (!written || *written != static_cast<uint64_t>(stat.version)) {
    return make_error("the epoch znode " + protocol::store::quote_key(epoch_) +
                      " holds no epoch of this plugin (its data is " +
                      protocol::store::quote_key(data) + " at version " +
                      std::to_string(stat.version) + ")");
  }
  return static_cast<uint64_t>(stat.version);
}

Result<std::optional<ZooKeeperStore::Node>> ZooKeeperStore::read_node(Session& session,
                                                                      const std::string& path) {
  Session::Read read;
  read.rc = session.get(path, read.data, &read.stat, kMaxNodeBytes);
  return node_of(path, read);
}

Result<std::optional<ZooKeeperStore::Node>> ZooKeeperStore::node_of(const std::string& path,
                                                                    const Session::Read& read) {
  if (read.rc == ZNONODE) return std::optional<Node>();
  if (read.rc == ZBADARGUMENTS) {
    return make_error("the store znode " + protocol::store::quote_key(path) +
                      " is larger than this plugin ever writes");
  }
  if (read.rc != ZOK) return unavailable("reading " + protocol::store::quote_key(path), read.rc);
  auto parsed = parse_store_node(read.data);
  if (!parsed) {
    return make_error("the store znode " + protocol::store::quote_key(path) + " is not one of " +
                      "this plugin's: " + parsed.error().message);
  }
  return std::optional<Node>(Node{std::move(*parsed), read.stat});
}

Result<std::optional<ZooKeeperStore::Node>> ZooKeeperStore::node_to_write(
    const std::string& path, const Session::Read& read) {
  auto node = node_of(path, read);
  // Data this plugin did not write, read whole (another client's `set`, or damage): a write
  // replaces it, as a key without a value (a listing leaves it out; a get refuses it).
  if (!node && read.rc == ZOK) return std::optional<Node>(Node{StoreNode{}, read.stat});
  return node;
}

Result<std::optional<std::string>> ZooKeeperStore::read_value(Session& session,
                                                              const StoreNode& node) {
  if (node.kind == StoreNode::Kind::kInline) return std::optional<std::string>(node.value);
  std::string value;
  value.reserve(node.size);
  for (uint32_t i = 0; i < node.chunks; ++i) {
    std::string chunk;
    std::string path = blobs_ + "/" + chunk_name(node.blob, i);
    int rc = session.get(path, chunk, nullptr, kChunkBytes);
    if (rc == ZNONODE) return std::optional<std::string>();
    if (rc != ZOK) return unavailable("reading " + protocol::store::quote_key(path), rc);
    value += chunk;
  }
  if (value.size() != node.size) {
    return make_error("the chunks of blob " + protocol::store::quote_key(node.blob) + " hold " +
                      std::to_string(value.size()) + " bytes, not " + std::to_string(node.size));
  }
  return std::optional<std::string>(std::move(value));
}

Result<std::string> ZooKeeperStore::write_chunks(Session& session, const std::string& value) {
  // Unique among every writer: the session is, and so is the counter within it.
  std::string blob = std::to_string(session.id()) + "-" + std::to_string(++blob_counter_);
  auto chunks = static_cast<uint32_t>((value.size() + kChunkBytes - 1) / kChunkBytes);
  for (uint32_t i = 0; i < chunks; ++i) {
    std::string path = blobs_ + "/" + chunk_name(blob, i);
    int rc = session.create(path, value.substr(i * kChunkBytes, kChunkBytes), 0);
    if (rc != ZOK) {
      delete_chunks(session, blob, i);
      return unavailable("writing " + protocol::store::quote_key(path), rc);
    }
  }
  return blob;
}

void ZooKeeperStore::delete_chunks(Session& session, const std::string& blob, uint32_t chunks) {
  // Best effort: a chunk left behind is garbage nobody reads, not a wrong value.
  for (uint32_t i = 0; i < chunks; ++i) session.remove(blobs_ + "/" + chunk_name(blob, i), -1);
}

Status ZooKeeperStore::ensure_parents(Session& session, const std::string& key) {
  auto segments = key_segments(key);
  std::string path = store_;
  const std::string directory = store_node_data(StoreNode{});
  for (size_t i = 0; i + 1 < segments.size(); ++i) {
    path += "/" + encode_segment(segments[i]);
    int rc = session.create(path, directory, 0);
    if (rc != ZOK && rc != ZNODEEXISTS) {
      return unavailable("creating " + protocol::store::quote_key(path), rc);
    }
  }
  return {};
}

Result<Write> ZooKeeperStore::refused_epoch(Session& session, uint64_t epoch) {
  auto current = this->epoch(session);
  if (!current) return current.error();
  Write write;
  write.epoch = *current;
  write.outcome = epoch < *current ? Write::Outcome::kFenced : Write::Outcome::kEpochUnknown;
  return write;
}

Result<std::optional<StoreEntry>> ZooKeeperStore::get(Session& session, const std::string& key) {
  std::string path = key_path(store_, key);
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    auto node = read_node(session, path);
    if (!node) return node.error();
    if (!*node || (*node)->node.kind == StoreNode::Kind::kDirectory) {
      return std::optional<StoreEntry>();
    }
    auto value = read_value(session, (*node)->node);
    if (!value) return value.error();
    if (!*value) continue;  // Replaced while it was read: read the new one.
    return std::optional<StoreEntry>(StoreEntry{key, std::move(**value), (*node)->node.version});
  }
  return make_error(ErrorCode::kUnavailable,
                    "get " + protocol::store::quote_key(key) + ": it kept changing while read");
}

Result<Write> ZooKeeperStore::put(Session& session, const std::string& key,
                                  const std::string& value, uint64_t epoch,
                                  std::optional<uint64_t> expected) {
  std::string path = key_path(store_, key);
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    Session::Read read;
    read.rc = session.get(path, read.data, &read.stat, kMaxNodeBytes);
    auto current = node_to_write(path, read);
    if (!current) return current.error();
    bool present = *current && (*current)->node.kind != StoreNode::Kind::kDirectory;
    uint64_t version = present ? (*current)->node.version : 0;
    if (expected && *expected != version) return Write{Write::Outcome::kConflict, version, 0};
    if (!*current) {
      if (auto s = ensure_parents(session, key); !s) return s.error();
    }

    StoreNode next;
    next.version = version + 1;
    if (value.size() <= kInlineValueBytes) {
      next.kind = StoreNode::Kind::kInline;
      next.value = value;
    } else {
      auto blob = write_chunks(session, value);
      if (!blob) return blob.error();
      next.kind = StoreNode::Kind::kChunked;
      next.blob = *blob;
      next.size = value.size();
      next.chunks = static_cast<uint32_t>((value.size() + kChunkBytes - 1) / kChunkBytes);
    }

    std::vector<Op> ops;
    if (epoch != 0) ops.push_back(Op::check(epoch_, static_cast<int>(epoch)));
    if (*current) {
      ops.push_back(Op::set(path, store_node_data(next), (*current)->stat.version));
    } else {
      ops.push_back(Op::create(path, store_node_data(next)));
    }
    int failed = -1;
    int rc = session.multi(ops, &failed);
    if (rc == ZOK) {
      if (present && (*current)->node.kind == StoreNode::Kind::kChunked) {
        delete_chunks(session, (*current)->node.blob, (*current)->node.chunks);
      }
      return Write{Write::Outcome::kDone, next.version, 0};
    }
    if (next.kind == StoreNode::Kind::kChunked) delete_chunks(session, next.blob, next.chunks);
    if (epoch != 0 && failed == 0) return refused_epoch(session, epoch);
    if (!raced(rc)) return unavailable("writing " + protocol::store::quote_key(key), rc);
    // Another writer changed the key between the read and the write: read it again.
  }
  return make_error(ErrorCode::kUnavailable,
                    "write " + protocol::store::quote_key(key) + ": it kept changing meanwhile");
}

Result<Write> ZooKeeperStore::remove(Session& session, const std::string& key, uint64_t epoch) {
  std::string path = key_path(store_, key);
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    auto current = read_node(session, path);
    if (!current) return current.error();
    if (!*current || (*current)->node.kind == StoreNode::Kind::kDirectory) {
      // Absent; a refusal for the epoch still comes first, as for any other write.
      if (epoch != 0) {
        auto now = this->epoch(session);
        if (!now) return now.error();
        if (epoch != *now) return refused_epoch(session, epoch);
      }
      return Write{Write::Outcome::kNotFound, 0, 0};
    }
    const Node& node = **current;
    std::vector<Op> ops;
    if (epoch != 0) ops.push_back(Op::check(epoch_, static_cast<int>(epoch)));
    // A znode that is also the parent of other keys stays, as a directory.
    if (node.stat.numChildren == 0) {
      ops.push_back(Op::remove(path, node.stat.version));
    } else {
      ops.push_back(Op::set(path, store_node_data(StoreNode{}), node.stat.version));
    }
    int failed = -1;
    int rc = session.multi(ops, &failed);
    if (rc == ZOK) {
      if (node.node.kind == StoreNode::Kind::kChunked) {
        delete_chunks(session, node.node.blob, node.node.chunks);
      }
      return Write{Write::Outcome::kDone, node.node.version, 0};
    }
    if (epoch != 0 && failed == 0) return refused_epoch(session, epoch);
    if (!raced(rc)) return unavailable("deleting " + protocol::store::quote_key(key), rc);
  }
  return make_error(ErrorCode::kUnavailable,
                    "delete " + protocol::store::quote_key(key) + ": it kept changing meanwhile");
}

std::optional<std::vector<Write>> ZooKeeperStore::apply_together(
    Session& session, const std::vector<protocol::store::BatchWrite>& writes, uint64_t epoch) {
  std::set<std::string> keys;
  std::vector<std::string> paths;
  paths.reserve(writes.size());
  for (const auto& write : writes) {
    if (write.value.size() > kInlineValueBytes || !keys.insert(write.key).second) {
      return std::nullopt;
    }
    paths.push_back(key_path(store_, write.key));
  }
  std::vector<Session::Read> reads;
  if (session.get_many(paths, reads, kMaxNodeBytes) != ZOK) return std::nullopt;
  std::vector<Op> ops;
  ops.reserve(writes.size() + 1);
  if (epoch != 0) ops.push_back(Op::check(epoch_, static_cast<int>(epoch)));
  std::vector<Write> outcomes;
  outcomes.reserve(writes.size());
  // Parents are created once per directory, not once per new key.
  std::set<std::string> parents_made;
  for (size_t i = 0; i < writes.size(); ++i) {
    const auto& write = writes[i];
    auto current = node_to_write(paths[i], reads[i]);
    if (!current) return std::nullopt;
    if (*current && (*current)->node.kind == StoreNode::Kind::kChunked) return std::nullopt;
    bool present = *current && (*current)->node.kind != StoreNode::Kind::kDirectory;
    if (write.remove) {
      if (!present) {
        outcomes.push_back(Write{Write::Outcome::kNotFound, 0, 0});
        continue;
      }
      const Node& node = **current;
      // A znode that is also the parent of other keys stays, as a directory.
      if (node.stat.numChildren == 0) {
        ops.push_back(Op::remove(paths[i], node.stat.version));
      } else {
        ops.push_back(Op::set(paths[i], store_node_data(StoreNode{}), node.stat.version));
      }
      outcomes.push_back(Write{Write::Outcome::kDone, node.node.version, 0});
      continue;
    }
    StoreNode next;
    next.version = (present ? (*current)->node.version : 0) + 1;
    next.kind = StoreNode::Kind::kInline;
    next.value = write.value;
    if (*current) {
      ops.push_back(Op::set(paths[i], store_node_data(next), (*current)->stat.version));
    } else {
      std::string parent = write.key.substr(0, write.key.rfind('/') + 1);
      if (parents_made.insert(parent).second) {
        if (auto s = ensure_parents(session, write.key); !s) return std::nullopt;
      }
      ops.push_back(Op::create(paths[i], store_node_data(next)));
    }
    outcomes.push_back(Write{Write::Outcome::kDone, next.version, 0});
  }
  // A multi is all or nothing: when it fails, nothing of the batch was written. With only the
  // epoch's check in it (every removal of an absent key), it still refuses a term that is over.
  if (!ops.empty() && session.multi(ops) != ZOK) return std::nullopt;
  return outcomes;
}

Result<std::vector<StoreEntry>> ZooKeeperStore::list(Session& session, const std::string& prefix) {
  auto page = list_page(session, prefix, "", std::numeric_limits<size_t>::max(),
                        std::numeric_limits<size_t>::max());
  if (!page) return page.error();
  return std::move(page->entries);
}

// What a paged walk is after, and what it has gathered.
struct ZooKeeperStore::Paging {
  const std::string& prefix;
  const std::string& start_after;
  size_t limit;
  size_t max_bytes;
  Page page;
  size_t bytes = 0;

  bool full() const { return page.entries.size() >= limit || bytes >= max_bytes; }
  // Adds an entry unless the page is full, which then says there is more.
  bool add(StoreEntry entry) {
    if (full()) {
      page.more = true;
      return false;
    }
    bytes += entry.key.size() + entry.value.size();
    page.entries.push_back(std::move(entry));
    return true;
  }
};

Result<ZooKeeperStore::Page> ZooKeeperStore::list_page(Session& session, const std::string& prefix,
                                                       const std::string& start_after, size_t limit,
                                                       size_t max_bytes) {
  Paging paging{prefix, start_after, limit, max_bytes, {}};
  // Walk from the znode of the prefix's last complete segment.
  auto segments = key_segments(prefix);
  segments.pop_back();
  std::string path = store_;
  std::string key;
  for (size_t i = 0; i < segments.size(); ++i) {
    path += "/" + encode_segment(segments[i]);
    key += (i == 0 ? "" : "/") + segments[i];
  }
  if (auto s = walk(session, path, key, paging); !s) return s.error();
  return std::move(paging.page);
}

namespace {

bool starts_with(const std::string& text, const std::string& start) {
  return text.compare(0, start.size(), start) == 0;
}

// Whether some key that starts with `start` comes after `after`: not when `after` is past
// `start` and every key that starts with it.
bool may_come_after(const std::string& start, const std::string& after) {
  return !(after > start && !starts_with(after, start));
}

}  // namespace

// The keys below a znode, in key order: each child is a key of its own (unless it is a
// directory) and the root of the keys that start with its key and '/'. A segment holds no '/',
// so no sibling's key falls among the keys below another, and sorting "child" and "child/"
// together with the siblings' gives the order of every key below this znode. The children's
// znodes are read in runs (pipelined), each as long as the page may still take, so a page of a
// registry of 10,000 agents costs a few round trips.
Status ZooKeeperStore::walk(Session& session, const std::string& path, const std::string& key,
                            Paging& paging) {
  std::vector<std::string> names;
  int rc = session.children(path, names);
  if (rc == ZNONODE) return {};
  if (rc != ZOK) return unavailable("listing " + protocol::store::quote_key(path), rc);
  if (names.size() > max_children_) {
    // Refused whole rather than cut: a registry listed in part would be taken for all of it.
    return make_error(ErrorCode::kInvalidArgument,
                      "listing " + protocol::store::quote_key(path) + ": it has " +
                          std::to_string(names.size()) + " children, more than the " +
                          std::to_string(max_children_) + " a listing reads under one znode");
  }
  bool at_root = path == store_;
  struct Child {
    std::string key;
    std::string path;
    bool queued = false;    // its znode is read in the current or an earlier run
    bool children = false;  // it had children when read
  };
  struct Item {
    std::string order;  // the child's key, or its key and '/' for the keys below it
    size_t child;
    bool below;
  };
  std::vector<Child> kids;
  std::vector<Item> items;
  for (const std::string& name : names) {
    auto segment = decode_segment(name);
    if (!segment) continue;  // Not a znode this plugin wrote.
    std::string child = at_root ? *segment : key + "/" + *segment;
    std::string below = child + "/";
    bool matches = starts_with(child, paging.prefix);
    bool leads_to_prefix = starts_with(paging.prefix, below);
    if (!matches && !leads_to_prefix) continue;
    size_t index = kids.size();
    if (matches && child > paging.start_after) items.push_back(Item{child, index, false});
    if (may_come_after(below, paging.start_after)) items.push_back(Item{below, index, true});
    kids.push_back(Child{std::move(child), path + "/" + name});
  }
  std::sort(items.begin(), items.end(),
            [](const Item& a, const Item& b) { return a.order < b.order; });
  // At most this many znodes are read ahead at once, so that a page of large values does not
  // read far past its byte limit.
  constexpr size_t kReadAhead = 512;
  size_t next = 0;
  while (next < items.size()) {
    if (paging.page.more) return {};
    // The run: the next keys up to what the page may still take, through the "below" items of
    // the keys in it (whether those have children is known once they are read). A "below"
    // item of a child not read (its own key was before start_after) ends the run: it is walked
    // alone.
    size_t want =
        paging.full() ? 1 : std::min(kReadAhead, paging.limit - paging.page.entries.size());
    size_t end = next;
    std::vector<size_t> run;
    while (end < items.size()) {
      const Item& item = items[end];
      if (item.below) {
        if (!kids[item.child].queued) break;
      } else {
        if (run.size() >= want) break;
        run.push_back(item.child);
        kids[item.child].queued = true;
      }
      ++end;
    }
    if (!run.empty()) {
      std::vector<std::string> paths;
      paths.reserve(run.size());
      for (size_t index : run) paths.push_back(kids[index].path);
      std::vector<Session::Read> reads;
      rc = session.get_many(paths, reads, kMaxNodeBytes);
      if (rc != ZOK) return unavailable("listing " + protocol::store::quote_key(path), rc);
      // The entries are added in the order of the items, after the keys below the children that
      // come before them.
      std::vector<std::optional<StoreEntry>> entries(run.size());
      for (size_t i = 0; i < run.size(); ++i) {
        Child& kid = kids[run[i]];
        // A znode whose data this plugin did not write (another client's, or damaged) is
        // skipped, as a name it never writes is, and reported: a listing that failed on it would
        // keep every new leader from reading its registry. (A get of its key still refuses it.)
        auto read = node_of(paths[i], reads[i]);
        if (!read && (reads[i].rc == ZOK || reads[i].rc == ZBADARGUMENTS)) {
          paging.page.skipped.push_back(read.error().message);
          // The keys below it are still walked (its stat is read whole when its data is).
          kid.children = reads[i].rc == ZOK && reads[i].stat.numChildren > 0;
          continue;
        }
        if (!read) return read.error();
        if (!*read) continue;  // Deleted since the children were listed.
        const Node& node = **read;
        kid.children = node.stat.numChildren > 0;
        if (node.node.kind == StoreNode::Kind::kDirectory) continue;
        auto value = read_value(session, node.node);
        if (!value && value.error().code != ErrorCode::kUnavailable) {
          paging.page.skipped.push_back("the store znode " + protocol::store::quote_key(paths[i]) +
                                        ": " + value.error().message);
          continue;
        }
        if (!value) return value.error();
        if (*value) {
          entries[i] = StoreEntry{kid.key, std::move(**value), node.node.version};
        } else {
          // A chunked value replaced while it was read: read the key again, as get() does.
          auto entry = get(session, kid.key);
          if (!entry) return entry.error();
          entries[i] = std::move(*entry);
        }
      }
      size_t taken = 0;
      for (size_t i = next; i < end; ++i) {
        const Item& item = items[i];
        Child& kid = kids[item.child];
        if (item.below) {
          if (!kid.children) continue;
          if (auto s = walk(session, kid.path, kid.key, paging); !s) return s;
          if (paging.page.more) return {};
          continue;
        }
        auto& entry = entries[taken++];
        if (!entry) continue;
        if (!paging.add(std::move(*entry))) return {};
      }
      next = end;
      continue;
    }
    // A "below" item of a child whose own key was not read: walk it (a znode without children
    // lists none).
    const Item& item = items[next++];
    if (auto s = walk(session, kids[item.child].path, kids[item.child].key, paging); !s) return s;
  }
  return {};
}

}  // namespace tessera::leader::zk

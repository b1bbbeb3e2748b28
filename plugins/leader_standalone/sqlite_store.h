// SqliteStore: the durable key-value store of the standalone leader, one SQLite file.
//
// Knows nothing about plugins or messages (leader_standalone.{h,cpp} wraps it). Keys and values
// are arbitrary bytes (keys must not be empty). Every key has a version: 1 when it is created,
// one more on every write; a deleted key is gone, and creating it again starts at 1.
//
// Durability: the file is opened in WAL mode with synchronous=FULL, so a write that returned
// successfully survives a crash of the process or of the machine.
//
// Cost: each kind of request's SQL statement is prepared once, on its first use, and kept until
// the store is closed (preparing it again for every write of a batch was 8 % of a master host's
// CPU time while framework_chronos stored 10,000 launches); values are bound without a copy.
//
// Errors are Result-style, quote the key and name the file ("store '/w/store.sqlite': put 'a':
// database or disk is full"). A compare-and-set whose expected version does not match is not an
// error but an outcome (CasOutcome::applied == false).
//
// Threading: one SqliteStore is used by one thread at a time (the plugin's loop thread). It is
// movable, not copyable; the destructor closes the file.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "tessera/protocol/store.h"
#include "tessera/result.h"

struct sqlite3;
struct sqlite3_stmt;

namespace tessera::leader {

struct StoreEntry {
  std::string key;
  std::string value;
  uint64_t version = 0;
};

// What a compare-and-set did.
struct CasOutcome {
  bool applied = false;
  // applied: the new version. Not applied: the key's current version (0: absent).
  uint64_t version = 0;
};

class SqliteStore {
 public:
  struct Options {
    // A hard limit on the file's size in pages (PRAGMA max_page_count); 0 keeps SQLite's
    // default. Writes past it fail as if the disk were full.
    int64_t max_pages = 0;
    // How long a write waits for a lock held by another connection before failing as busy.
    int busy_timeout_ms = 5000;
  };

  // Opens (creating it and its parent directory if missing) the store at `path`, and checks it:
  // a file that is not an SQLite database, a corrupt one, or one written by a newer schema is
  // refused with an error naming the file.
  static Result<SqliteStore> open(const std::filesystem::path& path, Options options);
  static Result<SqliteStore> open(const std::filesystem::path& path) {
    return open(path, Options{});
  }

  SqliteStore(SqliteStore&& other) noexcept;
  SqliteStore& operator=(SqliteStore&& other) noexcept;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;
  ~SqliteStore();

  // The entry at `key`, or nullopt when the key is absent.
  Result<std::optional<StoreEntry>> get(const std::string& key);

  // Writes `value` unconditionally and returns the key's new version.
  Result<uint64_t> put(const std::string& key, const std::string& value);

  // Writes `value` only if the key's version is `expected_version` (0: only if the key is
  // absent).
  Result<CasOutcome> compare_and_set(const std::string& key, uint64_t expected_version,
                                     const std::string& value);

  // Deletes `key` and returns the version it had, or nullopt when it was absent.
  Result<std::optional<uint64_t>> remove(const std::string& key);

  // Applies `writes` in order as one transaction (one sync to disk): all of them or, on any
  // failure, none. Returns each write's new version (a removal: the version the key had, 0 when
  // it was absent).
  Result<std::vector<uint64_t>> apply(const std::vector<protocol::store::BatchWrite>& writes);

  // Every entry whose key starts with `prefix` (bytes compared exactly, so '%' and '_' are
  // ordinary characters), in key order. An empty prefix lists everything.
  Result<std::vector<StoreEntry>> list(const std::string& prefix);

  // One page of that listing (protocol::store::List): the entries after `start_after`, at most
  // `limit`, stopping once their keys and values reach `max_bytes`; `more` when it stopped at
  // either limit.
  struct Page {
    std::vector<StoreEntry> entries;
    bool more = false;
  };
  Result<Page> list_page(const std::string& prefix, const std::string& start_after, size_t limit,
                         size_t max_bytes);

  const std::filesystem::path& path() const { return path_; }

 private:
  // The statements kept prepared, one per kind of request.
  enum Query : size_t {
    kGet,
    kPut,
    kInsertIfAbsent,
    kUpdateIfVersion,
    kRemove,
    kListBounded,
    kListToEnd,
    kQueryCount
  };

  SqliteStore(sqlite3* db, std::filesystem::path path) : db_(db), path_(std::move(path)) {}

  // The prepared statement of `query` (prepared on its first use), or nullptr when SQLite
  // refused to prepare it (describe the connection's error).
  sqlite3_stmt* prepared(Query query);
  // Finalizes every kept statement (before the connection is closed).
  void finalize_all();

  Error failure(const std::string& what, const std::string& why) const;

  sqlite3* db_ = nullptr;
  std::filesystem::path path_;
  std::array<sqlite3_stmt*, kQueryCount> statements_{};
};

// The smallest byte string greater than every string that starts with `prefix`, or nullopt when
// there is none (an empty prefix, or one made only of 0xff bytes).
std::optional<std::string> prefix_successor(const std::string& prefix);

// A key as messages show it (shared with every leader plugin and the SDK's store client).
using protocol::store::quote_key;

}  // namespace tessera::leader

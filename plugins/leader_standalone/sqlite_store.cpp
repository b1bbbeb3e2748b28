#include "sqlite_store.h"

#include <sqlite3.h>

#include <cstdio>
#include <limits>
#include <system_error>
#include <utility>

namespace tessera::leader {

namespace {

// The schema this code writes (PRAGMA user_version) and the application id that marks the file
// as a Tessera store (PRAGMA application_id, "TSSA"), so that another program's SQLite file is
// not silently taken over.
constexpr int kSchemaVersion = 1;
constexpr int kApplicationId = 0x54535341;

// SQLite's message for the connection's last error, with what the user can do about it.
std::string describe(sqlite3* db) {
  if (db == nullptr) return "out of memory";
  std::string message = sqlite3_errmsg(db);
  switch (sqlite3_extended_errcode(db) & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return message +
             " (another connection holds the file; is a second node using this work dir?)";
    case SQLITE_FULL:
      return message + " (free some disk space)";
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return message + " (restore the file from a backup, or move it away to start empty)";
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_CANTOPEN:
      return message + " (check the file's and its directory's permissions)";
    default:
      return message;
  }
}

// One use of a prepared statement. An owned one (a pragma run once) is finalized at the end of
// its scope; a kept one (SqliteStore::prepared) is reset and its bindings cleared instead, so
// that it holds no read snapshot and points to no caller's bytes once its user is done.
class Statement {
 public:
  // Prepares `sql` for this use only.
  Statement(sqlite3* db, const char* sql) : owned_(true) {
    status_ = sqlite3_prepare_v2(db, sql, -1, &statement_, nullptr);
  }
  // Uses a statement kept prepared (nullptr: it could not be prepared).
  explicit Statement(sqlite3_stmt* kept)
      : statement_(kept), status_(kept != nullptr ? SQLITE_OK : SQLITE_ERROR) {}
  ~Statement() {
    if (owned_) {
      sqlite3_finalize(statement_);
    } else if (statement_ != nullptr) {
      sqlite3_reset(statement_);
      sqlite3_clear_bindings(statement_);
    }
  }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  bool prepared() const { return status_ == SQLITE_OK; }

  // Blobs, never text: keys then compare bytewise (memcmp), whatever they contain. Bound
  // without a copy: the caller's bytes outlive this use (the destructor clears the binding).
  void bind(int index, const std::string& bytes) {
    // A null pointer would bind NULL; std::string::data() never is one.
    sqlite3_bind_blob64(statement_, index, bytes.data(), bytes.size(), SQLITE_STATIC);
  }
  void bind(int index, uint64_t number) {
    sqlite3_bind_int64(statement_, index, static_cast<sqlite3_int64>(number));
  }

  // SQLITE_ROW, SQLITE_DONE or an error code.
  int step() { return sqlite3_step(statement_); }

  std::string blob(int column) const {
    const void* data = sqlite3_column_blob(statement_, column);
    int size = sqlite3_column_bytes(statement_, column);
    if (data == nullptr || size <= 0) return {};
    return std::string(static_cast<const char*>(data), static_cast<size_t>(size));
  }
  std::string text(int column) const {
    const unsigned char* data = sqlite3_column_text(statement_, column);
    return data == nullptr ? std::string() : reinterpret_cast<const char*>(data);
  }
  uint64_t number(int column) const {
    return static_cast<uint64_t>(sqlite3_column_int64(statement_, column));
  }

 private:
  sqlite3_stmt* statement_ = nullptr;
  int status_ = SQLITE_OK;
  bool owned_ = false;
};

// Runs a write with `RETURNING version`: the version, or nullopt when no row was written. Steps
// to the end, so that the write is committed (and a failed commit seen) before returning.
Result<std::optional<uint64_t>> returned_version(sqlite3* db, Statement& statement) {
  std::optional<uint64_t> version;
  while (true) {
    int status = statement.step();
    if (status == SQLITE_DONE) return version;
    if (status != SQLITE_ROW) return make_error(describe(db));
    if (!version) version = statement.number(0);
  }
}

}  // namespace

std::optional<std::string> prefix_successor(const std::string& prefix) {
  std::string out = prefix;
  while (!out.empty() && static_cast<unsigned char>(out.back()) == 0xff) out.pop_back();
  if (out.empty()) return std::nullopt;
  out.back() = static_cast<char>(static_cast<unsigned char>(out.back()) + 1);
  return out;
}

Result<SqliteStore> SqliteStore::open(const std::filesystem::path& path, Options options) {
  const std::string name = "cannot open store '" + path.string() + "'";
  std::error_code ec;
  if (path.has_parent_path()) {
    std::filesystem::create_directories(path.parent_path(), ec);
    if (ec) {
      return make_error(name + ": cannot create directory '" + path.parent_path().string() +
                        "': " + ec.message());
    }
  }
  if (std::filesystem::is_directory(path, ec)) return make_error(name + ": it is a directory");

  sqlite3* db = nullptr;
  int status = sqlite3_open_v2(
      path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (status != SQLITE_OK) {
    std::string why = describe(db);
    sqlite3_close(db);
    return make_error(name + ": " + why);
  }
  SqliteStore store(db, path);
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, options.busy_timeout_ms);

  // Reads one text value from a pragma (the first thing that touches the file, so a file that
  // is not a database fails here).
  auto pragma = [&](const std::string& sql) -> Result<std::string> {
    Statement statement(db, sql.c_str());
    if (!statement.prepared()) return make_error(describe(db));
    std::string value;
    bool first = true;
    while (true) {
      int step = statement.step();
      if (step == SQLITE_DONE) return value;
      if (step != SQLITE_ROW) return make_error(describe(db));
      if (first) value = statement.text(0);
      first = false;
    }
  };

  auto application = pragma("PRAGMA application_id");
  if (!application) return application.error().context(name);
  if (*application != "0" && *application != std::to_string(kApplicationId)) {
    return make_error(name + ": it is an SQLite database of another application (application_id " +
                      *application + ")");
  }
  auto check = pragma("PRAGMA quick_check");
  if (!check) return check.error().context(name);
  if (*check != "ok") {
    return make_error(name + ": the file is corrupt: " + *check +
                      " (restore it from a backup, or move it away to start empty)");
  }
  auto schema = pragma("PRAGMA user_version");
  if (!schema) return schema.error().context(name);
  if (std::stoll(*schema) > kSchemaVersion) {
    return make_error(name + ": it was written by a newer Tessera (schema " + *schema +
                      ", this one reads up to " + std::to_string(kSchemaVersion) + ")");
  }
  auto journal = pragma("PRAGMA journal_mode=WAL");
  if (!journal) return journal.error().context(name);
  if (*journal != "wal") {
    return make_error(name + ": cannot switch it to write-ahead logging (journal mode stays '" +
                      *journal + "')");
  }
  // FULL in WAL mode syncs the log on every commit: a write that returned is on disk.
  for (const std::string& sql :
       {std::string("PRAGMA synchronous=FULL"),
        std::string("CREATE TABLE IF NOT EXISTS entries (key BLOB PRIMARY KEY NOT NULL, "
                    "value BLOB NOT NULL, version INTEGER NOT NULL) WITHOUT ROWID"),
        "PRAGMA user_version=" + std::to_string(kSchemaVersion),
        "PRAGMA application_id=" + std::to_string(kApplicationId)}) {
    auto done = pragma(sql);
    if (!done) return done.error().context(name);
  }
  if (options.max_pages > 0) {
    auto done = pragma("PRAGMA max_page_count=" + std::to_string(options.max_pages));
    if (!done) return done.error().context(name);
  }
  return store;
}

SqliteStore::SqliteStore(SqliteStore&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)),
      path_(std::move(other.path_)),
      statements_(std::exchange(other.statements_, {})) {}

SqliteStore& SqliteStore::operator=(SqliteStore&& other) noexcept {
  if (this != &other) {
    finalize_all();
    sqlite3_close(db_);
    db_ = std::exchange(other.db_, nullptr);
    path_ = std::move(other.path_);
    statements_ = std::exchange(other.statements_, {});
  }
  return *this;
}

SqliteStore::~SqliteStore() {
  // The kept statements are finalized first and the others by their scope, so close cannot be
  // refused as busy.
  finalize_all();
  sqlite3_close(db_);
}

void SqliteStore::finalize_all() {
  for (sqlite3_stmt*& statement : statements_) {
    sqlite3_finalize(statement);
    statement = nullptr;
  }
}

sqlite3_stmt* SqliteStore::prepared(Query query) {
  sqlite3_stmt*& statement = statements_[query];
  if (statement != nullptr) return statement;
  static constexpr std::array<const char*, kQueryCount> kSql = {
      // kGet
      "SELECT value, version FROM entries WHERE key = ?1",
      // kPut
      "INSERT INTO entries (key, value, version) VALUES (?1, ?2, 1) "
      "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
      "version = entries.version + 1 RETURNING version",
      // kInsertIfAbsent, kUpdateIfVersion: one statement each way, so that a compare-and-set's
      // comparison and write are one atomic step.
      "INSERT INTO entries (key, value, version) VALUES (?1, ?2, 1) "
      "ON CONFLICT (key) DO NOTHING RETURNING version",
      "UPDATE entries SET value = ?2, version = version + 1 "
      "WHERE key = ?1 AND version = ?3 RETURNING version",
      // kRemove
      "DELETE FROM entries WHERE key = ?1 RETURNING version",
      // kListBounded, kListToEnd: a range over the bytes instead of LIKE, whose '%' and '_'
      // would be wildcards. Keys are blobs, compared as memcmp does, so "after" is the byte
      // order the protocol promises.
      "SELECT key, value, version FROM entries "
      "WHERE key >= ?1 AND key > ?3 AND key < ?2 ORDER BY key",
      "SELECT key, value, version FROM entries WHERE key >= ?1 AND key > ?3 ORDER BY key",
  };
  // SQLITE_PREPARE_PERSISTENT: kept for the store's lifetime, as SQLite advises for reuse.
  if (sqlite3_prepare_v3(db_, kSql[query], -1, SQLITE_PREPARE_PERSISTENT, &statement, nullptr) !=
      SQLITE_OK) {
    sqlite3_finalize(statement);
    statement = nullptr;
  }
  return statement;
}

Error SqliteStore::failure(const std::string& what, const std::string& why) const {
  return make_error("store '" + path_.string() + "': " + what + ": " + why);
}

Result<std::optional<StoreEntry>> SqliteStore::get(const std::string& key) {
  // What failed, made only when something did: a batch of 900 puts would otherwise quote 900
  // keys for nothing.
  auto what = [&key] { return "get " + quote_key(key); };
  if (key.empty()) return failure(what(), "the key is empty");
  Statement statement(prepared(kGet));
  if (!statement.prepared()) return failure(what(), describe(db_));
  statement.bind(1, key);
  std::optional<StoreEntry> entry;
  while (true) {
    int status = statement.step();
    if (status == SQLITE_DONE) return entry;
    if (status != SQLITE_ROW) return failure(what(), describe(db_));
    entry = StoreEntry{key, statement.blob(0), statement.number(1)};
  }
}

Result<uint64_t> SqliteStore::put(const std::string& key, const std::string& value) {
  auto what = [&key] { return "put " + quote_key(key); };
  if (key.empty()) return failure(what(), "the key is empty");
  Statement statement(prepared(kPut));
  if (!statement.prepared()) return failure(what(), describe(db_));
  statement.bind(1, key);
  statement.bind(2, value);
  auto version = returned_version(db_, statement);
  if (!version) return failure(what(), version.error().message);
  if (!*version) return failure(what(), "no version returned");
  return **version;
}

Result<CasOutcome> SqliteStore::compare_and_set(const std::string& key, uint64_t expected_version,
                                                const std::string& value) {
  const std::string what = "compare-and-set " + quote_key(key);
  if (key.empty()) return failure(what, "the key is empty");
  std::optional<uint64_t> written;
  {
    Statement statement(prepared(expected_version == 0 ? kInsertIfAbsent : kUpdateIfVersion));
    if (!statement.prepared()) return failure(what, describe(db_));
    statement.bind(1, key);
    statement.bind(2, value);
    if (expected_version != 0) statement.bind(3, expected_version);
    auto version = returned_version(db_, statement);
    if (!version) return failure(what, version.error().message);
    written = *version;
  }
  if (written) return CasOutcome{true, *written};
  auto current = get(key);
  if (!current) return current.error();
  return CasOutcome{false, *current ? (*current)->version : 0};
}

Result<std::optional<uint64_t>> SqliteStore::remove(const std::string& key) {
  auto what = [&key] { return "delete " + quote_key(key); };
  if (key.empty()) return failure(what(), "the key is empty");
  Statement statement(prepared(kRemove));
  if (!statement.prepared()) return failure(what(), describe(db_));
  statement.bind(1, key);
  auto version = returned_version(db_, statement);
  if (!version) return failure(what(), version.error().message);
  return *version;
}

Result<std::vector<uint64_t>> SqliteStore::apply(
    const std::vector<protocol::store::BatchWrite>& writes) {
  const std::string what = "batch of " + std::to_string(writes.size()) + " write(s)";
  auto execute = [this](const char* sql) {
    return sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) == SQLITE_OK;
  };
  // IMMEDIATE takes the write lock now, so that no write of the batch can fail as busy halfway.
  if (!execute("BEGIN IMMEDIATE")) return failure(what, describe(db_));
  std::vector<uint64_t> versions;
  versions.reserve(writes.size());
  // The error of a write names the file and the key already.
  auto abandon = [&](Error error) -> Error {
    execute("ROLLBACK");
    return error;
  };
  for (const auto& write : writes) {
    if (write.remove) {
      auto removed = remove(write.key);
      if (!removed) return abandon(removed.error());
      versions.push_back(removed->value_or(0));
    } else {
      auto version = put(write.key, write.value);
      if (!version) return abandon(version.error());
      versions.push_back(*version);
    }
  }
  if (!execute("COMMIT")) {
    std::string why = describe(db_);
    execute("ROLLBACK");
    return failure(what, why);
  }
  return versions;
}

Result<std::vector<StoreEntry>> SqliteStore::list(const std::string& prefix) {
  auto page =
      list_page(prefix, "", std::numeric_limits<size_t>::max(), std::numeric_limits<size_t>::max());
  if (!page) return page.error();
  return std::move(page->entries);
}

Result<SqliteStore::Page> SqliteStore::list_page(const std::string& prefix,
                                                 const std::string& start_after, size_t limit,
                                                 size_t max_bytes) {
  const std::string what = "list " + quote_key(prefix);
  std::optional<std::string> end = prefix_successor(prefix);
  Statement statement(prepared(end ? kListBounded : kListToEnd));
  if (!statement.prepared()) return failure(what, describe(db_));
  statement.bind(1, prefix);
  if (end) statement.bind(2, *end);
  statement.bind(3, start_after);
  Page page;
  size_t bytes = 0;
  while (true) {
    int status = statement.step();
    if (status == SQLITE_DONE) return page;
    if (status != SQLITE_ROW) return failure(what, describe(db_));
    if (page.entries.size() >= limit || bytes >= max_bytes) {
      // A row remains after a full page: the caller asks again after the page's last key.
      page.more = true;
      return page;
    }
    page.entries.push_back(StoreEntry{statement.blob(0), statement.blob(1), statement.number(2)});
    bytes += page.entries.back().key.size() + page.entries.back().value.size();
  }
}

}  // namespace tessera::leader

// The SQLite store on its own: versions, compare-and-set, delete, prefix listing, durability
// across reopening, and the errors a user can run into (not a database, corrupt, disk full).
#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <optional>

#include "sqlite_store.h"
#include "support/process.h"

namespace {

using tessera::leader::CasOutcome;
using tessera::leader::SqliteStore;
using tessera::leader::StoreEntry;
using tessera::testing::TempDir;

SqliteStore open_store(const std::filesystem::path& path,
                       SqliteStore::Options options = SqliteStore::Options{}) {
  auto store = SqliteStore::open(path, options);
  if (!store) throw std::runtime_error(store.error().message);
  return std::move(*store);
}

std::vector<std::string> keys(const std::vector<StoreEntry>& entries) {
  std::vector<std::string> out;
  for (const auto& entry : entries) out.push_back(entry.key);
  return out;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(SqliteStore, PutThenGetReturnsTheValueAndVersionsGrowByOne) {
  TempDir dir;
  SqliteStore store = open_store(dir / "store.sqlite");
  auto absent = store.get("registry/agents");
  ASSERT_TRUE(absent.ok()) << absent.error().message;
  EXPECT_FALSE(absent->has_value());

  for (uint64_t i = 1; i <= 3; ++i) {
    auto version = store.put("registry/agents", "v" + std::to_string(i));
    ASSERT_TRUE(version.ok()) << version.error().message;
    EXPECT_EQ(*version, i);
  }
  auto entry = store.get("registry/agents");
  ASSERT_TRUE(entry.ok() && entry->has_value());
  EXPECT_EQ((*entry)->key, "registry/agents");
  EXPECT_EQ((*entry)->value, "v3");
  EXPECT_EQ((*entry)->version, 3u);

  // Other keys have their own versions.
  auto other = store.put("registry/frameworks", "x");
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(*other, 1u);
}

TEST(SqliteStore, ValuesAndKeysAreBytes) {
  TempDir dir;
  SqliteStore store = open_store(dir / "store.sqlite");
  std::string key("k\0ey\xff", 5);
  std::string value("\0\x01\x02\xc3\x28 binary", 12);
  ASSERT_TRUE(store.put(key, value).ok());
  ASSERT_TRUE(store.put("empty", "").ok());
  auto entry = store.get(key);
  ASSERT_TRUE(entry.ok() && entry->has_value());
  EXPECT_EQ((*entry)->value, value);
  auto empty = store.get("empty");
  ASSERT_TRUE(empty.ok() && empty->has_value());
  EXPECT_EQ((*empty)->value, "");
}

TEST(SqliteStore, EmptyKeyIsRefusedWithAClearError) {
  TempDir dir;
  SqliteStore store = open_store(dir / "store.sqlite");
  auto put = store.put("", "x");
  ASSERT_FALSE(put.ok());
  EXPECT_TRUE(contains(put.error().message, "put '': the key is empty")) << put.error().message;
}

TEST(SqliteStore, CompareAndSetAppliesOnlyAtTheExpectedVersion) {
  TempDir dir;
  SqliteStore store = open_store(dir / "store.sqlite");
  ASSERT_EQ(*store.put("a", "1"), 1u);

  auto applied = store.compare_and_set("a", 1, "2");
  ASSERT_TRUE(applied.ok()) << applied.error().message;
  EXPECT_TRUE(applied->applied);
  EXPECT_EQ(applied->version, 2u);

  auto stale = store.compare_and_set("a", 1, "3");
  ASSERT_TRUE(stale.ok()) << stale.error().message;
  EXPECT_FALSE(stale->applied);
  EXPECT_EQ(stale->version, 2u);  // the current version
  EXPECT_EQ((*store.get("a"))->value, "2");

  // A positive expected version on an absent key is a conflict, not a create.
  auto missing = store.compare_and_set("b", 1, "x");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->applied);
  EXPECT_EQ(missing->version, 0u);
  EXPECT_FALSE(store.get("b")->has_value());
}

TEST(SqliteStore, CompareAndSetAgainstZeroCreatesOnlyIfAbsent) {
  TempDir dir;
  SqliteStore store = open_store(dir / "store.sqlite");
  auto created = store.compare_and_set("leader/lock", 0, "me");
  ASSERT_TRUE(created.ok()) << created.error().message;
  EXPECT_TRUE(created->applied);
  EXPECT_EQ(created->version, 1u);

  auto again = store.compare_and_set("leader/lock", 0, "someone else");
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->applied);
  EXPECT_EQ(again->version, 1u);
  EXPECT_EQ((*store.get("leader/lock"))->value, "me");
}

TEST(SqliteStore, DeleteRemovesTheKeyAndRecreatingStartsAtVersionOne) {
  TempDir dir;
  SqliteStore store = open_store(dir / "store.sqlite");
  ASSERT_TRUE(store.put("a", "1").ok());
  ASSERT_TRUE(store.put("a", "2").ok());

  auto removed = store.remove("a");
  ASSERT_TRUE(removed.ok()) << removed.error().message;
  ASSERT_TRUE(removed->has_value());
  EXPECT_EQ(**removed, 2u);  // the version it had
  EXPECT_FALSE(store.get("a")->has_value());

  auto absent = store.remove("a");
  ASSERT_TRUE(absent.ok());
  EXPECT_FALSE(absent->has_value());

  EXPECT_EQ(*store.put("a", "new"), 1u);
}

TEST(SqliteStore, ListReturnsExactlyTheKeysUnderThePrefixInOrder) {
  TempDir dir;
  SqliteStore store = open_store(dir / "store.sqlite");
  for (const char* key : {"apps/b", "apps/a", "apps", "appsx", "app", "jobs/1", "apps/a/1"}) {
    ASSERT_TRUE(store.put(key, key).ok());
  }
  auto apps = store.list("apps/");
  ASSERT_TRUE(apps.ok()) << apps.error().message;
  EXPECT_EQ(keys(*apps), (std::vector<std::string>{"apps/a", "apps/a/1", "apps/b"}));
  EXPECT_EQ((*apps)[0].value, "apps/a");
  EXPECT_EQ((*apps)[0].version, 1u);

  auto all = store.list("");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 7u);
  EXPECT_TRUE(store.list("nothing/")->empty());
}

TEST(SqliteStore, ListTreatsPercentAndUnderscoreLiterally) {
  TempDir dir;
  SqliteStore store = open_store(dir / "store.sqlite");
  for (const char* key : {"a%b/1", "a%b/2", "axb/1", "a_c/1", "abc/1", "a%", "A%b/1"}) {
    ASSERT_TRUE(store.put(key, "v").ok());
  }
  EXPECT_EQ(keys(*store.list("a%b/")), (std::vector<std::string>{"a%b/1", "a%b/2"}));
  EXPECT_EQ(keys(*store.list("a_c")), (std::vector<std::string>{"a_c/1"}));
  EXPECT_EQ(keys(*store.list("a%")), (std::vector<std::string>{"a%", "a%b/1", "a%b/2"}));
  EXPECT_TRUE(store.list("%")->empty());
  EXPECT_TRUE(store.list("_")->empty());
}

TEST(SqliteStore, ListHandlesPrefixesEndingInHighBytes) {
  TempDir dir;
  SqliteStore store = open_store(dir / "store.sqlite");
  std::string high("a\xff", 2);
  std::string all_high("\xff\xff", 2);
  for (const std::string& key :
       {high + "1", high + "\xff", std::string("b"), all_high + "z", std::string("a")}) {
    ASSERT_TRUE(store.put(key, "v").ok());
  }
  EXPECT_EQ(keys(*store.list(high)), (std::vector<std::string>{high + "1", high + "\xff"}));
  EXPECT_EQ(keys(*store.list(all_high)), (std::vector<std::string>{all_high + "z"}));
}

TEST(SqliteStore, PrefixSuccessor) {
  using tessera::leader::prefix_successor;
  EXPECT_EQ(prefix_successor("abc"), std::optional<std::string>("abd"));
  EXPECT_EQ(prefix_successor(std::string("a\xff\xff", 3)), std::optional<std::string>("b"));
  EXPECT_EQ(prefix_successor(""), std::nullopt);
  EXPECT_EQ(prefix_successor(std::string("\xff", 1)), std::nullopt);
}

TEST(SqliteStore, ReopeningKeepsValuesAndVersions) {
  TempDir dir;
  {
    SqliteStore store = open_store(dir / "store.sqlite");
    ASSERT_TRUE(store.put("registry", "one").ok());
    ASSERT_TRUE(store.put("registry", "two").ok());
    ASSERT_TRUE(store.put("gone", "x").ok());
    ASSERT_TRUE(store.remove("gone").ok());
  }
  SqliteStore store = open_store(dir / "store.sqlite");
  auto entry = store.get("registry");
  ASSERT_TRUE(entry.ok() && entry->has_value());
  EXPECT_EQ((*entry)->value, "two");
  EXPECT_EQ((*entry)->version, 2u);
  EXPECT_FALSE(store.get("gone")->has_value());
  EXPECT_EQ(*store.put("registry", "three"), 3u);
}

TEST(SqliteStore, CreatesMissingParentDirectories) {
  TempDir dir;
  SqliteStore store = open_store(dir / "a" / "b" / "store.sqlite");
  EXPECT_TRUE(store.put("k", "v").ok());
  EXPECT_TRUE(std::filesystem::exists(dir / "a" / "b" / "store.sqlite"));
}

TEST(SqliteStore, AFileThatIsNotADatabaseIsRefusedNamingTheFile) {
  TempDir dir;
  auto path = dir.write("store.sqlite", std::string(4096, 'x') + "this is not a database\n");
  auto store = SqliteStore::open(path);
  ASSERT_FALSE(store.ok());
  const std::string& message = store.error().message;
  EXPECT_TRUE(contains(message, "cannot open store '" + path.string() + "'")) << message;
  EXPECT_TRUE(contains(message, "file is not a database")) << message;
  // The file is left as it was for the operator to look at.
  EXPECT_EQ(std::filesystem::file_size(path), 4096u + 23u);
}

TEST(SqliteStore, ACorruptDatabaseIsRefusedNamingTheFile) {
  TempDir dir;
  auto path = dir / "store.sqlite";
  {
    SqliteStore store = open_store(path);
    for (int i = 0; i < 500; ++i) {
      ASSERT_TRUE(store.put("key/" + std::to_string(i), std::string(200, 'v')).ok());
    }
  }
  ASSERT_GT(std::filesystem::file_size(path), 3u * 4096u);
  {
    // Overwrite the second page (the first page of the table's b-tree or its children).
    std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(4096);
    std::string garbage(4096, '\x5a');
    file.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
  }
  auto store = SqliteStore::open(path);
  ASSERT_FALSE(store.ok());
  const std::string& message = store.error().message;
  EXPECT_TRUE(contains(message, "cannot open store '" + path.string() + "'")) << message;
  EXPECT_TRUE(contains(message, "corrupt") || contains(message, "malformed")) << message;
}

TEST(SqliteStore, AnotherApplicationsDatabaseIsRefused) {
  TempDir dir;
  auto path = dir / "other.sqlite";
  { SqliteStore store = open_store(path); }
  // Rewrite the application id in the header (offset 68, big-endian) as another program would.
  {
    std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(68);
    file.write("\x00\x00\x30\x39", 4);
  }
  auto store = SqliteStore::open(path);
  ASSERT_FALSE(store.ok());
  EXPECT_TRUE(contains(store.error().message, "another application (application_id 12345)"))
      << store.error().message;
}

TEST(SqliteStore, ADirectoryIsRefused) {
  TempDir dir;
  std::filesystem::create_directory(dir / "store.sqlite");
  auto store = SqliteStore::open(dir / "store.sqlite");
  ASSERT_FALSE(store.ok());
  EXPECT_TRUE(contains(store.error().message, "it is a directory")) << store.error().message;
}

TEST(SqliteStore, AFullDiskFailsTheWriteWithTheKeyAndKeepsTheStoreUsable) {
  TempDir dir;
  SqliteStore::Options options;
  options.max_pages = 8;  // about 32 KiB: stands in for a full disk
  SqliteStore store = open_store(dir / "store.sqlite", options);
  ASSERT_TRUE(store.put("small", "v").ok());
  auto big = store.put("big", std::string(256 * 1024, 'b'));
  ASSERT_FALSE(big.ok());
  const std::string& message = big.error().message;
  EXPECT_TRUE(contains(message, "put 'big'")) << message;
  EXPECT_TRUE(contains(message, "full")) << message;
  EXPECT_TRUE(contains(message, (dir / "store.sqlite").string())) << message;
  // The failed write left nothing behind and the store still serves.
  EXPECT_FALSE(store.get("big")->has_value());
  EXPECT_EQ(*store.put("small", "w"), 2u);
}

TEST(SqliteStore, ABatchIsAppliedWholeOrNotAtAll) {
  using tessera::protocol::store::BatchWrite;
  TempDir dir;
  SqliteStore store = open_store(dir / "store.sqlite");
  ASSERT_TRUE(store.put("a", "a1").ok());
  auto versions = store.apply({BatchWrite{"a", "a2", false}, BatchWrite{"b", "b1", false},
                               BatchWrite{"a", "", true}, BatchWrite{"absent", "", true}});
  ASSERT_TRUE(versions.ok()) << versions.error().message;
  EXPECT_EQ(*versions, (std::vector<uint64_t>{2, 1, 2, 0}));
  EXPECT_FALSE(store.get("a")->has_value());
  EXPECT_EQ((*store.get("b"))->value, "b1");

  // A write that fails (an empty key) undoes the ones before it in the same batch.
  auto failed = store.apply(
      {BatchWrite{"b", "b2", false}, BatchWrite{"c", "c1", false}, BatchWrite{"", "x", false}});
  ASSERT_FALSE(failed.ok());
  EXPECT_TRUE(contains(failed.error().message, "the key is empty")) << failed.error().message;
  EXPECT_EQ((*store.get("b"))->value, "b1");
  EXPECT_EQ((*store.get("b"))->version, 1u);
  EXPECT_FALSE(store.get("c")->has_value());
  // And the store still serves, in and out of batches.
  EXPECT_EQ(*store.put("c", "c1"), 1u);
  EXPECT_EQ(*store.apply({BatchWrite{"c", "c2", false}}), (std::vector<uint64_t>{2}));
}

// The statements are kept prepared between requests: one left in the middle of its rows (a page
// that stopped at its limit) must not carry its rows, bindings or snapshot into the next request.
TEST(SqliteStore, APageThatStoppedEarlyDoesNotLeakIntoTheNextRequests) {
  TempDir dir;
  SqliteStore store = open_store(dir / "store.sqlite");
  for (std::string key : {"jobs/a", "jobs/b", "jobs/c", "other/x"}) {
    ASSERT_TRUE(store.put(key, "v-" + key).ok());
  }
  auto first = store.list_page("jobs/", "", 1, SIZE_MAX);
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_EQ(keys(first->entries), (std::vector<std::string>{"jobs/a"}));
  EXPECT_TRUE(first->more);
  // A write, then the same listing from its start and one of another prefix: all of it, in
  // order, with the new key.
  ASSERT_TRUE(store.put("jobs/ab", "v-jobs/ab").ok());
  auto again = store.list_page("jobs/", "", 10, SIZE_MAX);
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(keys(again->entries),
            (std::vector<std::string>{"jobs/a", "jobs/ab", "jobs/b", "jobs/c"}));
  EXPECT_FALSE(again->more);
  EXPECT_EQ(keys(*store.list("other/")), (std::vector<std::string>{"other/x"}));
  // The page after the first one, as a client asks for it.
  auto next = store.list_page("jobs/", "jobs/a", 2, SIZE_MAX);
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(keys(next->entries), (std::vector<std::string>{"jobs/ab", "jobs/b"}));
  EXPECT_TRUE(next->more);

  // Another connection to the file (a second reader, such as the sqlite3 shell) sees every
  // write: none is held back by a statement left open.
  ASSERT_TRUE(
      store.apply({tessera::protocol::store::BatchWrite{"jobs/d", "v-jobs/d", false}}).ok());
  SqliteStore reader = open_store(dir / "store.sqlite");
  EXPECT_EQ(keys(*reader.list("jobs/")),
            (std::vector<std::string>{"jobs/a", "jobs/ab", "jobs/b", "jobs/c", "jobs/d"}));
  EXPECT_EQ((*reader.get("jobs/d"))->value, "v-jobs/d");
}

// A moved store keeps serving with the statements it had prepared, and the moved-from one closes
// cleanly.
TEST(SqliteStore, AMovedStoreKeepsServing) {
  TempDir dir;
  std::optional<SqliteStore> first(open_store(dir / "store.sqlite"));
  ASSERT_TRUE(first->put("k", "1").ok());
  ASSERT_TRUE(first->get("k").ok());
  SqliteStore moved(std::move(*first));
  first.reset();
  EXPECT_EQ(*moved.put("k", "2"), 2u);
  EXPECT_EQ((*moved.get("k"))->value, "2");
  SqliteStore assigned = open_store(dir / "other.sqlite");
  ASSERT_TRUE(assigned.put("o", "x").ok());
  assigned = std::move(moved);
  EXPECT_EQ(*assigned.put("k", "3"), 3u);
  EXPECT_EQ(keys(*assigned.list("")), (std::vector<std::string>{"k"}));
}

TEST(SqliteStore, KeysInErrorsAreQuotedAndEscaped) {
  using tessera::leader::quote_key;
  EXPECT_EQ(quote_key("apps/web"), "'apps/web'");
  EXPECT_EQ(quote_key(std::string("a\nb'", 4)), "'a\\x0ab\\x27'");
  EXPECT_EQ(quote_key(std::string(300, 'k')), "'" + std::string(200, 'k') + "...'");
}

}  // namespace

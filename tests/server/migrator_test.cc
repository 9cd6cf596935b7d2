#include "server/store/migrator.h"

#include <gtest/gtest.h>

#include "tests/temp_dir.h"
#include <sqlite3.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "server/store/sqlite_util.h"
#include "server/store/store.h"

namespace fedpress::server {
namespace {

namespace fs = std::filesystem;

// Each test gets its own directory, named after this file.
struct TempDir : fedpress::testing::TempDir {
  TempDir() : fedpress::testing::TempDir("fp_migrator_") {}
};

// A raw connection for setting up and inspecting databases.
class RawDb {
 public:
  explicit RawDb(const std::string& path) {
    EXPECT_EQ(sqlite3_open(path.c_str(), &db_), SQLITE_OK);
  }
  ~RawDb() { sqlite3_close(db_); }
  sqlite3* get() { return db_; }
  void Exec(const std::string& sql) {
    char* err = nullptr;
    ASSERT_EQ(sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
    sqlite3_free(err);
  }
  int64_t Int(const std::string& sql) {
    auto st = sqlite::Statement::Prepare(db_, sql);
    EXPECT_TRUE(st.ok()) << st.status().ToString();
    if (!st.ok()) return -1;
    auto row = st->Step();
    EXPECT_TRUE(row.ok() && *row) << sql;
    return st->Int(0);
  }
  bool HasTable(const std::string& name) {
    return Int("SELECT count(*) FROM sqlite_master WHERE type='table' AND name='" + name + "'") == 1;
  }

 private:
  sqlite3* db_ = nullptr;
};

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

constexpr std::array<EmbeddedMigration, 3> kTest = {{
    {1, "0001_a", "CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT NOT NULL);"},
    {2, "0002_b", "CREATE TABLE b (id INTEGER PRIMARY KEY, a_id INTEGER REFERENCES a(id));\n"
                  "INSERT INTO a(v) VALUES ('seed');"},
    {3, "0003_c", "ALTER TABLE a ADD COLUMN w INTEGER NOT NULL DEFAULT 7;"},
}};

TEST(Migrator, EmbeddedListIsContiguousAndHasInit) {
  auto m = EmbeddedMigrations();
  ASSERT_FALSE(m.empty());
  for (size_t i = 0; i < m.size(); ++i) EXPECT_EQ(m[i].version, static_cast<int>(i) + 1);
  EXPECT_STREQ(m[0].name, "0001_init");
  EXPECT_NE(std::string(m[0].sql).find("CREATE TABLE jobs"), std::string::npos);
  EXPECT_EQ(Store::LatestSchemaVersion(), LatestVersion(m));
}

TEST(Migrator, AppliesAllInOrderAndRecordsEach) {
  TempDir dir;
  RawDb db(dir.File("t.db"));
  auto v = Migrate(db.get(), kTest);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(*v, 3);
  EXPECT_EQ(db.Int("SELECT count(*) FROM schema_version"), 3);
  EXPECT_EQ(db.Int("SELECT w FROM a WHERE v = 'seed'"), 7);
  auto rv = ReadSchemaVersion(db.get());
  ASSERT_TRUE(rv.ok());
  EXPECT_EQ(*rv, 3);
}

TEST(Migrator, IncrementalAndRerunIsNoop) {
  TempDir dir;
  RawDb db(dir.File("t.db"));
  auto v = Migrate(db.get(), std::span(kTest).first(1));
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, 1);
  EXPECT_FALSE(db.HasTable("b"));
  v = Migrate(db.get(), kTest);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(*v, 3);
  int changes_before = sqlite3_total_changes(db.get());
  v = Migrate(db.get(), kTest);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, 3);
  EXPECT_EQ(sqlite3_total_changes(db.get()), changes_before);  // nothing written
  EXPECT_EQ(db.Int("SELECT count(*) FROM a"), 1);                // seed not re-inserted
}

TEST(Migrator, FailedMigrationRollsBackOnlyItself) {
  TempDir dir;
  RawDb db(dir.File("t.db"));
  const std::array<EmbeddedMigration, 2> bad = {{
      kTest[0],
      {2, "0002_bad", "CREATE TABLE b (id INTEGER); INSERT INTO nowhere VALUES (1);"},
  }};
  auto v = Migrate(db.get(), bad);
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("0002_bad"), std::string::npos) << v.status().ToString();
  EXPECT_NE(v.status().message().find("nowhere"), std::string::npos) << v.status().ToString();
  EXPECT_TRUE(db.HasTable("a"));
  EXPECT_FALSE(db.HasTable("b"));  // rolled back with its version bump
  EXPECT_EQ(*ReadSchemaVersion(db.get()), 1);
  EXPECT_EQ(db.Int("PRAGMA foreign_keys"), 0);  // restored to what it was
}

TEST(Migrator, ForeignKeyViolationRefused) {
  TempDir dir;
  RawDb db(dir.File("t.db"));
  const std::array<EmbeddedMigration, 2> bad = {{
      kTest[0],
      {2, "0002_fk", "CREATE TABLE b (id INTEGER PRIMARY KEY, a_id INTEGER REFERENCES a(id));"
                     "INSERT INTO b VALUES (1, 42);"},
  }};
  db.Exec("PRAGMA foreign_keys = ON");
  auto v = Migrate(db.get(), bad);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_FALSE(db.HasTable("b"));
  EXPECT_EQ(db.Int("PRAGMA foreign_keys"), 1);
}

TEST(Migrator, NewerDatabaseRefusedUntouched) {
  TempDir dir;
  const std::string path = dir.File("t.db");
  {
    RawDb db(path);
    ASSERT_TRUE(Migrate(db.get(), kTest).ok());
    db.Exec("INSERT INTO schema_version VALUES (5, '0005_future', 0)");
  }
  const std::string before = ReadAll(path);
  {
    RawDb db(path);
    auto v = Migrate(db.get(), std::span(kTest).first(1));
    ASSERT_FALSE(v.ok());
    EXPECT_EQ(v.status().code(), StatusCode::kFailedPrecondition);
    EXPECT_EQ(v.status().message(),
              "database schema version 5 is newer than this fedpress (supports up to 1): "
              "upgrade fedpress or use another --db");
  }
  EXPECT_EQ(ReadAll(path), before);
}

TEST(Migrator, ForeignDatabaseRefused) {
  TempDir dir;
  RawDb db(dir.File("t.db"));
  db.Exec("CREATE TABLE something_else (x INTEGER)");
  auto v = Migrate(db.get(), kTest);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(v.status().message().find("not created by fedpress"), std::string::npos);
  EXPECT_FALSE(db.HasTable("a"));
}

TEST(Migrator, BadListRefused) {
  TempDir dir;
  RawDb db(dir.File("t.db"));
  const std::array<EmbeddedMigration, 2> gap = {{kTest[0], kTest[2]}};
  auto v = Migrate(db.get(), gap);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(db.HasTable("a"));
}

TEST(SqliteUtil, ErrorMapping) {
  EXPECT_EQ(sqlite::ErrorStatus(nullptr, SQLITE_FULL, "x").code(), StatusCode::kIOError);
  EXPECT_NE(sqlite::ErrorStatus(nullptr, SQLITE_FULL, "x").message().find("disk is full"), std::string::npos);
  EXPECT_NE(sqlite::ErrorStatus(nullptr, SQLITE_IOERR_WRITE, "x").message().find("not writable"),
            std::string::npos);
  EXPECT_EQ(sqlite::ErrorStatus(nullptr, SQLITE_BUSY, "x").code(), StatusCode::kUnavailable);
  EXPECT_EQ(sqlite::ErrorStatus(nullptr, SQLITE_NOTADB, "x").code(), StatusCode::kCorruption);
  EXPECT_EQ(sqlite::ErrorStatus(nullptr, SQLITE_CONSTRAINT_PRIMARYKEY, "x").code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(sqlite::ErrorStatus(nullptr, SQLITE_CONSTRAINT_CHECK, "x").code(), StatusCode::kInvalidArgument);
}

TEST(SqliteUtil, TransactionRollsBackUnlessCommitted) {
  TempDir dir;
  RawDb db(dir.File("t.db"));
  db.Exec("CREATE TABLE t (x INTEGER)");
  {
    auto tx = sqlite::Transaction::Begin(db.get());
    ASSERT_TRUE(tx.ok());
    db.Exec("INSERT INTO t VALUES (1)");
  }
  EXPECT_EQ(db.Int("SELECT count(*) FROM t"), 0);
  {
    auto tx = sqlite::Transaction::Begin(db.get());
    ASSERT_TRUE(tx.ok());
    db.Exec("INSERT INTO t VALUES (1)");
    ASSERT_TRUE(tx->Commit().ok());
  }
  EXPECT_EQ(db.Int("SELECT count(*) FROM t"), 1);
}

TEST(SqliteUtil, BusyBecomesUnavailable) {
  TempDir dir;
  const std::string path = dir.File("t.db");
  RawDb a(path), b(path);
  a.Exec("CREATE TABLE t (x INTEGER)");
  sqlite3_busy_timeout(b.get(), 50);
  auto tx = sqlite::Transaction::Begin(a.get());
  ASSERT_TRUE(tx.ok());
  auto tx2 = sqlite::Transaction::Begin(b.get());
  ASSERT_FALSE(tx2.ok());
  EXPECT_EQ(tx2.status().code(), StatusCode::kUnavailable) << tx2.status().ToString();
}

}  // namespace
}  // namespace fedpress::server

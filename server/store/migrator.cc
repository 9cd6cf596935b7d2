#include "server/store/migrator.h"

#include <sqlite3.h>

#include <chrono>
#include <string>

#include "server/store/sqlite_util.h"

namespace fedpress::server {

namespace {

using sqlite::Exec;
using sqlite::Statement;
using sqlite::Transaction;

Status ValidateList(std::span<const EmbeddedMigration> migrations) {
  for (size_t i = 0; i < migrations.size(); ++i) {
    const auto& m = migrations[i];
    if (m.version != static_cast<int>(i) + 1 || m.sql == nullptr || m.name == nullptr) {
      return Status::InvalidArgument("embedded migrations must be numbered 1, 2, 3, ... without gaps; entry " +
                                     std::to_string(i) + " has version " + std::to_string(m.version));
    }
  }
  return Status::OK();
}

Result<int64_t> QueryInt(sqlite3* db, const char* sql) {
  FP_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(db, sql));
  FP_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return Status::Internal(std::string("no result from: ") + sql);
  return st.Int(0);
}

Status NewerThanBinary(int db_version, int latest) {
  return Status::FailedPrecondition("database schema version " + std::to_string(db_version) +
                                    " is newer than this fedpress (supports up to " + std::to_string(latest) +
                                    "): upgrade fedpress or use another --db");
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Fails if the data violates a foreign key (checked before each commit,
// since enforcement is off while migrating).
Status CheckForeignKeys(sqlite3* db, const char* migration) {
  FP_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(db, "PRAGMA foreign_key_check"));
  FP_ASSIGN_OR_RETURN(bool row, st.Step());
  if (row) {
    return Status::FailedPrecondition(std::string("migration ") + migration +
                                      " leaves a foreign key violation in table '" + st.Text(0) +
                                      "' (rowid " + std::to_string(st.Int(1)) + ")");
  }
  return Status::OK();
}

Status ApplyOne(sqlite3* db, const EmbeddedMigration& m, int latest) {
  const std::string ctx = std::string("migration ") + m.name;
  FP_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db));
  // Re-read under the write lock: another process may have migrated meanwhile.
  FP_ASSIGN_OR_RETURN(int current, ReadSchemaVersion(db));
  if (current > latest) return NewerThanBinary(current, latest);
  if (current >= m.version) return Status::OK();  // already applied; tx rolls back (no-op)
  FP_RETURN_IF_ERROR(Exec(db,
                          "CREATE TABLE IF NOT EXISTS schema_version ("
                          "  version    INTEGER PRIMARY KEY,"
                          "  name       TEXT    NOT NULL,"
                          "  applied_ms INTEGER NOT NULL)",
                          "create schema_version"));
  FP_RETURN_IF_ERROR(Exec(db, m.sql, ctx));
  {
    FP_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(db,
        "INSERT INTO schema_version(version, name, applied_ms) VALUES (?1, ?2, ?3)"));
    st.Bind(1, m.version).Bind(2, m.name).Bind(3, NowMs());
    FP_RETURN_IF_ERROR(st.Run().WithContext(ctx + ": record version"));
  }
  FP_RETURN_IF_ERROR(CheckForeignKeys(db, m.name));
  return tx.Commit().WithContext(ctx);
}

}  // namespace

int LatestVersion(std::span<const EmbeddedMigration> migrations) {
  return migrations.empty() ? 0 : migrations.back().version;
}

Result<int> ReadSchemaVersion(sqlite3* db) {
  FP_ASSIGN_OR_RETURN(int64_t has_table,
                      QueryInt(db, "SELECT count(*) FROM sqlite_master "
                                   "WHERE type = 'table' AND name = 'schema_version'"));
  if (has_table == 0) return 0;
  FP_ASSIGN_OR_RETURN(int64_t v, QueryInt(db, "SELECT COALESCE(MAX(version), 0) FROM schema_version"));
  if (v < 0 || v > 1000000) {
    return Status::Corruption("schema_version holds an impossible version " + std::to_string(v));
  }
  return static_cast<int>(v);
}

Result<int> Migrate(sqlite3* db, std::span<const EmbeddedMigration> migrations) {
  FP_RETURN_IF_ERROR(ValidateList(migrations));
  const int latest = LatestVersion(migrations);
  FP_ASSIGN_OR_RETURN(int current, ReadSchemaVersion(db));
  if (current > latest) return NewerThanBinary(current, latest);
  if (current == latest) return current;
  if (current == 0) {
    FP_ASSIGN_OR_RETURN(int64_t tables, QueryInt(db, "SELECT count(*) FROM sqlite_master "
                                                     "WHERE name NOT LIKE 'sqlite_%'"));
    if (tables > 0) {
      return Status::FailedPrecondition(
          "database has tables but no schema_version: it was not created by fedpress; use another --db");
    }
  }

  FP_ASSIGN_OR_RETURN(int64_t fk_was_on, QueryInt(db, "PRAGMA foreign_keys"));
  FP_RETURN_IF_ERROR(Exec(db, "PRAGMA foreign_keys = OFF", "disable foreign keys for migration"));
  Status result;
  for (const auto& m : migrations) {
    if (m.version <= current) continue;
    result = ApplyOne(db, m, latest);
    if (!result.ok()) break;
  }
  if (fk_was_on != 0) {
    Status s = Exec(db, "PRAGMA foreign_keys = ON", "re-enable foreign keys");
    if (result.ok()) result = s;
  }
  if (!result.ok()) return result;
  return ReadSchemaVersion(db);
}

}  // namespace fedpress::server

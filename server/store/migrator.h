// Migrator: brings a SQLite database to the newest schema this binary knows.
//
// Migrations are the files migrations/NNNN_name.sql, embedded at build time
// (server/store/CMakeLists.txt generates embedded_migrations.cc) and applied
// in ascending order. Each one runs in its own transaction together with the
// row that records it in `schema_version`, so a failed migration leaves the
// database at the previous version. The current version is MAX(version) of
// that table (0 when the table does not exist). A migration file must not
// contain BEGIN/COMMIT itself.
//
// Refusals (nothing is written in these cases):
//  - the database's version is newer than the newest known migration
//    (FailedPrecondition: upgrade fedpress or use another --db);
//  - the database has tables but no `schema_version` (not a fedpress DB).
//
// Foreign-key enforcement is switched off while migrating (as SQLite
// recommends for table rebuilds) and `PRAGMA foreign_key_check` must pass
// before each migration commits. The caller re-enables foreign keys.
//
// Thread-safety: functions take a connection the caller does not use
// concurrently.
#pragma once

#include <span>

#include "common/status.h"

struct sqlite3;

namespace fedpress::server {

struct EmbeddedMigration {
  int version;       // NNNN from the file name, 1, 2, 3, ... without gaps
  const char* name;  // file name without ".sql", e.g. "0001_init"
  const char* sql;
};

// The migrations compiled into this binary, ascending by version.
std::span<const EmbeddedMigration> EmbeddedMigrations();

// Newest version in `migrations` (0 if empty).
int LatestVersion(std::span<const EmbeddedMigration> migrations);

// The database's current schema version (0 for a database without
// `schema_version`). Fails on an unreadable / non-SQLite file.
Result<int> ReadSchemaVersion(sqlite3* db);

// Applies the missing migrations; returns the resulting version. A database
// already at the newest version is left as it is (no write at all).
// REQUIRES: `migrations` ascending and contiguous from 1 (checked:
// InvalidArgument otherwise); no transaction open on `db`.
Result<int> Migrate(sqlite3* db, std::span<const EmbeddedMigration> migrations);

}  // namespace fedpress::server

// Thin RAII helpers over the SQLite C API for the store and the migrator:
// a prepared Statement (bind / step / read columns), a write Transaction
// guard (BEGIN IMMEDIATE, rolled back unless committed), and the one place
// where SQLite result codes become Status values.
//
// Error mapping (ErrorStatus): FULL -> IOError "disk is full", IOERR ->
// IOError "not writable / disk full?", READONLY/CANTOPEN -> IOError,
// PERM/AUTH -> PermissionDenied, CORRUPT/NOTADB -> Corruption, BUSY/LOCKED
// (after the busy timeout) -> Unavailable, CONSTRAINT_PRIMARYKEY/UNIQUE ->
// AlreadyExists, CONSTRAINT_FOREIGNKEY -> NotFound, other constraints and
// TOOBIG/RANGE/MISMATCH -> InvalidArgument, NOMEM -> ResourceExhausted,
// anything else -> Internal. Messages carry SQLite's own text and the path.
//
// Thread-safety: none of these objects are thread-safe; callers serialise
// access to the connection (Store holds a mutex).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace fedpress::server::sqlite {

// How long a statement waits for a lock held by another connection/process
// before giving up with Unavailable.
inline constexpr int kBusyTimeoutMs = 5000;

// Converts SQLite result code `rc` (extended codes welcome) into a Status.
// `db` may be null; if set, its current error message and file name are used.
// `context` says what was being done ("insert job").
Status ErrorStatus(sqlite3* db, int rc, std::string_view context);

// Runs one or more SQL statements that return no rows we care about.
Status Exec(sqlite3* db, const std::string& sql, std::string_view context = {});

// A prepared statement. Bind errors are remembered and reported by the next
// Step()/Run(), so binding can be chained without checking each call.
// Parameter indexes start at 1, column indexes at 0 (as in SQLite).
class Statement {
 public:
  static Result<Statement> Prepare(sqlite3* db, std::string_view sql);
  Statement(Statement&& o) noexcept;
  Statement& operator=(Statement&& o) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  Statement& Bind(int idx, int64_t v);
  Statement& Bind(int idx, int v) { return Bind(idx, static_cast<int64_t>(v)); }
  Statement& Bind(int idx, double v);
  Statement& Bind(int idx, std::string_view v);  // copied (SQLITE_TRANSIENT)
  Statement& Bind(int idx, const char* v) { return Bind(idx, std::string_view(v)); }
  Statement& Bind(int idx, const std::string& v) { return Bind(idx, std::string_view(v)); }
  Statement& Bind(int idx, std::optional<int64_t> v);
  Statement& Bind(int idx, std::optional<double> v);
  Statement& BindNull(int idx);

  // Advances: true if a row is available, false when done.
  Result<bool> Step();
  // Steps to completion, ignoring rows.
  Status Run();
  // Ready for re-execution with new bindings (bindings are kept).
  void Reset();

  // Column readers. REQUIRES: the last Step() returned true.
  bool IsNull(int col) const;
  int64_t Int(int col) const;
  double Double(int col) const;
  std::string Text(int col) const;  // NULL -> ""
  std::optional<int64_t> OptInt(int col) const;
  std::optional<double> OptDouble(int col) const;

 private:
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  void NoteBind(int rc, int idx);

  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
  Status bind_error_;
};

// A write transaction: BEGIN IMMEDIATE on creation (takes the write lock up
// front, so it cannot fail half-way with SQLITE_BUSY on lock upgrade), ROLLBACK
// in the destructor unless Commit() succeeded.
class Transaction {
 public:
  static Result<Transaction> Begin(sqlite3* db);
  Transaction(Transaction&& o) noexcept : db_(o.db_) { o.db_ = nullptr; }
  Transaction& operator=(Transaction&&) = delete;
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();

  Status Commit();

 private:
  explicit Transaction(sqlite3* db) : db_(db) {}
  sqlite3* db_;  // null once committed or rolled back
};

}  // namespace fedpress::server::sqlite

#include "server/store/sqlite_util.h"

#include <sqlite3.h>

#include <utility>

namespace fedpress::server::sqlite {

namespace {

std::string DbPath(sqlite3* db) {
  if (db == nullptr) return {};
  const char* f = sqlite3_db_filename(db, "main");
  if (f == nullptr || *f == '\0') return "(in-memory database)";
  return f;
}

}  // namespace

Status ErrorStatus(sqlite3* db, int rc, std::string_view context) {
  std::string detail = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  const std::string path = DbPath(db);
  std::string prefix(context);
  if (!prefix.empty()) prefix += ": ";
  auto msg = [&](std::string_view what) {
    std::string m = prefix;
    m += what;
    m += " (";
    m += detail;
    m += ")";
    return m;
  };
  switch (rc & 0xff) {
    case SQLITE_FULL:
      return Status::IOError(msg("disk is full: cannot write to database " + path +
                                 "; free some space and retry"));
    case SQLITE_IOERR:
      return Status::IOError(msg("I/O error on database " + path +
                                 ": is the disk full or the file/directory not writable?"));
    case SQLITE_READONLY:
      return Status::IOError(msg("database " + path +
                                 " is not writable: check the permissions of the file and its directory"));
    case SQLITE_CANTOPEN:
      return Status::IOError(msg("cannot open database " + path));
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return Status::PermissionDenied(msg("access to database " + path + " denied"));
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Status::Corruption(msg(path + " is not a valid fedpress SQLite database"));
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Status::Unavailable(msg("database " + path +
                                     " is locked (another fedpress process using the same --db?)"));
    case SQLITE_CONSTRAINT:
      switch (rc) {
        case SQLITE_CONSTRAINT_PRIMARYKEY:
        case SQLITE_CONSTRAINT_UNIQUE:
          return Status::AlreadyExists(msg("already exists"));
        case SQLITE_CONSTRAINT_FOREIGNKEY:
          return Status::NotFound(msg("refers to a row that does not exist"));
        default:
          return Status::InvalidArgument(msg("constraint violated"));
      }
    case SQLITE_TOOBIG:
    case SQLITE_RANGE:
    case SQLITE_MISMATCH:
      return Status::InvalidArgument(msg("invalid value"));
    case SQLITE_NOMEM:
      return Status::ResourceExhausted(msg("out of memory"));
    default:
      return Status::Internal(msg("SQLite error " + std::to_string(rc)));
  }
}

Status Exec(sqlite3* db, const std::string& sql, std::string_view context) {
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  sqlite3_free(err);  // sqlite3_errmsg(db) still holds the text
  if (rc != SQLITE_OK) return ErrorStatus(db, rc, context);
  return Status::OK();
}

// --- Statement ---

Result<Statement> Statement::Prepare(sqlite3* db, std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(stmt);
    std::string ctx = "prepare \"";
    ctx += sql.substr(0, 60);
    ctx += sql.size() > 60 ? "...\"" : "\"";
    return ErrorStatus(db, rc, ctx);
  }
  return Statement(db, stmt);
}

Statement::Statement(Statement&& o) noexcept
    : db_(o.db_), stmt_(std::exchange(o.stmt_, nullptr)), bind_error_(std::move(o.bind_error_)) {}

Statement& Statement::operator=(Statement&& o) noexcept {
  if (this != &o) {
    sqlite3_finalize(stmt_);
    db_ = o.db_;
    stmt_ = std::exchange(o.stmt_, nullptr);
    bind_error_ = std::move(o.bind_error_);
  }
  return *this;
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

void Statement::NoteBind(int rc, int idx) {
  if (rc != SQLITE_OK && bind_error_.ok())
    bind_error_ = ErrorStatus(db_, rc, "bind parameter " + std::to_string(idx));
}

Statement& Statement::Bind(int idx, int64_t v) {
  NoteBind(sqlite3_bind_int64(stmt_, idx, v), idx);
  return *this;
}

Statement& Statement::Bind(int idx, double v) {
  NoteBind(sqlite3_bind_double(stmt_, idx, v), idx);
  return *this;
}

Statement& Statement::Bind(int idx, std::string_view v) {
  NoteBind(sqlite3_bind_text64(stmt_, idx, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8), idx);
  return *this;
}

Statement& Statement::Bind(int idx, std::optional<int64_t> v) {
  return v ? Bind(idx, *v) : BindNull(idx);
}

Statement& Statement::Bind(int idx, std::optional<double> v) {
  return v ? Bind(idx, *v) : BindNull(idx);
}

Statement& Statement::BindNull(int idx) {
  NoteBind(sqlite3_bind_null(stmt_, idx), idx);
  return *this;
}

Result<bool> Statement::Step() {
  if (!bind_error_.ok()) return bind_error_;
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  // Keep the message before reset() can overwrite it.
  Status s = ErrorStatus(db_, rc, {});
  sqlite3_reset(stmt_);
  return s;
}

Status Statement::Run() {
  for (;;) {
    auto r = Step();
    if (!r.ok()) return r.status();
    if (!*r) return Status::OK();
  }
}

void Statement::Reset() { sqlite3_reset(stmt_); }

bool Statement::IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
int64_t Statement::Int(int col) const { return sqlite3_column_int64(stmt_, col); }
double Statement::Double(int col) const { return sqlite3_column_double(stmt_, col); }

std::string Statement::Text(int col) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
  if (p == nullptr) return {};
  return std::string(p, static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
}

std::optional<int64_t> Statement::OptInt(int col) const {
  if (IsNull(col)) return std::nullopt;
  return Int(col);
}

std::optional<double> Statement::OptDouble(int col) const {
  if (IsNull(col)) return std::nullopt;
  return Double(col);
}

// --- Transaction ---

Result<Transaction> Transaction::Begin(sqlite3* db) {
  FP_RETURN_IF_ERROR(Exec(db, "BEGIN IMMEDIATE", "begin transaction"));
  return Transaction(db);
}

Status Transaction::Commit() {
  if (db_ == nullptr) return Status::Internal("transaction already finished");
  Status s = Exec(db_, "COMMIT", "commit");
  if (!s.ok()) {
    // A failed COMMIT (e.g. disk full) may leave the transaction open: undo it.
    if (!sqlite3_get_autocommit(db_)) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  db_ = nullptr;
  return s;
}

Transaction::~Transaction() {
  if (db_ != nullptr && !sqlite3_get_autocommit(db_))
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
}

}  // namespace fedpress::server::sqlite

#include "server/store/store.h"

#include <sqlite3.h>

#include <filesystem>
#include <map>
#include <system_error>

#include "server/store/migrator.h"
#include "server/store/sqlite_util.h"

namespace fedpress::server {

using sqlite::Exec;
using sqlite::Statement;
using sqlite::Transaction;

// --- enums ---

const char* JobStatusName(JobStatus s) {
  switch (s) {
    case JobStatus::kQueued: return "queued";
    case JobStatus::kRunning: return "running";
    case JobStatus::kCompleted: return "completed";
    case JobStatus::kFailed: return "failed";
    case JobStatus::kCancelled: return "cancelled";
  }
  return "unknown";
}

std::optional<JobStatus> ParseJobStatus(std::string_view s) {
  for (JobStatus js : {JobStatus::kQueued, JobStatus::kRunning, JobStatus::kCompleted,
                       JobStatus::kFailed, JobStatus::kCancelled}) {
    if (s == JobStatusName(js)) return js;
  }
  return std::nullopt;
}

bool IsTerminal(JobStatus s) {
  return s == JobStatus::kCompleted || s == JobStatus::kFailed || s == JobStatus::kCancelled;
}

const char* ParticipationStatusName(ParticipationStatus s) {
  switch (s) {
    case ParticipationStatus::kAccepted: return "accepted";
    case ParticipationStatus::kRejected: return "rejected";
    case ParticipationStatus::kLate: return "late";
    case ParticipationStatus::kTimeout: return "timeout";
  }
  return "unknown";
}

namespace {

std::optional<ParticipationStatus> ParseParticipationStatus(std::string_view s) {
  for (ParticipationStatus ps : {ParticipationStatus::kAccepted, ParticipationStatus::kRejected,
                                 ParticipationStatus::kLate, ParticipationStatus::kTimeout}) {
    if (s == ParticipationStatusName(ps)) return ps;
  }
  return std::nullopt;
}

// Column lists and their readers are kept side by side.
constexpr const char* kJobCols =
    "id, name, spec_json, status, current_round, total_rounds, error, created_ms, "
    "started_ms, finished_ms, updated_ms";

Result<JobRow> ReadJob(const Statement& st) {
  JobRow j;
  j.id = st.Int(0);
  j.name = st.Text(1);
  j.spec_json = st.Text(2);
  std::string status = st.Text(3);
  auto parsed = ParseJobStatus(status);
  if (!parsed) {
    return Status::Corruption("job " + std::to_string(j.id) + " has unknown status '" + status + "'");
  }
  j.status = *parsed;
  j.current_round = st.Int(4);
  j.total_rounds = st.Int(5);
  j.error = st.Text(6);
  j.created_ms = st.Int(7);
  j.started_ms = st.OptInt(8);
  j.finished_ms = st.OptInt(9);
  j.updated_ms = st.Int(10);
  return j;
}

constexpr const char* kRoundCols =
    "job_id, round, attempts, accuracy, loss, train_loss, participants, rejected, late, timeouts, "
    "samples, bytes_up_raw, bytes_up_wire, bytes_down_raw, bytes_down_wire, started_ms, "
    "finished_ms, duration_ms, checkpoint, median_norm, clipped, outliers";

RoundRow ReadRound(const Statement& st) {
  RoundRow r;
  r.job_id = st.Int(0);
  r.round = st.Int(1);
  r.attempts = st.Int(2);
  r.accuracy = st.OptDouble(3);
  r.loss = st.OptDouble(4);
  r.train_loss = st.OptDouble(5);
  r.participants = st.Int(6);
  r.rejected = st.Int(7);
  r.late = st.Int(8);
  r.timeouts = st.Int(9);
  r.samples = st.Int(10);
  r.bytes_up_raw = st.Int(11);
  r.bytes_up_wire = st.Int(12);
  r.bytes_down_raw = st.Int(13);
  r.bytes_down_wire = st.Int(14);
  r.started_ms = st.Int(15);
  r.finished_ms = st.Int(16);
  r.duration_ms = st.Int(17);
  r.checkpoint = st.Text(18);
  r.median_norm = st.OptDouble(19);
  r.clipped = st.Int(20);
  r.outliers = st.Int(21);
  return r;
}

constexpr const char* kClientCols =
    "id, name, samples, info_json, first_seen_ms, last_seen_ms, rounds_done, bytes_up, bytes_down";

ClientRow ReadClient(const Statement& st) {
  ClientRow c;
  c.id = st.Int(0);
  c.name = st.Text(1);
  c.samples = st.Int(2);
  c.info_json = st.Text(3);
  c.first_seen_ms = st.Int(4);
  c.last_seen_ms = st.Int(5);
  c.rounds_done = st.Int(6);
  c.bytes_up = st.Int(7);
  c.bytes_down = st.Int(8);
  return c;
}

constexpr const char* kParticipationCols =
    "p.id, p.job_id, p.round, p.attempt, p.client_id, c.name, p.status, p.reason, p.samples, "
    "p.train_loss, p.bytes_up_raw, p.bytes_up_wire, p.bytes_down_raw, p.bytes_down_wire, "
    "p.train_ms, p.encode_ms, p.decode_ms, p.sent_ms, p.received_ms, p.update_norm, p.clipped, "
    "p.outlier";

Result<ParticipationRow> ReadParticipation(const Statement& st) {
  ParticipationRow p;
  p.id = st.Int(0);
  p.job_id = st.Int(1);
  p.round = st.Int(2);
  p.attempt = st.Int(3);
  p.client_id = st.Int(4);
  p.client_name = st.Text(5);
  std::string status = st.Text(6);
  auto parsed = ParseParticipationStatus(status);
  if (!parsed) {
    return Status::Corruption("participation " + std::to_string(p.id) + " has unknown status '" +
                              status + "'");
  }
  p.status = *parsed;
  p.reason = st.Text(7);
  p.samples = st.Int(8);
  p.train_loss = st.OptDouble(9);
  p.bytes_up_raw = st.Int(10);
  p.bytes_up_wire = st.Int(11);
  p.bytes_down_raw = st.Int(12);
  p.bytes_down_wire = st.Int(13);
  p.train_ms = st.Int(14);
  p.encode_ms = st.Int(15);
  p.decode_ms = st.Int(16);
  p.sent_ms = st.OptInt(17);
  p.received_ms = st.OptInt(18);
  p.update_norm = st.OptDouble(19);
  p.clipped = st.Int(20) != 0;
  p.outlier = st.Int(21) != 0;
  return p;
}

Status InsertEvent(sqlite3* db, std::optional<int64_t> job_id, std::string_view kind,
                   std::string_view message, int64_t now_ms) {
  FP_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(db,
      "INSERT INTO events(ts_ms, job_id, kind, message) VALUES (?1, ?2, ?3, ?4)"));
  st.Bind(1, now_ms).Bind(2, job_id).Bind(3, kind).Bind(4, message);
  return st.Run().WithContext("add event");
}

Result<std::optional<JobRow>> SelectJob(sqlite3* db, int64_t id) {
  FP_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(db,
      std::string("SELECT ") + kJobCols + " FROM jobs WHERE id = ?1"));
  st.Bind(1, id);
  FP_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return std::optional<JobRow>();
  FP_ASSIGN_OR_RETURN(JobRow j, ReadJob(st));
  return std::optional<JobRow>(std::move(j));
}

std::string JobLabel(int64_t id) { return "job " + std::to_string(id); }

bool IsMemoryPath(const std::string& path) {
  return path == ":memory:" || path.rfind("file:", 0) == 0;
}

}  // namespace

// --- Open / close ---

Result<std::unique_ptr<Store>> Store::Open(const StoreOptions& options) {
  const std::string& path = options.path;
  if (path.empty()) return Status::InvalidArgument("store: database path is empty (--db)");

  if (!IsMemoryPath(path)) {
    std::filesystem::path parent = std::filesystem::path(path).parent_path();
    if (!parent.empty()) {
      std::error_code ec;
      std::filesystem::create_directories(parent, ec);
      if (ec) {
        return Status::IOError("store: cannot create directory " + parent.string() + " for database " +
                               path + ": " + ec.message());
      }
    }
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
      return Status::IOError("store: database path " + path + " is a directory, not a file");
    }
  }

  std::unique_ptr<Store> store(new Store());
  sqlite3* db = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  if (path.rfind("file:", 0) == 0) flags |= SQLITE_OPEN_URI;
  int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  store->db_ = db;  // closed by ~Store even if opening failed
  if (rc != SQLITE_OK) {
    return sqlite::ErrorStatus(db, rc, "store: open " + path);
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, sqlite::kBusyTimeoutMs);

  const std::string ctx = "store: " + path;
  // Probe: SQLite opens lazily, so a foreign file is only noticed on the first read.
  rc = sqlite3_exec(db, "SELECT count(*) FROM sqlite_master", nullptr, nullptr, nullptr);
  if ((rc & 0xff) == SQLITE_NOTADB || (rc & 0xff) == SQLITE_CORRUPT) {
    return Status::Corruption(ctx + " is not a SQLite database or is damaged (" + sqlite3_errmsg(db) +
                              "); use another --db or restore a backup");
  }
  if (rc != SQLITE_OK) return sqlite::ErrorStatus(db, rc, ctx);
  // Migrate first: it reads before writing, so a foreign database or one from
  // a newer fedpress is refused without being modified (not even set to WAL).
  auto version = Migrate(db, EmbeddedMigrations());
  if (!version.ok()) return version.status().WithContext(ctx);
  store->schema_version_ = *version;

  {
    FP_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(db, "PRAGMA journal_mode = WAL"));
    FP_ASSIGN_OR_RETURN(bool row, st.Step());
    std::string mode = row ? st.Text(0) : "";
    if (mode != "wal" && !(IsMemoryPath(path) && mode == "memory")) {
      return Status::IOError(ctx + ": cannot switch to WAL journal mode (got '" + mode +
                             "'); is the database on a filesystem without shared-memory support?");
    }
  }
  FP_RETURN_IF_ERROR(Exec(db, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON", ctx));
  if (!IsMemoryPath(path)) {
    // Read-only connections for queries (API reads, the runner's look-ups).
    for (int i = 0; i < 4; ++i) {
      auto reader = std::make_unique<Reader>();
      int rflags = SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX;
      if (path.rfind("file:", 0) == 0) rflags |= SQLITE_OPEN_URI;
      int rrc = sqlite3_open_v2(path.c_str(), &reader->db, rflags, nullptr);
      if (rrc != SQLITE_OK) {
        Status st = sqlite::ErrorStatus(reader->db, rrc, ctx + " (read connection)");
        sqlite3_close_v2(reader->db);
        return st;
      }
      sqlite3_extended_result_codes(reader->db, 1);
      sqlite3_busy_timeout(reader->db, sqlite::kBusyTimeoutMs);
      store->readers_.push_back(std::move(reader));
    }
  }
  return store;
}

Store::ReadLease Store::AcquireReader() {
  if (readers_.empty()) return ReadLease{std::unique_lock<std::mutex>(mutex_), db_};
  const size_t n = readers_.size();
  const size_t first = next_reader_.fetch_add(1, std::memory_order_relaxed) % n;
  for (size_t k = 0; k < n; ++k) {
    Reader& r = *readers_[(first + k) % n];
    std::unique_lock<std::mutex> lock(r.mu, std::try_to_lock);
    if (lock.owns_lock()) return ReadLease{std::move(lock), r.db};
  }
  Reader& r = *readers_[first];
  return ReadLease{std::unique_lock<std::mutex>(r.mu), r.db};
}

Store::~Store() {
  for (auto& r : readers_)
    if (r->db != nullptr) sqlite3_close_v2(r->db);
  if (db_ != nullptr) sqlite3_close_v2(db_);
}

int Store::schema_version() const { return schema_version_; }

int Store::LatestSchemaVersion() { return LatestVersion(EmbeddedMigrations()); }

// --- Jobs ---

Result<int64_t> Store::CreateJob(const std::string& name, const std::string& spec_json,
                                 int64_t total_rounds, int64_t now_ms) {
  if (total_rounds < 0) return Status::InvalidArgument("CreateJob: total_rounds must not be negative");
  std::lock_guard lock(mutex_);
  FP_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db_));
  int64_t id = 0;
  {
    FP_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(db_,
        "INSERT INTO jobs(name, spec_json, status, total_rounds, created_ms, updated_ms) "
        "VALUES (?1, ?2, 'queued', ?3, ?4, ?4)"));
    st.Bind(1, name).Bind(2, spec_json).Bind(3, total_rounds).Bind(4, now_ms);
    FP_RETURN_IF_ERROR(st.Run().WithContext("CreateJob"));
    id = sqlite3_last_insert_rowid(db_);
  }
  FP_RETURN_IF_ERROR(InsertEvent(db_, id, "job_created",
                                 JobLabel(id) + " '" + name + "' created (" + std::to_string(total_rounds) +
                                     " rounds)",
                                 now_ms));
  FP_RETURN_IF_ERROR(tx.Commit().WithContext("CreateJob"));
  return id;
}

Result<std::optional<JobRow>> Store::GetJob(int64_t id) {
  ReadLease lease = AcquireReader();
  sqlite3* const rdb = lease.db;
  return SelectJob(rdb, id);
}

Result<std::vector<JobRow>> Store::ListJobs() {
  ReadLease lease = AcquireReader();
  sqlite3* const rdb = lease.db;
  FP_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(rdb,
      std::string("SELECT ") + kJobCols + " FROM jobs ORDER BY id DESC"));
  std::vector<JobRow> out;
  for (;;) {
    FP_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    FP_ASSIGN_OR_RETURN(JobRow j, ReadJob(st));
    out.push_back(std::move(j));
  }
  return out;
}

Result<std::optional<JobRow>> Store::NextRunnableJob() {
  ReadLease lease = AcquireReader();
  sqlite3* const rdb = lease.db;
  // Uses jobs_by_status(status, id): a running job first (resume after a
  // restart), else the oldest queued one.
  FP_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(rdb,
      std::string("SELECT ") + kJobCols + " FROM jobs WHERE status = ?1 ORDER BY id LIMIT 1"));
  for (const char* status : {"running", "queued"}) {
    st.Reset();
    st.Bind(1, status);
    FP_ASSIGN_OR_RETURN(bool row, st.Step());
    if (row) {
      FP_ASSIGN_OR_RETURN(JobRow j, ReadJob(st));
      return std::optional<JobRow>(std::move(j));
    }
  }
  return std::optional<JobRow>();
}

Status Store::SetJobStatus(int64_t id, JobStatus status, const std::string& error, int64_t now_ms) {
  std::lock_guard lock(mutex_);
  FP_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db_));
  FP_ASSIGN_OR_RETURN(std::optional<JobRow> job, SelectJob(db_, id));
  if (!job) return Status::NotFound("SetJobStatus: no " + JobLabel(id));
  if (IsTerminal(job->status)) {
    return Status::FailedPrecondition("SetJobStatus: " + JobLabel(id) + " is already " +
                                      JobStatusName(job->status) + " and cannot become " +
                                      JobStatusName(status));
  }
  {
    // started_ms is kept from the first start (a resumed job keeps it).
    FP_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(db_,
        "UPDATE jobs SET status = ?2, error = NULLIF(?3, ''), updated_ms = ?4, "
        "  started_ms = CASE WHEN ?2 = 'running' THEN COALESCE(started_ms, ?4) ELSE started_ms END, "
        "  finished_ms = CASE WHEN ?5 THEN ?4 ELSE finished_ms END "
        "WHERE id = ?1"));
    st.Bind(1, id).Bind(2, JobStatusName(status)).Bind(3, error).Bind(4, now_ms)
        .Bind(5, static_cast<int64_t>(IsTerminal(status) ? 1 : 0));
    FP_RETURN_IF_ERROR(st.Run().WithContext("SetJobStatus"));
  }
  std::string kind = status == JobStatus::kRunning ? "job_started" : std::string("job_") + JobStatusName(status);
  std::string message = JobLabel(id) + " '" + job->name + "' " +
                        (status == JobStatus::kRunning ? "started" : JobStatusName(status));
  if (!error.empty()) message += ": " + error;
  FP_RETURN_IF_ERROR(InsertEvent(db_, id, kind, message, now_ms));
  return tx.Commit().WithContext("SetJobStatus");
}

// --- Rounds ---

Status Store::CommitRound(const RoundRow& r, bool job_completed, int64_t now_ms) {
  if (r.round < 1) return Status::InvalidArgument("CommitRound: round must be >= 1");
  std::lock_guard lock(mutex_);
  FP_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db_));
  FP_ASSIGN_OR_RETURN(std::optional<JobRow> job, SelectJob(db_, r.job_id));
  const std::string label = JobLabel(r.job_id) + " round " + std::to_string(r.round);
  if (!job) return Status::NotFound("CommitRound: no " + JobLabel(r.job_id));
  {
    FP_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(db_,
        "SELECT 1 FROM rounds WHERE job_id = ?1 AND round = ?2"));
    st.Bind(1, r.job_id).Bind(2, r.round);
    FP_ASSIGN_OR_RETURN(bool exists, st.Step());
    if (exists) return Status::AlreadyExists("CommitRound: " + label + " is already committed");
  }
  if (IsTerminal(job->status)) {
    return Status::FailedPrecondition("CommitRound: " + JobLabel(r.job_id) + " is already " +
                                      JobStatusName(job->status));
  }
  {
    FP_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(db_,
        std::string("INSERT INTO rounds(") + kRoundCols +
            ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, "
            "?20, ?21, ?22)"));
    st.Bind(1, r.job_id).Bind(2, r.round).Bind(3, r.attempts).Bind(4, r.accuracy).Bind(5, r.loss)
        .Bind(6, r.train_loss).Bind(7, r.participants).Bind(8, r.rejected).Bind(9, r.late)
        .Bind(10, r.timeouts).Bind(11, r.samples).Bind(12, r.bytes_up_raw).Bind(13, r.bytes_up_wire)
        .Bind(14, r.bytes_down_raw).Bind(15, r.bytes_down_wire).Bind(16, r.started_ms)
        .Bind(17, r.finished_ms).Bind(18, r.duration_ms).Bind(19, r.checkpoint)
        .Bind(20, r.median_norm).Bind(21, r.clipped).Bind(22, r.outliers);
    FP_RETURN_IF_ERROR(st.Run().WithContext("CommitRound: " + label));
  }
  {
    // MAX: current_round stays "the last committed round" even if a caller
    // commits rounds out of order.
    FP_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(db_,
        "UPDATE jobs SET current_round = MAX(current_round, ?2), updated_ms = ?3, "
        "  status = CASE WHEN ?4 THEN 'completed' ELSE status END, "
        "  finished_ms = CASE WHEN ?4 THEN ?3 ELSE finished_ms END "
        "WHERE id = ?1"));
    st.Bind(1, r.job_id).Bind(2, r.round).Bind(3, now_ms).Bind(4, static_cast<int64_t>(job_completed ? 1 : 0));
    FP_RETURN_IF_ERROR(st.Run().WithContext("CommitRound: " + label));
  }
  std::string msg = "round " + std::to_string(r.round) + "/" + std::to_string(job->total_rounds) +
                    " committed: " + std::to_string(r.participants) + " participants, " +
                    std::to_string(r.samples) + " samples";
  if (r.accuracy) msg += ", accuracy " + std::to_string(*r.accuracy);
  FP_RETURN_IF_ERROR(InsertEvent(db_, r.job_id, "round_committed", msg, now_ms));
  if (job_completed) {
    FP_RETURN_IF_ERROR(InsertEvent(db_, r.job_id, "job_completed",
                                   JobLabel(r.job_id) + " '" + job->name + "' completed after round " +
                                       std::to_string(r.round),
                                   now_ms));
  }
  return tx.Commit().WithContext("CommitRound: " + label);
}

Status Store::SetRoundEvaluation(int64_t job_id, int64_t round, double accuracy, double loss, int64_t now_ms) {
  std::lock_guard lock(mutex_);
  FP_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db_));
  const std::string label = JobLabel(job_id) + " round " + std::to_string(round);
  {
    FP_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(db_,
        "SELECT accuracy IS NOT NULL FROM rounds WHERE job_id = ?1 AND round = ?2"));
    st.Bind(1, job_id).Bind(2, round);
    FP_ASSIGN_OR_RETURN(bool exists, st.Step());
    if (!exists) return Status::NotFound("SetRoundEvaluation: " + label + " is not committed");
    if (st.Int(0) != 0)
      return Status::AlreadyExists("SetRoundEvaluation: " + label + " already has an accuracy");
  }
  {
    FP_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(db_,
        "UPDATE rounds SET accuracy = ?3, loss = ?4 WHERE job_id = ?1 AND round = ?2"));
    st.Bind(1, job_id).Bind(2, round).Bind(3, accuracy).Bind(4, loss);
    FP_RETURN_IF_ERROR(st.Run().WithContext("SetRoundEvaluation: " + label));
  }
  FP_RETURN_IF_ERROR(InsertEvent(db_, job_id, "round_evaluated",
                                 "round " + std::to_string(round) + " evaluated: accuracy " + std::to_string(accuracy),
                                 now_ms));
  return tx.Commit().WithContext("SetRoundEvaluation: " + label);
}

Result<std::vector<RoundRow>> Store::ListRounds(int64_t job_id) {
  ReadLease lease = AcquireReader();
  sqlite3* const rdb = lease.db;
  FP_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(rdb,
      std::string("SELECT ") + kRoundCols + " FROM rounds WHERE job_id = ?1 ORDER BY round"));
  st.Bind(1, job_id);
  std::vector<RoundRow> out;
  for (;;) {
    FP_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back(ReadRound(st));
  }
  return out;
}

Result<std::optional<RoundRow>> Store::GetRound(int64_t job_id, int64_t round) {
  ReadLease lease = AcquireReader();
  sqlite3* const rdb = lease.db;
  FP_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(rdb,
      std::string("SELECT ") + kRoundCols + " FROM rounds WHERE job_id = ?1 AND round = ?2"));
  st.Bind(1, job_id).Bind(2, round);
  FP_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return std::optional<RoundRow>();
  return std::optional<RoundRow>(ReadRound(st));
}

// --- Participations ---

Result<int64_t> Store::RecordParticipation(const ParticipationRow& p) {
  std::lock_guard lock(mutex_);
  FP_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(db_,
      "INSERT INTO participations(job_id, round, attempt, client_id, status, reason, samples, "
      "  train_loss, bytes_up_raw, bytes_up_wire, bytes_down_raw, bytes_down_wire, train_ms, "
      "  encode_ms, decode_ms, sent_ms, received_ms, update_norm, clipped, outlier) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)"));
  st.Bind(1, p.job_id).Bind(2, p.round).Bind(3, p.attempt).Bind(4, p.client_id)
      .Bind(5, ParticipationStatusName(p.status)).Bind(6, p.reason).Bind(7, p.samples)
      .Bind(8, p.train_loss).Bind(9, p.bytes_up_raw).Bind(10, p.bytes_up_wire)
      .Bind(11, p.bytes_down_raw).Bind(12, p.bytes_down_wire).Bind(13, p.train_ms)
      .Bind(14, p.encode_ms).Bind(15, p.decode_ms).Bind(16, p.sent_ms).Bind(17, p.received_ms)
      .Bind(18, p.update_norm).Bind(19, static_cast<int64_t>(p.clipped ? 1 : 0))
      .Bind(20, static_cast<int64_t>(p.outlier ? 1 : 0));
  Status s = st.Run();
  if (s.code() == StatusCode::kNotFound) {
    return Status::NotFound("RecordParticipation: unknown " + JobLabel(p.job_id) + " or client " +
                            std::to_string(p.client_id));
  }
  FP_RETURN_IF_ERROR(s.WithContext("RecordParticipation"));
  return static_cast<int64_t>(sqlite3_last_insert_rowid(db_));
}

Status Store::SetParticipationFlags(int64_t participation_id, bool clipped, bool outlier) {
  std::lock_guard lock(mutex_);
  FP_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(db_,
      "UPDATE participations SET clipped = ?2, outlier = ?3 WHERE id = ?1"));
  st.Bind(1, participation_id).Bind(2, static_cast<int64_t>(clipped ? 1 : 0))
      .Bind(3, static_cast<int64_t>(outlier ? 1 : 0));
  FP_RETURN_IF_ERROR(st.Run().WithContext("SetParticipationFlags"));
  if (sqlite3_changes(db_) == 0)
    return Status::NotFound("SetParticipationFlags: no participation " + std::to_string(participation_id));
  return Status::OK();
}

Result<std::vector<ParticipationRow>> Store::ListParticipations(int64_t job_id,
                                                                std::optional<int64_t> round) {
  ReadLease lease = AcquireReader();
  sqlite3* const rdb = lease.db;
  std::string sql = std::string("SELECT ") + kParticipationCols +
                    " FROM participations p JOIN clients c ON c.id = p.client_id WHERE p.job_id = ?1";
  if (round) sql += " AND p.round = ?2";
  sql += " ORDER BY p.id";
  FP_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(rdb, sql));
  st.Bind(1, job_id);
  if (round) st.Bind(2, *round);
  std::vector<ParticipationRow> out;
  for (;;) {
    FP_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    FP_ASSIGN_OR_RETURN(ParticipationRow p, ReadParticipation(st));
    out.push_back(std::move(p));
  }
  return out;
}

// --- Clients ---

Result<int64_t> Store::UpsertClient(const std::string& name, int64_t samples, const std::string& info_json,
                                    int64_t now_ms) {
  if (name.empty()) return Status::InvalidArgument("UpsertClient: client name is empty");
  std::lock_guard lock(mutex_);
  FP_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(db_,
      "INSERT INTO clients(name, samples, info_json, first_seen_ms, last_seen_ms) "
      "VALUES (?1, ?2, ?3, ?4, ?4) "
      "ON CONFLICT(name) DO UPDATE SET samples = excluded.samples, info_json = excluded.info_json, "
      "  last_seen_ms = excluded.last_seen_ms "
      "RETURNING id"));
  st.Bind(1, name).Bind(2, samples).Bind(3, info_json.empty() ? std::string("{}") : info_json).Bind(4, now_ms);
  auto row = st.Step();
  if (!row.ok()) return row.status().WithContext("UpsertClient '" + name + "'");
  if (!*row) return Status::Internal("UpsertClient: no id returned");
  int64_t id = st.Int(0);
  FP_RETURN_IF_ERROR(st.Run().WithContext("UpsertClient '" + name + "'"));
  return id;
}

Status Store::AddClientTraffic(int64_t client_id, int64_t rounds_done, int64_t bytes_up,
                               int64_t bytes_down, int64_t now_ms) {
  if (rounds_done < 0 || bytes_up < 0 || bytes_down < 0) {
    return Status::InvalidArgument("AddClientTraffic: counters can only grow");
  }
  std::lock_guard lock(mutex_);
  FP_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(db_,
      "UPDATE clients SET rounds_done = rounds_done + ?2, bytes_up = bytes_up + ?3, "
      "  bytes_down = bytes_down + ?4, last_seen_ms = ?5 WHERE id = ?1"));
  st.Bind(1, client_id).Bind(2, rounds_done).Bind(3, bytes_up).Bind(4, bytes_down).Bind(5, now_ms);
  FP_RETURN_IF_ERROR(st.Run().WithContext("AddClientTraffic"));
  if (sqlite3_changes(db_) == 0) {
    return Status::NotFound("AddClientTraffic: no client " + std::to_string(client_id));
  }
  return Status::OK();
}

Status Store::AddClientTrafficBatch(const std::vector<ClientTraffic>& rows, int64_t now_ms) {
  for (const ClientTraffic& r : rows)
    if (r.rounds_done < 0 || r.bytes_up < 0 || r.bytes_down < 0)
      return Status::InvalidArgument("AddClientTrafficBatch: counters can only grow");
  if (rows.empty()) return Status::OK();
  std::lock_guard lock(mutex_);
  FP_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db_));
  FP_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(db_,
      "UPDATE clients SET rounds_done = rounds_done + ?2, bytes_up = bytes_up + ?3, "
      "  bytes_down = bytes_down + ?4, last_seen_ms = ?5 WHERE id = ?1"));
  size_t missing = 0;
  for (const ClientTraffic& r : rows) {
    st.Reset();
    st.Bind(1, r.client_id).Bind(2, r.rounds_done).Bind(3, r.bytes_up).Bind(4, r.bytes_down).Bind(5, now_ms);
    FP_RETURN_IF_ERROR(st.Run().WithContext("AddClientTrafficBatch"));
    missing += sqlite3_changes(db_) == 0;
  }
  FP_RETURN_IF_ERROR(tx.Commit().WithContext("AddClientTrafficBatch"));
  if (missing > 0)
    return Status::NotFound("AddClientTrafficBatch: " + std::to_string(missing) + " unknown client(s)");
  return Status::OK();
}

Result<std::vector<ClientRow>> Store::ListClients() {
  ReadLease lease = AcquireReader();
  sqlite3* const rdb = lease.db;
  FP_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(rdb,
      std::string("SELECT ") + kClientCols + " FROM clients ORDER BY name"));
  std::vector<ClientRow> out;
  for (;;) {
    FP_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back(ReadClient(st));
  }
  return out;
}

Result<std::optional<ClientRow>> Store::GetClient(int64_t id) {
  ReadLease lease = AcquireReader();
  sqlite3* const rdb = lease.db;
  FP_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(rdb,
      std::string("SELECT ") + kClientCols + " FROM clients WHERE id = ?1"));
  st.Bind(1, id);
  FP_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return std::optional<ClientRow>();
  return std::optional<ClientRow>(ReadClient(st));
}

// --- Events ---

Status Store::AddEvent(std::optional<int64_t> job_id, const std::string& kind, const std::string& message,
                       int64_t now_ms) {
  if (kind.empty()) return Status::InvalidArgument("AddEvent: kind is empty");
  std::lock_guard lock(mutex_);
  return InsertEvent(db_, job_id, kind, message, now_ms);
}

Result<std::vector<EventRow>> Store::ListEvents(int64_t after_id, int64_t limit) {
  if (limit < 1) return Status::InvalidArgument("ListEvents: limit must be at least 1");
  ReadLease lease = AcquireReader();
  sqlite3* const rdb = lease.db;
  FP_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(rdb,
      "SELECT id, ts_ms, job_id, kind, message FROM events WHERE id > ?1 ORDER BY id LIMIT ?2"));
  st.Bind(1, after_id).Bind(2, limit);
  std::vector<EventRow> out;
  for (;;) {
    FP_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    EventRow e;
    e.id = st.Int(0);
    e.ts_ms = st.Int(1);
    e.job_id = st.OptInt(2);
    e.kind = st.Text(3);
    e.message = st.Text(4);
    out.push_back(std::move(e));
  }
  return out;
}

// --- Maintenance ---

// --- Admin token ---

Result<std::optional<std::string>> Store::GetAdminTokenHash() {
  ReadLease lease = AcquireReader();
  sqlite3* const rdb = lease.db;
  FP_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(rdb, "SELECT sha256_hex FROM admin_token WHERE id = 1"));
  FP_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return std::optional<std::string>();
  return std::optional<std::string>(st.Text(0));
}

Status Store::SetAdminTokenHash(const std::string& sha256_hex, int64_t now_ms) {
  if (sha256_hex.size() != 64 ||
      sha256_hex.find_first_not_of("0123456789abcdef") != std::string::npos)
    return Status::InvalidArgument("SetAdminTokenHash: expected 64 lowercase hex digits");
  std::lock_guard lock(mutex_);
  FP_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db_));
  FP_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(db_,
      "INSERT INTO admin_token (id, sha256_hex, created_ms) VALUES (1, ?1, ?2) "
      "ON CONFLICT(id) DO UPDATE SET sha256_hex = excluded.sha256_hex, created_ms = excluded.created_ms"));
  st.Bind(1, sha256_hex).Bind(2, now_ms);
  FP_RETURN_IF_ERROR(st.Run());
  FP_RETURN_IF_ERROR(InsertEvent(db_, std::nullopt, "admin_token_set", "admin token created or rotated", now_ms));
  return tx.Commit();
}

// --- Client credentials ---

namespace {

constexpr const char* kCredentialCols = "id, name, public_key, created_ms, revoked_ms";

CredentialRow ReadCredential(const Statement& st) {
  CredentialRow c;
  c.id = st.Int(0);
  c.name = st.Text(1);
  c.public_key = st.Text(2);
  c.created_ms = st.Int(3);
  c.revoked_ms = st.OptInt(4);
  return c;
}

Result<std::vector<CredentialRow>> QueryCredentials(sqlite3* db, const std::string& where) {
  FP_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(db,
      std::string("SELECT ") + kCredentialCols + " FROM client_credentials " + where + " ORDER BY id"));
  std::vector<CredentialRow> out;
  for (;;) {
    FP_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back(ReadCredential(st));
  }
  return out;
}

}  // namespace

Result<CredentialRow> Store::CreateCredential(const std::string& name, const std::string& public_key_z85,
                                              int64_t now_ms) {
  if (name.empty() || name.size() > 64) return Status::InvalidArgument("CreateCredential: name must be 1..64 chars");
  if (public_key_z85.size() != 40) return Status::InvalidArgument("CreateCredential: public key must be 40 Z85 chars");
  std::lock_guard lock(mutex_);
  FP_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db_));
  {
    FP_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(db_,
        "SELECT id, name = ?1 FROM client_credentials WHERE revoked_ms IS NULL AND (name = ?1 OR public_key = ?2)"));
    st.Bind(1, name).Bind(2, public_key_z85);
    FP_ASSIGN_OR_RETURN(bool row, st.Step());
    if (row) {
      return Status::AlreadyExists(st.Int(1) ? "an active credential named '" + name + "' exists (id " +
                                                   std::to_string(st.Int(0)) + "): revoke it first"
                                             : "this public key is already enrolled (credential " +
                                                   std::to_string(st.Int(0)) + ")");
    }
  }
  FP_ASSIGN_OR_RETURN(Statement ins, Statement::Prepare(db_,
      "INSERT INTO client_credentials (name, public_key, created_ms) VALUES (?1, ?2, ?3)"));
  ins.Bind(1, name).Bind(2, public_key_z85).Bind(3, now_ms);
  FP_RETURN_IF_ERROR(ins.Run().WithContext("CreateCredential '" + name + "'"));
  CredentialRow c;
  c.id = static_cast<int64_t>(sqlite3_last_insert_rowid(db_));
  c.name = name;
  c.public_key = public_key_z85;
  c.created_ms = now_ms;
  FP_RETURN_IF_ERROR(InsertEvent(db_, std::nullopt, "credential_enrolled",
                                 "client credential " + std::to_string(c.id) + " '" + name + "' enrolled", now_ms));
  FP_RETURN_IF_ERROR(tx.Commit());
  return c;
}

Status Store::RevokeCredential(int64_t id, int64_t now_ms) {
  std::lock_guard lock(mutex_);
  FP_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db_));
  std::string name;
  {
    FP_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(db_,
        "SELECT name, revoked_ms FROM client_credentials WHERE id = ?1"));
    st.Bind(1, id);
    FP_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return Status::NotFound("no credential " + std::to_string(id));
    if (!st.IsNull(1)) return Status::FailedPrecondition("credential " + std::to_string(id) + " is already revoked");
    name = st.Text(0);
  }
  FP_ASSIGN_OR_RETURN(Statement up, Statement::Prepare(db_,
      "UPDATE client_credentials SET revoked_ms = ?2 WHERE id = ?1 AND revoked_ms IS NULL"));
  up.Bind(1, id).Bind(2, now_ms);
  FP_RETURN_IF_ERROR(up.Run().WithContext("RevokeCredential"));
  FP_RETURN_IF_ERROR(InsertEvent(db_, std::nullopt, "credential_revoked",
                                 "client credential " + std::to_string(id) + " '" + name + "' revoked", now_ms));
  return tx.Commit();
}

Result<std::optional<CredentialRow>> Store::GetCredential(int64_t id) {
  ReadLease lease = AcquireReader();
  FP_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(lease.db,
      std::string("SELECT ") + kCredentialCols + " FROM client_credentials WHERE id = ?1"));
  st.Bind(1, id);
  FP_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return std::optional<CredentialRow>();
  return std::optional<CredentialRow>(ReadCredential(st));
}

Result<std::vector<CredentialRow>> Store::ListCredentials() {
  ReadLease lease = AcquireReader();
  return QueryCredentials(lease.db, "");
}

Result<std::vector<CredentialRow>> Store::ListActiveCredentials() {
  ReadLease lease = AcquireReader();
  return QueryCredentials(lease.db, "WHERE revoked_ms IS NULL");
}

// --- Stats ---

Result<StoreStats> Store::Stats(const std::vector<int64_t>& duration_bounds_ms) {
  StoreStats out;
  ReadLease lease = AcquireReader();
  sqlite3* const rdb = lease.db;
  {
    std::map<std::string, int64_t> counts;
    FP_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(rdb, "SELECT status, count(*) FROM jobs GROUP BY status"));
    for (;;) {
      FP_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      counts[st.Text(0)] = st.Int(1);
    }
    for (JobStatus js : {JobStatus::kQueued, JobStatus::kRunning, JobStatus::kCompleted,
                         JobStatus::kFailed, JobStatus::kCancelled})
      out.jobs_by_status.emplace_back(JobStatusName(js), counts[JobStatusName(js)]);
  }
  {
    FP_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(rdb,
        "SELECT count(*), coalesce(sum(bytes_up_raw),0), coalesce(sum(bytes_up_wire),0), "
        "coalesce(sum(bytes_down_raw),0), coalesce(sum(bytes_down_wire),0), coalesce(sum(duration_ms),0) "
        "FROM rounds"));
    FP_ASSIGN_OR_RETURN(bool row, st.Step());
    if (row) {
      out.rounds_committed = st.Int(0);
      out.bytes_up_raw = st.Int(1);
      out.bytes_up_wire = st.Int(2);
      out.bytes_down_raw = st.Int(3);
      out.bytes_down_wire = st.Int(4);
      out.round_duration_count = st.Int(0);
      out.round_duration_sum_ms = st.Int(5);
    }
  }
  {
    std::map<std::string, int64_t> counts;
    FP_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(rdb,
        "SELECT status, count(*) FROM participations GROUP BY status"));
    for (;;) {
      FP_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      counts[st.Text(0)] = st.Int(1);
    }
    for (ParticipationStatus ps : {ParticipationStatus::kAccepted, ParticipationStatus::kRejected,
                                   ParticipationStatus::kLate, ParticipationStatus::kTimeout})
      out.participations_by_status.emplace_back(ParticipationStatusName(ps), counts[ParticipationStatusName(ps)]);
  }
  out.round_duration_bounds_ms = duration_bounds_ms;
  if (!duration_bounds_ms.empty()) {
    std::string sql = "SELECT ";
    for (size_t i = 0; i < duration_bounds_ms.size(); ++i)
      sql += (i ? ", " : "") + std::string("coalesce(sum(duration_ms <= ?") + std::to_string(i + 1) + "),0)";
    sql += " FROM rounds";
    FP_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(rdb, sql));
    for (size_t i = 0; i < duration_bounds_ms.size(); ++i) st.Bind(static_cast<int>(i + 1), duration_bounds_ms[i]);
    FP_ASSIGN_OR_RETURN(bool row, st.Step());
    for (size_t i = 0; i < duration_bounds_ms.size(); ++i)
      out.round_duration_le.push_back(row ? st.Int(static_cast<int>(i)) : 0);
  }
  return out;
}

Status Store::CheckIntegrity() {
  std::lock_guard lock(mutex_);
  {
    FP_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(db_, "PRAGMA integrity_check(20)"));
    std::string problems;
    for (;;) {
      FP_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      std::string line = st.Text(0);
      if (line == "ok") continue;
      if (!problems.empty()) problems += "; ";
      problems += line;
    }
    if (!problems.empty()) return Status::Corruption("integrity check failed: " + problems);
  }
  {
    FP_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(db_, "PRAGMA foreign_key_check"));
    FP_ASSIGN_OR_RETURN(bool row, st.Step());
    if (row) {
      return Status::Corruption("integrity check failed: foreign key violation in table '" + st.Text(0) +
                                "' (rowid " + std::to_string(st.Int(1)) + ")");
    }
  }
  return Status::OK();
}

}  // namespace fedpress::server

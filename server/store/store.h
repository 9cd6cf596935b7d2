// Store: fedpress's durable state in SQLite (jobs, rounds, clients,
// participations, events). The only code that speaks SQL. Opening applies the
// numbered migrations (migrations/*.sql, embedded at build time) in one
// transaction each, tracked in `schema_version`; a database newer than this
// binary is refused. WAL mode, foreign keys on, synchronous=FULL: a committed
// round survives power loss.
//
// Every method returns a Status/Result; SQLite errors are converted here and
// never escape as exceptions. Writes that belong together (a round commit:
// round row + job progress + event) are one transaction.
//
// Thread-safety: thread-safe. Writes go through one connection serialised by
// an internal mutex; reads use a small pool of read-only connections (WAL lets
// them run alongside the writer), so API reads never hold up round writes.
#pragma once

#include <cstdint>
#include <memory>
#include <atomic>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

struct sqlite3;

namespace fedpress::server {

enum class JobStatus { kQueued, kRunning, kCompleted, kFailed, kCancelled };
const char* JobStatusName(JobStatus s);                 // "queued", ...
std::optional<JobStatus> ParseJobStatus(std::string_view s);
bool IsTerminal(JobStatus s);                           // completed|failed|cancelled

struct JobRow {
  int64_t id = 0;
  std::string name;
  std::string spec_json;
  JobStatus status = JobStatus::kQueued;
  int64_t current_round = 0;  // last committed round
  int64_t total_rounds = 0;
  std::string error;
  int64_t created_ms = 0;
  std::optional<int64_t> started_ms, finished_ms;
  int64_t updated_ms = 0;
};

struct RoundRow {
  int64_t job_id = 0;
  int64_t round = 0;
  int64_t attempts = 1;
  std::optional<double> accuracy, loss, train_loss;
  int64_t participants = 0, rejected = 0, late = 0, timeouts = 0, samples = 0;
  int64_t bytes_up_raw = 0, bytes_up_wire = 0, bytes_down_raw = 0, bytes_down_wire = 0;
  int64_t started_ms = 0, finished_ms = 0, duration_ms = 0;
  std::string checkpoint;
  // Robust aggregation (schema v4): median L2 norm of the accepted updates,
  // and how many were clipped / flagged as outliers.
  std::optional<double> median_norm;
  int64_t clipped = 0, outliers = 0;
};

struct ClientRow {
  int64_t id = 0;
  std::string name;
  int64_t samples = 0;
  std::string info_json = "{}";
  int64_t first_seen_ms = 0, last_seen_ms = 0;
  int64_t rounds_done = 0, bytes_up = 0, bytes_down = 0;
};

enum class ParticipationStatus { kAccepted, kRejected, kLate, kTimeout };
const char* ParticipationStatusName(ParticipationStatus s);  // "accepted", ...

struct ParticipationRow {
  int64_t id = 0;  // assigned by the store
  int64_t job_id = 0, round = 0, attempt = 1, client_id = 0;
  std::string client_name;  // filled by reads (join), ignored on write
  ParticipationStatus status = ParticipationStatus::kAccepted;
  std::string reason;
  int64_t samples = 0;
  std::optional<double> train_loss;
  int64_t bytes_up_raw = 0, bytes_up_wire = 0, bytes_down_raw = 0, bytes_down_wire = 0;
  int64_t train_ms = 0, encode_ms = 0, decode_ms = 0;
  std::optional<int64_t> sent_ms, received_ms;
  // Robust aggregation (schema v4), accepted updates only: L2 norm before
  // clipping; clipped by the server; norm far above the round's median.
  std::optional<double> update_norm;
  bool clipped = false, outlier = false;
};

// An enrolled client credential (schema v3): only the CURVE public key.
struct CredentialRow {
  int64_t id = 0;
  std::string name;
  std::string public_key;  // Z85, 40 chars
  int64_t created_ms = 0;
  std::optional<int64_t> revoked_ms;  // set once revoked
};

struct EventRow {
  int64_t id = 0, ts_ms = 0;
  std::optional<int64_t> job_id;
  std::string kind, message;
};

// Aggregates for /metrics, computed by one read (a few queries under the lock).
struct StoreStats {
  std::vector<std::pair<std::string, int64_t>> jobs_by_status;  // every status, 0 when none
  int64_t rounds_committed = 0;
  int64_t bytes_up_raw = 0, bytes_up_wire = 0, bytes_down_raw = 0, bytes_down_wire = 0;
  std::vector<std::pair<std::string, int64_t>> participations_by_status;  // every status
  // Round durations (committed rounds): cumulative counts for each upper
  // bound in `round_duration_bounds_ms` (le), plus count and sum.
  std::vector<int64_t> round_duration_bounds_ms;
  std::vector<int64_t> round_duration_le;
  int64_t round_duration_count = 0;
  int64_t round_duration_sum_ms = 0;
};

struct StoreOptions {
  std::string path;  // SQLite file; created (with parent directory) if missing
};

class Store {
 public:
  // Opens (creating if needed) and migrates. Fails with FailedPrecondition if
  // the DB's schema_version is newer than the newest embedded migration.
  static Result<std::unique_ptr<Store>> Open(const StoreOptions& options);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  int schema_version() const;           // after Open
  static int LatestSchemaVersion();     // newest embedded migration

  // Jobs.
  Result<int64_t> CreateJob(const std::string& name, const std::string& spec_json,
                            int64_t total_rounds, int64_t now_ms);  // status queued, + event
  Result<std::optional<JobRow>> GetJob(int64_t id);
  Result<std::vector<JobRow>> ListJobs();  // newest first
  // The job the runner should work on: a 'running' one (resume) if any, else
  // the oldest 'queued' one, else nullopt.
  Result<std::optional<JobRow>> NextRunnableJob();
  // Sets status (and started_ms when becoming running, finished_ms when
  // terminal), error text, updated_ms; adds an event. Refuses to move a job
  // out of a terminal status (FailedPrecondition).
  Status SetJobStatus(int64_t id, JobStatus status, const std::string& error, int64_t now_ms);

  // Rounds. One transaction: insert the round row, set jobs.current_round =
  // round.round, mark the job completed if `job_completed`, add a
  // 'round_committed' (and 'job_completed') event. Fails with AlreadyExists if
  // the round is already committed (nothing changes).
  // NotFound if the job does not exist, FailedPrecondition if it is already
  // in a terminal status, InvalidArgument if round.round < 1.
  Status CommitRound(const RoundRow& round, bool job_completed, int64_t now_ms);
  // Records the test accuracy and loss of a round committed without them
  // (its evaluation ran after the commit, off the round's critical path).
  // Set once: AlreadyExists if the round already has an accuracy (a stored
  // result never changes), NotFound if the round is not committed.
  Status SetRoundEvaluation(int64_t job_id, int64_t round, double accuracy, double loss, int64_t now_ms);
  Result<std::vector<RoundRow>> ListRounds(int64_t job_id);  // ascending round
  Result<std::optional<RoundRow>> GetRound(int64_t job_id, int64_t round);

  // Participations.
  Result<int64_t> RecordParticipation(const ParticipationRow& p);
  // Sets the clipped / outlier flags of a recorded participation (known only
  // when its round closes). NotFound if there is no such row.
  Status SetParticipationFlags(int64_t participation_id, bool clipped, bool outlier);
  // All attempts of a job, or of one round if `round` is set; ascending id.
  Result<std::vector<ParticipationRow>> ListParticipations(int64_t job_id,
                                                           std::optional<int64_t> round);

  // Clients. Upsert by name: creates or updates samples/info/last_seen; returns id.
  Result<int64_t> UpsertClient(const std::string& name, int64_t samples,
                               const std::string& info_json, int64_t now_ms);
  // Adds to counters and sets last_seen_ms.
  Status AddClientTraffic(int64_t client_id, int64_t rounds_done, int64_t bytes_up,
                          int64_t bytes_down, int64_t now_ms);
  // The same for many clients in one transaction (one sync, not one per
  // client: a round's traffic is written once, not N times). Unknown client
  // ids are skipped; NotFound names how many were.
  struct ClientTraffic {
    int64_t client_id = 0;
    int64_t rounds_done = 0, bytes_up = 0, bytes_down = 0;
  };
  Status AddClientTrafficBatch(const std::vector<ClientTraffic>& rows, int64_t now_ms);
  Result<std::vector<ClientRow>> ListClients();  // by name
  Result<std::optional<ClientRow>> GetClient(int64_t id);

  // Events.
  Status AddEvent(std::optional<int64_t> job_id, const std::string& kind,
                  const std::string& message, int64_t now_ms);
  // Events with id > after_id, ascending, at most `limit` (>= 1, else InvalidArgument).
  Result<std::vector<EventRow>> ListEvents(int64_t after_id, int64_t limit);

  // Admin token (schema v2): only its SHA-256, hex (64 lowercase chars).
  // nullopt when none was ever set. Setting replaces the previous one.
  Result<std::optional<std::string>> GetAdminTokenHash();
  Status SetAdminTokenHash(const std::string& sha256_hex, int64_t now_ms);  // + event

  // Client credentials (schema v3). Create: AlreadyExists if an active
  // credential has the same name or public key; + event. Revoke: NotFound if
  // no such credential, FailedPrecondition if already revoked; + event.
  Result<CredentialRow> CreateCredential(const std::string& name, const std::string& public_key_z85,
                                         int64_t now_ms);
  Status RevokeCredential(int64_t id, int64_t now_ms);
  Result<std::optional<CredentialRow>> GetCredential(int64_t id);
  Result<std::vector<CredentialRow>> ListCredentials();  // all, ascending id
  Result<std::vector<CredentialRow>> ListActiveCredentials();

  // Totals for /metrics. `duration_bounds_ms` ascending.
  Result<StoreStats> Stats(const std::vector<int64_t>& duration_bounds_ms);

  // PRAGMA integrity_check == "ok".
  Status CheckIntegrity();

 private:
  struct Reader {
    std::mutex mu;
    sqlite3* db = nullptr;  // GUARDED_BY(mu)
  };
  // A read connection held for one call; the writer's when there is no pool
  // (in-memory databases).
  struct ReadLease {
    std::unique_lock<std::mutex> lock;
    sqlite3* db = nullptr;
  };
  Store() = default;
  ReadLease AcquireReader();

  mutable std::mutex mutex_;
  sqlite3* db_ = nullptr;  // GUARDED_BY(mutex_)
  int schema_version_ = 0;
  std::vector<std::unique_ptr<Reader>> readers_;  // constant after Open
  std::atomic<unsigned> next_reader_{0};
};

}  // namespace fedpress::server

// StorageHealth: whether the server can write its durable state right now
// (the SQLite database and the state directory with checkpoints). The job
// runner marks it failed when a write fails (disk full, read-only file
// system, I/O error) and healthy again once a probe write succeeds; /healthz
// reports it, so operators and dashboards see "storage error: ... No space
// left on device" rather than a job that silently stopped moving.
//
// ProbeStorage is the check itself: one real database write (an event row)
// and a file of `reserve_bytes` written atomically into the state directory
// and removed (so there is room for the next checkpoint).
//
// Thread-safety: StorageHealth is thread-safe (written by the coordinator
// thread, read by HTTP threads). ProbeStorage is safe from any thread.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

#include "common/status.h"
#include "server/store/store.h"

namespace fedpress::server {

class StorageHealth {
 public:
  struct Problem {
    std::string error;     // what failed and why, e.g. "cannot write checkpoint ...: No space left on device"
    int64_t since_ms = 0;  // when storage first failed (wall clock)
  };
  // Records a failure; `since_ms` of an ongoing problem is kept.
  void SetFailed(const std::string& error, int64_t now_ms);
  void SetOk();
  std::optional<Problem> problem() const;

 private:
  mutable std::mutex mu_;
  std::optional<Problem> problem_;  // GUARDED_BY(mu_)
};

// True for errors that mean "storage cannot be written" (disk full, read-only
// file system, permissions, I/O: StatusCode::kIOError from file_util and the
// store) rather than damaged data, a bad request or a logic error.
bool IsStorageFailure(const Status& st);

// Writes and removes `state_dir`/.storage-probe (reserve_bytes of zeros) and,
// if `store` is not null, adds a `kind` event for `job_id` (nullopt: no job).
Status ProbeStorage(const std::string& state_dir, Store* store, std::optional<int64_t> job_id,
                    const std::string& kind, const std::string& message, uint64_t reserve_bytes,
                    int64_t now_ms);

}  // namespace fedpress::server

#include "server/storage_health.h"

#include <unistd.h>

#include <vector>

#include "common/file_util.h"

namespace fedpress::server {

void StorageHealth::SetFailed(const std::string& error, int64_t now_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t since = problem_ ? problem_->since_ms : now_ms;
  problem_ = Problem{error, since};
}

void StorageHealth::SetOk() {
  std::lock_guard<std::mutex> lock(mu_);
  problem_.reset();
}

std::optional<StorageHealth::Problem> StorageHealth::problem() const {
  std::lock_guard<std::mutex> lock(mu_);
  return problem_;
}

bool IsStorageFailure(const Status& st) {
  // Not Corruption: a damaged checkpoint or database does not heal by
  // waiting, and must fail the job loudly rather than pause it.
  return st.code() == StatusCode::kIOError;
}

Status ProbeStorage(const std::string& state_dir, Store* store, std::optional<int64_t> job_id,
                    const std::string& kind, const std::string& message, uint64_t reserve_bytes,
                    int64_t now_ms) {
  const std::string probe = state_dir + "/.storage-probe";
  std::vector<uint8_t> zeros(reserve_bytes);
  Status st = WriteFileAtomic(probe, zeros);
  ::unlink(probe.c_str());
  if (!st.ok()) return st.WithContext("state directory " + state_dir);
  if (!store) return Status::OK();
  return store->AddEvent(job_id, kind, message, now_ms).WithContext("database");
}

}  // namespace fedpress::server

// ModelVersions: the broadcast model versions held by a load generator's
// simulated clients, shared by all of them. A TRAIN's model payload is
// applied as fedpress-client applies it — the full model, or a delta chain
// onto the version the client holds (base_round 0: the job's initial model,
// derived by running `fedpress-model init` once per job) — and the result
// is checked against the TRAIN's CRC-32Cs. Identical work is memoised: the
// same (base version, payload bytes) is applied once, whichever simulated
// client receives it, so a thousand clients cost one verification per
// distinct chain. The job's model layout (needed to encode updates) comes
// from the initial model or from a full-model payload.
//
// Thread-safety: thread-safe (one internal mutex; the first call for a job
// may block for the duration of `fedpress-model init`).
#pragma once

#include <cstdint>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <tuple>

#include "common/model_weights.h"
#include "common/protocol.h"
#include "common/status.h"

namespace fedpress::loadgen {

// The version a simulated client reports in its heartbeats.
struct HeldVersion {
  int64_t job = 0;
  uint32_t round = 0;
  uint32_t crc = 0;
};

struct ModelVersionsOptions {
  std::string model_tool;     // fedpress-model; "" = none (initial models cannot be derived)
  std::string work_dir;       // where initial-model checkpoints are written
  bool verify = true;         // false: trust the TRAIN's CRC, apply nothing
  size_t max_versions = 8;    // versions kept for the current job (oldest dropped)
};

struct ModelVersionsStats {
  uint64_t applied_full = 0;    // full models decoded
  uint64_t applied_chains = 0;  // delta chains applied
  uint64_t memo_hits = 0;       // payloads already verified
  uint64_t failures = 0;
};

class ModelVersions {
 public:
  explicit ModelVersions(ModelVersionsOptions options) : options_(std::move(options)) {}
  ~ModelVersions();  // waits for a running initial-model derivation

  // The version held after applying `payload` for `task`. Unavailable while
  // the job's initial model is still being derived (in the background: the
  // caller keeps the task and asks again later, its heartbeats flowing).
  // Errors (the client then reports it holds no usable version, as
  // fedpress-client does): FailedPrecondition when the base version is not
  // held, Corruption when a CRC does not match, others from decoding.
  Result<HeldVersion> Apply(const protocol::Train& task, std::span<const uint8_t> payload);

  // The job's model layout, once known.
  std::optional<ModelLayout> LayoutOf(int64_t job) const;
  ModelVersionsStats stats() const;

 private:
  struct Version {
    uint32_t crc = 0;
    ModelWeights weights;  // empty when !options_.verify
  };
  // (job, base_round, base_crc, round, model_crc, payload crc, payload size)
  using MemoKey = std::tuple<int64_t, uint32_t, uint32_t, uint32_t, uint32_t, uint32_t, size_t>;

  Result<HeldVersion> ApplyLocked(const protocol::Train& task, std::span<const uint8_t> payload);
  // The job's initial model (fedpress-model init on a background thread),
  // cached; Unavailable while it runs; an error if there is no tool.
  Result<const ModelWeights*> InitialModel(const protocol::Train& task);
  void Keep(int64_t job, uint32_t round, Version v);
  void SwitchJob(int64_t job);

  const ModelVersionsOptions options_;
  mutable std::mutex mu_;
  int64_t job_ = 0;                                  // GUARDED_BY(mu_): the job whose versions are kept
  std::optional<ModelLayout> layout_;                // GUARDED_BY(mu_)
  std::optional<ModelWeights> initial_;              // GUARDED_BY(mu_)
  std::optional<Status> initial_error_;              // GUARDED_BY(mu_): init failed once for job_
  std::future<Result<ModelWeights>> initial_future_; // GUARDED_BY(mu_): init running
  std::map<uint32_t, Version> versions_;             // GUARDED_BY(mu_): round -> version
  std::set<MemoKey> verified_;                       // GUARDED_BY(mu_)
  ModelVersionsStats stats_;                         // GUARDED_BY(mu_)
};

}  // namespace fedpress::loadgen

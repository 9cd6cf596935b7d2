// RoundAggregator: the policy that turns one round's accepted client updates
// into the change of the global model, chosen per job by its `aggregation`
// spec (common/job_spec.h):
//
//   fedavg (no adaptive clip)   StreamingFedAvg: Σ n_k·Δ_k / Σ n_k, folded in as
//                               updates arrive; memory O(model) whatever K
//   median, trimmed_mean,       RobustAggregator: keeps the K dense updates of
//   fedavg + adaptive_clip      the round (bounded by max_updates) and combines
//                               them at the end
//
// Every strategy measures each update's L2 norm, optionally clips it (a fixed
// clip_norm at once; adaptive_clip × the round's median norm at the end), and
// flags updates whose norm exceeds outlier_factor × the round's median norm.
// The job runner (the mechanism) decodes, records and commits; it never looks
// inside the math.
//
// Thread-safety: not thread-safe; one aggregator per round, owned by the job
// runner on the coordinator thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "common/job_spec.h"
#include "common/status.h"

namespace fedpress::server {

// Adds one client's dense update Δ into `out` (model-sized, all zero on
// entry). The job runner's decoders (compressed container or dense bundle).
using UpdateDecoder = std::function<Status(std::span<float> out)>;
// Optional fast path for sparse (compressed) updates: acc += weight · Δ over
// the sent coordinates only, *sum_squares = ‖Δ‖²; acc unchanged on error.
// Strategies that need the dense update (clipping, buffering) ignore it.
using UpdateAccumulator = std::function<Status(float weight, std::span<float> acc, double* sum_squares)>;

// What the aggregator learned about one update.
struct UpdateStats {
  double norm = 0;       // L2 norm of the decoded update, before any clipping
  bool clipped = false;  // scaled down to the clip bound
  bool outlier = false;  // norm > outlier_factor × the round's median norm
};

// The round's updates in the order they were added; final after ApplyTo.
struct RoundSummary {
  std::vector<UpdateStats> updates;
  std::optional<double> median_norm;  // none without updates
  int64_t clipped = 0, outliers = 0;
};

class RoundAggregator {
 public:
  virtual ~RoundAggregator() = default;

  // Decodes one update with `decode`, refuses it if any value is not finite
  // (InvalidArgument) or the round's buffer is full (ResourceExhausted),
  // measures and (fixed bound) clips it, and takes it. On error nothing of it
  // is kept. REQUIRES: num_samples > 0.
  virtual Result<UpdateStats> Add(const UpdateDecoder& decode, uint64_t num_samples,
                                  const UpdateAccumulator* direct = nullptr) = 0;
  virtual size_t num_updates() const = 0;
  // global += the aggregate. FailedPrecondition without updates,
  // InvalidArgument for a size mismatch. Call once per round.
  virtual Status ApplyTo(std::span<float> global) = 0;
  // Norms and flags of every update taken, plus the round's median norm.
  virtual RoundSummary Summary() const = 0;
  // Bytes held for the round's updates (accumulators, buffers, scratch).
  virtual size_t memory_bytes() const = 0;
};

// The aggregator the spec asks for. `max_updates` bounds what a buffering
// strategy keeps (the job's clients_per_round).
std::unique_ptr<RoundAggregator> MakeRoundAggregator(const AggregationSpec& spec, size_t num_elements,
                                                     size_t max_updates);

// Per-update stats with outlier flags for the given norms (shared by the
// strategies).
RoundSummary SummarizeRound(std::span<const double> norms, const std::vector<bool>& clipped,
                            double outlier_factor);

}  // namespace fedpress::server

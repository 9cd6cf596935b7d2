#include "server/robust_aggregator.h"

#include <cmath>
#include <string>

#include "server/aggregation_math.h"

namespace fedpress::server {
namespace {

void ScaleInPlace(std::span<float> v, double scale) {
  const float s = static_cast<float>(scale);
  for (float& x : v) x *= s;
}

}  // namespace

RobustAggregator::RobustAggregator(const AggregationSpec& spec, size_t num_elements, size_t max_updates)
    : spec_(spec), num_elements_(num_elements), max_updates_(max_updates) {
  updates_.reserve(max_updates);
}

Result<UpdateStats> RobustAggregator::Add(const UpdateDecoder& decode, uint64_t num_samples,
                                          const UpdateAccumulator* /*direct: needs the dense update*/) {
  if (num_samples == 0) return Status::InvalidArgument("update with 0 samples");
  if (updates_.size() >= max_updates_)
    return Status::ResourceExhausted("the round already holds " + std::to_string(max_updates_) +
                                     " updates (clients_per_round)");
  std::vector<float> u(num_elements_, 0.0f);
  FP_RETURN_IF_ERROR(decode(u));
  UpdateStats stats;
  stats.norm = L2Norm(u);
  if (!std::isfinite(stats.norm)) return Status::InvalidArgument("update has a NaN or infinite value");
  const double scale = ClipScale(stats.norm, spec_.clip_norm);
  if (scale < 1.0) {
    ScaleInPlace(u, scale);
    stats.clipped = true;
  }
  updates_.push_back(std::move(u));
  samples_.push_back(num_samples);
  norms_.push_back(stats.norm);
  clipped_.push_back(stats.clipped);
  return stats;
}

Status RobustAggregator::ApplyTo(std::span<float> global) {
  if (updates_.empty()) return Status::FailedPrecondition("no accepted updates to aggregate");
  if (global.size() != num_elements_)
    return Status::InvalidArgument("aggregate size " + std::to_string(num_elements_) + " != model size " +
                                   std::to_string(global.size()));
  if (spec_.adaptive_clip > 0) {
    const double bound = spec_.adaptive_clip * Median(norms_);
    for (size_t k = 0; k < updates_.size(); ++k) {
      // Relative to what the update is now (a fixed clip may have shrunk it;
      // the two are exclusive in a valid spec, but stay correct regardless).
      const double now = clipped_[k] ? std::min(norms_[k], spec_.clip_norm) : norms_[k];
      const double scale = ClipScale(now, bound);
      if (scale < 1.0) {
        ScaleInPlace(updates_[k], scale);
        clipped_[k] = true;
      }
    }
  }
  if (spec_.strategy == "fedavg") {
    // global += Σ (n_k / Σn) · Δ_k, straight into the model (no extra buffer).
    double total = 0;
    for (uint64_t n : samples_) total += static_cast<double>(n);
    for (size_t k = 0; k < updates_.size(); ++k) {
      const float w = static_cast<float>(static_cast<double>(samples_[k]) / total);
      const float* __restrict u = updates_[k].data();
      float* __restrict g = global.data();
      for (size_t i = 0; i < num_elements_; ++i) g[i] += w * u[i];
    }
    return Status::OK();
  }
  std::vector<std::span<const float>> rows(updates_.begin(), updates_.end());
  // The result overwrites the first buffer block by block (no extra model copy).
  std::span<float> combined = updates_.front();
  if (spec_.strategy == "median") {
    CoordinateMedian(rows, combined);
  } else if (spec_.strategy == "trimmed_mean") {
    CoordinateTrimmedMean(rows, TrimCount(rows.size(), spec_.trim_ratio), combined);
  } else {
    return Status::InvalidArgument("unknown aggregation strategy '" + spec_.strategy + "'");
  }
  for (size_t i = 0; i < num_elements_; ++i) global[i] += combined[i];
  return Status::OK();
}

RoundSummary RobustAggregator::Summary() const {
  return SummarizeRound(norms_, clipped_, spec_.outlier_factor);
}

size_t RobustAggregator::memory_bytes() const {
  return updates_.size() * num_elements_ * sizeof(float);
}

}  // namespace fedpress::server

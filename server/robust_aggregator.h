// RobustAggregator: strategies that need every update of a round at once.
// Keeps up to `max_updates` decoded dense updates (the job's
// clients_per_round; the job spec is refused up front when that exceeds the
// server's --max-round-memory), clips each to `clip_norm` as it arrives, and
// at the end:
//   1. adaptive_clip > 0: scales every update whose norm exceeds
//      adaptive_clip × the round's median norm down to that bound;
//   2. combines them: coordinate-wise median, coordinate-wise trimmed mean
//      (trim_ratio of the values dropped at each end; both unweighted, as in
//      Yin et al. 2018), or the sample-weighted mean (fedavg).
// A buffer is allocated per update as it arrives and all are freed when the
// aggregator is destroyed.
//
// Thread-safety: not thread-safe (see aggregation_strategy.h).
#pragma once

#include <vector>

#include "server/aggregation_strategy.h"

namespace fedpress::server {

class RobustAggregator final : public RoundAggregator {
 public:
  RobustAggregator(const AggregationSpec& spec, size_t num_elements, size_t max_updates);

  Result<UpdateStats> Add(const UpdateDecoder& decode, uint64_t num_samples,
                          const UpdateAccumulator* direct = nullptr) override;
  size_t num_updates() const override { return updates_.size(); }
  Status ApplyTo(std::span<float> global) override;
  RoundSummary Summary() const override;
  size_t memory_bytes() const override;

 private:
  const AggregationSpec spec_;
  const size_t num_elements_;
  const size_t max_updates_;
  std::vector<std::vector<float>> updates_;
  std::vector<uint64_t> samples_;
  std::vector<double> norms_;   // before clipping
  std::vector<bool> clipped_;
};

}  // namespace fedpress::server

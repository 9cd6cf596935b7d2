// StreamingFedAvg: the default aggregation strategy. Without a clip bound, a
// compressed update takes the decoder's fast path: folded straight into the
// running sample-weighted sum (FedAvgAggregator), touching only the sent
// coordinates, its norm taken in the decoder's validation pass. Otherwise
// (clip_norm, dense bundles) each update is decoded into one reusable scratch
// buffer, measured (L2 norm, finiteness), scaled down to `clip_norm`, folded
// in, and the scratch zeroed for the next. Memory is at most two model-sized
// buffers whatever the number of updates.
// Norms are kept (8 bytes per update) for the round's outlier flags.
//
// Thread-safety: not thread-safe (see aggregation_strategy.h).
#pragma once

#include <vector>

#include "server/aggregation_strategy.h"
#include "server/fedavg.h"

namespace fedpress::server {

class StreamingFedAvg final : public RoundAggregator {
 public:
  StreamingFedAvg(const AggregationSpec& spec, size_t num_elements);

  Result<UpdateStats> Add(const UpdateDecoder& decode, uint64_t num_samples,
                          const UpdateAccumulator* direct = nullptr) override;
  size_t num_updates() const override { return sum_.num_updates(); }
  Status ApplyTo(std::span<float> global) override { return sum_.ApplyTo(global); }
  RoundSummary Summary() const override;
  size_t memory_bytes() const override;

 private:
  const AggregationSpec spec_;
  FedAvgAggregator sum_;
  std::vector<float> scratch_;  // all zero between calls
  std::vector<double> norms_;
  std::vector<bool> clipped_;
};

}  // namespace fedpress::server

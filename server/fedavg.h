// FedAvgAggregator (policy math): a running, sample-weighted sum of client
// deltas. Memory is one float per model parameter whatever the number of
// updates: each update is folded in as it arrives and then forgotten.
//   accumulator = Σ n_k · Δ_k ;  global += server_lr · accumulator / Σ n_k
//
// Thread-safety: not thread-safe; owned by the job runner.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "common/status.h"

namespace fedpress::server {

class FedAvgAggregator {
 public:
  explicit FedAvgAggregator(size_t num_elements) : acc_(num_elements, 0.0f) {}

  // REQUIRES: delta.size() == num_elements(), num_samples > 0.
  void AddDense(std::span<const float> delta, uint64_t num_samples);
  // For decoders that add `num_samples · Δ` straight into accumulator()
  // themselves (sparse updates): records the update's weight.
  void CountUpdate(uint64_t num_samples);
  std::span<float> accumulator() { return acc_; }

  size_t num_elements() const { return acc_.size(); }
  size_t num_updates() const { return updates_; }
  uint64_t total_samples() const { return total_samples_; }

  // global += server_lr · Σ n_k Δ_k / Σ n_k. FailedPrecondition without updates.
  Status ApplyTo(std::span<float> global, float server_lr = 1.0f) const;
  void Reset();

 private:
  std::vector<float> acc_;
  uint64_t total_samples_ = 0;
  size_t updates_ = 0;
};

}  // namespace fedpress::server

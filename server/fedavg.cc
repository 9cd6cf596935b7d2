#include "server/fedavg.h"

#include <algorithm>

namespace fedpress::server {

void FedAvgAggregator::AddDense(std::span<const float> delta, uint64_t num_samples) {
  const float w = static_cast<float>(num_samples);
  float* __restrict a = acc_.data();
  const float* __restrict d = delta.data();
  const size_t n = std::min(acc_.size(), delta.size());
  for (size_t i = 0; i < n; ++i) a[i] += w * d[i];
  CountUpdate(num_samples);
}

void FedAvgAggregator::CountUpdate(uint64_t num_samples) {
  total_samples_ += num_samples;
  ++updates_;
}

Status FedAvgAggregator::ApplyTo(std::span<float> global, float server_lr) const {
  if (updates_ == 0 || total_samples_ == 0)
    return Status::FailedPrecondition("no accepted updates to aggregate");
  if (global.size() != acc_.size())
    return Status::InvalidArgument("aggregate size " + std::to_string(acc_.size()) +
                                   " != model size " + std::to_string(global.size()));
  const double scale = static_cast<double>(server_lr) / static_cast<double>(total_samples_);
  const float s = static_cast<float>(scale);
  for (size_t i = 0; i < acc_.size(); ++i) global[i] += s * acc_[i];
  return Status::OK();
}

void FedAvgAggregator::Reset() {
  std::fill(acc_.begin(), acc_.end(), 0.0f);
  total_samples_ = 0;
  updates_ = 0;
}

}  // namespace fedpress::server

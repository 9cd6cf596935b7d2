#include "server/streaming_fedavg.h"

#include <algorithm>
#include <cmath>

#include "server/aggregation_math.h"

namespace fedpress::server {

StreamingFedAvg::StreamingFedAvg(const AggregationSpec& spec, size_t num_elements)
    : spec_(spec), sum_(num_elements), scratch_(num_elements, 0.0f) {}

Result<UpdateStats> StreamingFedAvg::Add(const UpdateDecoder& decode, uint64_t num_samples,
                                         const UpdateAccumulator* direct) {
  if (num_samples == 0) return Status::InvalidArgument("update with 0 samples");
  if (direct && *direct && spec_.clip_norm <= 0) {
    // No clipping: fold the sparse update straight into the sum (only the
    // sent coordinates are touched) and take its norm from the decoder.
    double ss = 0.0;
    FP_RETURN_IF_ERROR((*direct)(static_cast<float>(num_samples), sum_.accumulator(), &ss));
    UpdateStats u;
    u.norm = std::sqrt(ss);
    sum_.CountUpdate(num_samples);
    norms_.push_back(u.norm);
    clipped_.push_back(false);
    return u;
  }
  Status st = decode(scratch_);
  const double norm = st.ok() ? L2Norm(scratch_) : 0.0;
  if (st.ok() && !std::isfinite(norm))
    st = Status::InvalidArgument("update has a NaN or infinite value");
  if (!st.ok()) {
    std::fill(scratch_.begin(), scratch_.end(), 0.0f);
    return st;
  }
  UpdateStats u;
  u.norm = norm;
  const double scale = ClipScale(norm, spec_.clip_norm);
  u.clipped = scale < 1.0;
  // acc += n · scale · Δ, and leave the scratch zero for the next update.
  const float w = static_cast<float>(static_cast<double>(num_samples) * scale);
  float* __restrict a = sum_.accumulator().data();
  float* __restrict s = scratch_.data();
  for (size_t i = 0; i < scratch_.size(); ++i) {
    a[i] += w * s[i];
    s[i] = 0.0f;
  }
  sum_.CountUpdate(num_samples);
  norms_.push_back(norm);
  clipped_.push_back(u.clipped);
  return u;
}

RoundSummary StreamingFedAvg::Summary() const {
  return SummarizeRound(norms_, clipped_, spec_.outlier_factor);
}

size_t StreamingFedAvg::memory_bytes() const {
  return (sum_.num_elements() + scratch_.size()) * sizeof(float) + norms_.capacity() * sizeof(double);
}

}  // namespace fedpress::server

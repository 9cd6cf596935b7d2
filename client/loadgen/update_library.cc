#include "client/loadgen/update_library.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>

#include "compression/error_feedback.h"
#include "compression/pipeline.h"
#include "compression/rng.h"
#include "compression/spec.h"

namespace fedpress::loadgen {

std::vector<float> RandomDelta(size_t n, uint64_t seed) {
  std::vector<float> v(n);
  compression::SplitMix64 r(seed);
  for (size_t i = 0; i < n; i += 2) {
    const double u1 = (static_cast<double>(r.Next() >> 11) + 1.0) * 0x1.0p-53;
    const double u2 = static_cast<double>(r.Next() >> 11) * 0x1.0p-53;
    const double m = std::sqrt(-2.0 * std::log(u1));
    const double scale0 = (r.Next() & 63) == 0 ? 0.1 : 0.01;
    const double scale1 = (r.Next() & 63) == 0 ? 0.1 : 0.01;
    v[i] = static_cast<float>(scale0 * m * std::cos(2 * M_PI * u2));
    if (i + 1 < n) v[i + 1] = static_cast<float>(scale1 * m * std::sin(2 * M_PI * u2));
  }
  return v;
}

Result<std::shared_ptr<const PayloadSet>> UpdateLibrary::Get(int64_t job, const std::string& compression_json,
                                                             const ModelLayout& layout) {
  std::lock_guard<std::mutex> lock(mu_);
  auto key = std::make_pair(job, compression_json);
  if (auto it = sets_.find(key); it != sets_.end()) return it->second;
  for (auto it = sets_.begin(); it != sets_.end();)  // keep only the current job's
    it = it->first.first != job ? sets_.erase(it) : std::next(it);

  FP_ASSIGN_OR_RETURN(auto spec, compression::ParseCompressionSpecText(compression_json));
  auto set = std::make_shared<PayloadSet>();
  set->raw_bytes = layout.total_elements() * sizeof(float);
  const bool dense = spec.uplink == compression::DirectionSpec{};
  std::optional<compression::Encoder> encoder;
  if (!dense) {
    FP_ASSIGN_OR_RETURN(auto enc, compression::Encoder::Create(spec.uplink, layout));
    encoder.emplace(std::move(enc));
  }
  set->format = dense ? protocol::PayloadFormat::kDense : protocol::PayloadFormat::kCompressed;
  double total_ms = 0;
  for (int k = 0; k < std::max(1, variants_); ++k) {
    const uint64_t seed = compression::StreamKey(seed_ ^ static_cast<uint64_t>(job), static_cast<uint64_t>(k));
    std::vector<float> delta = RandomDelta(layout.total_elements(), seed);
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<uint8_t> bytes;
    if (dense) {
      bytes = ModelWeights(layout, std::move(delta)).Encode();
    } else {
      std::optional<compression::ErrorFeedback> residual;
      if (spec.uplink.error_feedback) residual.emplace(layout);
      FP_RETURN_IF_ERROR(encoder->Encode(delta, residual ? &*residual : nullptr, seed, &bytes)
                             .WithContext("encoding a simulated update"));
    }
    total_ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    set->payloads.push_back(std::make_shared<const std::vector<uint8_t>>(std::move(bytes)));
  }
  set->encode_ms = total_ms / static_cast<double>(set->payloads.size());
  spdlog::info("job {}: {} update payloads of {} bytes on average ({} dense; {:.1f} ms to encode one)", job,
               set->payloads.size(),
               [&] {
                 uint64_t s = 0;
                 for (const auto& p : set->payloads) s += p->size();
                 return s / set->payloads.size();
               }(),
               set->raw_bytes, set->encode_ms);
  std::shared_ptr<const PayloadSet> out = std::move(set);
  sets_[key] = out;
  return out;
}

}  // namespace fedpress::loadgen

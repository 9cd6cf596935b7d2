// The compression pipeline: Encoder (client upload; server download) and
// DecodeContext (server aggregation; client download), over the container of
// container.h. Stages run per layer: [error-feedback merge] -> sparsify
// (top-k / random-k, or dense) -> quantise (fp32 / fp16 / uniform / k-means /
// ternary) -> index coding -> optional zstd over the whole body.
//
// Upload (client):
//   Encoder enc = *Encoder::Create(spec.uplink, layout);
//   ErrorFeedback ef(layout);      // or ErrorFeedback::Deserialize(saved, layout)
//   enc.Encode(delta, &ef, seed, &payload);
// Aggregation (server), one DecodeContext per thread:
//   ctx.DecodeAccumulate(payload, layout, n_k / n, sum);   // sum += w * update
// Download: the server encodes delta = global - broadcast_copy (no residual
// needed: the lag of broadcast_copy is the error feedback), then applies the
// payload to broadcast_copy with DecodeAccumulate(payload, layout, 1.0f, copy);
// clients apply the same payload the same way. Decoding is deterministic and
// platform independent (IEEE-754 float, no FMA contraction, codebooks carried
// in the payload), so every copy stays bit-identical.
//
// Decoder validation (choice: two passes over the compact body). The payload
// is checked (size bound, header, layout CRC, checksum), the body is
// zstd-decompressed into a scratch buffer bounded by MaxBodyBytes(layout) and
// owned by the DecodeContext, then pass 1 parses and validates every layer
// (counts, lengths, indices in range and strictly increasing, canonical
// padding, finite values, codebook sizes) without touching the accumulator;
// only if it all succeeds does pass 2 decode again and add. The accumulator is
// therefore unchanged on any error. No per-client dense temporary: sparse
// layers touch only their sent coordinates.
//
// Thread-safety: Encoder and DecodeContext are not thread-safe; use one per
// thread. They are movable, not copyable.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "common/model_weights.h"
#include "common/status.h"
#include "compression/error_feedback.h"
#include "compression/spec.h"

namespace fedpress::compression {

struct EncodeStats {
  uint64_t dense_bytes = 0;     // 4 x total_elements
  uint64_t payload_bytes = 0;   // what goes on the wire
  uint64_t body_raw_bytes = 0;  // body before zstd
  uint64_t sent_values = 0;     // coordinates carried
  bool zstd_used = false;
  double ratio() const { return payload_bytes ? double(dense_bytes) / double(payload_bytes) : 0; }
};

class Encoder {
 public:
  // Validates the spec against the layout and resolves the per-layer plan.
  static Result<Encoder> Create(const DirectionSpec& spec, const ModelLayout& layout);
  Encoder(Encoder&&) noexcept;
  Encoder& operator=(Encoder&&) noexcept;
  Encoder(const Encoder&) = delete;
  Encoder& operator=(const Encoder&) = delete;
  ~Encoder();

  const ModelLayout& layout() const { return layout_; }
  const DirectionSpec& spec() const { return spec_; }
  const std::vector<LayerPlan>& plan() const { return plan_; }

  // Encodes `delta` (all layers end to end, delta.size() == total_elements)
  // into *out (replaced). If the spec has error_feedback, `residual` is
  // required (layout must match) and is updated so that
  //   decoded(*out) + new residual == delta + old residual
  // (see error_feedback.h); else it must be null. `seed` drives stochastic
  // rounding and random-k (use e.g. hash(client, round)); same inputs and
  // seed give the same bytes.
  // Errors: InvalidArgument for size/layout mismatches and non-finite delta
  // (if that is detected after the residual was touched, the residual is
  // reset to zero), never partial output.
  Status Encode(std::span<const float> delta, ErrorFeedback* residual, uint64_t seed,
                std::vector<uint8_t>* out, EncodeStats* stats = nullptr);

 private:
  struct Scratch;
  Encoder(DirectionSpec spec, ModelLayout layout);
  DirectionSpec spec_;
  ModelLayout layout_;
  uint32_t layout_crc_ = 0;
  std::vector<LayerPlan> plan_;
  std::unique_ptr<Scratch> s_;
};

struct DecodeLimits {
  // Payloads larger than this are refused before any work; 0 = MaxPayloadBytes(layout).
  uint64_t max_payload_bytes = 0;
};

// Facts about a payload from its header alone (no validation of the body).
struct PayloadInfo {
  uint16_t version = 0;
  bool zstd = false;
  uint32_t num_layers = 0;
  uint64_t total_elements = 0;
  uint64_t body_raw_len = 0;
  uint64_t payload_bytes = 0;
};
Result<PayloadInfo> InspectPayload(std::span<const uint8_t> payload);

class DecodeContext {
 public:
  DecodeContext();
  DecodeContext(DecodeContext&&) noexcept;
  DecodeContext& operator=(DecodeContext&&) noexcept;
  DecodeContext(const DecodeContext&) = delete;
  DecodeContext& operator=(const DecodeContext&) = delete;
  ~DecodeContext();

  // acc[i] += weight * decoded[i] for the coordinates the payload carries.
  // REQUIRES nothing of the payload: every check is made first; on error
  // (Corruption for bad bytes, InvalidArgument for bad arguments,
  // FailedPrecondition for a payload made for another layout,
  // ResourceExhausted over the limit) acc is unchanged.
  Status DecodeAccumulate(std::span<const uint8_t> payload, const ModelLayout& layout, float weight,
                          std::span<float> acc, const DecodeLimits& limits = {});
  // Same, and *sum_squares = Σ decoded[i]² (in double, before the weight), so
  // a caller can take an update's L2 norm without a dense copy.
  Status DecodeAccumulate(std::span<const uint8_t> payload, const ModelLayout& layout, float weight,
                          std::span<float> acc, const DecodeLimits& limits, double* sum_squares);
  // The dense decoded update (0 where nothing was sent).
  Result<std::vector<float>> Decode(std::span<const uint8_t> payload, const ModelLayout& layout,
                                    const DecodeLimits& limits = {});
  // Bytes of scratch currently held (bounded by MaxBodyBytes of the largest layout seen).
  size_t scratch_bytes() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Conveniences with a temporary context.
Status DecodeAccumulate(std::span<const uint8_t> payload, const ModelLayout& layout, float weight,
                        std::span<float> acc, const DecodeLimits& limits = {});
Result<std::vector<float>> Decode(std::span<const uint8_t> payload, const ModelLayout& layout,
                                  const DecodeLimits& limits = {});
Result<ModelWeights> DecodeWeights(std::span<const uint8_t> payload, const ModelLayout& layout,
                                   const DecodeLimits& limits = {});

}  // namespace fedpress::compression

// ModelLayout and ModelWeights: a model's parameters as named float32 layers
// laid end to end in one flat buffer. This is how fedpress moves models around
// without libtorch: the trainer flattens torch parameters into it, the server
// aggregates over it, checkpoints and wire payloads serialise it.
//
// Dense bundle encoding (used by TRAIN/UPDATE payload format 0 and inside
// checkpoints; docs/protocol.md):
//   layout:  u32 num_layers, then per layer: str name, u32 ndim, u64 dims[ndim]
//   values:  float32 x total_elements, little-endian, layer after layer
//
// Thread-safety: plain values; not synchronised.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/byte_io.h"
#include "common/status.h"

namespace fedpress {

struct LayerSpec {
  std::string name;             // e.g. "conv1.weight"
  std::vector<int64_t> shape;   // e.g. {16, 1, 3, 3}
  size_t numel() const;
  bool operator==(const LayerSpec&) const = default;
};

// Hard limits applied when decoding a layout from untrusted bytes.
inline constexpr uint32_t kMaxLayers = 4096;
inline constexpr uint32_t kMaxDims = 8;
inline constexpr uint64_t kMaxModelElements = uint64_t{1} << 30;  // 4 GiB of fp32

class ModelLayout {
 public:
  ModelLayout() = default;
  explicit ModelLayout(std::vector<LayerSpec> layers);
  const std::vector<LayerSpec>& layers() const { return layers_; }
  size_t num_layers() const { return layers_.size(); }
  size_t total_elements() const { return total_; }
  size_t offset(size_t layer) const { return offsets_[layer]; }
  bool operator==(const ModelLayout& o) const { return layers_ == o.layers_; }
  // "3 layers, 1234 parameters: fc1.weight[200,784] ..." (for error messages).
  std::string Describe() const;

  void EncodeTo(ByteWriter& w) const;
  // Validates counts, name lengths, dims > 0 and the element-count bound.
  static Result<ModelLayout> DecodeFrom(ByteReader& r);

 private:
  std::vector<LayerSpec> layers_;
  std::vector<size_t> offsets_;
  size_t total_ = 0;
};

class ModelWeights {
 public:
  ModelWeights() = default;
  explicit ModelWeights(ModelLayout layout);  // zero-filled
  ModelWeights(ModelLayout layout, std::vector<float> values);  // REQUIRES: sizes match

  const ModelLayout& layout() const { return layout_; }
  std::span<float> values() { return values_; }
  std::span<const float> values() const { return values_; }
  std::span<float> layer(size_t i);
  std::span<const float> layer(size_t i) const;
  size_t byte_size() const { return values_.size() * sizeof(float); }

  // layout + values, as described above.
  void EncodeTo(ByteWriter& w) const;
  std::vector<uint8_t> Encode() const;
  // Decodes layout + values; rejects non-finite values.
  static Result<ModelWeights> DecodeFrom(ByteReader& r);
  static Result<ModelWeights> Decode(std::span<const uint8_t> bytes);

 private:
  ModelLayout layout_;
  std::vector<float> values_;
};

// Decodes `bytes` (a dense bundle) and checks its layout equals `expected`.
Result<ModelWeights> DecodeWeightsMatching(std::span<const uint8_t> bytes,
                                           const ModelLayout& expected);

// Index of the first non-finite value, or -1.
int64_t FindNonFinite(std::span<const float> v);

}  // namespace fedpress

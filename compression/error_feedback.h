// ErrorFeedback: the residual memory of one direction of one job (what the
// encoder did not send yet), a float per model element, laid out like the
// model. The Encoder adds it to the next delta and stores what it left out:
//   sent + new_residual == fl(delta + old_residual)
// (bit-exact for coordinates the sparsifier dropped; up to one float rounding
// of the subtraction for sent coordinates, whose quantisation error it keeps).
// Owned by the caller; Serialize/Deserialize let it survive a restart.
//
// Serialised form (little-endian): "FPEF" u32 magic, u16 version (1), u16 0,
// model layout (ModelLayout::EncodeTo), u64 n, n x f32, u32 CRC-32C of all
// preceding bytes.
//
// Thread-safety: a plain value; not synchronised.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "common/model_weights.h"
#include "common/status.h"

namespace fedpress::compression {

class ErrorFeedback {
 public:
  ErrorFeedback() = default;
  explicit ErrorFeedback(ModelLayout layout);  // all zero

  const ModelLayout& layout() const { return layout_; }
  std::span<float> values() { return values_; }
  std::span<const float> values() const { return values_; }
  std::span<float> layer(size_t i);
  std::span<const float> layer(size_t i) const;
  void Reset();  // back to zero
  // Sum of squares (diagnostics: how much is pending).
  double SquaredNorm() const;

  std::vector<uint8_t> Serialize() const;
  // Rejects bad magic/version/checksum, a layout different from `expected`,
  // and non-finite values.
  static Result<ErrorFeedback> Deserialize(std::span<const uint8_t> bytes,
                                           const ModelLayout& expected);

 private:
  ModelLayout layout_;
  std::vector<float> values_;
};

}  // namespace fedpress::compression

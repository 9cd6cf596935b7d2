// Ternary quantiser (Sparse Ternary Compression, Sattler et al.): every sent
// value becomes +mu or -mu with mu = mean |x| over the sent values (computed in
// double, rounded to float); the unsent coordinates are the zeros. One sign bit
// per value: 0 -> +mu, 1 -> -mu (x < 0 gives 1; -0 and +0 give 0).
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <span>

namespace fedpress::compression {

float TernaryMu(std::span<const float> x);

// codes[i] = sign bit of x[i]; x[i] = +-mu.
void TernaryQuantize(std::span<float> x, float mu, std::span<uint32_t> codes);

inline float TernaryValue(float mu, uint32_t code) { return code ? -mu : mu; }

}  // namespace fedpress::compression

// Uniform b-bit quantiser (1..8 bits) with a scale per block of values (a
// block as long as the layer gives a per-layer scale). A block with scale s
// (= max |x| in it) has L = 2^b levels  s * Level(b, q), q = 0..L-1, where
// Level(b, q) = float((2q - (L-1)) / (L-1)) evaluated in double: evenly spaced
// from -s to +s. Rounding is stochastic (unbiased; u from a counter-based hash
// of (key, index), so the same key gives the same codes) or to nearest.
// Error bound per value: one step 2s/(L-1) (stochastic), half a step (nearest),
// each up to float rounding of s * Level.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace fedpress::compression {

// Level(b, q) for b in 1..8, q < 2^b: one table, identical on all IEEE platforms.
const float* UniformLevels(unsigned bits);

inline float UniformDequant(float scale, const float* levels, uint32_t q) { return scale * levels[q]; }

// Quantises x in blocks of `block` values (block >= 1): appends one scale per
// block to *scales, writes codes to codes[0..x.size()), and overwrites x with
// the dequantised values.
void UniformQuantize(std::span<float> x, unsigned bits, size_t block, bool stochastic,
                     uint64_t key, std::vector<float>* scales, std::span<uint32_t> codes);

}  // namespace fedpress::compression

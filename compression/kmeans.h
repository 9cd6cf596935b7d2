// K-means codebook quantiser (FedZip-style): the values of a layer are
// replaced by the nearest of k centroids (1..16) found by Lloyd's algorithm
// in one dimension, initialised at evenly spaced quantiles of a strided sample.
// Deterministic for given input. Codes are ceil(log2 k) bits. Nearest-centroid
// ties go to the lower centroid index; centroids are sorted ascending.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace fedpress::compression {

inline constexpr unsigned kMaxCentroids = 16;

// Bits per code for a codebook of k entries (0 for k = 1).
unsigned CodeBits(unsigned k);

// Fits min(k, distinct-ish) centroids (always returns exactly k finite values,
// sorted) over x with `iterations` Lloyd steps. REQUIRES: x finite, 1 <= k <= 16.
std::vector<float> FitCentroids(std::span<const float> x, unsigned k, unsigned iterations);

// codes[i] = index of the centroid nearest x[i]; x[i] = that centroid.
void AssignCentroids(std::span<float> x, std::span<const float> centroids,
                     std::span<uint32_t> codes);

}  // namespace fedpress::compression

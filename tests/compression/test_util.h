// Shared helpers for the compression tests: deterministic gaussian-ish data
// and a small multi-layer layout.
#pragma once

#include <cmath>
#include <vector>

#include "common/model_weights.h"
#include "compression/rng.h"

namespace fedpress::compression::testing {

inline std::vector<float> Gaussian(size_t n, uint64_t seed, float sigma = 0.01f) {
  std::vector<float> v(n);
  SplitMix64 r(seed);
  for (size_t i = 0; i < n; i += 2) {
    double u1 = (static_cast<double>(r.Next() >> 11) + 1.0) * 0x1.0p-53;
    double u2 = static_cast<double>(r.Next() >> 11) * 0x1.0p-53;
    double m = std::sqrt(-2.0 * std::log(u1));
    v[i] = static_cast<float>(sigma * m * std::cos(2 * M_PI * u2));
    if (i + 1 < n) v[i + 1] = static_cast<float>(sigma * m * std::sin(2 * M_PI * u2));
  }
  return v;
}

inline ModelLayout SmallLayout() {
  return ModelLayout({{"conv.weight", {16, 3, 3, 3}},
                      {"conv.bias", {16}},
                      {"fc.weight", {10, 5000}},
                      {"fc.bias", {10}}});
}

}  // namespace fedpress::compression::testing

#include "compression/kmeans.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace fedpress::compression {
namespace {

// Index of the nearest centroid (sorted c); ties to the lower index.
inline uint32_t Nearest(float v, std::span<const float> c) {
  uint32_t best = 0;
  float bd = std::fabs(v - c[0]);
  for (uint32_t j = 1; j < c.size(); ++j) {
    float d = std::fabs(v - c[j]);
    if (d < bd) {
      bd = d;
      best = j;
    }
  }
  return best;
}

}  // namespace

unsigned CodeBits(unsigned k) { return k <= 1 ? 0 : static_cast<unsigned>(std::bit_width(k - 1)); }

std::vector<float> FitCentroids(std::span<const float> x, unsigned k, unsigned iterations) {
  std::vector<float> c(k, 0.0f);
  if (x.empty()) return c;
  // Init: quantiles of a strided sample of at most 4096 values.
  const size_t step = std::max<size_t>(1, x.size() / 4096);
  std::vector<float> sample;
  for (size_t i = 0; i < x.size(); i += step) sample.push_back(x[i]);
  std::sort(sample.begin(), sample.end());
  for (unsigned j = 0; j < k; ++j) c[j] = sample[((2 * j + 1) * sample.size()) / (2 * k)];
  std::vector<double> sum(k);
  std::vector<size_t> cnt(k);
  for (unsigned it = 0; it < iterations; ++it) {
    std::fill(sum.begin(), sum.end(), 0.0);
    std::fill(cnt.begin(), cnt.end(), 0);
    for (float v : x) {
      uint32_t j = Nearest(v, c);
      sum[j] += v;
      ++cnt[j];
    }
    bool moved = false;
    for (unsigned j = 0; j < k; ++j) {
      if (cnt[j] == 0) continue;  // empty cluster keeps its centroid
      float nc = static_cast<float>(sum[j] / static_cast<double>(cnt[j]));
      moved |= nc != c[j];
      c[j] = nc;
    }
    std::sort(c.begin(), c.end());
    if (!moved) break;
  }
  return c;
}

void AssignCentroids(std::span<float> x, std::span<const float> c, std::span<uint32_t> codes) {
  for (size_t i = 0; i < x.size(); ++i) {
    uint32_t j = Nearest(x[i], c);
    codes[i] = j;
    x[i] = c[j];
  }
}

}  // namespace fedpress::compression

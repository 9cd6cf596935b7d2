#include "compression/quantize_uniform.h"

#include <algorithm>
#include <array>
#include <cmath>

#include "compression/rng.h"

namespace fedpress::compression {
namespace {

struct LevelTables {
  std::array<std::array<float, 256>, 9> t{};
  LevelTables() {
    for (unsigned b = 1; b <= 8; ++b) {
      const unsigned m = (1u << b) - 1;
      for (unsigned q = 0; q <= m; ++q)
        t[b][q] = static_cast<float>((2.0 * q - static_cast<double>(m)) / static_cast<double>(m));
    }
  }
};

}  // namespace

const float* UniformLevels(unsigned bits) {
  static const LevelTables tables;
  return tables.t[bits].data();
}

void UniformQuantize(std::span<float> x, unsigned bits, size_t block, bool stochastic,
                     uint64_t key, std::vector<float>* scales, std::span<uint32_t> codes) {
  const float* levels = UniformLevels(bits);
  const uint32_t m = (1u << bits) - 1;
  const float half_m = 0.5f * static_cast<float>(m);
  for (size_t b0 = 0; b0 < x.size(); b0 += block) {
    const size_t b1 = std::min(x.size(), b0 + block);
    float s = 0.0f;
    for (size_t i = b0; i < b1; ++i) s = std::max(s, std::fabs(x[i]));
    scales->push_back(s);
    const float inv = s > 0.0f ? 1.0f / s : 0.0f;
    for (size_t i = b0; i < b1; ++i) {
      // y in [0, m] (clamped against rounding at the ends).
      float y = std::clamp((x[i] * inv + 1.0f) * half_m, 0.0f, static_cast<float>(m));
      float fl = std::floor(y);
      uint32_t q = static_cast<uint32_t>(fl);
      if (stochastic) {
        uint64_t h = CounterHash(key, i >> 1);
        uint32_t r = (i & 1) ? static_cast<uint32_t>(h >> 32) : static_cast<uint32_t>(h);
        q += (UnitFloat(r) < (y - fl)) ? 1u : 0u;
      } else {
        q += (y - fl >= 0.5f) ? 1u : 0u;
      }
      q = std::min(q, m);
      codes[i] = q;
      x[i] = UniformDequant(s, levels, q);
    }
  }
}

}  // namespace fedpress::compression

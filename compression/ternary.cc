#include "compression/ternary.h"

#include <cmath>

namespace fedpress::compression {

float TernaryMu(std::span<const float> x) {
  if (x.empty()) return 0.0f;
  double s = 0;
  for (float v : x) s += std::fabs(v);
  return static_cast<float>(s / static_cast<double>(x.size()));
}

void TernaryQuantize(std::span<float> x, float mu, std::span<uint32_t> codes) {
  for (size_t i = 0; i < x.size(); ++i) {
    uint32_t c = x[i] < 0.0f ? 1u : 0u;
    codes[i] = c;
    x[i] = TernaryValue(mu, c);
  }
}

}  // namespace fedpress::compression

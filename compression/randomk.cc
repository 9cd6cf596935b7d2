#include "compression/randomk.h"

#include <algorithm>
#include <numeric>
#include <unordered_set>

#include "compression/rng.h"

namespace fedpress::compression {

void RandomK(size_t n, size_t k, uint64_t key, std::vector<uint32_t>* out) {
  k = std::min(k, n);
  SplitMix64 rng(key);
  out->clear();
  if (k * 4 >= n) {
    out->resize(n);
    std::iota(out->begin(), out->end(), 0u);
    for (size_t i = 0; i < k; ++i) std::swap((*out)[i], (*out)[i + rng.Below(n - i)]);
    out->resize(k);
  } else {
    std::unordered_set<uint32_t> seen;
    seen.reserve(k * 2);
    for (size_t j = n - k; j < n; ++j) {
      uint32_t t = static_cast<uint32_t>(rng.Below(j + 1));
      uint32_t pick = seen.insert(t).second ? t : static_cast<uint32_t>(j);
      if (pick != t) seen.insert(pick);
      out->push_back(pick);
    }
  }
  std::sort(out->begin(), out->end());
}

}  // namespace fedpress::compression

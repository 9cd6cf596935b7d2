#include "compression/topk.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "compression/rng.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace fedpress::compression {
namespace {

// Layers up to this size use the exact path directly.
constexpr size_t kSmallLayer = 1 << 15;
constexpr size_t kSampleSize = 1 << 13;
constexpr size_t kBlock = 4096;  // overflow checks happen per block

// Composite key: larger = ranks first (magnitude desc, then index asc).
inline uint64_t Composite(uint32_t key, uint32_t idx) {
  return (static_cast<uint64_t>(key) << 32) | (0xFFFFFFFFu - idx);
}

bool AllFinite(std::span<const float> x) {
  uint32_t bad = 0;
  for (float v : x) bad |= MagKey(v) >= kNonFiniteKey ? 1u : 0u;
  return bad == 0;
}

// Selects the top-k of the listed candidate indices (ascending) of x into
// *out, ascending: find the k-th composite key, then filter in order.
void SelectAmong(std::span<const float> x, std::span<const uint32_t> cand, size_t k,
                 TopKScratch* s, std::vector<uint32_t>* out) {
  out->resize(k);
  if (k == 0) return;
  auto& p = s->pairs;
  p.resize(cand.size());
  for (size_t j = 0; j < cand.size(); ++j) p[j] = Composite(MagKey(x[cand[j]]), cand[j]);
  std::nth_element(p.begin(), p.begin() + (k - 1), p.end(), std::greater<uint64_t>());
  const uint64_t kth = p[k - 1];
  size_t w = 0;
  for (uint32_t i : cand) {
    (*out)[w] = i;
    w += Composite(MagKey(x[i]), i) >= kth ? 1 : 0;
    if (w == k) break;
  }
}

void ExactAll(std::span<const float> x, size_t k, TopKScratch* s, std::vector<uint32_t>* out) {
  out->resize(k);
  if (k == 0) return;
  auto& p = s->pairs;
  const size_t n = x.size();
  p.resize(n);
  for (size_t i = 0; i < n; ++i) p[i] = Composite(MagKey(x[i]), static_cast<uint32_t>(i));
  std::nth_element(p.begin(), p.begin() + (k - 1), p.end(), std::greater<uint64_t>());
  const uint64_t kth = p[k - 1];
  size_t w = 0;
  for (size_t i = 0; i < n && w < k; ++i) {
    (*out)[w] = static_cast<uint32_t>(i);
    w += Composite(MagKey(x[i]), static_cast<uint32_t>(i)) >= kth ? 1 : 0;
  }
}

// Reduces the candidates (ascending) to their exact top-k, still ascending;
// returns the threshold later elements must reach: above the k-th key (an
// equal key at a higher index ranks behind all k kept ones).
uint32_t Trim(std::span<const float> x, std::vector<uint32_t>& cand, size_t& c, size_t k,
              TopKScratch* s) {
  auto& p = s->pairs;
  p.resize(c);
  for (size_t j = 0; j < c; ++j) p[j] = Composite(MagKey(x[cand[j]]), cand[j]);
  std::nth_element(p.begin(), p.begin() + (k - 1), p.end(), std::greater<uint64_t>());
  const uint64_t kth = p[k - 1];
  size_t w = 0;
  for (size_t j = 0; j < c && w < k; ++j) {
    uint32_t i = cand[j];
    cand[w] = i;
    w += Composite(MagKey(x[i]), i) >= kth ? 1 : 0;
  }
  c = k;
  return static_cast<uint32_t>(kth >> 32) + 1;
}

template <bool kFuse>
bool Sampled(std::span<float> accm, std::span<const float> x_const, std::span<const float> add,
             size_t k, uint64_t salt, TopKScratch* s, std::vector<uint32_t>* out) {
  const float* xr = kFuse ? accm.data() : x_const.data();
  const size_t n = kFuse ? accm.size() : x_const.size();
  k = std::min(k, n);
  auto merge_all = [&]() -> bool {
    if constexpr (kFuse) {
      uint32_t bad = 0;
      for (size_t i = 0; i < n; ++i) {
        float v = accm[i] + add[i];
        accm[i] = v;
        bad |= MagKey(v) >= kNonFiniteKey ? 1u : 0u;
      }
      return bad == 0;
    } else {
      return AllFinite(x_const);
    }
  };
  std::span<const float> x(xr, n);
  if (k == 0 || k == n || n <= kSmallLayer) {
    if (!merge_all()) return false;
    if (k == n) {
      out->resize(n);
      std::iota(out->begin(), out->end(), 0u);
    } else {
      ExactAll(x, k, s, out);
    }
    return true;
  }
  // 1. Threshold from a strided sample of the (merged) values.
  const size_t m = kSampleSize;
  const size_t stride = n / m;
  const size_t offset = static_cast<size_t>(Mix64(salt) % stride);
  auto& sm = s->sample;
  sm.resize(m);
  for (size_t j = 0; j < m; ++j) {
    size_t i = j * stride + offset;
    float v = kFuse ? accm[i] + add[i] : x_const[i];
    sm[j] = MagKey(v);
  }
  const double want = std::min(1.0, (1.3 * static_cast<double>(k) + 64.0) / static_cast<double>(n));
  size_t rank = static_cast<size_t>(want * static_cast<double>(m));
  uint32_t t = 0;
  if (rank < m && rank > 0) {
    std::nth_element(sm.begin(), sm.begin() + (rank - 1), sm.end(), std::greater<uint32_t>());
    t = sm[rank - 1];
  }
  if (t == 0) {  // sample says almost everything passes: exact path
    if (!merge_all()) return false;
    ExactAll(x, k, s, out);
    return true;
  }
  // 2. One pass: merge (if fused), check finiteness, collect candidates.
  const size_t cap = std::max<size_t>(2 * k, k + kBlock);
  auto& cand = s->cand;
  cand.resize(cap + kBlock + 8);
  size_t c = 0;
  uint32_t bad = 0;
  uint32_t* cp = cand.data();
  size_t i = 0;
  while (i < n) {
    const size_t end = std::min(n, i + kBlock);
    // Groups of 16: a SIMD test, then a branchless scan only when one passes.
#if defined(__SSE2__)
    const __m128i absmask = _mm_set1_epi32(0x7FFFFFFF);
    const __m128i tm1 = _mm_set1_epi32(static_cast<int>(t - 1));  // key >= t <=> key > t-1 (t >= 1)
    const __m128i fmax = _mm_set1_epi32(0x7F7FFFFF);
    __m128i badv = _mm_setzero_si128();
    for (; i + 16 <= end; i += 16) {
      __m128 v[4];
      for (int q = 0; q < 4; ++q) {
        if constexpr (kFuse) {
          v[q] = _mm_add_ps(_mm_loadu_ps(accm.data() + i + 4 * q), _mm_loadu_ps(add.data() + i + 4 * q));
          _mm_storeu_ps(accm.data() + i + 4 * q, v[q]);
        } else {
          v[q] = _mm_loadu_ps(x_const.data() + i + 4 * q);
        }
      }
      __m128i hit = _mm_setzero_si128();
      for (int q = 0; q < 4; ++q) {
        __m128i key = _mm_and_si128(_mm_castps_si128(v[q]), absmask);
        hit = _mm_or_si128(hit, _mm_cmpgt_epi32(key, tm1));
        badv = _mm_or_si128(badv, _mm_cmpgt_epi32(key, fmax));
      }
      if (_mm_movemask_epi8(hit)) {
        for (int j = 0; j < 16; ++j) {
          cp[c] = static_cast<uint32_t>(i + j);
          c += MagKey(xr[i + j]) >= t ? 1 : 0;
        }
      }
    }
    bad |= _mm_movemask_epi8(badv) ? 1u : 0u;
#endif
    for (; i < end; ++i) {
      float v;
      if constexpr (kFuse) {
        v = accm[i] + add[i];
        accm[i] = v;
      } else {
        v = x_const[i];
      }
      uint32_t key = MagKey(v);
      bad |= key >= kNonFiniteKey ? 1u : 0u;
      cp[c] = static_cast<uint32_t>(i);
      c += key >= t ? 1 : 0;
    }
    if (c > cap) {
      if (bad) {  // finish the merge, then report
        if constexpr (kFuse)
          for (; i < n; ++i) accm[i] += add[i];
        return false;
      }
      t = Trim(x, cand, c, k, s);
    }
  }
  if (bad) return false;
  if (c < k) {  // threshold too high for this layer: exact fallback
    ExactAll(x, k, s, out);
    return true;
  }
  SelectAmong(x, std::span<const uint32_t>(cp, c), k, s, out);
  return true;
}

}  // namespace

bool TopKExact(std::span<const float> x, size_t k, TopKScratch* s, std::vector<uint32_t>* out) {
  if (!AllFinite(x)) return false;
  k = std::min(k, x.size());
  ExactAll(x, k, s, out);
  return true;
}

bool TopKSampled(std::span<const float> x, size_t k, uint64_t salt, TopKScratch* s,
                 std::vector<uint32_t>* out) {
  return Sampled<false>({}, x, {}, k, salt, s, out);
}

bool TopKSampledFused(std::span<float> acc, std::span<const float> add, size_t k, uint64_t salt,
                      TopKScratch* s, std::vector<uint32_t>* out) {
  return Sampled<true>(acc, {}, add, k, salt, s, out);
}

}  // namespace fedpress::compression

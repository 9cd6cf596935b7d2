// Top-k sparsification by magnitude, on one layer.
//
// Order (ties defined): element i ranks before j if |x_i| > |x_j|, or if
// |x_i| == |x_j| and i < j. Magnitudes compare as the IEEE bit patterns of
// |x| (so -0 == +0). Top-k = the first k elements in this order; every
// selector here returns exactly that set, as indices sorted ascending.
//
//  * TopKExact: std::nth_element over all n (key, index) pairs. Reference and
//    fallback; O(n) time, 8n bytes of scratch.
//  * TopKSampled (DGC-style): a threshold t is estimated from a strided sample
//    so that ~1.3k elements pass, one branch-light pass collects candidates
//    with |x| >= t (if the candidate buffer overflows, t is raised to the k-th
//    largest candidate, which cannot drop a true member), then exact selection
//    among the candidates corrects to exactly k. If fewer than k pass, it falls
//    back to TopKExact. Same result as TopKExact, at about one streaming pass.
//    The fused form also performs the error-feedback merge acc += add in that
//    same pass and selects on the merged values.
//
// Thread-safety: functions are reentrant given their own scratch.
#pragma once

#include <bit>
#include <cstdint>
#include <span>
#include <vector>

namespace fedpress::compression {

// Monotone key of |v| for finite v; >= 0x7F800000 means non-finite.
inline uint32_t MagKey(float v) { return std::bit_cast<uint32_t>(v) & 0x7FFFFFFFu; }
inline constexpr uint32_t kNonFiniteKey = 0x7F800000u;

struct TopKScratch {
  std::vector<uint64_t> pairs;
  std::vector<uint32_t> cand;
  std::vector<uint32_t> sample;
};

// Sets *out to the top-k indices of x, ascending. Returns false (out
// unspecified) if x holds a non-finite value. k is clamped to x.size().
bool TopKExact(std::span<const float> x, size_t k, TopKScratch* s, std::vector<uint32_t>* out);

// As TopKExact, faster for k << n. `salt` varies the sample offset.
bool TopKSampled(std::span<const float> x, size_t k, uint64_t salt, TopKScratch* s,
                 std::vector<uint32_t>* out);

// acc[i] += add[i] for all i, then top-k of acc, in one pass. Returns false if
// any merged value is non-finite (acc is then fully merged but selection is
// unspecified). REQUIRES: acc.size() == add.size().
bool TopKSampledFused(std::span<float> acc, std::span<const float> add, size_t k, uint64_t salt,
                      TopKScratch* s, std::vector<uint32_t>* out);

}  // namespace fedpress::compression

// Random-k sparsification: k distinct indices of a layer, uniformly at
// random from a seeded SplitMix64 (Floyd's algorithm for k < n/4, partial
// Fisher-Yates otherwise), returned ascending. Values are sent unscaled
// (error feedback carries the rest); the same key always gives the same set.
//
// Thread-safety: pure function.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace fedpress::compression {

void RandomK(size_t n, size_t k, uint64_t key, std::vector<uint32_t>* out);

}  // namespace fedpress::compression

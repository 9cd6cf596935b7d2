#include "server/scheduler.h"

#include <algorithm>

namespace fedpress::server {
namespace {

// splitmix64: small, fast, identical on every platform.
uint64_t SplitMix(uint64_t& x) {
  uint64_t z = (x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

uint64_t RoundSeed(uint64_t job_seed, uint32_t round, uint32_t attempt) {
  // Hash each part in turn so distinct (seed, round, attempt) never collide
  // by simple arithmetic (as seed ^ attempt would).
  uint64_t x = job_seed;
  uint64_t h = SplitMix(x);
  x = h ^ round;
  h = SplitMix(x);
  x = h ^ attempt;
  return SplitMix(x);
}

std::vector<int64_t> SelectClients(std::vector<int64_t> candidates, size_t k, uint64_t seed) {
  std::sort(candidates.begin(), candidates.end());
  candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());
  k = std::min(k, candidates.size());
  uint64_t state = seed;
  // Partial Fisher-Yates: the first k positions become the sample.
  for (size_t i = 0; i < k; ++i) {
    size_t j = i + static_cast<size_t>(SplitMix(state) % (candidates.size() - i));
    std::swap(candidates[i], candidates[j]);
  }
  candidates.resize(k);
  std::sort(candidates.begin(), candidates.end());
  return candidates;
}

}  // namespace fedpress::server

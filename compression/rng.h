// Deterministic pseudo-random numbers for the compression stages (stochastic
// rounding, random-k, sampling). Implemented here, not with <random>
// distributions, so the same seed gives the same bits on every platform and
// standard library. Counter-based: value i of a stream is Hash(seed, stream, i),
// so results do not depend on processing order.
//
// Thread-safety: pure functions and plain values; one SplitMix64 per thread.
#pragma once

#include <cstdint>

namespace fedpress::compression {

// SplitMix64 finaliser (Steele, Lea, Flood 2014): a bijective 64-bit mixer.
inline uint64_t Mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Key of stream `stream` (e.g. layer index) under `seed`.
inline uint64_t StreamKey(uint64_t seed, uint64_t stream) {
  return Mix64(seed ^ Mix64(stream + 0x9E3779B97F4A7C15ull));
}

// The i-th 64-bit value of the stream with key `key`.
inline uint64_t CounterHash(uint64_t key, uint64_t i) {
  return Mix64(key + (i + 1) * 0x9E3779B97F4A7C15ull);
}

// A sequential generator (SplitMix64).
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : s_(seed) {}
  uint64_t Next() { return Mix64(s_ += 0x9E3779B97F4A7C15ull); }
  // Uniform integer in [0, n), n >= 1 (Lemire's multiply-shift with rejection).
  uint64_t Below(uint64_t n) {
    for (;;) {
      uint64_t x = Next();
      __uint128_t m = static_cast<__uint128_t>(x) * n;
      uint64_t lo = static_cast<uint64_t>(m);
      if (lo >= n || lo >= (0 - n) % n) return static_cast<uint64_t>(m >> 64);
    }
  }

 private:
  uint64_t s_;
};

// 24 random bits as a float in [0, 1): exact, platform independent.
inline float UnitFloat(uint32_t bits) { return static_cast<float>(bits >> 8) * 0x1.0p-24f; }

}  // namespace fedpress::compression

#include "compression/fp16.h"

#include <bit>

namespace fedpress::compression {

uint16_t FloatToHalf(float f) {
  uint32_t x = std::bit_cast<uint32_t>(f);
  uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  uint32_t a = x & 0x7FFFFFFFu;
  if (a >= 0x477FF000u) return sign | 0x7BFFu;  // rounds to >= 65520: saturate at 65504
  if (a < 0x38800000u) {                        // below the smallest normal half (2^-14)
    if (a < 0x33000000u) return sign;           // < 2^-25: rounds to zero
    uint32_t m = (a & 0x007FFFFFu) | 0x00800000u;
    int e = static_cast<int>(a >> 23);           // 102..112
    int shift = 126 - e;                          // 14..24
    uint32_t v = m >> shift;
    uint32_t rem = m & ((1u << shift) - 1);
    uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (v & 1))) ++v;
    return sign | static_cast<uint16_t>(v);
  }
  uint32_t v = ((a - 0x38000000u) >> 13);  // rebias exponent 127 -> 15
  uint32_t rem = a & 0x1FFFu;
  if (rem > 0x1000u || (rem == 0x1000u && (v & 1))) ++v;
  if (v >= 0x7C00u) v = 0x7BFFu;
  return sign | static_cast<uint16_t>(v);
}

float HalfToFloat(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t e = (h >> 10) & 0x1Fu;
  uint32_t m = h & 0x3FFu;
  uint32_t bits;
  if (e == 0) {
    if (m == 0) {
      bits = sign;
    } else {  // subnormal half -> normal float
      int shift = 0;
      while ((m & 0x400u) == 0) {
        m <<= 1;
        ++shift;
      }
      m &= 0x3FFu;
      bits = sign | (static_cast<uint32_t>(113 - shift) << 23) | (m << 13);
    }
  } else if (e == 31) {
    bits = sign | 0x7F800000u | (m << 13);
  } else {
    bits = sign | ((e + 112) << 23) | (m << 13);
  }
  return std::bit_cast<float>(bits);
}

}  // namespace fedpress::compression

#include "compression/bitpack.h"

#include <cstring>

namespace fedpress::compression {

void PackBits(std::span<const uint32_t> codes, unsigned width, std::vector<uint8_t>* out) {
  const size_t base = out->size();
  const size_t nbytes = PackedBytes(codes.size(), width);
  out->resize(base + nbytes + 8, 0);  // +8: slack for 64-bit stores
  uint8_t* p = out->data() + base;
  if (width == 0) {
    out->resize(base + nbytes);
    return;
  }
  uint64_t acc = 0;
  unsigned fill = 0;
  size_t o = 0;
  for (uint32_t c : codes) {
    acc |= static_cast<uint64_t>(c) << fill;
    fill += width;
    if (fill >= 32) {
      uint32_t w = static_cast<uint32_t>(acc);
      std::memcpy(p + o, &w, 4);
      o += 4;
      acc >>= 32;
      fill -= 32;
    }
  }
  while (fill > 0) {
    p[o++] = static_cast<uint8_t>(acc);
    acc >>= 8;
    fill = fill > 8 ? fill - 8 : 0;
  }
  out->resize(base + nbytes);
}

void UnpackBits(std::span<const uint8_t> in, unsigned width, size_t first,
                std::span<uint32_t> out) {
  if (width == 0) {
    std::fill(out.begin(), out.end(), 0u);
    return;
  }
  const uint64_t mask = (width == 32) ? 0xFFFFFFFFull : ((uint64_t{1} << width) - 1);
  size_t bit = first * width;
  const size_t n = in.size();
  for (uint32_t& c : out) {
    size_t byte = bit >> 3;
    unsigned shift = bit & 7;
    uint64_t w = 0;
    if (byte + 8 <= n) {
      std::memcpy(&w, in.data() + byte, 8);
    } else {
      for (size_t b = 0; byte + b < n && b < 8; ++b)
        w |= static_cast<uint64_t>(in[byte + b]) << (8 * b);
    }
    c = static_cast<uint32_t>((w >> shift) & mask);
    bit += width;
  }
}

bool PackedTailIsCanonical(std::span<const uint8_t> in, size_t count, unsigned width) {
  if (in.size() != PackedBytes(count, width)) return false;
  size_t bits = count * width;
  if (bits % 8 == 0) return true;
  uint8_t last = in[in.size() - 1];
  return (last >> (bits % 8)) == 0;
}

uint64_t BitReader::Unary(uint64_t limit) {
  uint64_t ones = 0;
  for (;;) {
    Refill();
    if (fill_ == 0) {
      overrun_ = true;
      return limit + 1;
    }
    // Count trailing ones of the available bits.
    uint64_t inv = ~acc_;
    unsigned avail = fill_;
    unsigned t = inv == 0 ? 64 : static_cast<unsigned>(__builtin_ctzll(inv));
    if (t < avail) {
      ones += t;
      acc_ = (t + 1 >= 64) ? 0 : (acc_ >> (t + 1));
      fill_ -= t + 1;
      return ones > limit ? limit + 1 : ones;
    }
    ones += avail;
    acc_ = 0;
    fill_ = 0;
    if (ones > limit) return limit + 1;
  }
}

}  // namespace fedpress::compression

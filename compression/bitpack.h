// Bit packing: fixed-width unsigned codes (0..32 bits each) laid out LSB-first
// in a byte stream (code j occupies bits [j*w, (j+1)*w) counting from bit 0 of
// byte 0), plus a streaming BitReader used by Golomb-Rice decoding. Unused bits
// of the last byte are zero (the decoder checks this).
//
// Thread-safety: pure functions; BitWriter/BitReader are per-thread values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace fedpress::compression {

// Bytes needed for `count` codes of `width` bits.
inline size_t PackedBytes(size_t count, unsigned width) { return (count * width + 7) / 8; }

// Appends codes (each < 2^width) packed at `width` bits to *out.
void PackBits(std::span<const uint32_t> codes, unsigned width, std::vector<uint8_t>* out);

// Appends bits LSB-first.
class BitWriter {
 public:
  explicit BitWriter(std::vector<uint8_t>* out) : out_(out) {}
  // REQUIRES: n <= 32, v < 2^n.
  void Put(uint64_t v, unsigned n) {
    acc_ |= v << fill_;
    fill_ += n;
    while (fill_ >= 8) {
      out_->push_back(static_cast<uint8_t>(acc_));
      acc_ >>= 8;
      fill_ -= 8;
    }
  }
  // Writes out the partial last byte (zero padded).
  void Flush() {
    if (fill_ > 0) out_->push_back(static_cast<uint8_t>(acc_));
    acc_ = 0;
    fill_ = 0;
  }

 private:
  std::vector<uint8_t>* out_;
  uint64_t acc_ = 0;
  unsigned fill_ = 0;
};

// Reads bits LSB-first from a bounded byte span; reading past the end sets
// overrun() and returns zeros.
class BitReader {
 public:
  explicit BitReader(std::span<const uint8_t> in) : in_(in) {}
  // REQUIRES: n <= 32.
  uint32_t Get(unsigned n) {
    if (n == 0) return 0;
    Refill();
    if (fill_ < n) {
      overrun_ = true;
      return 0;
    }
    uint32_t v = static_cast<uint32_t>(acc_ & ((uint64_t{1} << n) - 1));
    acc_ >>= n;
    fill_ -= n;
    return v;
  }
  // One bit.
  uint32_t Bit() { return Get(1); }
  // Counts 1-bits up to the next 0 (consumed), stopping at `limit` ones
  // (then returns limit + 1 and the caller rejects). Overrun sets overrun().
  uint64_t Unary(uint64_t limit);
  bool overrun() const { return overrun_; }
  // True if every byte was reached, fewer than 8 bits remain unread and those
  // are zero: the stream ended exactly at its last (zero-padded) byte.
  bool AtCanonicalEnd() {
    Refill();
    return !overrun_ && pos_ == in_.size() && fill_ < 8 && acc_ == 0;
  }

 private:
  void Refill() {
    while (fill_ <= 56 && pos_ < in_.size()) {
      acc_ |= static_cast<uint64_t>(in_[pos_++]) << fill_;
      fill_ += 8;
    }
  }
  std::span<const uint8_t> in_;
  size_t pos_ = 0;
  uint64_t acc_ = 0;
  unsigned fill_ = 0;
  bool overrun_ = false;
};

// Unpacks out.size() codes of `width` bits starting at code index `first`
// from `in`. REQUIRES: in holds at least PackedBytes(first + out.size(), width).
void UnpackBits(std::span<const uint8_t> in, unsigned width, size_t first,
                std::span<uint32_t> out);

// True if the bits after the last of `count` codes in `in` are zero and
// in.size() == PackedBytes(count, width).
bool PackedTailIsCanonical(std::span<const uint8_t> in, size_t count, unsigned width);

}  // namespace fedpress::compression

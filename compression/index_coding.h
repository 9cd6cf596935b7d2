// Index coding: the positions of the values a sparse layer sends, as gaps
// between strictly increasing indices (gap_0 = idx_0, gap_j = idx_j -
// idx_{j-1} - 1), coded as LEB128 varints, fixed-width bit-packed, or
// Golomb-Rice (unary quotient of 1-bits ended by a 0-bit, then k remainder
// bits, LSB-first). Codec ids are pinned in docs/format.md and never renumbered.
//
// Thread-safety: EncodeIndices is a pure function; an IndexReader is a
// per-thread value.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "common/status.h"
#include "compression/bitpack.h"

namespace fedpress::compression {

enum class IndexCodec : uint8_t {
  kNone = 0,     // dense layer: no indices
  kVarint = 1,   // param must be 0
  kBitpack = 2,  // param = width 0..32
  kRice = 3,     // param = k 0..31
};
inline constexpr uint8_t kMaxIndexCodec = 3;

// What the spec asks for; kAuto picks the smallest encoding (ties: lowest id).
enum class IndexChoice { kAuto, kVarint, kBitpack, kRice };

struct IndexEncoding {
  IndexCodec codec = IndexCodec::kVarint;
  uint8_t param = 0;
};

// Appends the coded indices to *out. REQUIRES: indices strictly increasing.
IndexEncoding EncodeIndices(std::span<const uint32_t> indices, IndexChoice choice,
                            std::vector<uint8_t>* out);

// Size in bytes EncodeIndices would produce for one codec (for tests/estimates).
size_t IndexBytes(std::span<const uint32_t> indices, IndexCodec codec, uint8_t param);

// Streaming, validating decoder: every index is < numel and strictly greater
// than the previous one; the byte section is consumed exactly (canonical
// padding, minimal varints).
class IndexReader {
 public:
  Status Init(IndexCodec codec, uint8_t param, std::span<const uint8_t> bytes, uint64_t count,
              uint64_t numel);
  // Decodes the next out.size() indices. REQUIRES: Init ok, not past count.
  Status Read(std::span<uint32_t> out);
  // After all `count` indices: checks the section ended exactly.
  Status Finish();

 private:
  IndexCodec codec_ = IndexCodec::kNone;
  unsigned param_ = 0;
  std::span<const uint8_t> bytes_;
  uint64_t numel_ = 0;
  uint64_t count_ = 0;
  uint64_t done_ = 0;
  int64_t prev_ = -1;
  size_t pos_ = 0;  // varint byte position
  BitReader bits_{{}};
};

}  // namespace fedpress::compression

// Value sections: how a layer's sent values are stored, one codec per layer.
// Section layout (docs/format.md): u8 codec id, codec params, u32 byte length,
// the bytes. Codec ids are pinned and never renumbered:
//   0 fp32     params: none                     bytes: count x f32
//   1 fp16     params: none                     bytes: count x binary16
//   2 uniform  params: u8 bits (1..8), u32 block (0 = one block), f32 scale
//              per block (finite, >= 0)         bytes: codes packed at `bits`
//   3 kmeans   params: u8 k (1..16), k x f32 centroids (finite)
//                                               bytes: codes packed at CodeBits(k)
//   4 ternary  params: f32 mu (finite, >= 0)     bytes: sign bits packed at 1
// The encoder overwrites the values with exactly what a decoder will produce,
// so error feedback records the true quantisation error.
//
// Thread-safety: EncodeValueSection is reentrant given its own scratch; a
// ValueReader is a per-thread value.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "common/byte_io.h"
#include "common/status.h"

namespace fedpress::compression {

enum class ValueCodec : uint8_t { kFp32 = 0, kFp16 = 1, kUniform = 2, kKMeans = 3, kTernary = 4 };
inline constexpr uint8_t kMaxValueCodec = 4;
// Largest chunk a ValueReader::Read accepts.
inline constexpr size_t kValueChunk = 1024;

struct ValuePlan {
  ValueCodec codec = ValueCodec::kFp32;
  uint8_t bits = 8;          // uniform: 1..8
  uint32_t block = 0;        // uniform: values per scale, 0 = whole layer
  bool stochastic = true;    // uniform: stochastic (true) or nearest rounding
  uint8_t centroids = 4;     // kmeans: 1..16
  uint8_t iterations = 10;   // kmeans: Lloyd steps
  bool operator==(const ValuePlan&) const = default;
};

struct ValueScratch {
  std::vector<uint32_t> codes;
  std::vector<float> scales;
};

// Appends the value section for `values` and replaces each value by its
// decoded form. `key` seeds stochastic rounding. REQUIRES: values finite.
void EncodeValueSection(const ValuePlan& plan, std::span<float> values, uint64_t key,
                        ValueScratch* scratch, std::vector<uint8_t>* out);

// Upper bound on the section size for `count` values (any legal params).
uint64_t MaxValueSectionBytes(uint64_t count);

class ValueReader {
 public:
  // Parses the section header from r and takes its bytes; validates params,
  // lengths and padding. `count` is the number of values the layer declares.
  Status Init(ByteReader& r, uint64_t count);
  // Decodes the next out.size() (<= kValueChunk) values; rejects non-finite.
  Status Read(std::span<float> out);
  ValueCodec codec() const { return codec_; }

 private:
  ValueCodec codec_ = ValueCodec::kFp32;
  uint64_t count_ = 0;
  uint64_t done_ = 0;
  std::span<const uint8_t> bytes_;
  // uniform
  unsigned bits_ = 0;
  uint64_t block_ = 0;
  std::span<const uint8_t> scales_;
  const float* levels_ = nullptr;
  // kmeans / ternary
  std::array<float, 16> table_{};
  unsigned table_size_ = 0;
};

}  // namespace fedpress::compression

// ByteWriter / ByteReader: little-endian encoding of integers, floats and
// length-prefixed strings, the building blocks of every fedpress wire and file
// format. ByteReader never reads past its input: the first failed read makes
// it "failed", later reads return zeros, and error() names the field that did
// not fit, so a parser can read a whole record and check once at the end.
//
// Thread-safety: not thread-safe; one instance per thread.
#pragma once

#include <cstdint>
#include <bit>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace fedpress {

class ByteWriter {
 public:
  explicit ByteWriter(std::vector<uint8_t>* out) : out_(out) {}
  void U8(uint8_t v) { out_->push_back(v); }
  void U16(uint16_t v) { Raw(&v, sizeof v); }
  void U32(uint32_t v) { Raw(&v, sizeof v); }
  void U64(uint64_t v) { Raw(&v, sizeof v); }
  void I64(int64_t v) { Raw(&v, sizeof v); }
  void F32(float v) { Raw(&v, sizeof v); }
  void F64(double v) { Raw(&v, sizeof v); }
  // u32 length, then the bytes.
  void Str(std::string_view s) {
    U32(static_cast<uint32_t>(s.size()));
    Raw(s.data(), s.size());
  }
  void Raw(const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    out_->insert(out_->end(), b, b + n);
  }
  void Floats(std::span<const float> v) { Raw(v.data(), v.size_bytes()); }
  size_t size() const { return out_->size(); }

 private:
  static_assert(std::endian::native == std::endian::little,
                "fedpress formats are little-endian; port ByteWriter first");
  std::vector<uint8_t>* out_;
};

class ByteReader {
 public:
  explicit ByteReader(std::span<const uint8_t> in) : in_(in) {}
  uint8_t U8(const char* field) { uint8_t v = 0; Raw(&v, 1, field); return v; }
  uint16_t U16(const char* field) { uint16_t v = 0; Raw(&v, 2, field); return v; }
  uint32_t U32(const char* field) { uint32_t v = 0; Raw(&v, 4, field); return v; }
  uint64_t U64(const char* field) { uint64_t v = 0; Raw(&v, 8, field); return v; }
  int64_t I64(const char* field) { int64_t v = 0; Raw(&v, 8, field); return v; }
  float F32(const char* field) { float v = 0; Raw(&v, 4, field); return v; }
  double F64(const char* field) { double v = 0; Raw(&v, 8, field); return v; }
  // A u32-length-prefixed string of at most max_len bytes.
  std::string Str(const char* field, size_t max_len = 4096);
  // A view of the next n bytes (empty and failed if fewer remain).
  std::span<const uint8_t> Bytes(size_t n, const char* field);
  void Raw(void* dst, size_t n, const char* field);
  // Marks the reader failed with a message of the caller's (first one wins).
  void Fail(std::string message);

  bool ok() const { return error_.empty(); }
  size_t remaining() const { return in_.size() - pos_; }
  size_t position() const { return pos_; }
  // "" while ok(); else what failed, e.g. "truncated at 'num_layers' (offset 12)".
  const std::string& error() const { return error_; }
  // OK if every byte was consumed without error; else Corruption naming `what`.
  Status Finish(std::string_view what) const;

 private:
  std::span<const uint8_t> in_;
  size_t pos_ = 0;
  std::string error_;
};

}  // namespace fedpress

#include "compression/value_coding.h"

#include <cmath>
#include <cstring>
#include <string>

#include "compression/bitpack.h"
#include "compression/fp16.h"
#include "compression/kmeans.h"
#include "compression/quantize_uniform.h"
#include "compression/ternary.h"

namespace fedpress::compression {
namespace {

Status Bad(const std::string& m) { return Status::Corruption("values: " + m); }

inline bool Finite(float v) { return std::isfinite(v); }

uint64_t NumBlocks(uint64_t count, uint64_t block) {
  if (count == 0) return 0;
  if (block == 0) return 1;
  return (count + block - 1) / block;
}

}  // namespace

uint64_t MaxValueSectionBytes(uint64_t count) {
  // Worst case: uniform with block 1 (1 + 4 + 4 per value + packed codes).
  return 1 + 1 + 4 + 16 * 4 + 4 + count * 9;
}

void EncodeValueSection(const ValuePlan& plan, std::span<float> v, uint64_t key,
                        ValueScratch* s, std::vector<uint8_t>* out) {
  ByteWriter w(out);
  w.U8(static_cast<uint8_t>(plan.codec));
  const size_t n = v.size();
  if (plan.codec != ValueCodec::kFp32 && plan.codec != ValueCodec::kFp16) s->codes.resize(n);
  switch (plan.codec) {
    case ValueCodec::kFp32:
      w.U32(static_cast<uint32_t>(n * 4));
      w.Floats(v);
      break;
    case ValueCodec::kFp16: {
      w.U32(static_cast<uint32_t>(n * 2));
      size_t base = out->size();
      out->resize(base + n * 2);
      uint8_t* p = out->data() + base;
      for (size_t i = 0; i < n; ++i) {
        uint16_t h = FloatToHalf(v[i]);
        std::memcpy(p + 2 * i, &h, 2);
        v[i] = HalfToFloat(h);
      }
      break;
    }
    case ValueCodec::kUniform: {
      const size_t block = plan.block == 0 ? std::max<size_t>(n, 1) : plan.block;
      s->scales.clear();
      UniformQuantize(v, plan.bits, block, plan.stochastic, key, &s->scales, s->codes);
      w.U8(plan.bits);
      w.U32(plan.block);
      w.Floats(s->scales);
      w.U32(static_cast<uint32_t>(PackedBytes(n, plan.bits)));
      PackBits(s->codes, plan.bits, out);
      break;
    }
    case ValueCodec::kKMeans: {
      std::vector<float> c = FitCentroids(v, plan.centroids, plan.iterations);
      AssignCentroids(v, c, s->codes);
      unsigned bits = CodeBits(plan.centroids);
      w.U8(plan.centroids);
      w.Floats(c);
      w.U32(static_cast<uint32_t>(PackedBytes(n, bits)));
      PackBits(s->codes, bits, out);
      break;
    }
    case ValueCodec::kTernary: {
      float mu = TernaryMu(v);
      TernaryQuantize(v, mu, s->codes);
      w.F32(mu);
      w.U32(static_cast<uint32_t>(PackedBytes(n, 1)));
      PackBits(s->codes, 1, out);
      break;
    }
  }
}

Status ValueReader::Init(ByteReader& r, uint64_t count) {
  count_ = count;
  done_ = 0;
  uint8_t id = r.U8("value codec");
  if (!r.ok()) return Bad(r.error());
  if (id > kMaxValueCodec) return Bad("unknown value codec " + std::to_string(id));
  codec_ = static_cast<ValueCodec>(id);
  uint64_t expect = 0;
  switch (codec_) {
    case ValueCodec::kFp32:
      expect = count * 4;
      break;
    case ValueCodec::kFp16:
      expect = count * 2;
      break;
    case ValueCodec::kUniform: {
      bits_ = r.U8("uniform bits");
      uint32_t block = r.U32("uniform block");
      if (!r.ok()) return Bad(r.error());
      if (bits_ < 1 || bits_ > 8) return Bad("uniform bits " + std::to_string(bits_) + " not in 1..8");
      block_ = block == 0 ? std::max<uint64_t>(count, 1) : block;
      uint64_t nb = NumBlocks(count, block_);
      if (nb * 4 > r.remaining()) return Bad("truncated at uniform scales (" + std::to_string(nb) + " blocks)");
      scales_ = r.Bytes(static_cast<size_t>(nb * 4), "uniform scales");
      for (uint64_t b = 0; b < nb; ++b) {
        float s;
        std::memcpy(&s, scales_.data() + 4 * b, 4);
        if (!Finite(s) || s < 0.0f) return Bad("uniform scale " + std::to_string(b) + " is not finite and >= 0");
      }
      levels_ = UniformLevels(bits_);
      expect = PackedBytes(count, bits_);
      break;
    }
    case ValueCodec::kKMeans: {
      unsigned k = r.U8("kmeans k");
      if (!r.ok()) return Bad(r.error());
      if (k < 1 || k > kMaxCentroids) return Bad("codebook size " + std::to_string(k) + " not in 1..16");
      table_size_ = k;
      for (unsigned j = 0; j < k; ++j) {
        table_[j] = r.F32("centroid");
        if (r.ok() && !Finite(table_[j])) return Bad("centroid " + std::to_string(j) + " is not finite");
      }
      bits_ = CodeBits(k);
      expect = PackedBytes(count, bits_);
      break;
    }
    case ValueCodec::kTernary: {
      float mu = r.F32("ternary mu");
      if (r.ok() && (!Finite(mu) || mu < 0.0f)) return Bad("ternary mu is not finite and >= 0");
      table_[0] = TernaryValue(mu, 0);
      table_[1] = TernaryValue(mu, 1);
      table_size_ = 2;
      bits_ = 1;
      expect = PackedBytes(count, 1);
      break;
    }
  }
  uint32_t nbytes = r.U32("value bytes");
  if (!r.ok()) return Bad(r.error());
  if (nbytes != expect)
    return Bad("section is " + std::to_string(nbytes) + " bytes, expected " + std::to_string(expect) +
               " for " + std::to_string(count) + " values");
  bytes_ = r.Bytes(nbytes, "value bytes");
  if (!r.ok()) return Bad(r.error());
  if (codec_ != ValueCodec::kFp32 && codec_ != ValueCodec::kFp16 &&
      !PackedTailIsCanonical(bytes_, count, bits_))
    return Bad("non-zero padding bits");
  return Status::OK();
}

Status ValueReader::Read(std::span<float> out) {
  const size_t n = out.size();
  if (n > kValueChunk || n > count_ - done_) return Status::Internal("ValueReader: bad chunk");
  switch (codec_) {
    case ValueCodec::kFp32: {
      std::memcpy(out.data(), bytes_.data() + done_ * 4, n * 4);
      uint32_t bad = 0;
      for (size_t i = 0; i < n; ++i) {
        uint32_t b;
        std::memcpy(&b, &out[i], 4);
        bad |= ((b & 0x7F800000u) == 0x7F800000u) ? 1u : 0u;
      }
      if (bad) return Bad("non-finite fp32 value");
      break;
    }
    case ValueCodec::kFp16: {
      const uint8_t* p = bytes_.data() + done_ * 2;
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        if (HalfIsNonFinite(h)) return Bad("non-finite fp16 value");
        out[i] = HalfToFloat(h);
      }
      break;
    }
    case ValueCodec::kUniform: {
      uint32_t codes[kValueChunk];
      UnpackBits(bytes_, bits_, done_, std::span<uint32_t>(codes, n));
      uint64_t blk = done_ / block_;
      uint64_t in_blk = done_ % block_;
      float s;
      std::memcpy(&s, scales_.data() + 4 * blk, 4);
      for (size_t i = 0; i < n; ++i) {
        if (in_blk == block_) {
          in_blk = 0;
          ++blk;
          std::memcpy(&s, scales_.data() + 4 * blk, 4);
        }
        out[i] = UniformDequant(s, levels_, codes[i]);
        ++in_blk;
      }
      break;
    }
    case ValueCodec::kKMeans:
    case ValueCodec::kTernary: {
      uint32_t codes[kValueChunk];
      UnpackBits(bytes_, bits_, done_, std::span<uint32_t>(codes, n));
      for (size_t i = 0; i < n; ++i) {
        if (codes[i] >= table_size_)
          return Bad("code " + std::to_string(codes[i]) + " >= codebook size " + std::to_string(table_size_));
        out[i] = table_[codes[i]];
      }
      break;
    }
  }
  done_ += n;
  return Status::OK();
}

}  // namespace fedpress::compression

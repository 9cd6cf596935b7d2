#include "compression/index_coding.h"

#include <bit>
#include <string>

namespace fedpress::compression {
namespace {

inline uint32_t Gap(std::span<const uint32_t> idx, size_t j) {
  return j == 0 ? idx[0] : idx[j] - idx[j - 1] - 1;
}

size_t VarintLen(uint32_t g) { return g < (1u << 7) ? 1 : g < (1u << 14) ? 2 : g < (1u << 21) ? 3 : g < (1u << 28) ? 4 : 5; }

uint64_t RiceBits(std::span<const uint32_t> idx, unsigned k) {
  uint64_t bits = 0;
  for (size_t j = 0; j < idx.size(); ++j) bits += (Gap(idx, j) >> k) + 1 + k;
  return bits;
}

Status Bad(const std::string& m) { return Status::Corruption("indices: " + m); }

}  // namespace

size_t IndexBytes(std::span<const uint32_t> idx, IndexCodec codec, uint8_t param) {
  switch (codec) {
    case IndexCodec::kNone:
      return 0;
    case IndexCodec::kVarint: {
      size_t n = 0;
      for (size_t j = 0; j < idx.size(); ++j) n += VarintLen(Gap(idx, j));
      return n;
    }
    case IndexCodec::kBitpack:
      return PackedBytes(idx.size(), param);
    case IndexCodec::kRice:
      return (RiceBits(idx, param) + 7) / 8;
  }
  return 0;
}

IndexEncoding EncodeIndices(std::span<const uint32_t> idx, IndexChoice choice,
                            std::vector<uint8_t>* out) {
  IndexEncoding e;
  // One pass for the statistics every choice needs.
  uint64_t sum = 0, varint = 0;
  uint32_t maxgap = 0;
  for (size_t j = 0; j < idx.size(); ++j) {
    uint32_t g = Gap(idx, j);
    sum += g;
    maxgap = std::max(maxgap, g);
    varint += VarintLen(g);
  }
  const uint8_t width = static_cast<uint8_t>(std::bit_width(maxgap));
  // Rice: k around log2(mean gap); the best of three candidates, in one pass.
  uint8_t rice_k = 0;
  uint64_t rice_bits = 0;
  if (choice == IndexChoice::kAuto || choice == IndexChoice::kRice) {
    uint64_t mean = idx.empty() ? 0 : sum / idx.size();
    unsigned k0 = mean == 0 ? 0 : static_cast<unsigned>(std::bit_width(mean)) - 1;
    unsigned ks[3] = {k0 == 0 ? 0 : k0 - 1, k0, std::min(k0 + 1, 31u)};
    uint64_t bits[3] = {0, 0, 0};
    for (size_t j = 0; j < idx.size(); ++j) {
      uint32_t g = Gap(idx, j);
      bits[0] += g >> ks[0];
      bits[1] += g >> ks[1];
      bits[2] += g >> ks[2];
    }
    rice_k = static_cast<uint8_t>(ks[1]);
    rice_bits = bits[1] + idx.size() * (1 + ks[1]);
    for (int q : {0, 2}) {
      uint64_t b = bits[q] + idx.size() * (1 + ks[q]);
      if (b < rice_bits || (b == rice_bits && ks[q] < rice_k)) {
        rice_bits = b;
        rice_k = static_cast<uint8_t>(ks[q]);
      }
    }
  }
  switch (choice) {
    case IndexChoice::kVarint: e = {IndexCodec::kVarint, 0}; break;
    case IndexChoice::kBitpack: e = {IndexCodec::kBitpack, width}; break;
    case IndexChoice::kRice: e = {IndexCodec::kRice, rice_k}; break;
    case IndexChoice::kAuto: {
      const uint64_t b = PackedBytes(idx.size(), width), r = (rice_bits + 7) / 8;
      e = {IndexCodec::kVarint, 0};
      uint64_t best = varint;
      if (b < best) { e = {IndexCodec::kBitpack, width}; best = b; }
      if (r < best) { e = {IndexCodec::kRice, rice_k}; best = r; }
      break;
    }
  }
  switch (e.codec) {
    case IndexCodec::kNone:
      break;
    case IndexCodec::kVarint: {
      out->reserve(out->size() + idx.size() * 2);
      for (size_t j = 0; j < idx.size(); ++j) {
        uint32_t g = Gap(idx, j);
        while (g >= 0x80) {
          out->push_back(static_cast<uint8_t>(g | 0x80));
          g >>= 7;
        }
        out->push_back(static_cast<uint8_t>(g));
      }
      break;
    }
    case IndexCodec::kBitpack: {
      std::vector<uint32_t> gaps(idx.size());
      for (size_t j = 0; j < idx.size(); ++j) gaps[j] = Gap(idx, j);
      PackBits(gaps, e.param, out);
      break;
    }
    case IndexCodec::kRice: {
      BitWriter w(out);
      const unsigned k = e.param;
      for (size_t j = 0; j < idx.size(); ++j) {
        uint32_t g = Gap(idx, j);
        uint64_t q = g >> k;
        while (q >= 32) {
          w.Put(0xFFFFFFFFu, 32);
          q -= 32;
        }
        w.Put((uint64_t{1} << q) - 1, static_cast<unsigned>(q) + 1);  // q ones then a zero
        if (k) w.Put(g & ((uint64_t{1} << k) - 1), k);
      }
      w.Flush();
      break;
    }
  }
  return e;
}

Status IndexReader::Init(IndexCodec codec, uint8_t param, std::span<const uint8_t> bytes,
                         uint64_t count, uint64_t numel) {
  codec_ = codec;
  param_ = param;
  bytes_ = bytes;
  count_ = count;
  numel_ = numel;
  done_ = 0;
  prev_ = -1;
  pos_ = 0;
  bits_ = BitReader(bytes);
  switch (codec) {
    case IndexCodec::kNone:
      return Bad("codec 0 (none) in a sparse layer");
    case IndexCodec::kVarint:
      if (param != 0) return Bad("varint param must be 0, got " + std::to_string(param));
      if (bytes.size() < count || bytes.size() > count * 5)
        return Bad("varint section of " + std::to_string(bytes.size()) + " bytes cannot hold " +
                   std::to_string(count) + " indices");
      return Status::OK();
    case IndexCodec::kBitpack:
      if (param > 32) return Bad("bit width " + std::to_string(param) + " > 32");
      if (bytes.size() != PackedBytes(count, param))
        return Bad("bit-packed section is " + std::to_string(bytes.size()) + " bytes, expected " +
                   std::to_string(PackedBytes(count, param)));
      if (!PackedTailIsCanonical(bytes, count, param)) return Bad("non-zero padding bits");
      return Status::OK();
    case IndexCodec::kRice:
      if (param > 31) return Bad("Rice parameter " + std::to_string(param) + " > 31");
      if (bytes.size() < (count * (param + 1) + 7) / 8)
        return Bad("Rice section of " + std::to_string(bytes.size()) + " bytes cannot hold " +
                   std::to_string(count) + " indices");
      return Status::OK();
  }
  return Bad("unknown index codec " + std::to_string(static_cast<int>(codec)));
}

Status IndexReader::Read(std::span<uint32_t> out) {
  if (out.size() > count_ - done_) return Status::Internal("IndexReader read past count");
  int64_t prev = prev_;
  const int64_t numel = static_cast<int64_t>(numel_);
  switch (codec_) {
    case IndexCodec::kVarint: {
      const uint8_t* p = bytes_.data();
      const size_t n = bytes_.size();
      size_t pos = pos_;
      for (uint32_t& o : out) {
        uint64_t g = 0;
        unsigned shift = 0;
        for (;;) {
          if (pos >= n) return Bad("varint section truncated");
          uint8_t b = p[pos++];
          g |= static_cast<uint64_t>(b & 0x7F) << shift;
          if (!(b & 0x80)) {
            if (b == 0 && shift > 0) return Bad("overlong varint");
            break;
          }
          shift += 7;
          if (shift >= 35) return Bad("varint longer than 5 bytes");
        }
        int64_t idx = prev + 1 + static_cast<int64_t>(g);
        if (idx >= numel)
          return Bad("index " + std::to_string(idx) + " out of range (layer has " +
                     std::to_string(numel) + " elements)");
        o = static_cast<uint32_t>(idx);
        prev = idx;
      }
      pos_ = pos;
      break;
    }
    case IndexCodec::kBitpack: {
      UnpackBits(bytes_, param_, done_, out);
      for (uint32_t& o : out) {
        int64_t idx = prev + 1 + static_cast<int64_t>(o);
        if (idx >= numel)
          return Bad("index " + std::to_string(idx) + " out of range (layer has " +
                     std::to_string(numel) + " elements)");
        o = static_cast<uint32_t>(idx);
        prev = idx;
      }
      break;
    }
    case IndexCodec::kRice: {
      const uint64_t qlimit = numel_ >> param_;
      for (uint32_t& o : out) {
        uint64_t q = bits_.Unary(qlimit);
        if (q > qlimit) return Bad("Rice quotient too large or section truncated");
        uint64_t g = (q << param_) | bits_.Get(param_);
        if (bits_.overrun()) return Bad("Rice section truncated");
        int64_t idx = prev + 1 + static_cast<int64_t>(g);
        if (idx >= numel)
          return Bad("index " + std::to_string(idx) + " out of range (layer has " +
                     std::to_string(numel) + " elements)");
        o = static_cast<uint32_t>(idx);
        prev = idx;
      }
      break;
    }
    case IndexCodec::kNone:
      return Bad("no index codec");
  }
  prev_ = prev;
  done_ += out.size();
  return Status::OK();
}

Status IndexReader::Finish() {
  if (done_ != count_) return Status::Internal("IndexReader finished early");
  switch (codec_) {
    case IndexCodec::kVarint:
      if (pos_ != bytes_.size())
        return Bad(std::to_string(bytes_.size() - pos_) + " trailing bytes after varints");
      break;
    case IndexCodec::kRice:
      if (!bits_.AtCanonicalEnd()) return Bad("trailing or non-zero padding bits after Rice codes");
      break;
    default:
      break;
  }
  return Status::OK();
}

}  // namespace fedpress::compression

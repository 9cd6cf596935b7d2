// Property tests for the individual stages: bit packing, fp16, index coding,
// uniform / k-means / ternary quantisers, top-k (ties), random-k, CRC.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "common/byte_io.h"
#include "common/checksum.h"
#include "compression/bitpack.h"
#include "compression/fp16.h"
#include "compression/index_coding.h"
#include "compression/kmeans.h"
#include "compression/quantize_uniform.h"
#include "compression/randomk.h"
#include "compression/ternary.h"
#include "compression/topk.h"
#include "compression/value_coding.h"
#include "tests/compression/test_util.h"

namespace fedpress::compression {
namespace {

TEST(BitPack, RoundTripsEveryWidth) {
  SplitMix64 r(1);
  for (unsigned w = 0; w <= 32; ++w) {
    for (size_t n : {0, 1, 7, 8, 9, 100, 1001}) {
      std::vector<uint32_t> codes(n);
      for (auto& c : codes) c = w == 0 ? 0 : static_cast<uint32_t>(r.Next() & ((uint64_t{1} << w) - 1));
      std::vector<uint8_t> buf;
      PackBits(codes, w, &buf);
      ASSERT_EQ(buf.size(), PackedBytes(n, w));
      EXPECT_TRUE(PackedTailIsCanonical(buf, n, w));
      std::vector<uint32_t> back(n);
      UnpackBits(buf, w, 0, back);
      EXPECT_EQ(back, codes) << "width " << w << " n " << n;
      if (n > 5) {  // from an offset
        std::vector<uint32_t> tail(n - 5);
        UnpackBits(buf, w, 5, tail);
        EXPECT_TRUE(std::equal(tail.begin(), tail.end(), codes.begin() + 5));
      }
    }
  }
}

TEST(Fp16, ExactOnHalfValuesAndRoundsToNearestEven) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    if (HalfIsNonFinite(static_cast<uint16_t>(h))) continue;
    float f = HalfToFloat(static_cast<uint16_t>(h));
    uint16_t back = FloatToHalf(f);
    if ((h & 0x7FFF) == 0) {
      EXPECT_EQ(back & 0x7FFF, 0);
    } else {
      EXPECT_EQ(back, h) << h;
    }
  }
  EXPECT_EQ(HalfToFloat(FloatToHalf(1e6f)), 65504.0f);  // saturates
  EXPECT_EQ(HalfToFloat(FloatToHalf(-1e30f)), -65504.0f);
  // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties to even -> 1.
  EXPECT_EQ(HalfToFloat(FloatToHalf(1.0f + 0x1.0p-11f)), 1.0f);
  EXPECT_EQ(HalfToFloat(FloatToHalf(1.0f + 3 * 0x1.0p-11f)), 1.0f + 0x1.0p-9f);
  // Error bound on random values in range: relative 2^-11.
  auto v = testing::Gaussian(10000, 3, 10.0f);
  for (float x : v) {
    float y = HalfToFloat(FloatToHalf(x));
    if (std::fabs(x) > 6.2e-5f) {
      EXPECT_LE(std::fabs(x - y), std::fabs(x) * 0x1.0p-11f) << x;
    }
  }
}

std::vector<uint32_t> RandomSortedIndices(size_t n, size_t k, uint64_t seed) {
  std::vector<uint32_t> idx;
  RandomK(n, k, seed, &idx);
  return idx;
}

TEST(IndexCoding, EveryCodecRoundTripsExactly) {
  struct Case { size_t n, k; };
  for (Case c : {Case{1, 1}, Case{10, 0}, Case{10, 10}, Case{1000, 3}, Case{100000, 1000},
                 Case{1u << 20, 5000}, Case{1u << 20, 1}}) {
    auto idx = RandomSortedIndices(c.n, c.k, c.n * 31 + c.k);
    if (c.n == (1u << 20) && c.k == 1) idx = {static_cast<uint32_t>(c.n - 1)};  // one huge gap
    for (IndexChoice ch : {IndexChoice::kAuto, IndexChoice::kVarint, IndexChoice::kBitpack, IndexChoice::kRice}) {
      std::vector<uint8_t> buf;
      IndexEncoding e = EncodeIndices(idx, ch, &buf);
      EXPECT_EQ(buf.size(), IndexBytes(idx, e.codec, e.param));
      IndexReader r;
      ASSERT_TRUE(r.Init(e.codec, e.param, buf, idx.size(), c.n).ok());
      std::vector<uint32_t> back(idx.size());
      for (size_t done = 0; done < back.size(); done += 100) {
        size_t m = std::min<size_t>(100, back.size() - done);
        ASSERT_TRUE(r.Read({back.data() + done, m}).ok());
      }
      ASSERT_TRUE(r.Finish().ok());
      EXPECT_EQ(back, idx);
    }
  }
}

TEST(IndexCoding, AutoPicksTheSmallest) {
  auto idx = RandomSortedIndices(1 << 20, 10000, 5);
  std::vector<uint8_t> buf;
  IndexEncoding e = EncodeIndices(idx, IndexChoice::kAuto, &buf);
  for (IndexChoice ch : {IndexChoice::kVarint, IndexChoice::kBitpack, IndexChoice::kRice}) {
    std::vector<uint8_t> other;
    EncodeIndices(idx, ch, &other);
    EXPECT_LE(buf.size(), other.size());
  }
  EXPECT_EQ(e.codec, IndexCodec::kRice);  // geometric gaps: Rice is optimal-ish
}

TEST(IndexCoding, RejectsOutOfRangeAndNonCanonical) {
  std::vector<uint32_t> idx = {3, 9, 10};
  std::vector<uint8_t> buf;
  EncodeIndices(idx, IndexChoice::kVarint, &buf);
  std::vector<uint32_t> out(3);
  IndexReader r;
  ASSERT_TRUE(r.Init(IndexCodec::kVarint, 0, buf, 3, 10).ok());  // 10 is out of range for n=10
  EXPECT_FALSE(r.Read(out).ok());
  // Overlong varint: 0x80 0x00 encodes 0 in two bytes.
  std::vector<uint8_t> overlong = {0x80, 0x00};
  ASSERT_TRUE(r.Init(IndexCodec::kVarint, 0, overlong, 1, 10).ok());
  EXPECT_FALSE(r.Read({out.data(), 1}).ok());
  // Trailing bytes.
  std::vector<uint8_t> trailing = {0x01, 0x00};
  ASSERT_TRUE(r.Init(IndexCodec::kVarint, 0, trailing, 1, 10).ok());
  ASSERT_TRUE(r.Read({out.data(), 1}).ok());
  EXPECT_FALSE(r.Finish().ok());
  // Bit-packed with padding bits set.
  std::vector<uint8_t> bp = {0xFF};
  EXPECT_FALSE(r.Init(IndexCodec::kBitpack, 3, bp, 2, 100).ok());
  // Rice all ones: quotient runs off the end.
  std::vector<uint8_t> ones(8, 0xFF);
  ASSERT_TRUE(r.Init(IndexCodec::kRice, 0, ones, 1, 1000).ok());
  EXPECT_FALSE(r.Read({out.data(), 1}).ok());
  EXPECT_FALSE(r.Init(IndexCodec::kRice, 32, ones, 1, 1000).ok());
  EXPECT_FALSE(r.Init(IndexCodec::kBitpack, 33, ones, 1, 1000).ok());
}

TEST(Uniform, ErrorWithinOneStepAndUnbiased) {
  auto x = testing::Gaussian(100000, 7, 1.0f);
  for (unsigned bits = 1; bits <= 8; ++bits) {
    for (bool stochastic : {true, false}) {
      for (size_t block : {size_t{256}, x.size()}) {
        std::vector<float> q = x;
        std::vector<float> scales;
        std::vector<uint32_t> codes(x.size());
        UniformQuantize(q, bits, block, stochastic, 42, &scales, codes);
        ASSERT_EQ(scales.size(), (x.size() + block - 1) / block);
        const float m = static_cast<float>((1u << bits) - 1);
        double bias = 0;
        for (size_t i = 0; i < x.size(); ++i) {
          float s = scales[i / block];
          float step = 2 * s / m;
          float bound = (stochastic ? step : step / 2) * 1.0001f + 1e-7f;
          ASSERT_LE(std::fabs(q[i] - x[i]), bound) << bits << " " << i;
          ASSERT_LT(codes[i], 1u << bits);
          ASSERT_EQ(q[i], UniformDequant(s, UniformLevels(bits), codes[i]));
          bias += q[i] - x[i];
        }
        if (stochastic && bits >= 2) {
          EXPECT_LT(std::fabs(bias / x.size()), 0.01);
        }
      }
    }
  }
  // Deterministic given the key.
  std::vector<float> a = x, b = x, sa, sb;
  std::vector<uint32_t> ca(x.size()), cb(x.size());
  UniformQuantize(a, 4, 256, true, 9, &sa, ca);
  UniformQuantize(b, 4, 256, true, 9, &sb, cb);
  EXPECT_EQ(ca, cb);
}

TEST(Uniform, LevelsAreSymmetricAndEndAtOne) {
  for (unsigned b = 1; b <= 8; ++b) {
    const float* l = UniformLevels(b);
    unsigned m = (1u << b) - 1;
    EXPECT_EQ(l[0], -1.0f);
    EXPECT_EQ(l[m], 1.0f);
    for (unsigned q = 0; q <= m; ++q) EXPECT_EQ(l[q], -l[m - q]);
  }
}

TEST(KMeans, CodebookIsSortedFiniteAndNearest) {
  auto x = testing::Gaussian(20000, 11, 1.0f);
  for (unsigned k : {1u, 2u, 3u, 4u, 16u}) {
    auto c = FitCentroids(x, k, 10);
    ASSERT_EQ(c.size(), k);
    EXPECT_TRUE(std::is_sorted(c.begin(), c.end()));
    std::vector<float> q = x;
    std::vector<uint32_t> codes(x.size());
    AssignCentroids(q, c, codes);
    for (size_t i = 0; i < x.size(); i += 97) {
      ASSERT_LT(codes[i], k);
      for (float cj : c) ASSERT_LE(std::fabs(x[i] - q[i]), std::fabs(x[i] - cj));
    }
    EXPECT_EQ(FitCentroids(x, k, 10), c);  // deterministic
  }
  EXPECT_EQ(CodeBits(1), 0u);
  EXPECT_EQ(CodeBits(3), 2u);
  EXPECT_EQ(CodeBits(16), 4u);
}

TEST(Ternary, MeanMagnitudeAndSigns) {
  std::vector<float> x = {1.0f, -3.0f, 2.0f, -0.0f};
  float mu = TernaryMu(x);
  EXPECT_FLOAT_EQ(mu, 1.5f);
  std::vector<uint32_t> codes(4);
  TernaryQuantize(x, mu, codes);
  EXPECT_EQ(codes, (std::vector<uint32_t>{0, 1, 0, 0}));
  EXPECT_EQ(x, (std::vector<float>{1.5f, -1.5f, 1.5f, 1.5f}));
}

TEST(ValueSections, LosslessCodecsRoundTripExactly) {
  auto x = testing::Gaussian(3000, 13);
  for (ValueCodec c : {ValueCodec::kFp32, ValueCodec::kFp16, ValueCodec::kUniform, ValueCodec::kKMeans,
                       ValueCodec::kTernary}) {
    ValuePlan p;
    p.codec = c;
    p.bits = 5;
    p.block = 64;
    std::vector<float> v = x;
    ValueScratch s;
    std::vector<uint8_t> buf;
    EncodeValueSection(p, v, 1, &s, &buf);
    if (c == ValueCodec::kFp32) {
      EXPECT_EQ(v, x);
    }
    ByteReader r(buf);
    ValueReader vr;
    ASSERT_TRUE(vr.Init(r, x.size()).ok());
    EXPECT_EQ(r.remaining(), 0u);
    std::vector<float> back(x.size());
    for (size_t d = 0; d < back.size(); d += kValueChunk)
      ASSERT_TRUE(vr.Read({back.data() + d, std::min(kValueChunk, back.size() - d)}).ok());
    EXPECT_EQ(back, v) << static_cast<int>(c);  // decoder reproduces the encoder's view bit for bit
  }
}

// Reference: sort all (magnitude desc, index asc) and take k.
std::vector<uint32_t> ReferenceTopK(const std::vector<float>& x, size_t k) {
  std::vector<uint32_t> order(x.size());
  std::iota(order.begin(), order.end(), 0u);
  std::stable_sort(order.begin(), order.end(),
                   [&](uint32_t a, uint32_t b) { return MagKey(x[a]) > MagKey(x[b]); });
  order.resize(k);
  std::sort(order.begin(), order.end());
  return order;
}

TEST(TopK, ExactAndSampledKeepExactlyTheKLargestWithDocumentedTies) {
  TopKScratch s;
  for (size_t n : {size_t{10}, size_t{1000}, size_t{40000}, size_t{300000}}) {
    for (double ratio : {0.001, 0.01, 0.1, 0.5}) {
      auto x = testing::Gaussian(n, n + static_cast<uint64_t>(ratio * 1000));
      // Plant ties: quantise magnitudes coarsely so many equal keys exist.
      if (n == 40000)
        for (auto& v : x) v = std::round(v * 300.0f) / 300.0f;
      size_t k = std::max<size_t>(1, static_cast<size_t>(ratio * n));
      auto want = ReferenceTopK(x, k);
      std::vector<uint32_t> a, b;
      ASSERT_TRUE(TopKExact(x, k, &s, &a));
      ASSERT_TRUE(TopKSampled(x, k, 99, &s, &b));
      EXPECT_EQ(a, want) << n << " " << ratio;
      EXPECT_EQ(b, want) << n << " " << ratio;
    }
  }
}

TEST(TopK, AllEqualMagnitudesPickLowestIndices) {
  std::vector<float> x(200000);
  for (size_t i = 0; i < x.size(); ++i) x[i] = (i % 2) ? 1.0f : -1.0f;
  TopKScratch s;
  std::vector<uint32_t> out;
  ASSERT_TRUE(TopKSampled(x, 1000, 1, &s, &out));
  std::vector<uint32_t> want(1000);
  std::iota(want.begin(), want.end(), 0u);
  EXPECT_EQ(out, want);
}

TEST(TopK, SkewedDataForcesOverflowTrimAndFallback) {
  // Sample sees small values, the tail of the layer is large: overflow path.
  std::vector<float> x = testing::Gaussian(200000, 5);
  for (size_t i = 150000; i < x.size(); ++i) x[i] *= 100.0f;
  TopKScratch s;
  std::vector<uint32_t> out;
  ASSERT_TRUE(TopKSampled(x, 2000, 3, &s, &out));
  EXPECT_EQ(out, ReferenceTopK(x, 2000));
  // Threshold too high (sparse spikes): fallback path.
  std::vector<float> y(200000, 0.0f);
  for (size_t i = 0; i < y.size(); i += 1000) y[i] = 1.0f + i;
  ASSERT_TRUE(TopKSampled(y, 5000, 3, &s, &out));
  EXPECT_EQ(out, ReferenceTopK(y, 5000));
}

TEST(TopK, FusedMergesAndSelectsOnTheSum) {
  auto d = testing::Gaussian(100000, 21);
  auto r = testing::Gaussian(100000, 22);
  std::vector<float> sum(d.size());
  for (size_t i = 0; i < d.size(); ++i) sum[i] = r[i] + d[i];
  TopKScratch s;
  std::vector<uint32_t> out;
  ASSERT_TRUE(TopKSampledFused(r, d, 1000, 0, &s, &out));
  EXPECT_EQ(r, sum);
  EXPECT_EQ(out, ReferenceTopK(sum, 1000));
}

TEST(TopK, RejectsNonFinite) {
  std::vector<float> x(100000, 1.0f);
  x[777] = std::nanf("");
  TopKScratch s;
  std::vector<uint32_t> out;
  EXPECT_FALSE(TopKSampled(x, 10, 0, &s, &out));
  EXPECT_FALSE(TopKExact(x, 10, &s, &out));
  x[777] = INFINITY;
  EXPECT_FALSE(TopKSampled(x, 10, 0, &s, &out));
}

TEST(RandomK, DistinctSortedDeterministicAndRoughlyUniform) {
  for (size_t k : {size_t{10}, size_t{300}, size_t{900}}) {
    std::vector<uint32_t> a, b;
    RandomK(1000, k, 17, &a);
    RandomK(1000, k, 17, &b);
    EXPECT_EQ(a, b);
    ASSERT_EQ(a.size(), k);
    EXPECT_TRUE(std::adjacent_find(a.begin(), a.end(), std::greater_equal<uint32_t>()) == a.end());
    EXPECT_LT(a.back(), 1000u);
  }
  std::vector<int> hits(100, 0);
  for (uint64_t seed = 0; seed < 2000; ++seed) {
    std::vector<uint32_t> a;
    RandomK(100, 5, seed, &a);
    for (auto i : a) ++hits[i];
  }
  for (int h : hits) EXPECT_NEAR(h, 100, 45);  // 2000 * 5 / 100 = 100 expected
}


}  // namespace
}  // namespace fedpress::compression

// Container robustness: every byte corrupted, every truncation, extension,
// wrong magic/version/flags, hostile headers -> clean rejection with the
// accumulator unchanged.
#include <gtest/gtest.h>

#include <cstring>

#include <zstd.h>

#include "compression/container.h"
#include "common/checksum.h"
#include "compression/pipeline.h"
#include "tests/compression/test_util.h"

namespace fedpress::compression {
namespace {

using testing::Gaussian;

const ModelLayout& Layout() {
  static const ModelLayout l({{"a", {40, 30}}, {"b", {30}}, {"c", {2000}}});
  return l;
}

std::vector<uint8_t> Make(const std::string& preset, bool zstd) {
  auto spec = Preset(preset)->uplink;
  spec.entropy.method = zstd ? EntropyMethod::kZstd : EntropyMethod::kNone;
  spec.dense_layers_below = 100;
  if (spec.sparsify.method != SparsifyMethod::kNone) spec.sparsify.ratio = 0.05;
  auto enc = Encoder::Create(spec, Layout());
  ErrorFeedback ef(Layout());
  std::vector<uint8_t> p;
  EXPECT_TRUE(enc->Encode(Gaussian(Layout().total_elements(), 3), spec.error_feedback ? &ef : nullptr, 1, &p).ok());
  return p;
}

// Re-seals the CRC so deeper checks (not just the checksum) are exercised.
void Reseal(std::vector<uint8_t>& p) {
  uint32_t crc = fedpress::Crc32c(p.data(), p.size() - 4);
  std::memcpy(p.data() + p.size() - 4, &crc, 4);
}

Status Try(std::span<const uint8_t> p, DecodeContext& ctx) {
  static const std::vector<float> before = Gaussian(Layout().total_elements(), 77);
  std::vector<float> acc = before;
  Status st = ctx.DecodeAccumulate(p, Layout(), 0.5f, acc);
  if (!st.ok()) {
    EXPECT_EQ(std::memcmp(acc.data(), before.data(), acc.size() * 4), 0) << "accumulator touched on error";
    EXPECT_NE(st.code(), StatusCode::kInternal) << st.ToString();
  }
  return st;
}

class ContainerTest : public ::testing::TestWithParam<std::tuple<std::string, bool>> {};

TEST_P(ContainerTest, ValidPayloadDecodes) {
  DecodeContext ctx;
  auto p = Make(std::get<0>(GetParam()), std::get<1>(GetParam()));
  EXPECT_TRUE(Try(p, ctx).ok());
  auto info = InspectPayload(p);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->num_layers, 3u);
  EXPECT_EQ(info->total_elements, Layout().total_elements());
}

TEST_P(ContainerTest, EveryByteFlippedIsRejected) {
  DecodeContext ctx;
  const auto p = Make(std::get<0>(GetParam()), std::get<1>(GetParam()));
  for (size_t i = 0; i < p.size(); ++i) {
    for (uint8_t mask : {uint8_t{0x01}, uint8_t{0x80}}) {
      auto q = p;
      q[i] ^= mask;
      EXPECT_FALSE(Try(q, ctx).ok()) << "byte " << i;
    }
  }
}

TEST_P(ContainerTest, EveryByteChangedWithValidChecksumIsRejectedOrHarmless) {
  // With the checksum re-sealed, a change must either be rejected cleanly or
  // decode to finite values (e.g. a flipped value bit); never crash.
  DecodeContext ctx;
  const auto p = Make(std::get<0>(GetParam()), std::get<1>(GetParam()));
  size_t rejected = 0;
  for (size_t i = 0; i + 4 < p.size(); ++i) {
    for (uint8_t v : {uint8_t{0x00}, uint8_t{0xFF}, static_cast<uint8_t>(p[i] + 1)}) {
      if (p[i] == v) continue;
      auto q = p;
      q[i] = v;
      Reseal(q);
      std::vector<float> acc(Layout().total_elements(), 0.0f);
      Status st = ctx.DecodeAccumulate(q, Layout(), 1.0f, acc);
      if (!st.ok()) {
        ++rejected;
        EXPECT_NE(st.code(), StatusCode::kInternal) << st.ToString();
      } else {
        for (float x : acc) ASSERT_TRUE(std::isfinite(x)) << "byte " << i;
      }
    }
  }
  EXPECT_GT(rejected, 0u);
}

TEST_P(ContainerTest, EveryTruncationAndExtensionIsRejected) {
  DecodeContext ctx;
  const auto p = Make(std::get<0>(GetParam()), std::get<1>(GetParam()));
  for (size_t len = 0; len < p.size(); ++len) EXPECT_FALSE(Try(std::span(p).first(len), ctx).ok()) << len;
  for (size_t extra : {1, 4, 100}) {
    auto q = p;
    q.insert(q.end(), extra, 0);
    EXPECT_FALSE(Try(q, ctx).ok());
    Reseal(q);
    EXPECT_FALSE(Try(q, ctx).ok());
  }
}

INSTANTIATE_TEST_SUITE_P(Presets, ContainerTest,
                         ::testing::Combine(::testing::Values("none", "q8", "topk1%-q4", "topk1%-q8", "topk2%-q4", "topk2%-q4-lw", "fedzip", "stc"),
                                            ::testing::Bool()),
                         [](const auto& info) {
                           std::string s = std::get<0>(info.param);
                           for (char& c : s)
                             if (!isalnum(static_cast<unsigned char>(c))) c = '_';
                           return s + (std::get<1>(info.param) ? "_zstd" : "_raw");
                         });

TEST(Container, WrongMagicVersionFlagsAreNamed) {
  DecodeContext ctx;
  auto p = Make("stc", false);
  auto q = p;
  q[0] = 'X';
  Reseal(q);
  EXPECT_NE(Try(q, ctx).message().find("magic"), std::string::npos);
  q = p;
  q[4] = 2;
  Reseal(q);
  Status st = Try(q, ctx);
  EXPECT_NE(st.message().find("version 2 not supported"), std::string::npos) << st.message();
  q = p;
  q[6] = 0x04;
  Reseal(q);
  EXPECT_NE(Try(q, ctx).message().find("flags"), std::string::npos);
  q = p;
  q[p.size() - 1] ^= 1;
  EXPECT_NE(Try(q, ctx).message().find("checksum"), std::string::npos);
}

// Builds a raw-body payload from a hand-written body.
std::vector<uint8_t> Seal(const std::vector<uint8_t>& body, const ModelLayout& layout, uint16_t flags = 0,
                          uint64_t raw_len = UINT64_MAX) {
  ContainerHeader h;
  h.flags = flags;
  h.num_layers = static_cast<uint32_t>(layout.num_layers());
  h.layout_crc = LayoutCrc(layout);
  h.total_elements = layout.total_elements();
  h.body_raw_len = raw_len == UINT64_MAX ? body.size() : raw_len;
  h.body_stored_len = body.size();
  std::vector<uint8_t> p(kHeaderBytes);
  WriteHeader(h, p.data());
  p.insert(p.end(), body.begin(), body.end());
  p.resize(p.size() + 4);
  Reseal(p);
  return p;
}

TEST(Container, HostileBodiesAreRejected) {
  const ModelLayout layout({{"w", {1000}}});
  DecodeContext ctx;
  std::vector<float> acc(1000, 0.0f);
  auto body = [](uint8_t kind, uint64_t count, std::vector<uint8_t> rest) {
    std::vector<uint8_t> b;
    ByteWriter w(&b);
    w.U8(kind);
    w.U8(kind == 1 ? 1 : 0);
    w.U16(0);
    w.U64(1000);
    w.U64(count);
    b.insert(b.end(), rest.begin(), rest.end());
    return b;
  };
  auto expect_bad = [&](const std::vector<uint8_t>& p, const char* what) {
    Status st = ctx.DecodeAccumulate(p, layout, 1.0f, acc);
    EXPECT_FALSE(st.ok()) << what;
    EXPECT_NE(st.code(), StatusCode::kInternal) << what << ": " << st.ToString();
    for (float x : acc) ASSERT_EQ(x, 0.0f) << what;
  };
  // Sparse count larger than the layer.
  expect_bad(Seal(body(1, 1001, {1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}), layout), "count > numel");
  // Decreasing indices cannot be expressed by gaps, but an index past the end can: gap 5000.
  expect_bad(Seal(body(1, 1, {1, 0, 2, 0, 0, 0, 0x88, 0x27, 0, 4, 0, 0, 0, 0, 0, 0, 0}), layout),
             "index out of range");
  // Non-finite fp32 value at a valid index.
  {
    std::vector<uint8_t> rest = {1, 0, 1, 0, 0, 0, 5, 0, 4, 0, 0, 0};
    float inf = INFINITY;
    uint8_t f[4];
    std::memcpy(f, &inf, 4);
    rest.insert(rest.end(), f, f + 4);
    expect_bad(Seal(body(1, 1, rest), layout), "non-finite value");
  }
  // k-means codebook of size 0 and 17, and a code beyond k = 3.
  expect_bad(Seal(body(1, 1, {1, 0, 1, 0, 0, 0, 5, 3, 0, 1, 0, 0, 0, 0}), layout), "k = 0");
  expect_bad(Seal(body(1, 1, {1, 0, 1, 0, 0, 0, 5, 3, 17, 1, 0, 0, 0, 0}), layout), "k = 17");
  {
    std::vector<uint8_t> rest = {1, 0, 1, 0, 0, 0, 5, 3, 3};
    for (int j = 0; j < 12; ++j) rest.push_back(0);  // three 0.0f centroids
    rest.insert(rest.end(), {1, 0, 0, 0, 3});         // one byte: code 3 >= k
    expect_bad(Seal(body(1, 1, rest), layout), "code >= k");
  }
  // Uniform with bits 9 and with a NaN scale.
  expect_bad(Seal(body(1, 1, {1, 0, 1, 0, 0, 0, 5, 2, 9, 0, 0, 0, 0}), layout), "bits 9");
  expect_bad(Seal(body(1, 1, {1, 0, 1, 0, 0, 0, 5, 2, 4, 0, 0, 0, 0, 0, 0, 0xC0, 0x7F, 1, 0, 0, 0, 1}), layout),
             "NaN scale");
  // Unknown codecs and kinds.
  expect_bad(Seal(body(1, 1, {7, 0, 1, 0, 0, 0, 5}), layout), "index codec 7");
  expect_bad(Seal(body(1, 0, {1, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0}), layout), "value codec 9");
  expect_bad(Seal(body(2, 0, {}), layout), "layer kind 2");
  // Dense layer with a short count.
  expect_bad(Seal(body(0, 999, {0, 0x9C, 0x0F, 0, 0}), layout), "dense count");
  // Declared raw length beyond the model bound, with a fake zstd flag.
  expect_bad(Seal(std::vector<uint8_t>(16, 0), layout, kFlagZstd, uint64_t{1} << 40), "huge raw len");
  // A zstd bomb: a valid frame whose content is larger than the bound.
  {
    std::vector<uint8_t> big(MaxBodyBytes(layout) + 1, 0);
    std::vector<uint8_t> z(ZSTD_compressBound(big.size()));
    z.resize(ZSTD_compress(z.data(), z.size(), big.data(), big.size(), 1));
    expect_bad(Seal(z, layout, kFlagZstd, big.size()), "zstd bomb");
    expect_bad(Seal(z, layout, kFlagZstd, 10), "zstd size mismatch");
  }
  // Empty payload, only header.
  expect_bad({}, "empty");
  expect_bad(std::vector<uint8_t>(44, 0), "zeros");
  // Valid control: a dense fp32 layer of zeros decodes.
  {
    std::vector<uint8_t> rest = {0};
    uint32_t n = 4000;
    rest.insert(rest.end(), reinterpret_cast<uint8_t*>(&n), reinterpret_cast<uint8_t*>(&n) + 4);
    rest.resize(rest.size() + 4000, 0);
    EXPECT_TRUE(ctx.DecodeAccumulate(Seal(body(0, 1000, rest), layout), layout, 1.0f, acc).ok());
  }
  EXPECT_LE(ctx.scratch_bytes(), MaxBodyBytes(layout));
}

}  // namespace
}  // namespace fedpress::compression

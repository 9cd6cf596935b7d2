// Pipeline properties: error-feedback invariant, sparse accumulate == dense
// accumulate, deterministic decode, presets round-trip, residual persistence.
#include "compression/pipeline.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "tests/compression/test_util.h"

namespace fedpress::compression {
namespace {

using testing::Gaussian;
using testing::SmallLayout;

CompressionSpec MustPreset(const std::string& name) {
  auto p = Preset(name);
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  return *p;
}

class PresetTest : public ::testing::TestWithParam<std::string> {};

TEST_P(PresetTest, ErrorFeedbackInvariantAndSparseEqualsDense) {
  const ModelLayout layout = SmallLayout();
  for (const DirectionSpec& spec : {MustPreset(GetParam()).uplink, MustPreset(GetParam()).downlink}) {
    auto enc = Encoder::Create(spec, layout);
    ASSERT_TRUE(enc.ok()) << enc.status().ToString();
    ErrorFeedback ef(layout);
    ErrorFeedback* efp = spec.error_feedback ? &ef : nullptr;
    DecodeContext dec;
    for (int round = 0; round < 3; ++round) {
      auto delta = Gaussian(layout.total_elements(), 100 + round);
      std::vector<float> old_res(ef.values().begin(), ef.values().end());
      std::vector<uint8_t> payload;
      EncodeStats st;
      ASSERT_TRUE(enc->Encode(delta, efp, 7 + round, &payload, &st).ok());
      EXPECT_EQ(st.payload_bytes, payload.size());
      auto decoded = dec.Decode(payload, layout);
      ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
      for (size_t i = 0; i < delta.size(); ++i) {
        float v = spec.error_feedback ? delta[i] + old_res[i] : delta[i];
        if (spec.error_feedback) {
          const float res = ef.values()[i];
          if ((*decoded)[i] == 0.0f) {
            ASSERT_EQ(res, v) << i;  // dropped: exact
          } else {
            ASSERT_NEAR((*decoded)[i] + res, v, (std::fabs(v) + std::fabs((*decoded)[i])) * 1e-6f) << i;
          }
        }
      }
      // Sparse accumulate == dense accumulate of the decoded vector.
      auto base = Gaussian(layout.total_elements(), 999);
      std::vector<float> sparse_acc = base, dense_acc = base;
      const float w = 0.37f;
      ASSERT_TRUE(dec.DecodeAccumulate(payload, layout, w, sparse_acc).ok());
      for (size_t i = 0; i < base.size(); ++i)
        if ((*decoded)[i] != 0.0f) dense_acc[i] += w * (*decoded)[i];
      EXPECT_EQ(std::memcmp(sparse_acc.data(), dense_acc.data(), base.size() * 4), 0);
      // Deterministic: the same inputs give the same bytes and the same decode.
      auto enc2 = Encoder::Create(spec, layout);
      ErrorFeedback ef2(layout);
      std::copy(old_res.begin(), old_res.end(), ef2.values().begin());
      std::vector<uint8_t> payload2;
      ASSERT_TRUE(enc2->Encode(delta, spec.error_feedback ? &ef2 : nullptr, 7 + round, &payload2).ok());
      EXPECT_EQ(payload, payload2);
      auto again = Decode(payload, layout);
      EXPECT_EQ(*again, *decoded);
    }
  }
}

TEST_P(PresetTest, CompressesAsEstimated) {
  const ModelLayout layout({{"w", {1000, 1000}}, {"b", {1000}}});
  const CompressionSpec spec = MustPreset(GetParam());
  auto enc = Encoder::Create(spec.uplink, layout);
  ErrorFeedback ef(layout);
  std::vector<uint8_t> payload;
  EncodeStats st;
  auto delta = Gaussian(layout.total_elements(), 5);
  ASSERT_TRUE(enc->Encode(delta, spec.uplink.error_feedback ? &ef : nullptr, 1, &payload, &st).ok());
  const double est = EstimateRatio(spec.uplink, layout);
  EXPECT_GT(st.ratio(), 0.5 * est) << GetParam() << " est " << est << " got " << st.ratio();
  if (GetParam() == "none") {
    EXPECT_NEAR(st.ratio(), 1.0, 0.01);
  }
  if (GetParam() != "none" && GetParam() != "q8") {
    EXPECT_GT(st.ratio(), 100.0) << GetParam();
  }
}

INSTANTIATE_TEST_SUITE_P(All, PresetTest, ::testing::Values("none", "q8", "topk1%-q4", "topk1%-q8", "topk2%-q4", "topk2%-q4-lw", "fedzip", "stc"),
                         [](const auto& info) {
                           std::string s = info.param;
                           for (char& c : s)
                             if (!isalnum(static_cast<unsigned char>(c))) c = '_';
                           return s;
                         });

TEST(Pipeline, EveryStageCombinationRoundTrips) {
  const ModelLayout layout = SmallLayout();
  auto delta = Gaussian(layout.total_elements(), 1);
  for (auto sm : {SparsifyMethod::kNone, SparsifyMethod::kTopK, SparsifyMethod::kRandomK})
    for (auto qm : {QuantizeMethod::kNone, QuantizeMethod::kFp16, QuantizeMethod::kUniform,
                    QuantizeMethod::kKMeans, QuantizeMethod::kTernary})
      for (auto ix : {IndexChoice::kVarint, IndexChoice::kBitpack, IndexChoice::kRice})
        for (bool z : {false, true}) {
          DirectionSpec d;
          d.sparsify.method = sm;
          d.sparsify.ratio = sm == SparsifyMethod::kNone ? 1.0 : 0.05;
          d.quantize.method = qm;
          d.quantize.bits = 3;
          d.quantize.block = 64;
          d.index = ix;
          d.entropy.method = z ? EntropyMethod::kZstd : EntropyMethod::kNone;
          d.error_feedback = true;
          auto enc = Encoder::Create(d, layout);
          ErrorFeedback ef(layout);
          std::vector<uint8_t> payload;
          ASSERT_TRUE(enc->Encode(delta, &ef, 3, &payload).ok());
          auto dec = Decode(payload, layout);
          ASSERT_TRUE(dec.ok()) << dec.status().ToString();
          if (qm == QuantizeMethod::kNone) {  // lossless value path: sent values exact
            for (size_t i = 0; i < delta.size(); ++i)
              ASSERT_TRUE((*dec)[i] == 0.0f || (*dec)[i] == delta[i]);
          }
        }
}

TEST(Pipeline, DenseLayersBelowAndOverridesApply) {
  const ModelLayout layout = SmallLayout();
  auto spec = MustPreset("topk1%-q4").uplink;
  spec.layers.push_back({"conv.*", SparsifySpec{}, QuantizeSpec{QuantizeMethod::kFp16}, std::nullopt});
  auto plan = ResolvePlan(spec, layout);
  EXPECT_EQ(plan[0].sparsify, SparsifyMethod::kNone);  // override
  EXPECT_EQ(plan[0].values.codec, ValueCodec::kFp16);
  EXPECT_EQ(plan[1].sparsify, SparsifyMethod::kNone);  // conv.bias matched by the override too
  EXPECT_EQ(plan[2].sparsify, SparsifyMethod::kTopK);
  EXPECT_EQ(plan[2].k, 500u);
  EXPECT_EQ(plan[3].values.codec, ValueCodec::kFp32);  // tiny layer: dense fp32
  auto delta = Gaussian(layout.total_elements(), 1);
  auto enc = Encoder::Create(spec, layout);
  ErrorFeedback ef(layout);
  std::vector<uint8_t> payload;
  ASSERT_TRUE(enc->Encode(delta, &ef, 3, &payload).ok());
  auto dec = Decode(payload, layout);
  ASSERT_TRUE(dec.ok());
  const size_t b = layout.offset(3);
  for (size_t i = 0; i < 10; ++i) EXPECT_EQ((*dec)[b + i], delta[b + i]);
}

TEST(Pipeline, RejectsBadArgumentsAndNonFiniteDelta) {
  const ModelLayout layout = SmallLayout();
  auto spec = MustPreset("stc").uplink;
  auto enc = Encoder::Create(spec, layout);
  std::vector<uint8_t> payload;
  auto delta = Gaussian(layout.total_elements(), 1);
  EXPECT_EQ(enc->Encode(delta, nullptr, 0, &payload).code(), StatusCode::kInvalidArgument);
  ErrorFeedback ef(layout);
  EXPECT_EQ(enc->Encode(std::span<const float>(delta).first(10), &ef, 0, &payload).code(),
            StatusCode::kInvalidArgument);
  ErrorFeedback other(ModelLayout({{"x", {3}}}));
  EXPECT_EQ(enc->Encode(delta, &other, 0, &payload).code(), StatusCode::kInvalidArgument);
  ef.values()[5] = 1.0f;
  delta[layout.offset(2) + 77] = NAN;
  Status st = enc->Encode(delta, &ef, 0, &payload);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("fc.weight"), std::string::npos) << st.message();
  EXPECT_TRUE(payload.empty());
  EXPECT_EQ(ef.SquaredNorm(), 0.0);  // documented: residual reset
  // Decode arguments.
  DecodeContext dec;
  std::vector<float> acc(layout.total_elements());
  delta[layout.offset(2) + 77] = 0;
  ASSERT_TRUE(enc->Encode(delta, &ef, 0, &payload).ok());
  EXPECT_EQ(dec.DecodeAccumulate(payload, layout, NAN, acc).code(), StatusCode::kInvalidArgument);
  std::vector<float> small(3);
  EXPECT_EQ(dec.DecodeAccumulate(payload, layout, 1, small).code(), StatusCode::kInvalidArgument);
  const ModelLayout renamed({{"conv.weight", {16, 3, 3, 3}}, {"conv.bias", {16}}, {"fc.w", {10, 5000}},
                             {"fc.bias", {10}}});
  EXPECT_EQ(dec.DecodeAccumulate(payload, renamed, 1, acc).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(dec.DecodeAccumulate(payload, layout, 1, acc, {.max_payload_bytes = 10}).code(),
            StatusCode::kResourceExhausted);
}

TEST(Pipeline, DownloadPathKeepsCopiesBitIdentical) {
  // Server: global moves; it sends delta = global - broadcast and applies the
  // payload to its broadcast copy; the client applies it to its own copy.
  const ModelLayout layout = SmallLayout();
  auto spec = MustPreset("topk1%-q4").downlink;
  auto enc = Encoder::Create(spec, layout);
  std::vector<float> global = Gaussian(layout.total_elements(), 1, 0.1f);
  std::vector<float> server_copy = global, client_copy = global;
  DecodeContext server_dec, client_dec;
  for (int round = 0; round < 5; ++round) {
    auto step = Gaussian(layout.total_elements(), 50 + round);
    for (size_t i = 0; i < global.size(); ++i) global[i] += step[i];
    std::vector<float> delta(global.size());
    for (size_t i = 0; i < global.size(); ++i) delta[i] = global[i] - server_copy[i];
    std::vector<uint8_t> payload;
    ASSERT_TRUE(enc->Encode(delta, nullptr, round, &payload).ok());
    ASSERT_TRUE(server_dec.DecodeAccumulate(payload, layout, 1.0f, server_copy).ok());
    ASSERT_TRUE(client_dec.DecodeAccumulate(payload, layout, 1.0f, client_copy).ok());
    ASSERT_EQ(std::memcmp(server_copy.data(), client_copy.data(), global.size() * 4), 0);
  }
}

TEST(ErrorFeedbackState, SerialisesAndRejectsDamage) {
  const ModelLayout layout = SmallLayout();
  ErrorFeedback ef(layout);
  auto v = Gaussian(layout.total_elements(), 3);
  std::copy(v.begin(), v.end(), ef.values().begin());
  auto bytes = ef.Serialize();
  auto back = ErrorFeedback::Deserialize(bytes, layout);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(std::equal(back->values().begin(), back->values().end(), v.begin()));
  EXPECT_EQ(ErrorFeedback::Deserialize(bytes, ModelLayout({{"x", {3}}})).status().code(),
            StatusCode::kFailedPrecondition);
  for (size_t pos : {size_t{0}, size_t{4}, size_t{20}, bytes.size() / 2, bytes.size() - 1}) {
    auto bad = bytes;
    bad[pos] ^= 0x10;
    EXPECT_FALSE(ErrorFeedback::Deserialize(bad, layout).ok()) << pos;
  }
  for (size_t len : {size_t{0}, size_t{11}, bytes.size() - 1})
    EXPECT_FALSE(ErrorFeedback::Deserialize(std::span(bytes).first(len), layout).ok()) << len;
}

}  // namespace
}  // namespace fedpress::compression

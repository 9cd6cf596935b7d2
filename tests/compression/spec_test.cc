// Spec parsing: each preset, normalised round trip, and every error names its field.
#include "compression/spec.h"

#include <gtest/gtest.h>

namespace fedpress::compression {
namespace {

using nlohmann::json;

TEST(Spec, EachPresetParsesBothWaysAndRoundTrips) {
  for (const auto& name : PresetNames()) {
    auto a = ParseCompressionSpec(json{{"preset", name}});
    ASSERT_TRUE(a.ok()) << name << ": " << a.status().ToString();
    auto b = ParseCompressionSpec(json{{"method", name}});
    ASSERT_TRUE(b.ok()) << name;
    EXPECT_EQ(*a, *b);
    EXPECT_EQ(a->preset, name);
    EXPECT_EQ(*a, *Preset(name));
    auto back = ParseCompressionSpec(ToJson(*a));
    ASSERT_TRUE(back.ok()) << back.status().ToString() << "\n" << ToJson(*a).dump();
    EXPECT_EQ(*back, *a) << name;
  }
}

TEST(Spec, LegacyMethodNoneIsThePresetNone) {
  auto s = ParseCompressionSpecText(R"({"method":"none"})");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->uplink, DirectionSpec{});
  EXPECT_EQ(s->downlink, DirectionSpec{});
  EXPECT_EQ(*ParseCompressionSpecText("{}"), *s);
}

TEST(Spec, FullExampleFromTheIssue) {
  auto s = ParseCompressionSpecText(R"({
    "sparsify":{"method":"topk","ratio":0.01},"error_feedback":true,
    "quantize":{"method":"uniform","bits":4},"entropy":{"method":"zstd","level":3},
    "downlink":{"sparsify":{"method":"topk","ratio":0.1},"quantize":{"method":"fp16"}},
    "dense_layers_below":1024,
    "layers":[{"match":"*.bias","sparsify":{"method":"none"},"quantize":{"method":"none"}}]})");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->uplink.sparsify.method, SparsifyMethod::kTopK);
  EXPECT_DOUBLE_EQ(s->uplink.sparsify.ratio, 0.01);
  EXPECT_EQ(s->uplink.quantize.bits, 4);
  EXPECT_TRUE(s->uplink.error_feedback);
  EXPECT_EQ(s->uplink.dense_layers_below, 1024u);
  ASSERT_EQ(s->uplink.layers.size(), 1u);
  EXPECT_EQ(s->downlink.quantize.method, QuantizeMethod::kFp16);
  EXPECT_EQ(*ParseCompressionSpec(ToJson(*s)), *s);
  const ModelLayout layout({{"fc.weight", {100, 1000}}, {"fc.bias", {100}}});
  EXPECT_GT(EstimateRatio(s->uplink, layout), 100.0);
  EXPECT_NEAR(EstimateRatio(DirectionSpec{}, layout), 1.0, 0.01);
}

TEST(Spec, PresetPlusFieldsOverridesThem) {
  auto s = ParseCompressionSpecText(R"({"preset":"stc","entropy":{"method":"none"}})");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->uplink.quantize.method, QuantizeMethod::kTernary);
  EXPECT_EQ(s->uplink.entropy.method, EntropyMethod::kNone);
  EXPECT_EQ(s->preset, "stc+custom");
}

TEST(Spec, ErrorsNameTheirField) {
  struct Case {
    const char* json;
    const char* message;
  };
  const Case cases[] = {
      {R"({"quantize":{"method":"uniform","bits":12}})", "compression.quantize.bits: must be 1..8, got 12"},
      {R"({"quantize":{"method":"uniform","bits":0}})", "compression.quantize.bits: must be 1..8, got 0"},
      {R"({"quantize":{"method":"uniform","bits":"4"}})", "compression.quantize.bits: must be an integer"},
      {R"({"quantize":{"method":"fp16","bits":4}})", "compression.quantize.bits: not used by method fp16"},
      {R"({"quantize":{"method":"uniform","block":8}})", "compression.quantize.block: must be 0"},
      {R"({"quantize":{"method":"uniform","rounding":"up"}})", "compression.quantize.rounding:"},
      {R"({"quantize":{"method":"kmeans","centroids":17}})", "compression.quantize.centroids: must be 1..16"},
      {R"({"quantize":{"method":"lloyd"}})", "compression.quantize.method: must be one of"},
      {R"({"quantize":{"bits":4}})", "compression.quantize.method: required"},
      {R"({"quantize":{"method":"uniform","bitz":4}})", "compression.quantize.bitz: unknown field"},
      {R"({"sparsify":{"method":"topk"}})", "compression.sparsify.ratio: required"},
      {R"({"sparsify":{"method":"topk","ratio":0}})", "compression.sparsify.ratio: must be in (0, 1]"},
      {R"({"sparsify":{"method":"topk","ratio":1.5}})", "compression.sparsify.ratio: must be in (0, 1]"},
      {R"({"sparsify":{"method":"randomk","ratio":0.1,"algorithm":"exact"}})", "compression.sparsify.algorithm: only"},
      {R"({"sparsify":{"method":"topk","ratio":0.1,"algorithm":"fast"}})", "compression.sparsify.algorithm:"},
      {R"({"sparsify":{"method":"none","ratio":0.1}})", "compression.sparsify.ratio: not used"},
      {R"({"sparsify":"topk"})", "compression.sparsify: must be an object"},
      {R"({"entropy":{"method":"zstd","level":25}})", "compression.entropy.level: must be 1..19, got 25"},
      {R"({"entropy":{"method":"lz4"}})", "compression.entropy.method:"},
      {R"({"entropy":{"method":"none","level":3}})", "compression.entropy.level: not used"},
      {R"({"index":{"method":"elias"}})", "compression.index.method:"},
      {R"({"error_feedback":1})", "compression.error_feedback: must be true or false"},
      {R"({"dense_layers_below":-1})", "compression.dense_layers_below: must be 0.."},
      {R"({"preset":"zip"})", "compression.preset: unknown preset \"zip\""},
      {R"({"method":"topk"})", "compression.method: unknown preset"},
      {R"({"preset":"stc","method":"none"})", "compression.method: give either"},
      {R"({"layers":{}})", "compression.layers: must be an array"},
      {R"({"layers":[{"sparsify":{"method":"none"}}]})", "compression.layers[0].match: required"},
      {R"({"layers":[{"match":"*","quantize":{"method":"uniform","bits":9}}]})",
       "compression.layers[0].quantize.bits: must be 1..8, got 9"},
      {R"({"downlink":{"quantize":{"method":"uniform","bits":12}}})",
       "compression.downlink.quantize.bits: must be 1..8, got 12"},
      {R"({"downlink":{"downlink":{}}})", "compression.downlink.downlink: unknown field"},
      {R"({"downlink":{"preset":"nope"}})", "compression.downlink.preset: unknown preset"},
      {R"({"compress":true})", "compression.compress: unknown field"},
      {R"([1,2])", "compression: must be an object"},
      {R"({"quantize":)", "compression: not valid JSON"},
  };
  for (const auto& c : cases) {
    auto s = ParseCompressionSpecText(c.json);
    ASSERT_FALSE(s.ok()) << c.json;
    EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(s.status().message().find(c.message), std::string::npos)
        << c.json << "\n  got: " << s.status().message() << "\n  want: " << c.message;
  }
}

TEST(Spec, GlobMatch) {
  EXPECT_TRUE(GlobMatch("*.bias", "fc1.bias"));
  EXPECT_FALSE(GlobMatch("*.bias", "fc1.weight"));
  EXPECT_TRUE(GlobMatch("conv?.*", "conv2.weight"));
  EXPECT_TRUE(GlobMatch("*", ""));
  EXPECT_FALSE(GlobMatch("a*b*c", "abxbx"));
  EXPECT_TRUE(GlobMatch("a*b*c", "aXbYbZc"));
}

}  // namespace
}  // namespace fedpress::compression

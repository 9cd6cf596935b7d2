#include "client/model_zoo.h"

#include <gtest/gtest.h>

#include <cmath>

namespace fedpress {
namespace {

TEST(ModelZooTest, ParameterCounts) {
  const std::pair<const char*, size_t> expected[] = {
      {"mlp", 199210}, {"cnn", 206922}, {"cnn-large", 1663370}};
  for (auto [name, count] : expected) {
    auto layout = LayoutOf(name);
    ASSERT_TRUE(layout.ok()) << name;
    EXPECT_EQ(layout->total_elements(), count) << name;
    EXPECT_TRUE(IsKnownModel(name));
  }
  EXPECT_EQ(KnownModels(), (std::vector<std::string>{"mlp", "cnn", "cnn-large"}));
}

TEST(ModelZooTest, LayerNamesAndShapes) {
  auto cnn = LayoutOf("cnn");
  ASSERT_TRUE(cnn.ok());
  const std::vector<LayerSpec> want = {
      {"conv1.weight", {16, 1, 3, 3}}, {"conv1.bias", {16}},
      {"conv2.weight", {32, 16, 3, 3}}, {"conv2.bias", {32}},
      {"fc1.weight", {128, 1568}},      {"fc1.bias", {128}},
      {"fc2.weight", {10, 128}},        {"fc2.bias", {10}}};
  EXPECT_EQ(cnn->layers(), want);
  auto mlp = LayoutOf("mlp");
  ASSERT_TRUE(mlp.ok());
  ASSERT_EQ(mlp->num_layers(), 6u);
  EXPECT_EQ(mlp->layers()[0], (LayerSpec{"fc1.weight", {200, 784}}));
  EXPECT_EQ(mlp->layers()[5], (LayerSpec{"fc3.bias", {10}}));
  auto large = LayoutOf("cnn-large");
  ASSERT_TRUE(large.ok());
  EXPECT_EQ(large->layers()[0], (LayerSpec{"conv1.weight", {32, 1, 5, 5}}));
  EXPECT_EQ(large->layers()[4], (LayerSpec{"fc1.weight", {512, 3136}}));
}

TEST(ModelZooTest, UnknownModel) {
  EXPECT_FALSE(IsKnownModel("resnet"));
  EXPECT_FALSE(IsKnownModel(""));
  for (auto st : {LayoutOf("resnet").status(), InitialWeights("resnet", 1).status(),
                  ArchitectureOf("CNN").status()}) {
    EXPECT_EQ(st.code(), StatusCode::kNotFound);
    EXPECT_NE(st.message().find("mlp, cnn, cnn-large"), std::string::npos) << st.ToString();
  }
}

TEST(ModelZooTest, InitialWeightsDeterministicAndTorchDefault) {
  for (const std::string& model : KnownModels()) {
    SCOPED_TRACE(model);
    auto a = InitialWeights(model, 7);
    auto b = InitialWeights(model, 7);
    auto c = InitialWeights(model, 8);
    ASSERT_TRUE(a.ok() && b.ok() && c.ok());
    EXPECT_EQ(a->layout(), *LayoutOf(model));
    EXPECT_TRUE(std::equal(a->values().begin(), a->values().end(), b->values().begin()));
    EXPECT_FALSE(std::equal(a->values().begin(), a->values().end(), c->values().begin()));
    EXPECT_EQ(FindNonFinite(a->values()), -1);
    // nn.Conv2d / nn.Linear defaults: weights and biases uniform within
    // +-1/sqrt(fan_in) (kaiming_uniform with a = sqrt(5)); not all zero.
    const auto& layers = a->layout().layers();
    for (size_t i = 0; i < layers.size(); i += 2) {
      const auto& w = layers[i].shape;
      double fan_in = 1;
      for (size_t d = 1; d < w.size(); ++d) fan_in *= double(w[d]);
      const float bound = float(1 / std::sqrt(fan_in)) * 1.0001f;
      for (size_t j : {i, i + 1}) {
        float mx = 0;
        for (float v : a->layer(j)) mx = std::max(mx, std::fabs(v));
        EXPECT_LE(mx, bound) << layers[j].name;
        EXPECT_GT(mx, bound * 0.5f) << layers[j].name;
      }
    }
  }
}

}  // namespace
}  // namespace fedpress

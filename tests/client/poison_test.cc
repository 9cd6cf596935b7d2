// The client's test-only --poison modes: parsing (and refusing nonsense) and
// what they do to an update.
#include "client/poison.h"

#include <gtest/gtest.h>

#include <vector>

namespace fedpress::client {
namespace {

TEST(Poison, HonestByDefault) {
  for (const char* text : {"", "none"}) {
    auto m = ParsePoisonMode(text);
    ASSERT_TRUE(m.ok()) << text;
    EXPECT_FALSE(m->active());
    std::vector<float> d = {1, -2};
    ApplyPoison(*m, d);
    EXPECT_EQ(d, (std::vector<float>{1, -2}));
  }
}

TEST(Poison, ScaleAndSignFlip) {
  std::vector<float> d = {1, -2, 0.5f};
  auto scale = ParsePoisonMode("scale:1000");
  ASSERT_TRUE(scale.ok());
  ApplyPoison(*scale, d);
  EXPECT_EQ(d, (std::vector<float>{1000, -2000, 500}));

  d = {1, -2, 0.5f};
  auto flip = ParsePoisonMode("sign-flip");
  ASSERT_TRUE(flip.ok());
  EXPECT_EQ(flip->factor, -1.0);
  ApplyPoison(*flip, d);
  EXPECT_EQ(d, (std::vector<float>{-1, 2, -0.5f}));

  d = {1, -2, 0.5f};
  auto flip4 = ParsePoisonMode("sign-flip:4");
  ASSERT_TRUE(flip4.ok());
  ApplyPoison(*flip4, d);
  EXPECT_EQ(d, (std::vector<float>{-4, 8, -2}));
  EXPECT_EQ(flip4->text, "sign-flip:4");
}

TEST(Poison, NonsenseIsRefusedWithTheFlagName) {
  for (const char* text : {"scale", "scale:", "scale:0", "scale:abc", "scale:1e10", "scale:nan", "scale:inf",
                           "sign-flip:0", "sign-flip:-3", "sign-flip:", "flip", "scale:5x", "SCALE:5"}) {
    auto m = ParsePoisonMode(text);
    ASSERT_FALSE(m.ok()) << text;
    EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument) << text;
    EXPECT_NE(m.status().message().find("--poison"), std::string::npos) << m.status().message();
  }
}

}  // namespace
}  // namespace fedpress::client

#include "common/checkpoint.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "common/file_util.h"

namespace fedpress {
namespace {

ModelWeights SmallModel() {
  ModelLayout layout({{"fc.weight", {3, 2}}, {"fc.bias", {3}}});
  std::vector<float> v(9);
  for (size_t i = 0; i < v.size(); ++i) v[i] = 0.5f * static_cast<float>(i) - 1.0f;
  return ModelWeights(layout, v);
}

TEST(ModelWeights, RoundTrip) {
  ModelWeights w = SmallModel();
  auto bytes = w.Encode();
  auto back = ModelWeights::Decode(bytes);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->layout(), w.layout());
  EXPECT_TRUE(std::equal(w.values().begin(), w.values().end(), back->values().begin()));
  EXPECT_EQ(back->layer(1).size(), 3u);
  EXPECT_EQ(back->layer(1)[0], w.values()[6]);
}

TEST(ModelWeights, RejectsNonFinite) {
  ModelWeights w = SmallModel();
  w.values()[4] = std::nanf("");
  auto back = ModelWeights::Decode(w.Encode());
  ASSERT_FALSE(back.ok());
  EXPECT_NE(back.status().message().find("element 4"), std::string::npos);
}

TEST(ModelWeights, RejectsLayoutMismatch) {
  ModelWeights w = SmallModel();
  ModelLayout other({{"fc.weight", {2, 3}}, {"fc.bias", {3}}});
  auto back = DecodeWeightsMatching(w.Encode(), other);
  ASSERT_FALSE(back.ok());
  EXPECT_NE(back.status().message().find("mismatch"), std::string::npos);
}

TEST(ModelWeights, RejectsHostileLayout) {
  std::vector<uint8_t> buf;
  ByteWriter wr(&buf);
  wr.U32(1);
  wr.Str("x");
  wr.U32(2);
  wr.U64(uint64_t{1} << 40);  // absurd dimension
  wr.U64(uint64_t{1} << 40);
  auto r = ModelWeights::Decode(buf);
  EXPECT_FALSE(r.ok());
  std::vector<uint8_t> zero_layers = {0, 0, 0, 0};
  EXPECT_FALSE(ModelWeights::Decode(zero_layers).ok());
}

TEST(ModelWeights, EveryTruncationIsRejected) {
  auto bytes = SmallModel().Encode();
  for (size_t n = 0; n < bytes.size(); ++n) {
    auto r = ModelWeights::Decode(std::span(bytes).first(n));
    EXPECT_FALSE(r.ok()) << "accepted a prefix of " << n << " bytes";
  }
}

class CheckpointFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("fp_ckpt_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(CheckpointFile, WriteReadRoundTrip) {
  Checkpoint c{7, 3, "cnn", SmallModel()};
  std::string path = (dir_ / "a.ckpt").string();
  ASSERT_TRUE(WriteCheckpoint(path, c).ok());
  auto back = ReadCheckpoint(path);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->job_id, 7);
  EXPECT_EQ(back->round, 3u);
  EXPECT_EQ(back->model_name, "cnn");
  EXPECT_EQ(back->weights.layout(), c.weights.layout());
  // No temp files left behind.
  size_t files = 0;
  for (auto& e : std::filesystem::directory_iterator(dir_)) (void)e, ++files;
  EXPECT_EQ(files, 1u);
}

TEST_F(CheckpointFile, EveryFlippedByteIsDetected) {
  auto bytes = EncodeCheckpoint(Checkpoint{1, 1, "mlp", SmallModel()});
  for (size_t i = 0; i < bytes.size(); ++i) {
    auto copy = bytes;
    copy[i] ^= 0x40;
    EXPECT_FALSE(DecodeCheckpoint(copy).ok()) << "flip at byte " << i << " not detected";
  }
}

TEST_F(CheckpointFile, MissingFileIsNotFound) {
  auto r = ReadCheckpoint((dir_ / "nope.ckpt").string());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
}

TEST_F(CheckpointFile, WrongVersionNamesIt) {
  auto bytes = EncodeCheckpoint(Checkpoint{1, 1, "mlp", SmallModel()});
  bytes[4] = 9;  // version low byte
  auto r = DecodeCheckpoint(bytes);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("version 9"), std::string::npos);
}

}  // namespace
}  // namespace fedpress

#include "client/trainer.h"

#include <gtest/gtest.h>
#include <torch/csrc/jit/serialization/pickle.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "client/model_zoo.h"

namespace fedpress {
namespace {

const std::string kDataDir = "/usr/share/datasets/fashion-mnist";

class TrainerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto train = LoadFashionMnist(kDataDir, "train", 2000);
    auto test = LoadFashionMnist(kDataDir, "test", 1000);
    ASSERT_TRUE(train.ok()) << train.status().ToString();
    ASSERT_TRUE(test.ok()) << test.status().ToString();
    train_ = new Dataset(std::move(*train));
    test_ = new Dataset(std::move(*test));
  }
  static void TearDownTestSuite() {
    delete train_;
    delete test_;
  }
  static std::unique_ptr<Trainer> Make(const std::string& model) {
    auto t = Trainer::Create(model, 1);
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return t.ok() ? std::move(*t) : nullptr;
  }
  static Dataset* train_;
  static Dataset* test_;
};
Dataset* TrainerTest::train_ = nullptr;
Dataset* TrainerTest::test_ = nullptr;

TEST_F(TrainerTest, CnnLearnsInOneEpoch) {
  auto trainer = Make("cnn");
  ASSERT_NE(trainer, nullptr);
  auto init = InitialWeights("cnn", 1);
  ASSERT_TRUE(init.ok());
  auto before = trainer->Evaluate(*init, *test_);
  ASSERT_TRUE(before.ok()) << before.status().ToString();
  EXPECT_EQ(before->samples, 1000u);
  EXPECT_NEAR(before->loss, std::log(10.0), 0.3);

  TrainConfig cfg;  // 1 epoch, batch 32, lr 0.05, momentum 0.9
  auto r = trainer->Train(*init, *train_, cfg);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->num_samples, 2000u);
  EXPECT_TRUE(std::isfinite(r->train_loss));
  EXPECT_LT(r->train_loss, before->loss);
  EXPECT_GT(r->train_seconds, 0);
  EXPECT_EQ(r->local.layout(), init->layout());

  auto after = trainer->Evaluate(r->local, *test_);
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_GT(after->accuracy, 0.5);
  EXPECT_LT(after->loss, before->loss);
  // Evaluation in other batch sizes agrees (7 < 16 takes libtorch's non-oneDNN path).
  for (uint32_t bs : {7u, 1000u}) {
    auto other = trainer->Evaluate(r->local, *test_, bs);
    ASSERT_TRUE(other.ok());
    EXPECT_NEAR(other->accuracy, after->accuracy, 0.0021) << bs;
    EXPECT_NEAR(other->loss, after->loss, 1e-4) << bs;
  }
}

TEST_F(TrainerTest, DeterministicForSeed) {
  auto t = Trainer::Create("mlp", 1);
  ASSERT_TRUE(t.ok());
  auto init = InitialWeights("mlp", 3);
  ASSERT_TRUE(init.ok());
  Dataset few = Subset(*train_, std::vector<size_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13,
                                                    14, 15, 16, 17, 18, 19, 20, 21, 22, 23});
  TrainConfig cfg;
  cfg.batch_size = 5;
  cfg.local_epochs = 2;
  auto a = (*t)->Train(*init, few, cfg);
  auto b = (*t)->Train(*init, few, cfg);
  cfg.seed = 2;
  auto c = (*t)->Train(*init, few, cfg);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_TRUE(std::equal(a->local.values().begin(), a->local.values().end(),
                         b->local.values().begin()));
  EXPECT_FALSE(std::equal(a->local.values().begin(), a->local.values().end(),
                          c->local.values().begin()));
  EXPECT_DOUBLE_EQ(a->train_loss, b->train_loss);
}

TEST_F(TrainerTest, BadInputsAreErrorsNotCrashes) {
  auto trainer = Make("cnn");
  ASSERT_NE(trainer, nullptr);
  auto mlp = InitialWeights("mlp", 1);
  ASSERT_TRUE(mlp.ok());
  auto r = trainer->Train(*mlp, *test_, TrainConfig{});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("do not fit model 'cnn'"), std::string::npos)
      << r.status().ToString();
  EXPECT_EQ(trainer->Evaluate(*mlp, *test_).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(trainer->Evaluate(ModelWeights(), *test_).status().code(),
            StatusCode::kInvalidArgument);

  auto cnn = InitialWeights("cnn", 1);
  ASSERT_TRUE(cnn.ok());
  ModelWeights nan = *cnn;
  nan.values()[5] = std::nanf("");
  EXPECT_EQ(trainer->Train(nan, *test_, TrainConfig{}).status().code(),
            StatusCode::kInvalidArgument);

  Dataset empty;
  EXPECT_EQ(trainer->Train(*cnn, empty, TrainConfig{}).status().code(),
            StatusCode::kInvalidArgument);
  Dataset odd = Subset(*test_, std::vector<size_t>{0, 1});
  odd.rows = 27;
  EXPECT_EQ(trainer->Evaluate(*cnn, odd).status().code(), StatusCode::kInvalidArgument);
  Dataset short_images = Subset(*test_, std::vector<size_t>{0, 1});
  short_images.images.resize(100);
  EXPECT_EQ(trainer->Train(*cnn, short_images, TrainConfig{}).status().code(),
            StatusCode::kInvalidArgument);
  Dataset bad_label = Subset(*test_, std::vector<size_t>{0, 1});
  bad_label.labels[1] = 200;
  EXPECT_EQ(trainer->Train(*cnn, bad_label, TrainConfig{}).status().code(),
            StatusCode::kInvalidArgument);

  Dataset two = Subset(*test_, std::vector<size_t>{0, 1});
  for (auto mutate : std::vector<void (*)(TrainConfig&)>{
           [](TrainConfig& c) { c.batch_size = 0; }, [](TrainConfig& c) { c.local_epochs = 0; },
           [](TrainConfig& c) { c.lr = std::nanf(""); }, [](TrainConfig& c) { c.lr = -1; },
           [](TrainConfig& c) { c.momentum = 1; }}) {
    TrainConfig cfg;
    mutate(cfg);
    EXPECT_EQ(trainer->Train(*cnn, two, cfg).status().code(), StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(trainer->Evaluate(*cnn, two, 0).status().code(), StatusCode::kInvalidArgument);

  EXPECT_EQ(Trainer::Create("resnet", 1).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(Trainer::Create("cnn", -1).status().code(), StatusCode::kInvalidArgument);

  // Still usable after all that.
  auto ok = trainer->Evaluate(*cnn, two);
  EXPECT_TRUE(ok.ok()) << ok.status().ToString();
}

TEST_F(TrainerTest, ExportStateDictReadsBack) {
  auto w = InitialWeights("cnn", 11);
  ASSERT_TRUE(w.ok());
  const std::string path = ::testing::TempDir() + "/fp_sd_" + std::to_string(::getpid()) + ".pt";
  Status st = ExportStateDict(*w, path);
  ASSERT_TRUE(st.ok()) << st.ToString();

  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), {});
  ASSERT_GT(bytes.size(), w->byte_size());
  c10::IValue v = torch::jit::pickle_load(bytes);
  ASSERT_TRUE(v.isGenericDict());
  auto dict = v.toGenericDict();
  const auto& layers = w->layout().layers();
  ASSERT_EQ(dict.size(), layers.size());
  size_t i = 0;
  for (const auto& entry : dict) {  // insertion (layout) order
    ASSERT_EQ(entry.key().toStringRef(), layers[i].name);
    at::Tensor t = entry.value().toTensor();
    EXPECT_EQ(t.scalar_type(), at::kFloat);
    EXPECT_EQ(t.sizes().vec(), layers[i].shape) << layers[i].name;
    t = t.contiguous();
    auto want = w->layer(i);
    EXPECT_TRUE(std::equal(want.begin(), want.end(), t.data_ptr<float>())) << layers[i].name;
    ++i;
  }
  std::filesystem::remove(path);

  EXPECT_FALSE(ExportStateDict(*w, "/nonexistent-dir/x.pt").ok());
}

}  // namespace
}  // namespace fedpress

// ModelTool against the real fedpress-model binary: evaluations go to one
// persistent `serve` child; a dead or stuck child is replaced and the
// evaluation still answers (one-shot fallback); bad checkpoints are errors
// that leave the child serving.
#include <signal.h>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "server/model_tool.h"
#include "tests/integration/harness.h"

namespace fedpress::testing {
namespace {

class ModelToolTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = MakeTempDir("fp_mt_"); }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  server::ModelTool Tool(const std::string& binary, int timeout_s = 120) {
    server::ModelToolOptions o;
    o.binary = binary;
    o.test_data = "/usr/share/datasets/fashion-mnist";
    o.eval_limit = 200;
    o.timeout_s = timeout_s;
    return server::ModelTool(o);
  }
  std::string dir_;
};

TEST_F(ModelToolTest, OnePersistentChildServesEveryEvaluation) {
  server::ModelTool tool = Tool(BinDir() + "/fedpress-model");
  const std::string ckpt = dir_ + "/round-0.ckpt";
  ASSERT_TRUE(tool.Init("mlp", 3, 1, ckpt).ok());
  EXPECT_EQ(tool.eval_worker_pid(), 0);

  auto first = tool.Evaluate(ckpt, dir_ + "/model.pt");
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->samples, 200);
  EXPECT_GE(first->accuracy, 0.0);
  EXPECT_LE(first->accuracy, 1.0);
  EXPECT_TRUE(std::filesystem::file_size(dir_ + "/model.pt") > 0);
  const pid_t worker = tool.eval_worker_pid();
  ASSERT_GT(worker, 0);

  // Same answer from the same process.
  auto second = tool.Evaluate(ckpt, "");
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_DOUBLE_EQ(second->accuracy, first->accuracy);
  EXPECT_DOUBLE_EQ(second->loss, first->loss);
  EXPECT_EQ(tool.eval_worker_pid(), worker);

  // A bad checkpoint is an error naming it; the child keeps serving.
  std::ofstream(dir_ + "/garbage.ckpt") << "not a checkpoint";
  auto bad = tool.Evaluate(dir_ + "/garbage.ckpt", "");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("garbage.ckpt"), std::string::npos) << bad.status().ToString();
  EXPECT_EQ(tool.eval_worker_pid(), worker);

  // The child is killed: this evaluation still answers, and the next one
  // runs in a new child.
  ASSERT_EQ(::kill(worker, SIGKILL), 0);
  auto after_kill = tool.Evaluate(ckpt, "");
  ASSERT_TRUE(after_kill.ok()) << after_kill.status().ToString();
  EXPECT_DOUBLE_EQ(after_kill->accuracy, first->accuracy);
  auto again = tool.Evaluate(ckpt, "");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_GT(tool.eval_worker_pid(), 0);
  EXPECT_NE(tool.eval_worker_pid(), worker);
}

TEST_F(ModelToolTest, AChildThatNeverAnswersTimesOutAndIsReplaced) {
  // A stand-in for fedpress-model that reads requests and never answers.
  const std::string fake = dir_ + "/silent-model";
  std::ofstream(fake) << "#!/bin/sh\nexec sleep 600\n";
  ASSERT_EQ(::chmod(fake.c_str(), 0755), 0);
  server::ModelTool tool = Tool(fake, /*timeout_s=*/1);
  auto r = tool.Evaluate(dir_ + "/whatever.ckpt", "");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("timed out"), std::string::npos) << r.status().ToString();
  EXPECT_EQ(tool.eval_worker_pid(), 0);  // the silent child was killed
}

}  // namespace
}  // namespace fedpress::testing

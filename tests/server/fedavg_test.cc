#include "server/fedavg.h"

#include <gtest/gtest.h>

#include <vector>

namespace fedpress::server {
namespace {

// Three clients with unequal data: n = 100, 300, 600 (total 1000).
//   100·d1 = { 100,  200, -100,   50}
//   300·d2 = {   0, -300,  600,  150}
//   600·d3 = { 600,  600,  600, -300}
//   sum    = { 700,  500, 1100, -100}  -> / 1000 = {0.7, 0.5, 1.1, -0.1}
const std::vector<float> kD1 = {1.0f, 2.0f, -1.0f, 0.5f};
const std::vector<float> kD2 = {0.0f, -1.0f, 2.0f, 0.5f};
const std::vector<float> kD3 = {1.0f, 1.0f, 1.0f, -0.5f};
const std::vector<float> kGlobal = {10.0f, 20.0f, 30.0f, 40.0f};

void AddThree(FedAvgAggregator& agg) {
  agg.AddDense(kD1, 100);
  agg.AddDense(kD2, 300);
  agg.AddDense(kD3, 600);
}

void ExpectNear(const std::vector<float>& got, const std::vector<double>& want, double tol) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "element " << i;
}

TEST(FedAvg, WeightedAverageOfUnequalClients) {
  FedAvgAggregator agg(4);
  AddThree(agg);
  EXPECT_EQ(agg.num_elements(), 4u);
  EXPECT_EQ(agg.num_updates(), 3u);
  EXPECT_EQ(agg.total_samples(), 1000u);
  // The accumulator holds Σ n_k Δ_k exactly (small integers).
  std::vector<float> acc(agg.accumulator().begin(), agg.accumulator().end());
  EXPECT_EQ(acc, (std::vector<float>{700.0f, 500.0f, 1100.0f, -100.0f}));

  std::vector<float> global = kGlobal;
  ASSERT_TRUE(agg.ApplyTo(global).ok());
  ExpectNear(global, {10.7, 20.5, 31.1, 39.9}, 1e-5);
  // Relative to the update itself (the part FedAvg computes), within 1e-6.
  for (size_t i = 0; i < 4; ++i) {
    const double want[] = {0.7, 0.5, 1.1, -0.1};
    EXPECT_NEAR(static_cast<double>(global[i]) - kGlobal[i], want[i], 2e-6) << i;
  }
}

TEST(FedAvg, NotAPlainMean) {
  // Plain mean of the deltas would be {0.667, 0.667, 0.667, 0.167}.
  FedAvgAggregator agg(4);
  AddThree(agg);
  std::vector<float> zero(4, 0.0f);
  ASSERT_TRUE(agg.ApplyTo(zero).ok());
  ExpectNear(zero, {0.7, 0.5, 1.1, -0.1}, 1e-6);
}

TEST(FedAvg, OrderDoesNotMatter) {
  FedAvgAggregator a(4), b(4);
  AddThree(a);
  b.AddDense(kD3, 600);
  b.AddDense(kD1, 100);
  b.AddDense(kD2, 300);
  std::vector<float> ga = kGlobal, gb = kGlobal;
  ASSERT_TRUE(a.ApplyTo(ga).ok());
  ASSERT_TRUE(b.ApplyTo(gb).ok());
  ExpectNear(gb, {ga[0], ga[1], ga[2], ga[3]}, 1e-6);
}

TEST(FedAvg, ServerLearningRate) {
  FedAvgAggregator agg(4);
  AddThree(agg);
  std::vector<float> global = kGlobal;
  ASSERT_TRUE(agg.ApplyTo(global, 0.5f).ok());
  ExpectNear(global, {10.35, 20.25, 30.55, 39.95}, 1e-5);

  std::vector<float> g2 = kGlobal;
  ASSERT_TRUE(agg.ApplyTo(g2, 2.0f).ok());
  ExpectNear(g2, {11.4, 21.0, 32.2, 39.8}, 1e-5);

  std::vector<float> g0 = kGlobal;
  ASSERT_TRUE(agg.ApplyTo(g0, 0.0f).ok());
  EXPECT_EQ(g0, kGlobal);
}

TEST(FedAvg, SingleUpdateIsAppliedAsIs) {
  FedAvgAggregator agg(3);
  const std::vector<float> d = {0.25f, -3.0f, 1e-3f};
  agg.AddDense(d, 60000);
  std::vector<float> g(3, 1.0f);
  ASSERT_TRUE(agg.ApplyTo(g).ok());
  ExpectNear(g, {1.25, -2.0, 1.001}, 1e-6);
}

TEST(FedAvg, ApplyToIsRepeatableAndLeavesTheSumAlone) {
  FedAvgAggregator agg(4);
  AddThree(agg);
  std::vector<float> g1 = kGlobal, g2 = kGlobal;
  ASSERT_TRUE(agg.ApplyTo(g1).ok());
  ASSERT_TRUE(agg.ApplyTo(g2).ok());
  EXPECT_EQ(g1, g2);
  EXPECT_EQ(agg.num_updates(), 3u);
  EXPECT_EQ(agg.total_samples(), 1000u);
}

TEST(FedAvg, NoUpdatesIsFailedPrecondition) {
  FedAvgAggregator agg(4);
  std::vector<float> global = kGlobal;
  Status st = agg.ApplyTo(global);
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition) << st.ToString();
  EXPECT_EQ(global, kGlobal);
}

TEST(FedAvg, SizeMismatchIsInvalidArgument) {
  FedAvgAggregator agg(4);
  AddThree(agg);
  std::vector<float> small(3, 0.0f), big(5, 0.0f);
  Status st = agg.ApplyTo(small);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("4"), std::string::npos);
  EXPECT_NE(st.message().find("3"), std::string::npos);
  EXPECT_EQ(small, std::vector<float>(3, 0.0f));
  EXPECT_EQ(agg.ApplyTo(big).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(big, std::vector<float>(5, 0.0f));
}

TEST(FedAvg, ResetStartsOver) {
  FedAvgAggregator agg(4);
  AddThree(agg);
  agg.Reset();
  EXPECT_EQ(agg.num_updates(), 0u);
  EXPECT_EQ(agg.total_samples(), 0u);
  EXPECT_EQ(agg.num_elements(), 4u);
  for (float a : agg.accumulator()) EXPECT_EQ(a, 0.0f);
  std::vector<float> global = kGlobal;
  EXPECT_EQ(agg.ApplyTo(global).code(), StatusCode::kFailedPrecondition);
  // Reusable after Reset: only the new update counts.
  agg.AddDense(kD2, 300);
  ASSERT_TRUE(agg.ApplyTo(global).ok());
  ExpectNear(global, {10.0, 19.0, 32.0, 40.5}, 1e-6);
}

TEST(FedAvg, CountUpdatePathEqualsAddDense) {
  FedAvgAggregator dense(4), manual(4);
  AddThree(dense);
  // A sparse decoder adds n·Δ only where Δ is non-zero, then records the weight.
  struct Up {
    const std::vector<float>* d;
    uint64_t n;
  };
  for (Up u : {Up{&kD1, 100}, Up{&kD2, 300}, Up{&kD3, 600}}) {
    auto acc = manual.accumulator();
    for (size_t i = 0; i < acc.size(); ++i)
      if ((*u.d)[i] != 0.0f) acc[i] += static_cast<float>(u.n) * (*u.d)[i];
    manual.CountUpdate(u.n);
  }
  EXPECT_EQ(manual.num_updates(), dense.num_updates());
  EXPECT_EQ(manual.total_samples(), dense.total_samples());
  std::vector<float> a(dense.accumulator().begin(), dense.accumulator().end());
  std::vector<float> b(manual.accumulator().begin(), manual.accumulator().end());
  EXPECT_EQ(a, b);
  std::vector<float> ga = kGlobal, gb = kGlobal;
  ASSERT_TRUE(dense.ApplyTo(ga).ok());
  ASSERT_TRUE(manual.ApplyTo(gb).ok());
  EXPECT_EQ(ga, gb);
}

TEST(FedAvg, CountUpdateAloneCountsAsAnUpdate) {
  // An all-zero sparse update still takes part (and dilutes the average).
  FedAvgAggregator agg(4);
  agg.AddDense(kD1, 100);
  agg.CountUpdate(100);
  std::vector<float> g(4, 0.0f);
  ASSERT_TRUE(agg.ApplyTo(g).ok());
  ExpectNear(g, {0.5, 1.0, -0.5, 0.25}, 1e-6);
}

TEST(FedAvg, ManyLargeClientsStayAccurate) {
  // 100 clients with 60000 samples each and the same delta: the average is
  // that delta, within float rounding of a 6e6-weighted sum.
  const size_t n = 1000;
  FedAvgAggregator agg(n);
  std::vector<float> d(n);
  for (size_t i = 0; i < n; ++i) d[i] = 1e-3f * static_cast<float>(static_cast<int>(i % 7) - 3);
  for (int k = 0; k < 100; ++k) agg.AddDense(d, 60000);
  EXPECT_EQ(agg.total_samples(), 6000000u);
  std::vector<float> g(n, 0.0f);
  ASSERT_TRUE(agg.ApplyTo(g).ok());
  for (size_t i = 0; i < n; ++i) EXPECT_NEAR(g[i], d[i], 1e-6) << i;
}

TEST(FedAvg, ZeroSizedModel) {
  FedAvgAggregator agg(0);
  agg.AddDense({}, 5);
  std::vector<float> g;
  EXPECT_TRUE(agg.ApplyTo(g).ok());
}

}  // namespace
}  // namespace fedpress::server

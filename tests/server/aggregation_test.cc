// Robust aggregation: the math (norms, clipping, medians, trimmed means,
// outlier flags) with exact values, and the strategies behind
// RoundAggregator (streaming FedAvg with clipping, median, trimmed mean,
// adaptive clipping), including refusal of non-finite updates and the round
// memory bound.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "common/job_spec.h"
#include "compression/pipeline.h"
#include "server/aggregation_math.h"
#include "server/aggregation_strategy.h"

namespace fedpress::server {
namespace {

using Rows = std::vector<std::vector<float>>;

std::vector<std::span<const float>> Spans(const Rows& rows) {
  return std::vector<std::span<const float>>(rows.begin(), rows.end());
}

std::vector<float> MedianOf(const Rows& rows) {
  std::vector<float> out(rows.front().size());
  CoordinateMedian(Spans(rows), out);
  return out;
}

std::vector<float> TrimmedOf(const Rows& rows, size_t trim) {
  std::vector<float> out(rows.front().size());
  CoordinateTrimmedMean(Spans(rows), trim, out);
  return out;
}

// A decoder that writes the given dense update.
UpdateDecoder Dense(std::vector<float> v) {
  return [v = std::move(v)](std::span<float> out) -> Status {
    if (out.size() != v.size()) return Status::InvalidArgument("size");
    for (size_t i = 0; i < v.size(); ++i) out[i] += v[i];
    return Status::OK();
  };
}

AggregationSpec Spec(const std::string& strategy) {
  AggregationSpec s;
  s.strategy = strategy;
  return s;
}

// --- math -----------------------------------------------------------------

TEST(AggregationMath, L2NormIsExactForSmallIntegers) {
  EXPECT_DOUBLE_EQ(L2Norm(std::vector<float>{3, 4}), 5.0);
  EXPECT_DOUBLE_EQ(L2Norm(std::vector<float>{1, 2, 2, 0, 0}), 3.0);  // odd length: tail loop
  EXPECT_DOUBLE_EQ(L2Norm(std::vector<float>{}), 0.0);
  // Finite floats whose squares overflow float still give a finite norm.
  const float big = 3e38f;
  EXPECT_NEAR(L2Norm(std::vector<float>{big, big}), 3e38 * std::sqrt(2.0), 1e32);
  EXPECT_FALSE(std::isfinite(L2Norm(std::vector<float>{1, std::numeric_limits<float>::quiet_NaN()})));
  EXPECT_FALSE(std::isfinite(L2Norm(std::vector<float>{std::numeric_limits<float>::infinity()})));
}

TEST(AggregationMath, ClipScale) {
  EXPECT_EQ(ClipScale(10.0, 0.0), 1.0);   // off
  EXPECT_EQ(ClipScale(10.0, 20.0), 1.0);  // under the bound
  EXPECT_EQ(ClipScale(10.0, 10.0), 1.0);  // at the bound
  EXPECT_DOUBLE_EQ(ClipScale(10.0, 2.5), 0.25);
  EXPECT_EQ(ClipScale(0.0, 1.0), 1.0);
}

TEST(AggregationMath, MedianOddEvenAndTies) {
  EXPECT_EQ(Median({3.0}), 3.0);
  EXPECT_EQ(Median({5.0, 1.0, 3.0}), 3.0);
  EXPECT_EQ(Median({4.0, 1.0, 3.0, 2.0}), 2.5);
  EXPECT_EQ(Median({2.0, 2.0, 2.0, 9.0}), 2.0);
  EXPECT_EQ(Median({1.0, 1000.0}), 500.5);
}

TEST(AggregationMath, TrimCountLeavesAtLeastOneValue) {
  EXPECT_EQ(TrimCount(5, 0.2), 1u);
  EXPECT_EQ(TrimCount(10, 0.2), 2u);
  EXPECT_EQ(TrimCount(4, 0.2), 0u);    // floor(0.8)
  EXPECT_EQ(TrimCount(5, 0.0), 0u);
  EXPECT_EQ(TrimCount(3, 0.49), 1u);   // floor(1.47) = 1, leaves 1
  EXPECT_EQ(TrimCount(2, 0.49), 0u);   // (2-1)/2 = 0
  EXPECT_EQ(TrimCount(1, 0.4), 0u);
  EXPECT_EQ(TrimCount(0, 0.4), 0u);
}

TEST(AggregationMath, CoordinateMedianOddCount) {
  const Rows rows = {{1, -5, 7, 0}, {3, 100, 7, 0}, {2, -1, -7, 1e30f}};
  EXPECT_EQ(MedianOf(rows), (std::vector<float>{2, -1, 7, 0}));
}

TEST(AggregationMath, CoordinateMedianEvenCountAveragesTheMiddleTwo) {
  const Rows rows = {{1, 4, 2}, {3, 4, 2}, {10, 0, 2}, {-10, 8, 1e6f}};
  // sorted: {-10,1,3,10} -> 2; {0,4,4,8} -> 4; {2,2,2,1e6} -> 2
  EXPECT_EQ(MedianOf(rows), (std::vector<float>{2, 4, 2}));
}

TEST(AggregationMath, CoordinateMedianIgnoresOneHugeRow) {
  Rows rows = {{1, 1}, {1.5f, 1.5f}, {2, 2}, {2.5f, 2.5f}, {-3e38f, 3e38f}};
  EXPECT_EQ(MedianOf(rows), (std::vector<float>{1.5f, 2}));
  // Even count with the two middle values at both float extremes: no overflow.
  Rows extremes = {{-3e38f}, {3e38f}};
  EXPECT_EQ(MedianOf(extremes), (std::vector<float>{0}));
}

TEST(AggregationMath, CoordinateMedianMatchesSortingOverManyBlocks) {
  // More coordinates than one block, with ties, against a plain sort.
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> d(-3, 3);
  for (size_t k : {1u, 2u, 5u, 8u}) {
    Rows rows(k, std::vector<float>(1500));
    for (auto& r : rows)
      for (auto& x : r) x = static_cast<float>(d(rng));
    auto got = MedianOf(rows);
    for (size_t i = 0; i < 1500; ++i) {
      std::vector<float> col;
      for (auto& r : rows) col.push_back(r[i]);
      std::sort(col.begin(), col.end());
      const float want = k % 2 ? col[k / 2] : (col[k / 2 - 1] + col[k / 2]) / 2;
      ASSERT_EQ(got[i], want) << "k=" << k << " i=" << i;
    }
  }
}

TEST(AggregationMath, CoordinateMedianMayWriteIntoARow) {
  Rows rows = {{5, 1}, {1, 2}, {3, 9}};
  std::vector<std::span<const float>> spans = Spans(rows);
  CoordinateMedian(spans, rows[0]);
  EXPECT_EQ(rows[0], (std::vector<float>{3, 2}));
}

TEST(AggregationMath, TrimmedMeanDropsBothEnds) {
  // 5 values per coordinate, trim 1: mean of the middle three.
  const Rows rows = {{1, 10}, {2, 20}, {3, 30}, {4, 40}, {1000, -1e30f}};
  EXPECT_EQ(TrimmedOf(rows, 1), (std::vector<float>{3, 20}));  // (2+3+4)/3, (10+20+30)/3
  // trim 0 is the plain mean.
  const Rows small = {{1, 2}, {3, 4}};
  EXPECT_EQ(TrimmedOf(small, 0), (std::vector<float>{2, 3}));
  // trim 2 of 5 is the median.
  EXPECT_EQ(TrimmedOf(rows, 2), (std::vector<float>{3, 20}));
}

TEST(AggregationMath, TrimmedMeanWithTiesAndEvenCount) {
  // 6 values, trim 2: the middle two.
  const Rows rows = {{7}, {7}, {7}, {1}, {100}, {7}};
  EXPECT_EQ(TrimmedOf(rows, 2), (std::vector<float>{7}));
  const Rows even = {{4}, {-1}, {2}, {8}, {0}, {6}};  // sorted -1 0 2 4 6 8
  EXPECT_EQ(TrimmedOf(even, 2), (std::vector<float>{3}));
  EXPECT_EQ(TrimmedOf(even, 1), (std::vector<float>{3}));  // (0+2+4+6)/4
}

TEST(AggregationMath, TrimmedMeanMatchesSortingOverManyBlocks) {
  std::mt19937 rng(11);
  std::normal_distribution<float> d(0.0f, 1.0f);
  const size_t k = 7, trim = 2, n = 1100;
  Rows rows(k, std::vector<float>(n));
  for (auto& r : rows)
    for (auto& x : r) x = d(rng);
  auto got = TrimmedOf(rows, trim);
  for (size_t i = 0; i < n; ++i) {
    std::vector<double> col;
    for (auto& r : rows) col.push_back(r[i]);
    std::sort(col.begin(), col.end());
    const double want = std::accumulate(col.begin() + trim, col.end() - trim, 0.0) / (k - 2 * trim);
    ASSERT_NEAR(got[i], want, 1e-6) << i;
  }
}

TEST(AggregationMath, OutlierFlags) {
  const std::vector<double> norms = {1.0, 1.2, 0.9, 50.0, 1.1};
  EXPECT_EQ(FlagOutliers(norms, 3.0), (std::vector<bool>{false, false, false, true, false}));
  // The bound is strict: exactly factor × median is not an outlier.
  EXPECT_EQ(FlagOutliers(std::vector<double>{1, 1, 3}, 3.0), (std::vector<bool>{false, false, false}));
  // Too few updates for a reference.
  EXPECT_EQ(FlagOutliers(std::vector<double>{1, 1000}, 3.0), (std::vector<bool>{false, false}));
}

// --- strategies -------------------------------------------------------------

// The sparse fast path (compressed updates folded straight into the sum,
// norm from the decoder) gives the same bits and norms as decoding each update
// densely first; a corrupt payload leaves the sum untouched.
TEST(RoundAggregator, FedAvgSparseFastPathEqualsTheDensePath) {
  using namespace fedpress::compression;
  const ModelLayout layout({{"fc1.weight", {64, 500}}, {"fc1.bias", {64}}, {"fc2.weight", {10, 64}}});
  auto spec = Preset("topk1%-q4");
  ASSERT_TRUE(spec.ok());
  auto enc = Encoder::Create(spec->uplink, layout);
  ASSERT_TRUE(enc.ok()) << enc.status().ToString();
  std::mt19937 rng(7);
  std::normal_distribution<float> g(0.0f, 0.01f);
  std::vector<std::vector<uint8_t>> payloads(4);
  for (size_t k = 0; k < payloads.size(); ++k) {
    std::vector<float> delta(layout.total_elements());
    for (float& x : delta) x = g(rng);
    ErrorFeedback ef(layout);
    ASSERT_TRUE(enc->Encode(delta, &ef, k, &payloads[k]).ok());
  }
  const uint64_t samples[] = {100, 250, 40, 900};
  DecodeContext ctx;
  auto fast = MakeRoundAggregator(Spec("fedavg"), layout.total_elements(), 4);
  auto slow = MakeRoundAggregator(Spec("fedavg"), layout.total_elements(), 4);
  for (size_t k = 0; k < payloads.size(); ++k) {
    const std::span<const uint8_t> p(payloads[k]);
    UpdateDecoder dense = [&](std::span<float> out) { return ctx.DecodeAccumulate(p, layout, 1.0f, out); };
    UpdateAccumulator direct = [&](float w, std::span<float> acc, double* ss) {
      return ctx.DecodeAccumulate(p, layout, w, acc, {}, ss);
    };
    auto a = fast->Add(dense, samples[k], &direct);
    auto b = slow->Add(dense, samples[k]);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_GT(a->norm, 0.0);
    EXPECT_NEAR(a->norm, b->norm, 1e-9 * b->norm) << k;
  }
  // A corrupt payload: refused by both paths, the sums unchanged.
  std::vector<uint8_t> bad = payloads[0];
  bad[bad.size() / 2] ^= 0x5a;
  UpdateDecoder bad_dense = [&](std::span<float> out) { return ctx.DecodeAccumulate(bad, layout, 1.0f, out); };
  UpdateAccumulator bad_direct = [&](float w, std::span<float> acc, double* ss) {
    return ctx.DecodeAccumulate(bad, layout, w, acc, {}, ss);
  };
  EXPECT_FALSE(fast->Add(bad_dense, 10, &bad_direct).ok());
  EXPECT_EQ(fast->num_updates(), 4u);
  std::vector<float> g1(layout.total_elements(), 1.0f), g2 = g1;
  ASSERT_TRUE(fast->ApplyTo(g1).ok());
  ASSERT_TRUE(slow->ApplyTo(g2).ok());
  EXPECT_EQ(g1, g2);
  EXPECT_NE(g1, std::vector<float>(layout.total_elements(), 1.0f));
}

TEST(RoundAggregator, FedAvgWithoutClippingIsTheWeightedMean) {
  auto agg = MakeRoundAggregator(Spec("fedavg"), 4, 3);
  ASSERT_TRUE(agg->Add(Dense({1, 2, -1, 0.5f}), 100).ok());
  ASSERT_TRUE(agg->Add(Dense({0, -1, 2, 0.5f}), 300).ok());
  auto s = agg->Add(Dense({1, 1, 1, -0.5f}), 600);
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE(s->clipped);
  EXPECT_DOUBLE_EQ(s->norm, std::sqrt(3.25));
  EXPECT_EQ(agg->num_updates(), 3u);
  std::vector<float> g = {10, 20, 30, 40};
  ASSERT_TRUE(agg->ApplyTo(g).ok());
  const double want[] = {10.7, 20.5, 31.1, 39.9};
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(g[i], want[i], 1e-5) << i;
  // Streaming: memory does not grow with the number of updates.
  EXPECT_GE(agg->memory_bytes(), 8 * sizeof(float));
  EXPECT_LT(agg->memory_bytes(), 3 * 4 * sizeof(float) + 64);
}

TEST(RoundAggregator, FedAvgClipsHugeUpdatesToClipNorm) {
  AggregationSpec spec = Spec("fedavg");
  spec.clip_norm = 5.0;
  auto agg = MakeRoundAggregator(spec, 2, 3);
  auto a = agg->Add(Dense({3, 4}), 1);        // norm 5: not clipped
  auto b = agg->Add(Dense({3000, 4000}), 1);  // norm 5000: scaled to 5
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_FALSE(a->clipped);
  EXPECT_TRUE(b->clipped);
  EXPECT_DOUBLE_EQ(b->norm, 5000.0);  // recorded before clipping
  std::vector<float> g = {0, 0};
  ASSERT_TRUE(agg->ApplyTo(g).ok());
  EXPECT_NEAR(g[0], 3.0, 1e-5);
  EXPECT_NEAR(g[1], 4.0, 1e-5);
  auto sum = agg->Summary();
  EXPECT_EQ(sum.clipped, 1);
  ASSERT_TRUE(sum.median_norm.has_value());
  EXPECT_DOUBLE_EQ(*sum.median_norm, 2502.5);
}

TEST(RoundAggregator, MedianResistsOnePoisonedClientOfFive) {
  auto agg = MakeRoundAggregator(Spec("median"), 3, 5);
  ASSERT_TRUE(agg->Add(Dense({1, 1, 1}), 10).ok());
  ASSERT_TRUE(agg->Add(Dense({2, 2, 2}), 10).ok());
  ASSERT_TRUE(agg->Add(Dense({3, 3, 3}), 10).ok());
  ASSERT_TRUE(agg->Add(Dense({4, 4, 4}), 10).ok());
  ASSERT_TRUE(agg->Add(Dense({-4000, 4000, 1e6f}), 10000).ok());  // poisoned; big n does not help
  std::vector<float> g = {100, 100, 100};
  ASSERT_TRUE(agg->ApplyTo(g).ok());
  EXPECT_EQ(g, (std::vector<float>{102, 103, 103}));
  auto sum = agg->Summary();
  ASSERT_EQ(sum.updates.size(), 5u);
  EXPECT_TRUE(sum.updates[4].outlier);
  for (int k = 0; k < 4; ++k) EXPECT_FALSE(sum.updates[k].outlier) << k;
  EXPECT_EQ(sum.outliers, 1);
  EXPECT_EQ(sum.clipped, 0);
}

TEST(RoundAggregator, MedianOfAnEvenCount) {
  auto agg = MakeRoundAggregator(Spec("median"), 1, 4);
  for (float v : {1.0f, 2.0f, 3.0f, 100.0f}) ASSERT_TRUE(agg->Add(Dense({v}), 1).ok());
  std::vector<float> g = {0};
  ASSERT_TRUE(agg->ApplyTo(g).ok());
  EXPECT_EQ(g[0], 2.5f);
}

TEST(RoundAggregator, TrimmedMeanUsesTrimRatio) {
  AggregationSpec spec = Spec("trimmed_mean");
  spec.trim_ratio = 0.2;  // 5 updates: drop 1 at each end
  auto agg = MakeRoundAggregator(spec, 2, 5);
  for (float v : {1.0f, 2.0f, 3.0f, 6.0f}) ASSERT_TRUE(agg->Add(Dense({v, -v}), 1).ok());
  ASSERT_TRUE(agg->Add(Dense({-1000, 1000}), 1).ok());
  std::vector<float> g = {0, 0};
  ASSERT_TRUE(agg->ApplyTo(g).ok());
  EXPECT_EQ(g, (std::vector<float>{2, -2}));  // (1+2+3)/3, (-1-2-3)/3
}

TEST(RoundAggregator, AdaptiveClipBoundsUpdatesToAMultipleOfTheMedianNorm) {
  AggregationSpec spec = Spec("fedavg");
  spec.adaptive_clip = 2.0;
  auto agg = MakeRoundAggregator(spec, 2, 3);
  ASSERT_TRUE(agg->Add(Dense({3, 4}), 1).ok());      // norm 5
  ASSERT_TRUE(agg->Add(Dense({6, 8}), 1).ok());      // norm 10 (the median)
  ASSERT_TRUE(agg->Add(Dense({600, 800}), 1).ok());  // norm 1000 -> 20
  // The bound is only known at the end.
  EXPECT_EQ(agg->Summary().clipped, 0);
  std::vector<float> g = {0, 0};
  ASSERT_TRUE(agg->ApplyTo(g).ok());
  // (3 + 6 + 12) / 3, (4 + 8 + 16) / 3
  EXPECT_NEAR(g[0], 7.0, 1e-5);
  EXPECT_NEAR(g[1], 28.0 / 3, 1e-5);
  auto sum = agg->Summary();
  EXPECT_EQ(sum.clipped, 1);
  EXPECT_TRUE(sum.updates[2].clipped);
  EXPECT_TRUE(sum.updates[2].outlier);
  EXPECT_DOUBLE_EQ(sum.updates[2].norm, 1000.0);
  EXPECT_DOUBLE_EQ(*sum.median_norm, 10.0);
}

TEST(RoundAggregator, AdaptiveClipWithMedianStrategy) {
  AggregationSpec spec = Spec("median");
  spec.adaptive_clip = 1.0;
  auto agg = MakeRoundAggregator(spec, 1, 3);
  for (float v : {1.0f, -2.0f, 50.0f}) ASSERT_TRUE(agg->Add(Dense({v}), 1).ok());
  std::vector<float> g = {0};
  ASSERT_TRUE(agg->ApplyTo(g).ok());
  // Median norm 2: 50 -> 2; the median of {1, -2, 2} is 1.
  EXPECT_EQ(g[0], 1.0f);
  EXPECT_EQ(agg->Summary().clipped, 1);
}

TEST(RoundAggregator, NonFiniteUpdatesNeverReachTheMath) {
  for (const char* strategy : {"fedavg", "median", "trimmed_mean"}) {
    SCOPED_TRACE(strategy);
    auto agg = MakeRoundAggregator(Spec(strategy), 3, 4);
    ASSERT_TRUE(agg->Add(Dense({1, 1, 1}), 1).ok());
    auto nan = agg->Add(Dense({0, std::numeric_limits<float>::quiet_NaN(), 0}), 1);
    EXPECT_EQ(nan.status().code(), StatusCode::kInvalidArgument);
    auto inf = agg->Add(Dense({-std::numeric_limits<float>::infinity(), 0, 0}), 1);
    EXPECT_EQ(inf.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(agg->num_updates(), 1u);
    // A decoder error is passed on and nothing is kept either.
    auto bad = agg->Add([](std::span<float> out) {
      out[0] = 123;  // partial write before failing
      return Status::Corruption("bad bytes");
    }, 1);
    EXPECT_EQ(bad.status().code(), StatusCode::kCorruption);
    ASSERT_TRUE(agg->Add(Dense({3, 3, 3}), 1).ok());
    EXPECT_EQ(agg->num_updates(), 2u);
    std::vector<float> g = {0, 0, 0};
    ASSERT_TRUE(agg->ApplyTo(g).ok());
    EXPECT_EQ(g, (std::vector<float>{2, 2, 2}));
    EXPECT_EQ(agg->Summary().updates.size(), 2u);
  }
}

TEST(RoundAggregator, BufferingStrategiesHoldAtMostMaxUpdates) {
  auto agg = MakeRoundAggregator(Spec("median"), 1000, 2);
  ASSERT_TRUE(agg->Add(Dense(std::vector<float>(1000, 1)), 1).ok());
  ASSERT_TRUE(agg->Add(Dense(std::vector<float>(1000, 2)), 1).ok());
  EXPECT_EQ(agg->memory_bytes(), 2 * 1000 * sizeof(float));
  auto third = agg->Add(Dense(std::vector<float>(1000, 3)), 1);
  EXPECT_EQ(third.status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(agg->num_updates(), 2u);
  EXPECT_EQ(agg->memory_bytes(), 2 * 1000 * sizeof(float));
}

TEST(RoundAggregator, NoUpdatesAndWrongSizesAreErrors) {
  for (const char* strategy : {"fedavg", "median", "trimmed_mean"}) {
    auto agg = MakeRoundAggregator(Spec(strategy), 2, 2);
    std::vector<float> g = {0, 0};
    EXPECT_EQ(agg->ApplyTo(g).code(), StatusCode::kFailedPrecondition) << strategy;
    EXPECT_FALSE(agg->Add(Dense({1, 1}), 0).ok()) << strategy;  // zero samples
    ASSERT_TRUE(agg->Add(Dense({1, 1}), 1).ok());
    std::vector<float> wrong = {0, 0, 0};
    EXPECT_EQ(agg->ApplyTo(wrong).code(), StatusCode::kInvalidArgument) << strategy;
    EXPECT_FALSE(agg->Summary().median_norm == std::nullopt);
  }
}

// --- the round memory bound at job creation ---------------------------------

TEST(RoundMemory, RobustJobsOverTheServerBoundAreRefusedWithTheNumbers) {
  JobSpecLimits limits;
  limits.max_round_memory_bytes = 10'000'000;  // 10 MB
  // cnn: 206,922 parameters = 827,688 bytes; x 20 clients = 16.6 MB > 10 MB.
  nlohmann::json body = {{"name", "m"}, {"model", "cnn"}, {"clients_per_round", 20},
                         {"aggregation", {{"strategy", "median"}}}};
  auto p = ParseJobSpec(body, {}, limits);
  ASSERT_FALSE(p.spec);
  ASSERT_EQ(p.errors.size(), 1u);
  EXPECT_EQ(p.errors[0].field, "aggregation.strategy");
  EXPECT_NE(p.errors[0].message.find("16.6 MB"), std::string::npos) << p.errors[0].message;
  EXPECT_NE(p.errors[0].message.find("10.0 MB"), std::string::npos) << p.errors[0].message;
  EXPECT_NE(p.errors[0].message.find("--max-round-memory"), std::string::npos);
  // Adaptive clipping buffers too.
  body["aggregation"] = {{"strategy", "fedavg"}, {"adaptive_clip", 2}};
  p = ParseJobSpec(body, {}, limits);
  ASSERT_FALSE(p.spec);
  EXPECT_EQ(p.errors[0].field, "aggregation.adaptive_clip");
  // Fewer clients fit; streaming FedAvg (even with a fixed clip) needs no buffer.
  body["clients_per_round"] = 12;  // 9.9 MB
  body["aggregation"] = {{"strategy", "trimmed_mean"}};
  EXPECT_TRUE(ParseJobSpec(body, {}, limits).spec);
  body["clients_per_round"] = 100000;
  body["aggregation"] = {{"strategy", "fedavg"}, {"clip_norm", 10}};
  auto ok = ParseJobSpec(body, {}, limits);
  ASSERT_TRUE(ok.spec);
  EXPECT_EQ(RoundMemoryBytes(*ok.spec), 0u);
  // No limit configured: accepted.
  body["aggregation"] = {{"strategy", "median"}};
  EXPECT_TRUE(ParseJobSpec(body).spec);
}

}  // namespace
}  // namespace fedpress::server

#include "client/partition.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <set>

#include "client/idx_dataset.h"

namespace fedpress {
namespace {

class PartitionTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto d = LoadFashionMnist("/usr/share/datasets/fashion-mnist", "train", 0);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    labels_ = new std::vector<uint8_t>(std::move(d->labels));
  }
  static void TearDownTestSuite() {
    delete labels_;
    labels_ = nullptr;
  }
  static std::span<const uint8_t> labels() { return *labels_; }

  static std::vector<std::vector<size_t>> All(const PartitionSpec& s, size_t of, uint64_t seed) {
    auto r = PartitionAll(labels(), s, of, seed);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::vector<std::vector<size_t>>{};
  }

  // Mean over clients of the share of a client's items in its largest class.
  static double MeanMaxClassShare(const std::vector<std::vector<size_t>>& parts) {
    double sum = 0;
    for (const auto& p : parts) {
      std::vector<size_t> c(10, 0);
      for (size_t i : p) ++c[labels()[i]];
      sum += double(*std::max_element(c.begin(), c.end())) / double(p.size());
    }
    return sum / double(parts.size());
  }

  static std::vector<uint8_t>* labels_;
};
std::vector<uint8_t>* PartitionTest::labels_ = nullptr;

PartitionSpec Spec(std::string_view s) {
  auto r = ParsePartition(s);
  EXPECT_TRUE(r.ok()) << s;
  return *r;
}

TEST_F(PartitionTest, DisjointCompleteDeterministic) {
  for (const char* text : {"iid", "dirichlet:0.5", "shards:2"}) {
    const PartitionSpec spec = Spec(text);
    for (size_t of : {1, 3, 10}) {
      SCOPED_TRACE(std::string(text) + " of=" + std::to_string(of));
      auto parts = All(spec, of, 42);
      ASSERT_EQ(parts.size(), of);
      std::vector<size_t> all;
      for (size_t k = 0; k < of; ++k) {
        EXPECT_FALSE(parts[k].empty());
        EXPECT_TRUE(std::is_sorted(parts[k].begin(), parts[k].end()));
        all.insert(all.end(), parts[k].begin(), parts[k].end());
        // The per-client call gives the same part.
        auto mine = PartitionIndices(labels(), spec, k, of, 42);
        ASSERT_TRUE(mine.ok()) << mine.status().ToString();
        EXPECT_EQ(*mine, parts[k]);
      }
      // Disjoint and complete: the union is every index exactly once.
      std::sort(all.begin(), all.end());
      std::vector<size_t> expected(labels().size());
      std::iota(expected.begin(), expected.end(), size_t{0});
      EXPECT_EQ(all, expected);
      // Deterministic for a seed, different for another (when there is a choice).
      EXPECT_EQ(All(spec, of, 42), parts);
      if (of > 1) {
        EXPECT_NE(All(spec, of, 43), parts);
      }
    }
  }
}

TEST_F(PartitionTest, IidIsBalanced) {
  auto parts = All(Spec("iid"), 7, 1);
  for (const auto& p : parts) {
    EXPECT_GE(p.size(), 60000u / 7);
    EXPECT_LE(p.size(), 60000u / 7 + 1);
  }
  EXPECT_LT(MeanMaxClassShare(parts), 0.15);
}

TEST_F(PartitionTest, DirichletSmallAlphaIsSkewed) {
  const double iid = MeanMaxClassShare(All(Spec("iid"), 10, 5));
  const double skew = MeanMaxClassShare(All(Spec("dirichlet:0.1"), 10, 5));
  const double mild = MeanMaxClassShare(All(Spec("dirichlet:100"), 10, 5));
  EXPECT_LT(iid, 0.15);
  EXPECT_GT(skew, 0.5);
  EXPECT_GT(skew, 3 * iid);
  EXPECT_LT(mild, 0.2);
  // Every client still has data, even with a tiny alpha and many clients.
  for (const auto& p : All(Spec("dirichlet:0.01"), 100, 5)) EXPECT_GE(p.size(), 10u);
}

TEST_F(PartitionTest, ShardsGiveFewClassesPerClient) {
  // 60000 sorted items, 20 shards of 3000: each inside one class (6000 each).
  auto parts = All(Spec("shards:2"), 10, 9);
  for (const auto& p : parts) {
    EXPECT_EQ(p.size(), 6000u);
    std::set<uint8_t> classes;
    for (size_t i : p) classes.insert(labels()[i]);
    EXPECT_LE(classes.size(), 2u);
  }
}

TEST_F(PartitionTest, SmallInputs) {
  std::vector<uint8_t> l = {3, 1, 3, 0, 2};
  for (const char* text : {"iid", "dirichlet:0.3", "shards:1"}) {
    auto parts = PartitionAll(l, Spec(text), 5, 1);
    ASSERT_TRUE(parts.ok()) << text << ": " << parts.status().ToString();
    for (const auto& p : *parts) EXPECT_EQ(p.size(), 1u) << text;
  }
}

TEST_F(PartitionTest, ValidationErrors) {
  std::vector<uint8_t> l = {0, 1, 2, 3};
  auto iid = Spec("iid");
  EXPECT_EQ(PartitionIndices(l, iid, 0, 0, 1).status().code(), StatusCode::kInvalidArgument);
  auto r = PartitionIndices(l, iid, 3, 3, 1);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("client index 3"), std::string::npos);
  r = PartitionIndices(l, iid, 0, 5, 1);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("fewer clients"), std::string::npos);
  EXPECT_FALSE(PartitionIndices({}, iid, 0, 1, 1).ok());
  r = PartitionIndices(l, Spec("shards:3"), 0, 2, 1);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("6 shards"), std::string::npos);
  PartitionSpec bad;
  bad.kind = PartitionSpec::kDirichlet;
  bad.alpha = -1;
  EXPECT_FALSE(PartitionIndices(l, bad, 0, 1, 1).ok());
  bad.kind = PartitionSpec::kShards;
  bad.shards_per_client = 0;
  EXPECT_FALSE(PartitionIndices(l, bad, 0, 1, 1).ok());
}

TEST(ParsePartitionTest, Accepts) {
  auto s = ParsePartition("iid");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->kind, PartitionSpec::kIid);
  s = ParsePartition("dirichlet:0.5");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->kind, PartitionSpec::kDirichlet);
  EXPECT_DOUBLE_EQ(s->alpha, 0.5);
  s = ParsePartition("dirichlet:1e-3");
  ASSERT_TRUE(s.ok());
  EXPECT_DOUBLE_EQ(s->alpha, 0.001);
  s = ParsePartition("shards:2");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->kind, PartitionSpec::kShards);
  EXPECT_EQ(s->shards_per_client, 2);
  for (const char* t : {"iid", "dirichlet:0.5", "dirichlet:100", "shards:7"})
    EXPECT_EQ(FormatPartition(*ParsePartition(t)), t);
}

TEST(ParsePartitionTest, RejectsWithClearErrors) {
  for (const char* t :
       {"", "IID", "iid:2", "dirichlet", "dirichlet:", "dirichlet:0", "dirichlet:-1",
        "dirichlet:nan", "dirichlet:inf", "dirichlet:0.5x", "dirichlet: 0.5", "dirichlet:1e7",
        "shards", "shards:", "shards:0", "shards:-2", "shards:1.5", "shards:2x",
        "shards:99999999999", "random", "dirichlet0.5"}) {
    auto s = ParsePartition(t);
    ASSERT_FALSE(s.ok()) << "accepted '" << t << "'";
    EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(s.status().message().find("e.g."), std::string::npos) << s.status().ToString();
  }
}

// FNV-1a over every client's indices: pins the exact output so that a change
// in the algorithm (which would make clients of different versions disagree)
// is caught.
uint64_t Fingerprint(const std::vector<std::vector<size_t>>& parts) {
  uint64_t h = 1469598103934665603ULL;
  for (const auto& p : parts) {
    for (size_t i : p) h = (h ^ i) * 1099511628211ULL;
    h = (h ^ 0xFFFF) * 1099511628211ULL;
  }
  return h;
}

TEST(PartitionStabilityTest, OutputIsPinned) {
  std::vector<uint8_t> labels(1000);
  for (size_t i = 0; i < labels.size(); ++i) labels[i] = uint8_t((i * 7 + i / 13) % 10);
  for (auto [text, want] : std::vector<std::pair<const char*, uint64_t>>{
           {"iid", 2539787516158662643ULL},
           {"dirichlet:0.5", 293518017428400805ULL},
           {"shards:2", 9901530066834436647ULL}}) {
    auto parts = PartitionAll(labels, *ParsePartition(text), 4, 2024);
    ASSERT_TRUE(parts.ok());
    EXPECT_EQ(Fingerprint(*parts), want) << text;
  }
}

}  // namespace
}  // namespace fedpress

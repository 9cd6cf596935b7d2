#include "server/scheduler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <vector>

namespace fedpress::server {
namespace {

std::vector<int64_t> Ids(int64_t from, int64_t to) {
  std::vector<int64_t> v;
  for (int64_t i = from; i <= to; ++i) v.push_back(i);
  return v;
}

TEST(Scheduler, PicksMinKNDistinctSortedCandidates) {
  const std::vector<int64_t> cands = {17, 4, 99, 23, 8, 42, 15};
  for (size_t k = 0; k <= 10; ++k) {
    for (uint64_t seed : {0ull, 1ull, 7ull, 0xFFFFFFFFFFFFFFFFull}) {
      auto got = SelectClients(cands, k, seed);
      EXPECT_EQ(got.size(), std::min(k, cands.size())) << "k=" << k;
      EXPECT_TRUE(std::is_sorted(got.begin(), got.end()));
      EXPECT_EQ(std::adjacent_find(got.begin(), got.end()), got.end()) << "duplicates";
      for (int64_t id : got)
        EXPECT_NE(std::find(cands.begin(), cands.end(), id), cands.end()) << id << " not a candidate";
    }
  }
  auto all = SelectClients(cands, 100, 3);
  EXPECT_EQ(all, (std::vector<int64_t>{4, 8, 15, 17, 23, 42, 99}));
}

TEST(Scheduler, KZeroAndEmptyInput) {
  EXPECT_TRUE(SelectClients({1, 2, 3}, 0, 5).empty());
  EXPECT_TRUE(SelectClients({}, 0, 5).empty());
  EXPECT_TRUE(SelectClients({}, 4, 5).empty());
  EXPECT_EQ(SelectClients({9}, 4, 5), std::vector<int64_t>{9});
}

TEST(Scheduler, DuplicatesCountOnce) {
  auto got = SelectClients({5, 5, 5, 6, 6}, 10, 1);
  EXPECT_EQ(got, (std::vector<int64_t>{5, 6}));
  for (uint64_t seed = 0; seed < 50; ++seed) {
    auto two = SelectClients({3, 3, 3, 3, 3, 3, 7}, 2, seed);
    EXPECT_EQ(two, (std::vector<int64_t>{3, 7}));
  }
}

TEST(Scheduler, DeterministicRegardlessOfOrderAndDuplicates) {
  std::vector<int64_t> base = Ids(1, 30);
  std::mt19937_64 rng(99);
  for (uint64_t seed = 0; seed < 200; ++seed) {
    auto want = SelectClients(base, 7, seed);
    EXPECT_EQ(SelectClients(base, 7, seed), want);
    std::vector<int64_t> shuffled = base;
    shuffled.insert(shuffled.end(), base.begin(), base.begin() + 10);  // duplicates
    std::shuffle(shuffled.begin(), shuffled.end(), rng);
    EXPECT_EQ(SelectClients(shuffled, 7, seed), want) << "seed " << seed;
    std::vector<int64_t> reversed(base.rbegin(), base.rend());
    EXPECT_EQ(SelectClients(reversed, 7, seed), want);
  }
}

TEST(Scheduler, NegativeAndLargeIds) {
  std::vector<int64_t> c = {-5, INT64_MAX, 0, INT64_MIN, 12};
  auto got = SelectClients(c, 5, 11);
  EXPECT_EQ(got, (std::vector<int64_t>{INT64_MIN, -5, 0, 12, INT64_MAX}));
  EXPECT_EQ(SelectClients(c, 3, 11).size(), 3u);
}

TEST(Scheduler, DifferentSeedsGiveDifferentPicks) {
  std::set<std::vector<int64_t>> distinct;
  for (uint64_t seed = 0; seed < 100; ++seed) distinct.insert(SelectClients(Ids(1, 20), 5, seed));
  // C(20,5) = 15504 subsets: 100 seeds should almost never collide.
  EXPECT_GE(distinct.size(), 95u);
}

TEST(Scheduler, RoughlyUniform) {
  const auto cands = Ids(1, 10);
  const size_t k = 3;
  const int trials = 20000;
  std::map<int64_t, int> count;
  std::map<std::vector<int64_t>, int> subsets;
  for (int t = 0; t < trials; ++t) {
    auto got = SelectClients(cands, k, RoundSeed(12345, static_cast<uint32_t>(t + 1), 1));
    for (int64_t id : got) ++count[id];
    ++subsets[got];
  }
  // Each client is picked with probability k/n = 0.3: expected 6000, sd ~65.
  const double expected = static_cast<double>(trials) * k / cands.size();
  for (int64_t id : cands) EXPECT_NEAR(count[id], expected, expected * 0.08) << "client " << id;
  // Every 3-subset of 10 (120 of them) shows up, none hugely over-represented.
  EXPECT_EQ(subsets.size(), 120u);
  for (const auto& [s, c] : subsets) EXPECT_LT(c, 2.0 * trials / 120) << "subset over-represented";
}

TEST(Scheduler, ConsecutiveSeedsAreUniformToo) {
  // Plain small sequential seeds (no RoundSeed mixing) still spread evenly.
  const auto cands = Ids(100, 109);
  std::map<int64_t, int> count;
  for (uint64_t seed = 0; seed < 10000; ++seed)
    for (int64_t id : SelectClients(cands, 2, seed)) ++count[id];
  for (int64_t id : cands) EXPECT_NEAR(count[id], 2000, 250) << id;
}

TEST(Scheduler, RoundSeedDiffersAcrossRoundsAndAttempts) {
  std::set<uint64_t> seen;
  for (uint32_t round = 1; round <= 200; ++round)
    for (uint32_t attempt = 1; attempt <= 5; ++attempt)
      EXPECT_TRUE(seen.insert(RoundSeed(42, round, attempt)).second)
          << "round " << round << " attempt " << attempt;
  EXPECT_EQ(RoundSeed(42, 3, 1), RoundSeed(42, 3, 1));
  EXPECT_NE(RoundSeed(42, 3, 1), RoundSeed(43, 3, 1));
  EXPECT_NE(RoundSeed(42, 3, 1), RoundSeed(42, 3, 2));
  EXPECT_NE(RoundSeed(42, 3, 1), RoundSeed(42, 4, 1));
  // The first attempts of the same round differ across job seeds.
  std::set<uint64_t> by_job;
  for (uint64_t job_seed = 0; job_seed < 1000; ++job_seed)
    by_job.insert(RoundSeed(job_seed, 1, 1));
  EXPECT_EQ(by_job.size(), 1000u);
}

TEST(Scheduler, RetriedRoundUsuallyPicksDifferently) {
  const auto cands = Ids(1, 20);
  int same = 0;
  for (uint32_t round = 1; round <= 100; ++round)
    same += SelectClients(cands, 4, RoundSeed(7, round, 1)) ==
            SelectClients(cands, 4, RoundSeed(7, round, 2));
  EXPECT_LE(same, 2);
}

}  // namespace
}  // namespace fedpress::server

// Store, schema v4 (migrations/0004_robust_aggregation.sql): per-update L2
// norm and clipped/outlier flags on participations, the round's median norm
// and counts, and rows written before v4 reading back with defaults.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include "server/store/store.h"
#include "tests/temp_dir.h"

namespace fedpress::server {
namespace {

class StoreRobustness : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = Store::Open({dir_.path() + "/fp.db"});
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
    auto job = store_->CreateJob("j", "{}", 3, 1);
    auto client = store_->UpsertClient("c", 10, "{}", 1);
    ASSERT_TRUE(job.ok() && client.ok());
    job_ = *job;
    client_ = *client;
  }
  ParticipationRow Part(std::optional<double> norm, bool clipped) const {
    ParticipationRow p;
    p.job_id = job_;
    p.round = 1;
    p.client_id = client_;
    p.samples = 10;
    p.update_norm = norm;
    p.clipped = clipped;
    return p;
  }
  fedpress::testing::TempDir dir_{"fp_store_robust_"};
  std::unique_ptr<Store> store_;
  int64_t job_ = 0, client_ = 0;
};

TEST_F(StoreRobustness, SchemaHasVersionFour) { EXPECT_GE(store_->schema_version(), 4); }

TEST_F(StoreRobustness, ParticipationNormAndFlagsRoundTrip) {
  auto a = store_->RecordParticipation(Part(1.25, false));
  auto b = store_->RecordParticipation(Part(5000.5, true));
  auto c = store_->RecordParticipation(Part(std::nullopt, false));  // e.g. a timeout
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  // Outlier status is decided when the round closes.
  ASSERT_TRUE(store_->SetParticipationFlags(*b, true, true).ok());
  ASSERT_TRUE(store_->SetParticipationFlags(*a, true, false).ok());  // adaptive clip, later
  auto rows = store_->ListParticipations(job_, 1);
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 3u);
  EXPECT_EQ((*rows)[0].update_norm, std::optional<double>(1.25));
  EXPECT_TRUE((*rows)[0].clipped);
  EXPECT_FALSE((*rows)[0].outlier);
  EXPECT_EQ((*rows)[1].update_norm, std::optional<double>(5000.5));
  EXPECT_TRUE((*rows)[1].clipped);
  EXPECT_TRUE((*rows)[1].outlier);
  EXPECT_EQ((*rows)[2].update_norm, std::nullopt);
  EXPECT_FALSE((*rows)[2].clipped);
  EXPECT_FALSE((*rows)[2].outlier);
  EXPECT_EQ(store_->SetParticipationFlags(*c + 100, true, true).code(), StatusCode::kNotFound);
}

TEST_F(StoreRobustness, RoundMedianNormAndCountsRoundTrip) {
  RoundRow r;
  r.job_id = job_;
  r.round = 1;
  r.participants = 5;
  r.samples = 50;
  r.checkpoint = "x";
  r.median_norm = 0.75;
  r.clipped = 2;
  r.outliers = 1;
  ASSERT_TRUE(store_->CommitRound(r, false, 5).ok());
  RoundRow plain = r;
  plain.round = 2;
  plain.median_norm.reset();
  plain.clipped = plain.outliers = 0;
  ASSERT_TRUE(store_->CommitRound(plain, false, 6).ok());
  auto rounds = store_->ListRounds(job_);
  ASSERT_TRUE(rounds.ok());
  ASSERT_EQ(rounds->size(), 2u);
  EXPECT_EQ((*rounds)[0].median_norm, std::optional<double>(0.75));
  EXPECT_EQ((*rounds)[0].clipped, 2);
  EXPECT_EQ((*rounds)[0].outliers, 1);
  EXPECT_EQ((*rounds)[1].median_norm, std::nullopt);
  EXPECT_EQ((*rounds)[1].outliers, 0);
  auto one = store_->GetRound(job_, 1);
  ASSERT_TRUE(one.ok() && one->has_value());
  EXPECT_EQ((*one)->outliers, 1);
}

TEST_F(StoreRobustness, RowsWrittenBeforeVersionFourReadWithDefaults) {
  // A row inserted the way a v3 server did (no new columns).
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir_.path() + "/fp.db").c_str(), &db), SQLITE_OK);
  const std::string sql = "INSERT INTO participations(job_id, round, client_id, status) VALUES (" +
                          std::to_string(job_) + ", 2, " + std::to_string(client_) + ", 'accepted')";
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
  // The flags are 0/1 only.
  EXPECT_NE(sqlite3_exec(db, "UPDATE participations SET outlier = 2", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto rows = store_->ListParticipations(job_, 2);
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].update_norm, std::nullopt);
  EXPECT_FALSE((*rows)[0].clipped);
  EXPECT_FALSE((*rows)[0].outlier);
}

}  // namespace
}  // namespace fedpress::server

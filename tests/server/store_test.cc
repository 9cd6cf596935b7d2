#include "server/store/store.h"

#include <gtest/gtest.h>

#include "tests/temp_dir.h"
#include <sqlite3.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

namespace fedpress::server {
namespace {

namespace fs = std::filesystem;

// Each test gets its own directory, named after this file.
struct TempDir : fedpress::testing::TempDir {
  TempDir() : fedpress::testing::TempDir("fp_store_") {}
};

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void RawExec(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  EXPECT_EQ(rc, SQLITE_OK) << (err ? err : "");
  sqlite3_free(err);
  sqlite3_close(db);
}

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }
  void Reopen() {
    store_.reset();
    auto s = Store::Open({path_});
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
  }
  int64_t NewJob(const std::string& name = "job", int64_t rounds = 3, int64_t now = 1000) {
    auto id = store_->CreateJob(name, R"({"rounds":3})", rounds, now);
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    return id.ok() ? *id : -1;
  }
  int64_t NewClient(const std::string& name) {
    auto id = store_->UpsertClient(name, 100, R"({"ds":"mnist"})", 5);
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    return id.ok() ? *id : -1;
  }
  static RoundRow Round(int64_t job, int64_t r) {
    RoundRow row;
    row.job_id = job;
    row.round = r;
    row.accuracy = 0.5 + 0.1 * static_cast<double>(r);
    row.train_loss = 1.0 / static_cast<double>(r);
    row.participants = 4;
    row.samples = 400;
    row.bytes_up_wire = 1234;
    row.started_ms = 100 * r;
    row.finished_ms = 100 * r + 50;
    row.duration_ms = 50;
    row.checkpoint = "ckpt/round-" + std::to_string(r) + ".fpw";
    return row;
  }
  std::vector<EventRow> Events() {
    auto e = store_->ListEvents(0, 1000);
    EXPECT_TRUE(e.ok());
    return e.ok() ? *e : std::vector<EventRow>{};
  }

  TempDir dir_;
  std::string path_ = dir_.File("sub/dir/fedpress.db");  // parent dirs created by Open
  std::unique_ptr<Store> store_;
};

TEST_F(StoreTest, FreshDbMigratedToLatest) {
  EXPECT_GE(Store::LatestSchemaVersion(), 1);
  EXPECT_EQ(store_->schema_version(), Store::LatestSchemaVersion());
  EXPECT_TRUE(fs::exists(path_));
  EXPECT_TRUE(store_->CheckIntegrity().ok());
}

TEST_F(StoreTest, ReopenIsNoopAndKeepsData) {
  int64_t id = NewJob("keep");
  int64_t c = NewClient("alice");
  ASSERT_TRUE(store_->CommitRound(Round(id, 1), false, 2000).ok());
  Reopen();
  EXPECT_EQ(store_->schema_version(), Store::LatestSchemaVersion());
  auto job = store_->GetJob(id);
  ASSERT_TRUE(job.ok() && job->has_value());
  EXPECT_EQ((*job)->name, "keep");
  EXPECT_EQ((*job)->current_round, 1);
  auto client = store_->GetClient(c);
  ASSERT_TRUE(client.ok() && client->has_value());
  EXPECT_EQ((*client)->name, "alice");
  auto rounds = store_->ListRounds(id);
  ASSERT_TRUE(rounds.ok());
  ASSERT_EQ(rounds->size(), 1u);
  EXPECT_EQ((*rounds)[0].checkpoint, "ckpt/round-1.fpw");
  EXPECT_TRUE(store_->CheckIntegrity().ok());
}

TEST_F(StoreTest, NewerSchemaRefusedAndUntouched) {
  NewJob();
  store_.reset();
  RawExec(path_, "INSERT INTO schema_version VALUES (5, '0005_future', 0)");
  const std::string before = ReadAll(path_);
  auto s = Store::Open({path_});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.status().message().find("database schema version 5 is newer than this fedpress (supports up to " +
                                      std::to_string(Store::LatestSchemaVersion()) +
                                      "): upgrade fedpress or use another --db"),
            std::string::npos)
      << s.status().ToString();
  EXPECT_NE(s.status().message().find(path_), std::string::npos);
  EXPECT_EQ(ReadAll(path_), before);
}

TEST(StoreOpen, GarbageFileRefused) {
  TempDir dir;
  const std::string path = dir.File("garbage.db");
  {
    std::ofstream out(path, std::ios::binary);
    for (int i = 0; i < 512; ++i) out << "this is not a database ";
  }
  const std::string before = ReadAll(path);
  auto s = Store::Open({path});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kCorruption) << s.status().ToString();
  EXPECT_NE(s.status().message().find(path), std::string::npos);
  EXPECT_NE(s.status().message().find("not a SQLite database"), std::string::npos);
  EXPECT_EQ(ReadAll(path), before);
}

TEST(StoreOpen, DirectoryAndEmptyPathRefused) {
  TempDir dir;
  fs::create_directories(dir.File("d"));
  auto s = Store::Open({dir.File("d")});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kIOError);
  EXPECT_FALSE(Store::Open({""}).ok());
}

TEST(StoreOpen, InMemoryWorks) {
  auto s = Store::Open({":memory:"});
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_TRUE((*s)->CreateJob("m", "{}", 1, 1).ok());
}

TEST_F(StoreTest, CreateGetListJobs) {
  int64_t a = NewJob("a", 5, 1000);
  int64_t b = NewJob("b", 7, 1001);
  EXPECT_GT(b, a);
  auto job = store_->GetJob(a);
  ASSERT_TRUE(job.ok() && job->has_value());
  const JobRow& j = **job;
  EXPECT_EQ(j.name, "a");
  EXPECT_EQ(j.spec_json, R"({"rounds":3})");
  EXPECT_EQ(j.status, JobStatus::kQueued);
  EXPECT_EQ(j.total_rounds, 5);
  EXPECT_EQ(j.current_round, 0);
  EXPECT_EQ(j.created_ms, 1000);
  EXPECT_EQ(j.updated_ms, 1000);
  EXPECT_FALSE(j.started_ms.has_value());
  EXPECT_FALSE(j.finished_ms.has_value());
  EXPECT_EQ(j.error, "");

  auto missing = store_->GetJob(999);
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());

  auto list = store_->ListJobs();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].id, b);  // newest first
  EXPECT_EQ((*list)[1].id, a);

  auto ev = Events();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].kind, "job_created");
  EXPECT_EQ(ev[0].job_id, a);
}

TEST_F(StoreTest, NextRunnablePrefersRunningThenOldestQueued) {
  auto none = store_->NextRunnableJob();
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  int64_t a = NewJob("a");
  int64_t b = NewJob("b");
  int64_t c = NewJob("c");
  auto next = store_->NextRunnableJob();
  ASSERT_TRUE(next.ok() && next->has_value());
  EXPECT_EQ((*next)->id, a);
  ASSERT_TRUE(store_->SetJobStatus(c, JobStatus::kRunning, "", 2000).ok());
  next = store_->NextRunnableJob();
  ASSERT_TRUE(next.ok() && next->has_value());
  EXPECT_EQ((*next)->id, c);
  ASSERT_TRUE(store_->SetJobStatus(c, JobStatus::kCompleted, "", 3000).ok());
  ASSERT_TRUE(store_->SetJobStatus(a, JobStatus::kCancelled, "", 3000).ok());
  next = store_->NextRunnableJob();
  ASSERT_TRUE(next.ok() && next->has_value());
  EXPECT_EQ((*next)->id, b);
  ASSERT_TRUE(store_->SetJobStatus(b, JobStatus::kFailed, "boom", 3000).ok());
  next = store_->NextRunnableJob();
  ASSERT_TRUE(next.ok());
  EXPECT_FALSE(next->has_value());
}

TEST_F(StoreTest, SetJobStatusTransitionsAndTimestamps) {
  int64_t id = NewJob("t", 3, 1000);
  ASSERT_TRUE(store_->SetJobStatus(id, JobStatus::kRunning, "", 2000).ok());
  auto j = store_->GetJob(id);
  ASSERT_TRUE(j.ok() && j->has_value());
  EXPECT_EQ((*j)->status, JobStatus::kRunning);
  EXPECT_EQ((*j)->started_ms, 2000);
  EXPECT_FALSE((*j)->finished_ms.has_value());
  EXPECT_EQ((*j)->updated_ms, 2000);

  // Back to queued and running again (restart): started_ms is kept.
  ASSERT_TRUE(store_->SetJobStatus(id, JobStatus::kQueued, "", 2500).ok());
  ASSERT_TRUE(store_->SetJobStatus(id, JobStatus::kRunning, "", 2600).ok());
  j = store_->GetJob(id);
  EXPECT_EQ((*j)->started_ms, 2000);
  EXPECT_EQ((*j)->updated_ms, 2600);

  ASSERT_TRUE(store_->SetJobStatus(id, JobStatus::kFailed, "client data missing", 3000).ok());
  j = store_->GetJob(id);
  EXPECT_EQ((*j)->status, JobStatus::kFailed);
  EXPECT_EQ((*j)->finished_ms, 3000);
  EXPECT_EQ((*j)->error, "client data missing");

  Status s = store_->SetJobStatus(id, JobStatus::kRunning, "", 4000);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
  j = store_->GetJob(id);
  EXPECT_EQ((*j)->status, JobStatus::kFailed);
  EXPECT_EQ((*j)->updated_ms, 3000);

  EXPECT_EQ(store_->SetJobStatus(424242, JobStatus::kRunning, "", 1).code(), StatusCode::kNotFound);

  auto ev = Events();
  ASSERT_EQ(ev.size(), 5u);  // created, started, queued, started, failed
  EXPECT_EQ(ev[1].kind, "job_started");
  EXPECT_EQ(ev[4].kind, "job_failed");
  EXPECT_NE(ev[4].message.find("client data missing"), std::string::npos);
}

TEST_F(StoreTest, CommitRoundIsAtomicAndRefusesDuplicates) {
  int64_t id = NewJob("r", 2);
  ASSERT_TRUE(store_->SetJobStatus(id, JobStatus::kRunning, "", 1500).ok());
  ASSERT_TRUE(store_->CommitRound(Round(id, 1), false, 2000).ok());
  auto j = store_->GetJob(id);
  EXPECT_EQ((*j)->current_round, 1);
  EXPECT_EQ((*j)->status, JobStatus::kRunning);
  EXPECT_EQ((*j)->updated_ms, 2000);
  size_t events_before = Events().size();

  RoundRow dup = Round(id, 1);
  dup.checkpoint = "other";
  Status s = store_->CommitRound(dup, true, 2500);
  EXPECT_EQ(s.code(), StatusCode::kAlreadyExists) << s.ToString();
  j = store_->GetJob(id);
  EXPECT_EQ((*j)->status, JobStatus::kRunning);
  EXPECT_EQ((*j)->updated_ms, 2000);
  EXPECT_EQ(Events().size(), events_before);
  auto r1 = store_->GetRound(id, 1);
  ASSERT_TRUE(r1.ok() && r1->has_value());
  EXPECT_EQ((*r1)->checkpoint, "ckpt/round-1.fpw");

  ASSERT_TRUE(store_->CommitRound(Round(id, 2), true, 3000).ok());
  j = store_->GetJob(id);
  EXPECT_EQ((*j)->current_round, 2);
  EXPECT_EQ((*j)->status, JobStatus::kCompleted);
  EXPECT_EQ((*j)->finished_ms, 3000);
  auto ev = Events();
  ASSERT_GE(ev.size(), 2u);
  EXPECT_EQ(ev[ev.size() - 2].kind, "round_committed");
  EXPECT_EQ(ev.back().kind, "job_completed");

  // Unknown job, round 0, or a job already finished.
  EXPECT_EQ(store_->CommitRound(Round(999, 1), false, 1).code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->CommitRound(Round(id, 0), false, 1).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->CommitRound(Round(id, 3), false, 1).code(), StatusCode::kFailedPrecondition);
  auto rounds = store_->ListRounds(id);
  EXPECT_EQ(rounds->size(), 2u);
}

TEST_F(StoreTest, SetRoundEvaluationFillsAMissingAccuracyOnce) {
  int64_t id = NewJob("e", 3);
  RoundRow pending = Round(id, 1);
  pending.accuracy.reset();
  pending.loss.reset();
  ASSERT_TRUE(store_->CommitRound(pending, false, 2000).ok());
  ASSERT_TRUE(store_->CommitRound(Round(id, 2), false, 2100).ok());  // committed with accuracy 0.7
  ASSERT_TRUE(store_->SetRoundEvaluation(id, 1, 0.61, 0.9, 2200).ok());
  auto r1 = store_->GetRound(id, 1);
  ASSERT_TRUE(r1.ok() && r1->has_value());
  EXPECT_DOUBLE_EQ(*(*r1)->accuracy, 0.61);
  EXPECT_DOUBLE_EQ(*(*r1)->loss, 0.9);
  EXPECT_EQ((*r1)->finished_ms, pending.finished_ms);  // nothing else changed
  EXPECT_EQ(Events().back().kind, "round_evaluated");
  // A stored accuracy never changes; an uncommitted round has none to set.
  EXPECT_EQ(store_->SetRoundEvaluation(id, 1, 0.1, 2, 2300).code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(store_->SetRoundEvaluation(id, 2, 0.1, 2, 2300).code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(store_->SetRoundEvaluation(id, 3, 0.1, 2, 2300).code(), StatusCode::kNotFound);
  EXPECT_DOUBLE_EQ(*(*store_->GetRound(id, 1))->accuracy, 0.61);
  EXPECT_DOUBLE_EQ(*(*store_->GetRound(id, 2))->accuracy, 0.7);
}

TEST_F(StoreTest, ListRoundsAscendingAndGetRoundFields) {
  int64_t id = NewJob("r", 5);
  int64_t other = NewJob("o", 5);
  for (int r : {1, 2, 3}) ASSERT_TRUE(store_->CommitRound(Round(id, r), false, 10).ok());
  ASSERT_TRUE(store_->CommitRound(Round(other, 1), false, 10).ok());
  auto rounds = store_->ListRounds(id);
  ASSERT_TRUE(rounds.ok());
  ASSERT_EQ(rounds->size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ((*rounds)[i].round, i + 1);
  const RoundRow& r2 = (*rounds)[1];
  EXPECT_DOUBLE_EQ(*r2.accuracy, 0.7);
  EXPECT_FALSE(r2.loss.has_value());
  EXPECT_DOUBLE_EQ(*r2.train_loss, 0.5);
  EXPECT_EQ(r2.participants, 4);
  EXPECT_EQ(r2.samples, 400);
  EXPECT_EQ(r2.bytes_up_wire, 1234);
  EXPECT_EQ(r2.started_ms, 200);
  EXPECT_EQ(r2.finished_ms, 250);
  EXPECT_EQ(r2.duration_ms, 50);
  EXPECT_EQ(r2.attempts, 1);
  auto none = store_->GetRound(id, 9);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
}

TEST_F(StoreTest, ParticipationsJoinClientNameAndFilterByRound) {
  int64_t job = NewJob();
  int64_t alice = NewClient("alice");
  int64_t bob = NewClient("bob");
  auto rec = [&](int64_t client, int64_t round, ParticipationStatus st) {
    ParticipationRow p;
    p.job_id = job;
    p.round = round;
    p.client_id = client;
    p.status = st;
    p.reason = st == ParticipationStatus::kRejected ? "bad checksum" : "";
    p.samples = 50;
    p.train_loss = st == ParticipationStatus::kAccepted ? std::optional<double>(0.25) : std::nullopt;
    p.bytes_up_wire = 99;
    p.sent_ms = 10;
    auto id = store_->RecordParticipation(p);
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    return id.ok() ? *id : -1;
  };
  int64_t p1 = rec(alice, 1, ParticipationStatus::kAccepted);
  int64_t p2 = rec(bob, 1, ParticipationStatus::kRejected);
  int64_t p3 = rec(alice, 2, ParticipationStatus::kTimeout);
  EXPECT_LT(p1, p2);
  EXPECT_LT(p2, p3);

  auto all = store_->ListParticipations(job, std::nullopt);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].id, p1);
  EXPECT_EQ((*all)[0].client_name, "alice");
  EXPECT_EQ((*all)[0].status, ParticipationStatus::kAccepted);
  EXPECT_DOUBLE_EQ(*(*all)[0].train_loss, 0.25);
  EXPECT_EQ((*all)[0].sent_ms, 10);
  EXPECT_FALSE((*all)[0].received_ms.has_value());
  EXPECT_EQ((*all)[1].client_name, "bob");
  EXPECT_EQ((*all)[1].reason, "bad checksum");
  EXPECT_FALSE((*all)[1].train_loss.has_value());
  EXPECT_EQ((*all)[2].status, ParticipationStatus::kTimeout);

  auto r1 = store_->ListParticipations(job, 1);
  ASSERT_TRUE(r1.ok());
  ASSERT_EQ(r1->size(), 2u);
  auto r3 = store_->ListParticipations(job, 3);
  ASSERT_TRUE(r3.ok());
  EXPECT_TRUE(r3->empty());

  ParticipationRow orphan;
  orphan.job_id = job;
  orphan.round = 1;
  orphan.client_id = 777;
  auto bad = store_->RecordParticipation(orphan);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kNotFound) << bad.status().ToString();
}

TEST_F(StoreTest, UpsertClientIsIdempotentByName) {
  auto a1 = store_->UpsertClient("alice", 100, R"({"v":1})", 1000);
  ASSERT_TRUE(a1.ok());
  auto b = store_->UpsertClient("bob", 10, "", 1100);
  ASSERT_TRUE(b.ok());
  auto a2 = store_->UpsertClient("alice", 200, R"({"v":2})", 2000);
  ASSERT_TRUE(a2.ok());
  EXPECT_EQ(*a1, *a2);
  EXPECT_NE(*a1, *b);
  auto c = store_->GetClient(*a1);
  ASSERT_TRUE(c.ok() && c->has_value());
  EXPECT_EQ((*c)->samples, 200);
  EXPECT_EQ((*c)->info_json, R"({"v":2})");
  EXPECT_EQ((*c)->first_seen_ms, 1000);
  EXPECT_EQ((*c)->last_seen_ms, 2000);
  auto list = store_->ListClients();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name, "alice");
  EXPECT_EQ((*list)[1].name, "bob");
  EXPECT_EQ((*list)[1].info_json, "{}");
  EXPECT_FALSE(store_->UpsertClient("", 1, "{}", 1).ok());
}

TEST_F(StoreTest, AddClientTrafficAccumulates) {
  int64_t id = NewClient("alice");
  ASSERT_TRUE(store_->AddClientTraffic(id, 1, 100, 1000, 50).ok());
  ASSERT_TRUE(store_->AddClientTraffic(id, 1, 20, 300, 60).ok());
  auto c = store_->GetClient(id);
  ASSERT_TRUE(c.ok() && c->has_value());
  EXPECT_EQ((*c)->rounds_done, 2);
  EXPECT_EQ((*c)->bytes_up, 120);
  EXPECT_EQ((*c)->bytes_down, 1300);
  EXPECT_EQ((*c)->last_seen_ms, 60);
  EXPECT_EQ(store_->AddClientTraffic(999, 1, 1, 1, 1).code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->AddClientTraffic(id, -1, 0, 0, 1).code(), StatusCode::kInvalidArgument);
}

TEST_F(StoreTest, AddClientTrafficBatchIsOneWriteForManyClients) {
  int64_t a = NewClient("alice"), b = NewClient("bob");
  ASSERT_TRUE(store_->AddClientTrafficBatch({{a, 0, 0, 1000}, {b, 0, 0, 1000}, {a, 1, 100, 0}}, 70).ok());
  auto ca = store_->GetClient(a);
  auto cb = store_->GetClient(b);
  ASSERT_TRUE(ca.ok() && ca->has_value() && cb.ok() && cb->has_value());
  EXPECT_EQ((*ca)->rounds_done, 1);
  EXPECT_EQ((*ca)->bytes_up, 100);
  EXPECT_EQ((*ca)->bytes_down, 1000);
  EXPECT_EQ((*cb)->rounds_done, 0);
  EXPECT_EQ((*cb)->bytes_down, 1000);
  EXPECT_EQ((*cb)->last_seen_ms, 70);
  // Unknown ids are counted, the others still written; negative counters refused whole.
  Status st = store_->AddClientTrafficBatch({{999, 1, 1, 1}, {b, 1, 5, 0}}, 80);
  EXPECT_EQ(st.code(), StatusCode::kNotFound);
  EXPECT_NE(st.message().find("1 unknown"), std::string::npos) << st.ToString();
  EXPECT_EQ((*store_->GetClient(b))->bytes_up, 5);
  EXPECT_EQ(store_->AddClientTrafficBatch({{a, 1, 1, 1}, {b, -1, 0, 0}}, 90).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ((*store_->GetClient(a))->rounds_done, 1);
  EXPECT_TRUE(store_->AddClientTrafficBatch({}, 95).ok());
}

TEST_F(StoreTest, EventsPaging) {
  int64_t job = NewJob();  // 1 event
  for (int i = 0; i < 9; ++i) {
    ASSERT_TRUE(store_->AddEvent(i % 2 ? std::optional<int64_t>(job) : std::nullopt, "note",
                                 "n" + std::to_string(i), 100 + i)
                    .ok());
  }
  std::vector<EventRow> all;
  int64_t after = 0;
  int pages = 0;
  for (;;) {
    auto page = store_->ListEvents(after, 4);
    ASSERT_TRUE(page.ok());
    if (page->empty()) break;
    EXPECT_LE(page->size(), 4u);
    for (auto& e : *page) {
      EXPECT_GT(e.id, after);
      all.push_back(e);
    }
    after = page->back().id;
    ++pages;
  }
  EXPECT_EQ(pages, 3);
  ASSERT_EQ(all.size(), 10u);
  EXPECT_EQ(all[1].kind, "note");
  EXPECT_EQ(all[1].message, "n0");
  EXPECT_FALSE(all[1].job_id.has_value());
  EXPECT_EQ(all[2].job_id, job);
  EXPECT_EQ(all[2].ts_ms, 101);
  EXPECT_FALSE(store_->ListEvents(0, 0).ok());
}

TEST_F(StoreTest, ConcurrentWritersAndReaders) {
  constexpr int kThreads = 4, kPerThread = 25;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto job = store_->CreateJob("t" + std::to_string(t) + "-" + std::to_string(i), "{}", 1, i);
        if (!job.ok()) { ++failures; continue; }
        auto client = store_->UpsertClient("client-" + std::to_string(t), i, "{}", i);
        if (!client.ok() || !store_->AddClientTraffic(*client, 1, 10, 10, i).ok()) ++failures;
        if (!store_->CommitRound(Round(*job, 1), i % 2 == 0, i).ok()) ++failures;
        if (!store_->ListJobs().ok() || !store_->ListEvents(0, 50).ok() || !store_->NextRunnableJob().ok()) {
          ++failures;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  auto jobs = store_->ListJobs();
  ASSERT_TRUE(jobs.ok());
  EXPECT_EQ(jobs->size(), static_cast<size_t>(kThreads * kPerThread));
  auto clients = store_->ListClients();
  ASSERT_TRUE(clients.ok());
  ASSERT_EQ(clients->size(), static_cast<size_t>(kThreads));
  for (const auto& c : *clients) EXPECT_EQ(c.rounds_done, kPerThread);
  EXPECT_TRUE(store_->CheckIntegrity().ok());
}

TEST_F(StoreTest, DataSurvivesCloseAndReopen) {
  int64_t job = NewJob("durable", 2);
  int64_t c = NewClient("alice");
  ASSERT_TRUE(store_->SetJobStatus(job, JobStatus::kRunning, "", 10).ok());
  ASSERT_TRUE(store_->CommitRound(Round(job, 1), false, 20).ok());
  ParticipationRow p;
  p.job_id = job;
  p.round = 1;
  p.client_id = c;
  ASSERT_TRUE(store_->RecordParticipation(p).ok());
  const size_t events = Events().size();
  store_.reset();
  Reopen();
  auto next = store_->NextRunnableJob();
  ASSERT_TRUE(next.ok() && next->has_value());
  EXPECT_EQ((*next)->id, job);
  EXPECT_EQ((*next)->current_round, 1);
  EXPECT_EQ(store_->ListParticipations(job, 1)->size(), 1u);
  EXPECT_EQ(Events().size(), events);
  EXPECT_TRUE(store_->CheckIntegrity().ok());
}

TEST(JobStatusNames, RoundTrip) {
  for (JobStatus s : {JobStatus::kQueued, JobStatus::kRunning, JobStatus::kCompleted, JobStatus::kFailed,
                      JobStatus::kCancelled}) {
    EXPECT_EQ(ParseJobStatus(JobStatusName(s)), s);
  }
  EXPECT_FALSE(ParseJobStatus("bogus").has_value());
  EXPECT_TRUE(IsTerminal(JobStatus::kCancelled));
  EXPECT_FALSE(IsTerminal(JobStatus::kRunning));
  EXPECT_STREQ(ParticipationStatusName(ParticipationStatus::kLate), "late");
}

}  // namespace
}  // namespace fedpress::server

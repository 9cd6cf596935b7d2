// Server crashes: one job of 15 rounds survives ten SIGKILLs of the server —
// five at chosen points of a round (the test-only FEDPRESS_CRASH_AT hook,
// server/fault_injection.h: mid-broadcast, mid-collection, after
// aggregation, after the checkpoint, after the commit) and five at random
// moments (seeded; the seed is printed). After every kill the database must
// pass PRAGMA integrity_check, the committed rounds must be 1..k with none
// changed since it was first seen, and the last committed checkpoint must
// load (CRC ok, right job and round). The clients are never restarted: they
// find each new server by themselves. At the end every round 1..15 is there
// exactly once and the final accuracy is within noise of an uninterrupted
// run of the same job (same seed) done in this test.
#include <signal.h>
#include <stdlib.h>

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <iostream>
#include <map>
#include <random>
#include <thread>

#include "common/checkpoint.h"
#include "server/store/store.h"
#include "tests/integration/harness.h"

namespace fedpress::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr int kRounds = 15;
constexpr int kClients = 3;
constexpr uint64_t kJobSeed = 11;

// Accuracy tolerance between the crashed and the uninterrupted run, in
// accuracy points (fraction). Every client is picked every round and a
// client's training seed depends only on (job seed, round, client index), so
// both runs train the same partitions in the same order; what differs is the
// order in which updates are summed (arrival order), which changes the last
// bits of the model each round. Measured on this test's job (mlp, 3 x 1000
// samples, 15 rounds, accuracy on 1000 test images): three uninterrupted and
// two crashed runs all ended at exactly 0.833 (docs/architecture.md,
// "Faults"). 0.02 (20 test images) allows for summation-order drift on other
// machines; a lost or repeated round is caught by the exact checks above.
constexpr double kAccuracyTolerance = 0.02;

json JobSpecJson(const std::string& name) {
  return {{"name", name},           {"model", "mlp"},        {"rounds", kRounds},
          {"clients_per_round", kClients}, {"min_clients", kClients}, {"round_timeout_s", 60},
          {"seed", kJobSeed}};
}

int64_t CreateJob(const ServerHandle& s, const json& spec) {
  auto r = s.Post("/api/jobs", spec.dump());
  EXPECT_EQ(r.status, 201) << r.body;
  auto j = r.Json();
  return j.is_object() && j.contains("id") ? j["id"].get<int64_t>() : 0;
}

// The job's last committed round as the API reports it (-1 if unreadable).
int64_t CurrentRound(const ServerHandle& s, int64_t id) {
  auto j = s.Get("/api/jobs/" + std::to_string(id)).Json();
  return j.is_object() && j.contains("current_round") && j["current_round"].is_number_integer()
             ? j["current_round"].get<int64_t>()
             : -1;
}

std::string JobStatus(const ServerHandle& s, int64_t id) {
  auto j = s.Get("/api/jobs/" + std::to_string(id)).Json();
  return j.is_object() ? j.value("status", "") : "";
}

class ServerCrash : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = MakeTempDir("fp_crash_"); }
  void TearDown() override {
    ::unsetenv("FEDPRESS_CRASH_AT");
    DumpLogsOrRemove(dir_, HasFailure());  // logs of both runs (ref/, crash/)
  }

  // Starts the server; `crash_at` arms the fault-injection hook ("" = none).
  ServerHandle Start(const std::string& dir, const std::string& crash_at, int http_port = 0, int zmq_port = 0) {
    if (crash_at.empty())
      ::unsetenv("FEDPRESS_CRASH_AT");
    else
      ::setenv("FEDPRESS_CRASH_AT", crash_at.c_str(), 1);
    ServerHandle s = StartServer(dir, http_port, zmq_port);
    ::unsetenv("FEDPRESS_CRASH_AT");  // the child has its copy
    return s;
  }

  std::vector<Process> StartClients(const std::string& dir, const ServerHandle& s) {
    std::vector<Process> clients;
    for (int i = 0; i < kClients; ++i)
      clients.push_back(StartClient(dir, s.endpoint(), "c" + std::to_string(i), i, kClients, 3000));
    return clients;
  }

  std::string dir_;
};

// What the database says while no server runs: checked after every kill.
struct Committed {
  std::map<int64_t, server::RoundRow> rounds;
};

void CheckDatabaseAfterKill(const std::string& dir, int64_t job, Committed* seen, int kill_no) {
  SCOPED_TRACE("after kill #" + std::to_string(kill_no));
  auto store = server::Store::Open({dir + "/fedpress.db"});
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  ASSERT_TRUE((*store)->CheckIntegrity().ok()) << "PRAGMA integrity_check failed";
  auto rows = (*store)->ListRounds(job);
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  auto job_row = (*store)->GetJob(job);
  ASSERT_TRUE(job_row.ok() && job_row->has_value());
  // Rounds 1..k, each once, and jobs.current_round == k.
  for (size_t i = 0; i < rows->size(); ++i) ASSERT_EQ((*rows)[i].round, static_cast<int64_t>(i + 1));
  EXPECT_EQ((*job_row)->current_round, static_cast<int64_t>(rows->size()));
  // Nothing committed earlier changed or vanished.
  EXPECT_GE(rows->size(), seen->rounds.size()) << "a committed round disappeared";
  for (const auto& r : *rows) {
    auto it = seen->rounds.find(r.round);
    if (it == seen->rounds.end()) {
      seen->rounds[r.round] = r;
      continue;
    }
    EXPECT_EQ(r.finished_ms, it->second.finished_ms) << "round " << r.round << " was committed again";
    // A pipelined evaluation may add the accuracy later; once set it stays.
    if (it->second.accuracy) {
      EXPECT_EQ(r.accuracy, it->second.accuracy) << "round " << r.round;
    } else {
      it->second.accuracy = r.accuracy;
    }
    EXPECT_EQ(r.checkpoint, it->second.checkpoint) << "round " << r.round;
  }
  // The checkpoint a restart resumes from loads: CRC, job and round.
  if (!rows->empty()) {
    auto ck = ReadCheckpoint(rows->back().checkpoint);
    ASSERT_TRUE(ck.ok()) << ck.status().ToString();
    EXPECT_EQ(ck->job_id, job);
    EXPECT_EQ(ck->round, static_cast<uint32_t>(rows->back().round));
  }
}

TEST_F(ServerCrash, TenKillsInAFifteenRoundJobLoseNothingAndMatchAnUninterruptedRun) {
  // 1. The reference: the same job, never interrupted.
  double reference_accuracy = -1;
  {
    const std::string dir = dir_ + "/ref";
    std::filesystem::create_directories(dir);
    ServerHandle server = Start(dir, "");
    ASSERT_EQ(server.Get("/healthz").status, 200) << ReadText(dir + "/server.log");
    auto clients = StartClients(dir, server);
    const int64_t id = CreateJob(server, JobSpecJson("reference"));
    ASSERT_GT(id, 0);
    ASSERT_TRUE(WaitUntil([&] { return JobStatus(server, id) == "completed"; }, 600s, 500ms));
    auto rounds = server.Get("/api/jobs/" + std::to_string(id) + "/rounds").Json();
    ASSERT_EQ(rounds.size(), static_cast<size_t>(kRounds));
    ASSERT_TRUE(rounds.back()["accuracy"].is_number());
    reference_accuracy = rounds.back()["accuracy"].get<double>();
    std::cout << "reference run: accuracy by round";
    for (const auto& r : rounds) std::cout << " " << r["accuracy"];
    std::cout << std::endl;
  }

  // 2. The same job with ten server kills.
  const std::string dir = dir_ + "/crash";
  std::filesystem::create_directories(dir);
  uint64_t seed = std::random_device{}();
  if (const char* s = std::getenv("FEDPRESS_FAULT_SEED")) seed = std::strtoull(s, nullptr, 10);
  std::cout << "random kill times from seed " << seed << " (rerun with FEDPRESS_FAULT_SEED=" << seed << ")"
            << std::endl;
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> delay_ms(300, 2500);  // restart + reconnect take ~1.5 s

  // Hook kills count occurrences in one server process: N is chosen so each
  // hooked server commits at least one round before it dies (3 accepted
  // updates per round, so collect:4 is the second round's first update).
  const std::vector<std::string> plan = {"broadcast:2", "", "collect:4",   "", "aggregate:2",
                                         "",            "checkpoint:2", "", "commit:2", ""};
  ServerHandle server = Start(dir, plan[0]);
  ASSERT_EQ(server.Get("/healthz").status, 200) << ReadText(dir + "/server.log");
  const int http_port = server.http_port, zmq_port = server.zmq_port;
  auto clients = StartClients(dir, server);
  const int64_t id = CreateJob(server, JobSpecJson("crashed"));
  ASSERT_GT(id, 0);

  Committed seen;
  int kills = 0;
  for (size_t k = 0; k < plan.size(); ++k) {
    if (plan[k].empty()) {
      // A random moment, but within this server's first round: on a fast
      // machine a 5 s wait would let several rounds commit, and the 15 rounds
      // would run out before the tenth kill. So the kill comes at the drawn
      // delay or as soon as this server has committed a round, if sooner.
      const int ms = delay_ms(rng);
      const int64_t committed_at_start = static_cast<int64_t>(seen.rounds.size());
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
      bool advanced = false;
      while (std::chrono::steady_clock::now() < deadline && !advanced) {
        std::this_thread::sleep_for(20ms);
        advanced = CurrentRound(server, id) > committed_at_start;
      }
      ASSERT_TRUE(server.process.running()) << ReadText(dir + "/server.log");
      std::cout << "kill #" << k + 1 << ": SIGKILL " << (advanced ? "after its first commit" : "after " + std::to_string(ms) + " ms")
                << std::endl;
      server.process.Kill();
    } else {
      // The server kills itself at the armed point.
      auto code = server.process.Wait(300s);
      ASSERT_EQ(code, std::optional<int>(-SIGKILL)) << "server did not crash at " << plan[k] << "\n"
                                                    << ReadText(dir + "/server.log");
      std::cout << "kill #" << k + 1 << ": FEDPRESS_CRASH_AT=" << plan[k] << std::endl;
    }
    ++kills;
    CheckDatabaseAfterKill(dir, id, &seen, kills);
    if (HasFatalFailure()) return;
    ASSERT_LT(seen.rounds.size(), static_cast<size_t>(kRounds)) << "job finished before all kills";
    const std::string next = k + 1 < plan.size() ? plan[k + 1] : "";
    server = Start(dir, next, http_port, zmq_port);
    ASSERT_EQ(server.Get("/healthz").status, 200) << ReadText(dir + "/server.log");
  }
  EXPECT_EQ(kills, 10);
  std::cout << "rounds committed when the last kill fell: " << seen.rounds.size() << std::endl;
  ASSERT_TRUE(WaitUntil([&] { return JobStatus(server, id) == "completed"; }, 600s, 500ms))
      << server.Get("/api/jobs/" + std::to_string(id)).body;

  // 3. Every round exactly once, nothing committed earlier changed.
  server.process.Kill();
  CheckDatabaseAfterKill(dir, id, &seen, kills + 1);
  ASSERT_EQ(seen.rounds.size(), static_cast<size_t>(kRounds));
  auto store = server::Store::Open({dir + "/fedpress.db"});
  ASSERT_TRUE(store.ok());
  auto rows = (*store)->ListRounds(id);
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), static_cast<size_t>(kRounds));
  int64_t retried = 0;
  for (const auto& r : *rows) {
    EXPECT_EQ(r.participants, kClients) << "round " << r.round;
    retried += r.attempts > 1;
  }
  // Crashes after updates were recorded make the resumed round a new attempt.
  EXPECT_GT(retried, 0);
  auto job = (*store)->GetJob(id);
  ASSERT_TRUE(job.ok() && job->has_value());
  EXPECT_EQ(server::JobStatusName((*job)->status), std::string("completed"));
  EXPECT_EQ((*job)->current_round, kRounds);

  // 4. The model is as good as the uninterrupted one.
  ASSERT_TRUE(rows->back().accuracy.has_value());
  const double crashed_accuracy = *rows->back().accuracy;
  std::cout << "final accuracy: crashed run " << crashed_accuracy << ", reference " << reference_accuracy
            << std::endl;
  EXPECT_NEAR(crashed_accuracy, reference_accuracy, kAccuracyTolerance);
  EXPECT_GT(crashed_accuracy, 0.6);  // and it did learn
  const std::string log = ReadText(dir + "/server.log");
  EXPECT_NE(log.find("resuming from round"), std::string::npos);
  for (const char* phase : {"broadcast", "collect", "aggregate", "checkpoint", "commit"})
    EXPECT_NE(log.find(std::string("SIGKILL at ") + phase), std::string::npos) << phase;
}

}  // namespace
}  // namespace fedpress::testing

// Real fedpress-server and fedpress-client processes on loopback, driven
// through the REST API, checked through the API and the SQLite file.
#include <signal.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "server/store/store.h"
#include "tests/integration/harness.h"

namespace fedpress::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

json JobState(const ServerHandle& s, int64_t id) { return s.Get("/api/jobs/" + std::to_string(id)).Json(); }

int64_t CreateJob(const ServerHandle& s, const json& spec) {
  auto r = s.Post("/api/jobs", spec.dump());
  EXPECT_EQ(r.status, 201) << r.body;
  auto j = r.Json();
  return j.is_object() && j.contains("id") ? j["id"].get<int64_t>() : 0;
}

class FedAvgJob : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = MakeTempDir("fp_it_"); }
  void TearDown() override { DumpLogsOrRemove(dir_, HasFailure()); }
  std::string dir_;
};

TEST_F(FedAvgJob, ThreeClientsTrainACnnAndEveryRoundIsRecorded) {
  ServerHandle server = StartServer(dir_);
  ASSERT_EQ(server.Get("/healthz").status, 200) << ReadText(dir_ + "/server.log");
  std::vector<Process> clients;
  for (int i = 0; i < 3; ++i)
    clients.push_back(StartClient(dir_, server.endpoint(), "c" + std::to_string(i), i, 3, 4500));
  ASSERT_TRUE(WaitUntil([&] {
    auto c = server.Get("/api/clients").Json();
    int connected = 0;
    if (c.is_array())
      for (auto& x : c) connected += x["connected"].get<bool>();
    return connected == 3;
  }, 60s)) << "clients did not connect";

  const int64_t id = CreateJob(server, {{"name", "it-cnn"}, {"model", "cnn"}, {"rounds", 3},
                                        {"clients_per_round", 3}, {"min_clients", 3},
                                        {"round_timeout_s", 120}, {"seed", 7}});
  ASSERT_GT(id, 0);
  ASSERT_TRUE(WaitUntil([&] { return JobState(server, id).value("status", "") == "completed"; }, 300s, 500ms))
      << JobState(server, id).dump();

  auto rounds = server.Get("/api/jobs/" + std::to_string(id) + "/rounds").Json();
  ASSERT_TRUE(rounds.is_array());
  ASSERT_EQ(rounds.size(), 3u);
  for (size_t i = 0; i < rounds.size(); ++i) {
    const json& r = rounds[i];
    EXPECT_EQ(r["round"], i + 1);
    EXPECT_EQ(r["participants"], 3);
    EXPECT_EQ(r["samples"], 4500);  // 3 disjoint partitions of 4500 samples
    EXPECT_GT(r["bytes_up_wire"].get<int64_t>(), 3 * 206922 * 4);
    EXPECT_EQ(r["bytes_up_raw"].get<int64_t>(), 3 * 206922 * 4);
    EXPECT_GT(r["bytes_down_wire"].get<int64_t>(), 0);
    ASSERT_TRUE(r["accuracy"].is_number()) << r.dump();
  }
  // Learning happened: well above chance (10%) after three rounds.
  EXPECT_GT(rounds[2]["accuracy"].get<double>(), 0.5);

  // The same facts are in SQLite.
  auto store = server::Store::Open({dir_ + "/fedpress.db"});
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto rows = (*store)->ListRounds(id);
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 3u);
  EXPECT_TRUE(std::filesystem::exists(rows->back().checkpoint));
  // Pipelined evaluation (the default): rounds 1 and 2 commit first and are
  // evaluated while the next round runs; each evaluation is recorded before
  // the next round commits; the last round is evaluated before it commits.
  auto events = (*store)->ListEvents(0, 10000);
  ASSERT_TRUE(events.ok());
  std::vector<std::string> order;
  int64_t round1_evaluated_ms = 0;
  for (const auto& e : *events) {
    if (e.job_id != id || (e.kind != "round_committed" && e.kind != "round_evaluated")) continue;
    order.push_back(e.kind + " " + e.message.substr(0, e.message.find_first_of("/ ", 6)));
    if (e.kind == "round_evaluated" && round1_evaluated_ms == 0) round1_evaluated_ms = e.ts_ms;
  }
  EXPECT_EQ(order, (std::vector<std::string>{"round_committed round 1", "round_evaluated round 1",
                                             "round_committed round 2", "round_evaluated round 2",
                                             "round_committed round 3"}));
  // Round 2 was under way before round 1's accuracy was known.
  EXPECT_LT((*rows)[1].started_ms, round1_evaluated_ms);
  auto parts = (*store)->ListParticipations(id, std::nullopt);
  ASSERT_TRUE(parts.ok());
  int accepted = 0;
  for (const auto& p : *parts) accepted += p.status == server::ParticipationStatus::kAccepted;
  EXPECT_EQ(accepted, 9);
  EXPECT_TRUE((*store)->CheckIntegrity().ok());

  // The model is downloadable as a torch.load-able zip archive.
  auto model = server.Get("/api/jobs/" + std::to_string(id) + "/model");
  ASSERT_EQ(model.status, 200);
  ASSERT_GT(model.body.size(), 206922u * 4);
  EXPECT_EQ(model.body.substr(0, 2), "PK");

  // Clients exit cleanly on SIGTERM.
  for (auto& c : clients) c.Signal(SIGTERM);
  for (auto& c : clients) EXPECT_EQ(c.Wait(15s), std::optional<int>(0));
}

TEST_F(FedAvgJob, ServerKilledAfterACommittedRoundResumesWithNothingLost) {
  ServerHandle server = StartServer(dir_);
  ASSERT_EQ(server.Get("/healthz").status, 200);
  const int http_port = server.http_port, zmq_port = server.zmq_port;
  std::vector<Process> clients;
  for (int i = 0; i < 2; ++i)
    clients.push_back(StartClient(dir_, server.endpoint(), "k" + std::to_string(i), i, 2, 3000));
  const int64_t id = CreateJob(server, {{"name", "it-restart"}, {"model", "mlp"}, {"rounds", 4},
                                        {"clients_per_round", 2}, {"min_clients", 2},
                                        {"round_timeout_s", 60}});
  ASSERT_GT(id, 0);
  const std::string rounds_url = "/api/jobs/" + std::to_string(id) + "/rounds";
  ASSERT_TRUE(WaitUntil([&] {
    auto r = server.Get(rounds_url).Json();
    return r.is_array() && !r.empty();
  }, 180s));
  server.process.Kill();  // SIGKILL: no chance to clean up
  // What was committed before the crash.
  auto store = server::Store::Open({dir_ + "/fedpress.db"});
  ASSERT_TRUE(store.ok());
  auto before = (*store)->ListRounds(id);
  ASSERT_TRUE(before.ok());
  ASSERT_GE(before->size(), 1u);
  store->reset();

  ServerHandle again = StartServer(dir_, http_port, zmq_port);
  ASSERT_EQ(again.Get("/healthz").status, 200) << ReadText(dir_ + "/server.log");
  // The clients find the new server by themselves and the job finishes.
  ASSERT_TRUE(WaitUntil([&] { return JobState(again, id).value("status", "") == "completed"; }, 240s, 500ms))
      << JobState(again, id).dump();

  auto after = server::Store::Open({dir_ + "/fedpress.db"});
  ASSERT_TRUE(after.ok());
  auto rows = (*after)->ListRounds(id);
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 4u);
  std::set<int64_t> seen;
  for (const auto& r : *rows) EXPECT_TRUE(seen.insert(r.round).second) << "round " << r.round << " twice";
  EXPECT_EQ(seen, (std::set<int64_t>{1, 2, 3, 4}));
  // Rounds committed before the crash are unchanged; an accuracy the kill
  // interrupted (pipelined evaluation) was computed when the job resumed.
  for (size_t i = 0; i < before->size(); ++i) {
    EXPECT_EQ((*rows)[i].round, (*before)[i].round);
    if ((*before)[i].accuracy) {
      EXPECT_EQ((*rows)[i].accuracy, (*before)[i].accuracy);
    }
    EXPECT_EQ((*rows)[i].finished_ms, (*before)[i].finished_ms);
  }
  for (const auto& r : *rows) EXPECT_TRUE(r.accuracy.has_value()) << "round " << r.round << " has no accuracy";
  EXPECT_TRUE((*after)->CheckIntegrity().ok());
  auto job = (*after)->GetJob(id);
  ASSERT_TRUE(job.ok() && job->has_value());
  EXPECT_EQ((*job)->current_round, 4);
  EXPECT_NE(ReadText(dir_ + "/server.log").find("resuming from round"), std::string::npos);
}

TEST_F(FedAvgJob, CompressedBothWaysStaysInSyncAndSendsFarFewerBytes) {
  ServerHandle server = StartServer(dir_);
  ASSERT_EQ(server.Get("/healthz").status, 200);
  std::vector<Process> clients;
  // 3 clients, 2 per round: clients that skip a round get a chain of deltas.
  for (int i = 0; i < 3; ++i)
    clients.push_back(StartClient(dir_, server.endpoint(), "z" + std::to_string(i), i, 3, 4500,
                                  {"--state-dir", dir_ + "/z" + std::to_string(i)}));
  const int64_t id = CreateJob(server, {{"name", "it-compressed"}, {"model", "cnn"}, {"rounds", 5},
                                        {"clients_per_round", 2}, {"min_clients", 2},
                                        {"round_timeout_s", 120}, {"evaluation", "blocking"},
                                        {"compression", {{"preset", "topk1%-q4"}}}});
  ASSERT_GT(id, 0);
  auto job = JobState(server, id);
  EXPECT_EQ(job["spec"]["compression"]["sparsify"]["method"], "topk") << job.dump();
  ASSERT_TRUE(WaitUntil([&] { return JobState(server, id).value("status", "") == "completed"; }, 300s, 500ms))
      << JobState(server, id).dump();

  auto rounds = server.Get("/api/jobs/" + std::to_string(id) + "/rounds").Json();
  ASSERT_EQ(rounds.size(), 5u);
  int64_t up_raw = 0, up_wire = 0, down_raw_later = 0, down_wire_later = 0;
  for (const auto& r : rounds) {
    // Every picked client's update was accepted: a client whose copy of the
    // model differed from the server's would have refused the task (CRC check)
    // and timed out.
    EXPECT_EQ(r["participants"], 2) << r.dump();
    EXPECT_EQ(r["timeouts"], 0) << r.dump();
    EXPECT_EQ(r["rejected"], 0) << r.dump();
    up_raw += r["bytes_up_raw"].get<int64_t>();
    up_wire += r["bytes_up_wire"].get<int64_t>();
    if (r["round"].get<int>() >= 3) {
      down_raw_later += r["bytes_down_raw"].get<int64_t>();
      down_wire_later += r["bytes_down_wire"].get<int64_t>();
    }
  }
  EXPECT_EQ(up_raw, 5 * 2 * 206922 * 4);
  EXPECT_LT(up_wire * 50, up_raw) << "upload should be >50x smaller than dense";
  // After the first rounds every client holds a recent version: deltas only.
  EXPECT_LT(down_wire_later * 8, down_raw_later) << "download should be >8x smaller than dense";
  EXPECT_LT(rounds[0]["bytes_down_wire"].get<int64_t>() * 8, rounds[0]["bytes_down_raw"].get<int64_t>())
      << "round 1 should not send full models";
  EXPECT_GT(rounds[4]["accuracy"].get<double>(), 0.4);
  // Blocking evaluation: every round committed with its accuracy.
  EXPECT_EQ(JobState(server, id)["spec"]["evaluation"], "blocking");
  auto store = server::Store::Open({dir_ + "/fedpress.db"});
  ASSERT_TRUE(store.ok());
  auto events = (*store)->ListEvents(0, 10000);
  ASSERT_TRUE(events.ok());
  int committed_with_accuracy = 0;
  for (const auto& e : *events) {
    if (e.job_id != id) continue;
    EXPECT_NE(e.kind, "round_evaluated") << e.message;
    committed_with_accuracy += e.kind == "round_committed" && e.message.find("accuracy") != std::string::npos;
  }
  EXPECT_EQ(committed_with_accuracy, 5);

  std::string logs;
  for (int i = 0; i < 3; ++i) logs += ReadText(dir_ + "/z" + std::to_string(i) + ".log");
  EXPECT_NE(logs.find("got model delta"), std::string::npos);
  // Nobody downloads the full model: new clients derive the initial model
  // from (model, seed) and get only the chain of deltas since.
  EXPECT_EQ(logs.find("got full model"), std::string::npos);
  EXPECT_EQ(logs.find("differs from the server"), std::string::npos);
  EXPECT_EQ(logs.find("does not match"), std::string::npos);
  EXPECT_EQ(logs.find("does not hold"), std::string::npos);
  // The error-feedback residual is on disk for a restarted client.
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/z0/job-" + std::to_string(id) + ".residual") ||
              std::filesystem::exists(dir_ + "/z1/job-" + std::to_string(id) + ".residual") ||
              std::filesystem::exists(dir_ + "/z2/job-" + std::to_string(id) + ".residual"));
}

}  // namespace
}  // namespace fedpress::testing

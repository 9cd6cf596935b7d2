// One poisoned client among five (fedpress-client --poison, a testing tool):
// real server and client processes train a small MLP on a Fashion-MNIST
// subset. Plain FedAvg is wrecked by the poisoned update; the coordinate-wise
// median and (adaptive) norm clipping keep the final accuracy within 2 points
// of a clean run; and the poisoned updates are flagged as outliers (and
// clipped) in the participation records the dashboard shows.
#include <signal.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <set>

#include "tests/integration/harness.h"

namespace fedpress::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr int kClients = 5;
constexpr int kLimit = 6000;   // training images before partitioning: 1,200 per client
constexpr int kRounds = 4;
const char* const kPoison = "scale:1000";

class PoisonedClient : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = MakeTempDir("fp_poison_"); }
  void TearDown() override { DumpLogsOrRemove(dir_, HasFailure()); }

  // Names of the connected clients.
  static std::set<std::string> Connected(const ServerHandle& s) {
    std::set<std::string> out;
    auto c = s.Get("/api/clients").Json();
    if (c.is_array())
      for (auto& x : c)
        if (x.value("connected", false)) out.insert(x.value("name", ""));
    return out;
  }

  // Creates the job, waits for it to finish, returns its rounds.
  static json RunJob(const ServerHandle& s, const json& spec, int64_t* id_out) {
    auto r = s.Post("/api/jobs", spec.dump());
    EXPECT_EQ(r.status, 201) << r.body;
    const int64_t id = r.Json().value("id", int64_t{0});
    *id_out = id;
    if (id <= 0) return json::array();
    const std::string url = "/api/jobs/" + std::to_string(id);
    const bool done = WaitUntil([&] { return s.Get(url).Json().value("status", "") == "completed"; }, 600s, 500ms);
    EXPECT_TRUE(done) << s.Get(url).body;
    return s.Get(url + "/rounds").Json();
  }

  static json Participations(const ServerHandle& s, int64_t id) {
    return s.Get("/api/jobs/" + std::to_string(id) + "/participations").Json();
  }

  static double FinalAccuracy(const json& rounds) {
    if (!rounds.is_array() || rounds.empty() || !rounds.back()["accuracy"].is_number()) return -1;
    return rounds.back()["accuracy"].get<double>();
  }

  static json Spec(const std::string& name, int rounds, const json& aggregation) {
    json spec = {{"name", name},          {"model", "mlp"},          {"rounds", rounds},
                 {"clients_per_round", kClients}, {"min_clients", kClients}, {"round_timeout_s", 300},
                 {"seed", 3},             {"lr", 0.05},              {"batch_size", 32}};
    if (!aggregation.is_null()) spec["aggregation"] = aggregation;
    return spec;
  }

  std::string dir_;
};

TEST_F(PoisonedClient, RobustAggregationKeepsAccuracyAndFlagsTheOutlier) {
  ServerHandle server = StartServer(dir_);
  ASSERT_EQ(server.Get("/healthz").status, 200) << ReadText(dir_ + "/server.log");
  std::vector<Process> honest;
  for (int i = 0; i < kClients; ++i)
    honest.push_back(StartClient(dir_, server.endpoint(), "h" + std::to_string(i), i, kClients, kLimit));
  ASSERT_TRUE(WaitUntil([&] { return Connected(server).size() == kClients; }, 120s)) << "clients did not connect";

  // 1. Clean run: five honest clients, plain FedAvg.
  int64_t clean_id = 0;
  const json clean = RunJob(server, Spec("clean-fedavg", kRounds, nullptr), &clean_id);
  ASSERT_EQ(clean.size(), static_cast<size_t>(kRounds)) << clean.dump();
  const double clean_acc = FinalAccuracy(clean);
  std::cout << "clean fedavg: accuracy per round";
  for (const auto& r : clean) std::cout << " " << r["accuracy"] << " (median norm " << r["median_norm"] << ")";
  std::cout << std::endl;
  EXPECT_GT(clean_acc, 0.6) << clean.dump();
  double honest_norm = 0;
  for (const auto& r : clean) {
    ASSERT_TRUE(r["median_norm"].is_number()) << r.dump();
    honest_norm = std::max(honest_norm, r["median_norm"].get<double>());
    EXPECT_EQ(r["outliers"], 0) << r.dump();
    EXPECT_EQ(r["clipped"], 0) << r.dump();
  }
  for (const auto& p : Participations(server, clean_id)) {
    EXPECT_FALSE(p["outlier"].get<bool>()) << p.dump();
    if (p["status"] == "accepted") {
      EXPECT_GT(p["update_norm"].get<double>(), 0.0) << p.dump();
    }
  }

  // 2. Client 4 is replaced by a poisoned one on the same data.
  honest[4].Signal(SIGTERM);
  ASSERT_TRUE(honest[4].Wait(30s).has_value());
  Process poisoned =
      StartClient(dir_, server.endpoint(), "poisoned4", 4, kClients, kLimit, {"--poison", kPoison});
  const std::set<std::string> want = {"h0", "h1", "h2", "h3", "poisoned4"};
  ASSERT_TRUE(WaitUntil([&] { return Connected(server) == want; }, 120s)) << "poisoned client did not replace h4";

  // Checks the poisoned client's updates are flagged (and only its).
  auto expect_flagged = [&](int64_t id, bool clipped) {
    const json parts = Participations(server, id);
    int poisoned_accepted = 0;
    for (const auto& p : parts) {
      if (p["status"] != "accepted") continue;
      const bool is_poisoned = p["client"] == "poisoned4";
      EXPECT_EQ(p["outlier"].get<bool>(), is_poisoned) << p.dump();
      EXPECT_EQ(p["clipped"].get<bool>(), is_poisoned && clipped) << p.dump();
      if (is_poisoned) {
        ++poisoned_accepted;
        // The norm is recorded before clipping: ~1000x an honest one.
        EXPECT_GT(p["update_norm"].get<double>(), 100 * honest_norm) << p.dump();
      } else {
        EXPECT_LT(p["update_norm"].get<double>(), 10 * honest_norm) << p.dump();
      }
    }
    EXPECT_GT(poisoned_accepted, 0) << parts.dump();
  };

  // 3. Plain FedAvg is wrecked by it (one round is enough to see it; a
  //    wrecked model can make every later update non-finite).
  int64_t wrecked_id = 0;
  const json wrecked = RunJob(server, Spec("poisoned-fedavg", 1, nullptr), &wrecked_id);
  ASSERT_EQ(wrecked.size(), 1u) << wrecked.dump();
  ASSERT_TRUE(wrecked[0]["accuracy"].is_number()) << wrecked.dump();
  const double clean_round1 = clean[0]["accuracy"].get<double>();
  std::cout << "poisoned fedavg: round 1 accuracy " << wrecked[0]["accuracy"] << std::endl;
  EXPECT_LT(wrecked[0]["accuracy"].get<double>(), clean_round1 - 0.2)
      << "poisoned FedAvg should collapse; clean round 1 had " << clean_round1;
  EXPECT_EQ(wrecked[0]["outliers"], 1) << wrecked.dump();
  expect_flagged(wrecked_id, false);

  // 4. Coordinate-wise median: within 2 points of the clean run.
  int64_t median_id = 0;
  const json median = RunJob(server, Spec("poisoned-median", kRounds, {{"strategy", "median"}}), &median_id);
  ASSERT_EQ(median.size(), static_cast<size_t>(kRounds)) << median.dump();
  std::cout << "poisoned median: final accuracy " << FinalAccuracy(median) << std::endl;
  EXPECT_NEAR(FinalAccuracy(median), clean_acc, 0.02) << median.dump();
  for (const auto& r : median) EXPECT_EQ(r["outliers"], 1) << r.dump();
  expect_flagged(median_id, false);

  // 5. FedAvg with norm clipping. Honest norms shrink as the model learns
  //    (about 4.1 -> 1.7 over these rounds), so a fixed clip_norm tuned for
  //    round 1 lets the poison in later (tried: 2x the round-1 norm ended 9
  //    points low); the adaptive bound follows the round's median norm.
  int64_t clip_id = 0;
  const json clip =
      RunJob(server, Spec("poisoned-clip", kRounds, {{"strategy", "fedavg"}, {"adaptive_clip", 1.5}}), &clip_id);
  ASSERT_EQ(clip.size(), static_cast<size_t>(kRounds)) << clip.dump();
  std::cout << "poisoned fedavg + adaptive_clip 1.5: final accuracy " << FinalAccuracy(clip) << std::endl;
  EXPECT_NEAR(FinalAccuracy(clip), clean_acc, 0.02) << clip.dump();
  for (const auto& r : clip) {
    EXPECT_EQ(r["outliers"], 1) << r.dump();
    EXPECT_EQ(r["clipped"], 1) << r.dump();
  }
  expect_flagged(clip_id, true);

  // The job shows its aggregation spec as stored (normalised).
  auto job = server.Get("/api/jobs/" + std::to_string(clip_id)).Json();
  EXPECT_EQ(job["spec"]["aggregation"]["strategy"], "fedavg") << job.dump();
  EXPECT_EQ(job["spec"]["aggregation"]["adaptive_clip"].get<double>(), 1.5);
  EXPECT_NE(ReadText(dir_ + "/poisoned4.log").find("TESTING TOOL"), std::string::npos);
  EXPECT_NE(ReadText(dir_ + "/server.log").find("flagged as an outlier"), std::string::npos);
}

}  // namespace
}  // namespace fedpress::testing

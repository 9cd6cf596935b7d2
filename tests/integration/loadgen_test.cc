// fedpress-loadgen end to end: a real fedpress-server and one loadgen process
// playing 50 clients run a 2-round job with compressed uploads and downloads
// (delta chains from the derived initial model, then from round 1); every
// update of every round must be accepted, as the API and SQLite record.
#include <signal.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "server/store/store.h"
#include "tests/integration/harness.h"

namespace fedpress::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr int kClients = 50;

// Plain TCP on loopback: servers with CURVE on by default need --insecure.
std::vector<std::string> InsecureFlag() {
  std::string help;
  if (FILE* f = ::popen((BinDir() + "/fedpress-server --help 2>&1").c_str(), "r")) {
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) help.append(buf, n);
    ::pclose(f);
  }
  if (help.find("--insecure") != std::string::npos) return {"--insecure"};
  return {};
}

class LoadGen : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = MakeTempDir("fp_lg_"); }
  void TearDown() override { DumpLogsOrRemove(dir_, HasFailure()); }
  std::string dir_;
};

TEST_F(LoadGen, FiftySimulatedClientsCompleteAJobWithEveryUpdateAccepted) {
  std::vector<std::string> flags = {"--eval-limit", "500"};
  for (const auto& f : InsecureFlag()) flags.push_back(f);
  ServerHandle server = StartServer(dir_, 0, 0, flags);
  ASSERT_EQ(server.Get("/healthz").status, 200) << ReadText(dir_ + "/server.log");
  Process gen({BinDir() + "/fedpress-loadgen", "--server", server.endpoint(), "--insecure", "--clients",
               std::to_string(kClients), "--name-prefix", "lg", "--samples", "500", "--train-ms", "0-300",
               "--stats-every-s", "5"},
              dir_ + "/loadgen.log");

  // Every simulated client registers (paged API: connected count).
  ASSERT_TRUE(WaitUntil([&] {
    auto page = server.Get("/api/clients?limit=1&status=connected").Json();
    return page.is_object() && page.value("total", 0) == kClients;
  }, 60s)) << server.Get("/api/clients?limit=1").body;

  auto created = server.Post("/api/jobs", json{{"name", "loadgen"},
                                              {"model", "mlp"},
                                              {"rounds", 2},
                                              {"clients_per_round", kClients},
                                              {"min_clients", kClients},
                                              {"round_timeout_s", 120},
                                              {"compression", {{"preset", "topk1%-q8"}}},
                                              {"seed", 3}}
                                             .dump());
  ASSERT_EQ(created.status, 201) << created.body;
  const int64_t id = created.Json()["id"].get<int64_t>();
  const std::string job = "/api/jobs/" + std::to_string(id);
  ASSERT_TRUE(WaitUntil([&] { return server.Get(job).Json().value("status", "") == "completed"; }, 300s, 500ms))
      << server.Get(job).body;

  auto rounds = server.Get(job + "/rounds").Json();
  ASSERT_TRUE(rounds.is_array());
  ASSERT_EQ(rounds.size(), 2u);
  for (const json& r : rounds) {
    EXPECT_EQ(r["participants"], kClients) << r.dump();
    EXPECT_EQ(r["rejected"], 0) << r.dump();
    EXPECT_EQ(r["timeouts"], 0) << r.dump();
    EXPECT_EQ(r["attempts"], 1) << r.dump();  // no retry: nobody failed to apply the download
    EXPECT_EQ(r["samples"], kClients * 500) << r.dump();
    // Compressed both ways: far below the dense size (199,210 fp32 per client).
    EXPECT_LT(r["bytes_up_wire"].get<int64_t>(), kClients * 199210 * 4 / 10) << r.dump();
    EXPECT_LT(r["bytes_down_wire"].get<int64_t>(), kClients * 199210 * 4 / 2) << r.dump();
  }
  auto parts = server.Get(job + "/participations").Json();
  ASSERT_TRUE(parts.is_array());
  int accepted = 0;
  for (const json& p : parts) {
    EXPECT_EQ(p["status"], "accepted") << p.dump();
    accepted += p["status"] == "accepted";
  }
  EXPECT_EQ(accepted, 2 * kClients);

  // The generator stops cleanly on SIGTERM and reports what it did: every
  // TRAIN was applied (CRC-checked) and answered.
  gen.Signal(SIGTERM);
  ASSERT_EQ(gen.Wait(30s), std::optional<int>(0));
  const std::string log = ReadText(dir_ + "/loadgen.log");
  auto at = log.find("STATS ");
  ASSERT_NE(at, std::string::npos) << log;
  json stats = json::parse(log.substr(at + 6, log.find('\n', at) - at - 6), nullptr, false);
  ASSERT_TRUE(stats.is_object()) << log;
  EXPECT_EQ(stats["trains"], 2 * kClients);
  EXPECT_EQ(stats["updates_sent"], 2 * kClients);
  EXPECT_EQ(stats["task_failures"], 0);
  EXPECT_EQ(stats["models_failures"], 0);
  EXPECT_GE(stats["models_chains"], 2);  // round 1 from the derived initial model, round 2 from round 1
}

}  // namespace
}  // namespace fedpress::testing

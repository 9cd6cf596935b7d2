// Floods of REGISTER, HEARTBEAT and garbage from raw ZeroMQ DEALER peers —
// one identity hammering from 127.0.0.2, and a stream of fresh identities
// from 127.0.0.3 — while two real clients (from 127.0.0.1) run a real job:
// the job completes, the excess is dropped by the rate limits and counted in
// /metrics, and the fake identities get only what their source's bucket
// allows. And a burst of updates bigger than the server's inbound queue: the
// updates that do not fit are answered REJECT 13 (busy) and resent, and every
// round closes with everyone, without waiting for its deadline.
#include <gtest/gtest.h>

#include <unistd.h>

#include <signal.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <chrono>
#include <deque>
#include <filesystem>
#include <memory>
#include <thread>
#include <zmq.hpp>

#include "common/protocol.h"
#include "tests/integration/harness.h"

namespace fedpress::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
namespace proto = fedpress::protocol;

constexpr int kSourceRate = 20, kSourceBurst = 40;
// The flooders register a dataset no job uses, so a fake that got through is
// never picked for the job's rounds (that would only cost the job a retry).
constexpr char kFloodDataset[] = "flood-data";

// Sends without blocking; a full queue just means the message is not sent.
bool TrySend(zmq::socket_t& s, const std::vector<uint8_t>& frame) {
  try {
    return s.send(zmq::buffer(frame), zmq::send_flags::dontwait).has_value();
  } catch (const zmq::error_t&) {
    return false;
  }
}

void Drain(zmq::socket_t& s) {
  zmq::message_t m;
  for (int i = 0; i < 1000; ++i)
    if (!s.recv(m, zmq::recv_flags::dontwait)) break;
}

// One identity: REGISTER once, then HEARTBEAT and REGISTER as fast as it can.
void FloodOneIdentity(const std::string& endpoint, std::atomic<bool>& stop, std::atomic<uint64_t>& sent) {
  zmq::context_t ctx(1);
  zmq::socket_t s(ctx, zmq::socket_type::dealer);
  s.set(zmq::sockopt::linger, 0);
  s.set(zmq::sockopt::routing_id, "flood-one");
  s.connect(endpoint);
  const auto reg = proto::EncodeEnvelope(proto::Register{"flood-one", kFloodDataset, 100, 0, "flood"});
  const auto hb = proto::EncodeEnvelope(proto::Heartbeat{});
  const auto deadline = std::chrono::steady_clock::now() + 600s;
  for (uint64_t i = 0; !stop && std::chrono::steady_clock::now() < deadline; ++i) {
    sent += TrySend(s, i % 10 == 0 ? reg : hb);
    if (i % 256 == 0) Drain(s);
  }
}

// Fresh identities: each connection registers a new name, heartbeats and
// sends garbage, then goes away; 16 connections are open at a time.
void FloodManyIdentities(const std::string& endpoint, std::atomic<bool>& stop, std::atomic<uint64_t>& sent) {
  zmq::context_t ctx(1);
  std::deque<std::unique_ptr<zmq::socket_t>> open;
  const auto hb = proto::EncodeEnvelope(proto::Heartbeat{});
  const std::vector<uint8_t> garbage = {'F', 'P', 1, 99, 0xff, 0xff};
  const auto deadline = std::chrono::steady_clock::now() + 600s;
  for (int n = 0; !stop && std::chrono::steady_clock::now() < deadline; ++n) {
    auto s = std::make_unique<zmq::socket_t>(ctx, zmq::socket_type::dealer);
    s->set(zmq::sockopt::linger, 100);
    const std::string name = "fake-" + std::to_string(n);
    s->set(zmq::sockopt::routing_id, name);
    s->connect(endpoint);
    sent += TrySend(*s, proto::EncodeEnvelope(proto::Register{name, kFloodDataset, 100, 0, "flood"}));
    for (int k = 0; k < 20; ++k) sent += TrySend(*s, k % 2 ? hb : garbage);
    open.push_back(std::move(s));
    if (open.size() > 16) {
      Drain(*open.front());
      open.pop_front();
    }
    std::this_thread::sleep_for(2ms);
  }
}

// The value of one sample line "name value" of a Prometheus text, -1 if absent.
double Metric(const std::string& text, const std::string& name) {
  size_t at = text.find("\n" + name + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + name.size() + 2));
}

// The raw peers speak plaintext: servers that default to CURVE need --insecure.
bool ServerHasInsecureFlag() {
  std::string out = "/tmp/fp_flood_help_" + std::to_string(::getpid());
  std::string cmd = "'" + BinDir() + "/fedpress-server' --help > " + out + " 2>&1";
  bool has = std::system(cmd.c_str()) >= 0 && ReadText(out).find("--insecure") != std::string::npos;
  std::remove(out.c_str());
  return has;
}

TEST(Flood, RegisterAndHeartbeatFloodsAreDroppedWhileARealJobCompletes) {
  std::string dir = MakeTempDir("fp_flood_");
  std::vector<std::string> flags = {"--peer-rate", "5", "--peer-burst", "10",
                                    "--source-rate", std::to_string(kSourceRate),
                                    "--source-burst", std::to_string(kSourceBurst)};
  if (ServerHasInsecureFlag()) flags.push_back("--insecure");
  ServerHandle server = StartServer(dir, 0, 0, flags);
  ASSERT_EQ(server.Get("/healthz").status, 200) << ReadText(dir + "/server.log");
  const std::string port = std::to_string(server.zmq_port);

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> sent_one{0}, sent_many{0};
  const auto flood_start = std::chrono::steady_clock::now();
  // Source addresses of their own (all of 127/8 is loopback), so the per-source
  // limit meets the flooders and not the honest clients on 127.0.0.1.
  std::thread one(FloodOneIdentity, "tcp://127.0.0.2:0;127.0.0.1:" + port, std::ref(stop), std::ref(sent_one));
  std::thread many(FloodManyIdentities, "tcp://127.0.0.3:0;127.0.0.1:" + port, std::ref(stop), std::ref(sent_many));
  struct Joiner {
    std::atomic<bool>& stop;
    std::thread& a;
    std::thread& b;
    void Stop() {
      stop = true;
      if (a.joinable()) a.join();
      if (b.joinable()) b.join();
    }
    ~Joiner() { Stop(); }
  } joiner{stop, one, many};

  std::vector<Process> clients;
  for (int i = 0; i < 2; ++i)
    clients.push_back(StartClient(dir, server.endpoint(), "honest-" + std::to_string(i), i, 2, 2000));
  auto created = server.Post("/api/jobs", json{{"name", "under-flood"}, {"model", "mlp"}, {"rounds", 3},
                                               {"clients_per_round", 2}, {"min_clients", 2},
                                               {"round_timeout_s", 120}}.dump());
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string job = "/api/jobs/" + std::to_string(created.Json()["id"].get<int64_t>());
  EXPECT_TRUE(WaitUntil([&] {
    auto j = server.Get(job).Json();
    return j.is_object() && j["status"] == "completed";
  }, 400s, 500ms)) << server.Get(job).body << "\n" << ReadText(dir + "/server.log").substr(0, 20000);

  // Stop the flood, then scrape once the counters have settled: the drop
  // counters are bumped one after another on the socket thread, so a scrape
  // taken mid-flood can see one without the other.
  joiner.Stop();
  const double flood_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - flood_start).count();
  auto metrics = server.Get("/metrics");
  for (int i = 0; i < 50; ++i) {
    std::this_thread::sleep_for(100ms);
    auto again = server.Get("/metrics");
    if (again.status == 200 && again.body == metrics.body) break;
    metrics = again;
  }
  auto clients_now = server.Get("/api/clients").Json();
  ASSERT_EQ(metrics.status, 200);

  // The flood really happened, and was mostly dropped on arrival.
  EXPECT_GT(sent_one.load(), 1000u);
  EXPECT_GT(sent_many.load(), 1000u);
  const double dropped_peer = Metric(metrics.body, R"(fedpress_flood_dropped_total{limit="peer"})");
  const double dropped_source = Metric(metrics.body, R"(fedpress_flood_dropped_total{limit="source"})");
  EXPECT_GT(dropped_peer, 1000) << metrics.body;
  EXPECT_GT(dropped_source, 1000) << metrics.body;
  EXPECT_EQ(Metric(metrics.body, R"(fedpress_inbound_dropped_total{reason="rate_limit"})"),
            dropped_peer + dropped_source);

  // Each fake identity needed a token of its source's bucket to register.
  int fakes = 0;
  for (const auto& c : clients_now) fakes += c["name"].get<std::string>().rfind("fake-", 0) == 0;
  EXPECT_LE(fakes, kSourceBurst + kSourceRate * flood_s + 1) << "in " << flood_s << " s";

  // Both honest clients took part in every round.
  auto rounds = server.Get(job + "/rounds").Json();
  ASSERT_EQ(rounds.size(), 3u) << rounds.dump();
  for (const auto& r : rounds) EXPECT_EQ(r["participants"], 2) << r.dump();
  EXPECT_EQ(server.Get("/healthz").status, 200);
  if (!::testing::Test::HasFailure()) std::filesystem::remove_all(dir);
}

// Unsets an environment variable when it goes out of scope.
struct ScopedEnv {
  ScopedEnv(const char* name, const char* value) : name(name) { ::setenv(name, value, 1); }
  ~ScopedEnv() { ::unsetenv(name); }
  const char* name;
};

TEST(Flood, UpdatesTheInboundQueueCannotHoldAreResentAndRoundsCloseWithEveryone) {
  constexpr int kClients = 30;
  std::string dir = MakeTempDir("fp_busy_");
  // The smallest inbound queue the server allows (one largest message: a
  // dense cnn-large update) holds about 11 dense mlp updates (797 KB); a
  // coordinator slowed to 100 ms per update cannot drain 30 arriving at once.
  std::vector<std::string> flags = {"--max-queued-bytes", "9MiB", "--max-peer-queued-bytes", "9MiB",
                                    "--eval-limit", "300"};
  if (ServerHasInsecureFlag()) flags.push_back("--insecure");
  ServerHandle server;
  {
    ScopedEnv stall("FEDPRESS_STALL_UPDATE_MS", "100");
    server = StartServer(dir, 0, 0, flags);
  }
  ASSERT_EQ(server.Get("/healthz").status, 200) << ReadText(dir + "/server.log");
  std::vector<std::string> gen_argv = {BinDir() + "/fedpress-loadgen", "--server", server.endpoint(),
                                       "--clients", std::to_string(kClients), "--name-prefix", "burst",
                                       "--samples", "500", "--train-ms", "0-100", "--stats-every-s", "5"};
  if (ServerHasInsecureFlag()) gen_argv.push_back("--insecure");
  Process gen(gen_argv, dir + "/loadgen.log");
  ASSERT_TRUE(WaitUntil([&] {
    auto page = server.Get("/api/clients?limit=1&status=connected").Json();
    return page.is_object() && page.value("total", 0) == kClients;
  }, 60s)) << server.Get("/api/clients?limit=1").body << ReadText(dir + "/loadgen.log");

  // Dense uploads, everyone in every round, and a deadline far beyond what
  // the resends need: a lost update would make the round wait 120 s and
  // retry (attempts 2), as it did before REJECT 13.
  auto created = server.Post("/api/jobs", json{{"name", "burst"}, {"model", "mlp"}, {"rounds", 2},
                                               {"clients_per_round", kClients}, {"min_clients", kClients},
                                               {"round_timeout_s", 120}, {"compression", {{"method", "none"}}},
                                               {"seed", 5}}.dump());
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string job = "/api/jobs/" + std::to_string(created.Json()["id"].get<int64_t>());
  ASSERT_TRUE(WaitUntil([&] { return server.Get(job).Json().value("status", "") == "completed"; }, 200s, 500ms))
      << server.Get(job).body << "\n" << ReadText(dir + "/server.log").substr(0, 20000);

  auto rounds = server.Get(job + "/rounds").Json();
  ASSERT_TRUE(rounds.is_array());
  ASSERT_EQ(rounds.size(), 2u) << rounds.dump();
  for (const json& r : rounds) {
    EXPECT_EQ(r["participants"], kClients) << r.dump();
    EXPECT_EQ(r["attempts"], 1) << r.dump();
    EXPECT_EQ(r["timeouts"], 0) << r.dump();
    EXPECT_EQ(r["rejected"], 0) << r.dump();
    EXPECT_LT(r["duration_ms"].get<int64_t>(), 100000) << r.dump();
  }

  // The queue really overflowed, and every dropped update's sender was told.
  auto metrics = server.Get("/metrics");
  ASSERT_EQ(metrics.status, 200);
  const double notices = Metric(metrics.body, "fedpress_inbound_busy_notices_total");
  EXPECT_GT(notices, 0) << metrics.body;
  EXPECT_EQ(Metric(metrics.body, R"(fedpress_inbound_dropped_total{reason="queue_full"})"), notices)
      << metrics.body;
  EXPECT_NE(ReadText(dir + "/server.log").find("asked to resend"), std::string::npos);

  gen.Signal(SIGTERM);
  ASSERT_EQ(gen.Wait(30s), std::optional<int>(0));
  const std::string log = ReadText(dir + "/loadgen.log");
  auto at = log.find("STATS ");
  ASSERT_NE(at, std::string::npos) << log;
  json stats = json::parse(log.substr(at + 6, log.find('\n', at) - at - 6), nullptr, false);
  ASSERT_TRUE(stats.is_object()) << log;
  EXPECT_EQ(stats["rejects_busy"].get<double>(), notices) << log;
  // updates_sent counts every send: each task's update once, plus the resends.
  EXPECT_GE(stats["updates_sent"].get<double>(), 2 * kClients + notices) << log;
  EXPECT_EQ(stats["task_failures"], 0);
  if (!::testing::Test::HasFailure()) std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace fedpress::testing

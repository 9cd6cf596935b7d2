// A hand-written client on a raw ZeroMQ DEALER socket sends garbage and
// malformed or dishonest messages to a real server: each is refused with a
// REJECT naming the problem, recorded where it concerns a job, and the server
// keeps serving (the round is retried and finally completes). And a picked
// client that comes back on a new connection mid-round keeps its place.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <zmq.hpp>

#include "common/byte_io.h"
#include "common/model_weights.h"
#include "common/protocol.h"
#include "server/store/store.h"
#include "tests/integration/harness.h"

namespace fedpress::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
namespace proto = fedpress::protocol;

class RawClient {
 public:
  explicit RawClient(const std::string& endpoint) : sock_(ctx_, zmq::socket_type::dealer) {
    sock_.set(zmq::sockopt::linger, 0);
    sock_.connect(endpoint);
  }
  void SendFrames(const std::vector<std::vector<uint8_t>>& frames) {
    for (size_t i = 0; i < frames.size(); ++i)
      sock_.send(zmq::buffer(frames[i]), i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
  }
  void Send(const proto::Message& m, const std::vector<uint8_t>* payload = nullptr) {
    std::vector<std::vector<uint8_t>> frames = {proto::EncodeEnvelope(m)};
    if (payload) frames.push_back(*payload);
    SendFrames(frames);
  }
  // Next message that is not a heartbeat echo, within timeout.
  std::optional<std::pair<proto::Message, std::vector<uint8_t>>> Next(std::chrono::milliseconds timeout) {
    auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
      zmq::pollitem_t item{sock_.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, std::chrono::milliseconds(100));
      if (!(item.revents & ZMQ_POLLIN)) {
        if (registered_) Send(proto::Heartbeat{});  // stay alive
        continue;
      }
      std::vector<zmq::message_t> frames;
      do {
        zmq::message_t f;
        (void)sock_.recv(f);
        frames.push_back(std::move(f));
      } while (frames.back().more());
      auto env = std::span(static_cast<const uint8_t*>(frames[0].data()), frames[0].size());
      auto m = proto::DecodeEnvelope(env, frames.size() == 2);
      if (!m.ok()) continue;
      if (std::holds_alternative<proto::Heartbeat>(*m)) continue;
      std::vector<uint8_t> payload;
      if (frames.size() == 2)
        payload.assign(static_cast<const uint8_t*>(frames[1].data()),
                       static_cast<const uint8_t*>(frames[1].data()) + frames[1].size());
      return std::make_pair(std::move(*m), std::move(payload));
    }
    return std::nullopt;
  }
  proto::Reject ExpectReject(std::chrono::milliseconds timeout = 10s) {
    auto m = Next(timeout);
    EXPECT_TRUE(m.has_value()) << "no answer";
    if (!m) return {};
    auto* r = std::get_if<proto::Reject>(&m->first);
    EXPECT_NE(r, nullptr) << "expected REJECT, got " << proto::DebugString(m->first);
    return r ? *r : proto::Reject{};
  }
  void set_registered() { registered_ = true; }

 private:
  zmq::context_t ctx_{1};
  zmq::socket_t sock_;
  bool registered_ = false;
};

TEST(HostileClient, EveryBadMessageIsRejectedAndTheJobStillCompletes) {
  std::string dir = MakeTempDir("fp_hostile_");
  // Plaintext on loopback: this test is about protocol hostility; the CURVE
  // side (refused keys, revoked clients) is tests/integration/security_test.cc.
  ServerHandle server = StartServer(dir, 0, 0, {"--insecure"});
  ASSERT_EQ(server.Get("/healthz").status, 200) << ReadText(dir + "/server.log");
  RawClient c(server.endpoint());

  // Garbage, a foreign protocol version, too many frames, unregistered use.
  c.SendFrames({{0xde, 0xad, 0xbe, 0xef, 0x00}});
  EXPECT_EQ(c.ExpectReject().code, proto::RejectCode::kMalformed);
  c.SendFrames({{'F', 'P', 9, 3, 0, 0}});
  auto v = c.ExpectReject();
  EXPECT_EQ(v.code, proto::RejectCode::kBadVersion);
  EXPECT_NE(v.reason.find("version 9"), std::string::npos) << v.reason;
  c.SendFrames({{'F', 'P', 1, 3}, {1}, {2}});
  EXPECT_EQ(c.ExpectReject().code, proto::RejectCode::kMalformed);
  c.Send(proto::Heartbeat{});
  EXPECT_EQ(c.ExpectReject().code, proto::RejectCode::kNotRegistered);
  c.SendFrames({proto::EncodeEnvelope(proto::Register{"bad name!", "fashion-mnist", 10, 0, "x"})});
  EXPECT_EQ(c.ExpectReject().code, proto::RejectCode::kMalformed);

  // Register properly, with 100 samples.
  c.Send(proto::Register{"mallory", "fashion-mnist", 100, 0, "raw-test"});
  auto w = c.Next(10s);
  ASSERT_TRUE(w && std::holds_alternative<proto::Welcome>(w->first));
  c.set_registered();

  // An update for a job that does not exist.
  std::vector<uint8_t> junk = {1, 2, 3};
  c.Send(proto::Update{999, 1, 1, 10, 0.5f, 1, 1, 12, proto::PayloadFormat::kDense}, &junk);
  EXPECT_EQ(c.ExpectReject().code, proto::RejectCode::kWrongJob);

  // A one-client job: mallory is always picked.
  auto created = server.Post("/api/jobs", json{{"name", "hostile"}, {"model", "mlp"}, {"rounds", 1},
                                               {"clients_per_round", 1}, {"min_clients", 1},
                                               {"round_timeout_s", 60}}.dump());
  ASSERT_EQ(created.status, 201) << created.body;
  const int64_t job = created.Json()["id"];

  auto next_train = [&]() -> std::pair<proto::Train, ModelWeights> {
    auto m = c.Next(60s);
    EXPECT_TRUE(m.has_value());
    if (!m) return {};
    auto* t = std::get_if<proto::Train>(&m->first);
    EXPECT_NE(t, nullptr) << proto::DebugString(m->first);
    if (!t) return {};
    auto weights = ModelWeights::Decode(m->second);
    EXPECT_TRUE(weights.ok()) << weights.status().ToString();
    return {*t, weights.ok() ? std::move(*weights) : ModelWeights()};
  };
  auto update_for = [](const proto::Train& t, uint64_t samples) {
    return proto::Update{t.job_id, t.round, t.attempt, samples, 0.5f, 1, 1, 0, proto::PayloadFormat::kDense};
  };

  // Attempt 1: a NaN in the update.
  auto [t1, w1] = next_train();
  ASSERT_EQ(t1.job_id, job);
  ModelWeights nan_delta(w1.layout());
  nan_delta.values()[123] = std::nanf("");
  auto bytes = nan_delta.Encode();
  c.Send(update_for(t1, 100), &bytes);
  auto r1 = c.ExpectReject();
  EXPECT_EQ(r1.code, proto::RejectCode::kBadPayload);
  EXPECT_NE(r1.reason.find("NaN"), std::string::npos) << r1.reason;
  // A second answer to the same attempt is a duplicate (or late once closed).
  c.Send(update_for(t1, 100), &bytes);
  auto dup = c.ExpectReject();
  EXPECT_TRUE(dup.code == proto::RejectCode::kDuplicate || dup.code == proto::RejectCode::kWrongRound);

  // Attempt 2: claims more samples than registered.
  auto [t2, w2] = next_train();
  EXPECT_EQ(t2.attempt, t1.attempt + 1);
  ModelWeights zero(w2.layout());
  auto zero_bytes = zero.Encode();
  c.Send(update_for(t2, 1000000), &zero_bytes);
  EXPECT_EQ(c.ExpectReject().code, proto::RejectCode::kBadSampleCount);

  // Attempt 3: wrong shape (a layer dropped).
  auto [t3, w3] = next_train();
  std::vector<LayerSpec> fewer(w3.layout().layers().begin(), w3.layout().layers().end() - 1);
  ModelWeights wrong{ModelLayout(fewer)};
  auto wrong_bytes = wrong.Encode();
  c.Send(update_for(t3, 100), &wrong_bytes);
  auto r3 = c.ExpectReject();
  EXPECT_EQ(r3.code, proto::RejectCode::kBadPayload);
  EXPECT_NE(r3.reason.find("mismatch"), std::string::npos) << r3.reason;

  // Attempt 4: an honest (zero) update is accepted and the job completes.
  auto [t4, w4] = next_train();
  ModelWeights ok(w4.layout());
  auto ok_bytes = ok.Encode();
  c.Send(update_for(t4, 100), &ok_bytes);
  ASSERT_TRUE(WaitUntil([&] {
    auto j = server.Get("/api/jobs/" + std::to_string(job)).Json();
    return j.is_object() && j["status"] == "completed";
  }, 120s, 300ms)) << server.Get("/api/jobs/" + std::to_string(job)).body;
  EXPECT_EQ(server.Get("/healthz").status, 200);

  // Every refusal is on record with its reason.
  auto parts = server.Get("/api/jobs/" + std::to_string(job) + "/participations").Json();
  ASSERT_TRUE(parts.is_array());
  int rejected = 0, accepted = 0;
  std::string reasons;
  for (auto& p : parts) {
    rejected += p["status"] == "rejected";
    accepted += p["status"] == "accepted";
    reasons += p["reason"].get<std::string>() + "|";
  }
  EXPECT_GE(rejected, 3) << parts.dump();
  EXPECT_EQ(accepted, 1);
  EXPECT_NE(reasons.find("NaN"), std::string::npos);
  EXPECT_NE(reasons.find("exceeds"), std::string::npos);
  auto rounds = server.Get("/api/jobs/" + std::to_string(job) + "/rounds").Json();
  ASSERT_EQ(rounds.size(), 1u);
  EXPECT_EQ(rounds[0]["attempts"], t4.attempt);
  if (!::testing::Test::HasFailure()) std::filesystem::remove_all(dir);
  else std::cerr << ReadText(dir + "/server.log");
}

// A picked client whose connection is replaced mid-round (it reconnected
// after a link cut, or restarted) keeps its place: the server sends the
// round's TRAIN again on the new connection, in the same attempt, and takes
// the update from there. Before, the round lost the client and was retried.
// Then an update for the closed round arrives late: refused, recorded.
TEST(HostileClient, APickedClientThatReconnectsMidRoundKeepsItsPlace) {
  std::string dir = MakeTempDir("fp_rejoin_");
  ServerHandle server = StartServer(dir, 0, 0, {"--insecure"});
  ASSERT_EQ(server.Get("/healthz").status, 200) << ReadText(dir + "/server.log");
  RawClient first(server.endpoint());
  first.Send(proto::Register{"rejoiner", "fashion-mnist", 100, 0, "raw-test"});
  auto w = first.Next(10s);
  ASSERT_TRUE(w && std::holds_alternative<proto::Welcome>(w->first));
  first.set_registered();
  auto created = server.Post("/api/jobs", json{{"name", "rejoin"}, {"model", "mlp"}, {"rounds", 2},
                                               {"clients_per_round", 1}, {"min_clients", 1},
                                               {"round_timeout_s", 120}}.dump());
  ASSERT_EQ(created.status, 201) << created.body;
  const int64_t job = created.Json()["id"];
  auto t1 = first.Next(60s);
  ASSERT_TRUE(t1.has_value());
  auto* train1 = std::get_if<proto::Train>(&t1->first);
  ASSERT_NE(train1, nullptr) << proto::DebugString(t1->first);

  // The same name from a new connection: WELCOME, then the same task again.
  RawClient second(server.endpoint());
  second.Send(proto::Register{"rejoiner", "fashion-mnist", 100, 0, "raw-test"});
  auto w2 = second.Next(10s);
  ASSERT_TRUE(w2 && std::holds_alternative<proto::Welcome>(w2->first)) << (w2 ? proto::DebugString(w2->first) : "");
  second.set_registered();
  auto t2 = second.Next(10s);
  ASSERT_TRUE(t2.has_value()) << "no TRAIN on the new connection";
  auto* train2 = std::get_if<proto::Train>(&t2->first);
  ASSERT_NE(train2, nullptr) << proto::DebugString(t2->first);
  EXPECT_EQ(train2->job_id, train1->job_id);
  EXPECT_EQ(train2->round, train1->round);
  EXPECT_EQ(train2->attempt, train1->attempt) << "the round was retried instead";
  EXPECT_EQ(train2->model_crc, train1->model_crc);
  // The old connection is told to go away.
  auto bye = first.Next(10s);
  ASSERT_TRUE(bye.has_value());
  EXPECT_TRUE(std::holds_alternative<proto::Bye>(bye->first)) << proto::DebugString(bye->first);

  auto weights = ModelWeights::Decode(t2->second);
  ASSERT_TRUE(weights.ok()) << weights.status().ToString();
  ModelWeights zero(weights->layout());
  auto zero_bytes = zero.Encode();
  const proto::Update round1{train2->job_id, train2->round, train2->attempt, 100, 0.5f, 1, 1, 0,
                             proto::PayloadFormat::kDense};
  second.Send(round1, &zero_bytes);

  // Round 2's TRAIN; the round-1 update once more is late now.
  auto t3 = second.Next(60s);
  ASSERT_TRUE(t3.has_value());
  auto* train3 = std::get_if<proto::Train>(&t3->first);
  ASSERT_NE(train3, nullptr) << proto::DebugString(t3->first);
  EXPECT_EQ(train3->round, 2u);
  second.Send(round1, &zero_bytes);
  auto late = second.ExpectReject();
  EXPECT_EQ(late.code, proto::RejectCode::kWrongRound);
  EXPECT_NE(late.reason.find("late update ignored"), std::string::npos) << late.reason;
  // The job is uncompressed: round 2's TRAIN carries the whole model.
  auto w3 = ModelWeights::Decode(t3->second);
  ASSERT_TRUE(w3.ok()) << w3.status().ToString();
  second.Send(proto::Update{train3->job_id, train3->round, train3->attempt, 100, 0.5f, 1, 1, 0,
                            proto::PayloadFormat::kDense},
              &zero_bytes);
  ASSERT_TRUE(WaitUntil([&] {
    auto j = server.Get("/api/jobs/" + std::to_string(job)).Json();
    return j.is_object() && j["status"] == "completed";
  }, 120s, 300ms)) << server.Get("/api/jobs/" + std::to_string(job)).body;
  auto rounds = server.Get("/api/jobs/" + std::to_string(job) + "/rounds").Json();
  ASSERT_EQ(rounds.size(), 2u);
  EXPECT_EQ(rounds[0]["attempts"], 1) << rounds.dump();
  EXPECT_EQ(rounds[0]["participants"], 1) << rounds.dump();
  EXPECT_EQ(rounds[0]["timeouts"], 0) << rounds.dump();
  EXPECT_NE(ReadText(dir + "/server.log").find("reconnected and keeps its place"), std::string::npos);
  // The late update is on record, and did not count.
  int late_rows = 0;
  for (const auto& p : server.Get("/api/jobs/" + std::to_string(job) + "/participations").Json())
    if (p["round"] == 1 && p["status"] == "late") {
      ++late_rows;
      EXPECT_NE(p["reason"].get<std::string>().find("late update ignored"), std::string::npos) << p.dump();
    }
  EXPECT_EQ(late_rows, 1);
  EXPECT_EQ(rounds[1]["participants"], 1) << rounds.dump();
  if (!::testing::Test::HasFailure()) std::filesystem::remove_all(dir);
  else std::cerr << ReadText(dir + "/server.log");
}

}  // namespace
}  // namespace fedpress::testing

// The client daemon's Session against a fake server (a ROUTER socket in the
// test, plaintext, on loopback): an UPDATE answered REJECT 13 (server busy)
// is resent byte for byte without training again, at most max_busy_resends
// times; a busy answer about another round is ignored; a new TRAIN cancels a
// pending resend. A task the server sends again after a reconnect is answered
// with the update already made, and a task being trained is not trained
// twice. No libtorch: the task handler returns a made-up update.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "client/session.h"
#include "common/protocol.h"

namespace fedpress::client {
namespace {

using namespace std::chrono_literals;
namespace proto = fedpress::protocol;

// A message from the client: its decoded envelope and raw frames.
struct Received {
  proto::Message message;
  std::string envelope;
  std::string payload;
};

class FakeServer {
 public:
  FakeServer() : router_(ctx_, zmq::socket_type::router) {
    router_.set(zmq::sockopt::linger, 0);
    router_.bind("tcp://127.0.0.1:*");
    endpoint_ = router_.get(zmq::sockopt::last_endpoint);
  }
  const std::string& endpoint() const { return endpoint_; }

  // The next message other than a HEARTBEAT (echoed, as the server does)
  // within timeout; nullopt if none.
  std::optional<Received> Next(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      zmq::pollitem_t item{router_.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, 20ms);
      if (!(item.revents & ZMQ_POLLIN)) continue;
      std::vector<zmq::message_t> frames;
      do {
        zmq::message_t f;
        if (!router_.recv(f)) break;
        frames.push_back(std::move(f));
      } while (frames.back().more());
      if (frames.size() < 2) continue;
      peer_ = frames[0].to_string();
      auto env = std::span(static_cast<const uint8_t*>(frames[1].data()), frames[1].size());
      auto decoded = proto::DecodeEnvelope(env, frames.size() == 3);
      if (!decoded.ok()) {
        ADD_FAILURE() << "the client sent an undecodable message: " << decoded.status().ToString();
        continue;
      }
      if (std::holds_alternative<proto::Heartbeat>(*decoded)) {
        Send(*decoded);
        continue;
      }
      Received r{*decoded, frames[1].to_string(), frames.size() == 3 ? frames[2].to_string() : ""};
      return r;
    }
    return std::nullopt;
  }

  void Send(const proto::Message& m, const std::string& payload = "") {
    auto env = proto::EncodeEnvelope(m);
    router_.send(zmq::buffer(peer_), zmq::send_flags::sndmore);
    if (payload.empty()) {
      router_.send(zmq::buffer(env), zmq::send_flags::none);
    } else {
      router_.send(zmq::buffer(env), zmq::send_flags::sndmore);
      router_.send(zmq::buffer(payload), zmq::send_flags::none);
    }
  }

  void SendTrain(uint32_t round) {
    proto::Train t;
    t.job_id = 7;
    t.round = round;
    t.model = "mlp";
    t.dataset = "fashion-mnist";
    t.compression_json = "{}";
    Send(t, "model bytes of round " + std::to_string(round));
  }

  void SendBusy(uint32_t round) {
    Send(proto::Reject{7, round, proto::RejectCode::kBusy, "server busy: resend it"});
  }

 private:
  zmq::context_t ctx_{1};
  zmq::socket_t router_;
  std::string endpoint_;
  std::string peer_;
};

const proto::Update* AsUpdate(const std::optional<Received>& r) {
  return r ? std::get_if<proto::Update>(&r->message) : nullptr;
}

// A Session on its own thread whose task handler makes a 16-byte update
// (each byte `fill_base` + round) without training; `slow_round` takes 1.5 s.
// Stopped and joined on destruction.
class RunningSession {
 public:
  RunningSession(SessionOptions o, uint32_t slow_round, uint8_t fill_base)
      : session_(std::move(o), [this, slow_round, fill_base](const proto::Train& t, std::vector<uint8_t>)
                                   -> Result<TaskResult> {
          ++trained_;
          if (t.round == slow_round) std::this_thread::sleep_for(1500ms);
          TaskResult r;
          r.update.job_id = t.job_id;
          r.update.round = t.round;
          r.update.attempt = t.attempt;
          r.update.num_samples = 10;
          r.update.train_loss = 0.5f;
          r.update.raw_bytes = 16;
          r.payload.assign(16, static_cast<uint8_t>(fill_base + t.round));
          return r;
        }),
        thread_([this] { EXPECT_TRUE(session_.Run().ok()); }) {}
  ~RunningSession() {
    session_.RequestStop();
    thread_.join();
  }
  int trained() const { return trained_.load(); }

 private:
  std::atomic<int> trained_{0};
  Session session_;
  std::thread thread_;
};

SessionOptions OptionsFor(const FakeServer& server, const std::string& name) {
  SessionOptions o;
  o.server = server.endpoint();
  o.name = name;
  o.num_samples = 10;
  return o;
}

// The next message is the UPDATE `original` again, byte for byte.
void ExpectResent(FakeServer& server, const Received& original, const char* what) {
  auto again = server.Next(10s);
  ASSERT_NE(AsUpdate(again), nullptr) << what;
  EXPECT_EQ(again->envelope, original.envelope) << what;
  EXPECT_EQ(again->payload, original.payload) << what;
}

// Waits for the REGISTER and answers WELCOME.
void Welcome(FakeServer& server) {
  auto reg = server.Next(10s);
  ASSERT_TRUE(reg && std::holds_alternative<proto::Register>(reg->message))
      << (reg ? proto::DebugString(reg->message) : "nothing");
  server.Send(proto::Welcome{1, 1000, 1 << 20});
}

TEST(Session, ResendsAnUpdateTheServerWasTooBusyToQueue) {
  FakeServer server;
  SessionOptions o = OptionsFor(server, "dev-1");
  o.max_busy_resends = 2;
  o.busy_resend_initial_ms = 200;
  o.busy_resend_max_ms = 400;  // resends come 100..600 ms after a busy answer
  // Round 3 trains slowly: a round-2 resend that was not cancelled would come out first.
  RunningSession client(o, 3, 0);
  Welcome(server);
  if (::testing::Test::HasFatalFailure()) return;

  // Round 1: the update, then two busy answers, each followed by the same bytes.
  server.SendTrain(1);
  auto first = server.Next(10s);
  ASSERT_NE(AsUpdate(first), nullptr);
  EXPECT_EQ(AsUpdate(first)->round, 1u);
  EXPECT_EQ(first->payload, std::string(16, '\x01'));
  server.SendBusy(1);
  ExpectResent(server, *first, "no resend after REJECT 13");
  if (::testing::Test::HasFatalFailure()) return;
  // A busy answer about a round the client did not just send: ignored.
  server.SendBusy(9);
  EXPECT_EQ(AsUpdate(server.Next(1500ms)), nullptr);
  server.SendBusy(1);
  ExpectResent(server, *first, "no second resend");
  if (::testing::Test::HasFatalFailure()) return;
  // max_busy_resends (2) reached: the client gives up on this update.
  server.SendBusy(1);
  EXPECT_EQ(AsUpdate(server.Next(1500ms)), nullptr);
  EXPECT_EQ(client.trained(), 1) << "a resend must not train again";

  // Round 2's update is answered busy, but round 3's TRAIN comes at once:
  // the pending resend of round 2 is cancelled.
  server.SendTrain(2);
  auto second = server.Next(10s);
  ASSERT_NE(AsUpdate(second), nullptr);
  EXPECT_EQ(AsUpdate(second)->round, 2u);
  server.SendBusy(2);
  server.SendTrain(3);
  auto next = server.Next(10s);
  ASSERT_NE(AsUpdate(next), nullptr);
  EXPECT_EQ(AsUpdate(next)->round, 3u) << "round 2 was resent after round 3's TRAIN";
  EXPECT_EQ(AsUpdate(server.Next(1000ms)), nullptr);
  EXPECT_EQ(client.trained(), 3);
}

TEST(Session, ATaskSentAgainIsAnsweredWithoutTrainingAgain) {
  FakeServer server;
  SessionOptions o = OptionsFor(server, "dev-2");
  o.backoff_initial_ms = 100;
  RunningSession client(o, 2, 0x40);  // round 2 trains slowly
  Welcome(server);
  if (::testing::Test::HasFatalFailure()) return;

  server.SendTrain(1);
  auto first = server.Next(10s);
  ASSERT_NE(AsUpdate(first), nullptr);

  // The server forgot us: the client registers again on a new connection,
  // and the server, still waiting for round 1, sends its TRAIN again.
  server.Send(proto::Reject{0, 0, proto::RejectCode::kNotRegistered, "unknown client"});
  Welcome(server);
  if (::testing::Test::HasFatalFailure()) return;
  server.SendTrain(1);
  ExpectResent(server, *first, "the update was not resent on the new connection");
  if (::testing::Test::HasFatalFailure()) return;
  // The same task once more on this connection: already answered here.
  server.SendTrain(1);
  EXPECT_EQ(AsUpdate(server.Next(1000ms)), nullptr);
  EXPECT_EQ(client.trained(), 1);

  // A duplicate TRAIN while that task trains: one update, one training.
  server.SendTrain(2);
  std::this_thread::sleep_for(200ms);
  server.SendTrain(2);
  auto second = server.Next(10s);
  ASSERT_NE(AsUpdate(second), nullptr);
  EXPECT_EQ(AsUpdate(second)->round, 2u);
  EXPECT_EQ(AsUpdate(server.Next(2500ms)), nullptr) << "round 2 was trained twice";
  EXPECT_EQ(client.trained(), 2);
}

}  // namespace
}  // namespace fedpress::client

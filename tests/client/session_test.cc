// The client daemon's Session against a fake server (a ROUTER socket in the
// test, plaintext, on loopback): an UPDATE answered REJECT 13 (server busy)
// is resent byte for byte without training again, at most max_busy_resends
// times; a busy answer about another round is ignored; a new TRAIN cancels a
// pending resend. No libtorch: the task handler returns a made-up update.
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

TEST(Session, ResendsAnUpdateTheServerWasTooBusyToQueue) {
  FakeServer server;
  std::atomic<int> trained{0};
  SessionOptions o;
  o.server = server.endpoint();
  o.name = "dev-1";
  o.num_samples = 10;
  o.max_busy_resends = 2;
  o.busy_resend_initial_ms = 200;
  o.busy_resend_max_ms = 400;  // resends come 100..600 ms after a busy answer
  Session session(o, [&](const proto::Train& t, std::vector<uint8_t>) -> Result<TaskResult> {
    ++trained;
    // Round 3 trains slowly: a round-2 resend that was not cancelled would
    // come out first.
    if (t.round == 3) std::this_thread::sleep_for(1500ms);
    TaskResult r;
    r.update.job_id = t.job_id;
    r.update.round = t.round;
    r.update.attempt = t.attempt;
    r.update.num_samples = 10;
    r.update.train_loss = 0.5f;
    r.update.raw_bytes = 16;
    r.payload.assign(16, static_cast<uint8_t>(t.round));
    return r;
  });
  std::thread runner([&] { EXPECT_TRUE(session.Run().ok()); });
  struct Stopper {
    Session& s;
    std::thread& t;
    ~Stopper() {
      s.RequestStop();
      if (t.joinable()) t.join();
    }
  } stopper{session, runner};

  auto reg = server.Next(10s);
  ASSERT_TRUE(reg && std::holds_alternative<proto::Register>(reg->message));
  server.Send(proto::Welcome{1, 1000, 1 << 20});

  // Round 1: the update, then two busy answers, each followed by the same bytes.
  server.SendTrain(1);
  auto first = server.Next(10s);
  ASSERT_NE(AsUpdate(first), nullptr);
  EXPECT_EQ(AsUpdate(first)->round, 1u);
  EXPECT_EQ(first->payload, std::string(16, '\x01'));
  server.SendBusy(1);
  auto again = server.Next(5s);
  ASSERT_NE(AsUpdate(again), nullptr) << "no resend after REJECT 13";
  EXPECT_EQ(again->envelope, first->envelope);
  EXPECT_EQ(again->payload, first->payload);
  // A busy answer about a round the client did not just send: ignored.
  server.SendBusy(9);
  EXPECT_EQ(AsUpdate(server.Next(1500ms)), nullptr);
  server.SendBusy(1);
  auto third = server.Next(5s);
  ASSERT_NE(AsUpdate(third), nullptr) << "no second resend";
  EXPECT_EQ(third->envelope, first->envelope);
  EXPECT_EQ(third->payload, first->payload);
  // max_busy_resends (2) reached: the client gives up on this update.
  server.SendBusy(1);
  EXPECT_EQ(AsUpdate(server.Next(1500ms)), nullptr);
  EXPECT_EQ(trained.load(), 1) << "a resend must not train again";

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
  EXPECT_EQ(trained.load(), 3);
}

}  // namespace
}  // namespace fedpress::client

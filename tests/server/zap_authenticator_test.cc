// The ZAP handler on its own (RFC 27 requests over inproc) and behind a real
// CURVE Transport: enrolled keys get in with their credential as User-Id,
// others are refused at the handshake.
#include "server/zap_authenticator.h"

#include <gtest/gtest.h>
#include <zmq.h>

#include <cstring>

#include "common/curve_keys.h"
#include "common/protocol.h"
#include "server/credential_set.h"
#include "server/transport.h"
#include "tests/temp_dir.h"

namespace fedpress::server {
namespace {

using namespace std::chrono_literals;

class ZapTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = Store::Open({dir_.File("fedpress.db")});
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
    credentials_ = std::make_unique<CredentialSet>(store_.get(), 1000);
    auto kp = GenerateCurveKeyPair();
    ASSERT_TRUE(kp.ok());
    client_ = *kp;
    auto row = store_->CreateCredential("dev", client_.public_key, 1);
    ASSERT_TRUE(row.ok());
    credential_id_ = row->id;
    ASSERT_TRUE(credentials_->Refresh().ok());
  }
  fedpress::testing::TempDir dir_{"fp_zap_"};
  std::unique_ptr<Store> store_;
  std::unique_ptr<CredentialSet> credentials_;
  CurveKeyPair client_;
  int64_t credential_id_ = 0;
};

// Sends one ZAP request; returns the reply frames.
std::vector<std::string> Ask(zmq::socket_t& req, const std::vector<std::string>& frames) {
  for (size_t i = 0; i < frames.size(); ++i)
    req.send(zmq::buffer(frames[i]), i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
  std::vector<std::string> out;
  zmq::pollitem_t item{req.handle(), 0, ZMQ_POLLIN, 0};
  zmq::poll(&item, 1, 10s);
  if (!(item.revents & ZMQ_POLLIN)) return out;
  zmq::message_t m;
  do {
    (void)req.recv(m);
    out.push_back(m.to_string());
  } while (m.more());
  return out;
}

TEST_F(ZapTest, AnswersRfc27RequestsFromThePolicy) {
  zmq::context_t ctx;
  auto zap = ZapAuthenticator::Start(ctx, CredentialPolicy(credentials_.get()));
  ASSERT_TRUE(zap.ok()) << zap.status().ToString();
  zmq::socket_t req(ctx, zmq::socket_type::req);
  req.set(zmq::sockopt::linger, 0);
  req.connect("inproc://zeromq.zap.01");
  uint8_t raw[32];
  ASSERT_NE(zmq_z85_decode(raw, client_.public_key.c_str()), nullptr);
  const std::string key(reinterpret_cast<char*>(raw), 32);

  auto ok = Ask(req, {"1.0", "r1", "fedpress", "10.0.0.5", "", "CURVE", key});
  ASSERT_EQ(ok.size(), 6u);
  EXPECT_EQ(ok[0], "1.0");
  EXPECT_EQ(ok[1], "r1");
  EXPECT_EQ(ok[2], "200");
  EXPECT_EQ(ok[4], std::to_string(credential_id_));

  auto stranger = GenerateCurveKeyPair();
  ASSERT_TRUE(stranger.ok());
  ASSERT_NE(zmq_z85_decode(raw, stranger->public_key.c_str()), nullptr);
  auto no = Ask(req, {"1.0", "r2", "fedpress", "10.0.0.6", "", "CURVE", std::string(reinterpret_cast<char*>(raw), 32)});
  ASSERT_EQ(no.size(), 6u);
  EXPECT_EQ(no[2], "400");
  EXPECT_EQ(no[4], "");

  EXPECT_EQ(Ask(req, {"1.0", "r3", "fedpress", "x", "", "NULL"})[2], "400");
  EXPECT_EQ(Ask(req, {"1.0", "r4", "fedpress", "x", "", "CURVE", "short"})[2], "400");
  auto garbage = Ask(req, {"9.9", "r5"});
  ASSERT_EQ(garbage.size(), 6u);
  EXPECT_EQ(garbage[2], "400");
  EXPECT_EQ((*zap)->allowed(), 1u);
  EXPECT_EQ((*zap)->denied(), 4u);

  // Revoked: denied from the next refresh on.
  ASSERT_TRUE(store_->RevokeCredential(credential_id_, 5).ok());
  ASSERT_TRUE(credentials_->Refresh().ok());
  EXPECT_EQ(Ask(req, {"1.0", "r6", "fedpress", "10.0.0.5", "", "CURVE", key})[2], "400");
}

TEST_F(ZapTest, CurveTransportDeliversOnlyEnrolledClientsWithTheirUserId) {
  auto server_keys = GenerateCurveKeyPair();
  ASSERT_TRUE(server_keys.ok());
  TransportOptions opt;
  opt.bind = "tcp://127.0.0.1:0";
  opt.curve_secret_key = server_keys->secret_key;
  opt.zap_policy = CredentialPolicy(credentials_.get());
  auto transport = Transport::Start(opt);
  ASSERT_TRUE(transport.ok()) << transport.status().ToString();
  ASSERT_TRUE((*transport)->curve());

  zmq::context_t ctx;
  auto dealer = [&](const CurveKeyPair& keys) {
    zmq::socket_t s(ctx, zmq::socket_type::dealer);
    s.set(zmq::sockopt::linger, 0);
    s.set(zmq::sockopt::curve_serverkey, server_keys->public_key);
    s.set(zmq::sockopt::curve_publickey, keys.public_key);
    s.set(zmq::sockopt::curve_secretkey, keys.secret_key);
    s.connect((*transport)->endpoint());
    return s;
  };
  auto stranger = GenerateCurveKeyPair();
  ASSERT_TRUE(stranger.ok());
  zmq::socket_t bad = dealer(*stranger);
  (void)bad.send(zmq::str_buffer("from a stranger"), zmq::send_flags::dontwait);
  zmq::socket_t good = dealer(client_);
  (void)good.send(zmq::str_buffer("hello"), zmq::send_flags::dontwait);

  std::optional<InboundMessage> m;
  for (int i = 0; i < 100 && !m; ++i) m = (*transport)->Receive(100);
  ASSERT_TRUE(m.has_value()) << "enrolled client's message not delivered";
  ASSERT_EQ(m->frames.size(), 1u);
  EXPECT_EQ(m->frames[0].to_string(), "hello");
  EXPECT_EQ(m->user_id, std::to_string(credential_id_));
  // The stranger's message never arrives.
  EXPECT_FALSE((*transport)->Receive(1000).has_value());
}

}  // namespace
}  // namespace fedpress::server

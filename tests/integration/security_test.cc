// Who may connect (issue 5): a real fedpress-server with CURVE (its default)
// and clients that are enrolled, unenrolled, revoked, pinned to the wrong
// server key, or plaintext. Raw ZeroMQ clients (with a socket monitor) check
// the exact handshake outcome; real fedpress-client processes check the
// operator-facing log lines and that a job goes on without a revoked client.
#include <signal.h>
#include <sys/stat.h>
#include <zmq.h>

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <map>
#include <zmq.hpp>

#include "common/clock.h"
#include "common/curve_keys.h"
#include "common/protocol.h"
#include "tests/integration/harness.h"

namespace fedpress::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
namespace proto = fedpress::protocol;

// A DEALER with optional CURVE keys and a monitor of its handshake.
class RawClient {
 public:
  RawClient(const std::string& endpoint, const std::string& server_key, const CurveKeyPair* keys)
      : sock_(ctx_, zmq::socket_type::dealer) {
    sock_.set(zmq::sockopt::linger, 0);
    if (keys) {
      sock_.set(zmq::sockopt::curve_serverkey, server_key);
      sock_.set(zmq::sockopt::curve_publickey, keys->public_key);
      sock_.set(zmq::sockopt::curve_secretkey, keys->secret_key);
    }
    static int seq = 0;
    const std::string mon = "inproc://security-test-monitor-" + std::to_string(++seq);
    EXPECT_EQ(zmq_socket_monitor(sock_.handle(), mon.c_str(), ZMQ_EVENT_ALL), 0);
    monitor_ = zmq::socket_t(ctx_, zmq::socket_type::pair);
    monitor_.set(zmq::sockopt::linger, 0);
    monitor_.connect(mon);
    sock_.connect(endpoint);
  }
  ~RawClient() { zmq_socket_monitor(sock_.handle(), nullptr, 0); }

  void Send(const proto::Message& m) { (void)sock_.send(zmq::buffer(proto::EncodeEnvelope(m)), zmq::send_flags::dontwait); }

  // Next non-heartbeat message within timeout; sends heartbeats meanwhile
  // once registered. Handshake events are recorded as they come.
  std::optional<proto::Message> Next(std::chrono::milliseconds timeout) {
    auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
      zmq::pollitem_t items[2] = {{sock_.handle(), 0, ZMQ_POLLIN, 0}, {monitor_.handle(), 0, ZMQ_POLLIN, 0}};
      zmq::poll(items, 2, std::chrono::milliseconds(100));
      if (items[1].revents & ZMQ_POLLIN) DrainEvents();
      if (!(items[0].revents & ZMQ_POLLIN)) {
        if (registered_) Send(proto::Heartbeat{});
        continue;
      }
      std::vector<zmq::message_t> frames;
      do {
        zmq::message_t f;
        (void)sock_.recv(f);
        frames.push_back(std::move(f));
      } while (frames.back().more());
      auto m = proto::DecodeEnvelope(std::span(static_cast<const uint8_t*>(frames[0].data()), frames[0].size()),
                                     frames.size() == 2);
      if (!m.ok() || std::holds_alternative<proto::Heartbeat>(*m)) continue;
      return std::move(*m);
    }
    return std::nullopt;
  }
  // Waits until the monitor reports `event` (returns its value) or timeout.
  std::optional<uint32_t> WaitEvent(uint16_t event, std::chrono::milliseconds timeout) {
    auto end = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (auto it = events_.find(event); it != events_.end()) return it->second;
      if (std::chrono::steady_clock::now() >= end) return std::nullopt;
      zmq::pollitem_t item{monitor_.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, std::chrono::milliseconds(100));
      DrainEvents();
    }
  }
  bool Saw(uint16_t event) const { return events_.count(event) > 0; }
  void set_registered() { registered_ = true; }

 private:
  void DrainEvents() {
    for (;;) {
      zmq::message_t head, addr;
      if (!monitor_.recv(head, zmq::recv_flags::dontwait)) return;
      if (head.more()) (void)monitor_.recv(addr);
      uint16_t ev;
      uint32_t value;
      std::memcpy(&ev, head.data(), 2);
      std::memcpy(&value, static_cast<const char*>(head.data()) + 2, 4);
      events_.emplace(ev, value);
    }
  }
  zmq::context_t ctx_{1};
  zmq::socket_t sock_;
  zmq::socket_t monitor_;
  std::map<uint16_t, uint32_t> events_;  // first value of each event
  bool registered_ = false;
};

proto::Register Reg(const std::string& name) { return proto::Register{name, "fashion-mnist", 100, 0, "security-test"}; }

class Security : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = MakeTempDir("fp_sec_"); }
  void TearDown() override { DumpLogsOrRemove(dir_, HasFailure()); }
  // Enrolls a client-made public key through the API; returns the id.
  int64_t EnrollKey(const ServerHandle& s, const std::string& name, const std::string& public_key) {
    auto r = s.Post("/api/credentials", json{{"name", name}, {"public_key", public_key}}.dump());
    EXPECT_EQ(r.status, 201) << r.body;
    EXPECT_FALSE(r.Json().contains("key_file")) << "no secret to return for a client-made key";
    return r.Json().value("id", int64_t{0});
  }
  // `fedpress-server enroll --name NAME --out KEY` on this test's state; the
  // key file it wrote (an error status if the command or the file failed).
  Result<CurveKeyFile> EnrollWithCli(const std::string& name, const std::string& key) {
    Process enroll({BinDir() + "/fedpress-server", "enroll", "--db", dir_ + "/fedpress.db", "--state-dir",
                    dir_ + "/state", "--name", name, "--out", key},
                   dir_ + "/enroll.log");
    if (enroll.Wait(30s) != 0) return Status::Internal("enroll failed: " + ReadText(dir_ + "/enroll.log"));
    return ReadCurveKeyFile(key);
  }
  static int Connected(const ServerHandle& s, const std::string& name) {
    auto c = s.Get("/api/clients").Json();
    if (c.is_array())
      for (auto& x : c)
        if (x["name"] == name) return x["connected"].get<bool>() ? 1 : 0;
    return -1;  // never registered
  }
  std::string dir_;
};

TEST_F(Security, UnenrolledClientIsRefusedAtTheHandshake) {
  ServerHandle server = StartServer(dir_);
  ASSERT_EQ(server.Get("/healthz").status, 200) << ReadText(dir_ + "/server.log");
  ASSERT_EQ(server.server_key.size(), 40u) << "CURVE is the default";
  auto stranger = GenerateCurveKeyPair();
  ASSERT_TRUE(stranger.ok());

  RawClient raw(server.endpoint(), server.server_key, &*stranger);
  raw.Send(Reg("stranger"));
  auto status = raw.WaitEvent(ZMQ_EVENT_HANDSHAKE_FAILED_AUTH, 20s);
  ASSERT_TRUE(status.has_value()) << "the ZAP handler did not refuse an unenrolled key";
  EXPECT_EQ(*status, 400u);
  EXPECT_FALSE(raw.Saw(ZMQ_EVENT_HANDSHAKE_SUCCEEDED));
  EXPECT_EQ(Connected(server, "stranger"), -1);

  // A real client with a key of its own that nobody enrolled says why.
  const std::string key = dir_ + "/lonely.key";
  Process keygen({BinDir() + "/fedpress-client", "keygen", "--out", key}, dir_ + "/keygen.log");
  ASSERT_EQ(keygen.Wait(30s), 0) << ReadText(dir_ + "/keygen.log");
  struct stat sb {};
  ASSERT_EQ(::stat(key.c_str(), &sb), 0);
  EXPECT_EQ(sb.st_mode & 0777, 0600u);
  Process c = StartClient(dir_, server.endpoint(), "lonely", 0, 1, 500,
                          {"--server-key", server.server_key, "--key-file", key});
  ASSERT_TRUE(WaitUntil([&] { return ReadText(dir_ + "/lonely.log").find("is not enrolled") != std::string::npos; },
                        60s))
      << ReadText(dir_ + "/lonely.log");
  EXPECT_EQ(Connected(server, "lonely"), -1);
  EXPECT_TRUE(WaitUntil([&] { return ReadText(dir_ + "/server.log").find("is not enrolled") != std::string::npos; },
                        20s));
}

TEST_F(Security, ClientWithAWrongServerKeyCannotConnect) {
  ServerHandle server = StartServer(dir_);
  ASSERT_EQ(server.Get("/healthz").status, 200) << ReadText(dir_ + "/server.log");
  auto keys = GenerateCurveKeyPair();
  auto impostor_server = GenerateCurveKeyPair();
  ASSERT_TRUE(keys.ok() && impostor_server.ok());
  EnrollKey(server, "pinned", keys->public_key);

  // Enrolled, but pinned to another server's key: the handshake never succeeds.
  RawClient raw(server.endpoint(), impostor_server->public_key, &*keys);
  raw.Send(Reg("pinned"));
  EXPECT_TRUE(raw.WaitEvent(ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL, 20s).has_value());
  EXPECT_FALSE(raw.Next(2s).has_value()) << "a client with the wrong server key got an answer";
  EXPECT_FALSE(raw.Saw(ZMQ_EVENT_HANDSHAKE_SUCCEEDED));

  // The real client logs it in words, within a bounded time.
  const std::string key_path = dir_ + "/keys/w.key";
  ASSERT_GT(server.Enroll("w", key_path), 0);
  Process c = StartClient(dir_, server.endpoint(), "w", 0, 1, 500,
                          {"--server-key", impostor_server->public_key, "--key-file", key_path});
  ASSERT_TRUE(WaitUntil([&] { return ReadText(dir_ + "/w.log").find("server key does not match") != std::string::npos; },
                        60s))
      << ReadText(dir_ + "/w.log");
  EXPECT_EQ(Connected(server, "w"), -1);
  EXPECT_EQ(Connected(server, "pinned"), -1);
}

TEST_F(Security, PlaintextClientIsRefusedByACurveServer) {
  ServerHandle server = StartServer(dir_);
  ASSERT_EQ(server.Get("/healthz").status, 200) << ReadText(dir_ + "/server.log");
  RawClient raw(server.endpoint(), "", nullptr);
  raw.Send(Reg("plain"));
  auto mismatch = raw.WaitEvent(ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL, 20s);
  ASSERT_TRUE(mismatch.has_value());
  EXPECT_EQ(*mismatch, static_cast<uint32_t>(ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH));
  EXPECT_FALSE(raw.Next(1s).has_value());
  EXPECT_EQ(Connected(server, "plain"), -1);

  Process c = StartClient(dir_, server.endpoint(), "plain2", 0, 1, 500, {"--insecure"});
  ASSERT_TRUE(WaitUntil([&] { return ReadText(dir_ + "/plain2.log").find("requires CURVE") != std::string::npos; }, 60s))
      << ReadText(dir_ + "/plain2.log");
  EXPECT_EQ(Connected(server, "plain2"), -1);
  EXPECT_TRUE(WaitUntil([&] { return ReadText(dir_ + "/server.log").find("does not use CURVE") != std::string::npos; },
                        20s));
}

TEST_F(Security, RevokedClientsNextMessagesAreRefusedAndItCannotComeBack) {
  ServerHandle server = StartServer(dir_);
  ASSERT_EQ(server.Get("/healthz").status, 200) << ReadText(dir_ + "/server.log");
  auto a = GenerateCurveKeyPair(), b = GenerateCurveKeyPair();
  ASSERT_TRUE(a.ok() && b.ok());
  const int64_t id_a = EnrollKey(server, "alice", a->public_key);
  EnrollKey(server, "bob", b->public_key);

  // Bob's credential cannot register as alice (no impersonation).
  RawClient bob(server.endpoint(), server.server_key, &*b);
  bob.Send(Reg("alice"));
  auto refused = bob.Next(20s);
  ASSERT_TRUE(refused && std::holds_alternative<proto::Reject>(*refused));
  EXPECT_NE(std::get<proto::Reject>(*refused).reason.find("enrolled as 'bob'"), std::string::npos);

  RawClient alice(server.endpoint(), server.server_key, &*a);
  alice.Send(Reg("alice"));
  auto w = alice.Next(20s);
  ASSERT_TRUE(w && std::holds_alternative<proto::Welcome>(*w)) << (w ? proto::DebugString(*w) : "no answer");
  alice.set_registered();
  EXPECT_EQ(Connected(server, "alice"), 1);

  auto revoked = server.Request("DELETE", "/api/credentials/" + std::to_string(id_a));
  ASSERT_EQ(revoked.status, 200) << revoked.body;
  EXPECT_EQ(revoked.Json()["status"], "revoked");
  EXPECT_EQ(server.Request("DELETE", "/api/credentials/" + std::to_string(id_a)).status, 409);

  // Its connection is still open, but what it sends now is refused.
  alice.Send(proto::Heartbeat{});
  auto bye = alice.Next(20s);
  ASSERT_TRUE(bye && std::holds_alternative<proto::Bye>(*bye)) << (bye ? proto::DebugString(*bye) : "no answer");
  EXPECT_NE(std::get<proto::Bye>(*bye).reason.find("revoked"), std::string::npos);
  EXPECT_EQ(Connected(server, "alice"), 0);

  // A new connection with the revoked key fails the handshake.
  RawClient again(server.endpoint(), server.server_key, &*a);
  again.Send(Reg("alice"));
  auto status = again.WaitEvent(ZMQ_EVENT_HANDSHAKE_FAILED_AUTH, 20s);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(*status, 400u);
}

TEST_F(Security, CliEnrollAndRevokeReachTheRunningServer) {
  ServerHandle server = StartServer(dir_);
  ASSERT_EQ(server.Get("/healthz").status, 200) << ReadText(dir_ + "/server.log");
  // The server key the CLI shows is the one the server uses.
  Process show({BinDir() + "/fedpress-server", "show-key", "--state-dir", dir_ + "/state"}, dir_ + "/show.log");
  ASSERT_EQ(show.Wait(30s), 0);
  EXPECT_NE(ReadText(dir_ + "/show.log").find(server.server_key), std::string::npos);

  auto file = EnrollWithCli("cli", dir_ + "/cli.key");
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_EQ(file->name, "cli");
  EXPECT_EQ(file->server_key, server.server_key);
  EXPECT_EQ(ReadText(dir_ + "/enroll.log").find(file->keys.secret_key), std::string::npos) << "secret printed";

  RawClient c(server.endpoint(), server.server_key, &file->keys);
  c.Send(Reg("cli"));
  auto w = c.Next(20s);
  ASSERT_TRUE(w && std::holds_alternative<proto::Welcome>(*w)) << (w ? proto::DebugString(*w) : "no answer");
  c.set_registered();

  Process revoke({BinDir() + "/fedpress-server", "revoke", "--db", dir_ + "/fedpress.db", "cli"}, dir_ + "/revoke.log");
  ASSERT_EQ(revoke.Wait(30s), 0) << ReadText(dir_ + "/revoke.log");
  // Heartbeats go on (Next sends them); the server notices within ~1 s.
  auto bye = c.Next(30s);
  ASSERT_TRUE(bye && std::holds_alternative<proto::Bye>(*bye)) << (bye ? proto::DebugString(*bye) : "no answer");
  EXPECT_NE(std::get<proto::Bye>(*bye).reason.find("revoked"), std::string::npos);
}

// Enrolling before the server ever ran makes the server's keypair (as
// show-key does), so the key file written pins the server that then starts.
TEST_F(Security, EnrollBeforeFirstStartPinsTheServerKey) {
  auto file = EnrollWithCli("early", dir_ + "/early.key");
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  ASSERT_FALSE(file->server_key.empty()) << "key file written without the server key to pin";

  ServerHandle server = StartServer(dir_);
  ASSERT_EQ(server.Get("/healthz").status, 200) << ReadText(dir_ + "/server.log");
  EXPECT_EQ(file->server_key, server.server_key);
  RawClient c(server.endpoint(), file->server_key, &file->keys);
  c.Send(Reg("early"));
  auto w = c.Next(20s);
  ASSERT_TRUE(w && std::holds_alternative<proto::Welcome>(*w)) << (w ? proto::DebugString(*w) : "no answer");
}

TEST_F(Security, SecretsStayOutOfTheDatabaseLogsAndApi) {
  ServerHandle server = StartServer(dir_, 0, 0, {"--public-read"});
  ASSERT_EQ(server.Get("/healthz").status, 200) << ReadText(dir_ + "/server.log");
  struct stat sb {};
  ASSERT_EQ(::stat((dir_ + "/state/server.key").c_str(), &sb), 0);
  EXPECT_EQ(sb.st_mode & 0777, 0600u);
  auto server_file = ReadCurveKeyFile(dir_ + "/state/server.key");
  ASSERT_TRUE(server_file.ok());
  EXPECT_EQ(server_file->keys.public_key, server.server_key);

  auto r = server.Post("/api/credentials", json{{"name", "dev-1"}}.dump());
  ASSERT_EQ(r.status, 201) << r.body;
  auto file = ParseCurveKeyFile(r.Json()["key_file"].get<std::string>(), "response");
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_EQ(file->server_key, server.server_key);
  const std::string secret = file->keys.secret_key;

  auto list = server.Get("/api/credentials");
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(list.body.find(secret), std::string::npos);
  EXPECT_NE(list.body.find(file->keys.public_key), std::string::npos);
  // Credentials are admin-only even with --public-read.
  EXPECT_EQ(HttpRequestTo("127.0.0.1", server.http_port, "GET", "/api/credentials").status, 401);
  EXPECT_EQ(HttpRequestTo("127.0.0.1", server.http_port, "GET", "/api/clients").status, 200);

  server.process.Signal(SIGTERM);
  ASSERT_TRUE(server.process.Wait(30s).has_value());
  for (const char* f : {"/fedpress.db", "/fedpress.db-wal", "/server.log"}) {
    const std::string text = ReadText(dir_ + f);
    EXPECT_EQ(text.find(secret), std::string::npos) << "client secret key in " << f;
    EXPECT_EQ(text.find(server_file->keys.secret_key), std::string::npos) << "server secret key in " << f;
  }
}

TEST_F(Security, RevokedClientLeavesARunningJobAndTheOthersFinishIt) {
  ServerHandle server = StartServer(dir_);
  ASSERT_EQ(server.Get("/healthz").status, 200) << ReadText(dir_ + "/server.log");
  std::vector<Process> clients;
  for (int i = 0; i < 3; ++i)  // the harness enrolls each through the API
    clients.push_back(StartClient(dir_, server.endpoint(), "s" + std::to_string(i), i, 3, 1500));
  ASSERT_TRUE(WaitUntil([&] {
    return Connected(server, "s0") == 1 && Connected(server, "s1") == 1 && Connected(server, "s2") == 1;
  }, 90s)) << "enrolled CURVE clients did not connect";

  auto created = server.Post("/api/jobs", json{{"name", "revoke-mid-job"}, {"model", "mlp"}, {"rounds", 4},
                                               {"clients_per_round", 3}, {"min_clients", 2},
                                               {"round_timeout_s", 60}, {"seed", 3}}.dump());
  ASSERT_EQ(created.status, 201) << created.body;
  const int64_t job = created.Json()["id"];
  auto rounds = [&] {
    auto r = server.Get("/api/jobs/" + std::to_string(job) + "/rounds").Json();
    return r.is_array() ? r : json::array();
  };
  ASSERT_TRUE(WaitUntil([&] { return rounds().size() >= 1; }, 300s)) << "round 1 did not commit";
  EXPECT_EQ(rounds()[0]["participants"], 3);

  int64_t cred = 0;
  for (auto& c : server.Get("/api/credentials").Json())
    if (c["name"] == "s2") cred = c["id"];
  ASSERT_GT(cred, 0);
  auto revoked = server.Request("DELETE", "/api/credentials/" + std::to_string(cred));
  ASSERT_EQ(revoked.status, 200) << revoked.body;
  // The promise is "refused once DELETE has returned": the server stores the
  // revocation (revoked_ms), then reloads its credentials, then answers, so an
  // update handled in between (a few ms after revoked_ms) may still count.
  const int64_t revoked_ms = revoked.Json()["revoked_ms"];
  const int64_t delete_returned_ms = NowMs();
  ASSERT_GE(delete_returned_ms, revoked_ms);

  // The revoked client is told, stops, and is gone from the live list.
  auto exit_code = clients[2].Wait(60s);
  ASSERT_TRUE(exit_code.has_value()) << "revoked client still running";
  EXPECT_NE(*exit_code, 0);
  EXPECT_NE(ReadText(dir_ + "/s2.log").find("revoked"), std::string::npos);
  EXPECT_EQ(Connected(server, "s2"), 0);

  ASSERT_TRUE(WaitUntil([&] { return server.Get("/api/jobs/" + std::to_string(job)).Json()["status"] == "completed"; },
                        600s))
      << server.Get("/api/jobs/" + std::to_string(job)).body;
  auto all = rounds();
  ASSERT_EQ(all.size(), 4u);
  for (auto& r : all) {
    if (r["started_ms"].get<int64_t>() > delete_returned_ms) {
      EXPECT_EQ(r["participants"], 2) << r.dump();
    }
  }
  EXPECT_EQ(all.back()["participants"], 2);
  // No update of the revoked client was accepted after the revocation.
  for (auto& p : server.Get("/api/jobs/" + std::to_string(job) + "/participations").Json()) {
    if (p["client"] == "s2" && p["status"] == "accepted" && p["received_ms"].is_number()) {
      EXPECT_LE(p["received_ms"].get<int64_t>(), delete_returned_ms) << p.dump();
    }
  }
}

}  // namespace
}  // namespace fedpress::testing

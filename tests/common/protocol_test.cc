#include "common/protocol.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "common/byte_io.h"

namespace fedpress::protocol {
namespace {

using Bytes = std::vector<uint8_t>;

bool WantsPayload(MsgType t) { return t == MsgType::kTrain || t == MsgType::kUpdate; }

Result<Message> Decode(const Bytes& b) {
  bool payload = b.size() >= 4 && (b[3] == static_cast<uint8_t>(MsgType::kTrain) ||
                                   b[3] == static_cast<uint8_t>(MsgType::kUpdate));
  return DecodeEnvelope(b, payload);
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// One valid, non-default example of every message type.
Register SampleRegister() {
  return Register{"client-07.a_b", "fashion-mnist", 6000, kCapCompressed, "fedpress-client 0.1.0"};
}
Welcome SampleWelcome() { return Welcome{42, 2000, uint64_t{64} << 20}; }
Heartbeat SampleHeartbeat() { return Heartbeat{3, 7, 0x1A2B3C4Du}; }
Train SampleTrain() {
  Train t;
  t.job_id = 3;
  t.round = 2;
  t.attempt = 4;
  t.model = "cnn";
  t.dataset = "fashion-mnist";
  t.local_epochs = 2;
  t.batch_size = 64;
  t.lr = 0.01f;
  t.momentum = 0.5f;
  t.seed = 0x0123456789ABCDEFull;
  t.compression_json = R"({"method":"none"})";
  t.payload_format = PayloadFormat::kCompressed;
  t.base_round = 1;
  t.model_crc = 0xDEADBEEFu;
  t.base_crc = 0xFEEDF00Du;
  return t;
}
Update SampleUpdate() {
  Update u;
  u.job_id = 3;
  u.round = 2;
  u.attempt = 4;
  u.num_samples = 6000;
  u.train_loss = 0.41f;
  u.train_ms = 1234;
  u.encode_ms = 56;
  u.raw_bytes = 827688;
  u.payload_format = PayloadFormat::kDense;
  return u;
}
Reject SampleReject() { return Reject{3, 2, RejectCode::kWrongRound, "round 2 is already closed"}; }
Bye SampleBye() { return Bye{"client stopping"}; }

std::vector<Message> AllSamples() {
  return {SampleRegister(), SampleWelcome(), SampleHeartbeat(), SampleTrain(),
          SampleUpdate(),   SampleReject(),  SampleBye()};
}

// Hand-built envelopes, so tests can put values in fields that
// EncodeEnvelope would never produce from a validated struct.
Bytes Header(uint8_t type, uint8_t version = kVersion) { return {'F', 'P', version, type}; }

Bytes RegisterBytes(const std::string& name, uint64_t num_samples = 10,
                    const std::string& dataset = "fashion-mnist",
                    const std::string& version = "v") {
  Bytes b = Header(1);
  ByteWriter w(&b);
  w.Str(name);
  w.Str(dataset);
  w.U64(num_samples);
  w.U32(0);
  w.Str(version);
  return b;
}

Bytes TrainBytes(float lr, float momentum, uint8_t format = 0, int64_t job = 1, uint32_t round = 1,
                 uint32_t epochs = 1, uint32_t batch = 32, uint32_t base_round = 0) {
  Bytes b = Header(4);
  ByteWriter w(&b);
  w.I64(job);
  w.U32(round);
  w.U32(1);
  w.Str("cnn");
  w.Str("fashion-mnist");
  w.U32(epochs);
  w.U32(batch);
  w.F32(lr);
  w.F32(momentum);
  w.U64(1);
  w.Str("{}");
  w.U8(format);
  w.U32(base_round);
  w.U32(0x01020304);  // model_crc
  w.U32(0x05060708);  // base_crc
  return b;
}

Bytes UpdateBytes(float loss, uint64_t samples = 10, uint8_t format = 0, int64_t job = 1,
                  uint32_t round = 1) {
  Bytes b = Header(5);
  ByteWriter w(&b);
  w.I64(job);
  w.U32(round);
  w.U32(1);
  w.U64(samples);
  w.F32(loss);
  w.U32(0);
  w.U32(0);
  w.U64(0);
  w.U8(format);
  return b;
}

void ExpectInvalid(const Result<Message>& r, const std::string& needle) {
  ASSERT_FALSE(r.ok()) << "expected a rejection mentioning '" << needle << "'";
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().ToString();
  EXPECT_TRUE(Contains(r.status().message(), needle))
      << "'" << r.status().message() << "' does not mention '" << needle << "'";
}

// ---------------------------------------------------------------- round trips

TEST(Protocol, EveryTypeRoundTrips) {
  for (const Message& m : AllSamples()) {
    Bytes env = EncodeEnvelope(m);
    ASSERT_GE(env.size(), 4u);
    EXPECT_EQ(env[0], 'F');
    EXPECT_EQ(env[1], 'P');
    EXPECT_EQ(env[2], kVersion);
    EXPECT_EQ(env[3], static_cast<uint8_t>(TypeOf(m)));
    auto d = DecodeEnvelope(env, WantsPayload(TypeOf(m)));
    ASSERT_TRUE(d.ok()) << MsgTypeName(TypeOf(m)) << ": " << d.status().ToString();
    EXPECT_EQ(d->index(), m.index());
    // Every field is encoded, so equal re-encodings mean equal messages.
    EXPECT_EQ(EncodeEnvelope(*d), env) << MsgTypeName(TypeOf(m));
    EXPECT_FALSE(DebugString(*d).empty());
  }
}

TEST(Protocol, RoundTripPreservesFields) {
  {
    auto d = Decode(EncodeEnvelope(SampleRegister()));
    ASSERT_TRUE(d.ok());
    const auto& r = std::get<Register>(*d);
    EXPECT_EQ(r.name, "client-07.a_b");
    EXPECT_EQ(r.dataset, "fashion-mnist");
    EXPECT_EQ(r.num_samples, 6000u);
    EXPECT_EQ(r.capabilities, kCapCompressed);
    EXPECT_EQ(r.client_version, "fedpress-client 0.1.0");
  }
  {
    auto d = Decode(EncodeEnvelope(SampleWelcome()));
    ASSERT_TRUE(d.ok());
    const auto& w = std::get<Welcome>(*d);
    EXPECT_EQ(w.client_id, 42);
    EXPECT_EQ(w.heartbeat_ms, 2000u);
    EXPECT_EQ(w.max_message_bytes, uint64_t{64} << 20);
  }
  {
    auto d = Decode(EncodeEnvelope(SampleHeartbeat()));
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(std::get<Heartbeat>(*d).job_id, 3);
    EXPECT_EQ(std::get<Heartbeat>(*d).round, 7u);
    EXPECT_EQ(std::get<Heartbeat>(*d).model_crc, 0x1A2B3C4Du);
  }
  {
    auto d = Decode(EncodeEnvelope(SampleTrain()));
    ASSERT_TRUE(d.ok());
    const auto& t = std::get<Train>(*d);
    EXPECT_EQ(t.job_id, 3);
    EXPECT_EQ(t.round, 2u);
    EXPECT_EQ(t.attempt, 4u);
    EXPECT_EQ(t.model, "cnn");
    EXPECT_EQ(t.dataset, "fashion-mnist");
    EXPECT_EQ(t.local_epochs, 2u);
    EXPECT_EQ(t.batch_size, 64u);
    EXPECT_EQ(t.lr, 0.01f);
    EXPECT_EQ(t.momentum, 0.5f);
    EXPECT_EQ(t.seed, 0x0123456789ABCDEFull);
    EXPECT_EQ(t.compression_json, R"({"method":"none"})");
    EXPECT_EQ(t.payload_format, PayloadFormat::kCompressed);
    EXPECT_EQ(t.base_round, 1u);
    EXPECT_EQ(t.model_crc, 0xDEADBEEFu);
    EXPECT_EQ(t.base_crc, 0xFEEDF00Du);
  }
  {
    auto d = Decode(EncodeEnvelope(SampleUpdate()));
    ASSERT_TRUE(d.ok());
    const auto& u = std::get<Update>(*d);
    EXPECT_EQ(u.job_id, 3);
    EXPECT_EQ(u.round, 2u);
    EXPECT_EQ(u.attempt, 4u);
    EXPECT_EQ(u.num_samples, 6000u);
    EXPECT_EQ(u.train_loss, 0.41f);
    EXPECT_EQ(u.train_ms, 1234u);
    EXPECT_EQ(u.encode_ms, 56u);
    EXPECT_EQ(u.raw_bytes, 827688u);
    EXPECT_EQ(u.payload_format, PayloadFormat::kDense);
  }
  {
    auto d = Decode(EncodeEnvelope(SampleReject()));
    ASSERT_TRUE(d.ok());
    const auto& r = std::get<Reject>(*d);
    EXPECT_EQ(r.job_id, 3);
    EXPECT_EQ(r.round, 2u);
    EXPECT_EQ(r.code, RejectCode::kWrongRound);
    EXPECT_EQ(r.reason, "round 2 is already closed");
  }
  {
    auto d = Decode(EncodeEnvelope(SampleBye()));
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(std::get<Bye>(*d).reason, "client stopping");
  }
}

TEST(Protocol, DefaultAndBoundaryValuesRoundTrip) {
  std::vector<Message> ms = {
      Heartbeat{0, 0},  // idle
      Heartbeat{std::numeric_limits<int64_t>::max(), std::numeric_limits<uint32_t>::max(), 0xFFFFFFFFu},
      Welcome{0, 10, 0},
      Welcome{-1, 600000, std::numeric_limits<uint64_t>::max()},
      Bye{""},
      Bye{std::string(4096, 'x')},
      Reject{0, 0, RejectCode::kNameTaken, ""},
      Reject{0, 0, RejectCode::kMalformed, std::string(4096, 'r')},
      Register{std::string(64, 'a'), std::string(64, 'd'), std::numeric_limits<uint64_t>::max(),
               0xFFFFFFFFu, std::string(64, 'v')},
      Register{"a", "", 1, 0, ""},
  };
  Train t = SampleTrain();
  t.compression_json = std::string(16384, ' ');
  t.momentum = 0.0f;
  t.lr = std::numeric_limits<float>::max();
  t.local_epochs = 1000;
  t.batch_size = 65536;
  ms.push_back(t);
  Update u = SampleUpdate();
  u.train_loss = 0.0f;
  u.num_samples = 1;
  ms.push_back(u);
  for (const Message& m : ms) {
    Bytes env = EncodeEnvelope(m);
    auto d = Decode(env);
    ASSERT_TRUE(d.ok()) << DebugString(m) << ": " << d.status().ToString();
    EXPECT_EQ(EncodeEnvelope(*d), env);
  }
}

TEST(Protocol, GoldenBytes) {
  // These are the worked examples of docs/protocol.md; keep them in sync.
  EXPECT_EQ(EncodeEnvelope(Heartbeat{3, 7, 0x1A2B3C4Du}),
            (Bytes{0x46, 0x50, 0x01, 0x03,                          // "FP", v1, HEARTBEAT
                   0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // job_id 3
                   0x07, 0x00, 0x00, 0x00,                          // round 7
                   0x4D, 0x3C, 0x2B, 0x1A}));                       // model_crc
  Bytes reg = EncodeEnvelope(Register{"alice", "fashion-mnist", 6000, 1, "py 1.0"});
  Bytes want = {0x46, 0x50, 0x01, 0x01,                     // "FP", v1, REGISTER
                0x05, 0x00, 0x00, 0x00, 'a', 'l', 'i', 'c', 'e',
                0x0d, 0x00, 0x00, 0x00, 'f', 'a', 's', 'h', 'i', 'o', 'n', '-', 'm', 'n', 'i', 's', 't',
                0x70, 0x17, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // num_samples 6000
                0x01, 0x00, 0x00, 0x00,                          // capabilities
                0x06, 0x00, 0x00, 0x00, 'p', 'y', ' ', '1', '.', '0'};
  EXPECT_EQ(reg, want);
}

TEST(Protocol, TypeNames) {
  EXPECT_STREQ(MsgTypeName(MsgType::kRegister), "REGISTER");
  EXPECT_STREQ(MsgTypeName(MsgType::kWelcome), "WELCOME");
  EXPECT_STREQ(MsgTypeName(MsgType::kHeartbeat), "HEARTBEAT");
  EXPECT_STREQ(MsgTypeName(MsgType::kTrain), "TRAIN");
  EXPECT_STREQ(MsgTypeName(MsgType::kUpdate), "UPDATE");
  EXPECT_STREQ(MsgTypeName(MsgType::kReject), "REJECT");
  EXPECT_STREQ(MsgTypeName(MsgType::kBye), "BYE");
  EXPECT_STREQ(MsgTypeName(static_cast<MsgType>(99)), "UNKNOWN");
}

TEST(Protocol, RejectCodesArePinned) {
  EXPECT_EQ(static_cast<int>(RejectCode::kMalformed), 1);
  EXPECT_EQ(static_cast<int>(RejectCode::kBadVersion), 2);
  EXPECT_EQ(static_cast<int>(RejectCode::kNotRegistered), 3);
  EXPECT_EQ(static_cast<int>(RejectCode::kWrongJob), 4);
  EXPECT_EQ(static_cast<int>(RejectCode::kWrongRound), 5);
  EXPECT_EQ(static_cast<int>(RejectCode::kNotSelected), 6);
  EXPECT_EQ(static_cast<int>(RejectCode::kDuplicate), 7);
  EXPECT_EQ(static_cast<int>(RejectCode::kBadPayload), 8);
  EXPECT_EQ(static_cast<int>(RejectCode::kBadSampleCount), 9);
  EXPECT_EQ(static_cast<int>(RejectCode::kServerFull), 10);
  EXPECT_EQ(static_cast<int>(RejectCode::kInternal), 11);
  EXPECT_EQ(static_cast<int>(RejectCode::kNameTaken), 12);
}

TEST(Protocol, UnknownRejectCodeIsCarriedThrough) {
  // Codes may be added; an older peer must still decode the message.
  Bytes env = EncodeEnvelope(Reject{1, 1, static_cast<RejectCode>(999), "future"});
  auto d = Decode(env);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(static_cast<int>(std::get<Reject>(*d).code), 999);
  EXPECT_EQ(EncodeEnvelope(*d), env);
}

// ------------------------------------------------------------------- header

TEST(Protocol, BadMagic) {
  for (Bytes env : {EncodeEnvelope(SampleHeartbeat()), EncodeEnvelope(SampleBye())}) {
    Bytes a = env, b = env, c = env;
    a[0] = 'G';
    b[1] = 'Q';
    c[0] = 'P';
    c[1] = 'F';
    ExpectInvalid(DecodeEnvelope(a, false), "magic");
    ExpectInvalid(DecodeEnvelope(b, false), "magic");
    ExpectInvalid(DecodeEnvelope(c, false), "magic");
  }
}

TEST(Protocol, UnsupportedVersionIsFailedPreconditionNamingIt) {
  for (int v : {0, 2, 3, 255}) {
    Bytes env = EncodeEnvelope(SampleHeartbeat());
    env[2] = static_cast<uint8_t>(v);
    auto d = DecodeEnvelope(env, false);
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(d.status().code(), StatusCode::kFailedPrecondition) << d.status().ToString();
    EXPECT_TRUE(Contains(d.status().message(), "version " + std::to_string(v)))
        << d.status().message();
  }
  // The version check comes before the type and body are looked at, so a
  // future version with a new message type or layout still gets a version
  // error (-> REJECT code 2), not "malformed".
  Bytes future = {'F', 'P', 2, 200, 1, 2, 3};
  auto d = DecodeEnvelope(future, true);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), StatusCode::kFailedPrecondition);
  Bytes header_only = {'F', 'P', 9, 1};
  EXPECT_EQ(DecodeEnvelope(header_only, false).status().code(), StatusCode::kFailedPrecondition);
}

TEST(Protocol, UnknownType) {
  for (int t : {0, 8, 9, 127, 255}) {
    Bytes env = EncodeEnvelope(SampleHeartbeat());
    env[3] = static_cast<uint8_t>(t);
    ExpectInvalid(DecodeEnvelope(env, false), "unknown message type " + std::to_string(t));
    ExpectInvalid(DecodeEnvelope(env, true), "unknown message type " + std::to_string(t));
  }
}

TEST(Protocol, ShorterThanHeader) {
  ExpectInvalid(DecodeEnvelope({}, false), "4-byte header");
  for (Bytes b : {Bytes{'F'}, Bytes{'F', 'P'}, Bytes{'F', 'P', 1}})
    ExpectInvalid(DecodeEnvelope(b, false), "4-byte header");
}

// ---------------------------------------------------------------- framing

TEST(Protocol, TruncatedAtEveryLength) {
  for (const Message& m : AllSamples()) {
    Bytes env = EncodeEnvelope(m);
    const bool payload = WantsPayload(TypeOf(m));
    for (size_t len = 0; len < env.size(); ++len) {
      Bytes cut(env.begin(), env.begin() + static_cast<std::ptrdiff_t>(len));
      auto d = DecodeEnvelope(cut, payload);
      ASSERT_FALSE(d.ok()) << MsgTypeName(TypeOf(m)) << " accepted at length " << len << " of "
                           << env.size();
      EXPECT_EQ(d.status().code(), StatusCode::kInvalidArgument)
          << MsgTypeName(TypeOf(m)) << " len " << len << ": " << d.status().ToString();
      if (len >= 4) {
        EXPECT_TRUE(Contains(d.status().message(), MsgTypeName(TypeOf(m))))
            << "error should name the message type: " << d.status().message();
      }
    }
  }
}

TEST(Protocol, TruncationNamesTheField) {
  Bytes env = EncodeEnvelope(SampleUpdate());
  env.resize(4 + 8 + 4 + 4 + 3);  // inside num_samples
  ExpectInvalid(DecodeEnvelope(env, true), "num_samples");
}

TEST(Protocol, TrailingBytes) {
  for (const Message& m : AllSamples()) {
    Bytes env = EncodeEnvelope(m);
    env.push_back(0);
    ExpectInvalid(DecodeEnvelope(env, WantsPayload(TypeOf(m))), "trailing");
    env.insert(env.end(), 100, 0xAB);
    ExpectInvalid(DecodeEnvelope(env, WantsPayload(TypeOf(m))), "trailing");
  }
}

TEST(Protocol, PayloadFramePresence) {
  ExpectInvalid(DecodeEnvelope(EncodeEnvelope(SampleTrain()), false), "TRAIN: missing payload");
  ExpectInvalid(DecodeEnvelope(EncodeEnvelope(SampleUpdate()), false), "UPDATE: missing payload");
  for (const Message& m : {Message(SampleRegister()), Message(SampleWelcome()),
                           Message(SampleHeartbeat()), Message(SampleReject()),
                           Message(SampleBye())}) {
    ExpectInvalid(DecodeEnvelope(EncodeEnvelope(m), true),
                  std::string(MsgTypeName(TypeOf(m))) + ": unexpected payload");
  }
}

TEST(Protocol, OversizedEnvelope) {
  // A BYE claiming a reason just over the limit, followed by that many bytes.
  Bytes big = Header(7);
  ByteWriter w(&big);
  std::string reason(kMaxEnvelopeBytes, 'x');
  w.Str(reason);
  ASSERT_GT(big.size(), kMaxEnvelopeBytes);
  auto d = DecodeEnvelope(big, false);
  ExpectInvalid(d, "limit " + std::to_string(kMaxEnvelopeBytes));

  Bytes exactly_over(kMaxEnvelopeBytes + 1, 0);
  ExpectInvalid(DecodeEnvelope(exactly_over, false), "65537 bytes");
  // At the limit the size check passes and the content decides.
  Bytes at_limit = Header(7);
  ByteWriter w2(&at_limit);
  w2.Str("ok");
  at_limit.resize(kMaxEnvelopeBytes, 0);
  ExpectInvalid(DecodeEnvelope(at_limit, false), "trailing");
}

// ---------------------------------------------------------------- strings

TEST(Protocol, StringsOverTheirLimit) {
  auto reg = [](std::string name, std::string dataset, std::string version) {
    return Register{std::move(name), std::move(dataset), 1, 0, std::move(version)};
  };
  ExpectInvalid(Decode(EncodeEnvelope(reg(std::string(65, 'a'), "d", "v"))), "'name' is 65 bytes, limit 64");
  ExpectInvalid(Decode(EncodeEnvelope(reg("a", std::string(65, 'd'), "v"))), "'dataset' is 65 bytes");
  ExpectInvalid(Decode(EncodeEnvelope(reg("a", "d", std::string(65, 'v')))), "'client_version' is 65 bytes");

  Train t = SampleTrain();
  t.model = std::string(65, 'm');
  ExpectInvalid(Decode(EncodeEnvelope(t)), "'model'");
  t = SampleTrain();
  t.dataset = std::string(65, 'd');
  ExpectInvalid(Decode(EncodeEnvelope(t)), "'dataset'");
  t = SampleTrain();
  t.compression_json = std::string(16385, ' ');
  ExpectInvalid(Decode(EncodeEnvelope(t)), "'compression_json' is 16385 bytes, limit 16384");

  ExpectInvalid(Decode(EncodeEnvelope(Reject{0, 0, RejectCode::kInternal, std::string(4097, 'r')})),
                "'reason' is 4097 bytes, limit 4096");
  ExpectInvalid(Decode(EncodeEnvelope(Bye{std::string(4097, 'b')})), "'reason' is 4097 bytes");
}

TEST(Protocol, HugeStringLengthDoesNotAllocate) {
  Bytes b = Header(7);
  ByteWriter w(&b);
  w.U32(0xFFFFFFFFu);
  ExpectInvalid(DecodeEnvelope(b, false), "'reason'");
  // Within the limit but longer than the frame.
  Bytes c = Header(7);
  ByteWriter w2(&c);
  w2.U32(4000);
  w2.Raw("abc", 3);
  ExpectInvalid(DecodeEnvelope(c, false), "truncated at 'reason'");
}

// ---------------------------------------------------------------- REGISTER

TEST(Protocol, InvalidClientNames) {
  for (std::string bad : {std::string(""), std::string("a b"), std::string(" a"), std::string("a/b"),
                          std::string("../etc"), std::string("a\nb"), std::string("caf\xc3\xa9"),
                          std::string("a\0b", 3), std::string("a:b")}) {
    EXPECT_FALSE(IsValidClientName(bad)) << bad;
    ExpectInvalid(Decode(RegisterBytes(bad)), "REGISTER: name");
  }
  EXPECT_FALSE(IsValidClientName(std::string(65, 'a')));
  // 65 chars fails already at the string limit.
  ExpectInvalid(Decode(RegisterBytes(std::string(65, 'a'))), "name");
  for (std::string good : {std::string("a"), std::string(64, 'z'), std::string("A-Z_a.z-0.9"),
                           std::string("-"), std::string("...")}) {
    EXPECT_TRUE(IsValidClientName(good)) << good;
    EXPECT_TRUE(Decode(RegisterBytes(good)).ok()) << good;
  }
}

TEST(Protocol, RegisterNumSamplesZero) {
  ExpectInvalid(Decode(RegisterBytes("alice", 0)), "num_samples must be > 0");
  EXPECT_TRUE(Decode(RegisterBytes("alice", 1)).ok());
}

TEST(Protocol, RegisterTextMustBeValidUtf8) {
  // REGISTER's dataset and client_version end up in JSON documents (the
  // clients table, the API): text that is not well-formed UTF-8 once made the
  // server throw and die. The decoder refuses it like it refuses bad names.
  ExpectInvalid(Decode(RegisterBytes("alice", 10, "fashion\xff")), "dataset");
  ExpectInvalid(Decode(RegisterBytes("alice", 10, "fashion-mnist", "v\xc3")), "client_version");
  EXPECT_TRUE(Decode(RegisterBytes("alice", 10, "fashion-mnist", "fedpress 0.1 (caf\xc3\xa9)")).ok());
}

// ---------------------------------------------------------------- WELCOME

TEST(Protocol, WelcomeHeartbeatRange) {
  ExpectInvalid(Decode(EncodeEnvelope(Welcome{1, 9, 0})), "heartbeat_ms 9");
  ExpectInvalid(Decode(EncodeEnvelope(Welcome{1, 600001, 0})), "heartbeat_ms 600001");
  ExpectInvalid(Decode(EncodeEnvelope(Welcome{1, 0, 0})), "heartbeat_ms");
  EXPECT_TRUE(Decode(EncodeEnvelope(Welcome{1, 10, 0})).ok());
  EXPECT_TRUE(Decode(EncodeEnvelope(Welcome{1, 600000, 0})).ok());
}

// ---------------------------------------------------------------- TRAIN

TEST(Protocol, TrainHyperParameters) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_TRUE(DecodeEnvelope(TrainBytes(0.05f, 0.9f), true).ok());
  ExpectInvalid(DecodeEnvelope(TrainBytes(nan, 0.9f), true), "lr must be finite");
  ExpectInvalid(DecodeEnvelope(TrainBytes(inf, 0.9f), true), "lr");
  ExpectInvalid(DecodeEnvelope(TrainBytes(0.0f, 0.9f), true), "lr");
  ExpectInvalid(DecodeEnvelope(TrainBytes(-0.1f, 0.9f), true), "lr");
  ExpectInvalid(DecodeEnvelope(TrainBytes(0.05f, 1.0f), true), "momentum must be in [0, 1)");
  ExpectInvalid(DecodeEnvelope(TrainBytes(0.05f, -0.01f), true), "momentum");
  ExpectInvalid(DecodeEnvelope(TrainBytes(0.05f, nan), true), "momentum");
  ExpectInvalid(DecodeEnvelope(TrainBytes(0.05f, inf), true), "momentum");
  EXPECT_TRUE(DecodeEnvelope(TrainBytes(0.05f, 0.0f), true).ok());
  EXPECT_TRUE(DecodeEnvelope(TrainBytes(0.05f, std::nextafter(1.0f, 0.0f)), true).ok());
}

TEST(Protocol, TrainRanges) {
  ExpectInvalid(DecodeEnvelope(TrainBytes(0.1f, 0.5f, 0, /*job=*/0), true), "job_id and round");
  ExpectInvalid(DecodeEnvelope(TrainBytes(0.1f, 0.5f, 0, /*job=*/-5), true), "job_id and round");
  ExpectInvalid(DecodeEnvelope(TrainBytes(0.1f, 0.5f, 0, 1, /*round=*/0), true), "job_id and round");
  ExpectInvalid(DecodeEnvelope(TrainBytes(0.1f, 0.5f, 0, 1, 1, /*epochs=*/0), true), "local_epochs");
  ExpectInvalid(DecodeEnvelope(TrainBytes(0.1f, 0.5f, 0, 1, 1, 1001), true), "local_epochs");
  ExpectInvalid(DecodeEnvelope(TrainBytes(0.1f, 0.5f, 0, 1, 1, 1, /*batch=*/0), true), "batch_size");
  ExpectInvalid(DecodeEnvelope(TrainBytes(0.1f, 0.5f, 0, 1, 1, 1, 65537), true), "batch_size");
}

TEST(Protocol, TrainBaseRound) {
  // A full model (format 0) is not relative to anything.
  ExpectInvalid(DecodeEnvelope(TrainBytes(0.1f, 0.5f, 0, 1, 5, 1, 32, /*base=*/4), true),
                "base_round 0");
  EXPECT_TRUE(DecodeEnvelope(TrainBytes(0.1f, 0.5f, 0, 1, 5, 1, 32, 0), true).ok());
  // A delta chain goes forward from base_round to round.
  for (uint32_t base : {0u, 1u, 4u, 5u})
    EXPECT_TRUE(DecodeEnvelope(TrainBytes(0.1f, 0.5f, 1, 1, 5, 1, 32, base), true).ok()) << base;
  ExpectInvalid(DecodeEnvelope(TrainBytes(0.1f, 0.5f, 1, 1, 5, 1, 32, 6), true), "base_round <= round");
  ExpectInvalid(DecodeEnvelope(TrainBytes(0.1f, 0.5f, 1, 1, 5, 1, 32, 0xFFFFFFFFu), true),
                "base_round");
}

TEST(Protocol, DeltaChainRoundTrips) {
  const Bytes a = {1, 2, 3}, b = {}, c(1000, 0xCC);
  Bytes enc = EncodeDeltaChain({a, b, c});
  EXPECT_EQ(enc.size(), 4u + 3 * 4 + 3 + 0 + 1000);
  EXPECT_EQ((Bytes(enc.begin(), enc.begin() + 11)),
            (Bytes{3, 0, 0, 0, 3, 0, 0, 0, 1, 2, 3}));
  auto d = DecodeDeltaChain(enc);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  ASSERT_EQ(d->size(), 3u);
  EXPECT_EQ(Bytes((*d)[0].begin(), (*d)[0].end()), a);
  EXPECT_TRUE((*d)[1].empty());
  EXPECT_EQ(Bytes((*d)[2].begin(), (*d)[2].end()), c);
  // The links point into the input (no copies).
  EXPECT_EQ((*d)[0].data(), enc.data() + 8);

  auto empty = DecodeDeltaChain(EncodeDeltaChain({}));
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(Protocol, DeltaChainRejections) {
  const Bytes link = {9, 9};
  std::vector<std::span<const uint8_t>> max(kMaxChain, link), over(kMaxChain + 1, link);
  EXPECT_TRUE(DecodeDeltaChain(EncodeDeltaChain(max)).ok());
  auto d = DecodeDeltaChain(EncodeDeltaChain(over));
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(d.status().message(), "limit 64")) << d.status().message();

  Bytes enc = EncodeDeltaChain({link, link});
  for (size_t len = 0; len < enc.size(); ++len) {
    auto t = DecodeDeltaChain(std::span(enc.data(), len));
    ASSERT_FALSE(t.ok()) << "accepted at length " << len;
    EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
  }
  Bytes trailing = enc;
  trailing.push_back(0);
  auto tr = DecodeDeltaChain(trailing);
  ASSERT_FALSE(tr.ok());
  EXPECT_TRUE(Contains(tr.status().message(), "trailing")) << tr.status().message();
  // A link length far beyond the buffer is refused without allocating.
  Bytes huge = {1, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2};
  EXPECT_FALSE(DecodeDeltaChain(huge).ok());
}

TEST(Protocol, UnknownPayloadFormat) {
  for (int f : {2, 3, 255}) {
    ExpectInvalid(DecodeEnvelope(TrainBytes(0.1f, 0.5f, static_cast<uint8_t>(f)), true),
                  "unknown payload_format " + std::to_string(f));
    ExpectInvalid(DecodeEnvelope(UpdateBytes(0.5f, 10, static_cast<uint8_t>(f)), true),
                  "unknown payload_format " + std::to_string(f));
  }
  EXPECT_TRUE(DecodeEnvelope(TrainBytes(0.1f, 0.5f, 1), true).ok());
  EXPECT_TRUE(DecodeEnvelope(UpdateBytes(0.5f, 10, 1), true).ok());
}

// ---------------------------------------------------------------- UPDATE

TEST(Protocol, UpdateValidation) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_TRUE(DecodeEnvelope(UpdateBytes(0.5f), true).ok());
  EXPECT_TRUE(DecodeEnvelope(UpdateBytes(0.0f), true).ok());
  ExpectInvalid(DecodeEnvelope(UpdateBytes(0.5f, 0), true), "num_samples must be > 0");
  ExpectInvalid(DecodeEnvelope(UpdateBytes(nan), true), "train_loss must be finite and >= 0");
  ExpectInvalid(DecodeEnvelope(UpdateBytes(-nan), true), "train_loss");
  ExpectInvalid(DecodeEnvelope(UpdateBytes(inf), true), "train_loss");
  ExpectInvalid(DecodeEnvelope(UpdateBytes(-inf), true), "train_loss");
  ExpectInvalid(DecodeEnvelope(UpdateBytes(-0.001f), true), "train_loss");
  ExpectInvalid(DecodeEnvelope(UpdateBytes(0.5f, 10, 0, /*job=*/0), true), "job_id and round");
  ExpectInvalid(DecodeEnvelope(UpdateBytes(0.5f, 10, 0, 1, /*round=*/0), true), "job_id and round");
}

// ------------------------------------------------------------ random input

TEST(Protocol, RandomBytesNeverCrashAndAcceptedInputReencodesExactly) {
  std::mt19937_64 rng(20240601);
  std::vector<Bytes> seeds;
  for (const Message& m : AllSamples()) seeds.push_back(EncodeEnvelope(m));
  seeds.push_back(EncodeEnvelope(Heartbeat{0, 0}));
  seeds.push_back(EncodeEnvelope(Bye{""}));
  size_t accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    Bytes b;
    switch (i % 4) {
      case 0: {  // pure noise
        b.resize(rng() % 80);
        for (auto& x : b) x = static_cast<uint8_t>(rng());
        break;
      }
      case 1: {  // valid header, noisy body
        b = Header(static_cast<uint8_t>(1 + rng() % 7));
        size_t n = rng() % 80;
        for (size_t k = 0; k < n; ++k) b.push_back(static_cast<uint8_t>(rng() % 4 == 0 ? rng() : 0));
        break;
      }
      default: {  // mutated valid envelope
        b = seeds[rng() % seeds.size()];
        int flips = 1 + static_cast<int>(rng() % 4);
        for (int f = 0; f < flips; ++f) {
          size_t pos = 4 + rng() % (b.size() - 4);
          switch (rng() % 3) {
            case 0: b[pos] = static_cast<uint8_t>(rng()); break;
            case 1: b[pos] ^= static_cast<uint8_t>(1u << (rng() % 8)); break;
            case 2: b[pos] = 0; break;
          }
        }
        if (rng() % 8 == 0) b.resize(rng() % (b.size() + 1));
        if (rng() % 8 == 0) b.push_back(static_cast<uint8_t>(rng()));
        break;
      }
    }
    const bool has_payload = (rng() % 2) == 0;
    auto d = DecodeEnvelope(b, has_payload);
    if (d.ok()) {
      ++accepted;
      ASSERT_EQ(EncodeEnvelope(*d), b) << "iteration " << i << ": " << DebugString(*d);
      ASSERT_EQ(WantsPayload(TypeOf(*d)), has_payload);
    } else {
      ASSERT_FALSE(d.status().message().empty());
      ASSERT_TRUE(d.status().code() == StatusCode::kInvalidArgument ||
                  d.status().code() == StatusCode::kFailedPrecondition)
          << d.status().ToString();
    }
  }
  // The mutations should leave a fair number of envelopes valid.
  EXPECT_GT(accepted, 500u);
}

}  // namespace
}  // namespace fedpress::protocol

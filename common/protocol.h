// The fedpress wire protocol, version 1: the messages exchanged between the
// server (ZeroMQ ROUTER) and client daemons (ZeroMQ DEALER), their encoding
// and their validation. Documented byte for byte in docs/protocol.md.
//
// A message is 1 or 2 ZeroMQ frames (after the ROUTER identity frame):
//   frame 0: envelope = u8 'F' | u8 'P' | u8 version (1) | u8 type | fields...
//   frame 1: payload (model bytes) — TRAIN and UPDATE only
// Every integer is little-endian; strings are u32 length + UTF-8 bytes.
//
// Decoding never trusts its input: lengths, counts, enums and floats are
// checked, and a failure names the field. Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "common/status.h"

namespace fedpress::protocol {

inline constexpr uint8_t kMagic0 = 'F';
inline constexpr uint8_t kMagic1 = 'P';
inline constexpr uint8_t kVersion = 1;
// Envelope frames are small; payload frames are bounded by the model size.
inline constexpr size_t kMaxEnvelopeBytes = 64 * 1024;

enum class MsgType : uint8_t {
  kRegister = 1,   // client -> server
  kWelcome = 2,    // server -> client
  kHeartbeat = 3,  // both ways (server echoes)
  kTrain = 4,      // server -> client, + payload
  kUpdate = 5,     // client -> server, + payload
  kReject = 6,     // server -> client (also "error")
  kBye = 7,        // both ways
};
const char* MsgTypeName(MsgType t);

// Payload formats of TRAIN / UPDATE frame 1.
enum class PayloadFormat : uint8_t {
  kDense = 0,       // common/model_weights.h dense bundle (layout + fp32)
  kCompressed = 1,  // compression/ container (docs/format.md)
};

// Reject codes (pinned; never renumbered).
enum class RejectCode : uint16_t {
  kMalformed = 1,        // could not be decoded
  kBadVersion = 2,       // unsupported protocol version
  kNotRegistered = 3,    // send REGISTER first
  kWrongJob = 4,         // update for another job
  kWrongRound = 5,       // update for another round (late or early)
  kNotSelected = 6,      // client was not picked for this round
  kDuplicate = 7,        // already answered this round
  kBadPayload = 8,       // shape / NaN / size problems
  kBadSampleCount = 9,   // <= 0 or implausible
  kServerFull = 10,      // too many clients
  kInternal = 11,        // server-side failure
  kNameTaken = 12,       // another live connection uses this name
  kBusy = 13,            // the server's inbound queue was full: the UPDATE was not queued, resend it
};

struct Register {
  std::string name;            // unique per client, 1..64 chars [A-Za-z0-9._-]
  std::string dataset;         // e.g. "fashion-mnist"
  uint64_t num_samples = 0;    // local training set size
  uint32_t capabilities = 0;   // bit 0: compressed payloads
  std::string client_version;  // free text, <= 64 chars
};
inline constexpr uint32_t kCapCompressed = 1u << 0;

struct Welcome {
  int64_t client_id = 0;
  uint32_t heartbeat_ms = 2000;  // client sends a heartbeat this often
  uint64_t max_message_bytes = 0;
};

// Client -> server: the version of the global model the client holds (so the
// server can send a compressed delta instead of the full model). The server
// echoes the message unchanged as a liveness signal.
struct Heartbeat {
  int64_t job_id = 0;      // job of the model copy held (0 = none)
  uint32_t round = 0;      // version: the round it was broadcast for
  uint32_t model_crc = 0;  // CRC-32C of its fp32 values (little-endian bytes)
};

struct Train {
  int64_t job_id = 0;
  uint32_t round = 0;
  uint32_t attempt = 1;
  std::string model;        // "mlp" | "cnn" | "cnn-large"
  std::string dataset;
  uint32_t local_epochs = 1;
  uint32_t batch_size = 32;
  float lr = 0.05f;
  float momentum = 0.9f;
  uint64_t seed = 1;
  std::string compression_json;  // normalised spec of the job; "{}" if none
  PayloadFormat payload_format = PayloadFormat::kDense;
  // kDense: frame 1 is the full model (base_round must be 0).
  // kCompressed: frame 1 is a delta chain (EncodeDeltaChain) that turns the
  // client's copy of version base_round into version `round`.
  // base_round 0 with kCompressed: the base is the job's initial model, which
  // the client derives itself from (model, seed) (client/model_zoo).
  uint32_t base_round = 0;
  uint32_t model_crc = 0;  // CRC-32C of the resulting model's values
  uint32_t base_crc = 0;   // kCompressed: CRC-32C of the base version's values
};

// A delta chain: u32 count (0..kMaxChain), then count x (u32 length, bytes),
// each a compressed container (docs/format.md) applied in order with weight 1.
inline constexpr uint32_t kMaxChain = 64;
std::vector<uint8_t> EncodeDeltaChain(const std::vector<std::span<const uint8_t>>& links);
Result<std::vector<std::span<const uint8_t>>> DecodeDeltaChain(std::span<const uint8_t> bytes);

struct Update {
  int64_t job_id = 0;
  uint32_t round = 0;
  uint32_t attempt = 1;
  uint64_t num_samples = 0;
  float train_loss = 0;
  uint32_t train_ms = 0;
  uint32_t encode_ms = 0;
  uint64_t raw_bytes = 0;  // dense fp32 size of the delta
  PayloadFormat payload_format = PayloadFormat::kDense;
  // frame 1: local - global
};

struct Reject {
  int64_t job_id = 0;
  uint32_t round = 0;
  RejectCode code = RejectCode::kMalformed;
  std::string reason;
};

struct Bye {
  std::string reason;
};

using Message = std::variant<Register, Welcome, Heartbeat, Train, Update, Reject, Bye>;

MsgType TypeOf(const Message& m);
// Encodes the envelope frame (frame 0).
std::vector<uint8_t> EncodeEnvelope(const Message& m);
// Decodes and validates an envelope frame. `has_payload` says whether a
// payload frame followed; TRAIN/UPDATE require one, others forbid it.
Result<Message> DecodeEnvelope(std::span<const uint8_t> frame, bool has_payload);

// "UPDATE job=3 round=2 samples=6000 loss=0.41 raw=827688" (for logs).
std::string DebugString(const Message& m);

// Client names: 1..64 chars of [A-Za-z0-9._-].
bool IsValidClientName(std::string_view name);

}  // namespace fedpress::protocol

#include "common/protocol.h"

#include <cmath>

#include "common/byte_io.h"

namespace fedpress::protocol {
namespace {

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

void Encode(ByteWriter& w, const Register& m) {
  w.Str(m.name);
  w.Str(m.dataset);
  w.U64(m.num_samples);
  w.U32(m.capabilities);
  w.Str(m.client_version);
}
void Encode(ByteWriter& w, const Welcome& m) {
  w.I64(m.client_id);
  w.U32(m.heartbeat_ms);
  w.U64(m.max_message_bytes);
}
void Encode(ByteWriter& w, const Heartbeat& m) {
  w.I64(m.job_id);
  w.U32(m.round);
  w.U32(m.model_crc);
}
void Encode(ByteWriter& w, const Train& m) {
  w.I64(m.job_id);
  w.U32(m.round);
  w.U32(m.attempt);
  w.Str(m.model);
  w.Str(m.dataset);
  w.U32(m.local_epochs);
  w.U32(m.batch_size);
  w.F32(m.lr);
  w.F32(m.momentum);
  w.U64(m.seed);
  w.Str(m.compression_json);
  w.U8(static_cast<uint8_t>(m.payload_format));
  w.U32(m.base_round);
  w.U32(m.model_crc);
  w.U32(m.base_crc);
}
void Encode(ByteWriter& w, const Update& m) {
  w.I64(m.job_id);
  w.U32(m.round);
  w.U32(m.attempt);
  w.U64(m.num_samples);
  w.F32(m.train_loss);
  w.U32(m.train_ms);
  w.U32(m.encode_ms);
  w.U64(m.raw_bytes);
  w.U8(static_cast<uint8_t>(m.payload_format));
}
void Encode(ByteWriter& w, const Reject& m) {
  w.I64(m.job_id);
  w.U32(m.round);
  w.U16(static_cast<uint16_t>(m.code));
  w.Str(m.reason);
}
void Encode(ByteWriter& w, const Bye& m) { w.Str(m.reason); }

Status Bad(const char* type, const std::string& what) {
  return Status::InvalidArgument(std::string(type) + ": " + what);
}

// Well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF)
// without control characters.
bool IsPrintableUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if (c < 0x20 || c == 0x7f) return false;
      ++i;
      continue;
    }
    int n;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) n = 1, cp = c & 0x1F;
    else if ((c & 0xF0) == 0xE0) n = 2, cp = c & 0x0F;
    else if ((c & 0xF8) == 0xF0) n = 3, cp = c & 0x07;
    else return false;
    for (int k = 1; k <= n; ++k) {
      if (i + k >= s.size()) return false;
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += static_cast<size_t>(n) + 1;
  }
  return true;
}

Result<PayloadFormat> ReadFormat(ByteReader& r) {
  uint8_t f = r.U8("payload_format");
  if (r.ok() && f > static_cast<uint8_t>(PayloadFormat::kCompressed))
    return Status::InvalidArgument("unknown payload_format " + std::to_string(f));
  return static_cast<PayloadFormat>(f);
}

Result<Message> DecodeBody(MsgType type, ByteReader& r) {
  switch (type) {
    case MsgType::kRegister: {
      Register m;
      m.name = r.Str("name", 64);
      m.dataset = r.Str("dataset", 64);
      m.num_samples = r.U64("num_samples");
      m.capabilities = r.U32("capabilities");
      m.client_version = r.Str("client_version", 64);
      FP_RETURN_IF_ERROR(r.Finish("REGISTER"));
      if (!IsValidClientName(m.name))
        return Bad("REGISTER", "name must be 1..64 chars of [A-Za-z0-9._-]");
      if (!m.dataset.empty() && !IsValidClientName(m.dataset))
        return Bad("REGISTER", "dataset must be 1..64 chars of [A-Za-z0-9._-]");
      if (!IsPrintableUtf8(m.client_version))
        return Bad("REGISTER", "client_version must be printable UTF-8");
      if (m.num_samples == 0) return Bad("REGISTER", "num_samples must be > 0");
      return Message(std::move(m));
    }
    case MsgType::kWelcome: {
      Welcome m;
      m.client_id = r.I64("client_id");
      m.heartbeat_ms = r.U32("heartbeat_ms");
      m.max_message_bytes = r.U64("max_message_bytes");
      FP_RETURN_IF_ERROR(r.Finish("WELCOME"));
      if (m.heartbeat_ms < 10 || m.heartbeat_ms > 600000)
        return Bad("WELCOME", "heartbeat_ms " + std::to_string(m.heartbeat_ms) + " out of range");
      return Message(m);
    }
    case MsgType::kHeartbeat: {
      Heartbeat m;
      m.job_id = r.I64("job_id");
      m.round = r.U32("round");
      m.model_crc = r.U32("model_crc");
      FP_RETURN_IF_ERROR(r.Finish("HEARTBEAT"));
      return Message(m);
    }
    case MsgType::kTrain: {
      Train m;
      m.job_id = r.I64("job_id");
      m.round = r.U32("round");
      m.attempt = r.U32("attempt");
      m.model = r.Str("model", 64);
      m.dataset = r.Str("dataset", 64);
      m.local_epochs = r.U32("local_epochs");
      m.batch_size = r.U32("batch_size");
      m.lr = r.F32("lr");
      m.momentum = r.F32("momentum");
      m.seed = r.U64("seed");
      m.compression_json = r.Str("compression_json", 16384);
      FP_ASSIGN_OR_RETURN(m.payload_format, ReadFormat(r));
      m.base_round = r.U32("base_round");
      m.model_crc = r.U32("model_crc");
      m.base_crc = r.U32("base_crc");
      FP_RETURN_IF_ERROR(r.Finish("TRAIN"));
      if (m.payload_format == PayloadFormat::kDense && m.base_round != 0)
        return Bad("TRAIN", "a full model (format 0) must have base_round 0");
      if (m.payload_format == PayloadFormat::kCompressed && m.base_round > m.round)
        return Bad("TRAIN", "a delta chain needs base_round <= round");
      if (m.job_id <= 0 || m.round == 0) return Bad("TRAIN", "job_id and round must be > 0");
      if (m.local_epochs == 0 || m.local_epochs > 1000) return Bad("TRAIN", "local_epochs out of range");
      if (m.batch_size == 0 || m.batch_size > 65536) return Bad("TRAIN", "batch_size out of range");
      if (!std::isfinite(m.lr) || m.lr <= 0) return Bad("TRAIN", "lr must be finite and > 0");
      if (!std::isfinite(m.momentum) || m.momentum < 0 || m.momentum >= 1)
        return Bad("TRAIN", "momentum must be in [0, 1)");
      return Message(std::move(m));
    }
    case MsgType::kUpdate: {
      Update m;
      m.job_id = r.I64("job_id");
      m.round = r.U32("round");
      m.attempt = r.U32("attempt");
      m.num_samples = r.U64("num_samples");
      m.train_loss = r.F32("train_loss");
      m.train_ms = r.U32("train_ms");
      m.encode_ms = r.U32("encode_ms");
      m.raw_bytes = r.U64("raw_bytes");
      FP_ASSIGN_OR_RETURN(m.payload_format, ReadFormat(r));
      FP_RETURN_IF_ERROR(r.Finish("UPDATE"));
      if (m.job_id <= 0 || m.round == 0) return Bad("UPDATE", "job_id and round must be > 0");
      if (m.num_samples == 0) return Bad("UPDATE", "num_samples must be > 0");
      if (!std::isfinite(m.train_loss) || m.train_loss < 0)
        return Bad("UPDATE", "train_loss must be finite and >= 0");
      return Message(m);
    }
    case MsgType::kReject: {
      Reject m;
      m.job_id = r.I64("job_id");
      m.round = r.U32("round");
      m.code = static_cast<RejectCode>(r.U16("code"));
      m.reason = r.Str("reason", 4096);
      FP_RETURN_IF_ERROR(r.Finish("REJECT"));
      return Message(std::move(m));
    }
    case MsgType::kBye: {
      Bye m;
      m.reason = r.Str("reason", 4096);
      FP_RETURN_IF_ERROR(r.Finish("BYE"));
      return Message(std::move(m));
    }
  }
  return Status::InvalidArgument("unknown message type");
}

}  // namespace

const char* MsgTypeName(MsgType t) {
  switch (t) {
    case MsgType::kRegister: return "REGISTER";
    case MsgType::kWelcome: return "WELCOME";
    case MsgType::kHeartbeat: return "HEARTBEAT";
    case MsgType::kTrain: return "TRAIN";
    case MsgType::kUpdate: return "UPDATE";
    case MsgType::kReject: return "REJECT";
    case MsgType::kBye: return "BYE";
  }
  return "UNKNOWN";
}

MsgType TypeOf(const Message& m) {
  return std::visit(Overloaded{
                        [](const Register&) { return MsgType::kRegister; },
                        [](const Welcome&) { return MsgType::kWelcome; },
                        [](const Heartbeat&) { return MsgType::kHeartbeat; },
                        [](const Train&) { return MsgType::kTrain; },
                        [](const Update&) { return MsgType::kUpdate; },
                        [](const Reject&) { return MsgType::kReject; },
                        [](const Bye&) { return MsgType::kBye; },
                    },
                    m);
}

std::vector<uint8_t> EncodeEnvelope(const Message& m) {
  std::vector<uint8_t> out;
  out.reserve(64);
  ByteWriter w(&out);
  w.U8(kMagic0);
  w.U8(kMagic1);
  w.U8(kVersion);
  w.U8(static_cast<uint8_t>(TypeOf(m)));
  std::visit([&](const auto& msg) { Encode(w, msg); }, m);
  return out;
}

Result<Message> DecodeEnvelope(std::span<const uint8_t> frame, bool has_payload) {
  if (frame.size() > kMaxEnvelopeBytes)
    return Status::InvalidArgument("envelope is " + std::to_string(frame.size()) +
                                   " bytes, limit " + std::to_string(kMaxEnvelopeBytes));
  if (frame.size() < 4) return Status::InvalidArgument("envelope shorter than its 4-byte header");
  if (frame[0] != kMagic0 || frame[1] != kMagic1)
    return Status::InvalidArgument("not a fedpress message (bad magic)");
  if (frame[2] != kVersion)
    return Status::FailedPrecondition("protocol version " + std::to_string(frame[2]) +
                                      " is not supported (this build speaks version " +
                                      std::to_string(kVersion) + ")");
  uint8_t t = frame[3];
  if (t < 1 || t > 7) return Status::InvalidArgument("unknown message type " + std::to_string(t));
  auto type = static_cast<MsgType>(t);
  bool wants_payload = type == MsgType::kTrain || type == MsgType::kUpdate;
  if (wants_payload != has_payload)
    return Status::InvalidArgument(std::string(MsgTypeName(type)) +
                                   (wants_payload ? ": missing payload frame"
                                                  : ": unexpected payload frame"));
  ByteReader r(frame.subspan(4));
  auto m = DecodeBody(type, r);
  if (!m.ok() && m.status().code() == StatusCode::kCorruption)
    return Status::InvalidArgument(m.status().message());
  return m;
}

std::string DebugString(const Message& m) {
  return std::visit(
      Overloaded{
          [](const Register& r) {
            return "REGISTER name=" + r.name + " dataset=" + r.dataset +
                   " samples=" + std::to_string(r.num_samples);
          },
          [](const Welcome& w) { return "WELCOME client_id=" + std::to_string(w.client_id); },
          [](const Heartbeat& h) {
            return "HEARTBEAT job=" + std::to_string(h.job_id) + " round=" + std::to_string(h.round);
          },
          [](const Train& t) {
            return "TRAIN job=" + std::to_string(t.job_id) + " round=" + std::to_string(t.round) +
                   " model=" + t.model;
          },
          [](const Update& u) {
            return "UPDATE job=" + std::to_string(u.job_id) + " round=" + std::to_string(u.round) +
                   " samples=" + std::to_string(u.num_samples) + " raw=" + std::to_string(u.raw_bytes);
          },
          [](const Reject& r) {
            return "REJECT code=" + std::to_string(static_cast<int>(r.code)) + " reason=" + r.reason;
          },
          [](const Bye& b) { return "BYE " + b.reason; },
      },
      m);
}

std::vector<uint8_t> EncodeDeltaChain(const std::vector<std::span<const uint8_t>>& links) {
  std::vector<uint8_t> out;
  size_t total = 4;
  for (const auto& l : links) total += 4 + l.size();
  out.reserve(total);
  ByteWriter w(&out);
  w.U32(static_cast<uint32_t>(links.size()));
  for (const auto& l : links) {
    w.U32(static_cast<uint32_t>(l.size()));
    w.Raw(l.data(), l.size());
  }
  return out;
}

Result<std::vector<std::span<const uint8_t>>> DecodeDeltaChain(std::span<const uint8_t> bytes) {
  ByteReader r(bytes);
  uint32_t n = r.U32("chain count");
  if (!r.ok()) return Status::InvalidArgument("delta chain: " + r.error());
  if (n > kMaxChain)
    return Status::InvalidArgument("delta chain: " + std::to_string(n) + " links, limit " +
                                   std::to_string(kMaxChain));
  std::vector<std::span<const uint8_t>> links;
  for (uint32_t i = 0; i < n; ++i) {
    uint32_t len = r.U32("link length");
    auto b = r.Bytes(len, "link");
    if (!r.ok()) return Status::InvalidArgument("delta chain: " + r.error());
    links.push_back(b);
  }
  if (r.remaining() != 0) return Status::InvalidArgument("delta chain: trailing bytes");
  return links;
}

bool IsValidClientName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace fedpress::protocol

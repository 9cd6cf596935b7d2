// libFuzzer target: the wire protocol decoder (common/protocol.h) on arbitrary
// bytes. Built by CMake with -DFEDPRESS_FUZZ=ON (clang); run by `make
// test-fuzz` (tests/fuzz/run_fuzz.sh) from the seeds in corpus/protocol_fuzz.
//
// Input: byte 0 bit 0 = "a payload frame followed"; the rest is frame 0 (the
// envelope). Checks, beyond "no crash, no leak, no UB":
//   - a decoded message re-encodes to bytes that decode to the same message
//     (encode(decode(x)) is a fixed point), and DebugString works on it;
//   - the same bytes as a delta chain: a decoded chain's links lie inside the
//     input and re-encode to exactly the input.
//
// Seeds: FP_FUZZ_SEED_DIR=dir writes one valid envelope of every message
// type (and a delta chain) into dir at start-up.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/protocol.h"

namespace proto = fedpress::protocol;

namespace {

void WriteSeed(const std::string& dir, const std::string& name, uint8_t flags,
               const std::vector<uint8_t>& body) {
  std::string path = dir + "/" + name;
  if (FILE* f = std::fopen(path.c_str(), "wb")) {
    std::fputc(flags, f);
    std::fwrite(body.data(), 1, body.size(), f);
    std::fclose(f);
  }
}

void WriteSeeds(const std::string& dir) {
  proto::Train train;
  train.job_id = 3;
  train.round = 7;
  train.attempt = 2;
  train.model = "cnn";
  train.dataset = "fashion-mnist";
  train.compression_json = R"({"preset":"topk1%-q4"})";
  train.payload_format = proto::PayloadFormat::kCompressed;
  train.base_round = 5;
  train.model_crc = 0x12345678;
  train.base_crc = 0x9abcdef0;
  proto::Update update{3, 7, 2, 6000, 0.41f, 1200, 30, 827688, proto::PayloadFormat::kCompressed};
  WriteSeed(dir, "register", 0, proto::EncodeEnvelope(proto::Register{"edge-0", "fashion-mnist", 6000, proto::kCapCompressed, "fedpress-client 0.1.0"}));
  WriteSeed(dir, "welcome", 0, proto::EncodeEnvelope(proto::Welcome{42, 2000, 64 << 20}));
  WriteSeed(dir, "heartbeat", 0, proto::EncodeEnvelope(proto::Heartbeat{3, 7, 0xdeadbeef}));
  WriteSeed(dir, "train", 1, proto::EncodeEnvelope(train));
  WriteSeed(dir, "update", 1, proto::EncodeEnvelope(update));
  WriteSeed(dir, "reject", 0, proto::EncodeEnvelope(proto::Reject{3, 7, proto::RejectCode::kWrongRound, "late: round 7 closed"}));
  WriteSeed(dir, "bye", 0, proto::EncodeEnvelope(proto::Bye{"shutting down"}));
  std::vector<uint8_t> a = {1, 2, 3}, b = {4, 5};
  WriteSeed(dir, "delta_chain", 0, proto::EncodeDeltaChain({a, b}));
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* dir = std::getenv("FP_FUZZ_SEED_DIR")) WriteSeeds(dir);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool has_payload = data[0] & 1;
  std::span<const uint8_t> frame(data + 1, size - 1);

  auto msg = proto::DecodeEnvelope(frame, has_payload);
  if (msg.ok()) {
    (void)proto::DebugString(*msg);
    (void)proto::MsgTypeName(proto::TypeOf(*msg));
    std::vector<uint8_t> once = proto::EncodeEnvelope(*msg);
    auto again = proto::DecodeEnvelope(once, has_payload);
    if (!again.ok()) {
      std::fprintf(stderr, "re-encoded %s does not decode: %s\n", proto::DebugString(*msg).c_str(),
                   again.status().ToString().c_str());
      std::abort();
    }
    if (proto::EncodeEnvelope(*again) != once) {
      std::fprintf(stderr, "encode(decode(x)) is not a fixed point for %s\n", proto::DebugString(*msg).c_str());
      std::abort();
    }
  } else if (msg.status().message().empty()) {
    std::abort();  // a refusal must say why
  }

  auto chain = proto::DecodeDeltaChain(frame);
  if (chain.ok()) {
    for (const auto& link : *chain)
      if (link.data() < frame.data() || link.data() + link.size() > frame.data() + frame.size()) std::abort();
    if (proto::EncodeDeltaChain(*chain) != std::vector<uint8_t>(frame.begin(), frame.end())) std::abort();
  }
  return 0;
}

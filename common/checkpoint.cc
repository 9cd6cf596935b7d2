#include "common/checkpoint.h"

#include "common/byte_io.h"
#include "common/checksum.h"
#include "common/file_util.h"

namespace fedpress {

std::vector<uint8_t> EncodeCheckpoint(const Checkpoint& c) {
  std::vector<uint8_t> out;
  out.reserve(c.weights.byte_size() + 1024);
  ByteWriter w(&out);
  w.U32(kCheckpointMagic);
  w.U16(kCheckpointVersion);
  w.U16(0);
  w.I64(c.job_id);
  w.U32(c.round);
  w.Str(c.model_name);
  c.weights.EncodeTo(w);
  w.U32(Crc32c(out.data(), out.size()));
  return out;
}

Result<Checkpoint> DecodeCheckpoint(std::span<const uint8_t> bytes) {
  if (bytes.size() < 24) return Status::Corruption("checkpoint: file too short");
  uint32_t stored_crc;
  std::memcpy(&stored_crc, bytes.data() + bytes.size() - 4, 4);
  auto body = bytes.first(bytes.size() - 4);
  ByteReader r(body);
  uint32_t magic = r.U32("magic");
  if (magic != kCheckpointMagic) return Status::Corruption("checkpoint: not a fedpress checkpoint (bad magic)");
  uint16_t version = r.U16("version");
  if (version != kCheckpointVersion)
    return Status::Corruption("checkpoint: version " + std::to_string(version) +
                              " is not supported (this build reads version " +
                              std::to_string(kCheckpointVersion) + ")");
  if (Crc32c(body.data(), body.size()) != stored_crc)
    return Status::Corruption("checkpoint: checksum mismatch (file damaged)");
  r.U16("flags");
  Checkpoint c;
  c.job_id = r.I64("job_id");
  c.round = r.U32("round");
  c.model_name = r.Str("model_name", 64);
  if (!r.ok()) return Status::Corruption("checkpoint: " + r.error());
  FP_ASSIGN_OR_RETURN(c.weights, ModelWeights::DecodeFrom(r));
  FP_RETURN_IF_ERROR(r.Finish("checkpoint"));
  return c;
}

Status WriteCheckpoint(const std::string& path, const Checkpoint& c) {
  return WriteFileAtomic(path, EncodeCheckpoint(c));
}

Result<Checkpoint> ReadCheckpoint(const std::string& path) {
  FP_ASSIGN_OR_RETURN(auto bytes, ReadFile(path, uint64_t{8} << 30));
  auto c = DecodeCheckpoint(bytes);
  if (!c.ok()) return c.status().WithContext(path);
  return c;
}

}  // namespace fedpress

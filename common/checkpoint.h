// Checkpoint: a model's weights after a given round of a job, as a file.
// Written crash-safely (temp + fsync + rename); read back with every field
// validated and the whole file covered by a CRC-32C.
//
// File format v1 (little-endian; docs/format.md):
//   u32 magic 'FPCK' (0x4B435046) | u16 version = 1 | u16 flags = 0
//   i64 job_id | u32 round | str model_name
//   dense bundle (common/model_weights.h)
//   u32 crc32c of every preceding byte
//
// Thread-safety: pure functions; safe from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/model_weights.h"
#include "common/status.h"

namespace fedpress {

inline constexpr uint32_t kCheckpointMagic = 0x4B435046;  // "FPCK"
inline constexpr uint16_t kCheckpointVersion = 1;

struct Checkpoint {
  int64_t job_id = 0;
  uint32_t round = 0;        // 0 = initial model, r = after round r
  std::string model_name;    // "mlp", "cnn", "cnn-large"
  ModelWeights weights;
};

std::vector<uint8_t> EncodeCheckpoint(const Checkpoint& c);
Result<Checkpoint> DecodeCheckpoint(std::span<const uint8_t> bytes);

Status WriteCheckpoint(const std::string& path, const Checkpoint& c);
Result<Checkpoint> ReadCheckpoint(const std::string& path);

}  // namespace fedpress

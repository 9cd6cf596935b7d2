// The compressed-payload container, version 1 (docs/format.md, byte for
// byte): a fixed 40-byte header, a body (optionally one zstd frame), and a
// CRC-32C trailer. Self-describing: decoding needs no configuration, only the
// layout the receiver expects (checked against the header).
//
//   off  size  field
//    0    4    magic "FPCZ"
//    4    2    version (1)
//    6    2    flags: bit 0 = body is a zstd frame; other bits must be 0
//    8    4    num_layers
//   12    4    layout_crc: CRC-32C of the expected ModelLayout::EncodeTo bytes
//   16    8    total_elements
//   24    8    body_raw_len (after zstd, if any)
//   32    8    body_stored_len
//   40    S    body
//   40+S  4    CRC-32C of bytes [0, 40+S)
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "common/model_weights.h"
#include "common/status.h"

namespace fedpress::compression {

inline constexpr uint32_t kContainerMagic = 0x5A435046;  // bytes "FPCZ"
inline constexpr uint16_t kContainerVersion = 1;
inline constexpr size_t kHeaderBytes = 40;
inline constexpr size_t kTrailerBytes = 4;
inline constexpr uint16_t kFlagZstd = 1;

// Layer record kinds and sparsifier ids (informational), pinned.
enum class LayerKind : uint8_t { kDense = 0, kSparse = 1 };
enum class SparsifierId : uint8_t { kNone = 0, kTopK = 1, kRandomK = 2 };
inline constexpr size_t kLayerRecordHeaderBytes = 20;  // kind, sparsifier, u16 0, numel, count

struct ContainerHeader {
  uint16_t version = kContainerVersion;
  uint16_t flags = 0;
  uint32_t num_layers = 0;
  uint32_t layout_crc = 0;
  uint64_t total_elements = 0;
  uint64_t body_raw_len = 0;
  uint64_t body_stored_len = 0;
};

void WriteHeader(const ContainerHeader& h, uint8_t out[kHeaderBytes]);
// Parses and checks magic, version, flags and that the payload length equals
// header + body + trailer. Does not check the CRC or the layout.
Result<ContainerHeader> ParseHeader(std::span<const uint8_t> payload);

// CRC-32C of the layout's canonical encoding.
uint32_t LayoutCrc(const ModelLayout& layout);

// Largest legal raw body for the layout (the decoder's allocation bound) and
// the largest legal payload (with zstd expansion).
uint64_t MaxBodyBytes(const ModelLayout& layout);
uint64_t MaxPayloadBytes(const ModelLayout& layout);

}  // namespace fedpress::compression

#include "compression/container.h"

#include <cstring>
#include <string>

#include <zstd.h>

#include "common/byte_io.h"
#include "common/checksum.h"
#include "compression/value_coding.h"

namespace fedpress::compression {

void WriteHeader(const ContainerHeader& h, uint8_t out[kHeaderBytes]) {
  std::vector<uint8_t> b;
  ByteWriter w(&b);
  w.U32(kContainerMagic);
  w.U16(h.version);
  w.U16(h.flags);
  w.U32(h.num_layers);
  w.U32(h.layout_crc);
  w.U64(h.total_elements);
  w.U64(h.body_raw_len);
  w.U64(h.body_stored_len);
  std::memcpy(out, b.data(), kHeaderBytes);
}

Result<ContainerHeader> ParseHeader(std::span<const uint8_t> p) {
  auto bad = [](const std::string& m) { return Status::Corruption("compressed payload: " + m); };
  if (p.size() < kHeaderBytes + kTrailerBytes)
    return bad("too short (" + std::to_string(p.size()) + " bytes, header and checksum need " +
               std::to_string(kHeaderBytes + kTrailerBytes) + ")");
  ByteReader r(p.first(kHeaderBytes));
  ContainerHeader h;
  uint32_t magic = r.U32("magic");
  h.version = r.U16("version");
  h.flags = r.U16("flags");
  h.num_layers = r.U32("num_layers");
  h.layout_crc = r.U32("layout_crc");
  h.total_elements = r.U64("total_elements");
  h.body_raw_len = r.U64("body_raw_len");
  h.body_stored_len = r.U64("body_stored_len");
  if (magic != kContainerMagic) return bad("bad magic (not a fedpress compressed payload)");
  if (h.version != kContainerVersion)
    return bad("container version " + std::to_string(h.version) + " not supported (this build reads " +
               std::to_string(kContainerVersion) + ")");
  if (h.flags & ~kFlagZstd) return bad("unknown flags " + std::to_string(h.flags));
  if (h.body_stored_len != p.size() - kHeaderBytes - kTrailerBytes)
    return bad("body_stored_len " + std::to_string(h.body_stored_len) + " but payload holds " +
               std::to_string(p.size() - kHeaderBytes - kTrailerBytes) + " body bytes");
  if (!(h.flags & kFlagZstd) && h.body_raw_len != h.body_stored_len)
    return bad("uncompressed body with body_raw_len != body_stored_len");
  return h;
}

uint32_t LayoutCrc(const ModelLayout& layout) {
  std::vector<uint8_t> b;
  ByteWriter w(&b);
  layout.EncodeTo(w);
  return fedpress::Crc32c(b.data(), b.size());
}

uint64_t MaxBodyBytes(const ModelLayout& layout) {
  uint64_t n = 0;
  for (const auto& l : layout.layers()) {
    uint64_t e = l.numel();
    n += kLayerRecordHeaderBytes + 6 + 5 * e + MaxValueSectionBytes(e);
  }
  return n;
}

uint64_t MaxPayloadBytes(const ModelLayout& layout) {
  return kHeaderBytes + kTrailerBytes + ZSTD_compressBound(MaxBodyBytes(layout));
}

}  // namespace fedpress::compression

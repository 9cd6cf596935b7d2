#include "compression/error_feedback.h"

#include <algorithm>
#include <cstring>

#include "common/byte_io.h"
#include "common/checksum.h"

namespace fedpress::compression {
namespace {
constexpr uint32_t kEfMagic = 0x46455046;  // "FPEF"
constexpr uint16_t kEfVersion = 1;
}  // namespace

ErrorFeedback::ErrorFeedback(ModelLayout layout)
    : layout_(std::move(layout)), values_(layout_.total_elements(), 0.0f) {}

std::span<float> ErrorFeedback::layer(size_t i) {
  return std::span<float>(values_).subspan(layout_.offset(i), layout_.layers()[i].numel());
}
std::span<const float> ErrorFeedback::layer(size_t i) const {
  return std::span<const float>(values_).subspan(layout_.offset(i), layout_.layers()[i].numel());
}

void ErrorFeedback::Reset() { std::fill(values_.begin(), values_.end(), 0.0f); }

double ErrorFeedback::SquaredNorm() const {
  double s = 0;
  for (float v : values_) s += static_cast<double>(v) * v;
  return s;
}

std::vector<uint8_t> ErrorFeedback::Serialize() const {
  std::vector<uint8_t> out;
  ByteWriter w(&out);
  w.U32(kEfMagic);
  w.U16(kEfVersion);
  w.U16(0);
  layout_.EncodeTo(w);
  w.U64(values_.size());
  w.Floats(values_);
  w.U32(fedpress::Crc32c(out.data(), out.size()));
  return out;
}

Result<ErrorFeedback> ErrorFeedback::Deserialize(std::span<const uint8_t> bytes,
                                                 const ModelLayout& expected) {
  auto bad = [](const std::string& m) { return Status::Corruption("error-feedback state: " + m); };
  if (bytes.size() < 12) return bad("too short (" + std::to_string(bytes.size()) + " bytes)");
  uint32_t stored;
  std::memcpy(&stored, bytes.data() + bytes.size() - 4, 4);
  ByteReader r(bytes.first(bytes.size() - 4));
  uint32_t magic = r.U32("magic");
  uint16_t version = r.U16("version");
  uint16_t reserved = r.U16("reserved");
  if (magic != kEfMagic) return bad("bad magic (not an error-feedback file)");
  if (version != kEfVersion)
    return bad("version " + std::to_string(version) + " not supported (this build reads " +
               std::to_string(kEfVersion) + ")");
  if (reserved != 0) return bad("reserved field is not zero");
  if (fedpress::Crc32c(bytes.data(), bytes.size() - 4) != stored) return bad("checksum mismatch");
  FP_ASSIGN_OR_RETURN(ModelLayout layout, ModelLayout::DecodeFrom(r));
  if (!(layout == expected))
    return Status::FailedPrecondition("error-feedback state is for a different model: " +
                                      layout.Describe() + "; expected " + expected.Describe());
  uint64_t n = r.U64("count");
  if (!r.ok() || n != layout.total_elements()) return bad("value count does not match the layout");
  ErrorFeedback ef(std::move(layout));
  r.Raw(ef.values_.data(), n * 4, "values");
  FP_RETURN_IF_ERROR(r.Finish("error-feedback state"));
  if (int64_t i = FindNonFinite(ef.values_); i >= 0)
    return bad("non-finite value at element " + std::to_string(i));
  return ef;
}

}  // namespace fedpress::compression

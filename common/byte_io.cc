#include "common/byte_io.h"

namespace fedpress {

void ByteReader::Raw(void* dst, size_t n, const char* field) {
  if (!ok()) {
    std::memset(dst, 0, n);
    return;
  }
  if (n > remaining()) {
    std::memset(dst, 0, n);
    Fail(std::string("truncated at '") + field + "' (offset " + std::to_string(pos_) +
         ", need " + std::to_string(n) + " bytes, have " + std::to_string(remaining()) + ")");
    return;
  }
  if (n) std::memcpy(dst, in_.data() + pos_, n);
  pos_ += n;
}

std::span<const uint8_t> ByteReader::Bytes(size_t n, const char* field) {
  if (!ok()) return {};
  if (n > remaining()) {
    Fail(std::string("truncated at '") + field + "' (offset " + std::to_string(pos_) +
         ", need " + std::to_string(n) + " bytes, have " + std::to_string(remaining()) + ")");
    return {};
  }
  auto s = in_.subspan(pos_, n);
  pos_ += n;
  return s;
}

std::string ByteReader::Str(const char* field, size_t max_len) {
  uint32_t n = U32(field);
  if (!ok()) return {};
  if (n > max_len) {
    Fail(std::string("'") + field + "' is " + std::to_string(n) + " bytes, limit " +
         std::to_string(max_len));
    return {};
  }
  auto b = Bytes(n, field);
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

void ByteReader::Fail(std::string message) {
  if (error_.empty()) error_ = std::move(message);
}

Status ByteReader::Finish(std::string_view what) const {
  if (!ok()) return Status::Corruption(std::string(what) + ": " + error_);
  if (remaining() != 0)
    return Status::Corruption(std::string(what) + ": " + std::to_string(remaining()) +
                              " unexpected trailing bytes");
  return Status::OK();
}

}  // namespace fedpress

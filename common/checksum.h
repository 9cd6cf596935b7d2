// CRC-32C (Castagnoli) over byte ranges, used to detect corrupt files and
// payloads. Software table implementation; incremental via the `crc` argument.
//
// Thread-safety: pure functions; safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>

namespace fedpress {

// Extends `crc` (0 to start) with n bytes at p.
uint32_t Crc32c(const void* p, size_t n, uint32_t crc = 0);

}  // namespace fedpress

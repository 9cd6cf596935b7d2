// CRC-32C (Castagnoli) over byte ranges, used to detect corrupt files and
// payloads and to compare model copies. Uses the SSE4.2 instruction when the
// CPU has it (checked once at run time), else a slicing-by-8 table; both give
// the same result. Incremental via the `crc` argument.
//
// Thread-safety: pure functions; safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>

namespace fedpress {

// Extends `crc` (0 to start) with n bytes at p.
uint32_t Crc32c(const void* p, size_t n, uint32_t crc = 0);
// The table implementation alone (what Crc32c falls back to; for tests).
uint32_t Crc32cPortable(const void* p, size_t n, uint32_t crc = 0);

}  // namespace fedpress

// CRC-32C with the SSE4.2 instruction when the CPU has it (checked at run
// time), else fedpress::Crc32c. Same result as fedpress::Crc32c for all input;
// used for payload checksums where the table version would cap throughput.
//
// Thread-safety: pure function.
#pragma once

#include <cstddef>
#include <cstdint>

namespace fedpress::compression {

uint32_t Crc32cFast(const void* p, size_t n, uint32_t crc = 0);

}  // namespace fedpress::compression

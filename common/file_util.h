// Small file helpers: whole-file reads with a size bound, and crash-safe
// writes (temp file in the same directory, fsync, rename, fsync directory),
// so a reader sees either the old file or the new one, never a torn one.
//
// Thread-safety: functions are safe from any thread; concurrent writers to the
// same path race (last rename wins) but never leave a torn file.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"

namespace fedpress {

Status WriteFileAtomic(const std::string& path, std::span<const uint8_t> data);
Result<std::vector<uint8_t>> ReadFile(const std::string& path, uint64_t max_bytes);
Status MakeDirs(const std::string& path);
bool FileExists(const std::string& path);

}  // namespace fedpress

// Wall-clock and monotonic time in milliseconds.
// Thread-safety: pure functions.
#pragma once

#include <chrono>
#include <cstdint>

namespace fedpress {

// Milliseconds since the Unix epoch (for records).
inline int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
// Monotonic milliseconds (for deadlines and durations).
inline int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace fedpress

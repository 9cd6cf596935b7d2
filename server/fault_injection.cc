#include "server/fault_injection.h"

#include <signal.h>

#include <array>
#include <chrono>
#include <thread>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace fedpress::server::fault {
namespace {

constexpr std::array<const char*, 5> kPhaseNames = {"broadcast", "collect", "aggregate", "checkpoint",
                                                    "commit"};

struct Armed {
  int phase = -1;  // index into kPhaseNames; -1 = disarmed
  long nth = 0;
};

// Parsed once, on first use.
Armed ParseEnvironment() {
  const char* v = std::getenv("FEDPRESS_CRASH_AT");
  if (!v || !*v) return {};
  std::string s(v);
  auto colon = s.find(':');
  Armed a;
  for (size_t i = 0; i < kPhaseNames.size(); ++i)
    if (s.substr(0, colon) == kPhaseNames[i]) a.phase = static_cast<int>(i);
  char* end = nullptr;
  a.nth = colon == std::string::npos ? 0 : std::strtol(s.c_str() + colon + 1, &end, 10);
  if (a.phase < 0 || a.nth < 1 || !end || *end != '\0') {
    std::fprintf(stderr, "FEDPRESS_CRASH_AT='%s' ignored: expected PHASE:N with PHASE one of "
                 "broadcast|collect|aggregate|checkpoint|commit and N >= 1\n", v);
    return {};
  }
  std::fprintf(stderr, "FEDPRESS_CRASH_AT=%s: test-only fault injection armed; this server will "
               "SIGKILL itself\n", v);
  return a;
}

const Armed& Get() {
  static const Armed armed = ParseEnvironment();  // thread-safe static init
  return armed;
}

std::array<std::atomic<long>, kPhaseNames.size()> g_counts{};

}  // namespace

void CrashPoint(Phase phase) {
  const Armed& a = Get();
  const int p = static_cast<int>(phase);
  if (a.phase != p) return;
  const long n = g_counts[static_cast<size_t>(p)].fetch_add(1, std::memory_order_relaxed) + 1;
  if (n != a.nth) return;
  std::fprintf(stderr, "FEDPRESS_CRASH_AT: SIGKILL at %s #%ld\n", kPhaseNames[static_cast<size_t>(p)], n);
  std::fflush(stderr);
  ::raise(SIGKILL);
}

void UpdateStall() {
  static const long stall_ms = [] {
    const char* v = std::getenv("FEDPRESS_STALL_UPDATE_MS");
    if (!v || !*v) return 0L;
    char* end = nullptr;
    const long ms = std::strtol(v, &end, 10);
    if (!end || *end != '\0' || ms < 1 || ms > 10000) {
      std::fprintf(stderr, "FEDPRESS_STALL_UPDATE_MS='%s' ignored: expected 1..10000\n", v);
      return 0L;
    }
    std::fprintf(stderr, "FEDPRESS_STALL_UPDATE_MS=%ld: test-only; every UPDATE is handled %ld ms late\n", ms, ms);
    return ms;
  }();
  if (stall_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(stall_ms));
}

}  // namespace fedpress::server::fault

// /metrics in the Prometheus text exposition format (version 0.0.4).
//
// Series (all prefixed fedpress_):
//   jobs{status}                     gauge    jobs per status
//   rounds_committed_total           counter  committed rounds, all jobs
//   clients_connected                gauge    registered, connected clients
//   bytes_up_raw_total, bytes_up_wire_total, bytes_down_raw_total,
//   bytes_down_wire_total            counter  from the committed rounds' totals
//   participations_total{status}     counter  accepted|rejected|late|timeout
//   updates_rejected_total           counter  = participations_total{status="rejected"}
//   round_duration_seconds           histogram committed rounds' duration_ms
//   http_requests_total{code}        counter  responses sent, by status code
//   events_subscribers               gauge    open /api/events WebSockets
//   events_published_total           counter
// Store aggregates are cached for `cache_ms` (2 s), the rest is read live.
//
// Thread-safety: RequestCounters and MetricsSource are thread-safe;
// RenderMetrics is a pure function.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "server/client_registry.h"
#include "server/events.h"
#include "server/store/store.h"

namespace fedpress::server {

class RequestCounters {
 public:
  void Count(unsigned status);
  // (code, count) for every code seen, ascending.
  std::vector<std::pair<unsigned, uint64_t>> Snapshot() const;

 private:
  std::array<std::atomic<uint64_t>, 600> counts_{};
};

struct MetricsInputs {
  StoreStats stats;
  size_t clients_connected = 0;
  size_t event_subscribers = 0;
  uint64_t events_published = 0;
  std::vector<std::pair<unsigned, uint64_t>> http_requests;
};

std::string RenderMetrics(const MetricsInputs& in);

// The round-duration histogram bounds, in ms.
const std::vector<int64_t>& RoundDurationBoundsMs();

class MetricsSource {
 public:
  // Any pointer may be null (that part is then reported as 0).
  MetricsSource(Store* store, ClientRegistry* registry, const RequestCounters* http,
                const EventBroadcaster* events, int64_t cache_ms = 2000)
      : store_(store), registry_(registry), http_(http), events_(events), cache_ms_(cache_ms) {}
  Result<std::string> Render();
  // Text appended to every rendering (e.g. the transport's flood counters).
  // Set before serving; called from HTTP threads, so it must be thread-safe.
  void SetExtra(std::function<std::string()> extra) { extra_ = std::move(extra); }

 private:
  Store* store_;
  ClientRegistry* registry_;
  const RequestCounters* http_;
  const EventBroadcaster* events_;
  int64_t cache_ms_;
  std::function<std::string()> extra_;
  std::mutex mutex_;
  StoreStats cached_;             // GUARDED_BY(mutex_)
  int64_t cached_steady_ms_ = -1; // GUARDED_BY(mutex_)
};

}  // namespace fedpress::server

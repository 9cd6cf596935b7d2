// FloodGuard: the policy that keeps one peer, or one source, from flooding
// the coordinator with cheap messages. Runs on the transport's socket thread
// (TransportOptions::admit) before a message is queued or decoded.
//
// Every message except UPDATE (REGISTER, HEARTBEAT, BYE, and anything that is
// not a well-formed fedpress envelope, i.e. garbage) costs one token from two
// buckets (server/rate_limiter.h):
//   - its ZeroMQ routing id (one connection's identity), and
//   - its source: the connection's CURVE credential (ZAP User-Id) when there
//     is one, else its remote address, so minting new identities does not
//     escape the limit.
// UPDATEs are bounded instead by the transport's per-peer queued bytes and by
// the job runner (one per selected client and round). Only the message type
// byte is read; nothing is decoded. A refused message is dropped and counted.
//
// Thread-safety: Admit() from one thread (the socket thread); the counters
// may be read from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "server/rate_limiter.h"
#include "server/transport.h"

namespace fedpress::server {

struct FloodGuardOptions {
  TokenBucketOptions per_peer{5, 20, 65536};
  TokenBucketOptions per_source{200, 400, 65536};
};

class FloodGuard {
 public:
  explicit FloodGuard(FloodGuardOptions options);
  FloodGuard(const FloodGuard&) = delete;
  FloodGuard& operator=(const FloodGuard&) = delete;

  // True to deliver the message, false to drop it.
  bool Admit(const InboundMessage& m, int64_t now_ms);

  uint64_t dropped_peer() const { return dropped_peer_.load(std::memory_order_relaxed); }
  uint64_t dropped_source() const { return dropped_source_.load(std::memory_order_relaxed); }
  size_t peers_tracked() const { return peers_tracked_.load(std::memory_order_relaxed); }
  size_t sources_tracked() const { return sources_tracked_.load(std::memory_order_relaxed); }

  // Prometheus text for /metrics: these counters and the transport's
  // inbound drops and queued bytes (fedpress_inbound_*).
  std::string RenderMetrics(const Transport* transport) const;

 private:
  KeyedRateLimiter per_peer_;
  KeyedRateLimiter per_source_;
  std::atomic<uint64_t> dropped_peer_{0}, dropped_source_{0};
  std::atomic<size_t> peers_tracked_{0}, sources_tracked_{0};
};

// True for messages FloodGuard limits: all but a well-formed UPDATE envelope.
bool IsRateLimitedMessage(const InboundMessage& m);

}  // namespace fedpress::server

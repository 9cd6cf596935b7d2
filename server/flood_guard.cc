#include "server/flood_guard.h"

#include "common/protocol.h"

namespace fedpress::server {

FloodGuard::FloodGuard(FloodGuardOptions options) : per_peer_(options.per_peer), per_source_(options.per_source) {}

bool IsRateLimitedMessage(const InboundMessage& m) {
  if (m.frames.empty() || m.frames[0].size() < 4) return true;
  const auto* b = static_cast<const uint8_t*>(m.frames[0].data());
  return !(b[0] == protocol::kMagic0 && b[1] == protocol::kMagic1 && b[2] == protocol::kVersion &&
           b[3] == static_cast<uint8_t>(protocol::MsgType::kUpdate));
}

bool FloodGuard::Admit(const InboundMessage& m, int64_t now_ms) {
  if (!IsRateLimitedMessage(m)) return true;
  bool ok = per_peer_.Allow(m.peer, now_ms);
  if (!ok) {
    dropped_peer_.fetch_add(1, std::memory_order_relaxed);
  } else {
    const std::string source = !m.user_id.empty() ? "key:" + m.user_id : "addr:" + m.source;
    ok = per_source_.Allow(source, now_ms);
    if (!ok) dropped_source_.fetch_add(1, std::memory_order_relaxed);
  }
  peers_tracked_.store(per_peer_.keys(), std::memory_order_relaxed);
  sources_tracked_.store(per_source_.keys(), std::memory_order_relaxed);
  return ok;
}

std::string FloodGuard::RenderMetrics(const Transport* transport) const {
  std::string out;
  if (transport) {
    out += "# HELP fedpress_inbound_dropped_total Client messages dropped on arrival.\n";
    out += "# TYPE fedpress_inbound_dropped_total counter\n";
    out += "fedpress_inbound_dropped_total{reason=\"rate_limit\"} " + std::to_string(transport->dropped_by_policy()) + "\n";
    out += "fedpress_inbound_dropped_total{reason=\"queue_full\"} " + std::to_string(transport->dropped_inbound()) + "\n";
    out += "# HELP fedpress_inbound_busy_notices_total Updates dropped because the queue was full whose sender was told to resend (REJECT 13).\n";
    out += "# TYPE fedpress_inbound_busy_notices_total counter\n";
    out += "fedpress_inbound_busy_notices_total " + std::to_string(transport->overflow_notices()) + "\n";
    out += "# HELP fedpress_inbound_queued_bytes Bytes of received messages waiting for the coordinator.\n";
    out += "# TYPE fedpress_inbound_queued_bytes gauge\n";
    out += "fedpress_inbound_queued_bytes " + std::to_string(transport->queued_inbound_bytes()) + "\n";
  }
  out += "# HELP fedpress_flood_dropped_total Client messages dropped by the rate limits (REGISTER, HEARTBEAT, BYE, garbage).\n";
  out += "# TYPE fedpress_flood_dropped_total counter\n";
  out += "fedpress_flood_dropped_total{limit=\"peer\"} " + std::to_string(dropped_peer()) + "\n";
  out += "fedpress_flood_dropped_total{limit=\"source\"} " + std::to_string(dropped_source()) + "\n";
  out += "# HELP fedpress_flood_tracked Rate-limit buckets currently kept.\n";
  out += "# TYPE fedpress_flood_tracked gauge\n";
  out += "fedpress_flood_tracked{limit=\"peer\"} " + std::to_string(peers_tracked()) + "\n";
  out += "fedpress_flood_tracked{limit=\"source\"} " + std::to_string(sources_tracked()) + "\n";
  return out;
}

}  // namespace fedpress::server

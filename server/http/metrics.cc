#include "server/http/metrics.h"

#include <cstdio>

#include "common/clock.h"

namespace fedpress::server {
namespace {

void Line(std::string& out, const std::string& name, const std::string& labels, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  out += name;
  if (!labels.empty()) out += "{" + labels + "}";
  out += " ";
  out += buf;
  out += "\n";
}

void Line(std::string& out, const std::string& name, const std::string& labels, int64_t v) {
  out += name;
  if (!labels.empty()) out += "{" + labels + "}";
  out += " " + std::to_string(v) + "\n";
}

void Head(std::string& out, const std::string& name, const char* type, const char* help) {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

}  // namespace

void RequestCounters::Count(unsigned status) {
  if (status < counts_.size()) counts_[status].fetch_add(1, std::memory_order_relaxed);
}

std::vector<std::pair<unsigned, uint64_t>> RequestCounters::Snapshot() const {
  std::vector<std::pair<unsigned, uint64_t>> out;
  for (unsigned i = 0; i < counts_.size(); ++i)
    if (auto n = counts_[i].load(std::memory_order_relaxed)) out.emplace_back(i, n);
  return out;
}

const std::vector<int64_t>& RoundDurationBoundsMs() {
  static const std::vector<int64_t> kBounds = {1000, 2000, 5000, 10000, 30000, 60000,
                                               120000, 300000, 600000, 1800000, 3600000};
  return kBounds;
}

std::string RenderMetrics(const MetricsInputs& in) {
  const StoreStats& s = in.stats;
  std::string out;
  Head(out, "fedpress_jobs", "gauge", "Jobs by status.");
  for (const auto& [status, n] : s.jobs_by_status) Line(out, "fedpress_jobs", "status=\"" + status + "\"", n);
  Head(out, "fedpress_rounds_committed_total", "counter", "Committed rounds, all jobs.");
  Line(out, "fedpress_rounds_committed_total", "", s.rounds_committed);
  Head(out, "fedpress_clients_connected", "gauge", "Clients currently registered and connected.");
  Line(out, "fedpress_clients_connected", "", static_cast<int64_t>(in.clients_connected));
  struct {
    const char* name;
    const char* help;
    int64_t v;
  } bytes[] = {
      {"fedpress_bytes_up_raw_total", "Dense fp32 size of accepted updates (committed rounds).", s.bytes_up_raw},
      {"fedpress_bytes_up_wire_total", "Bytes received for accepted updates (committed rounds).", s.bytes_up_wire},
      {"fedpress_bytes_down_raw_total", "Dense size of models sent (committed rounds).", s.bytes_down_raw},
      {"fedpress_bytes_down_wire_total", "Bytes sent for models (committed rounds).", s.bytes_down_wire},
  };
  for (const auto& b : bytes) {
    Head(out, b.name, "counter", b.help);
    Line(out, b.name, "", b.v);
  }
  Head(out, "fedpress_participations_total", "counter", "Client outcomes of round attempts, by status.");
  int64_t rejected = 0;
  for (const auto& [status, n] : s.participations_by_status) {
    Line(out, "fedpress_participations_total", "status=\"" + status + "\"", n);
    if (status == "rejected") rejected = n;
  }
  Head(out, "fedpress_updates_rejected_total", "counter", "Updates refused (malformed, implausible, duplicate...).");
  Line(out, "fedpress_updates_rejected_total", "", rejected);
  Head(out, "fedpress_round_duration_seconds", "histogram", "Duration of committed rounds.");
  for (size_t i = 0; i < s.round_duration_bounds_ms.size() && i < s.round_duration_le.size(); ++i)
    Line(out, "fedpress_round_duration_seconds_bucket",
         "le=\"" + std::to_string(s.round_duration_bounds_ms[i] / 1000) + "\"", s.round_duration_le[i]);
  Line(out, "fedpress_round_duration_seconds_bucket", "le=\"+Inf\"", s.round_duration_count);
  Line(out, "fedpress_round_duration_seconds_sum", "", static_cast<double>(s.round_duration_sum_ms) / 1000.0);
  Line(out, "fedpress_round_duration_seconds_count", "", s.round_duration_count);
  Head(out, "fedpress_http_requests_total", "counter", "HTTP responses sent, by status code.");
  for (const auto& [code, n] : in.http_requests)
    Line(out, "fedpress_http_requests_total", "code=\"" + std::to_string(code) + "\"", static_cast<int64_t>(n));
  Head(out, "fedpress_events_subscribers", "gauge", "Open /api/events WebSockets.");
  Line(out, "fedpress_events_subscribers", "", static_cast<int64_t>(in.event_subscribers));
  Head(out, "fedpress_events_published_total", "counter", "Live events published.");
  Line(out, "fedpress_events_published_total", "", static_cast<int64_t>(in.events_published));
  return out;
}

Result<std::string> MetricsSource::Render() {
  MetricsInputs in;
  {
    std::lock_guard lock(mutex_);
    const int64_t now = SteadyMs();
    if (store_ && (cached_steady_ms_ < 0 || now - cached_steady_ms_ >= cache_ms_)) {
      FP_ASSIGN_OR_RETURN(cached_, store_->Stats(RoundDurationBoundsMs()));
      cached_steady_ms_ = now;
    }
    in.stats = cached_;
  }
  if (registry_) in.clients_connected = registry_->size();
  if (http_) in.http_requests = http_->Snapshot();
  if (events_) {
    in.event_subscribers = events_->subscribers();
    in.events_published = events_->published();
  }
  if (extra_) return RenderMetrics(in) + extra_();
  return RenderMetrics(in);
}

}  // namespace fedpress::server

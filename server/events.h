// EventBroadcaster: fans live events (job, round, participation, client) out
// to every subscriber, e.g. the dashboard's /api/events WebSockets.
//
// An event is one JSON text message:
//   {"type": "round_committed", "job_id": 3, "round": 2, "data": {...}, "ts_ms": 1700000000000}
// `job_id` and `round` are present only for job events (type job_* , round_*,
// participation); `data` is always an object.
//
// Publish never blocks on the network: it serialises the event once, copies
// the subscriber list (weak pointers) under a lock and hands the shared
// message to each subscriber outside it (Beast's chat-multi pattern). A
// subscriber's Deliver must only enqueue (e.g. post to its strand); bounding
// its own queue is its business (see WebSocket sessions in http_server.cc).
//
// Thread-safety: thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace fedpress::server {

class EventSink {
 public:
  virtual ~EventSink() = default;
  // Called from the publishing thread; must not block.
  virtual void Deliver(std::shared_ptr<const std::string> message) = 0;
};

// The JSON text of one event (see above). job_id 0 = not a job event.
std::string EventJson(const std::string& type, int64_t job_id, int64_t round, const nlohmann::json& data,
                      int64_t ts_ms);

class EventBroadcaster {
 public:
  EventBroadcaster() = default;
  EventBroadcaster(const EventBroadcaster&) = delete;
  EventBroadcaster& operator=(const EventBroadcaster&) = delete;

  void Subscribe(const std::shared_ptr<EventSink>& sink);
  void Unsubscribe(const EventSink* sink);
  size_t subscribers() const;
  uint64_t published() const;

  // Serialises and delivers to every live subscriber.
  void Publish(const std::string& type, int64_t job_id, int64_t round, const nlohmann::json& data);
  void PublishRaw(std::shared_ptr<const std::string> message);

 private:
  mutable std::mutex mutex_;
  std::vector<std::weak_ptr<EventSink>> sinks_;  // GUARDED_BY(mutex_)
  uint64_t published_ = 0;                       // GUARDED_BY(mutex_)
};

}  // namespace fedpress::server

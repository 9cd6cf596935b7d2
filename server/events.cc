#include "server/events.h"

#include <algorithm>

#include "common/clock.h"

namespace fedpress::server {

std::string EventJson(const std::string& type, int64_t job_id, int64_t round, const nlohmann::json& data,
                      int64_t ts_ms) {
  nlohmann::json j = {{"type", type}};
  if (job_id != 0) {
    j["job_id"] = job_id;
    j["round"] = round;
  }
  j["data"] = data.is_object() ? data : nlohmann::json::object();
  j["ts_ms"] = ts_ms;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void EventBroadcaster::Subscribe(const std::shared_ptr<EventSink>& sink) {
  std::lock_guard lock(mutex_);
  // Drop expired entries while we are here.
  std::erase_if(sinks_, [](const std::weak_ptr<EventSink>& w) { return w.expired(); });
  sinks_.push_back(sink);
}

void EventBroadcaster::Unsubscribe(const EventSink* sink) {
  std::lock_guard lock(mutex_);
  std::erase_if(sinks_, [sink](const std::weak_ptr<EventSink>& w) {
    auto sp = w.lock();
    return !sp || sp.get() == sink;
  });
}

size_t EventBroadcaster::subscribers() const {
  std::lock_guard lock(mutex_);
  return static_cast<size_t>(std::count_if(sinks_.begin(), sinks_.end(),
                                           [](const std::weak_ptr<EventSink>& w) { return !w.expired(); }));
}

uint64_t EventBroadcaster::published() const {
  std::lock_guard lock(mutex_);
  return published_;
}

void EventBroadcaster::Publish(const std::string& type, int64_t job_id, int64_t round,
                               const nlohmann::json& data) {
  PublishRaw(std::make_shared<const std::string>(EventJson(type, job_id, round, data, NowMs())));
}

void EventBroadcaster::PublishRaw(std::shared_ptr<const std::string> message) {
  std::vector<std::weak_ptr<EventSink>> copy;
  {
    std::lock_guard lock(mutex_);
    ++published_;
    copy = sinks_;
  }
  for (const auto& w : copy)
    if (auto sp = w.lock()) sp->Deliver(message);
}

}  // namespace fedpress::server

#include "server/rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace fedpress::server {

KeyedRateLimiter::KeyedRateLimiter(TokenBucketOptions options) : options_(options) {
  options_.rate_per_s = std::max(options_.rate_per_s, 1e-6);
  options_.burst = std::max(options_.burst, 1.0);
  options_.max_keys = std::max<size_t>(options_.max_keys, 1);
  refill_ms_ = static_cast<int64_t>(std::ceil(options_.burst / options_.rate_per_s * 1000.0));
}

void KeyedRateLimiter::ForgetIdle(int64_t now_ms) {
  // The back is the least recently used; a bucket idle for refill_ms_ is full
  // again, exactly what a new key gets, so forgetting it is invisible.
  while (!lru_.empty() && now_ms - lru_.back().last_ms >= refill_ms_) {
    index_.erase(lru_.back().key);
    lru_.pop_back();
  }
}

bool KeyedRateLimiter::Allow(std::string_view key, int64_t now_ms) {
  ForgetIdle(now_ms);
  auto it = index_.find(key);
  if (it == index_.end()) {
    if (index_.size() >= options_.max_keys) {
      index_.erase(lru_.back().key);
      lru_.pop_back();
      ++evicted_lru_;
    }
    lru_.push_front(Bucket{std::string(key), options_.burst, now_ms});
    it = index_.emplace(lru_.front().key, lru_.begin()).first;
  } else if (it->second != lru_.begin()) {
    lru_.splice(lru_.begin(), lru_, it->second);  // iterators stay valid
  }
  Bucket& b = *it->second;
  const double elapsed_s = static_cast<double>(std::max<int64_t>(0, now_ms - b.last_ms)) / 1000.0;
  b.tokens = std::min(options_.burst, b.tokens + elapsed_s * options_.rate_per_s);
  b.last_ms = std::max(b.last_ms, now_ms);  // a clock going back earns nothing later
  if (b.tokens < 1.0) return false;
  b.tokens -= 1.0;
  return true;
}

}  // namespace fedpress::server

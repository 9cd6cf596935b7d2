// KeyedRateLimiter: one token bucket per key (a peer's routing id, a source
// address, a credential), with a hard bound on the number of keys so a flood
// from many fake identities cannot grow memory. Mechanism only: which
// messages are limited, and under which keys, is FloodGuard's policy
// (server/flood_guard.h).
//
// A bucket holds at most `burst` tokens and gains `rate_per_s` per second;
// Allow() takes one token or says no. A key's bucket is forgotten when it has
// been idle long enough to be full again (so forgetting it changes nothing),
// and, when `max_keys` are tracked, the least recently used bucket makes room
// for a new key. Memory: O(max_keys); each call O(1) amortised.
//
// Thread-safety: not thread-safe; one owner thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>

namespace fedpress::server {

struct TokenBucketOptions {
  double rate_per_s = 5;    // sustained messages per second per key
  double burst = 20;        // bucket size: messages allowed at once
  size_t max_keys = 65536;  // buckets kept at most (least recently used evicted)
};

class KeyedRateLimiter {
 public:
  explicit KeyedRateLimiter(TokenBucketOptions options);
  KeyedRateLimiter(const KeyedRateLimiter&) = delete;
  KeyedRateLimiter& operator=(const KeyedRateLimiter&) = delete;

  // Takes one token from key's bucket at time now_ms (steady clock); false if empty.
  bool Allow(std::string_view key, int64_t now_ms);

  size_t keys() const { return index_.size(); }
  uint64_t evicted_lru() const { return evicted_lru_; }  // dropped to respect max_keys
  const TokenBucketOptions& options() const { return options_; }

 private:
  struct Bucket {
    std::string key;
    double tokens = 0;
    int64_t last_ms = 0;
  };
  void ForgetIdle(int64_t now_ms);

  TokenBucketOptions options_;
  int64_t refill_ms_;  // time for an empty bucket to be full again
  std::list<Bucket> lru_;  // most recently used first
  std::unordered_map<std::string_view, std::list<Bucket>::iterator> index_;  // views into lru_ keys
  uint64_t evicted_lru_ = 0;
};

}  // namespace fedpress::server

// ClientRegistry: the clients connected right now (by ZeroMQ peer id), what
// they told us at REGISTER, and when we last heard from them. The durable
// record of clients lives in the Store; this is the live view.
//
// Thread-safety: thread-safe (internal mutex). The coordinator thread writes;
// HTTP threads read snapshots.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace fedpress::server {

struct LiveClient {
  int64_t client_id = 0;       // Store id
  std::string name;
  std::string peer;            // ZeroMQ routing id
  std::string dataset;
  uint64_t num_samples = 0;
  uint32_t capabilities = 0;
  std::string version;
  int64_t connected_ms = 0;    // wall clock
  int64_t last_seen_steady_ms = 0;
  int64_t last_seen_ms = 0;    // wall clock
  int64_t busy_job = 0;        // job/round it is training for, 0 if idle
  uint32_t busy_round = 0;
  // The broadcast model version it holds (from heartbeats and accepted
  // updates), so the server can send a delta chain instead of the full model.
  int64_t held_job = 0;
  uint32_t held_round = 0;
  uint32_t held_crc = 0;
};

class ClientRegistry {
 public:
  // Adds or replaces the entry for `c.name` (a re-registering client takes
  // over its old entry; its old peer id is forgotten). Returns the old peer id
  // if another connection used this name.
  std::optional<std::string> Upsert(const LiveClient& c);
  std::optional<LiveClient> ByPeer(const std::string& peer) const;
  std::optional<LiveClient> ById(int64_t client_id) const;
  void Touch(const std::string& peer, int64_t steady_ms, int64_t wall_ms);
  void SetBusy(int64_t client_id, int64_t job, uint32_t round);
  void SetHeld(const std::string& peer, int64_t job, uint32_t round, uint32_t crc);
  // Removes and returns the entry of `peer`.
  std::optional<LiveClient> Remove(const std::string& peer);
  // Removes and returns clients not heard from since `cutoff_steady_ms`.
  std::vector<LiveClient> Expire(int64_t cutoff_steady_ms);
  std::vector<LiveClient> Snapshot() const;
  size_t size() const;

 private:
  // Removes `it` and its index entries. REQUIRES: mu_ held.
  std::map<std::string, LiveClient>::iterator EraseLocked(std::map<std::string, LiveClient>::iterator it);

  mutable std::mutex mu_;
  std::map<std::string, LiveClient> by_peer_;  // GUARDED_BY(mu_)
  // Indexes into by_peer_, so lookups by name or id stay O(1) with thousands
  // of clients (names and ids are unique among live entries).
  std::unordered_map<std::string, std::string> peer_by_name_;  // GUARDED_BY(mu_)
  std::unordered_map<int64_t, std::string> peer_by_id_;        // GUARDED_BY(mu_)
};

}  // namespace fedpress::server

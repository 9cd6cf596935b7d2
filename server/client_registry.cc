#include "server/client_registry.h"

namespace fedpress::server {

std::optional<std::string> ClientRegistry::Upsert(const LiveClient& c) {
  std::lock_guard<std::mutex> lock(mu_);
  std::optional<std::string> old_peer;
  for (auto it = by_peer_.begin(); it != by_peer_.end(); ++it) {
    if (it->second.name == c.name && it->first != c.peer) {
      old_peer = it->first;
      by_peer_.erase(it);
      break;
    }
  }
  by_peer_[c.peer] = c;
  return old_peer;
}

std::optional<LiveClient> ClientRegistry::ByPeer(const std::string& peer) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = by_peer_.find(peer);
  if (it == by_peer_.end()) return std::nullopt;
  return it->second;
}

std::optional<LiveClient> ClientRegistry::ById(int64_t client_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [peer, c] : by_peer_)
    if (c.client_id == client_id) return c;
  return std::nullopt;
}

void ClientRegistry::Touch(const std::string& peer, int64_t steady_ms, int64_t wall_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = by_peer_.find(peer);
  if (it == by_peer_.end()) return;
  it->second.last_seen_steady_ms = steady_ms;
  it->second.last_seen_ms = wall_ms;
}

void ClientRegistry::SetBusy(int64_t client_id, int64_t job, uint32_t round) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [peer, c] : by_peer_)
    if (c.client_id == client_id) {
      c.busy_job = job;
      c.busy_round = round;
    }
}

void ClientRegistry::SetHeld(const std::string& peer, int64_t job, uint32_t round, uint32_t crc) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = by_peer_.find(peer);
  if (it == by_peer_.end()) return;
  it->second.held_job = job;
  it->second.held_round = round;
  it->second.held_crc = crc;
}

std::optional<LiveClient> ClientRegistry::Remove(const std::string& peer) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = by_peer_.find(peer);
  if (it == by_peer_.end()) return std::nullopt;
  LiveClient c = it->second;
  by_peer_.erase(it);
  return c;
}

std::vector<LiveClient> ClientRegistry::Expire(int64_t cutoff_steady_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<LiveClient> gone;
  for (auto it = by_peer_.begin(); it != by_peer_.end();) {
    if (it->second.last_seen_steady_ms < cutoff_steady_ms) {
      gone.push_back(it->second);
      it = by_peer_.erase(it);
    } else {
      ++it;
    }
  }
  return gone;
}

std::vector<LiveClient> ClientRegistry::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<LiveClient> out;
  out.reserve(by_peer_.size());
  for (const auto& [peer, c] : by_peer_) out.push_back(c);
  return out;
}

size_t ClientRegistry::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return by_peer_.size();
}

}  // namespace fedpress::server

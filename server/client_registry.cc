#include "server/client_registry.h"

namespace fedpress::server {

std::map<std::string, LiveClient>::iterator ClientRegistry::EraseLocked(
    std::map<std::string, LiveClient>::iterator it) {
  if (auto n = peer_by_name_.find(it->second.name); n != peer_by_name_.end() && n->second == it->first)
    peer_by_name_.erase(n);
  if (auto i = peer_by_id_.find(it->second.client_id); i != peer_by_id_.end() && i->second == it->first)
    peer_by_id_.erase(i);
  return by_peer_.erase(it);
}

std::optional<std::string> ClientRegistry::Upsert(const LiveClient& c) {
  std::lock_guard<std::mutex> lock(mu_);
  std::optional<std::string> old_peer;
  if (auto n = peer_by_name_.find(c.name); n != peer_by_name_.end() && n->second != c.peer) {
    old_peer = n->second;
    if (auto it = by_peer_.find(n->second); it != by_peer_.end()) EraseLocked(it);
  }
  // The same connection under another name (or id) drops its old index entries.
  if (auto it = by_peer_.find(c.peer); it != by_peer_.end()) EraseLocked(it);
  by_peer_[c.peer] = c;
  peer_by_name_[c.name] = c.peer;
  peer_by_id_[c.client_id] = c.peer;
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
  auto i = peer_by_id_.find(client_id);
  if (i == peer_by_id_.end()) return std::nullopt;
  auto it = by_peer_.find(i->second);
  if (it == by_peer_.end()) return std::nullopt;
  return it->second;
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
  auto i = peer_by_id_.find(client_id);
  if (i == peer_by_id_.end()) return;
  auto it = by_peer_.find(i->second);
  if (it == by_peer_.end()) return;
  it->second.busy_job = job;
  it->second.busy_round = round;
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
  EraseLocked(it);
  return c;
}

std::vector<LiveClient> ClientRegistry::Expire(int64_t cutoff_steady_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<LiveClient> gone;
  for (auto it = by_peer_.begin(); it != by_peer_.end();) {
    if (it->second.last_seen_steady_ms < cutoff_steady_ms) {
      gone.push_back(it->second);
      it = EraseLocked(it);
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

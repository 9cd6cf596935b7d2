#include "server/credential_set.h"

#include <charconv>
#include <vector>

#include "common/clock.h"

namespace fedpress::server {

Status CredentialSet::Refresh() {
  std::lock_guard refresh(refresh_mu_);
  auto rows = store_->ListActiveCredentials();
  if (!rows.ok()) return rows.status().WithContext("loading client credentials");
  std::unordered_map<std::string, Credential> by_key;
  std::unordered_map<int64_t, Credential> by_id;
  for (const auto& r : *rows) {
    Credential c{r.id, r.name, r.public_key};
    by_key[c.public_key] = c;
    by_id[c.id] = std::move(c);
  }
  std::lock_guard lock(mu_);
  loaded_steady_ms_ = SteadyMs();
  bool changed = by_id.size() != by_id_.size();
  for (const auto& [id, c] : by_id)
    if (!changed) {
      auto it = by_id_.find(id);
      changed = it == by_id_.end() || it->second.public_key != c.public_key || it->second.name != c.name;
    }
  if (changed) {
    by_key_ = std::move(by_key);
    by_id_ = std::move(by_id);
    ++generation_;
  }
  return Status::OK();
}

Status CredentialSet::RefreshIfOlderThan(int64_t max_age_ms) {
  {
    std::lock_guard lock(mu_);
    if (loaded_steady_ms_ >= 0 && SteadyMs() - loaded_steady_ms_ < max_age_ms) return Status::OK();
  }
  return Refresh();
}

std::optional<Credential> CredentialSet::ActiveByPublicKey(const std::string& public_key) {
  for (int pass = 0; pass < 2; ++pass) {
    {
      std::lock_guard lock(mu_);
      auto it = by_key_.find(public_key);
      if (it != by_key_.end()) return it->second;
      if (pass == 1) return std::nullopt;
      const int64_t now = SteadyMs();
      if (now - miss_window_ms_ >= 1000) {
        miss_window_ms_ = now;
        misses_in_window_ = 0;
      }
      if (misses_in_window_++ >= max_miss_refreshes_per_s_) return std::nullopt;
    }
    // Unknown key: it may have just been enrolled (by the API or by the CLI
    // in another process). Bounded: max_miss_refreshes_per_s store reads.
    (void)Refresh();
  }
  return std::nullopt;
}

std::optional<Credential> CredentialSet::ActiveById(int64_t id) const {
  std::lock_guard lock(mu_);
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return std::nullopt;
  return it->second;
}

std::optional<Credential> CredentialSet::ActiveByUserId(const std::string& user_id) const {
  int64_t id = 0;
  auto [p, ec] = std::from_chars(user_id.data(), user_id.data() + user_id.size(), id);
  if (user_id.empty() || ec != std::errc() || p != user_id.data() + user_id.size() || id <= 0) return std::nullopt;
  return ActiveById(id);
}

size_t CredentialSet::size() const {
  std::lock_guard lock(mu_);
  return by_id_.size();
}

}  // namespace fedpress::server

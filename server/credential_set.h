// CredentialSet: the server's in-memory view of the active (enrolled, not
// revoked) client credentials, loaded from the Store. The ZAP handler asks it
// whether a CURVE public key may connect; the coordinator asks whether the
// credential a message arrived under is still active.
//
// It is refreshed on demand: Refresh() after the API changes credentials,
// RefreshIfOlderThan() from the coordinator's periodic sweep (so a revocation
// made by `fedpress-server revoke` in another process is seen within about a
// second), and a lookup of an unknown key re-reads the store first (so a
// client enrolled a moment ago is let in at once), at most
// `max_miss_refreshes_per_s` times a second whatever unknown clients do.
//
// Thread-safety: thread-safe (a mutex guards the maps; store reads happen
// outside it).
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "common/status.h"
#include "server/store/store.h"

namespace fedpress::server {

struct Credential {
  int64_t id = 0;
  std::string name;
  std::string public_key;  // Z85
};

class CredentialSet {
 public:
  explicit CredentialSet(Store* store, int max_miss_refreshes_per_s = 50)
      : store_(store), max_miss_refreshes_per_s_(max_miss_refreshes_per_s) {}
  CredentialSet(const CredentialSet&) = delete;
  CredentialSet& operator=(const CredentialSet&) = delete;

  // Reloads the active credentials from the store. On error the previous
  // view is kept.
  Status Refresh();
  Status RefreshIfOlderThan(int64_t max_age_ms);

  // The active credential with this public key (Z85), or nullopt.
  std::optional<Credential> ActiveByPublicKey(const std::string& public_key);
  // The active credential with this id, or nullopt (revoked or unknown).
  std::optional<Credential> ActiveById(int64_t id) const;
  // Parses a ZAP User-Id ("credential id" in decimal) and looks it up.
  std::optional<Credential> ActiveByUserId(const std::string& user_id) const;

  // Changes whenever a refresh finds a different set.
  uint64_t generation() const { return generation_.load(); }
  size_t size() const;

 private:
  Store* store_;
  int max_miss_refreshes_per_s_;
  std::mutex refresh_mu_;  // one reload at a time
  mutable std::mutex mu_;
  std::unordered_map<std::string, Credential> by_key_;  // GUARDED_BY(mu_)
  std::unordered_map<int64_t, Credential> by_id_;       // GUARDED_BY(mu_)
  int64_t loaded_steady_ms_ = -1;                       // GUARDED_BY(mu_)
  int64_t miss_window_ms_ = 0;                          // GUARDED_BY(mu_)
  int misses_in_window_ = 0;                            // GUARDED_BY(mu_)
  std::atomic<uint64_t> generation_{0};
};

}  // namespace fedpress::server

// Admin token: creation, hashing, the token file, and the check every
// protected request goes through.
//
// The token is 32 random bytes (OpenSSL RAND_bytes) as 64 hex characters.
// Only its SHA-256 is kept (Store::SetAdminTokenHash); the token itself is
// shown once and written to a 0600 file for scripts. Requests present it as
// `Authorization: Bearer <token>` (the /api/events WebSocket may use
// `?token=`, since browsers cannot set headers on a WebSocket). Hashes are
// compared in constant time.
//
// Thread-safety: AdminAuth is thread-safe (the cached hash is behind a mutex).
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "server/store/store.h"

namespace fedpress::server {

// 32 bytes from the OpenSSL CSPRNG, lowercase hex (64 chars).
Result<std::string> GenerateAdminToken();
// SHA-256 of `s`, lowercase hex.
std::string Sha256Hex(std::string_view s);
// Constant-time equality of two strings of equal length (false otherwise).
bool ConstantTimeEquals(std::string_view a, std::string_view b);

// Writes `token` + "\n" to `path` with mode 0600 (temp file, fsync, rename),
// creating the parent directory.
Status WriteTokenFile(const std::string& path, const std::string& token);

// Makes a new token, stores its hash (replacing any previous one) and writes
// the token file. Returns the token.
Result<std::string> RotateAdminToken(Store* store, const std::string& token_file);

// If the store has no admin token yet, creates one (RotateAdminToken) and
// returns it; returns nullopt when one already exists.
Result<std::optional<std::string>> EnsureAdminToken(Store* store, const std::string& token_file);

// The bearer token of a request: the Authorization header's "Bearer X", else
// (only if allow_query) the `token` query parameter, percent-decoded.
std::optional<std::string> RequestToken(std::string_view authorization_header, std::string_view target,
                                        bool allow_query);

class AdminAuth {
 public:
  // The hash is re-read from the store at most every refresh_ms, so a token
  // rotated by `fedpress-server rotate-token` works without a restart.
  AdminAuth(Store* store, int64_t refresh_ms = 2000) : store_(store), refresh_ms_(refresh_ms) {}
  // Test constructor: a fixed hash, no store.
  explicit AdminAuth(std::string fixed_hash) : store_(nullptr), hash_(std::move(fixed_hash)) {}
  AdminAuth(const AdminAuth&) = delete;
  AdminAuth& operator=(const AdminAuth&) = delete;

  bool Verify(std::string_view token);

 private:
  std::optional<std::string> CurrentHash();

  Store* store_;
  int64_t refresh_ms_ = 2000;
  std::mutex mutex_;
  std::optional<std::string> hash_;  // GUARDED_BY(mutex_)
  int64_t loaded_steady_ms_ = -1;    // GUARDED_BY(mutex_)
};

}  // namespace fedpress::server

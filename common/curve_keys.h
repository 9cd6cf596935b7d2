// CURVE keys for the ZeroMQ link between server and clients: generation,
// validation, and the small text key files that hold them.
//
// Keys are Z85 text (40 characters for 32 bytes), as ZeroMQ prints them. A key
// file is UTF-8 text, one `field = value` per line, `#` comments:
//
//   # fedpress CURVE key file: keep it secret (mode 0600)
//   public-key = <40 chars>
//   secret-key = <40 chars>
//   name = edge-0          (optional: the client name the key is enrolled as)
//   server-key = <40 chars> (optional: the server's public key, to pin)
//
// Files holding a secret key are written with mode 0600 (temp file, fsync,
// rename) and refused when group or others may read them.
//
// Thread-safety: all functions are thread-safe (no shared state).
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace fedpress {

inline constexpr size_t kCurveKeyZ85Length = 40;

struct CurveKeyPair {
  std::string public_key;  // Z85
  std::string secret_key;  // Z85: never log it
};

struct CurveKeyFile {
  CurveKeyPair keys;
  std::string name;        // optional
  std::string server_key;  // optional, Z85
};

// True when `key` is 40 characters of the Z85 alphabet (any such string
// decodes to 32 bytes).
bool IsZ85Key(std::string_view key);

// A new keypair from libsodium's CSPRNG (through libzmq).
Result<CurveKeyPair> GenerateCurveKeyPair();

// The public key belonging to a Z85 secret key.
Result<std::string> CurvePublicKeyOf(std::string_view secret_key);

// 32 raw bytes -> Z85 (for ZAP requests, which carry the key in binary).
std::string Z85EncodeKey(std::string_view raw32);

// Text form of a key file (ends with a newline).
std::string FormatCurveKeyFile(const CurveKeyFile& file);
// Parses and validates: both keys present and Z85, the public key matches
// the secret key, optional fields well-formed, no unknown fields.
// `what` names the source in error messages (a path).
Result<CurveKeyFile> ParseCurveKeyFile(std::string_view text, const std::string& what);

// Writes `file` to `path` with mode 0600, creating the parent directory.
// Refuses to replace an existing file unless `overwrite` (AlreadyExists).
Status WriteCurveKeyFile(const std::string& path, const CurveKeyFile& file, bool overwrite);
// Reads and parses; PermissionDenied if the file is readable by group or
// others (fix: chmod 600), NotFound if it does not exist.
Result<CurveKeyFile> ReadCurveKeyFile(const std::string& path);
// The server's keypair: read from `path`, or generated and written there
// (0600) when the file does not exist. `created` tells which.
Result<CurveKeyFile> LoadOrCreateCurveKeyFile(const std::string& path, bool* created);

}  // namespace fedpress

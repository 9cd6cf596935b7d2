#include "server/credential_cli.h"

#include <charconv>
#include <cstdio>

#include "common/clock.h"
#include "common/curve_keys.h"
#include "common/file_util.h"
#include "common/protocol.h"
#include "server/store/store.h"

namespace fedpress::server {
namespace {

std::unique_ptr<Store> OpenStore(const std::string& db) {
  auto store = Store::Open(StoreOptions{db});
  if (!store.ok()) {
    std::fprintf(stderr, "cannot open database %s: %s\n", db.c_str(), store.status().ToString().c_str());
    return nullptr;
  }
  return std::move(*store);
}

}  // namespace

int ShowServerKeyCommand(const std::string& server_key_file) {
  bool created = false;
  auto key = LoadOrCreateCurveKeyFile(server_key_file, &created);
  if (!key.ok()) {
    std::fprintf(stderr, "server key %s: %s\n", server_key_file.c_str(), key.status().ToString().c_str());
    return 1;
  }
  if (created) std::fprintf(stderr, "created a new server keypair in %s (mode 0600)\n", server_key_file.c_str());
  std::printf("%s\n", key->keys.public_key.c_str());
  return 0;
}

int EnrollCommand(const std::string& db, const std::string& name, const std::string& public_key,
                  const std::string& out_file, const std::string& server_key_file) {
  if (!protocol::IsValidClientName(name)) {
    std::fprintf(stderr, "--name '%s': use 1..64 characters of A-Z a-z 0-9 . _ -\n", name.c_str());
    return 2;
  }
  if (!public_key.empty() && !IsZ85Key(public_key)) {
    std::fprintf(stderr, "--public-key: expected 40 Z85 characters (the line 'fedpress-client keygen' prints)\n");
    return 2;
  }
  if (public_key.empty() && out_file.empty()) {
    std::fprintf(stderr,
                 "enroll needs either --public-key KEY (from 'fedpress-client keygen' on the device: its secret "
                 "never leaves it) or --out FILE (a new keypair is written there, mode 0600, for you to copy to "
                 "the device)\n");
    return 2;
  }
  // The server's keypair, made now if the server never ran (as show-key does),
  // so a key file written by --out always pins the server it belongs to.
  std::string server_key;
  bool created = false;
  auto sk = LoadOrCreateCurveKeyFile(server_key_file, &created);
  if (!sk.ok()) {
    std::fprintf(stderr, "server key %s: %s\n", server_key_file.c_str(), sk.status().ToString().c_str());
    return 1;
  }
  server_key = sk->keys.public_key;
  if (created) std::fprintf(stderr, "created a new server keypair in %s (mode 0600)\n", server_key_file.c_str());
  auto store = OpenStore(db);
  if (!store) return 1;
  std::optional<CurveKeyPair> generated;
  std::string key = public_key;
  if (key.empty()) {
    auto kp = GenerateCurveKeyPair();
    if (!kp.ok()) {
      std::fprintf(stderr, "%s\n", kp.status().ToString().c_str());
      return 1;
    }
    generated = std::move(*kp);
    key = generated->public_key;
    // The file first: if it cannot be written, nothing is enrolled.
    Status st = WriteCurveKeyFile(out_file, CurveKeyFile{*generated, name, server_key}, /*overwrite=*/false);
    if (!st.ok()) {
      std::fprintf(stderr, "--out: %s\n", st.ToString().c_str());
      return 1;
    }
  }
  auto row = store->CreateCredential(name, key, NowMs());
  if (!row.ok()) {
    if (generated) std::remove(out_file.c_str());
    std::fprintf(stderr, "cannot enroll '%s': %s\n", name.c_str(), row.status().message().c_str());
    return row.status().code() == StatusCode::kAlreadyExists ? 3 : 1;
  }
  std::fprintf(stderr, "enrolled credential %lld '%s' (public key %s)%s\n", static_cast<long long>(row->id),
               name.c_str(), key.c_str(),
               generated ? (", key file " + out_file + " (mode 0600): copy it to the device").c_str() : "");
  if (!server_key.empty())
    std::fprintf(stderr, "the client runs: fedpress-client --name %s --server-key %s --key-file FILE ...\n",
                 name.c_str(), server_key.c_str());
  std::printf("%lld\n", static_cast<long long>(row->id));
  return 0;
}

int RevokeCommand(const std::string& db, const std::string& which) {
  auto store = OpenStore(db);
  if (!store) return 1;
  int64_t id = 0;
  auto [p, ec] = std::from_chars(which.data(), which.data() + which.size(), id);
  if (ec != std::errc() || p != which.data() + which.size()) {
    id = 0;
    auto active = store->ListActiveCredentials();
    if (!active.ok()) {
      std::fprintf(stderr, "%s\n", active.status().ToString().c_str());
      return 1;
    }
    for (const auto& c : *active)
      if (c.name == which) id = c.id;
    if (id == 0) {
      std::fprintf(stderr, "no active credential named '%s'\n", which.c_str());
      return 1;
    }
  }
  Status st = store->RevokeCredential(id, NowMs());
  if (!st.ok()) {
    std::fprintf(stderr, "cannot revoke: %s\n", st.message().c_str());
    return 1;
  }
  std::fprintf(stderr, "credential %lld revoked; a running server drops its clients within about a second\n",
               static_cast<long long>(id));
  return 0;
}

int ListCredentialsCommand(const std::string& db) {
  auto store = OpenStore(db);
  if (!store) return 1;
  auto rows = store->ListCredentials();
  if (!rows.ok()) {
    std::fprintf(stderr, "%s\n", rows.status().ToString().c_str());
    return 1;
  }
  std::printf("%-6s %-8s %-24s %s\n", "id", "status", "name", "public key");
  for (const auto& c : *rows)
    std::printf("%-6lld %-8s %-24s %s\n", static_cast<long long>(c.id), c.revoked_ms ? "revoked" : "active",
                c.name.c_str(), c.public_key.c_str());
  return 0;
}

}  // namespace fedpress::server

// The security subcommands of fedpress-server, run against the database and
// key files directly (a running server notices credential changes within
// about a second):
//   show-key     print the server's CURVE public key (creating the keypair)
//   enroll       add a client credential (its public key, or a new keypair
//                written to a 0600 key file for the device)
//   revoke       revoke a credential by id or name
//   credentials  list credentials (public keys only)
// Each returns a process exit code and prints errors to stderr.
//
// Thread-safety: call from main only.
#pragma once

#include <string>

namespace fedpress::server {

int ShowServerKeyCommand(const std::string& server_key_file);
// public_key "" => generate a keypair and write it (with the name and the
// server key, if server_key_file exists) to `out_file` (required then).
int EnrollCommand(const std::string& db, const std::string& name, const std::string& public_key,
                  const std::string& out_file, const std::string& server_key_file);
// `which`: a credential id, or the name of an active credential.
int RevokeCommand(const std::string& db, const std::string& which);
int ListCredentialsCommand(const std::string& db);

}  // namespace fedpress::server

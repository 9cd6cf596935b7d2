// REST routes for client credentials (CURVE enrollment), under
// /api/credentials: enroll (POST), list (GET), show (GET /{id}), revoke
// (DELETE /{id}). Only public keys are stored and shown; a keypair generated
// by the server is returned once, in the enrollment response, and never kept.
// The router requires the admin token on these routes even with
// --public-read. Documented in docs/api.md.
//
// Thread-safety: safe from many threads (Store is thread-safe).
#pragma once

#include "server/http/api.h"

namespace fedpress::server {

// REQUIRES: the target's path starts with /api/credentials.
HttpResponse HandleCredentialsRequest(const ApiContext& ctx, const HttpRequest& req);

}  // namespace fedpress::server

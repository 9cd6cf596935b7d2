// The whole HTTP surface as plain functions (no sockets): which requests need
// the admin token, and where each goes.
//
//   /healthz                 public                     -> API
//   /api/events (upgrade)    token (?token= allowed)    -> WebSocket (CheckEventsUpgrade)
//   /api/*, /metrics         token; reads are public with --public-read
//   anything else            public, GET/HEAD only      -> StaticSite (dashboard)
//
// Mutating methods (anything but GET, HEAD, OPTIONS) always need the token. A
// token that is present but wrong is a 401 even where none is needed, so a
// page with a stale token finds out. 401 bodies say where the token is.
//
// Thread-safety: safe from many threads (everything referenced is).
#pragma once

#include <optional>
#include <string>

#include "server/http/api.h"
#include "server/http/auth.h"
#include "server/http/metrics.h"
#include "server/http/static_files.h"

namespace fedpress::server {

struct RouterContext {
  ApiContext api;
  const StaticSite* site = nullptr;  // null: "/" is a 404
  AdminAuth* auth = nullptr;         // null: every protected request is refused
  bool public_read = false;
  MetricsSource* metrics = nullptr;  // null: /metrics is a 404
  std::string token_file;            // named in 401 messages
};

HttpResponse HandleHttpRequest(const RouterContext& ctx, const HttpRequest& req);

// For a WebSocket upgrade request: nullopt to accept it as the /api/events
// feed, else the response to send instead (404 elsewhere, 401 without token).
std::optional<HttpResponse> CheckEventsUpgrade(const RouterContext& ctx, const HttpRequest& req);

}  // namespace fedpress::server

// The REST API as a plain function from request to response (no sockets), so
// every route, validation and error path is unit-testable. Routes and JSON
// shapes are documented in docs/api.md.
//
// Thread-safety: HandleApiRequest is safe to call from many threads at once
// (Store and ClientRegistry are thread-safe).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/beast/http.hpp>

#include "common/job_spec.h"
#include "server/client_registry.h"
#include "server/storage_health.h"
#include "server/store/store.h"

namespace fedpress::server {

namespace http = boost::beast::http;
using HttpRequest = http::request<http::string_body>;
using HttpResponse = http::response<http::string_body>;

struct ApiContext {
  Store* store = nullptr;
  ClientRegistry* registry = nullptr;
  std::string state_dir;
  std::function<void()> on_jobs_changed;        // wake the job runner
  CompressionValidator validate_compression;    // empty: only "none"
  const StorageHealth* storage_health = nullptr; // /healthz reports it; may be null
  JobSpecLimits job_limits;                     // --max-round-memory
  // Live events raised by the API (job_created; job_cancelled for a queued
  // job, which the runner never sees): type, job id, data. May be empty.
  std::function<void(const std::string&, int64_t, const nlohmann::json&)> on_event;
  // Client credentials (/api/credentials): the server's CURVE public key,
  // returned on enrollment ("" with --insecure), and a hook called after a
  // credential is enrolled or revoked (the server refreshes its ZAP view).
  std::string server_public_key;
  std::function<void()> on_credentials_changed;
};

HttpResponse HandleApiRequest(const ApiContext& ctx, const HttpRequest& req);

// A JSON error response: {"error": message} (+ "fields" when given).
HttpResponse JsonError(http::status status, const std::string& message, unsigned version,
                       const nlohmann::json& fields = nullptr);

// Helpers shared by the API's route handlers (api.cc, credentials_api.cc):
// a JSON body response (no-store), 405 with an Allow header, the non-empty
// segments of a target's path (query dropped), and a positive decimal id.
HttpResponse JsonResponse(http::status status, const nlohmann::json& body, unsigned version);
HttpResponse MethodNotAllowed(std::string_view allowed, unsigned version);
std::vector<std::string_view> SplitPath(std::string_view target);
std::optional<int64_t> ParseId(std::string_view s);

}  // namespace fedpress::server

#include "server/http/credentials_api.h"

#include <optional>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/curve_keys.h"
#include "common/protocol.h"
#include "server/http/api.h"

namespace fedpress::server {
namespace {

using nlohmann::json;

json CredentialJson(const CredentialRow& c, const ClientRegistry* registry) {
  bool connected = false;
  if (registry && !c.revoked_ms)
    for (const auto& live : registry->Snapshot())
      if (live.name == c.name) connected = true;
  return {{"id", c.id},
          {"name", c.name},
          {"public_key", c.public_key},
          {"status", c.revoked_ms ? "revoked" : "active"},
          {"created_ms", c.created_ms},
          {"revoked_ms", c.revoked_ms ? json(*c.revoked_ms) : json()},
          {"connected", connected}};
}

HttpResponse Enroll(const ApiContext& ctx, const HttpRequest& req) {
  const unsigned v = req.version();
  auto body = json::parse(req.body(), nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_object())
    return JsonError(http::status::bad_request, "request body must be a JSON object {name, public_key?}", v);
  json fields = json::array();
  std::string name, public_key;
  for (const auto& [k, val] : body.items())
    if (k != "name" && k != "public_key")
      fields.push_back({{"field", k}, {"message", "unknown field (expected name, public_key)"}});
  if (!body.contains("name") || !body["name"].is_string())
    fields.push_back({{"field", "name"}, {"message", "required string"}});
  else if (name = body["name"].get<std::string>(); !protocol::IsValidClientName(name))
    fields.push_back({{"field", "name"}, {"message", "1..64 characters of A-Z a-z 0-9 . _ -"}});
  if (body.contains("public_key") && !body["public_key"].is_null()) {
    if (!body["public_key"].is_string() || !IsZ85Key(body["public_key"].get<std::string>()))
      fields.push_back({{"field", "public_key"},
                        {"message", "a CURVE public key: 40 Z85 characters (fedpress-client keygen prints one)"}});
    else
      public_key = body["public_key"].get<std::string>();
  }
  if (!fields.empty()) return JsonError(http::status::bad_request, "invalid credential", v, fields);

  // No key given: make a keypair here and hand the secret back once.
  std::optional<CurveKeyPair> generated;
  if (public_key.empty()) {
    auto kp = GenerateCurveKeyPair();
    if (!kp.ok()) return JsonError(http::status::internal_server_error, kp.status().message(), v);
    generated = std::move(*kp);
    public_key = generated->public_key;
  }
  auto row = ctx.store->CreateCredential(name, public_key, NowMs());
  if (!row.ok()) {
    if (row.status().code() == StatusCode::kAlreadyExists)
      return JsonError(http::status::conflict, row.status().message(), v);
    return JsonError(http::status::internal_server_error, "storage error: " + row.status().message(), v);
  }
  if (ctx.on_credentials_changed) ctx.on_credentials_changed();
  if (ctx.on_event) ctx.on_event("credential_enrolled", 0, {{"id", row->id}, {"name", row->name}});
  json out = CredentialJson(*row, nullptr);
  out["server_key"] = ctx.server_public_key.empty() ? json() : json(ctx.server_public_key);
  if (generated) {
    // The only copy of the secret: not stored, not logged.
    out["key_file"] = FormatCurveKeyFile(CurveKeyFile{*generated, name, ctx.server_public_key});
  }
  auto res = JsonResponse(http::status::created, out, v);
  res.set(http::field::location, "/api/credentials/" + std::to_string(row->id));
  return res;
}

}  // namespace

HttpResponse HandleCredentialsRequest(const ApiContext& ctx, const HttpRequest& req) {
  const unsigned v = req.version();
  const auto method = req.method();
  const bool is_get = method == http::verb::get || method == http::verb::head;
  auto parts = SplitPath(req.target());  // "api", "credentials", ...
  if (parts.size() == 2) {
    if (method == http::verb::post) return Enroll(ctx, req);
    if (!is_get) return MethodNotAllowed("GET, POST", v);
    auto rows = ctx.store->ListCredentials();
    if (!rows.ok()) return JsonError(http::status::internal_server_error, "storage error: " + rows.status().message(), v);
    json out = json::array();
    for (const auto& c : *rows) out.push_back(CredentialJson(c, ctx.registry));
    return JsonResponse(http::status::ok, out, v);
  }
  if (parts.size() != 3) return JsonError(http::status::not_found, "no such route: " + std::string(req.target()), v);
  const std::optional<int64_t> parsed = ParseId(parts[2]);
  if (!parsed) return JsonError(http::status::not_found, "credential id must be a positive integer", v);
  const int64_t id = *parsed;
  auto row = ctx.store->GetCredential(id);
  if (!row.ok()) return JsonError(http::status::internal_server_error, "storage error: " + row.status().message(), v);
  if (!row->has_value()) return JsonError(http::status::not_found, "no credential " + std::to_string(id), v);
  if (is_get) return JsonResponse(http::status::ok, CredentialJson(**row, ctx.registry), v);
  if (method != http::verb::delete_) return MethodNotAllowed("GET, DELETE", v);
  Status st = ctx.store->RevokeCredential(id, NowMs());
  if (st.code() == StatusCode::kFailedPrecondition) return JsonError(http::status::conflict, st.message(), v);
  if (!st.ok()) return JsonError(http::status::internal_server_error, "storage error: " + st.message(), v);
  // The running server drops the credential's clients right away.
  if (ctx.on_credentials_changed) ctx.on_credentials_changed();
  if (ctx.on_event) ctx.on_event("credential_revoked", 0, {{"id", id}, {"name", (*row)->name}});
  auto after = ctx.store->GetCredential(id);
  return JsonResponse(http::status::ok,
              after.ok() && after->has_value() ? CredentialJson(**after, nullptr) : json{{"id", id}, {"status", "revoked"}},
              v);
}

}  // namespace fedpress::server

#include "server/http/router.h"

namespace fedpress::server {
namespace {

std::string_view PathOf(std::string_view target) {
  if (auto q = target.find_first_of("?#"); q != std::string_view::npos) target = target.substr(0, q);
  return target;
}

// First path segment ("" for "/"), ignoring repeated slashes.
std::string_view FirstSegment(std::string_view path) {
  size_t i = 0;
  while (i < path.size() && path[i] == '/') ++i;
  size_t j = path.find('/', i);
  return path.substr(i, (j == std::string_view::npos ? path.size() : j) - i);
}

bool IsEventsPath(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  // Tolerate repeated slashes as the API does.
  std::string norm;
  for (char c : path)
    if (!(c == '/' && !norm.empty() && norm.back() == '/')) norm.push_back(c);
  return norm == "/api/events";
}

bool IsCredentialsPath(std::string_view path) {
  size_t i = 0;
  while (i < path.size() && path[i] == '/') ++i;
  path.remove_prefix(i);
  if (path.rfind("api/", 0) != 0) return false;
  path.remove_prefix(4);
  while (!path.empty() && path.front() == '/') path.remove_prefix(1);
  return path.rfind("credentials", 0) == 0 && (path.size() == 11 || path[11] == '/');
}

bool IsMutating(http::verb m) {
  return m != http::verb::get && m != http::verb::head && m != http::verb::options;
}

std::optional<HttpResponse> Authorize(const RouterContext& ctx, const HttpRequest& req, bool allow_query) {
  // Client credentials are admin-only even with --public-read.
  const bool needed = IsMutating(req.method()) || !ctx.public_read || IsCredentialsPath(PathOf(req.target()));
  auto token = RequestToken(req[http::field::authorization], req.target(), allow_query);
  if (!token && !needed) return std::nullopt;
  if (token && ctx.auth && ctx.auth->Verify(*token)) return std::nullopt;
  std::string how = "send the admin token as 'Authorization: Bearer <token>'";
  if (allow_query) how += " (or ?token=<token> on /api/events)";
  how += "; it is in " + (ctx.token_file.empty() ? std::string("the admin-token file") : ctx.token_file) +
         " (written at first start; 'fedpress-server rotate-token' makes a new one)";
  auto res = JsonError(http::status::unauthorized,
                       std::string(token ? "invalid admin token" : "missing admin token") + ": " + how,
                       req.version());
  res.set(http::field::www_authenticate, "Bearer realm=\"fedpress\"");
  return res;
}

}  // namespace

HttpResponse HandleHttpRequest(const RouterContext& ctx, const HttpRequest& req) {
  const std::string_view path = PathOf(req.target());
  const std::string_view first = FirstSegment(path);
  if (first == "healthz") return HandleApiRequest(ctx.api, req);
  if (first == "api" || first == "metrics") {
    const bool events = IsEventsPath(path);
    if (auto denied = Authorize(ctx, req, events)) return *denied;
    if (events) {
      if (req.method() != http::verb::get && req.method() != http::verb::head) {
        auto res = JsonError(http::status::method_not_allowed, "method not allowed; use GET", req.version());
        res.set(http::field::allow, "GET");
        return res;
      }
      auto res = JsonError(http::status::upgrade_required,
                           "/api/events is a WebSocket: connect with ws:// (or wss://)", req.version());
      res.set(http::field::upgrade, "websocket");
      return res;
    }
    if (first == "metrics") {
      // Exactly /metrics (trailing slashes tolerated).
      std::string_view rest = path.substr(path.find("metrics") + 7);
      if (rest.find_first_not_of('/') != std::string_view::npos || !ctx.metrics)
        return JsonError(http::status::not_found, "no such route: " + std::string(req.target()), req.version());
      if (req.method() != http::verb::get && req.method() != http::verb::head) {
        auto res = JsonError(http::status::method_not_allowed, "method not allowed; use GET", req.version());
        res.set(http::field::allow, "GET");
        return res;
      }
      auto text = ctx.metrics->Render();
      if (!text.ok())
        return JsonError(http::status::internal_server_error, "storage error: " + text.status().message(),
                         req.version());
      HttpResponse res{http::status::ok, req.version()};
      res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
      res.set(http::field::cache_control, "no-store");
      res.body() = std::move(*text);
      res.prepare_payload();
      return res;
    }
    return HandleApiRequest(ctx.api, req);
  }
  if (!ctx.site) return JsonError(http::status::not_found, "no such route: " + std::string(req.target()), req.version());
  return ctx.site->Handle(req);
}

std::optional<HttpResponse> CheckEventsUpgrade(const RouterContext& ctx, const HttpRequest& req) {
  if (!IsEventsPath(PathOf(req.target())))
    return JsonError(http::status::not_found,
                     "no WebSocket at " + std::string(req.target()) + " (the event feed is /api/events)",
                     req.version());
  if (auto denied = Authorize(ctx, req, /*allow_query=*/true)) return denied;
  return std::nullopt;
}

}  // namespace fedpress::server

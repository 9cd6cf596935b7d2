#include "server/http/static_files.h"

#include <filesystem>
#include <system_error>

#include "common/file_util.h"

namespace fedpress::server {
namespace {

namespace fs = std::filesystem;

constexpr uint64_t kMaxFileBytes = 64ull << 20;

constexpr std::string_view kHelpPage = R"(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>fedpress</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto; padding: 0 1em">
<h1>fedpress</h1>
<p>The server is running, but the dashboard has not been built.</p>
<p>Build it with <code>make web</code> (or <code>cd web &amp;&amp; npm ci &amp;&amp; npm run build</code>)
and restart the server, or point it at a built copy with <code>--web-root DIR</code>.</p>
<p>The REST API is at <a href="api/jobs">/api/jobs</a> (see docs/api.md); it needs the admin token
(<code>Authorization: Bearer &lt;token&gt;</code>) from the token file in the state directory.</p>
</body></html>
)";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

HttpResponse TextResponse(http::status status, std::string_view type, std::string body, unsigned v) {
  HttpResponse res{status, v};
  res.set(http::field::content_type, type);
  res.set(http::field::cache_control, "no-cache");
  res.set("X-Content-Type-Options", "nosniff");
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

HttpResponse NotFound(unsigned v) {
  return TextResponse(http::status::not_found, "text/plain; charset=utf-8", "not found\n", v);
}

}  // namespace

std::string_view ContentTypeFor(std::string_view name) {
  auto dot = name.rfind('.');
  if (dot == std::string_view::npos) return "application/octet-stream";
  std::string ext(name.substr(dot + 1));
  for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  static const std::pair<std::string_view, std::string_view> kTypes[] = {
      {"html", "text/html; charset=utf-8"},   {"htm", "text/html; charset=utf-8"},
      {"js", "text/javascript; charset=utf-8"}, {"mjs", "text/javascript; charset=utf-8"},
      {"css", "text/css; charset=utf-8"},     {"json", "application/json"},
      {"map", "application/json"},            {"svg", "image/svg+xml"},
      {"png", "image/png"},                   {"jpg", "image/jpeg"},
      {"jpeg", "image/jpeg"},                 {"gif", "image/gif"},
      {"webp", "image/webp"},                 {"ico", "image/x-icon"},
      {"woff", "font/woff"},                  {"woff2", "font/woff2"},
      {"ttf", "font/ttf"},                    {"txt", "text/plain; charset=utf-8"},
      {"wasm", "application/wasm"},           {"webmanifest", "application/manifest+json"},
  };
  for (const auto& [e, t] : kTypes)
    if (ext == e) return t;
  return "application/octet-stream";
}

std::optional<std::string> DecodeUrlPath(std::string_view path) {
  std::string out;
  out.reserve(path.size());
  for (size_t i = 0; i < path.size(); ++i) {
    char c = path[i];
    if (c == '%') {
      if (i + 2 >= path.size()) return std::nullopt;
      int hi = HexValue(path[i + 1]), lo = HexValue(path[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      c = static_cast<char>(hi * 16 + lo);
      if (c == '/') return std::nullopt;  // an encoded slash is never a path separator
      i += 2;
    }
    if (c == '\0' || c == '\\') return std::nullopt;
    out.push_back(c);
  }
  return out;
}

StaticSite::StaticSite(std::string root) {
  std::error_code ec;
  if (!root.empty()) {
    auto canon = fs::canonical(root, ec);
    if (!ec) root_ = canon.string();
  }
  available_ = !root_.empty() && fs::is_regular_file(fs::path(root_) / "index.html", ec);
}

HttpResponse StaticSite::ServeFile(const std::string& path, std::string_view rel, unsigned v) const {
  auto bytes = ReadFile(path, kMaxFileBytes);
  if (!bytes.ok()) return NotFound(v);
  HttpResponse res{http::status::ok, v};
  res.set(http::field::content_type, ContentTypeFor(path));
  // Vite puts content-hashed files under assets/: their name changes with
  // their content, so they can be cached for good. Everything else
  // (index.html, which names the current assets) must be revalidated.
  if (rel.rfind("assets/", 0) == 0)
    res.set(http::field::cache_control, "public, max-age=31536000, immutable");
  else
    res.set(http::field::cache_control, "no-cache");
  res.set("X-Content-Type-Options", "nosniff");
  res.set("Referrer-Policy", "no-referrer");
  res.body().assign(reinterpret_cast<const char*>(bytes->data()), bytes->size());
  res.prepare_payload();
  return res;
}

HttpResponse StaticSite::Handle(const HttpRequest& req) const {
  const unsigned v = req.version();
  if (req.method() != http::verb::get && req.method() != http::verb::head) {
    auto res = JsonError(http::status::method_not_allowed, "method not allowed; use GET", v);
    res.set(http::field::allow, "GET, HEAD");
    return res;
  }
  std::string_view target = req.target();
  if (auto q = target.find_first_of("?#"); q != std::string_view::npos) target = target.substr(0, q);
  if (target.empty() || target.front() != '/') return NotFound(v);
  auto decoded = DecodeUrlPath(target);
  if (!decoded) return NotFound(v);

  // Segments: reject ".", "..", dot-files; collapse empty ones.
  std::string rel;
  std::string_view last;
  std::string_view d = *decoded;
  size_t i = 0;
  while (i < d.size()) {
    while (i < d.size() && d[i] == '/') ++i;
    size_t j = d.find('/', i);
    if (j == std::string_view::npos) j = d.size();
    if (j > i) {
      std::string_view seg = d.substr(i, j - i);
      if (seg.front() == '.') return NotFound(v);  // ".", "..", ".env", ...
      if (!rel.empty()) rel += '/';
      rel += seg;
      last = seg;
    }
    i = j;
  }
  const bool has_extension = last.find('.') != std::string_view::npos;

  if (!available_) {
    if (has_extension) return NotFound(v);
    return TextResponse(http::status::ok, "text/html; charset=utf-8", std::string(kHelpPage), v);
  }
  const std::string index = root_ + "/index.html";
  if (rel.empty() || rel == "index.html") return ServeFile(index, "index.html", v);

  std::error_code ec;
  fs::path p = fs::path(root_) / rel;
  if (fs::is_regular_file(p, ec)) {
    // Symlinks must not lead out of the root.
    auto canon = fs::canonical(p, ec);
    if (ec) return NotFound(v);
    const std::string cs = canon.string();
    if (cs.size() <= root_.size() || cs.compare(0, root_.size(), root_) != 0 || cs[root_.size()] != '/')
      return NotFound(v);
    return ServeFile(cs, rel, v);
  }
  if (!has_extension) return ServeFile(index, "index.html", v);  // client route
  return NotFound(v);
}

}  // namespace fedpress::server

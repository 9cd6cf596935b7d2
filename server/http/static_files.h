// The built dashboard (web/dist) served at "/": a plain function from request
// to response, no sockets.
//
// - GET/HEAD only (else 405). Files by extension get their content type;
//   `assets/*` (content-hashed names from Vite) are cacheable for a year,
//   everything else (index.html) is `no-cache`.
// - A path that is not a file and has no extension in its last segment (a
//   client route such as /jobs/3) gets index.html; a missing file with an
//   extension is a 404.
// - Traversal and smuggling are 404: `..` or `.` segments (also
//   percent-encoded), encoded `/` or `\` (%2f, %5c), backslashes, NUL, bad
//   percent escapes, dot-files, and anything whose canonical path leaves the
//   root (symlinks).
// - With no dashboard built (root empty or without index.html), "/" and
//   client routes answer a small HTML page saying how to build it.
//
// Thread-safety: StaticSite is immutable after construction; Handle is safe
// from many threads.
#pragma once

#include <string>
#include <string_view>

#include "server/http/api.h"

namespace fedpress::server {

class StaticSite {
 public:
  // root: the web/dist directory (may be empty or missing: help page).
  explicit StaticSite(std::string root);
  bool available() const { return available_; }
  const std::string& root() const { return root_; }

  HttpResponse Handle(const HttpRequest& req) const;

 private:
  HttpResponse ServeFile(const std::string& path, std::string_view rel, unsigned version) const;
  std::string root_;       // canonical, no trailing slash
  bool available_ = false;  // root/index.html exists
};

// Content type for a file name by its extension ("application/octet-stream" if unknown).
std::string_view ContentTypeFor(std::string_view name);

// Percent-decodes a URL path; nullopt on a malformed escape or when the
// result would contain NUL, '\\' or an encoded '/'.
std::optional<std::string> DecodeUrlPath(std::string_view path);

}  // namespace fedpress::server

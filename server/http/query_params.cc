#include "server/http/query_params.h"

#include <charconv>

namespace fedpress::server {
namespace {

int Hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Result<std::string> Decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      const int hi = i + 1 < s.size() ? Hex(s[i + 1]) : -1;
      const int lo = i + 2 < s.size() ? Hex(s[i + 2]) : -1;
      if (hi < 0 || lo < 0) return Status::InvalidArgument("malformed %-escape in the query");
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(s[i] == '+' ? ' ' : s[i]);
    }
  }
  return out;
}

}  // namespace

Result<std::map<std::string, std::string>> ParseQuery(std::string_view target) {
  std::map<std::string, std::string> out;
  auto q = target.find('?');
  if (q == std::string_view::npos) return out;
  std::string_view query = target.substr(q + 1);
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view kv = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (kv.empty()) continue;
    auto eq = kv.find('=');
    FP_ASSIGN_OR_RETURN(std::string key, Decode(kv.substr(0, eq)));
    FP_ASSIGN_OR_RETURN(std::string value,
                        Decode(eq == std::string_view::npos ? std::string_view() : kv.substr(eq + 1)));
    if (key.empty()) return Status::InvalidArgument("empty parameter name in the query");
    if (out.size() >= kMaxQueryParams)
      return Status::InvalidArgument("more than " + std::to_string(kMaxQueryParams) + " query parameters");
    if (!out.emplace(std::move(key), std::move(value)).second)
      return Status::InvalidArgument("query parameter '" + std::string(kv.substr(0, eq)) + "' given twice");
  }
  return out;
}

Result<std::optional<int64_t>> ParseQueryInt(const std::map<std::string, std::string>& query,
                                             const std::string& key, int64_t min, int64_t max) {
  auto it = query.find(key);
  if (it == query.end()) return std::optional<int64_t>();
  const std::string& s = it->second;
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || v < min || v > max)
    return Status::InvalidArgument(key + " must be an integer from " + std::to_string(min) + " to " +
                                   std::to_string(max));
  return std::optional<int64_t>(v);
}

}  // namespace fedpress::server

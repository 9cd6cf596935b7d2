// Query-string parsing for REST routes: "a=1&b=x%20y" -> {a: "1", b: "x y"}.
// Percent-escapes and '+' are decoded; a malformed escape, a repeated key, or
// more than kMaxQueryParams parameters is an InvalidArgument naming the
// problem. Values are not interpreted here (see ParseQueryInt).
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace fedpress::server {

inline constexpr size_t kMaxQueryParams = 32;

// The query of a request target ("/api/clients?limit=10" -> {limit: "10"}).
Result<std::map<std::string, std::string>> ParseQuery(std::string_view target);

// The integer parameter `key` in [min, max]; nullopt when absent.
// InvalidArgument ("limit must be an integer from 1 to 1000") otherwise.
Result<std::optional<int64_t>> ParseQueryInt(const std::map<std::string, std::string>& query,
                                             const std::string& key, int64_t min, int64_t max);

}  // namespace fedpress::server

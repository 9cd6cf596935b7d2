// The body of GET /api/clients: the Store's known clients joined with the
// live registry (connected, busy, last seen). Without query parameters it is
// the whole list as a JSON array, by name (the original shape). With any of
// limit / offset / status / q / sort it is one page:
//   {"total": matching, "offset": o, "limit": l,
//    "counts": {"known": k, "connected": c, "busy": b}, "clients": [...]}
// so a dashboard with thousands of clients fetches only what it shows.
// Parameters: limit 1..1000 (default 100), offset >= 0, status
// all|connected|disconnected|busy, q (case-insensitive substring of name or
// version, or an exact id), sort name|connected (connected first, then name).
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "server/client_registry.h"
#include "server/store/store.h"

namespace fedpress::server {

inline constexpr int64_t kMaxClientPage = 1000;

struct ClientListQuery {
  int64_t limit = 100;
  int64_t offset = 0;
  std::string status = "all";
  std::string q;
  std::string sort = "name";
};

// nullopt when no paging parameter is present (the whole list is wanted);
// InvalidArgument naming a bad parameter.
Result<std::optional<ClientListQuery>> ParseClientListQuery(const std::map<std::string, std::string>& query);

// One client as JSON; `live` is its registry entry when connected.
nlohmann::json ClientJson(const ClientRow& row, const LiveClient* live);

// The whole list (array) or, with a query, one page (object), as above.
nlohmann::json ClientList(const std::vector<ClientRow>& rows, const std::vector<LiveClient>& live,
                          const std::optional<ClientListQuery>& query);

}  // namespace fedpress::server

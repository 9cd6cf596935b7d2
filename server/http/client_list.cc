#include "server/http/client_list.h"

#include <algorithm>
#include <cctype>
#include <unordered_map>

#include "server/http/query_params.h"

namespace fedpress::server {
namespace {

using nlohmann::json;

std::string Lower(std::string s) {
  for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

json Info(const ClientRow& row) {
  json info = json::parse(row.info_json, nullptr, false);
  return info.is_object() ? info : json::object();
}

}  // namespace

Result<std::optional<ClientListQuery>> ParseClientListQuery(const std::map<std::string, std::string>& query) {
  static const char* kKnown[] = {"limit", "offset", "status", "q", "sort"};
  bool any = false;
  for (const auto& [k, v] : query) {
    bool known = std::find(std::begin(kKnown), std::end(kKnown), k) != std::end(kKnown);
    if (!known && k != "token") return Status::InvalidArgument("unknown query parameter '" + k + "'");
    any = any || known;
  }
  if (!any) return std::optional<ClientListQuery>();
  ClientListQuery out;
  FP_ASSIGN_OR_RETURN(auto limit, ParseQueryInt(query, "limit", 1, kMaxClientPage));
  FP_ASSIGN_OR_RETURN(auto offset, ParseQueryInt(query, "offset", 0, INT64_MAX / 2));
  if (limit) out.limit = *limit;
  if (offset) out.offset = *offset;
  if (auto it = query.find("status"); it != query.end()) {
    if (it->second != "all" && it->second != "connected" && it->second != "disconnected" && it->second != "busy")
      return Status::InvalidArgument("status must be all, connected, disconnected or busy");
    out.status = it->second;
  }
  if (auto it = query.find("sort"); it != query.end()) {
    if (it->second != "name" && it->second != "connected")
      return Status::InvalidArgument("sort must be name or connected");
    out.sort = it->second;
  }
  if (auto it = query.find("q"); it != query.end()) {
    if (it->second.size() > 256) return Status::InvalidArgument("q is longer than 256 characters");
    out.q = Lower(it->second);
  }
  return std::optional<ClientListQuery>(std::move(out));
}

json ClientJson(const ClientRow& c, const LiveClient* live) {
  const bool connected = live != nullptr;
  return {{"id", c.id},
          {"name", c.name},
          {"connected", connected},
          {"busy", connected && live->busy_job != 0},
          {"last_seen_ms", connected ? live->last_seen_ms : c.last_seen_ms},
          {"samples", c.samples},
          {"rounds_done", c.rounds_done},
          {"bytes_up", c.bytes_up},
          {"bytes_down", c.bytes_down},
          {"info", Info(c)}};
}

json ClientList(const std::vector<ClientRow>& rows, const std::vector<LiveClient>& live_list,
                const std::optional<ClientListQuery>& query) {
  std::unordered_map<int64_t, const LiveClient*> live;
  live.reserve(live_list.size());
  for (const auto& c : live_list) live[c.client_id] = &c;
  auto live_of = [&](const ClientRow& r) -> const LiveClient* {
    auto it = live.find(r.id);
    return it == live.end() ? nullptr : it->second;
  };
  if (!query) {
    json out = json::array();
    for (const auto& r : rows) out.push_back(ClientJson(r, live_of(r)));
    return out;
  }
  const ClientListQuery& q = *query;
  int64_t connected = 0, busy = 0;
  std::vector<const ClientRow*> match;
  match.reserve(rows.size());
  for (const auto& r : rows) {
    const LiveClient* l = live_of(r);
    const bool is_busy = l && l->busy_job != 0;
    connected += l != nullptr;
    busy += is_busy;
    if (q.status == "connected" && !l) continue;
    if (q.status == "disconnected" && l) continue;
    if (q.status == "busy" && !is_busy) continue;
    if (!q.q.empty() && Lower(r.name).find(q.q) == std::string::npos && std::to_string(r.id) != q.q) {
      json info = Info(r);
      auto v = info.find("version");
      if (v == info.end() || !v->is_string() || Lower(v->get<std::string>()).find(q.q) == std::string::npos)
        continue;
    }
    match.push_back(&r);
  }
  if (q.sort == "connected")
    std::stable_sort(match.begin(), match.end(), [&](const ClientRow* a, const ClientRow* b) {
      return (live_of(*a) != nullptr) > (live_of(*b) != nullptr);
    });
  json page = json::array();
  const auto total = static_cast<int64_t>(match.size());
  for (int64_t i = q.offset; i < total && i < q.offset + q.limit; ++i) {
    const ClientRow& r = *match[static_cast<size_t>(i)];
    page.push_back(ClientJson(r, live_of(r)));
  }
  return {{"total", total},
          {"offset", q.offset},
          {"limit", q.limit},
          {"counts", {{"known", static_cast<int64_t>(rows.size())}, {"connected", connected}, {"busy", busy}}},
          {"clients", std::move(page)}};
}

}  // namespace fedpress::server

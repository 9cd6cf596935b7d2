#include "server/http/api.h"

#include "server/http/credentials_api.h"

#include <charconv>
#include <optional>
#include <string_view>

#include "common/clock.h"
#include "common/file_util.h"
#include "server/http/client_list.h"
#include "server/http/query_params.h"

namespace fedpress::server {
namespace {

using nlohmann::json;

json Opt(const std::optional<double>& v) { return v ? json(*v) : json(); }
json Opt(const std::optional<int64_t>& v) { return v ? json(*v) : json(); }

// dense bytes / wire bytes; null when nothing was sent.
json Ratio(int64_t raw, int64_t wire) {
  return wire > 0 ? json(static_cast<double>(raw) / static_cast<double>(wire)) : json();
}

json RoundJson(const RoundRow& r) {
  return {{"round", r.round},
          {"ratio_up", Ratio(r.bytes_up_raw, r.bytes_up_wire)},
          {"ratio_down", Ratio(r.bytes_down_raw, r.bytes_down_wire)},
          {"attempts", r.attempts},
          {"accuracy", Opt(r.accuracy)},
          {"loss", Opt(r.loss)},
          {"train_loss", Opt(r.train_loss)},
          {"participants", r.participants},
          {"rejected", r.rejected},
          {"late", r.late},
          {"timeouts", r.timeouts},
          {"samples", r.samples},
          {"bytes_up_raw", r.bytes_up_raw},
          {"bytes_up_wire", r.bytes_up_wire},
          {"bytes_down_raw", r.bytes_down_raw},
          {"bytes_down_wire", r.bytes_down_wire},
          {"started_ms", r.started_ms},
          {"finished_ms", r.finished_ms},
          {"duration_ms", r.duration_ms},
          {"median_norm", Opt(r.median_norm)},
          {"clipped", r.clipped},
          {"outliers", r.outliers}};
}

json JobJson(const JobRow& j, const std::vector<RoundRow>* rounds) {
  json out = {{"id", j.id},
              {"name", j.name},
              {"status", JobStatusName(j.status)},
              {"current_round", j.current_round},
              {"rounds", j.total_rounds},
              {"error", j.error.empty() ? json() : json(j.error)},
              {"created_ms", j.created_ms},
              {"started_ms", Opt(j.started_ms)},
              {"finished_ms", Opt(j.finished_ms)},
              {"updated_ms", j.updated_ms}};
  auto spec = json::parse(j.spec_json, nullptr, false);
  out["spec"] = spec.is_discarded() ? json() : spec;
  if (rounds) {
    int64_t up_raw = 0, up_wire = 0, down_raw = 0, down_wire = 0, rejected = 0, parts = 0;
    std::optional<double> acc, loss;
    for (const auto& r : *rounds) {
      up_raw += r.bytes_up_raw;
      up_wire += r.bytes_up_wire;
      down_raw += r.bytes_down_raw;
      down_wire += r.bytes_down_wire;
      rejected += r.rejected;
      parts += r.participants;
      if (r.accuracy) acc = r.accuracy;
      if (r.loss) loss = r.loss;
    }
    out["accuracy"] = Opt(acc);
    out["loss"] = Opt(loss);
    out["totals"] = {{"rounds_committed", rounds->size()},
                     {"participations", parts},
                     {"rejected", rejected},
                     {"bytes_up_raw", up_raw},
                     {"bytes_up_wire", up_wire},
                     {"bytes_down_raw", down_raw},
                     {"bytes_down_wire", down_wire},
                     {"bytes_saved_up", up_raw - up_wire},
                     {"ratio_up", Ratio(up_raw, up_wire)},
                     {"ratio_down", Ratio(down_raw, down_wire)},
                     {"bytes_saved_down", down_raw - down_wire}};
  }
  return out;
}

HttpResponse StoreError(const Status& st, unsigned version) {
  return JsonError(http::status::internal_server_error, "storage error: " + st.message(), version);
}

HttpResponse CreateJob(const ApiContext& ctx, const HttpRequest& req) {
  const unsigned v = req.version();
  auto body = json::parse(req.body(), nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded())
    return JsonError(http::status::bad_request, "request body is not valid JSON", v);
  auto parsed = ParseJobSpec(body, ctx.validate_compression, ctx.job_limits);
  if (!parsed.spec) {
    json fields = json::array();
    for (const auto& e : parsed.errors) fields.push_back({{"field", e.field}, {"message", e.message}});
    return JsonError(http::status::bad_request, "invalid job spec", v, fields);
  }
  auto id = ctx.store->CreateJob(parsed.spec->name, parsed.spec->ToJson().dump(), parsed.spec->rounds, NowMs());
  if (!id.ok()) return StoreError(id.status(), v);
  if (ctx.on_jobs_changed) ctx.on_jobs_changed();
  if (ctx.on_event)
    ctx.on_event("job_created", *id, {{"name", parsed.spec->name}, {"rounds", parsed.spec->rounds}});
  auto res = JsonResponse(http::status::created, {{"id", *id}}, v);
  res.set(http::field::location, "/api/jobs/" + std::to_string(*id));
  return res;
}

HttpResponse ModelFile(const ApiContext& ctx, int64_t id, unsigned v) {
  std::string path = ctx.state_dir + "/job-" + std::to_string(id) + "/model.pt";
  auto bytes = ReadFile(path, uint64_t{2} << 30);
  if (!bytes.ok()) {
    if (bytes.status().code() == StatusCode::kNotFound)
      return JsonError(http::status::not_found, "job " + std::to_string(id) + " has no committed round yet", v);
    return StoreError(bytes.status(), v);
  }
  HttpResponse res{http::status::ok, v};
  res.set(http::field::content_type, "application/octet-stream");
  res.set(http::field::content_disposition,
          "attachment; filename=\"fedpress-job-" + std::to_string(id) + ".pt\"");
  res.body().assign(reinterpret_cast<const char*>(bytes->data()), bytes->size());
  res.prepare_payload();
  return res;
}

}  // namespace

HttpResponse JsonResponse(http::status status, const json& body, unsigned version) {
  HttpResponse res{status, version};
  res.set(http::field::content_type, "application/json");
  res.set(http::field::cache_control, "no-store");
  res.body() = body.dump(-1, ' ', false, json::error_handler_t::replace);
  res.prepare_payload();
  return res;
}

HttpResponse MethodNotAllowed(std::string_view allowed, unsigned version) {
  auto res = JsonError(http::status::method_not_allowed, "method not allowed; use " + std::string(allowed), version);
  res.set(http::field::allow, allowed);
  return res;
}

std::vector<std::string_view> SplitPath(std::string_view target) {
  if (auto q = target.find('?'); q != std::string_view::npos) target = target.substr(0, q);
  std::vector<std::string_view> parts;
  size_t i = 0;
  while (i < target.size()) {
    while (i < target.size() && target[i] == '/') ++i;
    size_t j = target.find('/', i);
    if (j == std::string_view::npos) j = target.size();
    if (j > i) parts.push_back(target.substr(i, j - i));
    i = j;
  }
  return parts;
}

std::optional<int64_t> ParseId(std::string_view s) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v <= 0) return std::nullopt;
  return v;
}

HttpResponse JsonError(http::status status, const std::string& message, unsigned version,
                       const json& fields) {
  json body = {{"error", message}};
  if (!fields.is_null()) body["fields"] = fields;
  return JsonResponse(status, body, version);
}

HttpResponse HandleApiRequest(const ApiContext& ctx, const HttpRequest& req) {
  const unsigned v = req.version();
  const auto method = req.method();
  auto parts = SplitPath(req.target());
  auto is_get = method == http::verb::get || method == http::verb::head;

  if (parts.size() == 1 && parts[0] == "healthz") {
    if (!is_get) return MethodNotAllowed("GET", v);
    if (auto problem = ctx.storage_health ? ctx.storage_health->problem() : std::nullopt)
      return JsonResponse(http::status::service_unavailable,
                          {{"status", "storage_error"}, {"error", problem->error}, {"since_ms", problem->since_ms}},
                          v);
    return JsonResponse(http::status::ok, {{"status", "ok"}}, v);
  }
  if (parts.empty() || parts[0] != "api")
    return JsonError(http::status::not_found, "no such route: " + std::string(req.target()), v);

  if (parts.size() == 2 && parts[1] == "jobs") {
    if (method == http::verb::post) return CreateJob(ctx, req);
    if (!is_get) return MethodNotAllowed("GET, POST", v);
    auto jobs = ctx.store->ListJobs();
    if (!jobs.ok()) return StoreError(jobs.status(), v);
    json out = json::array();
    for (const auto& j : *jobs) {
      auto rounds = ctx.store->ListRounds(j.id);
      out.push_back(JobJson(j, rounds.ok() ? &*rounds : nullptr));
    }
    return JsonResponse(http::status::ok, out, v);
  }
  if (parts.size() >= 3 && parts[1] == "jobs") {
    auto id = ParseId(parts[2]);
    if (!id) return JsonError(http::status::not_found, "job id must be a positive integer", v);
    auto job = ctx.store->GetJob(*id);
    if (!job.ok()) return StoreError(job.status(), v);
    if (!job->has_value()) return JsonError(http::status::not_found, "no job " + std::to_string(*id), v);
    const JobRow& row = **job;
    if (parts.size() == 3) {
      if (!is_get) return MethodNotAllowed("GET", v);
      auto rounds = ctx.store->ListRounds(*id);
      if (!rounds.ok()) return StoreError(rounds.status(), v);
      return JsonResponse(http::status::ok, JobJson(row, &*rounds), v);
    }
    if (parts.size() == 4 && parts[3] == "rounds") {
      if (!is_get) return MethodNotAllowed("GET", v);
      auto rounds = ctx.store->ListRounds(*id);
      if (!rounds.ok()) return StoreError(rounds.status(), v);
      json out = json::array();
      for (const auto& r : *rounds) out.push_back(RoundJson(r));
      return JsonResponse(http::status::ok, out, v);
    }
    if (parts.size() == 4 && parts[3] == "participations") {
      if (!is_get) return MethodNotAllowed("GET", v);
      auto ps = ctx.store->ListParticipations(*id, std::nullopt);
      if (!ps.ok()) return StoreError(ps.status(), v);
      json out = json::array();
      for (const auto& p : *ps)
        out.push_back({{"round", p.round},         {"attempt", p.attempt},
                       {"client_id", p.client_id}, {"client", p.client_name},
                       {"status", ParticipationStatusName(p.status)},
                       {"reason", p.reason},       {"samples", p.samples},
                       {"train_loss", Opt(p.train_loss)},
                       {"bytes_up_raw", p.bytes_up_raw},
                       {"bytes_up_wire", p.bytes_up_wire},
                       {"bytes_down_raw", p.bytes_down_raw},
                       {"bytes_down_wire", p.bytes_down_wire},
                       {"train_ms", p.train_ms},   {"encode_ms", p.encode_ms},
                       {"decode_ms", p.decode_ms}, {"sent_ms", Opt(p.sent_ms)},
                       {"received_ms", Opt(p.received_ms)},
                       {"update_norm", Opt(p.update_norm)},
                       {"clipped", p.clipped},     {"outlier", p.outlier}});
      return JsonResponse(http::status::ok, out, v);
    }
    if (parts.size() == 4 && parts[3] == "cancel") {
      if (method != http::verb::post) return MethodNotAllowed("POST", v);
      if (IsTerminal(row.status))
        return JsonError(http::status::conflict,
                         "job " + std::to_string(*id) + " is already " + JobStatusName(row.status), v);
      Status st = ctx.store->SetJobStatus(*id, JobStatus::kCancelled, "cancelled by user", NowMs());
      if (st.code() == StatusCode::kFailedPrecondition)  // finished meanwhile
        return JsonError(http::status::conflict, st.message(), v);
      if (!st.ok()) return StoreError(st, v);
      if (ctx.on_jobs_changed) ctx.on_jobs_changed();
      // A running job's cancellation is announced by the runner when it stops.
      if (ctx.on_event && row.status == JobStatus::kQueued)
        ctx.on_event("job_cancelled", *id, {{"by", "api"}});
      return JsonResponse(http::status::ok, {{"id", *id}, {"status", "cancelled"}}, v);
    }
    if (parts.size() == 4 && parts[3] == "model") {
      if (!is_get) return MethodNotAllowed("GET", v);
      return ModelFile(ctx, *id, v);
    }
    return JsonError(http::status::not_found, "no such route: " + std::string(req.target()), v);
  }
  if (parts.size() >= 2 && parts[1] == "credentials") return HandleCredentialsRequest(ctx, req);
  if (parts.size() == 2 && parts[1] == "clients") {
    if (!is_get) return MethodNotAllowed("GET", v);
    // Paging (?limit=&offset=&status=&q=&sort=): server/http/client_list.h.
    auto query = ParseQuery(req.target());
    if (!query.ok()) return JsonError(http::status::bad_request, query.status().message(), v);
    auto paging = ParseClientListQuery(*query);
    if (!paging.ok()) return JsonError(http::status::bad_request, paging.status().message(), v);
    auto rows = ctx.store->ListClients();
    if (!rows.ok()) return StoreError(rows.status(), v);
    return JsonResponse(http::status::ok, ClientList(*rows, ctx.registry->Snapshot(), *paging), v);
  }
  return JsonError(http::status::not_found, "no such route: " + std::string(req.target()), v);
}

}  // namespace fedpress::server

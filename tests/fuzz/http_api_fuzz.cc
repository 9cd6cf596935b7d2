// libFuzzer target: the whole HTTP surface (server/http/router.h: auth,
// REST API, /metrics, static files, the /api/events upgrade gate) on raw
// request bytes, against a real temporary Store, ClientRegistry, web root and
// state directory. Built by CMake with -DFEDPRESS_FUZZ=ON (clang); run by
// `make test-fuzz` (tests/fuzz/run_fuzz.sh) from corpus/http_api_fuzz.
//
// The bytes go through Beast's request parser with the server's limits (as
// HttpSession does), up to 4 pipelined requests per input; each parsed one is
// handed to HandleHttpRequest, or CheckEventsUpgrade for a WebSocket upgrade.
// The admin token is "fuzz-token". Checks, beyond "no crash, leak or UB":
//   - no handler throws (the server would turn that into a 500);
//   - no 5xx: the store is healthy, so a 5xx is a bug;
//   - a JSON response's body is valid JSON;
//   - Content-Length matches the body.
// The store is recreated every 4096 inputs so POSTed jobs cannot grow it
// without bound.
//
// Seeds: FP_FUZZ_SEED_DIR=dir writes a request for every route into dir
// (committed in corpus/http_api_fuzz);
// http_api_fuzz.dict holds routes, headers and JSON keys.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <boost/beast/http.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "server/client_registry.h"
#include "server/compression_validator.h"
#include "server/http/auth.h"
#include "server/http/metrics.h"
#include "server/http/router.h"
#include "server/http/static_files.h"
#include "server/store/store.h"

using namespace fedpress;
using namespace fedpress::server;
namespace fs = std::filesystem;

namespace {

constexpr char kToken[] = "fuzz-token";
// The limits of HttpServerOptions' defaults.
constexpr uint64_t kBodyLimit = 1 << 20;
constexpr uint32_t kHeaderLimit = 16 * 1024;
constexpr size_t kTargetLimit = 4096;

void WriteFile(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

void Check(bool ok, const char* what, const std::string& detail) {
  if (ok) return;
  std::fprintf(stderr, "http_api_fuzz: %s: %s\n", what, detail.c_str());
  std::abort();
}

// Everything the handlers touch; one per process, rebuilt now and then.
class World {
 public:
  World() {
    const char* shm = "/dev/shm";
    fs::path base = (::access(shm, W_OK) == 0) ? fs::path(shm) : fs::temp_directory_path();
    std::string tmpl = (base / "fp_http_fuzz_XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) std::abort();
    dir_ = tmpl;
    WriteFile(dir_ / "web/index.html", "<!doctype html><div id=\"app\"></div>");
    WriteFile(dir_ / "web/assets/index-abc.js", "console.log(1)");
    WriteFile(dir_ / "web/favicon.svg", "<svg/>");
    WriteFile(dir_ / "secret.txt", "outside the web root");
    WriteFile(dir_ / "state/job-1/model.pt", std::string(1000, 'm'));
    site_ = std::make_unique<StaticSite>((dir_ / "web").string());
    auth_ = std::make_unique<AdminAuth>(Sha256Hex(kToken));
    registry_.Upsert(LiveClient{.client_id = 1, .name = "edge-0", .peer = "p0", .dataset = "fashion-mnist",
                                .num_samples = 600});
    Reset();
  }
  ~World() {
    metrics_.reset();
    store_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // A fresh store with a little history: two jobs, a committed round,
  // participations and clients.
  void Reset() {
    metrics_.reset();
    store_.reset();
    std::error_code ec;
    fs::remove_all(dir_ / "db", ec);
    auto s = Store::Open({(dir_ / "db/fedpress.db").string()});
    if (!s.ok()) std::abort();
    store_ = std::move(*s);
    const int64_t now = NowMs();
    auto job = store_->CreateJob("first", R"({"name":"first","model":"cnn","rounds":2})", 2, now);
    (void)store_->CreateJob("second", R"({"name":"second","model":"mlp","rounds":5})", 5, now);
    auto client = store_->UpsertClient("edge-0", 600, R"({"dataset":"fashion-mnist"})", now);
    (void)store_->UpsertClient("edge-1", 600, "not json", now);
    if (!job.ok() || !client.ok()) std::abort();
    (void)store_->SetJobStatus(*job, JobStatus::kRunning, "", now);
    RoundRow r;
    r.job_id = *job;
    r.round = 1;
    r.accuracy = 0.8;
    r.participants = 1;
    r.bytes_up_raw = 1000;
    r.bytes_up_wire = 10;
    (void)store_->CommitRound(r, false, now);
    ParticipationRow p;
    p.job_id = *job;
    p.round = 1;
    p.client_id = *client;
    p.reason = "ok";
    (void)store_->RecordParticipation(p);
    metrics_ = std::make_unique<MetricsSource>(store_.get(), &registry_, &counters_, nullptr, 0);
    ctx_ = RouterContext{};
    ctx_.api.store = store_.get();
    ctx_.api.registry = &registry_;
    ctx_.api.state_dir = (dir_ / "state").string();
    ctx_.api.on_jobs_changed = [] {};
    ctx_.api.validate_compression = MakeCompressionValidator();
    ctx_.api.on_event = [](const std::string&, int64_t, const nlohmann::json&) {};
    ctx_.site = site_.get();
    ctx_.auth = auth_.get();
    ctx_.metrics = metrics_.get();
    ctx_.token_file = (dir_ / "state/admin-token").string();
    runs_ = 0;
  }

  const RouterContext& ctx() {
    if (++runs_ > 4096) Reset();
    return ctx_;
  }
  RequestCounters& counters() { return counters_; }

 private:
  fs::path dir_;
  std::unique_ptr<StaticSite> site_;
  std::unique_ptr<AdminAuth> auth_;
  ClientRegistry registry_;
  RequestCounters counters_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<MetricsSource> metrics_;
  RouterContext ctx_;
  int runs_ = 0;
};

World* g_world = nullptr;

void CheckResponse(const HttpResponse& res, const HttpRequest& req) {
  const std::string what = std::string(req.method_string()) + " " + std::string(req.target());
  Check(res.result_int() >= 100 && res.result_int() < 500, "5xx or bad status",
        std::to_string(res.result_int()) + " for " + what + ": " + res.body());
  if (auto len = res.find(http::field::content_length); len != res.end())
    Check(len->value() == std::to_string(res.body().size()), "Content-Length differs from the body", what);
  if (res[http::field::content_type] == "application/json")
    Check(!nlohmann::json::parse(res.body(), nullptr, false).is_discarded(), "invalid JSON body", what);
}

void WriteSeeds(const std::string& dir) {
  const std::string auth = std::string("Authorization: Bearer ") + kToken + "\r\n";
  auto post = [&](const std::string& target, const std::string& body) {
    return "POST " + target + " HTTP/1.1\r\nHost: x\r\n" + auth + "Content-Type: application/json\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body;
  };
  auto get = [&](const std::string& target, bool with_token = true) {
    return "GET " + target + " HTTP/1.1\r\nHost: x\r\n" + (with_token ? auth : "") + "\r\n";
  };
  const std::vector<std::pair<std::string, std::string>> seeds = {
      {"healthz", get("/healthz", false)},
      {"jobs", get("/api/jobs")},
      {"jobs_no_token", get("/api/jobs", false)},
      {"jobs_bad_token", "GET /api/jobs HTTP/1.1\r\nAuthorization: Bearer nope\r\n\r\n"},
      {"job", get("/api/jobs/1")},
      {"rounds", get("/api/jobs/1/rounds")},
      {"participations", get("/api/jobs/1/participations")},
      {"model", get("/api/jobs/1/model")},
      {"model_missing", get("/api/jobs/2/model")},
      {"clients", get("/api/clients")},
      {"metrics", get("/metrics")},
      {"head_job", "HEAD /api/jobs/1 HTTP/1.1\r\n" + auth + "\r\n"},
      {"options", "OPTIONS /api/jobs HTTP/1.1\r\n\r\n"},
      {"cancel", post("/api/jobs/2/cancel", "")},
      {"create_min", post("/api/jobs", R"({"name":"a"})")},
      {"create_full", post("/api/jobs", R"({"name":"full","model":"cnn-large","dataset":"fashion-mnist","rounds":3,)"
                                        R"("clients_per_round":4,"min_clients":2,"local_epochs":1,"batch_size":32,)"
                                        R"("lr":0.05,"momentum":0.9,"round_timeout_s":60,"seed":7})")},
      {"create_preset", post("/api/jobs", R"({"name":"p","compression":{"preset":"topk1%-q4"}})")},
      {"create_stages", post("/api/jobs", R"({"name":"s","compression":{"uplink":{"sparsify":{"method":"topk","ratio":0.01},)"
                                          R"("quantize":{"method":"uniform","bits":4},"entropy":{"method":"zstd"}}}})")},
      {"create_aggregation", post("/api/jobs", R"({"name":"m","aggregation":{"strategy":"trimmed_mean","trim_ratio":0.2}})")},
      {"create_bad", post("/api/jobs", R"({"name":"","rounds":-1,"lr":"x","compression":{"method":"?"}})")},
      {"create_not_json", post("/api/jobs", "{\"name\":")},
      {"chunked", "POST /api/jobs HTTP/1.1\r\n" + auth + "Transfer-Encoding: chunked\r\n\r\n"
                  "c\r\n{\"name\":\"c\"}\r\n0\r\n\r\n"},
      {"events_upgrade", "GET /api/events?token=fuzz-token HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
                         "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"},
      {"events_plain", get("/api/events")},
      {"static_index", get("/", false)},
      {"static_asset", get("/assets/index-abc.js", false)},
      {"static_spa", get("/jobs/1", false)},
      {"static_traversal", get("/../secret.txt", false)},
      {"static_encoded", get("/%2e%2e/secret.txt", false)},
      {"pipelined", get("/healthz", false) + get("/api/jobs/1") + post("/api/jobs", R"({"name":"x"})")},
      {"http10", "GET /api/clients HTTP/1.0\r\n" + auth + "\r\n"},
  };
  for (const auto& [name, text] : seeds) WriteFile(fs::path(dir) / name, text);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* dir = std::getenv("FP_FUZZ_SEED_DIR")) WriteSeeds(dir);
  g_world = new World();
  std::atexit([] { delete g_world; });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const RouterContext& ctx = g_world->ctx();
  boost::asio::const_buffer in(data, size);
  for (int n = 0; n < 4 && in.size() > 0; ++n) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(kBodyLimit);
    parser.header_limit(kHeaderLimit);
    boost::beast::error_code ec;
    while (in.size() > 0 && !parser.is_done()) {
      size_t used = parser.put(in, ec);
      in += used;
      if (ec == http::error::need_more) {
        ec = {};
        if (used == 0) break;
        continue;
      }
      if (ec) break;
    }
    if (!ec && !parser.is_done()) parser.put_eof(ec);
    if (ec || !parser.is_done()) return 0;
    const HttpRequest& req = parser.get();
    if (req.target().size() > kTargetLimit) return 0;
    if (boost::beast::websocket::is_upgrade(req)) {
      if (auto denied = CheckEventsUpgrade(ctx, req)) CheckResponse(*denied, req);
      return 0;  // the connection is a WebSocket (or closed) from here on
    }
    HttpResponse res = HandleHttpRequest(ctx, req);
    g_world->counters().Count(res.result_int());
    CheckResponse(res, req);
  }
  return 0;
}

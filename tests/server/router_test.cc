// Unit tests of the HTTP surface without sockets: routing, the admin token on
// every route (missing / wrong / right, --public-read), static files
// (content types, cache headers, SPA fallback, traversal), /metrics format,
// the /api/events upgrade gate, and the auth helpers.
#include "server/http/router.h"

#include <gtest/gtest.h>

#include "tests/temp_dir.h"
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "common/clock.h"
#include "server/http/auth.h"

namespace fedpress::server {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Each test gets its own directory, named after this file.
struct TempDir : fedpress::testing::TempDir {
  TempDir() : fedpress::testing::TempDir("fp_router_") {}
};

void Write(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path) << text;
}

constexpr char kIndex[] = "<!doctype html><div id=\"app\"></div>";

class RouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = Store::Open({dir_.path() + "/db/fedpress.db"});
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
    auto t = RotateAdminToken(store_.get(), dir_.path() + "/state/admin-token");
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    token_ = *t;
    web_ = dir_.path() + "/web";
    Write(web_ + "/index.html", kIndex);
    Write(web_ + "/assets/index-abc123.js", "console.log(1)");
    Write(web_ + "/assets/index-abc123.css", "body{}");
    Write(web_ + "/favicon.svg", "<svg/>");
    Write(web_ + "/.env", "SECRET=1");
    Write(dir_.path() + "/secret.txt", "top secret");
    fs::create_symlink(dir_.path() + "/secret.txt", web_ + "/link.txt");
    site_ = std::make_unique<StaticSite>(web_);
    auth_ = std::make_unique<AdminAuth>(store_.get());
    metrics_ = std::make_unique<MetricsSource>(store_.get(), &registry_, &counters_, nullptr, 0);
    ctx_.api.store = store_.get();
    ctx_.api.registry = &registry_;
    ctx_.api.state_dir = dir_.path();
    ctx_.api.on_event = [this](const std::string& type, int64_t id, const json&) {
      events_.push_back(type + ":" + std::to_string(id));
    };
    ctx_.site = site_.get();
    ctx_.auth = auth_.get();
    ctx_.metrics = metrics_.get();
    ctx_.token_file = dir_.path() + "/state/admin-token";
  }

  HttpRequest Req(http::verb method, const std::string& target, const std::string& token = "",
                  const std::string& body = "") {
    HttpRequest req{method, target, 11};
    if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
    req.body() = body;
    req.prepare_payload();
    return req;
  }
  HttpResponse Call(http::verb method, const std::string& target, const std::string& token = "",
                    const std::string& body = "") {
    return HandleHttpRequest(ctx_, Req(method, target, token, body));
  }
  HttpResponse Get(const std::string& target, const std::string& token = "") {
    return Call(http::verb::get, target, token);
  }
  HttpResponse AuthGet(const std::string& target) { return Get(target, token_); }

  TempDir dir_;
  std::unique_ptr<Store> store_;
  ClientRegistry registry_;
  RequestCounters counters_;
  std::string token_, web_;
  std::unique_ptr<StaticSite> site_;
  std::unique_ptr<AdminAuth> auth_;
  std::unique_ptr<MetricsSource> metrics_;
  RouterContext ctx_;
  std::vector<std::string> events_;
};

// Every protected route, with a method it answers.
const std::vector<std::pair<http::verb, std::string>> kProtected = {
    {http::verb::get, "/api/jobs"},
    {http::verb::post, "/api/jobs"},
    {http::verb::get, "/api/jobs/1"},
    {http::verb::get, "/api/jobs/1/rounds"},
    {http::verb::get, "/api/jobs/1/participations"},
    {http::verb::get, "/api/jobs/1/model"},
    {http::verb::post, "/api/jobs/1/cancel"},
    {http::verb::get, "/api/clients"},
    {http::verb::get, "/api/events"},
    {http::verb::get, "/api/nonexistent"},
    {http::verb::delete_, "/api/jobs/1"},
    {http::verb::get, "/metrics"},
    {http::verb::head, "/metrics"},
};

TEST_F(RouterTest, EveryProtectedRouteNeedsTheToken) {
  for (const auto& [m, target] : kProtected) {
    SCOPED_TRACE(std::string(http::to_string(m)) + " " + target);
    auto missing = Call(m, target);
    EXPECT_EQ(missing.result(), http::status::unauthorized);
    EXPECT_EQ(missing[http::field::www_authenticate], "Bearer realm=\"fedpress\"");
    auto body = json::parse(missing.body());
    EXPECT_NE(body["error"].get<std::string>().find("missing admin token"), std::string::npos);
    EXPECT_NE(body["error"].get<std::string>().find("admin-token"), std::string::npos) << "says where it is";
    EXPECT_NE(body["error"].get<std::string>().find("Authorization: Bearer"), std::string::npos);
    auto wrong = Call(m, target, std::string(64, 'a'));
    EXPECT_EQ(wrong.result(), http::status::unauthorized);
    EXPECT_NE(wrong.body().find("invalid admin token"), std::string::npos);
    EXPECT_EQ(Call(m, target, token_ + "x").result(), http::status::unauthorized);
    EXPECT_NE(Call(m, target, token_).result(), http::status::unauthorized);
  }
}

TEST_F(RouterTest, AuthorizationHeaderForms) {
  auto req = Req(http::verb::get, "/api/jobs");
  req.set(http::field::authorization, "bearer   " + token_);
  EXPECT_EQ(HandleHttpRequest(ctx_, req).result(), http::status::ok) << "scheme is case-insensitive";
  req.set(http::field::authorization, "Basic " + token_);
  EXPECT_EQ(HandleHttpRequest(ctx_, req).result(), http::status::unauthorized);
  req.set(http::field::authorization, token_);
  EXPECT_EQ(HandleHttpRequest(ctx_, req).result(), http::status::unauthorized);
  // ?token= only counts on /api/events, never on REST routes.
  EXPECT_EQ(Get("/api/jobs?token=" + token_).result(), http::status::unauthorized);
}

TEST_F(RouterTest, PublicReadOpensReadsOnly) {
  ctx_.public_read = true;
  EXPECT_EQ(Get("/api/jobs").result(), http::status::ok);
  EXPECT_EQ(Get("/api/clients").result(), http::status::ok);
  EXPECT_EQ(Get("/metrics").result(), http::status::ok);
  EXPECT_EQ(Get("/api/events").result(), http::status::upgrade_required);
  EXPECT_EQ(Call(http::verb::post, "/api/jobs", "", R"({"name":"x"})").result(), http::status::unauthorized);
  EXPECT_EQ(Call(http::verb::post, "/api/jobs/1/cancel").result(), http::status::unauthorized);
  EXPECT_EQ(Call(http::verb::delete_, "/api/jobs/1").result(), http::status::unauthorized);
  // A wrong token is still refused, so a page with a stale token notices.
  EXPECT_EQ(Get("/api/jobs", "nope").result(), http::status::unauthorized);
  EXPECT_EQ(Call(http::verb::post, "/api/jobs", token_, R"({"name":"x","model":"mlp"})").result(),
            http::status::created);
}

TEST_F(RouterTest, PublicRoutesNeedNoToken) {
  EXPECT_EQ(Get("/healthz").result(), http::status::ok);
  EXPECT_EQ(Get("/").result(), http::status::ok);
  EXPECT_EQ(Get("/assets/index-abc123.js").result(), http::status::ok);
  EXPECT_EQ(Get("/jobs/3").result(), http::status::ok);
  // A wrong token on a public route does not matter.
  EXPECT_EQ(Get("/healthz", "nope").result(), http::status::ok);
}

TEST_F(RouterTest, RotatedTokenReplacesTheOldOne) {
  AdminAuth fresh(store_.get(), /*refresh_ms=*/0);
  EXPECT_TRUE(fresh.Verify(token_));
  auto t2 = RotateAdminToken(store_.get(), dir_.path() + "/state/admin-token");
  ASSERT_TRUE(t2.ok());
  EXPECT_NE(*t2, token_);
  EXPECT_FALSE(fresh.Verify(token_));
  EXPECT_TRUE(fresh.Verify(*t2));
  // Only the hash is stored.
  auto h = store_->GetAdminTokenHash();
  ASSERT_TRUE(h.ok() && h->has_value());
  EXPECT_EQ(**h, Sha256Hex(*t2));
  EXPECT_EQ(**h, Sha256Hex(*t2));
  EXPECT_NE(**h, *t2);
}

TEST_F(RouterTest, ApiRoutesStillWorkBehindAuth) {
  auto created = Call(http::verb::post, "/api/jobs", token_, R"({"name":"a","model":"mlp","rounds":2})");
  ASSERT_EQ(created.result(), http::status::created) << created.body();
  EXPECT_EQ(events_, std::vector<std::string>{"job_created:1"});
  EXPECT_EQ(AuthGet("/api/jobs/1").result(), http::status::ok);
  EXPECT_EQ(AuthGet("/api/jobs/1/rounds").body(), "[]");
  EXPECT_EQ(AuthGet("/api/jobs/9").result(), http::status::not_found);
  EXPECT_EQ(AuthGet("/api/nope").result(), http::status::not_found);
  EXPECT_EQ(Call(http::verb::put, "/api/jobs", token_).result(), http::status::method_not_allowed);
  auto bad = Call(http::verb::post, "/api/jobs", token_, R"({"name":"a","rounds":0,"modle":"x"})");
  EXPECT_EQ(bad.result(), http::status::bad_request);
  auto fields = json::parse(bad.body())["fields"];
  std::set<std::string> names;
  for (const auto& f : fields) names.insert(f["field"].get<std::string>());
  EXPECT_TRUE(names.count("rounds") && names.count("modle")) << bad.body();
  EXPECT_EQ(Call(http::verb::post, "/api/jobs", token_, "{not json").result(), http::status::bad_request);
  EXPECT_EQ(Call(http::verb::post, "/api/jobs/1/cancel", token_).result(), http::status::ok);
  EXPECT_EQ(events_.back(), "job_cancelled:1");
  EXPECT_EQ(Call(http::verb::post, "/api/jobs/1/cancel", token_).result(), http::status::conflict);
}

TEST_F(RouterTest, EventsEndpointWithoutUpgradeSays426) {
  auto res = AuthGet("/api/events");
  EXPECT_EQ(res.result(), http::status::upgrade_required);
  EXPECT_EQ(res[http::field::upgrade], "websocket");
  EXPECT_EQ(Call(http::verb::post, "/api/events", token_).result(), http::status::method_not_allowed);
}

TEST_F(RouterTest, EventsUpgradeGate) {
  auto gate = [&](const std::string& target, const std::string& header_token = "") {
    return CheckEventsUpgrade(ctx_, Req(http::verb::get, target, header_token));
  };
  EXPECT_FALSE(gate("/api/events?token=" + token_).has_value());
  EXPECT_FALSE(gate("/api/events", token_).has_value());
  EXPECT_FALSE(gate("/api/events/?x=1&token=" + token_).has_value());
  auto none = gate("/api/events");
  ASSERT_TRUE(none.has_value());
  EXPECT_EQ(none->result(), http::status::unauthorized);
  EXPECT_EQ(gate("/api/events?token=wrong")->result(), http::status::unauthorized);
  EXPECT_EQ(gate("/api/jobs?token=" + token_)->result(), http::status::not_found);
  EXPECT_EQ(gate("/?token=" + token_)->result(), http::status::not_found);
  ctx_.public_read = true;
  EXPECT_FALSE(gate("/api/events").has_value());
  EXPECT_EQ(gate("/api/events?token=wrong")->result(), http::status::unauthorized);
}

// --- static files ---

TEST_F(RouterTest, StaticContentTypesAndCacheHeaders) {
  auto index = Get("/");
  EXPECT_EQ(index.result(), http::status::ok);
  EXPECT_EQ(index.body(), kIndex);
  EXPECT_EQ(index[http::field::content_type], "text/html; charset=utf-8");
  EXPECT_EQ(index[http::field::cache_control], "no-cache");
  EXPECT_EQ(Get("/index.html").body(), kIndex);
  auto js = Get("/assets/index-abc123.js");
  EXPECT_EQ(js[http::field::content_type], "text/javascript; charset=utf-8");
  EXPECT_EQ(js[http::field::cache_control], "public, max-age=31536000, immutable");
  EXPECT_EQ(js.body(), "console.log(1)");
  EXPECT_EQ(Get("/assets/index-abc123.css")[http::field::content_type], "text/css; charset=utf-8");
  auto svg = Get("/favicon.svg");
  EXPECT_EQ(svg[http::field::content_type], "image/svg+xml");
  EXPECT_EQ(svg[http::field::cache_control], "no-cache");
  EXPECT_EQ(Get("/assets/index-abc123.js?v=2").body(), "console.log(1)") << "query ignored";
  EXPECT_EQ(ContentTypeFor("a.WOFF2"), "font/woff2");
  EXPECT_EQ(ContentTypeFor("noext"), "application/octet-stream");
}

TEST_F(RouterTest, ClientRoutesGetIndexHtml) {
  for (const char* route : {"/jobs", "/jobs/", "/jobs/new", "/jobs/3", "/clients", "/clients/", "//jobs//3",
                            "/some/deep/route", "/assets"}) {
    SCOPED_TRACE(route);
    auto res = Get(route);
    EXPECT_EQ(res.result(), http::status::ok);
    EXPECT_EQ(res.body(), kIndex);
    EXPECT_EQ(res[http::field::cache_control], "no-cache");
  }
  // A missing file with an extension is a real 404, not the page.
  EXPECT_EQ(Get("/assets/missing-123.js").result(), http::status::not_found);
  EXPECT_EQ(Get("/robots.txt").result(), http::status::not_found);
  // /api/* is never the page.
  EXPECT_EQ(AuthGet("/api/jobs/new").result(), http::status::not_found);
}

TEST_F(RouterTest, TraversalAttemptsAre404) {
  for (const char* t : {"/../secret.txt", "/assets/../../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E/secret.txt",
                        "/.%2e/secret.txt", "/assets/%2e%2e%2f%2e%2e%2fsecret.txt", "/..%2fsecret.txt",
                        "/assets%2f..%2f..%2fsecret.txt", "/..\\secret.txt", "/%5c..%5csecret.txt",
                        "/..%5csecret.txt", "/index.html%00.js", "/%00", "/assets/%zz.js", "/%",
                        "/./index.html", "/.env", "/%2eenv", "/link.txt", "/assets/./index-abc123.js",
                        "/..", "/jobs/..", "/jobs/%2e%2e"}) {
    SCOPED_TRACE(t);
    auto res = Get(t);
    EXPECT_EQ(res.result(), http::status::not_found) << res.body();
    EXPECT_EQ(res.body().find("secret"), std::string::npos);
  }
  std::string nul = "/index.html";
  nul.push_back('\0');
  EXPECT_EQ(Get(nul).result(), http::status::not_found);
}

TEST_F(RouterTest, StaticIsGetAndHeadOnly) {
  EXPECT_EQ(Call(http::verb::head, "/").result(), http::status::ok);
  auto post = Call(http::verb::post, "/");
  EXPECT_EQ(post.result(), http::status::method_not_allowed);
  EXPECT_EQ(post[http::field::allow], "GET, HEAD");
  EXPECT_EQ(Call(http::verb::delete_, "/index.html").result(), http::status::method_not_allowed);
}

TEST_F(RouterTest, UnbuiltDashboardShowsHowToBuildIt) {
  StaticSite empty(dir_.path() + "/no-such-dir");
  ctx_.site = &empty;
  auto res = Get("/");
  EXPECT_EQ(res.result(), http::status::ok);
  EXPECT_EQ(res[http::field::content_type], "text/html; charset=utf-8");
  EXPECT_NE(res.body().find("make web"), std::string::npos);
  EXPECT_EQ(Get("/jobs/3").result(), http::status::ok);
  EXPECT_EQ(Get("/assets/x.js").result(), http::status::not_found);
  StaticSite none("");
  EXPECT_FALSE(none.available());
}

// --- /metrics ---

TEST_F(RouterTest, MetricsTextFormat) {
  // Some data: a job with a committed round and participations.
  ASSERT_EQ(Call(http::verb::post, "/api/jobs", token_, R"({"name":"m","model":"mlp","rounds":3})").result(),
            http::status::created);
  auto cid = store_->UpsertClient("c1", 100, "{}", NowMs());
  ASSERT_TRUE(cid.ok());
  ASSERT_TRUE(store_->SetJobStatus(1, JobStatus::kRunning, "", NowMs()).ok());
  RoundRow r;
  r.job_id = 1;
  r.round = 1;
  r.participants = 1;
  r.samples = 100;
  r.bytes_up_raw = 1000;
  r.bytes_up_wire = 250;
  r.bytes_down_raw = 2000;
  r.bytes_down_wire = 2000;
  r.duration_ms = 1500;
  r.checkpoint = "x";
  ASSERT_TRUE(store_->CommitRound(r, false, NowMs()).ok());
  ParticipationRow p;
  p.job_id = 1;
  p.round = 1;
  p.client_id = *cid;
  p.status = ParticipationStatus::kRejected;
  ASSERT_TRUE(store_->RecordParticipation(p).ok());
  counters_.Count(200);
  counters_.Count(200);
  counters_.Count(401);

  auto res = AuthGet("/metrics");
  ASSERT_EQ(res.result(), http::status::ok);
  EXPECT_EQ(res[http::field::content_type], "text/plain; version=0.0.4; charset=utf-8");
  const std::string& text = res.body();
  // Every line is a comment or `name{labels} value`.
  std::regex sample(R"(^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="[^"]*"(,[a-zA-Z_][a-zA-Z0-9_]*="[^"]*")*\})? -?[0-9.e+Inf]+$)");
  std::istringstream in(text);
  std::string line;
  int samples = 0;
  while (std::getline(in, line)) {
    if (line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0) continue;
    EXPECT_TRUE(std::regex_match(line, sample)) << line;
    ++samples;
  }
  EXPECT_GT(samples, 20);
  for (const char* want : {"fedpress_jobs{status=\"running\"} 1\n", "fedpress_jobs{status=\"queued\"} 0\n",
                           "fedpress_rounds_committed_total 1\n", "fedpress_clients_connected 0\n",
                           "fedpress_bytes_up_raw_total 1000\n", "fedpress_bytes_up_wire_total 250\n",
                           "fedpress_bytes_down_raw_total 2000\n", "fedpress_bytes_down_wire_total 2000\n",
                           "fedpress_updates_rejected_total 1\n",
                           "fedpress_participations_total{status=\"rejected\"} 1\n",
                           "fedpress_round_duration_seconds_bucket{le=\"1\"} 0\n",
                           "fedpress_round_duration_seconds_bucket{le=\"2\"} 1\n",
                           "fedpress_round_duration_seconds_bucket{le=\"+Inf\"} 1\n",
                           "fedpress_round_duration_seconds_sum 1.5\n", "fedpress_round_duration_seconds_count 1\n",
                           "fedpress_http_requests_total{code=\"200\"} 2\n",
                           "fedpress_http_requests_total{code=\"401\"} 1\n",
                           "# TYPE fedpress_round_duration_seconds histogram\n",
                           "# TYPE fedpress_rounds_committed_total counter\n"}) {
    EXPECT_NE(text.find(want), std::string::npos) << "missing: " << want << "\n" << text;
  }
  EXPECT_EQ(AuthGet("/metrics/x").result(), http::status::not_found);
  EXPECT_EQ(Call(http::verb::post, "/metrics", token_).result(), http::status::method_not_allowed);
}

// --- auth helpers ---

TEST(AuthTest, TokensAreRandomHex) {
  auto a = GenerateAdminToken(), b = GenerateAdminToken();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->size(), 64u);
  EXPECT_EQ(a->find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_NE(*a, *b);
}

TEST(AuthTest, Sha256KnownVector) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abcd"));
}

TEST(AuthTest, RequestTokenParsing) {
  EXPECT_EQ(RequestToken("Bearer abc", "/x", false), "abc");
  EXPECT_EQ(RequestToken("", "/x?token=abc", true), "abc");
  EXPECT_EQ(RequestToken("", "/x?a=1&token=a%62c&b=2", true), "abc");
  EXPECT_EQ(RequestToken("", "/x?token=abc", false), std::nullopt);
  EXPECT_EQ(RequestToken("", "/x?token=%zz", true), std::nullopt);
  EXPECT_EQ(RequestToken("", "/x?token=", true), std::nullopt);
  EXPECT_EQ(RequestToken("Bearer ", "/x", false), std::nullopt);
  EXPECT_EQ(RequestToken("Bearer abc", "/x?token=def", true), "abc") << "header wins";
}

TEST(AuthTest, TokenFileIsPrivateAndEnsureCreatesOnce) {
  TempDir dir;
  auto store = Store::Open({dir.path() + "/fp.db"});
  ASSERT_TRUE(store.ok());
  const std::string file = dir.path() + "/state/admin-token";
  auto first = EnsureAdminToken(store->get(), file);
  ASSERT_TRUE(first.ok() && first->has_value());
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::ifstream f(file);
  std::string line;
  std::getline(f, line);
  EXPECT_EQ(line, **first);
  auto second = EnsureAdminToken(store->get(), file);
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(second->has_value()) << "an existing token is kept";
  AdminAuth auth(store->get());
  EXPECT_TRUE(auth.Verify(**first));
  EXPECT_FALSE(auth.Verify(""));
}

}  // namespace
}  // namespace fedpress::server

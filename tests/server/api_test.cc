#include "server/http/api.h"

#include <gtest/gtest.h>

#include "tests/temp_dir.h"
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/job_spec.h"

namespace fedpress::server {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Each test gets its own directory, named after this file.
struct TempDir : fedpress::testing::TempDir {
  TempDir() : fedpress::testing::TempDir("fp_api_") {}
};

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = Store::Open({dir_.path() + "/db/fedpress.db"});
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
    ctx_.store = store_.get();
    ctx_.registry = &registry_;
    ctx_.state_dir = dir_.path();
    ctx_.on_jobs_changed = [this] { ++changes_; };
  }

  HttpResponse Call(http::verb method, const std::string& target, const std::string& body = "") {
    HttpRequest req{method, target, 11};
    if (!body.empty()) {
      req.set(http::field::content_type, "application/json");
      req.body() = body;
    }
    req.prepare_payload();
    return HandleApiRequest(ctx_, req);
  }
  HttpResponse Get(const std::string& target) { return Call(http::verb::get, target); }
  HttpResponse Post(const std::string& target, const std::string& body = "") {
    return Call(http::verb::post, target, body);
  }

  static json Body(const HttpResponse& res) {
    auto j = json::parse(res.body(), nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << "not JSON: " << res.body();
    return j;
  }

  int64_t CreateJob(const json& spec) {
    auto res = Post("/api/jobs", spec.dump());
    EXPECT_EQ(res.result(), http::status::created) << res.body();
    return Body(res).value("id", int64_t{0});
  }

  void ExpectNotFound(const HttpResponse& res) {
    EXPECT_EQ(res.result(), http::status::not_found) << res.body();
    EXPECT_TRUE(Body(res).contains("error")) << res.body();
  }

  TempDir dir_;
  std::unique_ptr<Store> store_;
  ClientRegistry registry_;
  ApiContext ctx_;
  std::atomic<int> changes_{0};
};

const char* kSpec = R"({"name":"exp","rounds":3,"clients_per_round":5})";

TEST_F(ApiTest, Healthz) {
  auto res = Get("/healthz");
  EXPECT_EQ(res.result(), http::status::ok);
  EXPECT_EQ(Body(res), (json{{"status", "ok"}}));
  EXPECT_EQ(res[http::field::content_type], "application/json");
  auto head = Call(http::verb::head, "/healthz");
  EXPECT_EQ(head.result(), http::status::ok);
  auto post = Post("/healthz");
  EXPECT_EQ(post.result(), http::status::method_not_allowed);
  EXPECT_EQ(post[http::field::allow], "GET");
}

TEST_F(ApiTest, CreateJobThenReadIt) {
  auto res = Post("/api/jobs", kSpec);
  ASSERT_EQ(res.result(), http::status::created) << res.body();
  json b = Body(res);
  ASSERT_TRUE(b.contains("id"));
  const int64_t id = b["id"].get<int64_t>();
  EXPECT_GT(id, 0);
  EXPECT_EQ(res[http::field::location], "/api/jobs/" + std::to_string(id));
  EXPECT_EQ(changes_.load(), 1);

  // The stored spec is the normalised one: defaults filled in.
  json want_spec = ParseJobSpec(json::parse(kSpec)).spec->ToJson();
  EXPECT_EQ(want_spec["min_clients"], 3);

  auto one = Get("/api/jobs/" + std::to_string(id));
  ASSERT_EQ(one.result(), http::status::ok) << one.body();
  json j = Body(one);
  EXPECT_EQ(j["id"], id);
  EXPECT_EQ(j["name"], "exp");
  EXPECT_EQ(j["status"], "queued");
  EXPECT_EQ(j["current_round"], 0);
  EXPECT_EQ(j["rounds"], 3);
  EXPECT_TRUE(j["error"].is_null());
  EXPECT_TRUE(j["started_ms"].is_null());
  EXPECT_TRUE(j["finished_ms"].is_null());
  EXPECT_GT(j["created_ms"].get<int64_t>(), 0);
  EXPECT_EQ(j["spec"], want_spec);
  EXPECT_TRUE(j["accuracy"].is_null());
  EXPECT_EQ(j["totals"]["rounds_committed"], 0);
  EXPECT_TRUE(j["totals"]["ratio_up"].is_null());  // nothing sent yet

  auto list = Get("/api/jobs");
  ASSERT_EQ(list.result(), http::status::ok);
  json l = Body(list);
  ASSERT_TRUE(l.is_array());
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0]["id"], id);
  EXPECT_EQ(l[0]["status"], "queued");
  EXPECT_EQ(l[0]["spec"], want_spec);
}

TEST_F(ApiTest, ListIsNewestFirstAndToleratesQueryAndSlashes) {
  int64_t a = CreateJob({{"name", "a"}});
  int64_t b = CreateJob({{"name", "b"}});
  json l = Body(Get("/api/jobs?limit=10"));
  ASSERT_EQ(l.size(), 2u);
  EXPECT_EQ(l[0]["id"], b);
  EXPECT_EQ(l[1]["id"], a);
  EXPECT_EQ(Get("/api/jobs/").result(), http::status::ok);
  EXPECT_EQ(Get("/api/jobs/" + std::to_string(a) + "/").result(), http::status::ok);
}

TEST_F(ApiTest, InvalidJson) {
  for (std::string body : {"", "{", "{\"name\": }", "not json", "{\"name\":\"x\"} trailing"}) {
    auto res = Post("/api/jobs", body);
    EXPECT_EQ(res.result(), http::status::bad_request) << body;
    EXPECT_TRUE(Body(res).contains("error"));
  }
  EXPECT_EQ(changes_.load(), 0);
  EXPECT_TRUE(Body(Get("/api/jobs")).empty());
}

TEST_F(ApiTest, InvalidSpecListsEveryField) {
  auto res = Post("/api/jobs", R"({"name":"","rounds":0,"lr":"fast","bogus":1})");
  ASSERT_EQ(res.result(), http::status::bad_request);
  json b = Body(res);
  EXPECT_EQ(b["error"], "invalid job spec");
  ASSERT_TRUE(b["fields"].is_array());
  std::set<std::string> fields;
  for (const auto& f : b["fields"]) {
    fields.insert(f["field"].get<std::string>());
    EXPECT_FALSE(f["message"].get<std::string>().empty());
  }
  EXPECT_EQ(fields, (std::set<std::string>{"name", "rounds", "lr", "bogus"}));
  EXPECT_EQ(changes_.load(), 0);
  EXPECT_TRUE(Body(Get("/api/jobs")).empty());

  auto arr = Post("/api/jobs", "[1,2]");
  EXPECT_EQ(arr.result(), http::status::bad_request);
  EXPECT_EQ(Body(arr)["fields"].size(), 1u);
}

TEST_F(ApiTest, RobustJobOverTheRoundMemoryBoundIsRefused) {
  ctx_.job_limits.max_round_memory_bytes = 4'000'000;  // 4 MB
  // 5 x cnn (827,688 bytes) = 4.1 MB of buffered updates.
  auto res = Post("/api/jobs", R"({"name":"m","clients_per_round":5,"aggregation":{"strategy":"median"}})");
  ASSERT_EQ(res.result(), http::status::bad_request) << res.body();
  json b = Body(res);
  ASSERT_EQ(b["fields"].size(), 1u) << b.dump();
  EXPECT_EQ(b["fields"][0]["field"], "aggregation.strategy");
  EXPECT_NE(b["fields"][0]["message"].get<std::string>().find("--max-round-memory"), std::string::npos);
  EXPECT_EQ(changes_.load(), 0);
  // Streaming FedAvg with clipping needs no buffer; 4 clients of median fit.
  EXPECT_GT(CreateJob({{"name", "f"}, {"clients_per_round", 5}, {"aggregation", {{"clip_norm", 3}}}}), 0);
  const int64_t id = CreateJob({{"name", "m4"}, {"clients_per_round", 4}, {"aggregation", {{"strategy", "median"}}}});
  ASSERT_GT(id, 0);
  EXPECT_EQ(Body(Get("/api/jobs/" + std::to_string(id)))["spec"]["aggregation"]["strategy"], "median");
}

TEST_F(ApiTest, CompressionValidatorIsUsed) {
  ctx_.validate_compression = [](const json& c, std::vector<FieldError>* errors) -> std::optional<json> {
    if (c.value("method", "") == "topk") return json{{"method", "topk"}, {"ratio", 0.01}};
    errors->push_back({"compression.method", "unknown"});
    return std::nullopt;
  };
  int64_t id = CreateJob({{"name", "c"}, {"compression", {{"method", "topk"}}}});
  EXPECT_EQ(Body(Get("/api/jobs/" + std::to_string(id)))["spec"]["compression"],
            (json{{"method", "topk"}, {"ratio", 0.01}}));
  auto bad = Post("/api/jobs", R"({"name":"c","compression":{"method":"zip"}})");
  EXPECT_EQ(bad.result(), http::status::bad_request);
  EXPECT_EQ(Body(bad)["fields"][0]["field"], "compression.method");
}

TEST_F(ApiTest, WrongMethod) {
  int64_t id = CreateJob(json::parse(kSpec));
  const std::string j = "/api/jobs/" + std::to_string(id);
  struct Case {
    http::verb method;
    std::string target;
    std::string allow;
  };
  for (const Case& c : std::vector<Case>{{http::verb::delete_, "/api/jobs", "GET, POST"},
                                         {http::verb::put, "/api/jobs", "GET, POST"},
                                         {http::verb::post, j, "GET"},
                                         {http::verb::delete_, j, "GET"},
                                         {http::verb::post, j + "/rounds", "GET"},
                                         {http::verb::post, j + "/participations", "GET"},
                                         {http::verb::post, j + "/model", "GET"},
                                         {http::verb::get, j + "/cancel", "POST"},
                                         {http::verb::head, j + "/cancel", "POST"},
                                         {http::verb::post, "/api/clients", "GET"}}) {
    auto res = Call(c.method, c.target);
    EXPECT_EQ(res.result(), http::status::method_not_allowed) << c.target;
    EXPECT_EQ(res[http::field::allow], c.allow) << c.target;
    EXPECT_TRUE(Body(res).contains("error"));
  }
  EXPECT_EQ(Body(Get(j))["status"], "queued");  // nothing was changed
}

TEST_F(ApiTest, UnknownRoutes) {
  int64_t id = CreateJob(json::parse(kSpec));
  const std::string j = "/api/jobs/" + std::to_string(id);
  for (std::string t : {"/", "/api", "/api/", "/api/nope", "/apix/jobs", "/jobs", "/api/jobs/1/2/3",
                        "/healthz/x", "/api/clients/1"}) {
    ExpectNotFound(Get(t));
  }
  ExpectNotFound(Get(j + "/nope"));
  ExpectNotFound(Get(j + "/rounds/1"));
}

TEST_F(ApiTest, BadJobIds) {
  CreateJob(json::parse(kSpec));
  for (std::string id : {"abc", "0", "-1", "99999999999999999999", "1abc", "+1", "0x1", "1.0", "%31",
                         "999"}) {
    SCOPED_TRACE(id);
    ExpectNotFound(Get("/api/jobs/" + id));
    ExpectNotFound(Get("/api/jobs/" + id + "/rounds"));
    ExpectNotFound(Post("/api/jobs/" + id + "/cancel"));
  }
  EXPECT_EQ(changes_.load(), 1);
}

TEST_F(ApiTest, CancelQueuedJob) {
  int64_t id = CreateJob(json::parse(kSpec));
  const std::string j = "/api/jobs/" + std::to_string(id);
  auto res = Post(j + "/cancel");
  ASSERT_EQ(res.result(), http::status::ok) << res.body();
  EXPECT_EQ(Body(res), (json{{"id", id}, {"status", "cancelled"}}));
  EXPECT_EQ(changes_.load(), 2);
  json job = Body(Get(j));
  EXPECT_EQ(job["status"], "cancelled");
  EXPECT_EQ(job["error"], "cancelled by user");
  EXPECT_FALSE(job["finished_ms"].is_null());

  auto again = Post(j + "/cancel");
  EXPECT_EQ(again.result(), http::status::conflict);
  EXPECT_NE(Body(again)["error"].get<std::string>().find("cancelled"), std::string::npos);
  EXPECT_EQ(changes_.load(), 2);
}

TEST_F(ApiTest, CancelRunningAndCompletedJobs) {
  int64_t running = CreateJob(json::parse(kSpec));
  ASSERT_TRUE(store_->SetJobStatus(running, JobStatus::kRunning, "", 5000).ok());
  EXPECT_EQ(Post("/api/jobs/" + std::to_string(running) + "/cancel").result(), http::status::ok);
  int64_t done = CreateJob(json::parse(kSpec));
  ASSERT_TRUE(store_->SetJobStatus(done, JobStatus::kCompleted, "", 5000).ok());
  EXPECT_EQ(Post("/api/jobs/" + std::to_string(done) + "/cancel").result(), http::status::conflict);
  EXPECT_EQ(Body(Get("/api/jobs/" + std::to_string(done)))["status"], "completed");
}

RoundRow FullRound(int64_t job, int64_t round) {
  RoundRow r;
  r.job_id = job;
  r.round = round;
  r.attempts = 2;
  r.accuracy = 0.8125;
  r.loss = 0.5;
  r.train_loss = 0.625;
  r.participants = 4;
  r.rejected = 1;
  r.late = 2;
  r.timeouts = 3;
  r.samples = 24000;
  r.bytes_up_raw = 1000;
  r.bytes_up_wire = 300;
  r.bytes_down_raw = 2000;
  r.bytes_down_wire = 2100;
  r.started_ms = 10000;
  r.finished_ms = 12500;
  r.duration_ms = 2500;
  r.checkpoint = "job-1/round-1.ckpt";
  return r;
}

TEST_F(ApiTest, RoundsEndpoint) {
  int64_t id = CreateJob(json::parse(kSpec));
  const std::string j = "/api/jobs/" + std::to_string(id);
  EXPECT_EQ(Body(Get(j + "/rounds")), json::array());

  RoundRow r1 = FullRound(id, 1);
  r1.median_norm = 1.5;
  r1.clipped = 1;
  r1.outliers = 1;
  ASSERT_TRUE(store_->CommitRound(r1, false, 13000).ok());
  RoundRow r2 = FullRound(id, 2);
  r2.accuracy.reset();
  r2.loss.reset();
  r2.train_loss.reset();
  ASSERT_TRUE(store_->CommitRound(r2, false, 14000).ok());

  auto res = Get(j + "/rounds");
  ASSERT_EQ(res.result(), http::status::ok);
  json rounds = Body(res);
  ASSERT_EQ(rounds.size(), 2u);
  json want = {{"round", 1},          {"attempts", 2},         {"accuracy", 0.8125},
               {"loss", 0.5},         {"train_loss", 0.625},   {"participants", 4},
               {"rejected", 1},       {"late", 2},             {"timeouts", 3},
               {"samples", 24000},    {"bytes_up_raw", 1000},  {"bytes_up_wire", 300},
               {"bytes_down_raw", 2000}, {"bytes_down_wire", 2100}, {"started_ms", 10000},
               {"finished_ms", 12500}, {"duration_ms", 2500},
               {"ratio_up", 1000.0 / 300.0}, {"ratio_down", 2000.0 / 2100.0},
               {"median_norm", 1.5},  {"clipped", 1},          {"outliers", 1}};
  EXPECT_EQ(rounds[0], want);
  EXPECT_EQ(rounds[1]["round"], 2);
  EXPECT_TRUE(rounds[1]["accuracy"].is_null());
  EXPECT_TRUE(rounds[1]["loss"].is_null());
  EXPECT_TRUE(rounds[1]["train_loss"].is_null());
  EXPECT_TRUE(rounds[1]["median_norm"].is_null());
  EXPECT_EQ(rounds[1]["outliers"], 0);

  // The job view summarises them.
  json job = Body(Get(j));
  EXPECT_EQ(job["current_round"], 2);
  EXPECT_EQ(job["accuracy"], 0.8125);  // the latest known accuracy
  EXPECT_EQ(job["totals"]["rounds_committed"], 2);
  EXPECT_EQ(job["totals"]["participations"], 8);
  EXPECT_EQ(job["totals"]["rejected"], 2);
  EXPECT_EQ(job["totals"]["bytes_up_raw"], 2000);
  EXPECT_EQ(job["totals"]["bytes_up_wire"], 600);
  EXPECT_EQ(job["totals"]["bytes_saved_up"], 1400);
  EXPECT_EQ(job["totals"]["bytes_saved_down"], -200);
  EXPECT_DOUBLE_EQ(job["totals"]["ratio_up"].get<double>(), 2000.0 / 600.0);
  EXPECT_DOUBLE_EQ(job["totals"]["ratio_down"].get<double>(), 4000.0 / 4200.0);
  EXPECT_EQ(Body(Get("/api/jobs"))[0]["totals"]["rounds_committed"], 2);
}

TEST_F(ApiTest, ParticipationsEndpoint) {
  int64_t id = CreateJob(json::parse(kSpec));
  auto cid = store_->UpsertClient("alice", 6000, "{}", 1000);
  ASSERT_TRUE(cid.ok());
  ParticipationRow p;
  p.job_id = id;
  p.round = 1;
  p.attempt = 1;
  p.client_id = *cid;
  p.status = ParticipationStatus::kAccepted;
  p.samples = 6000;
  p.train_loss = 0.25;
  p.bytes_up_raw = 100;
  p.bytes_up_wire = 40;
  p.bytes_down_raw = 100;
  p.bytes_down_wire = 110;
  p.train_ms = 900;
  p.encode_ms = 12;
  p.decode_ms = 3;
  p.sent_ms = 5000;
  p.received_ms = 6000;
  p.update_norm = 2.5;
  p.clipped = true;
  auto pid = store_->RecordParticipation(p);
  ASSERT_TRUE(pid.ok());
  ASSERT_TRUE(store_->SetParticipationFlags(*pid, true, true).ok());
  ParticipationRow late;
  late.job_id = id;
  late.round = 1;
  late.attempt = 1;
  late.client_id = *cid;
  late.status = ParticipationStatus::kLate;
  late.reason = "round 1 attempt 1 is already closed";
  ASSERT_TRUE(store_->RecordParticipation(late).ok());

  auto res = Get("/api/jobs/" + std::to_string(id) + "/participations");
  ASSERT_EQ(res.result(), http::status::ok) << res.body();
  json ps = Body(res);
  ASSERT_EQ(ps.size(), 2u);
  json want = {{"round", 1},           {"attempt", 1},         {"client_id", *cid},
               {"client", "alice"},    {"status", "accepted"}, {"reason", ""},
               {"samples", 6000},      {"train_loss", 0.25},   {"bytes_up_raw", 100},
               {"bytes_up_wire", 40},  {"bytes_down_raw", 100}, {"bytes_down_wire", 110},
               {"train_ms", 900},      {"encode_ms", 12},      {"decode_ms", 3},
               {"sent_ms", 5000},      {"received_ms", 6000},
               {"update_norm", 2.5},   {"clipped", true},      {"outlier", true}};
  EXPECT_EQ(ps[0], want);
  EXPECT_TRUE(ps[1]["update_norm"].is_null());
  EXPECT_EQ(ps[1]["outlier"], false);
  EXPECT_EQ(ps[1]["status"], "late");
  EXPECT_EQ(ps[1]["reason"], "round 1 attempt 1 is already closed");
  EXPECT_TRUE(ps[1]["train_loss"].is_null());
  EXPECT_TRUE(ps[1]["sent_ms"].is_null());
}

TEST_F(ApiTest, ClientsMergeTheLiveRegistry) {
  EXPECT_EQ(Body(Get("/api/clients")), json::array());
  auto alice = store_->UpsertClient("alice", 6000, R"({"dataset":"fashion-mnist","version":"1"})", 1000);
  auto bob = store_->UpsertClient("bob", 3000, "not json", 2000);
  ASSERT_TRUE(alice.ok() && bob.ok());
  ASSERT_TRUE(store_->AddClientTraffic(*alice, 2, 500, 700, 3000).ok());

  LiveClient live;
  live.client_id = *alice;
  live.name = "alice";
  live.peer = "peer-a";
  live.last_seen_ms = 99999;
  live.busy_job = 1;
  live.busy_round = 1;
  registry_.Upsert(live);

  auto res = Get("/api/clients");
  ASSERT_EQ(res.result(), http::status::ok);
  json cs = Body(res);
  ASSERT_EQ(cs.size(), 2u);  // by name
  EXPECT_EQ(cs[0]["name"], "alice");
  EXPECT_EQ(cs[0]["id"], *alice);
  EXPECT_EQ(cs[0]["connected"], true);
  EXPECT_EQ(cs[0]["busy"], true);
  EXPECT_EQ(cs[0]["last_seen_ms"], 99999);  // live value wins
  EXPECT_EQ(cs[0]["samples"], 6000);
  EXPECT_EQ(cs[0]["rounds_done"], 2);
  EXPECT_EQ(cs[0]["bytes_up"], 500);
  EXPECT_EQ(cs[0]["bytes_down"], 700);
  EXPECT_EQ(cs[0]["info"], (json{{"dataset", "fashion-mnist"}, {"version", "1"}}));
  EXPECT_EQ(cs[1]["name"], "bob");
  EXPECT_EQ(cs[1]["connected"], false);
  EXPECT_EQ(cs[1]["busy"], false);
  EXPECT_EQ(cs[1]["last_seen_ms"], 2000);  // stored value
  EXPECT_EQ(cs[1]["info"], json::object());  // unparsable info is not passed through

  registry_.SetBusy(*alice, 0, 0);
  EXPECT_EQ(Body(Get("/api/clients"))[0]["busy"], false);
  registry_.Remove("peer-a");
  json after = Body(Get("/api/clients"));
  EXPECT_EQ(after[0]["connected"], false);
  EXPECT_EQ(after[0]["last_seen_ms"], 3000);
}

TEST_F(ApiTest, ClientsPaginationFiltersAndCounts) {
  // 25 clients c-00 .. c-24; every third connected, c-03 busy, c-07 on version "beta".
  std::vector<int64_t> ids;
  for (int i = 0; i < 25; ++i) {
    char name[16];
    std::snprintf(name, sizeof name, "c-%02d", i);
    auto id = store_->UpsertClient(name, 100 + i, i == 7 ? R"({"version":"beta"})" : R"({"version":"1"})", 1000 + i);
    ASSERT_TRUE(id.ok());
    ids.push_back(*id);
    if (i % 3 == 0) {
      LiveClient live;
      live.client_id = *id;
      live.name = name;
      live.peer = std::string("peer-") + name;
      live.busy_job = i == 3 ? 1 : 0;
      registry_.Upsert(live);
    }
  }
  auto names = [](const json& page) {
    std::vector<std::string> out;
    for (const auto& c : page["clients"]) out.push_back(c["name"]);
    return out;
  };

  // Without parameters: the whole array, as before.
  json all = Body(Get("/api/clients"));
  ASSERT_TRUE(all.is_array());
  EXPECT_EQ(all.size(), 25u);

  // Pages by name cover the list exactly once.
  json p0 = Body(Get("/api/clients?limit=10&offset=0"));
  EXPECT_EQ(p0["total"], 25);
  EXPECT_EQ(p0["limit"], 10);
  EXPECT_EQ(p0["offset"], 0);
  EXPECT_EQ(p0["counts"], (json{{"known", 25}, {"connected", 9}, {"busy", 1}}));
  EXPECT_EQ(names(p0).front(), "c-00");
  EXPECT_EQ(names(p0).back(), "c-09");
  json p2 = Body(Get("/api/clients?limit=10&offset=20"));
  EXPECT_EQ(names(p2), (std::vector<std::string>{"c-20", "c-21", "c-22", "c-23", "c-24"}));
  EXPECT_EQ(Body(Get("/api/clients?limit=10&offset=30"))["clients"], json::array());
  EXPECT_EQ(Body(Get("/api/clients?offset=0"))["limit"], 100);  // default page size

  // Connected first, then by name.
  json byc = Body(Get("/api/clients?limit=10&sort=connected"));
  EXPECT_EQ(names(byc), (std::vector<std::string>{"c-00", "c-03", "c-06", "c-09", "c-12", "c-15", "c-18", "c-21",
                                                  "c-24", "c-01"}));
  EXPECT_EQ(byc["clients"][0]["connected"], true);
  EXPECT_EQ(byc["clients"][9]["connected"], false);

  // Status filters and search.
  EXPECT_EQ(Body(Get("/api/clients?status=connected"))["total"], 9);
  EXPECT_EQ(Body(Get("/api/clients?status=disconnected"))["total"], 16);
  json busy = Body(Get("/api/clients?status=busy"));
  EXPECT_EQ(names(busy), std::vector<std::string>{"c-03"});
  EXPECT_EQ(busy["counts"]["known"], 25);  // counts ignore the filter
  EXPECT_EQ(names(Body(Get("/api/clients?q=C-1"))).size(), 10u);  // c-10..c-19, case-insensitive
  EXPECT_EQ(names(Body(Get("/api/clients?q=BETA"))), std::vector<std::string>{"c-07"});  // version
  {
    auto by_id = names(Body(Get("/api/clients?q=" + std::to_string(ids[4]))));  // exact id (or a name containing it)
    EXPECT_NE(std::find(by_id.begin(), by_id.end(), "c-04"), by_id.end());
  }
  EXPECT_EQ(names(Body(Get("/api/clients?q=c-2%34"))), std::vector<std::string>{"c-24"});  // %-decoded
  EXPECT_EQ(Body(Get("/api/clients?q=c-1&status=connected&limit=2"))["total"], 3);  // c-12 c-15 c-18

  // Bad parameters are named in a 400.
  for (const char* bad : {"/api/clients?limit=0", "/api/clients?limit=1001", "/api/clients?limit=x",
                          "/api/clients?offset=-1", "/api/clients?status=sleeping", "/api/clients?sort=age",
                          "/api/clients?limit=1&limit=2", "/api/clients?q=%zz", "/api/clients?colour=red"}) {
    auto res = Get(bad);
    EXPECT_EQ(res.result(), http::status::bad_request) << bad;
    EXPECT_TRUE(Body(res).contains("error")) << bad;
  }
  EXPECT_NE(Body(Get("/api/clients?limit=0"))["error"].get<std::string>().find("limit"), std::string::npos);
}

TEST_F(ApiTest, ModelDownload) {
  int64_t id = CreateJob(json::parse(kSpec));
  const std::string target = "/api/jobs/" + std::to_string(id) + "/model";
  ExpectNotFound(Get(target));

  const std::string job_dir = dir_.path() + "/job-" + std::to_string(id);
  fs::create_directories(job_dir);
  std::string bytes = "PK\x03\x04";
  bytes.push_back('\0');
  for (int i = 0; i < 5000; ++i) bytes.push_back(static_cast<char>(i * 31));
  {
    std::ofstream out(job_dir + "/model.pt", std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  auto res = Get(target);
  ASSERT_EQ(res.result(), http::status::ok) << res.body();
  EXPECT_EQ(res.body(), bytes);
  EXPECT_EQ(res[http::field::content_type], "application/octet-stream");
  EXPECT_NE(std::string(res[http::field::content_disposition]).find("fedpress-job-" + std::to_string(id) + ".pt"),
            std::string::npos);
  EXPECT_EQ(res[http::field::content_length], std::to_string(bytes.size()));

  auto head = Call(http::verb::head, target);
  EXPECT_EQ(head.result(), http::status::ok);

  // Another job's file is not served for this one.
  int64_t other = CreateJob(json::parse(kSpec));
  ExpectNotFound(Get("/api/jobs/" + std::to_string(other) + "/model"));
  // Nor for a job that does not exist, even if a file is there.
  fs::create_directories(dir_.path() + "/job-777");
  std::ofstream(dir_.path() + "/job-777/model.pt") << "x";
  ExpectNotFound(Get("/api/jobs/777/model"));
}

TEST_F(ApiTest, HeadWorksLikeGet) {
  int64_t id = CreateJob(json::parse(kSpec));
  for (std::string t : {std::string("/api/jobs"), "/api/jobs/" + std::to_string(id),
                        "/api/jobs/" + std::to_string(id) + "/rounds",
                        "/api/jobs/" + std::to_string(id) + "/participations",
                        std::string("/api/clients"), std::string("/healthz")}) {
    auto get = Get(t);
    auto head = Call(http::verb::head, t);
    EXPECT_EQ(head.result(), http::status::ok) << t;
    EXPECT_EQ(head.result(), get.result()) << t;
    EXPECT_EQ(head[http::field::content_type], get[http::field::content_type]) << t;
  }
  ExpectNotFound(Call(http::verb::head, "/api/jobs/424242"));
}

TEST_F(ApiTest, NonUtf8TextNeverBreaksAResponse) {
  // Stored text can contain bytes a client sent (e.g. a rejection reason
  // quoting layer names from its payload), and a request target can contain
  // any byte. Turning them into JSON must not throw (which would surface as
  // a 500 "internal error" from the HTTP server, or crash other callers).
  int64_t id = CreateJob(json::parse(kSpec));
  auto cid = store_->UpsertClient("mallory", 10, "{}", 1000);
  ASSERT_TRUE(cid.ok());
  ParticipationRow p;
  p.job_id = id;
  p.round = 1;
  p.client_id = *cid;
  p.status = ParticipationStatus::kRejected;
  p.reason = "model layout mismatch: got 1 layers, 1 parameters: \xff\xfe[1]";
  ASSERT_TRUE(store_->RecordParticipation(p).ok());
  HttpResponse res;
  ASSERT_NO_THROW(res = Get("/api/jobs/" + std::to_string(id) + "/participations"));
  EXPECT_EQ(res.result(), http::status::ok);
  EXPECT_EQ(Body(res).size(), 1u);

  ASSERT_NO_THROW(res = Get("/api/\xff\xfe"));
  EXPECT_EQ(res.result(), http::status::not_found);
  EXPECT_TRUE(Body(res).contains("error"));
}

TEST_F(ApiTest, JobsChangedCallbackIsOptional) {
  ctx_.on_jobs_changed = nullptr;
  int64_t id = CreateJob(json::parse(kSpec));
  EXPECT_EQ(Post("/api/jobs/" + std::to_string(id) + "/cancel").result(), http::status::ok);
  EXPECT_EQ(changes_.load(), 0);
}

TEST_F(ApiTest, ConcurrentCreates) {
  std::vector<std::thread> threads;
  std::mutex mu;
  std::set<int64_t> ids;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        HttpRequest req{http::verb::post, "/api/jobs", 11};
        req.body() = json{{"name", "t" + std::to_string(t) + "-" + std::to_string(i)}}.dump();
        req.prepare_payload();
        auto res = HandleApiRequest(ctx_, req);
        auto j = json::parse(res.body(), nullptr, false);
        {
          std::lock_guard<std::mutex> lock(mu);
          if (res.result() == http::status::created) ids.insert(j["id"].get<int64_t>());
        }
        (void)HandleApiRequest(ctx_, HttpRequest{http::verb::get, "/api/jobs", 11});
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(ids.size(), 40u);
  EXPECT_EQ(changes_.load(), 40);
  EXPECT_EQ(Body(Get("/api/jobs")).size(), 40u);
}

}  // namespace
}  // namespace fedpress::server

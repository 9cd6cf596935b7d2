// Client credentials: the store methods (migration 0003), the CredentialSet
// view, the /api/credentials routes and their admin-only routing.
#include <gtest/gtest.h>

#include "common/curve_keys.h"
#include "server/credential_set.h"
#include "server/http/api.h"
#include "server/http/auth.h"
#include "server/http/router.h"
#include "server/store/store.h"
#include "tests/temp_dir.h"

namespace fedpress::server {
namespace {

using nlohmann::json;

std::string NewPublicKey() {
  auto kp = GenerateCurveKeyPair();
  EXPECT_TRUE(kp.ok());
  return kp.ok() ? kp->public_key : std::string(40, 'a');
}

class CredentialsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = Store::Open({dir_.File("fedpress.db")});
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
    ctx_.store = store_.get();
    ctx_.registry = &registry_;
    ctx_.state_dir = dir_.path();
    ctx_.server_public_key = "server-public-key-for-tests-0123456789ab";
    ctx_.on_credentials_changed = [this] { ++changes_; };
  }
  HttpResponse Call(http::verb method, const std::string& target, const std::string& body = "") {
    HttpRequest req{method, target, 11};
    req.body() = body;
    req.prepare_payload();
    return HandleApiRequest(ctx_, req);
  }
  static json Body(const HttpResponse& r) { return json::parse(r.body(), nullptr, false); }

  fedpress::testing::TempDir dir_{"fp_cred_"};
  std::unique_ptr<Store> store_;
  ClientRegistry registry_;
  ApiContext ctx_;
  int changes_ = 0;
};

TEST_F(CredentialsTest, StoreEnrollsRevokesAndKeepsNamesUniqueAmongActive) {
  const std::string k1 = NewPublicKey(), k2 = NewPublicKey(), k3 = NewPublicKey();
  auto a = store_->CreateCredential("edge-0", k1, 1000);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->name, "edge-0");
  EXPECT_FALSE(a->revoked_ms.has_value());
  // Same name or same key while active: refused, naming the clash.
  auto same_name = store_->CreateCredential("edge-0", k2, 1001);
  EXPECT_EQ(same_name.status().code(), StatusCode::kAlreadyExists);
  EXPECT_NE(same_name.status().message().find("named 'edge-0'"), std::string::npos);
  auto same_key = store_->CreateCredential("edge-1", k1, 1001);
  EXPECT_EQ(same_key.status().code(), StatusCode::kAlreadyExists);
  EXPECT_NE(same_key.status().message().find("already enrolled"), std::string::npos);

  ASSERT_TRUE(store_->RevokeCredential(a->id, 2000).ok());
  EXPECT_EQ(store_->RevokeCredential(a->id, 2001).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->RevokeCredential(999, 2001).code(), StatusCode::kNotFound);
  // A revoked device can be enrolled again under its name, with a new key.
  auto again = store_->CreateCredential("edge-0", k3, 3000);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_NE(again->id, a->id);

  auto all = store_->ListCredentials();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].revoked_ms, 2000);
  auto active = store_->ListActiveCredentials();
  ASSERT_TRUE(active.ok());
  ASSERT_EQ(active->size(), 1u);
  EXPECT_EQ((*active)[0].public_key, k3);
  auto got = store_->GetCredential(again->id);
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->name, "edge-0");
}

TEST_F(CredentialsTest, CredentialSetFollowsTheStore) {
  CredentialSet set(store_.get(), /*max_miss_refreshes_per_s=*/1000);
  ASSERT_TRUE(set.Refresh().ok());
  EXPECT_EQ(set.size(), 0u);
  const std::string key = NewPublicKey();
  auto row = store_->CreateCredential("c", key, 1);
  ASSERT_TRUE(row.ok());
  // A miss re-reads the store, so a fresh enrollment is seen at once.
  auto found = set.ActiveByPublicKey(key);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->name, "c");
  EXPECT_TRUE(set.ActiveByUserId(std::to_string(row->id)).has_value());
  EXPECT_FALSE(set.ActiveByUserId("").has_value());
  EXPECT_FALSE(set.ActiveByUserId("12x").has_value());
  EXPECT_FALSE(set.ActiveByUserId("-1").has_value());
  const uint64_t gen = set.generation();
  ASSERT_TRUE(store_->RevokeCredential(row->id, 2).ok());
  ASSERT_TRUE(set.Refresh().ok());
  EXPECT_NE(set.generation(), gen);
  EXPECT_FALSE(set.ActiveById(row->id).has_value());
  EXPECT_FALSE(set.ActiveByPublicKey(key).has_value());
}

TEST_F(CredentialsTest, ApiEnrollsWithAClientKeyOrReturnsANewKeyFileOnce) {
  const std::string key = NewPublicKey();
  auto r = Call(http::verb::post, "/api/credentials", json{{"name", "dev-a"}, {"public_key", key}}.dump());
  ASSERT_EQ(r.result(), http::status::created) << r.body();
  auto j = Body(r);
  EXPECT_EQ(j["public_key"], key);
  EXPECT_EQ(j["status"], "active");
  EXPECT_EQ(j["server_key"], ctx_.server_public_key);
  EXPECT_FALSE(j.contains("key_file"));
  EXPECT_EQ(changes_, 1);

  auto g = Call(http::verb::post, "/api/credentials", json{{"name", "dev-b"}}.dump());
  ASSERT_EQ(g.result(), http::status::created) << g.body();
  auto gj = Body(g);
  auto file = ParseCurveKeyFile(gj["key_file"].get<std::string>(), "response");
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_EQ(file->name, "dev-b");
  EXPECT_EQ(file->keys.public_key, gj["public_key"]);
  // Only the public key is kept and listed.
  auto list = Call(http::verb::get, "/api/credentials");
  ASSERT_EQ(list.result(), http::status::ok);
  EXPECT_EQ(list.body().find(file->keys.secret_key), std::string::npos);
  EXPECT_EQ(Body(list).size(), 2u);
  auto one = Call(http::verb::get, "/api/credentials/" + std::to_string(gj["id"].get<int64_t>()));
  EXPECT_EQ(one.result(), http::status::ok);
  EXPECT_EQ(one.body().find(file->keys.secret_key), std::string::npos);
}

TEST_F(CredentialsTest, ApiRefusesBadInputWithReasons) {
  auto bad = [&](const std::string& body) {
    auto r = Call(http::verb::post, "/api/credentials", body);
    EXPECT_EQ(r.result(), http::status::bad_request) << body << " -> " << r.body();
    return r.body();
  };
  EXPECT_NE(bad("not json").find("JSON object"), std::string::npos);
  EXPECT_NE(bad("{}").find("\"name\""), std::string::npos);
  EXPECT_NE(bad(R"({"name":"bad name!"})").find("A-Z"), std::string::npos);
  EXPECT_NE(bad(R"({"name":"x","public_key":"short"})").find("Z85"), std::string::npos);
  EXPECT_NE(bad(R"({"name":"x","secret_key":"y"})").find("unknown field"), std::string::npos);
  const std::string key = NewPublicKey();
  ASSERT_EQ(Call(http::verb::post, "/api/credentials", json{{"name", "d"}, {"public_key", key}}.dump()).result(),
            http::status::created);
  EXPECT_EQ(Call(http::verb::post, "/api/credentials", json{{"name", "d"}}.dump()).result(), http::status::conflict);
  EXPECT_EQ(Call(http::verb::get, "/api/credentials/abc").result(), http::status::not_found);
  EXPECT_EQ(Call(http::verb::delete_, "/api/credentials/99").result(), http::status::not_found);
  EXPECT_EQ(Call(http::verb::put, "/api/credentials").result(), http::status::method_not_allowed);
}

TEST_F(CredentialsTest, ApiRevokes) {
  auto r = Call(http::verb::post, "/api/credentials", json{{"name", "gone"}}.dump());
  ASSERT_EQ(r.result(), http::status::created);
  const std::string url = "/api/credentials/" + std::to_string(Body(r)["id"].get<int64_t>());
  auto d = Call(http::verb::delete_, url);
  ASSERT_EQ(d.result(), http::status::ok) << d.body();
  EXPECT_EQ(Body(d)["status"], "revoked");
  EXPECT_TRUE(Body(d)["revoked_ms"].is_number());
  EXPECT_EQ(changes_, 2);
  EXPECT_EQ(Call(http::verb::delete_, url).result(), http::status::conflict);
  EXPECT_EQ(Body(Call(http::verb::get, url))["status"], "revoked");
}

TEST_F(CredentialsTest, RouterKeepsCredentialsAdminOnlyUnderPublicRead) {
  AdminAuth auth(Sha256Hex("secret-token"));
  RouterContext rctx;
  rctx.api = ctx_;
  rctx.auth = &auth;
  rctx.public_read = true;
  auto call = [&](const std::string& target, const std::string& token) {
    HttpRequest req{http::verb::get, target, 11};
    if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
    return HandleHttpRequest(rctx, req).result();
  };
  EXPECT_EQ(call("/api/credentials", ""), http::status::unauthorized);
  EXPECT_EQ(call("//api//credentials/1", ""), http::status::unauthorized);
  EXPECT_EQ(call("/api/credentials", "secret-token"), http::status::ok);
  EXPECT_EQ(call("/api/clients", ""), http::status::ok);  // other reads stay public
}

}  // namespace
}  // namespace fedpress::server

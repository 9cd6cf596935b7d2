// The dashboard's server side against a real fedpress-server and clients:
// the /api/events WebSocket delivers job, round and client events while a
// real job runs; wrong or missing tokens get 401 (REST and WebSocket);
// /metrics parses and agrees with the API; "/" serves the page.
#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <filesystem>
#include <map>
#include <regex>
#include <sstream>

#include "tests/integration/harness.h"

namespace fedpress::testing {
namespace {

namespace beast = boost::beast;
namespace net = boost::asio;
namespace websocket = beast::websocket;
using namespace std::chrono_literals;
using nlohmann::json;

// A WebSocket client with bounded reads.
class EventClient {
 public:
  // Returns the HTTP status of a refused handshake (0 on success).
  int Connect(int port, const std::string& target) {
    beast::get_lowest_layer(ws_).connect(net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"),
                                                                 static_cast<unsigned short>(port)));
    beast::error_code ec;
    ws_.handshake("127.0.0.1", target, ec);
    if (!ec) return 0;
    // Beast's sync client does not hand back a declined response: ask raw.
    return HttpRequestTo("127.0.0.1", port, "GET", target, "",
                         {{"Connection", "Upgrade"}, {"Upgrade", "websocket"}, {"Sec-WebSocket-Version", "13"},
                          {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}})
        .status;
  }
  // The next event, or nullopt after `timeout`.
  std::optional<json> Next(std::chrono::milliseconds timeout) {
    buf_.clear();
    bool done = false;
    beast::error_code result;
    beast::get_lowest_layer(ws_).expires_after(timeout);
    ws_.async_read(buf_, [&](beast::error_code ec, size_t) {
      done = true;
      result = ec;
    });
    ioc_.restart();
    ioc_.run();
    if (!done || result) return std::nullopt;
    return json::parse(beast::buffers_to_string(buf_.data()), nullptr, false);
  }

 private:
  net::io_context ioc_;
  websocket::stream<beast::tcp_stream> ws_{ioc_};
  beast::flat_buffer buf_;
};

class Dashboard : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = MakeTempDir("fp_dash_"); }
  void TearDown() override { DumpLogsOrRemove(dir_, HasFailure()); }
  std::string dir_;
};

std::map<std::string, double> ParseMetrics(const std::string& text, int* bad_lines) {
  std::map<std::string, double> out;
  std::regex sample(R"(^([a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})?) (-?[0-9.e+]+|\+Inf)$)");
  std::istringstream in(text);
  std::string line;
  *bad_lines = 0;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::smatch m;
    if (!std::regex_match(line, m, sample)) {
      ++*bad_lines;
      continue;
    }
    out[m[1]] = std::stod(m[3]);
  }
  return out;
}

TEST_F(Dashboard, LiveEventsAuthAndMetricsDuringARealJob) {
  ServerHandle server = StartServer(dir_);
  ASSERT_EQ(server.Get("/healthz").status, 200) << ReadText(dir_ + "/server.log");
  ASSERT_EQ(server.token.size(), 64u) << "token file dir/state/admin-token";
  // The token is printed once in the log, and never stored in clear in SQLite.
  EXPECT_NE(ReadText(dir_ + "/server.log").find(server.token), std::string::npos);
  EXPECT_EQ(ReadText(dir_ + "/fedpress.db").find(server.token), std::string::npos);

  // Access control.
  const int port = server.http_port;
  EXPECT_EQ(HttpRequestTo("127.0.0.1", port, "GET", "/api/jobs").status, 401);
  EXPECT_EQ(HttpRequestTo("127.0.0.1", port, "GET", "/api/jobs", "", {{"Authorization", "Bearer wrong"}}).status, 401);
  auto denied = HttpRequestTo("127.0.0.1", port, "POST", "/api/jobs", R"({"name":"x"})",
                              {{"Authorization", "Bearer " + std::string(64, '0')}});
  EXPECT_EQ(denied.status, 401);
  EXPECT_NE(denied.Json().value("error", "").find("admin-token"), std::string::npos) << denied.body;
  EXPECT_EQ(HttpRequestTo("127.0.0.1", port, "GET", "/metrics").status, 401);
  EXPECT_EQ(server.Get("/api/jobs").status, 200);
  EXPECT_EQ(HttpRequestTo("127.0.0.1", port, "GET", "/healthz").status, 200);
  {
    EventClient refused;
    EXPECT_EQ(refused.Connect(port, "/api/events?token=wrong"), 401);
    EventClient anonymous;
    EXPECT_EQ(anonymous.Connect(port, "/api/events"), 401);
  }
  // The page (or, without a built dashboard, the page saying how to build it).
  auto page = HttpRequestTo("127.0.0.1", port, "GET", "/jobs/1");
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.body.find("<html"), std::string::npos);
  EXPECT_EQ(HttpRequestTo("127.0.0.1", port, "GET", "/%2e%2e/fedpress.db").status, 404);

  EventClient events;
  ASSERT_EQ(events.Connect(port, "/api/events?token=" + server.token), 0);

  std::vector<Process> clients;
  for (int i = 0; i < 2; ++i)
    clients.push_back(StartClient(dir_, server.endpoint(), "d" + std::to_string(i), i, 2, 1000));
  auto r = server.Post("/api/jobs", json{{"name", "dash"}, {"model", "mlp"}, {"rounds", 2},
                                         {"clients_per_round", 2}, {"min_clients", 2},
                                         {"round_timeout_s", 60}}.dump());
  ASSERT_EQ(r.status, 201) << r.body;
  const int64_t id = r.Json()["id"].get<int64_t>();

  std::multiset<std::string> seen;
  std::vector<json> committed;
  auto deadline = std::chrono::steady_clock::now() + 240s;
  while (std::chrono::steady_clock::now() < deadline && !seen.count("job_completed") && !seen.count("job_failed")) {
    auto ev = events.Next(120s);
    if (!ev) break;  // a timeout closes the socket
    ASSERT_TRUE(ev->is_object()) << "every message is a JSON object";
    ASSERT_TRUE((*ev)["type"].is_string());
    ASSERT_TRUE((*ev)["data"].is_object()) << ev->dump();
    ASSERT_TRUE((*ev)["ts_ms"].is_number_integer()) << ev->dump();
    const std::string type = (*ev)["type"];
    seen.insert(type);
    // Job events carry the job; client and credential (enrollment) events do not.
    if (type.rfind("client_", 0) != 0 && type.rfind("credential_", 0) != 0) {
      EXPECT_EQ((*ev)["job_id"], id) << ev->dump();
      EXPECT_TRUE((*ev)["round"].is_number_integer()) << ev->dump();
    }
    if (type == "round_committed") committed.push_back(*ev);
  }
  EXPECT_EQ(seen.count("client_connected"), 2u);
  EXPECT_EQ(seen.count("job_created"), 1u);
  EXPECT_EQ(seen.count("job_started"), 1u);
  EXPECT_GE(seen.count("round_started"), 2u);
  EXPECT_GE(seen.count("participation"), 4u);
  ASSERT_EQ(committed.size(), 2u);
  EXPECT_EQ(committed[0]["round"], 1);
  EXPECT_EQ(committed[1]["round"], 2);
  EXPECT_EQ(seen.count("job_completed"), 1u);
  // The events agree with REST.
  auto rounds = server.Get("/api/jobs/" + std::to_string(id) + "/rounds").Json();
  ASSERT_TRUE(rounds.is_array());
  EXPECT_EQ(rounds.size(), 2u);

  // /metrics parses and agrees.
  auto metrics = server.Get("/metrics");
  ASSERT_EQ(metrics.status, 200);
  int bad = 0;
  auto m = ParseMetrics(metrics.body, &bad);
  EXPECT_EQ(bad, 0) << metrics.body;
  EXPECT_EQ(m["fedpress_rounds_committed_total"], 2);
  EXPECT_EQ(m["fedpress_jobs{status=\"completed\"}"], 1);
  EXPECT_EQ(m["fedpress_clients_connected"], 2);
  int64_t up_wire = 0;
  for (const auto& rr : rounds) up_wire += rr["bytes_up_wire"].get<int64_t>();
  EXPECT_EQ(m["fedpress_bytes_up_wire_total"], static_cast<double>(up_wire));
  EXPECT_GT(m["fedpress_bytes_down_wire_total"], 0);
  EXPECT_EQ(m["fedpress_round_duration_seconds_count"], 2);
  EXPECT_GE(m["fedpress_http_requests_total{code=\"401\"}"], 4);
  EXPECT_EQ(m["fedpress_events_subscribers"], 1);

  // A client leaving is announced.
  clients[0].Signal(SIGTERM);
  bool gone = false;
  for (int i = 0; i < 50 && !gone; ++i) {
    auto ev = events.Next(30s);
    if (!ev) break;
    gone = (*ev)["type"] == "client_disconnected";
  }
  EXPECT_TRUE(gone);
}

TEST_F(Dashboard, PublicReadAndRotateToken) {
  ServerHandle server = StartServer(dir_, 0, 0, {"--public-read"});
  ASSERT_EQ(server.Get("/healthz").status, 200) << ReadText(dir_ + "/server.log");
  const int port = server.http_port;
  EXPECT_EQ(HttpRequestTo("127.0.0.1", port, "GET", "/api/jobs").status, 200);
  EXPECT_EQ(HttpRequestTo("127.0.0.1", port, "GET", "/metrics").status, 200);
  EXPECT_EQ(HttpRequestTo("127.0.0.1", port, "POST", "/api/jobs", R"({"name":"x"})").status, 401);
  {
    EventClient anonymous;
    EXPECT_EQ(anonymous.Connect(port, "/api/events"), 0);
  }
  // rotate-token on the live database: the old token stops working, the new one works.
  const std::string file = dir_ + "/rotated-token";
  Process rotate({BinDir() + "/fedpress-server", "rotate-token", "--db", dir_ + "/fedpress.db",
                  "--admin-token-file", file},
                 dir_ + "/rotate.log");
  ASSERT_EQ(rotate.Wait(30s), 0) << ReadText(dir_ + "/rotate.log");
  std::string fresh = ReadText(file);
  while (!fresh.empty() && fresh.back() == '\n') fresh.pop_back();
  ASSERT_EQ(fresh.size(), 64u);
  EXPECT_NE(ReadText(dir_ + "/rotate.log").find(fresh), std::string::npos) << "printed";
  EXPECT_NE(fresh, server.token);
  const std::string old = server.token;
  EXPECT_TRUE(WaitUntil([&] {
    return HttpRequestTo("127.0.0.1", port, "POST", "/api/jobs", R"({"name":"x","model":"mlp"})",
                         {{"Authorization", "Bearer " + old}}).status == 401;
  }, 10s));
  EXPECT_EQ(HttpRequestTo("127.0.0.1", port, "POST", "/api/jobs", R"({"name":"x","model":"mlp"})",
                          {{"Authorization", "Bearer " + fresh}}).status, 201);
}

}  // namespace
}  // namespace fedpress::testing

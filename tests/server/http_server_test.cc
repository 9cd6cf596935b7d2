// HttpServer over real loopback sockets, in-process: pipelining limit, slow
// clients, header/target/body limits, keep-alive idle timeout, the WebSocket
// event feed (including a consumer that never reads), and TLS.
#include "server/http/http_server.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <filesystem>
#include <thread>

namespace fedpress::server {
namespace {

namespace beast = boost::beast;
namespace net = boost::asio;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

HttpResponse Echo(const HttpRequest& req) {
  HttpResponse res{http::status::ok, req.version()};
  res.set(http::field::content_type, "text/plain");
  res.body() = std::string(req.target());
  res.prepare_payload();
  return res;
}

std::unique_ptr<HttpServer> StartOrDie(HttpServerOptions o, HttpHandlers h) {
  o.port = 0;
  auto s = HttpServer::Start(o, std::move(h));
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? std::move(*s) : nullptr;
}

HttpHandlers EchoHandlers() {
  HttpHandlers h;
  h.http = Echo;
  return h;
}

tcp::socket Connect(net::io_context& ioc, uint16_t port) {
  tcp::socket s(ioc);
  s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  return s;
}

// Reads until EOF or `deadline`; returns what arrived.
std::string ReadAll(tcp::socket& s, std::chrono::milliseconds deadline) {
  std::string out;
  auto end = std::chrono::steady_clock::now() + deadline;
  s.non_blocking(true);
  char buf[65536];
  while (std::chrono::steady_clock::now() < end) {
    beast::error_code ec;
    size_t n = s.read_some(net::buffer(buf), ec);
    if (ec == net::error::would_block) {
      std::this_thread::sleep_for(5ms);
      continue;
    }
    if (ec) break;
    out.append(buf, n);
  }
  return out;
}

size_t Count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
  return n;
}

TEST(HttpServerTest, PipelinedRequestsAreAllAnsweredInOrder) {
  HttpServerOptions o;
  o.pipeline_limit = 2;  // forces the read pause / resume path
  auto server = StartOrDie(o, EchoHandlers());
  ASSERT_TRUE(server);
  net::io_context ioc;
  auto s = Connect(ioc, server->port());
  std::string reqs;
  for (int i = 0; i < 20; ++i) reqs += "GET /r" + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\n\r\n";
  reqs += "GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  net::write(s, net::buffer(reqs));
  std::string got = ReadAll(s, 5s);
  EXPECT_EQ(Count(got, "HTTP/1.1 200 OK"), 21u);
  size_t prev = 0;
  for (int i = 0; i < 20; ++i) {
    size_t p = got.find("/r" + std::to_string(i) + "HTTP") != std::string::npos
                   ? got.find("/r" + std::to_string(i) + "HTTP")
                   : got.find("/r" + std::to_string(i));
    ASSERT_NE(p, std::string::npos) << i;
    EXPECT_GE(p, prev) << "responses in request order";
    prev = p;
  }
  EXPECT_NE(got.find("/last"), std::string::npos);
}

TEST(HttpServerTest, ASlowClientDoesNotBlockOthers) {
  HttpServerOptions o;
  o.threads = 1;  // even with a single I/O thread
  auto server = StartOrDie(o, EchoHandlers());
  ASSERT_TRUE(server);
  net::io_context ioc;
  auto slow = Connect(ioc, server->port());
  net::write(slow, net::buffer(std::string("GET /slow HTTP/1.1\r\nHost: x\r\nX-Partial: ")));
  auto slow_body = Connect(ioc, server->port());
  net::write(slow_body, net::buffer(std::string("POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc")));
  for (int i = 0; i < 5; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    auto fast = Connect(ioc, server->port());
    net::write(fast, net::buffer(std::string("GET /fast HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")));
    std::string got = ReadAll(fast, 3s);
    EXPECT_NE(got.find("200 OK"), std::string::npos);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
  }
}

TEST(HttpServerTest, LimitsGiveTheirStatusCodes) {
  HttpServerOptions o;
  o.body_limit = 100;
  o.header_limit = 1024;
  o.target_limit = 64;
  auto server = StartOrDie(o, EchoHandlers());
  ASSERT_TRUE(server);
  net::io_context ioc;
  auto send = [&](const std::string& raw) {
    auto s = Connect(ioc, server->port());
    net::write(s, net::buffer(raw));
    return ReadAll(s, 3s);
  };
  EXPECT_NE(send("GET /" + std::string(100, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n").find("HTTP/1.1 414"),
            std::string::npos);
  EXPECT_NE(send("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(2000, 'b') + "\r\n\r\n").find("HTTP/1.1 431"),
            std::string::npos);
  EXPECT_NE(send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 200\r\n\r\n" + std::string(200, 'c'))
                .find("HTTP/1.1 413"),
            std::string::npos);
  EXPECT_NE(send("NONSENSE\r\n\r\n").find("HTTP/1.1 400"), std::string::npos);
}

TEST(HttpServerTest, IdleKeepAliveConnectionsAreClosed) {
  HttpServerOptions o;
  o.idle_timeout_s = 1;
  auto server = StartOrDie(o, EchoHandlers());
  ASSERT_TRUE(server);
  net::io_context ioc;
  auto s = Connect(ioc, server->port());
  net::write(s, net::buffer(std::string("GET /a HTTP/1.1\r\nHost: x\r\n\r\n")));
  auto t0 = std::chrono::steady_clock::now();
  std::string got = ReadAll(s, 5s);  // returns at EOF
  EXPECT_NE(got.find("200 OK"), std::string::npos);
  auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(waited, 900ms);
  EXPECT_LT(waited, 4s) << "closed by the idle timeout, not by our deadline";
}

TEST(HttpServerTest, CountsResponsesByStatus) {
  RequestCounters counters;
  HttpHandlers h = EchoHandlers();
  h.counters = &counters;
  auto server = StartOrDie({}, h);
  ASSERT_TRUE(server);
  net::io_context ioc;
  auto s = Connect(ioc, server->port());
  net::write(s, net::buffer(std::string("GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")));
  ReadAll(s, 3s);
  auto snap = counters.Snapshot();
  ASSERT_EQ(snap.size(), 1u);
  EXPECT_EQ(snap[0], (std::pair<unsigned, uint64_t>{200, 2}));
}

// --- WebSocket feed ---

struct WsFixture {
  EventBroadcaster events;
  std::unique_ptr<HttpServer> server;
  explicit WsFixture(HttpServerOptions o = {}) {
    HttpHandlers h = EchoHandlers();
    h.events = &events;
    h.websocket_gate = [](const HttpRequest& req) -> std::optional<HttpResponse> {
      if (req.target() == "/ws?token=good") return std::nullopt;
      HttpResponse res{http::status::unauthorized, req.version()};
      res.body() = "no";
      res.prepare_payload();
      return res;
    };
    server = StartOrDie(o, std::move(h));
  }
};

bool WaitFor(const std::function<bool()>& f, std::chrono::milliseconds t) {
  auto end = std::chrono::steady_clock::now() + t;
  while (std::chrono::steady_clock::now() < end) {
    if (f()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return f();
}

TEST(WebSocketTest, SubscriberReceivesPublishedEvents) {
  WsFixture f;
  ASSERT_TRUE(f.server);
  net::io_context ioc;
  websocket::stream<tcp::socket> ws(Connect(ioc, f.server->port()));
  ws.handshake("127.0.0.1", "/ws?token=good");
  ASSERT_TRUE(WaitFor([&] { return f.events.subscribers() == 1; }, 3s));
  f.events.Publish("round_committed", 7, 3, {{"accuracy", 0.9}});
  f.events.Publish("client_connected", 0, 0, {{"name", "c"}});
  beast::flat_buffer buf;
  ws.read(buf);
  EXPECT_TRUE(ws.got_text());
  auto j = nlohmann::json::parse(beast::buffers_to_string(buf.data()));
  EXPECT_EQ(j["type"], "round_committed");
  EXPECT_EQ(j["job_id"], 7);
  EXPECT_EQ(j["round"], 3);
  EXPECT_EQ(j["data"]["accuracy"], 0.9);
  EXPECT_GT(j["ts_ms"].get<int64_t>(), 0);
  buf.clear();
  ws.read(buf);
  EXPECT_EQ(nlohmann::json::parse(beast::buffers_to_string(buf.data()))["type"], "client_connected");
  ws.close(websocket::close_code::normal);
  EXPECT_TRUE(WaitFor([&] { return f.events.subscribers() == 0; }, 3s));
}

TEST(WebSocketTest, RefusedUpgradeGetsTheGateResponse) {
  WsFixture f;
  ASSERT_TRUE(f.server);
  net::io_context ioc;
  {
    websocket::stream<tcp::socket> ws(Connect(ioc, f.server->port()));
    beast::error_code ec;
    ws.handshake("127.0.0.1", "/ws?token=bad", ec);
    EXPECT_EQ(ec, websocket::error::upgrade_declined);
  }
  // Beast's sync client does not hand back a declined response: look at it raw.
  auto s = Connect(ioc, f.server->port());
  net::write(s, net::buffer(std::string("GET /ws?token=bad HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
                                        "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                                        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")));
  EXPECT_EQ(ReadAll(s, 3s).rfind("HTTP/1.1 401", 0), 0u);
  EXPECT_EQ(f.events.subscribers(), 0u);
}

TEST(WebSocketTest, AConsumerThatNeverReadsIsDroppedWithoutBlockingOthers) {
  HttpServerOptions o;
  o.ws_queue_messages = 1000;
  o.ws_queue_bytes = 4 << 20;
  WsFixture f(o);
  ASSERT_TRUE(f.server);
  net::io_context ioc;
  websocket::stream<tcp::socket> stuck(Connect(ioc, f.server->port()));
  stuck.handshake("127.0.0.1", "/ws?token=good");
  websocket::stream<tcp::socket> good(Connect(ioc, f.server->port()));
  good.handshake("127.0.0.1", "/ws?token=good");
  ASSERT_TRUE(WaitFor([&] { return f.events.subscribers() == 2; }, 3s));

  // A reader thread keeps `good` drained.
  std::atomic<int> received{0};
  std::thread reader([&] {
    beast::flat_buffer buf;
    beast::error_code ec;
    while (!ec) {
      good.read(buf, ec);
      buf.clear();
      if (!ec) ++received;
    }
  });
  // Paced so a reader that keeps up never has more than a few queued, while
  // the stuck one's kernel buffers fill and its queue passes the bound.
  const std::string blob(32 * 1024, 'x');
  const int kEvents = 1000;  // 32 MB in all
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < kEvents; ++i) {
    f.events.Publish("participation", 1, 1, {{"i", i}, {"blob", blob}});
    if (i % 10 == 9) std::this_thread::sleep_for(5ms);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s) << "publishing never waits for sockets";
  EXPECT_TRUE(WaitFor([&] { return received.load() == kEvents; }, 20s)) << received.load();
  EXPECT_TRUE(WaitFor([&] { return f.events.subscribers() == 1; }, 5s)) << "the stuck consumer was dropped";
  beast::error_code ec;
  good.close(websocket::close_code::normal, ec);
  reader.join();
}

// --- TLS ---

TEST(TlsTest, HealthzOverHttps) {
  if (std::system("command -v openssl >/dev/null 2>&1") != 0) GTEST_SKIP() << "openssl CLI not installed";
  std::string tmpl = (std::filesystem::temp_directory_path() / "fp_tls_XXXXXX").string();
  std::string dir = mkdtemp(tmpl.data());
  std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -days 1 -keyout " + dir +
                    "/key.pem -out " + dir + "/cert.pem >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  HttpServerOptions o;
  o.tls_cert = dir + "/cert.pem";
  o.tls_key = dir + "/key.pem";
  EventBroadcaster events;
  HttpHandlers h = EchoHandlers();
  h.events = &events;
  h.websocket_gate = [](const HttpRequest&) -> std::optional<HttpResponse> { return std::nullopt; };
  auto server = StartOrDie(o, h);
  ASSERT_TRUE(server);
  EXPECT_TRUE(server->tls());

  net::io_context ioc;
  net::ssl::context ctx(net::ssl::context::tls_client);
  ctx.load_verify_file(dir + "/cert.pem");
  ctx.set_verify_mode(net::ssl::verify_peer);
  beast::ssl_stream<beast::tcp_stream> stream(ioc, ctx);
  beast::get_lowest_layer(stream).connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), server->port()));
  stream.handshake(net::ssl::stream_base::client);
  http::request<http::string_body> req{http::verb::get, "/healthz", 11};
  req.set(http::field::host, "127.0.0.1");
  http::write(stream, req);
  beast::flat_buffer buf;
  http::response<http::string_body> res;
  http::read(stream, buf, res);
  EXPECT_EQ(res.result(), http::status::ok);
  EXPECT_EQ(res.body(), "/healthz");

  // WSS on the same port.
  beast::ssl_stream<beast::tcp_stream> s2(ioc, ctx);
  beast::get_lowest_layer(s2).connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), server->port()));
  s2.handshake(net::ssl::stream_base::client);
  websocket::stream<beast::ssl_stream<beast::tcp_stream>> wss(std::move(s2));
  wss.handshake("127.0.0.1", "/api/events");
  ASSERT_TRUE(WaitFor([&] { return events.subscribers() == 1; }, 3s));
  events.Publish("job_started", 1, 1, {});
  beast::flat_buffer wb;
  wss.read(wb);
  EXPECT_EQ(nlohmann::json::parse(beast::buffers_to_string(wb.data()))["type"], "job_started");

  // Plain HTTP on the TLS port gets nothing useful (and does not hang the server).
  auto plain = Connect(ioc, server->port());
  net::write(plain, net::buffer(std::string("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")));
  EXPECT_EQ(ReadAll(plain, 2s).find("200 OK"), std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST(TlsTest, BadCertificateIsAClearError) {
  HttpServerOptions o;
  o.port = 0;
  o.tls_cert = "/nonexistent/cert.pem";
  o.tls_key = "/nonexistent/key.pem";
  auto s = HttpServer::Start(o, Echo);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("--tls-cert"), std::string::npos);
  o.tls_key = "";
  EXPECT_FALSE(HttpServer::Start(o, Echo).ok());
}

}  // namespace
}  // namespace fedpress::server

// HttpServer: a small asynchronous HTTP/1.1 (and WebSocket) server on
// Boost.Beast, in the shape of Beast's advanced server example:
//
//   Listener      accept loop, one strand per connection
//   HttpSession   read -> handle -> queued write; keep-alive with an idle
//                 timeout; body, header and target limits; pipelining: at
//                 most `pipeline_limit` responses queued before reading stops
//   WsSession     takes over the connection on a WebSocket upgrade that the
//                 gate accepts, subscribes to the EventBroadcaster and writes
//                 each event from a bounded queue (over the bound: the
//                 connection is closed; the page reconnects and catches up
//                 from REST). Incoming messages are read and discarded.
//
// Optional TLS (HTTPS/WSS) with Beast's ssl_stream when a certificate and key
// are given. Request handling is a plain function supplied by the caller
// (server/http/router.h); a slow or broken client only ever holds its own
// session, and publishing an event never waits for a socket.
//
// Thread-safety: Start/destroy from one thread; the handlers are called from
// the server's I/O threads concurrently and must be thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "common/status.h"
#include "server/events.h"
#include "server/http/api.h"
#include "server/http/metrics.h"

namespace fedpress::server {

struct HttpServerOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 8080;              // 0 = pick a free port
  int threads = 2;
  // Scheduling niceness of the I/O threads (0..19). Serving the API and the
  // dashboard must not take CPU from training on a shared machine: under a
  // flood of requests the HTTP threads yield to everything at normal priority.
  int nice = 19;
  uint64_t body_limit = 1 << 20;     // bytes; larger requests get 413
  uint32_t header_limit = 16 * 1024; // bytes of request line + headers; larger: 431
  size_t target_limit = 4096;        // request-target length; longer: 414
  size_t pipeline_limit = 16;        // responses queued per connection before reading pauses
  int timeout_s = 30;                // reading one request / writing one response / TLS handshake
  int idle_timeout_s = 60;           // keep-alive connection with no request in flight
  size_t ws_queue_messages = 1000;   // per WebSocket: queued events beyond this close it
  size_t ws_queue_bytes = 1 << 20;   // ... or queued bytes beyond this
  std::string tls_cert;              // PEM certificate chain; with tls_key: HTTPS/WSS
  std::string tls_key;               // PEM private key
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;
// For a WebSocket upgrade request: nullopt accepts it, else the response to send.
using WebSocketGate = std::function<std::optional<HttpResponse>(const HttpRequest&)>;

struct HttpHandlers {
  HttpHandler http;
  WebSocketGate websocket_gate;        // empty: upgrades go to `http` like any request
  EventBroadcaster* events = nullptr;  // accepted WebSockets subscribe here (outlives the server)
  RequestCounters* counters = nullptr; // every response counted by status (may be null)
};

class HttpServer {
 public:
  static Result<std::unique_ptr<HttpServer>> Start(const HttpServerOptions& options, HttpHandlers handlers);
  static Result<std::unique_ptr<HttpServer>> Start(const HttpServerOptions& options, HttpHandler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;
  uint16_t port() const { return port_; }
  bool tls() const { return tls_; }

 private:
  HttpServer() = default;
  boost::asio::io_context ioc_;
  std::vector<std::thread> threads_;
  uint16_t port_ = 0;
  bool tls_ = false;
};

// "HOST:PORT" -> (host, port), with a clear error.
Result<std::pair<std::string, uint16_t>> ParseHostPort(const std::string& s);

}  // namespace fedpress::server

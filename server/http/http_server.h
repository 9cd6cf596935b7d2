// HttpServer: a small asynchronous HTTP/1.1 server on Boost.Beast, in the
// shape of Beast's advanced server example: a listener accepting connections
// and one session per connection (read -> handle -> write, keep-alive, body
// limit, timeouts). Request handling is a plain function supplied by the
// caller; a slow or broken client only ever holds its own session.
//
// Thread-safety: Start/stop from one thread; the handler is called from the
// server's I/O threads concurrently and must be thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "common/status.h"
#include "server/http/api.h"

namespace fedpress::server {

struct HttpServerOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 8080;              // 0 = pick a free port
  int threads = 2;
  uint64_t body_limit = 1 << 20;     // bytes; larger requests get 413
  int timeout_s = 30;                // per read/write
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

class HttpServer {
 public:
  static Result<std::unique_ptr<HttpServer>> Start(const HttpServerOptions& options, HttpHandler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;
  uint16_t port() const { return port_; }

 private:
  HttpServer() = default;
  boost::asio::io_context ioc_;
  std::vector<std::thread> threads_;
  uint16_t port_ = 0;
};

// "HOST:PORT" -> (host, port), with a clear error.
Result<std::pair<std::string, uint16_t>> ParseHostPort(const std::string& s);

}  // namespace fedpress::server

#include "server/http/http_server.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <spdlog/spdlog.h>

namespace fedpress::server {
namespace {

namespace beast = boost::beast;
namespace net = boost::asio;
using tcp = net::ip::tcp;

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, const HttpHandler* handler, const HttpServerOptions* options)
      : stream_(std::move(socket)), handler_(handler), options_(options) {}

  void Run() {
    net::dispatch(stream_.get_executor(), beast::bind_front_handler(&Session::Read, shared_from_this()));
  }

 private:
  void Read() {
    parser_.emplace();
    parser_->body_limit(options_->body_limit);
    parser_->header_limit(16 * 1024);
    stream_.expires_after(std::chrono::seconds(options_->timeout_s));
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::OnRead, shared_from_this()));
  }

  void OnRead(beast::error_code ec, std::size_t) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == net::error::connection_reset || ec == net::error::eof)
      return Close();
    if (ec == http::error::body_limit) {
      return Write(JsonError(http::status::payload_too_large,
                             "request body exceeds " + std::to_string(options_->body_limit) + " bytes",
                             11),
                   /*close=*/true);
    }
    if (ec) {
      return Write(JsonError(http::status::bad_request, "malformed HTTP request: " + ec.message(), 11),
                   /*close=*/true);
    }
    HttpRequest req = parser_->release();
    HttpResponse res;
    try {
      res = (*handler_)(req);
    } catch (const std::exception& e) {
      spdlog::error("http: handler threw: {}", e.what());
      res = JsonError(http::status::internal_server_error, "internal error", req.version());
    }
    res.keep_alive(req.keep_alive());
    if (req.method() == http::verb::head) {
      auto len = res.body().size();
      res.body().clear();
      res.content_length(len);
    }
    Write(std::move(res), !req.keep_alive());
  }

  void Write(HttpResponse res, bool close) {
    auto sp = std::make_shared<HttpResponse>(std::move(res));
    if (close) sp->keep_alive(false);
    stream_.expires_after(std::chrono::seconds(options_->timeout_s));
    http::async_write(stream_, *sp,
                      [self = shared_from_this(), sp, close](beast::error_code ec, std::size_t) {
                        if (ec || close) return self->Close();
                        self->Read();
                      });
  }

  void Close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  const HttpHandler* handler_;
  const HttpServerOptions* options_;
};

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(net::io_context& ioc, tcp::acceptor acceptor, std::shared_ptr<HttpHandler> handler,
           std::shared_ptr<HttpServerOptions> options)
      : ioc_(ioc), acceptor_(std::move(acceptor)), handler_(std::move(handler)), options_(std::move(options)) {}

  void Accept() {
    acceptor_.async_accept(net::make_strand(ioc_),
                           beast::bind_front_handler(&Listener::OnAccept, shared_from_this()));
  }

 private:
  void OnAccept(beast::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted) return;
    if (!ec) {
      // Sessions keep the handler and options alive through this listener.
      std::make_shared<Session>(std::move(socket), handler_.get(), options_.get())->Run();
    }
    Accept();
  }

  net::io_context& ioc_;
  tcp::acceptor acceptor_;
  std::shared_ptr<HttpHandler> handler_;
  std::shared_ptr<HttpServerOptions> options_;
};

}  // namespace

Result<std::pair<std::string, uint16_t>> ParseHostPort(const std::string& s) {
  auto colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 >= s.size())
    return Status::InvalidArgument("'" + s + "' is not HOST:PORT (e.g. 127.0.0.1:8080)");
  std::string host = s.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  unsigned port = 0;
  auto portstr = std::string_view(s).substr(colon + 1);
  auto [p, ec] = std::from_chars(portstr.data(), portstr.data() + portstr.size(), port);
  if (ec != std::errc() || p != portstr.data() + portstr.size() || port > 65535)
    return Status::InvalidArgument("'" + s + "': port must be a number 0..65535");
  return std::make_pair(host, static_cast<uint16_t>(port));
}

Result<std::unique_ptr<HttpServer>> HttpServer::Start(const HttpServerOptions& options, HttpHandler handler) {
  std::unique_ptr<HttpServer> s(new HttpServer());
  beast::error_code ec;
  auto addr = net::ip::make_address(options.address, ec);
  if (ec) return Status::InvalidArgument("invalid HTTP address '" + options.address + "': " + ec.message());
  tcp::endpoint ep{addr, options.port};
  tcp::acceptor acceptor(s->ioc_);
  acceptor.open(ep.protocol(), ec);
  if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(ep, ec);
  if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec)
    return Status::Unavailable("cannot listen on " + options.address + ":" + std::to_string(options.port) +
                               ": " + ec.message() + " (port in use? choose another with --http)");
  s->port_ = acceptor.local_endpoint().port();
  std::make_shared<Listener>(s->ioc_, std::move(acceptor),
                             std::make_shared<HttpHandler>(std::move(handler)),
                             std::make_shared<HttpServerOptions>(options))
      ->Accept();
  for (int i = 0; i < std::max(1, options.threads); ++i)
    s->threads_.emplace_back([io = &s->ioc_] {
      for (;;) {
        try {
          io->run();
          return;
        } catch (const std::exception& e) {
          spdlog::error("http: I/O thread caught: {}", e.what());
        }
      }
    });
  return s;
}

HttpServer::~HttpServer() {
  ioc_.stop();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
}

}  // namespace fedpress::server

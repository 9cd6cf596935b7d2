#include "server/http/http_server.h"

#include <sys/resource.h>
#include <unistd.h>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <charconv>
#include <deque>
#include <spdlog/spdlog.h>

namespace fedpress::server {
namespace {

namespace beast = boost::beast;
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

template <class Stream>
constexpr bool kIsTls = std::is_same_v<Stream, TlsStream>;

// Constant after Start; shared by the listener and every session.
struct Shared {
  HttpServerOptions options;
  HttpHandlers handlers;
  std::unique_ptr<ssl::context> tls;
};

bool IsDisconnect(const beast::error_code& ec) {
  return ec == http::error::end_of_stream || ec == beast::error::timeout || ec == net::error::connection_reset ||
         ec == net::error::eof || ec == net::error::operation_aborted || ec == net::error::broken_pipe ||
         ec == net::ssl::error::stream_truncated;
}

// --- WebSocket session: the /api/events feed ---

template <class Stream>
class WsSession : public EventSink, public std::enable_shared_from_this<WsSession<Stream>> {
 public:
  WsSession(Stream&& stream, std::shared_ptr<const Shared> shared)
      : ws_(std::move(stream)), shared_(std::move(shared)) {}

  void Run(HttpRequest req) {
    // The HTTP session's timer must not fire under the WebSocket.
    beast::get_lowest_layer(ws_).expires_never();
    auto to = websocket::stream_base::timeout::suggested(beast::role_type::server);
    to.idle_timeout = std::chrono::seconds(60);
    to.keep_alive_pings = true;  // dead peers are found within a minute
    ws_.set_option(to);
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::server, "fedpress"); }));
    ws_.read_message_max(4096);  // clients have nothing to say to us
    ws_.async_accept(req, beast::bind_front_handler(&WsSession::OnAccept, this->shared_from_this()));
  }

  // Any thread: hand the message to our strand; never blocks.
  void Deliver(std::shared_ptr<const std::string> message) override {
    net::post(ws_.get_executor(),
              [self = this->shared_from_this(), m = std::move(message)]() mutable { self->OnDeliver(std::move(m)); });
  }

 private:
  void OnAccept(beast::error_code ec) {
    if (ec) return;
    open_ = true;
    if (shared_->handlers.events) shared_->handlers.events->Subscribe(this->shared_from_this());
    Read();
  }

  void Read() {
    ws_.async_read(buffer_, beast::bind_front_handler(&WsSession::OnRead, this->shared_from_this()));
  }

  void OnRead(beast::error_code ec, std::size_t) {
    if (ec) return Closed();
    buffer_.consume(buffer_.size());
    Read();
  }

  void OnDeliver(std::shared_ptr<const std::string> m) {
    if (!open_ || closed_) return;
    if (queue_.size() + 1 > shared_->options.ws_queue_messages ||
        queued_bytes_ + m->size() > shared_->options.ws_queue_bytes) {
      spdlog::warn("events: a WebSocket client is not keeping up ({} messages, {} bytes queued): closing it",
                   queue_.size(), queued_bytes_);
      Closed();
      beast::error_code ignored;
      beast::get_lowest_layer(ws_).socket().close(ignored);  // pending operations are aborted
      return;
    }
    queued_bytes_ += m->size();
    queue_.push_back(std::move(m));
    if (queue_.size() == 1) Write();
  }

  void Write() {
    ws_.text(true);
    ws_.async_write(net::buffer(*queue_.front()),
                    beast::bind_front_handler(&WsSession::OnWrite, this->shared_from_this()));
  }

  void OnWrite(beast::error_code ec, std::size_t) {
    if (ec) return Closed();
    if (queue_.empty()) return;
    queued_bytes_ -= queue_.front()->size();
    queue_.pop_front();
    if (!closed_ && !queue_.empty()) Write();
  }

  void Closed() {
    if (closed_) return;
    closed_ = true;
    if (shared_->handlers.events) shared_->handlers.events->Unsubscribe(this);
  }

  websocket::stream<Stream> ws_;
  std::shared_ptr<const Shared> shared_;
  beast::flat_buffer buffer_;
  std::deque<std::shared_ptr<const std::string>> queue_;
  size_t queued_bytes_ = 0;
  bool open_ = false, closed_ = false;
};

// --- HTTP session ---

template <class Stream>
class HttpSession : public std::enable_shared_from_this<HttpSession<Stream>> {
 public:
  HttpSession(Stream&& stream, std::shared_ptr<const Shared> shared)
      : stream_(std::move(stream)), shared_(std::move(shared)) {}

  void Run() {
    net::dispatch(stream_.get_executor(), [self = this->shared_from_this()] { self->Start(); });
  }

 private:
  const HttpServerOptions& opt() const { return shared_->options; }

  void Start() {
    if constexpr (kIsTls<Stream>) {
      beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(opt().timeout_s));
      stream_.async_handshake(ssl::stream_base::server, [self = this->shared_from_this()](beast::error_code ec) {
        if (ec) return;  // not TLS, or gave up: nothing to answer
        self->Read();
      });
    } else {
      Read();
    }
  }

  void Read() {
    if (closing_ || reading_) return;
    parser_.emplace();
    parser_->body_limit(opt().body_limit);
    parser_->header_limit(opt().header_limit);
    // Reading the first request is bounded by timeout_s. The next request on a keep-alive connection may take idle_timeout_s to
    // start arriving (the read is started as soon as the previous request is
    // parsed, so this also bounds a pipelining client).
    beast::get_lowest_layer(stream_).expires_after(
        std::chrono::seconds(served_ > 0 ? std::max(opt().idle_timeout_s, 1) : opt().timeout_s));
    reading_ = true;
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&HttpSession::OnRead, this->shared_from_this()));
  }

  void OnRead(beast::error_code ec, std::size_t) {
    reading_ = false;
    if (IsDisconnect(ec)) {
      closing_ = true;
      if (!writing_) Close();
      return;
    }
    if (ec == http::error::body_limit)
      return Enqueue(JsonError(http::status::payload_too_large,
                               "request body exceeds " + std::to_string(opt().body_limit) + " bytes", 11),
                     /*close=*/true);
    if (ec == http::error::header_limit)
      return Enqueue(JsonError(http::status::request_header_fields_too_large,
                               "request headers exceed " + std::to_string(opt().header_limit) + " bytes", 11),
                     true);
    if (ec) return Enqueue(JsonError(http::status::bad_request, "malformed HTTP request: " + ec.message(), 11), true);

    ++served_;
    auto& req = parser_->get();
    if (req.target().size() > opt().target_limit)
      return Enqueue(JsonError(http::status::uri_too_long,
                               "request target longer than " + std::to_string(opt().target_limit) + " bytes",
                               req.version()),
                     true);

    if (websocket::is_upgrade(req) && shared_->handlers.websocket_gate) {
      if (!queue_.empty() || writing_)
        return Enqueue(JsonError(http::status::bad_request, "a WebSocket upgrade must not be pipelined",
                                 req.version()),
                       true);
      std::optional<HttpResponse> denied;
      try {
        denied = shared_->handlers.websocket_gate(req);
      } catch (const std::exception& e) {
        spdlog::error("http: WebSocket gate threw: {}", e.what());
        denied = JsonError(http::status::internal_server_error, "internal error", req.version());
      }
      if (denied) return Enqueue(std::move(*denied), true);
      if (shared_->handlers.counters) shared_->handlers.counters->Count(101);
      std::make_shared<WsSession<Stream>>(std::move(stream_), shared_)->Run(parser_->release());
      return;  // this session ends here
    }

    HttpResponse res;
    try {
      res = shared_->handlers.http(req);
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
    const bool close = !req.keep_alive();
    Enqueue(std::move(res), close);
    if (!closing_ && queue_.size() < opt().pipeline_limit) Read();
  }

  void Enqueue(HttpResponse res, bool close) {
    if (shared_->handlers.counters) shared_->handlers.counters->Count(res.result_int());
    if (close) {
      res.keep_alive(false);
      closing_ = true;
    }
    queue_.push_back(std::make_shared<HttpResponse>(std::move(res)));
    if (!writing_) WriteNext();
  }

  void WriteNext() {
    writing_ = true;
    auto sp = queue_.front();
    beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(opt().timeout_s));
    http::async_write(stream_, *sp,
                      [self = this->shared_from_this(), sp](beast::error_code ec, std::size_t) {
                        self->OnWrite(ec, sp->need_eof());
                      });
  }

  void OnWrite(beast::error_code ec, bool need_eof) {
    writing_ = false;
    const bool was_full = queue_.size() >= opt().pipeline_limit;
    queue_.pop_front();
    if (ec || need_eof) {
      closing_ = true;
      return Close();
    }
    if (!queue_.empty()) return WriteNext();
    if (closing_) return Close();
    if (was_full || !reading_) Read();
  }

  void Close() {
    if (closed_) return;
    closed_ = true;
    if constexpr (kIsTls<Stream>) {
      beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(5));
      stream_.async_shutdown([self = this->shared_from_this()](beast::error_code) {
        beast::error_code ignored;
        beast::get_lowest_layer(self->stream_).socket().close(ignored);
      });
    } else {
      beast::error_code ec;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    }
  }

  Stream stream_;
  std::shared_ptr<const Shared> shared_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::deque<std::shared_ptr<HttpResponse>> queue_;  // responses not yet fully written
  bool reading_ = false, writing_ = false, closing_ = false, closed_ = false;
  uint64_t served_ = 0;
};

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(net::io_context& ioc, tcp::acceptor acceptor, std::shared_ptr<const Shared> shared)
      : ioc_(ioc), acceptor_(std::move(acceptor)), shared_(std::move(shared)) {}

  void Accept() {
    acceptor_.async_accept(net::make_strand(ioc_), beast::bind_front_handler(&Listener::OnAccept, shared_from_this()));
  }

 private:
  void OnAccept(beast::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted) return;
    if (!ec) {
      if (shared_->tls)
        std::make_shared<HttpSession<TlsStream>>(TlsStream(std::move(socket), *shared_->tls), shared_)->Run();
      else
        std::make_shared<HttpSession<PlainStream>>(PlainStream(std::move(socket)), shared_)->Run();
    }
    Accept();
  }

  net::io_context& ioc_;
  tcp::acceptor acceptor_;
  std::shared_ptr<const Shared> shared_;
};

Result<std::unique_ptr<ssl::context>> MakeTlsContext(const HttpServerOptions& o) {
  auto ctx = std::make_unique<ssl::context>(ssl::context::tls_server);
  beast::error_code ec;
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                       ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use,
                   ec);
  if (!ec) ctx->use_certificate_chain_file(o.tls_cert, ec);
  if (ec) return Status::InvalidArgument("--tls-cert " + o.tls_cert + ": " + ec.message());
  ctx->use_private_key_file(o.tls_key, ssl::context::pem, ec);
  if (ec) return Status::InvalidArgument("--tls-key " + o.tls_key + ": " + ec.message());
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1)
    return Status::InvalidArgument("--tls-key " + o.tls_key + " does not match --tls-cert " + o.tls_cert);
  return ctx;
}

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
  HttpHandlers h;
  h.http = std::move(handler);
  return Start(options, std::move(h));
}

Result<std::unique_ptr<HttpServer>> HttpServer::Start(const HttpServerOptions& options, HttpHandlers handlers) {
  if (options.tls_cert.empty() != options.tls_key.empty())
    return Status::InvalidArgument("TLS needs both --tls-cert and --tls-key");
  auto shared = std::make_shared<Shared>();
  shared->options = options;
  shared->options.pipeline_limit = std::max<size_t>(1, options.pipeline_limit);
  shared->handlers = std::move(handlers);
  if (!options.tls_cert.empty()) {
    FP_ASSIGN_OR_RETURN(shared->tls, MakeTlsContext(options));
  }
  std::unique_ptr<HttpServer> s(new HttpServer());
  s->tls_ = shared->tls != nullptr;
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
  std::make_shared<Listener>(s->ioc_, std::move(acceptor), std::move(shared))->Accept();
  for (int i = 0; i < std::max(1, options.threads); ++i)
    s->threads_.emplace_back([io = &s->ioc_, nice = options.nice] {
      // Per-thread niceness (Linux: a thread is a schedulable task of its own).
      if (nice > 0 && ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), nice) != 0)
        spdlog::debug("http: cannot lower I/O thread priority");
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

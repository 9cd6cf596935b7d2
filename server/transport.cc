#include "server/transport.h"

#include "common/zmq_monitor.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <zmq.h>

#include <cstring>

#include "common/clock.h"

namespace fedpress::server {

void ApplyClientSocketOptions(zmq::socket_t& socket, const TransportOptions& options) {
  socket.set(zmq::sockopt::maxmsgsize, options.max_message_bytes);
  socket.set(zmq::sockopt::sndhwm, options.send_hwm);
  socket.set(zmq::sockopt::rcvhwm, options.recv_hwm);
  socket.set(zmq::sockopt::linger, 0);
  // Dead TCP peers are found by the kernel (keepalive probes on a connection
  // idle for 10 s: gone after about 20 s), not by ZMTP heartbeats: with
  // ZMQ_HEARTBEAT_IVL every connection re-arms a heartbeat-timeout timer each
  // interval and cancels it on its next message, and libzmq 4.3's
  // cancel_timer scans all the I/O thread's timers (O(connections)), so the
  // I/O thread's work grew as clients squared (5,000 clients: one core busy
  // in std::_Rb_tree_increment). Client silence is judged by the
  // coordinator's application heartbeats anyway.
  socket.set(zmq::sockopt::heartbeat_ivl, 0);
  socket.set(zmq::sockopt::tcp_keepalive, 1);
  socket.set(zmq::sockopt::tcp_keepalive_idle, 10);
  socket.set(zmq::sockopt::tcp_keepalive_intvl, 2);
  socket.set(zmq::sockopt::tcp_keepalive_cnt, 5);
}

Result<std::unique_ptr<Transport>> Transport::Start(const TransportOptions& options) {
  std::unique_ptr<Transport> t(new Transport());
  t->options_ = options;
  const bool curve = !options.curve_secret_key.empty();
  if (curve) {
    if (!options.zap_policy) return Status::InvalidArgument("transport: CURVE needs a ZAP policy");
    // The handler must be bound before the socket accepts connections:
    // without one, libzmq would let every CURVE client in.
    FP_ASSIGN_OR_RETURN(t->zap_, ZapAuthenticator::Start(t->context_, options.zap_policy));
  }
  try {
    t->socket_ = std::make_unique<zmq::socket_t>(t->context_, zmq::socket_type::router);
    if (curve) {
      t->socket_->set(zmq::sockopt::curve_server, 1);
      t->socket_->set(zmq::sockopt::curve_secretkey, options.curve_secret_key);
      t->socket_->set(zmq::sockopt::zap_domain, "fedpress");
      t->socket_->set(zmq::sockopt::handshake_ivl, 10000);
      const std::string monitor_endpoint = "inproc://fedpress-transport-monitor";
      if (zmq_socket_monitor(t->socket_->handle(), monitor_endpoint.c_str(),
                             ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                                 ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) == 0) {
        t->monitor_ = std::make_unique<zmq::socket_t>(t->context_, zmq::socket_type::pair);
        t->monitor_->set(zmq::sockopt::linger, 0);
        t->monitor_->connect(monitor_endpoint);
      }
    }
    ApplyClientSocketOptions(*t->socket_, options);
    t->socket_->bind(options.bind);
    t->endpoint_ = t->socket_->get(zmq::sockopt::last_endpoint);
  } catch (const zmq::error_t& e) {
    return Status::Unavailable("cannot bind ZeroMQ endpoint '" + options.bind + "': " + e.what() +
                               " (is another server running on that port? use --bind)");
  }
  t->wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (t->wake_fd_ < 0) return Status::Internal("eventfd failed");
  t->thread_ = std::thread([raw = t.get()] { raw->Loop(); });
  return t;
}

Transport::~Transport() {
  stop_ = true;
  if (wake_fd_ >= 0) {
    uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof one);
  }
  if (thread_.joinable()) thread_.join();
  if (socket_) zmq_socket_monitor(socket_->handle(), nullptr, 0);
  monitor_.reset();
  socket_.reset();
  zap_.reset();
  context_.close();
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void Transport::Send(const std::string& peer, std::vector<uint8_t> envelope, SharedBytes payload) {
  {
    std::lock_guard<std::mutex> lock(out_mu_);
    outbound_.push_back({peer, std::move(envelope), std::move(payload)});
  }
  uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof one);
}

std::optional<int64_t> Transport::oldest_queued_arrival_ms() {
  std::lock_guard<std::mutex> lock(in_mu_);
  if (inbound_.empty()) return std::nullopt;
  return inbound_.front().arrived_steady_ms;
}

std::optional<InboundMessage> Transport::Receive(int timeout_ms) {
  std::unique_lock<std::mutex> lock(in_mu_);
  if (!in_cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                       [&] { return !inbound_.empty(); }))
    return std::nullopt;
  InboundMessage m = std::move(inbound_.front());
  inbound_.pop_front();
  if (m.overflowed) {  // not charged to the byte bounds
    --queued_notices_;
    return m;
  }
  const size_t cost = m.wire_bytes + kQueuedMessageOverheadBytes;
  queued_bytes_ -= cost;
  if (auto it = queued_by_peer_.find(m.peer); it != queued_by_peer_.end() && (it->second -= cost) == 0)
    queued_by_peer_.erase(it);
  return m;
}

void Transport::FlushOutbound() {
  std::deque<Outbound> batch;
  {
    std::lock_guard<std::mutex> lock(out_mu_);
    batch.swap(outbound_);
  }
  for (auto& o : batch) {
    try {
      socket_->send(zmq::buffer(o.peer), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
      if (o.payload) {
        socket_->send(zmq::buffer(o.envelope), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
        // Zero-copy: the frame borrows the shared buffer and holds a reference
        // until ZeroMQ is done with it.
        auto* keep = new SharedBytes(o.payload);
        zmq::message_t frame(
            const_cast<uint8_t*>(o.payload->data()), o.payload->size(),
            [](void*, void* hint) { delete static_cast<SharedBytes*>(hint); }, keep);
        socket_->send(frame, zmq::send_flags::dontwait);
      } else {
        socket_->send(zmq::buffer(o.envelope), zmq::send_flags::dontwait);
      }
    } catch (const zmq::error_t& e) {
      spdlog::warn("transport: send to peer failed: {}", e.what());
    }
  }
}

// Failed handshakes seen by the server: logged (throttled) so an operator
// can tell why a client does not show up.
void Transport::DrainMonitor() {
  for (int i = 0; i < 64; ++i) {
    const std::optional<MonitorEvent> e = ReadMonitorEvent(*monitor_);
    if (!e) return;
    const uint16_t event = e->event;
    const uint32_t value = e->value;
    std::string why;
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
      why = "its key was refused (not enrolled or revoked; status " + std::to_string(value) + ")";
    else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL && value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH)
      why = "it does not use CURVE (a plaintext/--insecure client?)";
    else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL && value == ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC)
      why = "its messages do not decrypt (it pins another server key: check its --server-key)";
    else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL)
      why = "protocol error " + std::to_string(value);
    else
      why = "the connection closed during the handshake";
    const int64_t now = SteadyMs();
    if (now - monitor_window_ms_ >= 10000) {
      if (monitor_suppressed_ > 0)
        spdlog::warn("transport: {} more failed client handshakes in the last 10 s (not logged)", monitor_suppressed_);
      monitor_window_ms_ = now;
      monitor_logged_ = 0;
      monitor_suppressed_ = 0;
    }
    if (monitor_logged_++ < 10)
      spdlog::warn("transport: a client's CURVE handshake failed: {}", why);
    else
      ++monitor_suppressed_;
  }
}

void Transport::Loop() {
  zmq::pollitem_t items[3] = {
      {socket_->handle(), 0, ZMQ_POLLIN, 0},
      {nullptr, wake_fd_, ZMQ_POLLIN, 0},
      {monitor_ ? monitor_->handle() : nullptr, 0, ZMQ_POLLIN, 0},
  };
  const int nitems = monitor_ ? 3 : 2;
  while (!stop_) {
    try {
      zmq::poll(items, nitems, std::chrono::milliseconds(200));
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;
      spdlog::error("transport: poll failed: {}", e.what());
      continue;
    }
    if (items[1].revents & ZMQ_POLLIN) {
      uint64_t n;
      (void)!::read(wake_fd_, &n, sizeof n);
    }
    if (monitor_ && (items[2].revents & ZMQ_POLLIN)) DrainMonitor();
    FlushOutbound();
    // Drain what is readable now, bounded per iteration so sends are not starved.
    for (int i = 0; i < 256 && !stop_; ++i) {
      std::vector<zmq::message_t> parts;
      try {
        zmq::message_t part;
        if (!socket_->recv(part, zmq::recv_flags::dontwait)) break;
        parts.push_back(std::move(part));
        while (parts.back().more()) {
          zmq::message_t next;
          if (!socket_->recv(next, zmq::recv_flags::dontwait)) break;
          parts.push_back(std::move(next));
        }
      } catch (const zmq::error_t& e) {
        spdlog::warn("transport: receive failed: {}", e.what());
        break;
      }
      if (parts.size() < 2) continue;  // identity only: nothing to deliver
      InboundMessage m;
      m.arrived_steady_ms = SteadyMs();
      m.peer = parts[0].to_string();
      if (zap_) {
        // Every frame of a connection carries its ZAP User-Id.
        const char* uid = zmq_msg_gets(parts[1].handle(), "User-Id");
        if (uid) m.user_id = uid;
      }
      if (const char* addr = zmq_msg_gets(parts[1].handle(), "Peer-Address")) m.source = addr;
      for (size_t k = 1; k < parts.size(); ++k) {
        m.wire_bytes += parts[k].size();
        m.frames.push_back(std::move(parts[k]));
      }
      if (options_.admit && !options_.admit(m)) {
        ++dropped_by_policy_;
        continue;
      }
      std::lock_guard<std::mutex> lock(in_mu_);
      // A message costs its bytes plus its bookkeeping, so many small ones
      // (N clients' heartbeats behind a burst of updates) are bounded by the
      // same memory budget as a few large ones.
      const size_t cost = m.wire_bytes + kQueuedMessageOverheadBytes;
      size_t& peer_bytes = queued_by_peer_[m.peer];
      // One message always fits an empty queue (ZeroMQ's maxmsgsize bounds it).
      if (inbound_.size() >= options_.max_queued_inbound ||
          (queued_bytes_ > 0 && queued_bytes_ + cost > options_.max_queued_inbound_bytes) ||
          (peer_bytes > 0 && peer_bytes + cost > options_.max_peer_queued_bytes)) {
        if (peer_bytes == 0) queued_by_peer_.erase(m.peer);
        ++dropped_inbound_;
        // Keep the envelope of a dropped envelope + payload message (an
        // UPDATE) as a notice, so its sender is told to resend instead of
        // the round waiting for its deadline.
        if (m.frames.size() == 2 && m.frames[0].size() <= kMaxOverflowNoticeEnvelopeBytes &&
            queued_notices_ < options_.max_queued_overflow_notices) {
          m.frames.pop_back();
          m.overflowed = true;
          ++queued_notices_;
          ++overflow_notices_;
          inbound_.push_back(std::move(m));
          in_cv_.notify_one();
        }
        continue;
      }
      peer_bytes += cost;
      queued_bytes_ += cost;
      inbound_.push_back(std::move(m));
      in_cv_.notify_one();
    }
  }
}

}  // namespace fedpress::server

// Transport: the server's ZeroMQ ROUTER socket and the thread that owns it.
// Mechanism only: it moves frames, it does not interpret them. Received
// messages are queued for the coordinator thread (handlers never run on the
// socket thread, as in ps-lite's Van/Customer split); sends from any thread
// are queued and flushed by the socket thread, woken through an eventfd.
// Payload frames are shared between recipients without copying.
//
// Security: with `curve_secret_key` set the socket is a ZeroMQ CURVE server
// (every connection encrypted and authenticated) and a ZapAuthenticator in
// the same context decides, per connection, which client keys may connect
// (`zap_policy`); each inbound message carries the ZAP User-Id of its
// connection. Failed handshakes (wrong server key, plaintext client, refused
// key) are logged, at most 10 lines per 10 s. Without a key: plaintext, no
// authentication (--insecure).
//
// Dead peers: TCP keepalive, not ZMTP heartbeats, whose libzmq timers cost
// O(connections) per received message (ApplyClientSocketOptions).
//
// Thread-safety: Send(), Receive() and Stop() are thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <zmq.hpp>

#include "common/status.h"
#include "server/outbox.h"
#include "server/zap_authenticator.h"

namespace fedpress::server {

struct InboundMessage {
  std::string peer;                  // ZeroMQ routing id of the sender
  std::vector<zmq::message_t> frames;  // after the identity frame
  size_t wire_bytes = 0;             // sum of frame sizes
  std::string user_id;               // ZAP User-Id of the connection ("" without CURVE)
  std::string source;                // remote address of the connection ("Peer-Address")
  int64_t arrived_steady_ms = 0;     // SteadyMs() when the socket thread received it
  // An overflow notice: the message (an envelope and a payload) did not fit
  // the queue bounds; its payload was dropped and only the envelope (frames
  // holds 1 frame) is queued, so the coordinator can tell the sender to resend.
  bool overflowed = false;
};

struct TransportOptions {
  std::string bind = "tcp://127.0.0.1:7070";
  int64_t max_message_bytes = 64 << 20;  // ZMQ_MAXMSGSIZE
  int send_hwm = 1000;
  int recv_hwm = 1000;
  // Messages waiting for the coordinator; beyond this, new messages are
  // dropped. Only a backstop: the byte bounds below normally come first. It
  // must not be what a legitimate burst hits: N clients heartbeat N/2 times
  // a second, and a count bound of 10,000 (4 s of heartbeats at 5,000
  // clients) dropped UPDATEs queued behind them, so the round waited for its
  // deadline.
  size_t max_queued_inbound = 1000000;
  // Bytes of received messages waiting for the coordinator, in all and per
  // peer (routing id); a message that would exceed either is dropped. Each
  // message is charged its frames' bytes plus kQueuedMessageOverheadBytes.
  size_t max_queued_inbound_bytes = size_t{512} << 20;
  size_t max_peer_queued_bytes = size_t{64} << 20;
  // Overflow notices (see InboundMessage::overflowed) waiting, at most; they
  // are not charged to the byte bounds. Beyond this, or for an envelope over
  // kMaxOverflowNoticeEnvelopeBytes, a message is dropped without a notice.
  size_t max_queued_overflow_notices = 65536;
  // Admission policy (e.g. FloodGuard), called on the socket thread for each
  // received message before it is queued; false drops it. Empty: admit all.
  std::function<bool(const InboundMessage&)> admit;
  // CURVE: the server's secret key (Z85). Empty = plaintext, no ZAP.
  std::string curve_secret_key;
  ZapPolicy zap_policy;                  // required with curve_secret_key
};

// What a queued message is charged beyond its frames' bytes (its InboundMessage,
// frame headers, queue slot), so that small messages count against the byte bounds.
inline constexpr size_t kQueuedMessageOverheadBytes = 256;
// Largest envelope kept as an overflow notice (an UPDATE's is 49 bytes).
inline constexpr size_t kMaxOverflowNoticeEnvelopeBytes = 256;

// The client-facing ROUTER socket's options: sizes, high-water marks, no
// linger, and dead-peer detection by TCP keepalive (no ZMTP heartbeats:
// see transport.cc). Used by Transport::Start; public for tests.
void ApplyClientSocketOptions(zmq::socket_t& socket, const TransportOptions& options);

class Transport : public Outbox {
 public:
  static Result<std::unique_ptr<Transport>> Start(const TransportOptions& options);
  ~Transport();  // stops the thread
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  // Queues [peer][envelope][payload?] for sending. Never blocks on the network.
  void Send(const std::string& peer, std::vector<uint8_t> envelope,
            SharedBytes payload = nullptr) override;
  // Waits up to timeout_ms for a message.
  std::optional<InboundMessage> Receive(int timeout_ms);
  // The endpoint actually bound (resolves port 0).
  const std::string& endpoint() const { return endpoint_; }
  uint64_t dropped_inbound() const { return dropped_inbound_.load(); }        // queue bounds
  uint64_t dropped_by_policy() const { return dropped_by_policy_.load(); }    // options.admit
  // Of dropped_inbound(): those whose envelope was queued as an overflow notice.
  uint64_t overflow_notices() const { return overflow_notices_.load(); }
  // Charged bytes (frames + kQueuedMessageOverheadBytes each) now queued.
  size_t queued_inbound_bytes() const { return queued_bytes_.load(); }
  // When the oldest message still waiting for Receive() arrived (SteadyMs()),
  // or nullopt when none waits. Everything that arrived before it has been
  // received: a peer silent until then really was silent, whatever is queued.
  std::optional<int64_t> oldest_queued_arrival_ms();
  bool curve() const { return zap_ != nullptr; }

 private:
  struct Outbound {
    std::string peer;
    std::vector<uint8_t> envelope;
    SharedBytes payload;
  };
  Transport() = default;
  void Loop();
  void FlushOutbound();
  void DrainMonitor();

  // Constant after Start.
  TransportOptions options_;
  std::string endpoint_;
  zmq::context_t context_{1};
  std::unique_ptr<ZapAuthenticator> zap_;  // CURVE only; started before bind
  std::unique_ptr<zmq::socket_t> socket_;  // used only by thread_
  std::unique_ptr<zmq::socket_t> monitor_; // handshake events; used only by thread_
  // Handshake-failure log throttle (thread_ only).
  int64_t monitor_window_ms_ = 0;
  int monitor_logged_ = 0;
  uint64_t monitor_suppressed_ = 0;
  int wake_fd_ = -1;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> dropped_inbound_{0};
  std::atomic<uint64_t> dropped_by_policy_{0};
  std::atomic<uint64_t> overflow_notices_{0};
  size_t queued_notices_ = 0;  // GUARDED_BY(in_mu_)
  std::atomic<size_t> queued_bytes_{0};  // written under in_mu_

  std::mutex out_mu_;
  std::deque<Outbound> outbound_;  // GUARDED_BY(out_mu_)

  std::mutex in_mu_;
  std::condition_variable in_cv_;
  std::deque<InboundMessage> inbound_;  // GUARDED_BY(in_mu_)
  std::unordered_map<std::string, size_t> queued_by_peer_;  // GUARDED_BY(in_mu_); no zero entries
};

}  // namespace fedpress::server

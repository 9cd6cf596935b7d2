// Transport: the server's ZeroMQ ROUTER socket and the thread that owns it.
// Mechanism only: it moves frames, it does not interpret them. Received
// messages are queued for the coordinator thread (handlers never run on the
// socket thread, as in ps-lite's Van/Customer split); sends from any thread
// are queued and flushed by the socket thread, woken through an eventfd.
// Payload frames are shared between recipients without copying.
//
// Thread-safety: Send(), Receive() and Stop() are thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <zmq.hpp>

#include "common/status.h"
#include "server/outbox.h"

namespace fedpress::server {

struct InboundMessage {
  std::string peer;                  // ZeroMQ routing id of the sender
  std::vector<zmq::message_t> frames;  // after the identity frame
  size_t wire_bytes = 0;             // sum of frame sizes
};

struct TransportOptions {
  std::string bind = "tcp://127.0.0.1:7070";
  int64_t max_message_bytes = 64 << 20;  // ZMQ_MAXMSGSIZE
  int send_hwm = 1000;
  int recv_hwm = 1000;
  size_t max_queued_inbound = 10000;     // beyond this, new messages are dropped
};

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
  uint64_t dropped_inbound() const { return dropped_inbound_.load(); }

 private:
  struct Outbound {
    std::string peer;
    std::vector<uint8_t> envelope;
    SharedBytes payload;
  };
  Transport() = default;
  void Loop();
  void FlushOutbound();

  // Constant after Start.
  TransportOptions options_;
  std::string endpoint_;
  zmq::context_t context_{1};
  std::unique_ptr<zmq::socket_t> socket_;  // used only by thread_
  int wake_fd_ = -1;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> dropped_inbound_{0};

  std::mutex out_mu_;
  std::deque<Outbound> outbound_;  // GUARDED_BY(out_mu_)

  std::mutex in_mu_;
  std::condition_variable in_cv_;
  std::deque<InboundMessage> inbound_;  // GUARDED_BY(in_mu_)
};

}  // namespace fedpress::server

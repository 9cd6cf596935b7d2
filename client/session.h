// Session: the client daemon's connection to the server. Owns a ZeroMQ DEALER
// socket on the calling thread: registers, sends heartbeats, reconnects with
// exponential backoff (and jitter) when the server goes quiet or forgets us,
// resends an UPDATE the server was too busy to queue (REJECT 13), and hands TRAIN tasks to a TaskHandler that runs on a worker thread, so
// heartbeats keep flowing while a model trains.
//
// Security: with `server_public_key` set the socket is a ZeroMQ CURVE client
// (encrypted; the server must hold that key, and must accept ours). A socket
// monitor watches the handshake, so a wrong server key, a refused (unenrolled
// or revoked) client key or a CURVE/plaintext mismatch is logged as such
// within a few seconds instead of a silent retry loop.
//
// Thread-safety: Run() occupies the calling thread; RequestStop() may be
// called from any thread or a signal handler (it only sets an atomic flag).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/protocol.h"
#include "common/status.h"

namespace fedpress::client {

struct SessionOptions {
  std::string server = "tcp://127.0.0.1:7070";
  std::string name;
  std::string dataset = "fashion-mnist";
  uint64_t num_samples = 0;
  uint32_t capabilities = 0;
  int64_t max_message_bytes = 64 << 20;
  int64_t register_timeout_ms = 5000;
  int64_t backoff_initial_ms = 500;
  int64_t backoff_max_ms = 10000;
  // Quiet this many heartbeat intervals (plus 5 s) => reconnect.
  int silence_heartbeats = 4;
  // What each HEARTBEAT reports: the model version the client holds. Called
  // on the session thread; must be thread-safe. Empty: reports none.
  std::function<protocol::Heartbeat()> held_version;
  // CURVE: the server's public key (pinned) and this client's keypair, all
  // Z85. All empty: plaintext (--insecure).
  std::string server_public_key;
  std::string public_key;
  std::string secret_key;
  int handshake_timeout_ms = 5000;
  // REJECT 13 (server busy: the UPDATE was not queued): the last UPDATE is
  // resent after a jittered backoff, busy_resend_initial_ms doubling to
  // busy_resend_max_ms, at most max_busy_resends times per update. A new
  // TRAIN cancels a pending resend (that round is over).
  int max_busy_resends = 8;
  int64_t busy_resend_initial_ms = 1000;
  int64_t busy_resend_max_ms = 8000;
};

// The result of a TRAIN task: the UPDATE envelope fields and payload.
struct TaskResult {
  protocol::Update update;
  std::vector<uint8_t> payload;
};

// Runs on the worker thread. Returns the update to send, or an error (logged;
// the server's round deadline handles the missing update).
using TaskHandler =
    std::function<Result<TaskResult>(const protocol::Train& task, std::vector<uint8_t> payload)>;

class Session {
 public:
  Session(SessionOptions options, TaskHandler handler);
  ~Session();
  // Runs until RequestStop() or a fatal condition. Returns OK on a requested
  // stop, an error if the server told us to go away for good.
  Status Run();
  void RequestStop() { stop_ = true; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::atomic<bool> stop_{false};
};

}  // namespace fedpress::client

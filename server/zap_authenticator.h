// ZapAuthenticator: the ZeroMQ Authentication Protocol handler (ZAP, RFC 27)
// for the server's CURVE socket. ZeroMQ asks it, once per connection and
// before any message is delivered, whether a client that completed the CURVE
// handshake may connect; the answer comes from a policy function (mechanism
// here, policy in the caller: see CredentialPolicy below).
//
// It binds a REP socket to inproc://zeromq.zap.01 in the given context, so it
// must be started before the socket it guards binds, and stopped before the
// context is closed. Requests it cannot parse, or for a mechanism other than
// CURVE, are denied.
//
// Thread-safety: the handler runs on its own thread; the policy is called
// there, one request at a time. Construction and destruction from one thread.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include <zmq.hpp>

#include "common/status.h"

namespace fedpress::server {

struct ZapRequest {
  std::string domain;
  std::string address;     // peer IP address
  std::string mechanism;   // "CURVE", "NULL", "PLAIN"
  std::string public_key;  // CURVE only: client's public key, Z85
};

struct ZapDecision {
  bool allow = false;
  std::string user_id;  // attached to every message of the connection (User-Id)
  std::string reason;   // status text; logged when denied
};

using ZapPolicy = std::function<ZapDecision(const ZapRequest&)>;

class CredentialSet;
// The server's policy: CURVE clients whose public key is an active enrolled
// credential; User-Id = the credential id in decimal.
ZapPolicy CredentialPolicy(CredentialSet* credentials);

class ZapAuthenticator {
 public:
  // Binds inproc://zeromq.zap.01 in `context` and starts the thread.
  static Result<std::unique_ptr<ZapAuthenticator>> Start(zmq::context_t& context, ZapPolicy policy);
  ~ZapAuthenticator();  // stops and joins the thread, closes the socket
  ZapAuthenticator(const ZapAuthenticator&) = delete;
  ZapAuthenticator& operator=(const ZapAuthenticator&) = delete;

  uint64_t allowed() const { return allowed_.load(); }
  uint64_t denied() const { return denied_.load(); }

 private:
  ZapAuthenticator() = default;
  void Loop();
  void HandleOne();

  ZapPolicy policy_;
  std::unique_ptr<zmq::socket_t> socket_;  // used only by thread_ after Start
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> allowed_{0}, denied_{0};
  // Log throttle for denials (thread_ only).
  int64_t window_start_ms_ = 0;
  int logged_in_window_ = 0;
  uint64_t suppressed_ = 0;
};

}  // namespace fedpress::server

// Coordinator: the server's protocol logic. Takes messages from the
// Transport, decodes and validates them, keeps the ClientRegistry current
// (REGISTER, HEARTBEAT, BYE, expiry), hands UPDATEs to the JobRunner and
// drives its clock. Bad input from a peer gets a REJECT naming the problem;
// it never stops the loop.
//
// With a CredentialSet (CURVE on), every message must come from a connection
// whose ZAP credential is still active: a client registers under its
// credential's name only, a connection cannot act for another credential's
// client, and a revoked credential's clients are dropped (they leave their
// round, get BYE) at their next message or within about a second.
//
// Thread-safety: Run() occupies one thread (the coordinator thread); Stop()
// may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>

#include "server/client_registry.h"
#include "server/credential_set.h"
#include "server/job_runner.h"
#include "server/store/store.h"
#include "server/transport.h"

namespace fedpress::server {

struct CoordinatorOptions {
  uint32_t heartbeat_ms = 2000;       // told to clients in WELCOME
  uint32_t client_timeout_ms = 10000; // silent this long => gone
  size_t max_clients = 10000;
  int64_t max_message_bytes = 0;      // told to clients in WELCOME
};

class Coordinator {
 public:
  Coordinator(Transport* transport, Store* store, ClientRegistry* registry, JobRunner* runner,
              CoordinatorOptions options);
  void Run();   // until Stop()
  void Stop() { stop_ = true; }
  // One iteration: handle at most one message (waiting up to wait_ms), tick.
  void Step(int wait_ms);

  // Client comings and goings, for live dashboards: kind is
  // "client_connected" or "client_disconnected" (why: "client disconnected",
  // "timed out", "reconnected"). Called on the coordinator thread; must not block.
  using ClientListener = std::function<void(const std::string& kind, const LiveClient& c, const std::string& why)>;
  void SetClientListener(ClientListener f) { client_listener_ = std::move(f); }
  // CURVE mode: check every message's credential (see above). Null: no checks.
  void SetCredentials(CredentialSet* credentials) { credentials_ = credentials; }

 private:
  void NotifyClient(const char* kind, const LiveClient& c, const std::string& why) {
    if (client_listener_) client_listener_(kind, c, why);
  }
  void Handle(InboundMessage& m);
  void SendReject(const std::string& peer, protocol::RejectCode code, const std::string& reason,
                  int64_t job = 0, uint32_t round = 0);
  void ExpireClients();
  // CURVE mode: refuses a message whose connection has no active credential
  // (drops its client, answers BYE). Returns the credential if active.
  std::optional<Credential> CheckCredential(const InboundMessage& m);
  void RefuseRevoked(const std::string& peer, const std::string& why);
  void SweepRevoked();

  Transport* transport_;
  Store* store_;
  ClientRegistry* registry_;
  JobRunner* runner_;
  CoordinatorOptions options_;
  std::atomic<bool> stop_{false};
  int64_t next_expiry_ms_ = 0;
  // "update dropped, asked to resend" log lines: at most 10 per 10 s.
  int64_t busy_log_window_ms_ = 0;
  int busy_logged_ = 0;
  ClientListener client_listener_;
  CredentialSet* credentials_ = nullptr;
  // CURVE mode: the credential each registered connection registered under.
  std::unordered_map<std::string, int64_t> credential_of_peer_;
  uint64_t swept_generation_ = 0;
};

}  // namespace fedpress::server

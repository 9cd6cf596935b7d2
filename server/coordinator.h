// Coordinator: the server's protocol logic. Takes messages from the
// Transport, decodes and validates them, keeps the ClientRegistry current
// (REGISTER, HEARTBEAT, BYE, expiry), hands UPDATEs to the JobRunner and
// drives its clock. Bad input from a peer gets a REJECT naming the problem;
// it never stops the loop.
//
// Thread-safety: Run() occupies one thread (the coordinator thread); Stop()
// may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "server/client_registry.h"
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

 private:
  void NotifyClient(const char* kind, const LiveClient& c, const std::string& why) {
    if (client_listener_) client_listener_(kind, c, why);
  }
  void Handle(InboundMessage& m);
  void SendReject(const std::string& peer, protocol::RejectCode code, const std::string& reason,
                  int64_t job = 0, uint32_t round = 0);
  void ExpireClients();

  Transport* transport_;
  Store* store_;
  ClientRegistry* registry_;
  JobRunner* runner_;
  CoordinatorOptions options_;
  std::atomic<bool> stop_{false};
  int64_t next_expiry_ms_ = 0;
  ClientListener client_listener_;
};

}  // namespace fedpress::server

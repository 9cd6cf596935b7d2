#include "server/coordinator.h"

#include <spdlog/spdlog.h>

#include "common/clock.h"
#include "common/protocol.h"
#include "server/fault_injection.h"

namespace fedpress::server {

using protocol::RejectCode;

Coordinator::Coordinator(Transport* transport, Store* store, ClientRegistry* registry,
                         JobRunner* runner, CoordinatorOptions options)
    : transport_(transport), store_(store), registry_(registry), runner_(runner), options_(options) {}

void Coordinator::Run() {
  while (!stop_) Step(50);
}

void Coordinator::Step(int wait_ms) {
  if (auto m = transport_->Receive(wait_ms)) {
    // Nothing a peer sends may stop the loop: anything unexpected is logged
    // and answered, and the coordinator carries on with everyone else.
    try {
      Handle(*m);
    } catch (const std::exception& e) {
      spdlog::error("internal error handling a message ({} bytes): {}", m->wire_bytes, e.what());
      SendReject(m->peer, RejectCode::kInternal, "server could not process the message");
    }
  }
  if (SteadyMs() >= next_expiry_ms_) {
    next_expiry_ms_ = SteadyMs() + 500;
    ExpireClients();
    SweepRevoked();
  }
  runner_->Tick();
}

void Coordinator::SendReject(const std::string& peer, RejectCode code, const std::string& reason,
                             int64_t job, uint32_t round) {
  transport_->Send(peer, protocol::EncodeEnvelope(protocol::Reject{job, round, code, reason}));
}

void Coordinator::ExpireClients() {
  // Silence is judged up to the arrival of the oldest message not yet handled:
  // a heartbeat queued behind a burst of large updates still counts.
  const int64_t horizon = transport_->oldest_queued_arrival_ms().value_or(SteadyMs());
  const int64_t cutoff = horizon - options_.client_timeout_ms;
  for (const auto& c : registry_->Expire(cutoff)) {
    spdlog::info("client {} timed out (no message for {} ms)", c.name, options_.client_timeout_ms);
    runner_->OnClientGone(c, "no heartbeat for " + std::to_string(options_.client_timeout_ms / 1000) + " s");
    NotifyClient("client_disconnected", c, "timed out");
  }
}

std::optional<Credential> Coordinator::CheckCredential(const InboundMessage& m) {
  auto cred = credentials_->ActiveByUserId(m.user_id);
  if (!cred)
    RefuseRevoked(m.peer, m.user_id.empty() ? "this connection has no client credential"
                                            : "credential " + m.user_id + " was revoked: this client may no "
                                              "longer take part (ask the admin to enroll it again)");
  return cred;
}

void Coordinator::RefuseRevoked(const std::string& peer, const std::string& why) {
  credential_of_peer_.erase(peer);
  if (auto c = registry_->Remove(peer)) {
    spdlog::warn("client {} dropped: {}", c->name, why);
    runner_->OnClientGone(*c, "credential revoked");
    NotifyClient("client_disconnected", *c, "credential revoked");
  }
  // BYE: the client stops for good rather than reconnect with a dead key.
  transport_->Send(peer, protocol::EncodeEnvelope(protocol::Bye{why}));
}

void Coordinator::SweepRevoked() {
  if (!credentials_) return;
  if (Status st = credentials_->RefreshIfOlderThan(1000); !st.ok())
    spdlog::warn("cannot refresh client credentials: {}", st.ToString());
  const bool changed = credentials_->generation() != swept_generation_;
  if (!changed && credential_of_peer_.size() <= registry_->size() + 1024) return;
  swept_generation_ = credentials_->generation();
  std::unordered_map<std::string, int64_t> live;
  for (const auto& c : registry_->Snapshot()) {
    auto it = credential_of_peer_.find(c.peer);
    if (it == credential_of_peer_.end() || !credentials_->ActiveById(it->second)) {
      RefuseRevoked(c.peer, "credential " + (it == credential_of_peer_.end() ? std::string("?") : std::to_string(it->second)) +
                                " was revoked: this client may no longer take part (ask the admin to enroll it again)");
      continue;
    }
    live.emplace(c.peer, it->second);
  }
  credential_of_peer_ = std::move(live);  // forgets connections that left
}

void Coordinator::Handle(InboundMessage& m) {
  std::optional<Credential> cred;
  if (credentials_) {
    cred = CheckCredential(m);
    if (!cred) return;
  }
  if (m.frames.empty() || m.frames.size() > 2) {
    SendReject(m.peer, RejectCode::kMalformed,
               "expected 1 or 2 frames after the identity, got " + std::to_string(m.frames.size()));
    return;
  }
  auto env = std::span(static_cast<const uint8_t*>(m.frames[0].data()), m.frames[0].size());
  auto decoded = protocol::DecodeEnvelope(env, m.frames.size() == 2 || m.overflowed);
  if (!decoded.ok()) {
    auto code = decoded.status().code() == StatusCode::kFailedPrecondition ? RejectCode::kBadVersion
                                                                           : RejectCode::kMalformed;
    spdlog::warn("rejected malformed message ({} bytes): {}", m.wire_bytes, decoded.status().message());
    SendReject(m.peer, code, decoded.status().message());
    return;
  }
  // A client was last heard when its message arrived, not when it was handled.
  const int64_t now_steady = m.arrived_steady_ms > 0 ? m.arrived_steady_ms : SteadyMs(), now = NowMs();
  protocol::Message& msg = *decoded;
  auto client = registry_->ByPeer(m.peer);

  if (auto* reg = std::get_if<protocol::Register>(&msg)) {
    if (!client && registry_->size() >= options_.max_clients) {
      SendReject(m.peer, RejectCode::kServerFull,
                 "server has its maximum of " + std::to_string(options_.max_clients) + " clients");
      return;
    }
    if (cred && reg->name != cred->name) {
      // A credential registers one client, under its own name: nobody can
      // take over another enrolled client's name (or its round).
      SendReject(m.peer, RejectCode::kNameTaken,
                 "this client's credential is enrolled as '" + cred->name + "': register under that name (--name " +
                     cred->name + ")");
      return;
    }
    nlohmann::json info = {{"dataset", reg->dataset},
                           {"capabilities", reg->capabilities},
                           {"version", reg->client_version}};
    auto id = store_->UpsertClient(reg->name, static_cast<int64_t>(std::min<uint64_t>(reg->num_samples, INT64_MAX)),
                                   info.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), now);
    if (!id.ok()) {
      spdlog::error("cannot record client {}: {}", reg->name, id.status().ToString());
      SendReject(m.peer, RejectCode::kInternal, "server cannot record the client: try again later");
      return;
    }
    LiveClient c;
    c.client_id = *id;
    c.name = reg->name;
    c.peer = m.peer;
    c.dataset = reg->dataset;
    c.num_samples = reg->num_samples;
    c.capabilities = reg->capabilities;
    c.version = reg->client_version;
    c.connected_ms = now;
    c.last_seen_steady_ms = now_steady;
    c.last_seen_ms = now;
    // The same connection re-registering under another name leaves the
    // round it was picked for under the old name.
    if (client && client->name != c.name) runner_->OnClientGone(*client, "re-registered as " + c.name);
    auto old_peer = registry_->Upsert(c);
    if (old_peer) {
      // Same name from a new connection (the client reconnected or
      // restarted): the new one wins, and the old one is told to go away.
      transport_->Send(*old_peer, protocol::EncodeEnvelope(protocol::Bye{"replaced by a new connection with the same name"}));
    }
    if (cred) credential_of_peer_[m.peer] = cred->id;
    NotifyClient("client_connected", c, "");
    spdlog::info("client {} registered ({} samples of {}, id {})", c.name, c.num_samples, c.dataset, c.client_id);
    transport_->Send(m.peer, protocol::EncodeEnvelope(protocol::Welcome{
                                 *id, options_.heartbeat_ms,
                                 static_cast<uint64_t>(options_.max_message_bytes)}));
    // After its WELCOME: a picked client that has not answered keeps its
    // place in the round and gets its TRAIN again.
    if (old_peer) runner_->OnClientRejoined(c);
    return;
  }
  if (!client) {
    if (!std::holds_alternative<protocol::Bye>(msg))
      SendReject(m.peer, RejectCode::kNotRegistered, "unknown client: send REGISTER first");
    return;
  }
  if (cred) {
    auto bound = credential_of_peer_.find(m.peer);
    if (bound == credential_of_peer_.end() || bound->second != cred->id) {
      SendReject(m.peer, RejectCode::kNotRegistered, "this connection is not registered under your credential: send REGISTER");
      return;
    }
  }
  registry_->Touch(m.peer, now_steady, now);

  if (m.overflowed) {
    // Its payload did not fit the inbound queue: tell the sender to resend.
    if (auto* up = std::get_if<protocol::Update>(&msg)) {
      if (now_steady - busy_log_window_ms_ >= 10000) {
        busy_log_window_ms_ = now_steady;
        busy_logged_ = 0;
      }
      if (busy_logged_++ < 10)
        spdlog::warn("client {}: job {} round {} update dropped, the inbound queue is full: asked to resend "
                     "(at most 10 such lines per 10 s; fedpress_inbound_busy_notices_total counts them all)",
                     client->name, up->job_id, up->round);
      SendReject(m.peer, RejectCode::kBusy,
                 "server busy: its inbound queue was full and your update was not queued; resend it",
                 up->job_id, up->round);
    }
    return;
  }

  if (auto* hb = std::get_if<protocol::Heartbeat>(&msg)) {
    registry_->SetHeld(m.peer, hb->job_id, hb->round, hb->model_crc);
    transport_->Send(m.peer, protocol::EncodeEnvelope(*hb));
  } else if (auto* up = std::get_if<protocol::Update>(&msg)) {
    fault::UpdateStall();
    auto payload = std::span(static_cast<const uint8_t*>(m.frames[1].data()), m.frames[1].size());
    runner_->OnUpdate(*client, *up, payload, m.wire_bytes);
  } else if (std::holds_alternative<protocol::Bye>(msg)) {
    registry_->Remove(m.peer);
    spdlog::info("client {} said goodbye", client->name);
    runner_->OnClientGone(*client, "client disconnected");
    NotifyClient("client_disconnected", *client, "client disconnected");
  } else {
    SendReject(m.peer, RejectCode::kMalformed,
               std::string(protocol::MsgTypeName(protocol::TypeOf(msg))) + " is not a client message");
  }
}

}  // namespace fedpress::server

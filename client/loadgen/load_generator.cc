#include "client/loadgen/load_generator.h"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <memory>
#include <optional>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "common/clock.h"
#include "compression/rng.h"

namespace fedpress::loadgen {

using protocol::Message;

namespace {

struct SimClient {
  int index = 0;
  std::string name;
  std::unique_ptr<zmq::socket_t> sock;
  bool registered = false;
  bool stopped = false;              // the server said BYE
  int64_t register_since_ms = 0;
  int64_t next_register_ms = 0;
  uint32_t heartbeat_ms = 2000;
  int64_t next_heartbeat_ms = 0;
  int64_t last_heard_ms = 0;
  HeldVersion held;
  CurveKeyPair keys;                 // when CURVE is on
  // The update of the current task, sent once its simulated training ends.
  bool has_update = false;
  int64_t update_due_ms = 0;
  int64_t update_give_up_ms = 0;
  protocol::Update update;
  SharedBytes payload;               // kept after sending, for a resend after REJECT 13
  int busy_resends = 0;              // of the current update
  // A TRAIN waiting for the job's initial model (being derived).
  std::optional<std::pair<protocol::Train, std::vector<uint8_t>>> waiting_task;
  int64_t retry_task_ms = 0;
};

// Bounds log output when a thousand clients see the same problem.
class LogBudget {
 public:
  bool Take() { return used_++ < 20; }

 private:
  int used_ = 0;
};

}  // namespace

struct LoadGenerator::Shard {
  zmq::context_t* ctx = nullptr;
  std::vector<SimClient> clients;
  std::vector<zmq::pollitem_t> items;
  std::vector<size_t> item_client;  // items[k] belongs to clients[item_client[k]]
  bool items_dirty = true;
  compression::SplitMix64 rng{1};
  LogBudget train_failures, rejects, socket_errors;
};

LoadGenerator::LoadGenerator(LoadGenOptions options, ModelVersions* versions, UpdateLibrary* updates)
    : options_(std::move(options)), versions_(versions), updates_(updates) {}

Status LoadGenerator::Run() {
  if (options_.clients < 1) return Status::InvalidArgument("need at least one client");
  if (options_.threads < 1) return Status::InvalidArgument("need at least one thread");
  if (options_.train_ms_min < 0 || options_.train_ms_max < options_.train_ms_min)
    return Status::InvalidArgument("training time range is empty");
  const bool curve = !options_.server_public_key.empty();
  if (curve && !IsZ85Key(options_.server_public_key))
    return Status::InvalidArgument("the server key must be a 40-character Z85 string");
  if (curve && options_.key_dir.empty() &&
      (!IsZ85Key(options_.shared_keys.public_key) || !IsZ85Key(options_.shared_keys.secret_key)))
    return Status::InvalidArgument("CURVE needs a client keypair (a key file or a key directory)");

  zmq::context_t ctx(options_.io_threads);
  // Room for every client socket (the default cap is 1023).
  // Closed sockets linger until ZeroMQ's reaper frees them, so reconnect
  // storms briefly need more than one per client.
  if (zmq_ctx_set(ctx.handle(), ZMQ_MAX_SOCKETS, 2 * options_.clients + 64) != 0)
    return Status::Internal(std::string("cannot raise ZMQ_MAX_SOCKETS: ") + zmq_strerror(zmq_errno()));

  const int nshards = std::min(options_.threads, options_.clients);
  std::vector<Shard> shards(static_cast<size_t>(nshards));
  const int64_t start = SteadyMs();
  for (int i = 0; i < options_.clients; ++i) {
    Shard& s = shards[static_cast<size_t>(i % nshards)];
    SimClient c;
    c.index = i;
    char name[96];
    std::snprintf(name, sizeof name, "%s-%05d", options_.name_prefix.c_str(), i);
    c.name = name;
    if (curve) {
      if (options_.key_dir.empty()) {
        c.keys = options_.shared_keys;
      } else {
        auto file = ReadCurveKeyFile(options_.key_dir + "/" + c.name + ".key");
        if (!file.ok()) return file.status().WithContext("key of simulated client " + c.name);
        c.keys = file->keys;
      }
    }
    c.next_register_ms =
        start + static_cast<int64_t>(options_.ramp_s * 1000.0 * i / std::max(1, options_.clients));
    s.clients.push_back(std::move(c));
  }
  for (int k = 0; k < nshards; ++k) {
    shards[static_cast<size_t>(k)].ctx = &ctx;
    shards[static_cast<size_t>(k)].rng = compression::SplitMix64(compression::StreamKey(options_.seed, static_cast<uint64_t>(k)));
  }
  std::vector<std::thread> threads;
  for (int k = 1; k < nshards; ++k) threads.emplace_back([this, &shards, k] { RunShard(shards[static_cast<size_t>(k)]); });
  RunShard(shards[0]);
  for (auto& t : threads) t.join();
  // Goodbyes, then close every socket before the context.
  for (auto& s : shards)
    for (auto& c : s.clients)
      if (c.sock && c.registered && !c.stopped) {
        auto env = protocol::EncodeEnvelope(protocol::Bye{"load generator stopping"});
        try {
          (void)c.sock->send(zmq::buffer(env), zmq::send_flags::dontwait);
        } catch (const zmq::error_t&) {
        }
      }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  for (auto& s : shards)
    for (auto& c : s.clients) c.sock.reset();
  return Status::OK();
}

void LoadGenerator::RunShard(Shard& s) {
  const LoadGenOptions& o = options_;
  auto new_socket = [&](SimClient& c) -> bool {
    if (c.sock) c.sock.reset();
    else ++stats_.sockets;
    s.items_dirty = true;
    try {
    auto sock = std::make_unique<zmq::socket_t>(*s.ctx, zmq::socket_type::dealer);
    sock->set(zmq::sockopt::linger, 0);
    sock->set(zmq::sockopt::immediate, 1);
    sock->set(zmq::sockopt::maxmsgsize, o.max_message_bytes);
    // No ZMTP heartbeats: with thousands of sockets on one I/O thread each
    // heartbeat cycle costs a scan of all its timers (libzmq's cancel_timer
    // is O(timers)); a silent server is noticed by the application
    // heartbeats instead (last_heard_ms, below).
    sock->set(zmq::sockopt::heartbeat_ivl, 0);
    sock->set(zmq::sockopt::reconnect_ivl, 200);
    sock->set(zmq::sockopt::reconnect_ivl_max, 5000);
    if (!o.server_public_key.empty()) {
      sock->set(zmq::sockopt::curve_serverkey, o.server_public_key);
      sock->set(zmq::sockopt::curve_publickey, c.keys.public_key);
      sock->set(zmq::sockopt::curve_secretkey, c.keys.secret_key);
    }
    sock->connect(o.server);
    c.sock = std::move(sock);
    return true;
    } catch (const zmq::error_t& e) {
      // Out of descriptors or sockets: try again later rather than abort.
      if (s.socket_errors.Take()) spdlog::warn("{}: cannot open a socket: {}", c.name, e.what());
      c.next_register_ms = SteadyMs() + 1000;
      return false;
    }
  };
  auto send = [&](SimClient& c, const Message& m, const SharedBytes& payload = nullptr) -> bool {
    auto env = protocol::EncodeEnvelope(m);
    try {
      if (!payload) return c.sock->send(zmq::buffer(env), zmq::send_flags::dontwait).has_value();
      if (!c.sock->send(zmq::buffer(env), zmq::send_flags::sndmore | zmq::send_flags::dontwait)) return false;
      // Zero-copy: the frame holds a reference to the shared payload.
      auto* keep = new SharedBytes(payload);
      zmq::message_t frame(const_cast<uint8_t*>(payload->data()), payload->size(),
                           [](void*, void* hint) { delete static_cast<SharedBytes*>(hint); }, keep);
      return c.sock->send(frame, zmq::send_flags::dontwait).has_value();
    } catch (const zmq::error_t& e) {
      spdlog::debug("{}: send failed: {}", c.name, e.what());
      return false;
    }
  };
  auto unregister = [&](SimClient& c) {
    if (c.registered) --stats_.registered;
    c.registered = false;
  };
  auto register_now = [&](SimClient& c, int64_t now) {
    protocol::Register reg{c.name, o.dataset, o.samples, protocol::kCapCompressed, "fedpress-loadgen 0.1.0"};
    if (c.register_since_ms == 0) c.register_since_ms = now;
    if (send(c, reg)) {
      ++stats_.register_sent;
      c.next_register_ms = now + o.register_timeout_ms;
    } else {
      c.next_register_ms = now + 200;  // not connected yet
    }
  };

  auto on_train = [&](SimClient& c, const protocol::Train& t, std::span<const uint8_t> payload, int64_t now) {
    // The same task again (the server resends it when we come back on a new
    // connection): as fedpress-client, resend the update already made, or
    // keep "training" it.
    if (c.payload && t.job_id == c.update.job_id && t.round == c.update.round && t.attempt == c.update.attempt) {
      if (!c.has_update) {
        c.has_update = true;
        c.update_due_ms = now;
        c.update_give_up_ms = now + 30000;
      }
      return;
    }
    auto held = versions_->Apply(t, payload);
    if (!held.ok() && held.status().code() == StatusCode::kUnavailable) {
      // Keep it (a newer TRAIN replaces it) and try again on the next scan.
      if (!c.waiting_task || c.waiting_task->second.data() != payload.data())
        c.waiting_task.emplace(t, std::vector<uint8_t>(payload.begin(), payload.end()));
      c.retry_task_ms = now + 200;
      c.has_update = false;
      return;
    }
    c.waiting_task.reset();
    ++stats_.trains;
    std::optional<ModelLayout> layout;
    if (held.ok()) layout = versions_->LayoutOf(t.job_id);
    Result<std::shared_ptr<const PayloadSet>> set = Status::FailedPrecondition("the model layout is unknown");
    if (held.ok() && layout) set = updates_->Get(t.job_id, t.compression_json, *layout);
    if (!held.ok() || !set.ok()) {
      // As fedpress-client: report no usable version, so the server sends the full model next time.
      ++stats_.task_failures;
      c.held = HeldVersion{t.job_id, UINT32_MAX, 0};
      c.has_update = false;
      if (s.train_failures.Take())
        spdlog::warn("{}: job {} round {}: {}", c.name, t.job_id, t.round,
                     (!held.ok() ? held.status() : set.status()).ToString());
      return;
    }
    c.held = *held;
    const PayloadSet& p = **set;
    const int64_t train_ms =
        o.train_ms_min + static_cast<int64_t>(s.rng.Below(static_cast<uint64_t>(o.train_ms_max - o.train_ms_min + 1)));
    c.update = protocol::Update{};
    c.update.job_id = t.job_id;
    c.update.round = t.round;
    c.update.attempt = t.attempt;
    c.update.num_samples = o.samples;
    c.update.train_loss = 0.3f + 0.5f * static_cast<float>(s.rng.Below(1000)) / 1000.0f;
    c.update.train_ms = static_cast<uint32_t>(train_ms);
    c.update.encode_ms = static_cast<uint32_t>(p.encode_ms);
    c.update.raw_bytes = p.raw_bytes;
    c.update.payload_format = p.format;
    c.payload = p.payloads[(static_cast<size_t>(c.index) + t.round) % p.payloads.size()];
    c.has_update = true;
    c.busy_resends = 0;
    c.update_due_ms = now + train_ms;
    c.update_give_up_ms = c.update_due_ms + 30000;
  };

  auto on_message = [&](SimClient& c, Message& msg, std::span<const uint8_t> payload, int64_t now) {
    c.last_heard_ms = now;
    if (auto* w = std::get_if<protocol::Welcome>(&msg)) {
      if (c.registered) return;
      c.registered = true;
      ++stats_.registered;
      ++stats_.welcomes;
      c.register_since_ms = 0;
      c.heartbeat_ms = std::max<uint32_t>(100, w->heartbeat_ms);
      // Spread heartbeats over the interval.
      c.next_heartbeat_ms = now + static_cast<int64_t>(s.rng.Below(c.heartbeat_ms));
    } else if (auto* t = std::get_if<protocol::Train>(&msg)) {
      on_train(c, *t, payload, now);
    } else if (auto* r = std::get_if<protocol::Reject>(&msg)) {
      ++stats_.rejects;
      if (r->code == protocol::RejectCode::kNotRegistered) {
        ++stats_.rejects_not_registered;
        unregister(c);
        c.next_register_ms = now;
      } else if (r->code == protocol::RejectCode::kBusy) {
        // As fedpress-client: resend the update after a jittered backoff.
        ++stats_.rejects_busy;
        if (c.payload && !c.has_update && r->job_id == c.update.job_id && r->round == c.update.round &&
            c.busy_resends < 8) {
          const int64_t base = std::min<int64_t>(8000, int64_t{1000} << c.busy_resends);
          ++c.busy_resends;
          c.has_update = true;
          c.update_due_ms = now + base / 2 + static_cast<int64_t>(s.rng.Below(static_cast<uint64_t>(base)));
          c.update_give_up_ms = c.update_due_ms + 30000;
        }
      } else if (s.rejects.Take()) {
        spdlog::warn("{}: server rejected job {} round {}: {}", c.name, r->job_id, r->round, r->reason);
      }
    } else if (auto* b = std::get_if<protocol::Bye>(&msg)) {
      ++stats_.byes;
      spdlog::warn("{}: server closed the session: {}", c.name, b->reason);
      unregister(c);
      c.stopped = true;
      c.sock.reset();
      s.items_dirty = true;
    }
    // Heartbeat echoes only refresh last_heard.
  };

  auto drain = [&](SimClient& c, int64_t now) {
    for (int n = 0; n < 16 && c.sock; ++n) {
      std::vector<zmq::message_t> frames;
      try {
        do {
          zmq::message_t f;
          if (!c.sock->recv(f, zmq::recv_flags::dontwait)) break;
          frames.push_back(std::move(f));
        } while (frames.back().more() && frames.size() < 8);
      } catch (const zmq::error_t& e) {
        spdlog::debug("{}: receive failed: {}", c.name, e.what());
        return;
      }
      if (frames.empty()) return;
      if (frames.size() > 2) continue;
      auto env = std::span(static_cast<const uint8_t*>(frames[0].data()), frames[0].size());
      auto m = protocol::DecodeEnvelope(env, frames.size() == 2);
      if (!m.ok()) {
        spdlog::warn("{}: ignoring bad message from server: {}", c.name, m.status().message());
        continue;
      }
      std::span<const uint8_t> payload;
      if (frames.size() == 2) payload = std::span(static_cast<const uint8_t*>(frames[1].data()), frames[1].size());
      on_message(c, *m, payload, now);
    }
  };

  auto timers = [&](SimClient& c, int64_t now) {
    if (c.stopped) return;
    if (!c.sock) {
      if (now < c.next_register_ms) return;  // not started yet (ramp), or a socket error
      if (!new_socket(c)) return;
    }
    if (!c.registered) {
      if (now >= c.next_register_ms) register_now(c, now);
      return;
    }
    if (c.waiting_task && now >= c.retry_task_ms) {
      auto task = std::move(*c.waiting_task);
      c.waiting_task.reset();
      on_train(c, task.first, task.second, now);
    }
    if (now >= c.next_heartbeat_ms) {
      if (send(c, protocol::Heartbeat{c.held.job, c.held.round, c.held.crc})) ++stats_.heartbeats_sent;
      c.next_heartbeat_ms = now + c.heartbeat_ms;
    }
    if (c.has_update && now >= c.update_due_ms) {
      if (send(c, c.update, c.payload)) {
        ++stats_.updates_sent;
        stats_.update_bytes += c.payload->size();
        c.has_update = false;
      } else if (now >= c.update_give_up_ms) {
        ++stats_.updates_dropped;
        c.has_update = false;
        c.payload.reset();
      } else {
        c.update_due_ms = now + 100;
      }
    }
    // As fedpress-client: a server silent this long is gone; start over.
    if (now - c.last_heard_ms > int64_t{c.heartbeat_ms} * 4 + 5000) {
      ++stats_.reconnects;
      unregister(c);
      c.next_register_ms = now;
      new_socket(c);
    }
  };

  int64_t next_scan = 0;
  while (!stop_) {
    int64_t now = SteadyMs();
    if (now >= next_scan) {
      for (auto& c : s.clients) timers(c, now);
      next_scan = now + 10;
    }
    if (s.items_dirty) {
      s.items.clear();
      s.item_client.clear();
      for (size_t i = 0; i < s.clients.size(); ++i)
        if (s.clients[i].sock) {
          s.items.push_back({s.clients[i].sock->handle(), 0, ZMQ_POLLIN, 0});
          s.item_client.push_back(i);
        }
      s.items_dirty = false;
    }
    if (s.items.empty()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    try {
      zmq::poll(s.items.data(), s.items.size(), std::chrono::milliseconds(10));
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) spdlog::warn("poll failed: {}", e.what());
      continue;
    }
    now = SteadyMs();
    // items may be rebuilt by a handler (BYE closes a socket): collect first.
    std::vector<size_t> ready;
    for (size_t k = 0; k < s.items.size(); ++k)
      if (s.items[k].revents & ZMQ_POLLIN) ready.push_back(s.item_client[k]);
    for (size_t i : ready) drain(s.clients[i], now);
  }
}

}  // namespace fedpress::loadgen

#include "client/session.h"

#include "common/zmq_monitor.h"

#include <spdlog/spdlog.h>

#include <zmq.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>
#include <zmq.hpp>

#include "common/clock.h"

namespace fedpress::client {

using protocol::Message;

struct Session::Impl {
  SessionOptions opt;
  TaskHandler handler;
  zmq::context_t ctx{1};
  std::unique_ptr<zmq::socket_t> sock;
  std::unique_ptr<zmq::socket_t> monitor;  // handshake events of sock

  // What the monitor saw since the socket was made.
  struct Handshake {
    bool succeeded = false;
    bool auth_refused = false;  // ZAP said no (status in auth_status)
    uint32_t auth_status = 0;
    bool mechanism_mismatch = false;
    int failures = 0;           // any failed handshake
    uint32_t protocol_error = 0;
  } hs;
  std::mt19937_64 jitter{std::random_device{}()};

  // Worker thread: one task at a time; a newer TRAIN replaces a queued one.
  std::thread worker;
  std::mutex mu;
  std::condition_variable cv;
  std::optional<std::pair<protocol::Train, std::vector<uint8_t>>> queued;  // GUARDED_BY(mu)
  std::optional<TaskResult> done;                                          // GUARDED_BY(mu)
  bool worker_stop = false;                                                // GUARDED_BY(mu)
  bool busy = false;                                                       // GUARDED_BY(mu)
  protocol::Train running;  // the task being trained while busy            // GUARDED_BY(mu)

  // Session thread only: the last UPDATE sent, kept to resend it when the
  // server answers REJECT 13 (busy); resend_at_ms 0 = no resend pending.
  std::optional<TaskResult> last_sent;
  uint64_t last_sent_connection = 0;  // `connection` when last_sent was sent
  uint64_t connection = 0;            // counts WELCOMEs: one per connection
  int busy_resends = 0;
  int64_t resend_at_ms = 0;

  static bool SameTask(const protocol::Train& t, const protocol::Update& u) {
    return t.job_id == u.job_id && t.round == u.round && t.attempt == u.attempt;
  }
  static bool SameTask(const protocol::Train& a, const protocol::Train& b) {
    return a.job_id == b.job_id && a.round == b.round && a.attempt == b.attempt;
  }

  // Schedules a resend of last_sent after REJECT 13 for its job and round.
  void OnBusy(const protocol::Reject& r) {
    if (!last_sent || last_sent->update.job_id != r.job_id || last_sent->update.round != r.round) {
      spdlog::warn("server busy for job {} round {}, but that is not our last update: ignored", r.job_id, r.round);
      return;
    }
    if (busy_resends >= opt.max_busy_resends) {
      spdlog::warn("job {} round {}: server still busy after {} resends; giving up on this update", r.job_id,
                   r.round, busy_resends);
      last_sent.reset();
      return;
    }
    const int64_t base = std::min(opt.busy_resend_max_ms, opt.busy_resend_initial_ms << std::min(busy_resends, 20));
    const int64_t delay = std::uniform_int_distribution<int64_t>(base / 2, base + base / 2)(jitter);
    ++busy_resends;
    resend_at_ms = SteadyMs() + delay;
    spdlog::info("job {} round {}: server busy (its inbound queue was full); resending the update in {:.1f} s "
                 "({} of at most {})",
                 r.job_id, r.round, static_cast<double>(delay) / 1000, busy_resends, opt.max_busy_resends);
  }

  void WorkerLoop() {
    for (;;) {
      std::pair<protocol::Train, std::vector<uint8_t>> task;
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return worker_stop || queued.has_value(); });
        if (worker_stop) return;
        task = std::move(*queued);
        queued.reset();
        busy = true;
        running = task.first;
      }
      Result<TaskResult> r = Status::Internal("task handler threw");
      try {
        r = handler(task.first, std::move(task.second));
      } catch (const std::exception& e) {
        r = Status::Internal(std::string("task failed: ") + e.what());
      }
      std::lock_guard<std::mutex> lock(mu);
      busy = false;
      if (r.ok()) {
        done = std::move(r).value();
      } else {
        spdlog::error("job {} round {}: {}", task.first.job_id, task.first.round, r.status().ToString());
      }
    }
  }

  bool curve() const { return !opt.server_public_key.empty(); }

  void CloseSocket() {
    if (sock && monitor) zmq_socket_monitor(sock->handle(), nullptr, 0);
    monitor.reset();
    if (sock) sock->close();
  }

  void NewSocket() {
    CloseSocket();
    hs = Handshake{};
    sock = std::make_unique<zmq::socket_t>(ctx, zmq::socket_type::dealer);
    if (curve()) {
      sock->set(zmq::sockopt::curve_serverkey, opt.server_public_key);
      sock->set(zmq::sockopt::curve_publickey, opt.public_key);
      sock->set(zmq::sockopt::curve_secretkey, opt.secret_key);
    }
    sock->set(zmq::sockopt::handshake_ivl, opt.handshake_timeout_ms);
    static std::atomic<uint64_t> monitor_seq{0};
    const std::string monitor_endpoint = "inproc://fedpress-session-monitor-" + std::to_string(++monitor_seq);
    if (zmq_socket_monitor(sock->handle(), monitor_endpoint.c_str(),
                           ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) == 0) {
      monitor = std::make_unique<zmq::socket_t>(ctx, zmq::socket_type::pair);
      monitor->set(zmq::sockopt::linger, 0);
      monitor->connect(monitor_endpoint);
    }
    sock->set(zmq::sockopt::linger, 0);
    sock->set(zmq::sockopt::immediate, 1);  // queue only to live connections
    sock->set(zmq::sockopt::maxmsgsize, opt.max_message_bytes);
    sock->set(zmq::sockopt::heartbeat_ivl, 2000);
    sock->set(zmq::sockopt::heartbeat_timeout, 10000);
    sock->set(zmq::sockopt::reconnect_ivl, 200);
    sock->set(zmq::sockopt::reconnect_ivl_max, 5000);
    sock->connect(opt.server);
  }

  void DrainMonitor() {
    if (!monitor) return;
    for (int i = 0; i < 64; ++i) {
      const std::optional<MonitorEvent> e = ReadMonitorEvent(*monitor);
      if (!e) return;
      const uint16_t event = e->event;
      const uint32_t value = e->value;
      if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
        hs.succeeded = true;
        continue;
      }
      ++hs.failures;
      if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
        hs.auth_refused = true;
        hs.auth_status = value;
      } else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) {
        if (value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH) hs.mechanism_mismatch = true;
        else hs.protocol_error = value;
      }
    }
  }

  // A handshake that cannot succeed by retrying the same way: stop waiting.
  bool HandshakeHopeless() const {
    return !hs.succeeded && (hs.auth_refused || hs.mechanism_mismatch || hs.failures >= 3);
  }

  // Why the connection does not come up, in words; "" when the monitor saw
  // no failed handshake.
  std::string HandshakeProblem() const {
    if (hs.succeeded || hs.failures == 0) return "";
    if (hs.auth_refused)
      return "the server refused this client's key (status " + std::to_string(hs.auth_status) + "): public key " +
             opt.public_key + " is not enrolled, or was revoked. The admin enrolls it with: fedpress-server enroll "
             "--name " + opt.name + " --public-key " + opt.public_key;
    if (hs.mechanism_mismatch)
      return curve() ? "the server at " + opt.server + " does not use CURVE (started with --insecure?): "
                           "its clients need --insecure, loopback only"
                     : "the server at " + opt.server + " requires CURVE: pass --server-key (the key "
                       "'fedpress-server show-key' prints) and --key-file (this client's enrolled key)";
    if (hs.protocol_error != 0) {
      char hex[16];
      std::snprintf(hex, sizeof hex, "0x%x", hs.protocol_error);
      return "the handshake with " + opt.server + " failed (ZMTP protocol error " + hex + ")";
    }
    if (curve())
      return "server key does not match: the server at " + opt.server + " closed the CURVE handshake " +
             std::to_string(hs.failures) + " time(s). Check --server-key " + opt.server_public_key +
             ": it must be the key the server prints at start ('fedpress-server show-key')";
    return "the server at " + opt.server + " closed the connection during the handshake " +
           std::to_string(hs.failures) + " time(s)";
  }

  bool Send(const Message& m, const std::vector<uint8_t>* payload = nullptr) {
    auto env = protocol::EncodeEnvelope(m);
    try {
      if (payload) {
        if (!sock->send(zmq::buffer(env), zmq::send_flags::sndmore | zmq::send_flags::dontwait)) return false;
        return sock->send(zmq::buffer(*payload), zmq::send_flags::dontwait).has_value();
      }
      return sock->send(zmq::buffer(env), zmq::send_flags::dontwait).has_value();
    } catch (const zmq::error_t& e) {
      spdlog::warn("send failed: {}", e.what());
      return false;
    }
  }

  // Receives one message within timeout_ms. Frames beyond 2 or undecodable
  // envelopes are logged and dropped.
  std::optional<std::pair<Message, std::vector<uint8_t>>> Receive(int timeout_ms) {
    zmq::pollitem_t items[2] = {{sock->handle(), 0, ZMQ_POLLIN, 0},
                                {monitor ? monitor->handle() : nullptr, 0, ZMQ_POLLIN, 0}};
    try {
      zmq::poll(items, monitor ? 2 : 1, std::chrono::milliseconds(timeout_ms));
    } catch (const zmq::error_t&) {
      return std::nullopt;
    }
    if (monitor && (items[1].revents & ZMQ_POLLIN)) DrainMonitor();
    if (!(items[0].revents & ZMQ_POLLIN)) return std::nullopt;
    std::vector<zmq::message_t> frames;
    try {
      do {
        zmq::message_t f;
        if (!sock->recv(f, zmq::recv_flags::dontwait)) break;
        frames.push_back(std::move(f));
      } while (frames.back().more() && frames.size() < 8);
    } catch (const zmq::error_t& e) {
      spdlog::warn("receive failed: {}", e.what());
      return std::nullopt;
    }
    if (frames.empty() || frames.size() > 2) return std::nullopt;
    auto env = std::span(static_cast<const uint8_t*>(frames[0].data()), frames[0].size());
    auto m = protocol::DecodeEnvelope(env, frames.size() == 2);
    if (!m.ok()) {
      spdlog::warn("ignoring bad message from server: {}", m.status().message());
      return std::nullopt;
    }
    std::vector<uint8_t> payload;
    if (frames.size() == 2) {
      auto* p = static_cast<const uint8_t*>(frames[1].data());
      payload.assign(p, p + frames[1].size());
    }
    return std::make_pair(std::move(*m), std::move(payload));
  }

  int64_t Backoff(int attempt) {
    int64_t b = opt.backoff_initial_ms << std::min(attempt, 10);
    b = std::min(b, opt.backoff_max_ms);
    return b / 2 + static_cast<int64_t>(jitter() % static_cast<uint64_t>(b / 2 + 1));
  }
};

Session::Session(SessionOptions options, TaskHandler handler) : impl_(std::make_unique<Impl>()) {
  impl_->opt = std::move(options);
  impl_->handler = std::move(handler);
  impl_->worker = std::thread([i = impl_.get()] { i->WorkerLoop(); });
}

Session::~Session() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->worker_stop = true;
  }
  impl_->cv.notify_all();
  if (impl_->worker.joinable()) impl_->worker.join();
  impl_->CloseSocket();
  impl_->sock.reset();
}

Status Session::Run() {
  Impl& s = *impl_;
  int attempt = 0;
  bool fatal = false;
  std::string fatal_reason;
  while (!stop_ && !fatal) {
    // Connect and register.
    s.NewSocket();
    protocol::Register reg{s.opt.name, s.opt.dataset, s.opt.num_samples, s.opt.capabilities,
                           "fedpress-client 0.1.0"};
    s.Send(reg);
    uint32_t heartbeat_ms = 2000;
    bool registered = false;
    const int64_t reg_deadline = SteadyMs() + s.opt.register_timeout_ms;
    int64_t resend_at = SteadyMs() + 1000;
    while (!stop_ && SteadyMs() < reg_deadline) {
      auto m = s.Receive(100);
      if (!m && s.HandshakeHopeless()) break;
      if (!m) {
        if (SteadyMs() >= resend_at) {  // the connection may have come up since
          s.Send(reg);
          resend_at = SteadyMs() + 1000;
        }
        continue;
      }
      if (auto* w = std::get_if<protocol::Welcome>(&m->first)) {
        heartbeat_ms = w->heartbeat_ms;
        registered = true;
        ++s.connection;
        spdlog::info("registered with {} as '{}' (client id {}, {} samples)", s.opt.server, s.opt.name,
                     w->client_id, s.opt.num_samples);
        break;
      }
      if (auto* r = std::get_if<protocol::Reject>(&m->first)) {
        spdlog::error("server refused registration: {}", r->reason);
        break;
      }
    }
    if (stop_) break;
    if (!registered) {
      int64_t wait = s.Backoff(attempt++);
      s.DrainMonitor();
      if (std::string problem = s.HandshakeProblem(); !problem.empty())
        spdlog::error("cannot connect: {}; retrying in {:.1f} s", problem, static_cast<double>(wait) / 1000);
      else
        spdlog::warn("no answer from {}; retrying in {:.1f} s", s.opt.server, static_cast<double>(wait) / 1000);
      for (int64_t end = SteadyMs() + wait; !stop_ && SteadyMs() < end;)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    attempt = 0;

    // Connected: heartbeats, tasks, results.
    int64_t next_heartbeat = SteadyMs();
    int64_t last_heard = SteadyMs();
    const int64_t silence_ms = int64_t{heartbeat_ms} * s.opt.silence_heartbeats + 5000;
    bool reconnect = false;
    while (!stop_ && !reconnect && !fatal) {
      const int64_t now = SteadyMs();
      if (now >= next_heartbeat) {
        s.Send(s.opt.held_version ? s.opt.held_version() : protocol::Heartbeat{});
        next_heartbeat = now + heartbeat_ms;
      }
      {
        std::lock_guard<std::mutex> lock(s.mu);
        if (s.done) {
          TaskResult r = std::move(*s.done);
          s.done.reset();
          if (!s.Send(r.update, &r.payload))
            spdlog::warn("job {} round {}: could not send the update (server unreachable)",
                         r.update.job_id, r.update.round);
          s.last_sent = std::move(r);
          s.last_sent_connection = s.connection;
          s.busy_resends = 0;
          s.resend_at_ms = 0;
        }
      }
      if (s.resend_at_ms != 0 && now >= s.resend_at_ms) {
        s.resend_at_ms = 0;
        if (s.last_sent && !s.Send(s.last_sent->update, &s.last_sent->payload))
          spdlog::warn("job {} round {}: could not resend the update (server unreachable)",
                       s.last_sent->update.job_id, s.last_sent->update.round);
      }
      if (now - last_heard > silence_ms) {
        spdlog::warn("server silent for {:.1f} s; reconnecting", static_cast<double>(now - last_heard) / 1000);
        reconnect = true;
        break;
      }
      auto m = s.Receive(50);
      if (!m) continue;
      last_heard = SteadyMs();
      Message& msg = m->first;
      if (auto* t = std::get_if<protocol::Train>(&msg)) {
        // The same task again: the server sends it once more when we come
        // back on a new connection while it still waits for our answer.
        if (s.last_sent && Impl::SameTask(*t, s.last_sent->update)) {
          if (s.last_sent_connection != s.connection) {
            spdlog::info("job {} round {}: the server still waits for our update (we reconnected); resending it",
                         t->job_id, t->round);
            if (!s.Send(s.last_sent->update, &s.last_sent->payload))
              spdlog::warn("job {} round {}: could not resend the update (server unreachable)", t->job_id, t->round);
            s.last_sent_connection = s.connection;
            s.busy_resends = 0;
            s.resend_at_ms = 0;
          }
          continue;
        }
        std::lock_guard<std::mutex> lock(s.mu);
        if ((s.busy && Impl::SameTask(*t, s.running)) || (s.done && Impl::SameTask(*t, s.done->update))) {
          spdlog::info("job {} round {}: already working on this task", t->job_id, t->round);
          continue;
        }
        if (s.busy || s.queued)
          spdlog::info("job {} round {}: queued behind the current task", t->job_id, t->round);
        s.queued.emplace(*t, std::move(m->second));
        s.cv.notify_one();
        s.last_sent.reset();  // a new task: the previous round is over
        s.resend_at_ms = 0;
      } else if (auto* r = std::get_if<protocol::Reject>(&msg)) {
        if (r->code == protocol::RejectCode::kNotRegistered) {
          spdlog::info("server does not know us (restarted?); registering again");
          reconnect = true;
        } else if (r->code == protocol::RejectCode::kBusy) {
          s.OnBusy(*r);
        } else {
          spdlog::warn("server rejected job {} round {}: {}", r->job_id, r->round, r->reason);
        }
      } else if (auto* b = std::get_if<protocol::Bye>(&msg)) {
        fatal = true;
        fatal_reason = "server closed the session: " + b->reason;
      }
      // Heartbeat echoes only refresh last_heard.
    }
  }
  if (impl_->sock) {
    if (!fatal) s.Send(protocol::Bye{"client stopping"});
    // Give ZeroMQ a moment to flush the goodbye.
    impl_->sock->set(zmq::sockopt::linger, 200);
    impl_->CloseSocket();
  }
  if (fatal) return Status::FailedPrecondition(fatal_reason);
  return Status::OK();
}

}  // namespace fedpress::client

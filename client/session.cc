#include "client/session.h"

#include <spdlog/spdlog.h>

#include <condition_variable>
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
  std::mt19937_64 jitter{std::random_device{}()};

  // Worker thread: one task at a time; a newer TRAIN replaces a queued one.
  std::thread worker;
  std::mutex mu;
  std::condition_variable cv;
  std::optional<std::pair<protocol::Train, std::vector<uint8_t>>> queued;  // GUARDED_BY(mu)
  std::optional<TaskResult> done;                                          // GUARDED_BY(mu)
  bool worker_stop = false;                                                // GUARDED_BY(mu)
  bool busy = false;                                                       // GUARDED_BY(mu)

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

  void NewSocket() {
    if (sock) sock->close();
    sock = std::make_unique<zmq::socket_t>(ctx, zmq::socket_type::dealer);
    sock->set(zmq::sockopt::linger, 0);
    sock->set(zmq::sockopt::immediate, 1);  // queue only to live connections
    sock->set(zmq::sockopt::maxmsgsize, opt.max_message_bytes);
    sock->set(zmq::sockopt::heartbeat_ivl, 2000);
    sock->set(zmq::sockopt::heartbeat_timeout, 10000);
    sock->set(zmq::sockopt::reconnect_ivl, 200);
    sock->set(zmq::sockopt::reconnect_ivl_max, 5000);
    sock->connect(opt.server);
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
    zmq::pollitem_t item{sock->handle(), 0, ZMQ_POLLIN, 0};
    try {
      zmq::poll(&item, 1, std::chrono::milliseconds(timeout_ms));
    } catch (const zmq::error_t&) {
      return std::nullopt;
    }
    if (!(item.revents & ZMQ_POLLIN)) return std::nullopt;
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
        }
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
        std::lock_guard<std::mutex> lock(s.mu);
        if (s.busy || s.queued)
          spdlog::info("job {} round {}: queued behind the current task", t->job_id, t->round);
        s.queued.emplace(*t, std::move(m->second));
        s.cv.notify_one();
      } else if (auto* r = std::get_if<protocol::Reject>(&msg)) {
        if (r->code == protocol::RejectCode::kNotRegistered) {
          spdlog::info("server does not know us (restarted?); registering again");
          reconnect = true;
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
    impl_->sock->close();
  }
  if (fatal) return Status::FailedPrecondition(fatal_reason);
  return Status::OK();
}

}  // namespace fedpress::client

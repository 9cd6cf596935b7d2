#include "server/zap_authenticator.h"

#include <spdlog/spdlog.h>

#include <vector>

#include "common/clock.h"
#include "common/curve_keys.h"
#include "server/credential_set.h"

namespace fedpress::server {
namespace {

constexpr const char* kZapEndpoint = "inproc://zeromq.zap.01";
constexpr int kMaxDenialLogsPer10s = 10;

}  // namespace

ZapPolicy CredentialPolicy(CredentialSet* credentials) {
  return [credentials](const ZapRequest& req) -> ZapDecision {
    if (req.mechanism != "CURVE") return {false, "", "mechanism " + req.mechanism + " is not allowed"};
    auto cred = credentials->ActiveByPublicKey(req.public_key);
    if (!cred) return {false, "", "public key " + req.public_key + " is not enrolled (or was revoked)"};
    return {true, std::to_string(cred->id), "credential " + std::to_string(cred->id) + " '" + cred->name + "'"};
  };
}

Result<std::unique_ptr<ZapAuthenticator>> ZapAuthenticator::Start(zmq::context_t& context, ZapPolicy policy) {
  std::unique_ptr<ZapAuthenticator> z(new ZapAuthenticator());
  z->policy_ = std::move(policy);
  try {
    z->socket_ = std::make_unique<zmq::socket_t>(context, zmq::socket_type::rep);
    z->socket_->set(zmq::sockopt::linger, 0);
    z->socket_->bind(kZapEndpoint);
  } catch (const zmq::error_t& e) {
    return Status::Unavailable(std::string("cannot start the ZAP handler: ") + e.what());
  }
  z->thread_ = std::thread([raw = z.get()] { raw->Loop(); });
  return z;
}

ZapAuthenticator::~ZapAuthenticator() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  socket_.reset();
}

void ZapAuthenticator::Loop() {
  while (!stop_) {
    zmq::pollitem_t item{socket_->handle(), 0, ZMQ_POLLIN, 0};
    try {
      zmq::poll(&item, 1, std::chrono::milliseconds(100));
      if (item.revents & ZMQ_POLLIN) HandleOne();
    } catch (const zmq::error_t& e) {
      if (e.num() == ETERM) return;
      if (e.num() != EINTR) spdlog::warn("ZAP handler: {}", e.what());
    } catch (const std::exception& e) {
      spdlog::error("ZAP handler: {}", e.what());
    }
  }
}

void ZapAuthenticator::HandleOne() {
  std::vector<zmq::message_t> frames;
  do {
    zmq::message_t f;
    if (!socket_->recv(f, zmq::recv_flags::dontwait)) break;
    frames.push_back(std::move(f));
  } while (frames.back().more() && frames.size() < 16);
  while (!frames.empty() && frames.back().more()) {  // drain an oversized request
    zmq::message_t f;
    if (!socket_->recv(f, zmq::recv_flags::dontwait)) break;
    frames.back() = std::move(f);
  }
  // RFC 27 request: version, request id, domain, address, identity,
  // mechanism, credentials...
  ZapDecision d;
  std::string request_id;
  ZapRequest req;
  if (frames.size() >= 6 && frames[0].to_string_view() == "1.0") {
    request_id = frames[1].to_string();
    req.domain = frames[2].to_string();
    req.address = frames[3].to_string();
    req.mechanism = frames[5].to_string();
    if (req.mechanism == "CURVE" && frames.size() == 7 && frames[6].size() == 32)
      req.public_key = Z85EncodeKey(frames[6].to_string_view());
    if (req.mechanism == "CURVE" && req.public_key.empty())
      d = {false, "", "malformed CURVE credentials"};
    else
      d = policy_(req);
  } else {
    d = {false, "", "malformed ZAP request"};
    if (frames.size() >= 2) request_id = frames[1].to_string();
  }
  if (d.allow) {
    ++allowed_;
    spdlog::debug("ZAP: {} at {} allowed ({})", req.mechanism, req.address, d.reason);
  } else {
    ++denied_;
    const int64_t now = SteadyMs();
    if (now - window_start_ms_ >= 10000) {
      if (suppressed_ > 0) spdlog::warn("ZAP: {} more clients refused in the last 10 s (not logged)", suppressed_);
      window_start_ms_ = now;
      logged_in_window_ = 0;
      suppressed_ = 0;
    }
    if (logged_in_window_++ < kMaxDenialLogsPer10s)
      spdlog::warn("refused a client at {}: {}", req.address.empty() ? "?" : req.address, d.reason);
    else
      ++suppressed_;
  }
  const std::string status = d.allow ? "200" : "400";
  socket_->send(zmq::str_buffer("1.0"), zmq::send_flags::sndmore);
  socket_->send(zmq::buffer(request_id), zmq::send_flags::sndmore);
  socket_->send(zmq::buffer(status), zmq::send_flags::sndmore);
  socket_->send(zmq::buffer(d.allow ? std::string("OK") : d.reason.substr(0, 200)), zmq::send_flags::sndmore);
  socket_->send(zmq::buffer(d.allow ? d.user_id : std::string()), zmq::send_flags::sndmore);
  socket_->send(zmq::str_buffer(""), zmq::send_flags::none);
}

}  // namespace fedpress::server

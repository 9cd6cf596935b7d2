// Outbox: where server logic hands messages for a peer. Implemented by the
// ZeroMQ Transport, and by an in-memory fake in tests, so the round logic
// never touches a socket.
//
// Thread-safety: implementations must be thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace fedpress::server {

using SharedBytes = std::shared_ptr<const std::vector<uint8_t>>;

class Outbox {
 public:
  virtual ~Outbox() = default;
  virtual void Send(const std::string& peer, std::vector<uint8_t> envelope,
                    SharedBytes payload = nullptr) = 0;
};

}  // namespace fedpress::server

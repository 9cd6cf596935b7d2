// ReadMonitorEvent: takes one pending event from a ZeroMQ socket monitor
// (zmq_socket_monitor's PAIR socket) without blocking. Used by the server's
// transport and the client's session to tell why a CURVE handshake failed.
//
// Thread-safety: use the monitor socket from one thread only (ZeroMQ rule).
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>

#include <zmq.hpp>

namespace fedpress {

struct MonitorEvent {
  uint16_t event = 0;  // ZMQ_EVENT_*
  uint32_t value = 0;  // its value (status code, protocol error, fd...)
};

// The next well-formed event, or nullopt when none is pending (or the socket
// failed). Malformed frames are skipped; at most 64 are looked at per call.
inline std::optional<MonitorEvent> ReadMonitorEvent(zmq::socket_t& monitor) {
  for (int i = 0; i < 64; ++i) {
    zmq::message_t head, addr;
    try {
      if (!monitor.recv(head, zmq::recv_flags::dontwait)) return std::nullopt;
      if (head.more()) (void)monitor.recv(addr, zmq::recv_flags::dontwait);
    } catch (const zmq::error_t&) {
      return std::nullopt;
    }
    if (head.size() < 6) continue;
    MonitorEvent e;
    std::memcpy(&e.event, head.data(), 2);
    std::memcpy(&e.value, static_cast<const char*>(head.data()) + 2, 4);
    return e;
  }
  return std::nullopt;
}

}  // namespace fedpress

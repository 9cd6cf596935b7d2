// fedpress-flood: a hostile load generator for the rate limits and memory
// bounds (tests/bench/flood_memory.sh). For --seconds it floods a server's
// ZeroMQ endpoint from loopback source addresses with
//   - one identity sending REGISTER and HEARTBEAT as fast as it can,
//   - a stream of fresh identities (new connection, new routing id, new
//     client name each), each sending REGISTER, HEARTBEATs and garbage,
//   - oversized garbage frames,
// and prints what it sent. Only for servers on this machine: it refuses any
// endpoint that is not 127.0.0.0/8.
//
//   fedpress-flood --endpoint tcp://127.0.0.1:7070 --seconds 600 [--sources 4]
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "common/protocol.h"

namespace proto = fedpress::protocol;
using Clock = std::chrono::steady_clock;

namespace {

bool TrySend(zmq::socket_t& s, const void* data, size_t size) {
  try {
    return s.send(zmq::const_buffer(data, size), zmq::send_flags::dontwait).has_value();
  } catch (const zmq::error_t&) {
    return false;
  }
}
bool TrySend(zmq::socket_t& s, const std::vector<uint8_t>& f) { return TrySend(s, f.data(), f.size()); }

void Drain(zmq::socket_t& s) {
  zmq::message_t m;
  for (int i = 0; i < 1000; ++i)
    if (!s.recv(m, zmq::recv_flags::dontwait)) break;
}

struct Counters {
  std::atomic<uint64_t> sent{0}, identities{0}, bytes{0}, errors{0};
};

void OneIdentity(const std::string& endpoint, Clock::time_point end, Counters& c) {
  zmq::context_t ctx(1);
  zmq::socket_t s(ctx, zmq::socket_type::dealer);
  s.set(zmq::sockopt::linger, 0);
  s.set(zmq::sockopt::routing_id, "flood-one");
  s.connect(endpoint);
  const auto reg = proto::EncodeEnvelope(proto::Register{"flood-one", "fashion-mnist", 100, 0, "flood"});
  const auto hb = proto::EncodeEnvelope(proto::Heartbeat{1, 1, 1});
  for (uint64_t i = 0; Clock::now() < end; ++i) {
    const auto& f = i % 10 == 0 ? reg : hb;
    if (TrySend(s, f)) ++c.sent, c.bytes += f.size();
    if (i % 256 == 0) Drain(s);
  }
}

void ManyIdentities(const std::string& endpoint, int thread_index, Clock::time_point end, Counters& c) {
  zmq::context_t ctx(1);
  std::deque<std::unique_ptr<zmq::socket_t>> open;
  std::mt19937_64 rng(static_cast<uint64_t>(thread_index) * 7919 + 1);
  const auto hb = proto::EncodeEnvelope(proto::Heartbeat{});
  for (uint64_t n = 0; Clock::now() < end; ++n) {
    std::unique_ptr<zmq::socket_t> s;
    const std::string name = "fake-" + std::to_string(thread_index) + "-" + std::to_string(rng());
    try {
      s = std::make_unique<zmq::socket_t>(ctx, zmq::socket_type::dealer);
      s->set(zmq::sockopt::linger, 200);  // closed sockets still deliver what they queued
      s->set(zmq::sockopt::routing_id, name);
      s->connect(endpoint);
    } catch (const zmq::error_t&) {  // out of sockets or descriptors: let closed ones go
      ++c.errors;
      if (!open.empty()) open.pop_front();
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    ++c.identities;
    auto reg = proto::EncodeEnvelope(proto::Register{name, "fashion-mnist", 1 + rng() % 60000, 0, "flood"});
    if (TrySend(*s, reg)) ++c.sent, c.bytes += reg.size();
    std::vector<uint8_t> garbage(1 + rng() % 512);
    for (auto& b : garbage) b = static_cast<uint8_t>(rng());
    for (int k = 0; k < 20; ++k) {
      const auto& f = k % 2 ? hb : garbage;
      if (TrySend(*s, f)) ++c.sent, c.bytes += f.size();
    }
    if (n % 50 == 0) {  // an oversized frame now and then (ZeroMQ's max message size applies)
      std::vector<uint8_t> big(1 << 20, 0x5a);
      if (TrySend(*s, big)) ++c.sent, c.bytes += big.size();
    }
    open.push_back(std::move(s));
    if (open.size() > 16) {
      Drain(*open.front());
      open.pop_front();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));  // ~1000 new identities/s per source
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string endpoint = "tcp://127.0.0.1:7070";
  int seconds = 60, sources = 4;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--endpoint") endpoint = v;
    else if (k == "--seconds") seconds = std::atoi(v.c_str());
    else if (k == "--sources") sources = std::atoi(v.c_str());
    else {
      std::fprintf(stderr, "unknown flag %s\nusage: fedpress-flood --endpoint tcp://127.0.0.1:PORT --seconds S [--sources N]\n", k.c_str());
      return 2;
    }
  }
  if (endpoint.rfind("tcp://127.", 0) != 0 || seconds <= 0 || seconds > 3600 || sources < 1 || sources > 200) {
    std::fprintf(stderr, "fedpress-flood: needs a tcp://127.x.y.z:PORT endpoint, 1..3600 s, 1..200 sources\n");
    return 2;
  }
  const std::string dest = endpoint.substr(6);
  const auto end = Clock::now() + std::chrono::seconds(seconds);
  Counters c;
  std::vector<std::thread> threads;
  threads.emplace_back(OneIdentity, "tcp://127.0.1.1:0;" + dest, end, std::ref(c));
  for (int i = 0; i < sources; ++i)
    threads.emplace_back(ManyIdentities, "tcp://127.0.2." + std::to_string(1 + i) + ":0;" + dest, i, end, std::ref(c));
  for (auto& t : threads) t.join();
  std::printf("fedpress-flood: %d s, %llu messages (%llu bytes) sent, %llu identities from %d sources + 1, "
              "%llu socket errors\n", seconds,
              static_cast<unsigned long long>(c.sent.load()), static_cast<unsigned long long>(c.bytes.load()),
              static_cast<unsigned long long>(c.identities.load()), sources,
              static_cast<unsigned long long>(c.errors.load()));
  return 0;
}

// The Transport's inbound bounds with a real ROUTER socket and raw DEALER
// peers on loopback: bytes queued per peer and in all, the admission hook,
// the remote address on each message, many clients' heartbeats, and the
// client socket's options (no per-connection ZMTP timers).
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "common/clock.h"
#include "server/transport.h"

namespace fedpress::server {
namespace {

using namespace std::chrono_literals;

class Peer {
 public:
  Peer(zmq::context_t& ctx, const std::string& endpoint, const std::string& id) : sock_(ctx, zmq::socket_type::dealer) {
    sock_.set(zmq::sockopt::routing_id, id);
    sock_.set(zmq::sockopt::linger, 0);
    sock_.connect(endpoint);
  }
  void Send(size_t bytes, char fill = 'a') {
    std::string frame(bytes, fill);
    sock_.send(zmq::buffer(frame), zmq::send_flags::none);
  }

 private:
  zmq::socket_t sock_;
};

// Polls `done` every 10 ms for up to 10 s.
template <typename F>
bool WaitFor(F done) {
  for (int i = 0; i < 1000; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return done();
}

// Each queued message is charged its bytes plus kQueuedMessageOverheadBytes.
constexpr size_t kOverhead = kQueuedMessageOverheadBytes;
// Frame size of a message charged `cost` bytes.
constexpr size_t Wire(size_t cost) { return cost - kOverhead; }

TEST(TransportLimits, QueuedBytesAreBoundedPerPeerAndInAll) {
  static_assert(kOverhead < 400, "the sizes below assume a small per-message charge");
  std::atomic<int> calls{0};
  TransportOptions o;
  o.bind = "tcp://127.0.0.1:0";
  o.max_peer_queued_bytes = 1000;
  o.max_queued_inbound_bytes = 2400;
  o.admit = [&calls](const InboundMessage& m) {
    ++calls;
    return m.frames.empty() || m.frames[0].size() == 0 || static_cast<const char*>(m.frames[0].data())[0] != 'X';
  };
  auto t = Transport::Start(o);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  zmq::context_t ctx(1);
  Peer a(ctx, (*t)->endpoint(), "peer-a"), b(ctx, (*t)->endpoint(), "peer-b"), c(ctx, (*t)->endpoint(), "peer-c");

  for (int i = 0; i < 10; ++i) a.Send(Wire(500));   // 2 fit in 1000 bytes
  ASSERT_TRUE(WaitFor([&] { return (*t)->dropped_inbound() == 8u; })) << (*t)->dropped_inbound();
  EXPECT_EQ((*t)->queued_inbound_bytes(), 1000u);
  for (int i = 0; i < 3; ++i) b.Send(Wire(500));    // 2 more: 2000 in all
  ASSERT_TRUE(WaitFor([&] { return (*t)->dropped_inbound() == 9u; })) << (*t)->dropped_inbound();
  EXPECT_EQ((*t)->queued_inbound_bytes(), 2000u);
  c.Send(Wire(700));                                // 2700 > 2400 in all: dropped
  c.Send(Wire(400));                                // 2400: fits
  c.Send(10, 'X');                                  // refused by the admission hook
  ASSERT_TRUE(WaitFor([&] { return (*t)->dropped_by_policy() == 1u && (*t)->queued_inbound_bytes() == 2400u; }));
  EXPECT_EQ((*t)->dropped_inbound(), 8u + 1u + 1u);
  EXPECT_EQ((*t)->dropped_by_policy(), 1u);

  // Taking messages frees their bytes: peer-a may queue again.
  int got = 0;
  while (auto m = (*t)->Receive(100)) {
    ++got;
    EXPECT_NE(m->source.find("127.0.0.1"), std::string::npos) << m->source;
  }
  EXPECT_EQ(got, 5);
  EXPECT_EQ((*t)->queued_inbound_bytes(), 0u);
  // One message always fits a peer with nothing queued (ZeroMQ's maxmsgsize
  // bounds its size), even when its charge is over the per-peer bound.
  a.Send(900);
  a.Send(10);  // 900 + 10 + 2 x overhead > 1000: dropped
  ASSERT_TRUE(WaitFor([&] { return (*t)->dropped_inbound() == 11u; })) << (*t)->dropped_inbound();
  auto m = (*t)->Receive(10000);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->peer, "peer-a");
  EXPECT_EQ(m->wire_bytes, 900u);
}

// N clients heartbeat N/2 times a second; while the coordinator is busy with
// a burst of updates their heartbeats pile up in the queue. With the default
// bounds, more small messages than the old 10,000-message cap (4 s of
// heartbeats at 5,000 clients) must not make the transport drop the updates
// queued behind them (the round would then wait for its deadline).
// An envelope + payload message (an UPDATE) that does not fit is not lost
// silently: its envelope is queued as an overflow notice, in arrival order,
// without its payload and without being charged to the byte bounds, so the
// coordinator can tell its sender to resend. Single-frame messages and large
// envelopes are dropped without one, and the notices themselves are bounded.
TEST(TransportLimits, DroppedUpdateLeavesAnOverflowNotice) {
  TransportOptions o;
  o.bind = "tcp://127.0.0.1:0";
  o.max_peer_queued_bytes = 10000;
  o.max_queued_inbound_bytes = 10000;
  o.max_queued_overflow_notices = 2;
  auto t = Transport::Start(o);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  zmq::context_t ctx(1);
  zmq::socket_t dealer(ctx, zmq::socket_type::dealer);
  dealer.set(zmq::sockopt::routing_id, "peer-u");
  dealer.set(zmq::sockopt::linger, 0);
  dealer.connect((*t)->endpoint());
  auto send2 = [&](const std::string& envelope, size_t payload_bytes) {
    std::string payload(payload_bytes, 'p');
    dealer.send(zmq::buffer(envelope), zmq::send_flags::sndmore);
    dealer.send(zmq::buffer(payload), zmq::send_flags::none);
  };
  send2("env-1", 6000);                                  // queued whole
  send2("env-2", 6000);                                  // dropped: notice
  dealer.send(zmq::buffer(std::string(6000, 's')), zmq::send_flags::none);  // 1 frame: dropped, no notice
  send2(std::string(kMaxOverflowNoticeEnvelopeBytes + 1, 'E'), 6000);      // large envelope: no notice
  send2("env-3", 6000);                                  // dropped: notice
  send2("env-4", 6000);                                  // dropped: notices full
  ASSERT_TRUE(WaitFor([&] { return (*t)->dropped_inbound() == 5u; })) << (*t)->dropped_inbound();
  EXPECT_EQ((*t)->overflow_notices(), 2u);
  EXPECT_EQ((*t)->queued_inbound_bytes(), 6005u + kOverhead);  // notices are not charged

  auto first = (*t)->Receive(1000);
  ASSERT_TRUE(first.has_value());
  EXPECT_FALSE(first->overflowed);
  ASSERT_EQ(first->frames.size(), 2u);
  EXPECT_EQ(first->frames[1].size(), 6000u);
  for (const char* expected : {"env-2", "env-3"}) {
    auto n = (*t)->Receive(1000);
    ASSERT_TRUE(n.has_value()) << expected;
    EXPECT_TRUE(n->overflowed);
    EXPECT_EQ(n->peer, "peer-u");
    ASSERT_EQ(n->frames.size(), 1u) << "the payload is not kept";
    EXPECT_EQ(n->frames[0].to_string(), expected);
  }
  EXPECT_FALSE((*t)->Receive(50).has_value());
  EXPECT_EQ((*t)->queued_inbound_bytes(), 0u);
  // Receiving the notices freed their slots: the next dropped update gets one.
  send2("env-5", 6000);
  send2("env-6", 6000);
  send2("env-7", 6000);
  ASSERT_TRUE(WaitFor([&] { return (*t)->overflow_notices() == 4u; })) << (*t)->overflow_notices();
  auto whole = (*t)->Receive(1000);
  ASSERT_TRUE(whole.has_value());
  EXPECT_FALSE(whole->overflowed);
  EXPECT_EQ(whole->frames[0].to_string(), "env-5");
  for (const char* expected : {"env-6", "env-7"}) {
    auto n = (*t)->Receive(1000);
    ASSERT_TRUE(n.has_value()) << expected;
    EXPECT_TRUE(n->overflowed);
    EXPECT_EQ(n->frames[0].to_string(), expected);
  }
}

TEST(TransportLimits, ManyClientsHeartbeatsDoNotCrowdOutTheirUpdates) {
  TransportOptions o;
  o.bind = "tcp://127.0.0.1:0";
  auto t = Transport::Start(o);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  constexpr int kPeers = 100, kHeartbeats = 120;
  constexpr size_t kHeartbeatBytes = 24, kUpdateBytes = 40000;
  static_assert(kPeers * kHeartbeats > 10000);
  zmq::context_t ctx(1);
  std::vector<std::unique_ptr<Peer>> peers;
  for (int p = 0; p < kPeers; ++p)
    peers.push_back(std::make_unique<Peer>(ctx, (*t)->endpoint(), "client-" + std::to_string(p)));
  for (int i = 0; i < kHeartbeats; ++i)
    for (auto& p : peers) p->Send(kHeartbeatBytes, 'h');
  for (auto& p : peers) p->Send(kUpdateBytes, 'u');
  const size_t expected = kPeers * (kHeartbeats * (kHeartbeatBytes + kOverhead) + kUpdateBytes + kOverhead);
  ASSERT_TRUE(WaitFor([&] { return (*t)->queued_inbound_bytes() == expected || (*t)->dropped_inbound() > 0; }))
      << (*t)->queued_inbound_bytes() << " of " << expected;
  EXPECT_EQ((*t)->dropped_inbound(), 0u);
  EXPECT_EQ((*t)->queued_inbound_bytes(), expected);
  int heartbeats = 0, updates = 0;
  while (auto m = (*t)->Receive(100)) {
    heartbeats += m->wire_bytes == kHeartbeatBytes;
    updates += m->wire_bytes == kUpdateBytes;
  }
  EXPECT_EQ(heartbeats, kPeers * kHeartbeats);
  EXPECT_EQ(updates, kPeers);
}

// The client socket has no ZMTP heartbeats (dead peers are left to TCP
// keepalive): libzmq 4.3 re-arms a heartbeat-timeout timer per connection
// and interval and cancels it with a scan of all the I/O thread's timers, so
// each received message cost O(connections) and the server's I/O thread
// O(clients^2) per second (5,000 clients: a core in std::_Rb_tree_increment).
TEST(TransportLimits, ClientSocketUsesNoPerConnectionZmtpTimers) {
  zmq::context_t ctx(1);
  zmq::socket_t router(ctx, zmq::socket_type::router);
  TransportOptions o;
  ApplyClientSocketOptions(router, o);
  EXPECT_EQ(router.get(zmq::sockopt::heartbeat_ivl), 0);
  EXPECT_EQ(router.get(zmq::sockopt::tcp_keepalive), 1);
  EXPECT_GT(router.get(zmq::sockopt::tcp_keepalive_idle), 0);
  EXPECT_EQ(router.get(zmq::sockopt::maxmsgsize), o.max_message_bytes);
  EXPECT_EQ(router.get(zmq::sockopt::linger), 0);
}

// Messages carry their arrival time, and the transport reports the oldest one
// still queued: the coordinator judges client silence up to that moment, so a
// heartbeat stuck behind a burst of updates does not make its client time out.
TEST(TransportLimits, ReportsWhenTheOldestQueuedMessageArrived) {
  TransportOptions o;
  o.bind = "tcp://127.0.0.1:0";
  auto t = Transport::Start(o);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_FALSE((*t)->oldest_queued_arrival_ms().has_value());
  zmq::context_t ctx(1);
  Peer a(ctx, (*t)->endpoint(), "peer-a");
  const int64_t before = SteadyMs();
  a.Send(10);
  ASSERT_TRUE(WaitFor([&] { return (*t)->oldest_queued_arrival_ms().has_value(); }));
  const int64_t first = *(*t)->oldest_queued_arrival_ms();
  EXPECT_GE(first, before);
  EXPECT_LE(first, SteadyMs());
  std::this_thread::sleep_for(50ms);
  a.Send(20);
  ASSERT_TRUE(WaitFor([&] { return (*t)->queued_inbound_bytes() == 30u + 2 * kOverhead; }));
  EXPECT_EQ(*(*t)->oldest_queued_arrival_ms(), first);  // still the first one
  auto m1 = (*t)->Receive(1000);
  ASSERT_TRUE(m1.has_value());
  EXPECT_EQ(m1->arrived_steady_ms, first);
  const int64_t second = *(*t)->oldest_queued_arrival_ms();
  EXPECT_GE(second, first + 40);  // the later message, sent 50 ms after
  auto m2 = (*t)->Receive(1000);
  ASSERT_TRUE(m2.has_value());
  EXPECT_EQ(m2->arrived_steady_ms, second);
  EXPECT_FALSE((*t)->oldest_queued_arrival_ms().has_value());
}

}  // namespace
}  // namespace fedpress::server

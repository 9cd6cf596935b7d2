// The Transport's inbound bounds with a real ROUTER socket and raw DEALER
// peers on loopback: bytes queued per peer and in all, the admission hook,
// and the remote address on each message.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>
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

TEST(TransportLimits, QueuedBytesAreBoundedPerPeerAndInAll) {
  std::atomic<int> calls{0};
  TransportOptions o;
  o.bind = "tcp://127.0.0.1:0";
  o.max_peer_queued_bytes = 1000;
  o.max_queued_inbound_bytes = 2000;
  o.admit = [&calls](const InboundMessage& m) {
    ++calls;
    return m.frames.empty() || m.frames[0].size() == 0 || static_cast<const char*>(m.frames[0].data())[0] != 'X';
  };
  auto t = Transport::Start(o);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  zmq::context_t ctx(1);
  Peer a(ctx, (*t)->endpoint(), "peer-a"), b(ctx, (*t)->endpoint(), "peer-b"), c(ctx, (*t)->endpoint(), "peer-c");

  for (int i = 0; i < 10; ++i) a.Send(400);   // 2 fit in 1000 bytes
  ASSERT_TRUE(WaitFor([&] { return (*t)->dropped_inbound() == 8u; })) << (*t)->dropped_inbound();
  EXPECT_EQ((*t)->queued_inbound_bytes(), 800u);
  for (int i = 0; i < 3; ++i) b.Send(400);    // 2 more: 1600 in all
  ASSERT_TRUE(WaitFor([&] { return (*t)->dropped_inbound() == 9u; })) << (*t)->dropped_inbound();
  EXPECT_EQ((*t)->queued_inbound_bytes(), 1600u);
  c.Send(500);                                // 2100 > 2000 in all: dropped
  c.Send(300);                                // 1900: fits
  c.Send(10, 'X');                            // refused by the admission hook
  ASSERT_TRUE(WaitFor([&] { return (*t)->dropped_by_policy() == 1u && (*t)->queued_inbound_bytes() == 1900u; }));
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
  a.Send(900);
  auto m = (*t)->Receive(10000);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->peer, "peer-a");
  EXPECT_EQ(m->wire_bytes, 900u);
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
  ASSERT_TRUE(WaitFor([&] { return (*t)->queued_inbound_bytes() == 30u; }));
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

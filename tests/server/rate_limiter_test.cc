// Unit tests of KeyedRateLimiter (token buckets per key, bounded key count)
// and FloodGuard (which messages are limited, under which keys).
#include "server/rate_limiter.h"

#include <gtest/gtest.h>

#include "common/protocol.h"
#include "server/flood_guard.h"

namespace fedpress::server {
namespace {

int CountAllowed(KeyedRateLimiter& l, const std::string& key, int tries, int64_t now) {
  int n = 0;
  for (int i = 0; i < tries; ++i) n += l.Allow(key, now);
  return n;
}

TEST(KeyedRateLimiter, BurstThenSustainedRate) {
  KeyedRateLimiter l({/*rate_per_s=*/10, /*burst=*/5, /*max_keys=*/100});
  EXPECT_EQ(CountAllowed(l, "a", 20, 1000), 5);  // the burst, then nothing
  EXPECT_FALSE(l.Allow("a", 1050));              // half a token
  EXPECT_TRUE(l.Allow("a", 1100));               // one token after 100 ms
  EXPECT_FALSE(l.Allow("a", 1100));
  // One second refills 10 tokens but the bucket holds only 5.
  EXPECT_EQ(CountAllowed(l, "a", 20, 2100), 5);
}

TEST(KeyedRateLimiter, KeysAreIndependent) {
  KeyedRateLimiter l({1, 3, 100});
  EXPECT_EQ(CountAllowed(l, "a", 10, 0), 3);
  EXPECT_EQ(CountAllowed(l, "b", 10, 0), 3);
  EXPECT_EQ(l.keys(), 2u);
}

TEST(KeyedRateLimiter, ClockGoingBackwardsGivesNothing) {
  KeyedRateLimiter l({1, 1, 100});
  EXPECT_TRUE(l.Allow("a", 5000));
  EXPECT_FALSE(l.Allow("a", 1000));
  EXPECT_FALSE(l.Allow("a", 5000));
}

TEST(KeyedRateLimiter, KeyCountIsBoundedUnderAFloodOfIdentities) {
  KeyedRateLimiter l({1, 2, 64});
  for (int i = 0; i < 10000; ++i) EXPECT_TRUE(l.Allow("id-" + std::to_string(i), 0));
  EXPECT_EQ(l.keys(), 64u);
  EXPECT_EQ(l.evicted_lru(), 10000u - 64u);
  // The most recent keys are the ones kept: id-9999 has used one of its 2 tokens.
  EXPECT_TRUE(l.Allow("id-9999", 0));
  EXPECT_FALSE(l.Allow("id-9999", 0));
}

TEST(KeyedRateLimiter, IdleKeysAreForgottenOnceFull) {
  KeyedRateLimiter l({10, 5, 1000});  // refills in 500 ms
  for (int i = 0; i < 100; ++i) (void)l.Allow("id-" + std::to_string(i), 0);
  EXPECT_EQ(l.keys(), 100u);
  (void)l.Allow("late", 499);
  EXPECT_EQ(l.keys(), 101u);  // not yet full again
  (void)l.Allow("late", 500);
  EXPECT_EQ(l.keys(), 1u);    // the 100 idle ones are gone, no LRU eviction needed
  EXPECT_EQ(l.evicted_lru(), 0u);
  // Forgetting a full bucket changes nothing: a returning key has its burst.
  EXPECT_EQ(CountAllowed(l, "id-7", 10, 600), 5);
}

TEST(KeyedRateLimiter, RecentlyUsedKeySurvivesLruEviction) {
  KeyedRateLimiter l({0.001, 3, 3});
  EXPECT_TRUE(l.Allow("a", 0));
  EXPECT_TRUE(l.Allow("b", 0));
  EXPECT_TRUE(l.Allow("c", 0));
  EXPECT_TRUE(l.Allow("a", 1));  // a is now the most recent
  EXPECT_TRUE(l.Allow("d", 2));  // evicts b
  EXPECT_EQ(l.keys(), 3u);
  EXPECT_EQ(CountAllowed(l, "a", 5, 3), 1);  // a kept its state (1 token left)
  EXPECT_EQ(CountAllowed(l, "b", 5, 3), 3);  // b starts over
}

InboundMessage Msg(const std::string& peer, const std::string& source, std::vector<uint8_t> frame0,
                   const std::string& user_id = "") {
  InboundMessage m;
  m.peer = peer;
  m.source = source;
  m.user_id = user_id;
  m.frames.emplace_back(frame0.data(), frame0.size());
  return m;
}

std::vector<uint8_t> Heartbeat() { return protocol::EncodeEnvelope(protocol::Heartbeat{}); }
std::vector<uint8_t> UpdateEnvelope() {
  return protocol::EncodeEnvelope(protocol::Update{1, 1, 1, 10, 0.5f, 1, 1, 4, protocol::PayloadFormat::kDense});
}

TEST(FloodGuard, LimitsEverythingButUpdates) {
  EXPECT_TRUE(IsRateLimitedMessage(Msg("p", "s", Heartbeat())));
  EXPECT_TRUE(IsRateLimitedMessage(Msg("p", "s", protocol::EncodeEnvelope(protocol::Register{"a", "b", 1, 0, "v"}))));
  EXPECT_TRUE(IsRateLimitedMessage(Msg("p", "s", protocol::EncodeEnvelope(protocol::Bye{"x"}))));
  EXPECT_TRUE(IsRateLimitedMessage(Msg("p", "s", {0xde, 0xad})));
  EXPECT_TRUE(IsRateLimitedMessage(Msg("p", "s", {'F', 'P', 9, 5})));  // another version's "UPDATE"
  EXPECT_FALSE(IsRateLimitedMessage(Msg("p", "s", UpdateEnvelope())));
}

TEST(FloodGuard, OnePeerIsLimitedOthersAreNot) {
  FloodGuard g({{1, 5, 100}, {1000, 1000, 100}});
  int admitted = 0;
  for (int i = 0; i < 100; ++i) admitted += g.Admit(Msg("flooder", "tcp://127.0.0.9:1", Heartbeat()), 0);
  EXPECT_EQ(admitted, 5);
  EXPECT_EQ(g.dropped_peer(), 95u);
  EXPECT_TRUE(g.Admit(Msg("honest", "tcp://127.0.0.9:2", Heartbeat()), 0));
  // Updates pass whatever the buckets say.
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(g.Admit(Msg("flooder", "tcp://127.0.0.9:1", UpdateEnvelope()), 0));
}

TEST(FloodGuard, ManyIdentitiesFromOneSourceAreLimitedBySource) {
  FloodGuard g({{100, 100, 1000}, {1, 10, 1000}});
  int admitted = 0;
  for (int i = 0; i < 200; ++i)
    admitted += g.Admit(Msg("fake-" + std::to_string(i), "10.9.9.9", Heartbeat()), 0);
  EXPECT_EQ(admitted, 10);
  EXPECT_EQ(g.dropped_source(), 190u);
  EXPECT_EQ(g.sources_tracked(), 1u);
  EXPECT_TRUE(g.Admit(Msg("other", "10.9.9.8", Heartbeat()), 0));
}

TEST(FloodGuard, CredentialIsTheSourceWhenThereIsOne) {
  FloodGuard g({{100, 100, 1000}, {1, 2, 1000}});
  // Two credentials behind one address are limited separately...
  EXPECT_EQ(g.Admit(Msg("a1", "10.0.0.1", Heartbeat(), "cred-a"), 0) +
                g.Admit(Msg("a2", "10.0.0.1", Heartbeat(), "cred-a"), 0) +
                g.Admit(Msg("a3", "10.0.0.1", Heartbeat(), "cred-a"), 0),
            2);
  EXPECT_TRUE(g.Admit(Msg("b1", "10.0.0.1", Heartbeat(), "cred-b"), 0));
  // ...and one credential from many addresses shares one bucket.
  EXPECT_FALSE(g.Admit(Msg("a4", "10.0.0.2", Heartbeat(), "cred-a"), 0));
}

TEST(FloodGuard, StateStaysBoundedUnderAnIdentityFlood) {
  FloodGuard g({{1, 1, 256}, {1e6, 1e6, 256}});
  for (int i = 0; i < 50000; ++i)
    (void)g.Admit(Msg("id-" + std::to_string(i), "src-" + std::to_string(i % 1000), Heartbeat()), i / 100);
  EXPECT_LE(g.peers_tracked(), 256u);
  EXPECT_LE(g.sources_tracked(), 256u);
  auto text = g.RenderMetrics(nullptr);
  EXPECT_NE(text.find("fedpress_flood_dropped_total{limit=\"peer\"} "), std::string::npos) << text;
  EXPECT_NE(text.find("fedpress_flood_tracked{limit=\"source\"} "), std::string::npos) << text;
}

}  // namespace
}  // namespace fedpress::server

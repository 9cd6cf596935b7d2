#include "server/client_registry.h"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace fedpress::server {
namespace {

LiveClient Client(int64_t id, const std::string& name, const std::string& peer, int64_t seen = 1000) {
  LiveClient c;
  c.client_id = id;
  c.name = name;
  c.peer = peer;
  c.dataset = "fashion-mnist";
  c.num_samples = 100 * static_cast<uint64_t>(id);
  c.capabilities = 1;
  c.version = "test";
  c.connected_ms = 5;
  c.last_seen_steady_ms = seen;
  c.last_seen_ms = seen + 1;
  return c;
}

TEST(ClientRegistry, UpsertAndLookups) {
  ClientRegistry reg;
  EXPECT_EQ(reg.size(), 0u);
  EXPECT_FALSE(reg.Upsert(Client(1, "alice", "peer-a")));
  EXPECT_FALSE(reg.Upsert(Client(2, "bob", "peer-b")));
  EXPECT_EQ(reg.size(), 2u);

  auto a = reg.ByPeer("peer-a");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->client_id, 1);
  EXPECT_EQ(a->name, "alice");
  EXPECT_EQ(a->num_samples, 100u);
  EXPECT_EQ(a->dataset, "fashion-mnist");
  auto b = reg.ById(2);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->peer, "peer-b");
  EXPECT_FALSE(reg.ByPeer("nobody"));
  EXPECT_FALSE(reg.ById(3));
}

TEST(ClientRegistry, SameNameFromNewPeerReplacesAndReturnsOldPeer) {
  ClientRegistry reg;
  reg.Upsert(Client(1, "alice", "peer-a"));
  reg.Upsert(Client(2, "bob", "peer-b"));
  auto old = reg.Upsert(Client(1, "alice", "peer-a2"));
  ASSERT_TRUE(old);
  EXPECT_EQ(*old, "peer-a");
  EXPECT_EQ(reg.size(), 2u);
  EXPECT_FALSE(reg.ByPeer("peer-a"));
  ASSERT_TRUE(reg.ByPeer("peer-a2"));
  EXPECT_EQ(reg.ById(1)->peer, "peer-a2");
  EXPECT_EQ(reg.ByPeer("peer-b")->name, "bob");  // others untouched
}

TEST(ClientRegistry, SamePeerReRegisteringIsNotAReplacement) {
  ClientRegistry reg;
  reg.Upsert(Client(1, "alice", "peer-a"));
  LiveClient again = Client(1, "alice", "peer-a");
  again.num_samples = 777;
  EXPECT_FALSE(reg.Upsert(again));
  EXPECT_EQ(reg.size(), 1u);
  EXPECT_EQ(reg.ByPeer("peer-a")->num_samples, 777u);
}

TEST(ClientRegistry, Touch) {
  ClientRegistry reg;
  reg.Upsert(Client(1, "alice", "peer-a", 1000));
  reg.Touch("peer-a", 5000, 123456);
  auto a = reg.ByPeer("peer-a");
  EXPECT_EQ(a->last_seen_steady_ms, 5000);
  EXPECT_EQ(a->last_seen_ms, 123456);
  reg.Touch("unknown", 9999, 9999);  // no-op
  EXPECT_EQ(reg.size(), 1u);
  EXPECT_FALSE(reg.ByPeer("unknown"));
}

TEST(ClientRegistry, Expire) {
  ClientRegistry reg;
  reg.Upsert(Client(1, "a", "p1", 100));
  reg.Upsert(Client(2, "b", "p2", 200));
  reg.Upsert(Client(3, "c", "p3", 300));
  reg.Touch("p1", 400, 400);
  auto gone = reg.Expire(300);  // strictly older than the cutoff
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0].name, "b");
  EXPECT_EQ(gone[0].peer, "p2");
  EXPECT_EQ(reg.size(), 2u);
  EXPECT_FALSE(reg.ByPeer("p2"));
  EXPECT_TRUE(reg.Expire(300).empty());
  auto rest = reg.Expire(1000);
  std::set<std::string> names;
  for (const auto& c : rest) names.insert(c.name);
  EXPECT_EQ(names, (std::set<std::string>{"a", "c"}));
  EXPECT_EQ(reg.size(), 0u);
}

TEST(ClientRegistry, SetBusy) {
  ClientRegistry reg;
  reg.Upsert(Client(1, "a", "p1"));
  reg.Upsert(Client(2, "b", "p2"));
  reg.SetBusy(2, 7, 3);
  EXPECT_EQ(reg.ById(2)->busy_job, 7);
  EXPECT_EQ(reg.ById(2)->busy_round, 3u);
  EXPECT_EQ(reg.ById(1)->busy_job, 0);
  reg.SetBusy(2, 0, 0);
  EXPECT_EQ(reg.ById(2)->busy_job, 0);
  EXPECT_EQ(reg.ById(2)->busy_round, 0u);
  reg.SetBusy(99, 1, 1);  // unknown id: no-op
  EXPECT_EQ(reg.size(), 2u);
}

TEST(ClientRegistry, RemoveAndSnapshot) {
  ClientRegistry reg;
  reg.Upsert(Client(1, "a", "p1"));
  reg.Upsert(Client(2, "b", "p2"));
  reg.Upsert(Client(3, "c", "p3"));
  auto snap = reg.Snapshot();
  ASSERT_EQ(snap.size(), 3u);
  std::set<int64_t> ids;
  for (const auto& c : snap) ids.insert(c.client_id);
  EXPECT_EQ(ids, (std::set<int64_t>{1, 2, 3}));

  auto removed = reg.Remove("p2");
  ASSERT_TRUE(removed);
  EXPECT_EQ(removed->name, "b");
  EXPECT_FALSE(reg.Remove("p2"));
  EXPECT_EQ(reg.Snapshot().size(), 2u);
  // A snapshot is a copy: later changes do not show up in it.
  reg.SetBusy(1, 5, 5);
  EXPECT_EQ(snap[0].busy_job, 0);
}

TEST(ClientRegistry, ThreadSafetySmoke) {
  ClientRegistry reg;
  constexpr int kThreads = 4;
  constexpr int kClients = 50;
  constexpr int kIters = 200;
  std::atomic<int> misses{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int it = 0; it < kIters; ++it) {
        for (int i = 0; i < kClients; ++i) {
          const int64_t id = t * 1000 + i + 1;
          const std::string name = "t" + std::to_string(t) + "-c" + std::to_string(i);
          // Alternate between two peers so replacements happen too.
          const std::string peer = name + (it % 2 ? "-x" : "-y");
          reg.Upsert(Client(id, name, peer, it));
          reg.Touch(peer, it + 1, it + 1);
          reg.SetBusy(id, t + 1, static_cast<uint32_t>(it));
          if (!reg.ByPeer(peer) || !reg.ById(id)) ++misses;
        }
        (void)reg.Snapshot();
        (void)reg.size();
        reg.Expire(-1);  // removes nobody
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(misses.load(), 0);
  EXPECT_EQ(reg.size(), static_cast<size_t>(kThreads * kClients));
  for (const auto& c : reg.Snapshot()) {
    EXPECT_EQ(c.busy_round, static_cast<uint32_t>(kIters - 1));
    EXPECT_EQ(c.last_seen_steady_ms, kIters);
  }
  // Concurrent removal of everything.
  threads.clear();
  auto all = reg.Snapshot();
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (size_t i = static_cast<size_t>(t); i < all.size(); i += kThreads) reg.Remove(all[i].peer);
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(reg.size(), 0u);
}

}  // namespace
}  // namespace fedpress::server

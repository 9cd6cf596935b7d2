// EventBroadcaster and the event JSON shape.
#include "server/events.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace fedpress::server {
namespace {

using nlohmann::json;

struct RecordingSink : EventSink {
  void Deliver(std::shared_ptr<const std::string> m) override { got.push_back(*m); }
  std::vector<std::string> got;
};

TEST(EventJsonTest, JobEventShape) {
  auto j = json::parse(EventJson("round_committed", 3, 2, {{"accuracy", 0.5}}, 1700000000123));
  EXPECT_EQ(j["type"], "round_committed");
  EXPECT_EQ(j["job_id"], 3);
  EXPECT_EQ(j["round"], 2);
  EXPECT_EQ(j["data"]["accuracy"], 0.5);
  EXPECT_EQ(j["ts_ms"], 1700000000123);
  EXPECT_EQ(j.size(), 5u);
}

TEST(EventJsonTest, ClientEventHasNoJobAndDataIsAlwaysAnObject) {
  auto j = json::parse(EventJson("client_connected", 0, 0, {{"name", "edge-1"}}, 5));
  EXPECT_FALSE(j.contains("job_id"));
  EXPECT_FALSE(j.contains("round"));
  EXPECT_EQ(j["data"]["name"], "edge-1");
  auto k = json::parse(EventJson("job_completed", 1, 4, nullptr, 5));
  EXPECT_TRUE(k["data"].is_object());
  auto bad = EventJson("x", 1, 1, {{"s", std::string("\xff\xfe")}}, 1);  // invalid UTF-8 is replaced
  EXPECT_FALSE(json::parse(bad, nullptr, false).is_discarded());
}

TEST(EventBroadcasterTest, DeliversToLiveSubscribersOnly) {
  EventBroadcaster b;
  auto a = std::make_shared<RecordingSink>();
  auto c = std::make_shared<RecordingSink>();
  b.Subscribe(a);
  b.Subscribe(c);
  EXPECT_EQ(b.subscribers(), 2u);
  b.Publish("job_started", 1, 1, {});
  EXPECT_EQ(a->got.size(), 1u);
  EXPECT_EQ(c->got.size(), 1u);
  EXPECT_EQ(json::parse(a->got[0])["type"], "job_started");
  b.Unsubscribe(c.get());
  c.reset();  // a destroyed sink is skipped
  b.Publish("job_completed", 1, 1, {});
  EXPECT_EQ(a->got.size(), 2u);
  a.reset();
  EXPECT_EQ(b.subscribers(), 0u);
  b.Publish("job_failed", 1, 1, {});  // nobody listening: fine
  EXPECT_EQ(b.published(), 3u);
}

// A sink may unsubscribe itself (or others) while being delivered to: the
// list is copied, the lock is not held.
TEST(EventBroadcasterTest, DeliveryRunsOutsideTheLock) {
  EventBroadcaster b;
  struct SelfRemoving : EventSink {
    EventBroadcaster* b;
    int n = 0;
    void Deliver(std::shared_ptr<const std::string>) override {
      ++n;
      b->Unsubscribe(this);
      b->subscribers();
    }
  };
  auto s = std::make_shared<SelfRemoving>();
  s->b = &b;
  b.Subscribe(s);
  b.Publish("x", 0, 0, {});
  b.Publish("x", 0, 0, {});
  EXPECT_EQ(s->n, 1);
}

TEST(EventBroadcasterTest, ConcurrentPublishAndSubscribe) {
  EventBroadcaster b;
  struct Counting : EventSink {
    std::atomic<int> n{0};
    void Deliver(std::shared_ptr<const std::string>) override { ++n; }
  };
  auto keep = std::make_shared<Counting>();
  b.Subscribe(keep);
  std::thread churn([&] {
    for (int i = 0; i < 2000; ++i) {
      auto s = std::make_shared<Counting>();
      b.Subscribe(s);
      if (i % 2) b.Unsubscribe(s.get());
    }
  });
  for (int i = 0; i < 2000; ++i) b.Publish("participation", 1, 1, {{"i", i}});
  churn.join();
  EXPECT_EQ(keep->n.load(), 2000);
}

}  // namespace
}  // namespace fedpress::server

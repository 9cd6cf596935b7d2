// StorageHealth, ProbeStorage and what /healthz says about them; the
// disabled fault-injection hook is a no-op. (Disk-full and read-only state
// with a real server: tests/integration/fault_disk_test.cc.)
#include "server/storage_health.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "server/fault_injection.h"
#include "server/http/api.h"
#include "tests/temp_dir.h"

namespace fedpress::server {
namespace {

using nlohmann::json;

TEST(StorageHealth, FailureKeepsItsStartTimeUntilCleared) {
  StorageHealth h;
  EXPECT_FALSE(h.problem().has_value());
  h.SetFailed("cannot write checkpoint: No space left on device", 1000);
  h.SetFailed("still failing: Read-only file system", 5000);
  auto p = h.problem();
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->since_ms, 1000);
  EXPECT_EQ(p->error, "still failing: Read-only file system");
  h.SetOk();
  EXPECT_FALSE(h.problem().has_value());
}

TEST(StorageHealth, OnlyIoErrorsCountAsStorageFailures) {
  EXPECT_TRUE(IsStorageFailure(Status::IOError("disk is full")));
  EXPECT_FALSE(IsStorageFailure(Status::AlreadyExists("round 3 already committed")));
  EXPECT_FALSE(IsStorageFailure(Status::Corruption("bad checkpoint")));
  EXPECT_FALSE(IsStorageFailure(Status::OK()));
}

TEST(ProbeStorage, WritesAnEventAndLeavesNoFileBehind) {
  fedpress::testing::TempDir dir("fp_probe_");
  auto store = Store::Open({dir.File("fedpress.db")});
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  Status st = ProbeStorage(dir.path(), store->get(), std::nullopt, "storage_recovered", "ok", 1 << 20, 42);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_FALSE(std::filesystem::exists(dir.File(".storage-probe")));
  auto events = (*store)->ListEvents(0, 100);
  ASSERT_TRUE(events.ok());
  ASSERT_FALSE(events->empty());
  EXPECT_EQ(events->back().kind, "storage_recovered");
  EXPECT_EQ(events->back().ts_ms, 42);
}

TEST(ProbeStorage, FailsWithAnIoErrorNamingTheDirectory) {
  fedpress::testing::TempDir dir("fp_probe_");
  const std::string missing = dir.File("no/such/dir");
  Status st = ProbeStorage(missing, nullptr, std::nullopt, "", "", 16, 0);
  EXPECT_EQ(st.code(), StatusCode::kIOError);
  EXPECT_NE(st.message().find(missing), std::string::npos) << st.ToString();
}

TEST(Healthz, ReportsAStorageErrorAs503) {
  ApiContext ctx;
  StorageHealth health;
  ctx.storage_health = &health;
  HttpRequest req{http::verb::get, "/healthz", 11};
  EXPECT_EQ(HandleApiRequest(ctx, req).result(), http::status::ok);
  health.SetFailed("job 1 round 4: cannot write checkpoint: No space left on device", 1234);
  auto res = HandleApiRequest(ctx, req);
  EXPECT_EQ(res.result(), http::status::service_unavailable);
  auto body = json::parse(res.body());
  EXPECT_EQ(body["status"], "storage_error");
  EXPECT_EQ(body["error"], "job 1 round 4: cannot write checkpoint: No space left on device");
  EXPECT_EQ(body["since_ms"], 1234);
  health.SetOk();
  EXPECT_EQ(HandleApiRequest(ctx, req).result(), http::status::ok);
}

TEST(FaultInjection, UnarmedCrashPointsDoNothing) {
  // FEDPRESS_CRASH_AT is not set for unit tests.
  ASSERT_EQ(std::getenv("FEDPRESS_CRASH_AT"), nullptr);
  for (int i = 0; i < 3; ++i) {
    fault::CrashPoint(fault::Phase::kBroadcast);
    fault::CrashPoint(fault::Phase::kCommit);
  }
  SUCCEED();
}

}  // namespace
}  // namespace fedpress::server

// Storage faults: the server's disk fills up, or its state directory turns
// read-only, in the middle of a job. The server must say so (log line,
// /healthz 503 with the error, a storage_error event), hand out no more work
// while it lasts, keep the database and the last checkpoint intact, and go on
// by itself once storage is writable again (and after a restart).
//
// Needs root (CAP_SYS_ADMIN) to mount a small tmpfs and a read-only bind
// mount; skipped with a message otherwise.
#include <sys/mount.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "common/checkpoint.h"
#include "server/store/store.h"
#include "tests/integration/harness.h"

namespace fedpress::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
namespace fs = std::filesystem;

class DiskFaults : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("fp_disk_");
    state_ = dir_ + "/state";
    fs::create_directories(state_);
  }
  void TearDown() override {
    for (auto it = mounts_.rbegin(); it != mounts_.rend(); ++it)
      if (::umount2(it->c_str(), MNT_DETACH) != 0)
        std::cerr << "umount " << *it << ": " << std::strerror(errno) << "\n";
    DumpLogsOrRemove(dir_, HasFailure());
  }
  bool MountTmpfs(const std::string& at, const std::string& size) {
    const std::string opts = "size=" + size;
    if (::mount("fedpress-test", at.c_str(), "tmpfs", 0, opts.c_str()) != 0) {
      why_ = std::string("mount tmpfs: ") + std::strerror(errno);
      return false;
    }
    mounts_.push_back(at);
    return true;
  }
  bool BindMount(const std::string& at) {
    if (::mount(at.c_str(), at.c_str(), nullptr, MS_BIND, nullptr) != 0) {
      why_ = std::string("bind mount: ") + std::strerror(errno);
      return false;
    }
    mounts_.push_back(at);
    return true;
  }
  // Flips a bind mount between read-only and read-write. Going read-only
  // fails with EBUSY while a file there is open for writing (a checkpoint
  // being written): retried for a while.
  bool SetReadOnly(const std::string& at, bool ro) {
    const unsigned long flags = MS_REMOUNT | MS_BIND | (ro ? MS_RDONLY : 0);
    for (int i = 0; i < 100; ++i) {
      if (::mount(nullptr, at.c_str(), nullptr, flags, nullptr) == 0) return true;
      why_ = std::string("remount: ") + std::strerror(errno);
      if (errno != EBUSY) return false;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }

  std::string dir_, state_, why_;
  std::vector<std::string> mounts_;
};

int64_t CreateJob(const ServerHandle& s, const std::string& name, int rounds) {
  json spec = {{"name", name},         {"model", "mlp"},   {"rounds", rounds}, {"clients_per_round", 3},
               {"min_clients", 3},     {"round_timeout_s", 60}, {"seed", 3}};
  auto r = s.Post("/api/jobs", spec.dump());
  EXPECT_EQ(r.status, 201) << r.body;
  auto j = r.Json();
  return j.is_object() && j.contains("id") ? j["id"].get<int64_t>() : 0;
}

json Rounds(const ServerHandle& s, int64_t id) {
  auto j = s.Get("/api/jobs/" + std::to_string(id) + "/rounds").Json();
  return j.is_array() ? j : json::array();
}

int Accepted(const ServerHandle& s, int64_t id) {
  auto j = s.Get("/api/jobs/" + std::to_string(id) + "/participations").Json();
  int n = 0;
  if (j.is_array())
    for (const auto& p : j) n += p["status"] == "accepted";
  return n;
}

std::string JobStatus(const ServerHandle& s, int64_t id) {
  auto j = s.Get("/api/jobs/" + std::to_string(id)).Json();
  return j.is_object() ? j.value("status", "") : "";
}

// Waits for /healthz to report a storage error; returns its body.
json WaitForStorageError(const ServerHandle& s) {
  json body;
  WaitUntil([&] {
    auto r = s.Get("/healthz");
    body = r.Json();
    return r.status == 503;
  }, 180s, 250ms);
  return body;
}

// While storage is failing: no round is committed and no work handed out,
// over several probe periods (2 s each), and the API keeps answering.
void ExpectPaused(const ServerHandle& s, int64_t id) {
  const size_t rounds = Rounds(s, id).size();
  const int accepted = Accepted(s, id);
  std::this_thread::sleep_for(7s);
  EXPECT_EQ(s.Get("/healthz").status, 503);
  EXPECT_EQ(Rounds(s, id).size(), rounds) << "a round was committed while storage was failing";
  EXPECT_EQ(Accepted(s, id), accepted) << "work was handed out while storage was failing";
  EXPECT_EQ(JobStatus(s, id), "running");
}

// After the job: PRAGMA integrity_check, rounds 1..n once each, the rounds
// seen before the fault unchanged, the last checkpoint loads (CRC, job, round).
void CheckStoredState(const std::string& db, int64_t id, int rounds, const json& before) {
  auto store = server::Store::Open({db});
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_TRUE((*store)->CheckIntegrity().ok());
  auto rows = (*store)->ListRounds(id);
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), static_cast<size_t>(rounds));
  for (size_t i = 0; i < rows->size(); ++i) EXPECT_EQ((*rows)[i].round, static_cast<int64_t>(i + 1));
  for (const auto& b : before) {
    const auto& r = (*rows)[b["round"].get<size_t>() - 1];
    EXPECT_EQ(r.finished_ms, b["finished_ms"].get<int64_t>()) << "round " << r.round << " changed";
    // A pipelined evaluation may add an accuracy later; once set it stays.
    if (b["accuracy"].is_number()) {
      EXPECT_EQ(r.accuracy, std::optional<double>(b["accuracy"].get<double>()));
    }
  }
  auto ck = ReadCheckpoint(rows->back().checkpoint);
  ASSERT_TRUE(ck.ok()) << ck.status().ToString();
  EXPECT_EQ(ck->job_id, id);
  EXPECT_EQ(ck->round, static_cast<uint32_t>(rounds));
  auto job = (*store)->GetJob(id);
  ASSERT_TRUE(job.ok() && job->has_value());
  EXPECT_EQ((*job)->current_round, rounds);
  // The pause and the recovery are in the job's events.
  auto events = (*store)->ListEvents(0, 100000);
  ASSERT_TRUE(events.ok());
  bool recovered = false;
  for (const auto& e : *events) recovered |= e.kind == "storage_recovered" && e.job_id == id;
  EXPECT_TRUE(recovered);
  // No temporary files left behind by failed writes.
  for (auto& e : fs::recursive_directory_iterator(fs::path(rows->back().checkpoint).parent_path()))
    EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos) << e.path();
}

std::vector<Process> StartClients(const std::string& dir, const ServerHandle& s) {
  std::vector<Process> clients;
  for (int i = 0; i < 3; ++i) clients.push_back(StartClient(dir, s.endpoint(), "d" + std::to_string(i), i, 3, 3000));
  return clients;
}

TEST_F(DiskFaults, DiskFullMidJobPausesTheJobAndItGoesOnWhenSpaceComesBack) {
  // Database and state directory on a 24 MiB tmpfs.
  if (!MountTmpfs(state_, "24m")) GTEST_SKIP() << "cannot mount a tmpfs (run as root): " << why_;
  const std::string db = state_ + "/fedpress.db";
  ServerHandle server = StartServer(dir_, 0, 0, {"--db", db});
  ASSERT_EQ(server.Get("/healthz").status, 200) << ReadText(dir_ + "/server.log");
  auto clients = StartClients(dir_, server);
  const int kRounds = 8;
  const int64_t id = CreateJob(server, "disk-full", kRounds);
  ASSERT_GT(id, 0);
  ASSERT_TRUE(WaitUntil([&] { return Rounds(server, id).size() >= 2; }, 300s, 250ms));

  // Fill the file system to the last byte.
  const std::string filler = state_ + "/filler";
  {
    FILE* f = std::fopen(filler.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    std::vector<char> chunk(64 << 10, 'x');
    int err = 0;
    for (int i = 0; i < 100000 && err == 0; ++i)
      if (std::fwrite(chunk.data(), 1, chunk.size(), f) != chunk.size() || std::fflush(f) != 0) err = errno;
    std::fclose(f);
    ASSERT_EQ(err, ENOSPC) << std::strerror(err);
  }
  const json before = Rounds(server, id);
  std::cout << "filled the disk after round " << before.size() << std::endl;

  const json health = WaitForStorageError(server);
  std::cout << "/healthz: " << health.dump() << std::endl;
  ASSERT_EQ(health.value("status", ""), "storage_error") << health.dump();
  const std::string error = health.value("error", "");
  EXPECT_TRUE(error.find("No space left on device") != std::string::npos ||
              error.find("disk is full") != std::string::npos)
      << error;
  EXPECT_NE(ReadText(dir_ + "/server.log").find("STORAGE FAILURE"), std::string::npos);
  ExpectPaused(server, id);
  // Nothing committed before the disk filled was touched.
  const json paused = Rounds(server, id);
  ASSERT_GE(paused.size(), before.size());
  for (size_t i = 0; i < before.size(); ++i) EXPECT_EQ(paused[i], before[i]);

  // Space comes back: the job goes on by itself and completes.
  fs::remove(filler);
  ASSERT_TRUE(WaitUntil([&] { return server.Get("/healthz").status == 200; }, 60s));
  ASSERT_TRUE(WaitUntil([&] { return JobStatus(server, id) == "completed"; }, 300s, 500ms))
      << server.Get("/api/jobs/" + std::to_string(id)).body;
  EXPECT_NE(ReadText(dir_ + "/server.log").find("storage is writable again"), std::string::npos);
  server.process.Kill();
  CheckStoredState(db, id, kRounds, before);
}

TEST_F(DiskFaults, ReadOnlyStateDirectoryPausesTheJobAcrossARestartUntilWritable) {
  // The state directory (checkpoints) becomes read-only; the database is elsewhere.
  if (!BindMount(state_)) GTEST_SKIP() << "cannot bind-mount (run as root): " << why_;
  const std::string db = dir_ + "/fedpress.db";
  ServerHandle server = StartServer(dir_);
  ASSERT_EQ(server.Get("/healthz").status, 200) << ReadText(dir_ + "/server.log");
  const int http_port = server.http_port, zmq_port = server.zmq_port;
  auto clients = StartClients(dir_, server);
  const int kRounds = 6;
  const int64_t id = CreateJob(server, "read-only", kRounds);
  ASSERT_GT(id, 0);
  ASSERT_TRUE(WaitUntil([&] { return Rounds(server, id).size() >= 1; }, 300s, 250ms));
  ASSERT_TRUE(SetReadOnly(state_, true)) << why_;
  const json before = Rounds(server, id);
  std::cout << "state directory read-only after round " << before.size() << std::endl;

  json health = WaitForStorageError(server);
  std::cout << "/healthz: " << health.dump() << std::endl;
  ASSERT_EQ(health.value("status", ""), "storage_error") << health.dump();
  EXPECT_NE(health.value("error", "").find("Read-only file system"), std::string::npos) << health.dump();
  ExpectPaused(server, id);

  // A restart while it is still read-only: the job resumes, fails to write
  // its next checkpoint and pauses again, losing nothing.
  server.process.Kill();
  server = StartServer(dir_, http_port, zmq_port);
  ASSERT_EQ(server.Get("/healthz").status, 200) << ReadText(dir_ + "/server.log");
  health = WaitForStorageError(server);
  EXPECT_NE(health.value("error", "").find("Read-only file system"), std::string::npos) << health.dump();
  const json paused = Rounds(server, id);
  ASSERT_GE(paused.size(), before.size());
  for (size_t i = 0; i < before.size(); ++i) EXPECT_EQ(paused[i], before[i]);

  ASSERT_TRUE(SetReadOnly(state_, false)) << why_;
  ASSERT_TRUE(WaitUntil([&] { return server.Get("/healthz").status == 200; }, 60s));
  ASSERT_TRUE(WaitUntil([&] { return JobStatus(server, id) == "completed"; }, 300s, 500ms))
      << server.Get("/api/jobs/" + std::to_string(id)).body;
  server.process.Kill();
  CheckStoredState(db, id, kRounds, before);
  // The database was writable: the pause is on record too.
  auto store = server::Store::Open({db});
  ASSERT_TRUE(store.ok());
  auto events = (*store)->ListEvents(0, 100000);
  ASSERT_TRUE(events.ok());
  int errors = 0;
  for (const auto& e : *events)
    errors += e.kind == "storage_error" && e.message.find("Read-only file system") != std::string::npos;
  EXPECT_GE(errors, 2);  // before and after the restart
}

}  // namespace
}  // namespace fedpress::testing

// fedpress-loadgen: plays N protocol-complete fedpress clients in one process
// against a real server, replaying realistic compressed updates instead of
// training (client/loadgen/load_generator.h). No libtorch: the job's initial
// model, when a delta chain starts from it, is derived by running
// fedpress-model once per job.
//
//   fedpress-loadgen --server tcp://127.0.0.1:7070 --clients 1000 --insecure
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <thread>

#include "client/loadgen/load_generator.h"
#include "common/clock.h"
#include "common/curve_keys.h"
#include "common/file_util.h"
#include "common/model_catalog.h"
#include "server/model_tool.h"

namespace {

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop = true; }

bool IsLoopbackEndpoint(const std::string& e) {
  return e.rfind("tcp://127.", 0) == 0 || e.rfind("tcp://localhost:", 0) == 0 || e.rfind("tcp://[::1]:", 0) == 0 ||
         e.rfind("ipc://", 0) == 0 || e.rfind("inproc://", 0) == 0;
}

// --server-key: a Z85 key, or a file holding one (alone on a line, or as
// "public-key = KEY" / "server-key = KEY").
fedpress::Result<std::string> ServerKey(const std::string& arg) {
  if (fedpress::IsZ85Key(arg)) return arg;
  auto bytes = fedpress::ReadFile(arg, 64 * 1024);
  if (!bytes.ok()) return bytes.status().WithContext("--server-key (neither a Z85 key nor a readable file)");
  std::string text(bytes->begin(), bytes->end());
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    std::string line = text.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    pos = end == std::string::npos ? text.size() : end + 1;
    for (const char* field : {"public-key", "server-key"})
      if (line.rfind(field, 0) == 0 && line.find('=') != std::string::npos) line = line.substr(line.find('=') + 1);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.erase(line.begin());
    while (!line.empty() && (line.back() == ' ' || line.back() == '\r' || line.back() == '\t')) line.pop_back();
    if (fedpress::IsZ85Key(line)) return line;
  }
  return fedpress::Status::InvalidArgument("--server-key " + arg + ": no 40-character Z85 key in the file");
}

nlohmann::json StatsJson(const fedpress::loadgen::LoadGenerator& g, const fedpress::loadgen::ModelVersions& v) {
  const auto& s = g.stats();
  auto m = v.stats();
  return {{"sockets", s.sockets.load()},
          {"registered", s.registered.load()},
          {"welcomes", s.welcomes.load()},
          {"register_sent", s.register_sent.load()},
          {"trains", s.trains.load()},
          {"task_failures", s.task_failures.load()},
          {"updates_sent", s.updates_sent.load()},
          {"update_bytes", s.update_bytes.load()},
          {"updates_dropped", s.updates_dropped.load()},
          {"heartbeats_sent", s.heartbeats_sent.load()},
          {"rejects", s.rejects.load()},
          {"rejects_not_registered", s.rejects_not_registered.load()},
          {"rejects_busy", s.rejects_busy.load()},
          {"byes", s.byes.load()},
          {"reconnects", s.reconnects.load()},
          {"models_full", m.applied_full},
          {"models_chains", m.applied_chains},
          {"models_memo_hits", m.memo_hits},
          {"models_failures", m.failures}};
}

}  // namespace

int main(int argc, char** argv) {
  using namespace fedpress;
  using namespace fedpress::loadgen;

  CLI::App app{"fedpress-loadgen: N simulated fedpress clients in one process (real protocol, replayed "
               "compressed updates, no training) for load tests of a fedpress server"};
  LoadGenOptions o;
  std::string train_ms = "0";
  std::string model_tool;
  std::string work_dir;
  std::string log_level = "info";
  bool insecure = false, no_verify = false;
  std::string server_key, key_file;
  int variants = 8;
  double duration_s = 0, stats_every_s = 10;
  app.add_option("--server", o.server, "server ZeroMQ endpoint")->capture_default_str();
  app.add_option("--clients,-n", o.clients, "number of simulated clients")->check(CLI::Range(1, 100000))
      ->capture_default_str();
  app.add_option("--name-prefix", o.name_prefix, "client names are PREFIX-00000 ... ([A-Za-z0-9._-], <= 50 chars)")
      ->capture_default_str();
  app.add_option("--dataset", o.dataset, "dataset the clients register with")->capture_default_str();
  app.add_option("--samples", o.samples, "training samples each client claims")->check(CLI::Range(uint64_t{1}, uint64_t{1} << 40))
      ->capture_default_str();
  app.add_option("--train-ms", train_ms, "simulated training time per task: MS or MIN-MAX (uniform)")
      ->capture_default_str();
  app.add_option("--threads", o.threads, "socket loop threads (clients are split between them)")
      ->check(CLI::Range(1, 64))->capture_default_str();
  app.add_option("--io-threads", o.io_threads, "ZeroMQ I/O threads")->check(CLI::Range(1, 64))->capture_default_str();
  app.add_option("--ramp-s", o.ramp_s, "spread the clients' first connection over this many seconds")
      ->check(CLI::Range(0.0, 3600.0))->capture_default_str();
  app.add_option("--variants", variants, "distinct pre-encoded updates per job")->check(CLI::Range(1, 256))
      ->capture_default_str();
  app.add_option("--seed", o.seed, "seed of the simulated updates and timings")->capture_default_str();
  app.add_option("--model-tool", model_tool,
                 "fedpress-model, to derive a job's initial model (default: next to this binary)");
  app.add_option("--work-dir", work_dir, "scratch directory for initial-model checkpoints (default: a temp dir)");
  app.add_flag("--no-verify", no_verify,
               "do not apply downloaded models (trust the TRAIN's CRC): saves the generator's CPU");
  app.add_option("--duration-s", duration_s, "stop after this many seconds (0 = until SIGINT/SIGTERM)")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--stats-every-s", stats_every_s, "log a progress line this often (0 = never)")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_flag("--insecure", insecure, "plain TCP without CURVE (loopback only)");
  app.add_option("--server-key", server_key,
                 "the server's CURVE public key: Z85, or a file holding it (default: the key file's server-key)");
  app.add_option("--key-file", key_file,
                 "an enrolled client key file (0600; common/curve_keys.h format) shared by every simulated client");
  app.add_option("--key-dir", o.key_dir,
                 "a directory of per-client key files, DIR/NAME.key for each simulated client NAME");
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}))->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  spdlog::set_level(spdlog::level::from_str(log_level));
  spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e [loadgen] %^%l%$ %v");
  {
    auto dash = train_ms.find('-');
    try {
      size_t used = 0;
      o.train_ms_min = std::stoll(train_ms.substr(0, dash), &used);
      o.train_ms_max = dash == std::string::npos ? o.train_ms_min : std::stoll(train_ms.substr(dash + 1));
    } catch (const std::exception&) {
      spdlog::error("--train-ms '{}': use MS or MIN-MAX (milliseconds)", train_ms);
      return 2;
    }
    if (o.train_ms_min < 0 || o.train_ms_max < o.train_ms_min || o.train_ms_max > 3600000) {
      spdlog::error("--train-ms '{}': need 0 <= MIN <= MAX <= 3600000", train_ms);
      return 2;
    }
  }
  if (o.name_prefix.empty() || o.name_prefix.size() > 50 || !protocol::IsValidClientName(o.name_prefix)) {
    spdlog::error("--name-prefix '{}': use 1..50 characters of A-Z a-z 0-9 . _ -", o.name_prefix);
    return 2;
  }
  if (!key_file.empty() || !o.key_dir.empty()) {
    if (!key_file.empty() && !o.key_dir.empty()) {
      spdlog::error("--key-file and --key-dir exclude each other");
      return 2;
    }
    if (!key_file.empty()) {
      auto file = ReadCurveKeyFile(key_file);
      if (!file.ok()) {
        spdlog::error("--key-file: {}", file.status().ToString());
        return 2;
      }
      o.shared_keys = file->keys;
      if (server_key.empty()) server_key = file->server_key;
    }
    if (server_key.empty()) {
      spdlog::error("CURVE needs the server's public key: --server-key (or server-key in the key file)");
      return 2;
    }
    auto sk = ServerKey(server_key);
    if (!sk.ok()) {
      spdlog::error("{}", sk.status().ToString());
      return 2;
    }
    o.server_public_key = *sk;
    if (insecure) {
      spdlog::error("--insecure and CURVE keys exclude each other");
      return 2;
    }
  } else if (!insecure) {
    spdlog::error("pass --key-file (or --key-dir) and --server-key for CURVE, or --insecure for plain TCP");
    return 2;
  } else if (!IsLoopbackEndpoint(o.server)) {
    spdlog::error("--insecure is for loopback endpoints only (got {})", o.server);
    return 2;
  }

  // One socket (and a TCP connection) per client: make room for the descriptors.
  struct rlimit rl {};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    (void)::setrlimit(RLIMIT_NOFILE, &rl);
  }
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
      rl.rlim_cur < static_cast<rlim_t>(o.clients) * 3 + 64)
    spdlog::warn("open-file limit {} may be too low for {} clients (each needs about 3 descriptors)",
                 static_cast<uint64_t>(rl.rlim_cur), o.clients);

  if (model_tool.empty()) model_tool = server::SelfDirectory() + "/fedpress-model";
  if (!FileExists(model_tool)) {
    spdlog::warn("no fedpress-model at {}: delta chains from the initial model cannot be checked; such "
                 "clients get the full model one round later", model_tool);
    model_tool.clear();
  }
  std::string temp_dir;
  if (work_dir.empty()) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "fedpress-loadgen-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) {
      spdlog::error("cannot create a temporary directory");
      return 1;
    }
    work_dir = temp_dir = tmpl;
  } else if (auto st = MakeDirs(work_dir); !st.ok()) {
    spdlog::error("--work-dir: {}", st.message());
    return 1;
  }
  o.max_message_bytes = static_cast<int64_t>(MaxDenseModelBytes() + MaxDenseModelBytes() / 8 + (1 << 20));

  ModelVersionsOptions mo;
  mo.model_tool = model_tool;
  mo.work_dir = work_dir;
  mo.verify = !no_verify;
  ModelVersions versions(mo);
  UpdateLibrary updates(variants, o.seed);
  LoadGenerator gen(o, &versions, &updates);

  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  spdlog::info("{} clients against {} ({} loop thread(s), training time {} ms, {})", o.clients, o.server,
               o.threads, train_ms, o.server_public_key.empty() ? "plain TCP" : "CURVE");
  std::thread watcher([&] {
    const int64_t start = SteadyMs();
    int64_t next_stats = start + static_cast<int64_t>(stats_every_s * 1000);
    while (!g_stop) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      const int64_t now = SteadyMs();
      if (duration_s > 0 && now - start >= static_cast<int64_t>(duration_s * 1000)) g_stop = true;
      if (stats_every_s > 0 && now >= next_stats) {
        next_stats = now + static_cast<int64_t>(stats_every_s * 1000);
        const auto& s = gen.stats();
        spdlog::info("registered {}/{} | trains {} | updates sent {} | task failures {} | rejects {} | reconnects {}",
                     s.registered.load(), o.clients, s.trains.load(), s.updates_sent.load(),
                     s.task_failures.load(), s.rejects.load(), s.reconnects.load());
      }
    }
    gen.RequestStop();
  });
  Status st = gen.Run();
  g_stop = true;
  watcher.join();
  if (!temp_dir.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(temp_dir, ec);
  }
  if (!st.ok()) {
    spdlog::error("{}", st.ToString());
    return 1;
  }
  // Machine-readable summary for scripts.
  std::printf("STATS %s\n", StatsJson(gen, versions).dump().c_str());
  std::fflush(stdout);
  return 0;
}

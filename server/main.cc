// fedpress-server: the parameter server. Runs FedAvg jobs over ZeroMQ,
// keeps round state in SQLite and serves the REST API over HTTP.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <spdlog/spdlog.h>

#include "common/clock.h"
#include "common/file_util.h"
#include "common/model_catalog.h"
#include "server/client_registry.h"
#include "server/compression_validator.h"
#include "server/coordinator.h"
#include "server/http/api.h"
#include "server/http/http_server.h"
#include "server/job_runner.h"
#include "server/model_tool.h"
#include "server/store/store.h"
#include "server/transport.h"

namespace {

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop = true; }

bool IsLoopback(const std::string& host) {
  return host == "127.0.0.1" || host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace fedpress;
  using namespace fedpress::server;

  CLI::App app{"fedpress-server: federated-learning parameter server (FedAvg over ZeroMQ, "
               "state in SQLite, REST API over HTTP)"};
  std::string db = "fedpress-state/fedpress.db";
  std::string bind = "tcp://127.0.0.1:7070";
  std::string http_addr = "127.0.0.1:8080";
  std::string state_dir = "fedpress-state";
  std::string test_data = "/usr/share/datasets/fashion-mnist";
  std::string model_tool;
  std::string log_level = "info";
  int64_t eval_limit = 0;
  int eval_threads = 1;
  int http_threads = 2;
  uint32_t heartbeat_ms = 2000;
  double client_timeout_s = 10;
  size_t max_clients = 10000;
  app.add_option("--db", db, "SQLite database file (created if missing)")->capture_default_str();
  app.add_option("--bind", bind, "ZeroMQ endpoint for clients")->capture_default_str();
  app.add_option("--http", http_addr, "HOST:PORT for the REST API and dashboard")->capture_default_str();
  app.add_option("--state-dir", state_dir, "directory for checkpoints and exported models")->capture_default_str();
  app.add_option("--test-data", test_data, "Fashion-MNIST directory used for evaluation (t10k-* files)")
      ->capture_default_str();
  app.add_option("--eval-limit", eval_limit, "evaluate on the first N test samples only (0 = all)")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--eval-threads", eval_threads, "threads for evaluation")->check(CLI::Range(1, 256))->capture_default_str();
  app.add_option("--model-tool", model_tool, "path to fedpress-model (default: next to this binary)");
  app.add_option("--http-threads", http_threads, "HTTP I/O threads")->check(CLI::Range(1, 64))->capture_default_str();
  app.add_option("--heartbeat-ms", heartbeat_ms, "heartbeat interval told to clients")
      ->check(CLI::Range(100u, 60000u))->capture_default_str();
  app.add_option("--client-timeout-s", client_timeout_s, "a client silent this long is considered gone")
      ->check(CLI::Range(1.0, 3600.0))->capture_default_str();
  app.add_option("--max-clients", max_clients, "maximum connected clients")->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}))->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  spdlog::set_level(spdlog::level::from_str(log_level));
  spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %v");

  if (model_tool.empty()) model_tool = SelfDirectory() + "/fedpress-model";
  if (!FileExists(model_tool)) {
    spdlog::error("fedpress-model not found at {}: build it (make) or pass --model-tool", model_tool);
    return 1;
  }
  if (!FileExists(test_data + "/t10k-images-idx3-ubyte.gz") && !FileExists(test_data + "/t10k-images-idx3-ubyte")) {
    spdlog::error("no Fashion-MNIST test split in {}: install dataset-fashion-mnist "
                  "(deploy/install-deps.sh) or pass --test-data DIR", test_data);
    return 1;
  }
  auto hp = ParseHostPort(http_addr);
  if (!hp.ok()) {
    spdlog::error("--http: {}", hp.status().message());
    return 2;
  }
  if (auto st = MakeDirs(state_dir); !st.ok()) {
    spdlog::error("--state-dir: {}", st.message());
    return 1;
  }

  auto store = Store::Open(StoreOptions{db});
  if (!store.ok()) {
    spdlog::error("cannot open database {}: {}", db, store.status().ToString());
    return 1;
  }
  spdlog::info("database {} (schema version {})", db, (*store)->schema_version());

  TransportOptions topt;
  topt.bind = bind;
  // Largest legitimate message: a dense update of the largest model, plus its
  // layout and envelope. Anything bigger is refused by ZeroMQ before we see it.
  topt.max_message_bytes = static_cast<int64_t>(MaxDenseModelBytes() + MaxDenseModelBytes() / 8 + (1 << 20));
  auto transport = Transport::Start(topt);
  if (!transport.ok()) {
    spdlog::error("{}", transport.status().message());
    return 1;
  }
  if (bind.find("127.0.0.1") == std::string::npos && bind.find("localhost") == std::string::npos &&
      bind.rfind("ipc://", 0) != 0 && bind.rfind("inproc://", 0) != 0)
    spdlog::warn("listening for clients on {} without encryption or authentication: "
                 "anyone who can reach this address can join jobs", (*transport)->endpoint());

  ClientRegistry registry;
  ModelToolOptions mopt;
  mopt.binary = model_tool;
  mopt.test_data = test_data;
  mopt.eval_limit = eval_limit;
  mopt.threads = eval_threads;
  ModelTool tool(mopt);
  RunnerOptions ropt;
  ropt.state_dir = state_dir;
  JobRunner runner(store->get(), &registry, transport->get(), &tool, ropt);

  ApiContext api;
  api.store = store->get();
  api.registry = &registry;
  api.state_dir = state_dir;
  api.on_jobs_changed = [&runner] { runner.NotifyJobsChanged(); };
  api.validate_compression = MakeCompressionValidator();
  HttpServerOptions hopt;
  hopt.address = hp->first;
  hopt.port = hp->second;
  hopt.threads = http_threads;
  auto http = HttpServer::Start(hopt, [&api](const HttpRequest& req) { return HandleApiRequest(api, req); });
  if (!http.ok()) {
    spdlog::error("{}", http.status().message());
    return 1;
  }
  if (!IsLoopback(hp->first))
    spdlog::warn("HTTP API on {} is reachable from other hosts", http_addr);

  CoordinatorOptions copt;
  copt.heartbeat_ms = heartbeat_ms;
  copt.client_timeout_ms = static_cast<uint32_t>(client_timeout_s * 1000);
  copt.max_clients = max_clients;
  copt.max_message_bytes = topt.max_message_bytes;
  Coordinator coordinator(transport->get(), store->get(), &registry, &runner, copt);

  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);

  spdlog::info("fedpress-server ready: clients on {}, API on http://{}:{}/ (Ctrl-C to stop)",
               (*transport)->endpoint(), hp->first, (*http)->port());
  // Machine-readable line for scripts and tests.
  std::printf("READY zmq=%s http=%u\n", (*transport)->endpoint().c_str(), (*http)->port());
  std::fflush(stdout);
  while (!g_stop) coordinator.Step(50);
  spdlog::info("shutting down");
  return 0;
}

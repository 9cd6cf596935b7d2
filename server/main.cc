// fedpress-server: the parameter server. Runs FedAvg jobs over ZeroMQ,
// keeps round state in SQLite and serves the REST API over HTTP.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <spdlog/spdlog.h>

#include "common/cli_config.h"
#include "common/clock.h"
#include "common/curve_keys.h"
#include "common/file_util.h"
#include "common/model_catalog.h"
#include "server/client_registry.h"
#include "server/compression_validator.h"
#include "server/coordinator.h"
#include "server/credential_cli.h"
#include "server/credential_set.h"
#include "server/events.h"
#include "server/flood_guard.h"
#include "server/http/api.h"
#include "server/http/auth.h"
#include "server/http/http_server.h"
#include "server/http/metrics.h"
#include "server/http/router.h"
#include "server/http/static_files.h"
#include "server/job_runner.h"
#include "server/model_tool.h"
#include "server/store/store.h"
#include "server/transport.h"

namespace {

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop = true; }

// The host of a ZeroMQ endpoint is loopback (or the endpoint is local:
// ipc://, inproc://).
bool IsLocalEndpoint(const std::string& endpoint) {
  if (endpoint.rfind("ipc://", 0) == 0 || endpoint.rfind("inproc://", 0) == 0) return true;
  std::string rest = endpoint.rfind("tcp://", 0) == 0 ? endpoint.substr(6) : endpoint;
  std::string host = rest.substr(0, rest.rfind(':'));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return host == "127.0.0.1" || host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

bool IsLoopback(const std::string& host) {
  return host == "127.0.0.1" || host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

// The dashboard directory: --web-root if given, else the install layout next
// to the binary, else the source tree's web/dist. "" when none is built.
std::string FindWebRoot(const std::string& flag) {
  namespace fs = std::filesystem;
  if (!flag.empty()) return flag;
  std::vector<std::string> candidates = {fedpress::server::SelfDirectory() + "/../share/fedpress/web"};
#ifdef FEDPRESS_WEB_DIST
  candidates.push_back(FEDPRESS_WEB_DIST);
#endif
  for (const auto& c : candidates) {
    std::error_code ec;
    if (fs::is_regular_file(fs::path(c) / "index.html", ec)) return c;
  }
  return "";
}

int RotateToken(const std::string& db, const std::string& token_file) {
  using namespace fedpress::server;
  auto store = Store::Open(StoreOptions{db});
  if (!store.ok()) {
    std::fprintf(stderr, "cannot open database %s: %s\n", db.c_str(), store.status().ToString().c_str());
    return 1;
  }
  auto token = RotateAdminToken(store->get(), token_file);
  if (!token.ok()) {
    std::fprintf(stderr, "cannot rotate the admin token: %s\n", token.status().ToString().c_str());
    return 1;
  }
  std::fprintf(stderr, "new admin token written to %s (mode 0600); the old one stops working within 2 s\n",
               token_file.c_str());
  std::printf("%s\n", token->c_str());
  return 0;
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
  int http_nice = 19;
  uint32_t heartbeat_ms = 2000;
  double client_timeout_s = 10;
  size_t max_clients = 10000;
  uint64_t max_round_memory = uint64_t{1} << 30;
  std::string web_root;
  std::string token_file;
  bool public_read = false;
  std::string tls_cert, tls_key;
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
  app.add_option("--http-nice", http_nice,
                 "scheduling niceness of the HTTP threads, so API load never slows training (0 = normal)")
      ->check(CLI::Range(0, 19))->capture_default_str();
  app.add_option("--heartbeat-ms", heartbeat_ms, "heartbeat interval told to clients")
      ->check(CLI::Range(100u, 60000u))->capture_default_str();
  app.add_option("--client-timeout-s", client_timeout_s, "a client silent this long is considered gone")
      ->check(CLI::Range(1.0, 3600.0))->capture_default_str();
  app.add_option("--max-clients", max_clients, "maximum connected clients")->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  app.add_option("--max-round-memory", max_round_memory,
                 "bytes one round may hold for robust aggregation (median, trimmed_mean and adaptive_clip "
                 "keep every update of a round); a job needing more is refused. Suffixes: KB, MB, GB "
                 "(x1000) or KiB, MiB, GiB (x1024); 0 = no limit")
      ->transform(CLI::AsSizeValue(true))->capture_default_str();
  // Flood and memory bounds on client traffic (server/flood_guard.h, TransportOptions).
  uint64_t max_queued_bytes = uint64_t{512} << 20, max_peer_queued_bytes = uint64_t{64} << 20;
  FloodGuardOptions flood;
  app.add_option("--max-queued-bytes", max_queued_bytes,
                 "bytes of received client messages waiting to be processed, in all; beyond: dropped "
                 "(suffixes KB, MB, GB, KiB, MiB, GiB)")
      ->transform(CLI::AsSizeValue(true))->capture_default_str();
  app.add_option("--max-peer-queued-bytes", max_peer_queued_bytes,
                 "the same per client connection; at least the largest message (suffixes as above)")
      ->transform(CLI::AsSizeValue(true))->capture_default_str();
  app.add_option("--peer-rate", flood.per_peer.rate_per_s,
                 "REGISTER/HEARTBEAT/BYE/garbage messages per second from one connection; beyond: dropped")
      ->check(CLI::Range(0.01, 1e6))->capture_default_str();
  app.add_option("--peer-burst", flood.per_peer.burst, "burst allowed above --peer-rate")
      ->check(CLI::Range(1.0, 1e7))->capture_default_str();
  app.add_option("--source-rate", flood.per_source.rate_per_s,
                 "the same messages per second from one client credential (CURVE) or, without one, one "
                 "remote address, over all its connections")
      ->check(CLI::Range(0.01, 1e6))->capture_default_str();
  app.add_option("--source-burst", flood.per_source.burst, "burst allowed above --source-rate")
      ->check(CLI::Range(1.0, 1e7))->capture_default_str();
  app.add_option("--rate-limit-keys", flood.per_peer.max_keys,
                 "connections and sources tracked by the rate limits at most (least recently seen forgotten)")
      ->check(CLI::Range(16, 10000000))->capture_default_str();
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}))->capture_default_str();
  app.add_option("--web-root", web_root,
                 "built dashboard directory (default: ../share/fedpress/web next to the binary, "
                 "else the source tree's web/dist)");
  app.add_option("--admin-token-file", token_file,
                 "where the admin token is written when created (default: STATE_DIR/admin-token, mode 0600)");
  app.add_flag("--public-read", public_read,
               "allow reads (GET /api/*, /metrics, /api/events) without the admin token; writes still need it");
  app.add_option("--tls-cert", tls_cert, "PEM certificate chain: serve HTTPS/WSS (needs --tls-key)")
      ->check(CLI::ExistingFile);
  app.add_option("--tls-key", tls_key, "PEM private key for --tls-cert")->check(CLI::ExistingFile);

  bool insecure = false;
  std::string server_key_file;
  app.add_flag("--insecure", insecure,
               "plaintext ZeroMQ without client authentication: for a loopback demo only (default: CURVE "
               "encryption, enrolled clients only)");
  app.add_option("--server-key-file", server_key_file,
                 "the server's CURVE keypair, created on first start (default: STATE_DIR/server.key, mode 0600)");

  // Security subcommands: show-key, enroll, revoke, credentials. Their own
  // --db/--state-dir/--server-key-file win; otherwise the server's apply.
  struct SecurityPaths {
    std::string db, state_dir, key_file;
  };
  auto add_paths = [](CLI::App* sub, SecurityPaths* p) {
    sub->add_option("--db", p->db, "SQLite database file (default: the server's --db)");
    sub->add_option("--state-dir", p->state_dir, "state directory (default: the server's --state-dir)");
    sub->add_option("--server-key-file", p->key_file, "server keypair (default: STATE_DIR/server.key)");
  };
  SecurityPaths show_paths, enroll_paths, revoke_paths, list_paths;
  auto* show_key = app.add_subcommand("show-key", "print the server's CURVE public key (clients pin it with "
                                                  "--server-key); creates the keypair if there is none");
  add_paths(show_key, &show_paths);
  std::string enroll_name, enroll_public_key, enroll_out;
  auto* enroll = app.add_subcommand("enroll", "enroll a client: store its CURVE public key (or make a keypair "
                                              "and write it to --out, mode 0600); prints the credential id");
  add_paths(enroll, &enroll_paths);
  enroll->add_option("--name", enroll_name, "client name; the client must register under it")->required();
  enroll->add_option("--public-key", enroll_public_key, "the client's public key (fedpress-client keygen)");
  enroll->add_option("--out", enroll_out, "without --public-key: write a new client key file here (0600)");
  std::string revoke_which;
  auto* revoke = app.add_subcommand("revoke", "revoke a client credential: its clients are dropped and refused");
  add_paths(revoke, &revoke_paths);
  revoke->add_option("credential", revoke_which, "credential id or name")->required();
  auto* list_credentials = app.add_subcommand("credentials", "list client credentials (public keys only)");
  add_paths(list_credentials, &list_paths);

  std::string rotate_db = db, rotate_state_dir = state_dir, rotate_token_file;
  auto* rotate = app.add_subcommand("rotate-token",
                                    "replace the admin token: stores the new hash, writes the token file, "
                                    "prints the new token");
  rotate->add_option("--db", rotate_db, "SQLite database file")->capture_default_str();
  rotate->add_option("--state-dir", rotate_state_dir, "state directory (for the default token file)")
      ->capture_default_str();
  rotate->add_option("--admin-token-file", rotate_token_file, "token file (default: STATE_DIR/admin-token)");
  // Every option can also be set in /etc/fedpress/server.toml (--config); the command line wins.
  bool print_config = false;
  AddConfigFileOptions(app, "/etc/fedpress/server.toml", &print_config);
  CLI11_PARSE(app, argc, argv);
  if (print_config) {
    std::fputs(EffectiveConfigToml(app).c_str(), stdout);
    return 0;
  }

  auto resolve = [&](SecurityPaths p) {
    if (p.db.empty()) p.db = db;
    if (p.state_dir.empty()) p.state_dir = state_dir;
    if (p.key_file.empty()) p.key_file = !server_key_file.empty() ? server_key_file : p.state_dir + "/server.key";
    return p;
  };
  if (*show_key) return ShowServerKeyCommand(resolve(show_paths).key_file);
  if (*enroll) {
    auto p = resolve(enroll_paths);
    return EnrollCommand(p.db, enroll_name, enroll_public_key, enroll_out, p.key_file);
  }
  if (*revoke) return RevokeCommand(resolve(revoke_paths).db, revoke_which);
  if (*list_credentials) return ListCredentialsCommand(resolve(list_paths).db);
  if (server_key_file.empty()) server_key_file = state_dir + "/server.key";
  if (*rotate) {
    // rotate-token's own flags win; otherwise it uses the server's (which may come from --config).
    if (rotate->get_option("--db")->count() == 0) rotate_db = db;
    if (rotate->get_option("--state-dir")->count() == 0) rotate_state_dir = state_dir;
    if (rotate_token_file.empty() && app.get_option("--admin-token-file")->count() > 0) rotate_token_file = token_file;
    if (rotate_token_file.empty()) rotate_token_file = rotate_state_dir + "/admin-token";
    return RotateToken(rotate_db, rotate_token_file);
  }
  if (tls_cert.empty() != tls_key.empty()) {
    std::fprintf(stderr, "--tls-cert and --tls-key go together\n");
    return 2;
  }
  if (token_file.empty()) token_file = state_dir + "/admin-token";

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
  {
    auto created = EnsureAdminToken(store->get(), token_file);
    if (!created.ok()) {
      spdlog::error("admin token: {}", created.status().ToString());
      return 1;
    }
    if (*created) {
      // Shown once; only its hash is stored.
      spdlog::warn("admin token created (shown only now; also written to {}): {}", token_file, **created);
    } else if (!FileExists(token_file)) {
      spdlog::warn("an admin token exists but {} is missing: if it is lost, make a new one with "
                   "'fedpress-server rotate-token --db {} --admin-token-file {}'", token_file, db, token_file);
    }
  }

  // Who may connect: CURVE (encrypted; enrolled, unrevoked client keys only,
  // checked by the ZAP handler) unless --insecure.
  CredentialSet credentials(store->get());
  std::string server_public_key;
  TransportOptions topt;
  topt.bind = bind;
  if (!insecure) {
    bool created = false;
    auto key = LoadOrCreateCurveKeyFile(server_key_file, &created);
    if (!key.ok()) {
      spdlog::error("server key {}: {}", server_key_file, key.status().ToString());
      return 1;
    }
    if (auto st = credentials.Refresh(); !st.ok()) {
      spdlog::error("{}", st.ToString());
      return 1;
    }
    server_public_key = key->keys.public_key;
    topt.curve_secret_key = key->keys.secret_key;
    topt.zap_policy = CredentialPolicy(&credentials);
    spdlog::info("CURVE on: server public key {} ({} {}); {} enrolled client credential(s)", server_public_key,
                 created ? "new keypair in" : "from", server_key_file, credentials.size());
    spdlog::info("clients connect with --server-key {} --key-file FILE; enroll them with "
                 "'fedpress-server enroll' or POST /api/credentials", server_public_key);
  }
  // Largest legitimate message: a dense update of the largest model, plus its
  // layout and envelope. Anything bigger is refused by ZeroMQ before we see it.
  topt.max_message_bytes = static_cast<int64_t>(MaxDenseModelBytes() + MaxDenseModelBytes() / 8 + (1 << 20));
  if (max_peer_queued_bytes < static_cast<uint64_t>(topt.max_message_bytes) || max_queued_bytes < max_peer_queued_bytes) {
    spdlog::error("--max-peer-queued-bytes must be at least the largest message ({} bytes) and at most "
                  "--max-queued-bytes", topt.max_message_bytes);
    return 2;
  }
  topt.max_queued_inbound_bytes = max_queued_bytes;
  topt.max_peer_queued_bytes = max_peer_queued_bytes;
  flood.per_source.max_keys = flood.per_peer.max_keys;
  FloodGuard flood_guard(flood);  // outlives the transport, whose socket thread calls it
  topt.admit = [&flood_guard](const InboundMessage& m) { return flood_guard.Admit(m, SteadyMs()); };
  auto transport = Transport::Start(topt);
  if (!transport.ok()) {
    spdlog::error("{}", transport.status().message());
    return 1;
  }
  if (insecure && !IsLocalEndpoint(bind)) {
    for (int i = 0; i < 3; ++i)
      spdlog::error("*** INSECURE: listening for clients on {} WITHOUT encryption or authentication (--insecure): "
                    "anyone who can reach this address can read the models and join or poison jobs. "
                    "--insecure is for a loopback demo only: drop it to use CURVE. ***", (*transport)->endpoint());
  } else if (insecure) {
    spdlog::warn("--insecure: clients connect in plaintext and without credentials (loopback only)");
  }

  ClientRegistry registry;
  EventBroadcaster events;  // outlives the HTTP server, runner and coordinator below
  ModelToolOptions mopt;
  mopt.binary = model_tool;
  mopt.test_data = test_data;
  mopt.eval_limit = eval_limit;
  mopt.threads = eval_threads;
  ModelTool tool(mopt);
  RunnerOptions ropt;
  ropt.state_dir = state_dir;
  ropt.max_round_memory_bytes = max_round_memory;
  JobRunner runner(store->get(), &registry, transport->get(), &tool, ropt);

  runner.SetEventListener([&events](const RunnerEvent& e) { events.Publish(e.kind, e.job_id, e.round, e.data); });

  const std::string web_dir = FindWebRoot(web_root);
  StaticSite site(web_dir);
  if (site.available())
    spdlog::info("dashboard from {}", site.root());
  else if (!web_root.empty())
    spdlog::warn("--web-root {}: no index.html there; / shows how to build the dashboard (make web)", web_root);
  else
    spdlog::warn("dashboard not built (no web/dist/index.html): / shows how to build it (make web)");
  AdminAuth auth(store->get());
  RequestCounters counters;
  MetricsSource metrics(store->get(), &registry, &counters, &events);

  RouterContext ctx;
  ctx.api.store = store->get();
  ctx.api.registry = &registry;
  ctx.api.state_dir = state_dir;
  ctx.api.storage_health = &runner.storage_health();
  ctx.api.on_jobs_changed = [&runner] { runner.NotifyJobsChanged(); };
  ctx.api.validate_compression = MakeCompressionValidator();
  ctx.api.job_limits.max_round_memory_bytes = max_round_memory;
  ctx.api.on_event = [&events](const std::string& type, int64_t job, const nlohmann::json& data) {
    events.Publish(type, job, 0, data);
  };
  ctx.api.server_public_key = server_public_key;
  if (!insecure) ctx.api.on_credentials_changed = [&credentials] { (void)credentials.Refresh(); };
  ctx.site = &site;
  ctx.auth = &auth;
  ctx.public_read = public_read;
  ctx.metrics = &metrics;
  metrics.SetExtra([&flood_guard, t = transport->get()] { return flood_guard.RenderMetrics(t); });
  ctx.token_file = token_file;
  HttpServerOptions hopt;
  hopt.address = hp->first;
  hopt.port = hp->second;
  hopt.threads = http_threads;
  hopt.nice = http_nice;
  hopt.tls_cert = tls_cert;
  hopt.tls_key = tls_key;
  HttpHandlers handlers;
  handlers.http = [&ctx](const HttpRequest& req) { return HandleHttpRequest(ctx, req); };
  handlers.websocket_gate = [&ctx](const HttpRequest& req) { return CheckEventsUpgrade(ctx, req); };
  handlers.events = &events;
  handlers.counters = &counters;
  auto http = HttpServer::Start(hopt, std::move(handlers));
  if (!http.ok()) {
    spdlog::error("{}", http.status().message());
    return 1;
  }
  if (!IsLoopback(hp->first))
    spdlog::warn("HTTP on {} is reachable from other hosts{}", http_addr,
                 (*http)->tls() ? "" : " without TLS: the admin token travels in clear (use --tls-cert/--tls-key)");
  if (public_read) spdlog::warn("--public-read: anyone who can reach {} can read jobs, rounds and clients", http_addr);

  CoordinatorOptions copt;
  copt.heartbeat_ms = heartbeat_ms;
  copt.client_timeout_ms = static_cast<uint32_t>(client_timeout_s * 1000);
  copt.max_clients = max_clients;
  copt.max_message_bytes = topt.max_message_bytes;
  Coordinator coordinator(transport->get(), store->get(), &registry, &runner, copt);
  if (!insecure) coordinator.SetCredentials(&credentials);
  coordinator.SetClientListener([&events](const std::string& kind, const LiveClient& c, const std::string& why) {
    nlohmann::json data = {{"client_id", c.client_id}, {"name", c.name}};
    if (!why.empty()) data["reason"] = why;
    events.Publish(kind, 0, 0, data);
  });

  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);

  spdlog::info("fedpress-server ready: clients on {}, dashboard and API on {}://{}:{}/ (Ctrl-C to stop)",
               (*transport)->endpoint(), (*http)->tls() ? "https" : "http", hp->first, (*http)->port());
  // Machine-readable line for scripts and tests.
  std::printf("READY zmq=%s http=%u curve=%s\n", (*transport)->endpoint().c_str(), (*http)->port(),
              insecure ? "off" : server_public_key.c_str());
  std::fflush(stdout);
  while (!g_stop) coordinator.Step(50);
  spdlog::info("shutting down");
  return 0;
}

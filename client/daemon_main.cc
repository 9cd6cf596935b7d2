// fedpress-client: the client daemon. Loads its share of the training data,
// connects to a fedpress server, and trains the global model locally whenever
// the server asks, sending back only the update.
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <mutex>
#include <optional>
#include <cstdio>
#include <spdlog/spdlog.h>

#include "client/idx_dataset.h"
#include "client/model_zoo.h"
#include "client/partition.h"
#include "client/poison.h"
#include "client/session.h"
#include "client/trainer.h"
#include "common/checksum.h"
#include "common/cli_config.h"
#include "common/clock.h"
#include "common/curve_keys.h"
#include "common/file_util.h"
#include "compression/error_feedback.h"
#include "compression/pipeline.h"
#include "compression/spec.h"
#include "common/model_catalog.h"
#include "common/model_weights.h"

namespace {

fedpress::client::Session* g_session = nullptr;
void OnSignal(int) {
  if (g_session) g_session->RequestStop();
}

}  // namespace

int main(int argc, char** argv) {
  using namespace fedpress;
  using namespace fedpress::client;

  CLI::App app{"fedpress-client: federated-learning client daemon (trains locally with libtorch, "
               "sends updates to a fedpress server)"};
  std::string server = "tcp://127.0.0.1:7070";
  std::string name;
  std::string dataset = "fashion-mnist";
  std::string data_dir = "/usr/share/datasets/fashion-mnist";
  std::string partition_text = "iid";
  size_t index = 0, of = 1, limit = 0;
  uint64_t seed = 1;
  int threads = 1;
  std::string log_level = "info";
  std::string state_dir;
  app.add_option("--server", server, "server ZeroMQ endpoint")->capture_default_str();
  // Security: CURVE by default (the server's key pinned, this client's
  // enrolled keypair); --insecure for a plaintext loopback demo.
  std::string server_key, key_file;
  bool insecure = false;
  app.add_option("--server-key", server_key,
                 "the server's CURVE public key, pinned (fedpress-server show-key prints it; default: the "
                 "server-key line of --key-file)");
  app.add_option("--key-file", key_file,
                 "this client's CURVE key file, mode 0600 (fedpress-client keygen, or the file from enrollment; "
                 "default: STATE_DIR/client.key)");
  app.add_flag("--insecure", insecure, "plaintext, no client key: only against a server started with --insecure");
  std::string keygen_out;
  bool keygen_force = false;
  auto* keygen = app.add_subcommand("keygen", "make this client's CURVE keypair: writes FILE (mode 0600) and "
                                              "prints the public key for the admin to enroll");
  keygen->add_option("--out", keygen_out, "key file to write")->required();
  keygen->add_flag("--force", keygen_force, "replace an existing key file");
  app.add_option("--name", name, "unique client name [A-Za-z0-9._-] (default: HOSTNAME-INDEX)");
  app.add_option("--dataset", dataset, "dataset")->check(CLI::IsMember({"fashion-mnist"}))->capture_default_str();
  app.add_option("--data-dir", data_dir, "directory with train-*-ubyte(.gz) files")->capture_default_str();
  app.add_option("--partition", partition_text, "iid | dirichlet:ALPHA | shards:K")->capture_default_str();
  app.add_option("--index", index, "this client's partition index, 0-based")->capture_default_str();
  app.add_option("--of", of, "number of partitions")->check(CLI::Range(size_t{1}, size_t{1000000}))->capture_default_str();
  app.add_option("--seed", seed, "partition seed (same for every client of a job)")->capture_default_str();
  app.add_option("--limit", limit, "use only the first N training samples before partitioning (0 = all)")
      ->capture_default_str();
  app.add_option("--state-dir", state_dir,
                 "where error-feedback residuals are kept across restarts (default: fedpress-client-state/NAME)");
  app.add_option("--threads", threads, "training threads")->check(CLI::Range(1, 256))->capture_default_str();
  std::string poison_text;
  app.add_option("--poison", poison_text,
                 "TESTING TOOL for robustness experiments: send deliberately corrupted updates "
                 "(scale:K multiplies each update by K, sign-flip[:K] by -K). Never on a real federation");
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}))->capture_default_str();
  // Every option can also be set in /etc/fedpress/client.toml (--config); the command line wins.
  bool print_config = false;
  AddConfigFileOptions(app, "/etc/fedpress/client.toml", &print_config);
  CLI11_PARSE(app, argc, argv);
  if (print_config) {
    std::fputs(EffectiveConfigToml(app).c_str(), stdout);
    return 0;
  }

  if (*keygen) {
    auto kp = GenerateCurveKeyPair();
    if (!kp.ok()) {
      std::fprintf(stderr, "%s\n", kp.status().ToString().c_str());
      return 1;
    }
    CurveKeyFile file{*kp, name, server_key};
    if (!server_key.empty() && !IsZ85Key(server_key)) {
      std::fprintf(stderr, "--server-key: expected 40 Z85 characters\n");
      return 2;
    }
    Status st = WriteCurveKeyFile(keygen_out, file, keygen_force);
    if (!st.ok()) {
      std::fprintf(stderr, "%s%s\n", st.ToString().c_str(), keygen_force ? "" : " (--force replaces it)");
      return 1;
    }
    std::fprintf(stderr, "wrote %s (mode 0600; the secret key stays here). Enroll this client with:\n"
                         "  fedpress-server enroll --name %s --public-key %s\n",
                 keygen_out.c_str(), name.empty() ? "NAME" : name.c_str(), kp->public_key.c_str());
    std::printf("%s\n", kp->public_key.c_str());
    return 0;
  }
  spdlog::set_level(spdlog::level::from_str(log_level));
  if (name.empty() && !insecure && !key_file.empty()) {
    // A key file from enrollment names its client.
    if (auto peek = ReadCurveKeyFile(key_file); peek.ok()) name = peek->name;
  }
  if (name.empty()) {
    char host[256] = {0};
    ::gethostname(host, sizeof host - 1);
    name = std::string(host) + "-" + std::to_string(index);
  }
  spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e [" + name + "] %^%l%$ %v");
  if (state_dir.empty()) state_dir = "fedpress-client-state/" + name;
  std::optional<CurveKeyFile> credential;
  if (!insecure) {
    const bool default_key_file = key_file.empty();
    if (default_key_file) key_file = state_dir + "/client.key";
    auto loaded = ReadCurveKeyFile(key_file);
    if (!loaded.ok()) {
      if (loaded.status().code() == StatusCode::kNotFound)
        spdlog::error("no client key{}: {}. Make one with 'fedpress-client keygen --out {}' and have the admin "
                      "enroll its public key ('fedpress-server enroll --name {} --public-key KEY'), or use the "
                      "key file the admin's enrollment produced (--key-file). --insecure only against a "
                      "server started with --insecure.",
                      default_key_file ? " (--key-file)" : "", loaded.status().message(), key_file, name);
      else
        spdlog::error("--key-file: {}", loaded.status().message());
      return 2;
    }
    credential = std::move(*loaded);
    if (server_key.empty()) server_key = credential->server_key;
    if (server_key.empty()) {
      spdlog::error("no server key to pin: pass --server-key KEY (the server prints it at start; "
                    "'fedpress-server show-key' on the server) or --insecure for a plaintext loopback server");
      return 2;
    }
    if (!IsZ85Key(server_key)) {
      spdlog::error("--server-key: expected the server's CURVE public key, 40 Z85 characters");
      return 2;
    }
    if (!credential->name.empty() && credential->name != name)
      spdlog::warn("{} was made for client '{}' but this client is '{}': the server accepts it only under the "
                   "name it is enrolled as", key_file, credential->name, name);
  } else if (!server_key.empty() || !key_file.empty()) {
    spdlog::error("--insecure goes without --server-key and --key-file");
    return 2;
  }
  if (!protocol::IsValidClientName(name)) {
    spdlog::error("--name '{}': use 1..64 characters of A-Z a-z 0-9 . _ -", name);
    return 2;
  }
  if (index >= of) {
    spdlog::error("--index {} must be smaller than --of {}", index, of);
    return 2;
  }
  auto poison = ParsePoisonMode(poison_text);
  if (!poison.ok()) {
    spdlog::error("{}", poison.status().message());
    return 2;
  }
  if (poison->active())
    spdlog::warn("--poison {}: TESTING TOOL: every update this client sends is multiplied by {}", poison->text,
                 poison->factor);
  auto spec = ParsePartition(partition_text);
  if (!spec.ok()) {
    spdlog::error("--partition: {}", spec.status().message());
    return 2;
  }

  auto all = LoadFashionMnist(data_dir, "train", limit);
  if (!all.ok()) {
    spdlog::error("cannot load training data: {} (install dataset-fashion-mnist or pass --data-dir)",
                  all.status().ToString());
    return 1;
  }
  auto indices = PartitionIndices(all->labels, *spec, index, of, seed);
  if (!indices.ok()) {
    spdlog::error("cannot partition the data: {}", indices.status().ToString());
    return 2;
  }
  Dataset data = Subset(*all, *indices);
  all = Status::Internal("released");  // free the full set
  if (data.size() == 0) {
    spdlog::error("partition {} of {} ({}) is empty: use fewer clients or another partition", index, of,
                  partition_text);
    return 2;
  }
  spdlog::info("partition {} of {} ({}): {} samples", index, of, partition_text, data.size());

  if (auto st = MakeDirs(state_dir); !st.ok()) {
    spdlog::error("--state-dir: {}", st.message());
    return 1;
  }

  // The broadcast model version this client holds, reported in heartbeats so
  // the server can send compressed deltas instead of the full model.
  struct Held {
    int64_t job = 0;
    uint32_t round = 0;
    uint32_t crc = 0;
    ModelWeights weights;
  };
  std::mutex held_mu;
  Held held;  // GUARDED_BY(held_mu); written by the worker, read by heartbeats
  auto model_crc = [](const ModelWeights& w) {
    return Crc32c(w.values().data(), w.values().size() * sizeof(float));
  };
  // Upload compression state for the current job.
  int64_t enc_job = 0;
  std::string enc_spec;
  std::optional<compression::Encoder> encoder;
  std::optional<compression::ErrorFeedback> residual;
  auto residual_path = [&](int64_t job) { return state_dir + "/job-" + std::to_string(job) + ".residual"; };

  std::unique_ptr<Trainer> trainer;
  TaskHandler handler = [&](const protocol::Train& task, std::vector<uint8_t> payload) -> Result<TaskResult> {
    const int64_t t0 = SteadyMs();
    if (task.dataset != dataset)
      return Status::InvalidArgument("task wants dataset " + task.dataset + ", this client has " + dataset);
    if (!trainer || trainer->model_name() != task.model) {
      FP_ASSIGN_OR_RETURN(trainer, Trainer::Create(task.model, threads));
    }
    const ModelLayout& layout = trainer->layout();

    // 1. The model to train from: the full model, or our copy plus the deltas.
    ModelWeights global;
    if (task.payload_format == protocol::PayloadFormat::kDense) {
      FP_ASSIGN_OR_RETURN(global, DecodeWeightsMatching(payload, layout));
    } else {
      bool have_base = false;
      {
        std::lock_guard<std::mutex> lock(held_mu);
        if (held.job == task.job_id && held.round == task.base_round && held.weights.layout() == layout &&
            held.crc == task.base_crc) {
          global = held.weights;
          have_base = true;
        }
      }
      if (!have_base && task.base_round == 0) {
        // The base is the job's initial model: derive it from (model, seed)
        // instead of downloading it, and check it is the server's.
        FP_ASSIGN_OR_RETURN(global, InitialWeights(task.model, task.seed));
        have_base = model_crc(global) == task.base_crc;
        if (!have_base) spdlog::warn("job {}: derived initial model differs from the server's", task.job_id);
      }
      if (!have_base) {
        std::lock_guard<std::mutex> lock(held_mu);
        // Report this job with no usable version: the server then sends the full model.
        held = Held{task.job_id, UINT32_MAX, 0, {}};
        return Status::FailedPrecondition("delta against version " + std::to_string(task.base_round) +
                                          " but this client does not hold it");
      }
      FP_ASSIGN_OR_RETURN(auto links, protocol::DecodeDeltaChain(payload));
      compression::DecodeContext ctx;
      for (const auto& link : links) {
        Status st = ctx.DecodeAccumulate(link, layout, 1.0f, global.values());
        if (!st.ok()) {
          std::lock_guard<std::mutex> lock(held_mu);
          held = Held{task.job_id, UINT32_MAX, 0, {}};
          return st.WithContext("downlink delta");
        }
      }
    }
    const uint32_t crc = model_crc(global);
    if (task.model_crc != 0 && crc != task.model_crc) {
      std::lock_guard<std::mutex> lock(held_mu);
      held = Held{task.job_id, UINT32_MAX, 0, {}};
      return Status::Corruption("model after applying the download does not match the server's (CRC " +
                                std::to_string(crc) + " != " + std::to_string(task.model_crc) + ")");
    }
    {
      std::lock_guard<std::mutex> lock(held_mu);
      held = Held{task.job_id, task.round, crc, global};
    }

    // 2. Train locally.
    TrainConfig cfg;
    cfg.local_epochs = task.local_epochs;
    cfg.batch_size = task.batch_size;
    cfg.lr = task.lr;
    cfg.momentum = task.momentum;
    cfg.seed = task.seed ^ (uint64_t{task.round} << 20) ^ index;
    FP_ASSIGN_OR_RETURN(TrainResult trained, trainer->Train(global, data, cfg));
    const int64_t t1 = SteadyMs();

    // 3. The update is local - global, compressed as the job asks.
    std::vector<float> delta(global.values().size());
    auto l = trained.local.values();
    auto g = global.values();
    for (size_t i = 0; i < delta.size(); ++i) delta[i] = l[i] - g[i];
    ApplyPoison(*poison, delta);  // no-op unless --poison (testing tool)
    FP_ASSIGN_OR_RETURN(auto spec, compression::ParseCompressionSpecText(task.compression_json));
    TaskResult out;
    if (spec.uplink == compression::DirectionSpec{}) {
      out.payload = ModelWeights(layout, std::move(delta)).Encode();
      out.update.payload_format = protocol::PayloadFormat::kDense;
    } else {
      if (enc_job != task.job_id || enc_spec != task.compression_json || !encoder) {
        FP_ASSIGN_OR_RETURN(auto enc, compression::Encoder::Create(spec.uplink, layout));
        encoder.emplace(std::move(enc));
        residual.reset();
        if (spec.uplink.error_feedback) {
          // The residual survives restarts: what was not sent yet is not lost.
          auto bytes = ReadFile(residual_path(task.job_id), uint64_t{1} << 32);
          if (bytes.ok()) {
            auto ef = compression::ErrorFeedback::Deserialize(*bytes, layout);
            if (ef.ok()) {
              residual.emplace(std::move(*ef));
              spdlog::info("job {}: resumed error-feedback residual (|r|^2 = {:.4g})", task.job_id,
                           residual->SquaredNorm());
            } else {
              spdlog::warn("job {}: ignoring unusable residual file: {}", task.job_id, ef.status().message());
            }
          }
          if (!residual) residual.emplace(layout);
        }
        enc_job = task.job_id;
        enc_spec = task.compression_json;
      }
      Status st = encoder->Encode(delta, residual ? &*residual : nullptr,
                                  task.seed ^ (uint64_t{task.round} << 24) ^ (uint64_t{task.attempt} << 8) ^ index,
                                  &out.payload);
      if (!st.ok()) return st.WithContext("compressing the update");
      if (residual) {
        Status saved = WriteFileAtomic(residual_path(task.job_id), residual->Serialize());
        if (!saved.ok()) spdlog::warn("cannot save the residual: {}", saved.message());
      }
      out.update.payload_format = protocol::PayloadFormat::kCompressed;
    }
    const int64_t t2 = SteadyMs();
    const uint64_t dense_bytes = layout.total_elements() * sizeof(float);
    out.update.job_id = task.job_id;
    out.update.round = task.round;
    out.update.attempt = task.attempt;
    out.update.num_samples = trained.num_samples;
    out.update.train_loss = static_cast<float>(trained.train_loss);
    out.update.train_ms = static_cast<uint32_t>(t1 - t0);
    out.update.encode_ms = static_cast<uint32_t>(t2 - t1);
    out.update.raw_bytes = dense_bytes;
    spdlog::info("job {} round {}: got {} ({:.2f} MB), trained {} samples x {} epoch(s) in {:.1f} s, "
                 "loss {:.4f}, sending {:.3f} MB ({:.0f}x smaller than dense)",
                 task.job_id, task.round,
                 task.payload_format == protocol::PayloadFormat::kDense ? "full model" : "model delta",
                 static_cast<double>(payload.size()) / 1e6, trained.num_samples, task.local_epochs,
                 static_cast<double>(t1 - t0) / 1000, trained.train_loss,
                 static_cast<double>(out.payload.size()) / 1e6,
                 static_cast<double>(dense_bytes) / static_cast<double>(std::max<size_t>(1, out.payload.size())));
    return out;
  };

  SessionOptions sopt;
  sopt.server = server;
  sopt.name = name;
  sopt.dataset = dataset;
  sopt.num_samples = data.size();
  sopt.capabilities = protocol::kCapCompressed;
  sopt.held_version = [&] {
    std::lock_guard<std::mutex> lock(held_mu);
    return protocol::Heartbeat{held.job, held.round, held.crc};
  };
  if (credential) {
    sopt.server_public_key = server_key;
    sopt.public_key = credential->keys.public_key;
    sopt.secret_key = credential->keys.secret_key;
    spdlog::info("CURVE: server key {} pinned; client public key {}", server_key, credential->keys.public_key);
  } else {
    spdlog::warn("--insecure: plaintext connection, no client credential");
  }
  sopt.max_message_bytes = static_cast<int64_t>(MaxDenseModelBytes() + MaxDenseModelBytes() / 8 + (1 << 20));
  Session session(sopt, handler);
  g_session = &session;
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  Status st = session.Run();
  g_session = nullptr;
  if (!st.ok()) spdlog::error("{}", st.message());
  else spdlog::info("stopped");
  spdlog::shutdown();
  std::fflush(stdout);
  std::fflush(stderr);
  // A task may still be training; nothing of it needs saving, so leave now
  // rather than wait for it.
  std::_Exit(st.ok() ? 0 : 1);
}

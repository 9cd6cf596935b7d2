// fedpress-client: the client daemon. Loads its share of the training data,
// connects to a fedpress server, and trains the global model locally whenever
// the server asks, sending back only the update.
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdio>
#include <spdlog/spdlog.h>

#include "client/idx_dataset.h"
#include "client/partition.h"
#include "client/session.h"
#include "client/trainer.h"
#include "common/clock.h"
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
  app.add_option("--server", server, "server ZeroMQ endpoint")->capture_default_str();
  app.add_option("--name", name, "unique client name [A-Za-z0-9._-] (default: HOSTNAME-INDEX)");
  app.add_option("--dataset", dataset, "dataset")->check(CLI::IsMember({"fashion-mnist"}))->capture_default_str();
  app.add_option("--data-dir", data_dir, "directory with train-*-ubyte(.gz) files")->capture_default_str();
  app.add_option("--partition", partition_text, "iid | dirichlet:ALPHA | shards:K")->capture_default_str();
  app.add_option("--index", index, "this client's partition index, 0-based")->capture_default_str();
  app.add_option("--of", of, "number of partitions")->check(CLI::Range(size_t{1}, size_t{1000000}))->capture_default_str();
  app.add_option("--seed", seed, "partition seed (same for every client of a job)")->capture_default_str();
  app.add_option("--limit", limit, "use only the first N training samples before partitioning (0 = all)")
      ->capture_default_str();
  app.add_option("--threads", threads, "training threads")->check(CLI::Range(1, 256))->capture_default_str();
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}))->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  spdlog::set_level(spdlog::level::from_str(log_level));
  if (name.empty()) {
    char host[256] = {0};
    ::gethostname(host, sizeof host - 1);
    name = std::string(host) + "-" + std::to_string(index);
  }
  spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e [" + name + "] %^%l%$ %v");
  if (!protocol::IsValidClientName(name)) {
    spdlog::error("--name '{}': use 1..64 characters of A-Z a-z 0-9 . _ -", name);
    return 2;
  }
  if (index >= of) {
    spdlog::error("--index {} must be smaller than --of {}", index, of);
    return 2;
  }
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

  std::unique_ptr<Trainer> trainer;
  TaskHandler handler = [&](const protocol::Train& task, std::vector<uint8_t> payload) -> Result<TaskResult> {
    const int64_t t0 = SteadyMs();
    if (task.dataset != dataset)
      return Status::InvalidArgument("task wants dataset " + task.dataset + ", this client has " + dataset);
    if (!trainer || trainer->model_name() != task.model) {
      FP_ASSIGN_OR_RETURN(trainer, Trainer::Create(task.model, threads));
    }
    if (task.payload_format != protocol::PayloadFormat::kDense)
      return Status::InvalidArgument("payload format not supported by this client");
    FP_ASSIGN_OR_RETURN(ModelWeights global, DecodeWeightsMatching(payload, trainer->layout()));
    TrainConfig cfg;
    cfg.local_epochs = task.local_epochs;
    cfg.batch_size = task.batch_size;
    cfg.lr = task.lr;
    cfg.momentum = task.momentum;
    cfg.seed = task.seed ^ (uint64_t{task.round} << 20) ^ index;
    FP_ASSIGN_OR_RETURN(TrainResult trained, trainer->Train(global, data, cfg));
    const int64_t t1 = SteadyMs();
    // The update is local - global.
    ModelWeights delta(global.layout());
    auto d = delta.values();
    auto l = trained.local.values();
    auto g = global.values();
    for (size_t i = 0; i < d.size(); ++i) d[i] = l[i] - g[i];
    TaskResult out;
    out.payload = delta.Encode();
    const int64_t t2 = SteadyMs();
    out.update.job_id = task.job_id;
    out.update.round = task.round;
    out.update.attempt = task.attempt;
    out.update.num_samples = trained.num_samples;
    out.update.train_loss = static_cast<float>(trained.train_loss);
    out.update.train_ms = static_cast<uint32_t>(t1 - t0);
    out.update.encode_ms = static_cast<uint32_t>(t2 - t1);
    out.update.raw_bytes = delta.byte_size();
    out.update.payload_format = protocol::PayloadFormat::kDense;
    spdlog::info("job {} round {}: trained {} samples x {} epoch(s) in {:.1f} s, loss {:.4f}, "
                 "sending {:.2f} MB",
                 task.job_id, task.round, trained.num_samples, task.local_epochs,
                 static_cast<double>(t1 - t0) / 1000, trained.train_loss,
                 static_cast<double>(out.payload.size()) / 1e6);
    return out;
  };

  SessionOptions sopt;
  sopt.server = server;
  sopt.name = name;
  sopt.dataset = dataset;
  sopt.num_samples = data.size();
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

// fedpress-aggregation-bench: the server's aggregation work for one round of
// N compressed updates, on one core — decode + accumulate each payload into
// the running FedAvg sum (compression::DecodeContext::DecodeAccumulate, as
// the job runner does), then apply the sum to the model. Payloads are real
// encodings (the preset's upload spec, error feedback on) of distinct random
// deltas over the cnn-large layout (1,663,370 parameters); K distinct ones are
// replayed round-robin, as fedpress-loadgen does. Two rows: the decoder
// adding straight into the sum (the pipeline's bound), and the server's
// aggregation strategy (server::MakeRoundAggregator, default fedavg), which
// is what the job runner calls per update.
// Usage: fedpress-aggregation-bench [--updates 1000] [--preset topk1%-q8] [--variants 16] [--reps 3]
#include <algorithm>
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "client/loadgen/update_library.h"
#include "compression/error_feedback.h"
#include "compression/pipeline.h"
#include "compression/spec.h"
#include "server/aggregation_strategy.h"

using namespace fedpress;

namespace {

// The shapes of client/model_zoo's cnn-large (McMahan et al. 2017).
ModelLayout CnnLargeLayout() {
  return ModelLayout({{"conv1.weight", {32, 1, 5, 5}},
                      {"conv1.bias", {32}},
                      {"conv2.weight", {64, 32, 5, 5}},
                      {"conv2.bias", {64}},
                      {"fc1.weight", {512, 3136}},
                      {"fc1.bias", {512}},
                      {"fc2.weight", {10, 512}},
                      {"fc2.bias", {10}}});
}

// Thread CPU time, so a busy machine (other processes) does not inflate the
// numbers as wall time would.
double CpuNow() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}
double Seconds(double a, double b) { return b - a; }

}  // namespace

int main(int argc, char** argv) {
  int updates = 1000, variants = 16, reps = 3;
  std::string preset = "topk1%-q8";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--updates") updates = std::max(1, std::atoi(argv[i + 1]));
    else if (a == "--variants") variants = std::max(1, std::atoi(argv[i + 1]));
    else if (a == "--reps") reps = std::max(1, std::atoi(argv[i + 1]));
    else if (a == "--preset") preset = argv[i + 1];
    else {
      std::fprintf(stderr, "unknown option %s\n", argv[i]);
      return 2;
    }
  }
  const ModelLayout layout = CnnLargeLayout();
  auto spec = compression::Preset(preset);
  if (!spec.ok()) {
    std::fprintf(stderr, "%s\n", spec.status().ToString().c_str());
    return 2;
  }
  auto enc = compression::Encoder::Create(spec->uplink, layout);
  if (!enc.ok()) {
    std::fprintf(stderr, "%s\n", enc.status().ToString().c_str());
    return 1;
  }
  std::vector<std::vector<uint8_t>> payloads(static_cast<size_t>(variants));
  uint64_t bytes = 0, sent = 0;
  for (int k = 0; k < variants; ++k) {
    auto delta = loadgen::RandomDelta(layout.total_elements(), 1000 + static_cast<uint64_t>(k));
    std::optional<compression::ErrorFeedback> ef;
    if (spec->uplink.error_feedback) ef.emplace(layout);
    compression::EncodeStats st;
    if (auto s = enc->Encode(delta, ef ? &*ef : nullptr, static_cast<uint64_t>(k), &payloads[static_cast<size_t>(k)], &st);
        !s.ok()) {
      std::fprintf(stderr, "%s\n", s.ToString().c_str());
      return 1;
    }
    bytes += st.payload_bytes;
    sent += st.sent_values;
  }
  std::printf("layout: cnn-large, %zu parameters; preset %s; payload %.1f KB, %.2f%% of values sent\n",
              layout.total_elements(), preset.c_str(), static_cast<double>(bytes) / variants / 1000.0,
              100.0 * static_cast<double>(sent) / variants / static_cast<double>(layout.total_elements()));

  double best_decode = 1e30, best_apply = 1e30;
  for (int r = 0; r < reps; ++r) {
    std::vector<float> acc(layout.total_elements(), 0.0f);
    std::vector<float> model(layout.total_elements(), 0.01f);
    compression::DecodeContext ctx;
    const auto t0 = CpuNow();
    for (int i = 0; i < updates; ++i) {
      auto s = ctx.DecodeAccumulate(payloads[static_cast<size_t>(i % variants)], layout, 600.0f, acc);
      if (!s.ok()) {
        std::fprintf(stderr, "decode: %s\n", s.ToString().c_str());
        return 1;
      }
    }
    const auto t1 = CpuNow();
    // global += sum / total samples (what FedAvg's ApplyTo does).
    const float inv = 1.0f / (600.0f * static_cast<float>(updates));
    for (size_t j = 0; j < model.size(); ++j) model[j] += acc[j] * inv;
    const auto t2 = CpuNow();
    best_decode = std::min(best_decode, Seconds(t0, t1));
    best_apply = std::min(best_apply, Seconds(t1, t2));
    if (model[model.size() / 2] == 12345.0f) std::puts("");  // keep the loop
  }
  // The server's path: the job's aggregation strategy takes each update.
  double best_server = 1e30, best_server_apply = 1e30;
  for (int r = 0; r < reps; ++r) {
    std::vector<float> model(layout.total_elements(), 0.01f);
    auto agg = server::MakeRoundAggregator(AggregationSpec{}, layout.total_elements(), static_cast<size_t>(updates));
    compression::DecodeContext ctx;
    const auto t0 = CpuNow();
    for (int i = 0; i < updates; ++i) {
      const auto& p = payloads[static_cast<size_t>(i % variants)];
      // As job_runner does for compressed updates: the decoder may fold the
      // update straight into the sum (FedAvg's fast path) or decode densely.
      server::UpdateAccumulator direct = [&](float weight, std::span<float> acc, double* sum_squares) {
        return ctx.DecodeAccumulate(p, layout, weight, acc, {}, sum_squares);
      };
      auto taken = agg->Add([&](std::span<float> out) { return ctx.DecodeAccumulate(p, layout, 1.0f, out); }, 600,
                            &direct);
      if (!taken.ok()) {
        std::fprintf(stderr, "server strategy: %s\n", taken.status().ToString().c_str());
        return 1;
      }
    }
    const auto t1 = CpuNow();
    if (auto st = agg->ApplyTo(model); !st.ok()) {
      std::fprintf(stderr, "apply: %s\n", st.ToString().c_str());
      return 1;
    }
    const auto t2 = CpuNow();
    best_server = std::min(best_server, Seconds(t0, t1));
    best_server_apply = std::min(best_server_apply, Seconds(t1, t2));
  }
  std::printf("server strategy (fedavg) %d updates on one core: add %.3f s (%.1f us per update), apply %.4f s, "
              "total %.3f s (best of %d; thread CPU time)\n",
              updates, best_server, best_server / updates * 1e6, best_server_apply, best_server + best_server_apply,
              reps);
  std::printf("aggregate %d updates on one core: decode+accumulate %.3f s (%.1f us per update, %.2f GB/s of "
              "dense fp32), apply %.4f s, total %.3f s (best of %d; thread CPU time)\n",
              updates, best_decode, best_decode / updates * 1e6,
              static_cast<double>(updates) * static_cast<double>(layout.total_elements()) * 4 / best_decode / 1e9,
              best_apply, best_decode + best_apply, reps);
  return 0;
}

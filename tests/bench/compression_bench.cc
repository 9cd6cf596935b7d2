// fedpress-compression-bench: encode and decode+accumulate throughput of each
// compression preset, in GB/s of dense fp32 input, next to memcpy of the same
// buffer measured in the same run, plus an exact std::nth_element top-k row.
// One core; gaussian deltas (sigma 0.01) with a gaussian residual (sigma 0.003).
// Usage: fedpress-compression-bench [--reps N] [--sizes 1000000,10000000]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "compression/pipeline.h"
#include "compression/rng.h"
#include "compression/topk.h"

using namespace fedpress;
using namespace fedpress::compression;

namespace {

std::vector<float> Gaussian(size_t n, uint64_t seed, float sigma) {
  std::vector<float> v(n);
  SplitMix64 r(seed);
  for (size_t i = 0; i + 1 < n; i += 2) {
    double u1 = (static_cast<double>(r.Next() >> 11) + 1.0) * 0x1.0p-53;
    double u2 = static_cast<double>(r.Next() >> 11) * 0x1.0p-53;
    double m = std::sqrt(-2.0 * std::log(u1));
    v[i] = static_cast<float>(sigma * m * std::cos(2 * M_PI * u2));
    v[i + 1] = static_cast<float>(sigma * m * std::sin(2 * M_PI * u2));
  }
  return v;
}

template <typename F>
double BestSeconds(int reps, F&& f) {
  double best = 1e30;
  for (int i = 0; i < reps; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    auto t1 = std::chrono::steady_clock::now();
    best = std::min(best, std::chrono::duration<double>(t1 - t0).count());
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  int reps = 5;
  std::vector<size_t> sizes = {1000000, 10000000};
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--reps") reps = std::atoi(argv[i + 1]);
    if (a == "--sizes") {
      sizes.clear();
      std::string s = argv[i + 1];
      for (size_t p = 0; p < s.size();) {
        size_t q = s.find(',', p);
        sizes.push_back(std::stoull(s.substr(p, q - p)));
        p = q == std::string::npos ? s.size() : q + 1;
      }
    }
  }
  std::printf("%-10s %-22s %10s %10s %9s %10s %9s %10s\n", "floats", "preset", "memcpy", "encode", "enc/mcp",
              "dec+acc", "dec/mcp", "ratio");
  std::printf("%-10s %-22s %10s %10s %9s %10s %9s %10s\n", "", "", "GB/s", "GB/s", "", "GB/s", "", "");
  for (size_t n : sizes) {
    const size_t big = n * 7 / 10, mid = n - big - 1000;
    const ModelLayout layout({{"l1.weight", {static_cast<int64_t>(big)}},
                              {"l2.weight", {static_cast<int64_t>(mid)}},
                              {"l2.bias", {1000}}});
    const auto delta = Gaussian(n, 1, 0.01f);
    const auto res0 = Gaussian(n, 2, 0.003f);
    std::vector<float> dst(n), acc(n, 0.0f);
    const double bytes = 4.0 * static_cast<double>(n);
    const double mcp = BestSeconds(reps, [&] { std::memcpy(dst.data(), delta.data(), n * 4); });
    for (const std::string& name : PresetNames()) {
      const DirectionSpec spec = Preset(name)->uplink;
      auto enc = Encoder::Create(spec, layout);
      if (!enc.ok()) {
        std::fprintf(stderr, "%s\n", enc.status().ToString().c_str());
        return 1;
      }
      ErrorFeedback ef(layout);
      std::vector<uint8_t> payload;
      double et = 1e30;
      for (int r = 0; r < reps; ++r) {
        std::copy(res0.begin(), res0.end(), ef.values().begin());  // not timed
        et = std::min(et, BestSeconds(1, [&] {
          Status st = enc->Encode(delta, spec.error_feedback ? &ef : nullptr, r, &payload);
          if (!st.ok()) std::abort();
        }));
      }
      DecodeContext dec;
      const double dt = BestSeconds(reps, [&] {
        Status st = dec.DecodeAccumulate(payload, layout, 0.1f, acc);
        if (!st.ok()) std::abort();
      });
      std::printf("%-10zu %-22s %10.2f %10.2f %9.2f %10.2f %9.2f %9.1fx\n", n, name.c_str(), bytes / mcp / 1e9,
                  bytes / et / 1e9, mcp / et, bytes / dt / 1e9, mcp / dt, bytes / payload.size());
      std::fflush(stdout);
    }
    // Baselines: selection alone, exact (nth_element over all n) vs sampled.
    TopKScratch s;
    std::vector<uint32_t> idx;
    const size_t k = n / 100;
    const double nth = BestSeconds(reps, [&] {
      if (!TopKExact(delta, k, &s, &idx)) std::abort();
    });
    std::printf("%-10zu %-22s %10.2f %10.2f %9.2f %10s %9s %10s\n", n, "top-1% nth_element", bytes / mcp / 1e9,
                bytes / nth / 1e9, mcp / nth, "-", "-", "-");
    const double smp = BestSeconds(reps, [&] {
      if (!TopKSampled(delta, k, 1, &s, &idx)) std::abort();
    });
    std::printf("%-10zu %-22s %10.2f %10.2f %9.2f %10s %9s %10s\n", n, "top-1% sampled", bytes / mcp / 1e9,
                bytes / smp / 1e9, mcp / smp, "-", "-", "-");
  }
  return 0;
}

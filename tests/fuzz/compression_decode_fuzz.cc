// libFuzzer target: DecodeAccumulate on arbitrary bytes against a fixed small
// layout. Built by CMake with -DFEDPRESS_FUZZ=ON (clang); run by `make
// test-fuzz` (tests/fuzz/run_fuzz.sh) from the seeds in
// corpus/compression_decode_fuzz. By hand:
//
//   build-fuzz/bin/compression_decode_fuzz -max_total_time=60 -max_len=8192 \
//     /tmp/work_corpus tests/fuzz/corpus/compression_decode_fuzz
//
// Seeds (FP_FUZZ_SEED_DIR=dir writes them): valid payloads of every preset
// (with and without zstd), so the fuzzer starts inside the format; the checksum is
// re-sealed on mutated inputs half of the time so deeper checks are reached.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "compression/container.h"
#include "common/checksum.h"
#include "compression/pipeline.h"

using namespace fedpress;
using namespace fedpress::compression;

namespace {

const ModelLayout& Layout() {
  static const ModelLayout l({{"a", {20, 30}}, {"b", {30}}, {"c", {300}}});
  return l;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Write seeds next to the corpus when asked (FP_FUZZ_SEED_DIR).
  const char* dir = std::getenv("FP_FUZZ_SEED_DIR");
  if (!dir) return 0;
  int n = 0;
  for (const auto& name : PresetNames()) {
    for (bool z : {false, true}) {
      auto spec = Preset(name)->uplink;
      spec.entropy.method = z ? EntropyMethod::kZstd : EntropyMethod::kNone;
      spec.dense_layers_below = 50;
      if (spec.sparsify.method != SparsifyMethod::kNone) spec.sparsify.ratio = 0.1;
      auto enc = Encoder::Create(spec, Layout());
      ErrorFeedback ef(Layout());
      std::vector<float> d(Layout().total_elements());
      for (size_t i = 0; i < d.size(); ++i) d[i] = std::sin(static_cast<float>(i) * 0.37f) * 0.01f;
      std::vector<uint8_t> p;
      if (!enc->Encode(d, spec.error_feedback ? &ef : nullptr, 1, &p).ok()) std::abort();
      std::string path = std::string(dir) + "/seed" + std::to_string(n++);
      if (FILE* f = std::fopen(path.c_str(), "wb")) {
        std::fwrite(p.data(), 1, p.size(), f);
        std::fclose(f);
      }
    }
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static DecodeContext ctx;
  std::vector<uint8_t> p(data, data + size);
  // Use the last byte's low bit to choose whether to re-seal the checksum.
  if (size > 44 && (data[size - 1] & 1)) {
    uint32_t crc = fedpress::Crc32c(p.data(), p.size() - 4);
    std::memcpy(p.data() + p.size() - 4, &crc, 4);
  }
  std::vector<float> acc(Layout().total_elements(), 1.0f);
  Status st = ctx.DecodeAccumulate(p, Layout(), 0.5f, acc);
  if (!st.ok()) {
    for (float v : acc)
      if (v != 1.0f) std::abort();  // accumulator must be unchanged on error
    if (st.code() == StatusCode::kInternal) std::abort();
  } else {
    for (float v : acc)
      if (!std::isfinite(v)) std::abort();
  }
  if (ctx.scratch_bytes() > MaxBodyBytes(Layout()) + 64) std::abort();
  return 0;
}

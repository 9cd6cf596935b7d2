// UpdateLibrary: the UPDATE payloads a load generator replays instead of
// training. For each (job, compression spec, model layout) it encodes a few
// distinct random deltas once — gaussian values with a heavy tail, so top-k
// keeps a realistic share of each layer — with the job's upload spec (or as a
// dense bundle when the job uploads dense), exactly as fedpress-client
// encodes a real delta. Simulated clients then pick one per round, so the
// generator's CPU goes to the protocol, not to encoding.
//
// Thread-safety: thread-safe (internal mutex; the first Get for a job encodes
// while holding it).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/model_weights.h"
#include "common/protocol.h"
#include "common/status.h"

namespace fedpress::loadgen {

using SharedBytes = std::shared_ptr<const std::vector<uint8_t>>;

struct PayloadSet {
  protocol::PayloadFormat format = protocol::PayloadFormat::kDense;
  std::vector<SharedBytes> payloads;  // at least one
  uint64_t raw_bytes = 0;             // dense fp32 size of a delta
  double encode_ms = 0;               // mean time to encode one
};

class UpdateLibrary {
 public:
  explicit UpdateLibrary(int variants = 8, uint64_t seed = 1) : variants_(variants), seed_(seed) {}

  // The payloads for updates of `job` under `compression_json` (the TRAIN's
  // normalised spec). Errors: an unparsable spec or one the layout refuses.
  Result<std::shared_ptr<const PayloadSet>> Get(int64_t job, const std::string& compression_json,
                                                const ModelLayout& layout);

 private:
  const int variants_;
  const uint64_t seed_;
  std::mutex mu_;
  // (job, spec) -> payloads; only the current job's are kept.
  std::map<std::pair<int64_t, std::string>, std::shared_ptr<const PayloadSet>> sets_;  // GUARDED_BY(mu_)
};

// A random model delta for tests and load generation: gaussian (sigma 0.01)
// with one value in 64 ten times larger.
std::vector<float> RandomDelta(size_t n, uint64_t seed);

}  // namespace fedpress::loadgen

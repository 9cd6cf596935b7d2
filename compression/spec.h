// CompressionSpec: what a job asks of the compression pipeline, for uploads
// (client -> server) and downloads (server -> client), parsed from the job's
// `compression` JSON with every error naming its field path, e.g.
//   "compression.quantize.bits: must be 1..8, got 12".
//
// JSON (every field optional; a stage object given replaces that stage, its
// missing fields take the defaults listed in docs/format.md):
//   {"preset": "stc"}  or  {"method": "none"}          (named presets, see below)
//   {"sparsify": {"method": "none|topk|randomk", "ratio": (0,1],
//                 "algorithm": "sampled|exact"},       (topk only)
//    "quantize": {"method": "none|fp16|uniform|kmeans|ternary",
//                 "bits": 1..8, "block": 0|16..2^24, "rounding": "stochastic|nearest",  (uniform)
//                 "centroids": 1..16, "iterations": 1..100},                               (kmeans)
//    "index":    {"method": "auto|varint|bitpack|rice"},
//    "entropy":  {"method": "none|zstd", "level": 1..19},
//    "error_feedback": bool,
//    "dense_layers_below": 0..2^30,   layers with fewer elements go dense fp32
//    "small_layers": {"below": 0..2^30, "ratio": (0,1]},  sparsified layers with fewer
//                    elements send at least that ratio (small layers matter more per value)
//    "layers": [{"match": "glob*", "sparsify": {...}, "quantize": {...}, "index": {...}}],
//    "downlink": {same shape as above, without "downlink"}}
// A preset plus fields starts from the preset and replaces the given fields.
// Presets: none, q8, topk1%-q4, topk1%-q8, topk2%-q4, topk2%-q4-lw, fedzip, stc (docs/format.md).
//
// Thread-safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/model_weights.h"
#include "common/status.h"
#include "compression/index_coding.h"
#include "compression/value_coding.h"

namespace fedpress::compression {

enum class SparsifyMethod { kNone, kTopK, kRandomK };
enum class TopKAlgorithm { kSampled, kExact };

struct SparsifySpec {
  SparsifyMethod method = SparsifyMethod::kNone;
  double ratio = 1.0;                               // fraction of each layer sent
  TopKAlgorithm algorithm = TopKAlgorithm::kSampled;  // same result, different speed
  bool operator==(const SparsifySpec&) const = default;
};

enum class QuantizeMethod { kNone, kFp16, kUniform, kKMeans, kTernary };

struct QuantizeSpec {
  QuantizeMethod method = QuantizeMethod::kNone;
  int bits = 8;            // uniform
  uint32_t block = 0;      // uniform: 0 = one scale per layer
  bool stochastic = true;  // uniform
  int centroids = 4;       // kmeans
  int iterations = 10;     // kmeans
  bool operator==(const QuantizeSpec&) const = default;
};

enum class EntropyMethod { kNone, kZstd };

struct EntropySpec {
  EntropyMethod method = EntropyMethod::kNone;
  int level = 3;
  bool operator==(const EntropySpec&) const = default;
};

// Per-layer override: the first whose glob ('*' any run, '?' one char)
// matches the layer name replaces the stages it names.
struct LayerOverride {
  std::string match;
  std::optional<SparsifySpec> sparsify;
  std::optional<QuantizeSpec> quantize;
  std::optional<IndexChoice> index;
  bool operator==(const LayerOverride&) const = default;
};

// One direction (upload or download).
struct DirectionSpec {
  SparsifySpec sparsify;
  QuantizeSpec quantize;
  IndexChoice index = IndexChoice::kAuto;
  EntropySpec entropy;
  bool error_feedback = false;
  uint64_t dense_layers_below = 0;
  // Sparsified layers with fewer than small_layers_below elements (and no
  // override) send max(sparsify.ratio, small_layer_ratio) of their values.
  uint64_t small_layers_below = 0;
  double small_layer_ratio = 1.0;
  std::vector<LayerOverride> layers;
  bool operator==(const DirectionSpec&) const = default;
};

struct CompressionSpec {
  std::string preset;  // informational: the preset it started from ("" if none)
  DirectionSpec uplink;
  DirectionSpec downlink;
  // Equal if both directions are (the preset name is not compared).
  bool operator==(const CompressionSpec& o) const {
    return uplink == o.uplink && downlink == o.downlink;
  }
};

// Parses the job's `compression` value. `path` prefixes error messages.
Result<CompressionSpec> ParseCompressionSpec(const nlohmann::json& j,
                                             std::string_view path = "compression");
// Same, from JSON text (a JSON syntax error is InvalidArgument naming `path`).
Result<CompressionSpec> ParseCompressionSpecText(std::string_view text,
                                                 std::string_view path = "compression");

// Named presets: "none", "q8", "topk1%-q4", "topk1%-q8", "topk2%-q4", "topk2%-q4-lw", "fedzip", "stc".
Result<CompressionSpec> Preset(std::string_view name);
std::vector<std::string> PresetNames();

// Normalised JSON: every field explicit, no preset; parses back to an equal spec.
nlohmann::json ToJson(const CompressionSpec& spec);
nlohmann::json ToJson(const DirectionSpec& spec);

// What the encoder does with one layer, after overrides and dense_layers_below.
struct LayerPlan {
  SparsifyMethod sparsify = SparsifyMethod::kNone;  // kNone: dense layer
  TopKAlgorithm algorithm = TopKAlgorithm::kSampled;
  uint64_t k = 0;  // values sent (numel when dense)
  ValuePlan values;
  IndexChoice index = IndexChoice::kAuto;
  bool operator==(const LayerPlan&) const = default;
};
std::vector<LayerPlan> ResolvePlan(const DirectionSpec& spec, const ModelLayout& layout);

// Estimated dense bytes / payload bytes for one direction (no credit taken
// for zstd), for dashboards before any data exists.
double EstimateRatio(const DirectionSpec& spec, const ModelLayout& layout);

// '*' matches any run, '?' one character.
bool GlobMatch(std::string_view pattern, std::string_view name);

}  // namespace fedpress::compression

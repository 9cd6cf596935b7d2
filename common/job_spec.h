// JobSpec: what a federated job asks for (model, data, rounds, clients,
// hyper-parameters, compression, aggregation), parsed from untrusted JSON with
// every bad field reported at once, and normalised back to JSON for storage.
//
// Fields, types, ranges and defaults are listed in docs/api.md. Unknown fields
// are errors (a typo must not silently fall back to a default).
//
// Thread-safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace fedpress {

struct FieldError {
  std::string field;    // e.g. "rounds", "compression.quantize.bits"
  std::string message;  // e.g. "must be an integer between 1 and 10000, got 0"
};

// How the server combines a round's updates (docs/api.md, "aggregation").
// Defaults are plain FedAvg without clipping.
struct AggregationSpec {
  std::string strategy = "fedavg";  // fedavg | median | trimmed_mean
  double trim_ratio = 0.2;          // trimmed_mean: share of values dropped at each end, [0, 0.5)
  double clip_norm = 0;             // > 0: each update's L2 norm is scaled down to at most this
  double adaptive_clip = 0;         // > 0 (>= 1): clip to this multiple of the round's median norm
  double outlier_factor = 3;        // an update with norm > factor x the round's median is flagged

  // True when the server must hold every update of a round at once
  // (coordinate-wise statistics, or a clip bound known only at the end).
  bool NeedsAllUpdates() const { return strategy != "fedavg" || adaptive_clip > 0; }
  nlohmann::json ToJson() const;
};

struct JobSpec {
  std::string name;
  std::string model = "cnn";
  std::string dataset = "fashion-mnist";
  int64_t rounds = 10;
  int64_t clients_per_round = 4;
  int64_t min_clients = 0;  // absent in input: ceil(clients_per_round / 2)
  int64_t local_epochs = 1;
  int64_t batch_size = 32;
  double lr = 0.05;
  double momentum = 0.9;
  double round_timeout_s = 120;
  uint64_t seed = 1;
  nlohmann::json compression = nlohmann::json{{"method", "none"}};
  AggregationSpec aggregation;
  // When the server evaluates each round's model on the test set:
  // "pipelined": the round commits once its model is aggregated and
  //   checkpointed, and its accuracy is computed while the next round runs
  //   (added to the round when ready); the last round is evaluated before the
  //   job completes. "blocking": evaluation is part of every round.
  std::string evaluation = "pipelined";

  bool PipelinedEvaluation() const { return evaluation == "pipelined"; }
  nlohmann::json ToJson() const;
};

// Server-side limits a spec is checked against when a job is created.
struct JobSpecLimits {
  // Bytes the server may hold for one round's updates (--max-round-memory);
  // 0 = no limit.
  uint64_t max_round_memory_bytes = 0;
};

// Bytes of update buffers one round of this job needs on the server beyond the
// streaming sum: clients_per_round x the model's fp32 size when the
// aggregation needs all updates at once, else 0.
uint64_t RoundMemoryBytes(const JobSpec& spec);

struct JobSpecParse {
  std::optional<JobSpec> spec;      // set iff errors is empty
  std::vector<FieldError> errors;   // every problem found
};

// Checks a `compression` object; returns the normalised object or errors
// (field names relative to the job, e.g. "compression.sparsify.ratio").
using CompressionValidator =
    std::function<std::optional<nlohmann::json>(const nlohmann::json&, std::vector<FieldError>*)>;

// Parses and validates. `validate_compression` may be empty: then only
// {"method":"none"} (or an absent field) is accepted.
JobSpecParse ParseJobSpec(const nlohmann::json& body,
                          const CompressionValidator& validate_compression = {},
                          const JobSpecLimits& limits = {});

inline constexpr const char* kKnownModels[] = {"mlp", "cnn", "cnn-large"};
inline constexpr const char* kKnownDatasets[] = {"fashion-mnist"};
inline constexpr const char* kKnownAggregationStrategies[] = {"fedavg", "median", "trimmed_mean"};
inline constexpr const char* kKnownEvaluationModes[] = {"pipelined", "blocking"};

}  // namespace fedpress

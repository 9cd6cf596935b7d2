// JobSpec: what a federated job asks for (model, data, rounds, clients,
// hyper-parameters, compression), parsed from untrusted JSON with every bad
// field reported at once, and normalised back to JSON for storage.
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

  nlohmann::json ToJson() const;
};

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
                          const CompressionValidator& validate_compression = {});

inline constexpr const char* kKnownModels[] = {"mlp", "cnn", "cnn-large"};
inline constexpr const char* kKnownDatasets[] = {"fashion-mnist"};

}  // namespace fedpress

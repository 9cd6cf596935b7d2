// The models fedpress knows, by name, with their parameter counts: lets the
// server size limits (message sizes, memory bounds) without linking libtorch.
// client/model_zoo builds the actual networks; a test checks both agree.
//
// Thread-safety: constants.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace fedpress {

struct ModelInfo {
  std::string_view name;
  uint64_t parameters;
  std::string_view description;
};

inline constexpr ModelInfo kModelCatalog[] = {
    {"mlp", 199210, "784-200-200-10 perceptron, ReLU"},
    {"cnn", 206922, "conv3x3x16, pool, conv3x3x32, pool, fc128, fc10"},
    {"cnn-large", 1663370, "McMahan et al. 2017: conv5x5x32, pool, conv5x5x64, pool, fc512, fc10"},
};

inline std::optional<ModelInfo> FindModel(std::string_view name) {
  for (const auto& m : kModelCatalog)
    if (m.name == name) return m;
  return std::nullopt;
}

// Largest dense model payload in bytes (parameters x 4).
inline constexpr uint64_t MaxDenseModelBytes() {
  uint64_t m = 0;
  for (const auto& x : kModelCatalog) m = x.parameters * 4 > m ? x.parameters * 4 : m;
  return m;
}

}  // namespace fedpress

// The model zoo: the architectures fedpress trains, by name, for 1x28x28
// inputs and 10 classes. The header is libtorch-free; initial weights are
// drawn with libtorch's default initialisers inside model_zoo.cc.
//
//   mlp        784-200-200-10, ReLU                              199,210 params
//   cnn        conv3x3x16 p1, ReLU, pool2, conv3x3x32 p1, ReLU, pool2,
//              fc 1568->128, ReLU, fc 128->10                    206,922 params
//   cnn-large  McMahan et al. 2017: conv5x5x32 p2, ReLU, pool2, conv5x5x64 p2,
//              ReLU, pool2, fc 3136->512, ReLU, fc 512->10     1,663,370 params
//
// Layer names follow torch's named_parameters() order of the equivalent
// nn.Module: "conv1.weight", "conv1.bias", ..., "fc2.bias" (docs/models.md).
//
// Thread-safety: all functions are safe from any thread except InitialWeights,
// which reseeds libtorch's global CPU generator (torch::manual_seed) and so
// must not run concurrently with other users of torch's default RNG.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/model_weights.h"
#include "common/status.h"

namespace fedpress {

// One step of a zoo model's forward pass. kConv2d and kLinear consume the next
// two layers of the layout: "<name>.weight" then "<name>.bias".
struct ModelOp {
  enum class Kind { kConv2d, kLinear, kRelu, kMaxPool2, kFlatten };
  Kind kind = Kind::kRelu;
  std::string name;     // kConv2d / kLinear only, e.g. "conv1"
  int64_t in = 0;       // input channels / features
  int64_t out = 0;      // output channels / features
  int64_t kernel = 0;   // kConv2d: square kernel size
  int64_t padding = 0;  // kConv2d: zero padding on each side
};

bool IsKnownModel(std::string_view model);
// {"mlp", "cnn", "cnn-large"}.
std::vector<std::string> KnownModels();
// The forward pass of `model` as a list of ops; NotFound for unknown names.
Result<std::vector<ModelOp>> ArchitectureOf(std::string_view model);
// Names and shapes of the model's parameters, in named_parameters() order.
Result<ModelLayout> LayoutOf(std::string_view model);
// libtorch's default initialisation (kaiming-uniform weights, uniform biases,
// as nn.Conv2d / nn.Linear) under torch::manual_seed(seed). Deterministic for
// a given (model, seed) and libtorch version.
Result<ModelWeights> InitialWeights(std::string_view model, uint64_t seed);

}  // namespace fedpress

// The only libtorch use here is InitialWeights (default initialisers).
#include "client/model_zoo.h"

#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/utils.h>

#include <cstring>
#include <exception>

namespace fedpress {
namespace {

using K = ModelOp::Kind;

ModelOp Conv(std::string name, int64_t in, int64_t out, int64_t kernel, int64_t padding) {
  return {K::kConv2d, std::move(name), in, out, kernel, padding};
}
ModelOp Linear(std::string name, int64_t in, int64_t out) {
  return {K::kLinear, std::move(name), in, out, 0, 0};
}
ModelOp Op(K kind) { return {kind, "", 0, 0, 0, 0}; }

std::vector<ModelOp> Mlp() {
  return {Op(K::kFlatten),          Linear("fc1", 784, 200), Op(K::kRelu),
          Linear("fc2", 200, 200), Op(K::kRelu),            Linear("fc3", 200, 10)};
}

std::vector<ModelOp> Cnn() {
  return {Conv("conv1", 1, 16, 3, 1),  Op(K::kRelu),  Op(K::kMaxPool2),
          Conv("conv2", 16, 32, 3, 1), Op(K::kRelu),  Op(K::kMaxPool2),
          Op(K::kFlatten),             Linear("fc1", 32 * 7 * 7, 128),
          Op(K::kRelu),                Linear("fc2", 128, 10)};
}

std::vector<ModelOp> CnnLarge() {
  return {Conv("conv1", 1, 32, 5, 2),  Op(K::kRelu),  Op(K::kMaxPool2),
          Conv("conv2", 32, 64, 5, 2), Op(K::kRelu),  Op(K::kMaxPool2),
          Op(K::kFlatten),             Linear("fc1", 64 * 7 * 7, 512),
          Op(K::kRelu),                Linear("fc2", 512, 10)};
}

}  // namespace

bool IsKnownModel(std::string_view model) {
  return model == "mlp" || model == "cnn" || model == "cnn-large";
}

std::vector<std::string> KnownModels() { return {"mlp", "cnn", "cnn-large"}; }

Result<std::vector<ModelOp>> ArchitectureOf(std::string_view model) {
  if (model == "mlp") return Mlp();
  if (model == "cnn") return Cnn();
  if (model == "cnn-large") return CnnLarge();
  return Status::NotFound("unknown model '" + std::string(model) +
                          "': choose one of mlp, cnn, cnn-large");
}

Result<ModelLayout> LayoutOf(std::string_view model) {
  FP_ASSIGN_OR_RETURN(std::vector<ModelOp> ops, ArchitectureOf(model));
  std::vector<LayerSpec> layers;
  for (const ModelOp& op : ops) {
    if (op.kind == K::kConv2d) {
      layers.push_back({op.name + ".weight", {op.out, op.in, op.kernel, op.kernel}});
      layers.push_back({op.name + ".bias", {op.out}});
    } else if (op.kind == K::kLinear) {
      layers.push_back({op.name + ".weight", {op.out, op.in}});
      layers.push_back({op.name + ".bias", {op.out}});
    }
  }
  return ModelLayout(std::move(layers));
}

Result<ModelWeights> InitialWeights(std::string_view model, uint64_t seed) {
  FP_ASSIGN_OR_RETURN(std::vector<ModelOp> ops, ArchitectureOf(model));
  FP_ASSIGN_OR_RETURN(ModelLayout layout, LayoutOf(model));
  ModelWeights w(std::move(layout));
  try {
    torch::manual_seed(seed);
    size_t layer = 0;
    auto take = [&](const torch::Tensor& t) {
      torch::Tensor c = t.detach().to(torch::kFloat).contiguous();
      auto dst = w.layer(layer++);
      std::memcpy(dst.data(), c.data_ptr<float>(), dst.size() * sizeof(float));
    };
    // Modules are built in forward order, exactly as an nn.Module's __init__
    // would, so the generator is consumed in named_parameters() order.
    for (const ModelOp& op : ops) {
      if (op.kind == K::kConv2d) {
        torch::nn::Conv2d m(torch::nn::Conv2dOptions(op.in, op.out, op.kernel).padding(op.padding));
        take(m->weight);
        take(m->bias);
      } else if (op.kind == K::kLinear) {
        torch::nn::Linear m(torch::nn::LinearOptions(op.in, op.out));
        take(m->weight);
        take(m->bias);
      }
    }
  } catch (const std::exception& e) {
    return Status::Internal("initialising model '" + std::string(model) + "': " + e.what());
  }
  return w;
}

}  // namespace fedpress

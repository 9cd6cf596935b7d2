#include "common/model_weights.h"

#include <cmath>

namespace fedpress {

size_t LayerSpec::numel() const {
  size_t n = 1;
  for (int64_t d : shape) n *= static_cast<size_t>(d);
  return n;
}

ModelLayout::ModelLayout(std::vector<LayerSpec> layers) : layers_(std::move(layers)) {
  offsets_.reserve(layers_.size());
  for (const auto& l : layers_) {
    offsets_.push_back(total_);
    total_ += l.numel();
  }
}

std::string ModelLayout::Describe() const {
  std::string s = std::to_string(layers_.size()) + " layers, " + std::to_string(total_) +
                  " parameters:";
  for (const auto& l : layers_) {
    s += " " + l.name + "[";
    for (size_t i = 0; i < l.shape.size(); ++i) s += (i ? "," : "") + std::to_string(l.shape[i]);
    s += "]";
  }
  return s;
}

void ModelLayout::EncodeTo(ByteWriter& w) const {
  w.U32(static_cast<uint32_t>(layers_.size()));
  for (const auto& l : layers_) {
    w.Str(l.name);
    w.U32(static_cast<uint32_t>(l.shape.size()));
    for (int64_t d : l.shape) w.U64(static_cast<uint64_t>(d));
  }
}

Result<ModelLayout> ModelLayout::DecodeFrom(ByteReader& r) {
  uint32_t n = r.U32("num_layers");
  if (!r.ok()) return Status::Corruption("model layout: " + r.error());
  if (n == 0 || n > kMaxLayers)
    return Status::Corruption("model layout: num_layers " + std::to_string(n) +
                              " out of range 1.." + std::to_string(kMaxLayers));
  std::vector<LayerSpec> layers;
  layers.reserve(n);
  uint64_t total = 0;
  for (uint32_t i = 0; i < n; ++i) {
    LayerSpec l;
    l.name = r.Str("layer name", 256);
    uint32_t ndim = r.U32("ndim");
    if (!r.ok()) return Status::Corruption("model layout: " + r.error());
    if (ndim == 0 || ndim > kMaxDims)
      return Status::Corruption("model layout: layer " + std::to_string(i) + " has ndim " +
                                std::to_string(ndim) + ", expected 1.." + std::to_string(kMaxDims));
    uint64_t numel = 1;
    for (uint32_t d = 0; d < ndim; ++d) {
      uint64_t dim = r.U64("dim");
      if (!r.ok()) return Status::Corruption("model layout: " + r.error());
      if (dim == 0 || dim > kMaxModelElements)
        return Status::Corruption("model layout: layer '" + l.name + "' has dimension " +
                                  std::to_string(dim));
      numel *= dim;
      if (numel > kMaxModelElements)
        return Status::Corruption("model layout: layer '" + l.name + "' is too large");
      l.shape.push_back(static_cast<int64_t>(dim));
    }
    total += numel;
    if (total > kMaxModelElements)
      return Status::Corruption("model layout: more than " + std::to_string(kMaxModelElements) +
                                " parameters");
    layers.push_back(std::move(l));
  }
  return ModelLayout(std::move(layers));
}

ModelWeights::ModelWeights(ModelLayout layout)
    : layout_(std::move(layout)), values_(layout_.total_elements(), 0.0f) {}

ModelWeights::ModelWeights(ModelLayout layout, std::vector<float> values)
    : layout_(std::move(layout)), values_(std::move(values)) {
  if (values_.size() != layout_.total_elements()) values_.resize(layout_.total_elements(), 0.0f);
}

std::span<float> ModelWeights::layer(size_t i) {
  return std::span<float>(values_).subspan(layout_.offset(i), layout_.layers()[i].numel());
}
std::span<const float> ModelWeights::layer(size_t i) const {
  return std::span<const float>(values_).subspan(layout_.offset(i), layout_.layers()[i].numel());
}

void ModelWeights::EncodeTo(ByteWriter& w) const {
  layout_.EncodeTo(w);
  w.Floats(values_);
}

std::vector<uint8_t> ModelWeights::Encode() const {
  std::vector<uint8_t> out;
  out.reserve(byte_size() + 64 * layout_.num_layers() + 16);
  ByteWriter w(&out);
  EncodeTo(w);
  return out;
}

Result<ModelWeights> ModelWeights::DecodeFrom(ByteReader& r) {
  FP_ASSIGN_OR_RETURN(ModelLayout layout, ModelLayout::DecodeFrom(r));
  size_t n = layout.total_elements();
  if (r.remaining() < n * sizeof(float))
    return Status::Corruption("model values: need " + std::to_string(n * sizeof(float)) +
                              " bytes for " + std::to_string(n) + " floats, have " +
                              std::to_string(r.remaining()));
  std::vector<float> values(n);
  r.Raw(values.data(), n * sizeof(float), "values");
  if (int64_t bad = FindNonFinite(values); bad >= 0)
    return Status::Corruption("model values: element " + std::to_string(bad) +
                              " is NaN or infinite");
  return ModelWeights(std::move(layout), std::move(values));
}

Result<ModelWeights> ModelWeights::Decode(std::span<const uint8_t> bytes) {
  ByteReader r(bytes);
  FP_ASSIGN_OR_RETURN(ModelWeights w, DecodeFrom(r));
  FP_RETURN_IF_ERROR(r.Finish("model bundle"));
  return w;
}

Result<ModelWeights> DecodeWeightsMatching(std::span<const uint8_t> bytes,
                                           const ModelLayout& expected) {
  FP_ASSIGN_OR_RETURN(ModelWeights w, ModelWeights::Decode(bytes));
  if (!(w.layout() == expected))
    return Status::InvalidArgument("model layout mismatch: got " + w.layout().Describe() +
                                   "; expected " + expected.Describe());
  return w;
}

int64_t FindNonFinite(std::span<const float> v) {
  // Branch-free scan in blocks, exact index found only when a block fails.
  const size_t n = v.size();
  size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    bool bad = false;
    for (size_t j = 0; j < 64; ++j) bad |= !std::isfinite(v[i + j]);
    if (bad) break;
  }
  for (; i < n; ++i)
    if (!std::isfinite(v[i])) return static_cast<int64_t>(i);
  return -1;
}

}  // namespace fedpress

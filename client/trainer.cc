// The libtorch adapter for training, evaluation and state_dict export. Every
// libtorch call is inside a try block; exceptions become Status.
#include "client/trainer.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <torch/csrc/jit/serialization/pickle.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <exception>
#include <limits>
#include <numeric>
#include <random>

#include "client/model_zoo.h"
#include "common/file_util.h"

namespace fedpress {
namespace {

using K = ModelOp::Kind;

constexpr int64_t kSide = 28;

Status CheckData(const Dataset& data) {
  if (data.size() == 0) return Status::InvalidArgument("data set is empty");
  if (data.rows != kSide || data.cols != kSide)
    return Status::InvalidArgument("models take 28x28 images, data set has " +
                                   std::to_string(data.rows) + "x" + std::to_string(data.cols));
  if (data.images.size() != data.size() * kSide * kSide)
    return Status::InvalidArgument("data set has " + std::to_string(data.images.size()) +
                                   " pixel bytes for " + std::to_string(data.size()) +
                                   " labels, expected " +
                                   std::to_string(data.size() * kSide * kSide));
  for (uint8_t l : data.labels)
    if (l >= kNumClasses)
      return Status::InvalidArgument("data set has label " + std::to_string(l) + ", expected 0.." +
                                     std::to_string(kNumClasses - 1));
  return Status::OK();
}

Status CheckConfig(const TrainConfig& c) {
  if (c.local_epochs < 1 || c.local_epochs > 1000)
    return Status::InvalidArgument("local_epochs must be in 1..1000, got " +
                                   std::to_string(c.local_epochs));
  if (c.batch_size < 1 || c.batch_size > 65536)
    return Status::InvalidArgument("batch_size must be in 1..65536, got " +
                                   std::to_string(c.batch_size));
  if (!std::isfinite(c.lr) || c.lr <= 0)
    return Status::InvalidArgument("lr must be a finite number > 0, got " + std::to_string(c.lr));
  if (!std::isfinite(c.momentum) || c.momentum < 0 || c.momentum >= 1)
    return Status::InvalidArgument("momentum must be in [0, 1), got " +
                                   std::to_string(c.momentum));
  return Status::OK();
}

// Fisher-Yates with a portable uniform draw (std::shuffle's use of the
// generator is implementation-defined).
void Shuffle(std::vector<int64_t>& v, uint64_t seed) {
  std::mt19937_64 g(seed);
  for (size_t i = v.size(); i > 1; --i) {
    const uint64_t max = std::numeric_limits<uint64_t>::max(), lim = max - max % i;
    uint64_t x;
    do {
      x = g();
    } while (x >= lim);
    std::swap(v[i - 1], v[x % i]);
  }
}

at::Tensor ImagesU8(const Dataset& d) {
  return at::from_blob(const_cast<uint8_t*>(d.images.data()),
                       {static_cast<int64_t>(d.size()), 1, kSide, kSide}, at::kByte);
}

at::Tensor LabelsLong(const Dataset& d) {
  return at::from_blob(const_cast<uint8_t*>(d.labels.data()), {static_cast<int64_t>(d.size())},
                       at::kByte)
      .to(at::kLong);
}

at::Tensor ToInput(const at::Tensor& u8) { return u8.to(at::kFloat).mul_(1.0f / 255.0f); }

std::string What(const std::exception& e) {
  // c10::Error messages carry a C++ backtrace after the first line.
  std::string s = e.what();
  auto nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

}  // namespace

struct Trainer::Impl {
  std::string model;
  std::vector<ModelOp> ops;
  ModelLayout layout;
  std::vector<at::Tensor> params;  // float32, requires_grad, in layout order

  Status Load(const ModelWeights& w) {
    if (!(w.layout() == layout))
      return Status::InvalidArgument("weights do not fit model '" + model + "': got " +
                                     w.layout().Describe() + "; expected " + layout.Describe());
    int64_t bad = FindNonFinite(w.values());
    if (bad >= 0)
      return Status::InvalidArgument("weights contain a non-finite value at element " +
                                     std::to_string(bad));
    at::NoGradGuard no_grad;
    for (size_t i = 0; i < params.size(); ++i) {
      auto src = w.layer(i);
      std::memcpy(params[i].data_ptr<float>(), src.data(), src.size() * sizeof(float));
    }
    return Status::OK();
  }

  ModelWeights Save() const {
    ModelWeights w(layout);
    for (size_t i = 0; i < params.size(); ++i) {
      auto dst = w.layer(i);
      std::memcpy(dst.data(), params[i].data_ptr<float>(), dst.size() * sizeof(float));
    }
    return w;
  }

  at::Tensor Forward(at::Tensor x) const {
    size_t p = 0;
    for (const ModelOp& op : ops) {
      switch (op.kind) {
        case K::kConv2d:
          x = at::conv2d(x, params[p], params[p + 1], /*stride=*/1, /*padding=*/op.padding);
          p += 2;
          break;
        case K::kLinear: {
          // As a 1x1 convolution: libtorch then uses oneDNN (MKL-DNN), which
          // is 4-15x faster than at::linear on Debian's reference BLAS. Same
          // math; the parameters keep their nn.Linear shapes.
          const int64_t batch = x.size(0);
          x = at::conv2d(x.reshape({batch, op.in, 1, 1}),
                         params[p].view({op.out, op.in, 1, 1}), params[p + 1])
                  .view({batch, op.out});
          p += 2;
          break;
        }
        case K::kRelu: x = at::relu(x); break;
        case K::kMaxPool2: x = at::max_pool2d(x, {2, 2}); break;
        case K::kFlatten: x = x.flatten(1); break;
      }
    }
    return x;
  }
};

Trainer::Trainer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Trainer::~Trainer() = default;
const std::string& Trainer::model_name() const { return impl_->model; }
const ModelLayout& Trainer::layout() const { return impl_->layout; }

Result<std::unique_ptr<Trainer>> Trainer::Create(std::string model_name, int threads) {
  if (threads < 0 || threads > 1024)
    return Status::InvalidArgument("threads must be in 0..1024 (0 = one per core), got " +
                                   std::to_string(threads));
  auto impl = std::make_unique<Impl>();
  FP_ASSIGN_OR_RETURN(impl->ops, ArchitectureOf(model_name));
  FP_ASSIGN_OR_RETURN(impl->layout, LayoutOf(model_name));
  impl->model = std::move(model_name);
  try {
    if (threads > 0) at::set_num_threads(threads);
    for (const LayerSpec& l : impl->layout.layers())
      impl->params.push_back(at::zeros(l.shape, at::kFloat).requires_grad_(true));
  } catch (const std::exception& e) {
    return Status::Internal("creating trainer for '" + impl->model + "': " + What(e));
  }
  return std::unique_ptr<Trainer>(new Trainer(std::move(impl)));
}

Result<TrainResult> Trainer::Train(const ModelWeights& global, const Dataset& data,
                                   const TrainConfig& cfg) {
  const auto t0 = std::chrono::steady_clock::now();
  FP_RETURN_IF_ERROR(CheckConfig(cfg));
  FP_RETURN_IF_ERROR(CheckData(data));
  FP_RETURN_IF_ERROR(impl_->Load(global));
  TrainResult out;
  try {
    const at::Tensor images = ImagesU8(data);
    const at::Tensor labels = LabelsLong(data);
    const int64_t n = static_cast<int64_t>(data.size());
    std::vector<at::Tensor> momentum(impl_->params.size());
    std::vector<int64_t> order(static_cast<size_t>(n));
    double last_epoch_loss = 0;
    for (uint32_t epoch = 0; epoch < cfg.local_epochs; ++epoch) {
      std::iota(order.begin(), order.end(), int64_t{0});
      Shuffle(order, cfg.seed * 0x9E3779B97F4A7C15ULL + epoch);
      const at::Tensor perm = at::from_blob(order.data(), {n}, at::kLong);
      double loss_sum = 0;
      int64_t batches = 0;
      for (int64_t start = 0; start < n; start += cfg.batch_size) {
        const int64_t b = std::min<int64_t>(cfg.batch_size, n - start);
        const at::Tensor idx = perm.narrow(0, start, b);
        const at::Tensor x = ToInput(images.index_select(0, idx));
        const at::Tensor y = labels.index_select(0, idx);
        for (auto& p : impl_->params)
          if (p.grad().defined()) p.mutable_grad().zero_();
        at::Tensor loss = at::nll_loss(at::log_softmax(impl_->Forward(x), 1), y);
        loss.backward();
        const double l = loss.item<double>();
        if (!std::isfinite(l))
          return Status::FailedPrecondition(
              "training diverged (loss is " + std::to_string(l) + " in epoch " +
              std::to_string(epoch + 1) + "): lower the learning rate");
        loss_sum += l;
        ++batches;
        at::NoGradGuard no_grad;
        for (size_t i = 0; i < impl_->params.size(); ++i) {
          at::Tensor& p = impl_->params[i];
          const at::Tensor& g = p.grad();
          if (!momentum[i].defined()) {
            momentum[i] = g.clone();
          } else {
            momentum[i].mul_(cfg.momentum).add_(g);
          }
          p.add_(cfg.momentum > 0 ? momentum[i] : g, -cfg.lr);
        }
      }
      last_epoch_loss = loss_sum / static_cast<double>(batches);
    }
    out.local = impl_->Save();
    out.train_loss = last_epoch_loss;
    out.num_samples = data.size();
  } catch (const std::exception& e) {
    return Status::Internal("training '" + impl_->model + "': " + What(e));
  }
  int64_t bad = FindNonFinite(out.local.values());
  if (bad >= 0)
    return Status::FailedPrecondition("training produced a non-finite weight at element " +
                                      std::to_string(bad) + ": lower the learning rate");
  out.train_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

Result<EvalResult> Trainer::Evaluate(const ModelWeights& weights, const Dataset& data,
                                     uint32_t batch_size) {
  if (batch_size < 1 || batch_size > 65536)
    return Status::InvalidArgument("batch_size must be in 1..65536, got " +
                                   std::to_string(batch_size));
  FP_RETURN_IF_ERROR(CheckData(data));
  FP_RETURN_IF_ERROR(impl_->Load(weights));
  EvalResult r;
  try {
    c10::InferenceMode guard;
    const at::Tensor images = ImagesU8(data);
    const at::Tensor labels = LabelsLong(data);
    const int64_t n = static_cast<int64_t>(data.size());
    double loss_sum = 0;
    int64_t correct = 0;
    for (int64_t start = 0; start < n; start += batch_size) {
      const int64_t b = std::min<int64_t>(batch_size, n - start);
      const at::Tensor x = ToInput(images.narrow(0, start, b));
      const at::Tensor y = labels.narrow(0, start, b);
      const at::Tensor logits = impl_->Forward(x);
      loss_sum += at::nll_loss(at::log_softmax(logits, 1), y, {}, at::Reduction::Sum)
                      .item<double>();
      correct += logits.argmax(1).eq(y).sum().item<int64_t>();
    }
    r.samples = static_cast<uint64_t>(n);
    r.accuracy = static_cast<double>(correct) / static_cast<double>(n);
    r.loss = loss_sum / static_cast<double>(n);
  } catch (const std::exception& e) {
    return Status::Internal("evaluating '" + impl_->model + "': " + What(e));
  }
  return r;
}

Status ExportStateDict(const ModelWeights& w, const std::string& path) {
  std::vector<char> bytes;
  try {
    c10::Dict<std::string, at::Tensor> dict;
    for (size_t i = 0; i < w.layout().num_layers(); ++i) {
      const LayerSpec& l = w.layout().layers()[i];
      auto src = w.layer(i);
      dict.insert(l.name, at::from_blob(const_cast<float*>(src.data()), l.shape, at::kFloat).clone());
    }
    bytes = torch::jit::pickle_save(c10::IValue(dict));
  } catch (const std::exception& e) {
    return Status::Internal("exporting state_dict: " + What(e));
  }
  return WriteFileAtomic(
      path, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()))
      .WithContext("exporting state_dict");
}

}  // namespace fedpress

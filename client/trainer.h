// Trainer: local training and evaluation of a zoo model (client/model_zoo.h)
// with libtorch on CPU, behind a libtorch-free interface. Weights go in and
// come out as ModelWeights; libtorch errors come back as Status, never as
// exceptions or aborts.
//
// Inputs are the uint8 images of a Dataset scaled to [0, 1] (x / 255), shape
// N x 1 x 28 x 28; batches are gathered straight from the uint8 buffer.
// Training is plain SGD with momentum (torch.optim.SGD semantics, dampening 0,
// no weight decay; the momentum buffer starts fresh in every Train call) on
// softmax cross-entropy; the data are reshuffled every epoch by a portable
// seeded RNG, so a run depends only on (weights, data, config, thread count).
//
// Performance: nn.Linear layers run as 1x1 convolutions so that libtorch uses
// oneDNN rather than Debian's reference BLAS (4-15x faster, same math). Use
// threads = 1 when other processes share the cores: libtorch's OpenMP threads
// spin and slow down sharply under contention (cnn, 2000 samples: 1.1 s with
// 1 thread vs 13 s with 2 on a busy 2-core machine).
//
// Thread-safety: a Trainer is not thread-safe; use one per thread. Create()
// sets libtorch's process-wide intra-op thread count.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "client/idx_dataset.h"
#include "common/model_weights.h"
#include "common/status.h"

namespace fedpress {

struct TrainConfig {
  uint32_t local_epochs = 1;  // 1..1000
  uint32_t batch_size = 32;   // 1..65536
  float lr = 0.05f;           // finite, > 0
  float momentum = 0.9f;      // [0, 1)
  uint64_t seed = 1;          // shuffling
};

struct TrainResult {
  ModelWeights local;
  double train_loss = 0;  // mean over the last epoch's batches
  uint64_t num_samples = 0;
  double train_seconds = 0;
};

struct EvalResult {
  double accuracy = 0;  // fraction correct, 0..1
  double loss = 0;      // mean cross-entropy per sample
  uint64_t samples = 0;
};

class Trainer {
 public:
  // `threads` > 0 sets torch::set_num_threads(threads); 0 keeps libtorch's
  // default (one per core). Errors: unknown model, threads out of 0..1024.
  static Result<std::unique_ptr<Trainer>> Create(std::string model_name, int threads);
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  const std::string& model_name() const;
  const ModelLayout& layout() const;

  // Loads `global` (its layout must equal LayoutOf(model), else
  // InvalidArgument), trains on `data` and returns the local weights.
  // Errors: layout mismatch or non-finite weights, empty data or images that
  // are not 28x28, invalid config (InvalidArgument); training that diverges to
  // a non-finite loss (FailedPrecondition: lower the learning rate).
  Result<TrainResult> Train(const ModelWeights& global, const Dataset& data,
                            const TrainConfig& cfg);

  // Accuracy and mean loss of `weights` on `data`, in batches of `batch_size`
  // (1..65536; results do not depend on it). 128 was fastest here: larger
  // batches fall out of cache (cnn, 10,000 images, 1 thread: 1.4 s at 128,
  // 2.8 s at 1000).
  Result<EvalResult> Evaluate(const ModelWeights& weights, const Dataset& data,
                              uint32_t batch_size = 128);

 private:
  struct Impl;
  explicit Trainer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Writes `w` as a PyTorch state_dict file: a pickled dict of name -> float32
// tensor (in layout order), in the zip format of torch.save, so that Python's
// `torch.load(path)` returns it and `module.load_state_dict(...)` accepts it.
// Written atomically (temp file + rename).
Status ExportStateDict(const ModelWeights& w, const std::string& path);

}  // namespace fedpress

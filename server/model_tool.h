// ModelTool: runs the `fedpress-model` executable (the only libtorch user on
// the server side) as a child process for model initialisation, evaluation
// and export, so a libtorch failure cannot take the coordinator down and the
// coordinator's memory stays small. Every call has a timeout. Evaluations go
// to one long-lived `fedpress-model serve` child (EvalWorker), so a round pays
// for scoring, not for loading libtorch; if that child cannot answer, the
// evaluation falls back to a one-shot `fedpress-model evaluate`.
//
// Thread-safety: thread-safe (evaluations are served one at a time).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "server/eval_worker.h"

namespace fedpress::server {

struct EvalOutcome {
  double accuracy = 0;
  double loss = 0;
  int64_t samples = 0;
};

struct ModelToolOptions {
  std::string binary;        // path to fedpress-model
  std::string test_data;     // Fashion-MNIST directory
  int64_t eval_limit = 0;    // 0 = whole test split
  int threads = 1;
  int timeout_s = 600;
};

class ModelTool {
 public:
  explicit ModelTool(ModelToolOptions options);
  // Writes the round-0 checkpoint of `model` for `job_id`.
  Status Init(const std::string& model, uint64_t seed, int64_t job_id,
              const std::string& out_path) const;
  // Evaluates a checkpoint on the test set; also exports a torch.load-able
  // state dict to `export_path` if not empty.
  Result<EvalOutcome> Evaluate(const std::string& checkpoint, const std::string& export_path) const;
  const ModelToolOptions& options() const { return options_; }
  // For tests: the pid of the persistent evaluation child, 0 when none.
  pid_t eval_worker_pid() const { return worker_->pid(); }

 private:
  Result<EvalOutcome> EvaluateOnce(const std::string& checkpoint, const std::string& export_path) const;

  ModelToolOptions options_;
  std::unique_ptr<EvalWorker> worker_;
};

// Runs argv[0] with arguments, returns its stdout; non-zero exit or timeout is
// an error carrying the last line of stderr.
Result<std::string> RunProcess(const std::vector<std::string>& argv, int timeout_s);

// Directory of the running executable (for finding sibling binaries).
std::string SelfDirectory();

}  // namespace fedpress::server

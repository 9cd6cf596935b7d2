#include "client/loadgen/model_versions.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>

#include "common/byte_io.h"
#include "common/checkpoint.h"
#include "common/checksum.h"
#include "common/file_util.h"
#include "compression/pipeline.h"
#include "server/model_tool.h"

namespace fedpress::loadgen {
namespace {

uint32_t ValuesCrc(const ModelWeights& w) {
  return Crc32c(w.values().data(), w.values().size() * sizeof(float));
}

}  // namespace

Result<HeldVersion> ModelVersions::Apply(const protocol::Train& task, std::span<const uint8_t> payload) {
  std::lock_guard<std::mutex> lock(mu_);
  auto r = ApplyLocked(task, payload);
  if (!r.ok() && r.status().code() != StatusCode::kUnavailable) ++stats_.failures;
  return r;
}

std::optional<ModelLayout> ModelVersions::LayoutOf(int64_t job) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (job != job_) return std::nullopt;
  return layout_;
}

ModelVersionsStats ModelVersions::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void ModelVersions::SwitchJob(int64_t job) {
  if (job == job_) return;
  job_ = job;
  layout_.reset();
  initial_.reset();
  initial_error_.reset();
  if (initial_future_.valid()) initial_future_.wait();  // an old job's derivation
  initial_future_ = {};
  versions_.clear();
  verified_.clear();
}

void ModelVersions::Keep(int64_t job, uint32_t round, Version v) {
  if (job != job_) return;
  versions_[round] = std::move(v);
  while (versions_.size() > options_.max_versions) versions_.erase(versions_.begin());
}

ModelVersions::~ModelVersions() {
  std::lock_guard<std::mutex> lock(mu_);
  if (initial_future_.valid()) initial_future_.wait();
}

Result<const ModelWeights*> ModelVersions::InitialModel(const protocol::Train& task) {
  if (initial_) return &*initial_;
  if (initial_error_) return *initial_error_;
  if (options_.model_tool.empty()) {
    initial_error_ = Status::FailedPrecondition("no fedpress-model to derive the initial model with (--model-tool)")
                         .WithContext("initial model of job " + std::to_string(task.job_id));
    spdlog::warn("{}", initial_error_->ToString());
    return *initial_error_;
  }
  if (!initial_future_.valid()) {
    // fedpress-model init takes seconds: run it off the socket loops.
    const std::string path = options_.work_dir + "/job-" + std::to_string(task.job_id) + "-initial.ckpt";
    server::ModelToolOptions mopt;
    mopt.binary = options_.model_tool;
    mopt.timeout_s = 300;
    initial_future_ = std::async(std::launch::async, [mopt, path, model = task.model, seed = task.seed,
                                                      job = task.job_id]() -> Result<ModelWeights> {
      FP_RETURN_IF_ERROR(server::ModelTool(mopt).Init(model, seed, job, path));
      auto ckpt = ReadCheckpoint(path);
      std::error_code ec;
      std::filesystem::remove(path, ec);
      if (!ckpt.ok()) return ckpt.status();
      return std::move(ckpt->weights);
    });
  }
  if (initial_future_.wait_for(std::chrono::seconds(0)) != std::future_status::ready)
    return Status::Unavailable("the initial model is being derived");
  auto got = initial_future_.get();
  if (!got.ok()) {
    initial_error_ = got.status().WithContext("initial model of job " + std::to_string(task.job_id));
    spdlog::warn("{}", initial_error_->ToString());
    return *initial_error_;
  }
  initial_ = std::move(*got);
  if (!layout_) layout_ = initial_->layout();
  spdlog::info("job {}: derived the initial {} model ({} parameters) with {}", task.job_id, task.model,
               initial_->layout().total_elements(), options_.model_tool);
  return &*initial_;
}

Result<HeldVersion> ModelVersions::ApplyLocked(const protocol::Train& task, std::span<const uint8_t> payload) {
  SwitchJob(task.job_id);
  const HeldVersion result{task.job_id, task.round, task.model_crc};
  const bool dense = task.payload_format == protocol::PayloadFormat::kDense;

  if (!options_.verify) {
    // Only the layout is needed (to encode updates).
    if (!layout_) {
      if (dense) {
        ByteReader r(payload);
        FP_ASSIGN_OR_RETURN(auto layout, ModelLayout::DecodeFrom(r));
        layout_ = std::move(layout);
      } else {
        FP_RETURN_IF_ERROR(InitialModel(task).status());
      }
    }
    ++stats_.memo_hits;
    return result;
  }

  const MemoKey key{task.job_id, dense ? 0 : task.base_round, dense ? 0 : task.base_crc, task.round,
                    task.model_crc,  Crc32c(payload.data(), payload.size()),    payload.size()};
  if (verified_.count(key) && layout_) {
    ++stats_.memo_hits;
    return result;
  }

  ModelWeights model;
  if (dense) {
    FP_ASSIGN_OR_RETURN(model, ModelWeights::Decode(payload));
    if (layout_ && !(model.layout() == *layout_))
      return Status::FailedPrecondition("full model has another layout than earlier ones of this job");
    ++stats_.applied_full;
  } else {
    // The base: a version held, or the initial model derived from (model, seed).
    const ModelWeights* base = nullptr;
    auto held = versions_.find(task.base_round);
    if (held != versions_.end() && held->second.crc == task.base_crc) base = &held->second.weights;
    if (!base && task.base_round == 0) {
      FP_ASSIGN_OR_RETURN(base, InitialModel(task));
      if (ValuesCrc(*base) != task.base_crc)
        return Status::Corruption("derived initial model differs from the server's (CRC mismatch)");
    }
    if (!base)
      return Status::FailedPrecondition("delta against version " + std::to_string(task.base_round) +
                                        " which no simulated client holds any more");
    model = *base;
    FP_ASSIGN_OR_RETURN(auto links, protocol::DecodeDeltaChain(payload));
    compression::DecodeContext ctx;
    for (const auto& link : links)
      FP_RETURN_IF_ERROR(ctx.DecodeAccumulate(link, model.layout(), 1.0f, model.values()).WithContext("downlink delta"));
    ++stats_.applied_chains;
  }
  const uint32_t crc = ValuesCrc(model);
  if (task.model_crc != 0 && crc != task.model_crc)
    return Status::Corruption("model after applying the download does not match the server's (CRC " +
                              std::to_string(crc) + " != " + std::to_string(task.model_crc) + ")");
  if (!layout_) layout_ = model.layout();
  Keep(task.job_id, task.round, Version{crc, std::move(model)});
  verified_.insert(key);
  return HeldVersion{task.job_id, task.round, crc};
}

}  // namespace fedpress::loadgen

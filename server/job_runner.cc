#include "server/job_runner.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>

#include "common/checkpoint.h"
#include "common/checksum.h"
#include "common/clock.h"
#include "common/file_util.h"
#include "server/fault_injection.h"
#include "server/scheduler.h"

namespace fedpress::server {

namespace fs = std::filesystem;
using protocol::RejectCode;

namespace {
uint32_t ModelCrc(const ModelWeights& w) {
  return Crc32c(w.values().data(), w.values().size() * sizeof(float));
}
}  // namespace

JobRunner::JobRunner(Store* store, ClientRegistry* registry, Outbox* outbox,
                     const ModelTool* tool, RunnerOptions options)
    : store_(store), registry_(registry), outbox_(outbox), tool_(tool), options_(std::move(options)) {}

JobRunner::~JobRunner() = default;

const char* JobRunner::state_name() const {
  switch (state_) {
    case State::kIdle: return "idle";
    case State::kWaitingForClients: return "waiting_for_clients";
    case State::kCollecting: return "collecting";
    case State::kEvaluating: return "evaluating";
    case State::kStorageError: return "storage_error";
  }
  return "?";
}

void JobRunner::Emit(RunnerEvent e) {
  if (listener_) listener_(e);
}

std::string JobRunner::CheckpointPath(uint32_t round) const {
  return job_->dir + "/round-" + std::to_string(round) + ".ckpt";
}

void JobRunner::Tick() {
  const int64_t now = SteadyMs();
  if (jobs_changed_.exchange(false)) {
    next_poll_steady_ms_ = 0;
    if (job_) CheckCancelled();
  }
  // A write failed inside a handler: pause now (not while evaluating; the
  // commit that follows either fails the same way or proves storage works).
  if (!pending_storage_error_.empty() && state_ != State::kEvaluating) {
    std::string what = std::exchange(pending_storage_error_, {});
    if (state_ != State::kStorageError) EnterStorageError(what);
  }
  // A committed round's evaluation finished while the job went on.
  if (job_ && job_->evaluation && state_ != State::kEvaluating) CollectBackgroundEvaluation();
  switch (state_) {
    case State::kIdle:
      if (now >= next_poll_steady_ms_) {
        next_poll_steady_ms_ = now + options_.job_poll_ms;
        LookForJob();
      }
      break;
    case State::kWaitingForClients:
      if (now >= not_before_steady_ms_) StartRoundIfReady();
      break;
    case State::kCollecting:
      if (now >= round_->deadline_steady_ms) CloseRound("deadline");
      break;
    case State::kEvaluating:
      AdvanceClosedRound();
      break;
    case State::kStorageError:
      if (now >= next_probe_steady_ms_) ProbeStorageAndResume();
      break;
  }
}

void JobRunner::LookForJob() {
  auto next = store_->NextRunnableJob();
  if (!next.ok()) {
    spdlog::error("runner: cannot read jobs: {}", next.status().ToString());
    return;
  }
  if (!next->has_value()) return;
  const JobRow& row = **next;
  Status st = LoadJob(row);
  if (!st.ok() && (IsStorageFailure(st) ||
                   !ProbeStorage(options_.state_dir, nullptr, {}, "", "", 1 << 16, NowMs()).ok())) {
    // Not the job's fault: keep it as it is and wait for writable storage.
    job_.reset();
    EnterStorageError("job " + std::to_string(row.id) + ": cannot start: " + st.ToString());
    return;
  }
  if (!st.ok()) {
    spdlog::error("job {}: cannot start: {}", row.id, st.ToString());
    (void)store_->SetJobStatus(row.id, JobStatus::kFailed, st.ToString(), NowMs());
    Emit({"job_failed", row.id, 0, {{"error", st.ToString()}}});
    job_.reset();
    state_ = State::kIdle;
  }
}

Status JobRunner::LoadJob(const JobRow& row) {
  auto json = nlohmann::json::parse(row.spec_json, nullptr, false);
  if (json.is_discarded()) return Status::Corruption("stored job spec is not valid JSON");
  // Compression was validated when the job was created; it is parsed below.
  auto parsed = ParseJobSpec(json, [&](const nlohmann::json& c, std::vector<FieldError>*) {
    return std::optional<nlohmann::json>(c);
  });
  if (!parsed.spec) return Status::Corruption("stored job spec no longer validates: " +
                                              parsed.errors.front().field + " " +
                                              parsed.errors.front().message);
  auto comp = compression::ParseCompressionSpec(parsed.spec->compression);
  if (!comp.ok()) return comp.status().WithContext("stored compression spec");
  // Checked at creation too, but this server may run with a smaller bound.
  if (const uint64_t need = RoundMemoryBytes(*parsed.spec);
      options_.max_round_memory_bytes > 0 && need > options_.max_round_memory_bytes)
    return Status::ResourceExhausted(
        "aggregation '" + parsed.spec->aggregation.strategy + "' needs " + std::to_string(need) +
        " bytes per round (clients_per_round x model), over --max-round-memory " +
        std::to_string(options_.max_round_memory_bytes));
  auto job = std::make_unique<ActiveJob>();
  job->row = row;
  job->spec = *parsed.spec;
  job->compression = *comp;
  job->uplink_dense = comp->uplink == compression::DirectionSpec{};
  job->downlink_dense = comp->downlink == compression::DirectionSpec{};
  job->dir = options_.state_dir + "/job-" + std::to_string(row.id);
  FP_RETURN_IF_ERROR(MakeDirs(job->dir));
  job_ = std::move(job);

  const uint32_t committed = static_cast<uint32_t>(row.current_round);
  std::string ckpt;
  if (committed == 0) {
    ckpt = CheckpointPath(0);
    if (!FileExists(ckpt)) FP_RETURN_IF_ERROR(tool_->Init(job_->spec.model, job_->spec.seed, row.id, ckpt));
  } else {
    FP_ASSIGN_OR_RETURN(auto last, store_->GetRound(row.id, committed));
    if (!last) return Status::Corruption("job says round " + std::to_string(committed) +
                                         " is committed but the round row is missing");
    // The checkpoint lives where this server's --state-dir says, whatever path
    // was recorded: a state directory restored or moved elsewhere resumes.
    ckpt = CheckpointPath(committed);
    if (!FileExists(ckpt) && !last->checkpoint.empty() && FileExists(last->checkpoint)) ckpt = last->checkpoint;
  }
  FP_ASSIGN_OR_RETURN(Checkpoint c, ReadCheckpoint(ckpt));
  if (c.job_id != row.id || c.round != committed || c.model_name != job_->spec.model)
    return Status::Corruption(ckpt + " belongs to job " + std::to_string(c.job_id) + " round " +
                              std::to_string(c.round) + " (" + c.model_name + "), expected job " +
                              std::to_string(row.id) + " round " + std::to_string(committed));
  job_->global = std::move(c.weights);
  // Clients hold nothing of this server's making yet: B starts as G.
  job_->broadcast = job_->global;
  job_->broadcast_round = committed;
  job_->version_crc = {{committed, ModelCrc(job_->broadcast)}};
  job_->history.clear();
  job_->init_is_version0 = committed == 0;
  if (!job_->downlink_dense) {
    compression::DirectionSpec down = job_->compression.downlink;
    down.error_feedback = false;  // B trailing G already carries the residual
    auto enc = compression::Encoder::Create(down, job_->global.layout());
    if (!enc.ok()) return enc.status().WithContext("downlink encoder");
    job_->down_encoder.emplace(std::move(*enc));
  }

  if (row.status == JobStatus::kQueued)
    FP_RETURN_IF_ERROR(store_->SetJobStatus(row.id, JobStatus::kRunning, "", NowMs()));
  if (committed >= static_cast<uint32_t>(job_->spec.rounds)) {
    FP_RETURN_IF_ERROR(store_->SetJobStatus(row.id, JobStatus::kCompleted, "", NowMs()));
    job_.reset();
    return Status::OK();
  }
  job_->round = committed + 1;
  job_->attempt = NextAttempt(row.id, job_->round);
  // A pipelined evaluation lost with the previous process: run it again.
  if (committed > 0) {
    auto last = store_->GetRound(row.id, committed);
    if (last.ok() && last->has_value() && !(*last)->accuracy) {
      spdlog::info("job {} round {}: committed without accuracy (evaluation interrupted); evaluating it again",
                   row.id, committed);
      StartBackgroundEvaluation(committed, ckpt);
    }
  }
  spdlog::info("job {} '{}': {} from round {} of {} ({} model, {} parameters)", row.id, row.name,
               committed == 0 ? "starting" : "resuming", job_->round, job_->spec.rounds,
               job_->spec.model, job_->global.layout().total_elements());
  Emit({"job_started", row.id, job_->round, {{"name", row.name}}});
  state_ = State::kWaitingForClients;
  not_before_steady_ms_ = 0;
  return Status::OK();
}

Status JobRunner::PrepareBroadcast() {
  ActiveJob& j = *job_;
  if (j.broadcast_round == j.round) return Status::OK();  // a retried round
  if (j.downlink_dense) {
    j.broadcast = j.global;
  } else {
    auto g = j.global.values();
    auto b = j.broadcast.values();
    std::vector<float> delta(g.size());
    for (size_t i = 0; i < g.size(); ++i) delta[i] = g[i] - b[i];
    std::vector<uint8_t> payload;
    FP_RETURN_IF_ERROR(j.down_encoder->Encode(delta, nullptr, RoundSeed(j.spec.seed, j.round, 0xD0D0), &payload));
    // Apply to B exactly what clients will apply.
    FP_RETURN_IF_ERROR(j.decode_ctx.DecodeAccumulate(payload, j.broadcast.layout(), 1.0f, j.broadcast.values()));
    j.history[j.round] = Link{j.broadcast_round, std::make_shared<const std::vector<uint8_t>>(std::move(payload))};
    while (j.history.size() > protocol::kMaxChain) j.history.erase(j.history.begin());
    const uint32_t oldest_base = j.history.begin()->second.base_round;
    while (!j.version_crc.empty() && j.version_crc.begin()->first < oldest_base)
      j.version_crc.erase(j.version_crc.begin());
  }
  j.broadcast_round = j.round;
  j.version_crc[j.round] = ModelCrc(j.broadcast);
  return Status::OK();
}

std::pair<protocol::PayloadFormat, uint32_t> JobRunner::PayloadPlanFor(const LiveClient& c) const {
  const ActiveJob& j = *job_;
  const auto full = std::make_pair(protocol::PayloadFormat::kDense, uint32_t{0});
  if (j.downlink_dense) return full;
  // The base: the version the client holds, or the initial model it can derive.
  std::optional<uint32_t> base;
  if (c.held_job == j.row.id) {
    auto v = j.version_crc.find(c.held_round);
    if (v != j.version_crc.end() && v->second == c.held_crc && c.held_round <= j.broadcast_round)
      base = c.held_round;
  }
  // A client that names this job but no version we know (it could not use
  // what we sent) gets the full model; one holding nothing may derive the start.
  if (!base && c.held_job == j.row.id) return full;
  if (!base && j.init_is_version0 && j.version_crc.count(0)) base = 0;
  if (!base) return full;
  // Every link must be there, and the chain must be smaller than the model.
  size_t chain_bytes = 0;
  for (uint32_t r = *base + 1; r <= j.broadcast_round; ++r) {
    auto link = j.history.find(r);
    if (link == j.history.end() || link->second.base_round != r - 1) return full;
    chain_bytes += link->second.payload->size() + 4;
  }
  if (chain_bytes >= j.broadcast.byte_size() / 2) return full;
  return {protocol::PayloadFormat::kCompressed, *base};
}

uint32_t JobRunner::NextAttempt(int64_t job_id, uint32_t round) {
  auto parts = store_->ListParticipations(job_id, round);
  uint32_t attempt = 1;
  if (parts.ok())
    for (const auto& p : *parts) attempt = std::max<uint32_t>(attempt, static_cast<uint32_t>(p.attempt) + 1);
  return attempt;
}

void JobRunner::StartRoundIfReady() {
  const JobSpec& spec = job_->spec;
  std::vector<int64_t> candidates;
  std::map<int64_t, LiveClient> live;
  for (const auto& c : registry_->Snapshot()) {
    if (c.dataset != spec.dataset) continue;
    candidates.push_back(c.client_id);
    live[c.client_id] = c;
  }
  const int64_t now = SteadyMs();
  if (static_cast<int64_t>(candidates.size()) < spec.min_clients) {
    if (now - last_wait_log_steady_ms_ > 10000) {
      last_wait_log_steady_ms_ = now;
      spdlog::info("job {} round {}: waiting for clients ({} connected with dataset {}, need {})",
                   job_->row.id, job_->round, candidates.size(), spec.dataset, spec.min_clients);
    }
    // This runs on every coordinator step and snapshots every client: while
    // clients trickle in (thousands registering), look again 5 times a second.
    not_before_steady_ms_ = now + 200;
    return;
  }
  auto chosen = SelectClients(candidates, static_cast<size_t>(spec.clients_per_round),
                              RoundSeed(spec.seed, job_->round, job_->attempt));

  round_ = std::make_unique<RoundState>();
  round_->started_ms = NowMs();
  round_->started_steady_ms = now;
  round_->deadline_steady_ms = now + static_cast<int64_t>(spec.round_timeout_s * 1000);
  round_->aggregator = MakeRoundAggregator(spec.aggregation, job_->global.layout().total_elements(),
                                           static_cast<size_t>(spec.clients_per_round));

  if (Status st = PrepareBroadcast(); !st.ok()) {
    round_.reset();
    FailJob("cannot prepare the model broadcast: " + st.ToString());
    return;
  }
  protocol::Train& train = round_->train;
  train.job_id = job_->row.id;
  train.round = job_->round;
  train.attempt = job_->attempt;
  train.model = spec.model;
  train.dataset = spec.dataset;
  train.local_epochs = static_cast<uint32_t>(spec.local_epochs);
  train.batch_size = static_cast<uint32_t>(spec.batch_size);
  train.lr = static_cast<float>(spec.lr);
  train.momentum = static_cast<float>(spec.momentum);
  train.seed = spec.seed;
  train.compression_json = spec.compression.dump();
  train.model_crc = job_->version_crc[job_->round];
  int64_t full_sends = 0;

  for (int64_t id : chosen) {
    Picked p;
    SendTrain(live[id], p);
    full_sends += train.payload_format == protocol::PayloadFormat::kDense;
    if (round_->picked.empty()) fault::CrashPoint(fault::Phase::kBroadcast);  // test-only hook
    registry_->SetBusy(id, job_->row.id, job_->round);
    round_->picked[id] = std::move(p);
  }
  round_->pending = round_->picked.size();
  FlushTraffic();
  if (!job_->downlink_dense)
    spdlog::debug("job {} round {}: {} full models, {} delta chains", job_->row.id, job_->round,
                  full_sends, static_cast<int64_t>(chosen.size()) - full_sends);
  state_ = State::kCollecting;
  spdlog::info("job {} round {}/{}{}: sent model to {} of {} clients (deadline {} s)", job_->row.id,
               job_->round, spec.rounds,
               job_->attempt > 1 ? " attempt " + std::to_string(job_->attempt) : std::string(),
               chosen.size(), candidates.size(), spec.round_timeout_s);
  Emit({"round_started", job_->row.id, job_->round,
        {{"attempt", job_->attempt}, {"clients", chosen}}});
}

void JobRunner::Reject(const LiveClient& c, const protocol::Update& u, RejectCode code,
                       const std::string& reason, ParticipationStatus status, size_t wire_bytes) {
  outbox_->Send(c.peer, protocol::EncodeEnvelope(protocol::Reject{u.job_id, u.round, code, reason}));
  ParticipationRow p;
  p.job_id = u.job_id;
  p.round = u.round;
  p.attempt = u.attempt;
  p.client_id = c.client_id;
  p.status = status;
  p.reason = reason;
  p.samples = static_cast<int64_t>(std::min<uint64_t>(u.num_samples, INT64_MAX));
  p.bytes_up_wire = static_cast<int64_t>(wire_bytes);
  p.received_ms = NowMs();
  // Only record against jobs that exist (foreign key); strangers' job ids are logged.
  auto job = store_->GetJob(u.job_id);
  if (job.ok() && job->has_value()) {
    auto st = store_->RecordParticipation(p);
    if (!st.ok()) NoteWrite(st.status(), "cannot record participation");
  }
  spdlog::warn("client {}: update for job {} round {} {}: {}", c.name, u.job_id, u.round,
               ParticipationStatusName(status), reason);
  Emit({"participation", u.job_id, u.round,
        {{"client", c.name}, {"status", ParticipationStatusName(status)}, {"reason", reason}}});
}

void JobRunner::OnUpdate(const LiveClient& c, const protocol::Update& u,
                         std::span<const uint8_t> payload, size_t wire_bytes) {
  registry_->SetBusy(c.client_id, 0, 0);
  if (!job_ || u.job_id != job_->row.id) {
    Reject(c, u, RejectCode::kWrongJob, "no running job " + std::to_string(u.job_id),
           ParticipationStatus::kLate, wire_bytes);
    return;
  }
  const bool current = state_ == State::kCollecting && u.round == job_->round && u.attempt == job_->attempt;
  if (!current) {
    bool late = u.round < job_->round || (u.round == job_->round && u.attempt < job_->attempt) ||
                (u.round == job_->round && state_ != State::kCollecting);
    Reject(c, u, RejectCode::kWrongRound,
           late ? "round " + std::to_string(u.round) + " attempt " + std::to_string(u.attempt) +
                      " is already closed (late update ignored)"
                : "round " + std::to_string(u.round) + " has not started",
           late ? ParticipationStatus::kLate : ParticipationStatus::kRejected, wire_bytes);
    return;
  }
  auto it = round_->picked.find(c.client_id);
  if (it == round_->picked.end()) {
    Reject(c, u, RejectCode::kNotSelected, "client was not selected for this round",
           ParticipationStatus::kRejected, wire_bytes);
    return;
  }
  Picked& picked = it->second;
  if (picked.answer != Answer::kPending) {
    Reject(c, u, RejectCode::kDuplicate, "already answered this round",
           ParticipationStatus::kRejected, wire_bytes);
    return;
  }
  auto reject_here = [&](RejectCode code, const std::string& reason) {
    SetAnswer(picked, Answer::kRejected);
    ++round_->rejected;
    Reject(c, u, code, reason, ParticipationStatus::kRejected, wire_bytes);
  };
  // Plausibility of the sample count: a client may not claim more data than
  // it registered with.
  if (u.num_samples > c.num_samples) {
    reject_here(RejectCode::kBadSampleCount,
                "num_samples " + std::to_string(u.num_samples) + " exceeds the " +
                    std::to_string(c.num_samples) + " samples registered");
  } else {
    const int64_t t0 = SteadyMs();
    // The strategy asks for the dense update; all or nothing.
    const ModelLayout& layout = job_->global.layout();
    UpdateDecoder decode;
    if (u.payload_format == protocol::PayloadFormat::kCompressed) {
      decode = [&](std::span<float> out) { return job_->decode_ctx.DecodeAccumulate(payload, layout, 1.0f, out); };
    } else {
      decode = [&](std::span<float> out) -> Status {
        FP_ASSIGN_OR_RETURN(ModelWeights delta, DecodeWeightsMatching(payload, layout));
        std::copy(delta.values().begin(), delta.values().end(), out.begin());
        return Status::OK();
      };
    }
    UpdateAccumulator direct;
    if (u.payload_format == protocol::PayloadFormat::kCompressed) {
      direct = [&](float weight, std::span<float> acc, double* sum_squares) {
        return job_->decode_ctx.DecodeAccumulate(payload, layout, weight, acc, {}, sum_squares);
      };
    }
    const auto add_t0 = std::chrono::steady_clock::now();
    auto taken = round_->aggregator->Add(decode, u.num_samples, &direct);
    round_->aggregate_add_ns += std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - add_t0).count();
    if (!taken.ok()) {
      reject_here(RejectCode::kBadPayload, taken.status().message());
    } else {
      const int64_t decode_ms = SteadyMs() - t0;
      SetAnswer(picked, Answer::kAccepted);
      round_->train_loss_weighted += static_cast<double>(u.train_loss) * static_cast<double>(u.num_samples);
      const int64_t raw = static_cast<int64_t>(job_->global.byte_size());
      round_->bytes_up_raw += raw;
      round_->bytes_up_wire += static_cast<int64_t>(wire_bytes);
      ParticipationRow p;
      p.job_id = u.job_id;
      p.round = u.round;
      p.attempt = u.attempt;
      p.client_id = c.client_id;
      p.status = ParticipationStatus::kAccepted;
      p.samples = static_cast<int64_t>(u.num_samples);
      p.train_loss = u.train_loss;
      p.bytes_up_raw = raw;
      p.bytes_up_wire = static_cast<int64_t>(wire_bytes);
      p.bytes_down_raw = picked.bytes_down_raw;
      p.bytes_down_wire = picked.bytes_down_wire;
      p.train_ms = u.train_ms;
      p.encode_ms = u.encode_ms;
      p.decode_ms = decode_ms;
      p.sent_ms = picked.sent_ms;
      p.received_ms = NowMs();
      p.update_norm = taken->norm;
      p.clipped = taken->clipped;
      auto st = store_->RecordParticipation(p);
      round_->taken.push_back({st.ok() ? *st : 0, c.name, taken->clipped});
      if (!st.ok()) NoteWrite(st.status(), "cannot record participation");
      fault::CrashPoint(fault::Phase::kCollect);  // test-only hook
      round_->traffic.push_back({c.client_id, 1, static_cast<int64_t>(wire_bytes), 0});
      // It trained from this round's broadcast model, so it holds it.
      registry_->SetHeld(c.peer, job_->row.id, job_->round, job_->version_crc[job_->round]);
      Emit({"participation", u.job_id, u.round,
            {{"client", c.name}, {"status", "accepted"}, {"samples", u.num_samples},
             {"train_loss", u.train_loss}, {"bytes_up_wire", wire_bytes},
             {"update_norm", taken->norm}, {"clipped", taken->clipped}}});
    }
  }
  if (round_->pending == 0) CloseRound("all picked clients answered");
}

void JobRunner::SendTrain(const LiveClient& c, Picked& p) {
  protocol::Train& train = round_->train;
  auto [format, base] = PayloadPlanFor(c);
  const uint32_t key = format == protocol::PayloadFormat::kDense ? UINT32_MAX : base;
  SharedBytes& payload = round_->payload_by_base[key];
  if (!payload) {
    if (format == protocol::PayloadFormat::kDense) {
      payload = std::make_shared<const std::vector<uint8_t>>(job_->broadcast.Encode());
    } else {
      std::vector<std::span<const uint8_t>> links;
      for (uint32_t r = base + 1; r <= job_->round; ++r) links.push_back(*job_->history[r].payload);
      payload = std::make_shared<const std::vector<uint8_t>>(protocol::EncodeDeltaChain(links));
    }
  }
  train.payload_format = format;
  train.base_round = format == protocol::PayloadFormat::kDense ? 0 : base;
  train.base_crc = format == protocol::PayloadFormat::kDense ? 0 : job_->version_crc[base];
  auto envelope = protocol::EncodeEnvelope(train);
  const int64_t raw = static_cast<int64_t>(job_->broadcast.byte_size());
  const int64_t wire = static_cast<int64_t>(envelope.size() + payload->size());
  p.peer = c.peer;
  p.bytes_down_raw += raw;
  p.bytes_down_wire += wire;
  p.sent_ms = NowMs();
  outbox_->Send(p.peer, std::move(envelope), payload);
  round_->bytes_down_raw += raw;
  round_->bytes_down_wire += wire;
  round_->traffic.push_back({c.client_id, 0, 0, wire});
}

void JobRunner::OnClientRejoined(const LiveClient& c) {
  if (state_ != State::kCollecting || !round_) return;
  auto it = round_->picked.find(c.client_id);
  if (it == round_->picked.end() || it->second.answer != Answer::kPending) return;
  SendTrain(c, it->second);
  registry_->SetBusy(c.client_id, job_->row.id, job_->round);
  spdlog::info("job {} round {}: client {} reconnected and keeps its place; its task was sent again",
               job_->row.id, job_->round, c.name);
}

void JobRunner::OnClientGone(const LiveClient& c, const std::string& why) {
  if (state_ != State::kCollecting || !round_) return;
  auto it = round_->picked.find(c.client_id);
  if (it == round_->picked.end() || it->second.answer != Answer::kPending) return;
  SetAnswer(it->second, Answer::kTimedOut);
  ++round_->timeouts;
  ParticipationRow p;
  p.job_id = job_->row.id;
  p.round = job_->round;
  p.attempt = job_->attempt;
  p.client_id = c.client_id;
  p.status = ParticipationStatus::kTimeout;
  p.reason = why;
  p.sent_ms = it->second.sent_ms;
  if (auto st = store_->RecordParticipation(p); !st.ok()) NoteWrite(st.status(), "cannot record participation");
  spdlog::warn("job {} round {}: client {} dropped out: {}", job_->row.id, job_->round, c.name, why);
  if (round_->pending == 0) CloseRound("all picked clients answered or left");
}

void JobRunner::SetAnswer(Picked& p, Answer a) {
  if (p.answer == Answer::kPending && a != Answer::kPending && round_->pending > 0) --round_->pending;
  p.answer = a;
}

void JobRunner::FlushTraffic() {
  if (!round_ || round_->traffic.empty()) return;
  Status st = store_->AddClientTrafficBatch(round_->traffic, NowMs());
  if (!st.ok() && st.code() != StatusCode::kNotFound) NoteWrite(st, "cannot record client traffic");
  round_->traffic.clear();
}

void JobRunner::CloseRound(const char* why) {
  FlushTraffic();
  for (auto& [id, p] : round_->picked) {
    if (p.answer != Answer::kPending) continue;
    SetAnswer(p, Answer::kTimedOut);
    ++round_->timeouts;
    ParticipationRow row;
    row.job_id = job_->row.id;
    row.round = job_->round;
    row.attempt = job_->attempt;
    row.client_id = id;
    row.status = ParticipationStatus::kTimeout;
    row.reason = "no update within round_timeout_s";
    row.sent_ms = p.sent_ms;
    if (auto st = store_->RecordParticipation(row); !st.ok()) NoteWrite(st.status(), "cannot record participation");
    registry_->SetBusy(id, 0, 0);
  }
  const auto accepted = static_cast<int64_t>(round_->aggregator->num_updates());
  if (accepted < job_->spec.min_clients) {
    spdlog::warn("job {} round {} attempt {}: only {} accepted updates (min_clients {}), {}; "
                 "retrying the round",
                 job_->row.id, job_->round, job_->attempt, accepted, job_->spec.min_clients, why);
    (void)store_->AddEvent(job_->row.id, "round_retry",
                           "round " + std::to_string(job_->round) + " attempt " +
                               std::to_string(job_->attempt) + ": " + std::to_string(accepted) +
                               " accepted < min_clients " + std::to_string(job_->spec.min_clients),
                           NowMs());
    Emit({"round_retry", job_->row.id, job_->round, {{"attempt", job_->attempt}, {"accepted", accepted}}});
    ++job_->attempt;
    round_.reset();
    state_ = State::kWaitingForClients;
    not_before_steady_ms_ = SteadyMs() + options_.retry_backoff_ms;
    return;
  }
  // Clients trained from B, so the new model is B + Σ n_k Δ_k / Σ n_k.
  ModelWeights next = job_->broadcast;
  const auto apply_t0 = std::chrono::steady_clock::now();
  Status st = round_->aggregator->ApplyTo(next.values());
  round_->aggregate_apply_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - apply_t0).count();
  if (!st.ok()) {
    FailJob("aggregation failed: " + st.ToString());
    return;
  }
  if (FindNonFinite(next.values()) >= 0) {
    // Finite but enormous updates can overflow the sum: drop the round's
    // result rather than poison the model, and try again.
    spdlog::error("job {} round {}: aggregated model is not finite (an update was extreme); retrying",
                  job_->row.id, job_->round);
    (void)store_->AddEvent(job_->row.id, "round_retry", "aggregate not finite", NowMs());
    ++job_->attempt;
    round_.reset();
    state_ = State::kWaitingForClients;
    not_before_steady_ms_ = SteadyMs() + options_.retry_backoff_ms;
    return;
  }
  RecordRobustness();
  round_->aggregator.reset();  // free the sum before evaluation
  round_->aggregated_steady_ms = SteadyMs();
  spdlog::info("job {} round {}: aggregated {} updates in {:.1f} ms (decode+accumulate {:.1f} ms, apply {:.1f} ms), "
               "{} ms after the round started",
               job_->row.id, job_->round, accepted,
               static_cast<double>(round_->aggregate_add_ns + round_->aggregate_apply_ns) / 1e6,
               static_cast<double>(round_->aggregate_add_ns) / 1e6, static_cast<double>(round_->aggregate_apply_ns) / 1e6,
               round_->aggregated_steady_ms - round_->started_steady_ms);
  round_->checkpoint_path = CheckpointPath(job_->round);
  fault::CrashPoint(fault::Phase::kAggregate);  // test-only hook
  st = WriteCheckpoint(round_->checkpoint_path,
                       Checkpoint{job_->row.id, job_->round, job_->spec.model, next});
  if (!st.ok()) {
    // Disk trouble: the last committed checkpoint and the database are
    // untouched; pause until storage works, then redo the round.
    EnterStorageError("job " + std::to_string(job_->row.id) + " round " + std::to_string(job_->round) +
                      ": cannot write checkpoint: " + st.ToString());
    return;
  }
  fault::CrashPoint(fault::Phase::kCheckpoint);  // test-only hook
  round_->next_global = std::move(next);
  const bool last_round = job_->round >= static_cast<uint32_t>(job_->spec.rounds);
  round_->commit_before_evaluation = job_->spec.PipelinedEvaluation() && !last_round;
  state_ = State::kEvaluating;
  AdvanceClosedRound();
}

void JobRunner::AdvanceClosedRound() {
  // One evaluation at a time, and the previous round's result is recorded
  // before this round commits (its checkpoint is kept until then).
  if (job_->evaluation && !CollectBackgroundEvaluation()) return;
  if (round_->commit_before_evaluation) {
    CommitClosedRound(nullptr);
    return;
  }
  if (!round_->evaluation.valid()) {
    round_->export_tmp_path = job_->dir + "/model.pt.tmp";
    std::string ckpt = round_->checkpoint_path, exp = round_->export_tmp_path;
    const ModelTool* tool = tool_;
    round_->evaluation = std::async(std::launch::async, [tool, ckpt, exp] { return tool->Evaluate(ckpt, exp); });
    return;
  }
  if (round_->evaluation.wait_for(std::chrono::seconds(0)) != std::future_status::ready) return;
  auto eval = round_->evaluation.get();
  CommitClosedRound(&eval);
}

void JobRunner::StartBackgroundEvaluation(uint32_t round, const std::string& checkpoint) {
  ActiveJob::BackgroundEvaluation be;
  be.round = round;
  be.export_tmp_path = job_->dir + "/model.pt.tmp";
  be.started_steady_ms = SteadyMs();
  const ModelTool* tool = tool_;
  be.result = std::async(std::launch::async, [tool, checkpoint, exp = be.export_tmp_path] {
    return tool->Evaluate(checkpoint, exp);
  });
  job_->evaluation.emplace(std::move(be));
}

bool JobRunner::CollectBackgroundEvaluation() {
  ActiveJob::BackgroundEvaluation& be = *job_->evaluation;
  if (be.result.wait_for(std::chrono::seconds(0)) != std::future_status::ready) return false;
  auto eval = be.result.get();
  const uint32_t round = be.round;
  const std::string tmp = be.export_tmp_path;
  const int64_t eval_ms = SteadyMs() - be.started_steady_ms;
  job_->evaluation.reset();
  const int64_t id = job_->row.id;
  if (!eval.ok()) {
    spdlog::warn("job {} round {}: evaluation failed ({}); the round stays without accuracy", id, round,
                 eval.status().ToString());
    Emit({"round_evaluated", id, round, {{"error", eval.status().ToString()}}});
    return true;
  }
  Status st = store_->SetRoundEvaluation(id, round, eval->accuracy, eval->loss, NowMs());
  if (!st.ok()) {
    if (st.code() != StatusCode::kAlreadyExists) NoteWrite(st, "recording a round's accuracy");
    return true;
  }
  if (FileExists(tmp)) {
    std::error_code ec;
    fs::rename(tmp, job_->dir + "/model.pt", ec);
  }
  spdlog::info("job {} round {}: accuracy {:.2f}% loss {:.4f} (evaluated while the job went on, {:.1f} s)", id,
               round, eval->accuracy * 100, eval->loss, static_cast<double>(eval_ms) / 1000.0);
  Emit({"round_evaluated", id, round, {{"accuracy", eval->accuracy}, {"loss", eval->loss}, {"eval_ms", eval_ms}}});
  return true;
}

void JobRunner::RecordRobustness() {
  RoundState& rs = *round_;
  rs.summary = rs.aggregator->Summary();
  for (size_t k = 0; k < rs.summary.updates.size() && k < rs.taken.size(); ++k) {
    const UpdateStats& u = rs.summary.updates[k];
    const RoundState::Taken& t = rs.taken[k];
    if (u.outlier)
      spdlog::warn("job {} round {}: update from {} has L2 norm {:.4g}, over {}x the round's median {:.4g}: "
                   "flagged as an outlier{}",
                   job_->row.id, job_->round, t.client, u.norm, job_->spec.aggregation.outlier_factor,
                   rs.summary.median_norm.value_or(0), u.clipped ? " (clipped)" : "");
    if ((u.outlier || u.clipped != t.clipped) && t.participation_id > 0) {
      Status st = store_->SetParticipationFlags(t.participation_id, u.clipped, u.outlier);
      if (!st.ok()) spdlog::warn("cannot record the flags of {}'s update: {}", t.client, st.ToString());
    }
  }
}

void JobRunner::CommitClosedRound(const Result<EvalOutcome>* eval) {
  RoundRow r;
  r.job_id = job_->row.id;
  r.round = job_->round;
  r.attempts = job_->attempt;
  if (eval == nullptr) {
    // Pipelined: accuracy comes with the background evaluation.
  } else if (eval->ok()) {
    r.accuracy = (*eval)->accuracy;
    r.loss = (*eval)->loss;
  } else {
    // A full or read-only disk also fails the evaluation (its export): then
    // pause rather than commit a round without accuracy.
    Status probe = ProbeStorage(options_.state_dir, nullptr, {}, "", "", 2 * job_->global.byte_size(), NowMs());
    if (!probe.ok()) {
      EnterStorageError("job " + std::to_string(job_->row.id) + " round " + std::to_string(job_->round) +
                        ": evaluation failed (" + eval->status().ToString() + ") and " + probe.ToString());
      return;
    }
    spdlog::warn("job {} round {}: evaluation failed ({}); committing the round without accuracy",
                 job_->row.id, job_->round, eval->status().ToString());
  }
  int64_t accepted = 0, samples = 0;
  for (const auto& [id, p] : round_->picked) accepted += p.answer == Answer::kAccepted;
  // Sum of accepted samples = what the aggregator counted; recompute from records.
  auto parts = store_->ListParticipations(job_->row.id, job_->round);
  if (parts.ok())
    for (const auto& p : *parts)
      if (p.attempt == job_->attempt && p.status == ParticipationStatus::kAccepted) samples += p.samples;
  r.participants = accepted;
  r.rejected = round_->rejected;
  r.timeouts = round_->timeouts;
  r.samples = samples;
  if (samples > 0) r.train_loss = round_->train_loss_weighted / static_cast<double>(samples);
  r.bytes_up_raw = round_->bytes_up_raw;
  r.bytes_up_wire = round_->bytes_up_wire;
  r.bytes_down_raw = round_->bytes_down_raw;
  r.bytes_down_wire = round_->bytes_down_wire;
  r.started_ms = round_->started_ms;
  r.finished_ms = NowMs();
  r.duration_ms = SteadyMs() - round_->started_steady_ms;
  r.checkpoint = round_->checkpoint_path;
  r.median_norm = round_->summary.median_norm;
  r.clipped = round_->summary.clipped;
  r.outliers = round_->summary.outliers;
  // Late updates recorded for this round so far.
  if (parts.ok())
    for (const auto& p : *parts) r.late += p.status == ParticipationStatus::kLate;
  const bool done = job_->round >= static_cast<uint32_t>(job_->spec.rounds);
  Status st = store_->CommitRound(r, done, NowMs());
  if (!st.ok() && IsStorageFailure(st)) {
    EnterStorageError("job " + std::to_string(job_->row.id) + " round " + std::to_string(job_->round) +
                      ": cannot commit: " + st.ToString());
    return;
  }
  if (!st.ok() && st.code() != StatusCode::kAlreadyExists) {
    spdlog::error("job {} round {}: cannot commit: {}; retrying the round", job_->row.id,
                  job_->round, st.ToString());
    round_.reset();
    state_ = State::kWaitingForClients;
    not_before_steady_ms_ = SteadyMs() + 5000;
    return;
  }
  fault::CrashPoint(fault::Phase::kCommit);  // test-only hook
  pending_storage_error_.clear();  // the database took the commit
  // Committed: the new model is the global model.
  job_->global = std::move(*round_->next_global);
  if (eval != nullptr && eval->ok() && FileExists(round_->export_tmp_path)) {
    std::error_code ec;
    fs::rename(round_->export_tmp_path, job_->dir + "/model.pt", ec);
  }
  // Keep the last two checkpoints; older ones are not needed to resume.
  if (job_->round >= 2) {
    std::error_code ec;
    fs::remove(CheckpointPath(job_->round - 2), ec);
  }
  auto fmt_mb = [](int64_t b) { return static_cast<double>(b) / 1e6; };
  const char* no_eval = eval == nullptr ? "pending" : "n/a";
  spdlog::info("job {} round {}/{}: accuracy {} loss {} | {} clients ({} rejected, {} timed out) | "
               "up {:.2f} MB down {:.2f} MB | {:.1f} s",
               job_->row.id, job_->round, job_->spec.rounds,
               r.accuracy ? fmt::format("{:.2f}%", *r.accuracy * 100) : no_eval,
               r.loss ? fmt::format("{:.4f}", *r.loss) : no_eval, r.participants, r.rejected,
               r.timeouts, fmt_mb(r.bytes_up_wire), fmt_mb(r.bytes_down_wire),
               static_cast<double>(r.duration_ms) / 1000.0);
  nlohmann::json data = {{"participants", r.participants}, {"rejected", r.rejected},
                         {"timeouts", r.timeouts},         {"bytes_up_wire", r.bytes_up_wire},
                         {"bytes_up_raw", r.bytes_up_raw}, {"bytes_down_wire", r.bytes_down_wire},
                         {"duration_ms", r.duration_ms},
                         {"aggregation_ms", static_cast<double>(round_->aggregate_add_ns + round_->aggregate_apply_ns) / 1e6}};
  data["accuracy"] = r.accuracy ? nlohmann::json(*r.accuracy) : nlohmann::json();
  data["loss"] = r.loss ? nlohmann::json(*r.loss) : nlohmann::json();
  data["evaluation"] = eval == nullptr ? "pending" : "done";
  Emit({"round_committed", job_->row.id, job_->round, data});
  if (eval == nullptr) StartBackgroundEvaluation(job_->round, round_->checkpoint_path);
  round_.reset();
  if (done) {
    spdlog::info("job {} '{}' completed: {} rounds", job_->row.id, job_->row.name, job_->round);
    Emit({"job_completed", job_->row.id, job_->round, {}});
    DropJob();
    return;
  }
  ++job_->round;
  job_->attempt = 1;
  state_ = State::kWaitingForClients;
  not_before_steady_ms_ = 0;
}

void JobRunner::FailJob(const std::string& error) {
  spdlog::error("job {} failed: {}", job_->row.id, error);
  (void)store_->SetJobStatus(job_->row.id, JobStatus::kFailed, error, NowMs());
  Emit({"job_failed", job_->row.id, job_->round, {{"error", error}}});
  DropJob();
}

void JobRunner::CheckCancelled() {
  auto row = store_->GetJob(job_->row.id);
  if (!row.ok() || !row->has_value()) return;
  if ((*row)->status == JobStatus::kCancelled) {
    spdlog::info("job {} cancelled at round {}", job_->row.id, job_->round);
    Emit({"job_cancelled", job_->row.id, job_->round, {}});
    DropJob();
  }
}

void JobRunner::DropJob() {
  if (round_)
    for (const auto& [id, p] : round_->picked) registry_->SetBusy(id, 0, 0);
  FlushTraffic();
  round_.reset();  // waits for a running evaluation, bounded by its timeout
  job_.reset();
  state_ = storage_health_.problem() ? State::kStorageError : State::kIdle;
  next_poll_steady_ms_ = 0;
}

void JobRunner::NoteWrite(const Status& st, const char* what) {
  spdlog::warn("{}: {}", what, st.ToString());
  if (IsStorageFailure(st) && pending_storage_error_.empty())
    pending_storage_error_ = std::string(what) + ": " + st.ToString();
}

void JobRunner::EnterStorageError(const std::string& what) {
  storage_health_.SetFailed(what, NowMs());
  if (job_) {
    spdlog::error("STORAGE FAILURE: {}. Job {} is paused at round {}: no rounds are started until the "
                  "database and the state directory {} are writable again (checked every {} ms); the "
                  "committed rounds and the last checkpoint are kept as they are",
                  what, job_->row.id, job_->round, options_.state_dir, options_.storage_probe_ms);
    (void)store_->AddEvent(job_->row.id, "storage_error", what, NowMs());  // best effort
    Emit({"storage_error", job_->row.id, job_->round, {{"error", what}}});
  } else {
    spdlog::error("STORAGE FAILURE: {}. No job is started until the database and the state directory {} "
                  "are writable again (checked every {} ms)", what, options_.state_dir, options_.storage_probe_ms);
    Emit({"storage_error", 0, 0, {{"error", what}}});
  }
  if (round_)
    for (const auto& [id, p] : round_->picked) registry_->SetBusy(id, 0, 0);
  round_.reset();
  // Updates still coming for the dropped attempt are then late, even if
  // their participation rows could not be written.
  if (job_) job_->attempt = std::max(job_->attempt + 1, NextAttempt(job_->row.id, job_->round));
  state_ = State::kStorageError;
  next_probe_steady_ms_ = SteadyMs() + options_.storage_probe_ms;
}

void JobRunner::ProbeStorageAndResume() {
  next_probe_steady_ms_ = SteadyMs() + options_.storage_probe_ms;
  // Room for a checkpoint and a model export, and one database write.
  const uint64_t reserve = job_ ? 2 * job_->global.byte_size() : uint64_t{1} << 16;
  Status st = ProbeStorage(options_.state_dir, store_, job_ ? std::optional<int64_t>(job_->row.id) : std::nullopt,
                           "storage_recovered", "storage is writable again", reserve, NowMs());
  if (!st.ok()) {
    spdlog::debug("storage still failing: {}", st.ToString());
    return;
  }
  storage_health_.SetOk();
  if (job_) {
    spdlog::info("storage is writable again: job {} goes on at round {} (attempt {})", job_->row.id,
                 job_->round, job_->attempt);
    Emit({"storage_recovered", job_->row.id, job_->round, {}});
    state_ = State::kWaitingForClients;
    not_before_steady_ms_ = 0;
  } else {
    spdlog::info("storage is writable again");
    Emit({"storage_recovered", 0, 0, {}});
    state_ = State::kIdle;
    next_poll_steady_ms_ = 0;
  }
}

}  // namespace fedpress::server

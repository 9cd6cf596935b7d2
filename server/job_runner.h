// JobRunner: runs one federated job at a time, round after round, as a state
// machine driven by the coordinator thread:
//
//   Idle -> WaitingForClients -> Collecting -> Evaluating -> (commit) -> ...
//
// Per round it picks clients (scheduler), sends TRAIN with the global model,
// hands each valid UPDATE to the job's aggregation strategy (streaming FedAvg,
// or median / trimmed mean / adaptive clipping over the round's updates:
// aggregation_strategy.h), closes the round when every picked client answered
// or the deadline passed, aggregates if at least min_clients were accepted
// (else retries the round), flags outlier updates, writes the checkpoint,
// evaluates it in a child process, and commits the round in one transaction.
// With pipelined evaluation (the job spec's default) the round commits right
// after its checkpoint and its evaluation runs while the next round trains:
// at most one evaluation runs at a time, the next round does not commit
// before it is recorded (so the checkpoint it reads is still there), and the
// last round is evaluated before the job completes.
// A restarted server resumes at the round after the last committed one (and
// evaluates that round again if its evaluation was lost).
//
// Thread-safety: not thread-safe; call everything from the coordinator
// thread, except NotifyJobsChanged() which any thread may call.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "common/job_spec.h"
#include "common/model_weights.h"
#include "common/protocol.h"
#include "compression/pipeline.h"
#include "compression/spec.h"
#include "server/aggregation_strategy.h"
#include "server/client_registry.h"
#include "server/model_tool.h"
#include "server/outbox.h"
#include "server/storage_health.h"
#include "server/store/store.h"

namespace fedpress::server {

struct RunnerOptions {
  std::string state_dir = "fedpress-state";
  int64_t job_poll_ms = 500;        // how often an idle runner looks for work
  int64_t retry_backoff_ms = 1000;  // pause before retrying a failed round
  // Bound on one round's update buffers (--max-round-memory); a job whose
  // aggregation would need more fails at start. 0 = no limit.
  uint64_t max_round_memory_bytes = 0;
  int64_t storage_probe_ms = 2000;  // how often a paused runner checks storage is writable again
};

// What happened, for progress output and live dashboards.
struct RunnerEvent {
  std::string kind;   // "job_started", "round_started", "participation", "round_committed",
                      // "round_retry", "job_completed", "job_failed", "job_cancelled"
  int64_t job_id = 0;
  int64_t round = 0;
  nlohmann::json data;
};

class JobRunner {
 public:
  JobRunner(Store* store, ClientRegistry* registry, Outbox* outbox, const ModelTool* tool,
            RunnerOptions options);
  ~JobRunner();

  // Advances the state machine (timeouts, starting rounds, evaluation done).
  void Tick();
  // An UPDATE from a registered client.
  void OnUpdate(const LiveClient& client, const protocol::Update& update,
                std::span<const uint8_t> payload, size_t wire_bytes);
  // A client disconnected or timed out.
  void OnClientGone(const LiveClient& client, const std::string& why);
  // A client registered again under its name from a new connection (it
  // reconnected, or restarted). If it is picked for the open round and has
  // not answered, it keeps its place: the round's TRAIN is sent again on
  // the new connection (the reference client resends an update it already
  // made instead of training again).
  void OnClientRejoined(const LiveClient& client);
  // A job was created or cancelled through the API (any thread).
  void NotifyJobsChanged() { jobs_changed_ = true; }

  void SetEventListener(std::function<void(const RunnerEvent&)> f) { listener_ = std::move(f); }

  // For status output and tests.
  int64_t current_job() const { return job_ ? job_->row.id : 0; }
  const char* state_name() const;
  // Failing writes (disk full, read-only state): read by /healthz.
  const StorageHealth& storage_health() const { return storage_health_; }

 private:
  // kStorageError: a write failed (disk full, read-only); the round in
  // flight was dropped and no work is handed out until a probe write works.
  enum class State { kIdle, kWaitingForClients, kCollecting, kEvaluating, kStorageError };
  enum class Answer { kPending, kAccepted, kRejected, kTimedOut };

  struct Picked {
    std::string peer;
    Answer answer = Answer::kPending;
    int64_t bytes_down_raw = 0, bytes_down_wire = 0;
    int64_t sent_ms = 0;
  };

  // One downlink delta: turns broadcast version `round - 1` (or the version
  // before it in the history) into version `round`.
  struct Link {
    uint32_t base_round = 0;
    SharedBytes payload;            // compressed container
  };

  struct ActiveJob {
    JobRow row;
    JobSpec spec;
    compression::CompressionSpec compression;
    bool uplink_dense = true;       // identity upload spec
    bool downlink_dense = true;     // identity download spec: full model each round
    std::string dir;                // state_dir/job-<id>
    ModelWeights global;            // G: model after the last committed round
    uint32_t round = 0;             // round in progress (last committed + 1)
    uint32_t attempt = 1;
    // B: the broadcast model, what clients hold and train from. With a
    // compressed downlink B trails G by what compression has not sent yet
    // (the server's implicit residual); B is advanced by decoding exactly the
    // payload that was broadcast, so server and clients stay bit-identical.
    ModelWeights broadcast;
    uint32_t broadcast_round = 0;   // version of B
    std::map<uint32_t, uint32_t> version_crc;  // version -> CRC-32C of B then
    // Version 0 is the initial model, which clients can derive from (model,
    // seed) themselves: a new client then needs only the chain from 0.
    bool init_is_version0 = false;
    std::map<uint32_t, Link> history;           // version -> link that made it
    std::optional<compression::Encoder> down_encoder;
    compression::DecodeContext decode_ctx;
    // A committed round's evaluation still running (pipelined evaluation).
    struct BackgroundEvaluation {
      uint32_t round = 0;
      std::string export_tmp_path;
      int64_t started_steady_ms = 0;
      std::future<Result<EvalOutcome>> result;
    };
    std::optional<BackgroundEvaluation> evaluation;
  };

  struct RoundState {
    int64_t started_ms = 0;         // wall
    int64_t started_steady_ms = 0;
    int64_t deadline_steady_ms = 0;
    std::map<int64_t, Picked> picked;  // client_id -> state
    size_t pending = 0;             // picked clients still kPending (no O(N) scan per update)
    // Client traffic of this round not yet in the store: written in one
    // transaction when the round closes (one sync per round, not per client).
    std::vector<Store::ClientTraffic> traffic;
    std::unique_ptr<RoundAggregator> aggregator;
    // Per update taken by the aggregator, in its order: what was recorded.
    struct Taken {
      int64_t participation_id = 0;  // 0 if the row could not be written
      std::string client;
      bool clipped = false;
    };
    std::vector<Taken> taken;
    RoundSummary summary;           // set when the round closed
    double train_loss_weighted = 0;
    int64_t rejected = 0, late = 0, timeouts = 0;
    int64_t bytes_up_raw = 0, bytes_up_wire = 0, bytes_down_raw = 0, bytes_down_wire = 0;
    // Set when the round closed with enough updates.
    std::map<uint32_t, SharedBytes> payload_by_base;  // 0 = full model
    protocol::Train train;          // the round's TRAIN; payload fields set per client
    std::optional<ModelWeights> next_global;
    std::string checkpoint_path;
    std::string export_tmp_path;
    int64_t aggregated_steady_ms = 0;
    // Coordinator-thread time spent aggregating: each update's decode +
    // accumulate (strategy Add), and the final apply (ns; logged, in events).
    int64_t aggregate_add_ns = 0, aggregate_apply_ns = 0;
    // Pipelined: commit without accuracy, then evaluate in the background.
    bool commit_before_evaluation = false;
    std::future<Result<EvalOutcome>> evaluation;  // blocking evaluation
  };

  void LookForJob();
  Status PrepareBroadcast();
  // TRAIN payload for a client holding the given version: a delta chain when
  // possible, else the full broadcast model. Cached per base version.
  std::pair<protocol::PayloadFormat, uint32_t> PayloadPlanFor(const LiveClient& c) const;
  // Sends round_->train to `c` with the payload PayloadPlanFor chose; adds
  // the bytes to `p` and the round's traffic, and sets p.peer and p.sent_ms.
  void SendTrain(const LiveClient& c, Picked& p);
  Status LoadJob(const JobRow& row);
  void StartRoundIfReady();
  void CloseRound(const char* why);
  // Marks a picked client's answer; keeps RoundState::pending.
  void SetAnswer(Picked& p, Answer a);
  // Writes RoundState::traffic (best effort: counters for the dashboard).
  void FlushTraffic();
  // After aggregation: the round's norms, clip and outlier flags to the store.
  void RecordRobustness();
  // Closed round (state Evaluating): waits for the previous round's
  // background evaluation, then evaluates and commits (blocking) or commits
  // and starts this round's evaluation in the background (pipelined).
  void AdvanceClosedRound();
  // `eval` is null when the round commits before its evaluation.
  void CommitClosedRound(const Result<EvalOutcome>* eval);
  void StartBackgroundEvaluation(uint32_t round, const std::string& checkpoint);
  // Records a finished background evaluation; false while it still runs.
  bool CollectBackgroundEvaluation();
  void FailJob(const std::string& error);
  void CheckCancelled();
  void DropJob();
  // Storage failures: pause the job (EnterStorageError), probe, resume.
  void EnterStorageError(const std::string& what);
  void ProbeStorageAndResume();
  // Remembers a failed write for the next Tick (safe in the middle of a handler).
  void NoteWrite(const Status& st, const char* what);
  uint32_t NextAttempt(int64_t job_id, uint32_t round);
  void Reject(const LiveClient& c, const protocol::Update& u, protocol::RejectCode code,
              const std::string& reason, ParticipationStatus status, size_t wire_bytes);
  void Emit(RunnerEvent e);
  std::string CheckpointPath(uint32_t round) const;

  Store* store_;
  ClientRegistry* registry_;
  Outbox* outbox_;
  const ModelTool* tool_;
  RunnerOptions options_;
  std::function<void(const RunnerEvent&)> listener_;

  State state_ = State::kIdle;
  std::atomic<bool> jobs_changed_{true};
  int64_t next_poll_steady_ms_ = 0;
  int64_t not_before_steady_ms_ = 0;
  int64_t last_wait_log_steady_ms_ = 0;
  std::unique_ptr<ActiveJob> job_;
  std::unique_ptr<RoundState> round_;
  StorageHealth storage_health_;
  std::string pending_storage_error_;
  int64_t next_probe_steady_ms_ = 0;
};

}  // namespace fedpress::server

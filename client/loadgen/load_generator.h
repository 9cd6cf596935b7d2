// LoadGenerator: many lightweight, protocol-complete fedpress clients in one
// process, so one machine can play a thousand clients against a real server.
// Each simulated client has its own ZeroMQ DEALER socket and does what
// fedpress-client does on the wire — REGISTER (again when the server forgets
// it), heartbeats reporting the model version it holds, TRAIN handling with
// the full-model / delta-chain logic and CRC checks (ModelVersions), UPDATE —
// but replays pre-encoded updates (UpdateLibrary) after a simulated training
// time instead of training. The sockets are driven by `threads` loop threads
// with zmq_poll (client i belongs to thread i % threads), not one thread per
// client.
//
// Thread-safety: Run() occupies the calling thread (and starts the loop
// threads); RequestStop() and stats() may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "client/loadgen/model_versions.h"
#include "client/loadgen/update_library.h"
#include "common/curve_keys.h"
#include "common/status.h"

namespace fedpress::loadgen {

struct LoadGenOptions {
  std::string server = "tcp://127.0.0.1:7070";
  int clients = 100;
  std::string name_prefix = "sim";   // clients are PREFIX-00000, PREFIX-00001, ...
  std::string dataset = "fashion-mnist";
  uint64_t samples = 600;            // each client's claimed training-set size
  int64_t train_ms_min = 0;          // simulated training time, uniform in [min, max]
  int64_t train_ms_max = 0;
  int threads = 1;
  int io_threads = 1;                // ZeroMQ I/O threads
  double ramp_s = 0;                 // spread the first REGISTERs over this long
  int64_t register_timeout_ms = 10000;  // re-send REGISTER after this long without WELCOME
  int64_t max_message_bytes = 64 << 20;
  uint64_t seed = 1;
  // CURVE (see docs/protocol.md): server_public_key empty = plain TCP
  // (--insecure). Keys: one enrolled keypair shared by every simulated
  // client, or, with key_dir, each client's own KEY_DIR/NAME.key
  // (common/curve_keys.h format).
  std::string server_public_key;     // Z85, 40 chars
  CurveKeyPair shared_keys;
  std::string key_dir;
};

struct LoadGenStats {
  std::atomic<uint64_t> sockets{0};
  std::atomic<uint64_t> registered{0};       // clients holding a WELCOME now
  std::atomic<uint64_t> welcomes{0};
  std::atomic<uint64_t> register_sent{0};
  std::atomic<uint64_t> trains{0};
  std::atomic<uint64_t> task_failures{0};    // TRAIN could not be applied (no update sent)
  std::atomic<uint64_t> updates_sent{0};
  std::atomic<uint64_t> update_bytes{0};
  std::atomic<uint64_t> updates_dropped{0};  // could not be sent (server unreachable)
  std::atomic<uint64_t> heartbeats_sent{0};
  std::atomic<uint64_t> rejects{0};
  std::atomic<uint64_t> rejects_not_registered{0};
  std::atomic<uint64_t> rejects_busy{0};     // REJECT 13: the update is resent
  std::atomic<uint64_t> byes{0};
  std::atomic<uint64_t> reconnects{0};
};

class LoadGenerator {
 public:
  LoadGenerator(LoadGenOptions options, ModelVersions* versions, UpdateLibrary* updates);
  // Runs until RequestStop(). Errors only for bad options or ZeroMQ setup.
  Status Run();
  void RequestStop() { stop_ = true; }
  const LoadGenStats& stats() const { return stats_; }

 private:
  struct Shard;
  void RunShard(Shard& shard);

  const LoadGenOptions options_;
  ModelVersions* versions_;
  UpdateLibrary* updates_;
  LoadGenStats stats_;
  std::atomic<bool> stop_{false};
};

}  // namespace fedpress::loadgen

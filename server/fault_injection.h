// Fault injection, FOR TESTS ONLY: lets integration tests kill the server at
// a named point of a round, to check crash recovery phase by phase
// (tests/integration/fault_server_crash_test.cc).
//
// Armed by the environment variable FEDPRESS_CRASH_AT=PHASE:N (N >= 1): the
// Nth time this process reaches PHASE, it prints one line to stderr and
// raises SIGKILL (no cleanup, no flush: as a power cut would). Unset (the
// normal case) a call costs one initialised-static check and a compare. An
// unparsable value is reported on stderr once and ignored. Phases, in round order:
//
//   broadcast   after the first TRAIN of a round is queued (mid-broadcast)
//   collect     after an accepted UPDATE is folded into the sum
//   aggregate   after the new model is computed, before its checkpoint
//   checkpoint  after the checkpoint is durable, before evaluation/commit
//   commit      after the round's transaction committed, before model.pt
//               is renamed and old checkpoints are deleted
//
// Also FEDPRESS_STALL_UPDATE_MS=N (1..10000): the coordinator sleeps N ms
// before handling each UPDATE, as a slow disk or CPU would, so a test can
// fill the inbound queue on purpose (tests/integration/flood_test.cc).
//
// Thread-safety: thread-safe.
#pragma once

namespace fedpress::server::fault {

enum class Phase { kBroadcast, kCollect, kAggregate, kCheckpoint, kCommit };

// Counts one occurrence of `phase`; SIGKILLs the process if it is the armed one.
void CrashPoint(Phase phase);

// Sleeps FEDPRESS_STALL_UPDATE_MS, if set (once-parsed; 0 = unset).
void UpdateStall();

}  // namespace fedpress::server::fault

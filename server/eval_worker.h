// EvalWorker: one long-lived `fedpress-model serve` child process that
// evaluates checkpoints on request (one JSON line in, one JSON line out), so
// each round pays for scoring the test set, not for starting libtorch (~0.5 s
// per process). The child is started on first use and again after it died or
// timed out (it is killed then); it exits when the server goes (its stdin,
// a socket the server holds, reaches end of input).
//
// Thread-safety: thread-safe; requests are served one at a time.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "common/status.h"

namespace fedpress::server {

class EvalWorker {
 public:
  // `argv`: the serve command line (binary first).
  explicit EvalWorker(std::vector<std::string> argv) : argv_(std::move(argv)) {}
  ~EvalWorker();
  EvalWorker(const EvalWorker&) = delete;
  EvalWorker& operator=(const EvalWorker&) = delete;

  // Sends one request line and returns the child's answer line. Unavailable if
  // the child cannot be started, dies, or does not answer within timeout_s
  // (then it is killed; the next request starts a new one).
  Result<std::string> Request(const std::string& line, int timeout_s);

  // For tests: the running child's pid, 0 when none.
  pid_t pid() const;

 private:
  Status StartLocked();
  void StopLocked(bool kill_now);

  const std::vector<std::string> argv_;
  mutable std::mutex mu_;
  pid_t pid_ = 0;
  int to_child_ = -1, from_child_ = -1;
  std::string buffered_;  // bytes read past the last answer line
};

}  // namespace fedpress::server

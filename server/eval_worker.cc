#include "server/eval_worker.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/clock.h"

namespace fedpress::server {

EvalWorker::~EvalWorker() {
  std::lock_guard lock(mu_);
  StopLocked(/*kill_now=*/false);
}

pid_t EvalWorker::pid() const {
  std::lock_guard lock(mu_);
  return pid_;
}

Status EvalWorker::StartLocked() {
  // The child's stdin is a socket so that writing to a dead child is an
  // error (MSG_NOSIGNAL), not a SIGPIPE.
  int in_pipe[2], out_pipe[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in_pipe) != 0)
    return Status::Unavailable(std::string("socketpair: ") + std::strerror(errno));
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
    ::close(in_pipe[0]);
    ::close(in_pipe[1]);
    return Status::Unavailable(std::string("pipe: ") + std::strerror(errno));
  }
  std::vector<char*> args;
  for (const auto& a : argv_) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) {
    for (int fd : {in_pipe[0], in_pipe[1], out_pipe[0], out_pipe[1]}) ::close(fd);
    return Status::Unavailable(std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    // Holds none of the server's descriptors (see RunProcess). No
    // PR_SET_PDEATHSIG: it fires when the forking *thread* ends, and requests
    // come from short-lived threads; the child leaves when the server goes
    // because its stdin then reaches end of input.
    ::dup2(in_pipe[0], 0);
    ::dup2(out_pipe[1], 1);
    ::close_range(3, ~0U, 0);
    ::execv(args[0], args.data());
    const char msg[] = "fedpress-model serve: exec failed\n";
    (void)!::write(2, msg, sizeof msg - 1);
    ::_exit(127);
  }
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  pid_ = pid;
  to_child_ = in_pipe[1];
  from_child_ = out_pipe[0];
  buffered_.clear();
  return Status::OK();
}

void EvalWorker::StopLocked(bool kill_now) {
  if (pid_ == 0) return;
  ::close(to_child_);  // end of input: a healthy child exits
  to_child_ = -1;
  if (kill_now) ::kill(pid_, SIGKILL);
  // A child that does not leave within a second is killed.
  int wstatus = 0;
  const int64_t deadline = SteadyMs() + 1000;
  for (;;) {
    pid_t r = ::waitpid(pid_, &wstatus, WNOHANG);
    if (r == pid_ || (r < 0 && errno != EINTR)) break;
    if (SteadyMs() >= deadline) {
      ::kill(pid_, SIGKILL);
      while (::waitpid(pid_, &wstatus, 0) < 0 && errno == EINTR) {
      }
      break;
    }
    ::usleep(10000);
  }
  ::close(from_child_);
  from_child_ = -1;
  pid_ = 0;
  buffered_.clear();
}

Result<std::string> EvalWorker::Request(const std::string& line, int timeout_s) {
  std::lock_guard lock(mu_);
  if (pid_ == 0) FP_RETURN_IF_ERROR(StartLocked());
  const std::string msg = line + "\n";
  size_t sent = 0;
  while (sent < msg.size()) {
    ssize_t n = ::send(to_child_, msg.data() + sent, msg.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      StopLocked(/*kill_now=*/true);
      return Status::Unavailable("the evaluation process is gone (write failed)");
    }
    sent += static_cast<size_t>(n);
  }
  const int64_t deadline = SteadyMs() + int64_t{timeout_s} * 1000;
  for (;;) {
    if (auto nl = buffered_.find('\n'); nl != std::string::npos) {
      std::string answer = buffered_.substr(0, nl);
      buffered_.erase(0, nl + 1);
      return answer;
    }
    const int64_t left = deadline - SteadyMs();
    if (left <= 0) {
      StopLocked(/*kill_now=*/true);
      return Status::Unavailable("the evaluation process did not answer within " + std::to_string(timeout_s) +
                                 " s (killed; the next evaluation starts a new one)");
    }
    pollfd fd{from_child_, POLLIN, 0};
    int r = ::poll(&fd, 1, static_cast<int>(std::min<int64_t>(left, 1000)));
    if (r < 0 && errno != EINTR) {
      StopLocked(/*kill_now=*/true);
      return Status::Unavailable(std::string("poll: ") + std::strerror(errno));
    }
    if (r <= 0) continue;
    char buf[4096];
    ssize_t n = ::read(from_child_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      StopLocked(/*kill_now=*/true);
      return Status::Unavailable("the evaluation process exited (see the server's stderr for its message)");
    }
    if (buffered_.size() > (1 << 20)) {
      StopLocked(/*kill_now=*/true);
      return Status::Unavailable("the evaluation process printed over 1 MiB without a newline");
    }
    buffered_.append(buf, static_cast<size_t>(n));
  }
}

}  // namespace fedpress::server

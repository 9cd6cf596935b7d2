#include "server/model_tool.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "common/clock.h"

namespace fedpress::server {

Result<std::string> RunProcess(const std::vector<std::string>& argv, int timeout_s) {
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return Status::Internal("pipe failed");
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    return Status::Internal("pipe failed");
  }
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) return Status::Internal(std::string("fork failed: ") + std::strerror(errno));
  if (pid == 0) {
    // If the server dies (a crash, SIGKILL) the child goes with it instead of
    // evaluating on as an orphan, and it holds none of the server's
    // descriptors: an inherited listening socket would keep the restarted
    // server from binding its HTTP port.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(out_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    ::close_range(3, ~0U, 0);
    ::execv(args[0], args.data());
    const char msg[] = "exec failed\n";
    (void)!::write(2, msg, sizeof msg - 1);
    ::_exit(127);
  }
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  std::string out, err;
  const int64_t deadline = SteadyMs() + int64_t{timeout_s} * 1000;
  bool out_open = true, err_open = true, timed_out = false;
  while (out_open || err_open) {
    int64_t left = deadline - SteadyMs();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    pollfd fds[2] = {{out_open ? out_pipe[0] : -1, POLLIN, 0}, {err_open ? err_pipe[0] : -1, POLLIN, 0}};
    int r = ::poll(fds, 2, static_cast<int>(std::min<int64_t>(left, 1000)));
    if (r < 0 && errno != EINTR) break;
    char buf[4096];
    for (int i = 0; i < 2; ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        (i == 0 ? out_open : err_open) = false;
      } else {
        std::string& dst = i == 0 ? out : err;
        if (dst.size() < (1 << 20)) dst.append(buf, static_cast<size_t>(n));
      }
    }
  }
  ::close(out_pipe[0]);
  ::close(err_pipe[0]);
  if (timed_out) ::kill(pid, SIGKILL);
  int wstatus = 0;
  while (::waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  auto last_line = [&] {
    std::string e = err;
    while (!e.empty() && (e.back() == '\n' || e.back() == '\r')) e.pop_back();
    auto pos = e.rfind('\n');
    return pos == std::string::npos ? e : e.substr(pos + 1);
  };
  if (timed_out)
    return Status::Unavailable(argv[0] + " timed out after " + std::to_string(timeout_s) + " s");
  if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
    std::string how = WIFEXITED(wstatus) ? "exit code " + std::to_string(WEXITSTATUS(wstatus))
                                         : "signal " + std::to_string(WTERMSIG(wstatus));
    return Status::Internal(argv[0] + " failed (" + how + "): " + last_line());
  }
  return out;
}

std::string SelfDirectory() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return ".";
  return p.parent_path().string();
}

Status ModelTool::Init(const std::string& model, uint64_t seed, int64_t job_id,
                       const std::string& out_path) const {
  auto r = RunProcess({options_.binary, "init", "--model", model, "--seed", std::to_string(seed),
                       "--job", std::to_string(job_id), "--out", out_path},
                      options_.timeout_s);
  return r.ok() ? Status::OK() : r.status().WithContext("model init");
}

namespace {
Result<EvalOutcome> ParseEvalOutput(const std::string& out) {
  auto j = nlohmann::json::parse(out, nullptr, /*allow_exceptions=*/false);
  if (!j.is_discarded() && j.is_object() && j.contains("error") && j["error"].is_string())
    return Status::Internal("evaluation failed: " + j["error"].get<std::string>());
  if (j.is_discarded() || !j.is_object() || !j.contains("accuracy") || !j["accuracy"].is_number())
    return Status::Internal("evaluation printed unexpected output: " + out.substr(0, 200));
  EvalOutcome e;
  e.accuracy = j["accuracy"].get<double>();
  e.loss = j.value("loss", 0.0);
  e.samples = j.value("samples", int64_t{0});
  return e;
}
}  // namespace

ModelTool::ModelTool(ModelToolOptions options) : options_(std::move(options)) {
  std::vector<std::string> argv = {options_.binary, "serve", "--test-data", options_.test_data,
                                   "--threads", std::to_string(options_.threads)};
  if (options_.eval_limit > 0) {
    argv.push_back("--limit");
    argv.push_back(std::to_string(options_.eval_limit));
  }
  worker_ = std::make_unique<EvalWorker>(std::move(argv));
}

Result<EvalOutcome> ModelTool::Evaluate(const std::string& checkpoint,
                                        const std::string& export_path) const {
  nlohmann::json req = {{"checkpoint", checkpoint}};
  if (!export_path.empty()) req["export"] = export_path;
  auto answer = worker_->Request(req.dump(), options_.timeout_s);
  if (answer.ok()) return ParseEvalOutput(*answer);
  // The persistent child is gone or stuck (and was killed): this once, a
  // process of its own; the next evaluation starts a new child.
  return EvaluateOnce(checkpoint, export_path);
}

Result<EvalOutcome> ModelTool::EvaluateOnce(const std::string& checkpoint,
                                            const std::string& export_path) const {
  std::vector<std::string> argv = {options_.binary, "evaluate", "--checkpoint", checkpoint,
                                   "--test-data", options_.test_data,
                                   "--threads", std::to_string(options_.threads)};
  if (options_.eval_limit > 0) {
    argv.push_back("--limit");
    argv.push_back(std::to_string(options_.eval_limit));
  }
  if (!export_path.empty()) {
    argv.push_back("--export");
    argv.push_back(export_path);
  }
  FP_ASSIGN_OR_RETURN(std::string out, RunProcess(argv, options_.timeout_s));
  return ParseEvalOutput(out);
}

}  // namespace fedpress::server

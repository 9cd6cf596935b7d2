// Test harness for integration tests: starts real fedpress processes on
// loopback (output to log files), talks HTTP to the server, and waits with
// bounded loops. Everything a test starts is killed when its handle dies.
//
// Thread-safety: not thread-safe; one harness per test.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace fedpress::testing {

// A child process; killed (SIGKILL) and reaped on destruction unless waited.
class Process {
 public:
  Process() = default;
  Process(const std::vector<std::string>& argv, const std::string& log_path);
  ~Process();
  Process(Process&& o) noexcept;
  Process& operator=(Process&& o) noexcept;
  pid_t pid() const { return pid_; }
  bool running();
  void Signal(int sig);
  // SIGKILL + reap.
  void Kill();
  // Waits for exit up to timeout; returns exit code (or -signal), nullopt on timeout.
  std::optional<int> Wait(std::chrono::milliseconds timeout);
  const std::string& log_path() const { return log_; }

 private:
  pid_t pid_ = -1;
  std::string log_;
};

struct HttpResult {
  int status = 0;  // 0 = connection failed
  std::string body;
  nlohmann::json Json() const { return nlohmann::json::parse(body, nullptr, false); }
};

HttpResult HttpRequestTo(const std::string& host, int port, const std::string& method,
                         const std::string& target, const std::string& body = "",
                         const std::vector<std::pair<std::string, std::string>>& headers = {});

// Polls `cond` every `every` until true or `timeout`; returns its last value.
bool WaitUntil(const std::function<bool()>& cond, std::chrono::milliseconds timeout,
               std::chrono::milliseconds every = std::chrono::milliseconds(200));

std::string ReadText(const std::string& path);
std::string BinDir();     // $FEDPRESS_BIN_DIR
std::string MakeTempDir(const std::string& prefix);
// A test's TearDown: if it failed, prints every *.log under dir (so CI shows
// the server's and clients' side), else removes dir.
void DumpLogsOrRemove(const std::string& dir, bool failed);
int FreeTcpPort();

// A fedpress-server on loopback with its own state directory.
struct ServerHandle {
  Process process;
  int http_port = 0;
  int zmq_port = 0;
  std::string token;  // admin token, read from the server's token file
  std::string server_key;  // CURVE public key from the READY line; "" with --insecure
  std::string endpoint() const { return "tcp://127.0.0.1:" + std::to_string(zmq_port); }
  // Requests carry "Authorization: Bearer <token>" when a token is known.
  HttpResult Get(const std::string& target) const { return Request("GET", target); }
  HttpResult Post(const std::string& target, const std::string& body) const { return Request("POST", target, body); }
  HttpResult Request(const std::string& method, const std::string& target, const std::string& body = "") const {
    std::vector<std::pair<std::string, std::string>> h;
    if (!token.empty()) h.emplace_back("Authorization", "Bearer " + token);
    return HttpRequestTo("127.0.0.1", http_port, method, target, body, h);
  }
  // Enrolls `name` through POST /api/credentials (server-made keypair) and
  // writes the returned key file to `key_path` (mode 0600). Returns the
  // credential id, or 0 on failure (the reason is printed to stderr).
  int64_t Enroll(const std::string& name, const std::string& key_path) const;
};

// Starts the server (ports 0 = pick free ones) and waits for its READY line
// and a healthy /healthz, then reads the admin token from dir/state/admin-token.
// Extra flags are appended; one that is also a default (--db,
// --client-timeout-s, ...) replaces the default.
// Security: the server runs with CURVE (its default) unless `extra` has
// --insecure. The harness remembers each server's endpoint, so StartClient
// against it enrolls the client (once per name and directory: key file
// DIR/keys/NAME.key) and passes --server-key/--key-file, or passes
// --insecure to a client of an --insecure server.
ServerHandle StartServer(const std::string& dir, int http_port = 0, int zmq_port = 0,
                         const std::vector<std::string>& extra = {});

// Clients of a server started by StartServer get its security flags (see
// above) unless `extra` already has --insecure or --key-file.
Process StartClient(const std::string& dir, const std::string& endpoint, const std::string& name,
                    int index, int of, int limit, const std::vector<std::string>& extra = {});

}  // namespace fedpress::testing

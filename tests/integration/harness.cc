#include "tests/integration/harness.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace fedpress::testing {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;

Process::Process(const std::vector<std::string>& argv, const std::string& log_path) : log_(log_path) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_ = ::fork();
  if (pid_ == 0) {
    int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    ::setpgid(0, 0);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
}

Process::~Process() { Kill(); }

Process::Process(Process&& o) noexcept : pid_(o.pid_), log_(std::move(o.log_)) { o.pid_ = -1; }
Process& Process::operator=(Process&& o) noexcept {
  if (this != &o) {
    Kill();
    pid_ = o.pid_;
    log_ = std::move(o.log_);
    o.pid_ = -1;
  }
  return *this;
}

bool Process::running() {
  if (pid_ <= 0) return false;
  int st;
  pid_t r = ::waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

void Process::Signal(int sig) {
  if (pid_ > 0) ::kill(pid_, sig);
}

void Process::Kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int st;
  ::waitpid(pid_, &st, 0);
  pid_ = -1;
}

std::optional<int> Process::Wait(std::chrono::milliseconds timeout) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (pid_ > 0 && std::chrono::steady_clock::now() < end) {
    int st;
    pid_t r = ::waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      return WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return std::nullopt;
}

HttpResult HttpRequestTo(const std::string& host, int port, const std::string& method,
                         const std::string& target, const std::string& body,
                         const std::vector<std::pair<std::string, std::string>>& headers) {
  HttpResult out;
  try {
    net::io_context ioc;
    beast::tcp_stream stream(ioc);
    net::ip::tcp::endpoint ep(net::ip::make_address(host), static_cast<unsigned short>(port));
    stream.expires_after(std::chrono::seconds(30));
    stream.connect(ep);
    http::request<http::string_body> req{http::string_to_verb(method), target, 11};
    req.set(http::field::host, host);
    for (const auto& [k, v] : headers) req.set(k, v);
    if (!body.empty()) {
      req.set(http::field::content_type, "application/json");
      req.body() = body;
    }
    req.prepare_payload();
    http::write(stream, req);
    beast::flat_buffer buf;
    http::response_parser<http::string_body> parser;
    parser.body_limit(1 << 30);
    http::read(stream, buf, parser);
    out.status = static_cast<int>(parser.get().result_int());
    out.body = parser.get().body();
    beast::error_code ec;
    stream.socket().shutdown(net::ip::tcp::socket::shutdown_both, ec);
  } catch (const std::exception&) {
    out.status = 0;
  }
  return out;
}

bool WaitUntil(const std::function<bool()>& cond, std::chrono::milliseconds timeout,
               std::chrono::milliseconds every) {
  auto end = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (cond()) return true;
    if (std::chrono::steady_clock::now() >= end) return false;
    std::this_thread::sleep_for(every);
  }
}

std::string ReadText(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string BinDir() {
  const char* d = std::getenv("FEDPRESS_BIN_DIR");
  return d ? d : "build/bin";
}

std::string MakeTempDir(const std::string& prefix) {
  std::string tmpl = (std::filesystem::temp_directory_path() / (prefix + "XXXXXX")).string();
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (!::mkdtemp(buf.data())) throw std::runtime_error("mkdtemp failed");
  return buf.data();
}

int FreeTcpPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  int port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

namespace {

// Security settings of the servers this process started, by endpoint, so
// StartClient can give their clients the right flags.
struct ServerSecurity {
  int http_port = 0;
  std::string token;
  std::string server_key;  // "" = --insecure
};
std::mutex g_security_mu;
std::map<std::string, ServerSecurity> g_security;  // GUARDED_BY(g_security_mu)

// The curve= field of the last READY line in the server's log ("off" or a key).
std::string ReadyCurveField(const std::string& log) {
  auto pos = log.rfind("READY ");
  if (pos == std::string::npos) return "";
  auto eol = log.find('\n', pos);
  std::string line = log.substr(pos, eol == std::string::npos ? std::string::npos : eol - pos);
  auto c = line.find(" curve=");
  if (c == std::string::npos) return "";
  std::string v = line.substr(c + 7);
  return v.substr(0, v.find(' '));
}

}  // namespace

int64_t ServerHandle::Enroll(const std::string& name, const std::string& key_path) const {
  auto r = Post("/api/credentials", nlohmann::json{{"name", name}}.dump());
  auto j = r.Json();
  if (r.status != 201 || !j.is_object() || !j.contains("key_file") || !j["key_file"].is_string()) {
    std::fprintf(stderr, "harness: enrolling %s failed: HTTP %d %s\n", name.c_str(), r.status, r.body.c_str());
    return 0;
  }
  std::filesystem::create_directories(std::filesystem::path(key_path).parent_path());
  const std::string text = j["key_file"].get<std::string>();
  int fd = ::open(key_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0 || ::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    if (fd >= 0) ::close(fd);
    std::fprintf(stderr, "harness: cannot write %s\n", key_path.c_str());
    return 0;
  }
  ::close(fd);
  return j.value("id", int64_t{0});
}

ServerHandle StartServer(const std::string& dir, int http_port, int zmq_port,
                         const std::vector<std::string>& extra) {
  ServerHandle s;
  s.http_port = http_port ? http_port : FreeTcpPort();
  s.zmq_port = zmq_port ? zmq_port : FreeTcpPort();
  std::vector<std::string> argv = {BinDir() + "/fedpress-server",
                                   "--db", dir + "/fedpress.db",
                                   "--state-dir", dir + "/state",
                                   "--http", "127.0.0.1:" + std::to_string(s.http_port),
                                   "--bind", "tcp://127.0.0.1:" + std::to_string(s.zmq_port),
                                   "--eval-limit", "1000",
                                   "--heartbeat-ms", "500",
                                   "--client-timeout-s", "5"};
  // A flag in `extra` replaces its default above (CLI11 refuses repeats).
  for (size_t i = 1; i + 1 < argv.size();) {
    if (std::find(extra.begin(), extra.end(), argv[i]) != extra.end())
      argv.erase(argv.begin() + static_cast<std::ptrdiff_t>(i), argv.begin() + static_cast<std::ptrdiff_t>(i) + 2);
    else
      i += 2;
  }
  argv.insert(argv.end(), extra.begin(), extra.end());
  s.process = Process(argv, dir + "/server.log");
  WaitUntil([&] { return s.Get("/healthz").status == 200 || !s.process.running(); },
            std::chrono::seconds(30));
  s.token = ReadText(dir + "/state/admin-token");
  while (!s.token.empty() && (s.token.back() == '\n' || s.token.back() == '\r')) s.token.pop_back();
  WaitUntil([&] { return !ReadyCurveField(ReadText(dir + "/server.log")).empty() || !s.process.running(); },
            std::chrono::seconds(10), std::chrono::milliseconds(50));
  const std::string curve = ReadyCurveField(ReadText(dir + "/server.log"));
  s.server_key = curve == "off" ? "" : curve;
  {
    std::lock_guard lock(g_security_mu);
    g_security[s.endpoint()] = ServerSecurity{s.http_port, s.token, s.server_key};
  }
  return s;
}

Process StartClient(const std::string& dir, const std::string& endpoint, const std::string& name,
                    int index, int of, int limit, const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {BinDir() + "/fedpress-client", "--server", endpoint,
                                   "--name", name,
                                   "--index", std::to_string(index),
                                   "--of", std::to_string(of),
                                   "--limit", std::to_string(limit)};
  const bool has = std::find(extra.begin(), extra.end(), "--insecure") != extra.end() ||
                   std::find(extra.begin(), extra.end(), "--key-file") != extra.end();
  std::optional<ServerSecurity> sec;
  {
    std::lock_guard lock(g_security_mu);
    if (auto it = g_security.find(endpoint); it != g_security.end()) sec = it->second;
  }
  if (!has && sec) {
    if (sec->server_key.empty()) {
      argv.push_back("--insecure");
    } else {
      const std::string key_path = dir + "/keys/" + name + ".key";
      if (!std::filesystem::exists(key_path)) {
        ServerHandle h;
        h.http_port = sec->http_port;
        h.token = sec->token;
        h.Enroll(name, key_path);
      }
      argv.insert(argv.end(), {"--server-key", sec->server_key, "--key-file", key_path});
    }
  }
  argv.insert(argv.end(), extra.begin(), extra.end());
  return Process(argv, dir + "/" + name + ".log");
}

void DumpLogsOrRemove(const std::string& dir, bool failed) {
  std::error_code ec;
  if (!failed) {
    std::filesystem::remove_all(dir, ec);
    return;
  }
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec))
    if (it->path().extension() == ".log")
      std::cerr << "==== " << it->path() << "\n" << ReadText(it->path().string()) << "\n";
}

}  // namespace fedpress::testing

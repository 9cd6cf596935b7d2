#include "server/http/auth.h"

#include <fcntl.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cerrno>

#include <cstring>
#include <filesystem>

#include "common/clock.h"

namespace fedpress::server {
namespace {

std::string Hex(const unsigned char* p, size_t n) {
  static const char* kDigits = "0123456789abcdef";
  std::string out(2 * n, '0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kDigits[p[i] >> 4];
    out[2 * i + 1] = kDigits[p[i] & 15];
  }
  return out;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

Result<std::string> GenerateAdminToken() {
  unsigned char buf[32];
  if (RAND_bytes(buf, sizeof buf) != 1) return Status::Internal("OpenSSL RAND_bytes failed");
  std::string t = Hex(buf, sizeof buf);
  OPENSSL_cleanse(buf, sizeof buf);
  return t;
}

std::string Sha256Hex(std::string_view s) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(s.data(), s.size(), md, &len, EVP_sha256(), nullptr);
  return Hex(md, len);
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

Status WriteTokenFile(const std::string& path, const std::string& token) {
  std::error_code ec;
  auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  if (ec) return Status::IOError("cannot create " + parent.string() + ": " + ec.message());
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::IOError("cannot write " + tmp + ": " + std::strerror(errno));
  std::string data = token + "\n";
  bool ok = ::fchmod(fd, 0600) == 0 && ::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()) &&
            ::fsync(fd) == 0;
  int err = errno;
  ok = (::close(fd) == 0) && ok;
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    if (ok) err = errno;
    ::unlink(tmp.c_str());
    return Status::IOError("cannot write " + path + ": " + std::strerror(err));
  }
  return Status::OK();
}

Result<std::string> RotateAdminToken(Store* store, const std::string& token_file) {
  FP_ASSIGN_OR_RETURN(std::string token, GenerateAdminToken());
  // File first: if it cannot be written, the old token stays valid.
  FP_RETURN_IF_ERROR(WriteTokenFile(token_file, token));
  FP_RETURN_IF_ERROR(store->SetAdminTokenHash(Sha256Hex(token), NowMs()));
  return token;
}

Result<std::optional<std::string>> EnsureAdminToken(Store* store, const std::string& token_file) {
  FP_ASSIGN_OR_RETURN(auto existing, store->GetAdminTokenHash());
  if (existing) return std::optional<std::string>();
  FP_ASSIGN_OR_RETURN(std::string token, RotateAdminToken(store, token_file));
  return std::optional<std::string>(std::move(token));
}

std::optional<std::string> RequestToken(std::string_view auth, std::string_view target, bool allow_query) {
  // RFC 7235: the scheme is case-insensitive; one or more spaces before the token.
  if (auth.size() > 7 && strncasecmp(auth.data(), "bearer ", 7) == 0) {
    auth.remove_prefix(7);
    while (!auth.empty() && auth.front() == ' ') auth.remove_prefix(1);
    while (!auth.empty() && auth.back() == ' ') auth.remove_suffix(1);
    if (!auth.empty()) return std::string(auth);
  }
  if (!allow_query) return std::nullopt;
  auto q = target.find('?');
  if (q == std::string_view::npos) return std::nullopt;
  std::string_view query = target.substr(q + 1);
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view kv = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (kv.substr(0, 6) != "token=") continue;
    std::string out;
    std::string_view v = kv.substr(6);
    for (size_t i = 0; i < v.size(); ++i) {
      if (v[i] == '%' && i + 2 < v.size()) {
        int hi = HexValue(v[i + 1]), lo = HexValue(v[i + 2]);
        if (hi < 0 || lo < 0) return std::nullopt;
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
      } else if (v[i] == '%') {
        return std::nullopt;
      } else {
        out.push_back(v[i] == '+' ? ' ' : v[i]);
      }
    }
    if (!out.empty()) return out;
  }
  return std::nullopt;
}

std::optional<std::string> AdminAuth::CurrentHash() {
  std::lock_guard lock(mutex_);
  if (store_ == nullptr) return hash_;
  const int64_t now = SteadyMs();
  if (loaded_steady_ms_ < 0 || now - loaded_steady_ms_ >= refresh_ms_) {
    auto h = store_->GetAdminTokenHash();
    if (h.ok()) {  // on a transient error keep the last known hash
      hash_ = *h;
      loaded_steady_ms_ = now;
    }
  }
  return hash_;
}

bool AdminAuth::Verify(std::string_view token) {
  if (token.empty() || token.size() > 1024) return false;
  auto hash = CurrentHash();
  if (!hash) return false;
  return ConstantTimeEquals(Sha256Hex(token), *hash);
}

}  // namespace fedpress::server

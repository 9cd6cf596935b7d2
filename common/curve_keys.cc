#include "common/curve_keys.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "common/file_util.h"

namespace fedpress {
namespace {

constexpr std::string_view kZ85Alphabet =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

bool IsValidName(std::string_view n) {
  if (n.empty() || n.size() > 64) return false;
  for (char c : n)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) return false;
  return true;
}

}  // namespace

bool IsZ85Key(std::string_view key) {
  if (key.size() != kCurveKeyZ85Length) return false;
  for (char c : key)
    if (kZ85Alphabet.find(c) == std::string_view::npos) return false;
  uint8_t raw[32];
  std::string copy(key);
  return zmq_z85_decode(raw, copy.c_str()) != nullptr;
}

Result<CurveKeyPair> GenerateCurveKeyPair() {
  char pub[41] = {0}, sec[41] = {0};
  if (zmq_curve_keypair(pub, sec) != 0)
    return Status::Unavailable(std::string("cannot generate a CURVE keypair: ") + zmq_strerror(zmq_errno()) +
                               " (libzmq built without CURVE?)");
  CurveKeyPair kp{pub, sec};
  std::memset(sec, 0, sizeof sec);
  return kp;
}

Result<std::string> CurvePublicKeyOf(std::string_view secret_key) {
  if (!IsZ85Key(secret_key)) return Status::InvalidArgument("secret key is not 40 Z85 characters");
  std::string sec(secret_key);
  char pub[41] = {0};
  if (zmq_curve_public(pub, sec.c_str()) != 0)
    return Status::Unavailable(std::string("cannot derive the CURVE public key: ") + zmq_strerror(zmq_errno()));
  return std::string(pub);
}

std::string Z85EncodeKey(std::string_view raw32) {
  if (raw32.size() != 32) return "";
  char out[41] = {0};
  zmq_z85_encode(out, reinterpret_cast<const uint8_t*>(raw32.data()), 32);
  return out;
}

std::string FormatCurveKeyFile(const CurveKeyFile& file) {
  std::string out = "# fedpress CURVE key file: keep it secret (mode 0600)\n";
  if (!file.name.empty()) out += "name = " + file.name + "\n";
  out += "public-key = " + file.keys.public_key + "\n";
  out += "secret-key = " + file.keys.secret_key + "\n";
  if (!file.server_key.empty()) out += "server-key = " + file.server_key + "\n";
  return out;
}

Result<CurveKeyFile> ParseCurveKeyFile(std::string_view text, const std::string& what) {
  if (text.size() > 64 * 1024) return Status::InvalidArgument(what + ": too large for a key file");
  CurveKeyFile f;
  int line_no = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = Trim(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    if (line.empty() || line.front() == '#') continue;
    const std::string where = what + " line " + std::to_string(line_no);
    size_t eq = line.find('=');
    if (eq == std::string_view::npos) return Status::InvalidArgument(where + ": expected 'field = value'");
    std::string_view key = Trim(line.substr(0, eq)), value = Trim(line.substr(eq + 1));
    std::string* slot = nullptr;
    if (key == "public-key") slot = &f.keys.public_key;
    else if (key == "secret-key") slot = &f.keys.secret_key;
    else if (key == "name") slot = &f.name;
    else if (key == "server-key") slot = &f.server_key;
    else
      return Status::InvalidArgument(where + ": unknown field '" + std::string(key.substr(0, 40)) +
                                     "' (expected public-key, secret-key, name, server-key)");
    if (!slot->empty()) return Status::InvalidArgument(where + ": '" + std::string(key) + "' given twice");
    if (value.empty()) return Status::InvalidArgument(where + ": '" + std::string(key) + "' is empty");
    *slot = std::string(value);
  }
  if (f.keys.secret_key.empty()) return Status::InvalidArgument(what + ": no secret-key line");
  if (!IsZ85Key(f.keys.secret_key)) return Status::InvalidArgument(what + ": secret-key is not 40 Z85 characters");
  FP_ASSIGN_OR_RETURN(std::string derived, CurvePublicKeyOf(f.keys.secret_key));
  if (f.keys.public_key.empty()) f.keys.public_key = derived;
  if (!IsZ85Key(f.keys.public_key)) return Status::InvalidArgument(what + ": public-key is not 40 Z85 characters");
  if (f.keys.public_key != derived)
    return Status::InvalidArgument(what + ": public-key does not belong to secret-key (file edited by hand?)");
  if (!f.server_key.empty() && !IsZ85Key(f.server_key))
    return Status::InvalidArgument(what + ": server-key is not 40 Z85 characters");
  if (!f.name.empty() && !IsValidName(f.name))
    return Status::InvalidArgument(what + ": name must be 1..64 characters of A-Z a-z 0-9 . _ -");
  return f;
}

Status WriteCurveKeyFile(const std::string& path, const CurveKeyFile& file, bool overwrite) {
  std::error_code ec;
  if (!overwrite && std::filesystem::exists(path, ec))
    return Status::AlreadyExists(path + " exists: not replacing a key file (remove it first)");
  auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) {
    FP_RETURN_IF_ERROR(MakeDirs(parent.string()));
  }
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return Status::IOError("cannot create " + tmp + ": " + std::strerror(errno));
  const std::string data = FormatCurveKeyFile(file);
  bool ok = ::fchmod(fd, 0600) == 0 && ::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()) &&
            ::fsync(fd) == 0;
  int err = errno;
  ok = (::close(fd) == 0) && ok;
  if (ok && !overwrite) {
    // link() fails if the target appeared meanwhile: never clobber a key.
    if (::link(tmp.c_str(), path.c_str()) != 0) {
      err = errno;
      ::unlink(tmp.c_str());
      return err == EEXIST ? Status::AlreadyExists(path + " exists: not replacing a key file")
                           : Status::IOError("cannot write " + path + ": " + std::strerror(err));
    }
    ::unlink(tmp.c_str());
  } else if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    if (ok) err = errno;
    ::unlink(tmp.c_str());
    return Status::IOError("cannot write " + path + ": " + std::strerror(err));
  }
  std::string dir = parent.empty() ? "." : parent.string();
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return Status::OK();
}

Result<CurveKeyFile> ReadCurveKeyFile(const std::string& path) {
  struct stat sb {};
  if (::stat(path.c_str(), &sb) != 0)
    return errno == ENOENT ? Status::NotFound(path + ": no such key file")
                           : Status::IOError("cannot read " + path + ": " + std::strerror(errno));
  if (sb.st_mode & 0077) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%03o", static_cast<unsigned>(sb.st_mode & 0777));
    return Status::PermissionDenied(path + " holds a secret key but has mode " + mode +
                                    ": others may read it (chmod 600 " + path + ")");
  }
  FP_ASSIGN_OR_RETURN(auto bytes, ReadFile(path, 64 * 1024));
  return ParseCurveKeyFile(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), path);
}

Result<CurveKeyFile> LoadOrCreateCurveKeyFile(const std::string& path, bool* created) {
  if (created) *created = false;
  auto existing = ReadCurveKeyFile(path);
  if (existing.ok() || existing.status().code() != StatusCode::kNotFound) return existing;
  FP_ASSIGN_OR_RETURN(CurveKeyPair kp, GenerateCurveKeyPair());
  CurveKeyFile f;
  f.keys = std::move(kp);
  Status st = WriteCurveKeyFile(path, f, /*overwrite=*/false);
  if (st.code() == StatusCode::kAlreadyExists) return ReadCurveKeyFile(path);  // lost a race: use theirs
  FP_RETURN_IF_ERROR(st);
  if (created) *created = true;
  return f;
}

}  // namespace fedpress

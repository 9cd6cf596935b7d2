#include "client/idx_dataset.h"

#include <sys/stat.h>
#include <zlib.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

namespace fedpress {
namespace {

uint32_t BigEndian32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

std::string Hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08X", v);
  return buf;
}

// One IDX file, read sequentially through zlib (which reads raw files
// transparently). Owns the gzFile.
class IdxReader {
 public:
  explicit IdxReader(std::string path) : path_(std::move(path)) {}
  ~IdxReader() {
    if (f_ != nullptr) gzclose(f_);
  }
  IdxReader(const IdxReader&) = delete;
  IdxReader& operator=(const IdxReader&) = delete;

  Status Open() {
    struct stat sb {};
    if (::stat(path_.c_str(), &sb) != 0) {
      if (errno == ENOENT) return Status::NotFound(path_ + ": no such file");
      return Status::IOError(path_ + ": " + std::strerror(errno));
    }
    if (!S_ISREG(sb.st_mode)) return Status::InvalidArgument(path_ + ": not a regular file");
    file_size_ = static_cast<uint64_t>(sb.st_size);
    f_ = gzopen(path_.c_str(), "rb");
    if (f_ == nullptr) return Status::IOError(path_ + ": cannot open: " + std::strerror(errno));
    gzbuffer(f_, 1 << 17);
    return Status::OK();
  }

  // After the first read: true when the file is not gzip-compressed.
  bool raw() const { return gzdirect(f_) != 0; }
  uint64_t file_size() const { return file_size_; }
  const std::string& path() const { return path_; }

  Status ReadExact(uint8_t* p, uint64_t n, std::string_view what) {
    uint64_t got = 0;
    while (got < n) {
      unsigned chunk = static_cast<unsigned>(std::min<uint64_t>(n - got, 1u << 30));
      int r = gzread(f_, p + got, chunk);
      if (r < 0) return GzError(what);
      if (r == 0) {
        int err = Z_OK;
        gzerror(f_, &err);
        if (err != Z_OK && err != Z_BUF_ERROR) return GzError(what);
        return Status::Corruption(path_ + ": truncated: " + std::string(what) + " needs " +
                                  std::to_string(n) + " bytes, file ends after " +
                                  std::to_string(got) +
                                  " (re-download or reinstall the data set)");
      }
      got += static_cast<uint64_t>(r);
    }
    return Status::OK();
  }

  // Checks that nothing follows the data.
  Status ExpectEnd() {
    uint8_t b = 0;
    int r = gzread(f_, &b, 1);
    if (r < 0) return GzError("end of data");
    if (r > 0) return Status::Corruption(path_ + ": unexpected bytes after the last item");
    return Status::OK();
  }

 private:
  Status GzError(std::string_view what) {
    int err = Z_OK;
    const char* msg = gzerror(f_, &err);
    return Status::Corruption(path_ + ": cannot decompress " + std::string(what) + ": " +
                              (msg != nullptr && *msg ? msg : "gzip error") +
                              " (file is corrupt or truncated)");
  }

  std::string path_;
  gzFile f_ = nullptr;
  uint64_t file_size_ = 0;
};

struct IdxHeader {
  uint32_t count = 0, rows = 1, cols = 1;
};

Result<IdxHeader> ReadHeader(IdxReader& r, bool images) {
  const uint32_t want_magic = images ? kIdxImagesMagic : kIdxLabelsMagic;
  const size_t header_bytes = images ? 16 : 8;
  uint8_t h[16];
  FP_RETURN_IF_ERROR(r.ReadExact(h, header_bytes, "the IDX header"));
  uint32_t magic = BigEndian32(h);
  if (magic != want_magic) {
    std::string hint;
    if (magic == kIdxImagesMagic) hint = " (this is an image file; a label file was expected)";
    if (magic == kIdxLabelsMagic) hint = " (this is a label file; an image file was expected)";
    if ((magic >> 16) == 0x1F8B) hint = " (gzip data inside gzip?)";
    return Status::Corruption(r.path() + ": bad magic " + Hex32(magic) + ", expected " +
                              Hex32(want_magic) + " (IDX " + (images ? "images" : "labels") +
                              ")" + hint);
  }
  IdxHeader hd;
  hd.count = BigEndian32(h + 4);
  if (images) {
    hd.rows = BigEndian32(h + 8);
    hd.cols = BigEndian32(h + 12);
  }
  if (hd.count == 0 || hd.count > kIdxMaxItems)
    return Status::Corruption(r.path() + ": item count " + std::to_string(hd.count) +
                              " out of range 1.." + std::to_string(kIdxMaxItems));
  if (hd.rows == 0 || hd.rows > kIdxMaxSide || hd.cols == 0 || hd.cols > kIdxMaxSide)
    return Status::Corruption(r.path() + ": image size " + std::to_string(hd.rows) + "x" +
                              std::to_string(hd.cols) + " out of range 1.." +
                              std::to_string(kIdxMaxSide));
  const uint64_t item = uint64_t{hd.rows} * hd.cols;
  const uint64_t data = item * hd.count;
  if (data > kIdxMaxImageBytes)
    return Status::ResourceExhausted(r.path() + ": " + std::to_string(data) +
                                     " bytes of data, limit " +
                                     std::to_string(kIdxMaxImageBytes));
  if (r.raw() && r.file_size() != header_bytes + data)
    return Status::Corruption(r.path() + ": file is " + std::to_string(r.file_size()) +
                              " bytes, expected " + std::to_string(header_bytes + data) +
                              " for " + std::to_string(hd.count) + " items of " +
                              std::to_string(item) + " bytes (truncated or corrupt)");
  return hd;
}

// Reads the first `keep` items' bytes; when all are kept, checks the end.
Status ReadBody(IdxReader& r, const IdxHeader& h, size_t keep, std::vector<uint8_t>& out) {
  const uint64_t item = uint64_t{h.rows} * h.cols;
  out.resize(static_cast<size_t>(item * keep));
  FP_RETURN_IF_ERROR(r.ReadExact(out.data(), out.size(),
                                 std::to_string(keep) + " items of " + std::to_string(item) +
                                     " bytes"));
  if (keep == h.count) FP_RETURN_IF_ERROR(r.ExpectEnd());
  return Status::OK();
}

}  // namespace

Result<Dataset> LoadIdxPair(const std::string& images_path, const std::string& labels_path,
                            size_t limit) {
  IdxReader lr(labels_path);
  FP_RETURN_IF_ERROR(lr.Open());
  FP_ASSIGN_OR_RETURN(IdxHeader lh, ReadHeader(lr, /*images=*/false));
  IdxReader ir(images_path);
  FP_RETURN_IF_ERROR(ir.Open());
  FP_ASSIGN_OR_RETURN(IdxHeader ih, ReadHeader(ir, /*images=*/true));
  if (lh.count != ih.count)
    return Status::Corruption(images_path + " has " + std::to_string(ih.count) + " images but " +
                              labels_path + " has " + std::to_string(lh.count) +
                              " labels (the two files do not belong together)");

  const size_t keep = limit == 0 ? ih.count : std::min<size_t>(limit, ih.count);
  Dataset d;
  d.rows = ih.rows;
  d.cols = ih.cols;
  FP_RETURN_IF_ERROR(ReadBody(lr, lh, keep, d.labels));
  for (size_t i = 0; i < d.labels.size(); ++i) {
    if (d.labels[i] >= kNumClasses)
      return Status::Corruption(labels_path + ": label " + std::to_string(d.labels[i]) +
                                " at item " + std::to_string(i) + " is not in 0.." +
                                std::to_string(kNumClasses - 1));
  }
  FP_RETURN_IF_ERROR(ReadBody(ir, ih, keep, d.images));
  return d;
}

Result<Dataset> LoadFashionMnist(const std::string& dir, std::string_view split, size_t limit) {
  std::string prefix;
  if (split == "train") {
    prefix = "train";
  } else if (split == "test" || split == "t10k") {
    prefix = "t10k";
  } else {
    return Status::InvalidArgument("unknown data split '" + std::string(split) +
                                   "': use \"train\" or \"test\"");
  }
  namespace fs = std::filesystem;
  auto pick = [&](const std::string& base) -> Result<std::string> {
    std::string p = (fs::path(dir) / base).string();
    std::error_code ec;
    if (fs::exists(p + ".gz", ec)) return p + ".gz";
    if (fs::exists(p, ec)) return p;
    return Status::NotFound("no " + base + "[.gz] in " + dir +
                            " (point to the Fashion-MNIST directory, e.g. "
                            "/usr/share/datasets/fashion-mnist)");
  };
  FP_ASSIGN_OR_RETURN(std::string images, pick(prefix + "-images-idx3-ubyte"));
  FP_ASSIGN_OR_RETURN(std::string labels, pick(prefix + "-labels-idx1-ubyte"));
  return LoadIdxPair(images, labels, limit);
}

Dataset Subset(const Dataset& data, std::span<const size_t> indices) {
  Dataset out;
  out.rows = data.rows;
  out.cols = data.cols;
  const size_t item = data.image_bytes();
  out.labels.reserve(indices.size());
  out.images.reserve(indices.size() * item);
  for (size_t i : indices) {
    assert(i < data.size());
    if (i >= data.size()) continue;
    out.labels.push_back(data.labels[i]);
    const uint8_t* src = data.images.data() + i * item;
    out.images.insert(out.images.end(), src, src + item);
  }
  return out;
}

std::vector<size_t> LabelCounts(const Dataset& data) {
  std::vector<size_t> counts(kNumClasses, 0);
  for (uint8_t l : data.labels)
    if (l < kNumClasses) ++counts[l];
  return counts;
}

}  // namespace fedpress

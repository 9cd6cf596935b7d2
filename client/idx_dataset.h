// IDX image/label datasets (the MNIST / Fashion-MNIST file format), held as raw
// uint8 pixels and labels, without libtorch.
//
// IDX format (big-endian header):
//   images: u32 magic 0x00000803 | u32 count | u32 rows | u32 cols | count*rows*cols u8
//   labels: u32 magic 0x00000801 | u32 count | count u8
// Files may be gzip-compressed (detected by content, not by name) or raw.
// Everything is validated (magic, dims, equal counts, labels < kNumClasses,
// exact file lengths, a hard size bound): a corrupt or truncated file gives a
// Status naming the file and what is wrong, never a crash.
//
// Thread-safety: pure functions and plain values; safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace fedpress {

inline constexpr uint32_t kIdxImagesMagic = 0x00000803;
inline constexpr uint32_t kIdxLabelsMagic = 0x00000801;
inline constexpr uint32_t kNumClasses = 10;
// Hard bounds applied to headers before anything is allocated.
inline constexpr uint32_t kIdxMaxItems = 10'000'000;
inline constexpr uint32_t kIdxMaxSide = 4096;
inline constexpr uint64_t kIdxMaxImageBytes = uint64_t{1} << 32;  // 4 GiB of pixels

struct Dataset {
  std::vector<uint8_t> images;  // size() * rows * cols, row-major uint8, image after image
  std::vector<uint8_t> labels;  // size() values, each < kNumClasses
  uint32_t rows = 28, cols = 28;

  size_t size() const { return labels.size(); }
  size_t image_bytes() const { return size_t{rows} * cols; }
};

// Loads an image file and a label file (each gzip or raw). `limit` > 0 keeps
// only the first `limit` items (0 = all). When `limit` is smaller than the
// file's count, the gzip data after the kept items is not read (and thus not
// checked); raw files always have their exact length checked.
Result<Dataset> LoadIdxPair(const std::string& images_path, const std::string& labels_path,
                            size_t limit);

// Loads Fashion-MNIST (or MNIST) from `dir` by its standard file names:
// split "train" -> train-images-idx3-ubyte[.gz] + train-labels-idx1-ubyte[.gz],
// split "test" (or "t10k") -> t10k-*. The .gz file is used when present.
Result<Dataset> LoadFashionMnist(const std::string& dir, std::string_view split, size_t limit);

// The items at `indices`, in that order.
// REQUIRES: every index < data.size() (out-of-range indices are skipped).
Dataset Subset(const Dataset& data, std::span<const size_t> indices);

// Number of items per label, indexed by label (size kNumClasses).
std::vector<size_t> LabelCounts(const Dataset& data);

}  // namespace fedpress

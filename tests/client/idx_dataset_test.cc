#include "client/idx_dataset.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numeric>

namespace fedpress {
namespace {

namespace fs = std::filesystem;
const std::string kDataDir = "/usr/share/datasets/fashion-mnist";

std::vector<uint8_t> Be32(uint32_t v) {
  return {uint8_t(v >> 24), uint8_t(v >> 16), uint8_t(v >> 8), uint8_t(v)};
}

// IDX bytes: magic, dims, payload.
std::vector<uint8_t> Idx(uint32_t magic, std::vector<uint32_t> dims,
                         const std::vector<uint8_t>& payload) {
  std::vector<uint8_t> b = Be32(magic);
  for (uint32_t d : dims) {
    auto e = Be32(d);
    b.insert(b.end(), e.begin(), e.end());
  }
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

class IdxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("fp_idx_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string WriteRaw(const std::string& name, const std::vector<uint8_t>& bytes) {
    std::string p = (dir_ / name).string();
    std::ofstream(p, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
    return p;
  }
  std::string WriteGz(const std::string& name, const std::vector<uint8_t>& bytes) {
    std::string p = (dir_ / name).string();
    gzFile f = gzopen(p.c_str(), "wb");
    EXPECT_NE(f, nullptr);
    EXPECT_EQ(gzwrite(f, bytes.data(), unsigned(bytes.size())), int(bytes.size()));
    gzclose(f);
    return p;
  }
  static std::vector<uint8_t> ReadBytes(const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
  }

  // A valid 5-item 3x2 data set, as raw (images, labels) files.
  std::pair<std::string, std::string> Small(bool gz) {
    std::vector<uint8_t> px(5 * 6);
    std::iota(px.begin(), px.end(), uint8_t{0});
    auto img = Idx(kIdxImagesMagic, {5, 3, 2}, px);
    auto lab = Idx(kIdxLabelsMagic, {5}, {0, 9, 3, 3, 1});
    if (gz) return {WriteGz("img.gz", img), WriteGz("lab.gz", lab)};
    return {WriteRaw("img", img), WriteRaw("lab", lab)};
  }

  fs::path dir_;
};

TEST_F(IdxTest, LoadsRealFashionMnist) {
  auto train = LoadFashionMnist(kDataDir, "train", 0);
  ASSERT_TRUE(train.ok()) << train.status().ToString();
  EXPECT_EQ(train->size(), 60000u);
  EXPECT_EQ(train->rows, 28u);
  EXPECT_EQ(train->cols, 28u);
  EXPECT_EQ(train->images.size(), 60000u * 784);
  for (size_t c : LabelCounts(*train)) EXPECT_EQ(c, 6000u);

  auto test = LoadFashionMnist(kDataDir, "test", 0);
  ASSERT_TRUE(test.ok()) << test.status().ToString();
  EXPECT_EQ(test->size(), 10000u);
  for (size_t c : LabelCounts(*test)) EXPECT_EQ(c, 1000u);
  for (uint8_t l : test->labels) EXPECT_LT(l, 10);

  auto part = LoadFashionMnist(kDataDir, "t10k", 100);
  ASSERT_TRUE(part.ok()) << part.status().ToString();
  EXPECT_EQ(part->size(), 100u);
  EXPECT_EQ(part->images.size(), 100u * 784);
  EXPECT_TRUE(std::equal(part->labels.begin(), part->labels.end(), test->labels.begin()));
  EXPECT_TRUE(std::equal(part->images.begin(), part->images.end(), test->images.begin()));

  auto more = LoadFashionMnist(kDataDir, "test", 1'000'000);  // limit above count: all
  ASSERT_TRUE(more.ok());
  EXPECT_EQ(more->size(), 10000u);
}

TEST_F(IdxTest, RawAndGzipGiveTheSameData) {
  for (bool gz : {false, true}) {
    auto [img, lab] = Small(gz);
    auto d = LoadIdxPair(img, lab, 0);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    EXPECT_EQ(d->size(), 5u);
    EXPECT_EQ(d->rows, 3u);
    EXPECT_EQ(d->cols, 2u);
    EXPECT_EQ(d->labels, (std::vector<uint8_t>{0, 9, 3, 3, 1}));
    EXPECT_EQ(d->images[29], 29);
    auto two = LoadIdxPair(img, lab, 2);
    ASSERT_TRUE(two.ok());
    EXPECT_EQ(two->size(), 2u);
    EXPECT_EQ(two->images.size(), 12u);
  }
}

TEST_F(IdxTest, UncompressedFilesByStandardNames) {
  auto test = LoadFashionMnist(kDataDir, "test", 50);
  ASSERT_TRUE(test.ok());
  WriteRaw("t10k-images-idx3-ubyte", Idx(kIdxImagesMagic, {50, 28, 28}, test->images));
  WriteRaw("t10k-labels-idx1-ubyte", Idx(kIdxLabelsMagic, {50}, test->labels));
  auto d = LoadFashionMnist(dir_.string(), "test", 0);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->labels, test->labels);
  EXPECT_EQ(d->images, test->images);
}

void ExpectError(const Result<Dataset>& r, StatusCode code, std::vector<std::string> parts) {
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), code) << r.status().ToString();
  for (const auto& p : parts)
    EXPECT_NE(r.status().message().find(p), std::string::npos)
        << "'" << p << "' not in: " << r.status().ToString();
}

TEST_F(IdxTest, BadMagicNamesFileAndMagic) {
  auto [img, lab] = Small(false);
  ExpectError(LoadIdxPair(lab, img, 0), StatusCode::kCorruption, {img, "bad magic", "0x00000803"});
  auto junk = WriteRaw("junk", {1, 2, 3, 4, 0, 0, 0, 1, 9});
  ExpectError(LoadIdxPair(img, junk, 0), StatusCode::kCorruption, {junk, "bad magic"});
}

TEST_F(IdxTest, TruncatedRawFile) {
  auto [img, lab] = Small(false);
  auto bytes = ReadBytes(img);
  bytes.resize(bytes.size() - 7);
  auto cut = WriteRaw("cut", bytes);
  ExpectError(LoadIdxPair(cut, lab, 0), StatusCode::kCorruption, {cut, "expected"});
  ExpectError(LoadIdxPair(cut, lab, 1), StatusCode::kCorruption, {cut});
  auto hdr = WriteRaw("hdr", {0, 0, 8, 3, 0, 0});
  ExpectError(LoadIdxPair(hdr, lab, 0), StatusCode::kCorruption, {hdr, "truncated"});
  auto empty = WriteRaw("empty", {});
  ExpectError(LoadIdxPair(img, empty, 0), StatusCode::kCorruption, {empty, "truncated"});
}

TEST_F(IdxTest, TrailingBytes) {
  auto [img, lab] = Small(false);
  auto bytes = ReadBytes(lab);
  bytes.push_back(0);
  auto longer = WriteRaw("longer", bytes);
  ExpectError(LoadIdxPair(img, longer, 0), StatusCode::kCorruption, {longer});
  auto gz = WriteGz("longer.gz", bytes);
  ExpectError(LoadIdxPair(img, gz, 0), StatusCode::kCorruption, {gz, "after the last item"});
}

TEST_F(IdxTest, TruncatedAndCorruptGzip) {
  // A real gzip file cut in half, then one with its deflate stream damaged.
  auto bytes = ReadBytes(kDataDir + "/t10k-labels-idx1-ubyte.gz");
  ASSERT_GT(bytes.size(), 1000u);
  auto lab_ok = kDataDir + "/t10k-labels-idx1-ubyte.gz";
  auto img_ok = kDataDir + "/t10k-images-idx3-ubyte.gz";
  std::vector<uint8_t> half(bytes.begin(), bytes.begin() + bytes.size() / 2);
  auto cut = WriteRaw("cut.gz", half);
  ExpectError(LoadIdxPair(img_ok, cut, 0), StatusCode::kCorruption, {cut});

  auto bad = bytes;
  for (size_t i = 100; i < 400; ++i) bad[i] ^= 0x5A;
  auto damaged = WriteRaw("damaged.gz", bad);
  ExpectError(LoadIdxPair(img_ok, damaged, 0), StatusCode::kCorruption, {damaged});

  auto crc = bytes;
  crc[crc.size() - 6] ^= 0xFF;  // the gzip trailer's CRC-32
  auto badcrc = WriteRaw("crc.gz", crc);
  ExpectError(LoadIdxPair(img_ok, badcrc, 0), StatusCode::kCorruption, {badcrc});
}

TEST_F(IdxTest, InvalidHeadersAndContents) {
  auto [img, lab] = Small(false);
  // Label out of range.
  auto l12 = WriteRaw("l12", Idx(kIdxLabelsMagic, {5}, {0, 1, 12, 3, 4}));
  ExpectError(LoadIdxPair(img, l12, 0), StatusCode::kCorruption, {l12, "label 12", "item 2"});
  // Counts differ.
  auto l4 = WriteRaw("l4", Idx(kIdxLabelsMagic, {4}, {0, 1, 2, 3}));
  ExpectError(LoadIdxPair(img, l4, 0), StatusCode::kCorruption, {"5 images", "4 labels"});
  // Absurd sizes are refused before allocating.
  auto huge = WriteRaw("huge", Idx(kIdxImagesMagic, {0xFFFFFFFF, 28, 28}, {}));
  ExpectError(LoadIdxPair(huge, lab, 0), StatusCode::kCorruption, {huge, "count"});
  auto wide = WriteRaw("wide", Idx(kIdxImagesMagic, {5, 100000, 28}, {}));
  ExpectError(LoadIdxPair(wide, lab, 0), StatusCode::kCorruption, {wide, "image size"});
  auto big = WriteRaw("big", Idx(kIdxImagesMagic, {5'000'000, 4096, 4096}, {}));
  ExpectError(LoadIdxPair(big, lab, 0), StatusCode::kResourceExhausted, {big});
  auto zero = WriteRaw("zero", Idx(kIdxImagesMagic, {0, 28, 28}, {}));
  ExpectError(LoadIdxPair(zero, lab, 0), StatusCode::kCorruption, {zero, "count"});
}

TEST_F(IdxTest, MissingFilesAndBadSplit) {
  auto [img, lab] = Small(false);
  std::string none = (dir_ / "nope").string();
  ExpectError(LoadIdxPair(img, none, 0), StatusCode::kNotFound, {none});
  ExpectError(LoadIdxPair(dir_.string(), lab, 0), StatusCode::kInvalidArgument,
              {"not a regular file"});
  ExpectError(LoadFashionMnist(dir_.string(), "train", 0), StatusCode::kNotFound,
              {"train-images-idx3-ubyte", dir_.string()});
  ExpectError(LoadFashionMnist(kDataDir, "validation", 0), StatusCode::kInvalidArgument,
              {"validation"});
}

TEST_F(IdxTest, Subset) {
  auto [img, lab] = Small(false);
  auto d = LoadIdxPair(img, lab, 0);
  ASSERT_TRUE(d.ok());
  std::vector<size_t> idx = {4, 0, 4};
  Dataset s = Subset(*d, idx);
  EXPECT_EQ(s.size(), 3u);
  EXPECT_EQ(s.rows, 3u);
  EXPECT_EQ(s.labels, (std::vector<uint8_t>{1, 0, 1}));
  ASSERT_EQ(s.images.size(), 18u);
  EXPECT_EQ(s.images[0], 24);
  EXPECT_EQ(s.images[6], 0);
  EXPECT_EQ(s.images[17], 29);
  EXPECT_EQ(Subset(*d, {}).size(), 0u);
}

}  // namespace
}  // namespace fedpress

#include "common/byte_io.h"

#include <gtest/gtest.h>

#include "common/checksum.h"

namespace fedpress {
namespace {

TEST(ByteIo, RoundTripsEveryType) {
  std::vector<uint8_t> buf;
  ByteWriter w(&buf);
  w.U8(7);
  w.U16(0xBEEF);
  w.U32(0xDEADBEEF);
  w.U64(0x0123456789ABCDEFull);
  w.I64(-42);
  w.F32(1.5f);
  w.F64(-2.25);
  w.Str("hello");
  ByteReader r(buf);
  EXPECT_EQ(r.U8("a"), 7);
  EXPECT_EQ(r.U16("b"), 0xBEEF);
  EXPECT_EQ(r.U32("c"), 0xDEADBEEFu);
  EXPECT_EQ(r.U64("d"), 0x0123456789ABCDEFull);
  EXPECT_EQ(r.I64("e"), -42);
  EXPECT_EQ(r.F32("f"), 1.5f);
  EXPECT_EQ(r.F64("g"), -2.25);
  EXPECT_EQ(r.Str("h"), "hello");
  EXPECT_TRUE(r.Finish("test").ok());
}

TEST(ByteIo, LittleEndianOnTheWire) {
  std::vector<uint8_t> buf;
  ByteWriter(&buf).U32(0x01020304);
  EXPECT_EQ(buf, (std::vector<uint8_t>{4, 3, 2, 1}));
}

TEST(ByteIo, TruncationNamesTheField) {
  std::vector<uint8_t> buf = {1, 2};
  ByteReader r(buf);
  EXPECT_EQ(r.U32("num_layers"), 0u);
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.error().find("num_layers"), std::string::npos);
  // Sticky: later reads fail too, and the first error is kept.
  EXPECT_EQ(r.U8("other"), 0);
  EXPECT_NE(r.error().find("num_layers"), std::string::npos);
  Status st = r.Finish("header");
  EXPECT_EQ(st.code(), StatusCode::kCorruption);
}

TEST(ByteIo, StringLengthIsBounded) {
  std::vector<uint8_t> buf;
  ByteWriter w(&buf);
  w.U32(1000000);  // claims a megabyte, has nothing
  ByteReader r(buf);
  r.Str("name", 100);
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.error().find("limit"), std::string::npos);
}

TEST(ByteIo, TrailingBytesAreAnError) {
  std::vector<uint8_t> buf = {1, 2, 3};
  ByteReader r(buf);
  r.U8("x");
  EXPECT_FALSE(r.Finish("msg").ok());
}

TEST(Crc32c, KnownVector) {
  // RFC 3720 test vector: 32 bytes of zeros -> 0x8A9136AA.
  std::vector<uint8_t> zeros(32, 0);
  EXPECT_EQ(Crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);
  const char* s = "123456789";
  EXPECT_EQ(Crc32c(s, 9), 0xE3069283u);
  // Incremental equals one-shot.
  EXPECT_EQ(Crc32c(s + 4, 5, Crc32c(s, 4)), 0xE3069283u);
}

TEST(Crc32c, HardwareAndTableVersionsAgree) {
  std::vector<uint8_t> b(10007);
  uint64_t x = 3;
  for (auto& v : b) v = static_cast<uint8_t>((x = x * 6364136223846793005ull + 1442695040888963407ull) >> 56);
  for (size_t n : {0, 1, 7, 8, 9, 100, 10007})
    EXPECT_EQ(Crc32c(b.data(), n), Crc32cPortable(b.data(), n)) << n;
  EXPECT_EQ(Crc32c(b.data() + 3, 500, 1234), Crc32cPortable(b.data() + 3, 500, 1234));
}

}  // namespace
}  // namespace fedpress

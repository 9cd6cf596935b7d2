#include "common/curve_keys.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "tests/temp_dir.h"

namespace fedpress {
namespace {

mode_t ModeOf(const std::string& path) {
  struct stat sb {};
  EXPECT_EQ(::stat(path.c_str(), &sb), 0) << path;
  return sb.st_mode & 0777;
}

TEST(CurveKeys, GeneratedPairIsConsistentAndDistinct) {
  auto a = GenerateCurveKeyPair();
  auto b = GenerateCurveKeyPair();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(IsZ85Key(a->public_key));
  EXPECT_TRUE(IsZ85Key(a->secret_key));
  EXPECT_NE(a->public_key, b->public_key);
  auto derived = CurvePublicKeyOf(a->secret_key);
  ASSERT_TRUE(derived.ok());
  EXPECT_EQ(*derived, a->public_key);
}

TEST(CurveKeys, Z85Validation) {
  EXPECT_FALSE(IsZ85Key(""));
  EXPECT_FALSE(IsZ85Key(std::string(39, 'a')));
  EXPECT_FALSE(IsZ85Key(std::string(41, 'a')));
  EXPECT_FALSE(IsZ85Key(std::string(39, 'a') + " "));   // not in the alphabet
  EXPECT_FALSE(IsZ85Key(std::string(39, 'a') + "\""));
  EXPECT_TRUE(IsZ85Key(std::string(40, 'a')));
  EXPECT_EQ(Z85EncodeKey(std::string(31, 'x')), "");
  EXPECT_EQ(Z85EncodeKey(std::string(32, '\0')).size(), 40u);
}

TEST(CurveKeys, FileRoundTripWithOptionalFields) {
  auto kp = GenerateCurveKeyPair();
  auto server = GenerateCurveKeyPair();
  ASSERT_TRUE(kp.ok() && server.ok());
  CurveKeyFile f{*kp, "edge-0", server->public_key};
  auto parsed = ParseCurveKeyFile(FormatCurveKeyFile(f), "test");
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->keys.public_key, kp->public_key);
  EXPECT_EQ(parsed->keys.secret_key, kp->secret_key);
  EXPECT_EQ(parsed->name, "edge-0");
  EXPECT_EQ(parsed->server_key, server->public_key);
}

TEST(CurveKeys, ParseRefusesBadFilesWithClearMessages) {
  auto kp = GenerateCurveKeyPair();
  auto other = GenerateCurveKeyPair();
  ASSERT_TRUE(kp.ok() && other.ok());
  auto err = [](const std::string& text) {
    auto r = ParseCurveKeyFile(text, "k.key");
    EXPECT_FALSE(r.ok()) << text;
    return r.ok() ? std::string() : r.status().message();
  };
  EXPECT_NE(err("public-key = " + kp->public_key + "\n").find("no secret-key"), std::string::npos);
  EXPECT_NE(err("secret-key = short\n").find("40 Z85"), std::string::npos);
  // A public key that is not the secret key's.
  EXPECT_NE(err("public-key = " + other->public_key + "\nsecret-key = " + kp->secret_key + "\n")
                .find("does not belong"),
            std::string::npos);
  EXPECT_NE(err("secret-key = " + kp->secret_key + "\ncolour = blue\n").find("unknown field"), std::string::npos);
  EXPECT_NE(err("secret-key = " + kp->secret_key + "\nsecret-key = " + kp->secret_key + "\n").find("twice"),
            std::string::npos);
  EXPECT_NE(err("secret-key = " + kp->secret_key + "\nname = bad name!\n").find("name"), std::string::npos);
  EXPECT_NE(err("just text\n").find("line 1"), std::string::npos);
  // The public key may be left out: it is derived.
  auto only_secret = ParseCurveKeyFile("# c\n\nsecret-key = " + kp->secret_key + "\r\n", "k");
  ASSERT_TRUE(only_secret.ok());
  EXPECT_EQ(only_secret->keys.public_key, kp->public_key);
}

TEST(CurveKeys, WrittenWithMode0600AndNeverClobbered) {
  testing::TempDir dir;
  auto kp = GenerateCurveKeyPair();
  ASSERT_TRUE(kp.ok());
  const std::string path = dir.File("sub/client.key");
  ASSERT_TRUE(WriteCurveKeyFile(path, CurveKeyFile{*kp, "", ""}, false).ok());
  EXPECT_EQ(ModeOf(path), 0600u);
  auto again = WriteCurveKeyFile(path, CurveKeyFile{*kp, "", ""}, false);
  EXPECT_EQ(again.code(), StatusCode::kAlreadyExists);
  auto read = ReadCurveKeyFile(path);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(read->keys.secret_key, kp->secret_key);
}

TEST(CurveKeys, ReadRefusesFilesOthersCanRead) {
  testing::TempDir dir;
  auto kp = GenerateCurveKeyPair();
  ASSERT_TRUE(kp.ok());
  const std::string path = dir.File("open.key");
  std::ofstream(path) << FormatCurveKeyFile(CurveKeyFile{*kp, "", ""});
  ::chmod(path.c_str(), 0644);
  auto r = ReadCurveKeyFile(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(r.status().message().find("chmod 600"), std::string::npos);
  EXPECT_EQ(r.status().message().find(kp->secret_key), std::string::npos) << "secret in an error message";
  EXPECT_EQ(ReadCurveKeyFile(dir.File("missing.key")).status().code(), StatusCode::kNotFound);
}

TEST(CurveKeys, LoadOrCreateKeepsTheFirstKey) {
  testing::TempDir dir;
  bool created = false;
  auto first = LoadOrCreateCurveKeyFile(dir.File("server.key"), &created);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_TRUE(created);
  EXPECT_EQ(ModeOf(dir.File("server.key")), 0600u);
  auto second = LoadOrCreateCurveKeyFile(dir.File("server.key"), &created);
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(created);
  EXPECT_EQ(second->keys.public_key, first->keys.public_key);
}

}  // namespace
}  // namespace fedpress

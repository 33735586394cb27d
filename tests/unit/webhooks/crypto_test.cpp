#include "webhooks/crypto.hpp"

#include <string>

#include <gtest/gtest.h>

namespace stagegate::webhooks {
namespace {

// RFC 4231 §4.3, test case 2.
TEST(HmacSha256Test, MatchesRfc4231TestCase2) {
  EXPECT_EQ(ToHex(HmacSha256("Jefe", {"what do ya want for nothing?"})),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(HmacSha256Test, PartsAreConcatenated) {
  EXPECT_EQ(ToHex(HmacSha256("Jefe", {"what do ya ", "", "want for", " nothing?"})),
            ToHex(HmacSha256("Jefe", {"what do ya want for nothing?"})));
}

TEST(HmacSha256Test, DifferentKeysGiveDifferentMacs) {
  EXPECT_NE(ToHex(HmacSha256("Jefe", {"x"})), ToHex(HmacSha256("Jeff", {"x"})));
  EXPECT_NE(ToHex(HmacSha256("", {"x"})), ToHex(HmacSha256("Jefe", {"x"})));
}

TEST(Sha256HexTest, MatchesKnownDigests) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

struct Base64Vector {
  const char* plain;
  const char* encoded;
};

// RFC 4648 §10.
constexpr Base64Vector kRfc4648[] = {
    {"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},     {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
};

TEST(Base64Test, EncodesRfc4648Vectors) {
  for (const auto& v : kRfc4648) {
    EXPECT_EQ(ToBase64(std::string_view(v.plain)), v.encoded) << v.plain;
  }
}

TEST(Base64Test, DecodesRfc4648Vectors) {
  for (const auto& v : kRfc4648) {
    const auto decoded = FromBase64(v.encoded);
    ASSERT_TRUE(decoded) << v.encoded;
    EXPECT_EQ(*decoded, v.plain);
  }
}

TEST(Base64Test, DecodesWithoutPadding) {
  EXPECT_EQ(FromBase64("Zg").value(), "f");
  EXPECT_EQ(FromBase64("Zm9vYmE").value(), "fooba");
}

TEST(Base64Test, RoundTripsBinaryBytes) {
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes.push_back(static_cast<char>(i));
  EXPECT_EQ(FromBase64(ToBase64(bytes)).value(), bytes);
}

TEST(Base64Test, EncodesADigest) {
  const Digest d = HmacSha256("Jefe", {"what do ya want for nothing?"});
  EXPECT_EQ(ToBase64(d), "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=");
}

TEST(Base64Test, FromBase64RejectsCharactersOutsideTheAlphabet) {
  for (const char* bad : {"Zm9v!", "Zm 9v", "Zm9v\n", "Zm-v", "Zm_v", "Z=m9", "Zm9v\xff"}) {
    const auto decoded = FromBase64(bad);
    ASSERT_FALSE(decoded) << bad;
    EXPECT_EQ(decoded.error().code, ErrorCode::kInvalidArgument);
  }
}

TEST(Base64Test, FromBase64RejectsATruncatedQuantum) {
  const auto decoded = FromBase64("Zm9vY");
  ASSERT_FALSE(decoded);
  EXPECT_EQ(decoded.error().code, ErrorCode::kInvalidArgument);
}

TEST(ConstantTimeEqualsTest, ComparesContentAndLength) {
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "ab"));
  EXPECT_FALSE(ConstantTimeEquals("ab", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("", "a"));
  EXPECT_TRUE(ConstantTimeEquals(std::string_view("a\0b", 3), std::string_view("a\0b", 3)));
  EXPECT_FALSE(ConstantTimeEquals(std::string_view("a\0b", 3), std::string_view("a\0c", 3)));
}

}  // namespace
}  // namespace stagegate::webhooks

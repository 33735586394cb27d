#include "orchestrator/core/headers.hpp"

#include <gtest/gtest.h>

namespace stagegate {
namespace {

TEST(HeadersTest, FindHeaderIgnoresCase) {
  const HeaderList headers = {{"Content-Type", "application/json"}, {"retry-after", "2"}};
  EXPECT_EQ(FindHeader(headers, "content-type"), "application/json");
  EXPECT_EQ(FindHeader(headers, "Retry-After"), "2");
  EXPECT_EQ(FindHeader(headers, "X-Missing"), "");
}

TEST(HeadersTest, PercentEncodeKeepsOnlyUnreservedCharacters) {
  EXPECT_EQ(PercentEncode("churn-model_v2.1~a"), "churn-model_v2.1~a");
  EXPECT_EQ(PercentEncode("test (3.10)"), "test%20%283.10%29");
  EXPECT_EQ(PercentEncode("a+b/c?d=e&f"), "a%2Bb%2Fc%3Fd%3De%26f");
  EXPECT_EQ(PercentEncode("\xC3\xA9"), "%C3%A9");  // UTF-8 bytes one by one
  EXPECT_EQ(PercentEncode(""), "");
}

TEST(HeadersTest, Base64EncodeFollowsRfc4648) {
  // The test vectors of RFC 4648 §10.
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("f"), "Zg==");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_EQ(Base64Encode("foo"), "Zm9v");
  EXPECT_EQ(Base64Encode("foob"), "Zm9vYg==");
  EXPECT_EQ(Base64Encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Base64Encode(std::string("\xff\x00\xfe", 3)), "/wD+");
}

}  // namespace
}  // namespace stagegate

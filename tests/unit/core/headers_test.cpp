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

}  // namespace
}  // namespace stagegate

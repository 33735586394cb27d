#include "orchestrator/server/http_types.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace stagegate::server {
namespace {

HttpRequest Target(std::string target) {
  HttpRequest r;
  r.method = "GET";
  r.target = std::move(target);
  return r;
}

TEST(HttpRequestTest, PathDropsTheQuery) {
  EXPECT_EQ(Target("/api/v1/events?limit=5").Path(), "/api/v1/events");
  EXPECT_EQ(Target("/api/v1/events").Path(), "/api/v1/events");
  EXPECT_EQ(Target("/?").Path(), "/");
}

TEST(HttpRequestTest, QueryPercentDecodesValuesAndKeys) {
  const auto r = Target("/e?a=1&b=hello%20world&c=x+y&d&e=%2Fpath%3Fq%3D1&k%20ey=v&u=%C3%A9");
  EXPECT_EQ(r.Query("a"), "1");
  EXPECT_EQ(r.Query("b"), "hello world");
  EXPECT_EQ(r.Query("c"), "x y");
  EXPECT_EQ(r.Query("d"), "");
  EXPECT_EQ(r.Query("e"), "/path?q=1");
  EXPECT_EQ(r.Query("k ey"), "v");
  EXPECT_EQ(r.Query("u"), "\xc3\xa9");
  EXPECT_EQ(r.Query("missing"), "");
}

TEST(HttpRequestTest, QueryReturnsTheFirstOccurrence) {
  EXPECT_EQ(Target("/e?x=1&x=2").Query("x"), "1");
  EXPECT_EQ(Target("/e?xx=1&x=2").Query("x"), "2");
}

TEST(HttpRequestTest, QueryKeepsMalformedEscapes) {
  EXPECT_EQ(Target("/e?a=%zz&b=100%&c=%4").Query("a"), "%zz");
  EXPECT_EQ(Target("/e?a=%zz&b=100%&c=%4").Query("b"), "100%");
  EXPECT_EQ(Target("/e?a=%zz&b=100%&c=%4").Query("c"), "%4");
  EXPECT_EQ(Target("/e?a=%41").Query("a"), "A");
}

TEST(HttpRequestTest, QueryWithoutAQueryStringIsEmpty) {
  EXPECT_EQ(Target("/e").Query("a"), "");
  EXPECT_EQ(Target("/e?").Query("a"), "");
}

TEST(HttpRequestTest, HeadersAreCaseInsensitive) {
  HttpRequest r;
  r.headers = {{"Content-Type", "application/json"}, {"X-Empty", ""}};
  EXPECT_EQ(r.Header("content-type"), "application/json");
  EXPECT_EQ(r.Header("X-Missing"), "");
  EXPECT_TRUE(r.HasHeader("x-empty"));
  EXPECT_FALSE(r.HasHeader("x-missing"));
}

TEST(HttpTypesTest, StatusForMapsEveryErrorCode) {
  EXPECT_EQ(StatusFor(ErrorCode::kInvalidArgument), 400);
  EXPECT_EQ(StatusFor(ErrorCode::kUnauthenticated), 401);
  EXPECT_EQ(StatusFor(ErrorCode::kNotFound), 404);
  EXPECT_EQ(StatusFor(ErrorCode::kConflict), 409);
  EXPECT_EQ(StatusFor(ErrorCode::kTooLarge), 413);
  EXPECT_EQ(StatusFor(ErrorCode::kUnavailable), 503);
  EXPECT_EQ(StatusFor(ErrorCode::kInDoubt), 504);
  EXPECT_EQ(StatusFor(ErrorCode::kInternal), 500);
}

TEST(HttpTypesTest, JsonErrorCarriesStatusAndMessage) {
  const auto r = JsonError(404, "no such \"thing\"");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.content_type, "application/json");
  const auto body = nlohmann::json::parse(r.body);
  EXPECT_EQ(body["error"]["status"], 404);
  EXPECT_EQ(body["error"]["message"], "no such \"thing\"");
}

TEST(HttpTypesTest, JsonErrorSurvivesInvalidUtf8) {
  const auto r = JsonError(400, "bad \xff byte");
  const auto body = nlohmann::json::parse(r.body, nullptr, false);
  ASSERT_FALSE(body.is_discarded()) << r.body;
  EXPECT_EQ(body["error"]["status"], 400);
}

TEST(HttpTypesTest, FromErrorAddsRetryAfterOnlyForUnavailable) {
  const auto busy = FromError(Error{ErrorCode::kUnavailable, "later"});
  EXPECT_EQ(busy.status, 503);
  ASSERT_EQ(busy.headers.size(), 1U);
  EXPECT_EQ(busy.headers[0], (std::pair<std::string, std::string>{"Retry-After", "1"}));
  const auto bad = FromError(Error{ErrorCode::kUnauthenticated, "no"});
  EXPECT_EQ(bad.status, 401);
  EXPECT_TRUE(bad.headers.empty());
}

}  // namespace
}  // namespace stagegate::server

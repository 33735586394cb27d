#include "orchestrator/server/router.hpp"

#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/unit/support/test_support.hpp"

namespace stagegate::server {
namespace {

// Answers with its own name and the path it saw.
class NamedHandler final : public HttpHandler {
 public:
  explicit NamedHandler(std::string name) : name_(std::move(name)) {}
  Awaitable<HttpResponse> Handle(HttpRequest request) const override {
    co_return HttpResponse{.status = 200, .body = name_ + " " + request.target};
  }

 private:
  std::string name_;
};

class RouterTest : public ::testing::Test {
 protected:
  HttpResponse Route(const Router& router, std::string target) {
    HttpRequest request;
    request.method = "GET";
    request.target = std::move(target);
    auto r = test::RunAwaitable(io_, router.Handle(std::move(request)));
    EXPECT_TRUE(r);
    return r ? *r : HttpResponse{.status = 0};
  }
  std::string Who(const Router& router, std::string target) {
    const auto r = Route(router, std::move(target));
    return r.status == 200 ? r.body.substr(0, r.body.find(' ')) : std::to_string(r.status);
  }

  net::io_context io_;
};

TEST_F(RouterTest, MatchesWholeSegmentsOnly) {
  Router router;
  router.Add("/api/v1/events", std::make_shared<NamedHandler>("events"));
  EXPECT_EQ(Who(router, "/api/v1/events"), "events");
  EXPECT_EQ(Who(router, "/api/v1/events/7"), "events");
  EXPECT_EQ(Who(router, "/api/v1/events?limit=2"), "events");
  EXPECT_EQ(Who(router, "/api/v1/eventsx"), "404");
  EXPECT_EQ(Who(router, "/api/v1/event"), "404");
  EXPECT_EQ(Who(router, "/api/v1"), "404");
}

TEST_F(RouterTest, LongestPrefixWinsWhateverTheOrderOfAdd) {
  Router a;
  a.Add("/api", std::make_shared<NamedHandler>("api"));
  a.Add("/api/v1/events", std::make_shared<NamedHandler>("events"));
  Router b;
  b.Add("/api/v1/events", std::make_shared<NamedHandler>("events"));
  b.Add("/api", std::make_shared<NamedHandler>("api"));
  for (const Router* router : {&a, &b}) {
    EXPECT_EQ(Who(*router, "/api/v1/events/3"), "events");
    EXPECT_EQ(Who(*router, "/api/v1/eventsx"), "api");
    EXPECT_EQ(Who(*router, "/api/v1/other"), "api");
    EXPECT_EQ(Who(*router, "/api"), "api");
    EXPECT_EQ(Who(*router, "/apix"), "404");
  }
}

TEST_F(RouterTest, PrefixEndingInSlashMatchesBelowIt) {
  Router router;
  router.Add("/hooks/", std::make_shared<NamedHandler>("hooks"));
  router.Add("/", std::make_shared<NamedHandler>("root"));
  EXPECT_EQ(Who(router, "/hooks/mlflow"), "hooks");
  EXPECT_EQ(Who(router, "/hooks"), "root");
  EXPECT_EQ(Who(router, "/anything/else"), "root");
}

TEST_F(RouterTest, HandlerSeesTheFullTarget) {
  Router router;
  router.Add("/hooks", std::make_shared<NamedHandler>("hooks"));
  EXPECT_EQ(Route(router, "/hooks/ml?x=1").body, "hooks /hooks/ml?x=1");
}

TEST_F(RouterTest, UnmatchedIsAJson404NamingMethodAndPath) {
  Router router;
  router.Add("/metrics", std::make_shared<NamedHandler>("metrics"));
  const auto r = Route(router, "/nothing/here?q=1");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.content_type, "application/json");
  const auto body = nlohmann::json::parse(r.body);
  EXPECT_EQ(body["error"]["message"], "no route for GET /nothing/here");
}

}  // namespace
}  // namespace stagegate::server

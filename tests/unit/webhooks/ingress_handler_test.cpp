#include "webhooks/ingress_handler.hpp"

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/unit/support/test_support.hpp"
#include "webhooks/crypto.hpp"
#include "webhooks/signature.hpp"

namespace stagegate::webhooks {
namespace {

using nlohmann::json;

constexpr std::int64_t kNowMs = 1'700'000'000'500;
constexpr std::int64_t kNowS = kNowMs / 1000;

// Records appends; answers like a store that has `stored_` events, or fails when asked to.
class FakeStore final : public EventStore {
 public:
  struct Call {
    Event event;
    std::chrono::milliseconds window;
  };

  Awaitable<Result<AppendResult>> Append(Event event,
                                         std::chrono::milliseconds dedupe_window) override {
    calls.push_back(Call{std::move(event), dedupe_window});
    if (fail) {
      co_return Fail(ErrorCode::kUnavailable, "event store cannot take the write: disk full");
    }
    co_return AppendResult{.event_id = static_cast<std::int64_t>(calls.size()) + 40,
                           .duplicate = duplicate};
  }
  Result<std::vector<Event>> List(const EventFilter&) override { return std::vector<Event>{}; }
  Result<std::optional<Event>> Get(std::int64_t) override { return std::optional<Event>{}; }
  Result<void> Ready() override { return {}; }

  std::vector<Call> calls;
  bool fail = false;
  bool duplicate = false;
};

class IngressHandlerTest : public ::testing::Test {
 protected:
  IngressHandlerTest() {
    std::vector<EndpointConfig> endpoints;
    EndpointConfig dbx;
    dbx.name = "dbx";
    dbx.scheme = Scheme::kDatabricks;
    dbx.secrets = {Secret{"env:OLD", "old-secret"}, Secret{"env:NEW", "dbx-secret"}};
    dbx.dedupe_window = std::chrono::hours(6);
    endpoints.push_back(dbx);
    EndpointConfig ml;
    ml.name = "ml";
    ml.scheme = Scheme::kMlflow;
    ml.secrets = {Secret{"env:ML", "ml-secret"}};
    endpoints.push_back(ml);
    EndpointConfig gh;
    gh.name = "gh";
    gh.scheme = Scheme::kGithub;
    gh.secrets = {Secret{"env:GH", "gh-secret"}};
    endpoints.push_back(gh);
    handler_ = std::make_unique<IngressHandler>(std::move(endpoints), store_, metrics_,
                                                [] { return kNowMs; });
  }

  server::HttpResponse Send(server::HttpRequest request) {
    auto response = test::RunAwaitable(io_, handler_->Handle(std::move(request)));
    EXPECT_TRUE(response) << "handler did not finish";
    return response ? *response : server::HttpResponse{.status = 0};
  }

  static server::HttpRequest Post(std::string target, HeaderList headers, std::string body) {
    server::HttpRequest r;
    r.method = "POST";
    r.target = std::move(target);
    r.headers = std::move(headers);
    r.body = std::move(body);
    r.remote = "127.0.0.1:5555";
    return r;
  }

  static std::string Message(const server::HttpResponse& r) {
    const json body = json::parse(r.body, nullptr, false);
    if (!body.is_object() || !body.contains("error")) return "<no error object: " + r.body + ">";
    return body["error"].value("message", "<no message>");
  }

  net::io_context io_;
  std::shared_ptr<FakeStore> store_ = std::make_shared<FakeStore>();
  std::shared_ptr<Metrics> metrics_ = std::make_shared<Metrics>();
  std::unique_ptr<IngressHandler> handler_;
};

constexpr std::string_view kDbxBody =
    R"({"event":"TRANSITION_REQUEST_TO_PRODUCTION_CREATED","model_name":"churn","version":"3","event_timestamp":1700000000000})";
constexpr std::string_view kMlBody =
    R"({"entity": "model_version_alias", "action": "created", "timestamp": "2023-11-14T22:13:19.000000+00:00", "data": {"name": "churn", "alias": "champion", "version": "3"}})";

TEST_F(IngressHandlerTest, StoresASignedDatabricksDeliveryWithABodyHashKey) {
  HeaderList headers = SignDelivery(Scheme::kDatabricks, "dbx-secret", "", 0, kDbxBody);
  headers.emplace_back("Authorization", "Bearer shared-token");
  headers.emplace_back("Content-Type", "application/json");
  const auto response = Send(Post("/hooks/dbx", headers, std::string(kDbxBody)));
  ASSERT_EQ(response.status, 200) << response.body;
  const json body = json::parse(response.body);
  EXPECT_EQ(body["event_id"], 41);
  EXPECT_EQ(body["duplicate"], false);
  EXPECT_EQ(body["type"], "transition_request.created");

  ASSERT_EQ(store_->calls.size(), 1U);
  const auto& call = store_->calls[0];
  EXPECT_EQ(call.window, std::chrono::hours(6));
  const Event& e = call.event;
  EXPECT_EQ(e.endpoint, "dbx");
  EXPECT_EQ(e.source, "databricks");
  EXPECT_EQ(e.type, "transition_request.created");
  EXPECT_EQ(e.to_stage, "Production");
  EXPECT_EQ(e.model_name, "churn");
  EXPECT_EQ(e.delivery_id, "");
  EXPECT_EQ(e.dedupe_key, "sha256:" + Sha256Hex(kDbxBody));
  EXPECT_EQ(e.received_at_ms, kNowMs);
  EXPECT_EQ(e.sent_at_ms, 1'700'000'000'000);
  EXPECT_EQ(e.payload, kDbxBody);
  EXPECT_EQ(e.verification.scheme, "databricks");
  EXPECT_EQ(e.verification.secret_index, 1);
  EXPECT_EQ(e.verification.signed_at_s, 0);
  EXPECT_EQ(e.verification.skew_s, 0);
  EXPECT_EQ(FindHeader(e.headers, "X-Databricks-Signature"), "[redacted]");
  EXPECT_EQ(FindHeader(e.headers, "Authorization"), "[redacted]");
  EXPECT_EQ(FindHeader(e.headers, "Content-Type"), "application/json");
  EXPECT_NE(metrics_->Render().find(
                "stagegate_deliveries_total{endpoint=\"dbx\",outcome=\"accepted\"} 1"),
            std::string::npos);
}

TEST_F(IngressHandlerTest, StoresAnMlflowDeliveryKeyedByItsIdWithoutWindow) {
  const auto headers = SignDelivery(Scheme::kMlflow, "ml-secret", "d-42", kNowS - 7, kMlBody);
  const auto response = Send(Post("/hooks/ml", headers, std::string(kMlBody)));
  ASSERT_EQ(response.status, 200) << response.body;
  ASSERT_EQ(store_->calls.size(), 1U);
  const auto& call = store_->calls[0];
  EXPECT_EQ(call.window, std::chrono::milliseconds(0));
  EXPECT_EQ(call.event.dedupe_key, "id:d-42");
  EXPECT_EQ(call.event.delivery_id, "d-42");
  EXPECT_EQ(call.event.type, "model_version_alias.created");
  EXPECT_EQ(call.event.alias, "champion");
  EXPECT_EQ(call.event.verification.signed_at_s, kNowS - 7);
  EXPECT_EQ(call.event.verification.skew_s, 7);
  EXPECT_EQ(call.event.verification.secret_index, 0);
}

TEST_F(IngressHandlerTest, ReportsDuplicatesFromTheStore) {
  store_->duplicate = true;
  const auto headers = SignDelivery(Scheme::kMlflow, "ml-secret", "d-1", kNowS, kMlBody);
  const auto response = Send(Post("/hooks/ml", headers, std::string(kMlBody)));
  ASSERT_EQ(response.status, 200);
  EXPECT_EQ(json::parse(response.body)["duplicate"], true);
  EXPECT_NE(metrics_->Render().find(
                "stagegate_deliveries_total{endpoint=\"ml\",outcome=\"duplicate\"} 1"),
            std::string::npos);
}

TEST_F(IngressHandlerTest, BadSignatureIs401AndNothingIsStored) {
  const auto headers = SignDelivery(Scheme::kDatabricks, "wrong-secret", "", 0, kDbxBody);
  const auto response = Send(Post("/hooks/dbx", headers, std::string(kDbxBody)));
  EXPECT_EQ(response.status, 401);
  EXPECT_EQ(response.content_type, "application/json");
  EXPECT_EQ(Message(response),
            "X-Databricks-Signature does not match the body under any configured secret");
  EXPECT_TRUE(store_->calls.empty());
  EXPECT_NE(metrics_->Render().find(
                "stagegate_deliveries_total{endpoint=\"dbx\",outcome=\"unauthorized\"} 1"),
            std::string::npos);
}

TEST_F(IngressHandlerTest, SignedButUnmappableBodyIs400) {
  const std::string body = R"({"event":"MODEL_VERSION_CREATED"})";
  const auto headers = SignDelivery(Scheme::kDatabricks, "dbx-secret", "", 0, body);
  const auto response = Send(Post("/hooks/dbx", headers, body));
  EXPECT_EQ(response.status, 400);
  EXPECT_EQ(Message(response), "body.model_name is required for MODEL_VERSION_CREATED");
  EXPECT_TRUE(store_->calls.empty());
}

TEST_F(IngressHandlerTest, StoreUnavailableIs503WithRetryAfter) {
  store_->fail = true;
  const auto headers = SignDelivery(Scheme::kMlflow, "ml-secret", "d-1", kNowS, kMlBody);
  const auto response = Send(Post("/hooks/ml", headers, std::string(kMlBody)));
  EXPECT_EQ(response.status, 503);
  EXPECT_NE(Message(response).find("disk full"), std::string::npos) << response.body;
  bool retry_after = false;
  for (const auto& [name, value] : response.headers) {
    retry_after = retry_after || (name == "Retry-After" && value == "1");
  }
  EXPECT_TRUE(retry_after);
}

TEST_F(IngressHandlerTest, GithubPingIsAnsweredButNotStored) {
  const std::string body = R"({"zen":"Design for failure.","hook_id":9})";
  HeaderList headers = SignDelivery(Scheme::kGithub, "gh-secret", "g-1", 0, body);
  for (auto& [name, value] : headers) {
    if (name == "X-GitHub-Event") value = "ping";
  }
  const auto response = Send(Post("/hooks/gh", headers, body));
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(json::parse(response.body)["ping"], true);
  EXPECT_TRUE(store_->calls.empty());
}

TEST_F(IngressHandlerTest, UnknownEndpointIs404ListingTheConfiguredOnes) {
  for (const std::string target : {"/hooks/nope", "/hooks/ml/extra", "/hooks/", "/other/ml"}) {
    const auto response = Send(Post(target, {}, "{}"));
    EXPECT_EQ(response.status, 404) << target;
    EXPECT_NE(Message(response).find("configured endpoints: dbx, gh, ml"), std::string::npos)
        << target << ": " << response.body;
  }
  EXPECT_TRUE(store_->calls.empty());
}

TEST_F(IngressHandlerTest, QueryStringDoesNotChangeTheEndpoint) {
  const auto headers = SignDelivery(Scheme::kMlflow, "ml-secret", "d-q", kNowS, kMlBody);
  const auto response = Send(Post("/hooks/ml?source=test", headers, std::string(kMlBody)));
  EXPECT_EQ(response.status, 200) << response.body;
}

TEST_F(IngressHandlerTest, OtherMethodsAre405WithAllowPost) {
  for (const std::string method : {"GET", "PUT", "DELETE"}) {
    server::HttpRequest request = Post("/hooks/ml", {}, "");
    request.method = method;
    const auto response = Send(request);
    EXPECT_EQ(response.status, 405) << method;
    EXPECT_NE(Message(response).find("POST"), std::string::npos) << response.body;
    ASSERT_EQ(response.headers.size(), 1U);
    EXPECT_EQ(response.headers[0].first, "Allow");
    EXPECT_EQ(response.headers[0].second, "POST");
  }
  EXPECT_TRUE(store_->calls.empty());
}

}  // namespace
}  // namespace stagegate::webhooks

#include "orchestrator/registry/webhook_admin.hpp"

#include <algorithm>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "orchestrator/registry/registry_errors.hpp"
#include "tests/unit/support/recording_transport.hpp"

namespace stagegate::registry {
namespace {

using nlohmann::json;

using RecordingTransport = test::RecordingTransport;

class WebhookAdminTest : public ::testing::Test {
 protected:
  WebhookAdmin Admin(RegistryDialect dialect) { return WebhookAdmin(dialect, transport_); }
  const RegistryRequest& Last() const { return transport_->requests.back(); }
  json LastBody() const { return json::parse(Last().body); }

  std::shared_ptr<RecordingTransport> transport_ = std::make_shared<RecordingTransport>();
};

constexpr const char* kDatabricksHook = R"({"webhook": {"id": "8d7fc634e624474f9bbfde960fdf354c",
  "model_name": "churn", "events": ["TRANSITION_REQUEST_CREATED", "MODEL_VERSION_CREATED"],
  "status": "ACTIVE", "description": "stagegate",
  "http_url_spec": {"url": "https://ci.example.com/hooks/databricks", "enable_ssl_verification": true},
  "creation_timestamp": 1700000000000, "last_updated_timestamp": 1700000000500}})";

constexpr const char* kMlflowHook = R"({"webhook": {"webhook_id": "a1b2", "name": "stagegate-churn",
  "url": "http://127.0.0.1:8080/hooks/mlflow", "status": "ACTIVE", "description": "ci",
  "events": [{"entity": "MODEL_VERSION", "action": "CREATED"},
             {"entity": "MODEL_VERSION_ALIAS", "action": "CREATED"}],
  "creation_timestamp": 1700000000000, "last_updated_timestamp": 1700000000000}})";

// -- Databricks (protocols.md §1.4) ----------------------------------------------------------

TEST_F(WebhookAdminTest, DatabricksCreatePostsTheHttpUrlSpecAndReadsTheWebhook) {
  transport_->Answer(200, kDatabricksHook);
  auto admin = Admin(RegistryDialect::kDatabricks);
  auto hook =
      admin.Create(WebhookSpec{.model_name = "churn",
                               .events = {"TRANSITION_REQUEST_CREATED", "MODEL_VERSION_CREATED"},
                               .url = "https://ci.example.com/hooks/databricks",
                               .secret = "s3cret",
                               .authorization = "Bearer for-stagegate",
                               .status = "TEST_MODE",
                               .description = "stagegate"});
  ASSERT_TRUE(hook) << hook.error().message;
  EXPECT_EQ(Last().method, "POST");
  EXPECT_EQ(Last().path, "/api/2.0/mlflow/registry-webhooks/create");
  EXPECT_EQ(LastBody(), (json{{"events", {"TRANSITION_REQUEST_CREATED", "MODEL_VERSION_CREATED"}},
                              {"model_name", "churn"},
                              {"http_url_spec",
                               {{"url", "https://ci.example.com/hooks/databricks"},
                                {"secret", "s3cret"},
                                {"authorization", "Bearer for-stagegate"}}},
                              {"description", "stagegate"},
                              {"status", "TEST_MODE"}}));
  EXPECT_EQ(hook->id, "8d7fc634e624474f9bbfde960fdf354c");
  EXPECT_EQ(hook->model_name, "churn");
  EXPECT_EQ(hook->events,
            (std::vector<std::string>{"TRANSITION_REQUEST_CREATED", "MODEL_VERSION_CREATED"}));
  EXPECT_EQ(hook->status, "ACTIVE");
  EXPECT_EQ(hook->url, "https://ci.example.com/hooks/databricks");
  EXPECT_EQ(hook->description, "stagegate");
  EXPECT_EQ(hook->creation_ms, 1700000000000);
  EXPECT_EQ(hook->last_updated_ms, 1700000000500);
  EXPECT_TRUE(hook->name.empty());
}

TEST_F(WebhookAdminTest, DatabricksRegistryWideCreateLeavesOutEmptyFields) {
  transport_->Answer(200, R"({"webhook": {"id": "w2", "events": ["REGISTERED_MODEL_CREATED"],
    "status": "ACTIVE", "http_url_spec": {"url": "https://x/hooks/databricks"}}})");
  auto hook = Admin(RegistryDialect::kDatabricks)
                  .Create(WebhookSpec{.events = {"REGISTERED_MODEL_CREATED"},
                                      .url = "https://x/hooks/databricks"});
  ASSERT_TRUE(hook) << hook.error().message;
  EXPECT_EQ(LastBody(), (json{{"events", {"REGISTERED_MODEL_CREATED"}},
                              {"http_url_spec", {{"url", "https://x/hooks/databricks"}}}}));
  EXPECT_TRUE(hook->model_name.empty()) << "registry-wide";
}

TEST_F(WebhookAdminTest, DatabricksJobWebhooksListWithTheirJobIdAndStringTimestamps) {
  // proto3 JSON writes int64 as strings; both spellings are read.
  transport_->Answer(200, R"({"webhooks": [{"id": "j1", "model_name": "churn",
    "events": ["MODEL_VERSION_CREATED"], "status": "ACTIVE", "creation_timestamp": "1700000000000",
    "job_spec": {"job_id": "1234", "workspace_url": "https://other"}}]})");
  auto hooks = Admin(RegistryDialect::kDatabricks).List("churn");
  ASSERT_TRUE(hooks) << hooks.error().message;
  ASSERT_EQ(hooks->size(), 1U);
  EXPECT_EQ((*hooks)[0].job_id, "1234");
  EXPECT_TRUE((*hooks)[0].url.empty());
  EXPECT_EQ((*hooks)[0].creation_ms, 1700000000000);
}

TEST_F(WebhookAdminTest, DatabricksModelListNeverIncludesARegistryWideWebhook) {
  transport_->Answer(200, R"({"webhooks": [{"id": "m1", "model_name": "churn"},
    {"id": "all", "events": ["REGISTERED_MODEL_CREATED"]}, {"id": "m2", "model_name": "other"}]})");
  auto hooks = Admin(RegistryDialect::kDatabricks).List("churn");
  ASSERT_TRUE(hooks) << hooks.error().message;
  ASSERT_EQ(hooks->size(), 1U) << "delete --model --all must not reach a webhook of all models";
  EXPECT_EQ((*hooks)[0].id, "m1");
}

TEST_F(WebhookAdminTest, DatabricksListFollowsPageTokensWithTheModelFilter) {
  transport_->Answer(
      200,
      R"({"webhooks": [{"id": "w1", "model_name": "churn model", "events": ["MODEL_VERSION_CREATED"]}],
                              "next_page_token": "tok/1"})");
  transport_->Answer(
      200,
      R"({"webhooks": [{"id": "w2", "model_name": "churn model", "events": ["COMMENT_CREATED"]}],
                              "next_page_token": "tok2"})");
  transport_->Answer(200, R"({"webhooks": [{"id": "w3", "model_name": "churn model"}]})");
  auto hooks = Admin(RegistryDialect::kDatabricks).List("churn model");
  ASSERT_TRUE(hooks) << hooks.error().message;
  ASSERT_EQ(transport_->requests.size(), 3U);
  EXPECT_EQ(transport_->requests[0].method, "GET");
  EXPECT_EQ(transport_->requests[0].path,
            "/api/2.0/mlflow/registry-webhooks/list?model_name=churn%20model");
  EXPECT_EQ(transport_->requests[1].path,
            "/api/2.0/mlflow/registry-webhooks/list?model_name=churn%20model&page_token=tok%2F1");
  EXPECT_EQ(transport_->requests[2].path,
            "/api/2.0/mlflow/registry-webhooks/list?model_name=churn%20model&page_token=tok2");
  EXPECT_TRUE(transport_->requests[0].body.empty());
  ASSERT_EQ(hooks->size(), 3U);
  EXPECT_EQ((*hooks)[0].id, "w1");
  EXPECT_EQ((*hooks)[1].events, std::vector<std::string>{"COMMENT_CREATED"});
  EXPECT_EQ((*hooks)[2].id, "w3");
}

TEST_F(WebhookAdminTest, ListWithoutAModelAndAnEmptyAnswer) {
  transport_->Answer(200, "{}");  // proto3 JSON leaves the empty list out
  auto none = Admin(RegistryDialect::kDatabricks).List();
  ASSERT_TRUE(none) << none.error().message;
  EXPECT_TRUE(none->empty());
  EXPECT_EQ(Last().path, "/api/2.0/mlflow/registry-webhooks/list");
  transport_->Answer(200, "");
  auto empty_body = Admin(RegistryDialect::kMlflow).List();
  ASSERT_TRUE(empty_body) << empty_body.error().message;
  EXPECT_TRUE(empty_body->empty());
  EXPECT_EQ(Last().path, "/api/2.0/mlflow/webhooks");
}

TEST_F(WebhookAdminTest, ListStopsOnARepeatedPageToken) {
  transport_->Answer(200, R"({"webhooks": [{"id": "w1"}], "next_page_token": "same"})");
  transport_->Answer(200, R"({"webhooks": [{"id": "w2"}], "next_page_token": "same"})");
  auto looping = Admin(RegistryDialect::kDatabricks).List();
  ASSERT_FALSE(looping);
  EXPECT_EQ(looping.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(looping.error().message,
            "databricks registry: list webhooks answered page token 'same' twice");
  EXPECT_EQ(transport_->requests.size(), 2U);
}

TEST_F(WebhookAdminTest, DatabricksUpdatePatchesOnlyTheChanges) {
  transport_->Answer(200, kDatabricksHook);
  auto admin = Admin(RegistryDialect::kDatabricks);
  auto hook = admin.Update("8d7f", WebhookChanges{.status = "DISABLED", .description = "paused"});
  ASSERT_TRUE(hook) << hook.error().message;
  EXPECT_EQ(Last().method, "PATCH");
  EXPECT_EQ(Last().path, "/api/2.0/mlflow/registry-webhooks/update");
  EXPECT_EQ(LastBody(), (json{{"id", "8d7f"}, {"status", "DISABLED"}, {"description", "paused"}}));

  transport_->Answer(200, kDatabricksHook);
  ASSERT_TRUE(
      admin.Update("8d7f", WebhookChanges{.events = std::vector<std::string>{"COMMENT_CREATED"},
                                          .url = "https://new/hooks/databricks",
                                          .secret = "rotated"}));
  EXPECT_EQ(
      LastBody(),
      (json{{"id", "8d7f"},
            {"http_url_spec", {{"url", "https://new/hooks/databricks"}, {"secret", "rotated"}}},
            {"events", {"COMMENT_CREATED"}}}));
}

TEST_F(WebhookAdminTest, DatabricksUpdateRefusesAUrlWithoutItsSecretAndANameAndNothing) {
  auto admin = Admin(RegistryDialect::kDatabricks);
  auto url_only = admin.Update("w1", WebhookChanges{.url = "https://new"});
  ASSERT_FALSE(url_only);
  EXPECT_EQ(url_only.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(url_only.error().message.find("change together"), std::string::npos);
  auto secret_only = admin.Update("w1", WebhookChanges{.secret = "s"});
  ASSERT_FALSE(secret_only);
  auto named = admin.Update("w1", WebhookChanges{.name = "n"});
  ASSERT_FALSE(named);
  EXPECT_NE(named.error().message.find("no name"), std::string::npos);
  auto nothing = admin.Update("w1", WebhookChanges{});
  ASSERT_FALSE(nothing);
  EXPECT_EQ(nothing.error().message, "databricks registry: update webhook w1: nothing to change");
  auto no_id = admin.Update("", WebhookChanges{.status = "ACTIVE"});
  ASSERT_FALSE(no_id);
  EXPECT_TRUE(transport_->requests.empty()) << "refused calls send nothing";
}

TEST_F(WebhookAdminTest, DatabricksDeleteSendsTheIdAsAQueryParameter) {
  transport_->Answer(200, "{}");
  ASSERT_TRUE(Admin(RegistryDialect::kDatabricks).Delete("8d7f c6"));
  EXPECT_EQ(Last().method, "DELETE");
  EXPECT_EQ(Last().path, "/api/2.0/mlflow/registry-webhooks/delete?id=8d7f%20c6");
  EXPECT_TRUE(Last().body.empty());
}

TEST_F(WebhookAdminTest, DatabricksTestParsesAllThreePublishedResponseShapes) {
  auto admin = Admin(RegistryDialect::kDatabricks);
  // The current SDK (TestRegistryWebhookResponse): top-level status_code and body.
  transport_->Answer(200, R"({"status_code": 200, "body": "{\"event_id\":7}"})");
  auto now = admin.Test("w1", "MODEL_VERSION_CREATED");
  ASSERT_TRUE(now) << now.error().message;
  EXPECT_EQ(Last().method, "POST");
  EXPECT_EQ(Last().path, "/api/2.0/mlflow/registry-webhooks/test");
  EXPECT_EQ(LastBody(), (json{{"id", "w1"}, {"event", "MODEL_VERSION_CREATED"}}));
  EXPECT_EQ(now->status, 200);
  EXPECT_EQ(now->body, R"({"event_id":7})");
  EXPECT_TRUE(now->success);

  // The SDK before 2025-07: {"webhook": {"status_code", "body"}}.
  transport_->Answer(200, R"({"webhook": {"status_code": 401, "body": "bad signature"}})");
  auto before = admin.Test("w1");
  ASSERT_TRUE(before) << before.error().message;
  EXPECT_EQ(LastBody(), (json{{"id", "w1"}})) << "no event: the registry picks one";
  EXPECT_EQ(before->status, 401);
  EXPECT_EQ(before->body, "bad signature");
  EXPECT_FALSE(before->success);

  // The docs' example: {"status": 200, "body": "OK"}.
  transport_->Answer(200, R"({"status": 200, "body": "OK"})");
  auto docs = admin.Test("w1");
  ASSERT_TRUE(docs) << docs.error().message;
  EXPECT_EQ(docs->status, 200);
  EXPECT_EQ(docs->body, "OK");
  EXPECT_TRUE(docs->success);

  transport_->Answer(200, R"({"something": "else"})");
  auto neither = admin.Test("w1");
  ASSERT_FALSE(neither);
  EXPECT_EQ(neither.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(neither.error().message,
            "databricks registry: test webhook answered without 'status_code'");
}

// -- MLflow 3.x (protocols.md §3.6) ----------------------------------------------------------

TEST_F(WebhookAdminTest, MlflowCreateSendsEntityActionEventsAndReadsThemBack) {
  transport_->Answer(200, kMlflowHook);
  auto admin = Admin(RegistryDialect::kMlflow);
  auto hook =
      admin.Create(WebhookSpec{.name = "stagegate-churn",
                               .events = {"model_version.created", "model_version_alias.created"},
                               .url = "http://127.0.0.1:8080/hooks/mlflow",
                               .secret = "s3cret",
                               .description = "ci"});
  ASSERT_TRUE(hook) << hook.error().message;
  EXPECT_EQ(Last().method, "POST");
  EXPECT_EQ(Last().path, "/api/2.0/mlflow/webhooks");
  EXPECT_EQ(LastBody(), (json{{"name", "stagegate-churn"},
                              {"url", "http://127.0.0.1:8080/hooks/mlflow"},
                              {"events",
                               {{{"entity", "MODEL_VERSION"}, {"action", "CREATED"}},
                                {{"entity", "MODEL_VERSION_ALIAS"}, {"action", "CREATED"}}}},
                              {"secret", "s3cret"},
                              {"description", "ci"}}));
  EXPECT_EQ(hook->id, "a1b2");
  EXPECT_EQ(hook->name, "stagegate-churn");
  EXPECT_TRUE(hook->model_name.empty());
  EXPECT_EQ(hook->events,
            (std::vector<std::string>{"model_version.created", "model_version_alias.created"}));
  EXPECT_EQ(hook->url, "http://127.0.0.1:8080/hooks/mlflow");
  EXPECT_EQ(hook->creation_ms, 1700000000000);
}

TEST_F(WebhookAdminTest, MlflowEventsReadInEitherSpelling) {
  transport_->Answer(200, R"({"webhooks": [{"webhook_id": "x", "name": "n",
    "events": ["model_version_tag.set", {"entity": "model_version", "action": "created"}]}]})");
  auto hooks = Admin(RegistryDialect::kMlflow).List();
  ASSERT_TRUE(hooks) << hooks.error().message;
  ASSERT_EQ(hooks->size(), 1U);
  EXPECT_EQ((*hooks)[0].events,
            (std::vector<std::string>{"model_version_tag.set", "model_version.created"}));
}

TEST_F(WebhookAdminTest, MlflowCreateRefusesWhatMlflowCannotTake) {
  auto admin = Admin(RegistryDialect::kMlflow);
  auto unnamed = admin.Create(WebhookSpec{.events = {"model_version.created"}, .url = "http://x"});
  ASSERT_FALSE(unnamed);
  EXPECT_EQ(unnamed.error().message, "mlflow registry: MLflow webhooks need a name");
  auto bad_event = admin.Create(
      WebhookSpec{.name = "n", .events = {"MODEL_VERSION_CREATED"}, .url = "http://x"});
  ASSERT_FALSE(bad_event);
  EXPECT_NE(bad_event.error().message.find("is not entity.action"), std::string::npos);
  auto authorization = admin.Create(WebhookSpec{.name = "n",
                                                .events = {"model_version.created"},
                                                .url = "http://x",
                                                .authorization = "Bearer t"});
  ASSERT_FALSE(authorization);
  auto no_url = admin.Create(WebhookSpec{.name = "n", .events = {"model_version.created"}});
  ASSERT_FALSE(no_url);
  EXPECT_EQ(no_url.error().code, ErrorCode::kInvalidArgument);
  EXPECT_TRUE(transport_->requests.empty());
}

TEST_F(WebhookAdminTest, MlflowListFollowsNextPageTokenAndFiltersAModelByName) {
  transport_->Answer(200, R"({"webhooks": [{"webhook_id": "1", "name": "stagegate-churn"},
                                           {"webhook_id": "2", "name": "slack"}],
                              "next_page_token": "100"})");
  transport_->Answer(200, R"({"webhooks": [{"webhook_id": "3", "name": "stagegate-churn"},
                                           {"webhook_id": "4", "name": "stagegate-churn-v2"}]})");
  auto hooks = Admin(RegistryDialect::kMlflow).List("churn");
  ASSERT_TRUE(hooks) << hooks.error().message;
  ASSERT_EQ(transport_->requests.size(), 2U);
  EXPECT_EQ(transport_->requests[0].method, "GET");
  EXPECT_EQ(transport_->requests[0].path, "/api/2.0/mlflow/webhooks");
  EXPECT_EQ(transport_->requests[1].path, "/api/2.0/mlflow/webhooks?page_token=100");
  ASSERT_EQ(hooks->size(), 2U) << "MLflow webhooks have no model: stagegate-<model> names them";
  EXPECT_EQ((*hooks)[0].id, "1");
  EXPECT_EQ((*hooks)[1].id, "3");
}

TEST_F(WebhookAdminTest, MlflowUpdatePatchesThePathId) {
  transport_->Answer(200, kMlflowHook);
  auto admin = Admin(RegistryDialect::kMlflow);
  auto hook = admin.Update(
      "a1/b2", WebhookChanges{.name = "renamed",
                              .events = std::vector<std::string>{"model_version_tag.set"},
                              .secret = "rotated",
                              .status = "DISABLED",
                              .description = "off"});
  ASSERT_TRUE(hook) << hook.error().message;
  EXPECT_EQ(Last().method, "PATCH");
  EXPECT_EQ(Last().path, "/api/2.0/mlflow/webhooks/a1%2Fb2");
  EXPECT_EQ(LastBody(), (json{{"name", "renamed"},
                              {"secret", "rotated"},
                              {"events", {{{"entity", "MODEL_VERSION_TAG"}, {"action", "SET"}}}},
                              {"status", "DISABLED"},
                              {"description", "off"}}));
  EXPECT_EQ(hook->id, "a1b2");
  transport_->Answer(200, kMlflowHook);
  ASSERT_TRUE(admin.Update("a1b2", WebhookChanges{.url = "https://moved/hooks/mlflow"}))
      << "MLflow takes a URL alone";
  EXPECT_EQ(LastBody(), (json{{"url", "https://moved/hooks/mlflow"}}));
}

TEST_F(WebhookAdminTest, MlflowDeleteUsesThePathId) {
  transport_->Answer(200, "{}");
  ASSERT_TRUE(Admin(RegistryDialect::kMlflow).Delete("a1b2"));
  EXPECT_EQ(Last().method, "DELETE");
  EXPECT_EQ(Last().path, "/api/2.0/mlflow/webhooks/a1b2");
  EXPECT_TRUE(Last().body.empty());
}

TEST_F(WebhookAdminTest, MlflowTestReadsTheResult) {
  auto admin = Admin(RegistryDialect::kMlflow);
  transport_->Answer(200, R"({"result": {"success": true, "response_status": 200,
                              "response_body": "{\"event_id\":3}"}})");
  auto ok = admin.Test("a1b2", "model_version_alias.created");
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(Last().method, "POST");
  EXPECT_EQ(Last().path, "/api/2.0/mlflow/webhooks/a1b2/test");
  EXPECT_EQ(LastBody(),
            (json{{"event", {{"entity", "MODEL_VERSION_ALIAS"}, {"action", "CREATED"}}}}));
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(ok->body, R"({"event_id":3})");
  EXPECT_TRUE(ok->success);

  transport_->Answer(200, R"({"result": {"success": false,
                              "error_message": "ConnectionError: connection refused"}})");
  auto down = admin.Test("a1b2");
  ASSERT_TRUE(down) << down.error().message;
  EXPECT_EQ(LastBody(), json::object()) << "no event: MLflow uses the webhook's first";
  EXPECT_EQ(down->status, 0);
  EXPECT_FALSE(down->success);
  EXPECT_EQ(down->error, "ConnectionError: connection refused");

  transport_->Answer(200, R"({"result": {"response_status": 500, "response_body": "boom"}})");
  auto failed = admin.Test("a1b2");
  ASSERT_TRUE(failed);
  EXPECT_FALSE(failed->success) << "without MLflow's verdict, a 2xx is a success";

  transport_->Answer(200, "{}");
  auto missing = admin.Test("a1b2");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message, "mlflow registry: test webhook answered without 'result'");
}

// -- errors, as RestRegistryClient maps them -------------------------------------------------

TEST_F(WebhookAdminTest, ErrorBodiesMapToErrorCodesWithTheRegistrysMessage) {
  struct Case {
    RegistryDialect dialect;
    int status;
    const char* body;
    ErrorCode code;
    const char* message;
  };
  const Case cases[] = {
      {RegistryDialect::kDatabricks, 404,
       R"({"error_code":"RESOURCE_DOES_NOT_EXIST","message":"Registry webhook with id w9 does not exist."})",
       ErrorCode::kNotFound,
       "databricks registry: delete webhook failed: RESOURCE_DOES_NOT_EXIST: Registry webhook with "
       "id w9 does not exist. (HTTP 404 on DELETE /api/2.0/mlflow/registry-webhooks/delete)"},
      {RegistryDialect::kMlflow, 404,
       R"({"error_code":"RESOURCE_DOES_NOT_EXIST","message":"Webhook with ID w9 not found."})",
       ErrorCode::kNotFound,
       "mlflow registry: delete webhook failed: RESOURCE_DOES_NOT_EXIST: Webhook with ID w9 not "
       "found. (HTTP 404 on DELETE /api/2.0/mlflow/webhooks/w9)"},
      {RegistryDialect::kDatabricks, 400,
       R"({"error_code":"INVALID_PARAMETER_VALUE","message":"bad"})", ErrorCode::kInvalidArgument,
       nullptr},
      {RegistryDialect::kDatabricks, 403,
       R"({"error_code":"PERMISSION_DENIED","message":"CAN_MANAGE needed"})",
       ErrorCode::kUnauthenticated, nullptr},
      {RegistryDialect::kMlflow, 401,
       R"({"error_code":"UNAUTHENTICATED","message":"Invalid access token."})",
       ErrorCode::kUnauthenticated, nullptr},
      {RegistryDialect::kMlflow, 429, R"({"error_code":"REQUEST_LIMIT_EXCEEDED","message":"slow"})",
       ErrorCode::kUnavailable, nullptr},
      {RegistryDialect::kMlflow, 502, "<html>Bad Gateway</html>", ErrorCode::kUnavailable,
       "mlflow registry: delete webhook failed: <html>Bad Gateway</html> (HTTP 502 on DELETE "
       "/api/2.0/mlflow/webhooks/w9)"},
  };
  for (const auto& c : cases) {
    transport_->Answer(c.status, c.body);
    auto r = Admin(c.dialect).Delete("w9");
    ASSERT_FALSE(r) << c.status;
    EXPECT_EQ(r.error().code, c.code) << c.status;
    if (c.message != nullptr) {
      EXPECT_EQ(r.error().message, c.message);
    }
  }
  // Create names its own call, and a 400 on RESOURCE_ALREADY_EXISTS is a conflict.
  transport_->Answer(
      400, R"({"error_code":"RESOURCE_ALREADY_EXISTS","message":"Webhook named n exists."})");
  auto exists =
      Admin(RegistryDialect::kMlflow)
          .Create(WebhookSpec{.name = "n", .events = {"model_version.created"}, .url = "http://x"});
  ASSERT_FALSE(exists);
  EXPECT_EQ(exists.error().code, ErrorCode::kConflict);
  EXPECT_EQ(
      exists.error().message,
      "mlflow registry: create webhook failed: RESOURCE_ALREADY_EXISTS: Webhook named n exists. "
      "(HTTP 400 on POST /api/2.0/mlflow/webhooks)");
  // An error on a later page fails the whole list.
  transport_->Answer(200, R"({"webhooks": [{"id": "w1"}], "next_page_token": "2"})");
  transport_->Answer(503, R"({"error_code":"TEMPORARILY_UNAVAILABLE","message":"later"})");
  auto partial = Admin(RegistryDialect::kDatabricks).List();
  ASSERT_FALSE(partial);
  EXPECT_EQ(partial.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(
      partial.error().message,
      "databricks registry: list webhooks failed: TEMPORARILY_UNAVAILABLE: later (HTTP 503 on "
      "GET /api/2.0/mlflow/registry-webhooks/list)");
}

TEST_F(WebhookAdminTest, TransportFailuresAndGarbledAnswers) {
  auto admin = Admin(RegistryDialect::kDatabricks);
  auto down = admin.Test("w1");  // no canned answer: connection refused
  ASSERT_FALSE(down);
  EXPECT_EQ(down.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(down.error().message, "databricks registry: test webhook failed: connection refused");

  transport_->answers.push_back(Fail(ErrorCode::kInDoubt, "POST https://x failed: end of stream"));
  auto lost = admin.Create(WebhookSpec{.events = {"MODEL_VERSION_CREATED"}, .url = "https://x"});
  ASSERT_FALSE(lost);
  EXPECT_EQ(lost.error().code, ErrorCode::kInDoubt) << "a create whose answer was lost may exist";

  transport_->Answer(200, "not json");
  auto garbled = admin.List();
  ASSERT_FALSE(garbled);
  EXPECT_EQ(garbled.error().message,
            "databricks registry: list webhooks answered with a body that is not a JSON object "
            "(HTTP 200 on GET /api/2.0/mlflow/registry-webhooks/list)");
  transport_->Answer(200, R"({"not_a_webhook": {}})");
  auto missing = admin.Create(WebhookSpec{.events = {"MODEL_VERSION_CREATED"}, .url = "https://x"});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message,
            "databricks registry: create webhook answered without 'webhook'");
}

TEST(RegistryErrorCode, MapsStatusesAndCodesLikeTheRegistryClient) {
  EXPECT_EQ(RegistryErrorCode(404, ""), ErrorCode::kNotFound);
  EXPECT_EQ(RegistryErrorCode(400, "RESOURCE_DOES_NOT_EXIST"), ErrorCode::kNotFound);
  EXPECT_EQ(RegistryErrorCode(401, ""), ErrorCode::kUnauthenticated);
  EXPECT_EQ(RegistryErrorCode(400, "PERMISSION_DENIED"), ErrorCode::kUnauthenticated);
  EXPECT_EQ(RegistryErrorCode(409, ""), ErrorCode::kConflict);
  EXPECT_EQ(RegistryErrorCode(429, ""), ErrorCode::kUnavailable);
  EXPECT_EQ(RegistryErrorCode(500, ""), ErrorCode::kUnavailable);
  EXPECT_EQ(RegistryErrorCode(422, ""), ErrorCode::kInvalidArgument);
}

TEST(WebhookEvents, DefaultsAreKnownEventsOfTheirDialect) {
  for (const auto dialect : {RegistryDialect::kDatabricks, RegistryDialect::kMlflow}) {
    const auto known = KnownWebhookEvents(dialect);
    for (const auto& e : DefaultWebhookEvents(dialect)) {
      EXPECT_NE(std::find(known.begin(), known.end(), e), known.end()) << e;
    }
  }
  EXPECT_EQ(KnownWebhookEvents(RegistryDialect::kDatabricks).size(), 12U);
  EXPECT_EQ(DefaultWebhookEvents(RegistryDialect::kDatabricks),
            (std::vector<std::string>{"TRANSITION_REQUEST_CREATED", "MODEL_VERSION_CREATED"}));
  EXPECT_EQ(DefaultWebhookName("churn"), "stagegate-churn");
  EXPECT_EQ(DefaultWebhookName(""), "stagegate");
}

}  // namespace
}  // namespace stagegate::registry

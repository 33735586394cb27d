#include "orchestrator/registry/rest_registry_client.hpp"
#include "orchestrator/registry/retrying_transport.hpp"

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/unit/support/recording_transport.hpp"

namespace stagegate::registry {
namespace {

using nlohmann::json;

using FakeTransport = test::RecordingTransport;

class RestRegistryClientTest : public ::testing::Test {
 protected:
  RestRegistryClient Client(RegistryDialect dialect) { return RestRegistryClient(dialect, transport_); }
  const RegistryRequest& Last() const { return transport_->requests.back(); }
  json LastBody() const { return json::parse(Last().body); }

  std::shared_ptr<FakeTransport> transport_ = std::make_shared<FakeTransport>();
};

constexpr const char* kActivity = R"({"activity": {"id": "a-1", "activity_type": "APPROVED_REQUEST",
  "from_stage": "Staging", "to_stage": "Production", "comment": "ok", "user_id": "ci@example.com",
  "creation_timestamp": 1700000000000, "last_updated_timestamp": 1700000000000}})";

TEST_F(RestRegistryClientTest, ApproveTransitionPostsTheDatabricksBodyAndReadsTheActivity) {
  transport_->Answer(200, kActivity);
  auto client = Client(RegistryDialect::kDatabricks);
  auto a = client.ApproveTransition("churn", "7", "Production", true, "passed: auc 0.91");
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(Last().method, "POST");
  EXPECT_EQ(Last().path, "/api/2.0/mlflow/transition-requests/approve");
  EXPECT_EQ(LastBody(), (json{{"name", "churn"}, {"version", "7"}, {"stage", "Production"},
                              {"archive_existing_versions", true}, {"comment", "passed: auc 0.91"}}));
  EXPECT_EQ(a->id, "a-1");
  EXPECT_EQ(a->activity_type, "APPROVED_REQUEST");
  EXPECT_EQ(a->to_stage, "Production");
  EXPECT_EQ(a->user_id, "ci@example.com");
  EXPECT_EQ(a->creation_ms, 1700000000000);
}

TEST_F(RestRegistryClientTest, RejectAndCommentAndListTransitionRequests) {
  auto client = Client(RegistryDialect::kDatabricks);
  transport_->Answer(200, R"({"activity": {"id": "a-2", "activity_type": "REJECTED_REQUEST"}})");
  auto r = client.RejectTransition("churn", "7", "Production", "failed: test");
  ASSERT_TRUE(r);
  EXPECT_EQ(Last().path, "/api/2.0/mlflow/transition-requests/reject");
  EXPECT_EQ(LastBody(), (json{{"name", "churn"}, {"version", "7"}, {"stage", "Production"},
                              {"comment", "failed: test"}}));
  EXPECT_EQ(r->activity_type, "REJECTED_REQUEST");

  transport_->Answer(200, R"({"comment": {"id": "c-9", "comment": "evidence", "user_id": "ci"}})");
  auto c = client.CreateComment("churn", "7", "evidence");
  ASSERT_TRUE(c);
  EXPECT_EQ(*c, "c-9");
  EXPECT_EQ(Last().path, "/api/2.0/mlflow/comments/create");

  transport_->Answer(200, R"({"requests": [{"id": "r-1", "activity_type": "REQUESTED_TRANSITION",
                              "to_stage": "Production", "user_id": "alice"}]})");
  auto list = client.ListTransitionRequests("churn model", "7");
  ASSERT_TRUE(list);
  EXPECT_EQ(Last().method, "GET");
  EXPECT_EQ(Last().path, "/api/2.0/mlflow/transition-requests/list?name=churn%20model&version=7");
  EXPECT_TRUE(Last().body.empty());
  ASSERT_EQ(list->size(), 1U);
  EXPECT_EQ((*list)[0].user_id, "alice");
  transport_->Answer(200, "{}");  // nothing open: proto3 JSON leaves the empty list out
  auto none = client.ListTransitionRequests("churn", "7");
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

TEST_F(RestRegistryClientTest, CreateTransitionRequestPostsAndMapsTheOpenRequest) {
  auto client = Client(RegistryDialect::kDatabricks);
  transport_->Answer(200, R"({"request": {"available_actions": ["APPROVE_TRANSITION_REQUEST"],
                              "comment": "ship it", "creation_timestamp": 1700000000000,
                              "to_stage": "Production", "user_id": "alice"}})");
  auto r = client.CreateTransitionRequest("churn", "7", "Production", "ship it");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(Last().method, "POST");
  EXPECT_EQ(Last().path, "/api/2.0/mlflow/transition-requests/create");
  EXPECT_EQ(LastBody(), (json{{"name", "churn"}, {"version", "7"}, {"stage", "Production"},
                              {"comment", "ship it"}}));
  EXPECT_EQ(r->to_stage, "Production");
  EXPECT_EQ(r->user_id, "alice");
  EXPECT_EQ(r->creation_ms, 1700000000000);
  EXPECT_EQ(r->activity_type, "REQUESTED_TRANSITION");

  transport_->Answer(404, R"({"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "Model version churn/9 not found."})");
  auto missing = client.CreateTransitionRequest("churn", "9", "Production", "");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  EXPECT_NE(missing.error().message.find("Model version churn/9 not found."), std::string::npos);

  auto mlflow = Client(RegistryDialect::kMlflow).CreateTransitionRequest("churn", "7", "Production", "");
  ASSERT_FALSE(mlflow);
  EXPECT_EQ(mlflow.error().code, ErrorCode::kInvalidArgument);
}

TEST_F(RestRegistryClientTest, TransitionStageAcceptsBothDatabricksResponseShapes) {
  auto client = Client(RegistryDialect::kDatabricks);
  transport_->Answer(200, R"({"model_version_databricks": {"name": "churn", "version": "7",
                              "current_stage": "Production"}})");
  auto now = client.TransitionStage("churn", "7", "Production", false, "by stagegate");
  ASSERT_TRUE(now) << now.error().message;
  EXPECT_EQ(now->current_stage, "Production");
  EXPECT_EQ(Last().path, "/api/2.0/mlflow/databricks/model-versions/transition-stage");
  EXPECT_EQ(LastBody()["comment"], "by stagegate");
  transport_->Answer(200, R"({"model_version": {"name": "churn", "version": "7", "current_stage": "Staging"}})");
  auto before = client.TransitionStage("churn", "7", "Staging", false, "");
  ASSERT_TRUE(before);
  EXPECT_EQ(before->current_stage, "Staging");
  transport_->Answer(200, R"({"something_else": {}})");
  auto neither = client.TransitionStage("churn", "7", "Staging", false, "");
  ASSERT_FALSE(neither);
  EXPECT_EQ(neither.error().message,
            "databricks registry: transition stage answered without 'model_version'");

  auto mlflow = Client(RegistryDialect::kMlflow);
  transport_->Answer(200, R"({"model_version": {"name": "m", "version": "2", "current_stage": "Archived"}})");
  ASSERT_TRUE(mlflow.TransitionStage("m", "2", "Archived", false, "ignored"));
  EXPECT_EQ(Last().path, "/api/2.0/mlflow/model-versions/transition-stage");
  EXPECT_FALSE(LastBody().contains("comment"));
}

TEST_F(RestRegistryClientTest, ModelVersionsTagsAndRuns) {
  auto client = Client(RegistryDialect::kMlflow);
  transport_->Answer(200, R"({"model_version": {"name": "m", "version": "3", "run_id": "r1",
    "current_stage": "None", "status": "READY", "aliases": ["champion"],
    "tags": [{"key": "validation_status", "value": "passed"}]}})");
  auto v = client.GetModelVersion("m", "3");
  ASSERT_TRUE(v);
  EXPECT_EQ(Last().path, "/api/2.0/mlflow/model-versions/get?name=m&version=3");
  EXPECT_EQ(v->run_id, "r1");
  EXPECT_EQ(v->aliases, std::vector<std::string>{"champion"});
  EXPECT_EQ(v->tags.at("validation_status"), "passed");

  transport_->Answer(200, R"({"model_versions": [{"name": "m", "version": "1", "current_stage": "Production"}]})");
  auto latest = client.LatestVersions("m", {"Production"});
  ASSERT_TRUE(latest);
  EXPECT_EQ(Last().path, "/api/2.0/mlflow/registered-models/get-latest-versions");
  EXPECT_EQ(LastBody(), (json{{"name", "m"}, {"stages", {"Production"}}}));
  ASSERT_EQ(latest->size(), 1U);

  transport_->Answer(200, "{}");
  ASSERT_TRUE(client.SetVersionTag("m", "3", "validation_status", "passed"));
  EXPECT_EQ(LastBody(), (json{{"name", "m"}, {"version", "3"}, {"key", "validation_status"},
                              {"value", "passed"}}));

  // MLflow takes DELETE parameters as a JSON body, Databricks in the query string.
  transport_->Answer(200, "{}");
  ASSERT_TRUE(client.DeleteVersionTag("m", "3", "validation_status"));
  EXPECT_EQ(Last().method, "DELETE");
  EXPECT_EQ(Last().path, "/api/2.0/mlflow/model-versions/delete-tag");
  EXPECT_EQ(LastBody()["key"], "validation_status");
  auto dbx = Client(RegistryDialect::kDatabricks);
  transport_->Answer(200, "{}");
  ASSERT_TRUE(dbx.DeleteVersionTag("m", "3", "a b"));
  EXPECT_EQ(Last().path, "/api/2.0/mlflow/model-versions/delete-tag?name=m&version=3&key=a%20b");
  EXPECT_TRUE(Last().body.empty());

  transport_->Answer(200, R"({"run": {"info": {"run_id": "r1", "status": "FINISHED"},
    "data": {"metrics": [{"key": "auc", "value": 0.91, "timestamp": 1, "step": 0}],
             "params": [{"key": "lr", "value": "0.1"}]}}})");
  auto run = client.GetRun("r1");
  ASSERT_TRUE(run);
  EXPECT_EQ(Last().path, "/api/2.0/mlflow/runs/get?run_id=r1");
  EXPECT_EQ(run->status, "FINISHED");
  EXPECT_DOUBLE_EQ(run->metrics.at("auc"), 0.91);
  EXPECT_EQ(run->params.at("lr"), "0.1");
}

TEST_F(RestRegistryClientTest, AliasesAreAnMlflowFeature) {
  auto client = Client(RegistryDialect::kMlflow);
  transport_->Answer(200, "{}");
  ASSERT_TRUE(client.SetAlias("m", "champion", "3"));
  EXPECT_EQ(Last().path, "/api/2.0/mlflow/registered-models/alias");
  EXPECT_EQ(LastBody(), (json{{"name", "m"}, {"alias", "champion"}, {"version", "3"}}));
  transport_->Answer(200, "{}");
  ASSERT_TRUE(client.DeleteAlias("m", "champion"));
  EXPECT_EQ(Last().method, "DELETE");
  EXPECT_EQ(LastBody(), (json{{"name", "m"}, {"alias", "champion"}}));

  transport_->Answer(200, R"({"model_version": {"name": "m", "version": "3"}})");
  auto found = client.GetVersionByAlias("m", "champion");
  ASSERT_TRUE(found && found->has_value());
  EXPECT_EQ((*found)->version, "3");
  EXPECT_EQ(Last().path, "/api/2.0/mlflow/registered-models/alias?name=m&alias=champion");
  transport_->Answer(404, R"({"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "alias not found"})");
  auto missing = client.GetVersionByAlias("m", "champion");
  ASSERT_TRUE(missing);
  EXPECT_FALSE(missing->has_value()) << "an alias that is not set is a value, not an error";

  auto dbx = Client(RegistryDialect::kDatabricks);
  const std::size_t calls = transport_->requests.size();
  auto refused = dbx.SetAlias("m", "champion", "3");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(refused.error().message.find("stages, not aliases"), std::string::npos);
  auto no_requests = client.ApproveTransition("m", "3", "Production", false, "");
  ASSERT_FALSE(no_requests);
  EXPECT_NE(no_requests.error().message.find("no transition requests"), std::string::npos);
  EXPECT_EQ(transport_->requests.size(), calls) << "refused calls send nothing";
}

TEST_F(RestRegistryClientTest, ErrorBodiesMapToErrorCodesWithTheRegistrysMessage) {
  auto client = Client(RegistryDialect::kDatabricks);
  struct Case {
    int status;
    const char* body;
    ErrorCode code;
    const char* message;
  };
  const Case cases[] = {
      {404, R"({"error_code":"RESOURCE_DOES_NOT_EXIST","message":"Model version churn/9 does not exist."})",
       ErrorCode::kNotFound,
       "databricks registry: approve transition request failed: RESOURCE_DOES_NOT_EXIST: Model "
       "version churn/9 does not exist. (HTTP 404 on POST /api/2.0/mlflow/transition-requests/approve)"},
      {400, R"({"error_code":"INVALID_PARAMETER_VALUE","message":"No open request to Production."})",
       ErrorCode::kInvalidArgument, nullptr},
      {403, R"({"error_code":"PERMISSION_DENIED","message":"User lacks permission."})",
       ErrorCode::kUnauthenticated, nullptr},
      {409, R"({"error_code":"RESOURCE_ALREADY_EXISTS","message":"exists"})", ErrorCode::kConflict, nullptr},
      {429, R"({"error_code":"REQUEST_LIMIT_EXCEEDED","message":"slow down"})", ErrorCode::kUnavailable, nullptr},
      {503, "<html>Service Unavailable</html>", ErrorCode::kUnavailable,
       "databricks registry: approve transition request failed: <html>Service Unavailable</html> "
       "(HTTP 503 on POST /api/2.0/mlflow/transition-requests/approve)"},
  };
  for (const auto& c : cases) {
    transport_->Answer(c.status, c.body);
    auto r = client.ApproveTransition("churn", "9", "Production", false, "");
    ASSERT_FALSE(r) << c.status;
    EXPECT_EQ(r.error().code, c.code) << c.status;
    if (c.message != nullptr) {
      EXPECT_EQ(r.error().message, c.message);
    }
  }
  transport_->AnswerTransportError();
  auto down = client.CreateComment("churn", "9", "x");
  ASSERT_FALSE(down);
  EXPECT_EQ(down.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(down.error().message, "databricks registry: create comment failed: timed out");
  transport_->Answer(200, "not json");
  auto garbled = client.GetModelVersion("churn", "9");
  ASSERT_FALSE(garbled);
  EXPECT_EQ(garbled.error().message,
            "databricks registry: get model version answered with a body that is not a JSON object "
            "(HTTP 200 on GET /api/2.0/mlflow/model-versions/get)");
}

class RetryingTransportTest : public ::testing::Test {
 protected:
  RetryingTransport Make(RetryPolicy policy = {}) {
    return RetryingTransport(
        inner_, policy, [this](std::chrono::milliseconds d) { waits_.push_back(d.count()); },
        [this] { return random_; });
  }
  static RegistryRequest Request() { return RegistryRequest{.method = "POST", .path = "/x", .body = "{}"}; }

  std::shared_ptr<FakeTransport> inner_ = std::make_shared<FakeTransport>();
  std::vector<std::int64_t> waits_;
  double random_ = 0.5;
};

TEST_F(RetryingTransportTest, RetriesServerErrorsWithJitteredExponentialWaits) {
  inner_->Answer(503, "");
  inner_->Answer(502, "");
  inner_->Answer(200, "{}");
  auto r = Make().Send(Request());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(inner_->requests.size(), 3U);
  EXPECT_EQ(waits_, (std::vector<std::int64_t>{100, 200}));  // half of 200 ms, half of 400 ms
}

TEST_F(RetryingTransportTest, HonoursRetryAfterUpToTheCap) {
  inner_->answers.push_back(RegistryResponse{.status = 429, .headers = {{"Retry-After", "2"}}});
  inner_->answers.push_back(RegistryResponse{.status = 429, .headers = {{"retry-after", "3600"}}});
  inner_->Answer(200, "{}");
  auto r = Make().Send(Request());
  ASSERT_TRUE(r);
  EXPECT_EQ(waits_, (std::vector<std::int64_t>{2000, 10000}));
}

TEST_F(RetryingTransportTest, ReturnsOtherAnswersAtOnce) {
  inner_->Answer(400, R"({"error_code":"INVALID_PARAMETER_VALUE"})");
  auto r = Make().Send(Request());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(inner_->requests.size(), 1U);
  inner_->answers.push_back(Fail(ErrorCode::kInvalidArgument, "bad URL"));
  auto bad = Make().Send(Request());
  ASSERT_FALSE(bad);
  EXPECT_EQ(inner_->requests.size(), 2U) << "an error no retry can fix is not retried";
  EXPECT_TRUE(waits_.empty());
}

TEST_F(RetryingTransportTest, RetriesTransportFailuresAndGivesUpWithTheLastAnswer) {
  for (int i = 0; i < 5; ++i) inner_->AnswerTransportError();
  auto r = Make(RetryPolicy{.max_attempts = 3}).Send(Request());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "timed out");
  EXPECT_EQ(inner_->requests.size(), 3U);

  random_ = 1.0;
  inner_->answers.clear();
  inner_->requests.clear();
  waits_.clear();
  for (int i = 0; i < 5; ++i) inner_->Answer(503, "busy");
  auto late = Make(RetryPolicy{.max_attempts = 10, .deadline = std::chrono::milliseconds(250)}).Send(Request());
  ASSERT_TRUE(late);
  EXPECT_EQ(late->status, 503) << "the last answer is returned, not hidden";
  EXPECT_EQ(waits_, std::vector<std::int64_t>{200}) << "a second wait of 400 ms would pass the deadline";
  EXPECT_EQ(inner_->requests.size(), 2U);
}

// -- Reconciliation calls (protocols.md §2.1, §2.2) -----------------------------------------------

TEST_F(RestRegistryClientTest, SearchVersionsFiltersByNameAndFollowsPageTokens) {
  auto client = Client(RegistryDialect::kDatabricks);
  transport_->Answer(200, R"({"model_versions": [{"name": "churn", "version": "8",
                              "current_stage": "Staging", "creation_timestamp": 1700000000123}],
                              "next_page_token": "tok 2"})");
  transport_->Answer(200, R"({"model_versions": [{"name": "churn", "version": 7,
                              "current_stage": "Archived"}]})");
  auto versions = client.SearchVersions("churn");
  ASSERT_TRUE(versions) << versions.error().message;
  ASSERT_EQ(transport_->requests.size(), 2U);
  EXPECT_EQ(transport_->requests[0].method, "GET");
  EXPECT_EQ(transport_->requests[0].path,
            "/api/2.0/mlflow/model-versions/search?filter=name%3D%27churn%27");
  EXPECT_EQ(transport_->requests[1].path,
            "/api/2.0/mlflow/model-versions/search?filter=name%3D%27churn%27&page_token=tok%202");
  ASSERT_EQ(versions->size(), 2U);
  EXPECT_EQ((*versions)[0].version, "8");
  EXPECT_EQ((*versions)[0].creation_ms, 1700000000123);
  EXPECT_EQ((*versions)[1].version, "7");  // a number where the API is loose about types
  EXPECT_EQ((*versions)[1].current_stage, "Archived");

  transport_->Answer(200, "{}");  // no versions: proto3 JSON leaves the list out
  auto none = client.SearchVersions("it's");
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
  EXPECT_EQ(Last().path, "/api/2.0/mlflow/model-versions/search?filter=name%3D%22it%27s%22");

  transport_->Answer(200, R"({"model_versions": [{"name": "fraud-eu", "version": "1"}]})");
  auto like = client.SearchVersionsLike("fraud-%");
  ASSERT_TRUE(like);
  EXPECT_EQ(Last().path, "/api/2.0/mlflow/model-versions/search?filter=name%20LIKE%20%27fraud-%25%27");
  ASSERT_EQ(like->size(), 1U);
  EXPECT_EQ((*like)[0].name, "fraud-eu");

  transport_->Answer(503, R"({"error_code": "TEMPORARILY_UNAVAILABLE", "message": "busy"})");
  auto failed = client.SearchVersions("churn");
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(failed.error().message,
            "databricks registry: search model versions failed: TEMPORARILY_UNAVAILABLE: busy "
            "(HTTP 503 on GET /api/2.0/mlflow/model-versions/search)");
}

TEST_F(RestRegistryClientTest, GetRegisteredModelReadsAliases) {
  auto client = Client(RegistryDialect::kMlflow);
  transport_->Answer(200, R"({"registered_model": {"name": "churn", "latest_versions": [],
                              "aliases": [{"alias": "champion", "version": "3"},
                                          {"alias": "challenger", "version": "4"}]}})");
  auto model = client.GetRegisteredModel("churn");
  ASSERT_TRUE(model) << model.error().message;
  EXPECT_EQ(Last().method, "GET");
  EXPECT_EQ(Last().path, "/api/2.0/mlflow/registered-models/get?name=churn");
  EXPECT_EQ(model->name, "churn");
  EXPECT_EQ(model->aliases,
            (std::map<std::string, std::string>{{"champion", "3"}, {"challenger", "4"}}));

  transport_->Answer(200, R"({"registered_model": {"name": "plain"}})");
  auto plain = client.GetRegisteredModel("plain");
  ASSERT_TRUE(plain);
  EXPECT_TRUE(plain->aliases.empty());

  transport_->Answer(404, R"({"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "no model"})");
  auto missing = client.GetRegisteredModel("gone");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  transport_->Answer(200, R"({"something": {}})");
  auto odd = client.GetRegisteredModel("churn");
  ASSERT_FALSE(odd);
  EXPECT_EQ(odd.error().message, "mlflow registry: get registered model answered without 'registered_model'");
}

}  // namespace
}  // namespace stagegate::registry

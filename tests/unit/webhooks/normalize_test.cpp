#include "webhooks/normalize.hpp"

#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/unit/support/databricks_events.hpp"
#include "webhooks/signature.hpp"

namespace stagegate::webhooks {
namespace {

using nlohmann::json;

Normalized MustNormalize(Scheme scheme, const HeaderList& headers, std::string_view body) {
  auto r = NormalizePayload(scheme, headers, body);
  EXPECT_TRUE(r) << body << "\n-> " << r.error().message;
  return r ? *r : Normalized{};
}

Error MustFail(Scheme scheme, const HeaderList& headers, std::string_view body) {
  auto r = NormalizePayload(scheme, headers, body);
  EXPECT_FALSE(r) << body << " was accepted as " << r->event.type;
  if (r) return Error{};
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument) << r.error().message;
  return r.error();
}

// ---- Databricks ----

TEST(NormalizeDatabricksTest, MapsAllTwelveEventNames) {
  for (const auto& c : fixtures::kDatabricksEventNames) {
    json body = {{"event", c.name},
                 {"webhook_id", "c5596721253c4b429368cf6f4341b88a"},
                 {"event_timestamp", 1589859029343},
                 {"model_name", "churn"},
                 {"version", "3"}};
    const auto n = MustNormalize(Scheme::kDatabricks, {}, body.dump());
    EXPECT_FALSE(n.ping);
    EXPECT_EQ(n.event.type, c.type) << c.name;
    EXPECT_EQ(n.event.raw_type, c.name);
    EXPECT_EQ(n.event.to_stage, c.to_stage) << c.name;
    EXPECT_EQ(n.event.model_name, "churn");
    EXPECT_EQ(n.event.model_version, "3");
    EXPECT_EQ(n.event.sent_at_ms, 1589859029343);
  }
}

TEST(NormalizeDatabricksTest, DocumentedTransitionExample) {
  const auto n = MustNormalize(
      Scheme::kDatabricks, {},
      R"({"event":"MODEL_VERSION_TRANSITIONED_STAGE","webhook_id":"c5596721253c4b429368cf6f4341b88a",
 "event_timestamp":1589859029343,"model_name":"Airline_Delay_SparkML","version":"8",
 "to_stage":"Production","from_stage":"None",
 "text":"Registered model 'someModel' version 8 transitioned from None to Production."})");
  EXPECT_EQ(n.event.type, "model_version.stage_transitioned");
  EXPECT_EQ(n.event.raw_type, "MODEL_VERSION_TRANSITIONED_STAGE");
  EXPECT_EQ(n.event.model_name, "Airline_Delay_SparkML");
  EXPECT_EQ(n.event.model_version, "8");
  EXPECT_EQ(n.event.from_stage, "None");
  EXPECT_EQ(n.event.to_stage, "Production");
  EXPECT_EQ(n.event.text,
            "Registered model 'someModel' version 8 transitioned from None to Production.");
  EXPECT_EQ(n.event.sent_at_ms, 1589859029343);
  EXPECT_TRUE(n.event.tags.empty());
  EXPECT_EQ(n.event.delivery_id, "");
}

TEST(NormalizeDatabricksTest, DocumentedTagExampleKeepsTheTagList) {
  const auto n = MustNormalize(
      Scheme::kDatabricks, {},
      R"({"event":"MODEL_VERSION_TAG_SET","webhook_id":"8d7fc634e624474f9bbfde960fdf354c",
 "event_timestamp":1589859029343,"model_name":"Airline_Delay_SparkML","version":"8",
 "tags":[{"key":"key1","value":"value1"},{"key":"key2","value":"value2"}],
 "text":"example@example.com set version tag(s) 'key1' => 'value1', 'key2' => 'value2' for registered model 'someModel' version 8."})");
  EXPECT_EQ(n.event.type, "model_version_tag.set");
  ASSERT_EQ(n.event.tags.size(), 2U);
  EXPECT_EQ(n.event.tags[0].key, "key1");
  EXPECT_EQ(n.event.tags[0].value, "value1");
  EXPECT_EQ(n.event.tags[1].key, "key2");
  EXPECT_EQ(n.event.tags[1].value, "value2");
  EXPECT_EQ(n.event.model_version, "8");
}

TEST(NormalizeDatabricksTest, DocumentedCommentExampleUsesTheCommentAsText) {
  const auto n = MustNormalize(
      Scheme::kDatabricks, {},
      R"({"event":"COMMENT_CREATED","webhook_id":"8d7fc634e624474f9bbfde960fdf354c",
 "event_timestamp":1589859029343,"model_name":"Airline_Delay_SparkML","version":"8",
 "comment":"Raw text content of the comment",
 "text":"A user commented on registered model 'someModel' version 8."})");
  EXPECT_EQ(n.event.type, "comment.created");
  EXPECT_EQ(n.event.text, "Raw text content of the comment");
}

TEST(NormalizeDatabricksTest, RegisteredModelNeedsNoVersion) {
  const auto n = MustNormalize(Scheme::kDatabricks, {},
                               R"({"event":"REGISTERED_MODEL_CREATED","model_name":"churn"})");
  EXPECT_EQ(n.event.type, "registered_model.created");
  EXPECT_EQ(n.event.model_version, "");
}

TEST(NormalizeDatabricksTest, IntegerVersionBecomesAString) {
  const auto n = MustNormalize(
      Scheme::kDatabricks, {}, R"({"event":"MODEL_VERSION_CREATED","model_name":"m","version":12})");
  EXPECT_EQ(n.event.model_version, "12");
}

TEST(NormalizeDatabricksTest, ExplicitToStageWinsOverTheImpliedOne) {
  const auto n = MustNormalize(
      Scheme::kDatabricks, {},
      R"({"event":"TRANSITION_REQUEST_CREATED","model_name":"m","version":"1","to_stage":"Staging"})");
  EXPECT_EQ(n.event.type, "transition_request.created");
  EXPECT_EQ(n.event.to_stage, "Staging");
}

TEST(NormalizeDatabricksTest, RejectsInvalidJsonAndNonObjects) {
  EXPECT_EQ(MustFail(Scheme::kDatabricks, {}, "{\"event\":").message, "body is not valid JSON");
  EXPECT_EQ(MustFail(Scheme::kDatabricks, {}, "").message, "body is not valid JSON");
  EXPECT_EQ(MustFail(Scheme::kDatabricks, {}, "[1,2]").message,
            "body must be a JSON object, not array");
  EXPECT_EQ(MustFail(Scheme::kDatabricks, {}, "\"text\"").message,
            "body must be a JSON object, not string");
}

TEST(NormalizeDatabricksTest, RejectsMissingAndWronglyTypedFields) {
  EXPECT_EQ(MustFail(Scheme::kDatabricks, {}, R"({"model_name":"m","version":"1"})").message,
            "body.event is required and must be a non-empty string");
  EXPECT_EQ(MustFail(Scheme::kDatabricks, {}, R"({"event":"","model_name":"m"})").message,
            "body.event is required and must be a non-empty string");
  EXPECT_EQ(MustFail(Scheme::kDatabricks, {}, R"({"event":true,"model_name":"m"})").message,
            "body.event must be a string, not boolean");
  EXPECT_EQ(MustFail(Scheme::kDatabricks, {}, R"({"event":"MODEL_VERSION_CREATED","version":"1"})")
                .message,
            "body.model_name is required for MODEL_VERSION_CREATED");
  EXPECT_EQ(
      MustFail(Scheme::kDatabricks, {}, R"({"event":"MODEL_VERSION_CREATED","model_name":"m"})")
          .message,
      "body.version is required for MODEL_VERSION_CREATED");
  EXPECT_EQ(MustFail(Scheme::kDatabricks, {},
                     R"({"event":"MODEL_VERSION_CREATED","model_name":"m","version":1.5})")
                .message,
            "body.version must be a string, not number");
  EXPECT_EQ(MustFail(Scheme::kDatabricks, {},
                     R"({"event":"MODEL_VERSION_CREATED","model_name":["m"],"version":"1"})")
                .message,
            "body.model_name must be a string, not array");
  EXPECT_EQ(MustFail(Scheme::kDatabricks, {},
                     R"({"event":"MODEL_VERSION_TAG_SET","model_name":"m","version":"1","tags":{"a":"b"}})")
                .message,
            "body.tags must be a list of {key, value} objects");
  EXPECT_EQ(MustFail(Scheme::kDatabricks, {},
                     R"({"event":"MODEL_VERSION_TAG_SET","model_name":"m","version":"1","tags":["a"]})")
                .message,
            "body.tags must be a list of {key, value} objects");
  EXPECT_EQ(MustFail(Scheme::kDatabricks, {},
                     R"({"event":"MODEL_VERSION_TAG_SET","model_name":"m","version":"1","tags":[{"value":"b"}]})")
                .message,
            "body.tags[].key is required and must be a non-empty string");
}

TEST(NormalizeDatabricksTest, RejectsUnknownEventNamesListingTheKnownOnes) {
  const auto e = MustFail(Scheme::kDatabricks, {},
                          R"({"event":"MODEL_VERSION_DELETED","model_name":"m","version":"1"})");
  EXPECT_EQ(e.message.rfind("body.event 'MODEL_VERSION_DELETED' is not a known event; expected one "
                            "of the Databricks registry events (MODEL_VERSION_CREATED, ",
                            0),
            0U)
      << e.message;
  EXPECT_TRUE(e.message.ends_with(", TRANSITION_REQUEST_TO_ARCHIVED_CREATED, COMMENT_CREATED, "
                               "REGISTERED_MODEL_CREATED, MODEL_VERSION_TAG_SET)"))
      << e.message;
}

TEST(NormalizeDatabricksTest, RejectsMlflowEventNames) {
  const auto e = MustFail(Scheme::kDatabricks, {},
                          R"({"event":"model_version.created","model_name":"m","version":"1"})");
  EXPECT_NE(e.message.find("'model_version.created' is an MLflow event name"), std::string::npos)
      << e.message;
}

// "push" is a canonical type but not one of Databricks' 12 event names (protocols.md §1.2).
TEST(NormalizeDatabricksTest, RejectsCanonicalNamesThatAreNotDatabricksEvents) {
  const auto e = MustFail(Scheme::kDatabricks, {}, R"({"event":"push","model_name":"m"})");
  EXPECT_NE(e.message.find("'push'"), std::string::npos) << e.message;
}

// ---- MLflow: the six requests captured from a real MLflow 3.x server ----

struct Captured {
  HeaderList headers;
  std::string body;
};

std::vector<Captured> LoadCaptured() {
  std::ifstream in(std::string(SG_TEST_DATA_DIR) + "/webhooks/mlflow-captured-requests.jsonl");
  std::vector<Captured> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const json j = json::parse(line);
    Captured c;
    for (const auto& h : j.at("headers")) {
      c.headers.emplace_back(h.at(0).get<std::string>(), h.at(1).get<std::string>());
    }
    c.body = j.at("body").get<std::string>();
    out.push_back(std::move(c));
  }
  return out;
}

TEST(NormalizeMlflowTest, CapturedRequestsVerifyWithTheFixtureSecret) {
  const auto captured = LoadCaptured();
  ASSERT_EQ(captured.size(), 6U);
  EndpointConfig ep;
  ep.name = "mlflow";
  ep.scheme = Scheme::kMlflow;
  ep.secrets.push_back(Secret{"env:X", "s3cr3t-for-test"});
  for (const auto& c : captured) {
    const auto ts = std::stoll(std::string(FindHeader(c.headers, "X-MLflow-Timestamp")));
    const auto r = VerifyDelivery(ep, c.headers, c.body, ts + 2);
    ASSERT_TRUE(r) << c.body << ": " << r.error().message;
    EXPECT_EQ(r->delivery_id, FindHeader(c.headers, "X-MLflow-Delivery-Id"));
    EXPECT_EQ(r->signed_at_s, ts);
    const auto length = std::stoul(std::string(FindHeader(c.headers, "Content-Length")));
    EXPECT_EQ(c.body.size(), length);
  }
}

TEST(NormalizeMlflowTest, CapturedRequestsNormalize) {
  const auto captured = LoadCaptured();
  ASSERT_EQ(captured.size(), 6U);
  struct Expected {
    const char* type;
    const char* version;
    const char* alias;
    std::vector<Tag> tags;
    const char* text;
    std::int64_t sent_at_ms;
  };
  const Expected expected[] = {
      {"registered_model.created", "", "", {{"team", "risk"}}, "Fraud detector", 1795956508085},
      {"model_version.created", "1", "", {{"stage", "candidate"}}, "first", 1795956509256},
      {"model_version_alias.created", "1", "champion", {}, "", 1795956510381},
      {"model_version_tag.set", "1", "", {{"validation_status", "approved"}}, "", 1795956511465},
      {"model_version_tag.deleted", "1", "", {{"validation_status", ""}}, "", 1795956512581},
      {"model_version_alias.deleted", "", "champion", {}, "", 1795956513689},
  };
  for (std::size_t i = 0; i < captured.size(); ++i) {
    const auto n = MustNormalize(Scheme::kMlflow, captured[i].headers, captured[i].body);
    const auto& x = expected[i];
    EXPECT_FALSE(n.ping);
    EXPECT_EQ(n.event.type, x.type) << i;
    EXPECT_EQ(n.event.raw_type, x.type) << i;
    EXPECT_EQ(n.event.model_name, "fraud-model") << i;
    EXPECT_EQ(n.event.model_version, x.version) << i;
    EXPECT_EQ(n.event.alias, x.alias) << i;
    EXPECT_EQ(n.event.text, x.text) << i;
    EXPECT_EQ(n.event.sent_at_ms, x.sent_at_ms) << i;
    EXPECT_EQ(n.event.to_stage, "") << i;
    ASSERT_EQ(n.event.tags.size(), x.tags.size()) << i;
    for (std::size_t t = 0; t < x.tags.size(); ++t) {
      EXPECT_EQ(n.event.tags[t].key, x.tags[t].key) << i;
      EXPECT_EQ(n.event.tags[t].value, x.tags[t].value) << i;
    }
  }
}

TEST(NormalizeMlflowTest, DocsExampleEnvelope) {
  const auto n = MustNormalize(
      Scheme::kMlflow, {},
      R"({"entity": "model_version", "action": "created", "timestamp": "2025-07-31T08:27:32.080217+00:00", "data": {"name": "example_model", "version": "1", "source": "models:/123", "run_id": "abcd1234abcd5678", "tags": {"example_key": "example_value"}, "description": "An example model version"}})");
  EXPECT_EQ(n.event.type, "model_version.created");
  EXPECT_EQ(n.event.model_name, "example_model");
  EXPECT_EQ(n.event.model_version, "1");
  ASSERT_EQ(n.event.tags.size(), 1U);
  EXPECT_EQ(n.event.tags[0].key, "example_key");
  EXPECT_EQ(n.event.tags[0].value, "example_value");
  EXPECT_EQ(n.event.sent_at_ms, 1753950452080);
}

TEST(NormalizeMlflowTest, RejectsPromptEvents) {
  for (const char* entity : {"prompt", "prompt_version", "prompt_alias"}) {
    const json body = {{"entity", entity},
                       {"action", "created"},
                       {"data", {{"name", "p"}, {"version", "1"}, {"alias", "a"}}}};
    const auto e = MustFail(Scheme::kMlflow, {}, body.dump());
    EXPECT_EQ(e.message.rfind("MLflow event " + std::string(entity) +
                                  ".created is a prompt-registry event; subscribe this webhook to "
                                  "model registry events",
                              0),
              0U)
        << e.message;
  }
}

TEST(NormalizeMlflowTest, RejectsUnknownEntityActionPairs) {
  const auto e = MustFail(Scheme::kMlflow, {},
                          R"({"entity":"model_version","action":"updated","data":{"name":"m"}})");
  EXPECT_EQ(e.message,
            "body.entity/action 'model_version.updated' is not an MLflow model registry event; "
            "expected registered_model.created, model_version.created, "
            "model_version_tag.set|deleted or model_version_alias.created|deleted");
  // Databricks spellings are not MLflow events either.
  const auto dbx = MustFail(Scheme::kMlflow, {},
                            R"({"entity":"MODEL_VERSION","action":"CREATED","data":{"name":"m"}})");
  EXPECT_NE(dbx.message.find("'MODEL_VERSION.CREATED'"), std::string::npos) << dbx.message;
}

TEST(NormalizeMlflowTest, RejectsMissingAndWronglyTypedFields) {
  EXPECT_EQ(MustFail(Scheme::kMlflow, {}, R"({"action":"created","data":{"name":"m"}})").message,
            "body.entity is required and must be a non-empty string");
  EXPECT_EQ(
      MustFail(Scheme::kMlflow, {}, R"({"entity":"registered_model","data":{"name":"m"}})").message,
      "body.action is required and must be a non-empty string");
  EXPECT_EQ(MustFail(Scheme::kMlflow, {}, R"({"entity":"registered_model","action":"created"})")
                .message,
            "body.data is required and must be an object");
  EXPECT_EQ(MustFail(Scheme::kMlflow, {},
                     R"({"entity":"registered_model","action":"created","data":[1]})")
                .message,
            "body.data is required and must be an object");
  EXPECT_EQ(MustFail(Scheme::kMlflow, {},
                     R"({"entity":"registered_model","action":"created","data":{"tags":{}}})")
                .message,
            "body.data.name is required and must be a non-empty string");
  EXPECT_EQ(MustFail(Scheme::kMlflow, {},
                     R"({"entity":"model_version","action":"created","data":{"name":"m"}})")
                .message,
            "body.data.version is required for model_version.created");
  EXPECT_EQ(MustFail(Scheme::kMlflow, {},
                     R"({"entity":"model_version","action":"created","data":{"name":"m","version":true}})")
                .message,
            "body.data.version must be a string, not boolean");
  EXPECT_EQ(MustFail(Scheme::kMlflow, {},
                     R"({"entity":"model_version_alias","action":"created","data":{"name":"m","version":"1"}})")
                .message,
            "body.data.alias is required and must be a non-empty string");
  EXPECT_EQ(MustFail(Scheme::kMlflow, {},
                     R"({"entity":"model_version_tag","action":"set","data":{"name":"m","version":"1","value":"v"}})")
                .message,
            "body.data.key is required and must be a non-empty string");
  EXPECT_EQ(MustFail(Scheme::kMlflow, {}, "not json").message, "body is not valid JSON");
  EXPECT_EQ(MustFail(Scheme::kMlflow, {}, "42").message, "body must be a JSON object, not number");
}

// ---- GitHub ----

constexpr std::string_view kPush = R"({
  "ref": "refs/heads/main",
  "before": "0000000000000000000000000000000000000000",
  "after": "6dcb09b5b57875f334f61aebed695e2e4193db5e",
  "created": true, "deleted": false, "forced": false,
  "repository": {"id": 1, "name": "pipelines", "full_name": "example/pipelines"},
  "head_commit": {"id": "6dcb09b5b57875f334f61aebed695e2e4193db5e",
                  "message": "Update pipelines", "timestamp": "2025-07-31T10:27:32+02:00"},
  "pusher": {"name": "octocat"}
})";

TEST(NormalizeGithubTest, PushCarriesRepositoryRefAndCommit) {
  const auto n = MustNormalize(
      Scheme::kGithub, {{"X-GitHub-Event", "push"}, {"Content-Type", "application/json"}}, kPush);
  EXPECT_FALSE(n.ping);
  EXPECT_EQ(n.event.type, "push");
  EXPECT_EQ(n.event.raw_type, "push");
  EXPECT_EQ(n.event.repository, "example/pipelines");
  EXPECT_EQ(n.event.ref, "refs/heads/main");
  EXPECT_EQ(n.event.commit, "6dcb09b5b57875f334f61aebed695e2e4193db5e");
  EXPECT_EQ(n.event.text, "Update pipelines");
  EXPECT_EQ(n.event.sent_at_ms, 1753950452000);
  EXPECT_EQ(n.event.model_name, "");
}

TEST(NormalizeGithubTest, PingIsAnsweredNotStored) {
  const auto n = MustNormalize(Scheme::kGithub, {{"x-github-event", "ping"}},
                               R"({"zen":"Keep it logically awesome.","hook_id":1,"hook":{}})");
  EXPECT_TRUE(n.ping);
  EXPECT_EQ(n.event.type, "");
}

TEST(NormalizeGithubTest, RejectsOtherEvents) {
  EXPECT_EQ(MustFail(Scheme::kGithub, {{"X-GitHub-Event", "issues"}}, R"({"action":"opened"})")
                .message,
            "GitHub event 'issues' is not handled; configure the webhook to send push events");
}

TEST(NormalizeGithubTest, RejectsFormEncodedDeliveries) {
  const auto e = MustFail(Scheme::kGithub,
                          {{"X-GitHub-Event", "push"},
                           {"Content-Type", "application/x-www-form-urlencoded"}},
                          "payload=%7B%7D");
  EXPECT_NE(e.message.find("form-encoded"), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("application/json"), std::string::npos) << e.message;
}

TEST(NormalizeGithubTest, RejectsMissingEventHeaderAndIncompletePushes) {
  EXPECT_EQ(MustFail(Scheme::kGithub, {}, kPush).message, "missing X-GitHub-Event header");
  const HeaderList push = {{"X-GitHub-Event", "push"}};
  EXPECT_EQ(MustFail(Scheme::kGithub, push, R"({"after":"abc","repository":{"full_name":"a/b"}})")
                .message,
            "body.ref is required and must be a non-empty string");
  EXPECT_EQ(MustFail(Scheme::kGithub, push,
                     R"({"ref":"refs/heads/main","repository":{"full_name":"a/b"}})")
                .message,
            "body.after is required and must be a non-empty string");
  EXPECT_EQ(MustFail(Scheme::kGithub, push, R"({"ref":"refs/heads/main","after":"abc"})").message,
            "body.repository is required and must be an object");
  EXPECT_EQ(MustFail(Scheme::kGithub, push,
                     R"({"ref":"refs/heads/main","after":"abc","repository":{"name":"b"}})")
                .message,
            "body.repository.full_name is required and must be a non-empty string");
  EXPECT_EQ(MustFail(Scheme::kGithub, push, "[]").message, "body must be a JSON object, not array");
}

// ---- Standard Webhooks convention {"type", "timestamp", "data"} ----

TEST(NormalizeStandardTest, MapsTheConventionOntoTheCanonicalEvent) {
  const auto n = MustNormalize(
      Scheme::kStandard, {},
      R"({"type":"TRANSITION_REQUEST_TO_PRODUCTION_CREATED","timestamp":"2025-07-31T08:27:32.080Z",
          "data":{"model_name":"churn","version":"4","from_stage":"Staging","text":"please",
                  "key":"owner","value":"ml-team"}})");
  EXPECT_EQ(n.event.type, "transition_request.created");
  EXPECT_EQ(n.event.raw_type, "TRANSITION_REQUEST_TO_PRODUCTION_CREATED");
  EXPECT_EQ(n.event.to_stage, "Production");
  EXPECT_EQ(n.event.from_stage, "Staging");
  EXPECT_EQ(n.event.model_name, "churn");
  EXPECT_EQ(n.event.model_version, "4");
  EXPECT_EQ(n.event.text, "please");
  ASSERT_EQ(n.event.tags.size(), 1U);
  EXPECT_EQ(n.event.tags[0].key, "owner");
  EXPECT_EQ(n.event.tags[0].value, "ml-team");
  EXPECT_EQ(n.event.sent_at_ms, 1753950452080);
}

TEST(NormalizeStandardTest, AcceptsNameForTheModelAndMlflowSpellings) {
  const auto n = MustNormalize(
      Scheme::kNone, {},
      R"({"type":"model_version_alias.created","data":{"name":"churn","version":"2","alias":"champion"}})");
  EXPECT_EQ(n.event.type, "model_version_alias.created");
  EXPECT_EQ(n.event.model_name, "churn");
  EXPECT_EQ(n.event.alias, "champion");
  EXPECT_EQ(n.event.sent_at_ms, 0);
}

TEST(NormalizeStandardTest, PushNeedsNoModel) {
  const auto n = MustNormalize(
      Scheme::kStandard, {},
      R"({"type":"push","data":{"repository":"example/pipelines","ref":"refs/heads/main","commit":"abc"}})");
  EXPECT_EQ(n.event.type, "push");
  EXPECT_EQ(n.event.repository, "example/pipelines");
  EXPECT_EQ(n.event.ref, "refs/heads/main");
  EXPECT_EQ(n.event.commit, "abc");
}

TEST(NormalizeStandardTest, RejectsUnknownTypesAndMissingFields) {
  const auto unknown = MustFail(Scheme::kStandard, {},
                                R"({"type":"order.created","data":{"model_name":"m","version":"1"}})");
  EXPECT_EQ(unknown.message.rfind("body.type 'order.created' is not a known event; expected a "
                                  "canonical type (model_version.created, ",
                                  0),
            0U)
      << unknown.message;
  EXPECT_EQ(MustFail(Scheme::kStandard, {}, R"({"data":{}})").message,
            "body.type is required and must be a non-empty string");
  EXPECT_EQ(MustFail(Scheme::kStandard, {}, R"({"type":"model_version.created"})").message,
            "body.data is required and must be an object");
  EXPECT_EQ(
      MustFail(Scheme::kStandard, {}, R"({"type":"model_version.created","data":{"version":"1"}})")
          .message,
      "body.data.model_name is required for model_version.created");
  EXPECT_EQ(
      MustFail(Scheme::kStandard, {}, R"({"type":"model_version.created","data":{"name":"m"}})")
          .message,
      "body.data.version is required for model_version.created");
  EXPECT_EQ(MustFail(Scheme::kStandard, {},
                     R"({"type":"model_version.created","data":{"name":"m","version":"1","to_stage":{}}})")
                .message,
            "body.data.to_stage must be a string, not object");
}

// ---- ParseIsoTimestampMs ----

TEST(ParseIsoTimestampMsTest, ParsesOffsetsAndZulu) {
  EXPECT_EQ(ParseIsoTimestampMs("2025-07-31T08:27:32.080217+00:00"), 1753950452080);
  EXPECT_EQ(ParseIsoTimestampMs("2025-07-31T08:27:32.080Z"), 1753950452080);
  EXPECT_EQ(ParseIsoTimestampMs("2025-07-31T08:27:32Z"), 1753950452000);
  EXPECT_EQ(ParseIsoTimestampMs("2025-07-31T10:27:32.080+02:00"), 1753950452080);
  EXPECT_EQ(ParseIsoTimestampMs("2025-07-31T03:27:32.080-05:00"), 1753950452080);
  EXPECT_EQ(ParseIsoTimestampMs("1970-01-01T00:00:00Z"), 0);
}

TEST(ParseIsoTimestampMsTest, InvalidTextGivesZero) {
  EXPECT_EQ(ParseIsoTimestampMs(""), 0);
  EXPECT_EQ(ParseIsoTimestampMs("yesterday"), 0);
  EXPECT_EQ(ParseIsoTimestampMs("2025-07-31"), 0);
}

}  // namespace
}  // namespace stagegate::webhooks

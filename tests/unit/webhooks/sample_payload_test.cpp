#include "webhooks/sample_payload.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "orchestrator/core/event_types.hpp"
#include "webhooks/normalize.hpp"

namespace stagegate::webhooks {
namespace {

constexpr std::int64_t kNowMs = 1'754'000'000'123;

Normalized RoundTrip(Scheme scheme, const SampleSpec& spec) {
  const auto body = SamplePayload(scheme, spec);
  EXPECT_TRUE(body) << SchemeName(scheme) << " " << spec.type << ": " << body.error().message;
  if (!body) return {};
  const HeaderList headers = {{"X-GitHub-Event", "push"}, {"Content-Type", "application/json"}};
  const auto n = NormalizePayload(scheme, headers, *body);
  EXPECT_TRUE(n) << SchemeName(scheme) << " " << spec.type << ": " << *body << "\n-> "
                 << n.error().message;
  return n ? *n : Normalized{};
}

SampleSpec Spec(std::string type) {
  SampleSpec spec;
  spec.type = std::move(type);
  spec.model = "churn";
  spec.version = "7";
  spec.now_ms = kNowMs;
  return spec;
}

TEST(SamplePayloadTest, DatabricksRoundTripsEveryEventName) {
  for (const auto& name : DatabricksEventNames()) {
    const auto canonical = CanonicalizeEventType(name).value();
    const auto n = RoundTrip(Scheme::kDatabricks, Spec(name));
    EXPECT_EQ(n.event.type, canonical.type) << name;
    EXPECT_EQ(n.event.raw_type, name);
    EXPECT_EQ(n.event.model_name, "churn") << name;
    EXPECT_EQ(n.event.model_version,
              canonical.type == "registered_model.created" ? "" : "7")
        << name;
    const bool has_stage = canonical.type == "transition_request.created" ||
                           canonical.type == "model_version.stage_transitioned";
    EXPECT_EQ(n.event.to_stage,
              !has_stage ? "" : canonical.to_stage.empty() ? "Production" : canonical.to_stage)
        << name;
    EXPECT_EQ(n.event.sent_at_ms, kNowMs) << name;
  }
}

TEST(SamplePayloadTest, DatabricksAcceptsCanonicalTypesItSends) {
  for (const std::string type :
       {"model_version.created", "model_version.stage_transitioned", "transition_request.created",
        "comment.created", "registered_model.created", "model_version_tag.set"}) {
    const auto n = RoundTrip(Scheme::kDatabricks, Spec(type));
    EXPECT_EQ(n.event.type, type);
    EXPECT_EQ(n.event.model_name, "churn");
  }
}

TEST(SamplePayloadTest, DatabricksKeepsStagesTagsAndText) {
  SampleSpec spec = Spec("transition_request.created");
  spec.to_stage = "Archived";
  spec.from_stage = "Production";
  const auto n = RoundTrip(Scheme::kDatabricks, spec);
  EXPECT_EQ(n.event.to_stage, "Archived");
  EXPECT_EQ(n.event.from_stage, "Production");

  SampleSpec tags = Spec("MODEL_VERSION_TAG_SET");
  tags.tags = {{"a", "1"}, {"b", "2"}};
  const auto t = RoundTrip(Scheme::kDatabricks, tags);
  ASSERT_EQ(t.event.tags.size(), 2U);
  EXPECT_EQ(t.event.tags[1].key, "b");
  EXPECT_EQ(t.event.tags[1].value, "2");

  SampleSpec comment = Spec("COMMENT_CREATED");
  comment.text = "ship it";
  EXPECT_EQ(RoundTrip(Scheme::kDatabricks, comment).event.text, "ship it");
}

TEST(SamplePayloadTest, DatabricksRefusesEventsItDoesNotSend) {
  for (const std::string type : {"model_version_alias.created", "model_version_tag.deleted",
                                 "nonsense", "push"}) {
    const auto body = SamplePayload(Scheme::kDatabricks, Spec(type));
    EXPECT_FALSE(body) << type << " gave " << *body;
    if (!body) {
      EXPECT_EQ(body.error().code, ErrorCode::kInvalidArgument);
    }
  }
}

TEST(SamplePayloadTest, MlflowRoundTripsEveryModelRegistryEvent) {
  for (const std::string type :
       {"registered_model.created", "model_version.created", "model_version_tag.set",
        "model_version_tag.deleted", "model_version_alias.created",
        "model_version_alias.deleted"}) {
    SampleSpec spec = Spec(type);
    spec.alias = "blue";
    spec.tags = {{"validated", "yes"}};
    const auto n = RoundTrip(Scheme::kMlflow, spec);
    EXPECT_EQ(n.event.type, type);
    EXPECT_EQ(n.event.model_name, "churn") << type;
    const bool has_version =
        type != "registered_model.created" && type != "model_version_alias.deleted";
    EXPECT_EQ(n.event.model_version, has_version ? "7" : "") << type;
    EXPECT_EQ(n.event.alias, type.starts_with("model_version_alias") ? "blue" : "") << type;
    EXPECT_EQ(n.event.to_stage, "") << type;
    EXPECT_EQ(n.event.sent_at_ms, kNowMs) << type;
    if (type.starts_with("model_version_tag")) {
      ASSERT_EQ(n.event.tags.size(), 1U) << type;
      EXPECT_EQ(n.event.tags[0].key, "validated");
      EXPECT_EQ(n.event.tags[0].value, type.ends_with("set") ? "yes" : "");
    }
  }
}

TEST(SamplePayloadTest, MlflowBodiesUsePythonSeparatorsAndMicroseconds) {
  const auto body = SamplePayload(Scheme::kMlflow, Spec("model_version_alias.created"));
  ASSERT_TRUE(body);
  EXPECT_EQ(*body,
            R"({"entity": "model_version_alias", "action": "created", "timestamp": )"
            R"("2025-07-31T22:13:20.123000+00:00", "data": {"name": "churn", "alias": "champion", )"
            R"("version": "7"}})");
}

TEST(SamplePayloadTest, MlflowRefusesEventsItDoesNotSend) {
  for (const std::string type : {"comment.created", "transition_request.created", "push",
                                 "prompt.created"}) {
    const auto body = SamplePayload(Scheme::kMlflow, Spec(type));
    EXPECT_FALSE(body) << type;
  }
}

TEST(SamplePayloadTest, GithubPushRoundTrips) {
  SampleSpec spec = Spec("push");
  spec.text = "Bump pipelines";
  const auto n = RoundTrip(Scheme::kGithub, spec);
  EXPECT_EQ(n.event.type, "push");
  EXPECT_EQ(n.event.repository, "example/pipelines");
  EXPECT_EQ(n.event.ref, "refs/heads/main");
  EXPECT_EQ(n.event.commit, "6dcb09b5b57875f334f61aebed695e2e4193db5e");
  EXPECT_EQ(n.event.text, "Bump pipelines");
  EXPECT_EQ(n.event.sent_at_ms, kNowMs);
  EXPECT_EQ(RoundTrip(Scheme::kGithub, Spec("")).event.type, "push");
  EXPECT_FALSE(SamplePayload(Scheme::kGithub, Spec("ping")));
}

TEST(SamplePayloadTest, StandardAndNoneRoundTripEveryCanonicalType) {
  for (const Scheme scheme : {Scheme::kStandard, Scheme::kNone}) {
    for (const auto& type : CanonicalEventTypes()) {
      SampleSpec spec = Spec(type);
      spec.alias = "blue";
      spec.to_stage = "Staging";
      spec.from_stage = "None";
      spec.tags = {{"k", "v"}};
      const auto n = RoundTrip(scheme, spec);
      EXPECT_EQ(n.event.type, type) << SchemeName(scheme);
      EXPECT_EQ(n.event.model_name, "churn") << type;
      EXPECT_EQ(n.event.model_version, "7") << type;
      EXPECT_EQ(n.event.alias, "blue") << type;
      EXPECT_EQ(n.event.to_stage, "Staging") << type;
      EXPECT_EQ(n.event.from_stage, "None") << type;
      ASSERT_EQ(n.event.tags.size(), 1U) << type;
      EXPECT_EQ(n.event.tags[0].key, "k");
      EXPECT_EQ(n.event.sent_at_ms, kNowMs) << type;
    }
  }
}

TEST(SamplePayloadTest, StandardAcceptsSenderSpellingsAndImpliesStages) {
  const auto n = RoundTrip(Scheme::kStandard, Spec("MODEL_VERSION_TRANSITIONED_TO_ARCHIVED"));
  EXPECT_EQ(n.event.type, "model_version.stage_transitioned");
  EXPECT_EQ(n.event.to_stage, "Archived");
  const auto d = SamplePayload(Scheme::kStandard, Spec("order.created"));
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().message, "unknown event type 'order.created'");
}

TEST(PythonJsonDumpsTest, ReproducesTheMlflowDocsBodyByteForByte) {
  const std::string compact =
      R"({"entity":"model_version","action":"created","timestamp":"2025-07-31T08:27:32.080217+00:00",)"
      R"("data":{"name":"example_model","version":"1","source":"models:/123","run_id":"abcd1234abcd5678",)"
      R"("tags":{"example_key":"example_value"},"description":"An example model version"}})";
  const std::string expected =
      R"({"entity": "model_version", "action": "created", "timestamp": "2025-07-31T08:27:32.080217+00:00", "data": {"name": "example_model", "version": "1", "source": "models:/123", "run_id": "abcd1234abcd5678", "tags": {"example_key": "example_value"}, "description": "An example model version"}})";
  const std::string dumped = PythonJsonDumps(compact);
  EXPECT_EQ(dumped.size(), 288U);
  EXPECT_EQ(dumped, expected);
}

TEST(PythonJsonDumpsTest, EscapesNonAsciiAndFormatsArraysLikePython) {
  EXPECT_EQ(PythonJsonDumps(R"({"b":[1,2,{"c":null}],"a":"caf\u00e9 \u2603","t":true})"),
            R"({"b": [1, 2, {"c": null}], "a": "caf\u00e9 \u2603", "t": true})");
  EXPECT_EQ(PythonJsonDumps("{\"k\":\"\xc3\xa9\"}"), R"({"k": "\u00e9"})");
  EXPECT_EQ(PythonJsonDumps("{}"), "{}");
  EXPECT_EQ(PythonJsonDumps("[]"), "[]");
}

}  // namespace
}  // namespace stagegate::webhooks

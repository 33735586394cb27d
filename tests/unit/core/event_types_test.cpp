#include "orchestrator/core/event_types.hpp"

#include <set>
#include <string>

#include <gtest/gtest.h>

namespace stagegate {
namespace {

TEST(CanonicalizeEventTypeTest, CanonicalNamesMapToThemselves) {
  ASSERT_EQ(CanonicalEventTypes().size(), 10U);
  for (const auto& type : CanonicalEventTypes()) {
    const auto c = CanonicalizeEventType(type);
    ASSERT_TRUE(c) << type;
    EXPECT_EQ(c->type, type);
    EXPECT_EQ(c->to_stage, "");
  }
}

struct Spelling {
  const char* spelling;
  const char* type;
  const char* to_stage;
};

TEST(CanonicalizeEventTypeTest, MapsAllTwelveDatabricksNames) {
  const Spelling cases[] = {
      {"MODEL_VERSION_CREATED", "model_version.created", ""},
      {"MODEL_VERSION_TRANSITIONED_STAGE", "model_version.stage_transitioned", ""},
      {"TRANSITION_REQUEST_CREATED", "transition_request.created", ""},
      {"COMMENT_CREATED", "comment.created", ""},
      {"REGISTERED_MODEL_CREATED", "registered_model.created", ""},
      {"MODEL_VERSION_TAG_SET", "model_version_tag.set", ""},
      {"MODEL_VERSION_TRANSITIONED_TO_STAGING", "model_version.stage_transitioned", "Staging"},
      {"MODEL_VERSION_TRANSITIONED_TO_PRODUCTION", "model_version.stage_transitioned",
       "Production"},
      {"MODEL_VERSION_TRANSITIONED_TO_ARCHIVED", "model_version.stage_transitioned", "Archived"},
      {"TRANSITION_REQUEST_TO_STAGING_CREATED", "transition_request.created", "Staging"},
      {"TRANSITION_REQUEST_TO_PRODUCTION_CREATED", "transition_request.created", "Production"},
      {"TRANSITION_REQUEST_TO_ARCHIVED_CREATED", "transition_request.created", "Archived"},
  };
  for (const auto& c : cases) {
    const auto got = CanonicalizeEventType(c.spelling);
    ASSERT_TRUE(got) << c.spelling;
    EXPECT_EQ(got->type, c.type) << c.spelling;
    EXPECT_EQ(got->to_stage, c.to_stage) << c.spelling;
  }
}

TEST(CanonicalizeEventTypeTest, MapsMlflowEntityActionPairs) {
  for (const char* spelling :
       {"registered_model.created", "model_version.created", "model_version_tag.set",
        "model_version_tag.deleted", "model_version_alias.created",
        "model_version_alias.deleted"}) {
    const auto got = CanonicalizeEventType(spelling);
    ASSERT_TRUE(got) << spelling;
    EXPECT_EQ(got->type, spelling);
    EXPECT_EQ(got->to_stage, "");
  }
}

TEST(CanonicalizeEventTypeTest, RejectsUnknownSpellings) {
  for (const char* spelling :
       {"", "MODEL_VERSION_DELETED", "model_version.deleted", "prompt.created",
        "Model_Version.Created", "model_version_created", "MODEL_VERSION_CREATED "}) {
    EXPECT_FALSE(CanonicalizeEventType(spelling)) << "'" << spelling << "'";
  }
}

TEST(DatabricksEventNamesTest, ListsTwelveDistinctNamesThatAllCanonicalize) {
  const auto& names = DatabricksEventNames();
  ASSERT_EQ(names.size(), 12U);
  EXPECT_EQ(std::set<std::string>(names.begin(), names.end()).size(), 12U);
  for (const auto& name : names) {
    EXPECT_EQ(name.find('.'), std::string::npos) << name;
    EXPECT_TRUE(CanonicalizeEventType(name)) << name;
  }
}

}  // namespace
}  // namespace stagegate

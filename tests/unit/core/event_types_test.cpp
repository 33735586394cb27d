#include "orchestrator/core/event_types.hpp"

#include <set>
#include <string>

#include <gtest/gtest.h>

#include "tests/unit/support/databricks_events.hpp"

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

TEST(CanonicalizeEventTypeTest, MapsAllTwelveDatabricksNames) {
  for (const auto& c : fixtures::kDatabricksEventNames) {
    const auto got = CanonicalizeEventType(c.name);
    ASSERT_TRUE(got) << c.name;
    EXPECT_EQ(got->type, c.type) << c.name;
    EXPECT_EQ(got->to_stage, c.to_stage) << c.name;
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

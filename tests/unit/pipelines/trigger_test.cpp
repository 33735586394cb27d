#include "pipelines/trigger.hpp"

#include <gtest/gtest.h>

namespace stagegate::pipelines {
namespace {

Event MakeEvent(std::string type, std::string model, std::string to_stage = "", std::string alias = "") {
  Event e;
  e.type = std::move(type);
  e.model_name = std::move(model);
  e.to_stage = std::move(to_stage);
  e.alias = std::move(alias);
  return e;
}

TEST(GlobMatchTest, StarsQuestionMarksAndClasses) {
  EXPECT_TRUE(GlobMatch("churn-*", "churn-eu"));
  EXPECT_TRUE(GlobMatch("churn-*", "churn-"));
  EXPECT_FALSE(GlobMatch("churn-*", "fraud-eu"));
  EXPECT_TRUE(GlobMatch("*", ""));
  EXPECT_TRUE(GlobMatch("*-v?", "model-v2"));
  EXPECT_FALSE(GlobMatch("*-v?", "model-v22"));
  EXPECT_TRUE(GlobMatch("m[0-9]", "m7"));
  EXPECT_FALSE(GlobMatch("m[!0-9]", "m7"));
  EXPECT_TRUE(GlobMatch("m[!0-9]", "mx"));
  EXPECT_TRUE(GlobMatch("a*b*c", "axxbyyc"));
  EXPECT_FALSE(GlobMatch("a*b*c", "axxbyy"));
  EXPECT_TRUE(GlobMatch("[unclosed", "[unclosed"));
  EXPECT_FALSE(GlobMatch("exact", "exactly"));
}

TEST(GlobMatchTest, PathologicalPatternsStayFast) {
  const std::string text(5000, 'a');
  EXPECT_FALSE(GlobMatch("*a*a*a*a*a*a*a*a*a*a*b", text));
}

TEST(RegistryTriggerTest, TypeModelStageAndAliasFilters) {
  RegistryTrigger t{.events = {"transition_request.created"},
                    .models = {"churn-*"},
                    .to_stages = {"Production"}};
  EXPECT_TRUE(MatchesRegistryTrigger(t, MakeEvent("transition_request.created", "churn-eu", "Production")));
  EXPECT_TRUE(MatchesRegistryTrigger(t, MakeEvent("transition_request.created", "churn-eu", "production")));
  EXPECT_FALSE(MatchesRegistryTrigger(t, MakeEvent("transition_request.created", "churn-eu", "Staging")));
  EXPECT_FALSE(MatchesRegistryTrigger(t, MakeEvent("transition_request.created", "fraud", "Production")));
  EXPECT_FALSE(MatchesRegistryTrigger(t, MakeEvent("model_version.created", "churn-eu")));

  RegistryTrigger any_model{.events = {"model_version.created", "transition_request.created"},
                            .to_stages = {"Production"}};
  // The stage filter applies only to events that carry a stage.
  EXPECT_TRUE(MatchesRegistryTrigger(any_model, MakeEvent("model_version.created", "anything")));
  EXPECT_FALSE(MatchesRegistryTrigger(any_model, MakeEvent("transition_request.created", "x", "Staging")));

  RegistryTrigger alias{.events = {"model_version_alias.created"}, .aliases = {"champion"}};
  EXPECT_TRUE(MatchesRegistryTrigger(alias, MakeEvent("model_version_alias.created", "m", "", "champion")));
  EXPECT_FALSE(MatchesRegistryTrigger(alias, MakeEvent("model_version_alias.created", "m", "", "shadow")));
}

TEST(MatrixTest, CrossProductInDeclarationOrder) {
  MatrixSpec m{.axes = {{"python", {"3.10", "3.11"}}, {"os", {"linux", "mac"}}}};
  const auto combos = ExpandMatrix(m);
  ASSERT_EQ(combos.size(), 4U);
  EXPECT_EQ(combos[0], (MatrixCombination{{"python", "3.10"}, {"os", "linux"}}));
  EXPECT_EQ(combos[1], (MatrixCombination{{"python", "3.10"}, {"os", "mac"}}));
  EXPECT_EQ(combos[3], (MatrixCombination{{"python", "3.11"}, {"os", "mac"}}));
  EXPECT_EQ(MatrixTaskName("test", m, combos[1]), "test (3.10, mac)");
}

TEST(MatrixTest, ExcludeRemovesAndIncludeExtendsOrAdds) {
  MatrixSpec m{.axes = {{"python", {"3.10", "3.11"}}, {"os", {"linux", "mac"}}},
               .include = {{{"python", "3.11"}, {"experimental", "true"}},
                           {{"python", "3.12"}, {"os", "linux"}}},
               .exclude = {{{"python", "3.10"}, {"os", "mac"}}}};
  const auto combos = ExpandMatrix(m);
  ASSERT_EQ(combos.size(), 4U);
  EXPECT_EQ(combos[0], (MatrixCombination{{"python", "3.10"}, {"os", "linux"}}));
  EXPECT_EQ(combos[1], (MatrixCombination{{"python", "3.11"}, {"os", "linux"}, {"experimental", "true"}}));
  EXPECT_EQ(combos[2], (MatrixCombination{{"python", "3.11"}, {"os", "mac"}, {"experimental", "true"}}));
  EXPECT_EQ(combos[3], (MatrixCombination{{"python", "3.12"}, {"os", "linux"}}));
  EXPECT_EQ(MatrixTaskName("test", m, combos[1]), "test (3.11, linux, true)");
}

TEST(MatrixTest, IncludeOnlyMatrix) {
  MatrixSpec m{.include = {{{"region", "eu"}}, {{"region", "us"}}}};
  const auto combos = ExpandMatrix(m);
  ASSERT_EQ(combos.size(), 2U);
  EXPECT_EQ(combos[1].at("region"), "us");
}

}  // namespace
}  // namespace stagegate::pipelines

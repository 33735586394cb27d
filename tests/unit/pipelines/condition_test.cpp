#include "pipelines/condition.hpp"

#include <gtest/gtest.h>

namespace stagegate::pipelines {
namespace {

ExpressionContext WithNeeds(std::vector<std::string> needs) {
  ExpressionContext ctx;
  ctx.data = Json{{"inputs", {{"deploy", "true"}}}};
  ctx.needs_statuses = std::move(needs);
  return ctx;
}

TEST(ConditionTest, BareAndWrappedSpellingsMeanTheSame) {
  for (const char* text : {"failure()", "${{ failure() }}"}) {
    const auto c = ParseCondition(text);
    ASSERT_TRUE(c) << text << ": " << c.error().message;
    EXPECT_TRUE(c->CallsStatusFunction()) << text;
    EXPECT_EQ(c->Evaluate(WithNeeds({"failed"})), true) << text;
    EXPECT_EQ(c->Evaluate(WithNeeds({"succeeded"})), false) << text;
  }
}

TEST(ConditionTest, PlainConditionsReadContextsAndCallNoStatusFunction) {
  const auto c = ParseCondition("inputs.deploy == 'true'");
  ASSERT_TRUE(c);
  EXPECT_FALSE(c->CallsStatusFunction());
  EXPECT_EQ(c->Evaluate(WithNeeds({})), true);
  ASSERT_EQ(c->References().size(), 1U);
  EXPECT_EQ(c->References()[0], (std::vector<std::string>{"inputs", "deploy"}));
}

TEST(ConditionTest, ErrorsCountColumnsInTheTextAsWritten) {
  const auto bare = ParseCondition("success() &&");
  ASSERT_FALSE(bare);
  const auto wrapped = ParseCondition("${{ success() && }}");
  ASSERT_FALSE(wrapped);
  // The expression ends right after "&&" (column 13) when bare, and at the "}}" (column 18)
  // when wrapped: both point into the text the author wrote.
  EXPECT_NE(bare.error().message.find("column 13"), std::string::npos) << bare.error().message;
  EXPECT_NE(wrapped.error().message.find("column 18"), std::string::npos)
      << wrapped.error().message;
}

}  // namespace
}  // namespace stagegate::pipelines

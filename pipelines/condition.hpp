#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pipelines/expression.hpp"

namespace stagegate::pipelines {

/// A task's `if:`, written as a bare expression (`failure()`) or as a template
/// (`${{ success() && inputs.deploy }}`). Parsed once; immutable and thread-safe to evaluate.
class Condition final {
 public:
  explicit Condition(Expression expression) : expression_(std::move(expression)) {}
  explicit Condition(Template text) : template_(std::move(text)) {}

  /// The truth value (GitHub's truthiness) of the condition in `context`.
  Result<bool> Evaluate(const ExpressionContext& context) const;
  /// Context paths it reads (see References(const Expression&)).
  std::vector<std::vector<std::string>> References() const;
  /// True when it calls success(), failure(), always() or cancelled(): then it alone decides
  /// whether the task runs after a failed need.
  bool CallsStatusFunction() const;

 private:
  std::optional<Expression> expression_;
  std::optional<Template> template_;
};

/// Parses `text` as a template when it holds ${{, else as a bare expression, so error columns
/// always count in the text as written. Pure.
Result<Condition> ParseCondition(std::string_view text);

}  // namespace stagegate::pipelines

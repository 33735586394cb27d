#include "pipelines/condition.hpp"

#include <algorithm>

namespace stagegate::pipelines {

Result<Condition> ParseCondition(std::string_view text) {
  if (HasExpressions(text)) {
    auto parsed = ParseTemplate(text);
    if (!parsed) return tl::unexpected(parsed.error());
    return Condition(std::move(*parsed));
  }
  auto parsed = ParseExpression(text);
  if (!parsed) return tl::unexpected(parsed.error());
  return Condition(std::move(*parsed));
}

Result<bool> Condition::Evaluate(const ExpressionContext& context) const {
  auto value = expression_ ? pipelines::Evaluate(*expression_, context)
                           : EvaluateTemplate(*template_, context);
  if (!value) return tl::unexpected(value.error());
  return IsTruthy(*value);
}

std::vector<std::vector<std::string>> Condition::References() const {
  return expression_ ? pipelines::References(*expression_) : pipelines::References(*template_);
}

bool Condition::CallsStatusFunction() const {
  std::vector<std::string> called;
  if (expression_) {
    called = FunctionsCalled(*expression_);
  } else {
    for (const auto& part : template_->Parts()) {
      if (!part.expression) continue;
      for (auto& f : FunctionsCalled(*part.expression)) called.push_back(std::move(f));
    }
  }
  return std::any_of(called.begin(), called.end(), [](const std::string& f) {
    return f == "success" || f == "failure" || f == "always" || f == "cancelled";
  });
}

}  // namespace stagegate::pipelines

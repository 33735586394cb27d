#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "orchestrator/core/result.hpp"

namespace stagegate::pipelines {

using Json = nlohmann::json;

/// Longest expression text (between ${{ and }}) that ParseExpression accepts.
inline constexpr std::size_t kMaxExpressionLength = 4096;
/// Deepest nesting of ( ), [ ], function calls and ! that ParseExpression accepts.
inline constexpr int kMaxExpressionDepth = 64;

/// The contexts an expression may name, in the order error messages list them.
inline constexpr std::string_view kContextNames[] = {"event",   "tasks",  "run",   "env",
                                                     "secrets", "inputs", "matrix"};

/// What an expression can read. `data` holds the contexts as a JSON object with keys
/// event, tasks (id -> {outputs: {...}, status: "succeeded"|...}), run, env, secrets, inputs,
/// matrix; a context missing from `data` reads as null. The status functions read the states
/// of the task's `needs` (or, when empty, of all earlier tasks).
struct ExpressionContext {
  Json data = Json::object();
  std::vector<std::string> needs_statuses;  // e.g. {"succeeded", "failed"}
  /// A task further upstream than the needs failed or timed out (failure() is then true,
  /// as in GitHub Actions, even when the needs in between were skipped).
  bool ancestor_failed = false;
  bool run_cancelled = false;
};

namespace detail {
struct ExpressionNode;  // defined in expression.cpp
}  // namespace detail

/// A parsed expression: an immutable tree shared between copies, so copying is cheap and
/// evaluating one from several threads at once is safe.
class Expression final {
 public:
  /// Used by ParseExpression; `root` must not be null.
  explicit Expression(std::shared_ptr<const detail::ExpressionNode> root);

  const detail::ExpressionNode& Root() const { return *root_; }

 private:
  std::shared_ptr<const detail::ExpressionNode> root_;
};

/// Parses the text inside ${{ }} (GitHub Actions expression syntax: literals null, true,
/// false, numbers, 'strings' with '' as the quote escape; contexts; a.b, a['b'], a[0];
/// ! < <= > >= == != && || and parentheses; the functions success, failure, always,
/// cancelled, contains, startsWith, endsWith, format, toJSON, fromJSON, case-insensitive).
/// Unknown contexts, unknown functions and wrong argument counts are rejected here. Errors
/// are kInvalidArgument naming the 1-based column, what is wrong and what to write instead.
/// Pure; safe on untrusted text (length and nesting are capped).
Result<Expression> ParseExpression(std::string_view source);

/// Evaluates against `context`. A missing property or out-of-range index reads as null.
/// Fails (kInvalidArgument) only for a bad format() string or fromJSON() of invalid JSON.
/// Pure; never throws.
Result<Json> Evaluate(const Expression& expression, const ExpressionContext& context);

/// GitHub truthiness: false, 0, -0, NaN, "" and null are false; everything else, including
/// empty objects and arrays, is true.
bool IsTruthy(const Json& value);

/// How a value is rendered into a string: strings raw, null "", booleans "true"/"false",
/// numbers in their shortest form (3.0 is "3"), objects and arrays as JSON with 2-space indent.
std::string ToDisplayString(const Json& value);

/// One piece of a template: literal text, or an expression (then `text` is empty).
struct TemplatePart {
  std::string text;
  std::optional<Expression> expression;
};

/// A string with zero or more ${{ ... }} parts.
class Template final {
 public:
  /// Used by ParseTemplate; adjacent literal parts are expected to be merged already.
  explicit Template(std::vector<TemplatePart> parts);

  const std::vector<TemplatePart>& Parts() const { return parts_; }

 private:
  std::vector<TemplatePart> parts_;
};

/// Splits `text` into literal text and ${{ }} expressions. The expression ends at the first
/// }} outside a string literal. Errors name the unclosed ${{ or the bad expression, with
/// columns counted 1-based in `text`. Pure.
Result<Template> ParseTemplate(std::string_view text);

/// Concatenates the literal parts and the display strings (ToDisplayString) of the values.
Result<std::string> Render(const Template& t, const ExpressionContext& context);

/// The typed value of a template that is exactly one ${{ }} with nothing around it (as
/// GitHub does for a whole YAML value), otherwise the rendered string.
Result<Json> EvaluateTemplate(const Template& t, const ExpressionContext& context);

/// True when `text` contains "${{".
bool HasExpressions(std::string_view text);

/// Context paths an expression reads, as lists of names in order of first use, without
/// duplicates: `tasks.build.outputs.model_uri` -> {"tasks","build","outputs","model_uri"};
/// an index with a string literal counts as a name (`tasks['build'].outputs`), anything else
/// (a dynamic or numeric index) ends the path. Context names are lower-case.
std::vector<std::vector<std::string>> References(const Expression& expression);
std::vector<std::vector<std::string>> References(const Template& t);

/// Canonical names of the functions called, in order of first use, without duplicates,
/// e.g. {"success", "contains"}; `STARTSWITH(a, b)` is reported as "startsWith".
std::vector<std::string> FunctionsCalled(const Expression& expression);

}  // namespace stagegate::pipelines

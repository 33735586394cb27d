#include "pipelines/expression.hpp"

#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace stagegate::pipelines {
namespace {

ExpressionContext SampleContext() {
  ExpressionContext context;
  context.data = Json::parse(R"({
    "event": {"type": "transition_request.created", "which": "build",
              "model": {"name": "churn-model", "version": "3", "tags": ["prod", "Blue"]}},
    "tasks": {"build": {"outputs": {"model_uri": "models:/churn/3", "auc": "0.91"},
                        "status": "succeeded"},
              "test-unit": {"outputs": {}, "status": "failed"}},
    "run": {"id": 42},
    "env": {"STAGE": "Production"},
    "secrets": {"TOKEN": "s3cr3t"},
    "inputs": {"threshold": 0.9, "count": 3}
  })");
  return context;
}

Json Eval(std::string_view source, const ExpressionContext& context = SampleContext()) {
  auto parsed = ParseExpression(source);
  EXPECT_TRUE(parsed) << source << " -> " << parsed.error().message;
  if (!parsed) {
    return Json("<parse error>");
  }
  auto value = Evaluate(*parsed, context);
  EXPECT_TRUE(value) << source << " -> " << value.error().message;
  return value ? *value : Json("<evaluation error>");
}

std::string ParseError(std::string_view source) {
  auto parsed = ParseExpression(source);
  EXPECT_FALSE(parsed) << source << " was accepted";
  if (parsed) {
    return "";
  }
  EXPECT_EQ(parsed.error().code, ErrorCode::kInvalidArgument);
  return parsed.error().message;
}

std::string EvalError(std::string_view source) {
  auto parsed = ParseExpression(source);
  EXPECT_TRUE(parsed) << source << " -> " << parsed.error().message;
  if (!parsed) {
    return "";
  }
  auto value = Evaluate(*parsed, SampleContext());
  EXPECT_FALSE(value) << source << " evaluated to " << value->dump();
  if (value) {
    return "";
  }
  EXPECT_EQ(value.error().code, ErrorCode::kInvalidArgument);
  return value.error().message;
}

std::string TemplateError(std::string_view text) {
  auto parsed = ParseTemplate(text);
  EXPECT_FALSE(parsed) << text << " was accepted";
  if (parsed) {
    return "";
  }
  EXPECT_EQ(parsed.error().code, ErrorCode::kInvalidArgument);
  return parsed.error().message;
}

std::string RenderText(std::string_view text, const ExpressionContext& context = SampleContext()) {
  auto parsed = ParseTemplate(text);
  EXPECT_TRUE(parsed) << text << " -> " << parsed.error().message;
  if (!parsed) {
    return "<parse error>";
  }
  auto rendered = Render(*parsed, context);
  EXPECT_TRUE(rendered) << text << " -> " << rendered.error().message;
  return rendered ? *rendered : "<render error>";
}

using Paths = std::vector<std::vector<std::string>>;

Paths Refs(std::string_view source) {
  auto parsed = ParseExpression(source);
  EXPECT_TRUE(parsed) << source << " -> " << parsed.error().message;
  return parsed ? References(*parsed) : Paths{};
}

std::vector<std::string> Functions(std::string_view source) {
  auto parsed = ParseExpression(source);
  EXPECT_TRUE(parsed) << source << " -> " << parsed.error().message;
  return parsed ? FunctionsCalled(*parsed) : std::vector<std::string>{};
}

// ---- Literals and operators ----

TEST(ExpressionTest, Literals) {
  EXPECT_TRUE(Eval("null").is_null());
  EXPECT_EQ(Eval("true"), Json(true));
  EXPECT_EQ(Eval("false"), Json(false));
  EXPECT_TRUE(Eval("42").is_number_integer());
  EXPECT_EQ(Eval("42"), Json(42));
  EXPECT_EQ(Eval("-7"), Json(-7));
  EXPECT_EQ(Eval("3.5"), Json(3.5));
  EXPECT_EQ(Eval("-0.25"), Json(-0.25));
  EXPECT_EQ(Eval("0xff"), Json(255));
  EXPECT_EQ(Eval("0X1F"), Json(31));
  EXPECT_EQ(Eval("1e3"), Json(1000.0));
  EXPECT_EQ(Eval("2.5E-1"), Json(0.25));
  EXPECT_EQ(Eval("'text'"), Json("text"));
  EXPECT_EQ(Eval("'it''s'"), Json("it's"));
  EXPECT_EQ(Eval("''''"), Json("'"));
  EXPECT_EQ(Eval("''"), Json(""));
  EXPECT_EQ(Eval("  'spaced'  "), Json("spaced"));
}

TEST(ExpressionTest, Precedence) {
  // ! binds tighter than ==: (!false) == false.
  EXPECT_EQ(Eval("!false == false"), Json(false));
  // < binds tighter than ==: (1 < 2) == true; the other way round would be 1 < false.
  EXPECT_EQ(Eval("1 < 2 == true"), Json(true));
  // == binds tighter than &&, && tighter than ||.
  EXPECT_EQ(Eval("true || false && false"), Json(true));
  EXPECT_EQ(Eval("(true || false) && false"), Json(false));
  EXPECT_EQ(Eval("1 == 1 && 2"), Json(2));
  EXPECT_EQ(Eval("!(1 == 2)"), Json(true));
  EXPECT_EQ(Eval("!!'x'"), Json(true));
  EXPECT_EQ(Eval("!event.model.tags[0]"), Json(false));
}

TEST(ExpressionTest, AndOrReturnTheDecidingOperandAndShortCircuit) {
  EXPECT_EQ(Eval("'' || 'default'"), Json("default"));
  EXPECT_EQ(Eval("'a' || 'b'"), Json("a"));
  EXPECT_EQ(Eval("false || 0"), Json(0));
  EXPECT_TRUE(Eval("0 || null").is_null());
  EXPECT_EQ(Eval("1 && 'x'"), Json("x"));
  EXPECT_TRUE(Eval("null && 1").is_null());
  EXPECT_EQ(Eval("'a' && '' && 'c'"), Json(""));
  EXPECT_EQ(Eval("event.missing || env.STAGE"), Json("Production"));
  // fromJSON('{') fails when evaluated, so these only pass if the right side is skipped.
  EXPECT_EQ(Eval("0 && fromJSON('{')"), Json(0));
  EXPECT_EQ(Eval("true || fromJSON('{')"), Json(true));
  EXPECT_FALSE(EvalError("1 && fromJSON('{')").empty());
  EXPECT_FALSE(EvalError("false || fromJSON('{')").empty());
}

struct LooseCase {
  const char* source;
  bool expected;
};

TEST(ExpressionTest, LooseEqualityTable) {
  const LooseCase cases[] = {
      {"'abc' == 'ABC'", true},
      {"'abc' == 'abd'", false},
      {"'a' != 'A'", false},
      {"1 == '1'", true},
      {"1 == '1.0'", true},
      {"1 == 'one'", false},
      {"1 != 'one'", true},
      {"0 == ''", true},
      {"0 == null", true},
      {"null == null", true},
      {"'' == null", true},
      {"true == 1", true},
      {"true == '1'", true},
      {"false == 0", true},
      {"false == 'false'", false},
      {"true == 'true'", false},
      {"16 == '0x10'", true},
      {"2 == ' 2 '", true},
      {"2 == 2.0", true},
      {"1.5 == 1.5", true},
      {"event.model == event.model", true},
      {"fromJSON('[1, 2]') == fromJSON('[1,2]')", true},
      {"fromJSON('[1]') == fromJSON('[2]')", false},
      {"event.model == 1", false},
      {"fromJSON('[]') == ''", false},
      {"inputs.count == '3'", true},
      {"event.model.version == 3", true},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(Eval(c.source), Json(c.expected)) << c.source;
  }
}

TEST(ExpressionTest, RelationalComparisons) {
  const LooseCase cases[] = {
      {"1 < 2", true},
      {"2 <= 2", true},
      {"3 > 4", false},
      {"3 >= 3", true},
      {"'b' > 'A'", true},
      {"'B' < 'a'", false},
      {"'abc' < 'abcd'", true},
      {"2 < '10'", true},
      {"'2' < '10'", false},
      {"null < 1", true},
      {"false < true", true},
      {"event.model < 1", false},
      {"event.model >= 1", false},
      {"1 < 'x'", false},
      {"1 >= 'x'", false},
      {"inputs.threshold <= tasks.build.outputs.auc", true},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(Eval(c.source), Json(c.expected)) << c.source;
  }
}

// ---- Contexts, properties and indexes ----

TEST(ExpressionTest, PropertyAndIndexAccess) {
  EXPECT_EQ(Eval("event.model.name"), Json("churn-model"));
  EXPECT_EQ(Eval("event['model']['name']"), Json("churn-model"));
  EXPECT_EQ(Eval("event.model['NAME']"), Json("churn-model"));  // keys ignore case
  EXPECT_EQ(Eval("EVENT.Model.Name"), Json("churn-model"));
  EXPECT_EQ(Eval("event.model.tags[1]"), Json("Blue"));
  EXPECT_EQ(Eval("event.model.tags['0']"), Json("prod"));
  EXPECT_EQ(Eval("tasks.test-unit.status"), Json("failed"));
  EXPECT_EQ(Eval("tasks['test-unit'].status"), Json("failed"));
  EXPECT_EQ(Eval("tasks[event.which].outputs.model_uri"), Json("models:/churn/3"));
  EXPECT_EQ(Eval("run.id"), Json(42));
  EXPECT_EQ(Eval("secrets.TOKEN"), Json("s3cr3t"));
  EXPECT_EQ(Eval("fromJSON('{\"a\": {\"b\": [10, 20]}}').a.b[1]"), Json(20));
  EXPECT_EQ(Eval("event.model")["version"], Json("3"));
}

TEST(ExpressionTest, MissingPropertiesAndIndexesAreNull) {
  EXPECT_TRUE(Eval("event.missing").is_null());
  EXPECT_TRUE(Eval("event.missing.deeper.still").is_null());
  EXPECT_TRUE(Eval("event.model.tags[5]").is_null());
  EXPECT_TRUE(Eval("event.model.tags[-1]").is_null());
  EXPECT_TRUE(Eval("event.model.tags[0.5]").is_null());
  EXPECT_TRUE(Eval("event.model.name.first").is_null());  // property of a string
  EXPECT_TRUE(Eval("'abc'.length").is_null());
  EXPECT_TRUE(Eval("tasks.deploy.outputs.url").is_null());
  EXPECT_TRUE(Eval("matrix.os").is_null());  // context absent from data
  EXPECT_TRUE(Eval("event.model[event.missing]").is_null());
}

// ---- Functions ----

TEST(ExpressionTest, Contains) {
  EXPECT_EQ(Eval("contains('Hello World', 'WORLD')"), Json(true));
  EXPECT_EQ(Eval("contains('abc', 'x')"), Json(false));
  EXPECT_EQ(Eval("contains('abc', '')"), Json(true));
  EXPECT_EQ(Eval("contains(123, 2)"), Json(true));
  EXPECT_EQ(Eval("contains(event.model.tags, 'PROD')"), Json(true));
  EXPECT_EQ(Eval("contains(event.model.tags, 'green')"), Json(false));
  EXPECT_EQ(Eval("contains(fromJSON('[1, 2]'), '2')"), Json(true));
  EXPECT_EQ(Eval("contains(fromJSON('[1, 2]'), 3)"), Json(false));
  EXPECT_EQ(Eval("contains(event.model, 'name')"), Json(false));  // objects contain nothing
  EXPECT_EQ(Eval("contains('abc', event.model)"), Json(false));
  EXPECT_EQ(Eval("contains(null, '')"), Json(true));
}

TEST(ExpressionTest, StartsWithAndEndsWith) {
  EXPECT_EQ(Eval("startsWith('churn-model', 'CHURN')"), Json(true));
  EXPECT_EQ(Eval("startsWith('churn-model', 'model')"), Json(false));
  EXPECT_EQ(Eval("startsWith('a', 'abc')"), Json(false));
  EXPECT_EQ(Eval("startsWith('abc', '')"), Json(true));
  EXPECT_EQ(Eval("endsWith('model.PKL', '.pkl')"), Json(true));
  EXPECT_EQ(Eval("endsWith('abc', 'b')"), Json(false));
  EXPECT_EQ(Eval("endsWith('c', 'abc')"), Json(false));
  EXPECT_EQ(Eval("endsWith(1234, 34)"), Json(true));
  EXPECT_EQ(Eval("startsWith(event.model, 'x')"), Json(false));
  EXPECT_EQ(Eval("startswith(event.model.name, 'churn-')"), Json(true));
}

TEST(ExpressionTest, Format) {
  EXPECT_EQ(Eval("format('{0} and {1}', 'a', 2)"), Json("a and 2"));
  EXPECT_EQ(Eval("format('{1}{0}{1}', 'a', 'b')"), Json("bab"));
  EXPECT_EQ(Eval("format('{{0}} is {0}', 'x')"), Json("{0} is x"));
  EXPECT_EQ(Eval("format('}}{{')"), Json("}{"));
  EXPECT_EQ(Eval("format('plain')"), Json("plain"));
  EXPECT_EQ(Eval("format('[{0}][{1}][{2}]', null, true, 0.5)"), Json("[][true][0.5]"));
  EXPECT_EQ(Eval("format('{0}/{1}', event.model.name, event.model.version)"),
            Json("churn-model/3"));
  EXPECT_EQ(Eval("format('{0}', 'unused', 'extra')"), Json("unused"));
}

TEST(ExpressionTest, FormatErrors) {
  EXPECT_EQ(EvalError("format('{2}', 'a')"),
            "format() at column 1: the format string uses {2} but only 1 value(s) follow it; "
            "placeholders count from {0}");
  EXPECT_EQ(EvalError("format('{x}', 1)"),
            "format() at column 1: '{' at position 1 of the format string does not start a "
            "placeholder such as {0}; write {{ for a literal brace");
  EXPECT_EQ(EvalError("format('ab {0', 1)"),
            "format() at column 1: '{' at position 4 of the format string does not start a "
            "placeholder such as {0}; write {{ for a literal brace");
  EXPECT_EQ(EvalError("true && format('a}b')"),
            "format() at column 9: unmatched '}' at position 2 of the format string; write }} "
            "for a literal brace");
  EXPECT_FALSE(EvalError("format('{99999999999999999999999}', 1)").empty());
}

TEST(ExpressionTest, ToJsonAndFromJson) {
  EXPECT_EQ(Eval("toJSON(fromJSON('{\"a\":[1,2]}'))"),
            Json("{\n  \"a\": [\n    1,\n    2\n  ]\n}"));
  EXPECT_EQ(Eval("toJSON('x')"), Json("\"x\""));
  EXPECT_EQ(Eval("toJSON(null)"), Json("null"));
  EXPECT_EQ(Eval("toJSON(run)"), Json("{\n  \"id\": 42\n}"));
  EXPECT_EQ(Eval("fromJSON('{\"a\": 1}').a"), Json(1));
  EXPECT_EQ(Eval("fromJSON('true')"), Json(true));
  EXPECT_EQ(Eval("fromJSON('\"x\"')"), Json("x"));
  EXPECT_EQ(Eval("fromJSON('[1, \"b\"]')"), Json::parse(R"([1, "b"])"));
  EXPECT_EQ(Eval("fromJSON(toJSON(event.model))"), SampleContext().data["event"]["model"]);
  EXPECT_EQ(Eval("ToJson(1)"), Json("1"));
}

TEST(ExpressionTest, FromJsonErrors) {
  EXPECT_EQ(EvalError("fromJSON('not json')"),
            "fromJSON() at column 1: the argument is not valid JSON (syntax error at byte 2); "
            "pass a JSON text such as '{\"a\": 1}'");
  EXPECT_FALSE(EvalError("fromJSON('')").empty());
  const std::string deep = "fromJSON('" + std::string(65, '[') + std::string(65, ']') + "')";
  EXPECT_EQ(EvalError(deep), "fromJSON() at column 1: the JSON nests deeper than 64 levels");
  const std::string ok = "fromJSON('" + std::string(64, '[') + std::string(64, ']') + "')";
  EXPECT_TRUE(Eval(ok).is_array());
}

TEST(ExpressionTest, StatusFunctionsReadNeedsStatuses) {
  struct StatusCase {
    std::vector<std::string> needs;
    bool run_cancelled;
    bool success;
    bool failure;
  };
  const StatusCase cases[] = {
      {{}, false, true, false},
      {{"succeeded", "skipped"}, false, false, false},  // a skipped need did not succeed
      {{"succeeded", "failed"}, false, false, true},
      {{"timed_out"}, false, false, true},
      {{"cancelled"}, false, false, false},
      {{"succeeded"}, true, false, false},
      {{"failed"}, true, false, true},
  };
  for (const auto& c : cases) {
    ExpressionContext context = SampleContext();
    context.needs_statuses = c.needs;
    context.run_cancelled = c.run_cancelled;
    const std::string label =
        ::testing::PrintToString(c.needs) + (c.run_cancelled ? " cancelled run" : "");
    EXPECT_EQ(Eval("success()", context), Json(c.success)) << label;
    EXPECT_EQ(Eval("failure()", context), Json(c.failure)) << label;
    EXPECT_EQ(Eval("cancelled()", context), Json(c.run_cancelled)) << label;
    EXPECT_EQ(Eval("always()", context), Json(true)) << label;
    EXPECT_EQ(Eval("Success() || FAILURE()", context), Json(c.success || c.failure)) << label;
  }
  // A failure further upstream makes failure() true even when the needs were only skipped.
  ExpressionContext upstream = SampleContext();
  upstream.needs_statuses = {"skipped"};
  upstream.ancestor_failed = true;
  EXPECT_EQ(Eval("failure()", upstream), Json(true));
  EXPECT_EQ(Eval("success()", upstream), Json(false));
}

// ---- Templates ----

TEST(ExpressionTest, TemplatesWithSeveralAdjacentAndNoParts) {
  EXPECT_EQ(RenderText("models:/${{ event.model.name }}/${{ event.model.version }}"),
            "models:/churn-model/3");
  EXPECT_EQ(RenderText("${{ 'a' }}${{ 'b' }}"), "ab");
  EXPECT_EQ(RenderText("${{event.model.version}}"), "3");
  EXPECT_EQ(RenderText("plain $ {{ text }} $"), "plain $ {{ text }} $");
  EXPECT_EQ(RenderText(""), "");
  EXPECT_EQ(RenderText("${{ format('{{0}}', 1) }}!"), "{0}!");  // }} inside a string
  EXPECT_EQ(RenderText("${{ 'a }} b' }}"), "a }} b");

  auto adjacent = ParseTemplate("${{ 'a' }}${{ 'b' }}");
  ASSERT_TRUE(adjacent);
  ASSERT_EQ(adjacent->Parts().size(), 2U);
  EXPECT_TRUE(adjacent->Parts()[0].expression && adjacent->Parts()[1].expression);

  auto mixed = ParseTemplate("x ${{ run.id }} y");
  ASSERT_TRUE(mixed);
  ASSERT_EQ(mixed->Parts().size(), 3U);
  EXPECT_EQ(mixed->Parts()[0].text, "x ");
  EXPECT_TRUE(mixed->Parts()[1].expression.has_value());
  EXPECT_EQ(mixed->Parts()[2].text, " y");

  auto plain = ParseTemplate("no expressions");
  ASSERT_TRUE(plain);
  ASSERT_EQ(plain->Parts().size(), 1U);
  EXPECT_FALSE(plain->Parts()[0].expression.has_value());
  EXPECT_TRUE(ParseTemplate("")->Parts().empty());

  EXPECT_TRUE(HasExpressions("a ${{ b }}"));
  EXPECT_TRUE(HasExpressions("${{"));
  EXPECT_FALSE(HasExpressions("a ${ { b }}"));
  EXPECT_FALSE(HasExpressions("$"));
}

TEST(ExpressionTest, RenderEachValueType) {
  EXPECT_EQ(RenderText("[${{ 'text' }}]"), "[text]");
  EXPECT_EQ(RenderText("[${{ null }}]"), "[]");
  EXPECT_EQ(RenderText("[${{ event.missing }}]"), "[]");
  EXPECT_EQ(RenderText("[${{ true }}][${{ false }}]"), "[true][false]");
  EXPECT_EQ(RenderText("[${{ 42 }}][${{ -3 }}]"), "[42][-3]");
  EXPECT_EQ(RenderText("[${{ 0.5 }}][${{ 3.0 }}][${{ 1e3 }}]"), "[0.5][3][1000]");
  EXPECT_EQ(RenderText("${{ run }}"), "{\n  \"id\": 42\n}");
  EXPECT_EQ(RenderText("${{ event.model.tags }}"), "[\n  \"prod\",\n  \"Blue\"\n]");

  EXPECT_EQ(ToDisplayString(Json(-0.0)), "0");
  EXPECT_EQ(ToDisplayString(Json(0.1)), "0.1");
  EXPECT_EQ(ToDisplayString(Json(1e21)), "1e+21");
  EXPECT_EQ(ToDisplayString(Json(123456789012.0)), "123456789012");
  EXPECT_EQ(ToDisplayString(Json(18446744073709551615ULL)), "18446744073709551615");
  EXPECT_EQ(ToDisplayString(Json::object()), "{}");
  EXPECT_EQ(ToDisplayString(Json::array()), "[]");
}

TEST(ExpressionTest, EvaluateTemplateKeepsTheTypeOfALoneExpression) {
  auto lone = ParseTemplate("${{ inputs.threshold }}");
  ASSERT_TRUE(lone);
  EXPECT_EQ(*EvaluateTemplate(*lone, SampleContext()), Json(0.9));
  auto mixed = ParseTemplate(" ${{ inputs.threshold }}");
  ASSERT_TRUE(mixed);
  EXPECT_EQ(*EvaluateTemplate(*mixed, SampleContext()), Json(" 0.9"));
}

TEST(ExpressionTest, IsTruthyFollowsGithubRules) {
  EXPECT_FALSE(IsTruthy(Json(false)));
  EXPECT_FALSE(IsTruthy(Json(0)));
  EXPECT_FALSE(IsTruthy(Json(0.0)));
  EXPECT_FALSE(IsTruthy(Json(-0.0)));
  EXPECT_FALSE(IsTruthy(Json("")));
  EXPECT_FALSE(IsTruthy(Json()));
  EXPECT_TRUE(IsTruthy(Json(true)));
  EXPECT_TRUE(IsTruthy(Json(-1)));
  EXPECT_TRUE(IsTruthy(Json(0.5)));
  EXPECT_TRUE(IsTruthy(Json("false")));
  EXPECT_TRUE(IsTruthy(Json("0")));
  EXPECT_TRUE(IsTruthy(Json::object()));
  EXPECT_TRUE(IsTruthy(Json::array()));
}

TEST(ExpressionTest, ExpressionsAreCopyableAndOutliveTheirSource) {
  std::optional<Expression> copy;
  {
    std::string source = "format('{0}-{1}', event.model.name, run.id)";
    auto parsed = ParseExpression(source);
    ASSERT_TRUE(parsed);
    copy = *parsed;
    source.assign(source.size(), 'x');
  }
  EXPECT_EQ(*Evaluate(*copy, SampleContext()), Json("churn-model-42"));
}

// ---- References and functions called ----

TEST(ExpressionTest, ReferencesListContextPaths) {
  EXPECT_EQ(Refs("tasks.build.outputs.model_uri"),
            (Paths{{"tasks", "build", "outputs", "model_uri"}}));
  EXPECT_EQ(
      Refs("tasks['build'].outputs['auc'] > 0.5 && contains(event.model.tags, env.STAGE)"),
      (Paths{{"tasks", "build", "outputs", "auc"}, {"event", "model", "tags"}, {"env", "STAGE"}}));
  // A dynamic index ends the path; the index expression is read too.
  EXPECT_EQ(Refs("tasks[event.which].status"), (Paths{{"tasks"}, {"event", "which"}}));
  EXPECT_EQ(Refs("event.model.tags[0].name"), (Paths{{"event", "model", "tags"}}));
  EXPECT_EQ(Refs("fromJSON(env.JSON).a.b"), (Paths{{"env", "JSON"}}));
  EXPECT_EQ(Refs("env.A == env.A || !env.B"), (Paths{{"env", "A"}, {"env", "B"}}));
  EXPECT_EQ(Refs("EVENT.Model"), (Paths{{"event", "Model"}}));
  EXPECT_EQ(Refs("secrets"), (Paths{{"secrets"}}));
  EXPECT_TRUE(Refs("success() && 1 == 1").empty());

  auto t = ParseTemplate("${{ event.model.name }}/${{ tasks.build.outputs.uri }}/${{ run.id }}");
  ASSERT_TRUE(t);
  EXPECT_EQ(
      References(*t),
      (Paths{{"event", "model", "name"}, {"tasks", "build", "outputs", "uri"}, {"run", "id"}}));
  EXPECT_TRUE(References(*ParseTemplate("no expressions")).empty());
}

TEST(ExpressionTest, FunctionsCalledUseCanonicalNames) {
  EXPECT_EQ(Functions("success() && contains(event.x, 'a') || SUCCESS()"),
            (std::vector<std::string>{"success", "contains"}));
  EXPECT_EQ(Functions("STARTSWITH('a', 'b')"), (std::vector<std::string>{"startsWith"}));
  EXPECT_EQ(Functions("format('{0}', toJSON(fromjson('1')))"),
            (std::vector<std::string>{"format", "toJSON", "fromJSON"}));
  EXPECT_EQ(Functions("!failure() || always() || cancelled()"),
            (std::vector<std::string>{"failure", "always", "cancelled"}));
  EXPECT_TRUE(Functions("event.model.name == 'x'").empty());
}

// ---- Errors ----

TEST(ExpressionTest, UnterminatedStringError) {
  EXPECT_EQ(ParseError("event.x == 'abc"),
            "unterminated string starting at column 12; end it with ' (write '' for a quote "
            "inside a string)");
  EXPECT_EQ(ParseError("'it''s"),
            "unterminated string starting at column 1; end it with ' (write '' for a quote "
            "inside a string)");
  EXPECT_EQ(TemplateError("x ${{ 'abc }}"),
            "unterminated string starting at column 7; end it with ' (write '' for a quote "
            "inside a string)");
}

TEST(ExpressionTest, UnexpectedTokenErrorsNameTheColumn) {
  const std::string value_hint =
      "expected a value: a literal ('text', 42, true, null), a context such as "
      "event.model.name, a function call such as success(), '(' or '!'";
  EXPECT_EQ(ParseError("event.x == )"), "unexpected ')' at column 12; " + value_hint);
  EXPECT_EQ(ParseError(""), "unexpected end of expression at column 1; " + value_hint);
  EXPECT_EQ(ParseError("1 &&"), "unexpected end of expression at column 5; " + value_hint);
  EXPECT_EQ(ParseError("true false"),
            "unexpected 'false' at column 6; expected an operator (== != < <= > >= && ||) or "
            "the end of the expression");
  EXPECT_EQ(ParseError("event."),
            "unexpected end of expression at column 7; expected a property name after '.', as "
            "in event.model.name");
  EXPECT_EQ(ParseError("(true"),
            "unexpected end of expression at column 6; expected ')' to close the parenthesis");
  EXPECT_EQ(ParseError("event['a'"),
            "unexpected end of expression at column 10; expected ']' to close the index");
  EXPECT_EQ(ParseError("contains('a' 'b')"),
            "unexpected ''b'' at column 14; expected ',' or ')' after an argument of contains()");
  EXPECT_EQ(ParseError("event.x = 1"), "unexpected character '=' at column 9; write == to compare");
  EXPECT_EQ(ParseError("true & false"),
            "unexpected character '&' at column 6; write && for a logical and");
  EXPECT_EQ(ParseError("true | false"),
            "unexpected character '|' at column 6; write || for a logical or");
  EXPECT_EQ(ParseError("\"x\""),
            "unexpected character '\"' at column 1; strings use single quotes, as in 'text' "
            "(write '' for a quote inside)");
  EXPECT_EQ(ParseError("1 + 2"),
            "unexpected character '+' at column 3; expressions are made of literals, contexts, "
            "function calls and the operators ( ) [ ] . ! < <= > >= == != && ||");
  EXPECT_EQ(ParseError("1.2.3"),
            "invalid number '1.2.3' at column 1; write a number such as 42, -1.5, 1e3 or 0xff");
}

TEST(ExpressionTest, TemplateErrorsCountColumnsInTheWholeText) {
  EXPECT_EQ(TemplateError("a ${{ event.x"),
            "unclosed '${{' at column 3; end the expression with }}");
  EXPECT_EQ(TemplateError("${{ 1 }} and ${{ 2 }"),
            "unclosed '${{' at column 14; end the expression with }}");
  EXPECT_EQ(TemplateError("ab ${{ event.x == ) }}"),
            "unexpected ')' at column 19; expected a value: a literal ('text', 42, true, null), a "
            "context such as event.model.name, a function call such as success(), '(' or '!'");
  EXPECT_EQ(TemplateError("${{ nope }}"),
            "unknown context 'nope' at column 5; contexts are event, tasks, run, env, secrets, "
            "inputs, matrix");
  EXPECT_EQ(TemplateError("${{ }}"),
            "unexpected end of expression at column 5; expected a value: a literal ('text', 42, "
            "true, null), a context such as event.model.name, a function call such as "
            "success(), '(' or '!'");
}

TEST(ExpressionTest, UnknownContextError) {
  EXPECT_EQ(ParseError("foo.bar"),
            "unknown context 'foo' at column 1; contexts are event, tasks, run, env, secrets, "
            "inputs, matrix");
  EXPECT_EQ(ParseError("event.x == github.sha"),
            "unknown context 'github' at column 12; contexts are event, tasks, run, env, "
            "secrets, inputs, matrix");
  EXPECT_EQ(ParseError("True"),
            "unknown context 'True' at column 1; contexts are event, tasks, run, env, secrets, "
            "inputs, matrix");
}

TEST(ExpressionTest, UnknownFunctionError) {
  EXPECT_EQ(ParseError("lower('A')"),
            "unknown function 'lower' at column 1; functions are success(), failure(), always(), "
            "cancelled(), contains(search, item), startsWith(text, prefix), endsWith(text, "
            "suffix), format('{0} and {1}', value0, value1), toJSON(value), fromJSON(text)");
  EXPECT_EQ(ParseError("event.x || hashFiles('*')")
                .rfind("unknown function 'hashFiles' at column 12;", 0),
            0U);
}

TEST(ExpressionTest, WrongArityErrors) {
  EXPECT_EQ(ParseError("contains('a')"),
            "contains() at column 1 takes 2 arguments, not 1; write contains(search, item)");
  EXPECT_EQ(ParseError("success(1)"),
            "success() at column 1 takes no arguments, not 1; write success()");
  EXPECT_EQ(ParseError("format()"),
            "format() at column 1 takes at least 1 argument, not 0; write format('{0} and {1}', "
            "value0, value1)");
  EXPECT_EQ(ParseError("true && toJSON(1, 2)"),
            "toJSON() at column 9 takes 1 argument, not 2; write toJSON(value)");
  EXPECT_EQ(ParseError("ENDSWITH('a', 'b', 'c')"),
            "endsWith() at column 1 takes 2 arguments, not 3; write endsWith(text, suffix)");
}

TEST(ExpressionTest, NestingDepthLimit) {
  const std::string ok = std::string(64, '(') + "true" + std::string(64, ')');
  EXPECT_EQ(Eval(ok), Json(true));
  const std::string deep = std::string(65, '(') + "true" + std::string(65, ')');
  EXPECT_EQ(ParseError(deep),
            "expression nests deeper than 64 levels at column 65; split it into smaller "
            "expressions or compute part of it in a task");
  EXPECT_EQ(Eval(std::string(64, '!') + "true"), Json(true));
  EXPECT_FALSE(ParseError(std::string(65, '!') + "true").empty());
  std::string calls;
  for (int i = 0; i < 65; ++i) {
    calls += "toJSON(";
  }
  calls += "1" + std::string(65, ')');
  EXPECT_EQ(ParseError(calls).substr(0, 40), "expression nests deeper than 64 levels a");
  std::string indexes = "event";
  for (int i = 0; i < 65; ++i) {
    indexes += "[event";
  }
  indexes += std::string(65, ']');
  EXPECT_EQ(ParseError(indexes).substr(0, 40), "expression nests deeper than 64 levels a");
}

TEST(ExpressionTest, LengthLimit) {
  const std::string longest = "'" + std::string(kMaxExpressionLength - 2, 'x') + "'";
  EXPECT_EQ(Eval(longest).get<std::string>().size(), kMaxExpressionLength - 2);
  const std::string too_long = "'" + std::string(kMaxExpressionLength - 1, 'x') + "'";
  EXPECT_EQ(ParseError(too_long),
            "expression at column 1 is 4097 characters long; the limit is 4096, so split it or "
            "compute the value in a task output");
  EXPECT_EQ(TemplateError("ab${{ " + too_long + " }}").substr(0, 46),
            "expression at column 6 is 4099 characters long");
}

TEST(ExpressionTest, LongFlatChainsStayWithinLimits) {
  // Chains do not count as nesting; they must still parse and evaluate without trouble.
  std::string properties = "event";
  while (properties.size() + 2 <= kMaxExpressionLength) {
    properties += ".a";
  }
  EXPECT_TRUE(Eval(properties).is_null());
  std::string ors = "false";
  while (ors.size() + 9 + 5 <= kMaxExpressionLength) {
    ors += " || false";
  }
  EXPECT_EQ(Eval(ors + " || 7"), Json(7));
  std::string equals = "1";
  while (equals.size() + 5 <= kMaxExpressionLength) {
    equals += " == 1";
  }
  EXPECT_TRUE(Eval(equals).is_boolean());
}

}  // namespace
}  // namespace stagegate::pipelines

#include "pipelines/expression.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <utility>

namespace stagegate::pipelines {

enum class NodeKind { kLiteral, kContext, kProperty, kIndex, kNot, kAnd, kOr, kCompare, kCall };
enum class CompareOp { kEq, kNe, kLt, kLe, kGt, kGe };
enum class FunctionId {
  kSuccess,
  kFailure,
  kAlways,
  kCancelled,
  kContains,
  kStartsWith,
  kEndsWith,
  kFormat,
  kToJson,
  kFromJson,
};

namespace detail {

// clang-tidy flags the implicit noexcept members because nlohmann::json's may allocate.
// NOLINTNEXTLINE(bugprone-exception-escape)
struct ExpressionNode {
  NodeKind kind = NodeKind::kLiteral;
  std::size_t column = 0;  // 1-based, in the text given to the parser
  Json value;              // kLiteral
  std::string name;        // kContext (lower-case), kProperty, kCall (canonical spelling)
  CompareOp op = CompareOp::kEq;
  FunctionId function = FunctionId::kAlways;
  // kProperty: {object}; kIndex: {object, index}; kNot: {operand}; kAnd/kOr: operands in
  // order; kCompare: {lhs, rhs}; kCall: arguments.
  std::vector<std::unique_ptr<const ExpressionNode>> children;
};

}  // namespace detail

namespace {

using Node = detail::ExpressionNode;
using NodePtr = std::unique_ptr<const Node>;
using Path = std::vector<std::string>;

constexpr std::size_t kMaxFromJsonDepth = 64;

struct FunctionSpec {
  std::string_view name;
  FunctionId id;
  std::size_t min_args;
  std::size_t max_args;
  std::string_view usage;
};

constexpr std::size_t kVariadic = std::numeric_limits<std::size_t>::max();
constexpr std::array<FunctionSpec, 10> kFunctions = {{
    {"success", FunctionId::kSuccess, 0, 0, "success()"},
    {"failure", FunctionId::kFailure, 0, 0, "failure()"},
    {"always", FunctionId::kAlways, 0, 0, "always()"},
    {"cancelled", FunctionId::kCancelled, 0, 0, "cancelled()"},
    {"contains", FunctionId::kContains, 2, 2, "contains(search, item)"},
    {"startsWith", FunctionId::kStartsWith, 2, 2, "startsWith(text, prefix)"},
    {"endsWith", FunctionId::kEndsWith, 2, 2, "endsWith(text, suffix)"},
    {"format", FunctionId::kFormat, 1, kVariadic, "format('{0} and {1}', value0, value1)"},
    {"toJSON", FunctionId::kToJson, 1, 1, "toJSON(value)"},
    {"fromJSON", FunctionId::kFromJson, 1, 1, "fromJSON(text)"},
}};

tl::unexpected<Error> Invalid(std::string message) {
  return Fail(ErrorCode::kInvalidArgument, std::move(message));
}

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string ToLower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), Lower);
  return out;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return Lower(x) == Lower(y); });
}

std::string ContextList() {
  std::string out;
  for (const auto name : kContextNames) {
    out += (out.empty() ? "" : ", ") + std::string(name);
  }
  return out;
}

std::string FunctionList() {
  std::string out;
  for (const auto& spec : kFunctions) {
    out += (out.empty() ? "" : ", ") + std::string(spec.usage);
  }
  return out;
}

const FunctionSpec* FindFunction(std::string_view name) {
  for (const auto& spec : kFunctions) {
    if (EqualsIgnoreCase(spec.name, name)) {
      return &spec;
    }
  }
  return nullptr;
}

// ---- Lexer ----

enum class TokenKind {
  kEnd,
  kNumber,
  kString,
  kIdentifier,
  kLeftParen,
  kRightParen,
  kLeftBracket,
  kRightBracket,
  kDot,
  kComma,
  kNot,
  kLess,
  kLessEqual,
  kGreater,
  kGreaterEqual,
  kEqual,
  kNotEqual,
  kAnd,
  kOr,
};

// clang-tidy flags the implicit noexcept members because nlohmann::json's may allocate.
// NOLINTNEXTLINE(bugprone-exception-escape)
struct Token {
  TokenKind kind = TokenKind::kEnd;
  std::size_t column = 0;
  std::string_view text;  // as written
  Json value;             // kNumber, kString
};

bool IsIdentifierStart(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsIdentifierChar(char c) { return IsIdentifierStart(c) || IsDigit(c) || c == '-'; }

// Integer literals stay integers while they fit in int64; hex is 0x followed by hex digits.
std::optional<Json> ParseNumberLiteral(std::string_view text) {
  std::string_view digits = text;
  const bool negative = !digits.empty() && digits.front() == '-';
  if (negative) {
    digits.remove_prefix(1);
  }
  if (digits.size() > 2 && digits[0] == '0' && Lower(digits[1]) == 'x') {
    std::int64_t value = 0;
    const auto hex = digits.substr(2);
    const auto [end, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), value, 16);
    if (ec != std::errc() || end != hex.data() + hex.size()) {
      return std::nullopt;
    }
    return Json(negative ? -value : value);
  }
  if (digits.empty() || !(IsDigit(digits.front()) || digits.front() == '.')) {
    return std::nullopt;
  }
  std::int64_t integer = 0;
  const auto [int_end, int_ec] = std::from_chars(text.data(), text.data() + text.size(), integer);
  if (int_ec == std::errc() && int_end == text.data() + text.size()) {
    return Json(integer);
  }
  double real = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), real);
  if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(real)) {
    return std::nullopt;
  }
  return Json(real);
}

class Lexer {
 public:
  Lexer(std::string_view source, std::size_t base) : source_(source), base_(base) {}

  Result<Token> Next() {
    while (pos_ < source_.size() && (source_[pos_] == ' ' || source_[pos_] == '\t' ||
                                     source_[pos_] == '\n' || source_[pos_] == '\r')) {
      ++pos_;
    }
    Token token;
    token.column = Column(pos_);
    if (pos_ >= source_.size()) {
      return token;
    }
    const std::size_t start = pos_;
    const char c = source_[pos_];
    const char next = pos_ + 1 < source_.size() ? source_[pos_ + 1] : '\0';
    if (c == '\'') {
      return LexString();
    }
    if (IsDigit(c) || (c == '-' && (IsDigit(next) || next == '.')) || (c == '.' && IsDigit(next))) {
      return LexNumber();
    }
    if (IsIdentifierStart(c)) {
      while (pos_ < source_.size() && IsIdentifierChar(source_[pos_])) {
        ++pos_;
      }
      token.kind = TokenKind::kIdentifier;
      token.text = source_.substr(start, pos_ - start);
      return token;
    }
    token.kind = PunctuationKind(c, next);
    if (token.kind != TokenKind::kEnd) {
      pos_ += IsTwoCharacter(token.kind) ? 2 : 1;
      token.text = source_.substr(start, pos_ - start);
      return token;
    }
    return Invalid("unexpected character '" + std::string(1, c) + "' at column " +
                   std::to_string(token.column) + "; " + HintFor(c));
  }

 private:
  // kEnd when `c` (followed by `next`) starts no operator or punctuation.
  static TokenKind PunctuationKind(char c, char next) {
    switch (c) {
      case '(':
        return TokenKind::kLeftParen;
      case ')':
        return TokenKind::kRightParen;
      case '[':
        return TokenKind::kLeftBracket;
      case ']':
        return TokenKind::kRightBracket;
      case '.':
        return TokenKind::kDot;
      case ',':
        return TokenKind::kComma;
      case '!':
        return next == '=' ? TokenKind::kNotEqual : TokenKind::kNot;
      case '<':
        return next == '=' ? TokenKind::kLessEqual : TokenKind::kLess;
      case '>':
        return next == '=' ? TokenKind::kGreaterEqual : TokenKind::kGreater;
      case '=':
        return next == '=' ? TokenKind::kEqual : TokenKind::kEnd;
      case '&':
        return next == '&' ? TokenKind::kAnd : TokenKind::kEnd;
      case '|':
        return next == '|' ? TokenKind::kOr : TokenKind::kEnd;
      default:
        return TokenKind::kEnd;
    }
  }

  static bool IsTwoCharacter(TokenKind kind) {
    return kind == TokenKind::kNotEqual || kind == TokenKind::kLessEqual ||
           kind == TokenKind::kGreaterEqual || kind == TokenKind::kEqual ||
           kind == TokenKind::kAnd || kind == TokenKind::kOr;
  }

  static std::string HintFor(char c) {
    switch (c) {
      case '=':
        return "write == to compare";
      case '&':
        return "write && for a logical and";
      case '|':
        return "write || for a logical or";
      case '"':
        return "strings use single quotes, as in 'text' (write '' for a quote inside)";
      default:
        return "expressions are made of literals, contexts, function calls and the operators "
               "( ) [ ] . ! < <= > >= == != && ||";
    }
  }

  std::size_t Column(std::size_t pos) const { return base_ + pos + 1; }

  Result<Token> LexString() {
    Token token;
    token.column = Column(pos_);
    const std::size_t start = pos_;
    std::string value;
    ++pos_;
    while (pos_ < source_.size()) {
      if (source_[pos_] == '\'') {
        if (pos_ + 1 < source_.size() && source_[pos_ + 1] == '\'') {
          value += '\'';
          pos_ += 2;
          continue;
        }
        ++pos_;
        token.kind = TokenKind::kString;
        token.text = source_.substr(start, pos_ - start);
        token.value = std::move(value);
        return token;
      }
      value += source_[pos_++];
    }
    return Invalid("unterminated string starting at column " + std::to_string(token.column) +
                   "; end it with ' (write '' for a quote inside a string)");
  }

  Result<Token> LexNumber() {
    Token token;
    token.column = Column(pos_);
    const std::size_t start = pos_;
    ++pos_;  // a digit, '-' or '.'
    while (pos_ < source_.size()) {
      const char c = source_[pos_];
      const bool sign_after_exponent = (c == '+' || c == '-') && Lower(source_[pos_ - 1]) == 'e';
      if (!(IsIdentifierChar(c) || c == '.' || sign_after_exponent) ||
          (c == '-' && !sign_after_exponent)) {
        break;
      }
      ++pos_;
    }
    token.text = source_.substr(start, pos_ - start);
    auto value = ParseNumberLiteral(token.text);
    if (!value) {
      return Invalid("invalid number '" + std::string(token.text) + "' at column " +
                     std::to_string(token.column) +
                     "; write a number such as 42, -1.5, 1e3 or 0xff");
    }
    token.kind = TokenKind::kNumber;
    token.value = std::move(*value);
    return token;
  }

  std::string_view source_;
  std::size_t base_;
  std::size_t pos_ = 0;
};

// ---- Parser ----

constexpr std::string_view kExpectValue =
    "expected a value: a literal ('text', 42, true, null), a context such as event.model.name, "
    "a function call such as success(), '(' or '!'";
constexpr std::string_view kExpectOperator =
    "expected an operator (== != < <= > >= && ||) or the end of the expression";

class Parser {
 public:
  Parser(std::string_view source, std::size_t base) : lexer_(source, base) {}

  Result<NodePtr> ParseAll() {
    if (auto ok = Advance(); !ok) {
      return tl::unexpected(ok.error());
    }
    auto root = ParseOr();
    if (!root) {
      return root;
    }
    if (token_.kind != TokenKind::kEnd) {
      return Unexpected(kExpectOperator);
    }
    return root;
  }

 private:
  // Counts one level of nesting for as long as it lives.
  class DepthGuard final {
   public:
    explicit DepthGuard(int& depth) : depth_(depth) { ++depth_; }
    ~DepthGuard() { --depth_; }
    DepthGuard(const DepthGuard&) = delete;
    DepthGuard& operator=(const DepthGuard&) = delete;

   private:
    int& depth_;
  };

  Result<void> Advance() {
    auto next = lexer_.Next();
    if (!next) {
      return tl::unexpected(next.error());
    }
    token_ = std::move(*next);
    return {};
  }

  tl::unexpected<Error> Unexpected(std::string_view expected) const {
    const std::string what =
        token_.kind == TokenKind::kEnd ? "end of expression" : "'" + std::string(token_.text) + "'";
    return Invalid("unexpected " + what + " at column " + std::to_string(token_.column) + "; " +
                   std::string(expected));
  }

  Result<void> CheckDepth() const {
    if (depth_ > kMaxExpressionDepth) {
      return Invalid("expression nests deeper than " + std::to_string(kMaxExpressionDepth) +
                     " levels at column " + std::to_string(token_.column) +
                     "; split it into smaller expressions or compute part of it in a task");
    }
    return {};
  }

  static std::unique_ptr<Node> MakeNode(NodeKind kind, std::size_t column) {
    auto node = std::make_unique<Node>();
    node->kind = kind;
    node->column = column;
    return node;
  }

  // Parses `operand (op operand)*` into one n-ary node, so long chains do not nest.
  template <class Operand>
  Result<NodePtr> ParseChain(TokenKind op, NodeKind kind, Operand operand) {
    auto first = (this->*operand)();
    if (!first || token_.kind != op) {
      return first;
    }
    auto node = std::make_unique<Node>();
    node->kind = kind;
    node->column = (*first)->column;
    node->children.push_back(std::move(*first));
    while (token_.kind == op) {
      if (auto ok = Advance(); !ok) {
        return tl::unexpected(ok.error());
      }
      auto next = (this->*operand)();
      if (!next) {
        return next;
      }
      node->children.push_back(std::move(*next));
    }
    return NodePtr(std::move(node));
  }

  Result<NodePtr> ParseOr() { return ParseChain(TokenKind::kOr, NodeKind::kOr, &Parser::ParseAnd); }
  Result<NodePtr> ParseAnd() {
    return ParseChain(TokenKind::kAnd, NodeKind::kAnd, &Parser::ParseEquality);
  }

  template <class Operand>
  Result<NodePtr> ParseComparison(std::initializer_list<std::pair<TokenKind, CompareOp>> ops,
                                  Operand operand) {
    auto lhs = (this->*operand)();
    while (lhs) {
      const auto match = std::find_if(
          ops.begin(), ops.end(), [&](const auto& entry) { return entry.first == token_.kind; });
      if (match == ops.end()) {
        break;
      }
      const std::size_t column = token_.column;
      if (auto ok = Advance(); !ok) {
        return tl::unexpected(ok.error());
      }
      auto rhs = (this->*operand)();
      if (!rhs) {
        return rhs;
      }
      auto node = std::make_unique<Node>();
      node->kind = NodeKind::kCompare;
      node->column = column;
      node->op = match->second;
      node->children.push_back(std::move(*lhs));
      node->children.push_back(std::move(*rhs));
      lhs = NodePtr(std::move(node));
    }
    return lhs;
  }

  Result<NodePtr> ParseEquality() {
    return ParseComparison(
        {{TokenKind::kEqual, CompareOp::kEq}, {TokenKind::kNotEqual, CompareOp::kNe}},
        &Parser::ParseRelational);
  }
  Result<NodePtr> ParseRelational() {
    return ParseComparison({{TokenKind::kLess, CompareOp::kLt},
                            {TokenKind::kLessEqual, CompareOp::kLe},
                            {TokenKind::kGreater, CompareOp::kGt},
                            {TokenKind::kGreaterEqual, CompareOp::kGe}},
                           &Parser::ParseUnary);
  }

  Result<NodePtr> ParseUnary() {
    if (token_.kind != TokenKind::kNot) {
      return ParsePostfix();
    }
    DepthGuard guard(depth_);
    if (auto ok = CheckDepth(); !ok) {
      return tl::unexpected(ok.error());
    }
    auto node = std::make_unique<Node>();
    node->kind = NodeKind::kNot;
    node->column = token_.column;
    if (auto ok = Advance(); !ok) {
      return tl::unexpected(ok.error());
    }
    auto operand = ParseUnary();
    if (!operand) {
      return operand;
    }
    node->children.push_back(std::move(*operand));
    return NodePtr(std::move(node));
  }

  Result<NodePtr> ParsePostfix() {
    auto object = ParsePrimary();
    while (object && (token_.kind == TokenKind::kDot || token_.kind == TokenKind::kLeftBracket)) {
      const bool dot = token_.kind == TokenKind::kDot;
      auto node = std::make_unique<Node>();
      node->kind = dot ? NodeKind::kProperty : NodeKind::kIndex;
      node->column = token_.column;
      if (auto ok = Advance(); !ok) {
        return tl::unexpected(ok.error());
      }
      node->children.push_back(std::move(*object));
      if (dot) {
        if (token_.kind != TokenKind::kIdentifier) {
          return Unexpected("expected a property name after '.', as in event.model.name");
        }
        node->name = std::string(token_.text);
        if (auto ok = Advance(); !ok) {
          return tl::unexpected(ok.error());
        }
      } else {
        DepthGuard guard(depth_);
        if (auto ok = CheckDepth(); !ok) {
          return tl::unexpected(ok.error());
        }
        auto index = ParseOr();
        if (!index) {
          return index;
        }
        if (token_.kind != TokenKind::kRightBracket) {
          return Unexpected("expected ']' to close the index");
        }
        node->children.push_back(std::move(*index));
        if (auto ok = Advance(); !ok) {
          return tl::unexpected(ok.error());
        }
      }
      object = NodePtr(std::move(node));
    }
    return object;
  }

  Result<NodePtr> ParsePrimary() {
    switch (token_.kind) {
      case TokenKind::kNumber:
      case TokenKind::kString: {
        auto node = MakeNode(NodeKind::kLiteral, token_.column);
        node->value = std::move(token_.value);
        if (auto ok = Advance(); !ok) {
          return tl::unexpected(ok.error());
        }
        return NodePtr(std::move(node));
      }
      case TokenKind::kLeftParen: {
        DepthGuard guard(depth_);
        if (auto ok = CheckDepth(); !ok) {
          return tl::unexpected(ok.error());
        }
        if (auto ok = Advance(); !ok) {
          return tl::unexpected(ok.error());
        }
        auto inner = ParseOr();
        if (!inner) {
          return inner;
        }
        if (token_.kind != TokenKind::kRightParen) {
          return Unexpected("expected ')' to close the parenthesis");
        }
        if (auto ok = Advance(); !ok) {
          return tl::unexpected(ok.error());
        }
        return inner;
      }
      case TokenKind::kIdentifier:
        return ParseIdentifier();
      default:
        return Unexpected(kExpectValue);
    }
  }

  Result<NodePtr> ParseIdentifier() {
    const std::string_view word = token_.text;
    const std::size_t column = token_.column;
    if (auto ok = Advance(); !ok) {
      return tl::unexpected(ok.error());
    }
    if (token_.kind == TokenKind::kLeftParen) {
      return ParseCall(word, column);
    }
    if (word == "true" || word == "false" || word == "null") {
      auto node = MakeNode(NodeKind::kLiteral, column);
      node->value = word == "null" ? Json() : Json(word == "true");
      return NodePtr(std::move(node));
    }
    const std::string context = ToLower(word);
    const auto* known = std::find(std::begin(kContextNames), std::end(kContextNames), context);
    if (known == std::end(kContextNames)) {
      return Invalid("unknown context '" + std::string(word) + "' at column " +
                     std::to_string(column) + "; contexts are " + ContextList());
    }
    auto node = MakeNode(NodeKind::kContext, column);
    node->name = context;
    return NodePtr(std::move(node));
  }

  Result<NodePtr> ParseCall(std::string_view word, std::size_t column) {
    DepthGuard guard(depth_);
    if (auto ok = CheckDepth(); !ok) {
      return tl::unexpected(ok.error());
    }
    const FunctionSpec* spec = FindFunction(word);
    if (spec == nullptr) {
      return Invalid("unknown function '" + std::string(word) + "' at column " +
                     std::to_string(column) + "; functions are " + FunctionList());
    }
    auto node = MakeNode(NodeKind::kCall, column);
    node->name = std::string(spec->name);
    node->function = spec->id;
    if (auto ok = Advance(); !ok) {  // past '('
      return tl::unexpected(ok.error());
    }
    while (token_.kind != TokenKind::kRightParen) {
      auto argument = ParseOr();
      if (!argument) {
        return argument;
      }
      node->children.push_back(std::move(*argument));
      if (token_.kind == TokenKind::kComma) {
        if (auto ok = Advance(); !ok) {
          return tl::unexpected(ok.error());
        }
      } else if (token_.kind != TokenKind::kRightParen) {
        return Unexpected("expected ',' or ')' after an argument of " + node->name + "()");
      }
    }
    if (auto ok = Advance(); !ok) {  // past ')'
      return tl::unexpected(ok.error());
    }
    const std::size_t count = node->children.size();
    if (count < spec->min_args || count > spec->max_args) {
      std::string takes;
      if (spec->max_args == kVariadic) {
        takes = "at least " + std::to_string(spec->min_args) + " argument";
      } else if (spec->max_args == 0) {
        takes = "no arguments";
      } else {
        takes = std::to_string(spec->max_args) + " argument" + (spec->max_args == 1 ? "" : "s");
      }
      return Invalid(node->name + "() at column " + std::to_string(column) + " takes " + takes +
                     ", not " + std::to_string(count) + "; write " + std::string(spec->usage));
    }
    return NodePtr(std::move(node));
  }

  Lexer lexer_;
  Token token_;
  int depth_ = 0;
};

Result<Expression> ParseAt(std::string_view source, std::size_t base) {
  if (source.size() > kMaxExpressionLength) {
    return Invalid("expression at column " + std::to_string(base + 1) + " is " +
                   std::to_string(source.size()) + " characters long; the limit is " +
                   std::to_string(kMaxExpressionLength) +
                   ", so split it or compute the value in a task output");
  }
  Parser parser(source, base);
  auto root = parser.ParseAll();
  if (!root) {
    return tl::unexpected(root.error());
  }
  return Expression(std::shared_ptr<const Node>(std::move(*root)));
}

}  // namespace

Expression::Expression(std::shared_ptr<const detail::ExpressionNode> root)
    : root_(std::move(root)) {}

Result<Expression> ParseExpression(std::string_view source) { return ParseAt(source, 0); }

Template::Template(std::vector<TemplatePart> parts) : parts_(std::move(parts)) {}

bool HasExpressions(std::string_view text) { return text.find("${{") != std::string_view::npos; }

Result<Template> ParseTemplate(std::string_view text) {
  std::vector<TemplatePart> parts;
  std::string literal;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t open = text.find("${{", pos);
    if (open == std::string_view::npos) {
      literal += text.substr(pos);
      break;
    }
    literal += text.substr(pos, open - pos);
    // The expression ends at the first }} outside a 'string' ('' toggles twice, so it works).
    const std::size_t start = open + 3;
    std::size_t end = start;
    bool in_string = false;
    while (end < text.size() && (in_string || text.compare(end, 2, "}}") != 0)) {
      in_string = text[end] == '\'' ? !in_string : in_string;
      ++end;
    }
    if (end >= text.size()) {
      if (in_string) {
        auto inner = ParseAt(text.substr(start), start);
        if (!inner) {
          return tl::unexpected(inner.error());
        }
      }
      return Invalid("unclosed '${{' at column " + std::to_string(open + 1) +
                     "; end the expression with }}");
    }
    auto expression = ParseAt(text.substr(start, end - start), start);
    if (!expression) {
      return tl::unexpected(expression.error());
    }
    if (!literal.empty()) {
      parts.push_back(TemplatePart{.text = std::move(literal), .expression = std::nullopt});
      literal.clear();
    }
    parts.push_back(TemplatePart{.text = {}, .expression = std::move(*expression)});
    pos = end + 2;
  }
  if (!literal.empty()) {
    parts.push_back(TemplatePart{.text = std::move(literal), .expression = std::nullopt});
  }
  return Template(std::move(parts));
}

// ---- Values ----

bool IsTruthy(const Json& value) {
  switch (value.type()) {
    case Json::value_t::null:
      return false;
    case Json::value_t::boolean:
      return value.get<bool>();
    case Json::value_t::number_integer:
      return value.get<std::int64_t>() != 0;
    case Json::value_t::number_unsigned:
      return value.get<std::uint64_t>() != 0;
    case Json::value_t::number_float: {
      const double d = value.get<double>();
      return d != 0 && !std::isnan(d);
    }
    case Json::value_t::string:
      return !value.get_ref<const std::string&>().empty();
    default:
      return true;
  }
}

namespace {

std::string NumberToString(double d) {
  if (std::isnan(d)) {
    return "NaN";
  }
  if (std::isinf(d)) {
    return d > 0 ? "Infinity" : "-Infinity";
  }
  if (d == 0) {
    return "0";
  }
  if (std::trunc(d) == d && std::fabs(d) < 1e15) {
    return std::to_string(static_cast<std::int64_t>(d));
  }
  std::array<char, 64> buffer{};
  const auto [end, ec] = std::to_chars(buffer.data(), buffer.data() + buffer.size(), d);
  return ec == std::errc() ? std::string(buffer.data(), end) : std::to_string(d);
}

std::string DumpJson(const Json& value) {
  return value.dump(2, ' ', false, Json::error_handler_t::replace);
}

}  // namespace

std::string ToDisplayString(const Json& value) {
  switch (value.type()) {
    case Json::value_t::null:
      return "";
    case Json::value_t::boolean:
      return value.get<bool>() ? "true" : "false";
    case Json::value_t::number_integer:
      return std::to_string(value.get<std::int64_t>());
    case Json::value_t::number_unsigned:
      return std::to_string(value.get<std::uint64_t>());
    case Json::value_t::number_float:
      return NumberToString(value.get<double>());
    case Json::value_t::string:
      return value.get<std::string>();
    default:
      return DumpJson(value);
  }
}

namespace {

bool IsPrimitive(const Json& value) { return !value.is_object() && !value.is_array(); }

// GitHub's string-to-number rule: trimmed, "" is 0, 0x.. is hex, otherwise a decimal
// number; anything else is NaN.
double StringToNumber(std::string_view text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) {
    return 0;
  }
  text = text.substr(first, text.find_last_not_of(" \t\r\n") - first + 1);
  if (text.size() > 1 && text.front() == '+' && (IsDigit(text[1]) || text[1] == '.')) {
    text.remove_prefix(1);
  }
  const auto literal = ParseNumberLiteral(text);
  return literal ? literal->get<double>() : std::numeric_limits<double>::quiet_NaN();
}

double ToNumber(const Json& value) {
  switch (value.type()) {
    case Json::value_t::null:
      return 0;
    case Json::value_t::boolean:
      return value.get<bool>() ? 1 : 0;
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float:
      return value.get<double>();
    case Json::value_t::string:
      return StringToNumber(value.get_ref<const std::string&>());
    default:
      return std::numeric_limits<double>::quiet_NaN();
  }
}

enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject };

Kind KindOf(const Json& value) {
  if (value.is_number()) {
    return Kind::kNumber;
  }
  if (value.is_string()) {
    return Kind::kString;
  }
  if (value.is_boolean()) {
    return Kind::kBool;
  }
  if (value.is_array()) {
    return Kind::kArray;
  }
  return value.is_object() ? Kind::kObject : Kind::kNull;
}

int CompareIgnoreCase(std::string_view a, std::string_view b) {
  const std::size_t n = std::min(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    const char x = Lower(a[i]);
    const char y = Lower(b[i]);
    if (x != y) {
      return static_cast<unsigned char>(x) < static_cast<unsigned char>(y) ? -1 : 1;
    }
  }
  return a.size() == b.size() ? 0 : (a.size() < b.size() ? -1 : 1);
}

// Loose comparison: mismatched types compare as numbers; strings ignore case. Returns
// nullopt when the values are unordered (NaN, arrays, objects).
std::optional<int> LooseCompare(const Json& a, const Json& b) {
  const Kind kind = KindOf(a);
  if (kind == KindOf(b) && kind == Kind::kString) {
    return CompareIgnoreCase(a.get_ref<const std::string&>(), b.get_ref<const std::string&>());
  }
  if (kind == KindOf(b) && (kind == Kind::kArray || kind == Kind::kObject)) {
    return std::nullopt;
  }
  const double x = ToNumber(a);
  const double y = ToNumber(b);
  if (std::isnan(x) || std::isnan(y)) {
    return std::nullopt;
  }
  return x < y ? -1 : (x > y ? 1 : 0);
}

bool LooseEquals(const Json& a, const Json& b) {
  const Kind kind = KindOf(a);
  if (kind == KindOf(b) && (kind == Kind::kArray || kind == Kind::kObject)) {
    return a == b;
  }
  const auto order = LooseCompare(a, b);
  return order && *order == 0;
}

// An evaluated value: a reference into the context or the tree when possible, so reading
// event.model.name does not copy the event.
class Value final {
 public:
  // clang-tidy flags the implicit noexcept members because nlohmann::json's may allocate.
  // NOLINTNEXTLINE(bugprone-exception-escape)
  Value() = default;
  static Value Ref(const Json& json) {
    Value v;
    v.ref_ = &json;
    return v;
  }
  static Value Own(Json json) {
    Value v;
    v.owned_ = std::move(json);
    return v;
  }
  const Json& Get() const { return ref_ != nullptr ? *ref_ : owned_; }
  Json Take() && {
    if (ref_ != nullptr) {
      return *ref_;
    }
    return std::move(owned_);
  }
  // The member `child` of this value: a reference when this value is one, else a copy.
  Value Child(const Json& child) const { return ref_ != nullptr ? Ref(child) : Own(child); }

 private:
  const Json* ref_ = nullptr;
  Json owned_;
};

const Json* FindMember(const Json& object, const std::string& key) {
  const auto exact = object.find(key);
  if (exact != object.end()) {
    return &*exact;
  }
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (EqualsIgnoreCase(it.key(), key)) {
      return &*it;
    }
  }
  return nullptr;
}

Value AccessMember(const Value& object, const std::string& key) {
  const Json& base = object.Get();
  const Json* member = base.is_object() ? FindMember(base, key) : nullptr;
  return member != nullptr ? object.Child(*member) : Value();
}

// a[index]: a member by name (non-strings are rendered first) or an element by position.
Value Access(const Value& object, const Json& index) {
  const Json& base = object.Get();
  if (base.is_object()) {
    return AccessMember(
        object, index.is_string() ? index.get_ref<const std::string&>() : ToDisplayString(index));
  }
  if (base.is_array() && IsPrimitive(index)) {
    const double position = ToNumber(index);
    if (position >= 0 && std::trunc(position) == position &&
        position < static_cast<double>(base.size())) {
      return object.Child(base[static_cast<std::size_t>(position)]);
    }
  }
  return Value();
}

class Evaluator {
 public:
  explicit Evaluator(const ExpressionContext& context) : context_(context) {}

  Result<Value> Eval(const Node& node) const {
    switch (node.kind) {
      case NodeKind::kLiteral:
        return Value::Ref(node.value);
      case NodeKind::kContext: {
        const auto it = context_.data.find(node.name);
        return it != context_.data.end() ? Value::Ref(*it) : Value();
      }
      case NodeKind::kProperty: {
        auto object = Eval(*node.children[0]);
        if (!object) {
          return object;
        }
        return AccessMember(*object, node.name);
      }
      case NodeKind::kIndex: {
        auto object = Eval(*node.children[0]);
        if (!object) {
          return object;
        }
        auto index = Eval(*node.children[1]);
        if (!index) {
          return index;
        }
        return Access(*object, index->Get());
      }
      case NodeKind::kNot: {
        auto operand = Eval(*node.children[0]);
        if (!operand) {
          return operand;
        }
        return Value::Own(Json(!IsTruthy(operand->Get())));
      }
      case NodeKind::kAnd:
      case NodeKind::kOr:
        return EvalLogical(node);
      case NodeKind::kCompare:
        return EvalCompare(node);
      case NodeKind::kCall:
        return EvalCall(node);
    }
    return Value();
  }

 private:
  // && returns the first falsy operand (or the last); || the first truthy one (or the last).
  Result<Value> EvalLogical(const Node& node) const {
    const bool stop_when = node.kind == NodeKind::kOr;
    Result<Value> result;
    for (const auto& child : node.children) {
      result = Eval(*child);
      if (!result || IsTruthy(result->Get()) == stop_when) {
        return result;
      }
    }
    return result;
  }

  Result<Value> EvalCompare(const Node& node) const {
    auto lhs = Eval(*node.children[0]);
    if (!lhs) {
      return lhs;
    }
    auto rhs = Eval(*node.children[1]);
    if (!rhs) {
      return rhs;
    }
    const Json& a = lhs->Get();
    const Json& b = rhs->Get();
    bool result = false;
    if (node.op == CompareOp::kEq || node.op == CompareOp::kNe) {
      result = LooseEquals(a, b) == (node.op == CompareOp::kEq);
    } else if (const auto order = LooseCompare(a, b)) {
      switch (node.op) {
        case CompareOp::kLt:
          result = *order < 0;
          break;
        case CompareOp::kLe:
          result = *order <= 0;
          break;
        case CompareOp::kGt:
          result = *order > 0;
          break;
        default:
          result = *order >= 0;
          break;
      }
    }
    return Value::Own(Json(result));
  }

  bool AnyNeedIs(std::initializer_list<std::string_view> states) const {
    return std::any_of(context_.needs_statuses.begin(), context_.needs_statuses.end(),
                       [&](const std::string& status) {
                         return std::find(states.begin(), states.end(), status) != states.end();
                       });
  }

  Result<Value> EvalCall(const Node& node) const {
    std::vector<Value> args;
    args.reserve(node.children.size());
    for (const auto& child : node.children) {
      auto arg = Eval(*child);
      if (!arg) {
        return arg;
      }
      args.push_back(std::move(*arg));
    }
    switch (node.function) {
      case FunctionId::kSuccess:
        // A skipped need did not succeed: success() is false after it, as in GitHub Actions.
        return Value::Own(Json(!context_.run_cancelled &&
                               !AnyNeedIs({"failed", "timed_out", "cancelled", "skipped"})));
      case FunctionId::kFailure:
        return Value::Own(Json(context_.ancestor_failed || AnyNeedIs({"failed", "timed_out"})));
      case FunctionId::kAlways:
        return Value::Own(Json(true));
      case FunctionId::kCancelled:
        return Value::Own(Json(context_.run_cancelled));
      case FunctionId::kContains:
        return Value::Own(Json(Contains(args[0].Get(), args[1].Get())));
      case FunctionId::kStartsWith:
      case FunctionId::kEndsWith:
        return Value::Own(
            Json(Affix(args[0].Get(), args[1].Get(), node.function == FunctionId::kStartsWith)));
      case FunctionId::kFormat:
        return Format(node, args);
      case FunctionId::kToJson:
        return Value::Own(Json(DumpJson(args[0].Get())));
      case FunctionId::kFromJson:
        return FromJson(node, args[0].Get());
    }
    return Value();
  }

  static bool Contains(const Json& search, const Json& item) {
    if (search.is_array()) {
      return std::any_of(search.begin(), search.end(),
                         [&](const Json& element) { return LooseEquals(element, item); });
    }
    if (!IsPrimitive(search) || !IsPrimitive(item)) {
      return false;
    }
    const std::string haystack = ToLower(ToDisplayString(search));
    return haystack.find(ToLower(ToDisplayString(item))) != std::string::npos;
  }

  static bool Affix(const Json& text, const Json& affix, bool prefix) {
    if (!IsPrimitive(text) || !IsPrimitive(affix)) {
      return false;
    }
    const std::string whole = ToDisplayString(text);
    const std::string part = ToDisplayString(affix);
    if (part.size() > whole.size()) {
      return false;
    }
    const std::size_t at = prefix ? 0 : whole.size() - part.size();
    return EqualsIgnoreCase(std::string_view(whole).substr(at, part.size()), part);
  }

  static Result<Value> Format(const Node& node, const std::vector<Value>& args) {
    const std::string pattern = ToDisplayString(args[0].Get());
    const std::string where = "format() at column " + std::to_string(node.column) + ": ";
    std::string out;
    for (std::size_t i = 0; i < pattern.size(); ++i) {
      const char c = pattern[i];
      const char next = i + 1 < pattern.size() ? pattern[i + 1] : '\0';
      if ((c == '{' && next == '{') || (c == '}' && next == '}')) {
        out += c;
        ++i;
        continue;
      }
      if (c == '}') {
        return Invalid(where + "unmatched '}' at position " + std::to_string(i + 1) +
                       " of the format string; write }} for a literal brace");
      }
      if (c != '{') {
        out += c;
        continue;
      }
      const std::size_t close = pattern.find('}', i);
      std::size_t index = 0;
      const char* first = pattern.data() + i + 1;
      const char* last = pattern.data() + (close == std::string::npos ? i + 1 : close);
      const auto [end, ec] = std::from_chars(first, last, index);
      if (close == std::string::npos || first == last || ec != std::errc() || end != last) {
        return Invalid(where + "'{' at position " + std::to_string(i + 1) +
                       " of the format string does not start a placeholder such as {0}; "
                       "write {{ for a literal brace");
      }
      if (index >= args.size() - 1) {
        return Invalid(where + "the format string uses {" + std::to_string(index) + "} but only " +
                       std::to_string(args.size() - 1) +
                       " value(s) follow it; placeholders count from {0}");
      }
      out += ToDisplayString(args[index + 1].Get());
      i = close;
    }
    return Value::Own(Json(std::move(out)));
  }

  static Result<Value> FromJson(const Node& node, const Json& argument) {
    const std::string text = ToDisplayString(argument);
    const std::string where = "fromJSON() at column " + std::to_string(node.column) + ": ";
    bool too_deep = false;
    const Json::parser_callback_t limit = [&too_deep](int depth, Json::parse_event_t, Json&) {
      // `depth` counts from 0, so the 65th nested level arrives with depth 64.
      too_deep = too_deep || depth >= static_cast<int>(kMaxFromJsonDepth);
      return !too_deep;
    };
    try {
      Json parsed = Json::parse(text, limit);
      if (too_deep) {
        return Invalid(where + "the JSON nests deeper than " + std::to_string(kMaxFromJsonDepth) +
                       " levels");
      }
      return Value::Own(std::move(parsed));
    } catch (const Json::parse_error& error) {
      return Invalid(where + "the argument is not valid JSON (syntax error at byte " +
                     std::to_string(error.byte) + "); pass a JSON text such as '{\"a\": 1}'");
    }
  }

  const ExpressionContext& context_;
};

void AddUnique(std::vector<Path>& out, Path path) {
  if (std::find(out.begin(), out.end(), path) == out.end()) {
    out.push_back(std::move(path));
  }
}

// The context path of an access chain, and whether it is still being extended.
std::pair<Path, bool> PathOf(const Node& node) {
  if (node.kind == NodeKind::kContext) {
    return {{node.name}, true};
  }
  if (node.kind != NodeKind::kProperty && node.kind != NodeKind::kIndex) {
    return {{}, false};
  }
  auto [path, open] = PathOf(*node.children[0]);
  if (!open) {
    return {std::move(path), false};
  }
  if (node.kind == NodeKind::kProperty) {
    path.push_back(node.name);
    return {std::move(path), true};
  }
  const Node& index = *node.children[1];
  if (index.kind == NodeKind::kLiteral && index.value.is_string()) {
    path.push_back(index.value.get<std::string>());
    return {std::move(path), true};
  }
  return {std::move(path), false};
}

void CollectReferences(const Node& node, std::vector<Path>& out) {
  const bool access = node.kind == NodeKind::kContext || node.kind == NodeKind::kProperty ||
                      node.kind == NodeKind::kIndex;
  if (!access) {
    for (const auto& child : node.children) {
      CollectReferences(*child, out);
    }
    return;
  }
  auto path = PathOf(node).first;
  if (!path.empty()) {
    AddUnique(out, std::move(path));
  }
  // Walk down the chain: the index expressions and a non-context base read contexts too.
  const Node* link = &node;
  while (link->kind == NodeKind::kProperty || link->kind == NodeKind::kIndex) {
    if (link->kind == NodeKind::kIndex) {
      CollectReferences(*link->children[1], out);
    }
    link = link->children[0].get();
  }
  if (link->kind != NodeKind::kContext) {
    CollectReferences(*link, out);
  }
}

void CollectFunctions(const Node& node, std::vector<std::string>& out) {
  if (node.kind == NodeKind::kCall && std::find(out.begin(), out.end(), node.name) == out.end()) {
    out.push_back(node.name);
  }
  for (const auto& child : node.children) {
    CollectFunctions(*child, out);
  }
}

}  // namespace

Result<Json> Evaluate(const Expression& expression, const ExpressionContext& context) {
  try {
    auto value = Evaluator(context).Eval(expression.Root());
    if (!value) {
      return tl::unexpected(value.error());
    }
    return std::move(*value).Take();
  } catch (const nlohmann::json::exception& error) {
    return Fail(ErrorCode::kInternal,
                std::string("evaluating an expression failed: ") + error.what());
  }
}

Result<std::string> Render(const Template& t, const ExpressionContext& context) {
  std::string out;
  for (const auto& part : t.Parts()) {
    if (!part.expression) {
      out += part.text;
      continue;
    }
    auto value = Evaluate(*part.expression, context);
    if (!value) {
      return tl::unexpected(value.error());
    }
    out += ToDisplayString(*value);
  }
  return out;
}

Result<Json> EvaluateTemplate(const Template& t, const ExpressionContext& context) {
  if (t.Parts().size() == 1 && t.Parts().front().expression) {
    return Evaluate(*t.Parts().front().expression, context);
  }
  auto rendered = Render(t, context);
  if (!rendered) {
    return tl::unexpected(rendered.error());
  }
  return Json(std::move(*rendered));
}

std::vector<std::vector<std::string>> References(const Expression& expression) {
  std::vector<Path> out;
  CollectReferences(expression.Root(), out);
  return out;
}

std::vector<std::vector<std::string>> References(const Template& t) {
  std::vector<Path> out;
  for (const auto& part : t.Parts()) {
    if (part.expression) {
      CollectReferences(part.expression->Root(), out);
    }
  }
  return out;
}

std::vector<std::string> FunctionsCalled(const Expression& expression) {
  std::vector<std::string> out;
  CollectFunctions(expression.Root(), out);
  return out;
}

}  // namespace stagegate::pipelines

#include "orchestrator/core/glob.hpp"

namespace stagegate {
namespace {

// Matches a [...] class at pattern[p]; sets `end` past the closing bracket. A class without
// a closing bracket is a literal '['.
bool ClassMatch(std::string_view pattern, std::size_t p, char c, std::size_t& end) {
  std::size_t i = p + 1;
  const bool negate = i < pattern.size() && (pattern[i] == '!' || pattern[i] == '^');
  if (negate) ++i;
  bool matched = false;
  bool first = true;
  for (; i < pattern.size() && (first || pattern[i] != ']'); ++i, first = false) {
    if (i + 2 < pattern.size() && pattern[i + 1] == '-' && pattern[i + 2] != ']') {
      matched = matched || (c >= pattern[i] && c <= pattern[i + 2]);
      i += 2;
    } else {
      matched = matched || c == pattern[i];
    }
  }
  if (i >= pattern.size()) {
    end = p + 1;
    return c == '[';
  }
  end = i + 1;
  return matched != negate;
}

}  // namespace

bool GlobMatch(std::string_view pattern, std::string_view text) {
  // Iterative matcher with one backtrack point for the last '*': linear in practice and
  // never exponential, whatever the pattern.
  std::size_t p = 0;
  std::size_t t = 0;
  std::size_t star = std::string_view::npos;
  std::size_t star_text = 0;
  while (t < text.size()) {
    std::size_t next = 0;
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      star_text = t;
    } else if (p < pattern.size() && pattern[p] == '?') {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '[' && ClassMatch(pattern, p, text[t], next)) {
      p = next;
      ++t;
    } else if (p < pattern.size() && pattern[p] != '[' && pattern[p] == text[t]) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++star_text;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

}  // namespace stagegate

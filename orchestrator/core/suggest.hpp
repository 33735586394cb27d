#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace stagegate {

/// The candidate closest to `word` by edit distance, when it is close enough to be a likely
/// typo (at most about a third of the word's length, and at least 2 edits allowed); empty
/// otherwise. For "did you mean" hints in error messages. Pure.
std::string Suggest(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace stagegate

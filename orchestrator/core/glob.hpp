#pragma once

#include <string>
#include <string_view>

namespace stagegate {

/// Shell-style glob: `*` any run, `?` one character, `[abc]`/`[a-z]`/`[!a]` a class (a `[`
/// without its `]` is literal). Linear in practice, never exponential. Pure.
bool GlobMatch(std::string_view pattern, std::string_view text);

/// True when `text` holds any glob character.
inline bool IsGlob(std::string_view text) { return text.find_first_of("*?[") != std::string_view::npos; }

}  // namespace stagegate

#pragma once

#include <string>
#include <string_view>

#include "orchestrator/core/event.hpp"

namespace stagegate {

/// ASCII case-insensitive equality, as HTTP header names compare.
bool EqualsIgnoreCase(std::string_view a, std::string_view b);

/// ASCII case mapping; other bytes are kept.
std::string AsciiLower(std::string text);
std::string AsciiUpper(std::string text);

/// The value of the first header named `name` (case-insensitive); empty when absent.
std::string_view FindHeader(const HeaderList& headers, std::string_view name);

/// Percent-encodes every byte but the unreserved characters (A-Z a-z 0-9 - _ . ~), for a
/// URL path segment or a query value.
std::string PercentEncode(std::string_view text);

/// Standard base64 (RFC 4648 §4) with padding, e.g. for HTTP Basic credentials.
std::string Base64Encode(std::string_view bytes);

}  // namespace stagegate

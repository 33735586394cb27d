#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "orchestrator/core/result.hpp"

namespace stagegate::webhooks {

using Digest = std::array<unsigned char, 32>;

/// HMAC-SHA256 of the concatenation of `parts` (no copy is made to join them). Pure.
Digest HmacSha256(std::string_view key, std::initializer_list<std::string_view> parts);
/// SHA-256 of `data` as lowercase hex. Pure.
std::string Sha256Hex(std::string_view data);
/// Lowercase hex of the bytes.
std::string ToHex(const Digest& digest);
/// Standard base64 with padding (RFC 4648 §4).
std::string ToBase64(std::string_view bytes);
std::string ToBase64(const Digest& digest);
/// Decodes standard base64; padding optional. Fails on any other character.
Result<std::string> FromBase64(std::string_view text);
/// Constant-time for equal lengths; different lengths compare unequal at once.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace stagegate::webhooks

#pragma once
// Helpers shared by the API handlers of this folder; not part of any public interface.

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "orchestrator/server/http_types.hpp"

namespace stagegate::api {

inline constexpr int kDefaultPageLimit = 50;
inline constexpr int kMaxPageLimit = 500;

/// One JSON document per answer, newline-terminated; invalid UTF-8 is replaced, never thrown.
inline std::string Dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

/// A whole decimal number, nothing around it.
inline bool ParseInt(std::string_view text, std::int64_t& out) {
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && ptr == text.data() + text.size();
}

/// 405 naming the methods the resource takes, with the Allow header.
inline server::HttpResponse MethodNotAllowed(const std::string& method, const char* allow) {
  auto r = server::JsonError(405, "this resource accepts " + std::string(allow) + " only, not " + method);
  r.headers.emplace_back("Allow", allow);
  return r;
}

}  // namespace stagegate::api

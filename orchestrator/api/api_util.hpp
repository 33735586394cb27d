#pragma once
// Helpers shared by the API handlers of this folder; not part of any public interface.

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "orchestrator/core/units.hpp"
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

/// A whole number above zero: an id, a cursor, a limit.
inline bool ParsePositive(std::string_view text, std::int64_t& out) {
  return ParseInt(text, out) && out > 0;
}

/// The `limit` and `cursor` query parameters of a list: the page size, and the id below which
/// the page starts (0 from the newest).
struct Page {
  std::int64_t limit = kDefaultPageLimit;
  std::int64_t before_id = 0;
};

/// Reads `limit` (1 to kMaxPageLimit) and `cursor`; kInvalidArgument saying what to send.
inline Result<Page> ParsePage(const server::HttpRequest& request) {
  Page page;
  if (const std::string text = request.Query("limit"); !text.empty()) {
    if (!ParsePositive(text, page.limit) || page.limit > kMaxPageLimit) {
      return Fail(ErrorCode::kInvalidArgument,
                  "limit must be a whole number from 1 to " + std::to_string(kMaxPageLimit));
    }
  }
  if (const std::string cursor = request.Query("cursor"); !cursor.empty()) {
    if (!ParsePositive(cursor, page.before_id)) {
      return Fail(ErrorCode::kInvalidArgument,
                  "cursor '" + cursor + "' is not valid; pass the next_cursor of a previous page");
    }
  }
  return page;
}

/// The body of one page of a list read with `limit + 1` rows (newest first): {key: the first
/// `limit` rows as JSON, "next_cursor": the last shown row's id, or null when no row is left}.
template <class Row, class ToJson>
nlohmann::json PageBody(const char* key, const std::vector<Row>& rows, std::int64_t limit,
                        ToJson to_json) {
  nlohmann::json items = nlohmann::json::array();
  nlohmann::json next = nullptr;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (static_cast<std::int64_t>(i) == limit) {
      next = std::to_string(rows[i - 1].id);
      break;
    }
    items.push_back(to_json(rows[i]));
  }
  return {{key, std::move(items)}, {"next_cursor", std::move(next)}};
}

/// A time as ISO 8601 with milliseconds, or null when it is 0 (not known yet).
inline nlohmann::json TimeOrNull(std::int64_t ms) {
  return ms == 0 ? nlohmann::json(nullptr) : nlohmann::json(FormatIsoMillis(ms));
}

/// 405 naming the methods the resource takes, with the Allow header.
inline server::HttpResponse MethodNotAllowed(const std::string& method, const char* allow) {
  auto r = server::JsonError(405, "this resource accepts " + std::string(allow) + " only, not " + method);
  r.headers.emplace_back("Allow", allow);
  return r;
}

}  // namespace stagegate::api

#pragma once
// JSON and query-string helpers shared by the registry code of this folder; not part of any
// public interface.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace stagegate::registry {

/// Compact JSON; invalid UTF-8 is replaced, never thrown.
std::string Dump(const nlohmann::json& j);

/// A string field; numbers (where an API is loose about types: ids, versions) as their JSON
/// text; "" when absent, null, or `j` is not an object.
std::string StringField(const nlohmann::json& j, const char* key);

/// An integer field, also from a string of digits; 0 when absent or not a number.
std::int64_t IntField(const nlohmann::json& j, const char* key);

/// "?a=1&b=2" from name/value pairs, percent-encoded; repeated names repeat
/// (stages=a&stages=b). Pairs with an empty value are left out when `skip_empty`.
std::string Query(const std::vector<std::pair<std::string, std::string>>& params,
                  bool skip_empty = false);

}  // namespace stagegate::registry

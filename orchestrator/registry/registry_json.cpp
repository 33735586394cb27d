#include "orchestrator/registry/registry_json.hpp"

#include "orchestrator/core/headers.hpp"

namespace stagegate::registry {

using nlohmann::json;

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string StringField(const json& j, const char* key) {
  if (!j.is_object()) return {};
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return {};
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}

std::int64_t IntField(const json& j, const char* key) {
  if (!j.is_object()) return 0;
  const auto it = j.find(key);
  if (it == j.end()) return 0;
  if (it->is_number_integer()) return it->get<std::int64_t>();
  if (it->is_string()) {
    try {
      return std::stoll(it->get<std::string>());
    } catch (const std::exception&) {
      return 0;
    }
  }
  return 0;
}

std::string Query(const std::vector<std::pair<std::string, std::string>>& params, bool skip_empty) {
  std::string out;
  for (const auto& [k, v] : params) {
    if (skip_empty && v.empty()) continue;
    out += out.empty() ? "?" : "&";
    out += PercentEncode(k) + "=" + PercentEncode(v);
  }
  return out;
}

}  // namespace stagegate::registry

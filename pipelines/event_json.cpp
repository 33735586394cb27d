#include "pipelines/event_json.hpp"

#include "orchestrator/core/units.hpp"

namespace stagegate::pipelines {
namespace {

using nlohmann::json;

json NullIfEmpty(const std::string& s) { return s.empty() ? json(nullptr) : json(s); }

}  // namespace

json EventSummaryJson(const Event& e) {
  json tags = json::array();
  for (const auto& t : e.tags) {
    tags.push_back({{"key", t.key}, {"value", t.value}});
  }
  json out = {{"id", e.id},
              {"endpoint", e.endpoint},
              {"source", e.source},
              {"type", e.type},
              {"raw_type", e.raw_type},
              {"model", e.model_name.empty()
                            ? json(nullptr)
                            : json{{"name", e.model_name}, {"version", NullIfEmpty(e.model_version)}}},
              {"from_stage", NullIfEmpty(e.from_stage)},
              {"to_stage", NullIfEmpty(e.to_stage)},
              {"alias", NullIfEmpty(e.alias)},
              {"tags", tags},
              {"text", NullIfEmpty(e.text)},
              {"delivery_id", NullIfEmpty(e.delivery_id)},
              {"received_at", FormatIsoMillis(e.received_at_ms)},
              {"sent_at", NullIfEmpty(FormatIsoMillis(e.sent_at_ms))}};
  if (e.type == "push") {
    out["git"] = {{"repository", e.repository}, {"ref", e.ref}, {"commit", e.commit}};
  }
  return out;
}

json EventJson(const Event& e) {
  json out = EventSummaryJson(e);
  json headers = json::array();
  for (const auto& [name, value] : e.headers) {
    headers.push_back({{"name", name}, {"value", value}});
  }
  out["headers"] = headers;
  out["dedupe_key"] = e.dedupe_key;
  out["verification"] = {
      {"scheme", e.verification.scheme},
      {"verified", e.verification.scheme != "none"},
      {"secret_index", e.verification.secret_index < 0 ? json(nullptr)
                                                       : json(e.verification.secret_index)},
      {"signed_at", e.verification.signed_at_s == 0
                        ? json(nullptr)
                        : json(FormatIsoMillis(e.verification.signed_at_s * 1000))},
      {"skew_seconds", e.verification.signed_at_s == 0 ? json(nullptr)
                                                       : json(e.verification.skew_s)}};
  out["payload"] = e.payload;
  out["payload_bytes"] = e.payload.size();
  return out;
}

json EventContextJson(const Event& e) {
  json out = EventJson(e);
  // Pipelines read payload fields (event.payload.webhook_id): parsed when it is JSON.
  json parsed = json::parse(e.payload, nullptr, false);
  if (!parsed.is_discarded()) out["payload"] = std::move(parsed);
  return out;
}

}  // namespace stagegate::pipelines

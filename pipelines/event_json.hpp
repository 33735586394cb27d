#pragma once

#include <nlohmann/json.hpp>

#include "orchestrator/core/event.hpp"

namespace stagegate::pipelines {

/// An event as GET /api/v1/events lists it: normalised fields, no headers or payload.
nlohmann::json EventSummaryJson(const Event& event);
/// An event as GET /api/v1/events/{id} shows it: the summary plus redacted headers, dedupe
/// key, verification and the raw payload text.
nlohmann::json EventJson(const Event& event);
/// The `event` context of a run: EventJson with the payload parsed when it is JSON.
nlohmann::json EventContextJson(const Event& event);

}  // namespace stagegate::pipelines

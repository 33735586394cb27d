#pragma once

#include <string_view>

#include "orchestrator/core/event.hpp"
#include "orchestrator/core/result.hpp"
#include "orchestrator/core/service_config.hpp"

namespace stagegate::webhooks {

/// A parsed delivery: either an event in canonical form, or a sender's liveness probe
/// (GitHub's `ping`) that is answered but not stored.
struct Normalized {
  Event event;  // type, raw_type, model, stages, alias, tags, text, git fields, sent_at_ms
  bool ping = false;
};

/// Parses a verified body and maps it onto the canonical event (DESIGN.md "Core types"):
/// Databricks' 12 event names (protocols.md §1.2, §1.5), MLflow `entity.action` envelopes
/// (§3.1, §3.2), GitHub push (§4), and the Standard Webhooks convention
/// {"type", "timestamp", "data"} (§5) for `standard` and `none` endpoints.
/// Failures are kInvalidArgument naming the field and what was expected. Pure.
Result<Normalized> NormalizePayload(Scheme scheme, const HeaderList& headers,
                                    std::string_view body);

/// Parses "2025-07-31T08:27:32.080217+00:00" or "...Z" into Unix milliseconds; 0 if invalid.
std::int64_t ParseIsoTimestampMs(std::string_view text);

}  // namespace stagegate::webhooks

#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace stagegate {

/// A canonical event type and what a sender's spelling implies about it.
struct CanonicalType {
  std::string type;      // e.g. "transition_request.created"
  std::string to_stage;  // implied by names such as TRANSITION_REQUEST_TO_PRODUCTION_CREATED
};

/// The canonical event types of the design, in documentation order.
const std::vector<std::string>& CanonicalEventTypes();

/// Maps a canonical name, one of Databricks' 12 registry event names or an MLflow
/// `entity.action` pair onto the canonical type. Pure.
std::optional<CanonicalType> CanonicalizeEventType(std::string_view spelling);

/// Databricks' 12 registry webhook event names (protocols.md §1.2).
const std::vector<std::string>& DatabricksEventNames();

}  // namespace stagegate

#pragma once

// The twelve Databricks registry webhook event names with the canonical type and target stage
// each maps to (protocols.md §1.2): the expected table of the event-type and normalizer tests.

namespace stagegate::fixtures {

struct DatabricksEventName {
  const char* name;
  const char* type;
  const char* to_stage;
};

inline constexpr DatabricksEventName kDatabricksEventNames[] = {
    {"MODEL_VERSION_CREATED", "model_version.created", ""},
    {"MODEL_VERSION_TRANSITIONED_STAGE", "model_version.stage_transitioned", ""},
    {"TRANSITION_REQUEST_CREATED", "transition_request.created", ""},
    {"COMMENT_CREATED", "comment.created", ""},
    {"REGISTERED_MODEL_CREATED", "registered_model.created", ""},
    {"MODEL_VERSION_TAG_SET", "model_version_tag.set", ""},
    {"MODEL_VERSION_TRANSITIONED_TO_STAGING", "model_version.stage_transitioned", "Staging"},
    {"MODEL_VERSION_TRANSITIONED_TO_PRODUCTION", "model_version.stage_transitioned", "Production"},
    {"MODEL_VERSION_TRANSITIONED_TO_ARCHIVED", "model_version.stage_transitioned", "Archived"},
    {"TRANSITION_REQUEST_TO_STAGING_CREATED", "transition_request.created", "Staging"},
    {"TRANSITION_REQUEST_TO_PRODUCTION_CREATED", "transition_request.created", "Production"},
    {"TRANSITION_REQUEST_TO_ARCHIVED_CREATED", "transition_request.created", "Archived"},
};

}  // namespace stagegate::fixtures

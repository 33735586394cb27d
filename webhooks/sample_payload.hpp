#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "orchestrator/core/event.hpp"
#include "orchestrator/core/result.hpp"
#include "orchestrator/core/service_config.hpp"

namespace stagegate::webhooks {

/// What `stagegate send` puts into a sample event. Empty fields take scheme defaults.
struct SampleSpec {
  std::string type;  // canonical, or the sender's own spelling
  std::string model = "demo-model";
  std::string version = "1";
  std::string from_stage;
  std::string to_stage;
  std::string alias;
  std::vector<Tag> tags;
  std::string text;
  std::int64_t now_ms = 0;
};

/// The body a real sender of `scheme` would post for `spec`, byte-compatible with its
/// format (MLflow bodies use Python json.dumps separators, protocols.md §3.2). Fails when
/// the scheme has no such event. Pure.
Result<std::string> SamplePayload(Scheme scheme, const SampleSpec& spec);

/// Python json.dumps(obj) of a JSON text: ", " and ": " separators, non-ASCII as \uXXXX,
/// key order kept. Used for MLflow-compatible bodies.
std::string PythonJsonDumps(const std::string& json_text);

}  // namespace stagegate::webhooks

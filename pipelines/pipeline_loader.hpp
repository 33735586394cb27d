#pragma once

#include <optional>
#include <string>
#include <vector>

#include "orchestrator/core/pipeline.hpp"

namespace stagegate::pipelines {

/// One problem found in a pipeline file: where it is, what is wrong and what to write.
struct Diagnostic {
  std::string file;
  int line = 0;    // 1-based; 0 when the problem has no single place
  int column = 0;
  std::string message;

  /// "file:line:column: message"
  std::string ToString() const;
};

/// A pipeline and every problem found in it. `spec` is set only when `errors` is empty.
struct LoadedPipeline {
  std::optional<PipelineSpec> spec;
  std::vector<Diagnostic> errors;
};

/// Parses and validates pipeline YAML (docs/pipelines.md): syntax, unknown keys (with a
/// "did you mean"), types, task ids and `needs` (unknown ids, cycles printed in full),
/// `${{ }}` expressions and what they may read (outputs of upstream tasks only), cron
/// schedules, durations, and `${{ }}` inside `run:` (with the `env:` rewrite). Reports every
/// problem it can find, not just the first. Pure.
LoadedPipeline LoadPipelineText(const std::string& text, const std::string& file);

/// Reads `path` and calls LoadPipelineText.
LoadedPipeline LoadPipelineFile(const std::string& path);

}  // namespace stagegate::pipelines

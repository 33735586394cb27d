// Arbitrary text into the pipeline loader (YAML, keys, expressions, cron, the needs graph) and
// into the expression parser: every input gets a spec or diagnostics, never a crash, and a
// rejected pipeline always says where.
#include <cstddef>
#include <cstdint>
#include <string>

#include "pipelines/expression.hpp"
#include "pipelines/pipeline_loader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const auto loaded = stagegate::pipelines::LoadPipelineText(text, "fuzz.yaml");
  if (loaded.spec.has_value() == !loaded.errors.empty()) {
    __builtin_trap();  // exactly one of a spec or diagnostics
  }
  for (const auto& d : loaded.errors) {
    if (d.file != "fuzz.yaml" || d.message.empty()) __builtin_trap();
  }
  if (auto expression = stagegate::pipelines::ParseExpression(text)) {
    stagegate::pipelines::ExpressionContext context;
    (void)stagegate::pipelines::Evaluate(*expression, context);
  }
  (void)stagegate::pipelines::ParseTemplate(text);
  return 0;
}

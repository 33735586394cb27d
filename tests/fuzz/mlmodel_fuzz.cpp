// Arbitrary bytes as an MLmodel file, as a signature entry and as an input example: the
// validate-model action reads all three from an untrusted model directory. Every input gets a
// model or an error naming the file, never a crash, and problem lists stay short.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "ml/validate_model.hpp"

namespace {

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

bool StartsWith(const std::string& text, std::string_view prefix) {
  return text.rfind(prefix, 0) == 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace stagegate::ml;
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  std::optional<SchemaSpec> inputs;
  if (auto model = ParseMlmodel(text); !model) {
    Check(StartsWith(model.error().message, "MLmodel"));
  } else if (model->signature && model->signature->has_value()) {
    const auto& signature = **model->signature;
    if (signature.inputs) {
      auto schema = ParseSchemaJson(*signature.inputs, "signature inputs");
      if (schema) inputs = std::move(*schema);
      Check(schema || StartsWith(schema.error().message, "signature inputs"));
    }
    if (signature.outputs) {
      auto schema = ParseSchemaJson(*signature.outputs, "signature outputs");
      Check(schema || StartsWith(schema.error().message, "signature outputs"));
    }
  }

  auto schema = ParseSchemaJson(text, "fuzz");
  Check(schema || StartsWith(schema.error().message, "fuzz"));
  const SchemaSpec against = schema ? *schema : inputs.value_or(SchemaSpec{});
  for (const std::string_view orient : {"", "split", "records", "values"}) {
    const auto example = CheckInputExample(text, orient, against);
    Check(example.problems.size() <= 6);  // five problems and "and N more"
  }
  return 0;
}

// Arbitrary YAML into the config loader: it must answer with a config or an error message,
// never crash. Secrets are references, so no environment or file content leaks in.
#include <cstddef>
#include <cstdint>
#include <string>

#include "orchestrator/config/config_loader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto config = stagegate::config::LoadConfigText(text, "fuzz.yaml");
  if (!config && config.error().message.rfind("fuzz.yaml", 0) != 0) {
    __builtin_trap();  // every config error names the file
  }
  return 0;
}

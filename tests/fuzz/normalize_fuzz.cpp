// Feeds arbitrary bodies to every scheme's payload normaliser: it must return a value or an
// error, never crash, hang or read out of bounds. The first byte picks the scheme and, for
// GitHub, the event header.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "webhooks/normalize.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace stagegate;
  if (size == 0) return 0;
  static constexpr Scheme kSchemes[] = {Scheme::kDatabricks, Scheme::kMlflow, Scheme::kStandard,
                                        Scheme::kGithub, Scheme::kNone};
  const Scheme scheme = kSchemes[data[0] % 5];
  const HeaderList headers = {{"X-GitHub-Event", (data[0] & 0x80U) != 0 ? "ping" : "push"},
                              {"Content-Type", "application/json"}};
  const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  auto result = webhooks::NormalizePayload(scheme, headers, body);
  if (result && !result->ping && result->event.type.empty()) {
    __builtin_trap();  // a mapped event always has a canonical type
  }
  (void)webhooks::ParseIsoTimestampMs(body);
  return 0;
}

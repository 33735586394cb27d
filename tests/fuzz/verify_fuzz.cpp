// Arbitrary signature headers and bodies against each scheme's verifier: never crash, and
// never accept a delivery that was not signed with the configured secret (the fuzzer cannot
// compute an HMAC, so any acceptance of a signed scheme is a bug).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "webhooks/signature.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace stagegate;
  if (size < 2) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  // Split the input into header values and a body on '\n'.
  std::string_view parts[4];
  std::string_view rest = input;
  for (auto& part : parts) {
    const auto nl = rest.find('\n');
    part = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
  }
  static constexpr Scheme kSchemes[] = {Scheme::kDatabricks, Scheme::kMlflow, Scheme::kStandard,
                                        Scheme::kGithub};
  EndpointConfig endpoint;
  endpoint.scheme = kSchemes[data[0] % 4];
  endpoint.secrets = {Secret{"env:A", endpoint.scheme == Scheme::kStandard
                                          ? "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
                                          : "fuzz-secret"}};
  const HeaderList headers = {
      {"X-Databricks-Signature", std::string(parts[0])}, {"X-MLflow-Signature", std::string(parts[0])},
      {"X-MLflow-Delivery-Id", std::string(parts[1])},   {"X-MLflow-Timestamp", std::string(parts[2])},
      {"webhook-signature", std::string(parts[0])},      {"webhook-id", std::string(parts[1])},
      {"webhook-timestamp", std::string(parts[2])},      {"X-Hub-Signature-256", std::string(parts[0])}};
  auto verified = webhooks::VerifyDelivery(endpoint, headers, parts[3], 1'700'000'000);
  if (verified) {
    __builtin_trap();
  }
  (void)webhooks::RedactHeaders(headers);
  return 0;
}

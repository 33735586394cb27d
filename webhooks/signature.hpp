#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "orchestrator/core/event.hpp"
#include "orchestrator/core/headers.hpp"
#include "orchestrator/core/result.hpp"
#include "orchestrator/core/service_config.hpp"

namespace stagegate::webhooks {

/// What a successful verification established about a delivery.
struct VerifiedDelivery {
  int secret_index = -1;     // which configured secret matched; -1 for scheme none
  std::string delivery_id;   // the sender's id; empty when the scheme has none
  std::int64_t signed_at_s = 0;  // signed timestamp, 0 when the scheme has none
};

using stagegate::FindHeader;

/// The HMAC key a scheme derives from a configured secret: the secret's UTF-8 bytes, or for
/// `standard` the base64 decoding of what follows `whsec_`. Fails when the secret cannot be
/// used, with a message that does not contain it.
Result<std::string> SigningKey(Scheme scheme, std::string_view secret);

/// Verifies a delivery over the raw body before anything parses it (protocols.md §1.7, §3.4,
/// §4, §5): the configured Authorization value when the endpoint has one, required headers
/// present and well-formed, the signature matches one of the
/// endpoint's secrets (constant-time), and the signed timestamp lies within the endpoint's
/// tolerance of `now_s`. Failures are kUnauthenticated with a one-line reason naming the
/// header; they never contain a secret or the expected signature. Pure and thread-safe.
Result<VerifiedDelivery> VerifyDelivery(const EndpointConfig& endpoint, const HeaderList& headers,
                                        std::string_view body, std::int64_t now_s);

/// The headers a sender of `scheme` would attach to `body` (used by `stagegate send`, the
/// benchmark and tests). `delivery_id` and `timestamp_s` are ignored by schemes without them.
HeaderList SignDelivery(Scheme scheme, std::string_view secret, std::string_view delivery_id,
                        std::int64_t timestamp_s, std::string_view body);

/// Replaces the values of signature and credential headers with "[redacted]".
HeaderList RedactHeaders(const HeaderList& headers);

}  // namespace stagegate::webhooks

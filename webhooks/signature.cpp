#include "webhooks/signature.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <vector>

#include "orchestrator/core/units.hpp"
#include "webhooks/crypto.hpp"

namespace stagegate::webhooks {
namespace {

constexpr std::string_view kDatabricksSignature = "X-Databricks-Signature";
constexpr std::string_view kMlflowSignature = "X-MLflow-Signature";
constexpr std::string_view kMlflowDeliveryId = "X-MLflow-Delivery-Id";
constexpr std::string_view kMlflowTimestamp = "X-MLflow-Timestamp";
constexpr std::string_view kStandardId = "webhook-id";
constexpr std::string_view kStandardTimestamp = "webhook-timestamp";
constexpr std::string_view kStandardSignature = "webhook-signature";
constexpr std::string_view kGithubSignature = "X-Hub-Signature-256";
constexpr std::string_view kGithubDelivery = "X-GitHub-Delivery";
constexpr std::string_view kWhsecPrefix = "whsec_";

bool IsHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; });
}

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

tl::unexpected<Error> Unauthenticated(std::string message) {
  return Fail(ErrorCode::kUnauthenticated, std::move(message));
}

Result<std::string_view> RequireHeader(const HeaderList& headers, std::string_view name) {
  const std::string_view value = FindHeader(headers, name);
  if (value.empty()) {
    return Unauthenticated("missing " + std::string(name) + " header");
  }
  return value;
}

Result<std::int64_t> ParseTimestamp(std::string_view value, std::string_view header) {
  std::int64_t ts = 0;
  const auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), ts);
  if (ec != std::errc() || ptr != value.data() + value.size() || ts <= 0) {
    return Unauthenticated(std::string(header) +
                           " is not a Unix timestamp in seconds (expected digits only)");
  }
  return ts;
}

Result<void> CheckWindow(const EndpointConfig& endpoint, std::string_view header,
                         std::int64_t signed_at, std::int64_t now_s) {
  const auto tolerance_s = endpoint.tolerance.count() / 1000;
  if (endpoint.tolerance.count() == 0) {
    return {};
  }
  const std::int64_t skew = now_s - signed_at;
  if (std::llabs(skew) > tolerance_s) {
    return Unauthenticated(std::string(header) + " is " + std::to_string(std::llabs(skew)) +
                           " s " + (skew > 0 ? "in the past" : "in the future") +
                           ", outside the endpoint's tolerance of " +
                           FormatDuration(endpoint.tolerance) +
                           " (check the sender's clock, or widen `tolerance`)");
  }
  return {};
}

// Index of the first secret whose MAC (encoded by `encode`) equals `given`, or -1.
template <class Encode>
int MatchSecret(const EndpointConfig& endpoint, std::string_view given, Encode encode) {
  int match = -1;
  for (std::size_t i = 0; i < endpoint.secrets.size(); ++i) {
    const auto key = SigningKey(endpoint.scheme, endpoint.secrets[i].value);
    // Compare against every secret, so the time taken does not reveal which one matched.
    if (key && ConstantTimeEquals(given, encode(*key)) && match < 0) {
      match = static_cast<int>(i);
    }
  }
  return match;
}

Result<VerifiedDelivery> VerifyDatabricks(const EndpointConfig& endpoint, const HeaderList& headers,
                                          std::string_view body) {
  auto header = RequireHeader(headers, kDatabricksSignature);
  if (!header) return tl::unexpected(header.error());
  if (header->size() != 64 || !IsHex(*header)) {
    return Unauthenticated(std::string(kDatabricksSignature) +
                           " is malformed: expected 64 hexadecimal characters");
  }
  const std::string given = Lower(*header);
  const int index = MatchSecret(endpoint, given, [&](const std::string& key) {
    return ToHex(HmacSha256(key, {body}));
  });
  if (index < 0) {
    return Unauthenticated(std::string(kDatabricksSignature) +
                           " does not match the body under any configured secret");
  }
  return VerifiedDelivery{.secret_index = index};
}

Result<VerifiedDelivery> VerifyGithub(const EndpointConfig& endpoint, const HeaderList& headers,
                                      std::string_view body) {
  auto header = RequireHeader(headers, kGithubSignature);
  if (!header) return tl::unexpected(header.error());
  constexpr std::string_view kPrefix = "sha256=";
  if (!header->starts_with(kPrefix) || header->size() != kPrefix.size() + 64 ||
      !IsHex(header->substr(kPrefix.size()))) {
    return Unauthenticated(std::string(kGithubSignature) +
                           " is malformed: expected sha256= and 64 hexadecimal characters");
  }
  const std::string given = Lower(header->substr(kPrefix.size()));
  const int index = MatchSecret(endpoint, given, [&](const std::string& key) {
    return ToHex(HmacSha256(key, {body}));
  });
  if (index < 0) {
    return Unauthenticated(std::string(kGithubSignature) +
                           " does not match the body under any configured secret");
  }
  return VerifiedDelivery{.secret_index = index,
                          .delivery_id = std::string(FindHeader(headers, kGithubDelivery))};
}

// MLflow (§3.4) and Standard Webhooks (§5) sign "id.timestamp.body"; they differ in header
// names, in the key, and in that Standard Webhooks may send several signatures.
Result<VerifiedDelivery> VerifyIdTimestampScheme(const EndpointConfig& endpoint,
                                                 const HeaderList& headers, std::string_view body,
                                                 std::int64_t now_s, std::string_view id_header,
                                                 std::string_view ts_header,
                                                 std::string_view sig_header, bool allow_list) {
  auto id = RequireHeader(headers, id_header);
  if (!id) return tl::unexpected(id.error());
  auto ts_text = RequireHeader(headers, ts_header);
  if (!ts_text) return tl::unexpected(ts_text.error());
  auto ts = ParseTimestamp(*ts_text, ts_header);
  if (!ts) return tl::unexpected(ts.error());
  auto sig = RequireHeader(headers, sig_header);
  if (!sig) return tl::unexpected(sig.error());

  std::vector<std::string_view> candidates;
  std::string_view rest = *sig;
  while (!rest.empty()) {
    const auto space = rest.find(' ');
    const std::string_view entry = rest.substr(0, space);
    if (!entry.empty()) {
      candidates.push_back(entry);
    }
    if (space == std::string_view::npos || !allow_list) {
      break;
    }
    rest.remove_prefix(space + 1);
  }
  std::vector<std::string_view> v1;
  for (const auto entry : candidates) {
    if (entry.starts_with("v1,")) {
      v1.push_back(entry.substr(3));
    }
  }
  if (v1.empty()) {
    return Unauthenticated(std::string(sig_header) +
                           " is malformed: expected v1,<base64 HMAC-SHA256>");
  }
  int index = -1;
  for (const auto given : v1) {
    index = MatchSecret(endpoint, given, [&](const std::string& key) {
      return ToBase64(HmacSha256(key, {*id, ".", *ts_text, ".", body}));
    });
    if (index >= 0) {
      break;
    }
  }
  if (index < 0) {
    return Unauthenticated(std::string(sig_header) +
                           " does not match the signed content under any configured secret");
  }
  if (auto window = CheckWindow(endpoint, ts_header, *ts, now_s); !window) {
    return tl::unexpected(window.error());
  }
  return VerifiedDelivery{.secret_index = index, .delivery_id = std::string(*id), .signed_at_s = *ts};
}

}  // namespace

Result<std::string> SigningKey(Scheme scheme, std::string_view secret) {
  if (secret.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "the secret is empty");
  }
  if (scheme != Scheme::kStandard) {
    return std::string(secret);
  }
  if (!secret.starts_with(kWhsecPrefix)) {
    return Fail(ErrorCode::kInvalidArgument,
                "a Standard Webhooks secret must look like whsec_<base64>");
  }
  auto key = FromBase64(secret.substr(kWhsecPrefix.size()));
  if (!key || key->empty()) {
    return Fail(ErrorCode::kInvalidArgument,
                "the part after whsec_ of a Standard Webhooks secret is not valid base64");
  }
  return *key;
}

Result<VerifiedDelivery> VerifyDelivery(const EndpointConfig& endpoint, const HeaderList& headers,
                                        std::string_view body, std::int64_t now_s) {
  if (endpoint.authorization) {
    const std::string_view given = FindHeader(headers, "Authorization");
    if (given.empty()) {
      return Unauthenticated("missing Authorization header");
    }
    if (!ConstantTimeEquals(given, endpoint.authorization->value)) {
      return Unauthenticated("Authorization header does not match the endpoint's configured value");
    }
  }
  switch (endpoint.scheme) {
    case Scheme::kDatabricks:
      return VerifyDatabricks(endpoint, headers, body);
    case Scheme::kGithub:
      return VerifyGithub(endpoint, headers, body);
    case Scheme::kMlflow:
      return VerifyIdTimestampScheme(endpoint, headers, body, now_s, kMlflowDeliveryId,
                                     kMlflowTimestamp, kMlflowSignature, false);
    case Scheme::kStandard:
      return VerifyIdTimestampScheme(endpoint, headers, body, now_s, kStandardId,
                                     kStandardTimestamp, kStandardSignature, true);
    case Scheme::kNone:
      return VerifiedDelivery{};
  }
  return Fail(ErrorCode::kInternal, "unknown scheme");
}

HeaderList SignDelivery(Scheme scheme, std::string_view secret, std::string_view delivery_id,
                        std::int64_t timestamp_s, std::string_view body) {
  const std::string key = SigningKey(scheme, secret).value_or(std::string(secret));
  const std::string ts = std::to_string(timestamp_s);
  HeaderList out;
  switch (scheme) {
    case Scheme::kDatabricks:
      out.emplace_back(kDatabricksSignature, ToHex(HmacSha256(key, {body})));
      break;
    case Scheme::kGithub:
      out.emplace_back("X-GitHub-Event", "push");
      out.emplace_back(kGithubDelivery, delivery_id);
      out.emplace_back(kGithubSignature, "sha256=" + ToHex(HmacSha256(key, {body})));
      break;
    case Scheme::kMlflow:
    case Scheme::kStandard: {
      const bool mlflow = scheme == Scheme::kMlflow;
      out.emplace_back(mlflow ? kMlflowDeliveryId : kStandardId, delivery_id);
      out.emplace_back(mlflow ? kMlflowTimestamp : kStandardTimestamp, ts);
      out.emplace_back(mlflow ? kMlflowSignature : kStandardSignature,
                       "v1," + ToBase64(HmacSha256(key, {delivery_id, ".", ts, ".", body})));
      break;
    }
    case Scheme::kNone:
      break;
  }
  return out;
}

HeaderList RedactHeaders(const HeaderList& headers) {
  static constexpr std::string_view kSensitive[] = {
      "authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"};
  HeaderList out;
  out.reserve(headers.size());
  for (const auto& [name, value] : headers) {
    const std::string lower = Lower(name);
    const bool sensitive =
        std::find(std::begin(kSensitive), std::end(kSensitive), lower) != std::end(kSensitive) ||
        lower.find("signature") != std::string::npos || lower.find("token") != std::string::npos ||
        lower.find("secret") != std::string::npos;
    out.emplace_back(name, sensitive ? "[redacted]" : value);
  }
  return out;
}

}  // namespace stagegate::webhooks

#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>

#include "orchestrator/app/commands.hpp"
#include "orchestrator/config/config_loader.hpp"
#include "orchestrator/core/units.hpp"
#include "orchestrator/server/http_client.hpp"
#include "webhooks/sample_payload.hpp"
#include "webhooks/signature.hpp"

namespace stagegate::app {
namespace {

std::string RandomUuid() {
  std::random_device device;
  std::mt19937_64 rng((static_cast<std::uint64_t>(device()) << 32U) ^ device());
  const std::uint64_t a = rng();
  const std::uint64_t b = rng();
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08x-%04x-4%03x-%04x-%012llx",
                static_cast<unsigned>(a >> 32U), static_cast<unsigned>((a >> 16U) & 0xFFFFU),
                static_cast<unsigned>(a & 0x0FFFU),
                static_cast<unsigned>(0x8000U | ((b >> 48U) & 0x3FFFU)),
                static_cast<unsigned long long>(b & 0xFFFFFFFFFFFFULL));
  return buf;
}

int Misuse(const std::string& message) {
  std::fprintf(stderr, "stagegate send: %s\n", message.c_str());
  return 2;
}

}  // namespace

int Send(const SendOptions& o) {
  const auto scheme = ParseScheme(o.scheme);
  if (!scheme) {
    return Misuse("unknown --scheme '" + o.scheme +
                  "'; use databricks, mlflow, standard, github or none");
  }
  std::string secret;
  if (*scheme != Scheme::kNone) {
    if (o.secret.empty()) {
      return Misuse("--secret is required for scheme " + o.scheme + " (env:NAME, file:PATH or a value)");
    }
    if (o.secret.starts_with("env:") || o.secret.starts_with("file:")) {
      auto resolved = config::ResolveSecret(o.secret);
      if (!resolved) return Misuse(resolved.error().message);
      secret = *resolved;
    } else {
      secret = o.secret;
    }
    if (*scheme == Scheme::kStandard && !secret.starts_with("whsec_")) {
      return Misuse("a Standard Webhooks secret looks like whsec_<base64>");
    }
  }

  const std::int64_t now_ms = UnixMillisNow();
  std::string body;
  if (!o.event_file.empty()) {
    std::ifstream in(o.event_file, std::ios::binary);
    if (!in) return Misuse("cannot read --event file " + o.event_file);
    std::stringstream buffer;
    buffer << in.rdbuf();
    body = buffer.str();
  } else {
    webhooks::SampleSpec spec{.type = o.type,
                              .model = o.model,
                              .version = o.version,
                              .from_stage = o.from_stage,
                              .to_stage = o.to_stage,
                              .alias = o.alias,
                              .text = o.text,
                              .now_ms = now_ms};
    for (const auto& tag : o.tags) {
      const auto eq = tag.find('=');
      if (eq == std::string::npos) return Misuse("--tag '" + tag + "' must be key=value");
      spec.tags.push_back(Tag{tag.substr(0, eq), tag.substr(eq + 1)});
    }
    auto sample = webhooks::SamplePayload(*scheme, spec);
    if (!sample) return Misuse(sample.error().message);
    body = *sample;
  }

  const std::string delivery_id = o.delivery_id.empty() ? RandomUuid() : o.delivery_id;
  const std::int64_t timestamp = o.timestamp > 0 ? o.timestamp : now_ms / 1000;
  HeaderList headers = {{"Content-Type", "application/json"}};
  for (auto& h : webhooks::SignDelivery(*scheme, secret, delivery_id, timestamp, body)) {
    headers.push_back(std::move(h));
  }
  for (const auto& h : o.headers) {
    const auto colon = h.find(':');
    if (colon == std::string::npos) return Misuse("--header '" + h + "' must be Name: value");
    std::string value = h.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' '));
    headers.emplace_back(h.substr(0, colon), value);
  }

  if (o.dry_run) {
    std::printf("POST %s\n", o.url.c_str());
    for (const auto& [name, value] : webhooks::RedactHeaders(headers)) {
      std::printf("%s: %s\n", name.c_str(), value.c_str());
    }
    std::printf("\n%s\n", body.c_str());
    return 0;
  }
  auto response = server::HttpRequestBlocking("POST", o.url, headers, body,
                                              std::chrono::seconds(o.timeout_seconds));
  if (!response) {
    std::fprintf(stderr, "stagegate send: %s\n", response.error().message.c_str());
    return 1;
  }
  std::printf("HTTP %d\n%s", response->status, response->body.c_str());
  if (!response->body.empty() && response->body.back() != '\n') std::printf("\n");
  return response->status >= 200 && response->status < 300 ? 0 : 1;
}

}  // namespace stagegate::app

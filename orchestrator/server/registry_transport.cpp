#include "orchestrator/server/registry_transport.hpp"

#include <utility>

#include "orchestrator/core/headers.hpp"
#include "orchestrator/server/http_client.hpp"

namespace stagegate::server {

HttpRegistryTransport::HttpRegistryTransport(RegistryConfig config) : config_(std::move(config)) {
  if (config_.token) {
    authorization_ = "Bearer " + config_.token->value;
  } else if (config_.password) {
    authorization_ = "Basic " + Base64Encode(config_.username + ":" + config_.password->value);
  }
}

Result<RegistryResponse> HttpRegistryTransport::Send(const RegistryRequest& request) {
  HeaderList headers = {{"Accept", "application/json"}};
  // MLflow refuses a non-GET call without this header, even when the body is empty.
  if (request.method != "GET") headers.emplace_back("Content-Type", "application/json");
  if (!authorization_.empty()) headers.emplace_back("Authorization", authorization_);
  const std::string url = config_.url + request.path;
  auto answer = HttpSend(request.method, url, headers, request.body,
                         ClientOptions{.timeout = config_.timeout,
                                       .verify_tls = config_.verify_tls,
                                       .ca_file = config_.ca_file});
  if (!answer) {
    return Fail(answer.error().code, "registry '" + config_.name + "': " + answer.error().message);
  }
  return RegistryResponse{.status = answer->status, .body = std::move(answer->body),
                          .headers = std::move(answer->headers)};
}

}  // namespace stagegate::server

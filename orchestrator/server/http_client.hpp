#pragma once

#include <chrono>
#include <string>

#include "orchestrator/core/event.hpp"
#include "orchestrator/core/result.hpp"

namespace stagegate::server {

struct ClientResponse {
  int status = 0;
  HeaderList headers;
  std::string body;
};

/// Parts of an http:// or https:// URL.
struct Url {
  bool tls = false;
  std::string host;
  std::string port;
  std::string target;  // path and query, at least "/"
};

/// Parses http[s]://host[:port][/path] (ports 80 and 443 by default).
Result<Url> ParseHttpUrl(const std::string& url);

struct ClientOptions {
  /// Bounds the whole exchange: resolve, connect, TLS handshake, request and response.
  std::chrono::milliseconds timeout{10'000};
  /// https: verify the server's certificate chain and name (on unless turned off explicitly).
  bool verify_tls = true;
  /// https: trust this PEM file instead of the system's certificate authorities.
  std::string ca_file;
};

/// One blocking HTTP/1.1 request on a fresh connection, http or https, with a real timeout.
/// Not for code on an I/O thread. Failures (name resolution, connection, certificate,
/// timeout) are kUnavailable errors naming the method and URL; any HTTP answer is a value.
Result<ClientResponse> HttpSend(const std::string& method, const std::string& url,
                                const HeaderList& headers, const std::string& body,
                                const ClientOptions& options);

/// HttpSend with the default TLS options.
Result<ClientResponse> HttpRequestBlocking(const std::string& method, const std::string& url,
                                           const HeaderList& headers, const std::string& body,
                                           std::chrono::milliseconds timeout);

}  // namespace stagegate::server

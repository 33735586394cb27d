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

/// Parts of an http:// URL.
struct Url {
  std::string host;
  std::string port;
  std::string target;  // path and query, at least "/"
};

/// Parses http://host[:port][/path]. https:// is refused with a clear message for now.
Result<Url> ParseHttpUrl(const std::string& url);

/// One blocking HTTP/1.1 request on a fresh connection. For the CLI and tools, not for
/// code on an I/O thread.
Result<ClientResponse> HttpRequestBlocking(const std::string& method, const std::string& url,
                                           const HeaderList& headers, const std::string& body,
                                           std::chrono::milliseconds timeout);

}  // namespace stagegate::server

#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "orchestrator/core/asio.hpp"
#include "orchestrator/core/event.hpp"
#include "orchestrator/core/headers.hpp"
#include "orchestrator/core/result.hpp"

namespace stagegate::server {

/// A fully read HTTP request, free of Beast types so that handlers compile cheaply.
struct HttpRequest {
  std::string method;  // upper case, as sent
  std::string target;  // path and query, as sent
  HeaderList headers;  // in arrival order, names as sent
  std::string body;    // raw bytes
  std::string remote;  // peer address, for logs

  /// First header with this name, compared case-insensitively; empty when absent.
  std::string_view Header(std::string_view name) const;
  bool HasHeader(std::string_view name) const;
  /// The path without the query string.
  std::string_view Path() const;
  /// A decoded query parameter, or empty.
  std::string Query(std::string_view key) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  HeaderList headers;  // extra headers, e.g. Allow, Retry-After
  bool close = false;  // close the connection after writing
};

/// JSON error body {"error": {"status": ..., "message": ...}} with the given status.
HttpResponse JsonError(int status, std::string_view message);
/// The one place that maps ErrorCode to an HTTP status.
int StatusFor(ErrorCode code);
HttpResponse FromError(const Error& error);
HttpResponse Json(int status, std::string body);

/// Handles requests. Called concurrently from several connections' strands: must be
/// thread-safe and never block an I/O thread.
class HttpHandler {
 public:
  virtual ~HttpHandler() = default;
  virtual Awaitable<HttpResponse> Handle(HttpRequest request) const = 0;
};

using HttpHandlerPtr = std::shared_ptr<const HttpHandler>;

using stagegate::EqualsIgnoreCase;

}  // namespace stagegate::server

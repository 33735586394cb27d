#pragma once

#include <memory>
#include <optional>
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

/// A body produced piece by piece and sent with Transfer-Encoding: chunked, e.g. a log followed
/// live. The server calls Next() one call at a time, on the connection's executor, until it
/// returns std::nullopt, the client goes away, a write fails or times out, or the server stops.
/// Then it releases the stream without calling Next() again.
///
/// The server cannot interrupt a pending Next() (Boost 1.74 has no cancellation), and notices
/// a client that went away or a server stop only between pieces. So an implementation that may
/// wait for data must return at least every ~250 ms, with an empty piece if there is nothing new;
/// otherwise it holds up graceful shutdown, which waits at most 5 s for responses in flight.
class BodyStream {
 public:
  virtual ~BodyStream() = default;
  /// The next piece of the body; std::nullopt ends it. An empty string is allowed and sends
  /// nothing (lets an implementation wake up periodically). Called one at a time, on the
  /// connection's executor.
  virtual Awaitable<std::optional<std::string>> Next() = 0;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  HeaderList headers;  // extra headers, e.g. Allow, Retry-After
  bool close = false;  // close the connection after writing
  /// When set, `body` is ignored: the server sends the header with Transfer-Encoding: chunked
  /// (status, content_type and headers as above), then each piece as a chunk, then the last
  /// chunk, and closes the connection. Waiting in Next() is not subject to the connection's
  /// idle or body timeouts; each write is bounded by the idle timeout.
  std::shared_ptr<BodyStream> stream;
};

/// Decodes %XX escapes and + (as a space), leaving malformed escapes as they are.
std::string PercentDecode(std::string_view in);

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

#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "orchestrator/core/metrics.hpp"
#include "orchestrator/core/result.hpp"
#include "orchestrator/core/service_config.hpp"
#include "orchestrator/server/http_types.hpp"

namespace boost::asio {
class io_context;
}

namespace stagegate::server {

/// HTTP/1.1 server on Beast. Each connection runs as one coroutine on its own strand.
/// Enforces the limits of `Limits`: header/body sizes (413 without reading an oversized
/// body), idle, header and body timeouts (slow clients are cut off), and a cap on open
/// connections (excess connections get a 503 and are closed). A response with a BodyStream is
/// sent with chunked encoding as its pieces come (see HttpResponse::stream), and the
/// connection closes after it. The Beast code lives only in http_server.cpp.
class HttpServer final {
 public:
  HttpServer(boost::asio::io_context& io, Limits limits, HttpHandlerPtr handler,
             std::shared_ptr<Metrics> metrics);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  /// Binds and listens; port 0 picks a free port. Returns the bound port.
  Result<std::uint16_t> Listen(const std::string& host, std::uint16_t port);
  /// Starts accepting on the io_context. Call after Listen.
  void Start();
  /// Stops accepting; connections in flight finish their current request and then close. A
  /// streamed response ends cleanly (last chunk) as soon as its pending Next() returns.
  /// Thread-safe.
  void Stop();
  /// Requests read and not yet answered, streamed responses until they end, for a bounded
  /// drain at shutdown. Thread-safe.
  std::int64_t InFlight() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace stagegate::server

#include "orchestrator/server/http_server.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <exception>
#include <optional>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <spdlog/spdlog.h>

#include "orchestrator/core/log_if_failed.hpp"

namespace stagegate::server {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

constexpr std::size_t kLingerBytes = 4 * 1024 * 1024;
constexpr auto kLingerTime = std::chrono::seconds(2);

}  // namespace

struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
  net::io_context& io;
  Limits limits;
  HttpHandlerPtr handler;
  std::shared_ptr<Metrics> metrics;
  tcp::acceptor acceptor;
  std::atomic<std::int64_t> open_connections{0};
  std::atomic<std::int64_t> in_flight{0};  // requests read and not yet answered
  std::atomic<bool> stopping{false};

  Impl(net::io_context& io_context, Limits l, HttpHandlerPtr h, std::shared_ptr<Metrics> m)
      : io(io_context),
        limits(l),
        handler(std::move(h)),
        metrics(std::move(m)),
        acceptor(net::make_strand(io_context)) {}

  void ConnectionOpened() {
    const auto n = open_connections.fetch_add(1) + 1;
    if (metrics) metrics->SetConnections(n);
  }
  void ConnectionClosed() {
    const auto n = open_connections.fetch_sub(1) - 1;
    if (metrics) metrics->SetConnections(n);
  }

  Awaitable<void> AcceptLoop();
  Awaitable<void> Serve(tcp::socket socket);
  // `stream` and `remote` belong to the calling Serve, which awaits this coroutine.
  Awaitable<void> WriteStream(beast::tcp_stream& stream, HttpResponse response, unsigned version,
                              bool head, const std::string& remote);
};

namespace {

// For a HEAD request, the header of the GET answer: Content-Length of the body not sent.
http::response<http::string_body> ToBeast(HttpResponse&& r, unsigned version, bool keep_alive,
                                          bool head) {
  http::response<http::string_body> res{static_cast<http::status>(r.status), version};
  res.set(http::field::server, "stagegate");
  res.set(http::field::content_type, r.content_type);
  for (auto& [name, value] : r.headers) {
    res.set(name, value);
  }
  res.body() = std::move(r.body);
  res.keep_alive(keep_alive);
  res.prepare_payload();
  if (head) res.body().clear();
  return res;
}

// After refusing a request whose body we will not read, close gracefully: stop sending,
// then discard what the client already had in flight for a short while, so that a client
// that writes its whole body before reading still sees our answer instead of a reset.
Awaitable<void> LingeringClose(beast::tcp_stream& stream) {
  beast::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  std::array<char, 16 * 1024> sink{};
  std::size_t discarded = 0;
  stream.expires_after(kLingerTime);
  while (!ec && discarded < kLingerBytes) {
    discarded += co_await stream.async_read_some(net::buffer(sink),
                                                 net::redirect_error(net::use_awaitable, ec));
  }
  stream.socket().close(ec);
}

// Watches a connection while a streamed response is written, so that a client that goes away
// is noticed even while the stream only sends empty pieces. The client has nothing more to send
// (the connection closes after a stream), so a read that fails means the connection is over:
// EOF, a reset, or our own close after a failed or timed-out write. Bytes that do arrive (a
// pipelined request) are discarded. Lives on the connection's strand.
struct PeerWatch final {
  explicit PeerWatch(const beast::tcp_stream::executor_type& executor) : finished(executor) {
    finished.expires_at(net::steady_timer::time_point::max());
  }
  bool done = false;           // the read failed: the connection is gone or closed
  net::steady_timer finished;  // cancelled when `done` is set, to wake whoever waits for it
};

// Reads the raw socket, not the tcp_stream, so that none of the stream's timeouts apply.
// `socket` lives in Serve's frame, which waits for `watch->done` before it leaves.
Awaitable<void> WatchPeer(tcp::socket& socket, std::shared_ptr<PeerWatch> watch) {
  std::array<char, 4096> sink{};
  beast::error_code ec;
  while (!ec) {
    co_await socket.async_read_some(net::buffer(sink), net::redirect_error(net::use_awaitable, ec));
  }
  watch->done = true;
  watch->finished.cancel();
}

bool StatusHasBody(int status) { return status >= 200 && status != 204 && status != 304; }

HttpRequest FromBeast(http::request<http::string_body>&& req, const std::string& remote) {
  HttpRequest out;
  out.method = std::string(req.method_string());
  out.target = std::string(req.target());
  out.headers.reserve(16);
  for (const auto& field : req) {
    out.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  out.body = std::move(req.body());
  out.remote = remote;
  return out;
}

}  // namespace

Awaitable<void> HttpServer::Impl::Serve(tcp::socket socket) {
  // Owns Impl for as long as this connection runs, and counts the connection closed last.
  struct Guard {
    std::shared_ptr<Impl> impl;
    ~Guard() { impl->ConnectionClosed(); }
  } guard{shared_from_this()};

  beast::error_code ec;
  std::string remote;
  {
    const auto endpoint = socket.remote_endpoint(ec);
    remote = ec ? "unknown" : endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
  }
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;

  auto write = [&](HttpResponse response, unsigned version, bool keep_alive,
                   bool head = false) -> Awaitable<bool> {
    auto res = ToBeast(std::move(response), version, keep_alive, head);
    stream.expires_after(limits.body_timeout);
    co_await http::async_write(stream, res, net::redirect_error(net::use_awaitable, ec));
    co_return !ec;
  };

  for (;;) {
    // Idle keep-alive wait: nothing read yet, so the header clock has not started.
    if (buffer.size() == 0) {
      stream.expires_after(limits.idle_timeout);
      const std::size_t n = co_await stream.async_read_some(
          buffer.prepare(4096), net::redirect_error(net::use_awaitable, ec));
      if (ec) {
        break;
      }
      buffer.commit(n);
    }

    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(limits.max_header_bytes));
    parser.body_limit(limits.max_body_bytes);
    stream.expires_after(limits.header_timeout);
    co_await http::async_read_header(stream, buffer, parser,
                                     net::redirect_error(net::use_awaitable, ec));
    if (ec == beast::error::timeout) {
      spdlog::debug("header_timeout remote={}", remote);
      break;
    }
    if (ec == http::error::header_limit) {
      co_await write(JsonError(431, "request headers exceed " +
                                        std::to_string(limits.max_header_bytes) + " bytes"),
                     11, false);
      break;
    }
    // Beast reports a Content-Length above body_limit already while reading the header, before
    // the header is complete; content_length() may only be asked once it is.
    const auto length =
        parser.is_header_done() ? parser.content_length() : boost::optional<std::uint64_t>();
    const bool too_large =
        ec == http::error::body_limit || (!ec && length && *length > limits.max_body_bytes);
    if (ec && !too_large) {
      if (ec != http::error::end_of_stream && ec != net::error::eof) {
        co_await write(JsonError(400, "malformed HTTP request: " + ec.message()), 11, false);
      }
      break;
    }
    const unsigned version = parser.get().version();
    if (too_large) {
      // Built outside the co_await: g++ 12 mis-evaluates conditionals inside co_await operands.
      std::string message = "request body";
      if (length) {
        message += " of " + std::to_string(*length) + " bytes";
      }
      message += " exceeds the limit of " + std::to_string(limits.max_body_bytes) + " bytes";
      co_await write(JsonError(413, message), version, false);
      co_await LingeringClose(stream);
      co_return;
    }
    if (beast::iequals(parser.get()[http::field::expect], "100-continue")) {
      http::response<http::empty_body> cont{http::status::continue_, version};
      co_await http::async_write(stream, cont, net::redirect_error(net::use_awaitable, ec));
      if (ec) {
        break;
      }
    }

    stream.expires_after(limits.body_timeout);
    co_await http::async_read(stream, buffer, parser, net::redirect_error(net::use_awaitable, ec));
    if (ec == http::error::body_limit) {
      co_await write(JsonError(413, "request body exceeds the limit of " +
                                        std::to_string(limits.max_body_bytes) + " bytes"),
                     version, false);
      co_await LingeringClose(stream);
      co_return;
    }
    if (ec == beast::error::timeout) {
      spdlog::debug("body_timeout remote={}", remote);
      break;
    }
    if (ec) {
      break;
    }

    const bool client_keep_alive = parser.get().keep_alive();
    const bool head = parser.get().method() == http::verb::head;
    in_flight.fetch_add(1);
    HttpRequest request = FromBeast(parser.release(), remote);
    if (head) request.method = "GET";  // handlers answer HEAD as GET; the body is not sent
    HttpResponse response = co_await handler->Handle(std::move(request));
    if (response.stream) {
      // A streamed response is counted in flight until it ends, and always closes the connection.
      co_await WriteStream(stream, std::move(response), version, head, remote);
      in_flight.fetch_sub(1);
      co_return;
    }
    const bool keep_alive = client_keep_alive && !response.close && !stopping.load();
    const bool written = co_await write(std::move(response), version, keep_alive, head);
    in_flight.fetch_sub(1);
    if (!written || !keep_alive) {
      break;
    }
  }
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  stream.socket().close(ec);
}

// Sends a response whose body is a BodyStream, then closes the connection: the header with
// Transfer-Encoding: chunked, each non-empty piece as one chunk, and the last chunk once Next()
// returns nullopt or the server is stopping. Only writes have a deadline (the idle timeout
// each); the wait in Next() has none. When the client goes away, a write fails or Next()
// throws, the connection is closed without the last chunk, so the client sees a truncated
// body. HTTP/1.0 has no chunked encoding: there the pieces are sent as they are and the body
// ends with the connection.
Awaitable<void> HttpServer::Impl::WriteStream(beast::tcp_stream& stream, HttpResponse response,
                                              unsigned version, bool head,
                                              const std::string& remote) {
  std::shared_ptr<BodyStream> body = std::move(response.stream);
  const bool chunked = version >= 11;
  const bool send_body = !head && StatusHasBody(response.status);
  http::response<http::empty_body> res{static_cast<http::status>(response.status), version};
  res.set(http::field::server, "stagegate");
  res.set(http::field::content_type, response.content_type);
  for (auto& [name, value] : response.headers) {
    res.set(name, value);
  }
  res.keep_alive(false);
  if (chunked && StatusHasBody(response.status)) {
    res.chunked(true);  // also for HEAD, whose header describes the GET response
  }

  beast::error_code ec;
  http::response_serializer<http::empty_body> serializer{res};
  stream.expires_after(limits.idle_timeout);
  co_await http::async_write_header(stream, serializer,
                                    net::redirect_error(net::use_awaitable, ec));

  auto watch = std::make_shared<PeerWatch>(stream.get_executor());
  if (!ec && send_body) {
    net::co_spawn(stream.get_executor(), WatchPeer(stream.socket(), watch),
                  LogIfFailed("http stream watch"));
  } else {
    watch->done = true;  // nothing to watch: no Next() will be awaited
  }

  std::string_view outcome = ec ? "write_failed" : "no_body";
  bool finish = false;  // send the last chunk: the body ended or the server is stopping
  while (!watch->done) {
    if (stopping.load()) {
      outcome = "server_stopping";
      finish = true;
      break;
    }
    std::optional<std::string> piece;
    try {
      piece = co_await body->Next();
    } catch (const std::exception& e) {
      // A bug in the stream: end this response (truncated) rather than the whole connection task.
      spdlog::error("http_stream_failed remote={} error=\"{}\"", remote, e.what());
      outcome = "stream_failed";
      break;
    }
    if (watch->done) {
      outcome = "client_gone";
      break;
    }
    if (!piece) {
      outcome = "ended";
      finish = true;
      break;
    }
    if (piece->empty()) {
      continue;
    }
    stream.expires_after(limits.idle_timeout);  // a client that stops reading is cut off
    if (chunked) {
      const auto chunk = http::make_chunk(net::buffer(*piece));
      co_await net::async_write(stream, chunk, net::redirect_error(net::use_awaitable, ec));
    } else {
      co_await net::async_write(stream, net::buffer(*piece),
                                net::redirect_error(net::use_awaitable, ec));
    }
    if (ec) {
      outcome = ec == beast::error::timeout ? "write_timeout" : "write_failed";
      break;
    }
  }
  body.reset();  // release what the stream holds (e.g. a log subscription) before the close

  if (finish && chunked) {
    const auto last = http::make_chunk_last();
    stream.expires_after(limits.idle_timeout);
    co_await net::async_write(stream, last, net::redirect_error(net::use_awaitable, ec));
  }
  spdlog::debug("http_stream_closed remote={} outcome={}", remote, outcome);
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  stream.socket().close(ec);  // completes the watch's read, if it is still pending
  if (!watch->done) {
    co_await watch->finished.async_wait(net::redirect_error(net::use_awaitable, ec));
  }
}

Awaitable<void> HttpServer::Impl::AcceptLoop() {
  static const std::string kBusy = [] {
    const std::string body =
        "{\"error\":{\"status\":503,\"message\":\"too many open connections, retry\"}}\n";
    return "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n"
           "Content-Type: application/json\r\nRetry-After: 1\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body;
  }();
  for (;;) {
    beast::error_code ec;
    tcp::socket socket = co_await acceptor.async_accept(
        net::make_strand(io), net::redirect_error(net::use_awaitable, ec));
    if (ec == net::error::operation_aborted || !acceptor.is_open()) {
      co_return;
    }
    if (ec) {
      // EMFILE and friends: back off briefly instead of spinning.
      spdlog::warn("accept_failed error=\"{}\"", ec.message());
      net::steady_timer pause(io, std::chrono::milliseconds(50));
      co_await pause.async_wait(net::redirect_error(net::use_awaitable, ec));
      continue;
    }
    if (static_cast<std::size_t>(open_connections.load()) >= limits.max_connections) {
      // A fresh socket's send buffer is empty: a non-blocking write of a few bytes succeeds.
      socket.non_blocking(true, ec);
      socket.write_some(net::buffer(kBusy.data(), kBusy.size()), ec);
      socket.shutdown(tcp::socket::shutdown_both, ec);
      socket.close(ec);
      if (metrics) metrics->CountRefusedConnection();
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    ConnectionOpened();
    const auto strand = socket.get_executor();  // read before the move (argument order)
    net::co_spawn(strand, Serve(std::move(socket)), LogIfFailed("http connection"));
  }
}

HttpServer::HttpServer(net::io_context& io, Limits limits, HttpHandlerPtr handler,
                       std::shared_ptr<Metrics> metrics)
    : impl_(std::make_shared<Impl>(io, limits, std::move(handler), std::move(metrics))) {}

HttpServer::~HttpServer() = default;

Result<std::uint16_t> HttpServer::Listen(const std::string& host, std::uint16_t port) {
  beast::error_code ec;
  const auto address = net::ip::make_address(host, ec);
  if (ec) {
    return Fail(ErrorCode::kInvalidArgument, "listen address '" + host + "' is not an IP address");
  }
  const tcp::endpoint endpoint(address, port);
  auto& acceptor = impl_->acceptor;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return Fail(ErrorCode::kUnavailable,
                "cannot listen on " + host + ":" + std::to_string(port) + ": " + ec.message());
  }
  return acceptor.local_endpoint().port();
}

void HttpServer::Start() {
  net::co_spawn(impl_->acceptor.get_executor(), impl_->AcceptLoop(), LogIfFailed("http accept"));
}

std::int64_t HttpServer::InFlight() const { return impl_->in_flight.load(); }

void HttpServer::Stop() {
  impl_->stopping.store(true);
  auto impl = impl_;
  net::post(impl->acceptor.get_executor(), [impl] {
    beast::error_code ec;
    impl->acceptor.close(ec);
  });
}

}  // namespace stagegate::server

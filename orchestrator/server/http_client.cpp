#include "orchestrator/server/http_client.hpp"

#include <exception>
#include <optional>
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <openssl/ssl.h>

#include "orchestrator/core/asio.hpp"

namespace stagegate::server {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = net::ip::tcp;

constexpr std::size_t kMaxResponseBytes = 64 * 1024 * 1024;

bool IsIpLiteral(const std::string& host) {
  boost::system::error_code ec;
  net::ip::make_address(host, ec);
  return !ec;
}

template <class Stream>
Awaitable<void> Exchange(Stream& stream, http::request<http::string_body>& request,
                         http::response_parser<http::string_body>& parser) {
  co_await http::async_write(stream, request, net::use_awaitable);
  beast::flat_buffer buffer;
  co_await http::async_read(stream, buffer, parser, net::use_awaitable);
}

}  // namespace

Result<Url> ParseHttpUrl(const std::string& url) {
  Url out;
  std::string rest;
  if (url.rfind("https://", 0) == 0) {
    out.tls = true;
    rest = url.substr(8);
  } else if (url.rfind("http://", 0) == 0) {
    rest = url.substr(7);
  } else {
    return Fail(ErrorCode::kInvalidArgument,
                "URL '" + url + "' must start with http:// or https://, e.g. "
                "http://127.0.0.1:8080/hooks/mlflow");
  }
  const auto slash = rest.find('/');
  const std::string authority = rest.substr(0, slash);
  out.target = slash == std::string::npos ? "/" : rest.substr(slash);
  const auto colon = authority.rfind(':');
  if (colon == std::string::npos) {
    out.host = authority;
    out.port = out.tls ? "443" : "80";
  } else {
    out.host = authority.substr(0, colon);
    out.port = authority.substr(colon + 1);
  }
  if (out.host.empty() || out.port.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "URL '" + url + "' has no host or port");
  }
  return out;
}

Result<ClientResponse> HttpSend(const std::string& method, const std::string& url,
                                const HeaderList& headers, const std::string& body,
                                const ClientOptions& options) {
  auto parsed = ParseHttpUrl(url);
  if (!parsed) return tl::unexpected(parsed.error());
  const Url target = *parsed;

  http::request<http::string_body> request{http::string_to_verb(method), target.target, 11};
  const bool default_port = target.port == (target.tls ? "443" : "80");
  request.set(http::field::host, default_port ? target.host : target.host + ":" + target.port);
  request.set(http::field::user_agent, "stagegate/" SG_VERSION);
  for (const auto& [name, value] : headers) request.set(name, value);
  request.body() = body;
  request.prepare_payload();
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxResponseBytes);

  std::optional<ssl::context> tls;
  if (target.tls) {
    tls.emplace(ssl::context::tls_client);
    boost::system::error_code ec;
    if (!options.ca_file.empty()) {
      tls->load_verify_file(options.ca_file, ec);
    } else {
      tls->set_default_verify_paths(ec);
    }
    if (ec) {
      return Fail(ErrorCode::kInvalidArgument,
                  "cannot load certificate authorities" +
                      (options.ca_file.empty() ? std::string() : " from " + options.ca_file) + ": " +
                      ec.message());
    }
    tls->set_verify_mode(options.verify_tls ? ssl::verify_peer : ssl::verify_none);
  }

  // Declared before the io_context, so that they outlive the coroutine frames it may still
  // hold (and destroy) when the deadline passes.
  std::exception_ptr failure;
  bool sent = false;  // the request's first byte may have left: a failure from here is in doubt
  auto run = [&]() -> Awaitable<void> {
    auto executor = co_await net::this_coro::executor;
    tcp::resolver resolver(executor);
    const auto endpoints = co_await resolver.async_resolve(target.host, target.port, net::use_awaitable);
    if (!target.tls) {
      beast::tcp_stream stream(executor);
      stream.expires_after(options.timeout);
      co_await stream.async_connect(endpoints, net::use_awaitable);
      sent = true;
      co_await Exchange(stream, request, parser);
      boost::system::error_code ignored;
      stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
      co_return;
    }
    beast::ssl_stream<beast::tcp_stream> stream(executor, *tls);
    // SNI for names only; IP literals are checked against the certificate's IP SANs.
    if (!IsIpLiteral(target.host)) SSL_set_tlsext_host_name(stream.native_handle(), target.host.c_str());
    if (options.verify_tls) stream.set_verify_callback(ssl::host_name_verification(target.host));
    beast::get_lowest_layer(stream).expires_after(options.timeout);
    co_await beast::get_lowest_layer(stream).async_connect(endpoints, net::use_awaitable);
    co_await stream.async_handshake(ssl::stream_base::client, net::use_awaitable);
    sent = true;
    co_await Exchange(stream, request, parser);
    // No TLS close_notify wait: the answer is complete, and a server that never answers the
    // shutdown must not cost a timeout.
    boost::system::error_code ignored;
    beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_both, ignored);
  };
  // The deadline covers name resolution too, which tcp_stream's own timer does not.
  net::io_context io;
  net::co_spawn(io, run(), [&](std::exception_ptr e) { failure = e; });
  io.run_for(options.timeout + std::chrono::milliseconds(100));
  const ErrorCode lost = sent ? ErrorCode::kInDoubt : ErrorCode::kUnavailable;
  if (!io.stopped()) {
    return Fail(lost,
                method + " " + url + " failed: no answer within " +
                    std::to_string(options.timeout.count()) + " ms");
  }
  if (failure) {
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& e) {
      return Fail(lost, method + " " + url + " failed: " + e.what());
    }
  }
  auto response = parser.release();
  ClientResponse out;
  out.status = static_cast<int>(response.result_int());
  for (const auto& field : response) {
    out.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  out.body = std::move(response.body());
  return out;
}

Result<ClientResponse> HttpRequestBlocking(const std::string& method, const std::string& url,
                                           const HeaderList& headers, const std::string& body,
                                           std::chrono::milliseconds timeout) {
  return HttpSend(method, url, headers, body, ClientOptions{.timeout = timeout});
}

}  // namespace stagegate::server

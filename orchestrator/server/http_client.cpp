#include "orchestrator/server/http_client.hpp"

#include <utility>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

namespace stagegate::server {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

}  // namespace

Result<Url> ParseHttpUrl(const std::string& url) {
  constexpr std::string_view kHttp = "http://";
  if (url.rfind("https://", 0) == 0) {
    return Fail(ErrorCode::kInvalidArgument,
                "https:// URLs are not supported by this command yet; use http://");
  }
  if (url.rfind(kHttp, 0) != 0) {
    return Fail(ErrorCode::kInvalidArgument,
                "URL '" + url + "' must start with http://, e.g. http://127.0.0.1:8080/hooks/mlflow");
  }
  const std::string rest = url.substr(kHttp.size());
  const auto slash = rest.find('/');
  const std::string authority = rest.substr(0, slash);
  Url out;
  out.target = slash == std::string::npos ? "/" : rest.substr(slash);
  const auto colon = authority.rfind(':');
  if (colon == std::string::npos) {
    out.host = authority;
    out.port = "80";
  } else {
    out.host = authority.substr(0, colon);
    out.port = authority.substr(colon + 1);
  }
  if (out.host.empty() || out.port.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "URL '" + url + "' has no host or port");
  }
  return out;
}

Result<ClientResponse> HttpRequestBlocking(const std::string& method, const std::string& url,
                                           const HeaderList& headers, const std::string& body,
                                           std::chrono::milliseconds timeout) {
  auto parsed = ParseHttpUrl(url);
  if (!parsed) {
    return tl::unexpected(parsed.error());
  }
  try {
    net::io_context io;
    tcp::resolver resolver(io);
    beast::tcp_stream stream(io);
    stream.expires_after(timeout);
    stream.connect(resolver.resolve(parsed->host, parsed->port));

    http::request<http::string_body> req{http::string_to_verb(method), parsed->target, 11};
    req.set(http::field::host, parsed->host + ":" + parsed->port);
    req.set(http::field::user_agent, "stagegate/" SG_VERSION);
    for (const auto& [name, value] : headers) {
      req.set(name, value);
    }
    req.body() = body;
    req.prepare_payload();
    http::write(stream, req);

    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    http::read(stream, buffer, parser);
    auto res = parser.release();
    ClientResponse out;
    out.status = static_cast<int>(res.result_int());
    for (const auto& field : res) {
      out.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    out.body = std::move(res.body());
    beast::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
    return out;
  } catch (const std::exception& e) {
    return Fail(ErrorCode::kUnavailable, method + " " + url + " failed: " + e.what());
  }
}

}  // namespace stagegate::server

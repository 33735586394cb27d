#include "orchestrator/server/http_types.hpp"

#include <algorithm>
#include <cctype>

#include <nlohmann/json.hpp>

namespace stagegate::server {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string PercentDecode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '+') {
      out += ' ';
    } else if (in[i] == '%' && i + 2 < in.size() && HexValue(in[i + 1]) >= 0 && HexValue(in[i + 2]) >= 0) {
      out += static_cast<char>(HexValue(in[i + 1]) * 16 + HexValue(in[i + 2]));
      i += 2;
    } else {
      out += in[i];
    }
  }
  return out;
}

std::string_view HttpRequest::Header(std::string_view name) const {
  return FindHeader(headers, name);
}

bool HttpRequest::HasHeader(std::string_view name) const {
  return std::any_of(headers.begin(), headers.end(),
                     [&](const auto& header) { return EqualsIgnoreCase(header.first, name); });
}

std::string_view HttpRequest::Path() const {
  const std::string_view t = target;
  return t.substr(0, t.find('?'));
}

std::string HttpRequest::Query(std::string_view key) const {
  const std::string_view t = target;
  const auto q = t.find('?');
  if (q == std::string_view::npos) {
    return {};
  }
  std::string_view rest = t.substr(q + 1);
  while (!rest.empty()) {
    const auto amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    const auto eq = pair.find('=');
    if (PercentDecode(pair.substr(0, eq)) == key) {
      return eq == std::string_view::npos ? std::string() : PercentDecode(pair.substr(eq + 1));
    }
    if (amp == std::string_view::npos) {
      break;
    }
    rest.remove_prefix(amp + 1);
  }
  return {};
}

HttpResponse JsonError(int status, std::string_view message) {
  nlohmann::json body = {{"error", {{"status", status}, {"message", message}}}};
  return HttpResponse{.status = status,
                      .body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n"};
}

int StatusFor(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return 400;
    case ErrorCode::kUnauthenticated:
      return 401;
    case ErrorCode::kNotFound:
      return 404;
    case ErrorCode::kConflict:
      return 409;
    case ErrorCode::kTooLarge:
      return 413;
    case ErrorCode::kUnavailable:
      return 503;
    case ErrorCode::kInDoubt:
      return 504;
    case ErrorCode::kInternal:
      return 500;
  }
  return 500;
}

HttpResponse FromError(const Error& error) {
  HttpResponse r = JsonError(StatusFor(error.code), error.message);
  if (error.code == ErrorCode::kUnavailable) {
    r.headers.emplace_back("Retry-After", "1");
  }
  return r;
}

HttpResponse Json(int status, std::string body) {
  return HttpResponse{.status = status, .body = std::move(body)};
}

}  // namespace stagegate::server

#pragma once

#include <string>
#include <utility>

#include <tl/expected.hpp>

namespace stagegate {

/// Transport-agnostic failure categories. The HTTP layer maps them to statuses in one
/// place (server/http_types.hpp: StatusFor).
enum class ErrorCode {
  kInvalidArgument,  // malformed input: bad YAML, bad JSON, unknown field
  kUnauthenticated,  // webhook signature or API token rejected
  kNotFound,         // unknown event, endpoint, route
  kConflict,         // illegal state transition
  kTooLarge,         // body or field over a configured limit
  kUnavailable,      // dependency down or overloaded; a retry may succeed
  kInDoubt,          // a call was sent but its answer was lost: it may or may not have happened
  kInternal,         // bug or unexpected library failure
};

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;  // for operators and clients; never contains secrets
};

/// Expected failures travel as values; exceptions are for start-up errors and bugs.
template <class T>
using Result = tl::expected<T, Error>;

inline tl::unexpected<Error> Fail(ErrorCode code, std::string message) {
  return tl::unexpected<Error>(Error{code, std::move(message)});
}

}  // namespace stagegate

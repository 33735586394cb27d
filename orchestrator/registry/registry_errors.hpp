#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "orchestrator/core/registry.hpp"
#include "orchestrator/core/result.hpp"

namespace stagegate::registry {

// How every registry client of this folder calls a registry and turns its error answers into
// Errors, so that all of them name calls and map codes alike. Defined in
// rest_registry_client.cpp.

/// The ErrorCode of an error answer, from its HTTP status and its {"error_code"}:
///   404 / RESOURCE_DOES_NOT_EXIST            -> kNotFound
///   401, 403 / PERMISSION_DENIED, UNAUTHENTICATED -> kUnauthenticated
///   409 / RESOURCE_ALREADY_EXISTS            -> kConflict
///   429, 5xx                                 -> kUnavailable (a retry may succeed)
///   400, other 4xx                           -> kInvalidArgument
ErrorCode RegistryErrorCode(int status, const std::string& error_code);

/// The Error of a non-2xx answer to `request`: "<dialect> registry: <what> failed: <error_code>:
/// <message> (HTTP <status> on <METHOD> <path without query>)", with the first 200 bytes of the
/// body standing in for a missing message.
Error RegistryHttpError(RegistryDialect dialect, const std::string& what,
                        const RegistryRequest& request, const RegistryResponse& response);

/// One call under /api/2.0/mlflow/`path`: its JSON answer (an object; {} for an empty body),
/// or the error as a value. A call whose answer was lost stays kInDoubt (it may have
/// happened); other failures to send are kUnavailable; a non-2xx answer is RegistryHttpError;
/// a body that is not a JSON object is kUnavailable.
Result<nlohmann::json> RegistryCall(RegistryDialect dialect, RegistryTransport& transport,
                                    const std::string& what, std::string method,
                                    const std::string& path, const nlohmann::json* body);

/// "<dialect> registry: <what> answered without '<field>'" (kUnavailable).
tl::unexpected<Error> RegistryMissingField(RegistryDialect dialect, const std::string& what,
                                           const char* field);

}  // namespace stagegate::registry

#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "orchestrator/core/result.hpp"
#include "orchestrator/core/service_config.hpp"
#include "orchestrator/core/suggest.hpp"

namespace stagegate::config {

/// Reads a secret reference: `env:NAME` (the variable must be set and non-empty) or
/// `file:PATH` (contents without a trailing newline). Inline values are refused so that
/// secrets never sit in config files. Messages name the reference, never the value.
Result<std::string> ResolveSecret(std::string_view reference);

/// `bytes` bytes from OpenSSL's generator as lower-case hex: a new webhook signing secret.
/// Empty when the generator fails.
std::string RandomHex(std::size_t bytes);

/// Parses and validates a YAML config file and resolves every secret it references.
/// Errors carry file:line:column, what is wrong and what to write instead.
Result<ServiceConfig> LoadConfigFile(const std::string& path);

/// Same, from text (for tests and `validate`); `name` is used in messages.
Result<ServiceConfig> LoadConfigText(const std::string& text, const std::string& name);

/// The configuration `stagegate serve` uses without --config: 127.0.0.1:8080, SQLite under
/// `state_dir`, and one endpoint per signed scheme (databricks, mlflow, standard, github).
/// Each endpoint's secret comes from STAGEGATE_<SCHEME>_SECRET when set; otherwise a random
/// secret is generated once into `state_dir`/secrets/<name> (mode 0600) and used from there.
Result<ServiceConfig> EmbeddedDefaultConfig(const std::string& state_dir);

using stagegate::Suggest;

}  // namespace stagegate::config

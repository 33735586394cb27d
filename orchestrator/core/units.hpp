#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "orchestrator/core/result.hpp"

namespace stagegate {

/// Parses "250ms", "30s", "5m", "1h", "2d" or a combination such as "1h30m".
/// "off", "0" and "none" give zero. Pure.
Result<std::chrono::milliseconds> ParseDuration(std::string_view text);

/// Parses "1048576", "512KiB", "1MiB", "1MB" (= 1 MiB; sizes here are binary). Pure.
Result<std::uint64_t> ParseByteSize(std::string_view text);

/// "1m30s", "250ms", "0s": the shortest exact spelling of a duration.
std::string FormatDuration(std::chrono::milliseconds d);

/// "2026-11-29T13:47:19.661Z" for Unix milliseconds; empty for 0 or less (no time).
std::string FormatIsoMillis(std::int64_t unix_ms);

/// Milliseconds since the Unix epoch from the system clock.
std::int64_t UnixMillisNow();

}  // namespace stagegate

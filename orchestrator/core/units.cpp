#include "orchestrator/core/units.hpp"

#include <cctype>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <limits>
#include <string>

namespace stagegate {
namespace {

std::optional<std::int64_t> UnitMillis(std::string_view unit) {
  if (unit == "ms") return 1;
  if (unit == "s") return 1000;
  if (unit == "m") return 60'000;
  if (unit == "h") return 3'600'000;
  if (unit == "d") return 86'400'000;
  return std::nullopt;
}

}  // namespace

Result<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  const std::string original(text);
  if (text == "off" || text == "none" || text == "0") {
    return std::chrono::milliseconds(0);
  }
  if (text.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "empty duration; write e.g. 30s, 5m or 1h");
  }
  std::int64_t total = 0;
  while (!text.empty()) {
    std::int64_t value = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || value < 0) {
      return Fail(ErrorCode::kInvalidArgument,
                  "bad duration '" + original + "'; write e.g. 30s, 5m, 1h30m or off");
    }
    text.remove_prefix(static_cast<std::size_t>(ptr - text.data()));
    std::size_t unit_len = 0;
    while (unit_len < text.size() && std::isalpha(static_cast<unsigned char>(text[unit_len]))) {
      ++unit_len;
    }
    const auto unit = UnitMillis(text.substr(0, unit_len));
    if (!unit) {
      return Fail(ErrorCode::kInvalidArgument, "bad duration '" + original +
                                                   "': each number needs a unit (ms, s, m, h, d)");
    }
    if (value > (std::numeric_limits<std::int64_t>::max() - total) / *unit) {
      return Fail(ErrorCode::kInvalidArgument, "duration '" + original + "' is too long");
    }
    total += value * *unit;
    text.remove_prefix(unit_len);
  }
  return std::chrono::milliseconds(total);
}

Result<std::uint64_t> ParseByteSize(std::string_view text) {
  const std::string original(text);
  std::uint64_t value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc()) {
    return Fail(ErrorCode::kInvalidArgument, "bad size '" + original + "'; write e.g. 1MiB or 512KiB");
  }
  const std::string_view unit = text.substr(static_cast<std::size_t>(ptr - text.data()));
  std::uint64_t factor = 0;
  if (unit.empty() || unit == "B") {
    factor = 1;
  } else if (unit == "KiB" || unit == "KB" || unit == "k" || unit == "K") {
    factor = 1024;
  } else if (unit == "MiB" || unit == "MB" || unit == "M") {
    factor = 1024 * 1024;
  } else if (unit == "GiB" || unit == "GB" || unit == "G") {
    factor = 1024ULL * 1024 * 1024;
  } else {
    return Fail(ErrorCode::kInvalidArgument,
                "bad size '" + original + "': unknown unit '" + std::string(unit) + "' (use B, KiB, MiB, GiB)");
  }
  if (value > std::numeric_limits<std::uint64_t>::max() / factor) {
    return Fail(ErrorCode::kInvalidArgument, "size '" + original + "' is too large");
  }
  return value * factor;
}

std::string FormatDuration(std::chrono::milliseconds d) {
  std::int64_t ms = d.count();
  if (ms == 0) {
    return "0s";
  }
  std::string out;
  const std::pair<std::int64_t, const char*> units[] = {
      {86'400'000, "d"}, {3'600'000, "h"}, {60'000, "m"}, {1000, "s"}, {1, "ms"}};
  for (const auto& [size, name] : units) {
    if (ms >= size) {
      out += std::to_string(ms / size) + name;
      ms %= size;
    }
  }
  return out;
}

std::string FormatIsoMillis(std::int64_t unix_ms) {
  if (unix_ms <= 0) {
    return {};
  }
  const auto seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(unix_ms % 1000));
  return buf;
}

std::int64_t UnixMillisNow() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace stagegate

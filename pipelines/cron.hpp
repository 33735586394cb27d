#pragma once

#include <bitset>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "orchestrator/core/result.hpp"

namespace stagegate::pipelines {

/// A parsed 5-field cron expression (minute hour day-of-month month day-of-week), in UTC.
struct CronSchedule {
  std::bitset<60> minutes;
  std::bitset<24> hours;
  std::bitset<32> days;      // 1..31
  std::bitset<13> months;    // 1..12
  std::bitset<7> weekdays;   // 0 = Sunday
  bool days_restricted = false;      // the day-of-month field is not *
  bool weekdays_restricted = false;  // the day-of-week field is not *
  std::string text;
};

/// Parses `*`, lists, ranges, steps (`*/15`, `1-30/5`), month and weekday names (JAN, MON),
/// 7 as Sunday, and @hourly, @daily, @weekly, @monthly, @yearly. Errors name the field and
/// show a valid example. Pure.
Result<CronSchedule> ParseCron(std::string_view text);

/// True when the minute that starts at `unix_s` (seconds, UTC) is a firing time. As in cron,
/// a restricted day-of-month and a restricted day-of-week match when either does.
bool CronMatches(const CronSchedule& schedule, std::int64_t unix_s);

/// The first firing minute strictly after `after_unix_s`, or nullopt when there is none within
/// five years (e.g. "0 0 30 2 *").
std::optional<std::int64_t> NextCronFire(const CronSchedule& schedule, std::int64_t after_unix_s);

}  // namespace stagegate::pipelines

#include "pipelines/cron.hpp"

#include <array>
#include <cctype>
#include <charconv>
#include <ctime>
#include <vector>

namespace stagegate::pipelines {
namespace {

struct Field {
  const char* name;
  int min;
  int max;
  const char* example;
};

constexpr std::array<Field, 5> kFields = {{
    {"minute", 0, 59, "0, */15 or 0,30"},
    {"hour", 0, 23, "3, 9-17 or */6"},
    {"day-of-month", 1, 31, "1, 1,15 or *"},
    {"month", 1, 12, "1, JAN-MAR or *"},
    {"day-of-week", 0, 7, "1-5, MON-FRI or SUN"},
}};

constexpr std::array<std::string_view, 12> kMonths = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                                      "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr std::array<std::string_view, 7> kWeekdays = {"SUN", "MON", "TUE", "WED",
                                                       "THU", "FRI", "SAT"};

tl::unexpected<Error> Bad(std::string_view text, std::string message) {
  return Fail(ErrorCode::kInvalidArgument,
              "bad cron expression '" + std::string(text) + "': " + std::move(message));
}

std::optional<int> ParseValue(std::string_view token, std::size_t field) {
  std::string upper(token);
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (field == 3) {
    for (std::size_t i = 0; i < kMonths.size(); ++i) {
      if (upper == kMonths[i]) return static_cast<int>(i) + 1;
    }
  }
  if (field == 4) {
    for (std::size_t i = 0; i < kWeekdays.size(); ++i) {
      if (upper == kWeekdays[i]) return static_cast<int>(i);
    }
  }
  int value = 0;
  const auto [ptr, ec] = std::from_chars(token.data(), token.data() + token.size(), value);
  if (ec != std::errc() || ptr != token.data() + token.size()) {
    return std::nullopt;
  }
  return value;
}

// Parses one field into the list of allowed values.
Result<std::vector<int>> ParseField(std::string_view text, std::string_view part,
                                    std::size_t index) {
  const Field& f = kFields[index];
  std::vector<int> values;
  std::string_view rest = part;
  while (true) {
    const auto comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    int step = 1;
    if (const auto slash = item.find('/'); slash != std::string_view::npos) {
      const auto parsed = ParseValue(item.substr(slash + 1), 0);
      if (!parsed || *parsed <= 0) {
        return Bad(text, std::string("the step in the ") + f.name + " field '" + std::string(item) +
                             "' must be a positive number, e.g. */15");
      }
      step = *parsed;
      item = item.substr(0, slash);
    }
    int low = f.min;
    int high = f.max == 7 ? 6 : f.max;
    if (item != "*") {
      const auto dash = item.find('-');
      const auto first = ParseValue(item.substr(0, dash), index);
      const auto last = dash == std::string_view::npos ? first : ParseValue(item.substr(dash + 1), index);
      if (!first || !last) {
        return Bad(text, std::string("the ") + f.name + " field has '" + std::string(item) +
                             "'; write e.g. " + f.example);
      }
      if (*first < f.min || *first > f.max || *last < f.min || *last > f.max) {
        return Bad(text, std::string("the ") + f.name + " field allows " + std::to_string(f.min) +
                             "-" + std::to_string(f.max) + ", not '" + std::string(item) + "'");
      }
      if (*last < *first) {
        return Bad(text, std::string("the range '") + std::string(item) + "' in the " + f.name +
                             " field runs backwards; write the smaller value first");
      }
      low = *first;
      // "5/15" means from 5 to the end in steps of 15.
      high = dash == std::string_view::npos && step > 1 ? (f.max == 7 ? 6 : f.max) : *last;
    }
    for (int v = low; v <= high; v += step) {
      values.push_back(index == 4 && v == 7 ? 0 : v);
    }
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  return values;
}

std::string_view Macro(std::string_view text) {
  if (text == "@hourly") return "0 * * * *";
  if (text == "@daily" || text == "@midnight") return "0 0 * * *";
  if (text == "@weekly") return "0 0 * * 0";
  if (text == "@monthly") return "0 0 1 * *";
  if (text == "@yearly" || text == "@annually") return "0 0 1 1 *";
  return {};
}

}  // namespace

Result<CronSchedule> ParseCron(std::string_view text) {
  std::string_view expr = text;
  if (text.starts_with('@')) {
    expr = Macro(text);
    if (expr.empty()) {
      return Bad(text, "unknown macro; use @hourly, @daily, @weekly, @monthly or @yearly");
    }
  }
  std::vector<std::string_view> parts;
  std::size_t i = 0;
  while (i < expr.size()) {
    while (i < expr.size() && expr[i] == ' ') ++i;
    const std::size_t start = i;
    while (i < expr.size() && expr[i] != ' ') ++i;
    if (i > start) parts.push_back(expr.substr(start, i - start));
  }
  if (parts.size() != 5) {
    return Bad(text, "expected 5 fields (minute hour day-of-month month day-of-week), found " +
                         std::to_string(parts.size()) + "; e.g. \"0 3 * * *\" is every day at 03:00 UTC");
  }
  CronSchedule out;
  out.text = std::string(text);
  for (std::size_t f = 0; f < 5; ++f) {
    auto values = ParseField(text, parts[f], f);
    if (!values) return tl::unexpected(values.error());
    for (const int v : *values) {
      const auto bit = static_cast<std::size_t>(v);
      switch (f) {
        case 0: out.minutes.set(bit); break;
        case 1: out.hours.set(bit); break;
        case 2: out.days.set(bit); break;
        case 3: out.months.set(bit); break;
        default: out.weekdays.set(bit); break;
      }
    }
  }
  out.days_restricted = parts[2] != "*";
  out.weekdays_restricted = parts[4] != "*";
  return out;
}

bool CronMatches(const CronSchedule& s, std::int64_t unix_s) {
  const std::time_t t = static_cast<std::time_t>(unix_s);
  std::tm tm{};
  gmtime_r(&t, &tm);
  if (!s.minutes.test(static_cast<std::size_t>(tm.tm_min)) ||
      !s.hours.test(static_cast<std::size_t>(tm.tm_hour)) ||
      !s.months.test(static_cast<std::size_t>(tm.tm_mon + 1))) {
    return false;
  }
  const bool day = s.days.test(static_cast<std::size_t>(tm.tm_mday));
  const bool weekday = s.weekdays.test(static_cast<std::size_t>(tm.tm_wday));
  if (s.days_restricted && s.weekdays_restricted) {
    return day || weekday;
  }
  return day && weekday;
}

std::optional<std::int64_t> NextCronFire(const CronSchedule& s, std::int64_t after_unix_s) {
  constexpr std::int64_t kMinute = 60;
  constexpr std::int64_t kHour = 3600;
  constexpr std::int64_t kDay = 86400;
  std::int64_t t = (after_unix_s / kMinute + 1) * kMinute;
  const std::int64_t limit = after_unix_s + 5 * 366 * kDay;
  while (t <= limit) {
    // Skip whole days and hours that cannot match before testing minutes.
    const std::int64_t day_start = t - ((t % kDay) + kDay) % kDay;
    if (!CronMatches(CronSchedule{.minutes = std::bitset<60>().set(),
                                  .hours = std::bitset<24>().set(),
                                  .days = s.days,
                                  .months = s.months,
                                  .weekdays = s.weekdays,
                                  .days_restricted = s.days_restricted,
                                  .weekdays_restricted = s.weekdays_restricted},
                     day_start)) {
      t = day_start + kDay;
      continue;
    }
    const std::int64_t hour = (t - day_start) / kHour;
    if (!s.hours.test(static_cast<std::size_t>(hour))) {
      t = day_start + (hour + 1) * kHour;
      continue;
    }
    if (CronMatches(s, t)) {
      return t;
    }
    t += kMinute;
  }
  return std::nullopt;
}

}  // namespace stagegate::pipelines

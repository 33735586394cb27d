#include "pipelines/cron.hpp"

#include <gtest/gtest.h>

namespace stagegate::pipelines {
namespace {

// 2026-11-29T13:38:00Z, a Sunday.
constexpr std::int64_t kSunday = 1795959480;

TEST(CronTest, ParsesFieldsListsRangesStepsAndNames) {
  const auto s = ParseCron("*/15 9-17 1,15 JAN-MAR MON-FRI");
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->minutes.count(), 4U);
  EXPECT_TRUE(s->minutes.test(45));
  EXPECT_EQ(s->hours.count(), 9U);
  EXPECT_TRUE(s->days.test(15));
  EXPECT_FALSE(s->days.test(2));
  EXPECT_EQ(s->months.count(), 3U);
  EXPECT_TRUE(s->weekdays.test(1) && s->weekdays.test(5) && !s->weekdays.test(0));
}

TEST(CronTest, SevenIsSundayAndMacrosExpand) {
  EXPECT_TRUE(ParseCron("0 0 * * 7")->weekdays.test(0));
  const auto daily = ParseCron("@daily");
  ASSERT_TRUE(daily);
  EXPECT_TRUE(daily->minutes.test(0) && daily->minutes.count() == 1);
  EXPECT_TRUE(daily->hours.test(0) && daily->hours.count() == 1);
}

TEST(CronTest, ErrorsNameTheFieldAndShowAnExample) {
  EXPECT_EQ(ParseCron("61 * * * *").error().message,
            "bad cron expression '61 * * * *': the minute field allows 0-59, not '61'");
  EXPECT_EQ(ParseCron("0 3 * *").error().message,
            "bad cron expression '0 3 * *': expected 5 fields (minute hour day-of-month month "
            "day-of-week), found 4; e.g. \"0 3 * * *\" is every day at 03:00 UTC");
  EXPECT_EQ(ParseCron("0 3 * * FRY").error().message,
            "bad cron expression '0 3 * * FRY': the day-of-week field has 'FRY'; write e.g. 1-5, "
            "MON-FRI or SUN");
  EXPECT_EQ(ParseCron("*/0 * * * *").error().message,
            "bad cron expression '*/0 * * * *': the step in the minute field '*/0' must be a "
            "positive number, e.g. */15");
  EXPECT_EQ(ParseCron("0 17-9 * * *").error().message,
            "bad cron expression '0 17-9 * * *': the range '17-9' in the hour field runs "
            "backwards; write the smaller value first");
  EXPECT_FALSE(ParseCron("@sometimes"));
}

TEST(CronTest, NextFireIsStrictlyAfterAndExact) {
  const auto s = ParseCron("0 3 * * *");
  ASSERT_TRUE(s);
  // The next 03:00 after Sunday 13:38 is Monday 03:00.
  EXPECT_EQ(NextCronFire(*s, kSunday), 1796007600);
  EXPECT_EQ(NextCronFire(*s, 1796007600), 1796007600 + 86400);
  const auto every = ParseCron("* * * * *");
  EXPECT_EQ(NextCronFire(*every, kSunday), kSunday + 60);
}

TEST(CronTest, DayOfMonthAndDayOfWeekMatchEitherWhenBothRestricted) {
  // The 1st of the month or any Monday, at midnight.
  const auto s = ParseCron("0 0 1 * MON");
  ASSERT_TRUE(s);
  // After Sunday 2026-11-29: Monday 2026-11-30 00:00 comes before Tuesday 2026-12-01.
  EXPECT_EQ(NextCronFire(*s, kSunday), 1795996800);  // 2026-11-30T00:00:00Z
  const auto first = ParseCron("0 0 1 * *");
  EXPECT_EQ(NextCronFire(*first, kSunday), 1796083200);  // 2026-12-01T00:00:00Z
}

TEST(CronTest, ImpossibleDatesNeverFire) {
  const auto s = ParseCron("0 0 30 2 *");
  ASSERT_TRUE(s);
  EXPECT_FALSE(NextCronFire(*s, kSunday).has_value());
}

}  // namespace
}  // namespace stagegate::pipelines

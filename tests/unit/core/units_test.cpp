#include "orchestrator/core/units.hpp"

#include <chrono>

#include <gtest/gtest.h>

namespace stagegate {
namespace {

using std::chrono::milliseconds;

TEST(ParseDurationTest, AcceptsEveryUnit) {
  EXPECT_EQ(ParseDuration("250ms").value(), milliseconds(250));
  EXPECT_EQ(ParseDuration("30s").value(), milliseconds(30'000));
  EXPECT_EQ(ParseDuration("5m").value(), milliseconds(300'000));
  EXPECT_EQ(ParseDuration("1h").value(), milliseconds(3'600'000));
  EXPECT_EQ(ParseDuration("2d").value(), milliseconds(172'800'000));
}

TEST(ParseDurationTest, AddsCombinedUnits) {
  EXPECT_EQ(ParseDuration("1h30m").value(), milliseconds(5'400'000));
  EXPECT_EQ(ParseDuration("1m30s250ms").value(), milliseconds(90'250));
}

TEST(ParseDurationTest, OffNoneAndZeroGiveZero) {
  EXPECT_EQ(ParseDuration("off").value(), milliseconds(0));
  EXPECT_EQ(ParseDuration("none").value(), milliseconds(0));
  EXPECT_EQ(ParseDuration("0").value(), milliseconds(0));
  EXPECT_EQ(ParseDuration("0s").value(), milliseconds(0));
}

TEST(ParseDurationTest, RejectsEmptyText) {
  const auto d = ParseDuration("");
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(d.error().message, "empty duration; write e.g. 30s, 5m or 1h");
}

TEST(ParseDurationTest, RejectsNumberWithoutUnit) {
  const auto d = ParseDuration("5");
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(d.error().message, "bad duration '5': each number needs a unit (ms, s, m, h, d)");
}

TEST(ParseDurationTest, RejectsUnknownUnit) {
  const auto d = ParseDuration("5w");
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().message, "bad duration '5w': each number needs a unit (ms, s, m, h, d)");
  EXPECT_FALSE(ParseDuration("1.5s"));
  EXPECT_FALSE(ParseDuration("5 s"));
}

TEST(ParseDurationTest, RejectsTextThatIsNotANumber) {
  const auto d = ParseDuration("soon");
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(d.error().message, "bad duration 'soon'; write e.g. 30s, 5m, 1h30m or off");
}

TEST(ParseDurationTest, RejectsNegativeDurations) {
  const auto d = ParseDuration("-5s");
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().message, "bad duration '-5s'; write e.g. 30s, 5m, 1h30m or off");
}

// 200000000000 days do not fit in int64 milliseconds: the sum must not wrap around.
TEST(ParseDurationTest, RejectsDurationsThatOverflow) {
  const auto d = ParseDuration("200000000000d");
  EXPECT_FALSE(d) << "parsed as " << d.value().count() << " ms";
}

TEST(ParseByteSizeTest, AcceptsPlainNumbersAndBinaryUnits) {
  EXPECT_EQ(ParseByteSize("1048576").value(), 1'048'576U);
  EXPECT_EQ(ParseByteSize("10B").value(), 10U);
  EXPECT_EQ(ParseByteSize("512KiB").value(), 524'288U);
  EXPECT_EQ(ParseByteSize("1MiB").value(), 1'048'576U);
  EXPECT_EQ(ParseByteSize("2GiB").value(), 2'147'483'648ULL);
}

TEST(ParseByteSizeTest, DecimalSpellingsMeanBinarySizes) {
  EXPECT_EQ(ParseByteSize("1MB").value(), 1'048'576U);
  EXPECT_EQ(ParseByteSize("1KB").value(), 1024U);
  EXPECT_EQ(ParseByteSize("1GB").value(), 1'073'741'824U);
}

TEST(ParseByteSizeTest, RejectsTextThatIsNotANumber) {
  const auto s = ParseByteSize("big");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(s.error().message, "bad size 'big'; write e.g. 1MiB or 512KiB");
  EXPECT_FALSE(ParseByteSize(""));
  EXPECT_FALSE(ParseByteSize("-1"));
}

TEST(ParseByteSizeTest, RejectsUnknownUnit) {
  const auto s = ParseByteSize("5XB");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(s.error().message, "bad size '5XB': unknown unit 'XB' (use B, KiB, MiB, GiB)");
}

// 2^34 GiB = 2^64 bytes: must be refused, not wrap around to 0.
TEST(ParseByteSizeTest, RejectsSizesThatOverflow) {
  const auto s = ParseByteSize("17179869184GiB");
  EXPECT_FALSE(s) << "parsed as " << s.value();
}

TEST(FormatDurationTest, SpellsTheShortestExactForm) {
  EXPECT_EQ(FormatDuration(milliseconds(0)), "0s");
  EXPECT_EQ(FormatDuration(milliseconds(250)), "250ms");
  EXPECT_EQ(FormatDuration(milliseconds(90'000)), "1m30s");
  EXPECT_EQ(FormatDuration(milliseconds(300'000)), "5m");
  EXPECT_EQ(FormatDuration(milliseconds(1'500)), "1s500ms");
  EXPECT_EQ(FormatDuration(milliseconds(90'000'000)), "1d1h");
}

TEST(FormatDurationTest, RoundTripsThroughParseDuration) {
  for (const long long ms : {1LL, 999LL, 61'001LL, 3'723'004LL, 176'461'001LL}) {
    const auto text = FormatDuration(milliseconds(ms));
    EXPECT_EQ(ParseDuration(text).value(), milliseconds(ms)) << text;
  }
}

TEST(UnixMillisNowTest, IsAfter2024AndMonotonicEnough) {
  const auto a = UnixMillisNow();
  const auto b = UnixMillisNow();
  EXPECT_GT(a, 1'704'067'200'000);  // 2024-01-01
  EXPECT_GE(b, a);
}

}  // namespace
}  // namespace stagegate

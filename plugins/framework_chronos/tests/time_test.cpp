// Instants, periods and zones as Chronos's JSON writes them.
#include <gtest/gtest.h>

#include "chronos_time.h"

namespace tessera::chronos {
namespace {

using std::chrono::hours;
using std::chrono::minutes;

TimePoint at(const char* text) {
  auto t = parse_time(text);
  EXPECT_TRUE(t.ok()) << text << ": " << (t.ok() ? "" : t.error().message);
  return t.ok() ? *t : TimePoint{};
}

TEST(Time, FormatsAsJodaDoesInUtc) {
  EXPECT_EQ(format_time(TimePoint{Millis{0}}), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(format_time(TimePoint{Millis{1'363'352'534'243}}), "2013-03-15T13:02:14.243Z");
  EXPECT_EQ(format_time(max_time()), "9999-12-31T23:59:59.999Z");
}

TEST(Time, ParsesTheIsoFormsChronosClientsSend) {
  EXPECT_EQ(format_time(at("2013-03-15T13:02:14.243Z")), "2013-03-15T13:02:14.243Z");
  EXPECT_EQ(format_time(at("1997-07-16T19:20:30.45+01:00")), "1997-07-16T18:20:30.450Z");
  EXPECT_EQ(format_time(at("1997-07-16T19:20:30,45-0130")), "1997-07-16T20:50:30.450Z");
  EXPECT_EQ(format_time(at("2024-01-01")), "2024-01-01T00:00:00.000Z");
  EXPECT_EQ(format_time(at("2024-01-01T05")), "2024-01-01T05:00:00.000Z");
  EXPECT_EQ(format_time(at("2024-01-01T05:06+02")), "2024-01-01T03:06:00.000Z");
  // Digits past the millisecond are dropped.
  EXPECT_EQ(format_time(at("2024-01-01T00:00:00.123456789Z")), "2024-01-01T00:00:00.123Z");
}

TEST(Time, RefusesWhatIsNotAnInstant) {
  for (const char* bad : {"", "2024", "2024-13-01", "2024-02-30T00:00:00Z", "2024-01-01T24:00:00Z",
                          "2024-01-01T10:60Z", "2024-01-01T10:00:00.Z", "2024-01-01T10:00:00Zjunk",
                          "2024-01-01T10:00:00+25:00", "1969-12-31T23:59:59Z", "yesterday",
                          "2024-01-01T10:00:00.0000000000Z"}) {
    EXPECT_FALSE(parse_time(bad).ok()) << bad;
  }
  auto error = parse_time("2024-13-01");
  ASSERT_FALSE(error.ok());
  EXPECT_EQ(error.error().message, "invalid date-time '2024-13-01': no such date");
}

TEST(Period, ReadsJodasStandardFormat) {
  auto p = parse_period("P1Y2M3DT4H5M6S");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->years, 1);
  EXPECT_EQ(p->months, 2);
  EXPECT_EQ(p->days, 3);
  EXPECT_EQ(p->hours, 4);
  EXPECT_EQ(p->minutes, 5);
  EXPECT_EQ(p->seconds, 6);
  EXPECT_TRUE(p->has_calendar_part());

  // M is months before T and minutes after it.
  EXPECT_EQ(parse_period("P10M")->months, 10);
  EXPECT_EQ(parse_period("PT10M")->minutes, 10);
  EXPECT_FALSE(parse_period("PT10M")->has_calendar_part());
  EXPECT_EQ(parse_period("PT1.5S")->millis, 500);
  EXPECT_EQ(parse_period("P2W")->fixed_length(), hours{24 * 14});
  EXPECT_EQ(parse_period("PT2S")->fixed_length(), Millis{2000});
}

TEST(Period, RefusesMalformedPeriods) {
  for (const char* bad : {"", "P", "PT", "1D", "P1H", "PT1D", "P1D1Y", "P1.5D", "P-1D", "P1DT",
                          "PT1S2M", "P1Y1Y", "P99999999999D", "P1d"}) {
    EXPECT_FALSE(parse_period(bad).ok()) << bad;
  }
}

TEST(Period, WritesTheStandardForm) {
  for (const char* text : {"P1Y2M3DT4H5M6S", "PT2S", "P1M", "PT1M", "P2W", "PT1.500S"}) {
    auto p = parse_period(text);
    ASSERT_TRUE(p.ok()) << text;
    EXPECT_EQ(format_period(*p), text);
  }
  EXPECT_EQ(format_period(IsoPeriod{}), "PT0S");
  EXPECT_EQ(format_duration(minutes{15}), "PT15M");
  EXPECT_EQ(format_duration(Millis{90'500}), "PT1M30.500S");
}

TEST(Period, DurationsHaveAFixedLength) {
  EXPECT_EQ(*parse_duration("PT15M"), minutes{15});
  EXPECT_EQ(*parse_duration("P1DT1H"), hours{25});
  auto months = parse_duration("P1M");
  ASSERT_FALSE(months.ok());
  EXPECT_EQ(months.error().message,
            "invalid duration 'P1M': years and months have no fixed length");
}

TEST(Zone, UnknownNamesAreRefused) {
  auto zone = TimeZone::named("Mars/Olympus_Mons");
  ASSERT_FALSE(zone.ok());
  EXPECT_NE(zone.error().message.find("unknown time zone 'Mars/Olympus_Mons'"), std::string::npos);
  EXPECT_FALSE(TimeZone::named("").ok());
}

TEST(Zone, WallClockTimesBecomeInstantsAsInJoda) {
  auto ny = TimeZone::named("America/New_York");
  ASSERT_TRUE(ny.ok());
  auto local = [](const char* text) { return parse_date_time(text)->local; };
  // Spring forward 2024-03-10: 02:30 does not exist and moves forward by the gap.
  EXPECT_EQ(format_time(ny->from_local(local("2024-03-10T02:30"))), "2024-03-10T07:30:00.000Z");
  // Fall back 2024-11-03: 01:30 happens twice; the earlier (EDT) unless asked otherwise.
  EXPECT_EQ(format_time(ny->from_local(local("2024-11-03T01:30"))), "2024-11-03T05:30:00.000Z");
  EXPECT_EQ(format_time(ny->from_local(local("2024-11-03T01:30"), hours{-5})),
            "2024-11-03T06:30:00.000Z");
  EXPECT_EQ(ny->offset_at(at("2024-07-01T00:00:00Z")), hours{-4});
  EXPECT_EQ(ny->offset_at(at("2024-01-01T00:00:00Z")), hours{-5});

  TimeZone::Span span = ny->span_at(at("2024-07-01T00:00:00Z"));
  EXPECT_EQ(format_time(span.begin), "2024-03-10T07:00:00.000Z");
  EXPECT_EQ(format_time(span.end), "2024-11-03T06:00:00.000Z");

  TimeZone fixed = TimeZone::fixed(minutes{90});
  EXPECT_EQ(format_time(fixed.from_local(local("2024-01-01T01:30"))), "2024-01-01T00:00:00.000Z");
}

}  // namespace
}  // namespace tessera::chronos

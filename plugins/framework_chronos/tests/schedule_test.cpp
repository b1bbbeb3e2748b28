// When jobs are due: ISO 8601 repeating intervals and cron expressions, in several time zones
// and across both clock changes. Time is always passed in; nothing sleeps or reads the clock.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "schedule.h"

namespace tessera::chronos {
namespace {

TimePoint at(const char* text) {
  auto t = parse_time(text);
  EXPECT_TRUE(t.ok()) << text;
  return t.ok() ? *t : TimePoint{};
}

Schedule schedule(const std::string& text, const std::string& zone = "",
                  TimePoint created = TimePoint{}) {
  auto parsed = Schedule::parse(text, zone, created);
  EXPECT_TRUE(parsed.ok()) << text << ": " << (parsed.ok() ? "" : parsed.error().message);
  return parsed.ok() ? *parsed : Schedule{};
}

// The next `count` occurrences after `from`, as text.
std::vector<std::string> next(const Schedule& s, const char* from, int count) {
  std::vector<std::string> out;
  TimePoint t = at(from);
  for (int i = 0; i < count; ++i) {
    auto n = s.next_after(t);
    if (!n) break;
    out.push_back(format_time(*n));
    t = *n;
  }
  return out;
}

using Times = std::vector<std::string>;

TEST(IsoSchedule, RepeatsEveryPeriodFromItsStart) {
  Schedule s = schedule("R/2024-05-01T10:00:00Z/PT2S");
  EXPECT_EQ(
      next(s, "2024-05-01T09:00:00Z", 3),
      (Times{"2024-05-01T10:00:00.000Z", "2024-05-01T10:00:02.000Z", "2024-05-01T10:00:04.000Z"}));
  // Strictly after: an occurrence at t is not "next after t".
  EXPECT_EQ(next(s, "2024-05-01T10:00:02Z", 1), (Times{"2024-05-01T10:00:04.000Z"}));
  // Far ahead it is still exact (no accumulated error).
  EXPECT_EQ(next(s, "2025-05-01T10:00:00.500Z", 1), (Times{"2025-05-01T10:00:02.000Z"}));
}

TEST(IsoSchedule, RnRepeatsNTimesAndR0Never) {
  Schedule three = schedule("R3/2024-05-01T10:00:00Z/PT1M");
  EXPECT_EQ(next(three, "2024-05-01T00:00:00Z", 5).size(), 3u);
  EXPECT_FALSE(three.next_after(at("2024-05-01T10:02:00Z")).has_value());
  EXPECT_EQ(three.repetitions(), 3);
  Schedule never = schedule("R0/2024-05-01T10:00:00Z/PT1M");
  EXPECT_FALSE(never.next_after(at("2020-01-01T00:00:00Z")).has_value());
  EXPECT_EQ(schedule("R/2024-05-01T10:00:00Z/PT1M").repetitions(), -1);
}

TEST(IsoSchedule, AnEmptyStartIsTheInstantTheJobWasCreated) {
  TimePoint created = at("2024-05-01T10:00:00.250Z");
  Schedule s = schedule("R//PT2S", "", created);
  EXPECT_EQ(s.start(), created);
  EXPECT_EQ(next(s, "2024-05-01T10:00:00.249Z", 2),
            (Times{"2024-05-01T10:00:00.250Z", "2024-05-01T10:00:02.250Z"}));
}

TEST(IsoSchedule, TheTimeZoneKeepsTheStartsFieldsAndReplacesItsOffset) {
  // Chronos: scheduleTimeZone takes precedence over the offset written in the start.
  Schedule ny = schedule("R/2024-01-15T09:00:00Z/P1D", "America/New_York");
  EXPECT_EQ(format_time(ny.start()), "2024-01-15T14:00:00.000Z");
  Schedule also_ny = schedule("R/2024-01-15T09:00:00+01:00/P1D", "America/New_York");
  EXPECT_EQ(also_ny.start(), ny.start());
  // Without a zone the written offset is the zone; without an offset, UTC.
  EXPECT_EQ(format_time(schedule("R/2024-01-15T09:00:00+01:00/P1D").start()),
            "2024-01-15T08:00:00.000Z");
  EXPECT_EQ(format_time(schedule("R/2024-01-15T09:00:00/P1D").start()), "2024-01-15T09:00:00.000Z");
}

TEST(IsoSchedule, DailyKeepsTheWallClockAcrossBothChangesInNewYork) {
  Schedule s = schedule("R/2024-03-08T09:00:00Z/P1D", "America/New_York");
  // 09:00 EST is 14:00Z, 09:00 EDT is 13:00Z (spring forward on Sunday 2024-03-10).
  EXPECT_EQ(next(s, "2024-03-08T00:00:00Z", 4),
            (Times{"2024-03-08T14:00:00.000Z", "2024-03-09T14:00:00.000Z",
                   "2024-03-10T13:00:00.000Z", "2024-03-11T13:00:00.000Z"}));
  // Fall back on Sunday 2024-11-03.
  EXPECT_EQ(next(s, "2024-11-01T20:00:00Z", 4),
            (Times{"2024-11-02T13:00:00.000Z", "2024-11-03T14:00:00.000Z",
                   "2024-11-04T14:00:00.000Z", "2024-11-05T14:00:00.000Z"}));
}

TEST(IsoSchedule, ATimeTheClocksSkipMovesForwardByTheGapOnThatDayOnly) {
  Schedule s = schedule("R/2024-03-08T02:30:00Z/P1D", "America/New_York");
  EXPECT_EQ(next(s, "2024-03-08T00:00:00Z", 4),
            (Times{"2024-03-08T07:30:00.000Z", "2024-03-09T07:30:00.000Z",
                   // 02:30 does not exist on 03-10: 03:30 EDT.
                   "2024-03-10T07:30:00.000Z",
                   // Back to 02:30, now EDT: computed from the start, not from 03:30.
                   "2024-03-11T06:30:00.000Z"}));
}

TEST(IsoSchedule, ARepeatedTimeRunsOnceAtTheStartsOffset) {
  // 01:30 happens twice on 2024-11-03; the start is EDT, so the EDT one.
  Schedule s = schedule("R/2024-11-01T01:30:00Z/P1D", "America/New_York");
  EXPECT_EQ(
      next(s, "2024-11-02T00:00:00Z", 3),
      (Times{"2024-11-02T05:30:00.000Z", "2024-11-03T05:30:00.000Z", "2024-11-04T06:30:00.000Z"}));
}

TEST(IsoSchedule, HoursAreElapsedTimeSoPT24HDriftsOnTheWallClock) {
  Schedule s = schedule("R/2024-03-09T09:00:00Z/PT24H", "America/New_York");
  // 09:00 EST then 24 hours later is 10:00 EDT.
  EXPECT_EQ(
      next(s, "2024-03-09T00:00:00Z", 3),
      (Times{"2024-03-09T14:00:00.000Z", "2024-03-10T14:00:00.000Z", "2024-03-11T14:00:00.000Z"}));
}

TEST(IsoSchedule, DailyAcrossBothChangesInBerlin) {
  // Berlin: spring forward 2024-03-31 02:00 -> 03:00, fall back 2024-10-27 03:00 -> 02:00.
  Schedule morning = schedule("R/2024-03-29T09:00:00Z/P1D", "Europe/Berlin");
  EXPECT_EQ(next(morning, "2024-03-29T00:00:00Z", 4),
            (Times{"2024-03-29T08:00:00.000Z", "2024-03-30T08:00:00.000Z",
                   "2024-03-31T07:00:00.000Z", "2024-04-01T07:00:00.000Z"}));
  EXPECT_EQ(
      next(morning, "2024-10-26T00:00:00Z", 3),
      (Times{"2024-10-26T07:00:00.000Z", "2024-10-27T08:00:00.000Z", "2024-10-28T08:00:00.000Z"}));
  Schedule gap = schedule("R/2024-03-30T02:30:00Z/P1D", "Europe/Berlin");
  EXPECT_EQ(
      next(gap, "2024-03-30T00:00:00Z", 3),
      (Times{"2024-03-30T01:30:00.000Z", "2024-03-31T01:30:00.000Z", "2024-04-01T00:30:00.000Z"}));
  Schedule repeated = schedule("R/2024-10-26T02:30:00Z/P1D", "Europe/Berlin");
  EXPECT_EQ(
      next(repeated, "2024-10-26T00:00:00Z", 3),
      (Times{"2024-10-26T00:30:00.000Z", "2024-10-27T00:30:00.000Z", "2024-10-28T01:30:00.000Z"}));
}

TEST(IsoSchedule, DailyAcrossBothChangesInSydney) {
  // The southern hemisphere: fall back 2024-04-07 03:00 -> 02:00, spring forward 2024-10-06
  // 02:00 -> 03:00 (AEDT is +11, AEST +10).
  Schedule s = schedule("R/2024-04-05T08:00:00Z/P1D", "Australia/Sydney");
  // 08:00 AEDT is 21:00Z the day before, 08:00 AEST 22:00Z the day before.
  EXPECT_EQ(
      next(s, "2024-04-04T00:00:00Z", 3),
      (Times{"2024-04-04T21:00:00.000Z", "2024-04-05T21:00:00.000Z", "2024-04-06T22:00:00.000Z"}));
  EXPECT_EQ(
      next(s, "2024-10-04T12:00:00Z", 3),
      (Times{"2024-10-04T22:00:00.000Z", "2024-10-05T21:00:00.000Z", "2024-10-06T21:00:00.000Z"}));
}

TEST(IsoSchedule, MonthsClampToTheLastDayWithoutDrifting) {
  Schedule s = schedule("R/2024-01-31T10:00:00Z/P1M");
  EXPECT_EQ(next(s, "2024-01-01T00:00:00Z", 4),
            (Times{"2024-01-31T10:00:00.000Z", "2024-02-29T10:00:00.000Z",
                   "2024-03-31T10:00:00.000Z", "2024-04-30T10:00:00.000Z"}));
  Schedule leap = schedule("R/2024-02-29T00:00:00Z/P1Y");
  EXPECT_EQ(next(leap, "2024-03-01T00:00:00Z", 4),
            (Times{"2025-02-28T00:00:00.000Z", "2026-02-28T00:00:00.000Z",
                   "2027-02-28T00:00:00.000Z", "2028-02-29T00:00:00.000Z"}));
}

TEST(IsoSchedule, CalendarPartsThenElapsedTimeAsJodaAddsThem) {
  Schedule s = schedule("R5/2024-01-01T00:00:00Z/P1Y2M3DT4H5M6S", "Europe/Berlin");
  EXPECT_EQ(
      next(s, "2023-01-01T00:00:00Z", 6),
      (Times{"2023-12-31T23:00:00.000Z", "2025-03-04T03:05:06.000Z", "2026-05-07T06:10:12.000Z",
             "2027-07-10T10:15:18.000Z", "2028-09-13T14:20:24.000Z"}));
}

TEST(IsoSchedule, NextAfterAgreesWithCountingOccurrencesOneByOne) {
  // The estimate-then-search in next_after must find exactly the first occurrence after t.
  std::mt19937_64 random(42);
  for (const char* text : {"R/2021-01-31T10:00:00Z/P1M", "R/2021-03-10T02:30:00Z/P1W2D",
                           "R40/2021-01-01T00:00:00Z/P1Y1M1DT1H", "R/2021-01-01T01:30:00Z/P1D"}) {
    Schedule s = schedule(text, "America/New_York");
    std::vector<TimePoint> all;
    for (std::int64_t k = 0; k < 400; ++k) {
      auto t = s.occurrence(k);
      if (!t) break;
      all.push_back(*t);
    }
    ASSERT_FALSE(all.empty());
    std::uniform_int_distribution<std::int64_t> pick(
        (all.front() - Millis{86'400'000}).time_since_epoch().count(),
        all.back().time_since_epoch().count());
    for (int i = 0; i < 300; ++i) {
      TimePoint t{Millis{pick(random)}};
      auto expected = std::upper_bound(all.begin(), all.end(), t);
      auto actual = s.next_after(t);
      ASSERT_TRUE(actual.has_value()) << text << " after " << format_time(t);
      ASSERT_EQ(*actual, *expected) << text << " after " << format_time(t);
    }
  }
}

TEST(IsoSchedule, RefusesWhatChronosRefuses) {
  TimePoint now = at("2024-01-01T00:00:00Z");
  auto error = [&](const std::string& text, const std::string& zone = "") {
    auto parsed = Schedule::parse(text, zone, now);
    return parsed.ok() ? std::string("accepted") : parsed.error().message;
  };
  EXPECT_EQ(error("R/1969-12-31T00:00:00Z/PT1H"),
            "scheduled start date '1969-12-31T00:00:00.000Z' is before 1970");
  EXPECT_EQ(error("every day"), "expected R[n]/[start]/period or cron:EXPR");
  EXPECT_EQ(error("R/2024-01-01T00:00:00Z"), "expected R[n]/[start]/period or cron:EXPR");
  EXPECT_EQ(error("Rx/2024-01-01T00:00:00Z/PT1H"), "invalid repetitions 'Rx'");
  EXPECT_EQ(error("R/2024-01-01T00:00:00Z/PT0S"),
            "a zero period repeats at the same instant; use R1 or a longer period");
  EXPECT_NE(error("R/2024-01-01T00:00:00Z/1H").find("invalid period"), std::string::npos);
  EXPECT_NE(error("R/2024-02-30T00:00:00Z/PT1H").find("no such date"), std::string::npos);
  EXPECT_NE(error("R/2024-01-01T00:00:00Z/PT1H", "Nowhere/Special").find("unknown time zone"),
            std::string::npos);
  EXPECT_EQ(error("R1/2024-01-01T00:00:00Z/PT0S"), "accepted");
}

TEST(CronSchedule, ReadsFieldsRangesStepsListsAndNames) {
  auto ok = [](const char* text) { return CronExpression::parse(text).ok(); };
  EXPECT_TRUE(ok("*/5 * * * *"));
  EXPECT_TRUE(ok("0,15,30-45/5 8-18 1,15 JAN-mar,Dec mon-FRI"));
  EXPECT_TRUE(ok("0 0 * * 7"));
  EXPECT_TRUE(ok("@daily"));
  EXPECT_TRUE(ok("5/10 * * * *"));
  auto error = [](const char* text) {
    auto parsed = CronExpression::parse(text);
    return parsed.ok() ? std::string("accepted") : parsed.error().message;
  };
  EXPECT_EQ(error("* * * *"),
            "a cron expression has 5 fields (minute hour day month weekday), got 4");
  EXPECT_EQ(error("60 * * * *"), "value 60 out of range 0-59 in the minute field");
  EXPECT_EQ(error("* * 0 * *"), "value 0 out of range 1-31 in the day of month field");
  EXPECT_EQ(error("* 5-2 * * *"), "range 5-2 is reversed in the hour field");
  EXPECT_EQ(error("* * * FOO *"), "unknown name 'FOO' in the month field");
  EXPECT_EQ(error("*/0 * * * *"), "invalid step in the minute field");
  EXPECT_EQ(error("0 0 30 2 *"), "cron expression '0 0 30 2 *' never matches");
  EXPECT_EQ(error("@reboot"), "unknown cron shorthand '@reboot'");
  EXPECT_EQ(error("1,,2 * * * *"), "empty list item in the minute field");
}

TEST(CronSchedule, MatchesAsVixieCronDoes) {
  Schedule every5 = schedule("cron:*/5 * * * *");
  EXPECT_EQ(
      next(every5, "2024-05-01T10:02:30Z", 3),
      (Times{"2024-05-01T10:05:00.000Z", "2024-05-01T10:10:00.000Z", "2024-05-01T10:15:00.000Z"}));
  // Weekdays at 09:30; 2024-05-03 is a Friday.
  Schedule weekdays = schedule("cron:30 9 * * MON-FRI");
  EXPECT_EQ(next(weekdays, "2024-05-03T10:00:00Z", 2),
            (Times{"2024-05-06T09:30:00.000Z", "2024-05-07T09:30:00.000Z"}));
  // Both day fields restricted: either matches (the 13th, or any Friday).
  Schedule either = schedule("cron:0 0 13 * 5");
  EXPECT_EQ(
      next(either, "2024-09-01T00:00:00Z", 3),
      (Times{"2024-09-06T00:00:00.000Z", "2024-09-13T00:00:00.000Z", "2024-09-20T00:00:00.000Z"}));
  // A star in the day of week: both must match (the 13th, whatever day).
  Schedule thirteenth = schedule("cron:0 0 13 * *");
  EXPECT_EQ(next(thirteenth, "2024-09-01T00:00:00Z", 2),
            (Times{"2024-09-13T00:00:00.000Z", "2024-10-13T00:00:00.000Z"}));
  Schedule sunday = schedule("cron:0 12 * * 7");
  EXPECT_EQ(next(sunday, "2024-05-01T00:00:00Z", 1), (Times{"2024-05-05T12:00:00.000Z"}));
  Schedule leap_day = schedule("cron:0 0 29 FEB *");
  EXPECT_EQ(next(leap_day, "2024-03-01T00:00:00Z", 1), (Times{"2028-02-29T00:00:00.000Z"}));
}

TEST(CronSchedule, AgreesWithAMinuteByMinuteScanInUtc) {
  std::mt19937 random(7);
  const std::vector<std::string> expressions{"*/7 * * * *",  "0 */3 * * *",  "15,45 9-17 * * 1-5",
                                             "0 0 1,15 * *", "30 2 * 2,8 0", "*/20 5-6 10-12 * *",
                                             "0 0 31 * *",   "59 23 * * 6"};
  for (const std::string& text : expressions) {
    auto cron = CronExpression::parse(text);
    ASSERT_TRUE(cron.ok()) << text;
    Schedule s = schedule("cron:" + text);
    TimePoint t =
        at("2024-01-30T22:00:00Z") + Millis(static_cast<std::int64_t>(random() % 100'000));
    for (int step = 0; step < 20; ++step) {
      auto actual = s.next_after(t);
      ASSERT_TRUE(actual.has_value()) << text;
      // The first minute after t whose UTC wall clock matches.
      LocalMinutes m = date::ceil<std::chrono::minutes>(LocalTime{t.time_since_epoch()});
      if (LocalTime{m} == LocalTime{t.time_since_epoch()}) m += std::chrono::minutes{1};
      while (!cron->matches(m)) m += std::chrono::minutes{1};
      ASSERT_EQ(format_time(*actual), format_time(TimePoint{m.time_since_epoch()})) << text;
      t = *actual;
    }
  }
}

TEST(CronSchedule, AFixedTimeTheClocksSkipRunsWhenTheyJump) {
  Schedule s = schedule("cron:30 2 * * *", "America/New_York");
  EXPECT_EQ(next(s, "2024-03-08T00:00:00Z", 4),
            (Times{"2024-03-08T07:30:00.000Z", "2024-03-09T07:30:00.000Z",
                   // No 02:30 on 03-10: at 03:00 EDT, when the clocks jump.
                   "2024-03-10T07:00:00.000Z", "2024-03-11T06:30:00.000Z"}));
  Schedule berlin = schedule("cron:15 2 * * *", "Europe/Berlin");
  EXPECT_EQ(
      next(berlin, "2024-03-30T00:00:00Z", 3),
      (Times{"2024-03-30T01:15:00.000Z", "2024-03-31T01:00:00.000Z", "2024-04-01T00:15:00.000Z"}));
}

TEST(CronSchedule, AFixedTimeInARepeatedHourRunsOnce) {
  Schedule s = schedule("cron:30 1 * * *", "America/New_York");
  EXPECT_EQ(
      next(s, "2024-11-02T00:00:00Z", 3),
      (Times{"2024-11-02T05:30:00.000Z", "2024-11-03T05:30:00.000Z", "2024-11-04T06:30:00.000Z"}));
  Schedule berlin = schedule("cron:30 2 * * *", "Europe/Berlin");
  EXPECT_EQ(
      next(berlin, "2024-10-26T00:00:00Z", 3),
      (Times{"2024-10-26T00:30:00.000Z", "2024-10-27T00:30:00.000Z", "2024-10-28T01:30:00.000Z"}));
}

TEST(CronSchedule, WildcardJobsFollowTheNewWallClock) {
  Schedule s = schedule("cron:*/30 * * * *", "America/New_York");
  // Spring forward: 01:30 EST, then 03:00 EDT (02:00 and 02:30 do not exist).
  EXPECT_EQ(
      next(s, "2024-03-10T06:00:00Z", 3),
      (Times{"2024-03-10T06:30:00.000Z", "2024-03-10T07:00:00.000Z", "2024-03-10T07:30:00.000Z"}));
  // Fall back: 01:00 and 01:30 run in both passes, every 30 minutes of real time.
  EXPECT_EQ(
      next(s, "2024-11-03T04:45:00Z", 5),
      (Times{"2024-11-03T05:00:00.000Z", "2024-11-03T05:30:00.000Z", "2024-11-03T06:00:00.000Z",
             "2024-11-03T06:30:00.000Z", "2024-11-03T07:00:00.000Z"}));
}

TEST(CronSchedule, WithoutAZoneItIsUtc) {
  Schedule s = schedule("cron:0 9 * * *");
  EXPECT_EQ(next(s, "2024-03-10T00:00:00Z", 1), (Times{"2024-03-10T09:00:00.000Z"}));
  EXPECT_TRUE(s.zone().is_fixed());
  EXPECT_EQ(s.kind(), Schedule::Kind::cron);
}

}  // namespace
}  // namespace tessera::chronos

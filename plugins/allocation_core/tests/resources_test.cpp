#include <gtest/gtest.h>

#include "allocation_core/resources.h"

namespace tessera::allocation {
namespace {

Resources res(const std::string& text) {
  auto parsed = Resources::parse(text);
  EXPECT_TRUE(parsed.ok()) << (parsed.ok() ? "" : parsed.error().message);
  return parsed.ok() ? *parsed : Resources{};
}

TEST(Ranges, AddCoalescesAdjacentAndOverlapping) {
  Ranges ranges{{10, 20}, {30, 40}};
  ranges.add(Interval{21, 29});
  EXPECT_EQ(ranges, (Ranges{{10, 40}}));
  ranges.add(Interval{5, 12});
  ranges.add(Interval{50, 50});
  EXPECT_EQ(ranges.intervals().size(), 2U);
  EXPECT_EQ(ranges.count(), 37U);
  EXPECT_EQ(ranges.toString(), "[5-40,50-50]");
}

TEST(Ranges, SubtractSplitsIntervals) {
  Ranges ranges{{31000, 32000}};
  ranges.subtract(Ranges{{31010, 31019}, {31500, 31500}, {31990, 32100}});
  EXPECT_EQ(ranges, (Ranges{{31000, 31009}, {31020, 31499}, {31501, 31989}}));
  ranges.subtract(Ranges{{0, 100000}});
  EXPECT_TRUE(ranges.empty());
}

TEST(Ranges, Contains) {
  Ranges ranges{{1, 10}, {20, 30}};
  EXPECT_TRUE(ranges.contains(Ranges{{2, 5}, {20, 30}}));
  EXPECT_FALSE(ranges.contains(Ranges{{9, 21}}));
  EXPECT_FALSE(ranges.contains(Ranges{{31, 31}}));
  EXPECT_TRUE(ranges.contains(Ranges{}));
  Ranges merged = ranges;
  merged.add(ranges);
  EXPECT_EQ(merged, ranges);
}

TEST(Resources, ParseAndPrint) {
  Resources r = res("cpus:1.5;mem:1024;ports:[31000-31009,32000-32000];gpus:0");
  EXPECT_DOUBLE_EQ(r.scalar("cpus"), 1.5);
  EXPECT_DOUBLE_EQ(r.scalar("mem"), 1024);
  EXPECT_DOUBLE_EQ(r.scalar("gpus"), 0);
  ASSERT_NE(r.ranges("ports"), nullptr);
  EXPECT_EQ(r.ranges("ports")->count(), 11U);
  EXPECT_EQ(res(r.toString()), r);
}

TEST(Resources, ParseErrorsQuoteTheItem) {
  auto bad = Resources::parse("cpus:abc");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message, "resource 'cpus': expected a number, got 'abc'");
  EXPECT_FALSE(Resources::parse("cpus").ok());
  EXPECT_FALSE(Resources::parse("ports:[5-1]").ok());
  EXPECT_FALSE(Resources::parse("cpus:-1").ok());
  EXPECT_FALSE(Resources::parse("c pus:1").ok());
}

// Fixed point: adding 0.1 ten times is exactly 1, so offers never drift.
TEST(Resources, ScalarsAreFixedPoint) {
  Resources sum;
  for (int i = 0; i < 10; ++i) sum += res("cpus:0.1");
  EXPECT_EQ(sum, res("cpus:1"));
  Resources r = res("cpus:1");
  for (int i = 0; i < 10; ++i) r -= res("cpus:0.1");
  EXPECT_TRUE(r.empty());
  // An amount that rounds to nothing is not a resource: refused by the parser, and stored as
  // nothing by the arithmetic.
  EXPECT_FALSE(Resources::parse("cpus:0.0004").ok());
  EXPECT_DOUBLE_EQ(Resources().set("cpus", 0.0004).scalar("cpus"), 0.0);
}

TEST(Resources, ArithmeticAndContains) {
  Resources total = res("cpus:24;mem:4096;disk:4096;ports:[31000-32000]");
  Resources used = res("cpus:16;mem:2014;disk:1024;ports:[31000-31015]");
  Resources free = total - used;
  EXPECT_EQ(free, res("cpus:8;mem:2082;disk:3072;ports:[31016-32000]"));
  EXPECT_TRUE(total.contains(used));
  EXPECT_FALSE(used.contains(total));
  EXPECT_EQ(free + used, total);
  EXPECT_TRUE(free.contains(Resources{}));
  EXPECT_FALSE(res("cpus:1").contains(res("cpus:1;custom:0.001")));
  // Subtraction saturates instead of going negative.
  EXPECT_EQ(res("cpus:1") - res("cpus:2;mem:3"), Resources{});
  EXPECT_TRUE(res("ports:[1-2]").empty() == false);
  EXPECT_FALSE(res("ports:[1-2]").hasScalars());
  EXPECT_EQ(total.scalarsOnly(), res("cpus:24;mem:4096;disk:4096"));
}

TEST(ResourceNames, InterningIsStable) {
  ResourceId a = ResourceNames::intern("widgets");
  EXPECT_EQ(ResourceNames::intern("widgets"), a);
  EXPECT_EQ(ResourceNames::name(a), "widgets");
  EXPECT_GT(ResourceNames::count(), a);
}

}  // namespace
}  // namespace tessera::allocation

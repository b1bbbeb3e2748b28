// The checks every amount and duration from the wire passes (tessera/protocol/resources.h and
// duration.h), and the one resource-text parser the agent, the allocators and the CLI share.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "tessera/protocol/duration.h"
#include "tessera/protocol/resources.h"

namespace {

using tessera::protocol::check_resources;
using tessera::protocol::parse_resources;
using tessera::protocol::Range;
using tessera::protocol::Resources;
using tessera::protocol::wire_duration;
namespace limits = tessera::protocol::limits;

std::string problem(const Resources& resources) {
  auto status = check_resources(resources);
  return status ? "" : status.error().message;
}

Resources scalar(const std::string& name, double value) {
  Resources r;
  r.scalars[name] = value;
  return r;
}

std::string parse_error(const std::string& text) {
  auto r = parse_resources(text);
  return r ? "(parsed)" : r.error().message;
}

// ------------------------------------------------------------------------------------------
// check_resources: what a framework, an agent, the TOML or the CLI may give

TEST(ResourceCheck, PlainAmountsPass) {
  Resources r;
  r.scalars = {{"cpus", 0.5}, {"mem", 1024}, {"disk", 0}, {"gpus", 1}, {"licenses", 1e10}};
  r.ranges["ports"] = {{31000, 32000}, {0, 0}, {65535, 65535}};
  EXPECT_EQ(problem(r), "");
  EXPECT_EQ(problem(scalar("cpus", 0.001)), "");
  // Half a unit rounds to one: accounted, so it is not nothing.
  EXPECT_EQ(problem(scalar("cpus", 0.0005)), "");
}

TEST(ResourceCheck, AmountsThatAreNotAmountsAreRefused) {
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_EQ(problem(scalar("cpus", std::nan(""))),
            "resource 'cpus': the amount nan is not a finite number");
  EXPECT_EQ(problem(scalar("cpus", inf)), "resource 'cpus': the amount inf is not a finite number");
  EXPECT_EQ(problem(scalar("cpus", -inf)),
            "resource 'cpus': the amount -inf is not a finite number");
  EXPECT_EQ(problem(scalar("mem", -1)), "resource 'mem': the amount -1 is negative");
  EXPECT_EQ(problem(scalar("cpus", 1e300)),
            "resource 'cpus': the amount 1e+300 is above the maximum 1e+10");
  EXPECT_EQ(problem(scalar("mem", 1e19)),
            "resource 'mem': the amount 1e+19 is above the maximum 1e+10");
  // Just above the maximum: six digits ("%g") showed it as the maximum itself.
  EXPECT_EQ(problem(scalar("mem", 10000000000.5)),
            "resource 'mem': the amount 1.00000000005e+10 is above the maximum 1e+10");
  EXPECT_EQ(problem(scalar("cpus", 0.00049999)),
            "resource 'cpus': the amount 0.00049999 rounds to nothing in the unit 0.001");
  EXPECT_EQ(problem(scalar("cpus", 0.0004)),
            "resource 'cpus': the amount 0.0004 rounds to nothing in the unit 0.001");
  EXPECT_EQ(problem(scalar("cpus", 1e-300)),
            "resource 'cpus': the amount 1e-300 rounds to nothing in the unit 0.001");
}

// 100,000 agents at the maximum still add up without overflowing the fixed-point arithmetic.
TEST(ResourceCheck, TheMaximumLeavesRoomToAddAClusterUp) {
  Resources total;
  Resources agent = scalar("mem", limits::kMaxScalar);
  for (int i = 0; i < 100000; ++i) total += agent;
  EXPECT_GT(Resources::fixed(total.scalar("mem")), 0);
  EXPECT_TRUE(total.contains(agent));
}

TEST(ResourceCheck, NamesRangesAndKindsAreChecked) {
  EXPECT_EQ(problem(scalar("", 1)),
            "resource name '' is not valid (letters, digits, '_', '-' and '.' only)");
  EXPECT_EQ(problem(scalar("cpus(web)", 1)),
            "resource name 'cpus(web)' is not valid (letters, digits, '_', '-' and '.' only)");
  EXPECT_EQ(problem(scalar(std::string(200, 'x'), 1)), "a resource name is longer than 128 bytes");
  EXPECT_EQ(problem(scalar("ports", 5)), "resource 'ports' must be a range set, not a number");
  Resources r;
  r.ranges["mem"] = {{1, 2}};
  EXPECT_EQ(problem(r), "resource 'mem' must be a number, not a range set");
  r = {};
  r.ranges["ports"] = {{10, 2}};
  EXPECT_EQ(problem(r), "resource 'ports': range '10-2' ends before it begins");
  r.ranges["ports"] = {{70000, 80000}};
  EXPECT_EQ(problem(r), "resource 'ports': range '70000-80000' goes past the largest port 65535");
  r = {};
  r.ranges["ephemeral"] = {{1, (uint64_t{1} << 53) + 1}};
  EXPECT_EQ(problem(r),
            "resource 'ephemeral': range '1-9007199254740993' goes past the largest value "
            "9007199254740992");
  r = {};
  r.scalars["gpus"] = 1;
  r.ranges["gpus"] = {{1, 2}};
  EXPECT_EQ(problem(r), "resource 'gpus' is both a number and a range set");
  r = {};
  r.ranges["ports"].resize(limits::kMaxRanges + 1, Range{1, 1});
  EXPECT_EQ(problem(r), "resource 'ports' has more than 4096 ranges");
  r = {};
  for (size_t i = 0; i <= limits::kMaxNames; ++i) r.scalars["r" + std::to_string(i)] = 1;
  EXPECT_EQ(problem(r), "more than 128 resource names");
}

// ------------------------------------------------------------------------------------------
// parse_resources: one text form for the agent's TOML, the allocators' quotas and the CLI

TEST(ResourceText, ParsesTheMesosForm) {
  auto r = parse_resources("cpus:4;mem:4096;disk:10000;ports:[31000-32000]");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_DOUBLE_EQ(r->scalar("cpus"), 4);
  EXPECT_DOUBLE_EQ(r->scalar("mem"), 4096);
  EXPECT_DOUBLE_EQ(r->scalar("disk"), 10000);
  EXPECT_EQ(r->ranges.at("ports"), (std::vector<Range>{{31000, 32000}}));
  EXPECT_EQ(r->to_string(), "cpus:4;disk:10000;mem:4096;ports:[31000-32000]");
}

TEST(ResourceText, CustomScalarsFractionsBlanksAndEmptyItems) {
  auto r = parse_resources(" cpus : 0.5 ; gpus:1;licenses:3; ");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_DOUBLE_EQ(r->scalar("cpus"), 0.5);
  EXPECT_DOUBLE_EQ(r->scalar("gpus"), 1);
  EXPECT_DOUBLE_EQ(r->scalar("licenses"), 3);
  // Blank items are skipped, as Mesos's tokenizer does.
  EXPECT_TRUE(parse_resources("cpus:1;;mem:2").ok());
  EXPECT_TRUE(parse_resources("")->empty());
  EXPECT_TRUE(parse_resources(" ; ")->empty());
}

// The forms the CLI, the agent and the allocator used to disagree on.
TEST(ResourceText, PortRangesAndSinglePortsAreSortedAndMerged) {
  auto r = parse_resources("ports:[32000-32010, 31000-31005,31006-31009, 8080];ephemeral:[1-2]");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->ranges.at("ports"),
            (std::vector<Range>{{8080, 8080}, {31000, 31009}, {32000, 32010}}));
  EXPECT_EQ(r->ranges.at("ephemeral"), (std::vector<Range>{{1, 2}}));
  EXPECT_TRUE(parse_resources("ports:[]")->ranges.at("ports").empty());
  EXPECT_TRUE(parse_resources("ports:[ , ]")->ranges.at("ports").empty());
}

TEST(ResourceText, ErrorsSayWhatIsWrong) {
  EXPECT_EQ(parse_error("cpus:x"), "resource 'cpus': expected a number, got 'x'");
  EXPECT_EQ(parse_error("cpus:1x"), "resource 'cpus': expected a number, got '1x'");
  EXPECT_EQ(parse_error("cpus:"), "resource 'cpus': expected a number, got ''");
  EXPECT_EQ(parse_error("cpus:0x10"), "resource 'cpus': expected a number, got '0x10'");
  EXPECT_EQ(parse_error("cpus:-1"), "resource 'cpus': the amount -1 is negative");
  EXPECT_EQ(parse_error("cpus:nan"), "resource 'cpus': the amount nan is not a finite number");
  EXPECT_EQ(parse_error("cpus:inf"), "resource 'cpus': the amount inf is not a finite number");
  EXPECT_EQ(parse_error("cpus:1e400"), "resource 'cpus': expected a number, got '1e400'");
  EXPECT_EQ(parse_error("mem:1e19"), "resource 'mem': the amount 1e+19 is above the maximum 1e+10");
  EXPECT_EQ(parse_error("cpus:0.0004"),
            "resource 'cpus': the amount 0.0004 rounds to nothing in the unit 0.001");
  EXPECT_EQ(parse_error("cpus"),
            "resource 'cpus': expected NAME:VALUE (e.g. cpus:4 or ports:[31000-32000])");
  EXPECT_EQ(parse_error("cpus:1;cpus:2"), "resource 'cpus' is given twice");
  EXPECT_EQ(parse_error("ports:[32000-31000]"),
            "resource 'ports': range '32000-31000' ends before it begins");
  EXPECT_EQ(parse_error("ports:[1-5,3-9]"), "resource 'ports': range '3-9' overlaps 1-5");
  EXPECT_EQ(parse_error("ports:[1-5,5]"), "resource 'ports': range '5' overlaps 1-5");
  EXPECT_EQ(parse_error("ports:[a-9]"),
            "resource 'ports': expected BEGIN-END or a single number in a range list, got 'a-9'");
  EXPECT_EQ(parse_error("ports:[-9]"),
            "resource 'ports': expected BEGIN-END or a single number in a range list, got '-9'");
  EXPECT_EQ(parse_error("ports:[99999999999999999999]"),
            "resource 'ports': expected BEGIN-END or a single number in a range list, got "
            "'99999999999999999999'");
  EXPECT_EQ(parse_error("ports:[70000-80000]"),
            "resource 'ports': range '70000-80000' goes past the largest port 65535");
  EXPECT_EQ(parse_error("ports:[1-2"),
            "resource 'ports': a range list must look like [31000-32000], got '[1-2'");
  EXPECT_EQ(parse_error("ports:5"),
            "resource 'ports': expected a range list such as [31000-32000], got '5'");
  EXPECT_EQ(parse_error("mem:[1-2]"), "resource 'mem': expected a number, got '[1-2]'");
  EXPECT_EQ(parse_error("cpus(web):2"),
            "resource 'cpus(web)': roles and reservations in resource names are not supported");
  EXPECT_EQ(parse_error("c pus:2"),
            "resource name 'c pus' is not valid (letters, digits, '_', '-' and '.' only)");
  EXPECT_EQ(parse_error("hosts:{a,b}"), "resource 'hosts': set values ({a,b}) are not supported");
}

TEST(ResourceText, WhatItPrintsItReadsBack) {
  auto r = parse_resources("cpus:1.5;gpus:1;mem:128;ports:[31000-31009,32000-32000]");
  ASSERT_TRUE(r.ok()) << r.error().message;
  auto again = parse_resources(r->to_string());
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(again->scalars, r->scalars);
  EXPECT_EQ(again->ranges, r->ranges);
}

// ------------------------------------------------------------------------------------------
// wire_duration: every duration from the wire

TEST(WireDuration, PlainDurationsPassAsTheyAre) {
  auto d = wire_duration("refuse_seconds", 5, limits::kMaxRefuseSeconds);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->seconds, 5);
  EXPECT_FALSE(d->clamped);
  EXPECT_EQ(d->as<std::chrono::milliseconds>(), std::chrono::milliseconds(5000));
  EXPECT_EQ(wire_duration("refuse_seconds", 0, 10)->seconds, 0);
  EXPECT_EQ(wire_duration("x", 0.25, 10)->as<std::chrono::microseconds>().count(), 250000);
}

// The values that overflowed a failover timeout into the past.
TEST(WireDuration, HugeDurationsAreCappedAndConvertWithoutOverflow) {
  for (double seconds : {1e10, 1e19, 1e300, std::numeric_limits<double>::max()}) {
    auto d = wire_duration("failover_timeout_seconds", seconds, limits::kMaxFailoverTimeoutSeconds);
    ASSERT_TRUE(d.ok()) << seconds;
    EXPECT_TRUE(d->clamped);
    EXPECT_EQ(d->seconds, 365 * 86400.0);
    auto ns = d->as<std::chrono::steady_clock::duration>();
    EXPECT_EQ(ns, std::chrono::hours(24 * 365));
    // Added to now it is still in the future.
    EXPECT_GT(std::chrono::steady_clock::now() + ns, std::chrono::steady_clock::now());
  }
  EXPECT_EQ(wire_duration("kill_grace_seconds", 1e6, limits::kMaxKillGraceSeconds)->seconds, 3600);
}

TEST(WireDuration, WhatIsNotADurationIsAnErrorNamingTheField) {
  auto error = [](double seconds) {
    auto d = wire_duration("failover_timeout_seconds", seconds, 100);
    return d ? std::string("(accepted)") : d.error().message;
  };
  EXPECT_EQ(error(std::nan("")),
            "failover_timeout_seconds must be a finite, non-negative number of seconds, not nan");
  EXPECT_EQ(error(std::numeric_limits<double>::infinity()),
            "failover_timeout_seconds must be a finite, non-negative number of seconds, not inf");
  EXPECT_EQ(error(-1),
            "failover_timeout_seconds must be a finite, non-negative number of seconds, not -1");
}

}  // namespace

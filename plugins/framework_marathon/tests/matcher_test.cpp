// The offer matcher: resources and ports, roles, Docker, and every constraint operator on the
// hostname and on attributes.
#include <gtest/gtest.h>

#include <chrono>

#include "matcher.h"

namespace tessera::marathon {
namespace {

App app_with(std::vector<Constraint> constraints = {}) {
  App app;
  app.id = "/a";
  app.cmd = "x";
  app.cpus = 1;
  app.mem = 100;
  app.constraints = std::move(constraints);
  return app;
}

OfferView view(const std::string& host, const std::string& resources,
               std::map<std::string, std::string> attributes = {}) {
  OfferView out;
  out.placement = {"agent-" + host, host, std::move(attributes)};
  out.available = protocol::parse_resources(resources).value();
  return out;
}

Placement at(const std::string& host, std::map<std::string, std::string> attributes = {}) {
  return {"agent-" + host, host, std::move(attributes)};
}

TEST(Matcher, TakesResourcesAndTheLowestFreePorts) {
  App app = app_with();
  app.port_definitions = {PortDefinition{}, PortDefinition{}};
  auto result = match_offer(app, view("h1", "cpus:2;mem:512;ports:[31000-31000,31005-31010]"), {});
  ASSERT_TRUE(result.match);
  EXPECT_EQ(result.match->host_ports, (std::vector<uint64_t>{31000, 31005}));
  EXPECT_EQ(result.match->resources.scalar("cpus"), 1.0);
  EXPECT_EQ(result.match->resources.scalar("mem"), 100.0);
}

TEST(Matcher, NamesEveryShortResource) {
  App app = app_with();
  app.disk = 50;
  auto result = match_offer(app, view("h1", "cpus:0.5;mem:50;disk:10"), {});
  EXPECT_FALSE(result.match);
  EXPECT_EQ(result.reasons,
            (std::vector<RejectReason>{
                RejectReason::insufficient_cpus, RejectReason::insufficient_memory,
                RejectReason::insufficient_disk, RejectReason::insufficient_ports}));
  EXPECT_EQ(reason_name(RejectReason::insufficient_memory), "InsufficientMemory");
}

TEST(Matcher, RequirePortsWantsThoseExactPorts) {
  App app = app_with();
  app.require_ports = true;
  app.port_definitions = {PortDefinition{31050, "tcp", std::nullopt, {}}};
  EXPECT_FALSE(match_offer(app, view("h1", "cpus:2;mem:512;ports:[31000-31010]"), {}).match);
  auto result = match_offer(app, view("h1", "cpus:2;mem:512;ports:[31000-31100]"), {});
  ASSERT_TRUE(result.match);
  EXPECT_EQ(result.match->host_ports, (std::vector<uint64_t>{31050}));
}

TEST(Matcher, NoPortsNeededWhenThereAreNoPortDefinitions) {
  App app = app_with();
  app.port_definitions.clear();
  EXPECT_TRUE(match_offer(app, view("h1", "cpus:2;mem:512"), {}).match);
}

TEST(Matcher, DockerAppsNeedTheDockerRuntime) {
  App app = app_with();
  app.docker_image = "busybox";
  auto refused = match_offer(app, view("h1", "cpus:2;mem:512;ports:[1-10]"), {});
  EXPECT_EQ(refused.reasons, std::vector<RejectReason>{RejectReason::no_docker_runtime});
  EXPECT_TRUE(
      match_offer(app, view("h1", "cpus:2;mem:512;ports:[1-10]", {{"runtimes", "posix, docker"}}),
                  {})
          .match);
}

TEST(Matcher, AcceptedRolesRefuseOtherRoles) {
  App app = app_with();
  app.accepted_resource_roles = std::vector<std::string>{"prod"};
  auto result = match_offer(app, view("h1", "cpus:2;mem:512;ports:[1-10]"), {});
  EXPECT_EQ(result.reasons, std::vector<RejectReason>{RejectReason::unfulfilled_role});
}

TEST(Constraints, UniqueOnHostnameAndAttribute) {
  Constraint unique{"hostname", "UNIQUE", std::nullopt};
  EXPECT_TRUE(constraint_allows(unique, at("h1"), {at("h2")}));
  EXPECT_FALSE(constraint_allows(unique, at("h1"), {at("h1")}));
  Constraint rack{"rack", "UNIQUE", std::nullopt};
  EXPECT_FALSE(constraint_allows(rack, at("h2", {{"rack", "r1"}}), {at("h1", {{"rack", "r1"}})}));
  EXPECT_FALSE(constraint_allows(rack, at("h2"), {}));  // no such attribute
}

TEST(Constraints, ClusterWithAndWithoutValue) {
  EXPECT_TRUE(constraint_allows({"rack", "CLUSTER", "r1"}, at("h", {{"rack", "r1"}}), {}));
  EXPECT_FALSE(constraint_allows({"rack", "CLUSTER", "r1"}, at("h", {{"rack", "r2"}}), {}));
  Constraint follow{"hostname", "CLUSTER", std::nullopt};
  EXPECT_TRUE(constraint_allows(follow, at("h2"), {}));
  EXPECT_TRUE(constraint_allows(follow, at("h2"), {at("h2")}));
  EXPECT_FALSE(constraint_allows(follow, at("h3"), {at("h2")}));
}

TEST(Constraints, GroupBySpreadsEvenly) {
  Constraint group{"rack", "GROUP_BY", std::nullopt};
  auto r = [](const std::string& rack) { return at("h-" + rack, {{"rack", rack}}); };
  EXPECT_TRUE(constraint_allows(group, r("a"), {}));
  EXPECT_TRUE(constraint_allows(group, r("b"), {r("a")}));
  EXPECT_FALSE(constraint_allows(group, r("a"), {r("a"), r("b"), r("a")}));
  EXPECT_TRUE(constraint_allows(group, r("b"), {r("a"), r("b"), r("a")}));
  // With a count, a second instance waits for the other groups to be seen.
  Constraint three{"rack", "GROUP_BY", "3"};
  EXPECT_FALSE(constraint_allows(three, r("a"), {r("a"), r("b")}));
  EXPECT_TRUE(constraint_allows(three, r("c"), {r("a"), r("b")}));
}

TEST(Constraints, LikeUnlikeIsAndMaxPer) {
  EXPECT_TRUE(constraint_allows({"hostname", "LIKE", "web-[0-9]+"}, at("web-12"), {}));
  EXPECT_FALSE(constraint_allows({"hostname", "LIKE", "web-[0-9]+"}, at("web-12x"), {}));
  EXPECT_FALSE(constraint_allows({"hostname", "UNLIKE", "web-.*"}, at("web-1"), {}));
  EXPECT_TRUE(constraint_allows({"zone", "UNLIKE", "eu"}, at("h"), {}));
  EXPECT_TRUE(constraint_allows({"zone", "IS", "eu"}, at("h", {{"zone", "eu"}}), {}));
  EXPECT_FALSE(constraint_allows({"zone", "IS", "eu"}, at("h", {{"zone", "us"}}), {}));
  EXPECT_FALSE(constraint_allows({"zone", "LIKE", "eu"}, at("h"), {}));
  Constraint two{"hostname", "MAX_PER", "2"};
  EXPECT_TRUE(constraint_allows(two, at("h"), {at("h")}));
  EXPECT_FALSE(constraint_allows(two, at("h"), {at("h"), at("h")}));
}

// A pattern with nested quantifiers made libstdc++'s backtracking matcher take exponential time
// in the field's length (this one: 4 s for an 11-character hostname, 4 times longer for each
// further character) on every offer, holding the plugin's loop: one POST of such an app stopped
// the whole API, and again after every restart. Boost's matcher finds a match at once, and gives
// up at once on a field that does not match (undecided: neither LIKE nor UNLIKE holds).
TEST(Constraints, ARegexWithNestedQuantifiersIsDecidedOrGivenUpQuickly) {
  std::string pattern = "(.*)*(.*)*(.*)*x";
  EXPECT_TRUE(valid_constraint_regex(pattern));
  auto started = std::chrono::steady_clock::now();
  EXPECT_TRUE(constraint_allows({"hostname", "LIKE", pattern}, at("host-012345x"), {}));
  EXPECT_FALSE(constraint_allows({"hostname", "UNLIKE", pattern}, at("host-012345x"), {}));
  EXPECT_FALSE(constraint_allows({"hostname", "LIKE", pattern}, at("host-012345"), {}));
  EXPECT_FALSE(constraint_allows({"hostname", "UNLIKE", pattern}, at("host-012345"), {}));
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(1));
}

// std::regex backtracks without bound (and libstdc++'s polynomial-time mode took 80 ms per match
// for a crafted pattern of 1,000 characters against a 253-character field, half a second against
// 5,000), on every offer for every waiting app. Boost's matcher gives up past a bound on its work:
// the match is undecided, and the offer meets neither LIKE nor UNLIKE (an UNLIKE must not place an
// instance on an agent it may exclude).
TEST(Constraints, APatternTooCostlyToMatchMeetsNeitherLikeNorUnlike) {
  const std::string host(5000, 'a');
  for (const std::string pattern : {"(a|aa)*b", "(a*)*b"}) {
    SCOPED_TRACE(pattern);
    ASSERT_TRUE(valid_constraint_regex(pattern));
    Constraint like{"hostname", "LIKE", pattern};
    like.pattern = compile_constraint_regex(pattern);
    Constraint unlike{"hostname", "UNLIKE", pattern};
    unlike.pattern = like.pattern;
    EXPECT_EQ(like.match(host), PatternMatch::undecided);
    EXPECT_FALSE(like.matches(host));
    bool undecided = false;
    EXPECT_FALSE(constraint_allows(like, at(host), {}, &undecided));
    EXPECT_TRUE(undecided);
    undecided = false;
    EXPECT_FALSE(constraint_allows(unlike, at(host), {}, &undecided));
    EXPECT_TRUE(undecided);
    // The offer is refused for the constraint, which the result names.
    MatchResult result =
        match_offer(app_with({unlike}), view(host, "cpus:2;mem:512;ports:[1-10]"), {});
    EXPECT_FALSE(result.match);
    EXPECT_EQ(result.reasons, std::vector<RejectReason>{RejectReason::unfulfilled_constraint});
    ASSERT_TRUE(result.undecided);
    EXPECT_EQ(*result.undecided, unlike);
    // Against a short field the same pattern is decided.
    undecided = false;
    EXPECT_FALSE(constraint_allows(like, at("aaaa"), {}, &undecided));
    EXPECT_TRUE(constraint_allows(unlike, at("aaaa"), {}, &undecided));
    EXPECT_TRUE(constraint_allows(like, at("aaaab"), {}, &undecided));
    EXPECT_FALSE(undecided);
    result = match_offer(app_with({unlike}), view("aaaa", "cpus:2;mem:512;ports:[1-10]"), {});
    EXPECT_TRUE(result.match);
    EXPECT_FALSE(result.undecided);
  }
  // A pattern of 1,000 characters, against which Boost's own bound (which grows with the square
  // of the pattern's length) lets a match run for a second against a 60-character hostname.
  std::string pattern;
  while (pattern.size() + 7 < kMaxConstraintRegexBytes) pattern += "(a|aa)*";
  pattern += "b";
  Constraint costly{"hostname", "UNLIKE", pattern};
  costly.pattern = compile_constraint_regex(pattern);
  ASSERT_NE(costly.pattern, nullptr);
  EXPECT_EQ(costly.match(std::string(60, 'a')), PatternMatch::undecided);
  EXPECT_FALSE(constraint_allows(costly, at(std::string(60, 'a')), {}));
  EXPECT_EQ(costly.match(std::string(60, 'a') + "b"), PatternMatch::matches);
}

// Marathon matches with java.util.regex's String.matches: Perl syntax, the whole field, '.' not
// matching a newline.
TEST(Constraints, PatternsAreJavaRegularExpressionsMatchedAgainstTheWholeField) {
  auto match = [](const std::string& pattern, const std::string& text) {
    Constraint like{"hostname", "LIKE", pattern};
    like.pattern = compile_constraint_regex(pattern);
    EXPECT_NE(like.pattern, nullptr) << pattern;
    return like.match(text);
  };
  EXPECT_EQ(match("rack-[0-9]+", "rack-12"), PatternMatch::matches);
  EXPECT_EQ(match("rack-[0-9]+", "rack-12x"), PatternMatch::differs);
  EXPECT_EQ(match("rack-[0-9]+", "xrack-12"), PatternMatch::differs);
  EXPECT_EQ(match("rack-[0-9]+", "rack-1\nrack-2"), PatternMatch::differs);
  EXPECT_EQ(match("web|db", "db"), PatternMatch::matches);
  EXPECT_EQ(match("web|db", "webdb"), PatternMatch::differs);
  EXPECT_EQ(match("a.b", "axb"), PatternMatch::matches);
  EXPECT_EQ(match("a.b", "a\nb"), PatternMatch::differs);
  EXPECT_EQ(match("a.b", "a\rb"), PatternMatch::differs);
  EXPECT_EQ(match("^a.*$", "a\nb"), PatternMatch::differs);
  EXPECT_EQ(match("(?s)a.b", "a\nb"), PatternMatch::matches);
  EXPECT_EQ(match("(?i)web-\\d+", "WEB-7"), PatternMatch::matches);
  EXPECT_EQ(match("(a|b)\\1", "aa"), PatternMatch::matches);
  EXPECT_EQ(match("(a|b)\\1", "ab"), PatternMatch::differs);
  EXPECT_EQ(match("[\\w.-]+", "node-1.eu"), PatternMatch::matches);
  // What Boost cannot compile is refused when the app is defined; matched anyway (a constraint
  // made in code), it is undecided, so that it meets neither LIKE nor UNLIKE.
  for (const char* invalid : {"(a", "[z-a]", "a{2,1}", "*a"}) {
    EXPECT_FALSE(valid_constraint_regex(invalid)) << invalid;
    EXPECT_FALSE(constraint_allows({"hostname", "LIKE", invalid}, at("a"), {})) << invalid;
    EXPECT_FALSE(constraint_allows({"hostname", "UNLIKE", invalid}, at("a"), {})) << invalid;
  }
}

TEST(Constraints, AnUnmetConstraintIsAReason) {
  App app = app_with({{"hostname", "UNIQUE", std::nullopt}});
  auto result = match_offer(app, view("h1", "cpus:2;mem:512;ports:[1-10]"), {at("h1")});
  EXPECT_EQ(result.reasons, std::vector<RejectReason>{RejectReason::unfulfilled_constraint});
}

}  // namespace
}  // namespace tessera::marathon

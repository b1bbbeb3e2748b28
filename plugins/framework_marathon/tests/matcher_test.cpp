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
// the whole API, and again after every restart. Matching now takes polynomial time.
TEST(Constraints, ARegexWithNestedQuantifiersMatchesInPolynomialTime) {
  std::string pattern = "(.*)*(.*)*(.*)*x";
  EXPECT_TRUE(valid_constraint_regex(pattern));
  auto started = std::chrono::steady_clock::now();
  EXPECT_FALSE(constraint_allows({"hostname", "LIKE", pattern}, at("host-012345"), {}));
  EXPECT_TRUE(constraint_allows({"hostname", "UNLIKE", pattern}, at("host-012345"), {}));
  EXPECT_TRUE(constraint_allows({"hostname", "LIKE", pattern}, at("host-012345x"), {}));
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(1));
  // What cannot be matched so is refused when the app is defined, and never matches.
  EXPECT_FALSE(valid_constraint_regex("(a)\\1"));
  EXPECT_FALSE(constraint_allows({"hostname", "LIKE", "(a)\\1"}, at("aa"), {}));
}

TEST(Constraints, AnUnmetConstraintIsAReason) {
  App app = app_with({{"hostname", "UNIQUE", std::nullopt}});
  auto result = match_offer(app, view("h1", "cpus:2;mem:512;ports:[1-10]"), {at("h1")});
  EXPECT_EQ(result.reasons, std::vector<RejectReason>{RejectReason::unfulfilled_constraint});
}

}  // namespace
}  // namespace tessera::marathon

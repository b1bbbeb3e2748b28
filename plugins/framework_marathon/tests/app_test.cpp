// The app model: Marathon's defaults, JSON round trips, ids as paths, and the 422 details that
// name each bad field.
#include <gtest/gtest.h>

#include <cmath>

#include "app.h"

namespace tessera::marathon {
namespace {

namespace json = boost::json;

App parse(const std::string& text, std::vector<Violation>& violations) {
  return parse_app(json::parse(text), violations);
}

std::vector<std::string> paths(const std::vector<Violation>& violations) {
  std::vector<std::string> out;
  for (const auto& v : violations) out.push_back(v.path);
  return out;
}

TEST(App, MissingFieldsTakeMarathonsDefaults) {
  std::vector<Violation> violations;
  App app = parse(R"({"id": "web", "cmd": "sleep 100"})", violations);
  ASSERT_TRUE(violations.empty());
  EXPECT_EQ(app.id, "/web");
  EXPECT_EQ(app.cpus, 1.0);
  EXPECT_EQ(app.mem, 128.0);
  EXPECT_EQ(app.disk, 0.0);
  EXPECT_EQ(app.instances, 1);
  EXPECT_EQ(app.backoff_seconds, 1.0);
  EXPECT_EQ(app.backoff_factor, 1.15);
  EXPECT_EQ(app.max_launch_delay_seconds, 3600.0);
  EXPECT_EQ(app.upgrade_strategy.minimum_health_capacity, 1.0);
  EXPECT_EQ(app.upgrade_strategy.maximum_over_capacity, 1.0);
  EXPECT_EQ(app.kill_selection, KillSelection::youngest_first);
  ASSERT_EQ(app.port_definitions.size(), 1u);
  EXPECT_EQ(app.port_definitions[0].port, 0);
  EXPECT_EQ(app.unreachable_strategy.inactive_after_seconds, 300);
  EXPECT_EQ(app.unreachable_strategy.expunge_after_seconds, 600);
}

TEST(App, EveryFieldSurvivesARoundTrip) {
  std::vector<Violation> violations;
  App app = parse(R"({
    "id": "/prod/web", "args": ["/bin/sleep", "100"], "user": "nobody", "cpus": 0.25,
    "mem": 64.5, "disk": 10, "instances": 3, "env": {"A": "1"}, "labels": {"tier": "front"},
    "portDefinitions": [{"port": 0, "name": "http"}, {"port": 10500, "protocol": "udp"}],
    "requirePorts": false, "constraints": [["hostname", "UNIQUE"], ["rack", "GROUP_BY", "2"]],
    "healthChecks": [{"protocol": "TCP", "portIndex": 1, "gracePeriodSeconds": 5,
                      "intervalSeconds": 2, "timeoutSeconds": 1, "maxConsecutiveFailures": 2}],
    "upgradeStrategy": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.2},
    "backoffSeconds": 2, "backoffFactor": 2, "maxLaunchDelaySeconds": 30,
    "killSelection": "OLDEST_FIRST", "unreachableStrategy": {"inactiveAfterSeconds": 1,
    "expungeAfterSeconds": 2}, "taskKillGracePeriodSeconds": 4,
    "uris": ["http://x/y.tgz"], "acceptedResourceRoles": ["*"]})",
                  violations);
  ASSERT_TRUE(violations.empty()) << to_text(invalid_body(violations));
  std::vector<Violation> again;
  App round = parse_app(json::parse(to_text(to_json(app))), again);
  ASSERT_TRUE(again.empty()) << to_text(invalid_body(again));
  EXPECT_EQ(round, app);
  EXPECT_EQ(round.kill_selection, KillSelection::oldest_first);
  EXPECT_EQ(round.constraints[1].value, "2");
  EXPECT_EQ(round.port_definitions[1].protocol, "udp");
}

TEST(App, FractionsAreWrittenAsPeopleWriteThem) {
  App app;
  app.id = "/a";
  app.cmd = "x";
  app.cpus = 0.1;
  std::string text = to_text(to_json(app));
  EXPECT_NE(text.find("\"cpus\":0.1"), std::string::npos) << text;
  EXPECT_NE(text.find("\"mem\":128.0"), std::string::npos) << text;
  EXPECT_EQ(scala_double(-1), "-1.0");
}

// Marathon reads numbers as BigDecimal, which has no negative zero: -0.0 is taken as 0.0.
TEST(App, NegativeZeroIsReadAsZero) {
  std::vector<Violation> violations;
  App app = parse(R"({"id": "z", "cmd": "x", "cpus": -0.0, "mem": -0.0, "disk": -0.0,
                     "backoffSeconds": -0.0})",
                  violations);
  ASSERT_TRUE(violations.empty()) << to_text(invalid_body(violations));
  for (double value : {app.cpus, app.mem, app.disk, app.backoff_seconds}) {
    EXPECT_EQ(value, 0.0);
    EXPECT_FALSE(std::signbit(value));
  }
  std::string text = to_text(to_json(app));
  EXPECT_NE(text.find("\"cpus\":0.0"), std::string::npos) << text;
  EXPECT_EQ(text.find(":-0"), std::string::npos) << text;
}

TEST(App, BadFieldsAreEachNamedWithMarathonsMessages) {
  std::vector<Violation> violations;
  parse(R"({"id": "/Bad_Id", "cmd": "x", "cpus": -1, "mem": "lots", "instances": -2,
            "backoffFactor": 0.5, "killSelection": "RANDOM",
            "upgradeStrategy": {"minimumHealthCapacity": 1.5},
            "constraints": [["hostname", "SOMETIMES"], "hostname"]})",
        violations);
  auto found = paths(violations);
  for (const char* path :
       {"/id", "/cpus", "/mem", "/instances", "/backoffFactor", "/killSelection",
        "/upgradeStrategy/minimumHealthCapacity", "/constraints(0)", "/constraints(1)"}) {
    EXPECT_NE(std::find(found.begin(), found.end(), path), found.end()) << path;
  }
  json::object body = invalid_body(violations);
  EXPECT_EQ(body["message"], "Object is not valid");
  bool cpus_message = false;
  for (const auto& detail : body["details"].as_array()) {
    if (detail.at("path") == "/cpus") {
      cpus_message = detail.at("errors").as_array()[0] == "got -1.0, expected 0.0 or more";
    }
  }
  EXPECT_TRUE(cpus_message) << to_text(body);
}

TEST(App, NeedsACommandArgsOrAContainer) {
  std::vector<Violation> violations;
  parse(R"({"id": "/a"})", violations);
  ASSERT_EQ(violations.size(), 1u);
  EXPECT_EQ(violations[0].path, "/");
  violations.clear();
  parse(R"({"id": "/a", "cmd": "x", "args": ["y"]})", violations);
  EXPECT_EQ(violations.size(), 1u);
  violations.clear();
  App docker = parse(R"({"id": "/a", "container": {"type": "DOCKER",
                                                   "docker": {"image": "busybox"}}})",
                     violations);
  EXPECT_TRUE(violations.empty());
  EXPECT_EQ(docker.docker_image, "busybox");
}

TEST(App, CommandChecksOfDockerContainersAreRefused) {
  std::vector<Violation> violations;
  parse_app(boost::json::parse(R"({"id": "/d", "container": {"docker": {"image": "busybox"}},
      "healthChecks": [{"protocol": "COMMAND", "command": {"value": "true"}}]})"),
            violations);
  ASSERT_EQ(violations.size(), 1u);
  EXPECT_EQ(violations[0].path, "/healthChecks(0)");
  EXPECT_EQ(violations[0].error, "COMMAND health checks of Docker containers are not supported");
}

TEST(App, MissingIdIsReportedAsMissing) {
  std::vector<Violation> violations;
  parse(R"({"cmd": "x"})", violations);
  ASSERT_EQ(violations.size(), 1u);
  EXPECT_EQ(violations[0], (Violation{"/id", "error.path.missing"}));
}

TEST(App, HealthCheckPortIndexMustAddressAPort) {
  std::vector<Violation> violations;
  parse(R"({"id": "/a", "cmd": "x", "healthChecks": [{"protocol": "HTTP", "portIndex": 3}]})",
        violations);
  ASSERT_EQ(violations.size(), 1u);
  EXPECT_EQ(violations[0].path, "/healthChecks(0)");
}

TEST(App, ScalingIsNotAConfigChange) {
  App a;
  a.id = "/a";
  a.cmd = "x";
  App b = a;
  b.instances = 7;
  b.version = "2025";
  EXPECT_FALSE(a.config_differs(b));
  b.cmd = "y";
  EXPECT_TRUE(a.config_differs(b));
}

TEST(PathIdTest, CanonicalParentSafeAndWithin) {
  EXPECT_EQ(PathId::canonical("prod/web"), "/prod/web");
  EXPECT_EQ(PathId::canonical("/prod/./x/../web/"), "/prod/web");
  EXPECT_EQ(PathId::canonical("/a.b-c"), "/a.b-c");
  EXPECT_FALSE(PathId::canonical("/Web"));
  EXPECT_FALSE(PathId::canonical("/-web"));
  EXPECT_EQ(PathId::canonical("/.."), "/") << "the root's parent is the root";
  EXPECT_EQ(PathId::parent("/prod/web"), "/prod");
  EXPECT_EQ(PathId::parent("/web"), "/");
  EXPECT_EQ(PathId::safe("/prod/web"), "prod_web");
  EXPECT_TRUE(PathId::within("/prod/web", "/prod"));
  EXPECT_FALSE(PathId::within("/production", "/prod"));
  EXPECT_TRUE(PathId::within("/x", "/"));
}

// An id with dot segments was refused with 422 when ".." went above the root ("/../x"). As
// Marathon's PathId.canonicalPath: "." goes, ".." takes the segment before it off and stays at
// the root when there is none, so no id ever resolves above the root; one that resolves to the
// root itself is no app's id.
TEST(PathIdTest, DotSegmentsResolveAsMarathonsCanonicalPathAndNeverAboveTheRoot) {
  EXPECT_EQ(PathId::canonical("/../x"), "/x");
  EXPECT_EQ(PathId::canonical("/a/./b"), "/a/b");
  EXPECT_EQ(PathId::canonical("../../a/../../b/./c/.."), "/b");
  EXPECT_EQ(PathId::canonical("//a//b/"), "/a/b");
  EXPECT_EQ(PathId::canonical("/a/.."), "/");
  EXPECT_EQ(PathId::canonical("/../../.."), "/");
  EXPECT_FALSE(PathId::canonical("/a/.../b")) << "only '.' and '..' are dot segments";
  EXPECT_FALSE(PathId::canonical("/a/../B"));
  EXPECT_FALSE(PathId::canonical(std::string(600, '/') + "x")) << "bounded";
  // Long chains of ".." are cheap and end at the root.
  std::string climb;
  for (int i = 0; i < 100; ++i) climb += "/..";
  EXPECT_EQ(PathId::canonical(climb + "/x"), "/x");

  std::vector<Violation> violations;
  App app = parse(R"({"id": "/../prod/./web", "cmd": "x"})", violations);
  EXPECT_TRUE(violations.empty());
  EXPECT_EQ(app.id, "/prod/web");
  for (const char* id : {"/a/..", "/..", "", "/", "./"}) {
    violations.clear();
    parse(std::string(R"({"cmd": "x", "id": ")") + id + R"("})", violations);
    ASSERT_EQ(violations.size(), 1u) << id;
    EXPECT_EQ(violations[0], (Violation{"/id", "Path must contain at least one path element"}))
        << id;
  }
  violations.clear();
  app = parse(R"({"id": "/a/b", "cmd": "x", "dependencies": ["../../../c", "./d"]})", violations);
  EXPECT_TRUE(violations.empty());
  EXPECT_EQ(app.dependencies, (std::vector<std::string>{"/c", "/a/d"}));
}

// A LIKE or UNLIKE constraint's pattern was compiled again at every match: for every offer, for
// every waiting instance. It is compiled once, when the app is read, and its copies share it.
TEST(Constraints, ALikePatternIsCompiledOnceWhenTheAppIsRead) {
  std::vector<Violation> violations;
  App app =
      parse(R"json({"id": "/web", "cmd": "x", "constraints": [["hostname", "LIKE", "web-[0-9]+"],
                      ["rack", "UNLIKE", "r(1|2)"], ["hostname", "UNIQUE"]]})json",
            violations);
  ASSERT_TRUE(violations.empty());
  ASSERT_NE(app.constraints[0].pattern, nullptr);
  ASSERT_NE(app.constraints[1].pattern, nullptr);
  EXPECT_EQ(app.constraints[2].pattern, nullptr);
  App copy = app;
  EXPECT_EQ(copy.constraints[0].pattern.get(), app.constraints[0].pattern.get());
  EXPECT_TRUE(app.constraints[0].matches("web-12"));
  EXPECT_FALSE(app.constraints[0].matches("web-12x"));
  EXPECT_TRUE(app.constraints[1].matches("r2"));
  // The same definition, whether compiled or not, is the same app.
  Constraint made{"hostname", "LIKE", "web-[0-9]+"};
  EXPECT_EQ(made, app.constraints[0]);
  EXPECT_TRUE(made.matches("web-3")) << "made in code: compiled when matched";
  // An app read back from the store has its pattern compiled too.
  App stored = parse_stored_app(to_text(to_json(app)));
  ASSERT_NE(stored.constraints[0].pattern, nullptr);
  EXPECT_EQ(stored, app);
  // What cannot be compiled is refused and has no pattern.
  violations.clear();
  App bad = parse(R"({"id": "/web", "cmd": "x", "constraints": [["hostname", "LIKE", "(a"]]})",
                  violations);
  ASSERT_EQ(violations.size(), 1u);
  EXPECT_EQ(violations[0],
            (Violation{"/constraints(0)", "'(a' is not a valid regular expression"}));
  EXPECT_EQ(bad.constraints[0].pattern, nullptr);
  EXPECT_FALSE(bad.constraints[0].matches("(a"));
  EXPECT_EQ(bad.constraints[0].match("(a"), PatternMatch::undecided);
  // Java's syntax, back-references included, is valid.
  violations.clear();
  App java = parse(
      R"({"id": "/web", "cmd": "x", "constraints": [["hostname", "LIKE", "(?i)(a|b)\\1-\\d+"]]})",
      violations);
  EXPECT_TRUE(violations.empty());
  ASSERT_NE(java.constraints[0].pattern, nullptr);
  EXPECT_TRUE(java.constraints[0].matches("BB-12"));
}

// The regex compiler recurses once per nested group: a LIKE pattern of 30,000 nested
// parentheses (60 KB, within a field's 64 KiB) overflowed the stack and crashed the host at the
// POST. A pattern is at most 1,000 characters, checked before it is compiled.
TEST(Constraints, APatternTooLongToCompileSafelyIsRefusedUncompiled) {
  std::string deep = std::string(30'000, '(') + "a" + std::string(30'000, ')');
  std::vector<Violation> violations;
  json::object body{{"id", "/web"},
                    {"cmd", "x"},
                    {"constraints", json::array{json::array{"hostname", "LIKE", deep},
                                                json::array{"hostname", "UNLIKE", deep}}}};
  App app = parse_app(body, violations);
  ASSERT_EQ(violations.size(), 2u);
  EXPECT_EQ(
      violations[0],
      (Violation{"/constraints(0)", "A regular expression must be at most 1000 characters long"}));
  EXPECT_EQ(app.constraints[0].pattern, nullptr);
  // Within the bound, Boost's compiler refuses nesting deeper than 400 groups (not valid), and
  // compiles shallower nesting.
  std::string nested = std::string(499, '(') + "a" + std::string(499, ')');
  violations.clear();
  body["constraints"] = json::array{json::array{"hostname", "LIKE", nested}};
  app = parse_app(body, violations);
  ASSERT_EQ(violations.size(), 1u);
  EXPECT_EQ(violations[0].path, "/constraints(0)");
  EXPECT_EQ(app.constraints[0].pattern, nullptr);
  nested = std::string(300, '(') + "a" + std::string(300, ')');
  violations.clear();
  body["constraints"] = json::array{json::array{"hostname", "LIKE", nested}};
  app = parse_app(body, violations);
  EXPECT_TRUE(violations.empty());
  ASSERT_NE(app.constraints[0].pattern, nullptr);
  EXPECT_TRUE(app.constraints[0].matches("a"));
}

}  // namespace
}  // namespace tessera::marathon

// The Marathon app definition: its fields and defaults as Marathon 1.x has them, read from and
// written to Marathon's JSON, and validated with Marathon's 422 answer (one entry per bad field,
// each with the field's JSON path).
//
// Values only: no I/O, no clock (callers pass the version); safe to copy between threads.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tessera::marathon {

// One bad field of a request, as Marathon reports it: {"path": "/cpus", "errors": ["..."]}.
struct Violation {
  std::string path;
  std::string error;
  bool operator==(const Violation&) const = default;
};

// Marathon's 422 body: {"message": "Object is not valid", "details": [...]}, with the errors of
// one path grouped in one entry, in the order the paths were first met.
boost::json::object invalid_body(const std::vector<Violation>& violations);

// App ids are paths: "/prod/web". A relative id is taken from the root ("prod/web" is
// "/prod/web"); "." and ".." segments are resolved as Marathon's PathId.canonicalPath resolves
// them ("/a/./b" is "/a/b"; ".." at the root stays there: "/../x" is "/x"), so a canonical id
// never has them and never lies above the root. Each other segment is lowercase letters,
// digits, hyphens and dots, starting and ending with a letter or digit.
struct PathId {
  // The absolute form of `text`, or nullopt when a segment is not valid. "/" (the root) when
  // nothing is left: callers that need an app's or a group's id refuse it.
  static std::optional<std::string> canonical(std::string_view text);
  // "/prod/web" -> "/prod"; the root's parent is the root.
  static std::string parent(std::string_view id);
  // "/prod/web" -> "prod_web": the prefix of task ids.
  static std::string safe(std::string_view id);
  // Whether `id` is `group` or lies below it ("/" holds every id).
  static bool within(std::string_view id, std::string_view group);
};

struct PortDefinition {
  int64_t port = 0;  // 0: Marathon assigns a service port
  std::string protocol = "tcp";
  std::optional<std::string> name;
  std::map<std::string, std::string> labels;
  bool operator==(const PortDefinition&) const = default;
};

// A LIKE or UNLIKE constraint's regular expression, compiled (app.cpp).
struct ConstraintPattern;

// Whether a LIKE or UNLIKE pattern matches a field. `undecided`: matching it would cost more
// than Boost.Regex's bound on a match's work (or the pattern cannot be compiled), so that neither
// LIKE nor UNLIKE can be said to hold.
enum class PatternMatch { matches, differs, undecided };

// ["hostname", "UNIQUE"], ["rack", "GROUP_BY", "3"], ["zone", "LIKE", "eu-.*"].
struct Constraint {
  std::string field;
  std::string op;
  std::optional<std::string> value;
  // LIKE and UNLIKE: `value` compiled once, when the app is read (parse_app), and shared by the
  // app's copies (never changed); null when the value is not a valid pattern, or for a
  // constraint made in code, which match() then compiles each time.
  std::shared_ptr<const ConstraintPattern> pattern{};

  // Whether the regular expression `value` matches the whole of `text` (LIKE and UNLIKE).
  PatternMatch match(const std::string& text) const;
  // match() said `matches`.
  bool matches(const std::string& text) const { return match(text) == PatternMatch::matches; }
  // The definition: `pattern` is only `value` compiled.
  bool operator==(const Constraint& other) const {
    return field == other.field && op == other.op && value == other.value;
  }
};

// A LIKE or UNLIKE constraint's value is a regular expression that must match the whole field,
// as Java's String.matches in Marathon: Perl syntax with java.util.regex's defaults ('.' does not
// match a newline; '^' and '$' only at the ends), compiled with Boost.Regex (sdk::java_regex)
// rather than std::regex, whose matcher backtracks without bound. A match takes at most a fixed
// budget of steps through the field (sdk::bounded_regex_match), besides Boost's own bounds on the
// matcher's states and memory; past them it is `undecided`, so that a crafted pattern cannot hold
// the plugin's loop at every offer for every waiting app. A pattern Boost cannot compile (a syntax
// error, nesting deeper than 400 groups) is not valid (null), and its match is undecided.
// parse_app refuses a pattern longer than kMaxConstraintRegexBytes before compiling it (the
// compiler recurses once per nested group, and Boost's own bound on the matcher's states grows
// with the square of the pattern's length).
inline constexpr size_t kMaxConstraintRegexBytes = 1000;
std::shared_ptr<const ConstraintPattern> compile_constraint_regex(const std::string& pattern);
bool valid_constraint_regex(const std::string& pattern);

struct HealthCheck {
  std::string protocol = "HTTP";  // HTTP, TCP or COMMAND (MESOS_HTTP and MESOS_TCP read as such)
  std::string path = "/";
  int64_t port_index = 0;
  std::optional<int64_t> port;
  std::string command;  // COMMAND: {"command": {"value": "..."}}
  int64_t grace_period_seconds = 300;
  int64_t interval_seconds = 60;
  int64_t timeout_seconds = 20;
  int64_t max_consecutive_failures = 3;
  bool ignore_http1xx = false;
  bool operator==(const HealthCheck&) const = default;
};

struct UpgradeStrategy {
  double minimum_health_capacity = 1.0;
  double maximum_over_capacity = 1.0;
  bool operator==(const UpgradeStrategy&) const = default;
};

struct UnreachableStrategy {
  bool disabled = false;  // "disabled": never replace a task whose agent is unreachable
  int64_t inactive_after_seconds = 0;
  int64_t expunge_after_seconds = 0;
  bool operator==(const UnreachableStrategy&) const = default;
};

enum class KillSelection { youngest_first, oldest_first };

struct App {
  static constexpr double kDefaultCpus = 1.0;
  static constexpr double kDefaultMem = 128.0;

  std::string id;
  std::optional<std::string> cmd;
  std::optional<std::vector<std::string>> args;
  std::optional<std::string> user;
  double cpus = kDefaultCpus;
  double mem = kDefaultMem;
  double disk = 0;
  double gpus = 0;
  int64_t instances = 1;
  std::map<std::string, std::string> env;
  std::map<std::string, std::string> labels;
  std::vector<PortDefinition> port_definitions{PortDefinition{}};
  bool require_ports = false;
  std::vector<Constraint> constraints;
  std::vector<HealthCheck> health_checks;
  UpgradeStrategy upgrade_strategy;
  double backoff_seconds = 1;
  double backoff_factor = 1.15;
  double max_launch_delay_seconds = 3600;
  KillSelection kill_selection = KillSelection::youngest_first;
  UnreachableStrategy unreachable_strategy{false, 300, 600};
  std::optional<int64_t> task_kill_grace_period_seconds;
  std::optional<std::string> docker_image;  // container.docker.image
  boost::json::value container;             // the container object as given (null: none)
  std::vector<std::string> uris;            // accepted, not fetched (see the README)
  boost::json::value fetch;                 // as given (null: none)
  std::optional<std::vector<std::string>> accepted_resource_roles;
  // The apps (absolute ids) a group deployment brings to their target before this one.
  std::vector<std::string> dependencies;
  // Versions: ISO 8601 instants with milliseconds, as Marathon's.
  std::string version;
  std::string last_scaling_at;
  std::string last_config_change_at;

  bool operator==(const App&) const = default;

  // Whether `other` differs from this in more than instances, dependencies and versions (a
  // config change, which replaces the tasks, rather than a scaling).
  bool config_differs(const App& other) const;
  // The host ports a task of this app needs.
  size_t port_count() const { return port_definitions.size(); }
};

// Reads an app from Marathon's JSON. Missing fields take Marathon's defaults; a field of the
// wrong type, a value out of range or a rule broken adds a Violation. `id_from_path`, when not
// empty, is the id of the URL (PUT /v2/apps/{id}), which wins over the body's.
App parse_app(const boost::json::value& json, std::vector<Violation>& violations,
              std::string_view id_from_path = {});

// Reads an app the scheduler wrote itself (to the store): like parse_app, but it also keeps the
// version and versionInfo it holds, and takes what today's rules would refuse rather than lose
// it.
App parse_stored_app(std::string_view text);

// The rules that involve several fields or the whole app (cmd or args or a container, port
// names unique, health checks' port indexes in range...). parse_app() calls it.
void validate_app(const App& app, std::vector<Violation>& violations);

// The app as Marathon's JSON (the fields of the definition, version and versionInfo).
boost::json::object to_json(const App& app);

// JSON text in which fractions read as people write them ("0.1", "128.0"), not as Boost.JSON
// writes them ("1E-1").
std::string to_text(const boost::json::value& value);

std::string_view to_string(KillSelection selection);

// Marathon's number text in messages: a double always with a fraction ("-1.0"), as Scala does.
std::string scala_double(double value);

}  // namespace tessera::marathon

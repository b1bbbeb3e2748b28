#include "app.h"

#include "command_check.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <exception>
#include <regex>
#include <set>

#include "tessera/sdk/bounded_regex.h"

namespace tessera::marathon {

namespace json = boost::json;

// A pattern as java.util.regex reads it, matched within a bound on its work, the fields it could
// not decide remembered (sdk::BoundedPattern). Copies of an app share one.
struct ConstraintPattern : sdk::BoundedPattern {
  using BoundedPattern::BoundedPattern;
};

namespace {

// Bounds on what one request may hold, so that a hostile body costs little to read.
constexpr size_t kMaxText = size_t{64} * 1024;
constexpr size_t kMaxItems = 1000;
constexpr int64_t kMaxInstances = 100'000;
constexpr double kMaxResource = 1e9;
constexpr int64_t kMaxSeconds = 365LL * 24 * 3600;

// Reads the fields of one JSON object, adding a Violation (with the field's path) for each one
// of the wrong type or out of range; a missing or null field keeps its default.
class Fields {
 public:
  Fields(const json::object& object, std::string path, std::vector<Violation>& violations)
      : object_(object), path_(std::move(path)), violations_(violations) {}

  std::string path(std::string_view key) const { return path_ + "/" + std::string(key); }
  void fail(std::string_view key, std::string error) {
    violations_.push_back({path(key), std::move(error)});
  }
  const json::value* find(std::string_view key) const {
    auto it = object_.find(key);
    if (it == object_.end() || it->value().is_null()) return nullptr;
    return &it->value();
  }

  void text(std::string_view key, std::string& out) {
    if (auto value = optional_text(key)) out = *value;
  }
  std::optional<std::string> optional_text(std::string_view key) {
    const json::value* v = find(key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_string()) {
      fail(key, "error.expected.jsstring");
      return std::nullopt;
    }
    if (v->get_string().size() > kMaxText) {
      fail(key, "longer than " + std::to_string(kMaxText) + " characters");
      return std::nullopt;
    }
    return std::string(v->get_string());
  }
  void boolean(std::string_view key, bool& out) {
    const json::value* v = find(key);
    if (v == nullptr) return;
    if (!v->is_bool()) return fail(key, "error.expected.jsboolean");
    out = v->get_bool();
  }
  // A finite number from `low` to `high`, reported as Marathon does ("got -1.0, expected 0.0 or
  // more").
  void number(std::string_view key, double& out, double low, double high) {
    const json::value* v = find(key);
    if (v == nullptr) return;
    if (!v->is_number()) return fail(key, "error.expected.jsnumber");
    double value = v->to_number<double>();
    if (!std::isfinite(value)) return fail(key, "error.expected.jsnumber");
    if (value < low) {
      return fail(key,
                  "got " + scala_double(value) + ", expected " + scala_double(low) + " or more");
    }
    if (value > high) {
      return fail(key,
                  "got " + scala_double(value) + ", expected " + scala_double(high) + " or less");
    }
    // -0.0 is 0: Marathon reads JSON numbers as BigDecimal, which has no negative zero.
    out = value == 0 ? 0.0 : value;
  }
  void integer(std::string_view key, int64_t& out, int64_t low, int64_t high) {
    const json::value* v = find(key);
    if (v == nullptr) return;
    std::optional<int64_t> value;
    if (v->is_int64()) value = v->get_int64();
    if (v->is_uint64() && v->get_uint64() <= static_cast<uint64_t>(INT64_MAX)) {
      value = static_cast<int64_t>(v->get_uint64());
    }
    if (v->is_double() && std::isfinite(v->get_double()) &&
        v->get_double() == std::trunc(v->get_double()) && std::fabs(v->get_double()) < 9e15) {
      value = static_cast<int64_t>(v->get_double());
    }
    if (!value) return fail(key, v->is_number() ? "error.expected.int" : "error.expected.jsnumber");
    if (*value < low) {
      return fail(
          key, "got " + std::to_string(*value) + ", expected " + std::to_string(low) + " or more");
    }
    if (*value > high) {
      return fail(
          key, "got " + std::to_string(*value) + ", expected " + std::to_string(high) + " or less");
    }
    out = *value;
  }
  void optional_integer(std::string_view key, std::optional<int64_t>& out, int64_t low,
                        int64_t high) {
    if (find(key) == nullptr) return;
    int64_t value = out.value_or(0);
    size_t before = violations_.size();
    integer(key, value, low, high);
    if (violations_.size() == before) out = value;
  }
  const json::array* array(std::string_view key) {
    const json::value* v = find(key);
    if (v == nullptr) return nullptr;
    if (!v->is_array()) {
      fail(key, "error.expected.jsarray");
      return nullptr;
    }
    if (v->get_array().size() > kMaxItems) {
      fail(key, "more than " + std::to_string(kMaxItems) + " elements");
      return nullptr;
    }
    return &v->get_array();
  }
  const json::object* object(std::string_view key) {
    const json::value* v = find(key);
    if (v == nullptr) return nullptr;
    if (!v->is_object()) {
      fail(key, "error.expected.jsobject");
      return nullptr;
    }
    return &v->get_object();
  }
  std::optional<std::vector<std::string>> strings(std::string_view key) {
    const json::array* items = array(key);
    if (items == nullptr) return std::nullopt;
    std::vector<std::string> out;
    for (size_t i = 0; i < items->size(); ++i) {
      const json::value& item = (*items)[i];
      if (!item.is_string() || item.get_string().size() > kMaxText) {
        violations_.push_back(
            {path(key) + "(" + std::to_string(i) + ")", "error.expected.jsstring"});
        return std::nullopt;
      }
      out.emplace_back(item.get_string());
    }
    return out;
  }
  // A map of string to string (env, labels).
  void string_map(std::string_view key, std::map<std::string, std::string>& out) {
    const json::object* items = object(key);
    if (items == nullptr) return;
    if (items->size() > kMaxItems) {
      return fail(key, "more than " + std::to_string(kMaxItems) + " entries");
    }
    std::map<std::string, std::string> read;
    for (const auto& [name, value] : *items) {
      if (!value.is_string() || value.get_string().size() > kMaxText) {
        violations_.push_back({path(key) + "/" + std::string(name), "error.expected.jsstring"});
        return;
      }
      read[std::string(name)] = std::string(value.get_string());
    }
    out = std::move(read);
  }

  std::vector<Violation>& violations() { return violations_; }

 private:
  const json::object& object_;
  std::string path_;
  std::vector<Violation>& violations_;
};

const std::regex& segment_pattern() {
  static const std::regex pattern(
      "^(([a-z0-9]|[a-z0-9][a-z0-9\\-]*[a-z0-9])\\.)*"
      "([a-z0-9]|[a-z0-9][a-z0-9\\-]*[a-z0-9])$");
  return pattern;
}

const std::set<std::string>& constraint_operators() {
  static const std::set<std::string> operators{"UNIQUE", "CLUSTER", "GROUP_BY", "LIKE",
                                               "UNLIKE", "MAX_PER", "IS"};
  return operators;
}

void read_port_definitions(Fields& fields, App& app) {
  const json::array* items = fields.array("portDefinitions");
  if (items == nullptr) return;
  app.port_definitions.clear();
  for (size_t i = 0; i < items->size(); ++i) {
    std::string where = fields.path("portDefinitions") + "(" + std::to_string(i) + ")";
    if (!(*items)[i].is_object()) {
      fields.violations().push_back({where, "error.expected.jsobject"});
      continue;
    }
    Fields port((*items)[i].get_object(), where, fields.violations());
    PortDefinition definition;
    port.integer("port", definition.port, 0, 65535);
    port.text("protocol", definition.protocol);
    if (definition.protocol != "tcp" && definition.protocol != "udp" &&
        definition.protocol != "udp,tcp" && definition.protocol != "tcp,udp") {
      port.fail("protocol", "is not one of (tcp,udp,udp,tcp)");
    }
    definition.name = port.optional_text("name");
    port.string_map("labels", definition.labels);
    app.port_definitions.push_back(std::move(definition));
  }
}

void read_constraints(Fields& fields, App& app) {
  const json::array* items = fields.array("constraints");
  if (items == nullptr) return;
  for (size_t i = 0; i < items->size(); ++i) {
    std::string where = fields.path("constraints") + "(" + std::to_string(i) + ")";
    const json::value& item = (*items)[i];
    bool shaped = item.is_array() && item.get_array().size() >= 2 && item.get_array().size() <= 3;
    if (shaped) {
      for (const json::value& part : item.get_array()) shaped = shaped && part.is_string();
    }
    if (!shaped) {
      fields.violations().push_back(
          {where,
           "Each constraint must be an array of strings: [field, operator] or "
           "[field, operator, value]"});
      continue;
    }
    const json::array& parts = item.get_array();
    Constraint constraint;
    constraint.field = std::string(parts[0].get_string());
    constraint.op = std::string(parts[1].get_string());
    if (parts.size() == 3) constraint.value = std::string(parts[2].get_string());
    if (constraint_operators().count(constraint.op) == 0) {
      fields.violations().push_back(
          {where,
           "Constraint operator must be one of CLUSTER, GROUP_BY, IS, LIKE, MAX_PER, "
           "UNIQUE, UNLIKE"});
      continue;
    }
    const std::string& op = constraint.op;
    const std::string value = constraint.value.value_or("");
    if ((op == "LIKE" || op == "UNLIKE") && value.empty()) {
      fields.violations().push_back({where, "A regular expression value must be provided"});
    } else if ((op == "LIKE" || op == "UNLIKE") && value.size() > kMaxConstraintRegexBytes) {
      // Not compiled: the regex compiler recurses once per nested group, and a pattern of
      // 64 KiB of parentheses overflowed the plugin's stack (the whole host crashed).
      fields.violations().push_back({where, "A regular expression must be at most " +
                                                std::to_string(kMaxConstraintRegexBytes) +
                                                " characters long"});
    } else if (op == "LIKE" || op == "UNLIKE") {
      constraint.pattern = compile_constraint_regex(value);
      if (!constraint.pattern) {
        fields.violations().push_back({where, "'" + value + "' is not a valid regular expression"});
      }
    }
    if (op == "IS" && value.empty()) {
      fields.violations().push_back({where, "A value must be provided"});
    }
    if (op == "UNIQUE" && constraint.value) {
      fields.violations().push_back({where, "Value specified but not used"});
    }
    uint64_t count = 0;
    auto whole = [&](uint64_t& n) {
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      return !value.empty() && ec == std::errc() && end == value.data() + value.size();
    };
    if (op == "MAX_PER" && (!whole(count) || count == 0)) {
      fields.violations().push_back({where, "Value was not a positive integer"});
    }
    if (op == "GROUP_BY" && constraint.value && !value.empty() && !whole(count)) {
      fields.violations().push_back({where, "Value was not an integer"});
    }
    app.constraints.push_back(std::move(constraint));
  }
}

void read_health_checks(Fields& fields, App& app) {
  const json::array* items = fields.array("healthChecks");
  if (items == nullptr) return;
  for (size_t i = 0; i < items->size(); ++i) {
    std::string where = fields.path("healthChecks") + "(" + std::to_string(i) + ")";
    if (!(*items)[i].is_object()) {
      fields.violations().push_back({where, "error.expected.jsobject"});
      continue;
    }
    Fields check_fields((*items)[i].get_object(), where, fields.violations());
    HealthCheck check;
    check_fields.text("protocol", check.protocol);
    if (check.protocol == "MESOS_HTTP") check.protocol = "HTTP";
    if (check.protocol == "MESOS_TCP") check.protocol = "TCP";
    if (check.protocol != "HTTP" && check.protocol != "TCP" && check.protocol != "COMMAND") {
      check_fields.fail("protocol", "is not one of (HTTP,TCP,COMMAND,MESOS_HTTP,MESOS_TCP)");
    }
    check_fields.text("path", check.path);
    check_fields.integer("portIndex", check.port_index, 0, 1000);
    check_fields.optional_integer("port", check.port, 0, 65535);
    if (const json::object* command = check_fields.object("command")) {
      Fields command_fields(*command, check_fields.path("command"), fields.violations());
      command_fields.text("value", check.command);
    }
    if (check.protocol == "COMMAND" && check.command.empty()) {
      check_fields.fail("command", "A command health check must have a command");
    }
    if (check.command.size() > kMaxCheckCommandBytes) {
      check_fields.fail("command",
                        "must be at most " + std::to_string(kMaxCheckCommandBytes) + " bytes long");
    }
    check_fields.integer("gracePeriodSeconds", check.grace_period_seconds, 0, kMaxSeconds);
    check_fields.integer("intervalSeconds", check.interval_seconds, 1, kMaxSeconds);
    check_fields.integer("timeoutSeconds", check.timeout_seconds, 1, kMaxSeconds);
    check_fields.integer("maxConsecutiveFailures", check.max_consecutive_failures, 0, 1'000'000);
    check_fields.boolean("ignoreHttp1xx", check.ignore_http1xx);
    app.health_checks.push_back(std::move(check));
  }
  if (command_checks(app.health_checks).size() > kMaxCommandChecks) {
    fields.violations().push_back(
        {fields.path("healthChecks"),
         "must have at most " + std::to_string(kMaxCommandChecks) + " COMMAND health checks"});
  }
}

void read_container(Fields& fields, App& app) {
  const json::object* container = fields.object("container");
  if (container == nullptr) return;
  app.container = *container;
  Fields container_fields(*container, fields.path("container"), fields.violations());
  std::string type = "DOCKER";
  container_fields.text("type", type);
  if (type != "DOCKER" && type != "MESOS") {
    container_fields.fail("type", "is not one of (DOCKER,MESOS)");
  }
  if (const json::object* docker = container_fields.object("docker")) {
    Fields docker_fields(*docker, container_fields.path("docker"), fields.violations());
    app.docker_image = docker_fields.optional_text("image");
    if (!app.docker_image || app.docker_image->empty()) {
      docker_fields.fail("image", "must not be empty");
    }
  }
}

void read_strategies(Fields& fields, App& app) {
  if (const json::object* upgrade = fields.object("upgradeStrategy")) {
    Fields strategy(*upgrade, fields.path("upgradeStrategy"), fields.violations());
    strategy.number("minimumHealthCapacity", app.upgrade_strategy.minimum_health_capacity, 0, 1);
    strategy.number("maximumOverCapacity", app.upgrade_strategy.maximum_over_capacity, 0, 1);
  }
  const json::value* unreachable = fields.find("unreachableStrategy");
  if (unreachable != nullptr && unreachable->is_string()) {
    if (unreachable->get_string() == "disabled") {
      app.unreachable_strategy.disabled = true;
    } else {
      fields.fail("unreachableStrategy", "error.expected.jsobject");
    }
  } else if (const json::object* strategy_object = fields.object("unreachableStrategy")) {
    Fields strategy(*strategy_object, fields.path("unreachableStrategy"), fields.violations());
    strategy.integer("inactiveAfterSeconds", app.unreachable_strategy.inactive_after_seconds, 0,
                     kMaxSeconds);
    strategy.integer("expungeAfterSeconds", app.unreachable_strategy.expunge_after_seconds, 0,
                     kMaxSeconds);
    if (app.unreachable_strategy.expunge_after_seconds <
        app.unreachable_strategy.inactive_after_seconds) {
      strategy.fail("expungeAfterSeconds",
                    "expungeAfterSeconds must be greater than or equal to "
                    "inactiveAfterSeconds");
    }
  }
}

void write_number(std::string& out, double value) {
  if (!std::isfinite(value)) {
    out += "null";
    return;
  }
  char buffer[32];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
  std::string_view text(buffer, static_cast<size_t>(end - buffer));
  out += text;
  // Marathon's writer keeps a fraction on doubles ("128.0"), so a round trip keeps the type.
  if (text.find_first_of(".eE") == std::string_view::npos) out += ".0";
}

void write_value(std::string& out, const json::value& value) {
  if (value.is_object()) {
    out.push_back('{');
    const char* separator = "";
    for (const auto& [key, item] : value.get_object()) {
      out += separator;
      separator = ",";
      out += json::serialize(json::string(key));
      out.push_back(':');
      write_value(out, item);
    }
    out.push_back('}');
  } else if (value.is_array()) {
    out.push_back('[');
    const char* separator = "";
    for (const json::value& item : value.get_array()) {
      out += separator;
      separator = ",";
      write_value(out, item);
    }
    out.push_back(']');
  } else if (value.is_double()) {
    write_number(out, value.get_double());
  } else {
    out += json::serialize(value);
  }
}

json::object string_map_json(const std::map<std::string, std::string>& map) {
  json::object out;
  for (const auto& [key, value] : map) out[key] = value;
  return out;
}

json::array strings_json(const std::vector<std::string>& items) {
  json::array out;
  for (const auto& item : items) out.emplace_back(item);
  return out;
}

}  // namespace

std::shared_ptr<const ConstraintPattern> compile_constraint_regex(const std::string& pattern) {
  try {
    return std::make_shared<const ConstraintPattern>(pattern);
  } catch (const std::exception&) {
    return nullptr;
  }
}

bool valid_constraint_regex(const std::string& pattern) {
  return compile_constraint_regex(pattern) != nullptr;
}

PatternMatch Constraint::match(const std::string& text) const {
  // A pattern too long to compile safely (stored before the limit) is not compiled.
  if (!pattern && value && value->size() > kMaxConstraintRegexBytes) {
    return PatternMatch::undecided;
  }
  std::shared_ptr<const ConstraintPattern> compiled =
      pattern ? pattern : compile_constraint_regex(value.value_or(""));
  if (!compiled) return PatternMatch::undecided;
  std::optional<bool> matched = compiled->match(text);
  if (!matched) return PatternMatch::undecided;  // too costly to decide
  return *matched ? PatternMatch::matches : PatternMatch::differs;
}

std::string scala_double(double value) {
  std::string out;
  write_number(out, value);
  return out;
}

json::object invalid_body(const std::vector<Violation>& violations) {
  json::array details;
  std::map<std::string, size_t> index;
  for (const Violation& violation : violations) {
    auto [it, fresh] = index.emplace(violation.path, details.size());
    if (fresh) {
      details.push_back(json::object{{"path", violation.path}, {"errors", json::array{}}});
    }
    details[it->second].as_object()["errors"].as_array().emplace_back(violation.error);
  }
  return json::object{{"message", "Object is not valid"}, {"details", std::move(details)}};
}

std::optional<std::string> PathId::canonical(std::string_view text) {
  if (text.size() > 512) return std::nullopt;
  std::vector<std::string> segments;
  size_t at = 0;
  while (at <= text.size()) {
    size_t end = text.find('/', at);
    if (end == std::string_view::npos) end = text.size();
    std::string segment(text.substr(at, end - at));
    at = end + 1;
    if (segment.empty() || segment == ".") continue;
    if (segment == "..") {
      // As Marathon's PathId.canonicalPath: ".." at the root stays at the root, so no id ever
      // resolves above it ("/../x" is "/x").
      if (!segments.empty()) segments.pop_back();
      continue;
    }
    if (!std::regex_match(segment, segment_pattern())) return std::nullopt;
    segments.push_back(std::move(segment));
  }
  std::string out;
  for (const auto& segment : segments) out += "/" + segment;
  return out.empty() ? "/" : out;
}

std::string PathId::parent(std::string_view id) {
  size_t slash = id.rfind('/');
  if (slash == 0 || slash == std::string_view::npos) return "/";
  return std::string(id.substr(0, slash));
}

std::string PathId::safe(std::string_view id) {
  std::string out(id.substr(id.empty() || id.front() != '/' ? 0 : 1));
  std::replace(out.begin(), out.end(), '/', '_');
  return out;
}

bool PathId::within(std::string_view id, std::string_view group) {
  if (group == "/" || group.empty()) return true;
  if (id == group) return true;
  return id.size() > group.size() && id.substr(0, group.size()) == group && id[group.size()] == '/';
}

std::string_view to_string(KillSelection selection) {
  return selection == KillSelection::oldest_first ? "OLDEST_FIRST" : "YOUNGEST_FIRST";
}

bool App::config_differs(const App& other) const {
  App a = *this;
  App b = other;
  for (App* app : {&a, &b}) {
    app->instances = 0;
    app->dependencies.clear();
    app->version.clear();
    app->last_scaling_at.clear();
    app->last_config_change_at.clear();
  }
  return !(a == b);
}

App parse_app(const json::value& body, std::vector<Violation>& violations,
              std::string_view id_from_path) {
  App app;
  if (!body.is_object()) {
    violations.push_back({"/", "error.expected.jsobject"});
    return app;
  }
  Fields fields(body.get_object(), "", violations);
  std::optional<std::string> id = fields.optional_text("id");
  if (!id_from_path.empty()) id = std::string(id_from_path);
  if (!id) {
    violations.push_back({"/id", "error.path.missing"});
  } else if (auto canonical = PathId::canonical(*id); !canonical) {
    violations.push_back(
        {"/id",
         "path contains invalid characters (allowed: lowercase letters, digits, hyphens, "
         "\".\", \"..\")"});
  } else if (*canonical == "/") {
    // "", "/" or dot segments that resolve to the root ("/a/.."), as Marathon's nonEmptyPath.
    violations.push_back({"/id", "Path must contain at least one path element"});
  } else {
    app.id = *canonical;
    // As Marathon's PathId validation: the API's paths could not tell such an app from the
    // tasks, versions or restart of its parent ("/v2/apps/prod/tasks").
    std::string last = app.id.substr(app.id.rfind('/') + 1);
    if (last == "restart" || last == "tasks" || last == "versions") {
      violations.push_back(
          {"/id",
           "must not end with any of the following reserved keywords: restart, tasks, versions, "
           "., .."});
    }
  }
  app.cmd = fields.optional_text("cmd");
  app.args = fields.strings("args");
  app.user = fields.optional_text("user");
  fields.number("cpus", app.cpus, 0, kMaxResource);
  fields.number("mem", app.mem, 0, kMaxResource);
  fields.number("disk", app.disk, 0, kMaxResource);
  fields.number("gpus", app.gpus, 0, kMaxResource);
  fields.integer("instances", app.instances, 0, kMaxInstances);
  fields.string_map("env", app.env);
  fields.string_map("labels", app.labels);
  read_port_definitions(fields, app);
  if (fields.find("portDefinitions") == nullptr) {
    // Marathon reads "ports": [0, 0] as the older spelling of portDefinitions.
    if (const json::array* ports = fields.array("ports")) {
      app.port_definitions.clear();
      for (size_t i = 0; i < ports->size(); ++i) {
        const json::value& port = (*ports)[i];
        if (!port.is_int64() || port.get_int64() < 0 || port.get_int64() > 65535) {
          violations.push_back({"/ports(" + std::to_string(i) + ")", "error.expected.int"});
          continue;
        }
        app.port_definitions.push_back(PortDefinition{port.get_int64(), "tcp", std::nullopt, {}});
      }
    }
  }
  fields.boolean("requirePorts", app.require_ports);
  read_constraints(fields, app);
  read_health_checks(fields, app);
  read_strategies(fields, app);
  fields.number("backoffSeconds", app.backoff_seconds, 0, kMaxSeconds);
  fields.number("backoffFactor", app.backoff_factor, 1.0, 1000);
  fields.number("maxLaunchDelaySeconds", app.max_launch_delay_seconds, 0, kMaxSeconds);
  if (auto selection = fields.optional_text("killSelection")) {
    if (*selection == "YOUNGEST_FIRST") {
      app.kill_selection = KillSelection::youngest_first;
    } else if (*selection == "OLDEST_FIRST") {
      app.kill_selection = KillSelection::oldest_first;
    } else {
      fields.fail("killSelection", "error.expected.validenumvalue");
    }
  }
  fields.optional_integer("taskKillGracePeriodSeconds", app.task_kill_grace_period_seconds, 0,
                          kMaxSeconds);
  read_container(fields, app);
  if (auto uris = fields.strings("uris")) app.uris = *uris;
  if (const json::array* fetch = fields.array("fetch"); fetch != nullptr && !fetch->empty()) {
    app.fetch = *fetch;
  }
  app.accepted_resource_roles = fields.strings("acceptedResourceRoles");
  if (auto dependencies = fields.strings("dependencies")) {
    // As Marathon: a relative path is taken from the app's own group.
    std::string group = PathId::parent(app.id);
    for (size_t i = 0; i < dependencies->size(); ++i) {
      const std::string& given = (*dependencies)[i];
      auto resolved = PathId::canonical(!given.empty() && given.front() == '/'
                                            ? given
                                            : (group == "/" ? "" : group) + "/" + given);
      if (!resolved || *resolved == "/" || given.empty()) {
        violations.push_back({"/dependencies(" + std::to_string(i) + ")",
                              "path contains invalid characters (allowed: lowercase letters, "
                              "digits, hyphens, \".\", \"..\")"});
        continue;
      }
      app.dependencies.push_back(*resolved);
    }
  }
  validate_app(app, violations);
  return app;
}

App parse_stored_app(std::string_view text) {
  std::vector<Violation> ignored;
  boost::system::error_code ec;
  json::value value = json::parse(text, ec);
  App app = parse_app(value, ignored);
  if (!value.is_object()) return app;
  const json::object& object = value.get_object();
  if (const auto* version = object.if_contains("version"); version && version->is_string()) {
    app.version = std::string(version->get_string());
  }
  if (const auto* info = object.if_contains("versionInfo"); info && info->is_object()) {
    const json::object& versions = info->get_object();
    if (const auto* at = versions.if_contains("lastScalingAt"); at && at->is_string()) {
      app.last_scaling_at = std::string(at->get_string());
    }
    if (const auto* at = versions.if_contains("lastConfigChangeAt"); at && at->is_string()) {
      app.last_config_change_at = std::string(at->get_string());
    }
  }
  return app;
}

void validate_app(const App& app, std::vector<Violation>& violations) {
  bool has_cmd = app.cmd.has_value() && !app.cmd->empty();
  bool has_args = app.args.has_value() && !app.args->empty();
  if (has_cmd == has_args && !(!has_cmd && app.docker_image)) {
    violations.push_back(
        {"/", "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'."});
  }
  std::set<std::string> names;
  for (size_t i = 0; i < app.port_definitions.size(); ++i) {
    const auto& name = app.port_definitions[i].name;
    if (name && !names.insert(*name).second) {
      violations.push_back({"/portDefinitions", "Port names must be unique."});
    }
  }
  std::set<int64_t> fixed;
  for (const auto& definition : app.port_definitions) {
    if (definition.port != 0 && !fixed.insert(definition.port).second) {
      violations.push_back({"/portDefinitions", "Ports must be unique."});
    }
  }
  for (size_t i = 0; i < app.health_checks.size(); ++i) {
    const HealthCheck& check = app.health_checks[i];
    // Mesos runs a Docker task's COMMAND check inside its container; the Docker runtime here
    // has no way to run a command in a container, and a check that never reports would keep
    // every task unhealthy and every deployment of the app waiting: refused, not accepted.
    if (check.protocol == "COMMAND" && app.docker_image) {
      violations.push_back({"/healthChecks(" + std::to_string(i) + ")",
                            "COMMAND health checks of Docker containers are not supported"});
    }
    if (check.protocol != "COMMAND" && !check.port &&
        static_cast<size_t>(check.port_index) >= app.port_definitions.size()) {
      violations.push_back({"/healthChecks(" + std::to_string(i) + ")",
                            "Health check port indices must address an element of the ports "
                            "array or container port mappings."});
    }
  }
}

json::object to_json(const App& app) {
  json::object out;
  out["id"] = app.id;
  out["cmd"] = app.cmd ? json::value(*app.cmd) : json::value(nullptr);
  out["args"] = app.args ? json::value(strings_json(*app.args)) : json::value(nullptr);
  out["user"] = app.user ? json::value(*app.user) : json::value(nullptr);
  out["env"] = string_map_json(app.env);
  out["instances"] = app.instances;
  out["cpus"] = app.cpus;
  out["mem"] = app.mem;
  out["disk"] = app.disk;
  out["gpus"] = app.gpus;
  out["executor"] = "";
  json::array constraints;
  for (const Constraint& constraint : app.constraints) {
    json::array item{json::value(constraint.field), json::value(constraint.op)};
    if (constraint.value) item.emplace_back(*constraint.value);
    constraints.emplace_back(std::move(item));
  }
  out["constraints"] = std::move(constraints);
  out["uris"] = strings_json(app.uris);
  out["fetch"] = app.fetch.is_null() ? json::value(json::array{}) : app.fetch;
  out["storeUrls"] = json::array{};
  out["backoffSeconds"] = app.backoff_seconds;
  out["backoffFactor"] = app.backoff_factor;
  out["maxLaunchDelaySeconds"] = app.max_launch_delay_seconds;
  out["container"] = app.container;
  json::array checks;
  for (const HealthCheck& check : app.health_checks) {
    json::object item;
    item["protocol"] = check.protocol;
    if (check.protocol == "HTTP") {
      item["path"] = check.path;
      item["ignoreHttp1xx"] = check.ignore_http1xx;
    }
    if (check.protocol == "COMMAND") {
      item["command"] = json::object{{"value", check.command}};
    } else if (check.port) {
      item["port"] = *check.port;
    } else {
      item["portIndex"] = check.port_index;
    }
    item["gracePeriodSeconds"] = check.grace_period_seconds;
    item["intervalSeconds"] = check.interval_seconds;
    item["timeoutSeconds"] = check.timeout_seconds;
    item["maxConsecutiveFailures"] = check.max_consecutive_failures;
    checks.emplace_back(std::move(item));
  }
  out["healthChecks"] = std::move(checks);
  out["readinessChecks"] = json::array{};
  out["dependencies"] = strings_json(app.dependencies);
  out["upgradeStrategy"] =
      json::object{{"minimumHealthCapacity", app.upgrade_strategy.minimum_health_capacity},
                   {"maximumOverCapacity", app.upgrade_strategy.maximum_over_capacity}};
  out["labels"] = string_map_json(app.labels);
  out["acceptedResourceRoles"] = app.accepted_resource_roles
                                     ? json::value(strings_json(*app.accepted_resource_roles))
                                     : json::value(nullptr);
  out["ipAddress"] = nullptr;
  out["version"] = app.version;
  out["residency"] = nullptr;
  out["secrets"] = json::object{};
  out["taskKillGracePeriodSeconds"] = app.task_kill_grace_period_seconds
                                          ? json::value(*app.task_kill_grace_period_seconds)
                                          : json::value(nullptr);
  if (app.unreachable_strategy.disabled) {
    out["unreachableStrategy"] = "disabled";
  } else {
    out["unreachableStrategy"] =
        json::object{{"inactiveAfterSeconds", app.unreachable_strategy.inactive_after_seconds},
                     {"expungeAfterSeconds", app.unreachable_strategy.expunge_after_seconds}};
  }
  out["killSelection"] = to_string(app.kill_selection);
  out["versionInfo"] = json::object{{"lastScalingAt", app.last_scaling_at},
                                    {"lastConfigChangeAt", app.last_config_change_at}};
  json::array ports;
  json::array definitions;
  for (const PortDefinition& definition : app.port_definitions) {
    ports.emplace_back(definition.port);
    json::object item{{"port", definition.port},
                      {"protocol", definition.protocol},
                      {"labels", string_map_json(definition.labels)}};
    if (definition.name) item["name"] = *definition.name;
    definitions.emplace_back(std::move(item));
  }
  out["portDefinitions"] = std::move(definitions);
  out["ports"] = std::move(ports);
  out["requirePorts"] = app.require_ports;
  return out;
}

std::string to_text(const json::value& value) {
  std::string out;
  out.reserve(512);
  write_value(out, value);
  return out;
}

}  // namespace tessera::marathon

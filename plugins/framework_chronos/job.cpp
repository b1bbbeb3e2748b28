#include "job.h"

#include <algorithm>
#include <cctype>
#include <stdexcept>

#include "json_fields.h"
#include "schedule.h"
#include "tessera/sdk/bounded_regex.h"

namespace tessera::chronos {

namespace json = boost::json;

// Compiled once and matched within a bound on its work (sdk::BoundedPattern): a crafted pattern
// cannot hold the scheduler's loop on every offer.
struct ConstraintPattern : sdk::BoundedPattern {
  using BoundedPattern::BoundedPattern;
};

namespace {

constexpr size_t kMaxNameLength = 255;
constexpr size_t kMaxRegexLength = 1'000;

std::string upper(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}
std::optional<ConcurrencyPolicy> concurrency_from(std::string_view text) {
  std::string name = lower(text);
  if (name == "allow") return ConcurrencyPolicy::allow;
  if (name == "forbid") return ConcurrencyPolicy::forbid;
  if (name == "replace") return ConcurrencyPolicy::replace;
  return std::nullopt;
}

std::optional<CatchUpPolicy> catch_up_from(std::string_view text) {
  std::string name = lower(text);
  if (name == "skip") return CatchUpPolicy::skip;
  if (name == "once") return CatchUpPolicy::once;
  if (name == "all") return CatchUpPolicy::all;
  return std::nullopt;
}

std::string_view operator_name(Constraint::Operator op) {
  switch (op) {
    case Constraint::Operator::equals:
      return "EQUALS";
    case Constraint::Operator::like:
      return "LIKE";
    case Constraint::Operator::unlike:
    default:
      return "UNLIKE";
  }
}

std::optional<Container> read_container(FieldReader& in) {
  const json::value* value = in.find("container");
  if (value == nullptr) return std::nullopt;
  // Chronos ignores a container without an image.
  if (!value->is_object() || value->get_object().if_contains("image") == nullptr) {
    return std::nullopt;
  }
  Container container;
  in.object(*value, "'container'", [&](FieldReader& c) {
    container.image = c.text("image");
    if (container.image.empty()) c.fail("'image' must not be empty");
    container.type = upper(c.text("type", "DOCKER"));
    if (container.type != "DOCKER" && container.type != "MESOS") {
      c.fail("'type' must be DOCKER or MESOS");
    }
    container.network = upper(c.text("network", "HOST"));
    if (container.network != "HOST" && container.network != "BRIDGE" &&
        container.network != "USER") {
      c.fail("'network' must be HOST, BRIDGE or USER");
    }
    if (c.has("networkName")) container.network_name = c.text("networkName");
    if (const json::value* infos = c.find("networkInfos")) {
      if (infos->is_array()) {
        container.network_infos = infos->get_array();
      } else {
        c.fail("'networkInfos' must be an array");
      }
    }
    container.force_pull_image = c.boolean("forcePullImage", false);
    c.array("volumes", [&](const json::value& item) {
      c.object(item, "a volume", [&](FieldReader& v) {
        Volume volume;
        volume.container_path = v.text("containerPath");
        if (volume.container_path.empty()) v.fail("'containerPath' is missing");
        if (v.has("hostPath")) volume.host_path = v.text("hostPath");
        if (v.has("mode")) {
          volume.mode = upper(v.text("mode"));
          if (*volume.mode != "RO" && *volume.mode != "RW") v.fail("'mode' must be RO or RW");
        }
        if (const json::value* external = v.find("external")) volume.external = *external;
        container.volumes.push_back(std::move(volume));
      });
    });
    c.array("parameters", [&](const json::value& item) {
      c.object(item, "a parameter", [&](FieldReader& p) {
        container.parameters.push_back(KeyValue{p.text("key"), p.text("value")});
      });
    });
  });
  return container;
}

// Null when the expression is not valid (Chronos matches with java.util.regex).
std::shared_ptr<const ConstraintPattern> compile_pattern(const std::string& value) {
  try {
    return std::make_shared<const ConstraintPattern>(value);
  } catch (const std::exception&) {
    return nullptr;
  }
}

void read_constraints(FieldReader& in, std::vector<Constraint>& out) {
  in.array("constraints", [&](const json::value& item) {
    const json::array* parts = item.if_array();
    if (parts == nullptr || parts->size() != 3 ||
        !std::all_of(parts->begin(), parts->end(),
                     [](const json::value& part) { return part.is_string(); })) {
      in.fail("a constraint must be [attribute, operator, value], all strings");
      return;
    }
    Constraint constraint;
    constraint.attribute = std::string((*parts)[0].get_string());
    std::string op = upper((*parts)[1].get_string());
    constraint.value = std::string((*parts)[2].get_string());
    if (op == "EQUALS") {
      constraint.op = Constraint::Operator::equals;
    } else if (op == "LIKE" || op == "UNLIKE") {
      constraint.op = op == "LIKE" ? Constraint::Operator::like : Constraint::Operator::unlike;
      if (constraint.value.size() > kMaxRegexLength) {
        in.fail("the regular expression of a constraint is too long");
        return;
      }
      auto pattern = compile_pattern(constraint.value);
      if (!pattern) {
        in.fail("constraint '" + constraint.attribute + "': invalid regular expression '" +
                constraint.value + "'");
        return;
      }
      constraint.pattern = std::move(pattern);
    } else {
      in.fail("constraint '" + constraint.attribute + "': unknown operator '" +
              std::string((*parts)[1].get_string()) + "' (EQUALS, LIKE or UNLIKE)");
      return;
    }
    out.push_back(std::move(constraint));
  });
}

}  // namespace

std::string_view to_string(ConcurrencyPolicy policy) {
  switch (policy) {
    case ConcurrencyPolicy::allow:
      return "allow";
    case ConcurrencyPolicy::forbid:
      return "forbid";
    case ConcurrencyPolicy::replace:
    default:
      return "replace";
  }
}

std::string_view to_string(CatchUpPolicy policy) {
  switch (policy) {
    case CatchUpPolicy::skip:
      return "skip";
    case CatchUpPolicy::once:
      return "once";
    case CatchUpPolicy::all:
    default:
      return "all";
  }
}

bool Constraint::matches(const std::map<std::string, std::string>& attributes) const {
  auto it = attributes.find(attribute);
  if (it == attributes.end()) return false;
  if (op == Operator::equals) return it->second == value;
  std::shared_ptr<const ConstraintPattern> compiled = pattern ? pattern : compile_pattern(value);
  if (!compiled) return false;
  std::optional<bool> like = compiled->match(it->second);
  // Too costly to decide: neither LIKE nor UNLIKE can be said to hold.
  if (!like) return false;
  return op == Operator::like ? *like : !*like;
}

bool is_valid_job_name(std::string_view name) {
  return !name.empty() && name.size() <= kMaxNameLength &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
         });
}

Result<Job> parse_job(const json::value& value, JobForm form, const JobDefaults& defaults,
                      TimePoint now) {
  if (!value.is_object()) return make_error("a job must be a JSON object");
  Job job;
  const json::value* name = value.get_object().if_contains("name");
  if (name == nullptr || !name->is_string()) return make_error("a job needs a 'name' string");
  job.name = std::string(name->get_string());
  if (!is_valid_job_name(job.name)) {
    return make_error("invalid job name '" + job.name.substr(0, kMaxNameLength) +
                      "': a name is 1 to 255 of A-Z a-z 0-9 _ . -");
  }
  FieldReader fields(value.get_object(), "job '" + job.name + "'");

  job.command = fields.text("command");
  job.shell = fields.boolean("shell", true);
  job.arguments = fields.strings("arguments");
  job.executor = fields.text("executor");
  job.executor_flags = fields.text("executorFlags");
  job.task_info_data = fields.text("taskInfoData");
  job.retries = static_cast<int>(fields.integer("retries", 2, 1'000));
  job.owner = fields.text("owner");
  job.owner_name = fields.text("ownerName");
  job.description = fields.text("description");
  job.disabled = fields.boolean("disabled", false);
  job.soft_error = fields.boolean("softError", false);
  job.high_priority = fields.boolean("highPriority", false);
  job.data_processing_job_type = fields.boolean("dataProcessingJobType", false);
  job.max_completion_time = fields.integer("maxCompletionTime", 0, 1'000'000'000'000);
  job.success_count = fields.integer("successCount", 0, INT64_MAX);
  job.error_count = fields.integer("errorCount", 0, INT64_MAX);
  job.errors_since_last_success = fields.integer("errorsSinceLastSuccess", 0, INT64_MAX);
  job.last_success = fields.time("lastSuccess");
  job.last_error = fields.time("lastError");

  // Chronos: 0 (or nothing) means the scheduler's default.
  job.cpus = fields.number("cpus", 0, 1e6);
  job.mem = fields.number("mem", 0, 1e12);
  job.disk = fields.number("disk", 0, 1e12);
  if (job.cpus == 0) job.cpus = defaults.cpus;
  if (job.mem == 0) job.mem = defaults.mem;
  if (job.disk == 0) job.disk = defaults.disk;
  job.run_as_user = fields.text("runAsUser", defaults.run_as_user, kMaxNameLength);

  fields.array("environmentVariables", [&](const json::value& item) {
    fields.object(item, "an environment variable", [&](FieldReader& v) {
      EnvironmentVariable variable{v.text("name"), v.text("value")};
      if (variable.name.empty()) v.fail("'name' is missing");
      job.environment_variables.push_back(std::move(variable));
    });
  });
  job.uris = fields.strings("uris");
  fields.array("fetch", [&](const json::value& item) {
    fields.object(item, "a fetch entry", [&](FieldReader& f) {
      Fetch entry;
      entry.uri = f.text("uri");
      entry.executable = f.boolean("executable", false);
      entry.cache = f.boolean("cache", false);
      entry.extract = f.boolean("extract", true);
      entry.output_file = f.text("output_file");
      job.fetch.push_back(std::move(entry));
    });
  });
  read_constraints(fields, job.constraints);
  job.container = read_container(fields);

  bool concurrent = fields.boolean("concurrent", false);
  job.concurrency = concurrent ? ConcurrencyPolicy::allow : ConcurrencyPolicy::forbid;
  if (fields.has("concurrencyPolicy")) {
    auto policy = concurrency_from(fields.text("concurrencyPolicy"));
    if (!policy) fields.fail("'concurrencyPolicy' must be allow, forbid or replace");
    job.concurrency = policy.value_or(job.concurrency);
  }
  job.catch_up = defaults.catch_up;
  if (fields.has("catchUpPolicy")) {
    auto policy = catch_up_from(fields.text("catchUpPolicy"));
    if (!policy) fields.fail("'catchUpPolicy' must be skip, once or all");
    job.catch_up = policy.value_or(job.catch_up);
  }
  job.epsilon = defaults.epsilon;
  if (fields.has("epsilon")) {
    auto epsilon = parse_duration(fields.text("epsilon"));
    if (!epsilon) fields.fail("'epsilon': " + epsilon.error().message);
    job.epsilon = epsilon ? *epsilon : job.epsilon;
  }
  // "async" is accepted and ignored, as in Chronos 3.

  bool dependent = form == JobForm::dependent ||
                   (form == JobForm::any && value.get_object().contains("parents"));
  if (dependent) {
    job.parents = fields.strings("parents");
  } else {
    if (form == JobForm::scheduled && !fields.strings("parents").empty()) {
      fields.fail(
          "a scheduled job has no parents (post dependent jobs to "
          "/v1/scheduler/dependency)");
    }
    job.schedule_time_zone = fields.text("scheduleTimeZone", "", kMaxNameLength);
    job.schedule = fields.text("schedule", "", 512);
    // As Chronos does: no schedule means once, now.
    if (!fields.has("schedule")) job.schedule = "R1/" + format_time(now) + "/PT24H";
  }
  if (fields.error()) return *fields.error();

  const std::string prefix = "job '" + job.name + "': ";
  if (dependent) {
    if (job.parents.empty()) return make_error(prefix + "a dependent job needs 'parents'");
    for (const std::string& parent : job.parents) {
      if (!is_valid_job_name(parent)) {
        return make_error(prefix + "invalid parent name '" + parent.substr(0, kMaxNameLength) +
                          "'");
      }
    }
    std::sort(job.parents.begin(), job.parents.end());
    job.parents.erase(std::unique(job.parents.begin(), job.parents.end()), job.parents.end());
  } else {
    auto schedule = Schedule::parse(job.schedule, job.schedule_time_zone, now);
    if (!schedule) {
      return make_error(prefix + "cannot parse schedule '" + job.schedule +
                        "': " + schedule.error().message);
    }
  }
  // A container may run its image's own entry point; anything else needs a command.
  if (job.command.empty() && !(job.container && !job.shell)) {
    return make_error(prefix + "'command' is missing");
  }
  if (!job.uris.empty() && !job.fetch.empty()) {
    return make_error(prefix + "both 'uris' (deprecated) and 'fetch' are given; use 'fetch'");
  }
  return job;
}

namespace {

// Appends a new element to `array` as an empty object or array that uses the array's memory
// resource, so that a whole answer can live in one monotonic buffer.
json::object& add_object(json::array& array) {
  return array.emplace_back(nullptr).emplace_object();
}
json::array& add_array(json::array& array) { return array.emplace_back(nullptr).emplace_array(); }

void add_strings(json::array& array, const std::vector<std::string>& items) {
  array.reserve(items.size());
  for (const std::string& item : items) array.emplace_back(std::string_view(item));
}

}  // namespace

json::object job_to_json(const Job& job, bool listing, json::storage_ptr storage) {
  json::object out(std::move(storage));
  out.reserve(40);
  out["name"] = job.name;
  out["command"] = job.command;
  out["shell"] = job.shell;
  out["executor"] = job.executor;
  out["executorFlags"] = job.executor_flags;
  out["taskInfoData"] = job.task_info_data;
  out["retries"] = job.retries;
  out["owner"] = job.owner;
  out["ownerName"] = job.owner_name;
  out["description"] = job.description;
  out["successCount"] = job.success_count;
  out["errorCount"] = job.error_count;
  out["lastSuccess"] = job.last_success ? format_time(*job.last_success) : "";
  out["lastError"] = job.last_error ? format_time(*job.last_error) : "";
  out["cpus"] = job.cpus;
  out["disk"] = job.disk;
  out["mem"] = job.mem;
  out["disabled"] = job.disabled;
  out["softError"] = job.soft_error;
  out["dataProcessingJobType"] = job.data_processing_job_type;
  out["errorsSinceLastSuccess"] = job.errors_since_last_success;

  // GET /jobs shows uris as fetch entries and fetch entries as uris (only one is ever set).
  const bool fetch_from_uris = listing && job.fetch.empty();
  const bool uris_from_fetch = listing && !job.fetch.empty();
  json::array& fetch = out["fetch"].emplace_array();
  auto add_fetch = [&fetch](const Fetch& entry) {
    json::object& f = add_object(fetch);
    f["uri"] = entry.uri;
    f["executable"] = entry.executable;
    f["cache"] = entry.cache;
    f["extract"] = entry.extract;
    if (!entry.output_file.empty()) f["output_file"] = entry.output_file;
  };
  for (const Fetch& entry : job.fetch) add_fetch(entry);
  if (fetch_from_uris) {
    for (const std::string& uri : job.uris) {
      Fetch entry;
      entry.uri = uri;
      add_fetch(entry);
    }
  }
  json::array& uris = out["uris"].emplace_array();
  if (uris_from_fetch) {
    for (const Fetch& entry : job.fetch) uris.emplace_back(std::string_view(entry.uri));
  } else {
    add_strings(uris, job.uris);
  }
  json::array& env = out["environmentVariables"].emplace_array();
  for (const EnvironmentVariable& variable : job.environment_variables) {
    json::object& v = add_object(env);
    v["name"] = variable.name;
    v["value"] = variable.value;
  }
  add_strings(out["arguments"].emplace_array(), job.arguments);
  out["highPriority"] = job.high_priority;
  out["runAsUser"] = job.run_as_user;
  out["concurrent"] = job.concurrency == ConcurrencyPolicy::allow;
  out["maxCompletionTime"] = job.max_completion_time;

  if (job.container) {
    const Container& c = *job.container;
    json::object& container = out["container"].emplace_object();
    container["type"] = c.type;
    container["image"] = c.image;
    container["network"] = c.network;
    if (c.network_name) container["networkName"] = *c.network_name;
    container["networkInfos"] = c.network_infos;
    json::array& volumes = container["volumes"].emplace_array();
    for (const Volume& v : c.volumes) {
      json::object& volume = add_object(volumes);
      if (v.host_path) volume["hostPath"] = *v.host_path;
      volume["containerPath"] = v.container_path;
      if (v.mode) volume["mode"] = *v.mode;
      if (!v.external.is_null()) volume["external"] = v.external;
    }
    container["forcePullImage"] = c.force_pull_image;
    json::array& parameters = container["parameters"].emplace_array();
    for (const KeyValue& p : c.parameters) {
      json::object& parameter = add_object(parameters);
      parameter["key"] = p.key;
      parameter["value"] = p.value;
    }
  }

  json::array& constraints = out["constraints"].emplace_array();
  for (const Constraint& constraint : job.constraints) {
    json::array& triple = add_array(constraints);
    triple.emplace_back(std::string_view(constraint.attribute));
    triple.emplace_back(operator_name(constraint.op));
    triple.emplace_back(std::string_view(constraint.value));
  }
  if (job.is_dependent()) {
    add_strings(out["parents"].emplace_array(), job.parents);
  } else {
    out["schedule"] = job.schedule;
    out["scheduleTimeZone"] = job.schedule_time_zone;
  }
  out["epsilon"] = format_duration(job.epsilon);
  out["concurrencyPolicy"] = to_string(job.concurrency);
  out["catchUpPolicy"] = to_string(job.catch_up);
  return out;
}

Status check_new_job(const Job& job, TimePoint now) {
  if (job.name == "." || job.name == "..") {
    return make_error("invalid job name '" + job.name +
                      "': '.' and '..' are not job names: a URL's path reads them as dot "
                      "segments, which clients remove ('/job/..' is '/')");
  }
  if (job.name.size() > kMaxNewJobNameLength) {
    return make_error("invalid job name '" + job.name.substr(0, kMaxNewJobNameLength) +
                      "...': a new job's name is at most " + std::to_string(kMaxNewJobNameLength) +
                      " characters, so that its runs' task ids fit the cluster's");
  }
  if (job.is_dependent()) return {};
  auto schedule = Schedule::parse(job.schedule, job.schedule_time_zone, now);
  if (!schedule) {
    return make_error("job '" + job.name + "': cannot parse schedule '" + job.schedule +
                      "': " + schedule.error().message);
  }
  if (schedule->kind() != Schedule::Kind::iso8601) return {};
  const IsoPeriod& period = schedule->period();
  bool repeats = schedule->repetitions() < 0 || schedule->repetitions() > 1;
  if (repeats && !period.has_calendar_part() && period.fixed_length() < kMinRepeatPeriod) {
    return make_error("job '" + job.name + "': cannot use schedule '" + job.schedule +
                      "': a schedule that repeats needs a period of at least " +
                      format_duration(kMinRepeatPeriod));
  }
  return {};
}

std::string_view last_state(const Job& job) {
  if (!job.last_success && !job.last_error) return "fresh";
  if (!job.last_success) return "failure";
  if (!job.last_error) return "success";
  return *job.last_success > *job.last_error ? "success" : "failure";
}

}  // namespace tessera::chronos

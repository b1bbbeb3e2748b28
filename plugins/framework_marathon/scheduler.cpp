#include "scheduler.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <ctime>
#include <functional>
#include <utility>

#include "command_check.h"
#include "tessera/sdk/logger.h"

namespace tessera::marathon {

namespace json = boost::json;
namespace state = protocol::state;
using Monotonic = sdk::Clock::Monotonic;

namespace {

std::string hex(uint64_t value, int digits) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(static_cast<size_t>(digits), '0');
  for (int i = digits - 1; i >= 0; --i) {
    out[static_cast<size_t>(i)] = kDigits[value & 0xf];
    value >>= 4;
  }
  return out;
}

// An app with COMMAND health checks has each task run by `executor` (one executor per task, its
// id the task's), which runs the checks beside the task in its sandbox and environment, as
// Mesos's command executor does. A Docker task is left to its runtime: its checks are not run.
void add_command_checks(const App& app, const std::string& executor, protocol::TaskInfo& info) {
  auto checks = command_checks(app.health_checks);
  if (checks.empty() || executor.empty() || info.container.type == "DOCKER") return;
  info.executor.executor_id = info.task_id;
  info.executor.name = "marathon command health checks of " + info.task_id;
  info.executor.command.shell = false;
  info.executor.command.value = executor;
  info.executor.command.arguments = {executor};
  // The agent runs the executor, and so the task and its checks, as the task's user.
  info.executor.command.user = info.command.user;
  // The executor's container holds the task, so it gets the task's resources (the master counts
  // only the task's against the offer).
  info.executor.resources = info.resources;
  info.executor.kill_grace_seconds = info.kill_grace_seconds + 1;
  info.data = encode_command_checks(checks);
}

// Whether a status ends a task for Marathon: a terminal state, or TASK_UNKNOWN (the master
// answers it to a reconciliation or a kill of a task it does not know: on an agent that is
// registered, the task is not there), which Marathon takes for gone as well.
bool ends_task(const std::string& st) { return state::terminal(st) || st == state::kUnknown; }

}  // namespace

std::string format_iso8601(sdk::Clock::Wall::time_point time) {
  auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
  std::time_t seconds = static_cast<std::time_t>(millis / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buffer[80];
  std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<int>(millis % 1000));
  return buffer;
}

std::optional<int64_t> parse_iso8601_ms(std::string_view text) {
  // "2025-01-01T00:00:00.000Z": fields at fixed places.
  if (text.size() != 24 || text[4] != '-' || text[7] != '-' || text[10] != 'T' || text[13] != ':' ||
      text[16] != ':' || text[19] != '.' || text[23] != 'Z') {
    return std::nullopt;
  }
  auto field = [&](size_t at, size_t length) -> std::optional<int> {
    int value = 0;
    auto [end, error] = std::from_chars(text.data() + at, text.data() + at + length, value);
    if (error != std::errc() || end != text.data() + at + length) return std::nullopt;
    return value;
  };
  auto year = field(0, 4);
  auto month = field(5, 2);
  auto day = field(8, 2);
  auto hour = field(11, 2);
  auto minute = field(14, 2);
  auto second = field(17, 2);
  auto millis = field(20, 3);
  if (!year || !month || !day || !hour || !minute || !second || !millis) return std::nullopt;
  std::chrono::year_month_day date{std::chrono::year{*year},
                                   std::chrono::month{static_cast<unsigned>(*month)},
                                   std::chrono::day{static_cast<unsigned>(*day)}};
  if (!date.ok() || *hour > 23 || *minute > 59 || *second > 60) return std::nullopt;
  auto since_epoch = std::chrono::sys_days{date}.time_since_epoch() + std::chrono::hours{*hour} +
                     std::chrono::minutes{*minute} + std::chrono::seconds{*second} +
                     std::chrono::milliseconds{*millis};
  return std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch).count();
}

Scheduler::Scheduler(sdk::Clock& clock, Driver& driver, SchedulerOptions options)
    : clock_(clock),
      driver_(driver),
      options_(std::move(options)),
      random_(options_.seed != 0 ? options_.seed : std::random_device{}()) {}

Scheduler::~Scheduler() {
  for (sdk::Clock::TimerId timer : revive_timers_) clock_.cancel(timer);
}

std::string Scheduler::timestamp(const std::string& after) const {
  auto now = clock_.wall_now();
  std::string text = format_iso8601(now);
  // ISO 8601 in one format compares as text.
  while (!after.empty() && text <= after) {
    now += std::chrono::milliseconds(1);
    text = format_iso8601(now);
  }
  return text;
}

std::string Scheduler::new_id() {
  uint64_t a = random_();
  uint64_t b = random_();
  return hex(a >> 32, 8) + "-" + hex(a >> 16, 4) + "-" + hex(a, 4) + "-" + hex(b >> 48, 4) + "-" +
         hex(b, 12);
}

std::string Scheduler::new_task_id(const std::string& app_id) {
  return PathId::safe(app_id) + "." + new_id();
}

void Scheduler::emit(const std::string& type, json::object body) {
  body["eventType"] = type;
  body["timestamp"] = timestamp();
  driver_.publish(type, body);
}

// ---- groups ----

json::object to_json(const GroupSpec& group) {
  json::array dependencies;
  for (const auto& dependency : group.dependencies)
    dependencies.push_back(json::string(dependency));
  return json::object{
      {"id", group.id}, {"dependencies", std::move(dependencies)}, {"version", group.version}};
}

std::optional<GroupSpec> parse_stored_group(const std::string& text) {
  json::error_code error;
  json::value value = json::parse(text, error);
  if (error || !value.is_object()) return std::nullopt;
  const json::object& object = value.get_object();
  const json::value* id = object.if_contains("id");
  const json::value* version = object.if_contains("version");
  const json::value* dependencies = object.if_contains("dependencies");
  if (id == nullptr || !id->is_string() || version == nullptr || !version->is_string() ||
      dependencies == nullptr || !dependencies->is_array()) {
    return std::nullopt;
  }
  auto canonical = PathId::canonical(id->get_string());
  if (!canonical) return std::nullopt;
  GroupSpec group{*canonical, {}, std::string(version->get_string())};
  for (const auto& dependency : dependencies->get_array()) {
    if (!dependency.is_string()) return std::nullopt;
    auto path = PathId::canonical(dependency.get_string());
    if (!path) return std::nullopt;
    group.dependencies.push_back(*path);
  }
  return group;
}

bool Scheduler::group_exists(const std::string& group_id) const {
  if (group_id == "/" || groups_.count(group_id) != 0) return true;
  // A defined group below it ("/p/q" defined alone implies "/p", as GET /v2/groups shows it).
  if (auto it = groups_.lower_bound(group_id + "/");
      it != groups_.end() && it->first.compare(0, group_id.size() + 1, group_id + "/") == 0) {
    return true;
  }
  for (auto it = apps_.lower_bound(group_id); it != apps_.end(); ++it) {
    if (!PathId::within(it->first, group_id)) {
      // Ids sort by characters: "/a-b" lies between "/a" and "/a/b", so keep looking while the
      // prefix still matches.
      if (it->first.compare(0, group_id.size(), group_id) != 0) break;
      continue;
    }
    if (it->first != group_id) return true;
  }
  return false;
}

std::set<std::string> Scheduler::dependencies_of(
    const std::string& app_id, const std::vector<std::string>& own,
    const std::set<std::string>& app_ids, const std::map<std::string, GroupSpec>& groups) const {
  std::vector<std::string> paths = own;
  for (std::string group = PathId::parent(app_id);; group = PathId::parent(group)) {
    if (auto found = groups.find(group); found != groups.end()) {
      paths.insert(paths.end(), found->second.dependencies.begin(),
                   found->second.dependencies.end());
    }
    if (group == "/") break;
  }
  std::set<std::string> found;
  for (const std::string& path : paths) {
    if (app_ids.count(path) != 0) {
      found.insert(path);
      continue;
    }
    for (auto it = app_ids.lower_bound(path); it != app_ids.end(); ++it) {
      if (it->compare(0, path.size(), path) != 0) break;
      if (PathId::within(*it, path)) found.insert(*it);
    }
  }
  return found;
}

// ---- recovery ----

void Scheduler::adopt_group(GroupSpec group) {
  std::string id = group.id;
  groups_[id] = std::move(group);
}

void Scheduler::adopt_app(App app) {
  for (const auto& definition : app.port_definitions) {
    if (definition.port != 0) service_ports_used_.insert(definition.port);
  }
  std::string id = app.id;
  apps_[id] = std::move(app);
}

void Scheduler::adopt_version(App app) {
  std::string id = app.id;
  std::string version = app.version;
  versions_[id][version] = std::move(app);
}

void Scheduler::adopt_task(const StoredTask& stored) {
  Task task;
  static_cast<StoredTask&>(task) = stored;
  if (task.state.empty()) task.state = state::kStaging;
  if (task.running()) task.running_since = clock_.now();
  sequence_ = std::max(sequence_, task.sequence);
  by_app_[task.app_id].insert(task.id);
  tasks_[task.id] = std::move(task);
}

void Scheduler::adopt_deployment(const StoredDeployment& stored) {
  Deployment deployment;
  deployment.id = stored.id;
  deployment.version = stored.version;
  deployment.current_step = stored.current_step;
  for (const auto& step : stored.steps) {
    std::vector<DeploymentAction> actions;
    for (size_t i = 0; i + 1 < step.size(); i += 2) actions.push_back({step[i], step[i + 1]});
    deployment.steps.push_back(std::move(actions));
  }
  deployment.apps = stored.apps;
  deployment.stopping.insert(stored.stopping.begin(), stored.stopping.end());
  for (const auto& [app_id, json] : stored.previous_apps) {
    deployment.previous.emplace(app_id, parse_stored_app(json));
  }
  for (const auto& [group_id, json] : stored.groups_before) {
    deployment.groups[group_id].before = parse_stored_group(json);
  }
  for (const auto& [group_id, json] : stored.groups_after) {
    deployment.groups[group_id].after = parse_stored_group(json);
  }
  // A record of one app's deployment, written before groups had deployments of their own.
  if (deployment.apps.empty() && !stored.app_id.empty()) {
    deployment.apps.push_back(stored.app_id);
    if (stored.stop) deployment.stopping.insert(stored.app_id);
    if (!stored.previous_json.empty()) {
      deployment.previous.emplace(stored.app_id, parse_stored_app(stored.previous_json));
    }
  }
  deployment.last_progress = clock_.now();
  deployment.index_steps();
  index_deployment(deployment);
  mark_changed(deployment);
  deployments_[deployment.id] = std::move(deployment);
}

std::map<std::string, std::string> task_environment(const App& app, const Task& task) {
  std::map<std::string, std::string> env;
  // Marathon's TaskBuilder.taskContextEnv.
  env["MESOS_TASK_ID"] = task.id;
  env["MARATHON_APP_ID"] = app.id;
  env["MARATHON_APP_VERSION"] = app.version;
  if (app.docker_image) env["MARATHON_APP_DOCKER_IMAGE"] = *app.docker_image;
  env["MARATHON_APP_RESOURCE_CPUS"] = scala_double(app.cpus);
  env["MARATHON_APP_RESOURCE_MEM"] = scala_double(app.mem);
  env["MARATHON_APP_RESOURCE_DISK"] = scala_double(app.disk);
  env["MARATHON_APP_RESOURCE_GPUS"] = scala_double(app.gpus);
  // EnvironmentHelper.labelsToEnvVars: each label whose key and value are short enough, its key
  // with every run of other characters than letters, digits and '_' made one '_', upper case.
  constexpr size_t kMaxEnvLength = 512;
  const std::string label_prefix = "MARATHON_APP_LABEL_";
  std::string label_names;
  for (const auto& [key, value] : app.labels) {
    if (key.size() >= kMaxEnvLength - label_prefix.size() || value.size() >= kMaxEnvLength) {
      continue;
    }
    std::string name;
    bool in_run = false;
    for (unsigned char c : key) {
      if (std::isalnum(c) != 0 || c == '_') {
        name += static_cast<char>(std::toupper(c));
        in_run = false;
      } else if (!in_run) {
        name += '_';
        in_run = true;
      }
    }
    env[label_prefix + name] = value;
    label_names += (label_names.empty() ? "" : " ") + name;
  }
  env["MARATHON_APP_LABELS"] = label_names;
  // EnvironmentHelper.portsEnv: PORT0..., PORT_<the port asked for> (the host port's own number
  // for a port 0), PORT_<NAME> in upper case, PORT and PORTS.
  std::string ports_list;
  for (size_t i = 0; i < task.host_ports.size(); ++i) {
    std::string port = std::to_string(task.host_ports[i]);
    env["PORT" + std::to_string(i)] = port;
    if (i < app.port_definitions.size()) {
      const PortDefinition& definition = app.port_definitions[i];
      env["PORT_" + (definition.port != 0 ? std::to_string(definition.port) : port)] = port;
      if (definition.name) {
        std::string name = *definition.name;
        std::transform(name.begin(), name.end(), name.begin(),
                       [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
        env["PORT_" + name] = port;
      }
    }
    ports_list += (i == 0 ? "" : ",") + port;
  }
  if (!task.host_ports.empty()) {
    env["PORT"] = std::to_string(task.host_ports.front());
    env["PORTS"] = ports_list;
  }
  env["HOST"] = task.hostname;
  // The app's own env comes last and wins, as in Marathon's TaskBuilder.
  for (const auto& [key, value] : app.env) env[key] = value;
  return env;
}

std::vector<StoredDeployment> split_deployment(const StoredDeployment& whole, size_t max_bytes) {
  // Sizes as estimates of the encoded record: each text's length and a little for its framing.
  constexpr size_t kFraming = 16;
  size_t base = kFraming * 16 + whole.id.size() + whole.version.size() + whole.app_id.size() +
                whole.previous_json.size();
  for (const auto& id : whole.apps) base += id.size() + kFraming;
  for (const auto& id : whole.stopping) base += id.size() + kFraming;
  for (const auto& step : whole.steps) {
    for (const auto& item : step) base += item.size() + kFraming;
  }
  size_t total = base;
  for (const auto* map : {&whole.previous_apps, &whole.groups_before, &whole.groups_after}) {
    for (const auto& [key, value] : *map) total += key.size() + value.size() + kFraming;
  }
  if (total <= max_bytes) return {whole};

  std::vector<StoredDeployment> out;
  StoredDeployment first = whole;
  first.previous_apps.clear();
  first.groups_before.clear();
  first.groups_after.clear();
  out.push_back(std::move(first));
  size_t used = base;
  using Map = std::map<std::string, std::string>;
  for (Map StoredDeployment::*map :
       {&StoredDeployment::previous_apps, &StoredDeployment::groups_before,
        &StoredDeployment::groups_after}) {
    for (const auto& [key, value] : whole.*map) {
      size_t size = key.size() + value.size() + kFraming;
      // A part is ended when the next definition would not fit (one larger than a part alone
      // gets a part of its own).
      if (used + size > max_bytes) {
        StoredDeployment next;
        next.id = whole.id;
        next.part = out.size();
        out.push_back(std::move(next));
        used = kFraming * 8 + whole.id.size();
      }
      (out.back().*map)[key] = value;
      used += size;
    }
  }
  for (auto& part : out) part.parts = out.size();
  return out;
}

namespace {

// More parts than any deployment takes (65,536 of 384 KiB) is a damaged record's count, not
// room to make.
constexpr uint64_t kMaxParts = 65'536;

// Whether `part` belongs with part 0 `first`: written by the same split (as many parts), within
// their count. A record of one part (parts 0) has no other.
bool counted_by(const StoredDeployment& first, const StoredDeployment& part) {
  return part.part != 0 && part.id == first.id && part.part < first.parts &&
         part.parts == first.parts && first.parts <= kMaxParts;
}

std::string encoded(const StoredDeployment& record) {
  msgpack::sbuffer buffer;
  msgpack::pack(buffer, record);
  return std::string(buffer.data(), buffer.size());
}

}  // namespace

std::optional<StoredDeployment> join_deployment(std::vector<StoredDeployment> parts) {
  auto first = std::find_if(parts.begin(), parts.end(),
                            [](const StoredDeployment& part) { return part.part == 0; });
  if (first == parts.end()) return std::nullopt;
  StoredDeployment whole = std::move(*first);
  for (auto& part : parts) {
    if (!counted_by(whole, part)) continue;
    whole.previous_apps.merge(part.previous_apps);
    whole.groups_before.merge(part.groups_before);
    whole.groups_after.merge(part.groups_after);
  }
  whole.part = 0;
  whole.parts = 0;
  return whole;
}

std::vector<DeploymentRecordParts::Write> DeploymentRecordParts::save(
    const StoredDeployment& deployment) {
  std::vector<StoredDeployment> parts = split_deployment(deployment, max_part_bytes_);
  std::vector<std::optional<std::string>>& written = written_[deployment.id];
  std::vector<Write> writes;
  auto put = [&](size_t i) {
    std::string bytes = encoded(parts[i]);
    if (i < written.size() && written[i] == bytes) return;
    if (i >= written.size()) written.resize(i + 1);
    written[i] = bytes;
    writes.push_back({i, std::move(bytes)});
  };
  for (size_t i = parts.size(); i-- > 1;) put(i);
  put(0);
  for (size_t i = parts.size(); i < written.size(); ++i) writes.push_back({i, std::nullopt});
  written.resize(parts.size());
  return writes;
}

std::vector<DeploymentRecordParts::Write> DeploymentRecordParts::remove(const std::string& id) {
  std::vector<Write> writes{{0, std::nullopt}};
  auto it = written_.find(id);
  if (it == written_.end()) return writes;
  for (size_t i = 1; i < it->second.size(); ++i) writes.push_back({i, std::nullopt});
  written_.erase(it);
  return writes;
}

DeploymentRecordParts::Recovered DeploymentRecordParts::recover(
    std::vector<StoredDeployment> parts) {
  Recovered out;
  auto first = std::find_if(parts.begin(), parts.end(),
                            [](const StoredDeployment& part) { return part.part == 0; });
  std::vector<std::optional<std::string>> written;
  for (const StoredDeployment& part : parts) {
    if (first == parts.end() || (part.part != 0 && !counted_by(*first, part))) {
      out.leftovers.push_back(part.part);
      continue;
    }
    if (part.part >= written.size()) written.resize(part.part + 1);
    written[part.part] = encoded(part);
  }
  if (first == parts.end()) return out;
  // As many as part 0 counts, those missing not known to be stored.
  written.resize(std::max<uint64_t>(first->parts <= kMaxParts ? first->parts : 1, 1));
  std::string id = first->id;
  out.whole = join_deployment(std::move(parts));
  written_[id] = std::move(written);
  return out;
}

void DeploymentRecordParts::failed(const std::string& id, uint64_t part) {
  auto it = written_.find(id);
  if (it != written_.end() && part < it->second.size()) it->second[part].reset();
}

size_t DeploymentRecordParts::parts(const std::string& id) const {
  auto it = written_.find(id);
  return it == written_.end() ? 0 : it->second.size();
}

StoredTask Scheduler::stored(const Task& task) { return task; }

StoredDeployment Scheduler::stored(const Deployment& deployment) {
  StoredDeployment out;
  out.id = deployment.id;
  out.version = deployment.version;
  out.apps = deployment.apps;
  out.stopping.assign(deployment.stopping.begin(), deployment.stopping.end());
  for (const auto& [app_id, app] : deployment.previous) {
    out.previous_apps[app_id] = to_text(to_json(app));
  }
  for (const auto& [group_id, change] : deployment.groups) {
    if (change.before) out.groups_before[group_id] = to_text(to_json(*change.before));
    if (change.after) out.groups_after[group_id] = to_text(to_json(*change.after));
  }
  out.current_step = deployment.current_step;
  for (const auto& step : deployment.steps) {
    std::vector<std::string> flat;
    for (const auto& action : step) {
      flat.push_back(action.action);
      flat.push_back(action.app);
    }
    out.steps.push_back(std::move(flat));
  }
  return out;
}

void Deployment::index_steps() {
  step_by_app_.clear();
  for (size_t i = steps.size(); i-- > 0;) {
    for (const DeploymentAction& action : steps[i]) {
      // The first such action wins, as step_of's walk finds it.
      if (action.action != "StartApplication") step_by_app_[action.app] = i + 1;
    }
  }
}

size_t Deployment::step_of(const std::string& app_id) const {
  if (!step_by_app_.empty()) {
    auto found = step_by_app_.find(app_id);
    return found == step_by_app_.end() ? 0 : found->second;
  }
  for (size_t i = 0; i < steps.size(); ++i) {
    for (const DeploymentAction& action : steps[i]) {
      if (action.app == app_id && action.action != "StartApplication") return i + 1;
    }
  }
  return 0;
}

// ---- reads ----

const App* Scheduler::app(const std::string& id) const {
  auto it = apps_.find(id);
  return it == apps_.end() ? nullptr : &it->second;
}

std::vector<const Task*> Scheduler::tasks_of(const std::string& app_id) const {
  std::vector<const Task*> out;
  auto index = by_app_.find(app_id);
  if (index == by_app_.end()) return out;
  for (const std::string& id : index->second) out.push_back(&tasks_.at(id));
  return out;
}

std::vector<Task*> Scheduler::app_tasks(const std::string& app_id) {
  std::vector<Task*> out;
  auto index = by_app_.find(app_id);
  if (index == by_app_.end()) return out;
  for (const std::string& id : index->second) out.push_back(&tasks_.at(id));
  return out;
}

const Deployment* Scheduler::deployment_of(const std::string& app_id) const {
  auto indexed = deployment_by_app_.find(app_id);
  if (indexed == deployment_by_app_.end()) return nullptr;
  auto found = deployments_.find(indexed->second);
  return found == deployments_.end() ? nullptr : &found->second;
}

void Scheduler::index_deployment(const Deployment& deployment) {
  for (const std::string& app_id : deployment.apps) deployment_by_app_[app_id] = deployment.id;
}

void Scheduler::unindex_deployment(const Deployment& deployment) {
  for (const std::string& app_id : deployment.apps) {
    auto indexed = deployment_by_app_.find(app_id);
    if (indexed != deployment_by_app_.end() && indexed->second == deployment.id) {
      deployment_by_app_.erase(indexed);
    }
  }
}

void Scheduler::mark_changed(const Deployment& deployment) {
  changed_apps_.insert(deployment.apps.begin(), deployment.apps.end());
}

const std::map<std::string, App>* Scheduler::versions(const std::string& app_id) const {
  auto it = versions_.find(app_id);
  return it == versions_.end() ? nullptr : &it->second;
}

bool Scheduler::healthy(const Task& task) const {
  if (!task.running()) return false;
  const App* owner = app(task.app_id);
  size_t checks = owner != nullptr ? owner->health_checks.size() : 0;
  if (checks == 0) return true;
  if (task.health.size() < checks) return false;
  return std::all_of(task.health.begin(), task.health.end(),
                     [](const HealthResult& result) { return result.alive; });
}

AppCounts Scheduler::counts(const std::string& app_id) const {
  AppCounts out;
  const App* owner = app(app_id);
  bool checked = owner != nullptr && !owner->health_checks.empty();
  for (const Task* task : tasks_of(app_id)) {
    if (task->state == state::kStaging || task->state == state::kStarting) ++out.staged;
    if (task->running()) {
      ++out.running;
      if (checked) {
        bool has_results = task->health.size() >= owner->health_checks.size();
        if (healthy(*task)) {
          ++out.healthy;
        } else if (has_results) {
          ++out.unhealthy;
        }
      }
    }
  }
  return out;
}

int64_t Scheduler::waiting(const std::string& app_id) const {
  auto it = to_launch_.find(app_id);
  return it == to_launch_.end() ? 0 : it->second;
}

const OfferStatistics* Scheduler::statistics(const std::string& app_id) const {
  auto it = statistics_.find(app_id);
  return it == statistics_.end() ? nullptr : &it->second;
}

const Backoff* Scheduler::backoff(const std::string& app_id) const {
  auto it = backoff_.find(app_id);
  return it == backoff_.end() ? nullptr : &it->second;
}

std::optional<std::string> Scheduler::queued_since(const std::string& app_id) const {
  auto it = queued_since_.find(app_id);
  if (it == queued_since_.end()) return std::nullopt;
  return it->second;
}

json::object Scheduler::task_json(const Task& task) const {
  json::object out;
  out["id"] = task.id;
  out["appId"] = task.app_id;
  out["host"] = task.hostname;
  out["slaveId"] = task.agent_id;
  out["state"] = task.state;
  json::array ports;
  for (uint64_t port : task.host_ports) ports.emplace_back(port);
  out["ports"] = std::move(ports);
  json::array service_ports;
  for (int64_t port : task.service_ports) service_ports.emplace_back(port);
  out["servicePorts"] = std::move(service_ports);
  out["ipAddresses"] = json::array{};
  out["stagedAt"] = task.staged_at;
  out["startedAt"] = task.started_at.empty() ? json::value(nullptr) : json::value(task.started_at);
  out["version"] = task.version;
  const App* owner = app(task.app_id);
  if (owner != nullptr && !owner->health_checks.empty()) {
    json::array results;
    for (const HealthResult& result : task.health) {
      results.push_back(json::object{
          {"alive", result.alive},
          {"consecutiveFailures", result.consecutive_failures},
          {"firstSuccess",
           result.first_success.empty() ? json::value(nullptr) : json::value(result.first_success)},
          {"lastSuccess",
           result.last_success.empty() ? json::value(nullptr) : json::value(result.last_success)},
          {"lastFailure",
           result.last_failure.empty() ? json::value(nullptr) : json::value(result.last_failure)},
          {"lastFailureCause", result.last_failure_cause.empty()
                                   ? json::value(nullptr)
                                   : json::value(result.last_failure_cause)},
          {"taskId", task.id}});
    }
    out["healthCheckResults"] = std::move(results);
  }
  return out;
}

json::array steps_json(const std::vector<std::vector<DeploymentAction>>& steps) {
  json::array out;
  for (const auto& step : steps) {
    json::array actions;
    for (const auto& action : step) {
      actions.push_back(json::object{{"action", action.action}, {"app", action.app}});
    }
    out.push_back(json::object{{"actions", std::move(actions)}});
  }
  return out;
}

json::object Scheduler::deployment_json(const Deployment& deployment) const {
  json::array steps = steps_json(deployment.steps);
  json::array current;
  if (deployment.current_step >= 1 && deployment.current_step <= deployment.steps.size()) {
    for (const auto& action : deployment.steps[deployment.current_step - 1]) {
      current.push_back(json::object{{"action", action.action},
                                     {"app", action.app},
                                     {"readinessCheckResults", json::array{}}});
    }
  }
  return json::object{{"id", deployment.id},
                      {"version", deployment.version},
                      {"affectedApps", json::array(deployment.apps.begin(), deployment.apps.end())},
                      {"affectedPods", json::array{}},
                      {"steps", std::move(steps)},
                      {"currentActions", std::move(current)},
                      {"currentStep", deployment.current_step},
                      {"totalSteps", deployment.steps.size()}};
}

// ---- changes ----

void Scheduler::assign_service_ports(App& app, const App* previous) {
  for (size_t i = 0; i < app.port_definitions.size(); ++i) {
    PortDefinition& definition = app.port_definitions[i];
    if (definition.port != 0) {
      service_ports_used_.insert(definition.port);
      continue;
    }
    // Keep the service port the previous version was given for the same index.
    if (previous != nullptr && i < previous->port_definitions.size() &&
        previous->port_definitions[i].port != 0) {
      definition.port = previous->port_definitions[i].port;
      continue;
    }
    int64_t port = options_.service_port_base;
    while (service_ports_used_.count(port) != 0) ++port;
    service_ports_used_.insert(port);
    definition.port = port;
  }
}

void Scheduler::store_app(const App& app) {
  apps_[app.id] = app;
  auto& versions = versions_[app.id];
  versions[app.version] = app;
  driver_.save_app(app);
  driver_.save_version(app);
  while (versions.size() > options_.max_versions) {
    driver_.remove_version(app.id, versions.begin()->first);
    versions.erase(versions.begin());
  }
}

Scheduler::Change Scheduler::start_deployment(const App& target, std::optional<App> previous,
                                              std::vector<std::vector<DeploymentAction>> steps,
                                              bool stop) {
  Deployment deployment;
  deployment.version = target.version;
  deployment.apps = {target.id};
  deployment.steps = std::move(steps);
  if (stop) deployment.stopping.insert(target.id);
  if (previous) deployment.previous.emplace(target.id, std::move(*previous));
  return start_deployment(std::move(deployment));
}

Scheduler::Change Scheduler::start_deployment(Deployment deployment) {
  // A change to an app with a deployment in progress replaces that deployment (the API asks
  // for force=true before it gets here).
  std::set<std::string> conflicting;
  for (const std::string& app_id : deployment.apps) {
    if (const Deployment* other = deployment_of(app_id)) conflicting.insert(other->id);
  }
  for (const std::string& id : conflicting) {
    auto replaced = deployments_.find(id);
    unindex_deployment(replaced->second);
    mark_changed(replaced->second);
    driver_.remove_deployment(id);
    deployments_.erase(replaced);
  }
  deployment.id = new_id();
  deployment.current_step = 1;
  deployment.last_progress = clock_.now();
  deployment.index_steps();
  index_deployment(deployment);
  mark_changed(deployment);
  driver_.save_deployment(stored(deployment));
  emit("deployment_info",
       json::object{{"plan", deployment_json(deployment)},
                    {"currentStep",
                     json::object{{"actions", deployment_json(deployment)["currentActions"]}}}});
  Change change{deployment.id, deployment.version};
  deployments_[deployment.id] = std::move(deployment);
  converge_changed();
  return change;
}

Scheduler::Change Scheduler::deploy_group(std::vector<App> targets,
                                          const std::vector<std::string>& removals,
                                          std::vector<GroupSpec> groups,
                                          const std::vector<std::string>& removed_groups) {
  std::string latest;
  for (const GroupSpec& group : groups) {
    if (auto existing = groups_.find(group.id); existing != groups_.end()) {
      latest = std::max(latest, existing->second.version);
    }
  }
  for (const App& app : targets) {
    if (const App* existing = this->app(app.id)) latest = std::max(latest, existing->version);
  }
  for (const std::string& id : removals) {
    if (const App* existing = app(id)) latest = std::max(latest, existing->version);
  }
  Deployment deployment;
  deployment.version = timestamp(latest);
  deployment.steps = plan_group(targets, removals, groups, removed_groups);
  // As Marathon's plan holds the group tree before and after, the deployment keeps each group
  // definition it changes, so that a rollback restores the groups with the apps.
  auto defined = [&](const std::string& id) -> std::optional<GroupSpec> {
    auto found = groups_.find(id);
    if (found == groups_.end()) return std::nullopt;
    return found->second;
  };
  for (const std::string& id : removed_groups) {
    std::optional<GroupSpec> before = defined(id);
    if (!before) continue;
    deployment.groups[id] = GroupChange{std::move(before), std::nullopt};
    groups_.erase(id);
    driver_.remove_group(id);
  }
  for (GroupSpec& group : groups) {
    group.version = deployment.version;
    std::optional<GroupSpec> before = defined(group.id);
    if (!before || before->dependencies != group.dependencies) {
      deployment.groups[group.id] = GroupChange{std::move(before), group};
    }
    driver_.save_group(group);
    std::string id = group.id;
    groups_[id] = std::move(group);
  }
  std::set<std::string> removing;
  for (const std::string& id : removals) {
    const App* existing = app(id);
    if (existing == nullptr || !removing.insert(id).second) continue;
    deployment.apps.push_back(id);
    deployment.stopping.insert(id);
    deployment.previous.emplace(id, *existing);
  }
  for (App& target : targets) {
    auto existing = apps_.find(target.id);
    if (existing == apps_.end()) {
      target.version = deployment.version;
      target.last_scaling_at = target.version;
      target.last_config_change_at = target.version;
      assign_service_ports(target, nullptr);
      store_app(target);
      reset_backoff(target.id);
      deployment.apps.push_back(target.id);
      continue;
    }
    App previous = existing->second;
    assign_service_ports(target, &previous);
    // As Marathon: an app the group change leaves as it is takes no part in the deployment.
    if (!change_action(previous, target)) continue;
    bool config_change = previous.config_differs(target);
    target.version = deployment.version;
    target.last_config_change_at = config_change ? target.version : previous.last_config_change_at;
    target.last_scaling_at = target.version;
    store_app(target);
    if (config_change) reset_backoff(target.id);
    deployment.apps.push_back(target.id);
    deployment.previous.emplace(target.id, std::move(previous));
  }
  return start_deployment(std::move(deployment));
}

std::optional<std::string> Scheduler::change_action(const App& previous, const App& target) {
  bool config_change = previous.config_differs(target);
  if (!config_change && previous.instances == target.instances &&
      previous.dependencies == target.dependencies) {
    return std::nullopt;
  }
  return config_change ? "RestartApplication" : "ScaleApplication";
}

std::vector<std::vector<DeploymentAction>> Scheduler::plan_group(
    const std::vector<App>& targets, const std::vector<std::string>& removals,
    const std::vector<GroupSpec>& groups, const std::vector<std::string>& removed_groups) const {
  std::map<std::string, GroupSpec> groups_after = groups_;
  for (const std::string& id : removed_groups) groups_after.erase(id);
  for (const GroupSpec& group : groups) groups_after[group.id] = group;
  // Each app's own dependencies once the change is made (the apps it removes are still there
  // while they stop).
  std::map<std::string, const std::vector<std::string>*> own;
  for (const auto& [id, existing] : apps_) own[id] = &existing.dependencies;
  std::vector<DeploymentAction> stops;
  std::vector<DeploymentAction> starts;
  std::map<std::string, std::string> changes;  // app id -> ScaleApplication or RestartApplication
  std::set<std::string> removing;
  for (const std::string& id : removals) {
    if (app(id) == nullptr || !removing.insert(id).second) continue;
    stops.push_back({"StopApplication", id});
  }
  for (const App& target : targets) {
    const App* previous = app(target.id);
    if (previous == nullptr) {
      starts.push_back({"StartApplication", target.id});
      changes[target.id] = "ScaleApplication";
      own[target.id] = &target.dependencies;
      continue;
    }
    // The service ports the change would keep (assign_service_ports without taking any).
    App kept = target;
    for (size_t i = 0; i < kept.port_definitions.size(); ++i) {
      if (kept.port_definitions[i].port == 0 && i < previous->port_definitions.size()) {
        kept.port_definitions[i].port = previous->port_definitions[i].port;
      }
    }
    if (auto action = change_action(*previous, kept)) {
      changes[target.id] = *action;
      own[target.id] = &target.dependencies;
    }
  }
  // Layers by the longest chain of dependencies below each app (Marathon's
  // runSpecsGroupedByLongestPath): an app with none goes in the first, and every app after all
  // it depends on, its own dependencies and its groups' (an app or every app of a group). A
  // dependency on an app outside the cluster is no constraint.
  std::set<std::string> app_ids;
  for (const auto& [id, ignored] : own) app_ids.insert(id);
  std::map<std::string, size_t> depth;
  std::set<std::string> visiting;
  std::function<size_t(const std::string&)> longest = [&](const std::string& id) -> size_t {
    if (auto known = depth.find(id); known != depth.end()) return known->second;
    auto found = own.find(id);
    if (found == own.end() || !visiting.insert(id).second) return 0;
    size_t below = 0;
    for (const std::string& dependency :
         dependencies_of(id, *found->second, app_ids, groups_after)) {
      below = std::max(below, longest(dependency));
    }
    visiting.erase(id);
    return depth[id] = below + 1;
  };
  std::map<size_t, std::vector<DeploymentAction>> layers;
  for (const auto& [id, action] : changes) layers[longest(id)].push_back({action, id});
  std::vector<std::vector<DeploymentAction>> steps;
  if (!stops.empty()) steps.push_back(std::move(stops));
  if (!starts.empty()) steps.push_back(std::move(starts));
  for (auto& [ignored, actions] : layers) steps.push_back(std::move(actions));
  return steps;
}

std::optional<std::string> Scheduler::dependency_cycle(const std::vector<App>& targets,
                                                       const std::vector<std::string>& removals,
                                                       const std::vector<GroupSpec>& groups) const {
  std::map<std::string, const std::vector<std::string>*> own;
  for (const auto& [id, app] : apps_) own[id] = &app.dependencies;
  for (const std::string& id : removals) own.erase(id);
  for (const App& app : targets) own[app.id] = &app.dependencies;
  std::map<std::string, GroupSpec> all_groups = groups_;
  for (const GroupSpec& group : groups) all_groups[group.id] = group;
  std::set<std::string> app_ids;
  for (const auto& [id, ignored] : own) app_ids.insert(id);
  std::map<std::string, std::set<std::string>> graph;
  for (const auto& [id, dependencies] : own) {
    graph[id] = dependencies_of(id, *dependencies, app_ids, all_groups);
  }
  // Depth-first, colouring each app: 1 while on the path, 2 once done.
  std::map<std::string, int> colour;
  std::function<bool(const std::string&)> cyclic = [&](const std::string& id) {
    auto node = graph.find(id);
    if (node == graph.end()) return false;
    int& mark = colour[id];
    if (mark == 1) return true;
    if (mark == 2) return false;
    mark = 1;
    for (const std::string& dependency : node->second) {
      if (cyclic(dependency)) return true;
    }
    colour[id] = 2;
    return false;
  };
  for (const auto& [id, ignored] : graph) {
    if (cyclic(id)) return id;
  }
  return std::nullopt;
}

Scheduler::Change Scheduler::create_app(App app) {
  app.version = timestamp();
  app.last_scaling_at = app.version;
  app.last_config_change_at = app.version;
  assign_service_ports(app, nullptr);
  store_app(app);
  reset_backoff(app.id);
  std::vector<std::vector<DeploymentAction>> steps{{{"StartApplication", app.id}}};
  if (app.instances > 0) steps.push_back({{"ScaleApplication", app.id}});
  return start_deployment(app, std::nullopt, std::move(steps));
}

Scheduler::Change Scheduler::update_app(App app) {
  auto existing = apps_.find(app.id);
  if (existing == apps_.end()) return create_app(std::move(app));
  App previous = existing->second;
  app.version = timestamp(previous.version);
  assign_service_ports(app, &previous);
  bool config_change = previous.config_differs(app);
  app.last_config_change_at = config_change ? app.version : previous.last_config_change_at;
  app.last_scaling_at = app.version;
  store_app(app);
  std::vector<std::vector<DeploymentAction>> steps;
  if (config_change) {
    reset_backoff(app.id);
    steps.push_back({{"RestartApplication", app.id}});
  } else {
    steps.push_back({{"ScaleApplication", app.id}});
  }
  return start_deployment(app, previous, std::move(steps));
}

Scheduler::Change Scheduler::restart_app(const std::string& app_id) {
  App updated = apps_.at(app_id);
  App previous = updated;
  updated.version = timestamp(previous.version);
  updated.last_config_change_at = updated.version;
  store_app(updated);
  return start_deployment(updated, previous, {{{"RestartApplication", app_id}}});
}

Scheduler::Change Scheduler::delete_app(const std::string& app_id) {
  App target = apps_.at(app_id);
  App previous = target;
  target.version = timestamp(previous.version);
  return start_deployment(target, previous, {{{"StopApplication", app_id}}}, true);
}

std::optional<Scheduler::Change> Scheduler::cancel_deployment(const std::string& id, bool force) {
  auto it = deployments_.find(id);
  if (it == deployments_.end()) return std::nullopt;
  Deployment deployment = it->second;
  unindex_deployment(deployment);
  mark_changed(deployment);
  driver_.remove_deployment(id);
  deployments_.erase(it);
  emit("deployment_failed", json::object{{"id", deployment.id},
                                         {"plan", deployment_json(deployment)},
                                         {"reason", force ? "canceled" : "rolled back"}});
  if (force) return Change{"", deployment.version};
  return roll_back(deployment);
}

Scheduler::Change Scheduler::roll_back(const Deployment& deployment) {
  // One app's change goes back as that app's change; a group's as one group deployment that
  // restores every app it changed or removed, removes the apps it created and reverts the group
  // definitions it changed.
  if (deployment.apps.size() == 1 && deployment.groups.empty()) {
    const std::string& app_id = deployment.apps.front();
    auto previous = deployment.previous.find(app_id);
    if (previous != deployment.previous.end()) return update_app(previous->second);
    if (apps_.count(app_id) == 0) return Change{"", deployment.version};
    return delete_app(app_id);
  }
  std::vector<App> targets;
  std::vector<std::string> removals;
  for (const std::string& app_id : deployment.apps) {
    auto previous = deployment.previous.find(app_id);
    if (previous != deployment.previous.end()) {
      targets.push_back(previous->second);
    } else if (apps_.count(app_id) != 0) {
      removals.push_back(app_id);
    }
  }
  std::map<std::string, GroupSpec> reverted =
      reverted_groups(deployment, std::set<std::string>(removals.begin(), removals.end()));
  std::vector<GroupSpec> restored;
  for (auto& [id, group] : reverted) {
    auto now = groups_.find(id);
    if (now == groups_.end() || now->second.dependencies != group.dependencies) {
      restored.push_back(std::move(group));
    }
  }
  std::vector<std::string> dropped;
  for (const auto& [id, ignored] : groups_) {
    if (reverted.count(id) == 0) dropped.push_back(id);
  }
  return deploy_group(std::move(targets), removals, std::move(restored), dropped);
}

std::map<std::string, GroupSpec> Scheduler::reverted_groups(
    const Deployment& deployment, const std::set<std::string>& leaving) const {
  std::map<std::string, GroupSpec> result = groups_;
  auto add_missing = [](std::vector<std::string>& to, const std::vector<std::string>& from) {
    for (const std::string& id : from) {
      if (std::find(to.begin(), to.end(), id) == to.end()) to.push_back(id);
    }
  };
  auto remove_all = [](std::vector<std::string>& from, const std::vector<std::string>& gone) {
    std::erase_if(from, [&](const std::string& id) {
      return std::find(gone.begin(), gone.end(), id) != gone.end();
    });
  };
  auto holds_anything = [&](const std::string& group_id) {
    for (const auto& [id, ignored] : apps_) {
      if (id != group_id && PathId::within(id, group_id) && leaving.count(id) == 0) return true;
    }
    return std::any_of(result.begin(), result.end(), [&](const auto& entry) {
      return entry.first != group_id && PathId::within(entry.first, group_id);
    });
  };
  // Inner groups first (ids in reverse order put "/a/b" before "/a"), so that a created group
  // whose created subgroups go is found empty.
  for (auto it = deployment.groups.rbegin(); it != deployment.groups.rend(); ++it) {
    const std::string& id = it->first;
    const GroupChange& change = it->second;
    auto current = result.find(id);
    if (change.before) {
      // Removed or changed: what it lost comes back, what it gained goes (changes made since
      // by others are kept).
      GroupSpec reverted =
          current != result.end() ? current->second : GroupSpec{id, {}, change.before->version};
      std::vector<std::string> lost = change.before->dependencies;
      std::vector<std::string> gained;
      if (change.after) {
        remove_all(lost, change.after->dependencies);
        gained = change.after->dependencies;
        remove_all(gained, change.before->dependencies);
      }
      remove_all(reverted.dependencies, gained);
      add_missing(reverted.dependencies, lost);
      result[id] = std::move(reverted);
    } else if (change.after && current != result.end()) {
      // Created: it goes unless something was put in it or its dependencies were changed since.
      if (!holds_anything(id) && current->second.dependencies == change.after->dependencies) {
        result.erase(current);
      } else {
        remove_all(current->second.dependencies, change.after->dependencies);
      }
    }
  }
  return result;
}

std::vector<Task> Scheduler::kill_tasks(const std::vector<std::string>& task_ids, bool scale,
                                        std::vector<Change>* scalings) {
  std::vector<Task> out;
  std::map<std::string, int64_t> per_app;
  for (const std::string& id : task_ids) {
    auto it = tasks_.find(id);
    if (it == tasks_.end()) continue;
    out.push_back(it->second);
    ++per_app[it->second.app_id];
    kill(it->second);
  }
  if (scale) {
    for (const auto& [app_id, killed] : per_app) {
      auto found = apps_.find(app_id);
      if (found == apps_.end()) continue;
      App previous = found->second;
      App scaled = previous;
      scaled.instances = std::max<int64_t>(0, scaled.instances - killed);
      scaled.version = timestamp(scaled.version);
      scaled.last_scaling_at = scaled.version;
      store_app(scaled);
      // As Marathon: the lower count is a deployment of its own, listed and rolled back like any.
      Change change = start_deployment(scaled, previous, {{{"ScaleApplication", app_id}}});
      if (scalings != nullptr) scalings->push_back(std::move(change));
    }
  }
  converge();
  return out;
}

// ---- tasks ----

void Scheduler::kill(Task& task) {
  if (state::terminal(task.state)) return;
  task.kill_sent = true;
  driver_.kill(task.id, task.agent_id);
}

std::vector<Task*> Scheduler::active_tasks(const std::string& app_id) {
  std::vector<Task*> out;
  for (Task* task : app_tasks(app_id)) {
    if (task->kill_sent || task->replaced) continue;
    if (state::terminal(task->state) || task->state == state::kKilling) continue;
    out.push_back(task);
  }
  return out;
}

std::vector<Placement> Scheduler::placements(const std::string& app_id) const {
  std::vector<Placement> out;
  for (const Task* task : tasks_of(app_id)) {
    if (task->kill_sent || task->replaced || state::terminal(task->state)) continue;
    out.push_back(task->placement());
  }
  return out;
}

void Scheduler::record_failure(const std::string& app_id) {
  const App* owner = app(app_id);
  if (owner == nullptr) return;
  Backoff& backoff = backoff_[app_id];
  backoff.delay_seconds = backoff.delay_seconds <= 0
                              ? owner->backoff_seconds
                              : backoff.delay_seconds * owner->backoff_factor;
  backoff.delay_seconds = std::min(backoff.delay_seconds, owner->max_launch_delay_seconds);
  ++backoff.failures;
  auto delay = std::chrono::milliseconds(static_cast<int64_t>(backoff.delay_seconds * 1000));
  backoff.until = clock_.now() + delay;
  auto until_wall = clock_.wall_now() + delay;
  driver_.save_backoff(StoredBackoff{
      app_id, backoff.delay_seconds, backoff.failures,
      std::chrono::duration_cast<std::chrono::milliseconds>(until_wall.time_since_epoch())
          .count()});
  schedule_revive(backoff.until);
}

void Scheduler::reset_backoff(const std::string& app_id) {
  if (backoff_.erase(app_id) == 0) return;
  driver_.remove_backoff(app_id);
  if (waiting(app_id) > 0) driver_.revive();
}

void Scheduler::adopt_backoff(const StoredBackoff& stored) {
  if (apps_.count(stored.app_id) == 0) return;
  auto now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(clock_.wall_now().time_since_epoch())
          .count();
  Backoff& backoff = backoff_[stored.app_id];
  backoff.delay_seconds = stored.delay_seconds;
  backoff.failures = stored.failures;
  // What is left of the delay counts from now on the monotonic clock; the delay itself is kept
  // so that the next failure grows it further.
  auto left = std::chrono::milliseconds(std::max<int64_t>(0, stored.until_epoch_ms - now_ms));
  backoff.until = clock_.now() + left;
  if (left.count() > 0) schedule_revive(backoff.until);
}

void Scheduler::report_undecided(const App& app, const Constraint& constraint,
                                 const Placement& placement) {
  auto [reported, first] = undecided_reported_.try_emplace(app.id, app.version);
  if (!first && reported->second == app.version) return;
  reported->second = app.version;
  std::optional<std::string> value = placement.field(constraint.field);
  driver_.warn("app " + sdk::quote(app.id) + ": its " + constraint.op + " pattern on " +
               sdk::quote(constraint.field) + " was too costly to match against the value (" +
               std::to_string(value ? value->size() : 0) + " characters) on agent " +
               sdk::quote(placement.agent_id) +
               "; the constraint is taken as not met there (said once per app version)");
}

void Scheduler::record_unused(OfferStatistics& stats, const protocol::scheduler::Offer& offer,
                              std::vector<RejectReason> reasons, const std::string& now_text) {
  ++stats.unused;
  stats.last_unused_at = now_text;
  // As Marathon's funnel: an offer counts once, under its first reason.
  if (!reasons.empty()) ++stats.declined[*std::min_element(reasons.begin(), reasons.end())];
  if (stats.last_unused.count(offer.agent_id) == 0 &&
      stats.last_unused.size() >= kMaxUnusedOffers) {
    auto oldest =
        std::min_element(stats.last_unused.begin(), stats.last_unused.end(),
                         [](const auto& a, const auto& b) { return a.second.at < b.second.at; });
    stats.last_unused.erase(oldest);
  }
  stats.last_unused[offer.agent_id] = UnusedOffer{offer, std::move(reasons), now_text};
}

void Scheduler::schedule(Monotonic::time_point at, std::function<void()> action) {
  auto delay = std::chrono::ceil<std::chrono::milliseconds>(at - clock_.now());
  auto id = std::make_shared<sdk::Clock::TimerId>(0);
  *id = clock_.after(std::max(delay, std::chrono::milliseconds(0)),
                     [this, id, action = std::move(action)] {
                       revive_timers_.erase(*id);
                       action();
                     });
  revive_timers_.insert(*id);
}

void Scheduler::schedule_revive(Monotonic::time_point at) {
  schedule(at, [this] {
    driver_.revive();
    converge();
  });
}

void Scheduler::schedule_backoff_check(const std::string& app_id, Monotonic::time_point at) {
  if (!backoff_checks_.insert(app_id).second) return;
  schedule(at, [this, app_id] {
    backoff_checks_.erase(app_id);
    mark_changed(app_id);
    converge_changed();
  });
}

void Scheduler::task_terminal(Task& task, const protocol::TaskStatus& status) {
  bool expected = task.kill_sent || task.replaced;
  bool failed = !expected && (status.state == state::kFailed || status.state == state::kFinished ||
                              status.state == state::kError || status.state == state::kDropped);
  if (!expected) {
    last_failures_[task.app_id] = json::object{
        {"appId", task.app_id},    {"host", task.hostname},   {"message", status.message},
        {"state", status.state},   {"taskId", task.id},       {"timestamp", timestamp()},
        {"version", task.version}, {"slaveId", task.agent_id}};
  }
  if (failed) record_failure(task.app_id);
  driver_.remove_task(task.id);
  if (auto index = by_app_.find(task.app_id); index != by_app_.end()) {
    index->second.erase(task.id);
    if (index->second.empty()) by_app_.erase(index);
  }
  tasks_.erase(task.id);
}

void Scheduler::on_update(const protocol::TaskStatus& status) {
  auto it = tasks_.find(status.task_id);
  if (it == tasks_.end()) {
    // A task this scheduler does not know (launched by a scheduler whose record was lost):
    // Marathon kills what it does not own.
    if (!ends_task(status.state) && !status.agent_id.empty()) {
      driver_.kill(status.task_id, status.agent_id);
    }
    return;
  }
  Task& task = it->second;
  std::string previous_state = task.state;
  if (status.state == state::kUnreachable) {
    if (!task.unreachable_since) task.unreachable_since = clock_.now();
    task.state = status.state;
  } else if (!ends_task(status.state)) {
    task.unreachable_since.reset();
    task.inactive_timer_set = false;
    if (status.state == state::kRunning && task.replaced) {
      // Its agent came back after the task was replaced: the replacement stays.
      task.state = status.state;
      kill(task);
    } else {
      task.state = status.state;
    }
    if (task.running() && task.started_at.empty()) task.started_at = timestamp();
    if (task.running() && !task.running_since) task.running_since = clock_.now();
  }
  const App* owner = app(task.app_id);
  json::object event{{"slaveId", task.agent_id},
                     {"taskId", task.id},
                     {"taskStatus", status.state},
                     {"message", status.message},
                     {"appId", task.app_id},
                     {"host", task.hostname},
                     {"ipAddresses", json::array{}},
                     {"version", owner != nullptr ? owner->version : task.version}};
  json::array ports;
  for (uint64_t port : task.host_ports) ports.emplace_back(port);
  event["ports"] = std::move(ports);
  mark_changed(task.app_id);
  if (ends_task(status.state)) {
    task_terminal(task, status);
  } else if (previous_state != task.state) {
    driver_.save_task(stored(task));
  }
  emit("status_update_event", std::move(event));
  converge_changed();
}

void Scheduler::on_agent_lost(const std::string& agent_id) {
  // The master reports the agent's tasks TASK_LOST as well; this covers a master that does not.
  std::vector<std::string> lost;
  for (const auto& [id, task] : tasks_) {
    if (task.agent_id == agent_id) lost.push_back(id);
  }
  for (const std::string& id : lost) {
    protocol::TaskStatus status;
    status.task_id = id;
    status.agent_id = agent_id;
    status.state = state::kLost;
    status.message = "agent '" + agent_id + "' was removed";
    on_update(status);
  }
}

void Scheduler::on_health(const std::string& task_id, size_t index, bool alive,
                          const std::string& cause) {
  auto it = tasks_.find(task_id);
  if (it == tasks_.end()) return;
  Task& task = it->second;
  const App* owner = app(task.app_id);
  if (owner == nullptr || index >= owner->health_checks.size()) return;
  if (task.health.size() < owner->health_checks.size()) {
    task.health.resize(owner->health_checks.size());
  }
  bool was_healthy = healthy(task);
  HealthResult& result = task.health[index];
  bool changed =
      result.alive != alive || (result.last_success.empty() && result.last_failure.empty());
  std::string now = timestamp();
  if (alive) {
    result.alive = true;
    result.consecutive_failures = 0;
    if (result.first_success.empty()) result.first_success = now;
    result.last_success = now;
  } else {
    result.alive = false;
    ++result.consecutive_failures;
    result.last_failure = now;
    result.last_failure_cause = cause;
  }
  if (changed) {
    emit("health_status_changed_event", json::object{{"appId", task.app_id},
                                                     {"taskId", task.id},
                                                     {"instanceId", task.id},
                                                     {"version", task.version},
                                                     {"alive", alive}});
  }
  int64_t limit = owner->health_checks[index].max_consecutive_failures;
  if (!alive && limit > 0 && result.consecutive_failures >= limit && !task.kill_sent) {
    emit("unhealthy_task_kill_event", json::object{{"appId", task.app_id},
                                                   {"taskId", task.id},
                                                   {"version", task.version},
                                                   {"reason", cause},
                                                   {"host", task.hostname},
                                                   {"slaveId", task.agent_id}});
    record_failure(task.app_id);
    kill(task);
    mark_changed(task.app_id);
  }
  if (was_healthy != healthy(task)) mark_changed(task.app_id);
  converge_changed();
}

// ---- offers ----

void Scheduler::on_offers(const std::vector<protocol::scheduler::Offer>& offers) {
  converge_changed();
  // Real time, as converge_changed() measures it.
  auto round_started = std::chrono::steady_clock::now();
  struct Remaining {
    const protocol::scheduler::Offer* offer;
    OfferView view;
    std::vector<protocol::TaskInfo> tasks;
  };
  std::vector<Remaining> remaining;
  for (const auto& offer : offers) {
    OfferView view;
    view.placement.agent_id = offer.agent_id;
    view.placement.hostname = offer.hostname;
    for (const auto& attribute : offer.attributes) {
      view.placement.attributes[attribute.name] = attribute.value;
    }
    view.role = offer.role.empty() ? "*" : offer.role;
    view.available = offer.resources;
    remaining.push_back({&offer, std::move(view), {}});
  }
  std::string now_text = timestamp();
  auto now = clock_.now();
  bool wanted_any = false;
  for (auto& [app_id, count] : to_launch_) {
    if (count <= 0) continue;
    const App* owner = app(app_id);
    if (owner == nullptr) continue;
    auto delay = backoff_.find(app_id);
    if (delay != backoff_.end() && delay->second.until > now) continue;
    wanted_any = true;
    OfferStatistics& stats = statistics_[app_id];
    std::vector<Placement> placed = placements(app_id);
    // Statistics: every offer is judged once per round against the app as it stands.
    for (const Remaining& candidate : remaining) {
      ++stats.processed;
      const auto& resources = candidate.view.available;
      if (std::make_pair(resources.scalar("cpus"), resources.scalar("mem")) >
          std::make_pair(stats.largest.scalar("cpus"), stats.largest.scalar("mem"))) {
        stats.largest = resources;
      }
      MatchResult judged = match_offer(*owner, candidate.view, placed);
      if (judged.undecided) report_undecided(*owner, *judged.undecided, candidate.view.placement);
      if (!judged.match)
        record_unused(stats, *candidate.offer, std::move(judged.reasons), now_text);
    }
    while (count > 0) {
      // Spread: the offer whose agent runs the fewest instances of this app; pack: the first
      // that fits.
      Remaining* best = nullptr;
      size_t best_load = SIZE_MAX;
      std::optional<Match> best_match;
      for (Remaining& candidate : remaining) {
        MatchResult result = match_offer(*owner, candidate.view, placed);
        if (!result.match) continue;
        size_t load = static_cast<size_t>(std::count_if(
            placed.begin(), placed.end(),
            [&](const Placement& p) { return p.agent_id == candidate.view.placement.agent_id; }));
        if (best == nullptr || (options_.spread && load < best_load)) {
          best = &candidate;
          best_load = load;
          best_match = std::move(result.match);
          if (!options_.spread) break;
        }
      }
      if (best == nullptr) break;
      Task task;
      task.id = new_task_id(app_id);
      task.app_id = app_id;
      task.agent_id = best->view.placement.agent_id;
      task.hostname = best->view.placement.hostname;
      task.attributes = best->view.placement.attributes;
      task.host_ports = best_match->host_ports;
      for (const auto& definition : owner->port_definitions) {
        task.service_ports.push_back(definition.port);
      }
      task.version = owner->version;
      task.config_version = owner->last_config_change_at;
      task.staged_at = now_text;
      task.sequence = ++sequence_;
      best->view.available -= best_match->resources;

      protocol::TaskInfo info;
      info.task_id = task.id;
      info.name = PathId::safe(app_id);
      info.agent_id = task.agent_id;
      info.resources = best_match->resources;
      if (owner->cmd && !owner->cmd->empty()) {
        info.command.shell = true;
        info.command.value = *owner->cmd;
      } else if (owner->args && !owner->args->empty()) {
        info.command.shell = false;
        info.command.value = owner->args->front();
        info.command.arguments = *owner->args;
      }
      info.command.environment = task_environment(*owner, task);
      if (owner->user) info.command.user = *owner->user;
      if (owner->docker_image) {
        info.container.type = "DOCKER";
        info.container.image = *owner->docker_image;
      }
      if (owner->task_kill_grace_period_seconds) {
        info.kill_grace_seconds = static_cast<double>(*owner->task_kill_grace_period_seconds);
      }
      info.labels = owner->labels;
      add_command_checks(*owner, options_.command_executor, info);
      best->tasks.push_back(std::move(info));
      placed.push_back(task.placement());
      stats.last_used_at = now_text;
      driver_.save_task(stored(task));
      by_app_[task.app_id].insert(task.id);
      tasks_[task.id] = std::move(task);
      mark_changed(app_id);
      --count;
    }
  }
  for (Remaining& candidate : remaining) {
    if (!candidate.tasks.empty()) {
      driver_.launch({candidate.offer->offer_id}, candidate.tasks);
    } else {
      driver_.decline({candidate.offer->offer_id},
                      wanted_any ? options_.refuse_unfit_seconds : options_.refuse_idle_seconds);
    }
  }
  offer_round_statistics_.add(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - round_started).count());
  converge_changed();
}

// ---- converging ----

void Scheduler::converge() {
  for (const auto& [id, ignored] : apps_) changed_apps_.insert(id);
  converge_changed();
}

void Scheduler::converge_changed() {
  if (converging_) return;
  converging_ = true;
  // Real time, not clock_: this measures the work of the call, which a test's ManualClock would
  // not see.
  auto started = std::chrono::steady_clock::now();
  // Each pass can finish a deployment step and so release the apps of the next one; a plan has
  // at most one step per app and two more.
  for (size_t pass = 0; pass <= apps_.size() + 2; ++pass) {
    std::set<std::string> changed;
    changed.swap(changed_apps_);
    for (const std::string& id : changed) converge_app(id);
    if (!advance_deployments() && changed_apps_.empty()) break;
  }
  converge_statistics_.add(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  converging_ = false;
}

void Scheduler::converge_app(const std::string& app_id) {
  settled_.erase(app_id);
  auto found = apps_.find(app_id);
  if (found == apps_.end()) {
    progress_.erase(app_id);
    return;
  }
  const App& app = found->second;
  Deployment* deployment = nullptr;
  if (auto indexed = deployment_by_app_.find(app_id); indexed != deployment_by_app_.end()) {
    if (auto it = deployments_.find(indexed->second); it != deployments_.end()) {
      deployment = &it->second;
    }
  }
  auto now = clock_.now();

  // Tasks unreachable for longer than the app allows are counted out and replaced.
  std::vector<Task*> all = app_tasks(app_id);
  for (Task* entry : all) {
    Task& task = *entry;
    if (!task.unreachable_since || task.replaced) continue;
    if (app.unreachable_strategy.disabled) continue;
    auto allowed = std::chrono::seconds(app.unreachable_strategy.inactive_after_seconds);
    if (now - *task.unreachable_since >= allowed) {
      task.replaced = true;
    } else if (!task.inactive_timer_set) {
      task.inactive_timer_set = true;
      schedule_revive(*task.unreachable_since + allowed);
    }
  }

  std::vector<Task*> active = active_tasks(app_id);
  int64_t previous_wanted = waiting(app_id);
  int64_t wanted = 0;

  // An app whose step of a group deployment has not come yet is left as it is.
  if (deployment != nullptr && deployment->step_of(app_id) > deployment->current_step) {
    to_launch_.erase(app_id);
    queued_since_.erase(app_id);
    return;
  }

  if (deployment != nullptr && deployment->stopping.count(app_id) != 0) {
    for (Task* task : active) kill(*task);
    bool any_left =
        std::any_of(all.begin(), all.end(), [](const Task* task) { return !task->replaced; });
    to_launch_.erase(app_id);
    queued_since_.erase(app_id);
    if (!any_left) {
      App removed = app;
      driver_.remove_app(app_id);
      if (auto versions = versions_.find(app_id); versions != versions_.end()) {
        for (const auto& [version, ignored] : versions->second) {
          driver_.remove_version(app_id, version);
        }
        versions_.erase(versions);
      }
      for (const auto& definition : removed.port_definitions) {
        service_ports_used_.erase(definition.port);
      }
      apps_.erase(found);
      progress_.erase(app_id);
      reset_backoff(app_id);
      statistics_.erase(app_id);
      undecided_reported_.erase(app_id);
      last_failures_.erase(app_id);
      emit("app_terminated_event", json::object{{"appId", app_id}});
    }
    return;
  }

  std::vector<Task*> current;
  std::vector<Task*> old;
  for (Task* task : active) {
    (task->config_version == app.last_config_change_at ? current : old).push_back(task);
  }
  auto youngest_first = [&](Task* a, Task* b) {
    return app.kill_selection == KillSelection::youngest_first ? a->sequence > b->sequence
                                                               : a->sequence < b->sequence;
  };
  // Tasks not yet running go before running ones, whatever the selection.
  auto kill_order = [&](Task* a, Task* b) {
    if (a->running() != b->running()) return !a->running();
    return youngest_first(a, b);
  };
  int64_t target = app.instances;
  if (old.empty()) {
    auto size = static_cast<int64_t>(current.size());
    if (size > target) {
      std::sort(current.begin(), current.end(), kill_order);
      for (int64_t i = 0; i < size - target; ++i) kill(*current[static_cast<size_t>(i)]);
    } else {
      wanted = target - size;
    }
  } else {
    auto min_healthy = static_cast<int64_t>(std::ceil(
        static_cast<double>(target) * app.upgrade_strategy.minimum_health_capacity - 1e-9));
    auto max_total = static_cast<int64_t>(std::floor(
        static_cast<double>(target) * (1.0 + app.upgrade_strategy.maximum_over_capacity) + 1e-9));
    int64_t new_healthy = 0;
    for (Task* task : current) new_healthy += healthy(*task) ? 1 : 0;
    int64_t old_healthy = 0;
    for (Task* task : old) old_healthy += healthy(*task) ? 1 : 0;
    // Old tasks that are not healthy count for nothing: they go first.
    std::sort(old.begin(), old.end(), [&](Task* a, Task* b) {
      if (healthy(*a) != healthy(*b)) return !healthy(*a);
      return youngest_first(a, b);
    });
    size_t killed = 0;
    int64_t healthy_total = new_healthy + old_healthy;
    for (Task* task : old) {
      bool is_healthy = healthy(*task);
      bool surplus = new_healthy >= target;
      if (!is_healthy || surplus || healthy_total - 1 >= min_healthy) {
        if (is_healthy) --healthy_total;
        kill(*task);
        ++killed;
      }
    }
    // Tasks being killed still hold their resources: they count against maximumOverCapacity
    // until they are gone.
    auto existing =
        static_cast<int64_t>(std::count_if(all.begin(), all.end(), [](const Task* task) {
          return !task->replaced && !state::terminal(task->state);
        }));
    auto old_left = static_cast<int64_t>(old.size() - killed);
    auto current_count = static_cast<int64_t>(current.size());
    auto pending_kills = existing - current_count - old_left;
    wanted = std::max<int64_t>(0, std::min(target - current_count, max_total - existing));
    // Neither room to start nor health to spare (minimumHealthCapacity 1 with
    // maximumOverCapacity 0): one old task goes, as Marathon does, or nothing would move.
    bool in_flight =
        std::any_of(current.begin(), current.end(), [&](Task* task) { return !healthy(*task); });
    if (wanted == 0 && pending_kills == 0 && !in_flight && old_left > 0 && current_count < target) {
      kill(*old.back());
    }
  }

  to_launch_[app_id] = wanted;
  if (wanted > 0 && previous_wanted == 0) {
    queued_since_[app_id] = timestamp();
    driver_.revive();
  }
  if (wanted == 0) {
    to_launch_.erase(app_id);
    queued_since_.erase(app_id);
  }

  // A run long and healthy enough resets the backoff; until one is, the app is looked at
  // again when the first healthy run will be long enough.
  if (auto backoff = backoff_.find(app_id); backoff != backoff_.end()) {
    std::optional<Monotonic::time_point> next_check;
    bool reset = false;
    for (const Task* task : current) {
      if (!healthy(*task) || !task->running_since) continue;
      auto long_enough = *task->running_since + options_.backoff_reset_after;
      if (now >= long_enough) {
        reset = true;
        break;
      }
      next_check = std::min(next_check.value_or(long_enough), long_enough);
    }
    if (reset) {
      reset_backoff(app_id);
    } else if (next_check) {
      schedule_backoff_check(app_id, *next_check);
    }
  }

  if (deployment == nullptr) return;
  int64_t current_healthy = 0;
  for (Task* task : current) current_healthy += healthy(*task) ? 1 : 0;
  bool old_left = std::any_of(all.begin(), all.end(), [&](const Task* task) {
    return task->config_version != app.last_config_change_at && !task->replaced;
  });
  auto current_count = static_cast<int64_t>(current.size());
  bool extra =
      std::any_of(all.begin(), all.end(), [](const Task* task) { return task->kill_sent; });
  std::string progress = std::to_string(current_healthy) + "/" + std::to_string(current_count) +
                         "/" + std::to_string(old_left);
  // A change in an app of the current step is the deployment's progress (the deadline counts
  // from the last one).
  std::string& last = progress_[app_id];
  if (last != progress && deployment->step_of(app_id) == deployment->current_step) {
    deployment->last_progress = now;
  }
  last = std::move(progress);
  if (!old_left && !extra && current_count == target && current_healthy == target) {
    settled_.insert(app_id);
  }
}

bool Scheduler::advance_deployments() {
  bool advanced = false;
  auto now = clock_.now();
  std::vector<std::string> ids;
  for (const auto& [id, deployment] : deployments_) ids.push_back(id);
  for (const std::string& id : ids) {
    auto found = deployments_.find(id);
    if (found == deployments_.end()) continue;
    Deployment& deployment = found->second;
    auto done = [&](const DeploymentAction& action) {
      if (action.action == "StartApplication") return true;
      if (action.action == "StopApplication") return apps_.count(action.app) == 0;
      return settled_.count(action.app) != 0 || apps_.count(action.app) == 0;
    };
    bool moved = false;
    while (deployment.current_step <= deployment.steps.size()) {
      const auto& actions = deployment.steps[deployment.current_step - 1];
      while (deployment.done_actions < actions.size() && done(actions[deployment.done_actions])) {
        ++deployment.done_actions;
      }
      if (deployment.done_actions < actions.size()) break;
      // Each was done when it was reached; the step is done when all are at once.
      auto undone = std::find_if_not(actions.begin(), actions.end(), done);
      if (undone != actions.end()) {
        deployment.done_actions = static_cast<size_t>(undone - actions.begin());
        break;
      }
      ++deployment.current_step;
      deployment.done_actions = 0;
      moved = true;
    }
    if (deployment.current_step > deployment.steps.size()) {
      deployment.current_step = std::max<size_t>(deployment.steps.size(), 1);
      finish_deployment(id, true, "");
      continue;
    }
    if (moved) {
      // The next step's apps were left as they were until now.
      mark_changed(deployment);
      deployment.last_progress = now;
      driver_.save_deployment(stored(deployment));
      advanced = true;
    }
    if (options_.deployment_deadline.count() > 0 &&
        now - deployment.last_progress >= options_.deployment_deadline) {
      std::string reason = "no progress for " +
                           std::to_string(options_.deployment_deadline.count() / 1000) +
                           " s: rolled back";
      Deployment copy = deployment;
      finish_deployment(id, false, reason);
      roll_back(copy);
      advanced = true;
    }
  }
  return advanced;
}

void Scheduler::finish_deployment(const std::string& id, bool success, const std::string& reason) {
  auto it = deployments_.find(id);
  if (it == deployments_.end()) return;
  Deployment done = std::move(it->second);
  unindex_deployment(done);
  mark_changed(done);
  driver_.remove_deployment(done.id);
  deployments_.erase(it);
  json::object body{{"id", done.id}, {"plan", deployment_json(done)}};
  if (!reason.empty()) body["reason"] = reason;
  emit(success ? "deployment_success" : "deployment_failed", std::move(body));
}

}  // namespace tessera::marathon

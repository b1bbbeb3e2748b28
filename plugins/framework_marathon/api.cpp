#include "api.h"

#include <algorithm>
#include <set>
#include <string_view>
#include <variant>

#include "tessera/sdk/http/message.h"

namespace tessera::marathon {

namespace json = boost::json;
namespace http = sdk::http;

namespace {

// The most dependencies one group may name (each costs a scan of the apps at every group change).
constexpr size_t kMaxGroupDependencies = 256;

Reply json_reply(unsigned status, json::value body) {
  Reply reply;
  reply.status = status;
  reply.body = std::move(body);
  return reply;
}

Reply message(unsigned status, const std::string& text) {
  return json_reply(status, json::object{{"message", text}});
}

Reply unknown_app(const std::string& id) { return message(404, "App '" + id + "' does not exist"); }

// As Marathon's TasksResource and AppTasksResource: a kill cannot both scale and wipe.
std::optional<Reply> scale_and_wipe(const Query& query) {
  if (!query_flag(query, "scale") || !query_flag(query, "wipe")) return std::nullopt;
  return message(400, "You cannot use scale and wipe at the same time.");
}

const std::string& id_of(const std::string& id) { return id; }
template <typename T>
const std::string& id_of(const std::pair<const std::string, T>& entry) {
  return entry.first;
}

// Whether `ids` (a set of ids, or a map by id) holds an id strictly below `id` for which `keep`
// holds. Ids sort by characters, so those below "/a" are together from "/a/" on.
template <typename Ids, typename Keep>
bool any_below(const Ids& ids, const std::string& id, Keep keep) {
  std::string prefix = id + "/";
  for (auto it = ids.lower_bound(prefix); it != ids.end(); ++it) {
    const std::string& other = id_of(*it);
    if (other.compare(0, prefix.size(), prefix) != 0) break;
    if (keep(other)) return true;
  }
  return false;
}

// Marathon's RootGroup validation of an app and a group with one id (Group.scala,
// noAppsAndGroupsWithSameName).
Reply clashing_ids(const std::string& where, const std::string& id) {
  return json_reply(
      422, invalid_body({{where, "Groups and Applications may not have the same identifier. ('" +
                                     id + "' would be both)"}}));
}

std::optional<std::string> first(const Query& query, const std::string& key) {
  auto it = query.find(key);
  if (it == query.end() || it->second.empty()) return std::nullopt;
  return it->second.front();
}

// The embed values a request names ("apps.tasks", "app.counts", ...), by their last part.
std::set<std::string> embeds(const Query& query) {
  std::set<std::string> out;
  auto it = query.find("embed");
  if (it == query.end()) return out;
  for (const std::string& value : it->second) {
    size_t dot = value.find('.');
    out.insert(dot == std::string::npos ? value : value.substr(dot + 1));
  }
  return out;
}

// Marathon's readinessCheckResults (embed=apps.readiness): readinessChecks are not run here, so an
// app has no results, and Marathon answers an app without any with an empty list.
json::array no_readiness_results() { return {}; }

// Marathon's label selector, one term: "key", "key==value" or "key!=value".
bool label_matches(const std::map<std::string, std::string>& labels, const std::string& term) {
  size_t equal = term.find("==");
  size_t differ = term.find("!=");
  if (equal != std::string::npos) {
    auto it = labels.find(term.substr(0, equal));
    return it != labels.end() && it->second == term.substr(equal + 2);
  }
  if (differ != std::string::npos) {
    auto it = labels.find(term.substr(0, differ));
    return it != labels.end() && it->second != term.substr(differ + 2);
  }
  return labels.count(term) != 0;
}

// Marathon's app search: `id=` and `cmd=` match a part of the text, whatever the case.
bool contains_ignoring_case(const std::string& text, const std::string& part) {
  auto lower = [](std::string value) {
    std::transform(value.begin(), value.end(), value.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return value;
  };
  return lower(text).find(lower(part)) != std::string::npos;
}

std::optional<std::string> canonical_id(const std::string& id) {
  auto canonical = PathId::canonical(id);
  if (!canonical || *canonical == "/") return std::nullopt;
  return canonical;
}

// Why an app's or a group's id is refused (canonical_id, canonical_group), as Marathon's PathId
// validation says it.
std::string refused_id(std::string_view given) {
  if (PathId::canonical(given)) return "Path must contain at least one path element";
  return "path contains invalid characters (allowed: lowercase letters, digits, hyphens, \".\", "
         "\"..\")";
}

// A group's id as a request names it (in its path or its body): its canonical form, or nullopt
// when it is not valid or when its dot segments take it to the root ("a/..", "/.."). The root is
// named by "/" or by nothing, never by an id that resolves to it, so that a change meant for a
// group cannot replace or empty the whole tree.
std::optional<std::string> canonical_group(std::string_view given) {
  auto canonical = PathId::canonical(given);
  if (!canonical) return std::nullopt;
  if (*canonical == "/" && given.find_first_not_of('/') != std::string_view::npos) {
    return std::nullopt;
  }
  return canonical;
}

json::object resources_json(const protocol::Resources& resources) {
  json::object out{{"cpus", resources.scalar("cpus")},
                   {"mem", resources.scalar("mem")},
                   {"disk", resources.scalar("disk")},
                   {"gpus", resources.scalar("gpus")}};
  json::array ports;
  if (auto it = resources.ranges.find("ports"); it != resources.ranges.end()) {
    for (const auto& range : it->second) {
      ports.push_back(json::object{{"begin", range.begin}, {"end", range.end}});
    }
  }
  out["ports"] = std::move(ports);
  return out;
}

// Marathon's rejectSummary: each reason in funnel order with the offers it declined and the
// offers that reached it (those not declined by an earlier reason).
json::array reject_funnel(uint64_t processed, const std::map<RejectReason, uint64_t>& declined) {
  json::array steps;
  for (RejectReason reason : kAllRejectReasons) {
    auto it = declined.find(reason);
    uint64_t count = it == declined.end() ? 0 : it->second;
    steps.push_back(json::object{
        {"reason", reason_name(reason)}, {"declined", count}, {"processed", processed}});
    processed -= std::min(count, processed);
  }
  return steps;
}

// An offer as Marathon's raml Offer: resources with name, role and a scalar or ranges;
// attributes as text.
json::object offer_json(const protocol::scheduler::Offer& offer) {
  std::string role = offer.role.empty() ? "*" : offer.role;
  json::array resources;
  for (const auto& [name, value] : offer.resources.scalars) {
    resources.push_back(json::object{{"name", name}, {"role", role}, {"scalar", value}});
  }
  for (const auto& [name, ranges] : offer.resources.ranges) {
    json::array list;
    for (const auto& range : ranges) {
      list.push_back(json::object{{"begin", range.begin}, {"end", range.end}});
    }
    resources.push_back(json::object{{"name", name}, {"role", role}, {"ranges", std::move(list)}});
  }
  json::array attributes;
  for (const auto& attribute : offer.attributes) {
    attributes.push_back(json::object{{"name", attribute.name}, {"text", attribute.value}});
  }
  return json::object{{"id", offer.offer_id},
                      {"hostname", offer.hostname},
                      {"agentId", offer.agent_id},
                      {"resources", std::move(resources)},
                      {"attributes", std::move(attributes)}};
}

// Marathon fetches an app's `fetch` and `uris` into its tasks' sandboxes; the agents here have
// no fetcher, so the answer to a change names the apps that ask for some in one persistent
// warning (RFC 7234's 299) instead of leaving it unsaid.
void warn_unfetched(const std::vector<App>& apps, Reply& reply) {
  std::string ids;
  for (const App& app : apps) {
    bool fetches = !app.uris.empty() || (app.fetch.is_array() && !app.fetch.get_array().empty());
    if (fetches) ids += (ids.empty() ? "'" : ", '") + app.id + "'";
  }
  if (ids.empty()) return;
  reply.headers.emplace_back(
      "Warning",
      "299 - \"fetch and uris are not fetched (the agents have no fetcher): " + ids + "\"");
}

// An app update naming a `version` asks for the app's definition of that version back (Marathon's
// AppHelpers.updateOrRollback); it may name nothing else but the id
// (AppValidation.validateAppUpdateVersion). nullopt: not a rollback. Otherwise the definition,
// or the reply refusing it (`where` prefixes the 422's path).
std::optional<std::variant<App, Reply>> rollback_of(const Scheduler& scheduler,
                                                    const std::string& id, const App* existing,
                                                    const json::object& given,
                                                    const std::string& where) {
  const json::value* version = given.if_contains("version");
  if (version == nullptr) return std::nullopt;
  for (const auto& [key, value] : given) {
    if (key != "id" && key != "version") {
      return json_reply(422, invalid_body({{where.empty() ? "/" : where,
                                            "The 'version' field may only be combined with the "
                                            "'id' field."}}));
    }
  }
  if (!version->is_string()) {
    return json_reply(422, invalid_body({{where + "/version", "error.expected.jsstring"}}));
  }
  // Only an app's own versions are kept: a deleted app's are gone with it.
  const auto* versions = existing != nullptr ? scheduler.versions(id) : nullptr;
  auto it = versions != nullptr ? versions->find(std::string(version->get_string()))
                                : std::map<std::string, App>::const_iterator();
  if (versions == nullptr || it == versions->end()) return unknown_app(id);
  return it->second;
}

// PUT updates only the fields it gives, as Marathon's does unless partialUpdate=false; PATCH
// always.
bool replaces(const Query& query, bool patch) {
  auto partial = query.find("partialUpdate");
  return !patch && partial != query.end() && !partial->second.empty() &&
         partial->second.front() == "false";
}

// The definition an update of `existing` (null: none yet) asks for: the fields given over the
// app's, or only those given when `replace`.
json::object updated_definition(const App* existing, const json::object& given, bool replace) {
  json::object merged;
  if (existing != nullptr && !replace) {
    merged = to_json(*existing);
    for (const auto& [key, value] : given) merged[key] = value;
    return merged;
  }
  merged = given;
  // Marathon keeps the instance count of an app whose update does not say it.
  if (existing != nullptr && !merged.contains("instances"))
    merged["instances"] = existing->instances;
  return merged;
}

}  // namespace

bool query_flag(const Query& query, const std::string& key) {
  auto value = first(query, key);
  return value && (*value == "true" || value->empty() || *value == "1");
}

std::optional<Reply> Api::parse_body(const std::string& body, json::value& out) const {
  // Marathon (MarathonExceptionMapper) answers 400 for a body that is not JSON: "Invalid JSON"
  // with the parser's message as a string in `details`, and "Please specify data in JSON
  // format" when there is no JSON value at all (Jackson's mapping error for an empty body).
  if (body.find_first_not_of(" \t\r\n") == std::string::npos) {
    return json_reply(400, json::object{{"message", "Please specify data in JSON format"},
                                        {"details", "No content to map due to end-of-input"}});
  }
  boost::system::error_code ec;
  json::parse_options options;
  options.max_depth = 64;
  out = json::parse(body, ec, {}, options);
  if (!ec) return std::nullopt;
  return json_reply(400, json::object{{"message", "Invalid JSON"}, {"details", ec.message()}});
}

std::optional<Reply> Api::locked(const std::string& app_id, const Query& query) const {
  const Deployment* deployment = scheduler_.deployment_of(app_id);
  if (deployment == nullptr || query_flag(query, "force")) return std::nullopt;
  return json_reply(
      409, json::object{{"message",
                         "App is locked by one or more deployments. "
                         "Override with the option '?force=true'. View "
                         "details at '/v2/deployments/" +
                             deployment->id + "'."},
                        {"deployments", json::array{json::object{{"id", deployment->id}}}}});
}

std::optional<std::string> Api::id_clash(const std::vector<App>& apps,
                                         const std::vector<std::string>& gone,
                                         const std::vector<GroupSpec>& groups,
                                         const std::vector<std::string>& gone_groups) const {
  std::set<std::string> gone_apps(gone.begin(), gone.end());
  std::set<std::string> removed_groups(gone_groups.begin(), gone_groups.end());
  std::set<std::string> new_apps;
  for (const App& app : apps) new_apps.insert(app.id);
  std::set<std::string> new_groups;
  for (const GroupSpec& group : groups) new_groups.insert(group.id);
  auto is_app = [&](const std::string& id) {
    return new_apps.count(id) != 0 || (scheduler_.app(id) != nullptr && gone_apps.count(id) == 0);
  };
  auto is_group = [&](const std::string& id) {
    return new_groups.count(id) != 0 ||
           (scheduler_.groups().count(id) != 0 && removed_groups.count(id) == 0);
  };
  // Whether some app or defined group stays or comes strictly below `id`.
  auto holds_something = [&](const std::string& id) {
    auto always = [](const std::string&) { return true; };
    return any_below(new_apps, id, always) || any_below(new_groups, id, always) ||
           any_below(scheduler_.apps(), id,
                     [&](const std::string& other) { return gone_apps.count(other) == 0; }) ||
           any_below(scheduler_.groups(), id,
                     [&](const std::string& other) { return removed_groups.count(other) == 0; });
  };
  // An app above `id` (each of its groups must not be an app).
  auto app_above = [&](const std::string& id) -> std::optional<std::string> {
    for (std::string parent = PathId::parent(id); parent != "/"; parent = PathId::parent(parent)) {
      if (is_app(parent)) return parent;
    }
    return std::nullopt;
  };
  for (const App& app : apps) {
    if (scheduler_.app(app.id) != nullptr && gone_apps.count(app.id) == 0) continue;
    if (is_group(app.id) || holds_something(app.id)) return app.id;
    if (auto above = app_above(app.id)) return above;
  }
  for (const GroupSpec& group : groups) {
    if (scheduler_.groups().count(group.id) != 0 && removed_groups.count(group.id) == 0) continue;
    if (is_app(group.id)) return group.id;
    if (auto above = app_above(group.id)) return above;
  }
  return std::nullopt;
}

Reply Api::change_reply(const Scheduler::Change& change, unsigned status) const {
  Reply reply = json_reply(
      status, json::object{{"version", change.version}, {"deploymentId", change.deployment_id}});
  if (!change.deployment_id.empty()) {
    reply.headers.emplace_back("Marathon-Deployment-Id", change.deployment_id);
  }
  return reply;
}

void Api::post_event(std::string_view client, const std::string& uri, const App& app) const {
  if (!on_api_post) return;
  on_api_post(json::object{
      {"clientIp", http::peer_address(client)}, {"uri", uri}, {"appDefinition", to_json(app)}});
}

void Api::check_supported(const App& app, const std::string& where,
                          std::vector<Violation>& violations) const {
  if (scheduler_.runs_command_checks()) return;
  for (size_t i = 0; i < app.health_checks.size(); ++i) {
    if (app.health_checks[i].protocol != "COMMAND") continue;
    violations.push_back({where + "/healthChecks(" + std::to_string(i) + ")",
                          "COMMAND health checks are not run here (command_executor is empty)"});
  }
}

json::object Api::app_json(const App& app, bool tasks, bool counts, bool deployments,
                           bool last_failure) const {
  json::object out = to_json(app);
  if (counts) {
    AppCounts c = scheduler_.counts(app.id);
    out["tasksStaged"] = c.staged;
    out["tasksRunning"] = c.running;
    out["tasksHealthy"] = c.healthy;
    out["tasksUnhealthy"] = c.unhealthy;
  }
  if (deployments) {
    json::array list;
    if (const Deployment* deployment = scheduler_.deployment_of(app.id)) {
      list.push_back(json::object{{"id", deployment->id}});
    }
    out["deployments"] = std::move(list);
  }
  if (tasks) {
    json::array list;
    for (const Task* task : scheduler_.tasks_of(app.id))
      list.push_back(scheduler_.task_json(*task));
    out["tasks"] = std::move(list);
  }
  if (last_failure) {
    auto it = scheduler_.last_task_failures().find(app.id);
    if (it != scheduler_.last_task_failures().end()) out["lastTaskFailure"] = it->second;
  }
  return out;
}

json::object Api::task_stats(const App& app) const {
  struct Sample {
    std::string version;
    bool staged = false;
    bool running = false;
    bool healthy = false;
    bool unhealthy = false;
    std::optional<double> life_seconds;
  };
  auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                    scheduler_.clock().wall_now().time_since_epoch())
                    .count();
  std::vector<Sample> samples;
  for (const Task* task : scheduler_.tasks_of(app.id)) {
    Sample sample;
    sample.version = task->version;
    sample.staged = task->state == protocol::state::kStaging;
    sample.running = task->running();
    // As Marathon: healthy when every reported check passed, unhealthy when one failed.
    bool reported = false;
    bool all_alive = true;
    for (const HealthResult& result : task->health) {
      if (result.last_success.empty() && result.last_failure.empty()) continue;
      reported = true;
      all_alive = all_alive && result.alive;
    }
    sample.healthy = reported && all_alive;
    sample.unhealthy = reported && !all_alive;
    if (auto started = parse_iso8601_ms(task->started_at)) {
      sample.life_seconds = static_cast<double>(now_ms - *started) / 1000.0;
    }
    samples.push_back(std::move(sample));
  }
  // Each part only when some task is in it, as Marathon leaves empty ones out.
  auto stats = [&](const std::function<bool(const Sample&)>& in) -> std::optional<json::object> {
    if (std::none_of(samples.begin(), samples.end(), in)) return std::nullopt;
    int64_t staged = 0;
    int64_t running = 0;
    int64_t healthy = 0;
    int64_t unhealthy = 0;
    std::vector<double> lives;
    for (const Sample& sample : samples) {
      if (!in(sample)) continue;
      staged += sample.staged ? 1 : 0;
      running += sample.running ? 1 : 0;
      healthy += sample.healthy ? 1 : 0;
      unhealthy += sample.unhealthy ? 1 : 0;
      if (sample.life_seconds) lives.push_back(*sample.life_seconds);
    }
    json::object out{{"counts", json::object{{"staged", staged},
                                             {"running", running},
                                             {"healthy", healthy},
                                             {"unhealthy", unhealthy}}}};
    if (!lives.empty()) {
      std::sort(lives.begin(), lives.end());
      double sum = 0;
      for (double life : lives) sum += life;
      out["lifeTime"] = json::object{{"averageSeconds", sum / static_cast<double>(lives.size())},
                                     {"medianSeconds", lives[lives.size() / 2]}};
    }
    return json::object{{"stats", std::move(out)}};
  };
  json::object out;
  auto add = [&](const char* name, const std::function<bool(const Sample&)>& in) {
    if (auto part = stats(in)) out[name] = std::move(*part);
  };
  // Versions are ISO 8601 in one form: they compare as text.
  add("startedAfterLastScaling",
      [&](const Sample& sample) { return sample.version >= app.last_scaling_at; });
  add("withLatestConfig",
      [&](const Sample& sample) { return sample.version >= app.last_config_change_at; });
  add("withOutdatedConfig",
      [&](const Sample& sample) { return sample.version < app.last_config_change_at; });
  add("totalSummary", [](const Sample&) { return true; });
  return out;
}

Reply Api::list_apps(const Query& query) const {
  std::set<std::string> embed = embeds(query);
  auto id_filter = first(query, "id");
  auto cmd_filter = first(query, "cmd");
  auto label_filter = first(query, "label");
  json::array apps;
  for (const auto& [id, app] : scheduler_.apps()) {
    if (id_filter && !contains_ignoring_case(id, *id_filter)) continue;
    if (cmd_filter && (!app.cmd || !contains_ignoring_case(*app.cmd, *cmd_filter))) continue;
    if (label_filter) {
      bool all = true;
      std::string terms = *label_filter;
      size_t at = 0;
      while (all && at <= terms.size()) {
        size_t comma = terms.find(',', at);
        if (comma == std::string::npos) comma = terms.size();
        std::string term = terms.substr(at, comma - at);
        term.erase(0, term.find_first_not_of(' '));
        term.erase(term.find_last_not_of(' ') + 1);
        if (!term.empty()) all = label_matches(app.labels, term);
        at = comma + 1;
      }
      if (!all) continue;
    }
    json::object shown =
        app_json(app, embed.count("tasks") != 0, true, true, embed.count("lastTaskFailure") != 0);
    if (embed.count("taskStats") != 0) shown["taskStats"] = task_stats(app);
    if (embed.count("readiness") != 0) shown["readinessCheckResults"] = no_readiness_results();
    apps.push_back(std::move(shown));
  }
  return json_reply(200, json::object{{"apps", std::move(apps)}});
}

Reply Api::create_app(const std::string& body, const std::string& client) {
  json::value parsed;
  if (auto bad = parse_body(body, parsed)) return *bad;
  std::vector<Violation> violations;
  App app = parse_app(parsed, violations);
  if (violations.empty()) check_supported(app, "", violations);
  if (!violations.empty()) return json_reply(422, invalid_body(violations));
  if (scheduler_.app(app.id) != nullptr) {
    return message(409, "An app with id [" + app.id + "] already exists.");
  }
  if (auto clash = id_clash({app}, {}, {}, {})) return clashing_ids("/id", *clash);
  Scheduler::Change change = scheduler_.create_app(app);
  const App* created = scheduler_.app(app.id);
  post_event(client, "/v2/apps" + app.id, *created);
  Reply reply = json_reply(201, app_json(*created, true, true, true, false));
  reply.headers.emplace_back("Location", "/v2/apps" + app.id);
  reply.headers.emplace_back("Marathon-Deployment-Id", change.deployment_id);
  warn_unfetched({app}, reply);
  return reply;
}

Reply Api::get_app(const std::string& raw_id, const Query& query) const {
  auto id = canonical_id(raw_id);
  const App* app = id ? scheduler_.app(*id) : nullptr;
  if (app == nullptr) {
    // GET /v2/apps/prod/* lists the apps of a group, as Marathon does (/v2/apps/* the root's).
    if (raw_id == "*" || (raw_id.size() >= 2 && raw_id.substr(raw_id.size() - 2) == "/*")) {
      auto group = canonical_group(raw_id.substr(0, raw_id.size() - 1));
      // As Marathon's AppsResource.show: an unknown group is 404.
      if (!group || !scheduler_.group_exists(*group)) {
        return message(404, "Group '" + group.value_or("/" + raw_id) + "' does not exist");
      }
      json::array apps;
      for (const auto& [app_id, member] : scheduler_.apps()) {
        if (PathId::within(app_id, *group) && app_id != *group) {
          apps.push_back(app_json(member, true, true, true, true));
        }
      }
      return json_reply(200, json::object{{"*", std::move(apps)}});
    }
    return unknown_app(id.value_or("/" + raw_id));
  }
  json::object shown = app_json(*app, true, true, true, true);
  std::set<std::string> embed = embeds(query);
  if (embed.count("taskStats") != 0) shown["taskStats"] = task_stats(*app);
  if (embed.count("readiness") != 0) shown["readinessCheckResults"] = no_readiness_results();
  return json_reply(200, json::object{{"app", std::move(shown)}});
}

Reply Api::put_app(const std::string& raw_id, const std::string& body, const Query& query,
                   bool patch, const std::string& client) {
  json::value parsed;
  if (auto bad = parse_body(body, parsed)) return *bad;
  auto id = canonical_id(raw_id);
  if (!id) {
    return json_reply(422, invalid_body({{"/id", refused_id(raw_id)}}));
  }
  if (!parsed.is_object()) return json_reply(422, invalid_body({{"/", "error.expected.jsobject"}}));
  const App* existing = scheduler_.app(*id);
  if (existing == nullptr && patch) return unknown_app(*id);
  App app;
  auto rollback = replaces(query, patch)
                      ? std::nullopt
                      : rollback_of(scheduler_, *id, existing, parsed.get_object(), "");
  if (rollback && std::holds_alternative<Reply>(*rollback)) return std::get<Reply>(*rollback);
  if (rollback) {
    app = std::get<App>(*rollback);
  } else {
    json::object merged = updated_definition(existing, parsed.get_object(), replaces(query, patch));
    std::vector<Violation> violations;
    app = parse_app(merged, violations, *id);
    if (violations.empty()) check_supported(app, "", violations);
    if (!violations.empty()) return json_reply(422, invalid_body(violations));
  }
  if (auto busy = locked(*id, query)) return *busy;
  bool created = existing == nullptr;
  if (auto clash = created ? id_clash({app}, {}, {}, {}) : std::nullopt) {
    return clashing_ids("/id", *clash);
  }
  Scheduler::Change change = scheduler_.update_app(app);
  post_event(client, "/v2/apps" + *id, *scheduler_.app(*id));
  Reply reply = change_reply(change, created ? 201 : 200);
  if (created) reply.headers.emplace_back("Location", "/v2/apps" + *id);
  warn_unfetched({app}, reply);
  return reply;
}

Reply Api::put_apps(const std::string& body, const Query& query, bool patch,
                    const std::string& client) {
  json::value parsed;
  if (auto bad = parse_body(body, parsed)) return *bad;
  if (!parsed.is_array()) return json_reply(422, invalid_body({{"/", "error.expected.jsarray"}}));
  bool replace = replaces(query, patch);
  std::vector<App> apps;
  std::vector<Violation> violations;
  std::set<std::string> named;
  const json::array& items = parsed.get_array();
  for (size_t i = 0; i < items.size(); ++i) {
    std::string at = "/(" + std::to_string(i) + ")";
    const json::value* given_id =
        items[i].is_object() ? items[i].get_object().if_contains("id") : nullptr;
    if (given_id == nullptr || !given_id->is_string()) {
      violations.push_back({at + "/id", "error.path.missing"});
      continue;
    }
    auto id = canonical_id(std::string(given_id->get_string()));
    if (!id) {
      violations.push_back({at + "/id", refused_id(given_id->get_string())});
      continue;
    }
    const App* existing = scheduler_.app(*id);
    // PATCH changes apps that exist; PUT also creates.
    if (existing == nullptr && patch) return unknown_app(*id);
    if (!named.insert(*id).second) {
      violations.push_back({at + "/id", "app '" + *id + "' is given twice"});
      continue;
    }
    if (auto rollback = replace
                            ? std::nullopt
                            : rollback_of(scheduler_, *id, existing, items[i].get_object(), at)) {
      if (std::holds_alternative<Reply>(*rollback)) return std::get<Reply>(*rollback);
      apps.push_back(std::get<App>(*rollback));
      continue;
    }
    std::vector<Violation> found;
    App app = parse_app(updated_definition(existing, items[i].get_object(), replace), found, *id);
    if (found.empty()) check_supported(app, "", found);
    for (auto& violation : found) violations.push_back({at + violation.path, violation.error});
    if (found.empty()) apps.push_back(std::move(app));
  }
  if (!violations.empty()) return json_reply(422, invalid_body(violations));
  if (auto clash = id_clash(apps, {}, {}, {})) return clashing_ids("/", *clash);
  for (const App& app : apps) {
    if (auto busy = locked(app.id, query)) return *busy;
  }
  // As Marathon's updateMultiple: every app of the request changes in one deployment.
  Scheduler::Change change = scheduler_.deploy_group(apps, {});
  for (const App& app : apps) post_event(client, "/v2/apps", *scheduler_.app(app.id));
  Reply reply = change_reply(change, 200);
  warn_unfetched(apps, reply);
  return reply;
}

Reply Api::delete_app(const std::string& raw_id, const Query& query) {
  auto id = canonical_id(raw_id);
  if (!id || scheduler_.app(*id) == nullptr) return unknown_app(id.value_or("/" + raw_id));
  // As Marathon's AppsResource: deleting an app forces by default (so that an app stuck in a
  // deployment can be removed); only force=false asks for the 409.
  if (first(query, "force") == std::optional<std::string>("false")) {
    if (auto busy = locked(*id, query)) return *busy;
  }
  return change_reply(scheduler_.delete_app(*id), 200);
}

Reply Api::restart_app(const std::string& raw_id, const Query& query) {
  auto id = canonical_id(raw_id);
  if (!id || scheduler_.app(*id) == nullptr) return unknown_app(id.value_or("/" + raw_id));
  if (auto busy = locked(*id, query)) return *busy;
  return change_reply(scheduler_.restart_app(*id), 200);
}

Reply Api::app_tasks(const std::string& raw_id, bool plain_text) const {
  auto id = canonical_id(raw_id);
  if (!id || scheduler_.app(*id) == nullptr) return unknown_app(id.value_or("/" + raw_id));
  if (plain_text) return tasks_text(id);
  json::array list;
  for (const Task* task : scheduler_.tasks_of(*id)) list.push_back(scheduler_.task_json(*task));
  return json_reply(200, json::object{{"tasks", std::move(list)}});
}

Reply Api::kill_app_tasks(const std::string& raw_id, const Query& query) {
  if (auto bad = scale_and_wipe(query)) return *bad;
  auto id = canonical_id(raw_id);
  if (!id || scheduler_.app(*id) == nullptr) return unknown_app(id.value_or("/" + raw_id));
  auto host = first(query, "host");
  std::vector<std::string> ids;
  for (const Task* task : scheduler_.tasks_of(*id)) {
    if (!host || task->hostname == *host) ids.push_back(task->id);
  }
  bool scale = query_flag(query, "scale");
  if (auto busy = scale ? locked(*id, query) : std::nullopt) return *busy;
  std::vector<Scheduler::Change> scalings;
  std::vector<Task> killed = scheduler_.kill_tasks(ids, scale, &scalings);
  if (scale) {
    return change_reply(
        scalings.empty() ? Scheduler::Change{"", scheduler_.app(*id)->version} : scalings.back(),
        200);
  }
  json::array list;
  for (const Task& task : killed) list.push_back(scheduler_.task_json(task));
  return json_reply(200, json::object{{"tasks", std::move(list)}});
}

Reply Api::kill_app_task(const std::string& raw_id, const std::string& task_id,
                         const Query& query) {
  if (auto bad = scale_and_wipe(query)) return *bad;
  auto id = canonical_id(raw_id);
  if (!id || scheduler_.app(*id) == nullptr) return unknown_app(id.value_or("/" + raw_id));
  auto task = scheduler_.tasks().find(task_id);
  if (task == scheduler_.tasks().end() || task->second.app_id != *id) {
    return message(404, "Task '" + task_id + "' does not exist");
  }
  bool scale = query_flag(query, "scale");
  if (auto busy = scale ? locked(*id, query) : std::nullopt) return *busy;
  std::vector<Scheduler::Change> scalings;
  std::vector<Task> killed = scheduler_.kill_tasks({task_id}, scale, &scalings);
  if (scale) {
    return change_reply(
        scalings.empty() ? Scheduler::Change{"", scheduler_.app(*id)->version} : scalings.back(),
        200);
  }
  return json_reply(200, json::object{{"task", scheduler_.task_json(killed.front())}});
}

Reply Api::app_versions(const std::string& raw_id) const {
  auto id = canonical_id(raw_id);
  const auto* versions = id ? scheduler_.versions(*id) : nullptr;
  if (versions == nullptr || scheduler_.app(*id) == nullptr) {
    return unknown_app(id.value_or("/" + raw_id));
  }
  json::array list;
  for (auto it = versions->rbegin(); it != versions->rend(); ++it) list.emplace_back(it->first);
  return json_reply(200, json::object{{"versions", std::move(list)}});
}

Reply Api::app_version(const std::string& raw_id, const std::string& version) const {
  auto id = canonical_id(raw_id);
  const auto* versions = id ? scheduler_.versions(*id) : nullptr;
  if (versions == nullptr) return unknown_app(id.value_or("/" + raw_id));
  auto it = versions->find(version);
  if (it == versions->end()) {
    return message(404, "App '" + *id + "' does not exist in version " + version);
  }
  return json_reply(200, to_json(it->second));
}

Reply Api::tasks(const Query& query, bool plain_text) const {
  std::set<std::string> states;
  // Marathon's TasksResource takes `status` and the array form `status[]`.
  for (const char* key : {"status", "status[]"}) {
    auto it = query.find(key);
    if (it == query.end()) continue;
    for (std::string value : it->second) {
      std::transform(value.begin(), value.end(), value.begin(),
                     [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
      states.insert("TASK_" + value);
    }
  }
  if (plain_text) return tasks_text(std::nullopt);
  json::array list;
  for (const auto& [id, task] : scheduler_.tasks()) {
    if (!states.empty() && states.count(task.state) == 0) continue;
    list.push_back(scheduler_.task_json(task));
  }
  return json_reply(200, json::object{{"tasks", std::move(list)}});
}

Reply Api::tasks_text(const std::optional<std::string>& only) const {
  // Marathon's text form for load-balancer bridges: one line per app and service port, with
  // every task's host:port for that port.
  std::string text;
  for (const auto& [id, app] : scheduler_.apps()) {
    if (only && id != *only) continue;
    for (size_t index = 0; index < app.port_definitions.size(); ++index) {
      text += PathId::safe(id) + "\t" + std::to_string(app.port_definitions[index].port) + "\t";
      for (const Task* task : scheduler_.tasks_of(id)) {
        if (!task->running() || index >= task->host_ports.size()) continue;
        text += task->hostname + ":" + std::to_string(task->host_ports[index]) + "\t";
      }
      text += "\n";
    }
  }
  Reply reply;
  reply.text = std::move(text);
  reply.content_type = "text/plain; charset=utf-8";
  return reply;
}

Reply Api::kill_tasks(const std::string& body, const Query& query) {
  if (auto bad = scale_and_wipe(query)) return *bad;
  json::value parsed;
  if (auto bad = parse_body(body, parsed)) return *bad;
  const json::value* ids = parsed.is_object() ? parsed.get_object().if_contains("ids") : nullptr;
  if (ids == nullptr || !ids->is_array()) {
    return json_reply(422, invalid_body({{"/ids", "error.expected.jsarray"}}));
  }
  std::vector<std::string> task_ids;
  for (const json::value& item : ids->get_array()) {
    if (!item.is_string())
      return json_reply(422, invalid_body({{"/ids", "error.expected.jsstring"}}));
    task_ids.emplace_back(item.get_string());
  }
  bool scale = query_flag(query, "scale");
  std::vector<Scheduler::Change> scalings;
  std::vector<Task> killed = scheduler_.kill_tasks(task_ids, scale, &scalings);
  // With scale, Marathon answers with the deployment (here: the last app's, one per app).
  if (scale && !scalings.empty()) return change_reply(scalings.back(), 200);
  json::array list;
  for (const Task& task : killed) list.push_back(scheduler_.task_json(task));
  return json_reply(200, json::object{{"tasks", std::move(list)}});
}

Reply Api::queue(const Query& query) const {
  bool embed_unused = false;
  if (auto it = query.find("embed"); it != query.end()) {
    embed_unused =
        std::find(it->second.begin(), it->second.end(), "lastUnusedOffers") != it->second.end();
  }
  json::array entries;
  auto now = scheduler_.clock().now();
  for (const auto& [id, app] : scheduler_.apps()) {
    int64_t count = scheduler_.waiting(id);
    const Backoff* backoff = scheduler_.backoff(id);
    bool delayed = backoff != nullptr && backoff->until > now;
    if (count == 0) continue;
    double left = delayed ? std::chrono::duration<double>(backoff->until - now).count() : 0;
    json::object entry;
    entry["app"] = app_json(app, false, true, true, false);
    entry["count"] = count;
    entry["delay"] = json::object{{"timeLeftSeconds", static_cast<int64_t>(std::ceil(left))},
                                  {"overdue", !delayed}};
    entry["since"] = scheduler_.queued_since(id).value_or("");
    const OfferStatistics* stats = scheduler_.statistics(id);
    OfferStatistics empty;
    if (stats == nullptr) stats = &empty;
    std::map<RejectReason, uint64_t> last_declined;
    for (const auto& [agent, unused] : stats->last_unused) {
      if (!unused.reasons.empty()) {
        ++last_declined[*std::min_element(unused.reasons.begin(), unused.reasons.end())];
      }
    }
    entry["processedOffersSummary"] = json::object{
        {"processedOffersCount", stats->processed},
        {"unusedOffersCount", stats->unused},
        {"lastUnusedOfferAt",
         stats->last_unused_at.empty() ? json::value(nullptr) : json::value(stats->last_unused_at)},
        {"lastUsedOfferAt",
         stats->last_used_at.empty() ? json::value(nullptr) : json::value(stats->last_used_at)},
        {"rejectSummaryLastOffers", reject_funnel(stats->last_unused.size(), last_declined)},
        {"rejectSummaryLaunchAttempt", reject_funnel(stats->processed, stats->declined)}};
    if (embed_unused) {
      json::array unused_offers;
      for (const auto& [agent, unused] : stats->last_unused) {
        json::array reasons;
        for (RejectReason reason : unused.reasons) reasons.emplace_back(reason_name(reason));
        unused_offers.push_back(json::object{{"offer", offer_json(unused.offer)},
                                             {"reason", std::move(reasons)},
                                             {"timestamp", unused.at}});
      }
      entry["lastUnusedOffers"] = std::move(unused_offers);
    }
    // Beyond Marathon: the largest offer seen, to compare with what the app asks.
    entry["largestOffer"] = resources_json(stats->largest);
    entries.push_back(std::move(entry));
  }
  return json_reply(200, json::object{{"queue", std::move(entries)}});
}

Reply Api::reset_delay(const std::string& raw_id) {
  auto id = PathId::canonical(raw_id);
  if (!id || scheduler_.waiting(*id) == 0) {
    return message(404, "Application /" + raw_id + " not found in tasks queue.");
  }
  scheduler_.reset_backoff(*id);
  Reply reply;
  reply.status = 204;
  reply.text = "";
  return reply;
}

Reply Api::deployments() const {
  json::array list;
  for (const auto& [id, deployment] : scheduler_.deployments()) {
    list.push_back(scheduler_.deployment_json(deployment));
  }
  return json_reply(200, std::move(list));
}

Reply Api::delete_deployment(const std::string& id, const Query& query) {
  bool force = query_flag(query, "force");
  auto change = scheduler_.cancel_deployment(id, force);
  if (!change) return message(404, "DeploymentPlan " + id + " does not exist");
  if (force) {
    // Marathon answers a cancel with 202 and no body.
    Reply reply;
    reply.status = 202;
    reply.text = "";
    return reply;
  }
  return change_reply(*change, 200);
}

Reply Api::groups(const std::string& raw_id, const Query& query) const {
  // As Marathon's GroupsResource matches the path (".../versions" before ".../versions/V", the
  // last "/versions/" taken), before the path is taken as a group's id.
  constexpr std::string_view kList = "/versions";
  constexpr std::string_view kOne = "/versions/";
  std::string path = "/" + raw_id;
  if (path.ends_with(kList)) {
    return group_versions(path.substr(0, path.size() - kList.size()));
  }
  if (size_t at = path.rfind(kOne); at != std::string::npos && at + kOne.size() < path.size()) {
    return group_version(path.substr(0, at), path.substr(at + kOne.size()), query);
  }
  auto id = canonical_group(path);
  if (!id) return message(404, "Group '" + path + "' does not exist");
  if (!scheduler_.group_exists(*id)) return message(404, "Group '" + *id + "' does not exist");
  return group_tree(*id, query, false);
}

Reply Api::group_versions(const std::string& raw_id) const {
  auto id = canonical_group(raw_id);
  if (!id || !scheduler_.group_exists(*id)) {
    return message(404, "Group '" + id.value_or(raw_id) + "' does not exist");
  }
  // The versions of the tree below the group that are kept: its groups' definitions and every
  // kept version of every app below it (Marathon lists every version of the whole tree in which
  // the group exists; the tree's versions are not kept here, only those of its parts).
  std::set<std::string, std::greater<>> versions;
  for (const auto& [group_id, spec] : scheduler_.groups()) {
    if (PathId::within(group_id, *id) && !spec.version.empty()) versions.insert(spec.version);
  }
  for (auto it = scheduler_.apps().lower_bound(*id); it != scheduler_.apps().end(); ++it) {
    const auto& [app_id, app] = *it;
    if (!PathId::within(app_id, *id)) {
      // "/a-b" sorts between "/a" and "/a/b": go on while the prefix still matches.
      if (*id != "/" && app_id.compare(0, id->size(), *id) != 0) break;
      continue;
    }
    if (app_id == *id) continue;
    versions.insert(app.version);
    if (const auto* kept = scheduler_.versions(app_id)) {
      for (const auto& entry : *kept) versions.insert(entry.first);
    }
  }
  json::array list;
  for (const std::string& version : versions) list.emplace_back(version);
  return json_reply(200, std::move(list));
}

Reply Api::group_version(const std::string& raw_id, const std::string& version,
                         const Query& query) const {
  auto id = canonical_group(raw_id);
  if (!id || !scheduler_.group_exists(*id)) {
    return message(404, "Group '" + id.value_or(raw_id) + "' does not exist");
  }
  // Only the group as it is now is kept whole: its version is the newest of its parts'.
  Reply current = group_tree(*id, query, true);
  const json::value* shown = current.body.as_object().if_contains("version");
  auto wanted = parse_iso8601_ms(version);
  if (shown == nullptr || !shown->is_string() || !wanted ||
      parse_iso8601_ms(shown->get_string()) != wanted) {
    return message(404, "Group '" + *id + "' does not exist");
  }
  return current;
}

Reply Api::group_tree(const std::string& group_id, const Query& query, bool definitions) const {
  // Marathon's group embeds: group.groups and group.apps unless the request names others;
  // group.apps.tasks, .counts, .deployments and .lastTaskFailure add to each app (and imply
  // group.apps). What is not embedded is left out of the answer.
  std::set<std::string> embed;
  if (auto it = query.find("embed"); it != query.end())
    embed.insert(it->second.begin(), it->second.end());
  if (embed.empty()) embed = {"group.groups", "group.apps"};
  auto wants = [&](const std::string& name) { return embed.count(name) != 0; };
  bool with_tasks = wants("group.apps.tasks");
  bool with_counts = wants("group.apps.counts");
  bool with_deployments = wants("group.apps.deployments");
  bool with_failure = wants("group.apps.lastTaskFailure");
  bool with_readiness = wants("group.apps.readiness");
  bool with_apps = wants("group.apps") || with_tasks || with_counts || with_deployments ||
                   with_failure || with_readiness;
  bool with_groups = wants("group.groups");
  // The tree: the groups defined through /v2/groups and those the apps' ids imply.
  std::function<json::object(const std::string&)> build = [&](const std::string& group) {
    json::array apps;
    std::set<std::string> children;
    std::string version;
    auto add_child = [&](const std::string& below) {
      std::string rest = below.substr(group == "/" ? 1 : group.size() + 1);
      children.insert((group == "/" ? "" : group) + "/" + rest.substr(0, rest.find('/')));
    };
    for (const auto& [app_id, app] : scheduler_.apps()) {
      if (!PathId::within(app_id, group) || app_id == group) continue;
      version = std::max(version, app.version);
      if (PathId::parent(app_id) == group) {
        if (with_apps && definitions) {
          apps.push_back(to_json(app));
        } else if (with_apps) {
          json::object shown =
              app_json(app, with_tasks, with_counts, with_deployments, with_failure);
          if (with_readiness) shown["readinessCheckResults"] = no_readiness_results();
          apps.push_back(std::move(shown));
        }
        continue;
      }
      add_child(app_id);
    }
    json::array dependencies;
    for (const auto& [group_id, spec] : scheduler_.groups()) {
      if (group_id == group) {
        version = std::max(version, spec.version);
        for (const auto& dependency : spec.dependencies)
          dependencies.push_back(json::string(dependency));
      } else if (PathId::within(group_id, group)) {
        version = std::max(version, spec.version);
        add_child(group_id);
      }
    }
    json::object out{{"id", group}};
    if (with_apps) out["apps"] = std::move(apps);
    if (with_groups) {
      json::array groups;
      for (const std::string& child : children) groups.push_back(build(child));
      out["groups"] = std::move(groups);
    }
    if (wants("group.pods")) out["pods"] = json::array{};
    out["dependencies"] = std::move(dependencies);
    out["version"] = version;
    return out;
  };
  return json_reply(200, build(group_id));
}

Reply Api::put_group(const std::string& raw_id, const std::string& body, const Query& query,
                     bool create, const std::string& client) {
  json::value parsed;
  if (auto bad = parse_body(body, parsed)) return *bad;
  if (!parsed.is_object()) return json_reply(422, invalid_body({{"/", "error.expected.jsobject"}}));
  std::string given = raw_id;
  const json::value* body_id = parsed.get_object().if_contains("id");
  if (given.empty()) {
    if (body_id != nullptr && body_id->is_string()) {
      given = std::string(body_id->get_string());
    } else if (!create) {
      // PUT /v2/groups without an id changes the root group, as Marathon's updateRoot.
      given = "/";
    } else {
      return json_reply(422, invalid_body({{"/id", "error.path.missing"}}));
    }
  } else if (create && body_id != nullptr && body_id->is_string() &&
             !body_id->get_string().empty()) {
    // POST /v2/groups/{id}: as Marathon's createWithPath, the body's id is taken from the path's
    // group when it is relative.
    std::string text(body_id->get_string());
    given = text.front() == '/' ? text : given + "/" + text;
  }
  auto group = canonical_group(given);
  if (!group) {
    return json_reply(422, invalid_body({{"/id", refused_id(given)}}));
  }
  // Every app of the group and its subgroups, ids relative to their group, and every group's
  // own definition (its dependencies, relative to its parent as Marathon resolves them).
  std::vector<App> apps;
  std::vector<GroupSpec> groups;
  std::vector<Violation> violations;
  std::function<void(const json::object&, const std::string&, const std::string&)> collect =
      [&](const json::object& node, const std::string& group_id, const std::string& where) {
        GroupSpec spec{group_id, {}, ""};
        if (const json::value* list = node.if_contains("dependencies"); list && !list->is_null()) {
          if (!list->is_array()) {
            violations.push_back({where + "/dependencies", "error.expected.jsarray"});
          } else {
            const json::array& items = list->get_array();
            if (items.size() > kMaxGroupDependencies) {
              violations.push_back(
                  {where + "/dependencies",
                   "must have at most " + std::to_string(kMaxGroupDependencies) + " elements"});
            }
            for (size_t i = 0; i < items.size() && i < kMaxGroupDependencies; ++i) {
              std::string at = where + "/dependencies(" + std::to_string(i) + ")";
              std::optional<std::string> path;
              if (items[i].is_string() && !items[i].get_string().empty()) {
                std::string text(items[i].get_string());
                path = PathId::canonical(
                    text.front() == '/' ? text : PathId::parent(group_id) + "/" + text);
              }
              if (!path) {
                violations.push_back({at, "is not a valid path"});
              } else if (PathId::within(group_id, *path)) {
                violations.push_back({at, "a group cannot depend on itself or a group above it"});
              } else {
                spec.dependencies.push_back(*path);
              }
            }
          }
        }
        if (group_id != "/") groups.push_back(std::move(spec));
        if (const json::value* list = node.if_contains("apps"); list && list->is_array()) {
          const json::array& items = list->get_array();
          for (size_t i = 0; i < items.size(); ++i) {
            std::string at = where + "/apps(" + std::to_string(i) + ")";
            std::vector<Violation> found;
            json::value item = items[i];
            std::string id;
            if (item.is_object()) {
              if (const json::value* app_id = item.get_object().if_contains("id");
                  app_id && app_id->is_string()) {
                id = std::string(app_id->get_string());
              }
            }
            if (!id.empty() && id.front() != '/') id = group_id + "/" + id;
            App app = parse_app(item, found, id);
            if (found.empty()) check_supported(app, "", found);
            for (auto& violation : found)
              violations.push_back({at + violation.path, violation.error});
            if (found.empty() && !PathId::within(app.id, group_id)) {
              violations.push_back(
                  {at + "/id", "app '" + app.id + "' is not in group '" + group_id + "'"});
            }
            if (found.empty()) apps.push_back(std::move(app));
          }
        }
        if (const json::value* list = node.if_contains("groups"); list && list->is_array()) {
          const json::array& items = list->get_array();
          for (size_t i = 0; i < items.size(); ++i) {
            std::string at = where + "/groups(" + std::to_string(i) + ")";
            const json::value* sub_id =
                items[i].is_object() ? items[i].get_object().if_contains("id") : nullptr;
            if (sub_id == nullptr || !sub_id->is_string()) {
              violations.push_back({at + "/id", "error.path.missing"});
              continue;
            }
            std::string text(sub_id->get_string());
            auto sub = text.empty()
                           ? std::nullopt
                           : canonical_group(text.front() == '/' ? text : group_id + "/" + text);
            // A group below this one: not this one again ("." or "x/..").
            if (!sub || *sub == group_id || !PathId::within(*sub, group_id)) {
              violations.push_back({at + "/id", "is not a group below '" + group_id + "'"});
              continue;
            }
            collect(items[i].get_object(), *sub, at);
          }
        }
      };
  collect(parsed.get_object(), *group, "");
  if (!violations.empty()) return json_reply(422, invalid_body(violations));
  if (create && scheduler_.group_exists(*group))
    return message(409, "Group " + *group + " is already created. Use PUT to change this group.");
  // As Marathon's GroupsResource.createWithPath.
  if (create && scheduler_.app(*group) != nullptr)
    return message(409, "An app with the path " + *group + " already exists.");
  std::set<std::string> named_groups;
  for (const GroupSpec& spec : groups) {
    if (!named_groups.insert(spec.id).second) {
      return json_reply(422, invalid_body({{"/", "group '" + spec.id + "' is given twice"}}));
    }
  }
  std::set<std::string> named;
  for (const App& app : apps) {
    if (!named.insert(app.id).second) {
      return json_reply(422, invalid_body({{"/", "app '" + app.id + "' is given twice"}}));
    }
  }
  // PUT replaces the group: its apps the body does not name are removed (an app whose id is the
  // group's is no app of the group: it clashes with it, below).
  std::vector<std::string> gone;
  if (!create) {
    for (const auto& [id, app] : scheduler_.apps()) {
      if (PathId::within(id, *group) && id != *group && named.count(id) == 0) gone.push_back(id);
    }
  }
  std::vector<std::string> gone_groups;
  if (!create) {
    for (const auto& [id, spec] : scheduler_.groups()) {
      if (PathId::within(id, *group) && named_groups.count(id) == 0) gone_groups.push_back(id);
    }
  }
  if (auto clash = id_clash(apps, gone, groups, gone_groups)) return clashing_ids("/", *clash);
  if (scheduler_.dependency_cycle(apps, gone, groups)) {
    return json_reply(422, invalid_body({{"/", "Dependency graph has cyclic dependencies."}}));
  }
  if (!create && query_flag(query, "dryRun")) {
    // As Marathon's GroupsResource.update: the plan's steps, and nothing changes.
    return json_reply(200, json::object{{"steps", steps_json(scheduler_.plan_group(
                                                      apps, gone, groups, gone_groups))}});
  }
  for (const App& app : apps) {
    if (auto busy = locked(app.id, query)) return *busy;
  }
  for (const std::string& id : gone) {
    if (auto busy = locked(id, query)) return *busy;
  }
  // The whole group is one deployment, as Marathon's group plan.
  Scheduler::Change change = scheduler_.deploy_group(apps, gone, groups, gone_groups);
  for (const App& app : apps) {
    if (const App* stored = scheduler_.app(app.id))
      post_event(client, "/v2/groups" + *group, *stored);
  }
  Reply reply = change_reply(change, create ? 201 : 200);
  warn_unfetched(apps, reply);
  return reply;
}

Reply Api::delete_group(const std::string& raw_id, const Query& query) {
  // DELETE /v2/groups (raw_id "") empties the root group, as Marathon's.
  auto group = canonical_group(raw_id);
  if (!group || !scheduler_.group_exists(*group)) {
    return message(404, "Group '" + group.value_or("/" + raw_id) + "' does not exist");
  }
  std::vector<std::string> ids;
  for (const auto& [id, app] : scheduler_.apps()) {
    if (PathId::within(id, *group)) ids.push_back(id);
  }
  std::vector<std::string> groups;
  for (const auto& [id, spec] : scheduler_.groups()) {
    if (PathId::within(id, *group)) groups.push_back(id);
  }
  for (const std::string& id : ids) {
    if (auto busy = locked(id, query)) return *busy;
  }
  // Every app of the group and its subgroups goes in one deployment (one without steps for a
  // group without apps, as Marathon answers).
  return change_reply(scheduler_.deploy_group({}, ids, {}, groups), 200);
}

Reply Api::info() const {
  bool elected = info_.leading && info_.leading();
  std::string leader = info_.leader_address ? info_.leader_address() : "";
  return json_reply(
      200,
      json::object{
          {"name", info_.name},
          {"version", info_.version},
          {"buildref", "tessera"},
          {"elected", elected},
          {"leader", leader.empty() ? json::value(nullptr) : json::value(leader)},
          {"frameworkId",
           info_.framework_id.empty() ? json::value(nullptr) : json::value(info_.framework_id)},
          {"marathon_config",
           json::object{{"framework_name", info_.name}, {"checkpoint", true}, {"hostname", ""}}},
          {"http_config", json::object{{"http_port", info_.http_address}}},
          {"event_subscriber", nullptr}});
}

Reply Api::abdicate(bool resigned) {
  if (!resigned) return message(404, "There is no leader");
  return message(200, "Leadership abdicated");
}

std::optional<Reply> Api::refuse_cross_origin(std::string_view origin, std::string_view host) {
  if (http::same_origin(origin, host)) return std::nullopt;
  return message(403, "Refused a change from the web page at '" +
                          std::string(origin.substr(0, 256)) +
                          "': not this server's origin (cross-site request)");
}

std::optional<Reply> Api::refuse_media_type(std::string_view content_type) {
  // type "/" subtype, then parameters after ';'; the names are case-insensitive, and a
  // wildcard is compatible with application/json as Jersey's MediaType.isCompatible says.
  auto trimmed = [](std::string_view text) {
    size_t begin = text.find_first_not_of(" \t");
    if (begin == std::string_view::npos) return std::string_view();
    return text.substr(begin, text.find_last_not_of(" \t") + 1 - begin);
  };
  std::string_view media = trimmed(content_type.substr(0, content_type.find(';')));
  if (media.empty() && trimmed(content_type).empty()) return std::nullopt;
  size_t slash = media.find('/');
  if (slash != std::string_view::npos) {
    std::string_view type = trimmed(media.substr(0, slash));
    std::string_view subtype = trimmed(media.substr(slash + 1));
    if ((type == "*" || http::detail::iequals(type, "application")) &&
        (subtype == "*" || http::detail::iequals(subtype, "json"))) {
      return std::nullopt;
    }
  }
  return message(415, "Unsupported Media Type");
}

Reply Api::leader() const {
  std::string leader = info_.leader_address ? info_.leader_address() : "";
  if (leader.empty()) return message(404, "There is no leader");
  return json_reply(200, json::object{{"leader", leader}});
}

}  // namespace tessera::marathon

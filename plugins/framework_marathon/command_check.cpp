#include "command_check.h"

#include <boost/json.hpp>

namespace tessera::marathon {

namespace json = boost::json;

namespace {

// The longest encoded form either side accepts before parsing it.
constexpr size_t kMaxEncodedBytes = kMaxCommandChecks * (kMaxCheckCommandBytes + 256);
constexpr int64_t kMaxCheckSeconds = 365LL * 24 * 3600;

Result<json::object> parse_object(const std::string& data, const char* what) {
  if (data.size() > kMaxEncodedBytes) {
    return make_error(std::string(what) + " is " + std::to_string(data.size()) +
                      " bytes, more than " + std::to_string(kMaxEncodedBytes));
  }
  json::error_code error;
  json::value value = json::parse(data, error);
  if (error || !value.is_object()) return make_error(std::string(what) + " is not a JSON object");
  return value.get_object();
}

std::optional<int64_t> integer(const json::object& object, const char* key, int64_t low,
                               int64_t high) {
  const json::value* value = object.if_contains(key);
  if (value == nullptr || !value->is_int64()) return std::nullopt;
  int64_t number = value->get_int64();
  if (number < low || number > high) return std::nullopt;
  return number;
}

}  // namespace

std::vector<CommandCheck> command_checks(const std::vector<HealthCheck>& checks) {
  std::vector<CommandCheck> found;
  for (size_t i = 0; i < checks.size(); ++i) {
    if (checks[i].protocol != "COMMAND") continue;
    found.push_back({i, checks[i].command, checks[i].interval_seconds, checks[i].timeout_seconds});
  }
  return found;
}

std::string encode_command_checks(const std::vector<CommandCheck>& checks) {
  json::array items;
  for (const auto& check : checks) {
    items.push_back(json::object{{"index", check.index},
                                 {"command", check.command},
                                 {"intervalSeconds", check.interval_seconds},
                                 {"timeoutSeconds", check.timeout_seconds}});
  }
  return json::serialize(json::object{{"commandChecks", std::move(items)}});
}

Result<std::vector<CommandCheck>> decode_command_checks(const std::string& data) {
  auto object = parse_object(data, "the task's data");
  if (!object) return object.error();
  const json::value* items = object->if_contains("commandChecks");
  if (items == nullptr || !items->is_array()) {
    return make_error("the task's data has no commandChecks array");
  }
  if (items->get_array().size() > kMaxCommandChecks) {
    return make_error("the task's data has more than " + std::to_string(kMaxCommandChecks) +
                      " command checks");
  }
  std::vector<CommandCheck> checks;
  for (const auto& item : items->get_array()) {
    const json::object* check = item.if_object();
    if (check == nullptr) return make_error("a command check is not an object");
    auto index = integer(*check, "index", 0, 1000);
    auto interval = integer(*check, "intervalSeconds", 1, kMaxCheckSeconds);
    auto timeout = integer(*check, "timeoutSeconds", 1, kMaxCheckSeconds);
    const json::value* command = check->if_contains("command");
    if (!index || !interval || !timeout || command == nullptr || !command->is_string() ||
        command->get_string().empty() || command->get_string().size() > kMaxCheckCommandBytes) {
      return make_error(
          "a command check lacks a valid index, command, intervalSeconds or "
          "timeoutSeconds");
    }
    checks.push_back(
        {static_cast<size_t>(*index), std::string(command->get_string()), *interval, *timeout});
  }
  return checks;
}

std::string encode_check_result(const CheckResult& result) {
  return json::serialize(json::object{{"taskId", result.task_id},
                                      {"index", result.index},
                                      {"alive", result.alive},
                                      {"cause", result.cause.substr(0, kMaxCheckCauseBytes)}});
}

Result<CheckResult> decode_check_result(const std::string& data) {
  auto object = parse_object(data, "a check result");
  if (!object) return object.error();
  CheckResult result;
  auto index = integer(*object, "index", 0, 1000);
  const json::value* task = object->if_contains("taskId");
  const json::value* alive = object->if_contains("alive");
  const json::value* cause = object->if_contains("cause");
  if (!index || task == nullptr || !task->is_string() || alive == nullptr || !alive->is_bool() ||
      (cause != nullptr && !cause->is_string())) {
    return make_error("a check result lacks a valid taskId, index or alive");
  }
  result.task_id = std::string(task->get_string());
  result.index = static_cast<size_t>(*index);
  result.alive = alive->get_bool();
  if (cause != nullptr) {
    result.cause = std::string(cause->get_string()).substr(0, kMaxCheckCauseBytes);
  }
  return result;
}

std::optional<CheckResultRefusal> refuse_check_result(const Scheduler& scheduler,
                                                      const CheckResult& result,
                                                      const std::string& executor_id,
                                                      const std::string& agent_id) {
  // An executor speaks only for its own task (its id is the task's) on the task's own agent.
  if (result.task_id != executor_id) {
    return CheckResultRefusal{"it is for another executor's task", false};
  }
  auto task = scheduler.tasks().find(result.task_id);
  if (task == scheduler.tasks().end()) return CheckResultRefusal{"the task is not known", true};
  if (task->second.agent_id != agent_id) {
    return CheckResultRefusal{"the task runs on another agent", false};
  }
  const App* app = scheduler.app(task->second.app_id);
  if (app == nullptr || result.index >= app->health_checks.size() ||
      app->health_checks[result.index].protocol != "COMMAND") {
    return CheckResultRefusal{"the task's app has no COMMAND check " + std::to_string(result.index),
                              false};
  }
  return std::nullopt;
}

}  // namespace tessera::marathon

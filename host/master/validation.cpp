#include "master/validation.h"

#include "tessera/protocol/duration.h"
#include "tessera/protocol/executor.h"
#include "tessera/sdk/logger.h"

namespace tessera::host::master {

namespace state = protocol::state;
namespace reason = protocol::reason;

std::string registration_problem(const protocol::agent::Register& message) {
  if (Status s = protocol::check_resources(message.resources); !s) {
    return "its resources are invalid: " + s.error().message;
  }
  if (message.agent_id.size() > kMaxIdBytes) {
    return "its agent id is longer than " + std::to_string(kMaxIdBytes) + " bytes";
  }
  for (const auto& running : message.tasks) {
    if (running.task.task_id.empty() || running.framework_id.empty()) {
      return "it reports a task without a task or framework id";
    }
    if (Status s = protocol::check_resources(running.task.resources); !s) {
      return "task '" + running.task.task_id + "' has invalid resources: " + s.error().message;
    }
    if (!running.state.empty() && !state::known(running.state)) {
      return "task '" + running.task.task_id + "' is in the unknown state '" + running.state + "'";
    }
  }
  return "";
}

std::string role_problem(const std::string& role) {
  if (role.empty()) return "a role name is empty";
  if (role.size() > kMaxRoleBytes) {
    return "a role name has at most " + std::to_string(kMaxRoleBytes) + " bytes, not " +
           std::to_string(role.size());
  }
  // As Mesos: parts separated by '/', none empty, '.', '..' or starting with '-'; no spaces or
  // control characters anywhere (they would break logs, metrics labels and the store's keys).
  auto bad = [&] {
    return "'" + sdk::escape(role) +
           "' is not a role name (no spaces or control characters, no part empty, '.', '..' or "
           "starting with '-'; '/' only between parts, as in eng/web)";
  };
  for (char c : role) {
    auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte == 0x7f) return bad();
  }
  size_t start = 0;
  while (true) {
    size_t end = role.find('/', start);
    std::string_view part = std::string_view(role).substr(
        start, end == std::string::npos ? std::string::npos : end - start);
    if (part.empty() || part == "." || part == ".." || part.front() == '-') return bad();
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return "";
}

GatheredOffers gather_offers(const Framework& framework, const std::vector<std::string>& offer_ids,
                             const std::map<std::string, Offer>& offers,
                             const std::map<std::string, Agent>& agents) {
  GatheredOffers out;
  out.reason = reason::kInvalidOffers;
  std::set<std::string> named;
  for (const std::string& offer_id : offer_ids) {
    if (!named.insert(offer_id).second) {
      out.problem = "offer '" + offer_id + "' is named twice";
      continue;
    }
    auto it = offers.find(offer_id);
    if (it == offers.end()) {
      out.problem = "offer '" + offer_id + "' is unknown or was rescinded";
      continue;
    }
    const protocol::scheduler::Offer& offer = it->second.offer;
    if (offer.framework_id != framework.id) {
      out.problem = "offer '" + offer_id + "' belongs to another framework";
      continue;
    }
    if (!out.agent_id.empty() && offer.agent_id != out.agent_id) {
      out.problem =
          "offers '" + offer_ids.front() + "' and '" + offer_id + "' are on different agents";
      continue;
    }
    out.agent_id = offer.agent_id;
    out.role = offer.role;
    out.available += offer.resources;
    out.usable.push_back(offer_id);
  }
  if (offer_ids.empty()) out.problem = "an accept names no offer";
  auto agent = agents.find(out.agent_id);
  if (out.problem.empty() && (agent == agents.end() || !agent->second.active)) {
    out.problem = "agent '" + out.agent_id + "' is unknown or unreachable";
    out.reason = reason::kAgentUnknown;
  }
  return out;
}

std::string task_problem(const Framework& framework, protocol::TaskInfo& task,
                         const std::string& agent_id, const protocol::Resources& available,
                         const std::map<std::string, Task>& tasks,
                         std::set<std::string>& ids_in_this_accept) {
  if (task.task_id.empty()) return "task id is empty";
  if (task.task_id.size() > kMaxIdBytes) {
    return "task id is longer than " + std::to_string(kMaxIdBytes) + " bytes";
  }
  // Agents keep each executor in their task table under this name.
  if (task.task_id.rfind("#executor/", 0) == 0) {
    return "task ids starting with '#executor/' are reserved for executors";
  }
  if (auto known = tasks.find(task_key(framework.id, task.task_id)); known != tasks.end()) {
    // Until the framework acknowledges the end of the first run, its updates may still come,
    // and would be taken for the new run's (Mesos refuses these launches too).
    if (known->second.ended) {
      return "task id '" + task.task_id +
             "' is still in use: the framework has not acknowledged its terminal update";
    }
    return "task id '" + task.task_id + "' is already in use by this framework";
  }
  if (!ids_in_this_accept.insert(task.task_id).second) {
    return "task id '" + task.task_id + "' is given twice in this accept";
  }
  if (!task.agent_id.empty() && task.agent_id != agent_id) {
    return "task names agent '" + task.agent_id + "' but the offers are on agent '" + agent_id +
           "'";
  }
  if (Status s = protocol::check_resources(task.resources); !s) {
    return "task asks for invalid resources: " + s.error().message;
  }
  if (task.resources.scalar("cpus") <= 0 && task.resources.scalar("mem") <= 0) {
    return "task asks for neither cpus nor mem";
  }
  if (!task.executor.executor_id.empty()) {
    // The agent runs it in the framework's executor, which needs a command of its own.
    if (task.executor.executor_id.size() > kMaxIdBytes) {
      return "executor id is longer than " + std::to_string(kMaxIdBytes) + " bytes";
    }
    if (task.executor.container.type.empty() && task.executor.command.value.empty()) {
      return "executor '" + task.executor.executor_id + "' has an empty command";
    }
    if (task.data.size() > protocol::TaskInfo::kMaxDataBytes) {
      return "task data is larger than " + std::to_string(protocol::TaskInfo::kMaxDataBytes) +
             " bytes";
    }
  } else if (task.container.type.empty() && task.command.value.empty()) {
    return "task has an empty command";
  }
  auto grace = protocol::wire_duration("kill_grace_seconds", task.kill_grace_seconds,
                                       protocol::limits::kMaxKillGraceSeconds);
  if (!grace) return "task " + grace.error().message;
  task.kill_grace_seconds = grace->seconds;
  if (!available.contains(task.resources)) {
    return "task asks for " + task.resources.to_string() + " but the offers have " +
           available.to_string();
  }
  return "";
}

namespace {

// The framework's own part of an executor's environment: without what an agent adds.
std::map<std::string, std::string> framework_environment(const protocol::CommandInfo& command) {
  namespace executorp = protocol::executor;
  std::map<std::string, std::string> env = command.environment;
  for (const char* added :
       {executorp::kEndpointVariable, executorp::kFrameworkVariable, executorp::kExecutorVariable,
        executorp::kAgentVariable, executorp::kTokenVariable}) {
    env.erase(added);
  }
  return env;
}

}  // namespace

bool same_executor(const protocol::ExecutorInfo& a, const protocol::ExecutorInfo& b) {
  const protocol::CommandInfo& x = a.command;
  const protocol::CommandInfo& y = b.command;
  return a.executor_id == b.executor_id && x.shell == y.shell && x.value == y.value &&
         x.arguments == y.arguments && x.user == y.user &&
         framework_environment(x) == framework_environment(y) &&
         a.resources.contains(b.resources) && b.resources.contains(a.resources) &&
         a.container.type == b.container.type && a.container.image == b.container.image &&
         a.container.network == b.container.network &&
         protocol::Resources::fixed(a.kill_grace_seconds) ==
             protocol::Resources::fixed(b.kill_grace_seconds);
}

std::string executor_problem(const Agent& agent, const std::string& framework_id,
                             protocol::TaskInfo& task, const protocol::Resources& available,
                             bool& starts) {
  protocol::ExecutorInfo& executor = task.executor;
  starts = false;
  if (Status s = protocol::check_resources(executor.resources); !s) {
    return "executor '" + executor.executor_id +
           "' asks for invalid resources: " + s.error().message;
  }
  auto grace = protocol::wire_duration("executor kill_grace_seconds", executor.kill_grace_seconds,
                                       protocol::limits::kMaxKillGraceSeconds);
  if (!grace) return grace.error().message;
  executor.kill_grace_seconds = grace->seconds;
  auto running = agent.executors.find(executor_key(framework_id, executor.executor_id));
  if (running != agent.executors.end()) {
    // One id, one executor: a task cannot change what runs it (Mesos refuses this too).
    if (!same_executor(running->second.info, executor)) {
      return "executor '" + executor.executor_id + "' already runs on agent '" + agent.id +
             "' with another command, resources, container or kill grace; tasks that name it "
             "must give the same ExecutorInfo";
    }
    return "";
  }
  protocol::Resources needed = task.resources;
  needed += executor.resources;
  if (!available.contains(needed)) {
    return "task and its new executor '" + executor.executor_id + "' ask for " +
           needed.to_string() + " but the offers have " + available.to_string();
  }
  starts = true;
  return "";
}

}  // namespace tessera::host::master

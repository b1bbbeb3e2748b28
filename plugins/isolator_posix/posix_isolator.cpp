#include "posix_isolator.h"

#include <pwd.h>
#include <unistd.h>

#include <cmath>

extern char** environ;

namespace tessera::isolator_posix {

namespace isolator = tessera::protocol::isolator;

PosixIsolator::PosixIsolator(tessera::sdk::PluginContext& context) : IsolatorPlugin(context) {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) == 0) hostname_ = name;
}

tessera::Status PosixIsolator::configure(tessera::sdk::ConfigTable& table) {
  kill_on_stop_ = table.get<bool>("kill_on_stop", kill_on_stop_);
  auto grace = table.optional<double>("default_grace_seconds");
  if (grace) {
    if (!std::isfinite(*grace) || *grace < 0 || *grace > 86400) {
      table.error_at("default_grace_seconds",
                     "expected a number of seconds from 0 to 86400, got " + std::to_string(*grace));
    } else {
      default_grace_seconds_ = *grace;
    }
  }
  return {};
}

tessera::Status PosixIsolator::start() {
  auto launcher = PosixLauncher::create(
      context().plugin_work_dir() / "containers",
      [this](std::chrono::milliseconds delay, std::function<void()> fn) {
        loop().after(delay, std::move(fn));
      },
      [this](const Exit& exit) { exited(exit); });
  if (!launcher) return launcher.error();
  launcher_ = std::move(*launcher);
  loop().watch_fd(launcher_->fd(), [this] { launcher_->on_readable(); });

  events_ = std::make_unique<tessera::sdk::Publisher>(bus(), "isolator_posix.events");
  auto events = events_->bind(isolator::events_endpoint(context().name()));
  if (!events) return events.error();
  context().announce("events", *events);

  server_ = std::make_unique<tessera::sdk::Server>(bus(), "isolator_posix");
  server_->on<isolator::Launch>(
      [this](const tessera::sdk::Request& r, const isolator::Launch& l) { launch(r, l); });
  server_->on<isolator::Kill>(
      [this](const tessera::sdk::Request& r, const isolator::Kill& k) { kill(r, k); });
  server_->on<isolator::Recover>(
      [this](const tessera::sdk::Request& r, const isolator::Recover& rc) { recover(r, rc); });
  auto serving = server_->bind(isolator::endpoint(context().name()));
  if (!serving) return serving.error();
  context().announce("requests", *serving);

  log().info("serving isolator requests on {} (state in {}, kill_on_stop {})", *serving,
             launcher_->state_dir().string(), kill_on_stop_);
  return {};
}

void PosixIsolator::stopping() {
  if (!launcher_) return;
  if (kill_on_stop_) {
    log().info("stopping: killing {} container(s)", launcher_->size());
    launcher_->kill_all(std::chrono::milliseconds(
        static_cast<int64_t>(std::llround(default_grace_seconds_ * 1000))));
  } else if (launcher_->size() > 0) {
    log().info("stopping: leaving {} container(s) running for recovery", launcher_->size());
  }
}

void PosixIsolator::fail(const tessera::sdk::Request& request, const std::string& container_id,
                         const std::string& message) {
  log().warn("{}", message);
  server_->reply(request, isolator::Failed{container_id, message});
}

void PosixIsolator::launch(const tessera::sdk::Request& request, const isolator::Launch& launch) {
  const std::string& id = launch.container_id;
  if (!launch.container.type.empty() && launch.container.type != "MESOS") {
    return fail(request, id,
                "container '" + id + "': isolator_posix cannot run container type '" +
                    launch.container.type + "'");
  }
  if (!launch.command.user.empty()) {
    struct passwd entry {};
    struct passwd* me = nullptr;
    char buffer[4096];
    ::getpwuid_r(::geteuid(), &entry, buffer, sizeof buffer, &me);
    if (me == nullptr || launch.command.user != me->pw_name) {
      return fail(request, id,
                  "container '" + id + "': running as user '" + launch.command.user +
                      "' is not supported by isolator_posix (tasks run as the agent's user)");
    }
  }
  // What the agent sets wins; the isolator only fills what it left out.
  std::map<std::string, std::string> agent_env;
  if (!launch.task_id.empty()) agent_env["TASK_ID"] = launch.task_id;
  if (!hostname_.empty()) agent_env["HOST"] = hostname_;
  agent_env["TESSERA_SANDBOX"] = launch.sandbox;  // TESSERA_CONTAINER_ID: the launcher's marker
  if (launch.environment.count("PORT0") == 0) {
    auto ports = launch.resources.ranges.find("ports");
    if (ports != launch.resources.ranges.end()) {
      size_t n = 0;
      for (const auto& range : ports->second) {
        for (uint64_t p = range.begin; p <= range.end && n < 1024; ++p) {
          agent_env["PORT" + std::to_string(n++)] = std::to_string(p);
        }
      }
      if (n > 0) agent_env["PORT"] = agent_env["PORT0"];
    }
  }
  for (const auto& [k, v] : launch.environment) agent_env[k] = v;

  LaunchSpec spec;
  spec.container_id = id;
  spec.sandbox = launch.sandbox;
  spec.shell = launch.command.shell;
  spec.value = launch.command.value;
  spec.arguments = launch.command.arguments;
  spec.environment = task_environment(launch.command.environment, agent_env, environ);
  auto launched = launcher_->launch(spec);
  if (!launched) return fail(request, id, launched.error().message);
  log().info("launched container '{}' (task '{}', pid {})", id, launch.task_id, launched->pid);
  server_->reply(request, isolator::Launched{id, launched->pid});
}

void PosixIsolator::kill(const tessera::sdk::Request& request, const isolator::Kill& kill) {
  double seconds = kill.grace_seconds;
  if (!std::isfinite(seconds) || seconds < 0) seconds = default_grace_seconds_;
  seconds = std::min(seconds, 86400.0);
  auto grace = std::chrono::milliseconds(static_cast<int64_t>(std::llround(seconds * 1000)));
  auto killed = launcher_->kill(kill.container_id, grace);
  if (!killed) return fail(request, kill.container_id, "cannot kill: " + killed.error().message);
  log().info("killing container '{}' (grace {} ms)", kill.container_id, grace.count());
  server_->reply(request, isolator::Killed{kill.container_id});
}

void PosixIsolator::recover(const tessera::sdk::Request& request,
                            const isolator::Recover& recover) {
  std::vector<std::pair<std::string, int64_t>> known;
  for (const auto& c : recover.containers) known.emplace_back(c.container_id, c.pid);
  Recovered result = launcher_->recover(known);
  log().info("recovered {} live container(s); {} gone; {} orphan(s) killed", result.alive.size(),
             result.gone.size(), result.orphans.size());
  for (const auto& id : result.gone) log().info("container '{}' is not running", id);
  for (const auto& id : result.orphans) {
    log().warn("container '{}' is not known to the agent: killed", id);
  }
  server_->reply(request, isolator::Recovered{result.alive, result.gone});
}

void PosixIsolator::exited(const Exit& exit) {
  log().info("{}", exit.message);
  isolator::Exited event;
  event.container_id = exit.container_id;
  event.exit_code = exit.exit_code;
  event.signal = exit.signal;
  event.message = exit.message;
  events_->publish(event);
}

}  // namespace tessera::isolator_posix

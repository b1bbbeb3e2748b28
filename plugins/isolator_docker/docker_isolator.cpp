#include "docker_isolator.h"

#include "tessera/protocol/duration.h"

#include <cmath>

namespace tessera::docker {

namespace isolator = tessera::protocol::isolator;

DockerIsolator::DockerIsolator(tessera::sdk::PluginContext& context) : IsolatorPlugin(context) {}

tessera::Status DockerIsolator::configure(tessera::sdk::ConfigTable& table) {
  options_.engine.socket_path = table.get<std::string>("socket", options_.engine.socket_path);
  kill_on_stop_ = table.get<bool>("kill_on_stop", kill_on_stop_);
  options_.pull_missing_images =
      table.get<bool>("pull_missing_images", options_.pull_missing_images);
  options_.cpu_hard_cap = table.get<bool>("cpu_hard_cap", options_.cpu_hard_cap);
  options_.sandbox_mount = table.get<std::string>("sandbox_mount", options_.sandbox_mount);
  if (options_.sandbox_mount.empty() || options_.sandbox_mount.front() != '/' ||
      options_.sandbox_mount.find(':') != std::string::npos) {
    table.error_at("sandbox_mount",
                   "expected an absolute path without ':', got '" + options_.sandbox_mount + "'");
  }
  auto workers = table.optional<int64_t>("workers");
  if (workers) {
    if (*workers < 1 || *workers > 64) {
      table.error_at("workers",
                     "expected 1 to 64 daemon calls at once, got " + std::to_string(*workers));
    } else {
      options_.workers = static_cast<int>(*workers);
    }
  }
  auto timeout = table.optional<double>("call_timeout_seconds");
  if (timeout) {
    if (!std::isfinite(*timeout) || *timeout < 1 || *timeout > 3600) {
      table.error_at("call_timeout_seconds",
                     "expected 1 to 3600 seconds, got " + std::to_string(*timeout));
    } else {
      options_.engine.timeout = std::chrono::milliseconds(std::llround(*timeout * 1000));
    }
  }
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

tessera::Status DockerIsolator::start() {
  options_.work_dir = context().plugin_work_dir();
  auto runtime = DockerRuntime::create(
      options_, [this](std::function<void()> fn) { loop().post(std::move(fn)); },
      [this](const ContainerExit& exit) { exited(exit); });
  if (!runtime) return runtime.error();
  runtime_ = std::move(*runtime);
  if (Status pinged = Engine(options_.engine).ping(); !pinged) {
    log().warn("the Docker daemon does not answer ({}); Docker tasks fail until it does",
               pinged.error().message);
  }

  server_ = std::make_unique<tessera::sdk::Server>(bus(), "isolator_docker");
  // As isolator_posix: an accept of thousands of tasks sends its launches and usage polls at
  // once, beyond ZeroMQ's default queue of 1,000 messages.
  server_->set_high_water_mark(1 << 20);
  server_->on<isolator::Launch>(
      [this](const tessera::sdk::Request& r, const isolator::Launch& l) { launch(r, l); });
  server_->on<isolator::Kill>(
      [this](const tessera::sdk::Request& r, const isolator::Kill& k) { kill(r, k); });
  // A container is started as soon as it is created: a held launch (isolators around it) is
  // released at once. The agent runs no isolator chain around Docker containers.
  server_->on<isolator::Release>(
      [this](const tessera::sdk::Request& r, const isolator::Release& l) {
        server_->reply(r, isolator::Released{l.container_id});
      });
  server_->on<isolator::GetUsage>(
      [this](const tessera::sdk::Request& r, const isolator::GetUsage& g) { usage(r, g); });
  server_->on<isolator::Recover>(
      [this](const tessera::sdk::Request& r, const isolator::Recover& rc) { recover(r, rc); });
  auto serving = server_->bind(isolator::endpoint(context().name()));
  if (!serving) return serving.error();
  context().announce("requests", *serving);
  log().info("serving isolator requests on {} (Docker daemon at {}, runtime id {})", *serving,
             options_.engine.socket_path, runtime_->id());
  return {};
}

void DockerIsolator::stopping() {
  if (!runtime_) return;
  if (kill_on_stop_) {
    log().info("stopping: killing {} container(s)", runtime_->size());
    runtime_->kill_all(grace(default_grace_seconds_));
  } else if (runtime_->size() > 0) {
    log().info("stopping: leaving {} container(s) running for recovery", runtime_->size());
  }
  runtime_.reset();
}

std::chrono::milliseconds DockerIsolator::grace(double seconds) const {
  // The one check of durations from the wire; what is not a duration gets the default.
  auto checked =
      protocol::wire_duration("grace_seconds", seconds, protocol::limits::kMaxKillGraceSeconds);
  if (!checked) return std::chrono::milliseconds(std::llround(default_grace_seconds_ * 1000));
  return checked->as<std::chrono::milliseconds>();
}

void DockerIsolator::fail(const tessera::sdk::Request& request, const std::string& container_id,
                          const std::string& message) {
  fail_later(request.peer, request.message.header().sequence, container_id, message);
}

void DockerIsolator::fail_later(const std::string& peer, uint64_t sequence,
                                const std::string& container_id, const std::string& message) {
  log().warn("{}", message);
  server_->reply_later(peer, sequence, isolator::Failed{container_id, message});
}

void DockerIsolator::launch(const tessera::sdk::Request& request, const isolator::Launch& launch) {
  const std::string& id = launch.container_id;
  if (launch.container.type != "DOCKER") {
    return fail(request, id,
                "container '" + id + "': isolator_docker runs only DOCKER containers, not '" +
                    launch.container.type + "'");
  }
  LaunchRequest spec;
  spec.container_id = id;
  spec.task_id = launch.task_id;
  spec.sandbox = launch.sandbox;
  spec.image = launch.container.image;
  spec.network = launch.container.network;
  spec.shell = launch.command.shell;
  spec.value = launch.command.value;
  spec.arguments = launch.command.arguments;
  spec.user = launch.command.user;
  // The task's own environment, then what the agent adds: the agent's wins.
  spec.environment = launch.command.environment;
  for (const auto& [key, value] : launch.environment) spec.environment[key] = value;
  spec.cpus = launch.resources.scalar("cpus");
  spec.mem_mb = launch.resources.scalar("mem");
  // Answered when the daemon has started it (or could not): other requests are served meanwhile.
  runtime_->launch(spec, [this, peer = request.peer, sequence = request.message.header().sequence,
                          id, task = launch.task_id](Result<int64_t> pid) {
    if (!pid)
      return fail_later(peer, sequence, id, "container '" + id + "': " + pid.error().message);
    log().info("launched container '{}' (task '{}', pid {})", id, task, *pid);
    peers_[id] = peer;
    server_->reply_later(peer, sequence, isolator::Launched{id, *pid});
  });
}

void DockerIsolator::kill(const tessera::sdk::Request& request, const isolator::Kill& kill) {
  auto wait = grace(kill.grace_seconds);
  if (Status killed = runtime_->kill(kill.container_id, wait); !killed) {
    return fail(request, kill.container_id, "cannot kill: " + killed.error().message);
  }
  log().info("stopping container '{}' (grace {} ms)", kill.container_id, wait.count());
  server_->reply(request, isolator::Killed{kill.container_id});
}

void DockerIsolator::usage(const tessera::sdk::Request& request, const isolator::GetUsage& get) {
  runtime_->usage(
      get.container_id, [this, peer = request.peer, sequence = request.message.header().sequence,
                         id = get.container_id](Result<ContainerStats> stats) {
        // Not logged as a failure: the agent asks again at its next interval.
        if (!stats) {
          server_->reply_later(peer, sequence, isolator::Failed{id, stats.error().message});
          return;
        }
        server_->reply_later(
            peer, sequence,
            isolator::Usage{id, stats->cpu_seconds, stats->memory_bytes, stats->memory_peak_bytes});
      });
}

void DockerIsolator::recover(const tessera::sdk::Request& request,
                             const isolator::Recover& recover) {
  std::vector<std::string> known;
  for (const auto& c : recover.containers) known.push_back(c.container_id);
  runtime_->recover(
      known, [this, peer = request.peer,
              sequence = request.message.header().sequence](Result<RecoveredContainers> result) {
        if (!result)
          return fail_later(peer, sequence, "", "cannot recover: " + result.error().message);
        log().info("recovered {} container(s); {} gone; {} orphan(s) removed", result->alive.size(),
                   result->gone.size(), result->orphans.size());
        for (const auto& id : result->orphans) {
          log().warn("container '{}' is not known to the agent: removed", id);
        }
        for (const auto& id : result->alive) peers_[id] = peer;
        server_->reply_later(peer, sequence, isolator::Recovered{result->alive, result->gone});
      });
}

void DockerIsolator::exited(const ContainerExit& exit) {
  log().info("{}", exit.message);
  isolator::Exited event;
  event.container_id = exit.container_id;
  event.exit_code = exit.exit_code;
  event.reason = exit.reason;
  event.message = exit.message;
  // On the connection of the peer that launched or recovered it, after that reply.
  auto peer = peers_.find(exit.container_id);
  if (peer == peers_.end()) return;
  if (!server_->send(peer->second, event)) {
    log().warn("the exit of container '{}' could not be sent to the agent", exit.container_id);
  }
  peers_.erase(peer);
}

}  // namespace tessera::docker

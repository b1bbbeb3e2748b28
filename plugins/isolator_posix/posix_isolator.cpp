#include "posix_isolator.h"

#include <pwd.h>
#include <unistd.h>

#include <cmath>

extern char** environ;

namespace tessera::isolator_posix {

namespace isolator = tessera::protocol::isolator;
using process_launcher::Exit;
using process_launcher::LaunchSpec;
using process_launcher::PosixLauncher;

PosixIsolator::PosixIsolator(tessera::sdk::PluginContext& context) : IsolatorPlugin(context) {}

tessera::Status PosixIsolator::configure(tessera::sdk::ConfigTable& table) {
  endpoint_ = table.endpoint("endpoint", isolator::endpoint(context().name()));
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

  server_ = std::make_unique<tessera::sdk::Server>(bus(), "isolator_posix");
  // The agent sends one request per task at once for a whole accept (launches, then usage
  // polls): 2,000 tasks overflowed ZeroMQ's default queue of 1,000 messages (plus 1,000 at the
  // agent's end), the last requests were dropped, and their tasks failed after the agent's
  // 60 s reply timeout. Each message is bounded by the bus's limits; so is their count, higher.
  server_->set_high_water_mark(1 << 20);
  server_->on<isolator::Launch>(
      [this](const tessera::sdk::Request& r, const isolator::Launch& l) { launch(r, l); });
  server_->on<isolator::Release>(
      [this](const tessera::sdk::Request& r, const isolator::Release& l) { release(r, l); });
  server_->on<isolator::Kill>(
      [this](const tessera::sdk::Request& r, const isolator::Kill& k) { kill(r, k); });
  server_->on<isolator::GetUsage>(
      [this](const tessera::sdk::Request& r, const isolator::GetUsage& g) { usage(r, g); });
  server_->on<isolator::Recover>(
      [this](const tessera::sdk::Request& r, const isolator::Recover& rc) { recover(r, rc); });
  auto serving = server_->bind(endpoint_);
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
  LaunchSpec spec;
  spec.container_id = id;
  spec.sandbox = launch.sandbox;
  spec.shell = launch.command.shell;
  spec.value = launch.command.value;
  spec.arguments = launch.command.arguments;
  // The agent built the task's environment (command.environment included); a process also
  // needs the host's PATH, HOME and locale underneath it.
  spec.environment = process_launcher::task_environment({}, launch.environment, environ);
  spec.hold = launch.hold;
  // Answered when the task's supervisor reports the pid: meanwhile the loop serves the other
  // launches of a burst (each supervisor starts in parallel with the next spawn) and every other
  // request, so no launch waits behind all the ones before it.
  auto started = launcher_->start_launch(
      spec, [this, peer = request.peer, sequence = request.message.header().sequence,
             task_id = launch.task_id](const std::string& container_id,
                                       tessera::Result<process_launcher::Launched> launched) {
        if (!launched) {
          log().warn("{}", launched.error().message);
          server_->reply_later(peer, sequence,
                               isolator::Failed{container_id, launched.error().message});
          return;
        }
        // Before the answer: the exit goes to the same peer, after it.
        peers_[container_id] = peer;
        log().info("launched container '{}' (task '{}', pid {})", container_id, task_id,
                   launched->pid);
        server_->reply_later(peer, sequence, isolator::Launched{container_id, launched->pid});
      });
  if (!started) fail(request, id, started.error().message);
}

void PosixIsolator::release(const tessera::sdk::Request& request,
                            const isolator::Release& release) {
  auto released = launcher_->release(release.container_id);
  if (!released) return fail(request, release.container_id, released.error().message);
  server_->reply(request, isolator::Released{release.container_id});
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

void PosixIsolator::usage(const tessera::sdk::Request& request, const isolator::GetUsage& get) {
  // Not logged when it fails: a container that just ended has nothing to measure, and the agent
  // asks again at its next interval.
  auto pid = launcher_->pid(get.container_id);
  auto measured = pid ? process_launcher::process_usage(*pid) : std::nullopt;
  if (!measured) {
    server_->reply(request, isolator::Failed{get.container_id, "container '" + get.container_id +
                                                                   "' has no running process"});
    return;
  }
  server_->reply(request, isolator::Usage{get.container_id, measured->cpu_seconds,
                                          measured->memory_bytes, measured->memory_peak_bytes});
}

void PosixIsolator::recover(const tessera::sdk::Request& request,
                            const isolator::Recover& recover) {
  std::vector<std::pair<std::string, int64_t>> known;
  for (const auto& c : recover.containers) known.emplace_back(c.container_id, c.pid);
  process_launcher::Recovered result = launcher_->recover(known);
  for (const auto& id : result.alive) peers_[id] = request.peer;
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
  auto peer = peers_.find(exit.container_id);
  if (peer == peers_.end()) return;
  if (!server_->send(peer->second, event)) {
    log().warn("the exit of container '{}' could not be sent to the agent", exit.container_id);
  }
  peers_.erase(peer);
}

}  // namespace tessera::isolator_posix

#include "docker_runtime.h"

#include <cmath>
#include <fstream>
#include <random>

namespace tessera::docker {
namespace {

constexpr const char* kRuntimeLabel = "tessera.runtime";
constexpr const char* kContainerLabel = "tessera.container_id";
constexpr const char* kTaskLabel = "tessera.task_id";
constexpr const char* kSandboxLabel = "tessera.sandbox";
constexpr const char* kMemoryReason = "REASON_CONTAINER_LIMITATION_MEMORY";

// The runtime's id: read from the work dir, or made and kept there (written whole before use).
Result<std::string> runtime_id(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return make_error("cannot create '" + dir.string() + "': " + ec.message());
  std::filesystem::path file = dir / "runtime_id";
  {
    std::ifstream in(file);
    std::string id;
    if (in >> id && id.size() == 32) return id;
  }
  std::random_device random;
  std::string id;
  const char* hex = "0123456789abcdef";
  for (int i = 0; i < 32; ++i) id.push_back(hex[random() % 16]);
  std::filesystem::path temporary = dir / "runtime_id.tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << id << "\n";
    if (!out.flush()) return make_error("cannot write '" + temporary.string() + "'");
  }
  std::filesystem::rename(temporary, file, ec);
  if (ec) return make_error("cannot write '" + file.string() + "': " + ec.message());
  return id;
}

}  // namespace

DockerRuntime::DockerRuntime(RuntimeOptions options, Post post, OnExit on_exit)
    : options_(std::move(options)), post_(std::move(post)), on_exit_(std::move(on_exit)) {}

Result<std::unique_ptr<DockerRuntime>> DockerRuntime::create(RuntimeOptions options, Post post,
                                                             OnExit on_exit) {
  if (options.workers < 1 || options.workers > 64) {
    return make_error(ErrorCode::kInvalidArgument, "workers must be from 1 to 64");
  }
  TESSERA_ASSIGN_OR_RETURN(std::string id, runtime_id(options.work_dir));
  std::error_code ec;
  std::filesystem::create_directories(options.work_dir / "log_positions", ec);
  if (ec)
    return make_error("cannot create '" + (options.work_dir / "log_positions").string() + "'");
  std::unique_ptr<DockerRuntime> runtime(
      new DockerRuntime(std::move(options), std::move(post), std::move(on_exit)));
  runtime->id_ = id;
  for (int i = 0; i < runtime->options_.workers; ++i) {
    runtime->workers_.emplace_back([r = runtime.get()] { r->run_worker(); });
  }
  runtime->events_thread_ = std::thread([r = runtime.get()] { r->watch_events(); });
  return runtime;
}

void DockerRuntime::deliver(std::function<void()> fn) {
  post_([alive = std::weak_ptr<bool>(alive_), fn = std::move(fn)] {
    if (alive.lock()) fn();
  });
}

DockerRuntime::~DockerRuntime() {
  alive_.reset();
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  events_pause_.notify_all();
  events_cancel_.cancel();
  for (auto& [id, container] : containers_) {
    if (container.logs) container.logs->cancel();
  }
  for (auto& worker : workers_) worker.join();
  if (events_thread_.joinable()) events_thread_.join();
  for (auto& [id, container] : containers_) {
    if (container.log_thread.joinable()) container.log_thread.join();
  }
}

void DockerRuntime::submit(std::function<void()> job) {
  {
    std::lock_guard lock(mutex_);
    jobs_.push_back(std::move(job));
  }
  wake_.notify_one();
}

void DockerRuntime::run_worker() {
  while (true) {
    std::function<void()> job;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
      if (stopping_) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    job();
  }
}

ContainerSpec DockerRuntime::spec_for(const LaunchRequest& request) const {
  ContainerSpec spec;
  spec.image = request.image;
  if (!request.value.empty()) {
    if (request.shell) {
      spec.entrypoint = {"/bin/sh", "-c"};
      spec.cmd = {request.value};
    } else {
      spec.entrypoint = {request.value};
      spec.cmd = request.arguments;
    }
  } else {
    spec.cmd = request.arguments;  // the image's entrypoint with these arguments
  }
  spec.env = request.environment;
  // Inside, the sandbox is at the mount point; the task's notion of it follows.
  spec.env["MESOS_SANDBOX"] = options_.sandbox_mount;
  spec.env["TESSERA_SANDBOX"] = options_.sandbox_mount;
  spec.labels = {{kRuntimeLabel, id_},
                 {kContainerLabel, request.container_id},
                 {kTaskLabel, request.task_id},
                 {kSandboxLabel, request.sandbox.string()}};
  spec.user = request.user;
  spec.working_dir = options_.sandbox_mount;
  spec.network_mode = request.network.empty() ? "none" : request.network;
  if (request.mem_mb > 0)
    spec.memory_bytes = static_cast<int64_t>(std::llround(request.mem_mb * 1024 * 1024));
  if (options_.cpu_hard_cap && request.cpus > 0) {
    spec.nano_cpus = static_cast<int64_t>(std::llround(request.cpus * 1e9));
  }
  spec.cpu_shares = request.cpus > 0 ? std::max<int64_t>(2, std::llround(request.cpus * 1024)) : 0;
  spec.binds = {request.sandbox.string() + ":" + options_.sandbox_mount};
  return spec;
}

void DockerRuntime::launch(const LaunchRequest& request,
                           std::function<void(Result<int64_t>)> done) {
  const std::string& id = request.container_id;
  if (containers_.count(id) != 0) {
    done(make_error(ErrorCode::kConflict, "container '" + id + "' is already running"));
    return;
  }
  if (request.image.empty()) {
    done(make_error(ErrorCode::kInvalidArgument, "container '" + id + "' has no image"));
    return;
  }
  if (request.network != "none" && request.network != "host" && !request.network.empty()) {
    done(make_error(ErrorCode::kInvalidArgument, "container '" + id + "': network '" +
                                                     request.network +
                                                     "' is not supported (use 'host' or 'none')"));
    return;
  }
  containers_[id].sandbox = request.sandbox;
  ContainerSpec spec = spec_for(request);
  submit([this, id, spec, done = std::move(done)]() mutable {
    Engine engine(options_.engine);
    auto started = [&]() -> Result<std::pair<std::string, int64_t>> {
      TESSERA_ASSIGN_OR_RETURN(bool present, engine.image_present(spec.image));
      if (!present) {
        if (!options_.pull_missing_images) {
          return make_error(ErrorCode::kNotFound,
                            "image '" + spec.image + "' is not on this agent (pulling is off)");
        }
        if (Status pulled = engine.pull(spec.image); !pulled) {
          return make_error(pulled.code(), "image '" + spec.image +
                                               "' is not on this agent and cannot be pulled: " +
                                               pulled.error().message);
        }
      }
      TESSERA_ASSIGN_OR_RETURN(std::string docker_id, engine.create(spec));
      if (Status s = engine.start(docker_id); !s) {
        (void)engine.remove(docker_id, true);
        return s.error();
      }
      auto state = engine.inspect(docker_id);
      return std::make_pair(docker_id, state ? int64_t{state->pid} : int64_t{0});
    }();
    deliver([this, id, started = std::move(started), done = std::move(done)]() mutable {
      auto it = containers_.find(id);
      if (!started) {
        if (it != containers_.end()) containers_.erase(it);
        done(started.error());
        return;
      }
      const auto& [docker_id, pid] = *started;
      it->second.docker_id = docker_id;
      by_docker_id_[docker_id] = id;
      done(pid);
      follow_logs(id);
      if (died_early_.erase(docker_id) != 0) on_died(docker_id);
    });
  });
}

std::filesystem::path DockerRuntime::log_position(const std::string& docker_id) const {
  return options_.work_dir / "log_positions" / docker_id;
}

void DockerRuntime::follow_logs(const std::string& container_id) {
  Container& c = containers_.at(container_id);
  c.logs = std::make_shared<Cancellation>();
  std::string docker_id = c.docker_id;
  std::filesystem::path sandbox = c.sandbox;
  std::filesystem::path position = log_position(docker_id);
  c.log_thread = std::thread([this, container_id, docker_id, sandbox, position, cancel = c.logs] {
    Engine engine(options_.engine);
    // The daemon may end a follow early (one asked for right after the start, before its log
    // reader is up): followed again from the recorded position until the container has ended.
    for (int attempt = 0; attempt < 1000 && !cancel->cancelled(); ++attempt) {
      // A copy that fails (the daemon gone) ends with the container's exit as reported.
      (void)engine.copy_logs(docker_id, sandbox / "stdout", sandbox / "stderr", true, cancel.get(),
                             position);
      auto state = engine.inspect(docker_id);
      if (!state || !state->running) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    // A follow can also end before the last lines of a container that just exited are read:
    // one more copy from the position takes whatever is left.
    if (!cancel->cancelled()) {
      (void)engine.copy_logs(docker_id, sandbox / "stdout", sandbox / "stderr", false, cancel.get(),
                             position);
    }
    deliver([this, container_id] {
      auto it = containers_.find(container_id);
      if (it == containers_.end()) return;
      it->second.logs_done = true;
      if (it->second.log_thread.joinable()) it->second.log_thread.join();
      if (it->second.exited) finish(container_id);
    });
  });
}

void DockerRuntime::reconcile(Engine& engine) {
  auto listing = engine.list({{kRuntimeLabel, id_}});
  if (!listing) return;
  for (const auto& summary : *listing) {
    if (summary.state == "exited" || summary.state == "dead") {
      deliver([this, docker_id = summary.id] { on_died(docker_id); });
    }
  }
}

void DockerRuntime::watch_events() {
  int failures = 0;
  while (true) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
    }
    Engine engine(options_.engine);
    // Once subscribed, whatever died before (while the stream was down, or before it first
    // came up) is found by listing; everything after comes as an event.
    // Ends when the daemon goes away (or is restarted): subscribed again after a pause.
    (void)engine.events(
        {{kRuntimeLabel, id_}},
        [&](const ContainerEvent& event) {
          failures = 0;
          if (event.action == "die") {
            deliver([this, docker_id = event.id] { on_died(docker_id); });
          }
        },
        &events_cancel_, [&] { reconcile(engine); });
    if (events_cancel_.cancelled()) return;
    failures = std::min(failures + 1, 5);
    std::unique_lock lock(mutex_);
    events_pause_.wait_for(lock, std::chrono::milliseconds(200 << failures),
                           [this] { return stopping_; });
  }
}

void DockerRuntime::on_died(const std::string& docker_id) {
  auto known = by_docker_id_.find(docker_id);
  if (known == by_docker_id_.end()) {
    // A launch whose start has not come back yet: remembered until it does.
    died_early_.insert(docker_id);
    return;
  }
  Container& c = containers_.at(known->second);
  if (c.exited) return;
  c.exited = true;
  if (c.logs_done) finish(known->second);
}

void DockerRuntime::finish(const std::string& container_id) {
  auto it = containers_.find(container_id);
  if (it == containers_.end() || it->second.reported) return;
  it->second.reported = true;
  std::string docker_id = it->second.docker_id;
  submit([this, container_id, docker_id] {
    Engine engine(options_.engine);
    ContainerExit exit;
    exit.container_id = container_id;
    auto state = engine.inspect(docker_id);
    // The daemon learns of an OOM kill from an event of its own, which can come after the
    // container's exit: a SIGKILLed container is looked at again for a moment before its end is
    // taken as not the memory limit's.
    for (int look = 0; look < 10 && state && !state->oom_killed && state->exit_code == 137;
         ++look) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      state = engine.inspect(docker_id);
    }
    if (state) {
      exit.exit_code = state->exit_code;
      if (state->oom_killed) {
        exit.reason = kMemoryReason;
        exit.message = "container '" + container_id + "' was killed at its memory limit";
      } else {
        exit.message = "container '" + container_id + "' exited with status " +
                       std::to_string(state->exit_code);
      }
      (void)engine.remove(docker_id, true);
      std::error_code ec;
      std::filesystem::remove(log_position(docker_id), ec);
    } else {
      exit.message = "container '" + container_id +
                     "' ended and its exit status is unknown: " + state.error().message;
    }
    deliver([this, exit] {
      auto c = containers_.find(exit.container_id);
      if (c != containers_.end()) {
        by_docker_id_.erase(c->second.docker_id);
        containers_.erase(c);
      }
      on_exit_(exit);
    });
  });
}

void DockerRuntime::usage(const std::string& container_id,
                          std::function<void(Result<ContainerStats>)> done) {
  auto it = containers_.find(container_id);
  if (it == containers_.end() || it->second.docker_id.empty()) {
    done(make_error(ErrorCode::kNotFound, "no running container '" + container_id + "'"));
    return;
  }
  submit([this, docker_id = it->second.docker_id, done = std::move(done)]() mutable {
    auto stats = Engine(options_.engine).stats(docker_id);
    deliver(
        [stats = std::move(stats), done = std::move(done)]() mutable { done(std::move(stats)); });
  });
}

Status DockerRuntime::kill(const std::string& container_id, std::chrono::milliseconds grace) {
  auto it = containers_.find(container_id);
  if (it == containers_.end()) {
    return make_error(ErrorCode::kNotFound, "no container '" + container_id + "'");
  }
  if (it->second.docker_id.empty()) {
    return make_error(ErrorCode::kUnavailable,
                      "container '" + container_id + "' is still being started");
  }
  submit([this, docker_id = it->second.docker_id, grace] {
    // SIGTERM, sent again each second until the grace period is over, then SIGKILL. Sent once
    // (as `docker stop` does) it can be lost: a container killed right after its start may get
    // it before its init process has set up the forwarding of signals to the task.
    Engine engine(options_.engine);
    auto deadline = std::chrono::steady_clock::now() + grace;
    auto next_term = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() < deadline) {
      {
        std::lock_guard lock(mutex_);
        if (stopping_) return;
      }
      auto state = engine.inspect(docker_id);
      if (!state || !state->running) return;
      if (std::chrono::steady_clock::now() >= next_term) {
        (void)engine.kill(docker_id, "TERM");
        next_term += std::chrono::seconds(1);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    (void)engine.kill(docker_id, "KILL");
  });
  return {};
}

void DockerRuntime::kill_all(std::chrono::milliseconds grace) {
  for (const auto& [id, container] : containers_) {
    if (!container.docker_id.empty()) (void)kill(id, grace);
  }
}

void DockerRuntime::recover(const std::vector<std::string>& known,
                            std::function<void(Result<RecoveredContainers>)> done) {
  submit([this, known, done = std::move(done)]() mutable {
    Engine engine(options_.engine);
    auto listing = engine.list({{kRuntimeLabel, id_}});
    if (!listing) {
      deliver([listing, done = std::move(done)] { done(listing.error()); });
      return;
    }
    std::set<std::string> wanted(known.begin(), known.end());
    RecoveredContainers result;
    std::vector<std::pair<std::string, ContainerSummary>> adopted;
    std::set<std::string> found;
    for (const auto& summary : *listing) {
      auto label = summary.labels.find(kContainerLabel);
      std::string container_id = label == summary.labels.end() ? "" : label->second;
      if (wanted.count(container_id) == 0 || found.count(container_id) != 0) {
        (void)engine.remove(summary.id, true);
        result.orphans.push_back(container_id.empty() ? summary.id : container_id);
        continue;
      }
      found.insert(container_id);
      result.alive.push_back(container_id);
      adopted.emplace_back(container_id, summary);
    }
    for (const auto& id : known) {
      if (found.count(id) == 0) result.gone.push_back(id);
    }
    deliver([this, result, adopted, done = std::move(done)] {
      done(result);
      for (const auto& [container_id, summary] : adopted) {
        Container& c = containers_[container_id];
        c.docker_id = summary.id;
        auto sandbox = summary.labels.find(kSandboxLabel);
        if (sandbox != summary.labels.end()) c.sandbox = sandbox->second;
        by_docker_id_[summary.id] = container_id;
        // The output is copied on from where the last copy ended (its position file): what
        // the task wrote while the agent was down is copied, and nothing twice.
        if (c.sandbox.empty()) {
          c.logs_done = true;
        } else {
          follow_logs(container_id);
        }
        // Dead when listed, or died since: the event stream (up before the recovery) found
        // no container of that id then and kept its death for now.
        bool died_since = died_early_.erase(summary.id) != 0;
        if (died_since || summary.state == "exited" || summary.state == "dead") {
          on_died(summary.id);
        }
      }
    });
  });
}

}  // namespace tessera::docker

#include "cgroups_isolator.h"

#include <fstream>
#include <functional>
#include <set>
#include <sstream>

namespace tessera::isolator_cgroups {

namespace isolator = tessera::protocol::isolator;
namespace reason = tessera::protocol::reason;

CgroupsIsolator::CgroupsIsolator(tessera::sdk::PluginContext& context) : IsolatorPlugin(context) {}

tessera::Status CgroupsIsolator::configure(tessera::sdk::ConfigTable& table) {
  endpoint_ = table.endpoint("endpoint", isolator::endpoint(context().name()));
  version_ = table.get<std::string>("version", version_);
  if (version_ != "auto" && version_ != "v1" && version_ != "v2") {
    table.error_at("version", "expected 'auto', 'v1' or 'v2', got '" + version_ + "'");
  }
  parent_ = table.get<std::string>("parent", parent_);
  if (parent_.empty() || parent_.front() == '/' || parent_.find("..") != std::string::npos) {
    table.error_at("parent", "expected a relative cgroup path without '..', got '" + parent_ + "'");
  }
  settings_.cpu_hard_limit = table.get<bool>("cpu_hard_limit", settings_.cpu_hard_limit);
  settings_.cpu_period_us = table.integer("cpu_period_us", 100000, 1000, 1000000);
  settings_.pids_max = table.integer("pids_max", 4096, 0, 4194304);
  oom_poll_ms_ = table.integer("oom_poll_ms", 250, 10, 60000);
  return {};
}

tessera::Status CgroupsIsolator::start() {
  std::ifstream in("/proc/self/mounts");
  std::stringstream mounts;
  mounts << in.rdbuf();
  auto hierarchy = detect(mounts.str(), version_);
  if (!hierarchy) {
    return hierarchy.error().context(
        "isolator_cgroups: refusing to run tasks without their limits");
  }
  // The agent's own cgroup, named after its work dir: two agents on one machine never touch
  // each other's cgroups, and a restarted agent on the same work dir finds its own.
  char suffix[17];
  std::snprintf(suffix, sizeof suffix, "%016zx",
                std::hash<std::string>{}(context().plugin_work_dir().string()));
  std::filesystem::path parent = std::filesystem::path(parent_) / suffix;
  auto opened = Cgroups::open(std::move(*hierarchy), parent);
  if (!opened) {
    return opened.error().context(
        "isolator_cgroups: cgroups are not writable here; refusing to run tasks without their "
        "limits");
  }
  cgroups_.emplace(std::move(*opened));

  server_ = std::make_unique<tessera::sdk::Server>(bus(), "isolator_cgroups");
  // The agent sends one request per task at once for a whole accept (launches, then usage
  // polls): 2,000 tasks overflowed ZeroMQ's default queue of 1,000 messages (plus 1,000 at the
  // agent's end), the last requests were dropped, and their tasks failed after the agent's
  // 60 s reply timeout. Each message is bounded by the bus's limits; so is their count, higher.
  server_->set_high_water_mark(1 << 20);
  server_->on<isolator::Prepare>(
      [this](const tessera::sdk::Request& r, const isolator::Prepare& m) { prepare(r, m); });
  server_->on<isolator::Isolate>(
      [this](const tessera::sdk::Request& r, const isolator::Isolate& m) { isolate(r, m); });
  server_->on<isolator::Update>(
      [this](const tessera::sdk::Request& r, const isolator::Update& m) { update(r, m); });
  server_->on<isolator::GetUsage>(
      [this](const tessera::sdk::Request& r, const isolator::GetUsage& m) { usage(r, m); });
  server_->on<isolator::Cleanup>(
      [this](const tessera::sdk::Request& r, const isolator::Cleanup& m) { cleanup(r, m); });
  server_->on<isolator::Recover>(
      [this](const tessera::sdk::Request& r, const isolator::Recover& m) { recover(r, m); });
  auto serving = server_->bind(endpoint_);
  if (!serving) return serving.error();
  context().announce("requests", *serving);
  loop().every(std::chrono::milliseconds(oom_poll_ms_), [this] { check_limits(); });

  const Hierarchy& h = cgroups_->hierarchy();
  log().info("cgroup {} detected; task cgroups under '{}' in {} (cpu hard limit {}, pids max {})",
             h.version == Version::kV1 ? "v1" : "v2", parent.string(),
             h.controllers.at("memory").string(), settings_.cpu_hard_limit, settings_.pids_max);
  return {};
}

void CgroupsIsolator::stopping() {
  if (cgroups_) cgroups_->remove_parent_if_empty();
}

void CgroupsIsolator::fail(const tessera::sdk::Request& request, const std::string& container_id,
                           const std::string& message) {
  log().warn("{}", message);
  server_->reply(request, isolator::Failed{container_id, message});
}

void CgroupsIsolator::prepare(const tessera::sdk::Request& request,
                              const isolator::Prepare& prepare) {
  const std::string& id = prepare.container_id;
  if (id.empty() || id.size() > 200) {
    return fail(request, id, "invalid container id '" + id + "' (1 to 200 bytes)");
  }
  if (containers_.count(id) != 0) {
    return fail(request, id, "container '" + id + "' is already prepared");
  }
  if (auto checked = protocol::check_resources(prepare.resources); !checked) {
    return fail(request, id, "container '" + id + "': " + checked.error().message);
  }
  Container container;
  container.peer = request.peer;
  container.limits = limits_for(prepare.resources, settings_);
  if (auto s = cgroups_->create(id, container.limits); !s) {
    (void)cgroups_->destroy(id);
    return fail(request, id, "container '" + id + "': " + s.error().message);
  }
  containers_[id] = container;
  log().info("prepared container '{}' (cpu shares {}, quota {} us, memory {} bytes, pids {})", id,
             container.limits.cpu_shares, container.limits.cpu_quota_us.value_or(-1),
             container.limits.memory_bytes.value_or(-1), container.limits.pids_max.value_or(-1));
  server_->reply(request, isolator::Prepared{id});
}

void CgroupsIsolator::isolate(const tessera::sdk::Request& request,
                              const isolator::Isolate& isolate) {
  auto it = containers_.find(isolate.container_id);
  if (it == containers_.end()) {
    return fail(request, isolate.container_id, "unknown container '" + isolate.container_id + "'");
  }
  if (isolate.pid <= 1 || isolate.pid > 4194304) {
    return fail(
        request, isolate.container_id,
        "container '" + isolate.container_id + "': invalid pid " + std::to_string(isolate.pid));
  }
  it->second.peer = request.peer;
  if (auto s = cgroups_->attach(isolate.container_id, static_cast<pid_t>(isolate.pid)); !s) {
    return fail(request, isolate.container_id,
                "container '" + isolate.container_id + "': " + s.error().message);
  }
  server_->reply(request, isolator::Isolated{isolate.container_id});
}

void CgroupsIsolator::update(const tessera::sdk::Request& request, const isolator::Update& update) {
  auto it = containers_.find(update.container_id);
  if (it == containers_.end()) {
    return fail(request, update.container_id, "unknown container '" + update.container_id + "'");
  }
  if (auto checked = protocol::check_resources(update.resources); !checked) {
    return fail(request, update.container_id,
                "container '" + update.container_id + "': " + checked.error().message);
  }
  Limits limits = limits_for(update.resources, settings_);
  if (auto s = cgroups_->apply(update.container_id, limits); !s) {
    return fail(request, update.container_id,
                "container '" + update.container_id + "': " + s.error().message);
  }
  it->second.limits = limits;
  server_->reply(request, isolator::Updated{update.container_id});
}

void CgroupsIsolator::usage(const tessera::sdk::Request& request, const isolator::GetUsage& get) {
  if (containers_.count(get.container_id) == 0) {
    return fail(request, get.container_id, "unknown container '" + get.container_id + "'");
  }
  Usage u = cgroups_->usage(get.container_id);
  server_->reply(request, isolator::Usage{get.container_id, u.cpu_seconds, u.memory_bytes,
                                          u.memory_peak_bytes});
}

std::string CgroupsIsolator::memory_message(const Container& container) const {
  std::string limit =
      container.limits.memory_bytes
          ? std::to_string(*container.limits.memory_bytes / (int64_t{1024} * 1024)) + " MiB"
          : "its";
  return "memory limit of " + limit + " reached: the kernel's OOM killer ended a process of it";
}

void CgroupsIsolator::cleanup(const tessera::sdk::Request& request,
                              const isolator::Cleanup& cleanup) {
  const std::string& id = cleanup.container_id;
  isolator::CleanedUp done{id, "", ""};
  auto it = containers_.find(id);
  // Also for a container not known (any more): cleaning up is idempotent.
  bool exists = cgroups_->exists(id);
  if (exists && cgroups_->oom_kills(id) > 0) {
    done.reason = reason::kMemoryLimit;
    done.message = memory_message(it != containers_.end() ? it->second : Container{});
  }
  if (exists) {
    if (auto s = cgroups_->destroy(id); !s) {
      log().error("container '{}': {}", id, s.error().message);
    }
  }
  if (it != containers_.end()) containers_.erase(it);
  server_->reply(request, done);
}

void CgroupsIsolator::recover(const tessera::sdk::Request& request,
                              const isolator::Recover& recover) {
  std::set<std::string> named;
  for (const auto& c : recover.containers) named.insert(c.container_id);
  isolator::Recovered result;
  for (const std::string& id : cgroups_->containers()) {
    if (named.count(id) != 0) continue;
    // An orphan: a cgroup the agent has no task for. What is left in it goes with it.
    log().warn("container '{}' is not known to the agent: its cgroup is removed", id);
    if (auto s = cgroups_->destroy(id); !s)
      log().error("container '{}': {}", id, s.error().message);
    containers_.erase(id);
  }
  for (const std::string& id : named) {
    if (cgroups_->exists(id)) {
      Container& c = containers_[id];
      c.peer = request.peer;
      result.alive.push_back(id);
    } else {
      result.gone.push_back(id);
    }
  }
  log().info("recovered {} cgroup(s); {} gone", result.alive.size(), result.gone.size());
  server_->reply(request, result);
}

void CgroupsIsolator::check_limits() {
  for (auto& [id, container] : containers_) {
    if (container.limitation_sent || cgroups_->oom_kills(id) == 0) continue;
    container.limitation_sent = true;
    std::string message = memory_message(container);
    log().warn("container '{}': {}", id, message);
    server_->send(container.peer, isolator::Limitation{id, reason::kMemoryLimit, message});
  }
}

}  // namespace tessera::isolator_cgroups

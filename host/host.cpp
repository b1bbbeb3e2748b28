#include "host.h"

#include <signal.h>
#include <unistd.h>
#include <zmq.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <filesystem>
#include <fstream>

#include "roles.h"
#include "tessera/abi_fingerprint.h"
#include "tessera/sdk/plugin.h"

namespace tessera::host {

namespace {

void log_to_spdlog(void* context, int level, const char* message, size_t length) {
  auto* logger = static_cast<spdlog::logger*>(context);
  if (level < TESSERA_LOG_TRACE || level > TESSERA_LOG_CRITICAL) level = TESSERA_LOG_INFO;
  logger->log(static_cast<spdlog::level::level_enum>(level), std::string_view(message, length));
}

void announce_to_host(void* context, const char* key, const char* value);

std::string error_text(const char* buffer) { return buffer[0] ? buffer : "(no message)"; }

// Removes the private plugin copies of hosts that are gone (killed, or abandoned after a hung
// plugin), which only they could have removed. A directory is named after its host's pid.
void remove_dead_hosts_copies(const std::filesystem::path& run_dir) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(run_dir, ec)) {
    const std::string name = entry.path().filename().string();
    pid_t pid = 0;
    auto [end, parsed] = std::from_chars(name.data(), name.data() + name.size(), pid);
    if (parsed != std::errc() || end != name.data() + name.size() || pid <= 0) continue;
    if (pid == getpid() || ::kill(pid, 0) == 0 || errno != ESRCH) continue;
    std::filesystem::remove_all(entry.path(), ec);
  }
}

}  // namespace

// One selected plugin: its library, its instance and the thread it runs on.
struct Host::Instance {
  Selection selection;
  const tessera_plugin_descriptor* descriptor = nullptr;
  std::shared_ptr<spdlog::logger> logger;
  std::string plugin_work_dir;
  std::string plugin_file;  // as found in the plugin directories; empty for a built-in role
  std::string work_dir;
  std::string config_path;
  std::string config_table;
  std::string roles;
  tessera_host_services services{};
  Host* host = nullptr;
  void* handle = nullptr;

  std::thread thread;
  std::promise<Status> started;
  std::promise<Status> finished;
  std::future<Status> finished_future = finished.get_future();
  bool running = false;
  bool started_once = false;
  bool hung = false;
};

namespace {

void announce_to_host(void* context, const char* key, const char* value) {
  auto* instance = static_cast<Host::Instance*>(context);
  instance->host->announce(instance->selection.name, key ? key : "", value ? value : "");
}

}  // namespace

Host::Host(NodeConfig config, std::vector<spdlog::sink_ptr> sinks)
    : config_(std::move(config)), sinks_(std::move(sinks)) {
  log_ = std::make_shared<spdlog::logger>("host", sinks_.begin(), sinks_.end());
  log_->set_level(spdlog::level::from_str(config_.log_level));
  log_->set_pattern(config_.log_pattern);
  zmq_context_ = zmq_ctx_new();
}

Host::~Host() {
  stop();
  // A hung plugin's thread still refers to its instance: leak those, destroy the rest.
  for (auto& instance : instances_) {
    if (instance->hung) (void)instance.release();
  }
  instances_.clear();
  if (abandoned_) {
    // A hung plugin still runs code from its library and holds sockets on the context:
    // releasing either would crash or block. The process is about to exit anyway. Its private
    // copies stay for a debugger; the next host on this work dir removes them.
    for (auto& library : libraries_) (void)library.release();
    return;
  }
  libraries_.clear();
  zmq_ctx_term(zmq_context_);
  if (!copy_dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(copy_dir_, ec);
  }
}

Status Host::prepare_copy_dir() {
  std::filesystem::path run_dir = config_.work_dir / "run";
  std::filesystem::path dir = run_dir / std::to_string(getpid());
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return make_error(config_.work_dir_where + ": node.work_dir: cannot create '" + dir.string() +
                      "': " + ec.message());
  }
  remove_dead_hosts_copies(run_dir);
  copy_dir_ = dir;
  return {};
}

Status Host::load() {
  if (config_.run_roles) {
    if (auto s = check_role_plugins(); !s) return s;
  }
  bool any_library = std::any_of(config_.plugins.begin(), config_.plugins.end(),
                                 [](const Selection& s) { return !s.builtin; });
  if (any_library) {
    if (auto s = prepare_copy_dir(); !s) return s;
  }
  for (const Selection& selection : config_.plugins) {
    if (selection.builtin && !config_.run_roles) continue;
    if (selection.builtin) {
      const tessera_plugin_descriptor* descriptor = builtin_role(selection.name);
      if (descriptor == nullptr)
        return make_error("this host has no built-in role '" + selection.name + "'");
      auto instance = std::make_unique<Instance>();
      instance->selection = selection;
      instance->descriptor = descriptor;
      instances_.push_back(std::move(instance));
      continue;
    }
    auto library = load_plugin(selection.name, config_.plugin_dirs, copy_dir_);
    if (!library) {
      return library.error().context(selection.where + ": " + selection.slot);
    }
    uint32_t kind = library->descriptor().kind;
    if (kind != static_cast<uint32_t>(selection.kind)) {
      return make_error(selection.where + ": " + selection.slot + " takes a plugin of kind '" +
                        sdk::kind_name(selection.kind) + "', but '" + selection.name +
                        "' is of kind '" + sdk::kind_name(kind) + "'");
    }
    log_->info("loaded plugin '{}' {} ({}) from {}", selection.name, library->descriptor().version,
               sdk::kind_name(kind), library->path().string());
    log_->debug("plugin '{}' built with SDK {}, runs from the private copy {}", selection.name,
                library->descriptor().sdk_version, library->loaded_path().string());
    libraries_.push_back(std::make_unique<PluginLibrary>(std::move(*library)));
    auto instance = std::make_unique<Instance>();
    instance->selection = selection;
    instance->descriptor = &libraries_.back()->descriptor();
    instance->plugin_file = libraries_.back()->path().string();
    instances_.push_back(std::move(instance));
  }
  return {};
}

// The roles need their plugins: a master elects itself and keeps its registry through the
// leader plugin and asks the allocator for offers; an agent finds its master through the leader
// plugin and runs tasks through an isolator.
Status Host::check_role_plugins() const {
  auto has = [&](tessera_plugin_kind kind) {
    return std::any_of(config_.plugins.begin(), config_.plugins.end(),
                       [&](const Selection& s) { return !s.builtin && s.kind == kind; });
  };
  if ((config_.has_role("master") || config_.has_role("agent")) && !has(TESSERA_KIND_LEADER)) {
    return make_error(config_.leader_where + ": the " + config_.roles_text() +
                      " role needs a leader plugin: set [node] leader, e.g. leader = "
                      "\"leader_standalone\"");
  }
  if (config_.has_role("master") && !has(TESSERA_KIND_ALLOCATOR)) {
    return make_error(config_.allocator_where +
                      ": the master role needs an allocator plugin: set [master] "
                      "allocator, e.g. allocator = \"allocator_drf\"");
  }
  if (config_.has_role("agent") && !has(TESSERA_KIND_ISOLATOR)) {
    return make_error(config_.isolators_where +
                      ": the agent role needs an isolator plugin: set [agent] "
                      "isolators, e.g. isolators = [\"isolator_posix\"]");
  }
  return {};
}

Status Host::create() {
  std::error_code ec;
  for (auto& instance : instances_) {
    const std::string& name = instance->selection.name;
    instance->logger = std::make_shared<spdlog::logger>(name, sinks_.begin(), sinks_.end());
    instance->logger->set_level(log_->level());
    instance->logger->set_pattern(config_.log_pattern);
    instance->work_dir = config_.work_dir.string();
    instance->plugin_work_dir = instance->selection.builtin
                                    ? (config_.work_dir / name).string()
                                    : (config_.work_dir / "plugins" / name).string();
    std::filesystem::create_directories(instance->plugin_work_dir, ec);
    if (ec) {
      return make_error(config_.work_dir_where + ": node.work_dir: cannot create '" +
                        instance->plugin_work_dir + "': " + ec.message());
    }
    instance->config_path = config_.file.string();
    instance->config_table = instance->selection.builtin ? name : "plugins." + name;
    instance->roles = config_.roles_text();
    instance->host = this;

    tessera_host_services& s = instance->services;
    s.struct_size = sizeof(tessera_host_services);
    s.zmq_context = zmq_context_;
    s.log_context = instance->logger.get();
    s.log = &log_to_spdlog;
    s.log_level = static_cast<int>(instance->logger->level());
    s.node_name = config_.name.c_str();
    s.node_roles = instance->roles.c_str();
    s.plugin_name = instance->selection.name.c_str();
    s.config_path = instance->config_path.c_str();
    s.config_text = config_.text.c_str();
    s.config_table = instance->config_table.c_str();
    s.work_dir = instance->work_dir.c_str();
    s.plugin_work_dir = instance->plugin_work_dir.c_str();
    s.announce_context = instance.get();
    s.announce = &announce_to_host;
    s.host_version = TESSERA_SDK_VERSION;
    s.plugin_file = instance->plugin_file.c_str();

    char error[4096] = {};
    tessera_status status = instance->descriptor->create(&instance->services, &instance->handle,
                                                         tessera_error_buffer{error, sizeof error});
    if (status != TESSERA_OK) {
      instance->handle = nullptr;
      return make_error("cannot create plugin '" + name + "': " + error_text(error));
    }
  }
  return {};
}

Status Host::start_one(Instance& instance) {
  const tessera_plugin_descriptor& d = *instance.descriptor;
  std::future<Status> started = instance.started.get_future();
  instance.running = true;
  instance.started_once = true;
  instance.thread = std::thread([&instance, &d] {
    char error[4096] = {};
    if (d.start(instance.handle, tessera_error_buffer{error, sizeof error}) != TESSERA_OK) {
      Status failed = make_error(error_text(error));
      instance.started.set_value(failed);
      instance.finished.set_value(failed);
      return;
    }
    instance.started.set_value(Status{});
    Status result;
    if (d.run(instance.handle, tessera_error_buffer{error, sizeof error}) != TESSERA_OK) {
      result = make_error(error_text(error));
    }
    instance.finished.set_value(result);
  });
  const std::string& name = instance.selection.name;
  if (started.wait_for(config_.start_timeout) != std::future_status::ready) {
    instance.hung = true;
    abandoned_ = true;
    instance.thread.detach();
    return make_error("plugin '" + name + "' did not finish starting within " +
                      std::to_string(config_.start_timeout.count()) +
                      " ms (node.start_timeout_ms); giving up");
  }
  Status status = started.get();
  if (!status) {
    // The thread has ended (start failed, run never began): reap it now, so stop() does not
    // report this failure a second time.
    (void)instance.finished_future.get();
    instance.thread.join();
    instance.running = false;
    return status.context("plugin '" + name + "' failed to start");
  }
  log_->info("started plugin '{}'", name);
  return {};
}

Status Host::start() {
  for (auto& instance : instances_) {
    Status status = start_one(*instance);
    if (!status) return status;
  }
  return {};
}

int Host::serve(const sigset_t& stop_signals) {
  log_->info("node '{}' running as {} with {} plugin(s)", config_.name,
             config_.roles.empty() ? std::string("plugins only") : config_.roles_text(),
             instances_.size());
  while (true) {
    timespec tick{0, 200L * 1000 * 1000};
    int signal = sigtimedwait(&stop_signals, nullptr, &tick);
    if (signal > 0) {
      log_->info("received {}, stopping", signal == SIGINT ? "SIGINT" : "SIGTERM");
      return 0;
    }
    for (auto& instance : instances_) {
      if (!instance->running) continue;
      if (instance->finished_future.wait_for(std::chrono::seconds(0)) ==
          std::future_status::ready) {
        Status result = instance->finished_future.get();
        instance->thread.join();
        instance->running = false;
        if (result) {
          log_->error("plugin '{}' stopped by itself; stopping the node", instance->selection.name);
        } else {
          log_->error("plugin '{}' failed: {}; stopping the node", instance->selection.name,
                      result.error().message);
        }
        return 1;
      }
    }
  }
}

bool Host::stop() {
  bool clean = true;
  for (auto it = instances_.rbegin(); it != instances_.rend(); ++it) {
    Instance& instance = **it;
    if (instance.hung || instance.handle == nullptr) continue;
    const tessera_plugin_descriptor& d = *instance.descriptor;
    const std::string& name = instance.selection.name;
    if (instance.running) {
      d.request_stop(instance.handle);
      if (instance.finished_future.wait_for(config_.stop_timeout) != std::future_status::ready) {
        log_->error("plugin '{}' did not stop within {} ms (node.stop_timeout_ms); abandoning it",
                    name, config_.stop_timeout.count());
        instance.hung = true;
        abandoned_ = true;
        instance.thread.detach();
        clean = false;
        continue;
      }
      Status result = instance.finished_future.get();
      instance.thread.join();
      instance.running = false;
      if (!result)
        log_->error("plugin '{}' failed while stopping: {}", name, result.error().message);
    }
    bool was_started = instance.started_once;
    d.destroy(instance.handle);
    instance.handle = nullptr;
    if (was_started) {
      log_->info("stopped plugin '{}'", name);
    } else {
      log_->debug("destroyed plugin '{}' (never started)", name);
    }
  }
  return clean;
}

void Host::announce(const std::string& plugin, const std::string& key, const std::string& value) {
  std::lock_guard<std::mutex> lock(announce_mutex_);
  endpoints_[plugin + "." + key] = value;
  log_->info("plugin '{}' announced {} = {}", plugin, key, value);
  write_endpoints_file();
}

void Host::write_endpoints_file() {
  if (config_.endpoints_file.empty()) return;
  // Written whole and renamed into place, so a reader never sees half a file.
  std::filesystem::path tmp = config_.endpoints_file;
  tmp += ".tmp";
  // Its directory may be one the configuration check found creatable but that is not there yet.
  std::error_code ec;
  std::filesystem::create_directories(config_.endpoints_file.parent_path(), ec);
  {
    std::ofstream out(tmp, std::ios::trunc);
    for (const auto& [key, value] : endpoints_) out << key << " = \"" << value << "\"\n";
  }
  std::filesystem::rename(tmp, config_.endpoints_file, ec);
  if (ec)
    log_->warn("cannot write endpoints file '{}': {}", config_.endpoints_file.string(),
               ec.message());
}

}  // namespace tessera::host

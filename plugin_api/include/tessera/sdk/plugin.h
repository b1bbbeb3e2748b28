// The C++ SDK a plugin author writes against: a context built from what the host handed over,
// and a base class per plugin kind.
//
// A plugin is a class derived from one of AllocatorPlugin, IsolatorPlugin, LeaderPlugin,
// FrameworkPlugin or ServicePlugin, with:
//   explicit MyPlugin(tessera::sdk::PluginContext& context);   // host thread, no sockets yet
//   tessera::Status configure(tessera::sdk::ConfigTable& table) // host thread: read your keys
//   tessera::Status start()                                     // loop thread: open sockets
//   void stopping()                                             // loop thread, optional
// and one line in plugin.cpp: TESSERA_PLUGIN(MyPlugin, "my_plugin", "1.0.0") (plugin_export.h).
//
// Ownership: the SDK owns the context and the plugin object. The plugin is destroyed on its
// loop thread right after its loop stops (so its sockets never change threads); the context
// (logger, loop, configuration) outlives it and is released by the host's destroy call.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include "tessera/abi.h"
#include "tessera/result.h"
#include "tessera/sdk/channels.h"
#include "tessera/sdk/clock.h"
#include "tessera/sdk/config.h"
#include "tessera/sdk/event_loop.h"
#include "tessera/sdk/logger.h"

namespace tessera::sdk {

class PluginContext {
 public:
  explicit PluginContext(const tessera_host_services& host)
      : host_(host),
        log_(host.log_context, host.log, host.log_level),
        bus_{host.zmq_context, &loop_, log_, host.plugin_name} {}

  PluginContext(const PluginContext&) = delete;
  PluginContext& operator=(const PluginContext&) = delete;

  const Logger& log() const { return log_; }
  EventLoop& loop() { return loop_; }
  Bus& bus() { return bus_; }
  // This plugin's time: monotonic and wall clocks, and timers on its loop. Code that waits,
  // times out, backs off or follows a schedule uses it rather than std::chrono and the loop's
  // timers, so that tests can drive it (use_clock).
  Clock& clock() { return *clock_; }
  // Replaces the clock (e.g. with a ManualClock in a test), before start(); `clock` must
  // outlive the context.
  void use_clock(Clock& clock) { clock_ = &clock; }
  void* zmq_context() const { return host_.zmq_context; }

  std::string name() const { return host_.plugin_name; }
  std::string node_name() const { return host_.node_name; }
  std::string node_roles() const { return host_.node_roles; }
  // Whether the node's roles (a comma-separated list) include `role` ("master", "agent").
  bool node_has_role(const std::string& role) const {
    const std::string roles = "," + node_roles() + ",";
    return roles.find("," + role + ",") != std::string::npos;
  }
  std::filesystem::path work_dir() const { return host_.work_dir; }
  // This plugin's own directory under the node's work dir (created by the host).
  std::filesystem::path plugin_work_dir() const { return host_.plugin_work_dir; }
  // The host's version, e.g. "0.1.0".
  std::string host_version() const { return host_.host_version; }
  // The plugin's file as installed (not the private copy the host runs): data shipped beside
  // the .so is found from here. Empty for a role built into the host.
  std::filesystem::path plugin_file() const { return host_.plugin_file; }

  // Tells the host where this plugin can be reached; the host logs it and writes it to the
  // node's endpoints file when one is configured.
  void announce(const std::string& key, const std::string& value) const {
    if (host_.announce != nullptr)
      host_.announce(host_.announce_context, key.c_str(), value.c_str());
  }

  // Parses the node's TOML and returns the plugin's own table ([plugins.NAME]).
  Result<ConfigTable> config() {
    if (!document_) {
      auto parsed = ConfigDocument::parse(host_.config_path, host_.config_text);
      if (!parsed) return parsed.error();
      document_ = std::move(*parsed);
    }
    return document_->at(host_.config_table);
  }

 private:
  const tessera_host_services& host_;
  Logger log_;
  EventLoop loop_;
  Bus bus_;
  std::unique_ptr<ConfigDocument> document_;
  SystemClock system_clock_{loop_};
  Clock* clock_ = &system_clock_;
};

class Plugin {
 public:
  explicit Plugin(PluginContext& context) : context_(context) {}
  virtual ~Plugin() = default;
  Plugin(const Plugin&) = delete;
  Plugin& operator=(const Plugin&) = delete;

  // Reads the plugin's table. Keys not read here are reported as unknown.
  virtual Status configure(ConfigTable& table) { return {}; }
  // Opens sockets and timers on the loop. Must return promptly.
  virtual Status start() = 0;
  // Called on the loop thread after the loop stopped, before the plugin is destroyed.
  virtual void stopping() {}

 protected:
  PluginContext& context() { return context_; }
  const Logger& log() const { return context_.log(); }
  EventLoop& loop() { return context_.loop(); }
  Bus& bus() { return context_.bus(); }
  Clock& clock() { return context_.clock(); }

 private:
  PluginContext& context_;
};

// One base per kind. The kind-specific protocols (allocation, isolation, election, scheduling)
// are messages on the bus, so the bases only fix the kind; they are where helpers shared by
// every plugin of a kind belong.
class AllocatorPlugin : public Plugin {
 public:
  static constexpr tessera_plugin_kind kKind = TESSERA_KIND_ALLOCATOR;
  using Plugin::Plugin;
};
class IsolatorPlugin : public Plugin {
 public:
  static constexpr tessera_plugin_kind kKind = TESSERA_KIND_ISOLATOR;
  using Plugin::Plugin;
};
class LeaderPlugin : public Plugin {
 public:
  static constexpr tessera_plugin_kind kKind = TESSERA_KIND_LEADER;
  using Plugin::Plugin;
};
class FrameworkPlugin : public Plugin {
 public:
  static constexpr tessera_plugin_kind kKind = TESSERA_KIND_FRAMEWORK;
  using Plugin::Plugin;
};
// A plugin that fills no slot and runs beside the roles: a web UI, an exporter, an API gateway.
// Selected by `[node] services`.
class ServicePlugin : public Plugin {
 public:
  static constexpr tessera_plugin_kind kKind = TESSERA_KIND_SERVICE;
  using Plugin::Plugin;
};

inline const char* kind_name(uint32_t kind) {
  switch (kind) {
    case TESSERA_KIND_ALLOCATOR:
      return "allocator";
    case TESSERA_KIND_ISOLATOR:
      return "isolator";
    case TESSERA_KIND_LEADER:
      return "leader";
    case TESSERA_KIND_FRAMEWORK:
      return "framework";
    case TESSERA_KIND_SERVICE:
      return "service";
    default:
      return "unknown";
  }
}

}  // namespace tessera::sdk

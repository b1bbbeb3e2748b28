// TESSERA_PLUGIN(Class, "name", "version"): the one line that makes a library a plugin.
// TESSERA_PLUGIN_WITH_MIN_HOST(Class, "name", "version", "0.3.0"): the same, for a plugin that
// needs a host at least that recent (say, for a message type older hosts do not serve); older
// hosts refuse it with both versions. Without it, the minimum is the oldest host that fills
// every host service of the SDK the plugin is built with (TESSERA_ABI_MIN_HOST_VERSION).
//
// Include this header from exactly one file of a plugin (by convention plugin.cpp); it is the
// only Tessera header that includes Boost.DLL. It defines the C entry points for Class, fills
// the constant descriptor and exports it under the alias `tessera_plugin`. Every entry point
// catches every exception and reports it through the error buffer, so none crosses the
// boundary.
#pragma once

#include <boost/dll/alias.hpp>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <string>

#include "tessera/abi.h"
#include "tessera/abi_fingerprint.h"
#include "tessera/sdk/plugin.h"

namespace tessera::sdk::detail {

struct Instance {
  std::unique_ptr<PluginContext> context;
  std::unique_ptr<Plugin> plugin;
};

inline void fill(tessera_error_buffer error, const std::string& message) {
  if (error.text == nullptr || error.capacity == 0) return;
  size_t n = std::min(message.size(), error.capacity - 1);
  std::memcpy(error.text, message.data(), n);
  error.text[n] = '\0';
}

template <typename Fn>
tessera_status guard(tessera_error_buffer error, const char* what, Fn&& fn) {
  try {
    Status status = fn();
    if (status) return TESSERA_OK;
    fill(error, status.error().message);
  } catch (const std::exception& e) {
    fill(error, std::string(what) + " threw: " + e.what());
  } catch (...) {
    fill(error, std::string(what) + " threw an unknown exception");
  }
  return TESSERA_ERROR;
}

template <typename P>
tessera_status create(const tessera_host_services* host, void** out, tessera_error_buffer error) {
  return guard(error, "create", [&]() -> Status {
    // A host reads the plugin's minimum host version first, so this is reached only by a
    // plugin that declared too old a minimum.
    if (host == nullptr || host->struct_size < sizeof(tessera_host_services)) {
      return make_error("the host's services are " +
                        std::to_string(host == nullptr ? 0 : host->struct_size) +
                        " bytes, this plugin's SDK " TESSERA_SDK_VERSION " reads " +
                        std::to_string(sizeof(tessera_host_services)) +
                        ": the host is older than the plugin's SDK; upgrade tessera-host");
    }
    auto instance = std::make_unique<Instance>();
    instance->context = std::make_unique<PluginContext>(*host);
    instance->plugin = std::make_unique<P>(*instance->context);
    auto table = instance->context->config();
    if (!table) return table.error();
    Status configured = instance->plugin->configure(*table);
    table->reject_unknown_keys();
    Status parsed = table->status();
    if (!parsed) return parsed;
    if (!configured) return configured;
    *out = instance.release();
    return {};
  });
}

inline tessera_status start(void* raw, tessera_error_buffer error) {
  auto* instance = static_cast<Instance*>(raw);
  tessera_status status = guard(error, "start", [&] { return instance->plugin->start(); });
  // A plugin that failed to start is destroyed here, on the thread that opened its sockets.
  if (status != TESSERA_OK) instance->plugin.reset();
  return status;
}

inline tessera_status run(void* raw, tessera_error_buffer error) {
  auto* instance = static_cast<Instance*>(raw);
  tessera_status status = guard(error, "run", [&]() -> Status {
    instance->context->loop().run();
    instance->plugin->stopping();
    return {};
  });
  instance->plugin.reset();
  return status;
}

inline void request_stop(void* raw) { static_cast<Instance*>(raw)->context->loop().request_stop(); }

inline void destroy(void* raw) {
  try {
    delete static_cast<Instance*>(raw);
  } catch (...) {
    // Nothing may cross the boundary; a throwing destructor is the plugin's own bug.
  }
}

template <typename P>
constexpr tessera_plugin_descriptor make_descriptor(
    const char* name, const char* version,
    const char* min_host_version = TESSERA_ABI_MIN_HOST_VERSION) {
  return tessera_plugin_descriptor{TESSERA_ABI_VERSION,
                                   sizeof(tessera_plugin_descriptor),
                                   static_cast<uint32_t>(P::kKind),
                                   name,
                                   version,
                                   TESSERA_ABI_FINGERPRINT,
                                   TESSERA_SDK_VERSION,
                                   &create<P>,
                                   &start,
                                   &run,
                                   &request_stop,
                                   &destroy,
                                   min_host_version};
}

}  // namespace tessera::sdk::detail

#define TESSERA_PLUGIN_WITH_MIN_HOST(Class, NAME, VERSION, MIN_HOST_VERSION)           \
  namespace tessera_plugin_export {                                                    \
  extern const tessera_plugin_descriptor descriptor;                                   \
  const tessera_plugin_descriptor descriptor =                                         \
      ::tessera::sdk::detail::make_descriptor<Class>(NAME, VERSION, MIN_HOST_VERSION); \
  }                                                                                    \
  BOOST_DLL_ALIAS(tessera_plugin_export::descriptor, tessera_plugin)

#define TESSERA_PLUGIN(Class, NAME, VERSION) \
  TESSERA_PLUGIN_WITH_MIN_HOST(Class, NAME, VERSION, TESSERA_ABI_MIN_HOST_VERSION)

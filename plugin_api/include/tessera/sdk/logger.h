// Logger: a plugin's view of the logging sink the host handed it.
//
// The host owns the sink (an spdlog logger named after the plugin); the plugin holds only a
// C function pointer and an opaque context, so no spdlog registry or logger object crosses the
// .so boundary. A Logger is cheap to copy and may be used from any thread: the sink is
// thread-safe. It must not outlive the plugin instance it was made for.
#pragma once

#include <fmt/format.h>

#include <string_view>

#include "tessera/abi.h"

namespace tessera::sdk {

class Logger {
 public:
  Logger() = default;
  Logger(void* context, void (*sink)(void*, int, const char*, size_t), int level)
      : context_(context), sink_(sink), level_(level) {}

  bool enabled(int level) const { return sink_ != nullptr && level >= level_; }

  void write(int level, std::string_view message) const {
    if (enabled(level)) sink_(context_, level, message.data(), message.size());
  }

  template <typename... Args>
  void trace(fmt::format_string<Args...> format, Args&&... args) const {
    log(TESSERA_LOG_TRACE, format, std::forward<Args>(args)...);
  }
  template <typename... Args>
  void debug(fmt::format_string<Args...> format, Args&&... args) const {
    log(TESSERA_LOG_DEBUG, format, std::forward<Args>(args)...);
  }
  template <typename... Args>
  void info(fmt::format_string<Args...> format, Args&&... args) const {
    log(TESSERA_LOG_INFO, format, std::forward<Args>(args)...);
  }
  template <typename... Args>
  void warn(fmt::format_string<Args...> format, Args&&... args) const {
    log(TESSERA_LOG_WARN, format, std::forward<Args>(args)...);
  }
  template <typename... Args>
  void error(fmt::format_string<Args...> format, Args&&... args) const {
    log(TESSERA_LOG_ERROR, format, std::forward<Args>(args)...);
  }

 private:
  template <typename... Args>
  void log(int level, fmt::format_string<Args...> format, Args&&... args) const {
    if (!enabled(level)) return;
    write(level, fmt::format(format, std::forward<Args>(args)...));
  }

  void* context_ = nullptr;
  void (*sink_)(void*, int, const char*, size_t) = nullptr;
  int level_ = TESSERA_LOG_OFF;
};

}  // namespace tessera::sdk

// Logger: a plugin's view of the logging sink the host handed it.
//
// The host owns the sink (an spdlog logger named after the plugin); the plugin holds only a
// C function pointer and an opaque context, so no spdlog registry or logger object crosses the
// .so boundary. A Logger is cheap to copy and may be used from any thread: the sink is
// thread-safe. It must not outlive the plugin instance it was made for.
//
// Text that came from the wire (a message type, a sender, a task, agent or framework id, a
// hostname, a reason) goes into a log line or an error message only through quote(), escape()
// or printable(): a peer could otherwise forge log lines with a newline, hide text behind
// control characters or fill the log with one huge string. (Not named `quoted`: for a
// std::string argument, argument-dependent lookup would pick std::quoted instead.)
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <string>
#include <string_view>

#include "tessera/abi.h"

namespace tessera::sdk {

// How many characters of one wire-supplied string a log line shows by default: enough for any
// id, hostname or message type, and a useful start of a command.
inline constexpr size_t kShownTextMax = 160;

namespace detail {

inline std::string escape_text(std::string_view text, size_t max, bool escape_quotes) {
  static constexpr std::string_view kHex = "0123456789abcdef";
  std::string out;
  out.reserve(std::min(text.size(), max) + 2);
  size_t used = 0;
  for (; used < text.size(); ++used) {
    auto c = static_cast<unsigned char>(text[used]);
    std::string_view piece;
    const std::array<char, 4> hex = {'\\', 'x', kHex[c >> 4], kHex[c & 0xf]};
    if (c == '\n') {
      piece = "\\n";
    } else if (c == '\r') {
      piece = "\\r";
    } else if (c == '\t') {
      piece = "\\t";
    } else if (c == '\\') {
      piece = "\\\\";
    } else if (c == '\'' && escape_quotes) {
      piece = "\\'";
    } else if (c >= 0x20 && c < 0x7f) {
      piece = text.substr(used, 1);
    } else {
      piece = std::string_view(hex.data(), hex.size());
    }
    if (out.size() + piece.size() > max) break;
    out += piece;
  }
  if (used < text.size()) out += "...(" + std::to_string(text.size() - used) + " more bytes)";
  return out;
}

}  // namespace detail

// Free text from the wire (a reason, a command, an error a peer sent) made safe for one log
// line: printable ASCII stays as it is; a backslash is doubled; a newline, carriage return or
// tab is written \n, \r or \t, and every other control character or non-ASCII byte \xHH
// (non-ASCII too, because a bidirectional-override character or invalid UTF-8 can disguise a
// line). At most `max` characters of the escaped text are kept; a truncated text ends with
// "...(N more bytes)", N counting the bytes of `text` left out.
inline std::string printable(std::string_view text, size_t max = kShownTextMax) {
  return detail::escape_text(text, max, false);
}

// An id or name from the wire for a place between single quotes ("task '{}'"): printable(),
// and a single quote gets a backslash too, so the quoting stays unambiguous.
inline std::string escape(std::string_view text, size_t max = kShownTextMax) {
  return detail::escape_text(text, max, true);
}

// escape(text, max) in single quotes, the way errors and logs quote ids: quote("a\nb") is
// 'a\nb' (a backslash and an n) on one line.
inline std::string quote(std::string_view text, size_t max = kShownTextMax) {
  return "'" + escape(text, max) + "'";
}

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

// Typed, checked access to a TOML table, with errors that name the file, line, column and the
// key's full path, and an unknown-key check that lists the valid keys.
//
// Used by the host for the node's own tables and by every plugin for its `[plugins.NAME]`
// table, so a user gets the same kind of message whichever part of the file is wrong:
//   node.toml:12:8: plugins.pong.port: expected an integer, got a string
//   node.toml:14:1: unknown key 'plugins.pong.prot' (valid keys: endpoint, port)
//
// Every message points at a line: a key's own position, or, for a key that is missing, the
// table that should hold it (the first line, 1:1, when even the table is absent). Endpoints
// (endpoint()) and directories (directory()) are checked here too, so that a bad address or a
// work directory that is a file is reported by `tessera-host --check` with its position rather
// than when a socket binds or a file is written.
//
// A ConfigDocument owns the parsed tree; ConfigTable is a view into it that must not outlive
// it. Not thread-safe: read the configuration on one thread (plugins do it in create()).
#pragma once

#include <fcntl.h>
#include <sys/un.h>
#include <unistd.h>

#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/result.h"

namespace tessera::sdk {

namespace detail {

inline std::string describe(const toml::node* node) {
  if (node == nullptr) return "nothing";
  switch (node->type()) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    default:
      return "nothing";
  }
}

inline std::string join(const std::vector<std::string>& items, std::string_view separator) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += separator;
    out += items[i];
  }
  return out;
}

template <typename T>
struct ConfigType;

template <>
struct ConfigType<bool> {
  static constexpr const char* kName = "a boolean";
  static std::optional<bool> read(const toml::node& n) { return n.value_exact<bool>(); }
};
template <>
struct ConfigType<int64_t> {
  static constexpr const char* kName = "an integer";
  static std::optional<int64_t> read(const toml::node& n) { return n.value_exact<int64_t>(); }
};
template <>
struct ConfigType<double> {
  static constexpr const char* kName = "a number";
  static std::optional<double> read(const toml::node& n) {
    if (n.is_integer()) return static_cast<double>(*n.value_exact<int64_t>());
    return n.value_exact<double>();
  }
};
template <>
struct ConfigType<std::string> {
  static constexpr const char* kName = "a string";
  static std::optional<std::string> read(const toml::node& n) {
    return n.value_exact<std::string>();
  }
};
template <>
struct ConfigType<std::vector<std::string>> {
  static constexpr const char* kName = "an array of strings";
  static std::optional<std::vector<std::string>> read(const toml::node& n) {
    const toml::array* array = n.as_array();
    if (array == nullptr) return std::nullopt;
    std::vector<std::string> out;
    for (const toml::node& item : *array) {
      auto s = item.value_exact<std::string>();
      if (!s) return std::nullopt;
      out.push_back(*s);
    }
    return out;
  }
};

}  // namespace detail

// What an endpoint is for. A socket that binds may use port 0 or '*' (a free port, which the
// plugin then announces) and the host '*' (every interface); an address another process
// connects to needs a real host and port.
enum class EndpointUse { bind, connect };

namespace detail {

inline bool host_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '-' || c == '_';
}

// Why the HOST:PORT part of a tcp:// endpoint cannot be used, or empty when it can.
inline std::string tcp_problem(std::string_view address, EndpointUse use) {
  // An IPv6 address is in brackets, so that its colons are not taken for the port's.
  size_t host_end = address.front() == '[' ? address.find(']') : address.rfind(':');
  if (host_end != std::string_view::npos && address.front() == '[') ++host_end;
  if (host_end == std::string_view::npos || host_end >= address.size() ||
      address[host_end] != ':') {
    return host_end == std::string_view::npos || host_end >= address.size()
               ? "has no port: expected tcp://HOST:PORT"
               : "host '" + std::string(address) + "' is not a host name or address";
  }
  std::string_view host = address.substr(0, host_end);
  std::string_view port = address.substr(host_end + 1);
  if (host.empty()) return "has no host: expected tcp://HOST:PORT";
  bool bracketed = host.size() > 2 && host.front() == '[' && host.back() == ']';
  std::string_view bare = bracketed ? host.substr(1, host.size() - 2) : host;
  bool valid_host = host == "*" || std::all_of(bare.begin(), bare.end(), [&](char c) {
                      return host_name_char(c) || (bracketed && c == ':');
                    });
  if (!valid_host) return "host '" + std::string(host) + "' is not a host name or address";
  if (host == "*" && use == EndpointUse::connect) {
    return "'*' binds every interface; an address to connect to needs a host name or address";
  }
  if (port == "*" && use == EndpointUse::bind) return "";
  if (port.empty()) return "has no port: expected tcp://HOST:PORT";
  bool digits = port.size() <= 5 && std::all_of(port.begin(), port.end(), [](char c) {
                  return std::isdigit(static_cast<unsigned char>(c)) != 0;
                });
  if (!digits) return "port '" + std::string(port) + "' is not a number";
  int number = std::stoi(std::string(port));
  if (number > 65535) {
    return "port " + std::string(port) + " is out of range (1 to 65535" +
           (use == EndpointUse::bind ? ", or 0 for a free port)" : ")");
  }
  if (number == 0 && use == EndpointUse::connect) {
    return "port 0 only picks a free port when binding; an address to connect to needs the real "
           "port";
  }
  return "";
}

// Why `text` is not an endpoint this use can take, or empty when it is one: tcp://HOST:PORT
// (HOST a name, an IPv4 address, an IPv6 address in brackets or '*'; PORT 1 to 65535, or 0 or
// '*' to bind a free port), ipc://PATH (at most what a unix socket address holds) or
// inproc://NAME. ZeroMQ accepts more than this and silently truncates what it does not
// understand (tcp://HOST:99999 binds port 34463), so the check is stricter than ZeroMQ.
inline std::string endpoint_problem(std::string_view text, EndpointUse use) {
  std::string quoted = "'" + std::string(text) + "'";
  auto starts = [&](std::string_view prefix) { return text.substr(0, prefix.size()) == prefix; };
  if (starts("tcp://")) {
    if (text.size() == 6) return quoted + " has no host: expected tcp://HOST:PORT";
    std::string problem = tcp_problem(text.substr(6), use);
    if (problem.empty()) return "";
    return quoted + (problem.rfind("has no", 0) == 0 ? " " : ": ") + problem;
  }
  if (starts("ipc://")) {
    std::string_view path = text.substr(6);
    if (path.empty()) return quoted + " has no path: expected ipc://PATH";
    constexpr size_t kMaxPath = sizeof(sockaddr_un::sun_path) - 1;
    if (path.size() > kMaxPath) {
      return quoted + ": the path is " + std::to_string(path.size()) +
             " bytes long, a unix socket path holds at most " + std::to_string(kMaxPath);
    }
    return "";
  }
  if (starts("inproc://")) {
    if (text.size() == 9) return quoted + " has no name: expected inproc://NAME";
    return "";
  }
  return quoted + " is not an endpoint: expected tcp://HOST:PORT, ipc://PATH or inproc://NAME";
}

// Whether the process can write into `dir` (with its effective ids, which it creates files
// with).
inline bool writable(const std::filesystem::path& dir) {
  return faccessat(AT_FDCWD, dir.c_str(), W_OK | X_OK, AT_EACCESS) == 0;
}

// Why `dir` cannot be a directory this process works in, or empty when it can: it must be a
// writable directory, or not exist yet and be creatable (its nearest existing ancestor a
// writable directory). Nothing is created.
inline std::string directory_problem(const std::filesystem::path& dir) {
  std::error_code ec;
  auto status = std::filesystem::status(dir, ec);
  if (ec && ec != std::errc::no_such_file_or_directory && ec != std::errc::not_a_directory) {
    return "cannot check '" + dir.string() + "': " + ec.message();
  }
  if (std::filesystem::exists(status)) {
    if (!std::filesystem::is_directory(status)) return "'" + dir.string() + "' is not a directory";
    if (!writable(dir)) return "'" + dir.string() + "' is not writable";
    return "";
  }
  // The nearest ancestor that exists decides whether the missing part can be made.
  std::filesystem::path ancestor = dir.parent_path();
  while (true) {
    auto found = std::filesystem::status(ancestor, ec);
    if (std::filesystem::exists(found)) {
      std::string prefix = "'" + dir.string() + "' cannot be created: '" + ancestor.string() + "'";
      if (!std::filesystem::is_directory(found)) return prefix + " is not a directory";
      if (!writable(ancestor)) return prefix + " is not writable";
      return "";
    }
    if (ec && ec != std::errc::no_such_file_or_directory && ec != std::errc::not_a_directory) {
      return "cannot check '" + ancestor.string() + "': " + ec.message();
    }
    if (ancestor == ancestor.parent_path()) return "";
    ancestor = ancestor.parent_path();
  }
}

}  // namespace detail

// Collects every error found while reading one document, so a user sees all of them at once.
class ConfigErrors {
 public:
  // Records a problem once (a key read twice, e.g. by the host and by a role, is one problem).
  void add(std::string message) {
    if (std::find(messages_.begin(), messages_.end(), message) == messages_.end()) {
      messages_.push_back(std::move(message));
    }
  }
  bool empty() const { return messages_.empty(); }
  Status status() const {
    if (messages_.empty()) return {};
    return make_error(detail::join(messages_, "\n"));
  }

 private:
  std::vector<std::string> messages_;
};

class ConfigTable {
 public:
  // A view of `table` (null: an absent table, read as empty) whose keys are reported as
  // `path.KEY` in `file`. Errors go to `errors`, which must outlive the view. `anchor`
  // ("FILE:LINE:COL") is where errors about an absent table point: the nearest table that is
  // there (the file's first line by default).
  ConfigTable(const toml::table* table, std::string path, std::string file,
              std::shared_ptr<ConfigErrors> errors, std::string anchor = "")
      : table_(table),
        path_(std::move(path)),
        file_(std::move(file)),
        errors_(std::move(errors)),
        anchor_(anchor.empty() ? file_ + ":1:1" : std::move(anchor)) {}

  const std::string& path() const { return path_; }
  const std::string& file() const { return file_; }
  bool present() const { return table_ != nullptr; }
  bool has(std::string_view key) const { return node(key) != nullptr; }

  // The value of `key`, or `fallback` when absent. A value of the wrong type is recorded as an
  // error (and `fallback` returned so reading can go on and report everything at once).
  template <typename T>
  T get(std::string_view key, T fallback) {
    return optional<T>(key).value_or(std::move(fallback));
  }

  template <typename T>
  std::optional<T> optional(std::string_view key) {
    known_.insert(std::string(key));
    const toml::node* n = node(key);
    if (n == nullptr) return std::nullopt;
    auto value = detail::ConfigType<T>::read(*n);
    if (!value) {
      errors_->add(where(n) + full(key) + ": expected " + detail::ConfigType<T>::kName + ", got " +
                   detail::describe(n));
    }
    return value;
  }

  template <typename T>
  std::optional<T> required(std::string_view key) {
    if (!has(key)) {
      known_.insert(std::string(key));
      errors_->add(where(table_) + full(key) + ": required key is missing");
      return std::nullopt;
    }
    return optional<T>(key);
  }

  // A string that must be one of `choices`.
  std::string choice(std::string_view key, std::string fallback,
                     const std::vector<std::string>& choices) {
    auto value = optional<std::string>(key);
    if (!value) return fallback;
    if (std::find(choices.begin(), choices.end(), *value) == choices.end()) {
      error_at(key, "'" + *value + "' is not one of " + detail::join(choices, ", "));
      return fallback;
    }
    return *value;
  }

  // An endpoint (see detail::endpoint_problem); a bad one is recorded and `fallback` returned.
  std::string endpoint(std::string_view key, std::string fallback,
                       EndpointUse use = EndpointUse::bind) {
    return optional_endpoint(key, use).value_or(std::move(fallback));
  }
  std::optional<std::string> optional_endpoint(std::string_view key,
                                               EndpointUse use = EndpointUse::bind) {
    auto value = optional<std::string>(key);
    if (!value) return std::nullopt;
    if (std::string problem = detail::endpoint_problem(*value, use); !problem.empty()) {
      error_at(key, problem);
      return std::nullopt;
    }
    return value;
  }
  // An array of endpoints; the bad ones are recorded and left out.
  std::vector<std::string> endpoints(std::string_view key, std::vector<std::string> fallback,
                                     EndpointUse use = EndpointUse::bind) {
    auto values = optional<std::vector<std::string>>(key);
    if (!values) return fallback;
    std::vector<std::string> good;
    for (const std::string& value : *values) {
      if (std::string problem = detail::endpoint_problem(value, use); problem.empty()) {
        good.push_back(value);
      } else {
        error_at(key, problem);
      }
    }
    return good;
  }

  // A directory the plugin works in (see detail::directory_problem), relative paths resolved
  // against `base`. A bad one is recorded; the resolved path is returned either way.
  std::filesystem::path directory(std::string_view key, const std::string& fallback,
                                  const std::filesystem::path& base) {
    std::filesystem::path dir(get<std::string>(key, fallback));
    if (dir.is_relative()) dir = (base / dir).lexically_normal();
    if (std::string problem = detail::directory_problem(dir); !problem.empty()) {
      error_at(key, problem);
    }
    return dir;
  }

  // An integer that must lie in [low, high].
  int64_t integer(std::string_view key, int64_t fallback, int64_t low, int64_t high) {
    auto value = optional<int64_t>(key);
    if (!value) return fallback;
    if (*value < low || *value > high) {
      error_at(key, "expected a value from " + std::to_string(low) + " to " + std::to_string(high) +
                        ", got " + std::to_string(*value));
      return fallback;
    }
    return *value;
  }

  // The sub-table at `key` (an absent one reads as empty).
  ConfigTable table(std::string_view key) {
    known_.insert(std::string(key));
    const toml::node* n = node(key);
    if (n != nullptr && !n->is_table()) {
      errors_->add(where(n) + full(key) + ": expected a table, got " + detail::describe(n));
      n = nullptr;
    }
    return ConfigTable(n ? n->as_table() : nullptr, full(key), file_, errors_, here());
  }

  // Keys present in the table, in file order.
  std::vector<std::string> keys() const {
    std::vector<std::string> out;
    if (table_ != nullptr) {
      for (const auto& [k, v] : *table_) out.emplace_back(k.str());
    }
    return out;
  }

  // "FILE:LINE:COL" of `key` (of the table when the key is absent, of the nearest table that
  // is there when the table is absent too), for messages.
  std::string location(std::string_view key) const {
    std::string w = where(node(key) ? node(key) : table_);
    return w.substr(0, w.size() - 2);
  }

  // "FILE:LINE:COL" of this table (of the nearest table that is there when it is absent).
  std::string here() const {
    std::string w = where(table_);
    return w.substr(0, w.size() - 2);
  }

  // Records an error about `key` in the file's words.
  void error_at(std::string_view key, const std::string& message) {
    const toml::node* n = node(key);
    errors_->add(where(n ? n : table_) + full(key) + ": " + message);
  }

  // Records every key of this table that was never asked for, with the valid keys. Call it
  // after reading the table; nested tables check their own keys.
  void reject_unknown_keys() {
    if (table_ == nullptr) return;
    std::vector<std::string> valid(known_.begin(), known_.end());
    for (const auto& [k, v] : *table_) {
      if (known_.count(std::string(k.str())) != 0) continue;
      errors_->add(where(k.source(), &v) + "unknown key '" + full(k.str()) + "' (valid keys: " +
                   (valid.empty() ? std::string("none") : detail::join(valid, ", ")) + ")");
    }
  }

  Status status() const { return errors_->status(); }

 private:
  const toml::node* node(std::string_view key) const {
    return table_ == nullptr ? nullptr : table_->get(key);
  }
  std::string full(std::string_view key) const {
    return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  }
  std::string where(const toml::node* n) const {
    if (n == nullptr) return anchor_ + ": ";
    return where(n->source(), nullptr);
  }
  // The position of a key (when toml++ recorded one), else of `fallback`'s value.
  std::string where(const toml::source_region& region, const toml::node* fallback) const {
    if (!region.begin) return fallback ? where(fallback) : anchor_ + ": ";
    return file_ + ":" + std::to_string(region.begin.line) + ":" +
           std::to_string(region.begin.column) + ": ";
  }

  const toml::table* table_;
  std::string path_;
  std::string file_;
  std::shared_ptr<ConfigErrors> errors_;
  std::string anchor_;
  std::set<std::string> known_;
};

// A parsed TOML file. Owns the tree the tables view.
class ConfigDocument {
 public:
  // Parses `text`, naming it `file` in errors. A syntax error reads
  // "FILE:LINE:COLUMN: DESCRIPTION" with toml++'s description of what was expected.
  static Result<std::unique_ptr<ConfigDocument>> parse(const std::string& file,
                                                       std::string_view text) {
    auto doc = std::unique_ptr<ConfigDocument>(new ConfigDocument(file));
    try {
      doc->root_ = toml::parse(text, file);
    } catch (const toml::parse_error& e) {
      return make_error(file + ":" + std::to_string(e.source().begin.line) + ":" +
                        std::to_string(e.source().begin.column) + ": " +
                        std::string(e.description()));
    }
    return doc;
  }

  // The root table, or the table at a dotted path such as "plugins.pong" (absent: empty).
  ConfigTable root() { return ConfigTable(&root_, "", file_, errors_); }
  ConfigTable at(std::string_view dotted) {
    const toml::node* n = root_.at_path(dotted).node();
    if (n != nullptr && !n->is_table()) {
      errors_->add(file_ + ":" + std::to_string(n->source().begin.line) + ":" +
                   std::to_string(n->source().begin.column) + ": " + std::string(dotted) +
                   ": expected a table, got " + detail::describe(n));
      n = nullptr;
    }
    return ConfigTable(n ? n->as_table() : nullptr, std::string(dotted), file_, errors_);
  }

  Status status() const { return errors_->status(); }
  const std::string& file() const { return file_; }

 private:
  explicit ConfigDocument(std::string file)
      : file_(std::move(file)), errors_(std::make_shared<ConfigErrors>()) {}

  std::string file_;
  toml::table root_;
  std::shared_ptr<ConfigErrors> errors_;
};

}  // namespace tessera::sdk

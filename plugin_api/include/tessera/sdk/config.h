// Typed, checked access to a TOML table, with errors that name the file, line, column and the
// key's full path, and an unknown-key check that lists the valid keys.
//
// Used by the host for the node's own tables and by every plugin for its `[plugins.NAME]`
// table, so a user gets the same kind of message whichever part of the file is wrong:
//   node.toml:12:8: plugins.pong.port: expected an integer, got a string
//   node.toml:14:1: unknown key 'plugins.pong.prot' (valid keys: endpoint, port)
//
// A ConfigDocument owns the parsed tree; ConfigTable is a view into it that must not outlive
// it. Not thread-safe: read the configuration on one thread (plugins do it in create()).
#pragma once

#include <toml++/toml.h>

#include <algorithm>
#include <cstdint>
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
  // `path.KEY` in `file`. Errors go to `errors`, which must outlive the view.
  ConfigTable(const toml::table* table, std::string path, std::string file,
              std::shared_ptr<ConfigErrors> errors)
      : table_(table), path_(std::move(path)), file_(std::move(file)), errors_(std::move(errors)) {}

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
    return ConfigTable(n ? n->as_table() : nullptr, full(key), file_, errors_);
  }

  // Keys present in the table, in file order.
  std::vector<std::string> keys() const {
    std::vector<std::string> out;
    if (table_ != nullptr) {
      for (const auto& [k, v] : *table_) out.emplace_back(k.str());
    }
    return out;
  }

  // "FILE:LINE:COL" of `key` (of the table when the key is absent), for messages.
  std::string location(std::string_view key) const {
    std::string w = where(node(key) ? node(key) : table_);
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
    if (n == nullptr) return file_ + ": ";
    return where(n->source(), nullptr);
  }
  // The position of a key (when toml++ recorded one), else of `fallback`'s value.
  std::string where(const toml::source_region& region, const toml::node* fallback) const {
    if (!region.begin) return fallback ? where(fallback) : file_ + ": ";
    return file_ + ":" + std::to_string(region.begin.line) + ":" +
           std::to_string(region.begin.column) + ": ";
  }

  const toml::table* table_;
  std::string path_;
  std::string file_;
  std::shared_ptr<ConfigErrors> errors_;
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
      errors_->add(file_ + ": " + std::string(dotted) + ": expected a table, got " +
                   detail::describe(n));
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

// Result<T>: a value or an error message, the way errors travel inside Tessera's C++ code.
//
// Errors are strings meant for a human: they quote ids, have no trailing period, and gain
// context at each level ("loading plugin 'drf': descriptor: abi_version 2, host supports 1").
// Header-only; values are owned by the Result; not thread-safe (like any value type).
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace tessera {

struct Error {
  std::string message;

  // Prefixes context: Error{"no such key"}.context("reading 'x'") -> "reading 'x': no such key".
  Error context(const std::string& what) const { return Error{what + ": " + message}; }
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : state_(std::move(error)) {}  // NOLINT: implicit by design

  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(state_); }
  const T& value() const& { return std::get<0>(state_); }
  T&& value() && { return std::get<0>(std::move(state_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const { return std::get<1>(state_); }
  Result<T> context(const std::string& what) const& {
    if (ok()) return *this;
    return error().context(what);
  }

 private:
  std::variant<T, Error> state_;
};

// Result<void>: success or an error.
template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT: implicit by design

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }
  Result<void> context(const std::string& what) const {
    if (ok_) return {};
    return error_.context(what);
  }

 private:
  Error error_;
  bool ok_ = true;
};

using Status = Result<void>;

inline Error make_error(std::string message) { return Error{std::move(message)}; }

}  // namespace tessera

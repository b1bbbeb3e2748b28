// Result<T>: a value or an error, the way errors travel inside Tessera's C++ code.
//
// An Error has a message meant for a human and a code a caller can act on. Messages quote ids,
// have no trailing period, and gain context at each level ("loading plugin 'drf': descriptor:
// abi_version 2, host supports 1"); context keeps the code. The code says what kind of failure
// it is (the caller's input, a missing thing, a clash with current state, something not there
// yet, a refusal, or a fault of ours), so an HTTP layer maps it to a status with http_status()
// instead of matching strings.
//
// make_error(message) gives ErrorCode::kInternal: an error nobody classified is reported as the
// server's fault (500) rather than blamed on the caller. Say make_error(ErrorCode::k..., message)
// wherever the kind is known, at least at protocol and API edges.
//
// Propagation:
//   TESSERA_RETURN_IF_ERROR(expr);               // returns expr's error, if any
//   TESSERA_ASSIGN_OR_RETURN(auto value, expr);  // value = *expr, or returns expr's error
// Both work in any function returning a Result<U> or a Status; they evaluate `expr` once.
//
// Header-only; values are owned by the Result; not thread-safe (like any value type).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace tessera {

// What kind of failure an Error is. The set is small on purpose (a subset of absl::StatusCode):
// each one leads a caller to a different action.
enum class ErrorCode {
  kInvalidArgument,   // the request itself is wrong (bad value, malformed input): do not retry it
  kNotFound,          // what it names does not exist
  kConflict,          // clashes with the current state (already exists, version mismatch)
  kUnavailable,       // not now: no leader, a peer or store down, a timeout; retrying may work
  kPermissionDenied,  // the caller may not do this
  kInternal,          // a fault on our side, or an error nobody classified
};

// The code's name in logs and JSON: "invalid argument", "not found", ...
constexpr std::string_view code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return "invalid argument";
    case ErrorCode::kNotFound:
      return "not found";
    case ErrorCode::kConflict:
      return "conflict";
    case ErrorCode::kUnavailable:
      return "unavailable";
    case ErrorCode::kPermissionDenied:
      return "permission denied";
    case ErrorCode::kInternal:
      break;
  }
  return "internal";
}

// The HTTP status that answers a request failing with `code`: 400, 404, 409, 503, 403, 500.
constexpr int http_status(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return 400;
    case ErrorCode::kNotFound:
      return 404;
    case ErrorCode::kConflict:
      return 409;
    case ErrorCode::kUnavailable:
      return 503;
    case ErrorCode::kPermissionDenied:
      return 403;
    case ErrorCode::kInternal:
      break;
  }
  return 500;
}

struct Error {
  std::string message;
  ErrorCode code = ErrorCode::kInternal;

  // Prefixes context and keeps the code:
  // Error{"no such key"}.context("reading 'x'") -> "reading 'x': no such key".
  Error context(const std::string& what) const { return Error{what + ": " + message, code}; }
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
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const& { return std::get<1>(state_); }
  Error&& error() && { return std::get<1>(std::move(state_)); }
  // The error's code; only meaningful when !ok().
  ErrorCode code() const { return error().code; }
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
  const Error& error() const& { return error_; }
  Error&& error() && { return std::move(error_); }
  ErrorCode code() const { return error_.code; }
  Result<void> context(const std::string& what) const {
    if (ok_) return {};
    return error_.context(what);
  }

 private:
  Error error_;
  bool ok_ = true;
};

using Status = Result<void>;

// An error nobody classified: reported as ours (kInternal, HTTP 500).
inline Error make_error(std::string message) { return Error{std::move(message)}; }
inline Error make_error(ErrorCode code, std::string message) {
  return Error{std::move(message), code};
}

}  // namespace tessera

#define TESSERA_RESULT_CONCAT_INNER(a, b) a##b
#define TESSERA_RESULT_CONCAT(a, b) TESSERA_RESULT_CONCAT_INNER(a, b)

// Returns the error of `expr` (a Result<T> or Status) from the enclosing function, if it has one.
// A named Result is copied from, a temporary moved from.
#define TESSERA_RETURN_IF_ERROR(expr)                                            \
  do {                                                                           \
    auto&& tessera_checked_ = (expr);                                            \
    if (!tessera_checked_.ok()) {                                                \
      return std::forward<decltype(tessera_checked_)>(tessera_checked_).error(); \
    }                                                                            \
  } while (false)

// `lhs = *expr` when `expr` (a Result<T>) holds a value; otherwise returns its error from the
// enclosing function. `lhs` may declare a variable (`auto value`, `const Agent& agent`... as long
// as it can bind the moved value) or name an existing one.
#define TESSERA_ASSIGN_OR_RETURN(lhs, expr) \
  TESSERA_ASSIGN_OR_RETURN_IMPL(TESSERA_RESULT_CONCAT(tessera_result_, __LINE__), lhs, expr)

// `result` and `lhs` name or declare variables, so they cannot be put in parentheses.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define TESSERA_ASSIGN_OR_RETURN_IMPL(result, lhs, expr) \
  auto result = (expr);                                  \
  if (!result.ok()) return std::move(result).error();    \
  lhs = std::move(result).value()
// NOLINTEND(bugprone-macro-parentheses)

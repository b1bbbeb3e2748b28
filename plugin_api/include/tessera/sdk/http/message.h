// What an HTTP handler sees and returns: Request, Response, and the handles for answers that
// come later (Responder) or in pieces (Stream).
//
// A Request is parsed and bounded by the server before any handler sees it (header and body
// size, a valid request target); its path is percent-decoded, its query is read with
// Boost.URL, and json() parses the body with Boost.JSON. A Response is a value: a status,
// headers and a body, or a stream (chunked bytes, or Server-Sent Events) that the handler feeds
// through a Stream after the server has sent the head.
//
// Threading: everything here is used on the server's loop thread only. Stream and Responder
// are handles: they stay safe to use after the client went away or the server was destroyed
// (their calls then do nothing and say so).
#pragma once

#include <arpa/inet.h>

#include <algorithm>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>
#include <cctype>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tessera/result.h"
#include "tessera/sdk/http/router.h"
#include "tessera/sdk/logger.h"

namespace tessera::sdk::http {

namespace detail {
class ServerCore;

inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// Header names and values come from handlers, which may copy user input into them: a CR or LF
// would let that input write headers of its own (response splitting), so both become spaces.
inline std::string header_safe(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c == '\r' || c == '\n' || c == '\0') c = ' ';
  }
  return out;
}
}  // namespace detail

class Request {
 public:
  using Message = boost::beast::http::request<boost::beast::http::string_body>;

  // Builds a request from a parsed message; fails when its target is not a path with an
  // optional query ("origin form") or an absolute URL, which the server answers with 400.
  static Result<Request> from(Message message, std::string peer) {
    Request request;
    request.message_ = std::move(message);
    request.peer_ = std::move(peer);
    std::string_view target = request.message_.target();
    auto parsed = !target.empty() && target.front() == '/'
                      ? boost::urls::parse_origin_form(target)
                      : boost::urls::parse_absolute_uri(target);
    if (!parsed) {
      return make_error(ErrorCode::kInvalidArgument,
                        "malformed request target: " + parsed.error().message());
    }
    request.url_ = *parsed;
    for (std::string segment : request.url_.segments()) {
      request.segments_.push_back(std::move(segment));
    }
    request.path_ = "/";
    for (size_t i = 0; i < request.segments_.size(); ++i) {
      if (i > 0) request.path_ += '/';
      request.path_ += request.segments_[i];
    }
    return request;
  }

  Method method() const { return message_.method(); }
  std::string_view method_name() const { return message_.method_string(); }
  // The target exactly as the client sent it.
  std::string_view target() const { return message_.target(); }
  // The percent-decoded path, always starting with '/'.
  const std::string& path() const { return path_; }
  const std::vector<std::string>& segments() const { return segments_; }
  // A path parameter of the matched route ("/v2/apps/{id*}" -> param("id")), decoded; empty
  // when the route has no such parameter.
  std::string_view param(std::string_view name) const { return params_.get(name); }

  // The first value of query parameter `key` (decoded, '+' read as a space), or nullopt when
  // the query has no such key. "?force" gives an empty string.
  std::optional<std::string> query(std::string_view key) const {
    for (auto param : boost::urls::url_view(url_).params()) {
      if (param.key == key) return param.value;
    }
    return std::nullopt;
  }
  // Every value of query parameter `key`, in order ("?embed=a&embed=b").
  std::vector<std::string> query_all(std::string_view key) const {
    std::vector<std::string> values;
    for (auto param : boost::urls::url_view(url_).params()) {
      if (param.key == key) values.push_back(param.value);
    }
    return values;
  }

  // A request header's value, or an empty view when absent. Names are case-insensitive.
  std::string_view header(std::string_view name) const {
    auto it = message_.find(name);
    return it == message_.end() ? std::string_view() : std::string_view(it->value());
  }
  std::string_view header(boost::beast::http::field name) const {
    auto it = message_.find(name);
    return it == message_.end() ? std::string_view() : std::string_view(it->value());
  }

  const std::string& body() const { return message_.body(); }

  // The body as JSON, or an invalid-argument error that says why it is not (meant for a 400
  // answer: `if (!json) return json_error(json.error());`). Nesting is limited, so a body of
  // ten thousand '[' is an error rather than a deep recursion.
  Result<boost::json::value> json() const {
    if (message_.body().empty()) {
      return make_error(ErrorCode::kInvalidArgument, "the request has no body; JSON expected");
    }
    boost::json::parse_options options;
    options.max_depth = 64;
    boost::system::error_code ec;
    boost::json::value value = boost::json::parse(message_.body(), ec, {}, options);
    if (ec) {
      return make_error(ErrorCode::kInvalidArgument,
                        "malformed JSON in the request body: " + ec.message());
    }
    return value;
  }

  // Where the request came from: "address:port".
  const std::string& peer() const { return peer_; }
  // The pattern of the route that matched ("/v2/apps/{id*}"), empty when none did.
  const std::string& route() const { return route_; }
  // Who the authorizer said the client is (Access::allow's argument); empty without one.
  const std::string& principal() const { return principal_; }
  // 10 for HTTP/1.0, 11 for HTTP/1.1.
  unsigned version() const { return message_.version(); }
  bool keep_alive() const { return message_.keep_alive(); }
  const Message& message() const { return message_; }

 private:
  friend class detail::ServerCore;

  Message message_;
  boost::urls::url url_;
  std::string path_;
  std::vector<std::string> segments_;
  PathParams params_;
  std::string peer_;
  std::string route_;
  std::string principal_;
};

class Stream;

class Response {
 public:
  enum class Kind { kComplete, kChunked, kEventStream };

  // A complete response. The server adds Content-Length, Date, Server and Connection.
  explicit Response(unsigned status = 200, std::string body = {},
                    std::string_view content_type = "text/plain; charset=utf-8")
      : status_(status), body_(std::move(body)) {
    if (!body_.empty()) set_header("Content-Type", content_type);
  }

  // A complete response whose body is `pieces`, one after another. The server writes the
  // pieces to the socket as they are (with the head, in one gathered write) instead of copying
  // them into one string: a large answer assembled from kept buffers that did not change is
  // never copied per request. The pieces are shared, read-only: no one may change them while
  // the response holds them.
  using Piece = std::shared_ptr<const std::string>;
  static Response pieces(std::vector<Piece> pieces, std::string_view content_type,
                         unsigned status = 200) {
    Response response(status);
    std::erase_if(pieces, [](const Piece& piece) { return !piece || piece->empty(); });
    if (!pieces.empty()) response.set_header("Content-Type", content_type);
    response.pieces_ = std::move(pieces);
    return response;
  }

  static Response json(const boost::json::value& value, unsigned status = 200) {
    return Response(status, boost::json::serialize(value), "application/json");
  }
  static Response text(std::string body, unsigned status = 200) {
    return Response(status, std::move(body));
  }
  // A response sent in chunks (Transfer-Encoding: chunked): after the server has written the
  // head it calls `on_open` with the Stream to write to. HTTP/1.0 clients get the bytes as
  // they come and the connection closes at the end.
  static Response chunked(std::string_view content_type, std::function<void(Stream)> on_open,
                          unsigned status = 200) {
    Response response(status);
    response.kind_ = Kind::kChunked;
    response.on_open_ = std::move(on_open);
    response.set_header("Content-Type", content_type);
    return response;
  }
  // A Server-Sent Events stream (text/event-stream): like chunked(), and the server sends a
  // comment line on it now and then so that proxies keep it open and a dead client is noticed.
  static Response event_stream(std::function<void(Stream)> on_open) {
    Response response = chunked("text/event-stream", std::move(on_open));
    response.kind_ = Kind::kEventStream;
    response.set_header("Cache-Control", "no-cache");
    return response;
  }

  // Sets a header, replacing one of the same name. CR and LF become spaces. The server writes
  // Content-Length, Transfer-Encoding, Connection, Date and Server itself and ignores these.
  Response& set_header(std::string_view name, std::string_view value) {
    for (auto& [key, existing] : headers_) {
      if (detail::iequals(key, name)) {
        existing = detail::header_safe(value);
        return *this;
      }
    }
    headers_.emplace_back(detail::header_safe(name), detail::header_safe(value));
    return *this;
  }
  std::string_view header(std::string_view name) const {
    for (const auto& [key, value] : headers_) {
      if (detail::iequals(key, name)) return value;
    }
    return {};
  }
  const std::vector<std::pair<std::string, std::string>>& headers() const { return headers_; }

  unsigned status() const { return status_; }
  // The body of a response made from a string; a response made of pieces has its body in
  // pieces() (body_size() counts both).
  const std::string& body() const { return body_; }
  const std::vector<Piece>& body_pieces() const { return pieces_; }
  size_t body_size() const {
    size_t size = body_.size();
    for (const Piece& piece : pieces_) size += piece->size();
    return size;
  }
  Kind kind() const { return kind_; }

 private:
  friend class detail::ServerCore;

  unsigned status_;
  std::string body_;
  std::vector<Piece> pieces_;  // after body_, none empty
  std::vector<std::pair<std::string, std::string>> headers_;
  Kind kind_ = Kind::kComplete;
  std::function<void(Stream)> on_open_;
};

// The error body every Tessera HTTP API uses (Marathon's shape): {"message": "..."}.
inline Response json_error(unsigned status, std::string_view message) {
  boost::json::object body;
  body["message"] = message;
  return Response::json(body, status);
}

// An Error as an answer, its code giving the status (http_status(): invalid argument 400, not
// found 404, conflict 409, unavailable 503, permission denied 403, anything else 500).
inline Response json_error(const Error& error) {
  return json_error(static_cast<unsigned>(http_status(error.code)), error.message);
}

// A peer's address without its port (Request::peer() is "HOST:PORT"): "127.0.0.1:54321" ->
// "127.0.0.1", "[::1]:54321" -> "::1". What is no HOST:PORT is given back as it is.
inline std::string peer_address(std::string_view peer) {
  size_t colon = peer.rfind(':');
  if (colon == std::string_view::npos || colon + 1 == peer.size() ||
      peer.find_first_not_of("0123456789", colon + 1) != std::string_view::npos) {
    return std::string(peer);
  }
  std::string_view address = peer.substr(0, colon);
  if (address.size() >= 2 && address.front() == '[' && address.back() == ']') {
    return std::string(address.substr(1, address.size() - 2));
  }
  // An IPv6 address without brackets has no port to take off.
  if (address.find(':') != std::string_view::npos) return std::string(peer);
  return std::string(address);
}

// Whether a request whose Origin header is `origin` and Host header `host` comes from a page of
// this server: true when it has no Origin (curl, a server-side client), or when the Origin's
// host and port are the Host's (case aside; ":80" for http and ":443" for https may be left
// out of either). A browser sends Origin with every cross-site POST, PUT, PATCH and DELETE and
// cannot forge it, so refusing changes that are not same-origin stops any web page from
// posting to an API through its visitors' browsers.
inline bool same_origin(std::string_view origin, std::string_view host) {
  if (origin.empty()) return true;
  size_t scheme_end = origin.find("://");
  if (scheme_end == std::string_view::npos || host.empty()) return false;
  std::string_view scheme = origin.substr(0, scheme_end);
  std::string_view authority = origin.substr(scheme_end + 3);
  std::string_view default_port = detail::iequals(scheme, "https")  ? ":443"
                                  : detail::iequals(scheme, "http") ? ":80"
                                                                    : "";
  auto without_default = [&](std::string_view text) {
    if (!default_port.empty() && text.ends_with(default_port)) {
      text.remove_suffix(default_port.size());
    }
    return text;
  };
  return detail::iequals(without_default(authority), without_default(host));
}

// Whether a request whose Host header is `host` may be served by a server that checks the names
// it is reached by: true for no Host (HTTP/1.0), an IP address ("127.0.0.1:5050", "[::1]"),
// "localhost" and names under ".localhost" (which browsers resolve to the loopback themselves),
// and the names in `allowed` (case aside; any port). A web page whose name an attacker made
// resolve to this server's address (DNS rebinding) is same-origin to the browser, so the Origin
// check above lets its changes through, but its Host header still carries the attacker's name.
inline bool host_allowed(std::string_view host, const std::vector<std::string>& allowed) {
  if (host.empty()) return true;
  std::string_view name = host;
  if (name.front() == '[') {
    size_t close = name.find(']');
    if (close == std::string_view::npos) return false;
    std::string_view rest = name.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') return false;
    std::string address(name.substr(1, close - 1));
    in6_addr v6{};
    return ::inet_pton(AF_INET6, address.c_str(), &v6) == 1;
  }
  if (size_t colon = name.rfind(':'); colon != std::string_view::npos) {
    name = name.substr(0, colon);
  }
  if (name.ends_with('.')) name.remove_suffix(1);  // "localhost." is still localhost
  if (name.empty()) return false;
  in_addr v4{};
  if (::inet_pton(AF_INET, std::string(name).c_str(), &v4) == 1) return true;
  std::string lower(name);
  for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (lower == "localhost" || lower.ends_with(".localhost")) return true;
  return std::any_of(allowed.begin(), allowed.end(),
                     [&](const std::string& entry) { return detail::iequals(entry, lower); });
}

// One Server-Sent Event in its wire form: "id:" and "event:" lines when given, one "data:" line
// per line of `data` (split at CRLF, CR or LF, as a client joins them back with LF), and the
// blank line that ends the event. CR, LF and NUL in `event` and `id` become spaces, so no
// caller can end an event early or forge another.
inline std::string format_event(std::string_view data, std::string_view event = {},
                                std::string_view id = {}) {
  std::string out;
  out.reserve(data.size() + event.size() + id.size() + 24);
  if (!id.empty()) {
    out += "id: ";
    out += detail::header_safe(id);
    out += '\n';
  }
  if (!event.empty()) {
    out += "event: ";
    out += detail::header_safe(event);
    out += '\n';
  }
  size_t start = 0;
  for (size_t i = 0; i <= data.size(); ++i) {
    if (i < data.size() && data[i] != '\n' && data[i] != '\r') continue;
    out += "data: ";
    out.append(data.substr(start, i - start));
    out += '\n';
    if (i + 1 < data.size() && data[i] == '\r' && data[i + 1] == '\n') ++i;
    start = i + 1;
  }
  out += '\n';
  return out;
}

// What an authorizer decides about a request, before its handler runs.
struct Access {
  unsigned status = 0;    // 0: allowed; else 401 or 403
  std::string message;    // the error body's message when refused
  std::string principal;  // who the client is, given to the handler as Request::principal()
  std::string challenge;  // WWW-Authenticate of a 401

  bool allowed() const { return status == 0; }
  static Access allow(std::string principal = {}) {
    Access access;
    access.principal = std::move(principal);
    return access;
  }
  // 401: the client did not say who it is, or its credentials are wrong.
  static Access unauthenticated(std::string message, std::string challenge = "Bearer") {
    return Access{401, std::move(message), {}, std::move(challenge)};
  }
  // 403: the client is known and may not do this.
  static Access forbidden(std::string message) { return Access{403, std::move(message), {}, {}}; }
};

// A response in progress (chunked or Server-Sent Events). Copyable handle; every call is a
// no-op returning false once the client is gone, the stream finished or the server stopped.
class Stream {
 public:
  Stream() = default;

  // Whether the client is still there and the stream not finished.
  bool open() const;
  // Queues `data` as one chunk; the server writes queued chunks when the current handler,
  // timer or message burst is over (many small writes become one system call). A client that
  // lets more than ServerOptions::max_stream_buffer_bytes pile up is disconnected.
  bool write(std::string_view data);
  // Queues one Server-Sent Event ("id:", "event:" and one "data:" line per line of `data`).
  bool send_event(std::string_view data, std::string_view event = {}, std::string_view id = {});
  // Ends the stream (the last chunk); the connection then serves the client's next request.
  void finish();
  // Calls `fn` once if the stream ends any other way than finish(): the client disconnected or
  // was too slow, or the server stopped. Replaces an earlier callback.
  void on_close(std::function<void()> fn);
  // Bytes queued for this client and not yet accepted by its socket.
  size_t buffered() const;

 private:
  friend class detail::ServerCore;
  Stream(std::weak_ptr<detail::ServerCore> core, uint64_t connection, uint64_t serial)
      : core_(std::move(core)), connection_(connection), serial_(serial) {}

  std::weak_ptr<detail::ServerCore> core_;
  uint64_t connection_ = 0;
  uint64_t serial_ = 0;
};

// The answer to a request, given later by an asynchronous handler (one that first asks another
// plugin over the bus). Move-only. Dropping it unanswered answers 500, so a lost Responder
// never leaves a client waiting forever.
class Responder {
 public:
  Responder() = default;
  Responder(Responder&& other) noexcept
      : core_(std::move(other.core_)), connection_(other.connection_), serial_(other.serial_) {
    other.serial_ = 0;
  }
  Responder& operator=(Responder&& other) noexcept {
    if (this != &other) {
      abandon();
      core_ = std::move(other.core_);
      connection_ = other.connection_;
      serial_ = other.serial_;
      other.serial_ = 0;
    }
    return *this;
  }
  Responder(const Responder&) = delete;
  Responder& operator=(const Responder&) = delete;
  ~Responder() { abandon(); }

  // Sends the response; only the first call does anything. Returns false when the client is
  // gone.
  bool send(Response response);
  // Whether the client is still waiting for this answer.
  bool waiting() const;

 private:
  friend class detail::ServerCore;
  Responder(std::weak_ptr<detail::ServerCore> core, uint64_t connection, uint64_t serial)
      : core_(std::move(core)), connection_(connection), serial_(serial) {}
  void abandon() {
    if (serial_ != 0) send(json_error(500, "the request's handler dropped it without answering"));
  }

  std::weak_ptr<detail::ServerCore> core_;
  uint64_t connection_ = 0;
  uint64_t serial_ = 0;
};

}  // namespace tessera::sdk::http

// http::Server: an HTTP/1.1 server that runs on a plugin's own EventLoop.
//
// How it is driven: the listening socket and every connection are non-blocking sockets
// registered (edge-triggered) in one FdEvents epoll instance, which the plugin's EventLoop
// watches as a single descriptor. Boost.Beast parses each request (with the header and body
// limits below) straight from the bytes the server reads; responses are written by the server
// itself, head and body in one gathered write (sendmsg) on a TCP_NODELAY socket; the kept pieces
// of a Response::pieces are written from where they are, never copied. Timeouts are checked by one
// EventLoop timer that runs only while connections are open. Stream output (Server-Sent Events)
// is flushed stream_flush_delay after its first unsent byte, so the events published within
// that time leave in one system call per client: during a burst of events each handler
// publishes one, and a flush per handler cost one send and one wake-up of every subscriber per
// event (docs/bench-state.md). No Asio io_context and no thread of its own: every handler, every
// callback and every byte of I/O happens on the plugin's thread, one at a time, with no locks,
// and an idle server costs nothing (the loop sleeps in poll()).
//
// What a client gets when it misbehaves (each also logged, at most 20 lines a second):
//   a malformed request (bad request line, bad header, bad chunk, HTTP/1.1 without Host)  400
//   a header larger than max_header_bytes (request line included)                        431
//   a body larger than max_body_bytes (refused before it is read, when it has a length)   413
//   a request not received in full within request_timeout of its first byte (slowloris)   408
//   a connection beyond max_connections                                                    503
//   no request within request_timeout of connecting, or idle_timeout between requests     close
//   output not accepted by the client for write_timeout, or a stream whose queued output
//   exceeds max_stream_buffer_bytes (a subscriber that does not read)                     close
// Every error answer closes the connection gracefully: the server stops writing, then reads and
// discards what the client still sends for a moment, so the client reads the answer instead of
// a reset. The server keeps serving every other connection in every case.
//
// Threading and lifetime: construct, use and destroy the Server on its loop's thread (in the
// plugin's start(), or as a member of the plugin), never from inside one of its own handlers.
// Handlers run on that thread. Destroying the Server closes the listener and every connection
// without calling Stream::on_close callbacks; Streams and Responders it handed out then do
// nothing.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <deque>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "tessera/result.h"
#include "tessera/sdk/config.h"
#include "tessera/sdk/event_loop.h"
#include "tessera/sdk/fd_events.h"
#include "tessera/sdk/http/message.h"
#include "tessera/sdk/http/router.h"
#include "tessera/sdk/logger.h"

namespace tessera::sdk::http {

struct ServerOptions {
  std::string server_name = "tessera";  // the Server header
  size_t max_connections = 1024;
  size_t max_header_bytes = size_t{16} * 1024;  // request line and headers together
  size_t max_body_bytes = size_t{1024} * 1024;  // after any chunked decoding
  std::chrono::milliseconds request_timeout{10'000};
  std::chrono::milliseconds idle_timeout{60'000};
  std::chrono::milliseconds write_timeout{30'000};
  std::chrono::milliseconds event_stream_heartbeat{15'000};
  size_t max_stream_buffer_bytes = size_t{1024} * 1024;
  // How long stream output may wait to leave with what follows it (0: after the handler).
  std::chrono::milliseconds stream_flush_delay{5};
  // How long an error answer's connection reads and discards before it is closed.
  std::chrono::milliseconds linger_timeout{1'000};
  // The host names (no port) requests may name in their Host header besides IP addresses,
  // localhost and *.localhost (http::host_allowed); others are refused with 403. Checked when the
  // server listens on a loopback address (a browser on this machine is the one a DNS rebinding
  // attack reaches it through), or anywhere once any is given.
  std::vector<std::string> allowed_hosts;

  // Reads the keys of a plugin's HTTP table (every key optional, defaults as above):
  //   max_connections, max_header_bytes, max_body_bytes, request_timeout_ms, idle_timeout_ms,
  //   write_timeout_ms, event_stream_heartbeat_ms, max_stream_buffer_bytes, stream_flush_ms,
  //   allowed_hosts.
  // Out-of-range values are reported through the table, with file, line and column.
  static ServerOptions from_config(ConfigTable& table) {
    ServerOptions o;
    auto size = [&](std::string_view key, size_t fallback, int64_t low, int64_t high) {
      return static_cast<size_t>(table.integer(key, static_cast<int64_t>(fallback), low, high));
    };
    auto ms = [&](std::string_view key, std::chrono::milliseconds fallback) {
      return std::chrono::milliseconds(table.integer(key, fallback.count(), 1, 86'400'000));
    };
    o.max_connections = size("max_connections", o.max_connections, 1, 1'000'000);
    o.max_header_bytes = size("max_header_bytes", o.max_header_bytes, 256, 1 << 20);
    o.max_body_bytes = size("max_body_bytes", o.max_body_bytes, 0, int64_t{1} << 32);
    o.request_timeout = ms("request_timeout_ms", o.request_timeout);
    o.idle_timeout = ms("idle_timeout_ms", o.idle_timeout);
    o.write_timeout = ms("write_timeout_ms", o.write_timeout);
    o.event_stream_heartbeat = ms("event_stream_heartbeat_ms", o.event_stream_heartbeat);
    o.max_stream_buffer_bytes =
        size("max_stream_buffer_bytes", o.max_stream_buffer_bytes, 4096, int64_t{1} << 32);
    o.stream_flush_delay = std::chrono::milliseconds(
        table.integer("stream_flush_ms", o.stream_flush_delay.count(), 0, 1'000));
    for (const std::string& name : table.get<std::vector<std::string>>("allowed_hosts", {})) {
      bool plain =
          !name.empty() && name.size() <= 253 && std::all_of(name.begin(), name.end(), [](char ch) {
            return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '.';
          });
      if (plain) {
        o.allowed_hosts.push_back(name);
      } else {
        table.error_at("allowed_hosts", "'" + printable(name, 100) +
                                            "' is not a host name (letters, digits, '-' and '.')");
      }
    }
    return o;
  }
};

// Counters since the server started, for tests and metrics.
struct ServerStats {
  size_t open_connections = 0;
  size_t open_streams = 0;
  uint64_t accepted = 0;
  uint64_t requests = 0;          // requests that reached routing
  uint64_t bad_requests = 0;      // 400
  uint64_t timeouts = 0;          // 408
  uint64_t too_large = 0;         // 413
  uint64_t header_too_large = 0;  // 431
  uint64_t busy = 0;              // 503, and connections closed at once beyond the 503 reserve
  uint64_t idle_closed = 0;       // idle or silent connections closed
  uint64_t slow_readers = 0;      // closed because they did not read what was sent to them
  uint64_t client_aborts = 0;     // clients that left in the middle of a request or stream
  uint64_t handler_errors = 0;    // 500 because a handler threw
  uint64_t stream_writes = 0;     // system calls that sent streams' output
};

using Handler = std::function<Response(const Request&)>;
using AsyncHandler = std::function<void(const Request&, Responder)>;
using Authorizer = std::function<Access(const Request&)>;

namespace detail {

using Clock = std::chrono::steady_clock;
namespace beast_http = boost::beast::http;

struct Connection {
  enum class Phase {
    kWaiting,    // no byte of the next request yet
    kReading,    // part of a request received
    kHandling,   // a handler has the request; reading paused until it answers
    kStreaming,  // a chunked or event-stream response is open
    kClosing,    // the last response is being written; then kLingering
    kLingering,  // write side shut; discarding input until EOF or the linger deadline
  };

  uint64_t id = 0;
  int fd = -1;
  FdEvents::WatchId watch = 0;
  std::string peer;
  Phase phase = Phase::kWaiting;
  bool first_request = true;
  bool readable = false;  // edge-triggered: the socket may hold unread bytes
  bool writable = true;
  bool peer_eof = false;   // the client shut its side; answer what is pending, then close
  bool rejecting = false;  // beyond max_connections, only here to be told 503
  bool flush_queued = false;
  bool resume_queued = false;
  Clock::time_point deadline;
  Clock::time_point last_write;

  boost::beast::flat_buffer input;
  std::optional<beast_http::request_parser<beast_http::string_body>> parser;
  bool sent_continue = false;
  std::string output;
  size_t output_sent = 0;
  // The body pieces of a Response::pieces, written after `output` without being copied into it:
  // how much of the first was sent, and how many bytes of them are left.
  std::deque<Response::Piece> pieces;
  size_t piece_sent = 0;
  size_t pieces_left = 0;
  size_t discarded = 0;

  // The exchange in progress.
  uint64_t serial = 0;
  bool head_request = false;
  bool keep_alive = true;
  unsigned version = 11;
  bool chunked = false;
  bool event_stream = false;
  std::function<void()> on_close;

  size_t pending_output() const { return output.size() - output_sent + pieces_left; }
};

class ServerCore : public std::enable_shared_from_this<ServerCore> {
 public:
  ServerCore(EventLoop& loop, Logger log, ServerOptions options)
      : loop_(loop), log_(log), options_(std::move(options)), events_(loop) {
    if (options_.max_connections == 0 || options_.max_header_bytes == 0 ||
        options_.max_stream_buffer_bytes == 0 || options_.request_timeout.count() <= 0 ||
        options_.idle_timeout.count() <= 0 || options_.write_timeout.count() <= 0 ||
        options_.event_stream_heartbeat.count() <= 0 || options_.linger_timeout.count() <= 0) {
      throw std::invalid_argument("http server options: limits and timeouts must be positive");
    }
    if (options_.stream_flush_delay.count() < 0 || options_.stream_flush_delay.count() > 1'000) {
      throw std::invalid_argument("http server options: stream_flush_delay must be 0 to 1000 ms");
    }
    auto shortest =
        std::min({options_.request_timeout, options_.idle_timeout, options_.write_timeout,
                  options_.event_stream_heartbeat, options_.linger_timeout});
    sweep_period_ =
        std::clamp(shortest / 4, std::chrono::milliseconds(10), std::chrono::milliseconds(1000));
  }

  ~ServerCore() {
    if (sweep_timer_ != 0) loop_.cancel(sweep_timer_);
    if (pump_timer_ != 0) loop_.cancel(pump_timer_);
    if (stream_timer_ != 0) loop_.cancel(stream_timer_);
    if (accept_retry_timer_ != 0) loop_.cancel(accept_retry_timer_);
    for (auto& [id, c] : connections_) {
      events_.remove(c->watch);
      ::close(c->fd);
    }
    if (listen_fd_ >= 0) {
      events_.remove(listen_watch_);
      ::close(listen_fd_);
    }
  }
  ServerCore(const ServerCore&) = delete;
  ServerCore& operator=(const ServerCore&) = delete;

  Result<std::string> listen(const std::string& host, uint16_t port) {
    if (listen_fd_ >= 0) {
      return make_error(ErrorCode::kConflict, "the server is already listening on " + address_);
    }
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
    addrinfo* found = nullptr;
    std::string service = std::to_string(port);
    int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &found);
    if (rc != 0) {
      return make_error(
          ErrorCode::kInvalidArgument,
          "cannot listen on '" + host + "': not a numeric address (" + gai_strerror(rc) + ")");
    }
    std::unique_ptr<addrinfo, void (*)(addrinfo*)> guard(found, freeaddrinfo);
    int fd = ::socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return make_error(std::string("cannot open a socket: ") + std::strerror(errno));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, found->ai_addr, found->ai_addrlen) != 0 || ::listen(fd, SOMAXCONN) != 0) {
      std::string why = std::strerror(errno);
      ::close(fd);
      return make_error(ErrorCode::kUnavailable,
                        "cannot listen on '" + host + ":" + service + "': " + why);
    }
    sockaddr_storage bound{};
    socklen_t length = sizeof bound;
    getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length);
    listen_fd_ = fd;
    address_ = format_address(bound);
    check_hosts_ = !options_.allowed_hosts.empty() || is_loopback(bound);
    port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                              : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
    listen_watch_ = events_.add(fd, EPOLLIN, [this](uint32_t) { accept_pending(); });
    if (listen_watch_ == 0) {
      std::string why = std::strerror(errno);
      ::close(fd);
      listen_fd_ = -1;
      return make_error("cannot watch the listening socket: " + why);
    }
    return address_;
  }

  static bool is_loopback(const sockaddr_storage& bound) {
    if (bound.ss_family == AF_INET) {
      const auto& v4 = reinterpret_cast<const sockaddr_in&>(bound);
      return (ntohl(v4.sin_addr.s_addr) >> 24) == 127;
    }
    if (bound.ss_family == AF_INET6) {
      const in6_addr& v6 = reinterpret_cast<const sockaddr_in6&>(bound).sin6_addr;
      if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
      return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
    }
    return false;
  }

  uint16_t port() const { return port_; }
  const std::string& address() const { return address_; }
  const ServerOptions& options() const { return options_; }
  ServerStats stats() const {
    ServerStats s = stats_;
    s.open_connections = open_;
    s.open_streams = streams_;
    return s;
  }

  void route(Method method, std::string_view pattern, std::variant<Handler, AsyncHandler> fn) {
    router_.add(method, pattern, std::move(fn));
  }
  void set_authorizer(Authorizer authorizer) { authorizer_ = std::move(authorizer); }

  // --- Called through Stream and Responder handles. ---

  Connection* stream_connection(uint64_t id, uint64_t serial) {
    Connection* c = find(id);
    if (c == nullptr || c->serial != serial || c->phase != Connection::Phase::kStreaming) {
      return nullptr;
    }
    return c;
  }

  bool stream_write(uint64_t id, uint64_t serial, std::string_view data) {
    Connection* c = stream_connection(id, serial);
    if (c == nullptr) return false;
    if (data.empty()) return true;  // an empty chunk would end the stream
    queue_body(*c, data);
    // A burst larger than the socket takes in one go: hand it over now rather than count it
    // against the client.
    if (c->pending_output() >= kFlushEarly) {
      uint64_t id_before = c->id;
      flush(*c);
      if (find(id_before) == nullptr) return false;
    }
    if (c->pending_output() > options_.max_stream_buffer_bytes) {
      ++stats_.slow_readers;
      log_abuse("http: closing stream to '{}': {} bytes queued and not read (limit {})", c->peer,
                c->pending_output(), options_.max_stream_buffer_bytes);
      close(*c);
      schedule_pump();
      return false;
    }
    queue_stream_flush(*c);
    return true;
  }

  void stream_finish(uint64_t id, uint64_t serial) {
    Connection* c = stream_connection(id, serial);
    if (c == nullptr) return;
    if (c->chunked) append_output(*c, "0\r\n\r\n");
    c->on_close = nullptr;
    --streams_;
    if (c->chunked && c->keep_alive && !c->peer_eof) {
      enter_waiting(*c);
      queue_resume(*c);
    } else {
      c->phase = Connection::Phase::kClosing;
    }
    queue_flush(*c);
  }

  void stream_on_close(uint64_t id, uint64_t serial, std::function<void()> fn) {
    Connection* c = stream_connection(id, serial);
    if (c != nullptr) c->on_close = std::move(fn);
  }

  size_t stream_buffered(uint64_t id, uint64_t serial) {
    Connection* c = stream_connection(id, serial);
    return c == nullptr ? 0 : c->pending_output();
  }

  bool respond(uint64_t id, uint64_t serial, Response response) {
    Connection* c = find(id);
    if (c == nullptr || c->serial != serial || c->phase != Connection::Phase::kHandling) {
      return false;
    }
    send_response(*c, std::move(response));
    // The connection may hold the client's next request already: serve it after this call,
    // never inside it (the caller may be another connection's handler).
    queue_resume(*c);
    return true;
  }

  bool waiting(uint64_t id, uint64_t serial) {
    Connection* c = find(id);
    return c != nullptr && c->serial == serial && c->phase == Connection::Phase::kHandling;
  }

 private:
  using Phase = Connection::Phase;
  static constexpr size_t kReadSize = size_t{16} * 1024;
  static constexpr int kReadsPerTurn = 64;
  // Pipelined requests are not parsed while this much output waits for the client.
  static constexpr size_t kMaxPendingOutput = size_t{256} * 1024;
  // Connections beyond max_connections kept only to be told 503.
  static constexpr size_t kRejectReserve = 64;
  // Stream output queued beyond this is written at once instead of at the end of the burst.
  static constexpr size_t kFlushEarly = size_t{64} * 1024;
  // The most buffers one write gathers (the rest go in the next).
  static constexpr size_t kMaxGather = 64;
  // What a closing connection reads and throws away before it is closed anyway.
  static constexpr size_t kMaxDiscard = size_t{1024} * 1024;

  static std::string format_address(const sockaddr_storage& address) {
    char text[INET6_ADDRSTRLEN] = "?";
    if (address.ss_family == AF_INET6) {
      const auto* a = reinterpret_cast<const sockaddr_in6*>(&address);
      inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof text);
      return "[" + std::string(text) + "]:" + std::to_string(ntohs(a->sin6_port));
    }
    const auto* a = reinterpret_cast<const sockaddr_in*>(&address);
    inet_ntop(AF_INET, &a->sin_addr, text, sizeof text);
    return std::string(text) + ":" + std::to_string(ntohs(a->sin_port));
  }

  Connection* find(uint64_t id) {
    auto it = connections_.find(id);
    return it == connections_.end() ? nullptr : it->second.get();
  }

  // Abuse is logged, but a flood of it must not flood the log.
  template <typename... Args>
  void log_abuse(fmt::format_string<Args...> format, Args&&... args) {
    auto now = Clock::now();
    if (now - abuse_window_ >= std::chrono::seconds(1)) {
      if (abuse_suppressed_ > 0) {
        log_.info("http: {} more lines like the above were not logged", abuse_suppressed_);
      }
      abuse_window_ = now;
      abuse_lines_ = 0;
      abuse_suppressed_ = 0;
    }
    if (abuse_lines_ < 20) {
      ++abuse_lines_;
      log_.info(format, std::forward<Args>(args)...);
    } else {
      ++abuse_suppressed_;
    }
  }

  // --- Accepting ---

  void accept_pending() {
    if (accept_retry_timer_ != 0) return;  // out of descriptors: the retry timer resumes
    for (;;) {
      sockaddr_storage address{};
      socklen_t length = sizeof address;
      int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        // Out of descriptors or memory: the pending connections stay in the backlog, and the
        // listener (edge-triggered) would not report them again, so retry on a timer.
        log_abuse("http: cannot accept connections: {}; retrying in 100 ms", std::strerror(errno));
        accept_retry_timer_ = loop_.after(std::chrono::milliseconds(100), [this] {
          accept_retry_timer_ = 0;
          accept_pending();
        });
        return;
      }
      ++stats_.accepted;
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      bool over = open_ >= options_.max_connections;
      if (over && rejecting_ >= kRejectReserve) {
        ++stats_.busy;
        log_abuse("http: refusing a connection from '{}': {} open (limit {})",
                  format_address(address), open_, options_.max_connections);
        ::close(fd);
        continue;
      }
      auto owned = std::make_unique<Connection>();
      Connection& c = *owned;
      c.id = ++next_connection_;
      c.fd = fd;
      c.peer = format_address(address);
      c.rejecting = over;
      c.watch = events_.add(fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP,
                            [this, id = c.id](uint32_t events) { on_events(id, events); });
      if (c.watch == 0) {
        log_abuse("http: cannot watch a connection from '{}': {}", c.peer, std::strerror(errno));
        ::close(fd);
        continue;
      }
      c.deadline = Clock::now() + options_.request_timeout;
      connections_.emplace(c.id, std::move(owned));
      if (over) {
        ++rejecting_;
        ++stats_.busy;
        reject(c, 503,
               "too many connections (limit " + std::to_string(options_.max_connections) + ")");
      } else {
        ++open_;
      }
      ensure_sweep();
    }
  }

  // --- Events ---

  void on_events(uint64_t id, uint32_t events) {
    Connection* c = find(id);
    if (c == nullptr) return;
    if ((events & EPOLLERR) != 0 || ((events & EPOLLHUP) != 0 && c->phase != Phase::kLingering)) {
      client_gone(*c, "the connection was reset");
    } else {
      if ((events & EPOLLHUP) != 0) {
        close(*c);  // lingering and both sides are shut: done
      } else {
        if ((events & EPOLLOUT) != 0) {
          c->writable = true;
          if (c->pending_output() > 0) flush(*c);
        }
        if ((events & (EPOLLIN | EPOLLRDHUP)) != 0) c->readable = true;
        c = find(id);
        if (c != nullptr) serve(*c);
      }
    }
    settle();
  }

  // Reads and handles whatever the connection can take now; stops when it would block, when a
  // handler keeps the request, or when too much output waits for the client. A client that
  // sends without pause gets a turn of kReadsPerTurn reads, then waits for the next pump, so
  // the loop serves everyone else in between.
  void serve(Connection& c) {
    uint64_t id = c.id;
    for (int reads = 0;; ++reads) {
      process_input(c);
      if (find(id) == nullptr) return;
      if (!c.readable || !wants_input(c)) return;
      if (reads == kReadsPerTurn) {
        queue_resume(c);
        return;
      }
      if (!read_once(c)) return;
    }
  }

  bool wants_input(const Connection& c) const {
    switch (c.phase) {
      case Phase::kWaiting:
      case Phase::kReading:
        return c.pending_output() < kMaxPendingOutput;
      case Phase::kHandling:
        return false;
      case Phase::kStreaming:
      case Phase::kClosing:
      case Phase::kLingering:
        return true;  // read to notice the client leaving; the bytes are discarded
    }
    return false;
  }

  // One recv(). Returns false when the connection was closed.
  bool read_once(Connection& c) {
    bool discard =
        c.phase == Phase::kStreaming || c.phase == Phase::kClosing || c.phase == Phase::kLingering;
    char* target = discard_buffer_.data();
    size_t room = discard_buffer_.size();
    if (!discard) {
      auto buffer = c.input.prepare(kReadSize);
      target = static_cast<char*>(buffer.data());
      room = buffer.size();
    }
    ssize_t n = ::recv(c.fd, target, room, 0);
    if (n > 0) {
      if (!discard) {
        c.input.commit(static_cast<size_t>(n));
        return true;
      }
      c.discarded += static_cast<size_t>(n);
      if (c.discarded > kMaxDiscard && c.phase != Phase::kStreaming) {
        close(c);
        return false;
      }
      return true;
    }
    if (n < 0 && errno == EINTR) return true;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      c.readable = false;
      return true;
    }
    if (n < 0) {
      client_gone(c, std::string("read failed: ") + std::strerror(errno));
      return false;
    }
    return peer_closed(c);
  }

  // The client shut its side. Returns false when the connection was closed.
  bool peer_closed(Connection& c) {
    c.readable = false;
    c.peer_eof = true;
    switch (c.phase) {
      case Phase::kWaiting:
        if (c.pending_output() > 0) {
          c.phase = Phase::kClosing;  // a half-closed client still reads its answers
          return true;
        }
        close(c);
        return false;
      case Phase::kReading:
        client_gone(c, "the client closed the connection in the middle of a request");
        return false;
      case Phase::kStreaming:
        client_gone(c, "the client left the stream");
        return false;
      case Phase::kHandling:
      case Phase::kClosing:
        return true;  // answered or being answered; closed once written
      case Phase::kLingering:
        close(c);
        return false;
    }
    return false;
  }

  void client_gone(Connection& c, const std::string& why) {
    if (c.phase == Phase::kReading || c.phase == Phase::kStreaming || c.phase == Phase::kHandling) {
      ++stats_.client_aborts;
      log_.debug("http: '{}': {}", c.peer, why);
    }
    close(c);
  }

  // --- Parsing ---

  void begin_request(Connection& c) {
    c.phase = Phase::kReading;
    // The first request must arrive within request_timeout of connecting (its deadline was set
    // at accept); later ones within request_timeout of their first byte.
    if (!c.first_request) c.deadline = Clock::now() + options_.request_timeout;
    c.parser.emplace();
    c.parser->header_limit(static_cast<std::uint32_t>(
        std::min<size_t>(options_.max_header_bytes, std::numeric_limits<std::uint32_t>::max())));
    c.parser->body_limit(options_.max_body_bytes);
    c.sent_continue = false;
  }

  void process_input(Connection& c) {
    uint64_t id = c.id;
    while ((c.phase == Phase::kWaiting || c.phase == Phase::kReading) && c.input.size() > 0 &&
           c.pending_output() < kMaxPendingOutput) {
      if (c.phase == Phase::kWaiting) begin_request(c);
      boost::system::error_code ec;
      size_t used = c.parser->put(c.input.data(), ec);
      c.input.consume(used);
      if (ec == beast_http::error::need_more) {
        maybe_continue(c);
        return;
      }
      if (ec) {
        parse_failed(c, ec);
        return;
      }
      if (!c.parser->is_done()) {
        maybe_continue(c);
        if (used == 0) return;
        continue;
      }
      dispatch(c);
      if (find(id) == nullptr) return;
    }
  }

  // A client that sent "Expect: 100-continue" waits for this before sending its body.
  void maybe_continue(Connection& c) {
    if (c.sent_continue || !c.parser->is_header_done() || c.parser->get().version() < 11) return;
    auto expect = c.parser->get().find(beast_http::field::expect);
    if (expect == c.parser->get().end() || !iequals(expect->value(), "100-continue")) return;
    c.sent_continue = true;
    append_output(c, "HTTP/1.1 100 Continue\r\n\r\n");
    flush(c);
  }

  void parse_failed(Connection& c, const boost::system::error_code& ec) {
    if (ec == beast_http::error::header_limit) {
      ++stats_.header_too_large;
      reject(c, 431,
             "request header larger than " + std::to_string(options_.max_header_bytes) + " bytes");
    } else if (ec == beast_http::error::body_limit) {
      ++stats_.too_large;
      reject(c, 413,
             "request body larger than " + std::to_string(options_.max_body_bytes) + " bytes");
    } else {
      ++stats_.bad_requests;
      reject(c, 400, "malformed request: " + ec.message());
    }
  }

  // Answers with an error and closes: the request (or connection) cannot go on.
  void reject(Connection& c, unsigned status, const std::string& message) {
    log_abuse("http: '{}': {} ({})", c.peer, message, status);
    c.parser.reset();
    c.input.clear();
    c.phase = Phase::kHandling;
    c.head_request = false;
    c.keep_alive = false;
    c.version = 11;
    ++c.serial;
    send_response(c, json_error(status, message));
  }

  // --- Dispatch ---

  void dispatch(Connection& c) {
    Request::Message message = c.parser->release();
    c.parser.reset();
    c.phase = Phase::kHandling;
    c.first_request = false;
    ++c.serial;
    c.head_request = message.method() == Method::head;
    c.keep_alive = message.keep_alive();
    c.version = message.version();
    if (message.version() >= 11 && message.find(beast_http::field::host) == message.end()) {
      ++stats_.bad_requests;
      reject(c, 400, "an HTTP/1.1 request needs a Host header");
      return;
    }
    // RFC 9112 3.2: more than one Host field is a 400. Two of them could tell an origin check
    // and a proxy different hosts.
    if (message.count(beast_http::field::host) > 1) {
      ++stats_.bad_requests;
      reject(c, 400, "a request has at most one Host header");
      return;
    }
    auto parsed = Request::from(std::move(message), c.peer);
    if (!parsed) {
      ++stats_.bad_requests;
      reject(c, 400, parsed.error().message);
      return;
    }
    Request& request = *parsed;
    if (check_hosts_ && !host_allowed(request.header("Host"), options_.allowed_hosts)) {
      send_response(
          c, json_error(403, "refused a request for host " + quote(request.header("Host"), 256) +
                                 ": this server answers only to its IP addresses, "
                                 "localhost and the names in allowed_hosts"));
      return;
    }
    ++stats_.requests;
    auto match = router_.match(request.method(), request.segments());
    if (match.route != nullptr) {
      request.route_ = match.route->pattern;
      request.params_ = std::move(match.params);
    }
    if (authorizer_) {
      Access access;
      try {
        access = authorizer_(request);
      } catch (const std::exception& e) {
        access = Access{500, "authorization failed", {}, {}};
        ++stats_.handler_errors;
        log_.error("http: the authorizer threw on '{} {}': {}", escape(request.method_name()),
                   escape(request.target()), printable(e.what()));
      }
      if (!access.allowed()) {
        Response refused = json_error(access.status, access.message);
        if (access.status == 401 && !access.challenge.empty()) {
          refused.set_header("WWW-Authenticate", access.challenge);
        }
        send_response(c, std::move(refused));
        return;
      }
      request.principal_ = std::move(access.principal);
    }
    if (match.route == nullptr) {
      if (!match.allowed.empty()) {
        std::string allow;
        for (Method m : match.allowed) {
          if (!allow.empty()) allow += ", ";
          allow += beast_http::to_string(m);
          if (m == Method::get) allow += ", HEAD";
        }
        Response response = json_error(405, "method " + quote(request.method_name()) +
                                                " is not allowed on " + quote(request.path()));
        response.set_header("Allow", allow);
        send_response(c, std::move(response));
      } else {
        send_response(c, json_error(404, "no resource at " + quote(request.path())));
      }
      return;
    }
    uint64_t id = c.id;
    uint64_t serial = c.serial;
    const auto& handler = match.route->handler;
    try {
      if (const auto* sync = std::get_if<Handler>(&handler)) {
        Response response = (*sync)(request);
        if (find(id) != nullptr && c.serial == serial && c.phase == Phase::kHandling) {
          send_response(c, std::move(response));
        }
      } else {
        std::get<AsyncHandler>(handler)(request, Responder(weak_from_this(), id, serial));
      }
    } catch (const std::exception& e) {
      ++stats_.handler_errors;
      log_.error("http: handler of '{} {}' threw: {}", escape(request.method_name()),
                 escape(request.target()), printable(e.what()));
      Connection* again = find(id);
      if (again != nullptr && again->serial == serial && again->phase == Phase::kHandling) {
        send_response(*again, json_error(500, "internal error"));
      }
    }
  }

  // --- Writing ---

  static bool iequals(std::string_view a, std::string_view b) { return detail::iequals(a, b); }

  static bool reserved_header(std::string_view name) {
    for (std::string_view reserved :
         {"content-length", "transfer-encoding", "connection", "date", "server"}) {
      if (iequals(name, reserved)) return true;
    }
    return false;
  }

  const std::string& date() {
    std::time_t now = std::time(nullptr);
    if (now != date_second_) {
      std::tm parts{};
      gmtime_r(&now, &parts);
      char text[64];
      size_t n = std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &parts);
      date_.assign(text, n);
      date_second_ = now;
    }
    return date_;
  }

  void send_response(Connection& c, Response response) {
    unsigned status = response.status_;
    if (status < 200 || status > 599) {
      log_.error("http: a handler answered '{}' with status {}, sent as 500", c.peer, status);
      response = json_error(500, "internal error");
      status = 500;
    }
    bool streaming = response.kind_ != Response::Kind::kComplete;
    bool close_after = !c.keep_alive || c.peer_eof || (streaming && c.version < 11);
    bool no_body = status == 204 || status == 304;

    copy_pieces(c);
    std::string& out = c.output;
    if (c.pending_output() == 0) c.last_write = Clock::now();
    out += "HTTP/1.1 ";
    out += std::to_string(status);
    out += ' ';
    out += beast_http::obsolete_reason(beast_http::int_to_status(status));
    out += "\r\nServer: ";
    out += options_.server_name;
    out += "\r\nDate: ";
    out += date();
    out += "\r\n";
    for (const auto& [name, value] : response.headers_) {
      if (reserved_header(name)) continue;
      out += name;
      out += ": ";
      out += value;
      out += "\r\n";
    }
    if (streaming) {
      if (c.version >= 11) out += "Transfer-Encoding: chunked\r\n";
    } else if (!no_body) {
      out += "Content-Length: ";
      out += std::to_string(response.body_size());
      out += "\r\n";
    }
    if (close_after) {
      out += "Connection: close\r\n";
    } else if (c.version < 11) {
      out += "Connection: keep-alive\r\n";
    }
    out += "\r\n";
    if (!streaming && !no_body && !c.head_request) {
      out += response.body_;
      for (Response::Piece& piece : response.pieces_) {
        c.pieces_left += piece->size();
        c.pieces.push_back(std::move(piece));
      }
    }

    if (streaming && !c.head_request) {
      c.phase = Phase::kStreaming;
      c.chunked = c.version >= 11;
      c.event_stream = response.kind_ == Response::Kind::kEventStream;
      c.keep_alive = !close_after;
      ++streams_;
      flush(c);
      if (find(c.id) == nullptr || !response.on_open_) return;
      uint64_t id = c.id;
      try {
        response.on_open_(Stream(weak_from_this(), id, c.serial));
      } catch (const std::exception& e) {
        ++stats_.handler_errors;
        log_.error("http: opening a stream to '{}' threw: {}", c.peer, printable(e.what()));
        Connection* again = find(id);
        if (again != nullptr && again->phase == Phase::kStreaming) close(*again);
      }
      return;
    }
    if (close_after) {
      c.phase = Phase::kClosing;
    } else {
      enter_waiting(c);
    }
    flush(c);
  }

  void enter_waiting(Connection& c) {
    c.phase = Phase::kWaiting;
    c.deadline = Clock::now() + options_.idle_timeout;
  }

  void append_output(Connection& c, std::string_view bytes) {
    copy_pieces(c);
    if (c.pending_output() == 0) c.last_write = Clock::now();
    c.output.append(bytes);
  }

  // Output written while body pieces still wait must follow them: what is left of the pieces is
  // copied into `output` first (only when a client pipelines requests behind a large answer).
  static void copy_pieces(Connection& c) {
    if (c.pieces.empty()) return;
    c.output.reserve(c.output.size() + c.pieces_left);
    for (const Response::Piece& piece : c.pieces) {
      c.output.append(*piece, c.piece_sent);
      c.piece_sent = 0;
    }
    c.pieces.clear();
    c.pieces_left = 0;
  }

  // Counts `sent` bytes as written: from `output`, then from the pieces.
  static void consume(Connection& c, size_t sent) {
    size_t from_output = std::min(sent, c.output.size() - c.output_sent);
    c.output_sent += from_output;
    sent -= from_output;
    c.pieces_left -= sent;
    while (sent > 0) {
      size_t rest = c.pieces.front()->size() - c.piece_sent;
      if (sent < rest) {
        c.piece_sent += sent;
        return;
      }
      sent -= rest;
      c.pieces.pop_front();
      c.piece_sent = 0;
    }
  }

  // Appends stream bytes, framed as one chunk when the stream is chunked.
  void queue_body(Connection& c, std::string_view data) {
    if (c.chunked) {
      char size[24];
      int n = std::snprintf(size, sizeof size, "%zx\r\n", data.size());
      append_output(c, std::string_view(size, static_cast<size_t>(n)));
      c.output.append(data);
      c.output.append("\r\n");
    } else {
      append_output(c, data);
    }
  }

  // Writes what it can; closes the connection if the client is gone. After the last byte of a
  // closing connection, shuts the write side and lingers.
  void flush(Connection& c) {
    while (c.writable && c.pending_output() > 0) {
      // What is left of `output`, then the pieces, in one gathered write.
      std::array<iovec, kMaxGather> parts{};
      size_t count = 0;
      if (c.output_sent < c.output.size()) {
        parts[count++] = iovec{c.output.data() + c.output_sent, c.output.size() - c.output_sent};
      }
      size_t skip = c.piece_sent;
      for (const Response::Piece& piece : c.pieces) {
        if (count == parts.size()) break;
        // sendmsg does not write through iov_base; the pieces stay unchanged.
        parts[count++] = iovec{const_cast<char*>(piece->data()) + skip, piece->size() - skip};
        skip = 0;
      }
      msghdr message{};
      message.msg_iov = parts.data();
      message.msg_iovlen = count;
      ssize_t n = ::sendmsg(c.fd, &message, MSG_NOSIGNAL);
      if (n > 0) {
        if (c.phase == Connection::Phase::kStreaming) ++stats_.stream_writes;
        consume(c, static_cast<size_t>(n));
        c.last_write = Clock::now();
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        c.writable = false;
        break;
      }
      client_gone(c, std::string("write failed: ") + std::strerror(errno));
      return;
    }
    if (c.output_sent == c.output.size()) {
      // A large answer's buffer is given back, not kept for the connection's whole life.
      if (c.output.capacity() > kMaxPendingOutput) {
        std::string().swap(c.output);
      } else {
        c.output.clear();
      }
      c.output_sent = 0;
    } else if (c.output_sent > size_t{64} * 1024 && c.output_sent * 2 > c.output.size()) {
      c.output.erase(0, c.output_sent);
      c.output_sent = 0;
    }
    if (c.pending_output() == 0 && c.phase == Phase::kClosing) linger(c);
  }

  void linger(Connection& c) {
    if (c.peer_eof) {
      close(c);
      return;
    }
    ::shutdown(c.fd, SHUT_WR);
    c.phase = Phase::kLingering;
    c.deadline = Clock::now() + options_.linger_timeout;
    queue_resume(c);  // discard what is already there; EOF may be waiting too
  }

  // Closes at once. A stream's on_close callback runs later, in settle(), so that it never runs
  // inside the Stream call (of another stream, maybe) that caused the close.
  void close(Connection& c) {
    auto it = connections_.find(c.id);
    if (it == connections_.end()) return;
    if (c.phase == Phase::kStreaming) {
      --streams_;
      if (c.on_close) closed_callbacks_.push_back(std::move(c.on_close));
    }
    events_.remove(c.watch);
    ::close(c.fd);
    c.fd = -1;
    if (c.rejecting) {
      --rejecting_;
    } else {
      --open_;
    }
    // Handlers up the stack may still hold a reference: destroy it in settle().
    graveyard_.push_back(std::move(it->second));
    connections_.erase(it);
    schedule_pump();
  }

  // --- Deferred work ---

  void queue_flush(Connection& c) {
    mark_for_flush(c);
    schedule_pump();
  }
  // Stream output waits up to stream_flush_delay for more (a pump due sooner takes it along).
  void queue_stream_flush(Connection& c) {
    if (options_.stream_flush_delay.count() == 0) return queue_flush(c);
    mark_for_flush(c);
    if (pump_timer_ == 0 && stream_timer_ == 0) {
      stream_timer_ = loop_.after(options_.stream_flush_delay, [this] {
        stream_timer_ = 0;
        pump();
      });
    }
  }
  // The next pump flushes `c`.
  void mark_for_flush(Connection& c) {
    if (!c.flush_queued) {
      c.flush_queued = true;
      flush_queue_.push_back(c.id);
    }
  }
  void queue_resume(Connection& c) {
    if (!c.resume_queued) {
      c.resume_queued = true;
      resume_queue_.push_back(c.id);
    }
    schedule_pump();
  }
  void schedule_pump() {
    if (pump_timer_ == 0) {
      pump_timer_ = loop_.after(std::chrono::milliseconds(0), [this] {
        pump_timer_ = 0;
        pump();
      });
    }
  }

  void pump() {
    std::vector<uint64_t> ids;
    ids.swap(flush_queue_);
    for (uint64_t id : ids) {
      Connection* c = find(id);
      if (c == nullptr) continue;
      c->flush_queued = false;
      flush(*c);
    }
    ids.clear();
    ids.swap(resume_queue_);
    for (uint64_t id : ids) {
      Connection* c = find(id);
      if (c == nullptr) continue;
      c->resume_queued = false;
      if (c->phase == Phase::kLingering) c->readable = true;
      serve(*c);
    }
    settle();
  }

  // Runs the on_close callbacks of streams that ended, then frees closed connections. Called
  // only at the top of the server's own entry points, where no connection is on the stack.
  void settle() {
    while (!closed_callbacks_.empty()) {
      std::vector<std::function<void()>> callbacks;
      callbacks.swap(closed_callbacks_);
      for (auto& fn : callbacks) {
        try {
          fn();
        } catch (const std::exception& e) {
          log_.error("http: a stream's on_close callback threw: {}", printable(e.what()));
        }
      }
    }
    graveyard_.clear();
  }

  // --- Timeouts ---

  void ensure_sweep() {
    if (sweep_timer_ == 0) sweep_timer_ = loop_.every(sweep_period_, [this] { sweep(); });
  }

  void sweep() {
    if (connections_.empty()) {
      loop_.cancel(sweep_timer_);
      sweep_timer_ = 0;
      return;
    }
    auto now = Clock::now();
    std::vector<uint64_t> ids;
    ids.reserve(connections_.size());
    for (const auto& [id, c] : connections_) ids.push_back(id);
    for (uint64_t id : ids) {
      Connection* c = find(id);
      if (c != nullptr) check_deadlines(*c, now);
    }
    settle();
  }

  void check_deadlines(Connection& c, Clock::time_point now) {
    if (c.pending_output() > 0 && now - c.last_write > options_.write_timeout) {
      ++stats_.slow_readers;
      log_abuse("http: closing '{}': it read nothing of {} bytes for {} ms", c.peer,
                c.pending_output(), options_.write_timeout.count());
      close(c);
      return;
    }
    switch (c.phase) {
      case Phase::kWaiting:
        // Idle means nothing to send either: a slow but reading client keeps its answer.
        if (now >= c.deadline && c.pending_output() == 0) {
          ++stats_.idle_closed;
          log_.debug("http: closing idle connection '{}'", c.peer);
          close(c);
        }
        return;
      case Phase::kReading:
        if (now >= c.deadline) {
          ++stats_.timeouts;
          reject(c, 408,
                 "request not received within " + std::to_string(options_.request_timeout.count()) +
                     " ms");
        }
        return;
      case Phase::kStreaming:
        if (c.event_stream && now - c.last_write >= options_.event_stream_heartbeat &&
            c.pending_output() == 0) {
          // A comment line: ignored by clients, keeps proxies from timing the stream out, and a
          // write to a vanished client fails and closes it.
          queue_body(c, ":\n\n");
          flush(c);
        }
        return;
      case Phase::kLingering:
        if (now >= c.deadline) close(c);
        return;
      case Phase::kHandling:
      case Phase::kClosing:
        return;
    }
  }

  EventLoop& loop_;
  Logger log_;
  ServerOptions options_;
  bool check_hosts_ = false;  // see ServerOptions::allowed_hosts
  FdEvents events_;
  Router<std::variant<Handler, AsyncHandler>> router_;
  Authorizer authorizer_;

  int listen_fd_ = -1;
  FdEvents::WatchId listen_watch_ = 0;
  std::string address_;
  uint16_t port_ = 0;

  std::unordered_map<uint64_t, std::unique_ptr<Connection>> connections_;
  std::vector<std::unique_ptr<Connection>> graveyard_;
  std::vector<std::function<void()>> closed_callbacks_;
  std::vector<uint64_t> flush_queue_;
  std::vector<uint64_t> resume_queue_;
  uint64_t next_connection_ = 0;
  size_t open_ = 0;
  size_t rejecting_ = 0;
  size_t streams_ = 0;
  ServerStats stats_;
  std::array<char, kReadSize> discard_buffer_{};

  std::chrono::milliseconds sweep_period_{1000};
  EventLoop::TimerId sweep_timer_ = 0;
  EventLoop::TimerId pump_timer_ = 0;
  EventLoop::TimerId stream_timer_ = 0;  // a delayed pump for stream output
  EventLoop::TimerId accept_retry_timer_ = 0;

  std::string date_;
  std::time_t date_second_ = 0;

  Clock::time_point abuse_window_{};
  int abuse_lines_ = 0;
  uint64_t abuse_suppressed_ = 0;
};

}  // namespace detail

class Server {
 public:
  Server(EventLoop& loop, Logger log, ServerOptions options = {})
      : core_(std::make_shared<detail::ServerCore>(loop, log, std::move(options))) {}
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Listens on a numeric address ("127.0.0.1", "::", "0.0.0.0") and port (0: any free one).
  // Returns the bound address, "127.0.0.1:PORT" or "[::1]:PORT".
  Result<std::string> listen(const std::string& host, uint16_t port) {
    return core_->listen(host, port);
  }
  uint16_t port() const { return core_->port(); }

  // Routes `method` on `pattern` (see router.h for the pattern syntax) to a handler that
  // answers at once. A malformed pattern throws std::invalid_argument.
  void route(Method method, std::string_view pattern, Handler handler) {
    core_->route(method, pattern, std::move(handler));
  }
  // Routes to a handler that answers later through its Responder.
  void route_async(Method method, std::string_view pattern, AsyncHandler handler) {
    core_->route(method, pattern, std::move(handler));
  }
  // Decides, for every request (matched or not), before its handler, whether it may proceed.
  void set_authorizer(Authorizer authorizer) { core_->set_authorizer(std::move(authorizer)); }

  ServerStats stats() const { return core_->stats(); }
  const ServerOptions& options() const { return core_->options(); }

 private:
  std::shared_ptr<detail::ServerCore> core_;
};

// --- Stream and Responder, which reach the server through a weak pointer. ---

inline bool Stream::open() const {
  auto core = core_.lock();
  return core && core->stream_connection(connection_, serial_) != nullptr;
}
inline bool Stream::write(std::string_view data) {
  auto core = core_.lock();
  return core && core->stream_write(connection_, serial_, data);
}
inline void Stream::finish() {
  if (auto core = core_.lock()) core->stream_finish(connection_, serial_);
}
inline void Stream::on_close(std::function<void()> fn) {
  if (auto core = core_.lock()) core->stream_on_close(connection_, serial_, std::move(fn));
}
inline bool Stream::send_event(std::string_view data, std::string_view event, std::string_view id) {
  return write(format_event(data, event, id));
}
inline size_t Stream::buffered() const {
  auto core = core_.lock();
  return core ? core->stream_buffered(connection_, serial_) : 0;
}

inline bool Responder::send(Response response) {
  uint64_t serial = serial_;
  serial_ = 0;
  if (serial == 0) return false;
  auto core = core_.lock();
  return core && core->respond(connection_, serial, std::move(response));
}
inline bool Responder::waiting() const {
  auto core = core_.lock();
  return serial_ != 0 && core && core->waiting(connection_, serial_);
}

}  // namespace tessera::sdk::http

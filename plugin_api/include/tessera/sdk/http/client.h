// http::Client: one-shot HTTP/1.1 requests from a plugin's loop without blocking it, for a
// standby that proxies its REST calls to the leader (Marathon's LeaderProxyFilter, Chronos's
// RedirectFilter) and for event callbacks (Marathon's HTTP event subscriptions).
//
//   http::Client client(loop());
//   client.send("10.0.0.5:8080", {"GET", "/v2/apps"}, [](http::ClientReply reply) {
//     if (!reply.error.empty()) ...;  // no answer: refused, timed out, malformed
//     use(reply.status, reply.body);
//   });
//
// Each request has its own connection (`Connection: close`), so nothing is pooled or reused.
// The answer is read with Beast's parser: Content-Length, chunked or closed-delimited bodies,
// at most `max_reply_bytes`; a request not answered within `timeout` fails with an error.
// Addresses are `HOST:PORT`; a host that is not a numeric address is resolved with
// getaddrinfo on the loop's thread (blocking while it resolves), so prefer numeric ones.
//
// proxied_request() and proxied_response() copy a request and an answer across a proxy,
// leaving out the hop-by-hop headers.
//
// Threading and lifetime: the loop's thread. Destroying the Client closes every connection in
// flight without calling their callbacks; a callback must not destroy the Client.
#pragma once

#include <fcntl.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tessera/sdk/event_loop.h"
#include "tessera/sdk/fd_events.h"
#include "tessera/sdk/http/message.h"

namespace tessera::sdk::http {

struct ClientRequest {
  std::string method = "GET";
  std::string target = "/";  // origin form: path and query
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

struct ClientReply {
  std::string error;  // not empty: there is no answer (and status is 0)
  unsigned status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  std::string_view header(std::string_view name) const {
    for (const auto& [key, value] : headers) {
      if (detail::iequals(key, name)) return value;
    }
    return {};
  }
};

struct ClientOptions {
  std::chrono::milliseconds timeout{10000};  // from connecting to the whole answer
  size_t max_reply_bytes = size_t{16} * 1024 * 1024;
  size_t max_in_flight = 256;  // further requests fail at once
};

class Client {
 public:
  using Done = std::function<void(ClientReply)>;

  explicit Client(EventLoop& loop, ClientOptions options = {})
      : loop_(loop), fds_(loop), options_(options) {}
  ~Client() {
    for (auto& [id, exchange] : exchanges_) close(*exchange);
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  size_t in_flight() const { return exchanges_.size(); }

  // Sends `request` to `address` (HOST:PORT, [IPv6]:PORT); `done` gets the answer or the
  // reason there is none, always later on the loop, never inside send().
  void send(const std::string& address, const ClientRequest& request, Done done) {
    auto fail_later = [this, &done](std::string why) {
      loop_.post([done = std::move(done), why = std::move(why)] {
        ClientReply reply;
        reply.error = why;
        done(std::move(reply));
      });
    };
    if (exchanges_.size() >= options_.max_in_flight) {
      return fail_later("too many requests in flight (" + std::to_string(exchanges_.size()) + ")");
    }
    auto [host, port] = split_address(address);
    if (host.empty() || port.empty()) {
      return fail_later("'" + address + "' is not HOST:PORT");
    }
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* found = nullptr;
    if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
      return fail_later("cannot resolve '" + host + "': " + gai_strerror(rc));
    }
    std::unique_ptr<addrinfo, void (*)(addrinfo*)> guard(found, freeaddrinfo);
    int fd = ::socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return fail_later(std::string("cannot open a socket: ") + std::strerror(errno));
    if (::connect(fd, found->ai_addr, found->ai_addrlen) != 0 && errno != EINPROGRESS) {
      std::string why = std::strerror(errno);
      ::close(fd);
      return fail_later("cannot connect to '" + address + "': " + why);
    }

    uint64_t id = ++last_id_;
    auto exchange = std::make_unique<Exchange>();
    exchange->fd = fd;
    exchange->address = address;
    exchange->done = std::move(done);
    exchange->out = serialize(host, request);
    exchange->parser.body_limit(options_.max_reply_bytes);
    exchange->parser.header_limit(64 * 1024);
    exchange->parser.eager(true);
    exchange->watch = fds_.add(fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP,
                               [this, id](uint32_t events) { on_events(id, events); });
    exchange->timer = loop_.after(options_.timeout, [this, id] {
      finish(id, "no answer from '" + exchanges_.at(id)->address + "' within " +
                     std::to_string(options_.timeout.count()) + " ms");
    });
    bool watched = exchange->watch != 0;
    exchanges_.emplace(id, std::move(exchange));
    if (!watched) finish(id, "cannot watch the connection to '" + address + "'");
  }

 private:
  using Parser = boost::beast::http::response_parser<boost::beast::http::string_body>;
  struct Exchange {
    int fd = -1;
    FdEvents::WatchId watch = 0;
    EventLoop::TimerId timer = 0;
    std::string address;
    std::string out;
    size_t sent = 0;
    Parser parser;
    Done done;
  };

  static std::pair<std::string, std::string> split_address(const std::string& address) {
    size_t colon = address.rfind(':');
    if (colon == std::string::npos) return {};
    std::string host = address.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);
    }
    return {host, address.substr(colon + 1)};
  }

  static std::string serialize(const std::string& host, const ClientRequest& request) {
    std::string text = request.method + " " + request.target + " HTTP/1.1\r\n";
    bool has_host = false;
    for (const auto& [name, value] : request.headers) {
      has_host = has_host || detail::iequals(name, "Host");
      text += detail::header_safe(name) + ": " + detail::header_safe(value) + "\r\n";
    }
    if (!has_host) text += "Host: " + host + "\r\n";
    if (!request.body.empty() || request.method == "POST" || request.method == "PUT" ||
        request.method == "PATCH") {
      text += "Content-Length: " + std::to_string(request.body.size()) + "\r\n";
    }
    text += "Connection: close\r\n\r\n";
    text += request.body;
    return text;
  }

  void on_events(uint64_t id, uint32_t events) {
    auto it = exchanges_.find(id);
    if (it == exchanges_.end()) return;
    Exchange& exchange = *it->second;
    if ((events & EPOLLERR) != 0) {
      int error = 0;
      socklen_t length = sizeof error;
      getsockopt(exchange.fd, SOL_SOCKET, SO_ERROR, &error, &length);
      return finish(id, "connection to '" + exchange.address +
                            "' failed: " + std::strerror(error != 0 ? error : EIO));
    }
    while ((events & EPOLLOUT) != 0 && exchange.sent < exchange.out.size()) {
      ssize_t n = ::send(exchange.fd, exchange.out.data() + exchange.sent,
                         exchange.out.size() - exchange.sent, MSG_NOSIGNAL);
      if (n > 0) {
        exchange.sent += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      if (n < 0 && errno == EINTR) continue;
      return finish(id, "cannot send to '" + exchange.address + "': " + std::strerror(errno));
    }
    if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) == 0) return;
    std::array<char, 16384> buffer{};
    for (;;) {
      ssize_t n = ::recv(exchange.fd, buffer.data(), buffer.size(), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      if (n < 0) {
        return finish(id, "cannot read from '" + exchange.address + "': " + std::strerror(errno));
      }
      boost::beast::error_code ec;
      if (n == 0) {
        // The end of a body delimited by the connection's close, or an answer cut short.
        exchange.parser.put_eof(ec);
        if (ec || !exchange.parser.is_done()) {
          return finish(id, "'" + exchange.address + "' closed the connection before answering");
        }
        return finish(id, "");
      }
      size_t offset = 0;
      auto size = static_cast<size_t>(n);
      while (offset < size && !exchange.parser.is_done()) {
        size_t used = exchange.parser.put(
            boost::asio::const_buffer(buffer.data() + offset, size - offset), ec);
        offset += used;
        if (ec == boost::beast::http::error::need_more) {
          ec = {};
          break;
        }
        if (ec) {
          return finish(id, "malformed answer from '" + exchange.address + "': " + ec.message());
        }
      }
      if (exchange.parser.is_done()) return finish(id, "");
    }
  }

  void finish(uint64_t id, const std::string& error) {
    auto it = exchanges_.find(id);
    if (it == exchanges_.end()) return;
    std::unique_ptr<Exchange> exchange = std::move(it->second);
    exchanges_.erase(it);
    close(*exchange);
    ClientReply reply;
    reply.error = error;
    if (error.empty()) {
      auto message = exchange->parser.release();
      reply.status = message.result_int();
      for (const auto& field : message) {
        reply.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
      }
      reply.body = std::move(message.body());
    }
    // Called from the loop, outside the FdEvents dispatch of this connection (already removed).
    exchange->done(std::move(reply));
  }

  void close(Exchange& exchange) {
    if (exchange.watch != 0) fds_.remove(exchange.watch);
    exchange.watch = 0;
    if (exchange.timer != 0) loop_.cancel(exchange.timer);
    exchange.timer = 0;
    if (exchange.fd >= 0) ::close(exchange.fd);
    exchange.fd = -1;
  }

  EventLoop& loop_;
  FdEvents fds_;
  ClientOptions options_;
  uint64_t last_id_ = 0;
  std::map<uint64_t, std::unique_ptr<Exchange>> exchanges_;
};

// Hop-by-hop headers (RFC 9110, 7.6.1) and those the client or server sets itself.
inline bool hop_by_hop(std::string_view name) {
  for (std::string_view header :
       {"Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer", "Transfer-Encoding",
        "Upgrade", "Host", "Content-Length", "Date", "Server"}) {
    if (detail::iequals(name, header)) return true;
  }
  return false;
}

// `request` as the proxy sends it on: the same method, target, end-to-end headers and body.
inline ClientRequest proxied_request(const Request& request) {
  ClientRequest out;
  out.method = std::string(request.method_name());
  out.target = std::string(request.target());
  for (const auto& field : request.message()) {
    if (!hop_by_hop(field.name_string())) {
      out.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
  }
  out.body = request.body();
  return out;
}

// An answer as the proxy gives it back: the same status, end-to-end headers and body.
inline Response proxied_response(ClientReply reply) {
  std::string content_type(reply.header("Content-Type"));
  Response response(reply.status, std::move(reply.body), content_type);
  for (const auto& [name, value] : reply.headers) {
    if (!hop_by_hop(name) && !detail::iequals(name, "Content-Type")) {
      response.set_header(name, value);
    }
  }
  return response;
}

}  // namespace tessera::sdk::http

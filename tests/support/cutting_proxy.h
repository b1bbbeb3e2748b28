// Test support: a TCP proxy on loopback that drops one connection at a chosen moment, as a
// network or an overloaded server does. It forwards every connection it accepts to a server port;
// on the first one, once the client has sent bytes containing `trigger`, the next bytes the
// server sends are thrown away and both sides of that connection are closed. Later connections
// (the client reconnecting) are forwarded untouched.
//
// Threading: one thread of its own forwards; the accessors may be called from any thread. The
// destructor stops the thread and closes every socket.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace tessera::testing {

class CuttingProxy {
 public:
  CuttingProxy(int server_port, std::string trigger)
      : server_port_(server_port), trigger_(std::move(trigger)) {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address = loopback(0);
    socklen_t size = sizeof address;
    if (listener_ < 0 || ::bind(listener_, reinterpret_cast<sockaddr*>(&address), size) != 0 ||
        ::listen(listener_, 16) != 0 ||
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
      throw std::runtime_error("cutting proxy: cannot listen on loopback");
    }
    port_ = ntohs(address.sin_port);
    wake_ = ::eventfd(0, EFD_CLOEXEC);
    thread_ = std::thread([this] { run(); });
  }
  ~CuttingProxy() {
    uint64_t one = 1;
    (void)!::write(wake_, &one, sizeof one);
    thread_.join();
    for (const Link& link : links_) {
      ::close(link.client);
      ::close(link.server);
    }
    ::close(listener_);
    ::close(wake_);
  }
  CuttingProxy(const CuttingProxy&) = delete;
  CuttingProxy& operator=(const CuttingProxy&) = delete;

  std::string endpoint() const { return "tcp://127.0.0.1:" + std::to_string(port_); }
  // Whether the first connection was cut as described above.
  bool cut() const { return cut_.load(); }
  // Connections accepted so far.
  int connections() const { return connections_.load(); }

 private:
  struct Link {
    int client = -1;
    int server = -1;
    bool first = false;
    bool triggered = false;  // the client sent the trigger (first connection only)
    std::string sent;        // what the client sent on the first connection, until triggered
  };

  static sockaddr_in loopback(int port) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return address;
  }

  static bool write_all(int fd, const char* data, size_t size) {
    while (size > 0) {
      ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
      if (n <= 0) return false;
      data += n;
      size -= static_cast<size_t>(n);
    }
    return true;
  }

  void accept_one() {
    int client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) return;
    int server = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address = loopback(server_port_);
    if (server < 0 ||
        ::connect(server, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      ::close(client);
      if (server >= 0) ::close(server);
      return;
    }
    Link link;
    link.client = client;
    link.server = server;
    link.first = connections_++ == 0;
    links_.push_back(std::move(link));
  }

  // Forwards what `from` has; false when the link is to be closed.
  bool forward(Link& link, bool from_client) {
    char buffer[65536];
    ssize_t n = ::recv(from_client ? link.client : link.server, buffer, sizeof buffer, 0);
    if (n <= 0) return false;
    auto size = static_cast<size_t>(n);
    if (link.first && from_client && !link.triggered) {
      link.sent.append(buffer, size);
      link.triggered = link.sent.find(trigger_) != std::string::npos;
    } else if (link.first && !from_client && link.triggered) {
      cut_ = true;  // the server's answer is lost with the connection
      return false;
    }
    return write_all(from_client ? link.server : link.client, buffer, size);
  }

  void run() {
    for (;;) {
      std::vector<pollfd> fds{{wake_, POLLIN, 0}, {listener_, POLLIN, 0}};
      for (const Link& link : links_) {
        fds.push_back({link.client, POLLIN, 0});
        fds.push_back({link.server, POLLIN, 0});
      }
      if (::poll(fds.data(), fds.size(), -1) < 0) continue;
      if (fds[0].revents != 0) return;
      // Links first: accepting one changes links_.
      for (size_t i = links_.size(); i-- > 0;) {
        bool from_client = fds[2 + 2 * i].revents != 0;
        bool from_server = fds[3 + 2 * i].revents != 0;
        if ((from_client && !forward(links_[i], true)) ||
            (from_server && !forward(links_[i], false))) {
          ::close(links_[i].server);
          ::close(links_[i].client);
          links_.erase(links_.begin() + static_cast<std::ptrdiff_t>(i));
        }
      }
      if (fds[1].revents != 0) accept_one();
    }
  }

  int server_port_;
  std::string trigger_;
  int port_ = 0;
  int listener_ = -1;
  int wake_ = -1;
  std::vector<Link> links_;  // the forwarding thread's
  std::atomic<bool> cut_{false};
  std::atomic<int> connections_{0};
  std::thread thread_;
};

}  // namespace tessera::testing

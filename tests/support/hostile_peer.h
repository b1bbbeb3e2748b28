// Test support: a hostile peer that speaks just enough ZeroMQ (ZMTP 3.0, NULL mechanism, as a
// DEALER) over a plain TCP socket to send frames of any size and shape, and to see when the
// other side hangs up, which a ZeroMQ socket hides (it reconnects by itself). Also: what a
// process's memory is, from /proc.
#pragma once

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <optional>
#include <string>

namespace tessera::testing {

// A process's peak and current resident memory, in bytes (VmHWM and VmRSS).
struct Memory {
  uint64_t peak = 0;
  uint64_t resident = 0;
};

inline std::optional<Memory> memory_of(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  if (!status) return std::nullopt;
  Memory memory;
  std::string key;
  while (status >> key) {
    uint64_t kilobytes = 0;
    if (key == "VmHWM:" && status >> kilobytes) memory.peak = kilobytes * 1024;
    if (key == "VmRSS:" && status >> kilobytes) memory.resident = kilobytes * 1024;
    status.ignore(1 << 20, '\n');
  }
  return memory;
}

// A msgpack array32 of `count` nils: the cheapest bytes to send for the most values to unpack.
inline std::string nil_array(uint32_t count) {
  std::string bytes(5 + size_t{count}, '\xc0');
  bytes[0] = '\xdd';
  for (int i = 0; i < 4; ++i) bytes[1 + i] = static_cast<char>((count >> (8 * (3 - i))) & 0xff);
  return bytes;
}

class HostilePeer {
 public:
  // Connects to 127.0.0.1:port and sends a ZMTP 3.0 greeting and a READY as a DEALER.
  explicit HostilePeer(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    // A peer that stops reading without hanging up must not hang the test.
    timeval send_timeout{30, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof send_timeout);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return;
    std::string greeting(64, '\0');
    greeting[0] = '\xff';
    greeting[9] = '\x7f';
    greeting[10] = 3;  // ZMTP 3.0
    greeting.replace(12, 4, "NULL");
    std::string ready =
        std::string("\x05READY") + "\x0bSocket-Type" + std::string("\0\0\0\x06", 4) + "DEALER";
    std::string command = std::string("\x04") + static_cast<char>(ready.size()) + ready;
    // Then the server's greeting and READY: libzmq takes a frame that arrives before it has sent
    // its READY for a handshake command, and hangs up.
    std::string head;
    connected_ = write_all(greeting + command) && read_exact(64) && read_exact(2, &head) &&
                 read_exact(static_cast<unsigned char>(head[1]));
  }
  ~HostilePeer() {
    if (fd_ >= 0) ::close(fd_);
  }
  HostilePeer(const HostilePeer&) = delete;
  HostilePeer& operator=(const HostilePeer&) = delete;

  bool connected() const { return connected_; }

  // Sends one frame (`more`: more frames of the same message follow). False once the other side
  // has closed the connection.
  bool send_frame(const std::string& payload, bool more = false) {
    std::string head;
    char flags = more ? 1 : 0;
    if (payload.size() < 256) {
      head = std::string(1, flags) + static_cast<char>(payload.size());
    } else {
      head = std::string(1, static_cast<char>(flags | 2));
      for (int i = 7; i >= 0; --i)
        head += static_cast<char>((uint64_t{payload.size()} >> (8 * i)) & 0xff);
    }
    return write_all(head) && write_all(payload);
  }

  // Whether the other side closes the connection within `timeout` (what it sends is read and
  // ignored).
  bool closed_within(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    char buffer[4096];
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n <= 0) return true;
    }
    return false;
  }

 private:
  bool write_all(const std::string& bytes) {
    size_t sent = 0;
    while (sent < bytes.size()) {
      ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += static_cast<size_t>(n);
    }
    return true;
  }

  // Reads `count` bytes (into `out`, if given) within 10 s.
  bool read_exact(size_t count, std::string* out = nullptr) {
    std::string bytes(count, '\0');
    size_t got = 0;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (got < count && std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      ssize_t n = ::recv(fd_, bytes.data() + got, count - got, 0);
      if (n <= 0) return false;
      got += static_cast<size_t>(n);
    }
    if (out != nullptr) *out = bytes;
    return got == count;
  }

  int fd_ = -1;
  bool connected_ = false;
};

}  // namespace tessera::testing

// Test support: bytes that are not Tessera messages, sent to a live tcp endpoint, as a broken
// or hostile peer would: raw bytes that are not even ZeroMQ, and well-framed ZeroMQ messages
// whose payloads are not envelopes.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>
#include <zmq.hpp>

namespace tessera::testing {

// The port of "tcp://HOST:PORT".
inline uint16_t port_of(const std::string& endpoint) {
  return static_cast<uint16_t>(std::stoi(endpoint.substr(endpoint.rfind(':') + 1)));
}

// Connects to 127.0.0.1:port over plain TCP, writes `bytes` and hangs up. False if the
// connection is refused.
inline bool send_raw_tcp(uint16_t port, const std::string& bytes) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool connected = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  if (connected) (void)::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  ::close(fd);
  return connected;
}

// Sends each payload as one frame from a DEALER socket, and waits (up to a second) for them
// to leave.
inline void send_zmq_frames(const std::string& endpoint, const std::vector<std::string>& payloads) {
  zmq::context_t context;
  zmq::socket_t dealer(context, zmq::socket_type::dealer);
  dealer.set(zmq::sockopt::linger, 1000);
  dealer.connect(endpoint);
  for (const auto& payload : payloads) dealer.send(zmq::buffer(payload), zmq::send_flags::none);
}

}  // namespace tessera::testing

// Test support: addresses for tests that need a peer that is not there.
#pragma once

#include <zmq.h>

#include <string>
#include <zmq.hpp>

#include "tessera/sdk/event_loop.h"

namespace tessera::testing {

// A loopback tcp address where nothing listens: a port bound and released. What a master that
// is down looks like to a client, or a port to start a server on later.
inline std::string unused_tcp_endpoint() {
  void* context = zmq_ctx_new();
  std::string endpoint;
  {
    sdk::Socket socket(context, ZMQ_ROUTER);
    socket.ref().bind("tcp://127.0.0.1:*");
    endpoint = socket.ref().get(zmq::sockopt::last_endpoint);
  }
  zmq_ctx_term(context);
  return endpoint;
}

}  // namespace tessera::testing

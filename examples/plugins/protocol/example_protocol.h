// The messages the example plugins exchange. A third-party protocol is just this: structs with
// a type name, a schema version and msgpack-mapped fields (see tessera/message.h for the rules).
#pragma once

#include <cstdint>
#include <string>

#include "tessera/message.h"

namespace example {

// ping -> pong, request.
struct Ping {
  static constexpr const char* kType = "example.ping";
  static constexpr uint32_t kSchema = 1;
  std::string text;
  uint64_t sent_ns = 0;  // the sender's steady clock, echoed back to measure the round trip
  MSGPACK_DEFINE_MAP(text, sent_ns);
};

// pong -> ping, reply to Ping.
struct Pong {
  static constexpr const char* kType = "example.pong";
  static constexpr uint32_t kSchema = 1;
  std::string text;
  uint64_t sent_ns = 0;
  uint64_t served = 0;  // how many pings this pong has answered
  MSGPACK_DEFINE_MAP(text, sent_ns, served);
};

// pong -> everyone, event, every tick_ms.
struct Tick {
  static constexpr const char* kType = "example.tick";
  static constexpr uint32_t kSchema = 1;
  uint64_t count = 0;
  uint64_t served = 0;
  MSGPACK_DEFINE_MAP(count, served);
};

}  // namespace example

// The isolator protocol: between the agent core and an isolator plugin in the same host.
//
// The isolator binds a Server (by convention inproc://tessera.isolator.NAME) and publishes
// Exited events on inproc://tessera.isolator.NAME.events. The agent sends Launch, Kill and
// Recover requests; every request is answered (Launched / Killed / Recovered, or Failed).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tessera/protocol/resources.h"
#include "tessera/protocol/task.h"

namespace tessera::protocol::isolator {

inline std::string endpoint(const std::string& plugin) {
  return "inproc://tessera.isolator." + plugin;
}
inline std::string events_endpoint(const std::string& plugin) {
  return "inproc://tessera.isolator." + plugin + ".events";
}

struct Launch {
  static constexpr const char* kType = "isolator.launch";
  static constexpr uint32_t kSchema = 1;
  std::string container_id;  // unique per launch on this agent
  std::string task_id;
  std::string sandbox;  // directory created by the agent; stdout/stderr go there
  CommandInfo command;
  ContainerInfo container;
  Resources resources;
  std::map<std::string, std::string> environment;  // added by the agent (TASK_ID, PORT0, ...)
  MSGPACK_DEFINE_MAP(container_id, task_id, sandbox, command, container, resources, environment);
};

struct Launched {
  static constexpr const char* kType = "isolator.launched";
  static constexpr uint32_t kSchema = 1;
  std::string container_id;
  int64_t pid = 0;
  MSGPACK_DEFINE_MAP(container_id, pid);
};

struct Kill {
  static constexpr const char* kType = "isolator.kill";
  static constexpr uint32_t kSchema = 1;
  std::string container_id;
  double grace_seconds = 3;  // SIGTERM, then SIGKILL after this long
  MSGPACK_DEFINE_MAP(container_id, grace_seconds);
};

struct Killed {
  static constexpr const char* kType = "isolator.killed";
  static constexpr uint32_t kSchema = 1;
  std::string container_id;
  MSGPACK_DEFINE_MAP(container_id);
};

struct KnownContainer {
  std::string container_id;
  int64_t pid = 0;
  MSGPACK_DEFINE_MAP(container_id, pid);
};

// After an agent restart: which of these containers are still alive.
struct Recover {
  static constexpr const char* kType = "isolator.recover";
  static constexpr uint32_t kSchema = 1;
  std::vector<KnownContainer> containers;
  MSGPACK_DEFINE_MAP(containers);
};

struct Recovered {
  static constexpr const char* kType = "isolator.recovered";
  static constexpr uint32_t kSchema = 1;
  std::vector<std::string> alive;
  std::vector<std::string> gone;
  MSGPACK_DEFINE_MAP(alive, gone);
};

struct Failed {
  static constexpr const char* kType = "isolator.failed";
  static constexpr uint32_t kSchema = 1;
  std::string container_id;
  std::string message;
  MSGPACK_DEFINE_MAP(container_id, message);
};

// Event: a container's process ended (or was ended by a limit).
struct Exited {
  static constexpr const char* kType = "isolator.exited";
  static constexpr uint32_t kSchema = 1;
  std::string container_id;
  int32_t exit_code = -1;  // -1 when killed by a signal
  int32_t signal = 0;
  std::string reason;  // e.g. REASON_CONTAINER_LIMITATION_MEMORY
  std::string message;
  MSGPACK_DEFINE_MAP(container_id, exit_code, signal, reason, message);
};

}  // namespace tessera::protocol::isolator

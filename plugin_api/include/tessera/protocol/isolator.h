// The isolator protocol: between the agent core and its isolator plugins in the same host.
//
// Two kinds of plugin speak it, both of plugin kind "isolator":
//   - a container runtime (isolator_posix; isolator_docker later) starts, kills and recovers the
//     containers of the tasks whose container type it serves: Launch, Release, Kill, Recover;
//   - an isolator (isolator_cgroups, or a third party's) runs around every task, whatever its
//     runtime: Prepare before the launch, Isolate once the process exists (before it runs the
//     task's command), Update, Usage, Cleanup after the exit, Recover after a restart.
// The agent's [agent] table says which plugin is the runtime of each container type
// (`runtimes`); every other plugin of `isolators` is an isolator, run in the list's order
// (cleanup in the reverse order).
//
// Each plugin binds a Server on endpoint(NAME) (inproc://tessera.isolator.NAME), where the agent
// of its host connects, and announces the address it bound as `requests`. A plugin that takes
// an `endpoint` key serves there instead (the conformance suite sets an ipc:// address, to play
// the agent from its own process). Every request
// is answered (the matching reply, or Failed). What a plugin reports on its own (a runtime's
// Exited, an isolator's Limitation) is pushed to the peer that last spoke of that container (the
// agent), on the same connection as the replies: the launch reply of a container always arrives
// before its exit.
//
// Nothing here is trusted by the receiver: ids are checked against the containers it knows,
// amounts are checked for range before use.
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

struct Launch {
  static constexpr const char* kType = "isolator.launch";
  static constexpr uint32_t kSchema = 1;
  std::string container_id;  // unique per launch on this agent
  std::string task_id;
  std::string sandbox;  // directory created by the agent; stdout/stderr go there
  CommandInfo command;
  ContainerInfo container;
  Resources resources;
  // The task's environment, built by the agent alone: command.environment, then TASK_ID,
  // HOST, PORT0..N, PORT, PORTS, TESSERA_SANDBOX, ... A runtime adds only what its kind of
  // container needs underneath (e.g. PATH) and its own marker on top.
  std::map<std::string, std::string> environment;
  // True when isolators must attach the process before it runs the task's command: the runtime
  // starts it held and lets it go on Release.
  bool hold = false;
  TESSERA_MSGPACK_MAP(container_id, task_id, sandbox, command, container, resources, environment,
                      hold);
};

struct Launched {
  static constexpr const char* kType = "isolator.launched";
  static constexpr uint32_t kSchema = 1;
  std::string container_id;
  int64_t pid = 0;
  TESSERA_MSGPACK_MAP(container_id, pid);
};

// To the runtime: a container launched with `hold` may now run its command (the isolators have
// attached it).
struct Release {
  static constexpr const char* kType = "isolator.release";
  static constexpr uint32_t kSchema = 1;
  std::string container_id;
  TESSERA_MSGPACK_MAP(container_id);
};

struct Released {
  static constexpr const char* kType = "isolator.released";
  static constexpr uint32_t kSchema = 1;
  std::string container_id;
  TESSERA_MSGPACK_MAP(container_id);
};

struct Kill {
  static constexpr const char* kType = "isolator.kill";
  static constexpr uint32_t kSchema = 1;
  std::string container_id;
  double grace_seconds = 3;  // SIGTERM, then SIGKILL after this long
  TESSERA_MSGPACK_MAP(container_id, grace_seconds);
};

struct Killed {
  static constexpr const char* kType = "isolator.killed";
  static constexpr uint32_t kSchema = 1;
  std::string container_id;
  TESSERA_MSGPACK_MAP(container_id);
};

struct KnownContainer {
  std::string container_id;
  int64_t pid = 0;
  TESSERA_MSGPACK_MAP(container_id, pid);
};

// After an agent restart (sent to every runtime and every isolator, even with no container):
// these are every container the agent knows for this plugin. A runtime answers which still
// run; an isolator answers which it still holds (alive) and which it has nothing of (gone).
// Each cleans up whatever it holds of a container not named (an orphan).
struct Recover {
  static constexpr const char* kType = "isolator.recover";
  static constexpr uint32_t kSchema = 1;
  std::vector<KnownContainer> containers;
  TESSERA_MSGPACK_MAP(containers);
};

struct Recovered {
  static constexpr const char* kType = "isolator.recovered";
  static constexpr uint32_t kSchema = 1;
  std::vector<std::string> alive;
  std::vector<std::string> gone;
  TESSERA_MSGPACK_MAP(alive, gone);
};

struct Failed {
  static constexpr const char* kType = "isolator.failed";
  static constexpr uint32_t kSchema = 1;
  std::string container_id;
  std::string message;
  TESSERA_MSGPACK_MAP(container_id, message);
};

// Pushed by a runtime: a container's process ended (or was ended by a limit).
struct Exited {
  static constexpr const char* kType = "isolator.exited";
  static constexpr uint32_t kSchema = 1;
  std::string container_id;
  int32_t exit_code = -1;  // -1 when killed by a signal
  int32_t signal = 0;
  std::string reason;  // e.g. REASON_CONTAINER_LIMITATION_MEMORY
  std::string message;
  TESSERA_MSGPACK_MAP(container_id, exit_code, signal, reason, message);
};

// To an isolator, before the launch: set the container up for these resources (e.g. create its
// cgroup with its limits).
struct Prepare {
  static constexpr const char* kType = "isolator.prepare";
  static constexpr uint32_t kSchema = 1;
  std::string container_id;
  std::string task_id;
  std::string sandbox;
  ContainerInfo container;
  Resources resources;
  TESSERA_MSGPACK_MAP(container_id, task_id, sandbox, container, resources);
};

struct Prepared {
  static constexpr const char* kType = "isolator.prepared";
  static constexpr uint32_t kSchema = 1;
  std::string container_id;
  TESSERA_MSGPACK_MAP(container_id);
};

// To an isolator, once the runtime has started the container's process (held, before it runs
// the task's command): attach it. Its children inherit the attachment.
struct Isolate {
  static constexpr const char* kType = "isolator.isolate";
  static constexpr uint32_t kSchema = 1;
  std::string container_id;
  int64_t pid = 0;
  TESSERA_MSGPACK_MAP(container_id, pid);
};

struct Isolated {
  static constexpr const char* kType = "isolator.isolated";
  static constexpr uint32_t kSchema = 1;
  std::string container_id;
  TESSERA_MSGPACK_MAP(container_id);
};

// To an isolator: the container's resources changed; apply the new limits.
struct Update {
  static constexpr const char* kType = "isolator.update";
  static constexpr uint32_t kSchema = 1;
  std::string container_id;
  Resources resources;
  TESSERA_MSGPACK_MAP(container_id, resources);
};

struct Updated {
  static constexpr const char* kType = "isolator.updated";
  static constexpr uint32_t kSchema = 1;
  std::string container_id;
  TESSERA_MSGPACK_MAP(container_id);
};

// To an isolator: what the container has used so far.
struct GetUsage {
  static constexpr const char* kType = "isolator.get_usage";
  static constexpr uint32_t kSchema = 1;
  std::string container_id;
  TESSERA_MSGPACK_MAP(container_id);
};

// What an isolator measures; a field it does not measure is negative.
struct Usage {
  static constexpr const char* kType = "isolator.usage";
  static constexpr uint32_t kSchema = 1;
  std::string container_id;
  double cpu_seconds = -1;         // user + system time of every process of the container
  int64_t memory_bytes = -1;       // memory charged to it now
  int64_t memory_peak_bytes = -1;  // the most it was ever charged
  TESSERA_MSGPACK_MAP(container_id, cpu_seconds, memory_bytes, memory_peak_bytes);
};

// To an isolator, after the container's exit (or a failed launch): release what it holds of it.
// The reply says whether a limit of this isolator ended the container.
struct Cleanup {
  static constexpr const char* kType = "isolator.cleanup";
  static constexpr uint32_t kSchema = 1;
  std::string container_id;
  TESSERA_MSGPACK_MAP(container_id);
};

struct CleanedUp {
  static constexpr const char* kType = "isolator.cleaned_up";
  static constexpr uint32_t kSchema = 1;
  std::string container_id;
  std::string reason;   // a limit that ended it (e.g. REASON_CONTAINER_LIMITATION_MEMORY), or ""
  std::string message;  // for people, e.g. "memory limit of 64 MiB reached"
  TESSERA_MSGPACK_MAP(container_id, reason, message);
};

// Pushed by an isolator: the container went beyond a limit it enforces. The agent kills the
// container and reports the task failed with this reason.
struct Limitation {
  static constexpr const char* kType = "isolator.limitation";
  static constexpr uint32_t kSchema = 1;
  std::string container_id;
  std::string reason;
  std::string message;
  TESSERA_MSGPACK_MAP(container_id, reason, message);
};

}  // namespace tessera::protocol::isolator

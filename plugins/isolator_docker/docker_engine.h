// A client of the Docker Engine API (v1.41) on its unix socket, for the Docker runtime.
//
// Each call opens its own connection, sends one HTTP/1.1 request with Boost.Beast and reads one
// answer, within a deadline, so a daemon that hangs costs the caller at most that deadline and a
// daemon that is down an error at once. Answers are bounded in size before they are parsed.
// Errors carry codes: a missing image or container is kNotFound, a name in use kConflict, a
// daemon that cannot be reached kUnavailable (with the socket's path in the message), and the
// daemon's own message is quoted.
//
// An Engine is used from one thread at a time; the blocking calls (wait, follow_logs, events)
// take a thread each and end when their connection ends or `cancel` is called.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tessera/result.h"

namespace tessera::docker {

struct EngineOptions {
  std::string socket_path = "/var/run/docker.sock";
  std::string api_version = "v1.41";
  // The deadline of one call (connect, write, whole answer). Not for wait and follow_logs.
  std::chrono::milliseconds timeout{30000};
  // The largest answer read; a larger one is an error (a list of containers is about 1 KiB each).
  size_t max_response_bytes = size_t{16} << 20;
};

// What a container is created with (POST /containers/create).
struct ContainerSpec {
  std::string name;  // empty: the daemon names it
  std::string image;
  std::vector<std::string> entrypoint;  // empty: the image's
  std::vector<std::string> cmd;         // empty: the image's
  std::map<std::string, std::string> env;
  std::map<std::string, std::string> labels;
  std::string user;         // empty: the image's
  std::string working_dir;  // empty: the image's
  std::string network_mode = "none";
  int64_t memory_bytes = 0;        // 0: no limit
  int64_t nano_cpus = 0;           // 0: no cap
  int64_t cpu_shares = 0;          // 0: the daemon's default (1024)
  std::vector<std::string> binds;  // "HOST:CONTAINER[:ro]"
  // An init process as PID 1 forwards signals and reaps (busybox as PID 1 ignores SIGTERM).
  bool init = true;
};

// What inspect says of a container.
struct ContainerState {
  std::string id;
  std::string name;
  std::string status;  // created, running, exited, ...
  bool running = false;
  int exit_code = 0;
  bool oom_killed = false;
  int pid = 0;
  std::string error;  // why it could not start, when it could not
  std::map<std::string, std::string> labels;
};

// What the daemon measures of a running container (GET .../stats); -1 where it says nothing
// (the peak: cgroup v2 daemons give none).
struct ContainerStats {
  double cpu_seconds = -1;
  int64_t memory_bytes = -1;
  int64_t memory_peak_bytes = -1;
};

struct ContainerSummary {
  std::string id;
  std::string name;  // without the leading '/'
  std::string state;
  std::map<std::string, std::string> labels;
};

// A container event from the daemon's event stream.
struct ContainerEvent {
  std::string id;
  std::string action;                             // create, start, die, oom, destroy, ...
  std::map<std::string, std::string> attributes;  // labels, exitCode, name, image
};

// Lets another thread end a blocking call (wait, follow_logs, events).
class Cancellation {
 public:
  void cancel();
  bool cancelled() const { return cancelled_.load(); }
  // The connection a blocking call reads from, shut down by cancel() (-1: none).
  void watch(int fd) { fd_.store(fd); }

 private:
  std::atomic<bool> cancelled_{false};
  std::atomic<int> fd_{-1};
};

class Engine {
 public:
  explicit Engine(EngineOptions options);

  const EngineOptions& options() const { return options_; }

  // The daemon answers (GET /_ping).
  Status ping();
  // The daemon's API version, e.g. "1.41".
  Result<std::string> api_version();

  // Whether `image` is present locally.
  Result<bool> image_present(const std::string& image);
  // Pulls `image` (POST /images/create); the daemon's error says why it could not.
  Status pull(const std::string& image);

  Result<std::string> create(const ContainerSpec& spec);  // the container's id
  Status start(const std::string& id);
  Result<ContainerState> inspect(const std::string& id);
  // One sample of the container's cpu time and memory (stream=false, one-shot: no wait for a
  // second sample).
  Result<ContainerStats> stats(const std::string& id);
  // SIGTERM (to the init process, which forwards it), then SIGKILL after `grace`.
  Status stop(const std::string& id, std::chrono::seconds grace);
  Status kill(const std::string& id, const std::string& signal = "KILL");
  Status remove(const std::string& id, bool force);
  // Containers whose labels include every pair of `labels`, running or not.
  Result<std::vector<ContainerSummary>> list(const std::map<std::string, std::string>& labels);

  // Blocks until the container has exited and returns its exit code.
  Result<int> wait(const std::string& id, Cancellation* cancel = nullptr);

  // Copies the container's output into two files (appended), demultiplexed. With `follow`,
  // blocks until the container's output ends (it has exited), else copies what there is. The
  // daemon may end a follow asked for right after a start early: follow again (with a position)
  // while the container runs.
  //
  // With a `position` file, the copy can be resumed without copying anything twice: the file
  // says where the last copy ended (it is rewritten after every piece), and a copy with it
  // starts there. Without, the whole output is copied.
  Status copy_logs(const std::string& id, const std::filesystem::path& stdout_path,
                   const std::filesystem::path& stderr_path, bool follow,
                   Cancellation* cancel = nullptr, const std::filesystem::path& position = {});

  // Streams container events whose labels include `labels` (GET /events), calling `on_event`
  // for each, until the connection ends or is cancelled (then an error says why). The daemon
  // answers before it subscribes, so an event right after the answer could be missed: the stream
  // starts one second before the call (the daemon replays what it keeps of that second), and
  // `on_subscribed`, run once the answer came, sees nothing the stream will not also report.
  Status events(const std::map<std::string, std::string>& labels,
                const std::function<void(const ContainerEvent&)>& on_event,
                Cancellation* cancel = nullptr,
                const std::function<void()>& on_subscribed = nullptr);

  // Implementation details, public for the .cpp's free functions.
  struct Response {
    unsigned status = 0;
    std::string body;
  };

 private:
  Result<Response> call(const std::string& method, const std::string& target,
                        const std::string& body = "");
  Status expect(const Result<Response>& response, std::initializer_list<unsigned> ok,
                const std::string& what);
  std::string path(const std::string& tail) const;

  EngineOptions options_;
};

// The JSON of a create request for `spec` (exposed for unit tests).
std::string create_body(const ContainerSpec& spec);

// Splits Docker's multiplexed log stream (8-byte frame headers) fed in pieces.
class LogDemuxer {
 public:
  // Called with (stream 1 = stdout, 2 = stderr, bytes, whether they begin a frame).
  using Sink = std::function<void(int, std::string_view, bool)>;
  explicit LogDemuxer(Sink sink) : sink_(std::move(sink)) {}
  void feed(std::string_view bytes);

 private:
  Sink sink_;
  std::string header_;
  int stream_ = 0;
  size_t remaining_ = 0;
  bool frame_start_ = false;
};

// Docker's RFC 3339 timestamp of a log line ("2026-11-29T08:23:46.123456789Z") as the `since`
// that skips that line and everything before it ("SECONDS.NANOSECONDS", one nanosecond later),
// or "" when it is not one.
std::string since_after(std::string_view timestamp);

// Whether position `a` ("SECONDS.NANOSECONDS", as since_after gives) is before `b`.
bool position_before(std::string_view a, std::string_view b);

}  // namespace tessera::docker

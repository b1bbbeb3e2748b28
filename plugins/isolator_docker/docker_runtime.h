// DockerRuntime: tasks as Docker containers, over the Engine client (docker_engine.h). Knows
// nothing of messages: the plugin (docker_isolator.cpp) turns the isolator protocol into these
// calls and the callbacks back into messages.
//
// Threads. Every call to the daemon blocks, so none runs on the caller's thread (the plugin's
// event loop): launches, kills and removals run on a small pool of workers, the daemon's event
// stream on a thread of its own, and each running container's output is copied into its sandbox
// by a thread of its own. Every result comes back through `post`, which must run the function on
// the caller's thread (the plugin's EventLoop::post): the callbacks run there, in order, and all
// of the runtime's state is touched only there.
//
// Identity. Each container carries the labels `tessera.runtime` (this runtime's id, kept in its
// work dir, so an agent restarted on the same work dir finds its own containers and another
// agent on the same daemon never touches them), `tessera.container_id` and `tessera.task_id`.
//
// Exits come from the daemon's event stream (`die`, with the exit code); the stream is
// subscribed before the first launch and, when it breaks (a daemon restart), subscribed again
// and the containers it may have missed are found by listing. An exit is reported once the
// container's output has been copied; the container is then removed.
#pragma once

#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "docker_engine.h"
#include "tessera/result.h"

namespace tessera::docker {

struct RuntimeOptions {
  EngineOptions engine;
  std::filesystem::path work_dir;  // holds the runtime's id
  int workers = 4;                 // daemon calls in flight at once
  bool pull_missing_images = true;
  // Cap the cpus with a CFS quota (Docker's NanoCpus) beside the proportional shares.
  bool cpu_hard_cap = false;
  std::string sandbox_mount = "/mnt/mesos/sandbox";  // where the sandbox appears inside
};

struct LaunchRequest {
  std::string container_id;
  std::string task_id;
  std::filesystem::path sandbox;
  std::string image;
  std::string network = "none";  // none | host
  bool shell = true;
  std::string value;  // the command; empty: the image's own
  std::vector<std::string> arguments;
  std::string user;
  std::map<std::string, std::string> environment;
  double cpus = 0;
  double mem_mb = 0;
};

struct ContainerExit {
  std::string container_id;
  int exit_code = -1;
  std::string reason;  // REASON_CONTAINER_LIMITATION_MEMORY when the daemon's OOM killer ended it
  std::string message;
};

struct RecoveredContainers {
  std::vector<std::string> alive;    // still known to the daemon (an exit may follow at once)
  std::vector<std::string> gone;     // the daemon has no such container
  std::vector<std::string> orphans;  // ours, not named by the agent: removed
};

class DockerRuntime {
 public:
  using Post = std::function<void(std::function<void()>)>;
  using OnExit = std::function<void(const ContainerExit&)>;

  // Reads (or makes) the runtime id and starts the threads. A daemon that is down is no error:
  // each launch fails with the reason until it is up, and the event stream is subscribed again
  // (with backoff) until it is.
  static Result<std::unique_ptr<DockerRuntime>> create(RuntimeOptions options, Post post,
                                                       OnExit on_exit);
  ~DockerRuntime();
  DockerRuntime(const DockerRuntime&) = delete;
  DockerRuntime& operator=(const DockerRuntime&) = delete;

  const std::string& id() const { return id_; }
  size_t size() const { return containers_.size(); }

  // Starts the container; `done` gets its id's pid (the init process) or why it could not.
  void launch(const LaunchRequest& request, std::function<void(Result<int64_t>)> done);
  // Asks the container to stop (SIGTERM, SIGKILL after `grace`); its exit is reported as usual.
  Status kill(const std::string& container_id, std::chrono::milliseconds grace);
  // One sample of what the container uses, from the daemon (on a worker; `done` on the loop).
  void usage(const std::string& container_id, std::function<void(Result<ContainerStats>)> done);
  // After a restart: which of `known` the daemon still has; every other container of this
  // runtime is removed. Exits of those that ended meanwhile are reported after `done`.
  void recover(const std::vector<std::string>& known,
               std::function<void(Result<RecoveredContainers>)> done);
  // Kills every container (stopping the agent with kill_on_stop).
  void kill_all(std::chrono::milliseconds grace);

  // The create request a launch makes (exposed for unit tests).
  ContainerSpec spec_for(const LaunchRequest& request) const;

 private:
  struct Container {
    std::string docker_id;
    std::filesystem::path sandbox;
    bool exited = false;  // the daemon said it died
    bool reported = false;
    std::shared_ptr<Cancellation> logs;
    std::thread log_thread;
    bool logs_done = false;
  };

  DockerRuntime(RuntimeOptions options, Post post, OnExit on_exit);
  void run_worker();
  void submit(std::function<void()> job);
  void watch_events();
  void follow_logs(const std::string& container_id);
  std::filesystem::path log_position(const std::string& docker_id) const;
  // Runs `fn` on the caller's thread unless the runtime is gone by then.
  void deliver(std::function<void()> fn);
  // Reports every container of this runtime the daemon lists as ended.
  void reconcile(Engine& engine);
  void on_died(const std::string& docker_id);
  void finish(const std::string& container_id);

  RuntimeOptions options_;
  Post post_;
  OnExit on_exit_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::string id_;

  // Loop-thread state.
  std::map<std::string, Container> containers_;      // by container id
  std::map<std::string, std::string> by_docker_id_;  // docker id -> container id
  std::set<std::string> died_early_;                 // docker ids that died before known

  // Workers.
  std::mutex mutex_;
  // Only workers wait on `wake_` (a job wakes one of them); the event stream pauses between
  // subscriptions on `events_pause_`. Sharing one variable lost jobs: notify_one could wake the
  // pausing stream instead of a worker, and a launch waited until the next job came.
  std::condition_variable wake_;
  std::condition_variable events_pause_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::vector<std::thread> workers_;

  // The event stream.
  Cancellation events_cancel_;
  std::thread events_thread_;
};

}  // namespace tessera::docker

// Runs apps' HTTP and TCP health checks from the scheduler's host against each running task's
// host and port, on the plugin's loop without blocking it (non-blocking sockets watched with
// sdk::FdEvents), and reports each result to the Scheduler, which counts failures, shows them
// per task and kills a task that fails maxConsecutiveFailures times in a row.
//
// Timing, as Marathon's: a task is first checked when it is running, then every intervalSeconds;
// a check with no answer within timeoutSeconds fails; failures within gracePeriodSeconds of the
// task's start are ignored until its first success. COMMAND checks run on the task's agent, in
// tessera-marathon-executor (command_check.h), whose results come in through report().
//
// Threading: the loop's thread; the Scheduler must outlive the checker.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "scheduler.h"
#include "tessera/sdk/clock.h"
#include "tessera/sdk/fd_events.h"

namespace tessera::marathon {

class HealthChecker {
 public:
  // `address`: where to connect instead of each task's hostname (empty: the hostname).
  HealthChecker(sdk::EventLoop& loop, sdk::Clock& clock, Scheduler& scheduler, std::string address);
  ~HealthChecker();
  HealthChecker(const HealthChecker&) = delete;
  HealthChecker& operator=(const HealthChecker&) = delete;

  // Starts the checks that are due; call it every second or so.
  void tick();

  // A result of check `index` of `task_id` from elsewhere (a COMMAND check's executor): judged
  // as this checker's own (a failure within the grace period before a first success is ignored).
  void report(const std::string& task_id, size_t index, bool alive, const std::string& cause);

 private:
  using Key = std::pair<std::string, size_t>;  // task id, check index
  struct Probe {
    int fd = -1;
    sdk::FdEvents::WatchId watch = 0;
    sdk::Clock::TimerId timeout = 0;
    bool http = false;
    bool sent = false;
    std::string request;
    std::string response;
  };

  void start_probe(const Key& key, const Task& task, const HealthCheck& check);
  void on_events(const Key& key, uint32_t events);
  // Ends a probe and reports its result (unless the task's grace period hides a failure).
  void finish(const Key& key, bool alive, const std::string& cause);

  sdk::Clock& clock_;
  Scheduler& scheduler_;
  std::string address_;
  sdk::FdEvents fds_;
  std::map<Key, sdk::Clock::Monotonic::time_point> next_due_;
  std::map<Key, Probe> probes_;
};

}  // namespace tessera::marathon

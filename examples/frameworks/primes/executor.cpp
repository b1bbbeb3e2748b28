// The primes executor: started by the agent (the tasks' ExecutorInfo), it runs every task of
// the framework on that agent in this one process. A task's data is "FROM TO"; the task counts
// the primes in [FROM, TO), sends "TASK_ID COUNT" to the scheduler as a framework message, and
// finishes. The count goes before the TASK_FINISHED update, and the scheduler relaunches a
// range whose task finished without its count reaching it (messages are best effort).
#include <zmq.h>

#include <cstdint>
#include <iostream>
#include <sstream>
#include <string>

#include "tessera/sdk/executor.h"

namespace {

bool prime(uint64_t n) {
  if (n < 2) return false;
  for (uint64_t d = 2; d * d <= n; ++d) {
    if (n % d == 0) return false;
  }
  return true;
}

void log_sink(void*, int, const char* text, size_t size) {
  std::cerr << "primes_executor: " << std::string_view(text, size) << std::endl;
}

}  // namespace

int main() {
  namespace state = tessera::protocol::state;
  auto options = tessera::sdk::ExecutorOptions::from_environment();
  if (!options) {
    std::cerr << "primes_executor: " << options.error().message << std::endl;
    return 2;
  }
  void* context = zmq_ctx_new();
  int status = 0;
  {
    tessera::sdk::EventLoop loop;
    tessera::sdk::Bus bus{context, &loop, tessera::sdk::Logger(nullptr, log_sink, 3),
                          "primes-executor"};
    tessera::sdk::ExecutorClient executor(bus, *options);
    executor.on_launch = [&](const tessera::protocol::TaskInfo& task) {
      std::istringstream range(task.data);
      uint64_t from = 0;
      uint64_t to = 0;
      if (!(range >> from >> to) || to < from || to - from > 100'000'000) {
        executor.send_status(task.task_id, state::kFailed, "the data is not 'FROM TO'");
        return;
      }
      executor.send_status(task.task_id, state::kRunning);
      uint64_t count = 0;
      for (uint64_t n = from; n < to; ++n) count += prime(n) ? 1 : 0;
      if (auto s = executor.send_message(task.task_id + " " + std::to_string(count)); !s) {
        executor.send_status(task.task_id, state::kFailed, s.error().message);
        return;
      }
      executor.send_status(task.task_id, state::kFinished, std::to_string(count) + " primes");
    };
    // A task runs to its end inside on_launch, so a kill finds nothing left to stop.
    executor.on_kill = [&](const std::string& task_id) {
      executor.send_status(task_id, state::kKilled);
    };
    if (auto s = executor.start(); !s) {
      std::cerr << "primes_executor: " << s.error().message << std::endl;
      status = 2;
    } else {
      loop.run();
    }
  }
  zmq_ctx_term(context);
  return status;
}

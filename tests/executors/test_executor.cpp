// An executor for the tests, built on sdk/executor.h. What it does with a task is the task's
// data: "finish" reports TASK_RUNNING then TASK_FINISHED; "run" reports TASK_RUNNING and runs
// until killed; "crash" makes the whole process exit with status 3 at once; "stubborn" runs
// like "run", and the executor then ignores executor.shutdown (it has to be killed). Without a
// stubborn task it exits with status 0 when asked to shut down. It prints "launched ID" on its
// stdout for each task. TASK_RUNNING's message is "pid N", so a test can tell which process ran
// a task. A framework message comes back with "echo: " in front, except "pid", which is answered
// with "pid N".
#include <unistd.h>
#include <zmq.h>

#include <cstdio>
#include <iostream>
#include <string>

#include "tessera/sdk/executor.h"

namespace {

void log_sink(void*, int, const char* text, size_t size) {
  std::cerr << "test_executor: " << std::string_view(text, size) << std::endl;
}

}  // namespace

int main() {
  namespace state = tessera::protocol::state;
  auto options = tessera::sdk::ExecutorOptions::from_environment();
  if (!options) {
    std::cerr << "test_executor: " << options.error().message << std::endl;
    return 2;
  }
  void* context = zmq_ctx_new();
  int status = 0;
  {
    tessera::sdk::EventLoop loop;
    tessera::sdk::Bus bus{context, &loop, tessera::sdk::Logger(nullptr, log_sink, 2),
                          "test-executor"};
    tessera::sdk::ExecutorClient executor(bus, *options);
    std::string pid = "pid " + std::to_string(::getpid());
    bool stubborn = false;
    executor.on_launch = [&](const tessera::protocol::TaskInfo& task) {
      if (task.data == "crash") {
        std::fflush(nullptr);
        std::_Exit(3);
      }
      if (task.data == "stubborn") stubborn = true;
      // In its stdout, which is its tasks' too (they share its sandbox), for `tessera logs`.
      std::cout << "launched " << task.task_id << std::endl;
      executor.send_status(task.task_id, state::kRunning, pid);
      if (task.data == "finish") executor.send_status(task.task_id, state::kFinished, "done");
    };
    executor.on_kill = [&](const std::string& task_id) {
      executor.send_status(task_id, state::kKilled, "killed by the test executor");
    };
    // Framework messages come back with "echo: " in front.
    executor.on_message = [&](const std::string& data) {
      if (auto s = executor.send_message(data == "pid" ? pid : "echo: " + data); !s) {
        std::cerr << "test_executor: " << s.error().message << std::endl;
      }
    };
    executor.on_shutdown = [&](const std::string& reason) {
      std::cerr << "test_executor: asked to shut down: " << reason << std::endl;
      if (!stubborn) loop.request_stop();
    };
    executor.on_refused = [](const std::string& reason) {
      std::cerr << "test_executor: refused: " << reason << std::endl;
    };
    if (auto s = executor.start(); !s) {
      std::cerr << "test_executor: " << s.error().message << std::endl;
      status = 2;
    } else {
      loop.run();
    }
  }
  zmq_ctx_term(context);
  return status;
}

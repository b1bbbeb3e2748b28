// bench_executor: the launch rate of trivial tasks through a framework's own executor against
// the command executor (one process per task), in the same run on the same cluster: a master
// and one agent as tessera-host processes on loopback (allocator_drf, isolator_posix), and one
// framework in this process (the SDK's SchedulerClient).
//
//   bench_executor [--tasks N] [--runs N]
//
// Each phase launches N tasks on the agent's offers as they come and times the first accept to
// the last TASK_FINISHED: the command executor runs `true` in a process per task; the custom
// executor (this same program, started by the agent with TESSERA_EXECUTOR_* in its environment)
// reports TASK_RUNNING and TASK_FINISHED for each task at once. The executor is started by a
// warm-up task first, so that its start is not in the rate (it is printed apart). See
// docs/bench-executor.md.
#include <zmq.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "support/framework.h"
#include "support/process.h"
#include "tessera/sdk/executor.h"

namespace {

using Clock = std::chrono::steady_clock;
using tessera::protocol::TaskInfo;
using tessera::testing::Process;
using tessera::testing::TempDir;
namespace state = tessera::protocol::state;

[[noreturn]] void die(const std::string& why) {
  std::cerr << "bench_executor: " << why << std::endl;
  std::exit(1);
}

void log_sink(void*, int, const char* text, size_t size) {
  std::cerr << "bench_executor: " << std::string_view(text, size) << std::endl;
}

// The executor side: every task runs and finishes at once.
int run_executor() {
  auto options = tessera::sdk::ExecutorOptions::from_environment();
  if (!options) die(options.error().message);
  void* context = zmq_ctx_new();
  {
    tessera::sdk::EventLoop loop;
    tessera::sdk::Bus bus{context, &loop, tessera::sdk::Logger(nullptr, log_sink, 3),
                          "bench-executor"};
    tessera::sdk::ExecutorClient executor(bus, *options);
    executor.on_launch = [&](const TaskInfo& task) {
      executor.send_status(task.task_id, state::kRunning);
      executor.send_status(task.task_id, state::kFinished);
    };
    executor.on_kill = [&](const std::string& id) { executor.send_status(id, state::kKilled); };
    if (auto s = executor.start(); !s) die(s.error().message);
    loop.run();
  }
  zmq_ctx_term(context);
  return 0;
}

struct LocalCluster {
  explicit LocalCluster(const TempDir& dir) {
    std::string master_toml =
        "[node]\nname = \"master\"\nroles = [\"master\"]\nleader = \"leader_standalone\"\n"
        "work_dir = \"" +
        (dir / "master").string() +
        "\"\nplugin_dirs = [\"" TESSERA_PLUGIN_DIR "\"]\nendpoints_file = \"" +
        (dir / "master.endpoints").string() +
        "\"\n[log]\nlevel = \"warn\"\n[master]\nallocator = \"allocator_drf\"\n"
        "endpoint = \"tcp://127.0.0.1:0\"\n[plugins.allocator_drf]\nallocation_interval_ms = 50\n";
    master = std::make_unique<Process>(
        std::vector<std::string>{TESSERA_HOST_BIN, dir.write("master.toml", master_toml).string()},
        dir / "master.log");
    std::regex line("master\\.endpoint = \"([^\"]+)\"");
    auto deadline = Clock::now() + std::chrono::seconds(20);
    while (endpoint.empty()) {
      std::smatch m;
      std::string text = tessera::testing::read_file(dir / "master.endpoints");
      if (std::regex_search(text, m, line)) {
        endpoint = m[1];
      } else if (Clock::now() > deadline) {
        die("the master did not start:\n" + master->output());
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
    std::string agent_toml =
        "[node]\nname = \"agent0\"\nroles = [\"agent\"]\nleader = \"leader_standalone\"\n"
        "work_dir = \"" +
        (dir / "agent0").string() +
        "\"\nplugin_dirs = [\"" TESSERA_PLUGIN_DIR
        "\"]\n[log]\nlevel = \"warn\"\n[agent]\nisolators = [\"isolator_posix\"]\n"
        "resources = \"cpus:100;mem:100000;disk:1024\"\n"
        "[plugins.leader_standalone]\nmaster = \"" +
        endpoint + "\"\n[plugins.isolator_posix]\nkill_on_stop = true\n";
    agent = std::make_unique<Process>(
        std::vector<std::string>{TESSERA_HOST_BIN, dir.write("agent0.toml", agent_toml).string()},
        dir / "agent0.log");
  }
  ~LocalCluster() {
    agent->stop(std::chrono::seconds(20));
    master->stop(std::chrono::seconds(20));
  }
  std::unique_ptr<Process> master;
  std::unique_ptr<Process> agent;
  std::string endpoint;
};

TaskInfo trivial_task(const std::string& id, bool in_executor, const std::string& self) {
  TaskInfo t;
  t.task_id = id;
  t.name = id;
  t.resources.scalars["cpus"] = 0.01;
  t.resources.scalars["mem"] = 1;
  if (in_executor) {
    t.executor.executor_id = "bench";
    t.executor.command.value = "exec '" + self + "'";
  } else {
    t.command.value = "true";
  }
  return t;
}

// Launches `count` tasks named PREFIX-N on the offers as they come; returns the seconds from
// the first accept to the last TASK_FINISHED.
double launch_all(tessera::testing::TestFramework& framework, const std::string& prefix,
                  size_t count, bool in_executor, const std::string& self) {
  size_t next = 0;
  size_t finished = 0;
  Clock::time_point first{};
  framework.client().on_update = [&](const tessera::protocol::TaskStatus& s) {
    if (s.task_id.rfind(prefix + "-", 0) != 0 || !state::terminal(s.state)) return;
    if (s.state != state::kFinished)
      die("task '" + s.task_id + "' ended " + s.state + ": " + s.message);
    ++finished;
  };
  framework.on_offer = [&](const tessera::protocol::scheduler::Offer& offer) {
    std::vector<TaskInfo> tasks;
    double cpus = offer.resources.scalar("cpus");
    while (next < count && cpus >= 0.02) {
      cpus -= 0.01;
      tasks.push_back(trivial_task(prefix + "-" + std::to_string(next++), in_executor, self));
    }
    if (tasks.empty()) return (void)framework.client().decline({offer.offer_id}, 0.05);
    if (first == Clock::time_point{}) first = Clock::now();
    framework.client().accept({offer.offer_id}, tasks, 0.05);
  };
  if (!framework.run_until([&] { return finished == count; }, std::chrono::seconds(300))) {
    die("only " + std::to_string(finished) + " of " + std::to_string(count) + " " + prefix +
        " tasks finished");
  }
  framework.on_offer = nullptr;
  return std::chrono::duration<double>(Clock::now() - first).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (std::getenv(tessera::protocol::executor::kEndpointVariable) != nullptr) return run_executor();
  size_t tasks = 1000;
  int runs = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--tasks") {
      tasks = std::stoul(argv[i + 1]);
    } else if (flag == "--runs") {
      runs = std::stoi(argv[i + 1]);
    } else {
      die("unknown flag '" + flag + "' (--tasks N, --runs N)");
    }
  }
  std::string self = std::filesystem::canonical("/proc/self/exe").string();
  std::printf("%-4s %8s %14s %14s %8s %12s\n", "run", "tasks", "command t/s", "executor t/s",
              "ratio", "exec start s");
  for (int run = 0; run < runs; ++run) {
    TempDir dir;
    LocalCluster cluster(dir);
    tessera::sdk::FrameworkInfo info;
    info.name = "bench-executor";
    tessera::testing::TestFramework framework(cluster.endpoint, info);
    if (!framework.subscribed()) die("the framework did not subscribe");
    double command = launch_all(framework, "command", tasks, false, self);
    double start = launch_all(framework, "warmup", 1, true, self);
    double executor = launch_all(framework, "executor", tasks, true, self);
    std::printf("%-4d %8zu %14.1f %14.1f %8.1f %12.3f\n", run + 1, tasks, tasks / command,
                tasks / executor, command / executor, start);
    std::fflush(stdout);
  }
  return 0;
}

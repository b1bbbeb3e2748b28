// Isolation end to end through real `tessera-host` master and agent processes: the Docker
// runtime beside the posix one (a private dockerd, tests/support/dockerd.h), an agent killed with
// kill -9 while processes and containers run, and isolator_cgroups' limits measured from the
// kernel. The framework is in the test process; what runs is checked where a user would look:
// /proc, the Docker Engine, the cgroup files and an HTTP request to the task.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "support/cluster.h"
#include "support/dockerd.h"
#include "support/framework.h"
#include "support/task_processes.h"

namespace {

using namespace std::chrono_literals;
using tessera::protocol::TaskInfo;
using tessera::protocol::TaskStatus;
using tessera::protocol::scheduler::Offer;
using tessera::testing::AgentSettings;
using tessera::testing::Cluster;
using tessera::testing::command_task;
using tessera::testing::PrivateDockerd;
using tessera::testing::processes_with;
using tessera::testing::TaskProcess;
using tessera::testing::TaskProcessReaper;
using tessera::testing::TempDir;
using tessera::testing::TestFramework;
namespace state = tessera::protocol::state;
namespace reason = tessera::protocol::reason;

// The environment variable that marks this test's task processes (posix and Docker alike: a
// container's processes carry its environment too).
constexpr const char* kMarker = "TESSERA_ISOLATION_E2E_TEST";

// One daemon for the whole binary: starting one costs seconds, and the tests use it one at a
// time (ctest's RESOURCE_LOCK dockerd keeps other binaries' daemons away meanwhile).
class DaemonEnvironment : public ::testing::Environment {
 public:
  static PrivateDockerd& get() {
    if (!instance_) instance_ = std::make_unique<PrivateDockerd>();
    return *instance_;
  }
  void TearDown() override { instance_.reset(); }

 private:
  static inline std::unique_ptr<PrivateDockerd> instance_;
};
[[maybe_unused]] const auto* const kDaemonEnvironment =
    ::testing::AddGlobalTestEnvironment(new DaemonEnvironment);
PrivateDockerd& daemon() { return DaemonEnvironment::get(); }

std::string random_hex() {
  std::random_device rd;
  std::ostringstream out;
  out << std::hex << rd() << rd();
  return out.str();
}

tessera::sdk::FrameworkInfo framework_info(const std::string& name) {
  tessera::sdk::FrameworkInfo info;
  info.name = name;
  info.failover_timeout_seconds = 3600;
  return info;
}

// A TCP port nobody listens on now (the kernel's pick for port 0), so the agent can offer it
// without colliding with other tests on the machine.
uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// An agent with both runtimes: posix processes and Docker containers on the private daemon.
AgentSettings docker_agent(const std::string& resources) {
  AgentSettings settings;
  settings.resources = resources;
  settings.isolators = "\"isolator_posix\", \"isolator_docker\"";
  settings.extra = "runtimes = { posix = \"isolator_posix\", docker = \"isolator_docker\" }\n";
  settings.plugins = "[plugins.isolator_docker]\nsocket = \"" + daemon().socket().string() +
                     "\"\nkill_on_stop = true\ndefault_grace_seconds = 2\n";
  return settings;
}

TaskInfo docker_task(const std::string& id, const std::string& command, double cpus = 0.1,
                     double mem = 32) {
  TaskInfo task = command_task(id, command, cpus, mem);
  task.container.type = "DOCKER";
  task.container.image = PrivateDockerd::kImage;
  return task;
}

// The terminal statuses a framework heard for a task, each once (a resent update has the same
// uuid; reconciliation answers repeat what is known).
size_t terminal_statuses(const TestFramework& framework, const std::string& task_id) {
  std::set<std::string> uuids;
  size_t from_master = 0;
  for (const TaskStatus& s : framework.all_updates()) {
    if (s.task_id != task_id || !state::terminal(s.state) || s.reason == reason::kReconciliation) {
      continue;
    }
    if (s.uuid.empty()) {
      ++from_master;
    } else {
      uuids.insert(s.uuid);
    }
  }
  return uuids.size() + from_master;
}

std::string history(const TestFramework& framework, const std::string& task_id) {
  std::string out;
  for (const TaskStatus& s : framework.all_updates()) {
    if (s.task_id != task_id) continue;
    out += " " + s.state + (s.reason.empty() ? "" : "/" + s.reason) +
           (s.exit_code >= 0 ? "(exit " + std::to_string(s.exit_code) + ")" : "");
  }
  return out;
}

// Accepts the first offer that holds all of `tasks` with all of them; the others are declined.
void accept_in_one_go(TestFramework& framework, std::vector<TaskInfo>& tasks,
                      std::string& agent_id) {
  framework.on_offer = [&](const Offer& offer) {
    tessera::protocol::Resources needed;
    for (const TaskInfo& t : tasks) needed += t.resources;
    if (!tasks.empty() && offer.resources.contains(needed)) {
      agent_id = offer.agent_id;
      framework.client().accept({offer.offer_id}, tasks, 1);
      tasks.clear();
    } else {
      framework.client().decline({offer.offer_id}, 1);
    }
  };
}

// The containers of the private daemon that carry the label tessera.task_id=ID, running or not,
// as "CONTAINER_NAME STATE" lines.
std::vector<std::string> containers_of(const std::string& task_id, const TempDir& dir) {
  auto [code, out] = tessera::testing::run(
      {"/usr/bin/docker", "-H", "unix://" + daemon().socket().string(), "ps", "-a", "--filter",
       "label=tessera.task_id=" + task_id, "--format", "{{.Names}} {{.State}}"},
      dir / "docker-ps.log", 30s);
  std::vector<std::string> lines;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

// The sandbox the agent made for a task (WORK_DIR/agent/sandboxes/FRAMEWORK/TASK/CONTAINER).
std::filesystem::path sandbox_of(const TempDir& dir, const std::string& task_id) {
  std::error_code ec;
  for (const auto& framework :
       std::filesystem::directory_iterator(dir / "agent0" / "agent" / "sandboxes", ec)) {
    for (const auto& container :
         std::filesystem::directory_iterator(framework.path() / task_id, ec)) {
      return container.path();
    }
  }
  return {};
}

// Restarts the agent on its work dir while the framework's loop keeps running.
::testing::AssertionResult restart_agent(Cluster& cluster, TestFramework& framework,
                                         const AgentSettings& settings) {
  cluster.drop_agent(0);
  std::atomic<bool> done{false};
  ::testing::AssertionResult result = ::testing::AssertionFailure();
  std::thread restarter([&] {
    result = cluster.start_agent(0, settings);
    done = true;
  });
  framework.run_until([&] { return done.load(); }, 60s);
  restarter.join();
  return result;
}

TEST(IsolationE2eTest, DOCKERD_ADockerTaskServingHttpOnPort0WithHostNetworkingAnswersAGet) {
  TESSERA_REQUIRE_DOCKERD(daemon());
  TempDir dir;
  Cluster cluster{dir};
  const uint16_t port = free_port();
  ASSERT_TRUE(cluster.start_master());
  ASSERT_TRUE(
      cluster.start_agent(0, docker_agent("cpus:2;mem:512;disk:512;ports:[" + std::to_string(port) +
                                          "-" + std::to_string(port) + "]")));
  TestFramework framework(cluster.endpoint(), framework_info("http"));
  ASSERT_TRUE(framework.subscribed());

  // The page names the task and the port it was given, so the answer proves both.
  TaskInfo task = docker_task("web",
                              "echo \"task $TASK_ID on $PORT0\" > index.html && "
                              "exec httpd -f -p 127.0.0.1:$PORT0 -h .");
  task.container.network = "host";
  task.resources.ranges["ports"] = {{port, port}};
  std::vector<TaskInfo> tasks{task};
  std::string agent_id;
  accept_in_one_go(framework, tasks, agent_id);
  ASSERT_TRUE(framework.wait_for_state("web", state::kRunning, 60s))
      << history(framework, "web") << "\n"
      << cluster.agent(0).output();

  std::string url = "http://127.0.0.1:" + std::to_string(port) + "/index.html";
  std::string answer;
  ASSERT_TRUE(tessera::testing::eventually(
      [&] {
        auto [code, out] = tessera::testing::run({"/usr/bin/curl", "-sS", "--max-time", "5", url},
                                                 dir / "curl.log");
        answer = out;
        return code == 0;
      },
      60s))
      << answer << "\n"
      << cluster.agent(0).output();
  EXPECT_EQ(answer, "task web on " + std::to_string(port) + "\n");

  framework.client().kill("web", agent_id);
  ASSERT_TRUE(framework.wait_for_state("web", state::kKilled, 60s)) << history(framework, "web");
  EXPECT_TRUE(tessera::testing::eventually([&] { return containers_of("web", dir).empty(); }, 60s))
      << "the container is not removed after the kill";
}

// kill -9 of an agent running 20 tasks, 10 posix processes and 10 Docker containers, 3 of each
// ending while it is down (with exit status 3): after the restart on the same work dir, the 14
// others run on, each once and the same (no task relaunched, no container or process group
// doubled), and the 6 that ended are reported exactly once. The containers' real exit status
// is known (the daemon kept it); a posix process's died with the agent, its parent, so those
// are TASK_LOST (host/agent/README.md).
TEST(IsolationE2eTest, DOCKERD_AnAgentKilledWhileTwentyTasksRunAdoptsThemAfterItsRestart) {
  TESSERA_REQUIRE_DOCKERD(daemon());
  TempDir dir;
  Cluster cluster{dir};
  const std::string marker = random_hex();
  TaskProcessReaper reaper(kMarker, marker);
  AgentSettings settings = docker_agent("cpus:8;mem:2048;disk:1024;ports:[31000-31000]");
  ASSERT_TRUE(cluster.start_master());
  ASSERT_TRUE(cluster.start_agent(0, settings));
  TestFramework framework(cluster.endpoint(), framework_info("crash-docker"));
  ASSERT_TRUE(framework.subscribed());

  // Each task runs until a `stop` file appears in its sandbox (the container sees its sandbox
  // at its working directory), then exits 3.
  const std::string wait_then_exit = "while [ ! -e stop ]; do sleep 0.05; done; exit 3";
  std::vector<TaskInfo> tasks;
  std::vector<std::string> posix_ids, docker_ids, ending, running;
  for (int i = 0; i < 20; ++i) {
    bool docker = i >= 10;
    std::string id = (docker ? "docker" : "posix") + std::to_string(i % 10);
    TaskInfo task = docker ? docker_task(id, wait_then_exit, 0.1, 16)
                           : command_task(id, wait_then_exit, 0.1, 16);
    task.command.environment[kMarker] = marker;
    tasks.push_back(task);
    (docker ? docker_ids : posix_ids).push_back(id);
    (i % 10 < 3 ? ending : running).push_back(id);
  }
  std::vector<std::string> all = posix_ids;
  all.insert(all.end(), docker_ids.begin(), docker_ids.end());
  std::string agent_id;
  accept_in_one_go(framework, tasks, agent_id);
  ASSERT_TRUE(framework.run_until(
      [&] {
        return std::all_of(all.begin(), all.end(), [&](const std::string& id) {
          return framework.state(id) == state::kRunning;
        });
      },
      120s))
      << cluster.agent(0).output();

  // What runs before the kill: each posix task's process group (its session leader) and each
  // Docker task's container.
  auto session_leaders = [&] {
    std::map<std::string, std::set<pid_t>> out;
    for (const TaskProcess& p : processes_with(kMarker, marker)) {
      auto stat = tessera::testing::process_stat(p.pid);
      if (stat && stat->session == p.pid &&
          std::find(posix_ids.begin(), posix_ids.end(), p.task_id) != posix_ids.end()) {
        out[p.task_id].insert(p.pid);
      }
    }
    return out;
  };
  auto leaders_before = session_leaders();
  std::map<std::string, std::vector<std::string>> containers_before;
  for (const std::string& id : posix_ids) ASSERT_EQ(leaders_before[id].size(), 1u) << id;
  for (const std::string& id : docker_ids) {
    containers_before[id] = containers_of(id, dir);
    ASSERT_EQ(containers_before[id].size(), 1u) << id;
  }

  cluster.agent(0).signal(SIGKILL);
  ASSERT_TRUE(cluster.agent(0).wait().has_value());
  for (const std::string& id : ending) {
    std::filesystem::path sandbox = sandbox_of(dir, id);
    ASSERT_FALSE(sandbox.empty()) << id;
    std::ofstream(sandbox / "stop") << "stop\n";
  }
  // Those six are over before the agent comes back.
  ASSERT_TRUE(framework.run_until(
      [&] {
        for (const TaskProcess& p : processes_with(kMarker, marker)) {
          if (std::find(ending.begin(), ending.end(), p.task_id) != ending.end()) return false;
        }
        return true;
      },
      60s));
  ASSERT_TRUE(restart_agent(cluster, framework, settings));

  ASSERT_TRUE(framework.run_until(
      [&] {
        return std::all_of(ending.begin(), ending.end(), [&](const std::string& id) {
          return terminal_statuses(framework, id) > 0;
        });
      },
      60s))
      << cluster.agent(0).output();
  for (const std::string& id : ending) {
    EXPECT_EQ(terminal_statuses(framework, id), 1u) << id << ":" << history(framework, id);
    if (id.rfind("docker", 0) == 0) {
      EXPECT_EQ(framework.state(id), state::kFailed) << id << ":" << history(framework, id);
      EXPECT_EQ(framework.last(id).exit_code, 3) << id << ":" << history(framework, id);
    } else {
      EXPECT_EQ(framework.state(id), state::kLost) << id << ":" << history(framework, id);
    }
  }

  // The 14 others run on: the same process group or the same container, and only that.
  auto leaders_after = session_leaders();
  for (const std::string& id : running) {
    EXPECT_EQ(terminal_statuses(framework, id), 0u) << id << ":" << history(framework, id);
    EXPECT_EQ(framework.state(id), state::kRunning) << id;
    if (id.rfind("docker", 0) == 0) {
      EXPECT_EQ(containers_of(id, dir), containers_before[id]) << id;
    } else {
      EXPECT_EQ(leaders_after[id], leaders_before[id]) << id;
    }
  }
  for (const std::string& id : ending) {
    EXPECT_EQ(leaders_after.count(id), 0u) << id;
    if (id.rfind("docker", 0) == 0) {
      EXPECT_TRUE(tessera::testing::eventually([&] { return containers_of(id, dir).empty(); }, 60s))
          << id << ": its container is not removed";
    }
  }

  // They are still the agent's: a stop file ends each with its own status, reported once.
  for (const std::string& id : running) std::ofstream(sandbox_of(dir, id) / "stop") << "stop\n";
  ASSERT_TRUE(framework.run_until(
      [&] {
        return std::all_of(running.begin(), running.end(), [&](const std::string& id) {
          return terminal_statuses(framework, id) > 0;
        });
      },
      60s))
      << cluster.agent(0).output();
  for (const std::string& id : running) {
    EXPECT_EQ(terminal_statuses(framework, id), 1u) << id << ":" << history(framework, id);
    EXPECT_EQ(framework.state(id), state::kFailed) << id << ":" << history(framework, id);
    // A posix process adopted after a restart is no longer the agent's child: its status cannot
    // be read (exit_code -1); a container's always can.
    if (id.rfind("docker", 0) == 0) {
      EXPECT_EQ(framework.last(id).exit_code, 3) << id;
    }
  }
  EXPECT_TRUE(processes_with(kMarker, marker).empty());
}

// isolator_cgroups around isolator_posix in a real agent: a task that allocates beyond its
// memory limit is killed with the memory reason, and a busy loop capped at 0.2 cpu uses no more
// than that (read from its cgroup's cpuacct.usage). Needs root and writable cgroup v1.
TEST(IsolationE2eTest, ROOT_CGROUPS_MemoryLimitKillsAndCpuCapHoldsThroughTheCluster) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to create cgroups";
  if (!std::filesystem::exists("/sys/fs/cgroup/cpuacct/cpuacct.usage")) {
    GTEST_SKIP() << "no cgroup v1 cpuacct hierarchy here to measure from";
  }
  TempDir dir;
  Cluster cluster{dir};
  const std::string marker = random_hex();
  TaskProcessReaper reaper(kMarker, marker);
  const std::string parent = "tessera-isolation-test-" + std::to_string(::getpid());
  AgentSettings settings;
  settings.isolators = "\"isolator_posix\", \"isolator_cgroups\"";
  settings.plugins = "[plugins.isolator_cgroups]\nparent = \"" + parent +
                     "\"\ncpu_hard_limit = true\noom_poll_ms = 50\n";
  ASSERT_TRUE(cluster.start_master());
  if (auto started = cluster.start_agent(0, settings); !started) {
    GTEST_SKIP() << "the agent cannot start with isolator_cgroups here: " << started.message();
  }
  TestFramework framework(cluster.endpoint(), framework_info("cgroups"));
  ASSERT_TRUE(framework.subscribed());

  // 64 MiB of memory limit, and a shell that keeps doubling a string well past it.
  TaskInfo hog =
      command_task("hog", "x=xxxxxxxxxxxxxxxx; while true; do x=\"$x$x\"; done", 0.1, 64);
  TaskInfo busy = command_task("busy", "while true; do :; done", 0.2, 32);
  hog.command.environment[kMarker] = marker;
  busy.command.environment[kMarker] = marker;
  std::vector<TaskInfo> tasks{hog, busy};
  std::string agent_id;
  accept_in_one_go(framework, tasks, agent_id);

  ASSERT_TRUE(framework.run_until([&] { return terminal_statuses(framework, "hog") > 0; }, 120s))
      << history(framework, "hog") << "\n"
      << cluster.agent(0).output();
  EXPECT_EQ(framework.state("hog"), state::kFailed) << history(framework, "hog");
  EXPECT_EQ(framework.last("hog").reason, reason::kMemoryLimit) << history(framework, "hog");

  ASSERT_TRUE(framework.wait_for_state("busy", state::kRunning, 60s)) << history(framework, "busy");
  // The busy loop's cgroup, found from its process.
  std::filesystem::path cgroup;
  ASSERT_TRUE(framework.run_until(
      [&] {
        for (const TaskProcess& p : processes_with(kMarker, marker)) {
          if (p.task_id != "busy") continue;
          std::ifstream in("/proc/" + std::to_string(p.pid) + "/cgroup");
          for (std::string line; std::getline(in, line);) {
            auto colon = line.find(':');
            auto second = line.find(':', colon + 1);
            std::string controllers = line.substr(colon + 1, second - colon - 1);
            if (controllers.find("cpuacct") != std::string::npos &&
                line.find(parent) != std::string::npos) {
              cgroup = "/sys/fs/cgroup/cpuacct" + line.substr(second + 1);
              return true;
            }
          }
        }
        return false;
      },
      30s));
  auto usage_ns = [&] {
    std::ifstream in(cgroup / "cpuacct.usage");
    uint64_t ns = 0;
    in >> ns;
    return ns;
  };
  uint64_t start = usage_ns();
  auto began = std::chrono::steady_clock::now();
  framework.run_until([] { return false; }, 2s);
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
  double cpus = static_cast<double>(usage_ns() - start) / 1e9 / wall;
  RecordProperty("busy_cpus", std::to_string(cpus));
  // At most its 0.2 cpu, with room for one CFS period's overshoot at either end of the window;
  // and it does run (a cap that stops it entirely is wrong too).
  EXPECT_LE(cpus, 0.2 * 1.25) << "the busy loop used " << cpus << " cpu";
  EXPECT_GT(cpus, 0.01) << "the busy loop used " << cpus << " cpu";

  framework.client().kill("busy", agent_id);
  ASSERT_TRUE(framework.wait_for_state("busy", state::kKilled, 60s)) << history(framework, "busy");
  cluster.drop_agent(0);
  std::error_code ec;
  for (const auto& hierarchy : std::filesystem::directory_iterator("/sys/fs/cgroup", ec)) {
    for (const auto& agent : std::filesystem::directory_iterator(hierarchy.path() / parent, ec)) {
      ::rmdir(agent.path().c_str());
    }
    ::rmdir((hierarchy.path() / parent).c_str());
  }
}

}  // namespace

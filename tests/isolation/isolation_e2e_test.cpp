// Isolation end to end through real `tessera-host` master and agent processes: the Docker
// runtime beside the posix one (a private dockerd, tests/support/dockerd.h), an agent killed with
// kill -9 while processes and containers run, and isolator_cgroups' limits measured from the
// kernel. The framework is in the test process; what runs is checked where a user would look:
// /proc, the Docker Engine, the cgroup files and an HTTP request to the task.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/json.hpp>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "support/cluster.h"
#include "support/dockerd.h"
#include "support/framework.h"
#include "support/task_processes.h"
#include "support/task_runs.h"

namespace {

using namespace std::chrono_literals;
using tessera::protocol::TaskInfo;
using tessera::protocol::TaskStatus;
using tessera::protocol::scheduler::Offer;
using namespace tessera::testing;
namespace state = tessera::protocol::state;
namespace reason = tessera::protocol::reason;

// The environment variable that marks this test's task processes (posix and Docker alike: a
// container's processes carry its environment too).
constexpr const char* kMarker = "TESSERA_ISOLATION_E2E_TEST";

PrivateDockerd& daemon() { return tessera::testing::shared_dockerd(); }

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

// The sandbox an agent made for a task (WORK_DIR/agent/sandboxes/FRAMEWORK/TASK/CONTAINER), on
// agent 0 or 1.
std::filesystem::path sandbox_of(const TempDir& dir, const std::string& task_id) {
  std::error_code ec;
  for (const char* agent : {"agent0", "agent1"}) {
    for (const auto& framework :
         std::filesystem::directory_iterator(dir / agent / "agent" / "sandboxes", ec)) {
      for (const auto& container :
           std::filesystem::directory_iterator(framework.path() / task_id, ec)) {
        return container.path();
      }
    }
  }
  return {};
}

// The master of these tests. Their frameworks run blocking work in their own loop (the CLI,
// Docker listings, /proc scans), which on a loaded machine can keep them from sending a
// heartbeat for a second or more; with the clusters' usual 300 ms heartbeats the master would
// then disconnect them and hold their updates until they re-subscribe. These tests are about
// isolation, not about losing a framework, so theirs have a 2 s heartbeat (6 s of silence).
tessera::testing::MasterSettings isolation_master() {
  tessera::testing::MasterSettings settings;
  settings.heartbeat_interval_ms = 2000;
  return settings;
}

TEST(IsolationE2eTest, DOCKERD_ADockerTaskServingHttpOnPort0WithHostNetworkingAnswersAGet) {
  TESSERA_REQUIRE_DOCKERD(daemon());
  TempDir dir;
  Cluster cluster{dir};
  const uint16_t port = free_port();
  ASSERT_TRUE(cluster.start_master(isolation_master()));
  ASSERT_TRUE(
      cluster.start_agent(0, docker_agent("cpus:2;mem:512;disk:512;ports:[" + std::to_string(port) +
                                          "-" + std::to_string(port) + "]")));
  TestFramework framework(cluster.endpoint(), long_lived_framework("http"));
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
// doubled), and the 6 that ended are reported exactly once, with their real exit status: the
// daemon kept the containers'; each posix task's supervisor, which outlives the agent, recorded
// the processes'.
TEST(IsolationE2eTest, DOCKERD_AnAgentKilledWhileTwentyTasksRunAdoptsThemAfterItsRestart) {
  TESSERA_REQUIRE_DOCKERD(daemon());
  TempDir dir;
  Cluster cluster{dir};
  const std::string marker = random_hex();
  TaskProcessReaper reaper(kMarker, marker);
  AgentSettings settings = docker_agent("cpus:8;mem:2048;disk:1024;ports:[31000-31000]");
  ASSERT_TRUE(cluster.start_master(isolation_master()));
  ASSERT_TRUE(cluster.start_agent(0, settings));
  TestFramework framework(cluster.endpoint(), long_lived_framework("crash-docker"));
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
  // TASK_RUNNING comes once the held process is released, which may be a moment before its
  // exec shows the task's environment in /proc: wait until every posix task's leader is seen.
  std::map<std::string, std::set<pid_t>> leaders_before;
  ASSERT_TRUE(framework.run_until(
      [&] {
        leaders_before = session_leaders();
        return leaders_before.size() == posix_ids.size();
      },
      30s));
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

  ASSERT_TRUE(framework.run_until([&] { return all_terminal(framework, ending); }, 60s))
      << cluster.agent(0).output();
  for (const std::string& id : ending) {
    EXPECT_EQ(terminal_statuses(framework, id), 1u) << id << ":" << history(framework, id);
    EXPECT_EQ(framework.state(id), state::kFailed) << id << ":" << history(framework, id);
    EXPECT_EQ(framework.last(id).exit_code, 3) << id << ":" << history(framework, id);
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
  ASSERT_TRUE(framework.run_until([&] { return all_terminal(framework, running); }, 60s))
      << cluster.agent(0).output();
  for (const std::string& id : running) {
    EXPECT_EQ(terminal_statuses(framework, id), 1u) << id << ":" << history(framework, id);
    EXPECT_EQ(framework.state(id), state::kFailed) << id << ":" << history(framework, id);
    // A posix process adopted after a restart is no longer the agent's child, but its
    // supervisor's, which recorded its status; a container's the daemon kept.
    EXPECT_EQ(framework.last(id).exit_code, 3) << id << ":" << history(framework, id);
  }
  EXPECT_TRUE(processes_with(kMarker, marker).empty());
}

// The seed's shape through the CLI: three `tessera exec --docker-image` at once, each needing a
// whole cpu, over two agents of two cpus each, so they must spread over both. Each waits until
// the test has seen all three run, prints in its sandbox and exits 4, which `exec` passes on.
TEST(IsolationE2eTest, DOCKERD_ThreeExecsOfAnImageSpreadOverTwoAgents) {
  TESSERA_REQUIRE_DOCKERD(daemon());
  TempDir dir;
  Cluster cluster{dir};
  ASSERT_TRUE(cluster.start_master(isolation_master()));
  AgentSettings settings = docker_agent("cpus:2;mem:512;disk:512;ports:[31000-31000]");
  ASSERT_TRUE(cluster.start_agent(0, settings));
  ASSERT_TRUE(cluster.start_agent(1, settings));

  std::vector<std::unique_ptr<tessera::testing::Process>> execs;
  for (int i = 0; i < 3; ++i) {
    execs.push_back(std::make_unique<tessera::testing::Process>(
        std::vector<std::string>{TESSERA_CLI_BIN, "exec", "--master", cluster.endpoint(), "--cpus",
                                 "1", "--mem", "32", "--name", "web" + std::to_string(i),
                                 "--docker-image", PrivateDockerd::kImage, "--",
                                 "while [ ! -e go ]; do sleep 0.05; done; echo \"hi from "
                                 "$TASK_ID\"; exit 4"},
        dir / ("exec" + std::to_string(i) + ".log")));
  }
  // Each one's task id and agent, from its "launching task 'ID' on agent 'A'" line, once all
  // three run.
  std::vector<std::pair<std::string, std::string>> launched(3);
  for (size_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(execs[i]->wait_for("TASK_RUNNING", 120s))
        << execs[i]->output() << "\nagent0:\n"
        << cluster.agent(0).output() << "\nagent1:\n"
        << cluster.agent(1).output();
    std::smatch m;
    std::string out = execs[i]->output();
    ASSERT_TRUE(
        std::regex_search(out, m, std::regex("launching task '([^']+)' on agent '([^']+)'")))
        << out;
    launched[i] = {m[1], m[2]};
  }
  std::set<std::string> agents;
  for (const auto& [task, agent] : launched) agents.insert(agent);
  EXPECT_EQ(agents.size(), 2u) << "the three tasks do not run on two agents";

  for (const auto& [task, agent] : launched) {
    std::filesystem::path sandbox = sandbox_of(dir, task);
    ASSERT_FALSE(sandbox.empty()) << task;
    std::ofstream(sandbox / "go") << "go\n";
  }
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(execs[i]->wait(120s), 4) << execs[i]->output();
    EXPECT_NE(execs[i]->output().find("TASK_FAILED task '" + launched[i].first + "'"),
              std::string::npos)
        << execs[i]->output();
    EXPECT_EQ(tessera::testing::read_file(sandbox_of(dir, launched[i].first) / "stdout"),
              "hi from " + launched[i].first + "\n");
  }
}

// Usage through the whole path: the agent collects it every 200 ms from isolator_cgroups (a
// posix task) and from the Docker daemon's stats (a container), the master keeps the latest per
// task, and `tessera tasks` shows it, as a table and as JSON.
TEST(IsolationE2eTest, DOCKERD_ROOT_CGROUPS_TheUsageOfProcessesAndContainersReachesTheCli) {
  TESSERA_REQUIRE_DOCKERD(daemon());
  TempDir dir;
  Cluster cluster{dir};
  const std::string parent = "tessera-usage-test-" + std::to_string(::getpid());
  AgentSettings settings = docker_agent("cpus:2;mem:512;disk:512;ports:[31000-31000]");
  settings.isolators = "\"isolator_posix\", \"isolator_cgroups\", \"isolator_docker\"";
  settings.extra += "usage_interval_ms = 200\n";
  settings.plugins += "[plugins.isolator_cgroups]\nparent = \"" + parent + "\"\n";
  ASSERT_TRUE(cluster.start_master(isolation_master()));
  if (auto started = cluster.start_agent(0, settings); !started) {
    GTEST_SKIP() << "the agent cannot start with isolator_cgroups here: " << started.message();
  }
  TestFramework framework(cluster.endpoint(), long_lived_framework("usage"));
  ASSERT_TRUE(framework.subscribed());
  // Both busy, so that their cpu time grows from one report to the next.
  std::vector<TaskInfo> tasks{command_task("process", "while true; do :; done", 0.2, 32),
                              docker_task("container", "while true; do :; done", 0.2, 32)};
  std::string agent_id;
  accept_in_one_go(framework, tasks, agent_id);

  auto usage_of = [&](const std::string& task_id) -> std::optional<boost::json::object> {
    auto [code, out] =
        tessera::testing::run({TESSERA_CLI_BIN, "tasks", "--json", "--master", cluster.endpoint()},
                              dir / "tasks.log", 30s);
    if (code != 0) return std::nullopt;
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(out, ec);
    if (ec || !v.is_object()) return std::nullopt;
    for (const auto& t : v.at("tasks").as_array()) {
      if (t.at("id").as_string() == task_id && t.as_object().contains("usage")) {
        return t.at("usage").as_object();
      }
    }
    return std::nullopt;
  };
  std::map<std::string, boost::json::object> first;
  for (const std::string& id : {std::string("process"), std::string("container")}) {
    ASSERT_TRUE(framework.run_until(
        [&] {
          auto u = usage_of(id);
          if (!u || !u->contains("cpu_seconds") || !u->contains("mem_bytes")) return false;
          first[id] = *u;
          return u->at("cpu_seconds").to_number<double>() > 0.05 &&
                 u->at("mem_bytes").to_number<int64_t>() > 0;
        },
        60s))
        << id << ": no usage in `tessera tasks --json`\n"
        << cluster.agent(0).output();
  }
  // The cgroup's peak is at least what it uses now (cgroup v1 has it; the daemon's stats on v1
  // too).
  EXPECT_GE(first["process"].at("mem_peak_bytes").to_number<int64_t>(),
            first["process"].at("mem_bytes").to_number<int64_t>());
  // The latest report is kept: the busy loops' cpu time grows.
  for (const std::string& id : {std::string("process"), std::string("container")}) {
    double before = first[id].at("cpu_seconds").to_number<double>();
    EXPECT_TRUE(framework.run_until(
        [&] {
          auto u = usage_of(id);
          return u && u->at("cpu_seconds").to_number<double>() > before + 0.05;
        },
        60s))
        << id;
  }
  auto [code, table] = tessera::testing::run(
      {TESSERA_CLI_BIN, "tasks", "--master", cluster.endpoint()}, dir / "table.log", 30s);
  EXPECT_EQ(code, 0) << table;
  EXPECT_NE(table.find("CPU-SECS  MEM-USED  MEM-PEAK"), std::string::npos) << table;
  std::smatch m;
  EXPECT_TRUE(std::regex_search(
      table, m,
      std::regex(
          "process +process +TASK_RUNNING .* [0-9]+\\.[0-9]{2} +[0-9]+\\.[0-9] +[0-9]+\\.[0-9]")))
      << table;

  // A kill is best effort, as in Mesos: a call made while the client is not subscribed is not
  // sent (on a loaded machine it may be re-subscribing after a late heartbeat), and one sent on
  // a connection being replaced may be lost. A framework asks again until the task is killed.
  for (const std::string& id : {std::string("process"), std::string("container")}) {
    bool killed = false;
    for (int attempt = 0; attempt < 12 && !killed; ++attempt) {
      framework.client().kill(id, agent_id);
      killed = framework.wait_for_state(id, state::kKilled, 5s);
    }
    EXPECT_TRUE(killed) << history(framework, id) << "\nagent:\n"
                        << cluster.agent(0).output() << "\nmaster:\n"
                        << cluster.master().output();
  }
  cluster.drop_agent(0);
  std::error_code ec;
  for (const auto& hierarchy : std::filesystem::directory_iterator("/sys/fs/cgroup", ec)) {
    for (const auto& agent : std::filesystem::directory_iterator(hierarchy.path() / parent, ec)) {
      ::rmdir(agent.path().c_str());
    }
    ::rmdir((hierarchy.path() / parent).c_str());
  }
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
  ASSERT_TRUE(cluster.start_master(isolation_master()));
  if (auto started = cluster.start_agent(0, settings); !started) {
    GTEST_SKIP() << "the agent cannot start with isolator_cgroups here: " << started.message();
  }
  TestFramework framework(cluster.endpoint(), long_lived_framework("cgroups"));
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

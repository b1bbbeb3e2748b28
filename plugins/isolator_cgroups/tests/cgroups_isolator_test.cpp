// isolator_cgroups on this machine's real cgroups (ROOT_CGROUPS_: needs root and a writable
// hierarchy; skipped with the reason otherwise), beside isolator_posix, through the real loader:
// the test drives both as the agent does (prepare, held launch, isolate, release, cleanup).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "cgroups.h"
#include "support/node.h"
#include "tessera/protocol/isolator.h"

namespace {

namespace isolator = tessera::protocol::isolator;
namespace cg = tessera::isolator_cgroups;
using tessera::testing::InProcessNode;
using tessera::testing::TempDir;
using tessera::testing::TestBus;
using namespace std::chrono_literals;

// Why this machine cannot run these tests, or "".
std::string cannot_run() {
  if (::geteuid() != 0) return "needs root to create cgroups";
  std::ifstream in("/proc/self/mounts");
  std::stringstream mounts;
  mounts << in.rdbuf();
  auto h = cg::detect(mounts.str(), "auto");
  if (!h) return h.error().message;
  auto opened = cg::Cgroups::open(*h, "tessera-probe");
  if (!opened) return opened.error().message;
  for (const auto& [name, root] : h->controllers) ::rmdir((root / "tessera-probe").c_str());
  return "";
}

struct Peer {
  Peer(void* context, const std::string& plugin) : bus(context), client(bus.bus, plugin) {
    client.on<isolator::Exited>([this](const tessera::Envelope&, const isolator::Exited& e) {
      exited[e.container_id] = e;
      bus.loop.request_stop();
    });
    client.on<isolator::Limitation>(
        [this](const tessera::Envelope&, const isolator::Limitation& l) {
          limitations[l.container_id] = l;
        });
    EXPECT_TRUE(client.connect(isolator::endpoint(plugin)).ok());
  }
  template <typename T>
  tessera::Result<tessera::Envelope> call(const T& body) {
    return bus.call(client, body);
  }
  TestBus bus;
  tessera::sdk::Client client;
  std::map<std::string, isolator::Exited> exited;
  std::map<std::string, isolator::Limitation> limitations;
};

class CgroupsIsolatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why = cannot_run();
    if (!why.empty()) GTEST_SKIP() << "cgroups are not usable here: " << why;
  }
  void TearDown() override {
    runtime.reset();
    cgroups.reset();
    node.reset();
    for (pid_t pid : pids) ::kill(-pid, SIGKILL);
    // Whatever a failed test left: its tasks' cgroups, then the test's parent cgroups.
    for (const auto& d : task_cgroups()) {
      std::ifstream procs(d / "cgroup.procs");
      pid_t p = 0;
      while (procs >> p) ::kill(p, SIGKILL);
      tessera::testing::eventually([&] { return ::rmdir(d.c_str()) == 0 || errno == ENOENT; });
    }
    for (const auto& root : roots()) {
      std::error_code ec;
      for (const auto& agent : std::filesystem::directory_iterator(root / parent, ec)) {
        ::rmdir(agent.path().c_str());
      }
      ::rmdir((root / parent).c_str());
    }
  }

  // The hierarchies' roots on this machine.
  static std::set<std::filesystem::path> roots() {
    std::ifstream in("/proc/self/mounts");
    std::stringstream mounts;
    mounts << in.rdbuf();
    auto h = cg::detect(mounts.str(), "auto");
    std::set<std::filesystem::path> out;
    if (h) {
      for (const auto& [name, root] : h->controllers) out.insert(root);
    }
    return out;
  }

  void start(const std::string& cgroup_keys = "") {
    node = std::make_unique<InProcessNode>(
        dir,
        "roles = [\"agent\"]\n[agent]\nisolators = [\"isolator_posix\", "
        "\"isolator_cgroups\"]\n[plugins.isolator_cgroups]\nparent = \"" +
            parent + "\"\n" + cgroup_keys);
    auto started = node->start();
    ASSERT_TRUE(started.ok()) << started.error().message;
    runtime = std::make_unique<Peer>(node->zmq_context(), "isolator_posix");
    cgroups = std::make_unique<Peer>(node->zmq_context(), "isolator_cgroups");
  }

  void stop() {
    runtime.reset();
    cgroups.reset();
    node.reset();
  }

  // Prepare, held launch, isolate, release: what the agent does. Returns the pid.
  int64_t run(const std::string& id, const std::string& command, const std::string& resources) {
    isolator::Prepare prepare;
    prepare.container_id = id;
    prepare.task_id = id;
    prepare.sandbox = (dir / "sandboxes" / id).string();
    prepare.resources = *tessera::protocol::parse_resources(resources);
    auto prepared = cgroups->call(prepare);
    EXPECT_TRUE(prepared.ok() && prepared->is<isolator::Prepared>())
        << (prepared.ok() ? prepared->type() : prepared.error().message);
    isolator::Launch launch;
    launch.container_id = id;
    launch.task_id = id;
    launch.sandbox = prepare.sandbox;
    launch.command.value = command;
    launch.resources = prepare.resources;
    launch.hold = true;
    auto launched = runtime->call(launch);
    EXPECT_TRUE(launched.ok() && launched->is<isolator::Launched>());
    if (!launched.ok() || !launched->is<isolator::Launched>()) return 0;
    int64_t pid = launched->body<isolator::Launched>()->pid;
    pids.insert(static_cast<pid_t>(pid));
    auto isolated = cgroups->call(isolator::Isolate{id, pid});
    EXPECT_TRUE(isolated.ok() && isolated->is<isolator::Isolated>());
    auto released = runtime->call(isolator::Release{id});
    EXPECT_TRUE(released.ok() && released->is<isolator::Released>());
    return pid;
  }

  std::optional<isolator::Exited> wait_exited(const std::string& id) {
    auto deadline = std::chrono::steady_clock::now() + 30s;
    while (runtime->exited.count(id) == 0 && std::chrono::steady_clock::now() < deadline) {
      auto timer = runtime->bus.loop.after(200ms, [this] { runtime->bus.loop.request_stop(); });
      runtime->bus.loop.run();
      runtime->bus.loop.reset_stop();
      runtime->bus.loop.cancel(timer);
    }
    auto it = runtime->exited.find(id);
    if (it == runtime->exited.end()) return std::nullopt;
    return it->second;
  }

  isolator::CleanedUp cleanup(const std::string& id) {
    auto reply = cgroups->call(isolator::Cleanup{id});
    EXPECT_TRUE(reply.ok() && reply->is<isolator::CleanedUp>());
    if (!reply.ok() || !reply->is<isolator::CleanedUp>()) return {};
    return *reply->body<isolator::CleanedUp>();
  }

  // Every task cgroup under the test's parent, in every hierarchy.
  std::vector<std::filesystem::path> task_cgroups() {
    std::vector<std::filesystem::path> out;
    for (const auto& root : roots()) {
      std::error_code ec;
      for (const auto& agent : std::filesystem::directory_iterator(root / parent, ec)) {
        for (const auto& task : std::filesystem::directory_iterator(agent.path(), ec)) {
          if (task.is_directory()) out.push_back(task.path());
        }
      }
    }
    return out;
  }

  std::string parent = "tessera-test-" + std::to_string(::getpid());
  TempDir dir;
  std::unique_ptr<InProcessNode> node;
  std::unique_ptr<Peer> runtime;
  std::unique_ptr<Peer> cgroups;
  std::set<pid_t> pids;
};

TEST_F(CgroupsIsolatorTest, ROOT_CGROUPS_ATaskBeyondItsMemoryLimitIsKilledWithTheMemoryReason) {
  start();
  // tail keeps the whole line (there is no newline in /dev/zero) in memory.
  ASSERT_GT(run("hog", "head -c 400000000 /dev/zero | tail > /dev/null", "cpus:1;mem:32"), 0);
  auto exited = wait_exited("hog");
  ASSERT_TRUE(exited);
  EXPECT_NE(exited->exit_code, 0);
  auto cleaned = cleanup("hog");
  EXPECT_EQ(cleaned.reason, "REASON_CONTAINER_LIMITATION_MEMORY");
  EXPECT_NE(cleaned.message.find("memory limit"), std::string::npos) << cleaned.message;
  EXPECT_TRUE(task_cgroups().empty());
}

TEST_F(CgroupsIsolatorTest, ROOT_CGROUPS_ACpuCappedBusyLoopUsesNoMoreThanItsCap) {
  start("cpu_hard_limit = true\n");
  ASSERT_GT(run("busy", "while :; do :; done", "cpus:0.2;mem:64"), 0);
  auto usage = [&] {
    auto reply = cgroups->call(isolator::GetUsage{"busy"});
    EXPECT_TRUE(reply.ok() && reply->is<isolator::Usage>());
    return reply->body<isolator::Usage>()->cpu_seconds;
  };
  double before = usage();
  auto t0 = std::chrono::steady_clock::now();
  // A measurement window, not a wait for a condition.
  std::this_thread::sleep_for(2s);
  double used = usage() - before;
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_GT(used, 0.05) << "the busy loop did not run";
  // The cap is 20% of one cpu; CFS may run one period over at the window's edges.
  EXPECT_LE(used / wall, 0.2 * 1.1 + 0.05) << used << " s of cpu in " << wall << " s";
  ASSERT_TRUE(runtime->call(isolator::Kill{"busy", 0}).ok());
  ASSERT_TRUE(wait_exited("busy"));
  EXPECT_EQ(cleanup("busy").reason, "");
  EXPECT_TRUE(task_cgroups().empty());
}

TEST_F(CgroupsIsolatorTest, ROOT_CGROUPS_UsageIsReportedAndPidsAreLimited) {
  start("pids_max = 8\n");
  ASSERT_GT(run("forks", "for i in $(seq 20); do sleep 30 & done; wait", "cpus:0.5;mem:64"), 0);
  // The shell cannot start more than the limit: a fork fails (the shell may end there).
  isolator::Usage u;
  // Memory is charged once the task's command runs in the cgroup (just after the release).
  ASSERT_TRUE(tessera::testing::eventually([&] {
    auto reply = cgroups->call(isolator::GetUsage{"forks"});
    if (!reply.ok() || !reply->is<isolator::Usage>()) return false;
    u = *reply->body<isolator::Usage>();
    return u.memory_bytes > 0;
  }));
  EXPECT_GE(u.cpu_seconds, 0);
  EXPECT_GE(u.memory_peak_bytes, u.memory_bytes);
  // The shell cannot have more than 8 processes: the kernel refused forks (pids.events max).
  auto events = [&] {
    for (const auto& d : task_cgroups()) {
      std::ifstream in(d / "pids.events");
      std::string key;
      int64_t n = 0;
      if (in >> key >> n && key == "max") return n;
      std::ifstream v2(d / "pids.events");
      while (v2 >> key >> n) {
        if (key == "max") return n;
      }
    }
    return int64_t{0};
  };
  EXPECT_TRUE(tessera::testing::eventually([&] { return events() > 0; }));
  // A shell whose fork is refused may end there by itself (status 2) before the kill: the kill's
  // answer is not asserted, only that the task ends.
  (void)runtime->call(isolator::Kill{"forks", 0});
  ASSERT_TRUE(wait_exited("forks"));
  cleanup("forks");
  EXPECT_TRUE(task_cgroups().empty());
}

TEST_F(CgroupsIsolatorTest, ROOT_CGROUPS_RecoverKeepsNamedCgroupsAndRemovesOrphans) {
  start();
  int64_t kept = run("kept", "exec sleep 30", "cpus:0.1;mem:32");
  int64_t orphan = run("orphan", "exec sleep 30", "cpus:0.1;mem:32");
  ASSERT_GT(kept, 0);
  ASSERT_GT(orphan, 0);
  stop();  // the tasks and their cgroups outlive the node
  start();
  isolator::Recover recover;
  recover.containers = {{"kept", kept}};
  auto reply = cgroups->call(recover);
  ASSERT_TRUE(reply.ok() && reply->is<isolator::Recovered>());
  EXPECT_EQ(reply->body<isolator::Recovered>()->alive, std::vector<std::string>{"kept"});
  // The orphan's processes went with its cgroup.
  EXPECT_TRUE(tessera::testing::eventually(
      [&] { return !tessera::testing::process_alive(static_cast<pid_t>(orphan)); }));
  EXPECT_TRUE(tessera::testing::process_alive(static_cast<pid_t>(kept)));
  reply = runtime->call(recover);
  ASSERT_TRUE(reply.ok() && reply->is<isolator::Recovered>());
  ASSERT_TRUE(runtime->call(isolator::Kill{"kept", 0}).ok());
  ASSERT_TRUE(wait_exited("kept"));
  cleanup("kept");
  EXPECT_TRUE(task_cgroups().empty());
}

}  // namespace

// The conformance suite of isolator plugins, both kinds: a container runtime (Launch, Release,
// Kill, Recover, pushed Exited) and an isolator run around tasks (Prepare, Isolate, Update,
// GetUsage, Cleanup, Recover). The plugin runs in a real tessera-host (harness.h) with
// --without-roles and `roles = []`: the host loads it from [agent] isolators but runs no agent;
// the test plays the agent over ipc://, with real processes.
//
// Run it for your plugin from one test source file (it defines the tests, so include it in one
// file only), at namespace scope, with its kind (Runtime or Isolator):
//
//   #include "tessera/conformance/isolator.h"
//   TESSERA_ISOLATOR_CONFORMANCE(Mine, Isolator, .name = "isolator_mine", .dir = PLUGIN_DIR);
//
// and link Tessera::conformance. Keys of the plugin's table go in PluginUnderTest::table.
//
// THE CONTRACT (what the suite checks; tessera/protocol/isolator.h has the messages):
//
// Endpoint. The plugin takes an `endpoint` key (default protocol::isolator::endpoint(NAME), where
// the agent of its host connects), binds an sdk::Server there and announces the address it
// bound as `requests`. The harness sets `endpoint = "ipc://..."` and waits for that
// announcement. Every request is answered: its reply, or isolator.failed.
//
// A runtime:
// - launches a command, answers isolator.launched with its pid, and pushes its isolator.exited
//   (exit code, signal) on the same connection, after the launch reply;
// - starts a launch with `hold` without running its command until isolator.release;
// - answers isolator.kill with isolator.killed, and the container exits by the signal (grace
//   0: SIGKILL); kill and release of an unknown container fail;
// - keeps its containers across a restart of its host (SIGTERM: the agent restarts), and on
//   isolator.recover reports the named live ones as `alive`, the named dead ones as `gone` (or,
//   when it knows how one ended, as `alive` with its isolator.exited pushed right after, with
//   the real status), ends the containers the agent did not name (orphans), and pushes the
//   exits of the adopted ones to the peer that recovered them.
// An isolator:
// - prepares, isolates a process of the agent's (a pid it did not start), updates, reports the
//   usage of, and cleans up a container (cleanup without a reason when nothing was limited);
//   cleaning up twice, or what was never prepared, is not an error;
// - fails isolate and usage of an unknown container, and a second prepare of the same id;
// - after a restart of its host, on isolator.recover keeps the named prepared containers
//   (`alive`), reports the named unknown ones as `gone`, and cleans up the ones the agent did not
//   name (orphans): a later recover naming them finds them gone.
//
// A plugin that refuses to start on this machine (its host exits before it announced
// `requests`, e.g. cgroups not writable) has its tests skipped with the host's log as the
// reason; one that neither starts nor exits fails.
#pragma once

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "tessera/conformance/harness.h"
#include "tessera/protocol/isolator.h"

// The environment posix_spawn gives the test's own processes.
extern char** environ;

namespace tessera::conformance {

namespace isolator_msg = protocol::isolator;

// Whether `pid` is a live process (a zombie is not), from /proc.
inline bool process_alive(pid_t pid) {
  std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  size_t name_end = stat.rfind(')');
  return name_end != std::string::npos && name_end + 2 < stat.size() && stat[name_end + 2] != 'Z';
}

// Starts the plugin under test in a host of its own and connects to it as the agent.
class IsolatorPluginConformance : public ::testing::TestWithParam<PluginUnderTest> {
 protected:
  void SetUp() override {
    const PluginUnderTest& plugin = GetParam();
    node_ = std::make_unique<Node>(plugin);
    node_->configure("roles = []\n[agent]\nisolators = [\"" + plugin.name + "\"]\n");
    std::string why = node_->try_start("requests");
    if (!why.empty() && node_->ended()) {
      node_.reset();  // Its host has ended: there is nothing to stop.
      GTEST_SKIP() << "'" << plugin.name << "' does not start here: " << why;
    }
    ASSERT_TRUE(why.empty()) << why;
    ASSERT_NO_FATAL_FAILURE(connect());
  }

  void TearDown() override {
    disconnect();
    if (node_) node_->stop();
    for (pid_t pid : pids_) {
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, WNOHANG);
    }
  }

  // The agent's side: one connection, on which replies and pushed exits arrive in order.
  void connect() {
    peer_ = std::make_unique<Peer>("agent");
    client_ = std::make_unique<sdk::Client>(peer_->bus, "conformance");
    client_->on<isolator_msg::Exited>(
        [this](const Envelope&, const isolator_msg::Exited& exited) { exits_.push_back(exited); });
    auto connected = client_->connect(node_->announced("requests"));
    ASSERT_TRUE(connected.ok()) << connected.error().message;
  }

  void disconnect() {
    client_.reset();
    peer_.reset();
  }

  // SIGTERM to the host (an agent restart: what the plugin leaves running outlives it).
  void stop() {
    disconnect();
    node_->stop();
  }

  // A new host on the same work dir.
  void restart() {
    ASSERT_NO_FATAL_FAILURE(node_->start("requests"));
    ASSERT_NO_FATAL_FAILURE(connect());
  }

  std::filesystem::path sandbox(const std::string& id) const {
    return node_->dir() / ("sandboxes/" + id);
  }

  isolator_msg::Launch launch_request(const std::string& id, const std::string& command) const {
    isolator_msg::Launch launch;
    launch.container_id = id;
    launch.task_id = id;
    launch.sandbox = sandbox(id).string();
    launch.command.value = command;
    launch.resources.scalars = {{"cpus", 0.1}, {"mem", 32}};
    return launch;
  }

  // Launches and returns the pid (0, and a test failure, when it is not launched).
  int64_t launch(const isolator_msg::Launch& launch) {
    auto launched = expect<isolator_msg::Launched>(launch);
    if (!launched) return 0;
    pids_.insert(static_cast<pid_t>(launched->pid));
    return launched->pid;
  }

  isolator_msg::Prepare prepare_request(const std::string& id) const {
    isolator_msg::Prepare prepare;
    prepare.container_id = id;
    prepare.task_id = id;
    prepare.sandbox = sandbox(id).string();
    prepare.resources.scalars = {{"cpus", 0.1}, {"mem", 32}};
    return prepare;
  }

  // A process of the test's own, as a runtime would start it, for an isolator to attach.
  pid_t spawn_sleeper() {
    pid_t pid = 0;
    char shell[] = "sh";
    char dash_c[] = "-c";
    char command[] = "exec sleep 30";
    char* argv[] = {shell, dash_c, command, nullptr};
    EXPECT_EQ(::posix_spawn(&pid, "/bin/sh", nullptr, nullptr, argv, environ), 0);
    pids_.insert(pid);
    return pid;
  }

  // The reply to `request` when it is a Reply (a test failure, and nothing, otherwise).
  template <typename Reply, typename Request>
  std::optional<Reply> expect(const Request& request) {
    Result<Envelope> reply = peer_->call(*client_, request);
    EXPECT_TRUE(reply.ok() && reply->is<Reply>())
        << Request::kType << " -> " << (reply.ok() ? reply->type() : reply.error().message);
    if (!reply.ok() || !reply->is<Reply>()) return std::nullopt;
    auto body = reply->template body<Reply>();
    EXPECT_TRUE(body.ok()) << Reply::kType << ": " << body.error().message;
    if (!body.ok()) return std::nullopt;
    return *body;
  }

  template <typename Request>
  void expect_failed(const Request& request) {
    Result<Envelope> reply = peer_->call(*client_, request);
    ASSERT_TRUE(reply.ok()) << reply.error().message;
    EXPECT_EQ(reply->type(), isolator_msg::Failed::kType) << Request::kType;
  }

  // The exit pushed for container `id` (nothing, after a generous wait, if none came).
  std::optional<isolator_msg::Exited> wait_exit(const std::string& id) {
    std::optional<isolator_msg::Exited> found;
    peer_->run_until(
        [&] {
          for (const auto& exited : exits_) {
            if (exited.container_id == id) found = exited;
          }
          return found.has_value();
        },
        30s);
    return found;
  }

  bool eventually_dead(int64_t pid) {
    auto deadline = std::chrono::steady_clock::now() + 30s;
    while (process_alive(static_cast<pid_t>(pid)) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(10ms);
    }
    return !process_alive(static_cast<pid_t>(pid));
  }

  std::unique_ptr<Node> node_;
  std::unique_ptr<Peer> peer_;
  std::unique_ptr<sdk::Client> client_;
  std::vector<isolator_msg::Exited> exits_;
  std::set<pid_t> pids_;
};

// --- Runtimes ---------------------------------------------------------------------------------

class RuntimeConformance : public IsolatorPluginConformance {};
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(RuntimeConformance);

TEST_P(RuntimeConformance, ExitsFollowTheirLaunchOnOneConnection) {
  // Many short launches: each exit comes after its launch reply, on the same connection.
  for (int i = 0; i < 5; ++i) {
    std::string id = "quick" + std::to_string(i);
    ASSERT_GT(launch(launch_request(id, "exit 3")), 0);
    auto exited = wait_exit(id);
    ASSERT_TRUE(exited) << id;
    EXPECT_EQ(exited->exit_code, 3);
    EXPECT_EQ(exited->signal, 0);
  }
}

TEST_P(RuntimeConformance, AHeldLaunchRunsOnlyOnRelease) {
  auto held = launch_request("held", "echo ran");
  held.hold = true;
  ASSERT_GT(launch(held), 0);
  EXPECT_EQ(read_file(sandbox("held") / "stdout"), "");
  ASSERT_TRUE(expect<isolator_msg::Released>(isolator_msg::Release{"held"}));
  auto exited = wait_exit("held");
  ASSERT_TRUE(exited);
  EXPECT_EQ(exited->exit_code, 0);
  EXPECT_EQ(read_file(sandbox("held") / "stdout"), "ran\n");
}

TEST_P(RuntimeConformance, KillEndsItAndUnknownContainersFail) {
  expect_failed(isolator_msg::Kill{"ghost", 1});
  expect_failed(isolator_msg::Release{"ghost"});
  ASSERT_GT(launch(launch_request("sleeper", "exec sleep 30")), 0);
  ASSERT_TRUE(expect<isolator_msg::Killed>(isolator_msg::Kill{"sleeper", 0}));
  auto exited = wait_exit("sleeper");
  ASSERT_TRUE(exited);
  EXPECT_EQ(exited->signal, SIGKILL);
}

TEST_P(RuntimeConformance, RecoveryAdoptsTheNamedReportsTheDeadAndEndsOrphans) {
  int64_t kept = launch(launch_request("kept", "exec sleep 30"));
  int64_t dead = launch(launch_request("dead", "exec sleep 30"));
  int64_t orphan = launch(launch_request("orphan", "exec sleep 30"));
  ASSERT_GT(kept, 0);
  ASSERT_GT(dead, 0);
  ASSERT_GT(orphan, 0);
  stop();  // An agent restart: the containers outlive it.
  ASSERT_EQ(::kill(static_cast<pid_t>(dead), SIGKILL), 0);
  ASSERT_TRUE(eventually_dead(dead));
  ASSERT_NO_FATAL_FAILURE(restart());
  isolator_msg::Recover recover;
  recover.containers = {{"kept", kept}, {"dead", dead}};
  auto recovered = expect<isolator_msg::Recovered>(recover);
  ASSERT_TRUE(recovered);
  // The dead one is gone, or, for a runtime that knows how it ended, alive with its real exit
  // (killed by SIGKILL) pushed right after.
  if (std::find(recovered->alive.begin(), recovered->alive.end(), "dead") !=
      recovered->alive.end()) {
    std::vector<std::string> alive = recovered->alive;
    std::sort(alive.begin(), alive.end());
    EXPECT_EQ(alive, (std::vector<std::string>{"dead", "kept"}));
    EXPECT_TRUE(recovered->gone.empty());
    auto exited = wait_exit("dead");
    ASSERT_TRUE(exited);
    EXPECT_EQ(exited->signal, SIGKILL);
  } else {
    EXPECT_EQ(recovered->alive, std::vector<std::string>{"kept"});
    EXPECT_EQ(recovered->gone, std::vector<std::string>{"dead"});
  }
  // The orphan, which the agent did not name, is ended.
  EXPECT_TRUE(eventually_dead(orphan));
  // The adopted one is the runtime's again: its exit comes to this peer.
  ASSERT_TRUE(expect<isolator_msg::Killed>(isolator_msg::Kill{"kept", 0}));
  EXPECT_TRUE(wait_exit("kept"));
}

// --- Isolators --------------------------------------------------------------------------------

class IsolatorConformance : public IsolatorPluginConformance {};
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(IsolatorConformance);

TEST_P(IsolatorConformance, PrepareIsolateUpdateUsageCleanup) {
  ASSERT_TRUE(expect<isolator_msg::Prepared>(prepare_request("c1")));
  pid_t pid = spawn_sleeper();
  ASSERT_TRUE(expect<isolator_msg::Isolated>(isolator_msg::Isolate{"c1", pid}));
  ASSERT_TRUE(
      expect<isolator_msg::Updated>(isolator_msg::Update{"c1", prepare_request("c1").resources}));
  auto usage = expect<isolator_msg::Usage>(isolator_msg::GetUsage{"c1"});
  ASSERT_TRUE(usage);
  EXPECT_EQ(usage->container_id, "c1");
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  auto cleaned = expect<isolator_msg::CleanedUp>(isolator_msg::Cleanup{"c1"});
  ASSERT_TRUE(cleaned);
  EXPECT_EQ(cleaned->reason, "");
  // Cleaning up again, or what was never prepared, is not an error.
  EXPECT_TRUE(expect<isolator_msg::CleanedUp>(isolator_msg::Cleanup{"c1"}));
  EXPECT_TRUE(expect<isolator_msg::CleanedUp>(isolator_msg::Cleanup{"never"}));
}

TEST_P(IsolatorConformance, UnknownAndDuplicateContainersFail) {
  expect_failed(isolator_msg::Isolate{"ghost", 1234});
  expect_failed(isolator_msg::GetUsage{"ghost"});
  ASSERT_TRUE(expect<isolator_msg::Prepared>(prepare_request("twice")));
  expect_failed(prepare_request("twice"));
  EXPECT_TRUE(expect<isolator_msg::CleanedUp>(isolator_msg::Cleanup{"twice"}));
}

TEST_P(IsolatorConformance, RecoveryKeepsTheNamedAndCleansUpOrphans) {
  ASSERT_TRUE(expect<isolator_msg::Prepared>(prepare_request("kept")));
  ASSERT_TRUE(expect<isolator_msg::Prepared>(prepare_request("orphan")));
  stop();
  ASSERT_NO_FATAL_FAILURE(restart());
  isolator_msg::Recover recover;
  recover.containers = {{"kept", 0}, {"never", 0}};
  auto recovered = expect<isolator_msg::Recovered>(recover);
  ASSERT_TRUE(recovered);
  EXPECT_EQ(recovered->alive, std::vector<std::string>{"kept"});
  EXPECT_EQ(recovered->gone, std::vector<std::string>{"never"});
  // The orphan was cleaned up: a second recover that names it finds nothing of it.
  recover.containers = {{"kept", 0}, {"orphan", 0}};
  recovered = expect<isolator_msg::Recovered>(recover);
  ASSERT_TRUE(recovered);
  EXPECT_EQ(recovered->gone, std::vector<std::string>{"orphan"});
  EXPECT_TRUE(expect<isolator_msg::CleanedUp>(isolator_msg::Cleanup{"kept"}));
}

}  // namespace tessera::conformance

// Instantiates the suite of `kind` (Runtime or Isolator) for one plugin, named `instance`; the
// rest are PluginUnderTest's fields. At namespace scope, outside any namespace.
#define TESSERA_ISOLATOR_CONFORMANCE(instance, kind, ...) \
  TESSERA_CONFORMANCE_INSTANTIATE(kind##Conformance, instance, __VA_ARGS__)

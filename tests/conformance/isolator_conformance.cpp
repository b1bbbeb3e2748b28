#include "isolator_conformance.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include "support/node.h"
#include "tessera/protocol/isolator.h"

extern char** environ;

namespace tessera::conformance {

namespace {

namespace isolator = tessera::protocol::isolator;
using namespace std::chrono_literals;
using tessera::testing::InProcessNode;
using tessera::testing::TempDir;
using tessera::testing::TestBus;

struct Subject {
  std::filesystem::path so_path;
  std::string name;
  IsolatorKind kind;
  std::string toml;
};

// The agent's side: one connection, on which replies and pushed exits arrive in order.
struct Peer {
  Peer(void* context, const std::string& plugin) : bus(context), client(bus.bus, "conformance") {
    client.on<isolator::Exited>([this](const tessera::Envelope&, const isolator::Exited& e) {
      exits.push_back(e);
      bus.loop.request_stop();
    });
    EXPECT_TRUE(client.connect(isolator::endpoint(plugin)).ok());
  }
  template <typename T>
  Result<Envelope> call(const T& body) {
    return bus.call(client, body);
  }
  std::optional<isolator::Exited> wait_exit(const std::string& id) {
    auto deadline = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < deadline) {
      for (const auto& e : exits) {
        if (e.container_id == id) return e;
      }
      auto timer = bus.loop.after(100ms, [this] { bus.loop.request_stop(); });
      bus.loop.run();
      bus.loop.reset_stop();
      bus.loop.cancel(timer);
    }
    return std::nullopt;
  }
  TestBus bus;
  sdk::Client client;
  std::vector<isolator::Exited> exits;
};

class Conformance : public ::testing::Test {
 public:
  explicit Conformance(Subject subject) : subject_(std::move(subject)) {}

 protected:
  void SetUp() override {
    std::filesystem::create_directories(dir / "plugins");
    std::filesystem::copy_file(subject_.so_path, dir / "plugins" / (subject_.name + ".so"),
                               std::filesystem::copy_options::overwrite_existing);
    std::string why = start();
    if (!why.empty()) GTEST_SKIP() << "'" << subject_.name << "' does not start here: " << why;
  }
  void TearDown() override {
    stop();
    for (pid_t pid : pids) {
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, WNOHANG);
    }
  }

  // Starts the node with only the plugin under test; "" or why it cannot start.
  std::string start() {
    node = std::make_unique<InProcessNode>(
        dir,
        "roles = [\"agent\"]\n[agent]\nisolators = [\"" + subject_.name + "\"]\n[plugins." +
            subject_.name + "]\n" + subject_.toml,
        "node", false, std::vector<std::string>{(dir / "plugins").string()});
    auto started = node->start();
    if (!started) {
      node.reset();
      return started.error().message;
    }
    peer = std::make_unique<Peer>(node->zmq_context(), subject_.name);
    return "";
  }
  void stop() {
    peer.reset();
    node.reset();
  }

  isolator::Launch launch_request(const std::string& id, const std::string& command) {
    isolator::Launch l;
    l.container_id = id;
    l.task_id = id;
    l.sandbox = (dir / "sandboxes" / id).string();
    l.command.value = command;
    l.resources.scalars = {{"cpus", 0.1}, {"mem", 32}};
    return l;
  }
  int64_t launch(const isolator::Launch& l) {
    auto reply = peer->call(l);
    EXPECT_TRUE(reply.ok() && reply->is<isolator::Launched>())
        << (reply.ok() ? reply->type() : reply.error().message);
    if (!reply.ok() || !reply->is<isolator::Launched>()) return 0;
    int64_t pid = reply->body<isolator::Launched>()->pid;
    pids.insert(static_cast<pid_t>(pid));
    return pid;
  }
  isolator::Prepare prepare_request(const std::string& id) {
    isolator::Prepare p;
    p.container_id = id;
    p.task_id = id;
    p.sandbox = (dir / "sandboxes" / id).string();
    p.resources.scalars = {{"cpus", 0.1}, {"mem", 32}};
    return p;
  }
  // A process of the test's own, as a runtime would start it, for an isolator to attach.
  pid_t spawn_sleeper() {
    pid_t pid = 0;
    char sh[] = "sh", c[] = "-c", cmd[] = "exec sleep 30";
    char* argv[] = {sh, c, cmd, nullptr};
    EXPECT_EQ(::posix_spawn(&pid, "/bin/sh", nullptr, nullptr, argv, environ), 0);
    pids.insert(pid);
    return pid;
  }
  template <typename Reply, typename Request>
  std::optional<Reply> expect(const Request& request) {
    Result<Envelope> reply = peer->call(request);
    EXPECT_TRUE(reply.ok() && reply->is<Reply>())
        << Request::kType << " -> " << (reply.ok() ? reply->type() : reply.error().message);
    if (!reply.ok() || !reply->is<Reply>()) return std::nullopt;
    auto body = reply->body<Reply>();
    if (!body) return std::nullopt;
    return *body;
  }
  template <typename Request>
  void expect_failed(const Request& request) {
    Result<Envelope> reply = peer->call(request);
    ASSERT_TRUE(reply.ok()) << reply.error().message;
    EXPECT_EQ(reply->type(), isolator::Failed::kType) << Request::kType;
  }

  Subject subject_;
  TempDir dir;
  std::unique_ptr<InProcessNode> node;
  std::unique_ptr<Peer> peer;
  std::set<pid_t> pids;
};

// --- Runtimes ---------------------------------------------------------------------------------

class RuntimeConformance : public Conformance {
 public:
  using Conformance::Conformance;
};

class RuntimeLaunchAndExit : public RuntimeConformance {
 public:
  using RuntimeConformance::RuntimeConformance;
  void TestBody() override {
    // Many short launches: each exit comes after its launch reply, on the same connection.
    for (int i = 0; i < 5; ++i) {
      std::string id = "quick" + std::to_string(i);
      ASSERT_GT(launch(launch_request(id, "exit 3")), 0);
      auto exit = peer->wait_exit(id);
      ASSERT_TRUE(exit) << id;
      EXPECT_EQ(exit->exit_code, 3);
      EXPECT_EQ(exit->signal, 0);
    }
  }
};

class RuntimeHeldLaunch : public RuntimeConformance {
 public:
  using RuntimeConformance::RuntimeConformance;
  void TestBody() override {
    auto l = launch_request("held", "echo ran");
    l.hold = true;
    ASSERT_GT(launch(l), 0);
    EXPECT_EQ(tessera::testing::read_file(dir / "sandboxes" / "held" / "stdout"), "");
    ASSERT_TRUE(expect<isolator::Released>(isolator::Release{"held"}));
    auto exit = peer->wait_exit("held");
    ASSERT_TRUE(exit);
    EXPECT_EQ(exit->exit_code, 0);
    EXPECT_EQ(tessera::testing::read_file(dir / "sandboxes" / "held" / "stdout"), "ran\n");
  }
};

class RuntimeKillAndUnknown : public RuntimeConformance {
 public:
  using RuntimeConformance::RuntimeConformance;
  void TestBody() override {
    expect_failed(isolator::Kill{"ghost", 1});
    expect_failed(isolator::Release{"ghost"});
    ASSERT_GT(launch(launch_request("sleeper", "exec sleep 30")), 0);
    ASSERT_TRUE(expect<isolator::Killed>(isolator::Kill{"sleeper", 0}));
    auto exit = peer->wait_exit("sleeper");
    ASSERT_TRUE(exit);
    EXPECT_EQ(exit->signal, SIGKILL);
  }
};

class RuntimeRecovery : public RuntimeConformance {
 public:
  using RuntimeConformance::RuntimeConformance;
  void TestBody() override {
    int64_t kept = launch(launch_request("kept", "exec sleep 30"));
    int64_t dead = launch(launch_request("dead", "exec sleep 30"));
    int64_t orphan = launch(launch_request("orphan", "exec sleep 30"));
    ASSERT_GT(kept, 0);
    ASSERT_GT(dead, 0);
    ASSERT_GT(orphan, 0);
    stop();  // an agent restart: the containers outlive it
    ASSERT_EQ(::kill(static_cast<pid_t>(dead), SIGKILL), 0);
    ASSERT_TRUE(tessera::testing::eventually(
        [&] { return !tessera::testing::process_alive(static_cast<pid_t>(dead)); }));
    ASSERT_EQ(start(), "");
    isolator::Recover recover;
    recover.containers = {{"kept", kept}, {"dead", dead}};
    auto recovered = expect<isolator::Recovered>(recover);
    ASSERT_TRUE(recovered);
    EXPECT_EQ(recovered->alive, std::vector<std::string>{"kept"});
    EXPECT_EQ(recovered->gone, std::vector<std::string>{"dead"});
    // The orphan, which the agent did not name, is ended.
    EXPECT_TRUE(tessera::testing::eventually(
        [&] { return !tessera::testing::process_alive(static_cast<pid_t>(orphan)); }));
    // The adopted one is the runtime's again: its exit comes to this peer.
    ASSERT_TRUE(expect<isolator::Killed>(isolator::Kill{"kept", 0}));
    EXPECT_TRUE(peer->wait_exit("kept"));
  }
};

// --- Isolators --------------------------------------------------------------------------------

class IsolatorLifecycle : public Conformance {
 public:
  using Conformance::Conformance;
  void TestBody() override {
    ASSERT_TRUE(expect<isolator::Prepared>(prepare_request("c1")));
    pid_t pid = spawn_sleeper();
    ASSERT_TRUE(expect<isolator::Isolated>(isolator::Isolate{"c1", pid}));
    ASSERT_TRUE(expect<isolator::Updated>(isolator::Update{"c1", prepare_request("c1").resources}));
    auto usage = expect<isolator::Usage>(isolator::GetUsage{"c1"});
    ASSERT_TRUE(usage);
    EXPECT_EQ(usage->container_id, "c1");
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    auto cleaned = expect<isolator::CleanedUp>(isolator::Cleanup{"c1"});
    ASSERT_TRUE(cleaned);
    EXPECT_EQ(cleaned->reason, "");
    // Cleaning up again, or what was never prepared, is not an error.
    EXPECT_TRUE(expect<isolator::CleanedUp>(isolator::Cleanup{"c1"}));
    EXPECT_TRUE(expect<isolator::CleanedUp>(isolator::Cleanup{"never"}));
  }
};

class IsolatorUnknownContainers : public Conformance {
 public:
  using Conformance::Conformance;
  void TestBody() override {
    expect_failed(isolator::Isolate{"ghost", 1234});
    expect_failed(isolator::GetUsage{"ghost"});
    ASSERT_TRUE(expect<isolator::Prepared>(prepare_request("twice")));
    expect_failed(prepare_request("twice"));
    EXPECT_TRUE(expect<isolator::CleanedUp>(isolator::Cleanup{"twice"}));
  }
};

class IsolatorRecovery : public Conformance {
 public:
  using Conformance::Conformance;
  void TestBody() override {
    ASSERT_TRUE(expect<isolator::Prepared>(prepare_request("kept")));
    ASSERT_TRUE(expect<isolator::Prepared>(prepare_request("orphan")));
    stop();
    ASSERT_EQ(start(), "");
    isolator::Recover recover;
    recover.containers = {{"kept", 0}, {"never", 0}};
    auto recovered = expect<isolator::Recovered>(recover);
    ASSERT_TRUE(recovered);
    EXPECT_EQ(recovered->alive, std::vector<std::string>{"kept"});
    EXPECT_EQ(recovered->gone, std::vector<std::string>{"never"});
    // The orphan was cleaned up: a second recover that names it finds nothing of it.
    recover.containers = {{"kept", 0}, {"orphan", 0}};
    recovered = expect<isolator::Recovered>(recover);
    ASSERT_TRUE(recovered);
    EXPECT_EQ(recovered->gone, std::vector<std::string>{"orphan"});
    EXPECT_TRUE(expect<isolator::CleanedUp>(isolator::Cleanup{"kept"}));
  }
};

template <typename T>
void add(const Subject& subject, const char* check) {
  ::testing::RegisterTest(("IsolatorConformance/" + subject.name).c_str(), check, nullptr, nullptr,
                          __FILE__, __LINE__,
                          [subject]() -> Conformance* { return new T(subject); });
}

}  // namespace

void register_isolator(const std::string& so_path, IsolatorKind kind,
                       const std::string& plugin_toml) {
  Subject subject{so_path, std::filesystem::path(so_path).stem().string(), kind, plugin_toml};
  if (kind == IsolatorKind::kRuntime) {
    add<RuntimeLaunchAndExit>(subject, "ExitsFollowTheirLaunchOnOneConnection");
    add<RuntimeHeldLaunch>(subject, "AHeldLaunchRunsOnlyOnRelease");
    add<RuntimeKillAndUnknown>(subject, "KillEndsItAndUnknownContainersFail");
    add<RuntimeRecovery>(subject, "RecoveryAdoptsTheNamedReportsTheDeadAndEndsOrphans");
  } else {
    add<IsolatorLifecycle>(subject, "PrepareIsolateUpdateUsageCleanup");
    add<IsolatorUnknownContainers>(subject, "UnknownAndDuplicateContainersFail");
    add<IsolatorRecovery>(subject, "RecoveryKeepsTheNamedAndCleansUpOrphans");
  }
}

}  // namespace tessera::conformance

// isolator_docker through the real loader against a real, private dockerd: a node in the test
// process loads isolator_docker.so, and the test speaks the isolator protocol to it over inproc,
// as the agent core does.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "docker_engine.h"
#include "support/dockerd.h"
#include "support/node.h"
#include "tessera/protocol/isolator.h"

namespace {

namespace isolator = tessera::protocol::isolator;
using tessera::testing::InProcessNode;
using tessera::testing::PrivateDockerd;
using tessera::testing::TempDir;
using tessera::testing::TestBus;
using namespace std::chrono_literals;

PrivateDockerd& daemon() { return tessera::testing::shared_dockerd(); }

std::string node_toml(bool kill_on_stop, const std::string& extra = "") {
  return std::string("roles = [\"agent\"]\n[agent]\nisolators = [\"isolator_docker\"]\n") +
         "[plugins.isolator_docker]\nsocket = \"" + daemon().socket().string() +
         "\"\nkill_on_stop = " + (kill_on_stop ? "true" : "false") +
         "\ndefault_grace_seconds = 2\n" + extra;
}

// The test's side of the conversation, destroyed before its node.
struct Agent {
  explicit Agent(void* context) : bus(context), client(bus.bus, "agent") {
    // Exits are pushed on the request connection, after the launch reply.
    client.on<isolator::Exited>([this](const tessera::Envelope&, const isolator::Exited& e) {
      exited[e.container_id].push_back(e);
      if (e.container_id == waiting_for) bus.loop.request_stop();
    });
    EXPECT_TRUE(client.connect(isolator::endpoint("isolator_docker")).ok());
  }

  std::optional<isolator::Exited> wait_exited(const std::string& id,
                                              std::chrono::milliseconds timeout = 60s) {
    if (exited.count(id) == 0) {
      waiting_for = id;
      auto timer = bus.loop.after(timeout, [this] { bus.loop.request_stop(); });
      bus.loop.run();
      bus.loop.reset_stop();
      bus.loop.cancel(timer);
      waiting_for.clear();
    }
    auto it = exited.find(id);
    if (it == exited.end()) return std::nullopt;
    return it->second.front();
  }

  template <typename T>
  tessera::Result<tessera::Envelope> call(const T& body) {
    return bus.call(client, body, 120s);
  }

  TestBus bus;
  tessera::sdk::Client client;
  std::map<std::string, std::vector<isolator::Exited>> exited;
  std::string waiting_for;
};

class DockerIsolatorTest : public ::testing::Test {
 protected:
  void SetUp() override { TESSERA_REQUIRE_DOCKERD(daemon()); }
  void TearDown() override {
    agent.reset();
    node.reset();
  }

  void start(bool kill_on_stop = true) {
    node = std::make_unique<InProcessNode>(dir, node_toml(kill_on_stop));
    auto started = node->start();
    ASSERT_TRUE(started.ok()) << started.error().message;
    agent = std::make_unique<Agent>(node->zmq_context());
  }

  void stop() {
    agent.reset();
    node.reset();
  }

  isolator::Launch launch_request(const std::string& id, const std::string& command) {
    isolator::Launch l;
    l.container_id = id;
    l.task_id = "task-" + id;
    l.sandbox = (dir / "sandboxes" / id).string();
    std::filesystem::create_directories(l.sandbox);
    l.container.type = "DOCKER";
    l.container.image = PrivateDockerd::kImage;
    l.command.shell = true;
    l.command.value = command;
    return l;
  }

  // `running`: the container is still running when the answer comes, so it has a pid.
  void expect_launched(const isolator::Launch& l, bool running = true) {
    auto reply = agent->call(l);
    ASSERT_TRUE(reply.ok()) << reply.error().message;
    ASSERT_EQ(reply->type(), isolator::Launched::kType)
        << (reply->is<isolator::Failed>() ? reply->body<isolator::Failed>()->message : "");
    auto launched = reply->body<isolator::Launched>();
    ASSERT_TRUE(launched.ok());
    EXPECT_EQ(launched->container_id, l.container_id);
    if (running) {
      EXPECT_GT(launched->pid, 0);
    }
  }

  // The containers the daemon holds, of any runtime.
  static size_t containers_on_daemon() {
    tessera::docker::EngineOptions options;
    options.socket_path = daemon().socket().string();
    auto listed = tessera::docker::Engine(options).list({});
    return listed ? listed->size() : 999;
  }

  TempDir dir;
  std::unique_ptr<InProcessNode> node;
  std::unique_ptr<Agent> agent;
};

TEST_F(DockerIsolatorTest, ATaskRunsInItsImageWithItsEnvironmentAndItsOutputInTheSandbox) {
  start();
  auto l = launch_request("c1", "echo \"$TASK_ID $PORT0 $GREETING\"; pwd; echo oops >&2; exit 3");
  l.environment = {{"TASK_ID", "task-c1"}, {"PORT0", "31000"}};
  l.command.environment = {{"GREETING", "hi"}};
  ASSERT_NO_FATAL_FAILURE(expect_launched(l, false));
  auto exited = agent->wait_exited("c1");
  ASSERT_TRUE(exited);
  EXPECT_EQ(exited->exit_code, 3);
  EXPECT_EQ(exited->reason, "");
  EXPECT_EQ(tessera::testing::read_file(dir / "sandboxes" / "c1" / "stdout"),
            "task-c1 31000 hi\n/mnt/mesos/sandbox\n");
  EXPECT_EQ(tessera::testing::read_file(dir / "sandboxes" / "c1" / "stderr"), "oops\n");
  // The container is removed once its exit is reported.
  EXPECT_TRUE(tessera::testing::eventually([] { return containers_on_daemon() == 0; }, 30s));
}

TEST_F(DockerIsolatorTest, ATaskBeyondItsMemoryIsReportedWithTheMemoryReason) {
  start();
  auto l = launch_request("hog", "x=0123456789; while true; do x=$x$x; done");
  l.resources.scalars["mem"] = 32;
  l.resources.scalars["cpus"] = 0.5;
  ASSERT_NO_FATAL_FAILURE(expect_launched(l, false));
  auto exited = agent->wait_exited("hog");
  ASSERT_TRUE(exited);
  EXPECT_EQ(exited->reason, "REASON_CONTAINER_LIMITATION_MEMORY");
  EXPECT_NE(exited->message.find("memory limit"), std::string::npos) << exited->message;
}

TEST_F(DockerIsolatorTest, AMissingImageFailsTheLaunchWithTheReasonAndTheIsolatorServesOn) {
  start();
  auto l = launch_request("missing", "true");
  l.container.image = "tessera/not-here:1";
  auto reply = agent->call(l);
  ASSERT_TRUE(reply.ok());
  ASSERT_EQ(reply->type(), isolator::Failed::kType);
  auto failed = reply->body<isolator::Failed>();
  ASSERT_TRUE(failed.ok());
  EXPECT_NE(failed->message.find("tessera/not-here:1"), std::string::npos) << failed->message;
  EXPECT_NE(failed->message.find("cannot be pulled"), std::string::npos) << failed->message;
  // A non-DOCKER container and an unsupported network are refused with the reason too.
  auto posix = launch_request("posix", "true");
  posix.container.type = "";
  reply = agent->call(posix);
  ASSERT_TRUE(reply.ok());
  EXPECT_EQ(reply->type(), isolator::Failed::kType);
  auto bridge = launch_request("bridge", "true");
  bridge.container.network = "bridge";
  reply = agent->call(bridge);
  ASSERT_TRUE(reply.ok());
  ASSERT_EQ(reply->type(), isolator::Failed::kType);
  EXPECT_NE(reply->body<isolator::Failed>()->message.find("'bridge' is not supported"),
            std::string::npos);
  // And the next good launch runs.
  ASSERT_NO_FATAL_FAILURE(expect_launched(launch_request("fine", "exit 0"), false));
  auto exited = agent->wait_exited("fine");
  ASSERT_TRUE(exited);
  EXPECT_EQ(exited->exit_code, 0);
}

// Runs without any daemon: the plugin starts, and a launch fails with the reason.
TEST(DockerIsolatorWithoutDaemon, StartsAndFailsEachLaunchWithTheReason) {
  TempDir dir;
  InProcessNode node(
      dir, std::string("roles = [\"agent\"]\n[agent]\nisolators = [\"isolator_docker\"]\n") +
               "[plugins.isolator_docker]\nsocket = \"" + (dir / "none.sock").string() + "\"\n");
  auto started = node.start();
  ASSERT_TRUE(started.ok()) << started.error().message;
  Agent agent(node.zmq_context());
  isolator::Launch l;
  l.container_id = "c1";
  l.sandbox = (dir / "c1").string();
  l.container.type = "DOCKER";
  l.container.image = "busybox";
  auto reply = agent.call(l);
  ASSERT_TRUE(reply.ok()) << reply.error().message;
  ASSERT_EQ(reply->type(), isolator::Failed::kType);
  EXPECT_NE(reply->body<isolator::Failed>()->message.find("is not reachable"), std::string::npos)
      << reply->body<isolator::Failed>()->message;
}

TEST_F(DockerIsolatorTest, KillStopsASleepingTaskWellBeforeItsGrace) {
  start();
  ASSERT_NO_FATAL_FAILURE(expect_launched(launch_request("sleeper", "exec sleep 600")));
  auto before = std::chrono::steady_clock::now();
  auto reply = agent->call(isolator::Kill{"sleeper", 30});
  ASSERT_TRUE(reply.ok());
  EXPECT_EQ(reply->type(), isolator::Killed::kType);
  auto exited = agent->wait_exited("sleeper");
  ASSERT_TRUE(exited);
  EXPECT_EQ(exited->exit_code, 143);
  EXPECT_LT(std::chrono::steady_clock::now() - before, 25s);
  // An unknown container is refused.
  reply = agent->call(isolator::Kill{"nobody", 1});
  ASSERT_TRUE(reply.ok());
  EXPECT_EQ(reply->type(), isolator::Failed::kType);
}

TEST_F(DockerIsolatorTest, ATaskWithHostNetworkingServesHttpOnItsPort) {
  // A free port: bound, read, closed (the kernel does not hand it out again at once).
  int probe = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(probe, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  socklen_t length = sizeof address;
  ::getsockname(probe, reinterpret_cast<sockaddr*>(&address), &length);
  std::string port = std::to_string(ntohs(address.sin_port));
  ::close(probe);

  start();
  auto l = launch_request("web", "echo served-by-docker > index.html && exec httpd -f -p $PORT0");
  l.container.network = "host";
  l.environment = {{"PORT0", port}};
  ASSERT_NO_FATAL_FAILURE(expect_launched(l));
  std::string body;
  EXPECT_TRUE(tessera::testing::eventually(
      [&] {
        auto [code, out] = tessera::testing::run(
            {"/usr/bin/curl", "-s", "--max-time", "2", "http://127.0.0.1:" + port + "/"},
            dir / "curl.log", 10s);
        body = out;
        return code == 0;
      },
      30s));
  EXPECT_EQ(body, "served-by-docker\n");
  ASSERT_TRUE(agent->call(isolator::Kill{"web", 5}).ok());
  ASSERT_TRUE(agent->wait_exited("web"));
}

TEST_F(DockerIsolatorTest, ARestartedIsolatorAdoptsItsContainersReportsRealExitsAndRemovesOrphans) {
  start(/*kill_on_stop=*/false);
  ASSERT_NO_FATAL_FAILURE(expect_launched(launch_request("long", "echo before; exec sleep 600")));
  // Ends while the isolator is down, with a status only the daemon knows.
  ASSERT_NO_FATAL_FAILURE(expect_launched(
      launch_request("short", "while [ ! -e /mnt/mesos/sandbox/go ]; do sleep 0.1; done; exit 5")));
  ASSERT_NO_FATAL_FAILURE(expect_launched(launch_request("stray", "exec sleep 600")));
  ASSERT_TRUE(tessera::testing::eventually(
      [&] {
        return tessera::testing::read_file(dir / "sandboxes" / "long" / "stdout") == "before\n";
      },
      30s));
  stop();
  tessera::testing::TempDir unused;
  std::ofstream(dir / "sandboxes" / "short" / "go") << "";
  // The daemon's own view: "short" ends while nobody watches.
  tessera::docker::EngineOptions options;
  options.socket_path = daemon().socket().string();
  tessera::docker::Engine engine(options);
  ASSERT_TRUE(tessera::testing::eventually(
      [&] {
        auto listed = engine.list({{"tessera.container_id", "short"}});
        return listed && listed->size() == 1 && listed->front().state == "exited";
      },
      30s));

  start(/*kill_on_stop=*/true);
  isolator::Recover recover;
  recover.containers = {{"long", 0}, {"short", 0}, {"vanished", 0}};
  auto reply = agent->call(recover);
  ASSERT_TRUE(reply.ok()) << reply.error().message;
  ASSERT_EQ(reply->type(), isolator::Recovered::kType);
  auto recovered = reply->body<isolator::Recovered>();
  ASSERT_TRUE(recovered.ok());
  std::set<std::string> alive(recovered->alive.begin(), recovered->alive.end());
  EXPECT_EQ(alive, (std::set<std::string>{"long", "short"}));
  EXPECT_EQ(recovered->gone, std::vector<std::string>{"vanished"});
  // The one that ended meanwhile is reported with its real status, once.
  auto exited = agent->wait_exited("short");
  ASSERT_TRUE(exited);
  EXPECT_EQ(exited->exit_code, 5);
  // The orphan ("stray", not named) is removed; the adopted one still runs and is killable.
  EXPECT_TRUE(tessera::testing::eventually(
      [&] {
        auto listed = engine.list({{"tessera.container_id", "stray"}});
        return listed && listed->empty();
      },
      30s));
  auto long_state = engine.list({{"tessera.container_id", "long"}});
  ASSERT_TRUE(long_state.ok());
  ASSERT_EQ(long_state->size(), 1U);
  EXPECT_EQ(long_state->front().state, "running");
  ASSERT_TRUE(agent->call(isolator::Kill{"long", 5}).ok());
  auto long_exit = agent->wait_exited("long");
  ASSERT_TRUE(long_exit);
  // Ended by the kill: SIGTERM (143), or on a loaded machine SIGKILL at the end of the grace.
  EXPECT_TRUE(long_exit->exit_code == 143 || long_exit->exit_code == 137) << long_exit->exit_code;
  // Its output before the restart is there once, not copied twice.
  EXPECT_EQ(tessera::testing::read_file(dir / "sandboxes" / "long" / "stdout"), "before\n");
  EXPECT_EQ(agent->exited["short"].size(), 1U);
}

}  // namespace

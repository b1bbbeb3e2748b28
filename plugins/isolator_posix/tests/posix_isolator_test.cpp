// isolator_posix through the real loader: a node in the test process (roles = ["agent"]) loads
// isolator_posix.so, and the test speaks the isolator protocol to it over inproc, as the agent
// core does.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <set>
#include <thread>

#include "support/node.h"
#include "tessera/protocol/isolator.h"

namespace {

namespace isolator = tessera::protocol::isolator;
using tessera::testing::InProcessNode;
using tessera::testing::TempDir;
using tessera::testing::TestBus;
using namespace std::chrono_literals;

std::string node_toml(bool kill_on_stop) {
  return std::string("roles = [\"agent\"]\n[agent]\nisolators = [\"isolator_posix\"]\n") +
         "[plugins.isolator_posix]\nkill_on_stop = " + (kill_on_stop ? "true" : "false") +
         "\ndefault_grace_seconds = 2\n";
}

// The test's side of the conversation. Destroyed before its node: the node's ZeroMQ context
// cannot end while these sockets are open.
struct Agent {
  explicit Agent(void* context) : bus(context), client(bus.bus, "agent") {
    // Exits are pushed on the request connection, after the launch reply.
    client.on<isolator::Exited>([this](const tessera::Envelope&, const isolator::Exited& e) {
      exited[e.container_id] = e;
      events.push_back("exited " + e.container_id);
      if (e.container_id == waiting_for) bus.loop.request_stop();
    });
    EXPECT_TRUE(client.connect(isolator::endpoint("isolator_posix")).ok());
  }

  std::optional<isolator::Exited> wait_exited(const std::string& id,
                                              std::chrono::milliseconds timeout = 10s) {
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
    return it->second;
  }

  // Serves the connection until `done()` or the timeout.
  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      auto timer = bus.loop.after(20ms, [this] { bus.loop.request_stop(); });
      bus.loop.run();
      bus.loop.reset_stop();
      bus.loop.cancel(timer);
    }
    return true;
  }

  template <typename T>
  tessera::Result<tessera::Envelope> call(const T& body) {
    return bus.call(client, body);
  }

  TestBus bus;
  tessera::sdk::Client client;
  std::map<std::string, isolator::Exited> exited;
  std::vector<std::string> events;  // "exited ID", and what a test adds
  std::string waiting_for;
};

class PosixIsolatorTest : public ::testing::Test {
 protected:
  void TearDown() override {
    agent.reset();
    node.reset();
    // Whatever a failed test left running.
    for (pid_t pid : pids) {
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, nullptr, WNOHANG);
    }
  }

  void start(bool kill_on_stop = false) {
    node = std::make_unique<InProcessNode>(dir, node_toml(kill_on_stop));
    auto started = node->start();
    ASSERT_TRUE(started.ok()) << started.error().message;
    // Exits come on the connection that launched the container: nothing to subscribe to.
    agent = std::make_unique<Agent>(node->zmq_context());
  }

  void stop() {
    agent.reset();
    node.reset();
  }

  // The container id of the test's container `name`: behind a prefix of this test's own, since
  // a recovery scans every process of the machine by container id, and processes left by other
  // tests or runs must not look like this test's.
  std::string id(const std::string& name) const { return prefix + name; }

  isolator::Launch launch_request(const std::string& name, const std::string& command) {
    isolator::Launch l;
    l.container_id = id(name);
    l.task_id = "task-" + name;
    l.sandbox = (dir / "sandboxes" / name).string();
    l.command.shell = true;
    l.command.value = command;
    return l;
  }

  // Launches and expects Launched; returns the pid.
  int64_t launch(const isolator::Launch& l) {
    auto reply = agent->call(l);
    EXPECT_TRUE(reply.ok()) << reply.error().message;
    if (!reply.ok()) return 0;
    EXPECT_EQ(reply->type(), isolator::Launched::kType);
    auto launched = reply->body<isolator::Launched>();
    EXPECT_TRUE(launched.ok());
    if (!launched.ok()) return 0;
    EXPECT_EQ(launched->container_id, l.container_id);
    EXPECT_GT(launched->pid, 0);
    pids.insert(static_cast<pid_t>(launched->pid));
    return launched->pid;
  }

  TempDir dir;
  std::string prefix = "t" + std::to_string(std::random_device{}()) + "-";
  std::unique_ptr<InProcessNode> node;
  std::unique_ptr<Agent> agent;
  std::set<pid_t> pids;
};

TEST_F(PosixIsolatorTest, LaunchRepliesLaunchedAndPushesExited) {
  start();
  // The agent alone builds the task's environment: the runtime adds no TASK_ID, HOST or PORTn
  // of its own, only the host's PATH and locale underneath.
  auto l = launch_request("c1", "echo \"$TASK_ID $PORT0 ${HOST:-no-host} ${PATH:+path}\"; exit 3");
  l.environment = {{"PORT0", "31000"}, {"TASK_ID", "from-agent"}};
  ASSERT_GT(launch(l), 0);
  auto exited = agent->wait_exited(id("c1"));
  ASSERT_TRUE(exited);
  EXPECT_EQ(exited->exit_code, 3);
  EXPECT_EQ(exited->signal, 0);
  EXPECT_EQ(tessera::testing::read_file(dir / "sandboxes" / "c1" / "stdout"),
            "from-agent 31000 no-host path\n");
}

// The launch burst bug: with launches served one at a time, each waiting for its supervisor,
// the last of a burst of 2,000 waited for all the others and outlived the agent's 60 s reply
// timeout ("did not answer the launch"), and every other request waited behind them. A burst
// sent without waiting for any answer is answered whole: every launch with Launched, every exit
// after its own launch's answer, and a request sent after the burst is answered too.
//
// That a launch waits only for its own supervisor is shown with a supervisor held at a gate
// (process_launcher's ASlowSupervisorDelaysOnlyItsOwnLaunch). Here the order of the kill's
// answer among the launches' is not asserted: it depends on the machine's scheduling (when the
// server reads the requests as fast as they are sent and the supervisors report quickly, the
// last launch can be answered before the kill has even been sent).
TEST_F(PosixIsolatorTest, ABurstOfLaunchesIsAnsweredWhole) {
  start();
  constexpr int kBurst = 300;
  std::map<std::string, std::string> answers;  // container id -> reply type or error
  for (int i = 0; i < kBurst; ++i) {
    auto l = launch_request("burst-" + std::to_string(i), "exit 0");
    agent->client.request(
        l,
        [this, &answers, id = l.container_id](tessera::Result<tessera::Envelope> reply) {
          answers[id] = reply ? reply->type() : reply.error().message;
          agent->events.push_back("launched " + id);
        },
        120s);
  }
  std::string kill_answer;
  agent->client.request(
      isolator::Kill{id("ghost"), 1},
      [&kill_answer](tessera::Result<tessera::Envelope> reply) {
        kill_answer = reply ? reply->type() : reply.error().message;
      },
      120s);
  ASSERT_TRUE(agent->run_until(
      [&] { return agent->exited.size() == static_cast<size_t>(kBurst) && !kill_answer.empty(); },
      120s))
      << answers.size() << " answered, " << agent->exited.size() << " ended, kill answered '"
      << kill_answer << "'";
  // No such container: the kill is refused, and answered.
  EXPECT_EQ(kill_answer, isolator::Failed::kType);
  ASSERT_EQ(answers.size(), static_cast<size_t>(kBurst));
  std::map<std::string, size_t> position;
  for (size_t i = 0; i < agent->events.size(); ++i) position[agent->events[i]] = i;
  for (const auto& [id, answer] : answers) {
    EXPECT_EQ(answer, isolator::Launched::kType) << id;
    EXPECT_EQ(agent->exited[id].exit_code, 0) << id;
    EXPECT_LT(position["launched " + id], position["exited " + id]) << id;
  }
}

// The agent sends one request per task at once for a whole accept: 2,000 tasks and their
// recovery overflowed ZeroMQ's default queues (1,000 messages at each end), and the last launch
// was dropped without a word until the agent's 60 s timeout. More requests than that, sent
// without waiting, are all answered.
TEST_F(PosixIsolatorTest, MoreRequestsAtOnceThanZeroMQsDefaultQueuesAreAllAnswered) {
  start();
  constexpr int kRequests = 3000;
  int answered = 0;
  for (int i = 0; i < kRequests; ++i) {
    agent->client.request(
        isolator::Kill{id("ghost-" + std::to_string(i)), 1},
        [&answered](tessera::Result<tessera::Envelope> reply) {
          if (reply && reply->type() == isolator::Failed::kType) ++answered;
        },
        120s);
  }
  EXPECT_EQ(agent->client.unsent(), 0u);
  EXPECT_TRUE(agent->run_until([&] { return answered == kRequests; }, 60s))
      << answered << " of " << kRequests << " answered";
}

TEST_F(PosixIsolatorTest, AHeldLaunchRunsItsCommandOnlyOnRelease) {
  start();
  auto l = launch_request("held", "echo ran");
  l.hold = true;
  int64_t pid = launch(l);
  ASSERT_GT(pid, 0);
  // Held: the process exists (isolators attach it now) and waits in its read.
  ASSERT_TRUE(tessera::testing::eventually([&] {
    return tessera::testing::read_file("/proc/" + std::to_string(pid) + "/stat").find(") S ") !=
           std::string::npos;
  }));
  EXPECT_EQ(tessera::testing::read_file(dir / "sandboxes" / "held" / "stdout"), "");
  EXPECT_FALSE(agent->exited.count(id("held")));
  auto reply = agent->call(isolator::Release{id("held")});
  ASSERT_TRUE(reply.ok()) << reply.error().message;
  ASSERT_EQ(reply->type(), isolator::Released::kType);
  auto exited = agent->wait_exited(id("held"));
  ASSERT_TRUE(exited);
  EXPECT_EQ(exited->exit_code, 0);
  EXPECT_EQ(tessera::testing::read_file(dir / "sandboxes" / "held" / "stdout"), "ran\n");
  // Released once only.
  reply = agent->call(isolator::Release{id("held")});
  ASSERT_TRUE(reply.ok());
  EXPECT_EQ(reply->type(), isolator::Failed::kType);
}

TEST_F(PosixIsolatorTest, KillRepliesKilledThenExitedWithTheSignal) {
  start();
  ASSERT_GT(launch(launch_request("sleeper", "exec sleep 30")), 0);
  auto reply = agent->call(isolator::Kill{id("sleeper"), 5});
  ASSERT_TRUE(reply.ok()) << reply.error().message;
  ASSERT_EQ(reply->type(), isolator::Killed::kType);
  EXPECT_EQ(reply->body<isolator::Killed>()->container_id, id("sleeper"));
  auto exited = agent->wait_exited(id("sleeper"));
  ASSERT_TRUE(exited);
  EXPECT_EQ(exited->signal, SIGTERM);
  EXPECT_EQ(exited->exit_code, -1);
}

TEST_F(PosixIsolatorTest, UnknownKillAndDuplicateLaunchFail) {
  start();
  auto reply = agent->call(isolator::Kill{"ghost", 1});
  ASSERT_TRUE(reply.ok());
  ASSERT_EQ(reply->type(), isolator::Failed::kType);
  auto failed = reply->body<isolator::Failed>();
  EXPECT_EQ(failed->container_id, "ghost");
  EXPECT_NE(failed->message.find("unknown container 'ghost'"), std::string::npos)
      << failed->message;

  ASSERT_GT(launch(launch_request("twice", "exec sleep 30")), 0);
  reply = agent->call(launch_request("twice", "true"));
  ASSERT_TRUE(reply.ok());
  ASSERT_EQ(reply->type(), isolator::Failed::kType);
  EXPECT_NE(reply->body<isolator::Failed>()->message.find("already running"), std::string::npos);

  auto docker = launch_request("docker", "true");
  docker.container.type = "DOCKER";
  reply = agent->call(docker);
  ASSERT_TRUE(reply.ok());
  ASSERT_EQ(reply->type(), isolator::Failed::kType);
  EXPECT_NE(reply->body<isolator::Failed>()->message.find("container type 'DOCKER'"),
            std::string::npos);

  ASSERT_EQ(agent->call(isolator::Kill{id("twice"), 0})->type(), isolator::Killed::kType);
  ASSERT_TRUE(agent->wait_exited(id("twice")));
}

TEST_F(PosixIsolatorTest, RecoversALiveContainerAfterARestart) {
  start();
  int64_t pid = launch(launch_request("long", "exec sleep 30"));
  ASSERT_GT(pid, 0);
  stop();  // kill_on_stop = false: the task outlives its agent
  ASSERT_EQ(::kill(static_cast<pid_t>(pid), 0), 0);

  start();
  isolator::Recover recover;
  recover.containers = {{id("long"), pid}};
  auto reply = agent->call(recover);
  ASSERT_TRUE(reply.ok()) << reply.error().message;
  ASSERT_EQ(reply->type(), isolator::Recovered::kType);
  auto recovered = reply->body<isolator::Recovered>();
  EXPECT_EQ(recovered->alive, std::vector<std::string>{id("long")});
  EXPECT_TRUE(recovered->gone.empty());

  ASSERT_EQ(agent->call(isolator::Kill{id("long"), 5})->type(), isolator::Killed::kType);
  auto exited = agent->wait_exited(id("long"));
  ASSERT_TRUE(exited);
  EXPECT_EQ(::kill(static_cast<pid_t>(pid), 0), -1);
}

// The task's supervisor outlived the node and recorded how the task ended: the recovery keeps
// the container (alive), and its exit follows on the same connection with the real status.
TEST_F(PosixIsolatorTest, RecoverReportsContainersThatDiedWhileTheAgentWasDownWithTheirStatus) {
  start();
  int64_t pid = launch(launch_request("short", "while [ ! -e stop ]; do sleep 0.02; done; exit 3"));
  ASSERT_GT(pid, 0);
  stop();
  std::ofstream(dir / "sandboxes" / "short" / "stop") << "stop\n";
  ASSERT_TRUE(tessera::testing::eventually(
      [&] { return !tessera::testing::process_alive(static_cast<pid_t>(pid)); }));

  start();
  isolator::Recover recover;
  recover.containers = {{id("short"), pid}, {id("unknown"), 0}};
  auto reply = agent->call(recover);
  ASSERT_TRUE(reply.ok()) << reply.error().message;
  auto recovered = reply->body<isolator::Recovered>();
  EXPECT_EQ(recovered->alive, std::vector<std::string>{id("short")});
  EXPECT_EQ(recovered->gone, std::vector<std::string>{id("unknown")});
  auto exited = agent->wait_exited(id("short"));
  ASSERT_TRUE(exited);
  EXPECT_EQ(exited->exit_code, 3);
  EXPECT_EQ(exited->signal, 0);
}

TEST_F(PosixIsolatorTest, KillOnStopEndsTasksWithTheNode) {
  start(/*kill_on_stop=*/true);
  int64_t pid = launch(launch_request("doomed", "trap '' TERM; echo ready; sleep 30"));
  ASSERT_GT(pid, 0);
  // Once it ignores SIGTERM, only the SIGKILL after the grace can end it.
  ASSERT_TRUE(tessera::testing::eventually([&] {
    return tessera::testing::read_file(dir / "sandboxes" / "doomed" / "stdout") == "ready\n";
  }));
  stop();
  EXPECT_EQ(::kill(static_cast<pid_t>(pid), 0), -1);
}

struct Bogus {
  static constexpr const char* kType = "isolator.bogus";
  static constexpr uint32_t kSchema = 1;
  int x = 1;
  MSGPACK_DEFINE_MAP(x);
};
// An isolator.launch whose fields have the wrong types.
struct BadLaunch {
  static constexpr const char* kType = "isolator.launch";
  static constexpr uint32_t kSchema = 1;
  int container_id = 5;
  std::vector<int> command{1, 2};
  MSGPACK_DEFINE_MAP(container_id, command);
};

TEST_F(PosixIsolatorTest, GarbageIsDroppedAndServingContinues) {
  start();
  {
    tessera::sdk::Socket raw(node->zmq_context(), ZMQ_DEALER);
    raw.ref().connect(isolator::endpoint("isolator_posix"));
    raw.ref().send(zmq::str_buffer("not an envelope at all"), zmq::send_flags::none);
    raw.ref().send(zmq::str_buffer("two"), zmq::send_flags::sndmore);
    raw.ref().send(zmq::str_buffer("frames"), zmq::send_flags::none);
    raw.ref().send(zmq::message_t(), zmq::send_flags::none);
    agent->client.send(Bogus{});
    agent->client.send(BadLaunch{});
    // A request on the raw connection, answered once the garbage before it was handled.
    tessera::Header header;
    header.sequence = 99;
    raw.ref().send(zmq::buffer(tessera::encode(header, isolator::Kill{"ghost", 1})),
                   zmq::send_flags::none);
    raw.ref().set(zmq::sockopt::rcvtimeo, 10000);
    zmq::message_t answer;
    ASSERT_TRUE(raw.ref().recv(answer));
    auto decoded = tessera::Envelope::decode(answer.data(), answer.size());
    ASSERT_TRUE(decoded.ok()) << decoded.error().message;
    EXPECT_EQ(decoded->header().correlation, 99u);
  }
  // Still serving, requests and events alike.
  auto reply = agent->call(isolator::Kill{"ghost", 1});
  ASSERT_TRUE(reply.ok()) << reply.error().message;
  EXPECT_EQ(reply->type(), isolator::Failed::kType);
  ASSERT_GT(launch(launch_request("after-garbage", "exit 0")), 0);
  auto exited = agent->wait_exited(id("after-garbage"));
  ASSERT_TRUE(exited);
  EXPECT_EQ(exited->exit_code, 0);
}

}  // namespace

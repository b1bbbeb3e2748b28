// The Docker Engine client against a real, private dockerd (tests/support/dockerd.h), and against
// a fake daemon on a unix socket that answers with garbage, too much or nothing at all.
#include "docker_engine.h"
#include "docker_runtime.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "support/dockerd.h"
#include "support/process.h"

namespace tessera::docker {
namespace {

using testing::PrivateDockerd;
using namespace std::chrono_literals;

PrivateDockerd& daemon() { return tessera::testing::shared_dockerd(); }

class DockerEngineTest : public ::testing::Test {
 protected:
  void SetUp() override { TESSERA_REQUIRE_DOCKERD(daemon()); }

  static Engine engine() {
    EngineOptions options;
    options.socket_path = daemon().socket().string();
    options.timeout = 60s;
    return Engine(options);
  }

  // A container of the busybox image running `script` with sh, labelled for this test.
  static ContainerSpec shell(const std::string& script) {
    ContainerSpec spec;
    spec.image = PrivateDockerd::kImage;
    spec.cmd = {"/bin/sh", "-c", script};
    spec.labels = {
        {"tessera.test", ::testing::UnitTest::GetInstance()->current_test_info()->name()}};
    return spec;
  }
};

TEST_F(DockerEngineTest, AnswersPingAndSpeaksApi141) {
  Engine docker = engine();
  ASSERT_TRUE(docker.ping().ok());
  auto version = docker.api_version();
  ASSERT_TRUE(version.ok()) << version.error().message;
  EXPECT_GE(std::stod(*version), 1.41);
}

TEST_F(DockerEngineTest, RunsAContainerAndSplitsItsOutputIntoStdoutAndStderr) {
  Engine docker = engine();
  ContainerSpec spec = shell("echo out-line; echo err-line >&2; echo \"$GREETING\"; exit 3");
  spec.env = {{"GREETING", "hello from env"}};
  auto id = docker.create(spec);
  ASSERT_TRUE(id.ok()) << id.error().message;
  {
    auto started = docker.start(*id);
    ASSERT_TRUE(started.ok()) << started.error().message;
  }
  auto code = docker.wait(*id);
  ASSERT_TRUE(code.ok()) << code.error().message;
  EXPECT_EQ(*code, 3);

  testing::TempDir sandbox;
  ASSERT_TRUE(docker.copy_logs(*id, sandbox / "stdout", sandbox / "stderr", true).ok());
  EXPECT_EQ(testing::read_file(sandbox / "stdout"), "out-line\nhello from env\n");
  EXPECT_EQ(testing::read_file(sandbox / "stderr"), "err-line\n");

  auto state = docker.inspect(*id);
  ASSERT_TRUE(state.ok());
  EXPECT_FALSE(state->running);
  EXPECT_EQ(state->exit_code, 3);
  EXPECT_EQ(state->labels.at("tessera.test"),
            "RunsAContainerAndSplitsItsOutputIntoStdoutAndStderr");
  EXPECT_TRUE(docker.remove(*id, false).ok());
  auto gone = docker.inspect(*id);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.code(), ErrorCode::kNotFound);
}

TEST_F(DockerEngineTest, FollowingTheLogsOfARunningContainerGivesItsOutputAsItComes) {
  Engine docker = engine();
  auto id = docker.create(shell("for i in 1 2 3; do echo line-$i; sleep 0.2; done"));
  ASSERT_TRUE(id.ok()) << id.error().message;
  {
    auto started = docker.start(*id);
    ASSERT_TRUE(started.ok()) << started.error().message;
  }
  testing::TempDir sandbox;
  // Follows until the container ends, so the whole output is there once it returns. The daemon
  // may end a follow asked for right after the start early: followed again from the position
  // (as the runtime does), nothing is copied twice.
  for (int attempt = 0; attempt < 100; ++attempt) {
    ASSERT_TRUE(docker
                    .copy_logs(*id, sandbox / "stdout", sandbox / "stderr", true, nullptr,
                               sandbox / "position")
                    .ok());
    auto state = docker.inspect(*id);
    ASSERT_TRUE(state.ok());
    if (!state->running) break;
  }
  // A follow can end before the last lines of a container that just exited are read.
  ASSERT_TRUE(docker
                  .copy_logs(*id, sandbox / "stdout", sandbox / "stderr", false, nullptr,
                             sandbox / "position")
                  .ok());
  EXPECT_EQ(testing::read_file(sandbox / "stdout"), "line-1\nline-2\nline-3\n");
  EXPECT_TRUE(docker.remove(*id, true).ok());
}

TEST_F(DockerEngineTest, ACopyWithAPositionResumesWhereTheLastEndedAndCopiesNothingTwice) {
  Engine docker = engine();
  testing::TempDir sandbox;
  std::filesystem::create_directories(sandbox / "shared");
  ContainerSpec spec = shell(
      "echo one; echo two >&2; while [ ! -e /shared/go ]; do sleep 0.05; "
      "done; echo three");
  spec.binds = {(sandbox / "shared").string() + ":/shared"};
  auto id = docker.create(spec);
  ASSERT_TRUE(id.ok()) << id.error().message;
  {
    auto started = docker.start(*id);
    ASSERT_TRUE(started.ok()) << started.error().message;
  }
  std::filesystem::path position = sandbox / "position";
  ASSERT_TRUE(testing::eventually(
      [&] {
        EXPECT_TRUE(
            docker.copy_logs(*id, sandbox / "out", sandbox / "err", false, nullptr, position).ok());
        return testing::read_file(sandbox / "out") == "one\n";
      },
      30s));
  // Copied again without anything new: nothing is appended.
  ASSERT_TRUE(
      docker.copy_logs(*id, sandbox / "out", sandbox / "err", false, nullptr, position).ok());
  EXPECT_EQ(testing::read_file(sandbox / "out"), "one\n");
  EXPECT_EQ(testing::read_file(sandbox / "err"), "two\n");
  std::ofstream(sandbox / "shared" / "go") << "";
  ASSERT_TRUE(docker.wait(*id).ok());
  ASSERT_TRUE(
      docker.copy_logs(*id, sandbox / "out", sandbox / "err", true, nullptr, position).ok());
  EXPECT_EQ(testing::read_file(sandbox / "out"), "one\nthree\n");
  EXPECT_EQ(testing::read_file(sandbox / "err"), "two\n");
  EXPECT_TRUE(docker.remove(*id, true).ok());
}

TEST_F(DockerEngineTest, AContainerBeyondItsMemoryLimitIsKilledAndSaysSo) {
  Engine docker = engine();
  // Doubling a shell variable grows the shell's memory without bound.
  ContainerSpec spec = shell("x=0123456789; while true; do x=$x$x; done");
  spec.memory_bytes = 32LL << 20;
  auto id = docker.create(spec);
  ASSERT_TRUE(id.ok()) << id.error().message;
  {
    auto started = docker.start(*id);
    ASSERT_TRUE(started.ok()) << started.error().message;
  }
  auto code = docker.wait(*id);
  ASSERT_TRUE(code.ok());
  auto state = docker.inspect(*id);
  ASSERT_TRUE(state.ok());
  // The daemon learns of the OOM kill from an event of its own, which can come after the exit
  // (the runtime looks again for the same reason, docker_runtime.cpp).
  for (int look = 0; look < 30 && state.ok() && !state->oom_killed; ++look) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    state = docker.inspect(*id);
  }
  ASSERT_TRUE(state.ok());
  EXPECT_TRUE(state->oom_killed) << "exit " << *code;
  EXPECT_EQ(*code, 137);
  EXPECT_TRUE(docker.remove(*id, true).ok());
}

TEST_F(DockerEngineTest, StatsOfABusyContainerShowItsCpuTimeGrowingAndItsMemory) {
  Engine docker = engine();
  auto id = docker.create(shell("while true; do :; done"));
  ASSERT_TRUE(id.ok()) << id.error().message;
  ASSERT_TRUE(docker.start(*id).ok());
  auto first = docker.stats(*id);
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_GE(first->cpu_seconds, 0);
  EXPECT_GT(first->memory_bytes, 0);
  double now = first->cpu_seconds;
  EXPECT_TRUE(tessera::testing::eventually(
      [&] {
        auto again = docker.stats(*id);
        now = again.ok() ? again->cpu_seconds : -1;
        return now > first->cpu_seconds + 0.05;
      },
      std::chrono::seconds(30)))
      << "cpu time stayed at " << now;
  EXPECT_TRUE(docker.remove(*id, true).ok());
  auto gone = docker.stats(*id);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.code(), tessera::ErrorCode::kNotFound) << gone.error().message;
}

TEST_F(DockerEngineTest, StopEndsASleepingContainerWellBeforeItsGracePeriod) {
  Engine docker = engine();
  auto id = docker.create(shell("exec sleep 600"));
  ASSERT_TRUE(id.ok());
  {
    auto started = docker.start(*id);
    ASSERT_TRUE(started.ok()) << started.error().message;
  }
  auto state = docker.inspect(*id);
  ASSERT_TRUE(state.ok());
  EXPECT_TRUE(state->running);
  EXPECT_GT(state->pid, 0);
  // With an init process as PID 1 the SIGTERM reaches sleep, which ends at once; without it
  // busybox would ignore it and the stop would take the whole 30 s.
  auto before = std::chrono::steady_clock::now();
  ASSERT_TRUE(docker.stop(*id, 30s).ok());
  EXPECT_LT(std::chrono::steady_clock::now() - before, 20s);
  auto code = docker.wait(*id);
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 143);
  EXPECT_TRUE(docker.remove(*id, true).ok());
}

TEST_F(DockerEngineTest, ListFindsOnlyTheContainersWithTheGivenLabels) {
  Engine docker = engine();
  ContainerSpec mine = shell("true");
  mine.labels["tessera.agent"] = "agent-1";
  ContainerSpec theirs = shell("true");
  theirs.labels["tessera.agent"] = "agent-2";
  auto a = docker.create(mine);
  auto b = docker.create(theirs);
  ASSERT_TRUE(a.ok() && b.ok());
  auto listed = docker.list({{"tessera.agent", "agent-1"}});
  ASSERT_TRUE(listed.ok()) << listed.error().message;
  ASSERT_EQ(listed->size(), 1U);
  EXPECT_EQ(listed->front().id, *a);
  EXPECT_EQ(listed->front().labels.at("tessera.agent"), "agent-1");
  EXPECT_EQ(listed->front().state, "created");
  EXPECT_TRUE(docker.remove(*a, true).ok());
  EXPECT_TRUE(docker.remove(*b, true).ok());
}

TEST_F(DockerEngineTest, TheEventStreamReportsEachExitWithItsCode) {
  Engine docker = engine();
  Cancellation cancel;
  std::mutex mutex;
  std::vector<ContainerEvent> deaths;
  std::thread watcher([&] {
    (void)docker.events(
        {{"tessera.agent", "events-test"}},
        [&](const ContainerEvent& event) {
          if (event.action != "die") return;
          std::lock_guard lock(mutex);
          deaths.push_back(event);
        },
        &cancel);
  });
  Engine caller = engine();
  ContainerSpec spec = shell("exit 7");
  spec.labels["tessera.agent"] = "events-test";
  std::string id;
  // The stream is subscribed once the daemon answers its header: start containers until one
  // is seen (the first may die before the subscription).
  ASSERT_TRUE(testing::eventually(
      [&] {
        auto created = caller.create(spec);
        if (!created || !caller.start(*created).ok()) return false;
        id = *created;
        return testing::eventually(
            [&] {
              std::lock_guard lock(mutex);
              for (const auto& event : deaths) {
                if (event.id == id) return true;
              }
              return false;
            },
            5s);
      },
      60s));
  cancel.cancel();
  watcher.join();
  std::lock_guard lock(mutex);
  for (const auto& event : deaths) {
    if (event.id != id) continue;
    EXPECT_EQ(event.attributes.at("exitCode"), "7");
    EXPECT_EQ(event.attributes.at("tessera.agent"), "events-test");
  }
  auto left = caller.list({{"tessera.agent", "events-test"}});
  ASSERT_TRUE(left.ok());
  for (const auto& c : *left) EXPECT_TRUE(caller.remove(c.id, true).ok());
}

TEST_F(DockerEngineTest, AMissingImageIsNotFoundAndOfflinePullFailsWithTheDaemonsReason) {
  Engine docker = engine();
  ContainerSpec spec;
  spec.image = "tessera/no-such-image:1";
  auto created = docker.create(spec);
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.code(), ErrorCode::kNotFound);
  EXPECT_NE(created.error().message.find("No such image"), std::string::npos)
      << created.error().message;
  auto present = docker.image_present("tessera/no-such-image:1");
  ASSERT_TRUE(present.ok());
  EXPECT_FALSE(*present);
  present = docker.image_present(PrivateDockerd::kImage);
  ASSERT_TRUE(present.ok());
  EXPECT_TRUE(*present);
  // No registry is reachable from this machine (nor, usually, from a test).
  auto pulled = docker.pull("tessera/no-such-image:1");
  ASSERT_FALSE(pulled.ok());
  EXPECT_NE(pulled.error().message.find("tessera/no-such-image"), std::string::npos)
      << pulled.error().message;
}

TEST_F(DockerEngineTest, ANameInUseIsAConflict) {
  Engine docker = engine();
  ContainerSpec spec = shell("true");
  spec.name = "tessera-conflict-test";
  auto first = docker.create(spec);
  ASSERT_TRUE(first.ok()) << first.error().message;
  auto second = docker.create(spec);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.code(), ErrorCode::kConflict);
  EXPECT_TRUE(docker.remove(*first, true).ok());
}

TEST(DockerEngineCreateBody, CarriesLimitsNetworkInitAndLabels) {
  ContainerSpec spec;
  spec.image = "busybox:1";
  spec.cmd = {"/bin/sh", "-c", "echo \"quoted\""};
  spec.env = {{"PORT0", "31000"}};
  spec.labels = {{"tessera.task", "t-1"}};
  spec.memory_bytes = 64LL << 20;
  spec.nano_cpus = 500'000'000;
  spec.network_mode = "host";
  spec.binds = {"/tmp/sandbox:/mnt/sandbox"};
  std::string body = create_body(spec);
  EXPECT_NE(body.find(R"("Cmd":["/bin/sh","-c","echo \"quoted\""])"), std::string::npos) << body;
  EXPECT_NE(body.find(R"("Env":["PORT0=31000"])"), std::string::npos) << body;
  EXPECT_NE(body.find(R"("Labels":{"tessera.task":"t-1"})"), std::string::npos) << body;
  EXPECT_NE(body.find(R"("NetworkMode":"host")"), std::string::npos) << body;
  EXPECT_NE(body.find(R"("Init":true)"), std::string::npos) << body;
  EXPECT_NE(body.find(R"("Memory":67108864,"MemorySwap":67108864)"), std::string::npos) << body;
  EXPECT_NE(body.find(R"("NanoCpus":500000000)"), std::string::npos) << body;
  EXPECT_NE(body.find(R"("Binds":["/tmp/sandbox:/mnt/sandbox"])"), std::string::npos) << body;
}

TEST(DockerLogPosition, IsOneNanosecondAfterTheLastLine) {
  EXPECT_EQ(since_after("2026-11-29T08:23:46.123456789Z"), "1795940626.123456790");
  EXPECT_EQ(since_after("2026-11-29T08:23:46.5Z"), "1795940626.500000001");
  EXPECT_EQ(since_after("2026-11-29T08:23:46.999999999Z"), "1795940627.000000000");
  EXPECT_EQ(since_after("2026-11-29T08:23:46Z"), "1795940626.000000001");
  EXPECT_EQ(since_after("not a time"), "");
  EXPECT_EQ(since_after(""), "");
  EXPECT_TRUE(position_before("1795940626.000000001", "1795940626.500000001"));
  EXPECT_TRUE(position_before("999999999.999999999", "1795940626.000000000"));
  EXPECT_FALSE(position_before("1795940626.500000001", "1795940626.500000001"));
}

// One frame of the daemon's multiplexed log stream: stream kind, three zero bytes, the length
// big-endian, the bytes.
void append_log_frame(std::string& stream, char kind, const std::string& text) {
  stream.push_back(kind);
  stream.append(3, '\0');
  uint32_t n = text.size();
  for (int shift : {24, 16, 8, 0}) stream.push_back(static_cast<char>((n >> shift) & 0xff));
  stream += text;
}

TEST(DockerLogDemuxer, SplitsFramesFedInAnyPieces) {
  std::string stream;
  auto frame = [&](char kind, const std::string& text) { append_log_frame(stream, kind, text); };
  frame(1, "hello ");
  frame(2, "oops\n");
  frame(1, "world\n");
  frame(1, std::string(70000, 'x'));
  for (size_t piece : {size_t{1}, size_t{3}, size_t{8}, size_t{1000}, stream.size()}) {
    std::string out, err;
    LogDemuxer demux(
        [&](int kind, std::string_view bytes, bool) { (kind == 2 ? err : out) += bytes; });
    for (size_t i = 0; i < stream.size(); i += piece) {
      demux.feed(std::string_view(stream).substr(i, piece));
    }
    EXPECT_EQ(out, "hello world\n" + std::string(70000, 'x')) << "pieces of " << piece;
    EXPECT_EQ(err, "oops\n") << "pieces of " << piece;
  }
}

// A daemon that is down: an error at once that names the socket.
TEST(DockerEngineFaults, ADaemonThatIsDownIsUnavailableAndNamed) {
  testing::TempDir dir;
  EngineOptions options;
  options.socket_path = (dir / "docker.sock").string();
  Engine docker(options);
  auto pinged = docker.ping();
  ASSERT_FALSE(pinged.ok());
  EXPECT_EQ(pinged.code(), ErrorCode::kUnavailable);
  EXPECT_NE(pinged.error().message.find(options.socket_path), std::string::npos);
}

// A fake daemon: accepts one connection at a time on a unix socket and answers with `reply`
// (or nothing, holding the connection until it is closed).
class FakeDaemon {
 public:
  FakeDaemon(const std::filesystem::path& path, std::string reply, bool answer = true)
      : reply_(std::move(reply)), answer_(answer) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    EXPECT_EQ(::listen(fd_, 8), 0);
    thread_ = std::thread([this] {
      while (true) {
        int client = ::accept(fd_, nullptr, nullptr);
        if (client < 0) return;
        char buffer[4096];
        (void)::recv(client, buffer, sizeof(buffer), 0);
        if (answer_) {
          (void)::send(client, reply_.data(), reply_.size(), MSG_NOSIGNAL);
          ::close(client);
        } else {
          held_.push_back(client);
        }
      }
    });
  }
  ~FakeDaemon() {
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
    for (int fd : held_) ::close(fd);
  }

 private:
  std::string reply_;
  bool answer_;
  int fd_ = -1;
  std::vector<int> held_;
  std::thread thread_;
};

TEST(DockerEngineFaults, GarbageOversizedAndSilentAnswersAreErrorsWithinTheDeadline) {
  testing::TempDir dir;
  EngineOptions options;
  options.timeout = 1s;
  options.max_response_bytes = 1024;
  {
    options.socket_path = (dir / "garbage.sock").string();
    FakeDaemon fake(options.socket_path, "this is not http\r\n\r\n");
    auto pinged = Engine(options).ping();
    ASSERT_FALSE(pinged.ok());
    EXPECT_NE(pinged.error().message.find("not HTTP"), std::string::npos) << pinged.error().message;
  }
  {
    options.socket_path = (dir / "huge.sock").string();
    FakeDaemon fake(options.socket_path, "HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n" +
                                             std::string(4000, '['));
    auto listed = Engine(options).list({});
    ASSERT_FALSE(listed.ok());
    EXPECT_NE(listed.error().message.find("over 1024 bytes"), std::string::npos)
        << listed.error().message;
  }
  {
    options.socket_path = (dir / "json.sock").string();
    FakeDaemon fake(options.socket_path, "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n[1,2,{}]x");
    auto listed = Engine(options).list({});
    ASSERT_FALSE(listed.ok());
    EXPECT_NE(listed.error().message.find("not a JSON array"), std::string::npos)
        << listed.error().message;
  }
  {
    options.socket_path = (dir / "silent.sock").string();
    FakeDaemon fake(options.socket_path, "", false);
    auto before = std::chrono::steady_clock::now();
    auto pinged = Engine(options).ping();
    ASSERT_FALSE(pinged.ok());
    EXPECT_EQ(pinged.code(), ErrorCode::kUnavailable);
    EXPECT_NE(pinged.error().message.find("in time"), std::string::npos) << pinged.error().message;
    EXPECT_LT(std::chrono::steady_clock::now() - before, 10s);
  }
}

TEST(DockerEngineFaults, ACancelledWaitReturnsPromptly) {
  testing::TempDir dir;
  EngineOptions options;
  options.socket_path = (dir / "silent.sock").string();
  FakeDaemon fake(options.socket_path, "", false);
  Engine docker(options);
  Cancellation cancel;
  std::thread canceller([&] {
    std::this_thread::sleep_for(200ms);
    cancel.cancel();
  });
  auto code = docker.wait("anything", &cancel);
  canceller.join();
  ASSERT_FALSE(code.ok());
  EXPECT_EQ(code.code(), ErrorCode::kUnavailable);
}

// A daemon that is down while launches come one after another: each is answered with the
// reason. The event stream pauses between its attempts to subscribe; a job submitted meanwhile
// once woke the pausing stream instead of the only worker, and that launch was never answered.
TEST(DockerRuntimeFaults, EveryLaunchAgainstADaemonThatIsDownIsAnswered) {
  testing::TempDir dir;
  RuntimeOptions options;
  options.engine.socket_path = (dir / "none.sock").string();
  options.work_dir = dir / "runtime";
  options.workers = 1;
  // The test's thread plays the plugin's event loop: it runs what the runtime posts.
  std::mutex mutex;
  std::condition_variable posted_cv;
  std::deque<std::function<void()>> posted;
  auto runtime = DockerRuntime::create(
      options,
      [&](std::function<void()> fn) {
        std::lock_guard lock(mutex);
        posted.push_back(std::move(fn));
        posted_cv.notify_one();
      },
      [](const ContainerExit&) {});
  ASSERT_TRUE(runtime.ok()) << runtime.error().message;
  for (int i = 0; i < 25; ++i) {
    // Spaced so that the worker and the pausing stream take turns at being the older waiter.
    std::this_thread::sleep_for(120ms);
    LaunchRequest request;
    request.container_id = "c" + std::to_string(i);
    request.sandbox = dir / request.container_id;
    request.image = "busybox";
    std::optional<Result<int64_t>> answer;
    (*runtime)->launch(request, [&](Result<int64_t> pid) { answer = std::move(pid); });
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!answer) {
      std::unique_lock lock(mutex);
      if (!posted_cv.wait_until(lock, deadline, [&] { return !posted.empty(); })) break;
      auto fn = std::move(posted.front());
      posted.pop_front();
      lock.unlock();
      fn();
    }
    ASSERT_TRUE(answer) << "launch " << i << " was not answered";
    ASSERT_FALSE(answer->ok());
    EXPECT_NE(answer->error().message.find("is not reachable"), std::string::npos)
        << answer->error().message;
  }
  EXPECT_EQ((*runtime)->size(), 0u);
}

// The daemon copies stdout and stderr on their own: a stderr line stamped before the stdout line
// that precedes it in the stream. The position is the latest line's, so a copy resumed from it
// repeats nothing (the lead saw the last stdout line copied twice when it was the earlier one's).
TEST(DockerEngineFaults, ThePositionNeverMovesBackForALineOfTheOtherStreamStampedEarlier) {
  testing::TempDir dir;
  EngineOptions options;
  options.socket_path = (dir / "docker.sock").string();
  std::string body;
  auto frame = [&](char kind, const std::string& text) { append_log_frame(body, kind, text); };
  frame(1, "2026-11-29T08:23:46.100Z first\n");
  frame(1, "2026-11-29T08:23:46.300Z second\n");
  frame(2, "2026-11-29T08:23:46.200Z oops\n");
  FakeDaemon fake(options.socket_path, "HTTP/1.1 200 OK\r\nContent-Length: " +
                                           std::to_string(body.size()) + "\r\n\r\n" + body);
  auto position = dir / "position";
  ASSERT_TRUE(
      Engine(options).copy_logs("c1", dir / "out", dir / "err", false, nullptr, position).ok());
  EXPECT_EQ(testing::read_file(dir / "out"), "first\nsecond\n");
  EXPECT_EQ(testing::read_file(dir / "err"), "oops\n");
  EXPECT_EQ(testing::read_file(position), since_after("2026-11-29T08:23:46.300Z") + "\n");
}

}  // namespace
}  // namespace tessera::docker

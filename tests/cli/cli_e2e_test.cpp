// The real `tessera` binary against the master double: exec from subscription to exit status,
// the state listings, a role update, and an unreachable master.
#include <gtest/gtest.h>
#include <signal.h>

#include <boost/json.hpp>

#include "master_double.h"
#include "support/process.h"

namespace {

using namespace std::chrono_literals;
using namespace tessera;
using namespace tessera::testing;
namespace json = boost::json;

class Cli : public ::testing::Test {
 protected:
  std::vector<std::string> tessera(const std::string& master, std::vector<std::string> args) {
    std::vector<std::string> argv{TESSERA_CLI_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    if (!master.empty()) {
      // --master belongs to the subcommand: put it right after the (sub)command words.
      size_t at = 2;
      if (argv.size() > 2 && argv[1] == "roles") at = 3;
      argv.insert(argv.begin() + static_cast<long>(at), {"--master", master});
    }
    return argv;
  }
  std::pair<int, std::string> run(const std::string& master, std::vector<std::string> args) {
    return tessera::testing::run(tessera(master, std::move(args)), dir_ / "out.log", 30s);
  }
  TempDir dir_;
};

TEST_F(Cli, ExecRunsTheTaskAcknowledgesItsUpdatesAndExitsZero) {
  DoubleConfig config;
  config.offers = {offer("small", "a1", 0.25, 1024),
                   offer("fits", "a2", 1, 1024, {{31000, 31010}})};
  config.script = {status(protocol::state::kRunning), status(protocol::state::kFinished, 0)};
  MasterDouble master(config);
  auto [code, out] = run(master.endpoint(), {"exec", "--cpus", "0.5", "--mem", "64", "--ports", "2",
                                             "--env", "GREETING=hi", "--", "true"});
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("subscribed as framework 'fw-1'"), std::string::npos) << out;
  auto staging = out.find("TASK_STAGING task 'tessera-exec.");
  auto running = out.find("TASK_RUNNING task 'tessera-exec.");
  auto finished = out.find("TASK_FINISHED task 'tessera-exec.");
  ASSERT_NE(staging, std::string::npos) << out;
  ASSERT_NE(running, std::string::npos) << out;
  ASSERT_NE(finished, std::string::npos) << out;
  EXPECT_LT(staging, running);
  EXPECT_LT(running, finished);
  EXPECT_NE(out.find("on agent 'a2', exit code 0"), std::string::npos) << out;

  ASSERT_TRUE(master.wait_until([](const DoubleRecord& r) { return !r.teardowns.empty(); }));
  auto rec = master.snapshot();
  ASSERT_EQ(rec.subscribes.size(), 1u);
  EXPECT_EQ(rec.subscribes[0].second.name, "tessera-exec");
  ASSERT_EQ(rec.accepts.size(), 1u);
  const auto& accept = rec.accepts[0];
  EXPECT_EQ(accept.offer_ids, std::vector<std::string>{"fits.1"});
  ASSERT_EQ(accept.tasks.size(), 1u);
  const auto& task = accept.tasks[0];
  EXPECT_EQ(task.agent_id, "a2");
  EXPECT_EQ(task.name, "tessera-exec");
  EXPECT_EQ(task.resources.scalar("cpus"), 0.5);
  EXPECT_EQ(task.resources.scalar("mem"), 64);
  EXPECT_EQ(task.resources.ranges.at("ports"), (std::vector<protocol::Range>{{31000, 31001}}));
  EXPECT_TRUE(task.command.shell);
  EXPECT_EQ(task.command.value, "true");
  EXPECT_EQ(task.command.environment.at("GREETING"), "hi");
  ASSERT_EQ(rec.declines.size(), 1u);
  EXPECT_EQ(rec.declines[0].offer_ids, std::vector<std::string>{"small.1"});
  ASSERT_EQ(rec.acks.size(), 2u);
  EXPECT_EQ(rec.acks[0].uuid, "uuid-1");
  EXPECT_EQ(rec.acks[1].uuid, "uuid-2");
  EXPECT_EQ(rec.acks[0].task_id, task.task_id);
  EXPECT_EQ(rec.acks[1].agent_id, "a2");
  EXPECT_EQ(rec.teardowns[0].framework_id, "fw-1");
  EXPECT_EQ(rec.suppresses, 1);
}

TEST_F(Cli, ExecFormAndTheTaskExitCode) {
  DoubleConfig config;
  config.offers = {offer("o", "a1", 1, 128)};
  config.script = {status(protocol::state::kRunning),
                   status(protocol::state::kFailed, 3, "exited with status 3")};
  MasterDouble master(config);
  auto [code, out] = run(master.endpoint(), {"exec", "--cpus", "0.5", "--", "sh", "-c", "exit 3"});
  EXPECT_EQ(code, 3) << out;
  EXPECT_NE(out.find("TASK_FAILED task 'tessera-exec."), std::string::npos) << out;
  EXPECT_NE(out.find("exit code 3: exited with status 3"), std::string::npos) << out;
  auto rec = master.snapshot();
  ASSERT_EQ(rec.accepts.size(), 1u);
  const auto& command = rec.accepts[0].tasks.at(0).command;
  EXPECT_FALSE(command.shell);
  EXPECT_EQ(command.value, "sh");
  EXPECT_EQ(command.arguments, (std::vector<std::string>{"-c", "exit 3"}));
  ASSERT_TRUE(master.wait_until([](const DoubleRecord& r) { return r.acks.size() == 2; }));
}

TEST_F(Cli, ExecWithADockerImageAsksForAContainerOfIt) {
  DoubleConfig config;
  config.offers = {offer("o", "a1", 1, 128)};
  config.script = {status(protocol::state::kRunning), status(protocol::state::kFinished, 0)};
  MasterDouble master(config);
  auto [code, out] = run(master.endpoint(), {"exec", "--docker-image", "busybox:1", "--network",
                                             "host", "--", "httpd -f -p $PORT0"});
  EXPECT_EQ(code, 0) << out;
  auto rec = master.snapshot();
  ASSERT_EQ(rec.accepts.size(), 1u);
  const auto& task = rec.accepts[0].tasks.at(0);
  EXPECT_EQ(task.container.type, "DOCKER");
  EXPECT_EQ(task.container.image, "busybox:1");
  EXPECT_EQ(task.container.network, "host");
  EXPECT_EQ(task.command.value, "httpd -f -p $PORT0");

  // Without a command, the image's own runs; the network defaults to none.
  auto [code2, out2] = run(master.endpoint(), {"exec", "--docker-image", "busybox:1"});
  EXPECT_EQ(code2, 0) << out2;
  rec = master.snapshot();
  ASSERT_EQ(rec.accepts.size(), 2u);
  const auto& bare = rec.accepts[1].tasks.at(0);
  EXPECT_EQ(bare.container.type, "DOCKER");
  EXPECT_EQ(bare.container.network, "none");
  EXPECT_EQ(bare.command.value, "");
}

TEST_F(Cli, ExecDockerUsageErrors) {
  auto [code, out] = run("tcp://127.0.0.1:1", {"exec", "--network", "host", "--", "true"});
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("--network needs --docker-image"), std::string::npos) << out;
  std::tie(code, out) = run("tcp://127.0.0.1:1",
                            {"exec", "--docker-image", "i", "--network", "bridge", "--", "true"});
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("bridge"), std::string::npos) << out;
  std::tie(code, out) = run("tcp://127.0.0.1:1", {"exec", "--cpus", "1"});
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("a command is required"), std::string::npos) << out;
}

TEST_F(Cli, ExecWithoutAFittingOfferTimesOut) {
  DoubleConfig config;
  config.offers = {offer("o", "a1", 1, 128)};
  MasterDouble master(config);
  auto [code, out] = run(master.endpoint(),
                         {"exec", "--cpus", "4", "--mem", "64", "--timeout", "0.5", "--", "true"});
  EXPECT_EQ(code, 124) << out;
  EXPECT_NE(out.find("tessera: no offer fitting cpus:4;mem:64 within 0.5 s"), std::string::npos)
      << out;
  ASSERT_TRUE(master.wait_until([](const DoubleRecord& r) { return !r.teardowns.empty(); }));
  auto rec = master.snapshot();
  EXPECT_TRUE(rec.accepts.empty());
  ASSERT_EQ(rec.declines.size(), 1u);
  EXPECT_EQ(rec.declines[0].offer_ids, std::vector<std::string>{"o.1"});
}

TEST_F(Cli, InterruptKillsTheTask) {
  DoubleConfig config;
  config.offers = {offer("o", "a1", 1, 128)};
  config.script = {status(protocol::state::kRunning)};
  MasterDouble master(config);
  Process p(tessera(master.endpoint(), {"exec", "--", "sleep 1000"}), dir_ / "out.log");
  ASSERT_TRUE(p.wait_for("TASK_RUNNING")) << p.output();
  p.signal(SIGINT);
  auto code = p.wait(20s);
  ASSERT_TRUE(code.has_value()) << p.output();
  EXPECT_EQ(*code, 130) << p.output();
  EXPECT_NE(p.output().find("killing task 'tessera-exec."), std::string::npos) << p.output();
  EXPECT_NE(p.output().find("TASK_KILLED task 'tessera-exec."), std::string::npos) << p.output();
  ASSERT_TRUE(master.wait_until([](const DoubleRecord& r) { return !r.teardowns.empty(); }));
  auto rec = master.snapshot();
  ASSERT_EQ(rec.kills.size(), 1u);
  EXPECT_EQ(rec.kills[0].task_id, rec.accepts.at(0).tasks.at(0).task_id);
  EXPECT_EQ(rec.kills[0].agent_id, "a1");
  EXPECT_EQ(rec.acks.size(), 2u);
}

protocol::operator_api::State cluster_state() {
  namespace op = protocol::operator_api;
  op::State state;
  state.master_id = "master-double";
  op::AgentState a;
  a.agent_id = "agent-1";
  a.hostname = "node1";
  a.total.scalars = {{"cpus", 4}, {"mem", 2048}, {"disk", 10000}};
  a.used.scalars = {{"cpus", 0.5}, {"mem", 64}};
  state.agents.push_back(a);
  op::FrameworkState f;
  f.framework_id = "fw-1";
  f.name = "tessera-exec";
  f.roles = {"*"};
  f.active_tasks = 1;
  state.frameworks.push_back(f);
  op::TaskState t;
  t.task_id = "tessera-exec.1";
  t.name = "tessera-exec";
  t.framework_id = "fw-1";
  t.agent_id = "agent-1";
  t.state = protocol::state::kRunning;
  t.resources.scalars = {{"cpus", 0.5}, {"mem", 64}};
  state.tasks.push_back(t);
  return state;
}

TEST_F(Cli, StateListingsAsJsonAndTables) {
  DoubleConfig config;
  config.state = cluster_state();
  MasterDouble master(config);

  auto [code, out] = run(master.endpoint(), {"agents", "--json"});
  ASSERT_EQ(code, 0) << out;
  json::value agents = json::parse(out);
  EXPECT_EQ(agents.at("agents").at(0).at("id").as_string(), "agent-1");
  EXPECT_EQ(agents.at("agents").at(0).at("hostname").as_string(), "node1");
  EXPECT_EQ(agents.at("agents").at(0).at("resources").at("cpus").to_number<double>(), 4.0);
  EXPECT_EQ(agents.at("agents").at(0).at("used_resources").at("mem").to_number<double>(), 64.0);

  std::tie(code, out) = run(master.endpoint(), {"tasks", "--json"});
  ASSERT_EQ(code, 0) << out;
  json::value tasks = json::parse(out);
  EXPECT_EQ(tasks.at("tasks").at(0).at("id").as_string(), "tessera-exec.1");
  EXPECT_EQ(tasks.at("tasks").at(0).at("state").as_string(), "TASK_RUNNING");
  EXPECT_EQ(tasks.at("tasks").at(0).at("framework_id").as_string(), "fw-1");
  EXPECT_EQ(tasks.at("tasks").at(0).at("agent_id").as_string(), "agent-1");

  std::tie(code, out) = run(master.endpoint(), {"frameworks", "--json"});
  ASSERT_EQ(code, 0) << out;
  EXPECT_EQ(json::parse(out).at("frameworks").at(0).at("name").as_string(), "tessera-exec");

  std::tie(code, out) = run(master.endpoint(), {"agents"});
  ASSERT_EQ(code, 0) << out;
  EXPECT_EQ(out,
            "ID       HOSTNAME  ACTIVE  CPUS   MEM      DISK\n"
            "agent-1  node1     true    0.5/4  64/2048  0/10000\n");
  EXPECT_EQ(master.snapshot().state_requests, 4);
}

TEST_F(Cli, MasterFromTheEnvironment) {
  DoubleConfig config;
  config.state = cluster_state();
  MasterDouble master(config);
  setenv("TESSERA_MASTER", master.endpoint().c_str(), 1);
  auto [code, out] = run("", {"tasks"});
  unsetenv("TESSERA_MASTER");
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("tessera-exec.1  tessera-exec  TASK_RUNNING"), std::string::npos) << out;
}

TEST_F(Cli, RolesUpdateSendsWeightQuotaAndPriority) {
  MasterDouble master(DoubleConfig{});
  auto [code, out] = run(master.endpoint(), {"roles", "update", "web", "--weight", "2", "--quota",
                                             "cpus:4;mem:1024", "--priority", "7"});
  ASSERT_EQ(code, 0) << out;
  EXPECT_EQ(out, "role 'web' updated\n");
  auto rec = master.snapshot();
  ASSERT_EQ(rec.role_updates.size(), 1u);
  const auto& call = rec.role_updates[0];
  EXPECT_EQ(call.role, "web");
  EXPECT_EQ(call.weight, 2);
  EXPECT_TRUE(call.set_quota);
  EXPECT_EQ(call.quota.scalar("cpus"), 4);
  EXPECT_EQ(call.quota.scalar("mem"), 1024);
  EXPECT_TRUE(call.set_priority);
  EXPECT_EQ(call.priority, 7);

  std::tie(code, out) = run(master.endpoint(), {"roles", "update", "web", "--quota", "cpus:lots"});
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("--quota: resource 'cpus': expected a number, got 'lots'"), std::string::npos)
      << out;
}

TEST_F(Cli, UnreachableMasterExitsTwo) {
  // A port nobody listens on: bound, then released.
  std::string master;
  {
    void* context = zmq_ctx_new();
    {
      sdk::Socket s(context, ZMQ_ROUTER);
      s.ref().bind("tcp://127.0.0.1:*");
      master = s.ref().get(zmq::sockopt::last_endpoint);
    }
    zmq_ctx_term(context);
  }
  for (std::vector<std::string> args :
       {std::vector<std::string>{"agents", "--connect-timeout", "0.5"},
        std::vector<std::string>{"exec", "--connect-timeout", "0.5", "--", "true"}}) {
    auto [code, out] = run(master, args);
    EXPECT_EQ(code, 2) << out;
    EXPECT_NE(out.find("tessera: no answer from master at " + master + ": is it running?"),
              std::string::npos)
        << out;
  }
}

TEST_F(Cli, UsageErrorsExitTwo) {
  for (std::vector<std::string> args :
       {std::vector<std::string>{"exec", "--cpus", "-1", "--", "true"},
        std::vector<std::string>{"exec", "--env", "NOEQUALS", "--", "true"},
        std::vector<std::string>{"exec"},
        std::vector<std::string>{"agents", "--connect-timeout", "0"},
        std::vector<std::string>{"roles", "update", "web"}, std::vector<std::string>{"nonsense"}}) {
    auto [code, out] = run("", args);
    EXPECT_EQ(code, 2) << args[0] << ": " << out;
  }
  auto [code, out] = run("", {"exec", "--cpus", "-1", "--", "true"});
  EXPECT_NE(out.find("--cpus: '-1' is not a number >= 0"), std::string::npos) << out;
}

}  // namespace

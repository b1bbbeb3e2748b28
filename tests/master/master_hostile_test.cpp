// What a hostile or broken peer could do to a real master, the way issue 7's hostile run found
// it: a real master and real agents (tessera-host processes, support/cluster.h), and frameworks
// and agents that send, message by message, what no SDK client would (peers.h). Each test is a
// defect that lost, killed or faked a task, and checks what a framework or an operator would
// see.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>

#include "peers.h"
#include "support/cluster.h"

namespace {

using namespace std::chrono_literals;
using tessera::Envelope;
using tessera::protocol::TaskInfo;
using tessera::protocol::TaskStatus;
using tessera::testing::Cluster;
using tessera::testing::Peers;
using tessera::testing::RawAgent;
using tessera::testing::RawFramework;
using tessera::testing::task;
using tessera::testing::TempDir;
namespace state = tessera::protocol::state;
namespace reason = tessera::protocol::reason;
namespace scheduler = tessera::protocol::scheduler;
namespace agent_msg = tessera::protocol::agent;
namespace op = tessera::protocol::operator_api;

// An agent with two cpus and two ports, and `extra` TOML for its [agent] table.
tessera::testing::AgentSettings small_agent(const std::string& extra = "") {
  tessera::testing::AgentSettings settings;
  settings.resources = "cpus:2;mem:256;disk:0;ports:[31000-31001]";
  settings.extra = extra;
  return settings;
}

class MasterHostile : public ::testing::Test {
 protected:
  op::State state() { return peers_.state(cluster_.endpoint()); }

  // Polls the master's state until `done` holds for it; the last state seen is left in `last`.
  bool wait_state(const std::function<bool(const op::State&)>& done) {
    return peers_.wait_state(cluster_.endpoint(), done, last);
  }

  static const op::AgentState* agent_named(const op::State& s, const std::string& hostname) {
    for (const auto& agent : s.agents) {
      if (agent.hostname == hostname) return &agent;
    }
    return nullptr;
  }
  static const op::TaskState* task_named(const op::State& s, const std::string& task_id) {
    for (const auto& t : s.tasks) {
      if (t.task_id == task_id) return &t;
    }
    return nullptr;
  }
  // Starts the master and two agents and waits until both are registered.
  void start_two_agents() {
    ASSERT_TRUE(cluster_.start_master());
    ASSERT_TRUE(cluster_.start_agent(0));
    ASSERT_TRUE(cluster_.start_agent(1));
    ASSERT_TRUE(wait_state([](const op::State& s) { return s.agents.size() == 2; }));
  }
  // The master's answer to `ask` from `reader` (throws when there is none).
  op::StateSummary summary_for(tessera::sdk::Client& reader, const op::GetStateSummary& ask) {
    auto reply = peers_.call(reader, ask);
    if (!reply || !reply->is<op::StateSummary>()) throw std::runtime_error("no summary");
    auto body = reply->body<op::StateSummary>();
    if (!body) throw std::runtime_error(body.error().message);
    return *body;
  }
  // A list's msgpack bytes, to compare two lists whole.
  template <typename List>
  static std::string packed(const List& list) {
    msgpack::sbuffer buffer;
    msgpack::pack(buffer, list);
    return {buffer.data(), buffer.size()};
  }
  std::string agent_id(const std::string& hostname) {
    op::State s = state();
    const op::AgentState* agent = agent_named(s, hostname);
    return agent ? agent->agent_id : "";
  }

  // Takes offers until one from `agent` comes (declining the others) and launches `tasks` on it.
  void launch_on(RawFramework& framework, const std::string& agent,
                 const std::vector<TaskInfo>& tasks) {
    while (auto offer = framework.next_offer()) {
      if (offer->agent_id == agent) return framework.accept({offer->offer_id}, tasks);
      framework.decline({offer->offer_id}, 0.05);
    }
    ADD_FAILURE() << "no offer from agent '" << agent << "'\n" << cluster_.master().output();
  }

  scheduler::Subscribe subscribe_message(const std::string& name, double failover = 0) {
    scheduler::Subscribe message;
    message.name = name;
    message.failover_timeout_seconds = failover;
    return message;
  }

  TempDir dir_;
  Cluster cluster_{dir_};
  Peers peers_;
  op::State last;
};

// --- Durations (issue 7, item 2) -----------------------------------------------------------

TEST_F(MasterHostile, AFailoverTimeoutThatIsNotADurationIsRefusedAtSubscription) {
  ASSERT_TRUE(cluster_.start_master());
  for (double bad : {std::nan(""), std::numeric_limits<double>::infinity(), -1.0}) {
    RawFramework framework(peers_, cluster_.endpoint(), "bad-failover");
    std::string error = framework.subscribe(subscribe_message("bad-failover", bad));
    EXPECT_NE(error.find("invalid framework: failover_timeout_seconds must be a finite, "
                         "non-negative number of seconds"),
              std::string::npos)
        << bad << ": " << error;
  }
  EXPECT_TRUE(state().frameworks.empty());
}

// 1e10 s and 1e300 s overflowed when converted to nanoseconds: the deadline fell in the past and
// the framework's tasks were killed at its first disconnect.
TEST_F(MasterHostile, AHugeFailoverTimeoutIsCappedAndKeepsTheTasksThroughADisconnect) {
  ASSERT_TRUE(cluster_.start_master());
  ASSERT_TRUE(cluster_.start_agent(0));
  std::string agent = agent_id("agent0");
  std::vector<std::unique_ptr<RawFramework>> frameworks;
  for (double failover : {1e10, 1e300}) {
    std::string name = "huge-failover-" + std::to_string(frameworks.size());
    frameworks.push_back(std::make_unique<RawFramework>(peers_, cluster_.endpoint(), name));
    ASSERT_EQ(frameworks.back()->subscribe(subscribe_message(name, failover)), "");
    launch_on(*frameworks.back(), agent, {task("sleeper", "sleep 60")});
    ASSERT_TRUE(frameworks.back()->wait_for_state("sleeper", state::kRunning))
        << cluster_.master().output();
  }
  EXPECT_TRUE(cluster_.master().wait_for("failover_timeout_seconds 1e+10 capped at 3.1536e+07 s"))
      << cluster_.master().output();
  EXPECT_TRUE(cluster_.master().wait_for("failover_timeout_seconds 1e+300 capped at 3.1536e+07 s"))
      << cluster_.master().output();

  // Both go silent and are disconnected; a third framework counts the master's heartbeat
  // rounds, so that several checks of the failover deadlines are known to have passed.
  RawFramework witness(peers_, cluster_.endpoint(), "witness");
  ASSERT_EQ(witness.subscribe(subscribe_message("witness")), "");
  for (auto& framework : frameworks) framework->answer_heartbeats = false;
  ASSERT_TRUE(
      peers_.run_until([&] { return cluster_.master().count("missed its heartbeats") == 2; }, 30s))
      << cluster_.master().output();
  size_t rounds = witness.heartbeats;
  ASSERT_TRUE(peers_.run_until([&] { return witness.heartbeats >= rounds + 4; }, 30s));

  EXPECT_EQ(cluster_.master().count("removing framework"), 0u) << cluster_.master().output();
  op::State s = state();
  size_t running = 0;
  for (const auto& t : s.tasks) running += t.state == state::kRunning;
  EXPECT_EQ(running, 2u);
  for (const auto& f : s.frameworks) {
    if (f.name.rfind("huge-failover", 0) == 0) {
      EXPECT_FALSE(f.connected);
      EXPECT_EQ(f.failover_timeout_seconds, 365 * 86400.0);
    }
  }
  // And the first one can come back to its task.
  scheduler::Subscribe again = subscribe_message("huge-failover-0", 1e10);
  again.framework_id = frameworks[0]->id();
  frameworks[0]->answer_heartbeats = true;
  ASSERT_EQ(frameworks[0]->subscribe(again), "");
  frameworks[0]->reconcile({});
  ASSERT_TRUE(peers_.run_until([&] {
    auto updates = frameworks[0]->updates_of("sleeper");
    return !updates.empty() && updates.back().reason == reason::kReconciliation;
  }));
  EXPECT_EQ(frameworks[0]->updates_of("sleeper").back().state, state::kRunning);
}

// --- Accept validation (issue 7, item 4) ---------------------------------------------------

// Named twice, one offer counted twice: two cpus:2 tasks ran on a cpus:2 agent.
TEST_F(MasterHostile, AnOfferNamedTwiceInAnAcceptIsRefusedAndCountedOnce) {
  ASSERT_TRUE(cluster_.start_master());
  ASSERT_TRUE(cluster_.start_agent(0, small_agent()));
  RawFramework framework(peers_, cluster_.endpoint(), "twice");
  ASSERT_EQ(framework.subscribe(subscribe_message("twice")), "");
  auto offer = framework.next_offer();
  ASSERT_TRUE(offer);
  ASSERT_EQ(offer->resources.scalar("cpus"), 2);
  framework.accept({offer->offer_id, offer->offer_id},
                   {task("first", "sleep 60", 2, 16), task("second", "sleep 60", 2, 16)});
  for (const char* id : {"first", "second"}) {
    ASSERT_TRUE(framework.wait_for_state(id, state::kError)) << cluster_.master().output();
    const TaskStatus status = framework.updates_of(id).back();
    EXPECT_EQ(status.reason, reason::kInvalidOffers);
    EXPECT_EQ(status.message, "offer '" + offer->offer_id + "' is named twice");
  }
  EXPECT_FALSE(framework.saw("first", state::kStarting));
  EXPECT_FALSE(framework.saw("second", state::kStarting));
  // The offer's resources came back once: the agent is offered whole again, and nothing is used.
  auto again = framework.next_offer();
  ASSERT_TRUE(again);
  EXPECT_EQ(again->resources.scalar("cpus"), 2);
  const op::AgentState* agent = agent_named(state(), "agent0");
  ASSERT_NE(agent, nullptr);
  EXPECT_TRUE(agent->used.empty()) << agent->used.to_string();
}

// NaN passed the negative check and was never recovered; 1e19 mem overflowed the fixed-point
// conversion; cpus 0.0004 rounded to nothing and 300 such tasks launched from one offer.
TEST_F(MasterHostile, AmountsThatAreNotAmountsGetTaskErrorAndTheRestOfTheAcceptRuns) {
  ASSERT_TRUE(cluster_.start_master());
  ASSERT_TRUE(cluster_.start_agent(0, small_agent()));
  RawFramework framework(peers_, cluster_.endpoint(), "amounts");
  ASSERT_EQ(framework.subscribe(subscribe_message("amounts")), "");
  auto offer = framework.next_offer();
  ASSERT_TRUE(offer);

  struct Bad {
    TaskInfo info;
    std::string message;
  };
  auto with = [](const std::string& id, const std::string& name, double value, double mem = 16) {
    TaskInfo t = task(id, "sleep 60", 0.1, mem);
    t.resources.scalars[name] = value;
    return t;
  };
  std::vector<Bad> bad = {
      {with("nan", "cpus", std::nan("")), "the amount nan is not a finite number"},
      {with("inf", "cpus", std::numeric_limits<double>::infinity()),
       "the amount inf is not a finite number"},
      {with("huge-cpus", "cpus", 1e300), "the amount 1e+300 is above the maximum 1e+10"},
      {with("huge-mem", "mem", 1e19), "the amount 1e+19 is above the maximum 1e+10"},
      {with("tiny", "cpus", 0.0004, 0), "the amount 0.0004 rounds to nothing in the unit 0.001"},
      {with("negative", "mem", -1), "the amount -1 is negative"},
  };
  TaskInfo grace = task("grace", "sleep 60");
  grace.kill_grace_seconds = std::nan("");
  bad.push_back({grace, "kill_grace_seconds must be a finite, non-negative number of seconds"});
  TaskInfo ports = task("ports", "sleep 60");
  ports.resources.ranges["ports"] = {{70000, 70001}};
  bad.push_back({ports, "goes past the largest port 65535"});

  std::vector<TaskInfo> tasks;
  for (const auto& b : bad) tasks.push_back(b.info);
  tasks.push_back(task("good", "true", 0.5, 16));
  framework.accept({offer->offer_id}, tasks);

  for (const auto& b : bad) {
    const std::string& id = b.info.task_id;
    ASSERT_TRUE(framework.wait_for_state(id, state::kError)) << id;
    const TaskStatus status = framework.updates_of(id).back();
    EXPECT_EQ(status.reason, reason::kTaskInvalid) << id;
    EXPECT_NE(status.message.find(b.message), std::string::npos) << id << ": " << status.message;
    EXPECT_FALSE(framework.saw(id, state::kStarting)) << id;
  }
  ASSERT_TRUE(framework.wait_for_state("good", state::kFinished)) << cluster_.agent(0).output();
  // Everything came back: nothing is used, and the whole agent is offered again.
  ASSERT_TRUE(wait_state([](const op::State& s) {
    return s.agents.size() == 1 && s.agents[0].used.empty() &&
           s.agents[0].offered.scalar("cpus") == 2;
  })) << "used "
      << last.agents[0].used.to_string() << ", offered " << last.agents[0].offered.to_string();
}

// --- Task ids (item 5) and the master's view of a task (item 7) ---------------------------

// A relaunch under an id whose terminal update was not acknowledged was taken by the agent for
// a duplicate, and the first run's resent TASK_FINISHED was matched to it: exit 0 for a
// command that never ran. Meanwhile the master showed TASK_STARTING with the resources in use.
TEST_F(MasterHostile, ATaskIdStaysTakenUntilItsEndIsAcknowledged) {
  ASSERT_TRUE(cluster_.start_master());
  ASSERT_TRUE(cluster_.start_agent(0, small_agent("status_update_retry_ms = 100\n"
                                                  "status_update_retry_max_ms = 200\n")));
  RawFramework framework(peers_, cluster_.endpoint(), "reuse");
  framework.auto_acknowledge = false;
  ASSERT_EQ(framework.subscribe(subscribe_message("reuse")), "");
  auto offer = framework.next_offer();
  ASSERT_TRUE(offer);
  framework.accept({offer->offer_id}, {task("dup", "echo first run", 1, 16)});
  ASSERT_TRUE(framework.wait_for_state("dup", state::kStarting));

  // Unacknowledged, the agent resends TASK_STARTING; the master follows the agent's latest
  // state: the task has finished and its resources are free.
  ASSERT_TRUE(wait_state([](const op::State& s) {
    const op::TaskState* dup = task_named(s, "dup");
    return dup && dup->state == state::kFinished && s.agents.size() == 1 &&
           s.agents[0].used.empty() && s.frameworks.size() == 1 &&
           s.frameworks[0].active_tasks == 0;
  })) << cluster_.master().output();
  for (const auto& status : framework.updates_of("dup")) EXPECT_EQ(status.state, state::kStarting);

  // Relaunched under the same id: refused while the first run's end is unacknowledged.
  auto second = framework.next_offer();
  ASSERT_TRUE(second);
  framework.accept({second->offer_id}, {task("dup", "echo second run", 1, 16)});
  ASSERT_TRUE(framework.wait_for_state("dup", state::kError)) << cluster_.master().output();
  EXPECT_EQ(framework.updates_of("dup").back().reason, reason::kTaskInvalid);
  EXPECT_EQ(framework.updates_of("dup").back().message,
            "task id 'dup' is still in use: the framework has not acknowledged its terminal "
            "update");

  // Acknowledged to the end, the first run finishes for the framework, once.
  framework.auto_acknowledge = true;
  for (const auto& status : framework.updates_of("dup")) {
    if (!status.uuid.empty()) framework.acknowledge(status);
  }
  ASSERT_TRUE(framework.wait_for_state("dup", state::kFinished));
  size_t first_run_end = framework.updates.size();

  // Now the id is free: a relaunch runs, with its own updates.
  auto third = framework.next_offer();
  ASSERT_TRUE(third);
  framework.accept({third->offer_id}, {task("dup", "echo third run", 1, 16)});
  ASSERT_TRUE(peers_.run_until([&] {
    for (size_t i = first_run_end; i < framework.updates.size(); ++i) {
      if (framework.updates[i].task_id == "dup" && framework.updates[i].state == state::kFinished)
        return true;
    }
    return false;
  })) << cluster_.master().output();
  std::vector<std::string> states;
  for (size_t i = first_run_end; i < framework.updates.size(); ++i) {
    if (framework.updates[i].task_id == "dup") states.push_back(framework.updates[i].state);
  }
  EXPECT_EQ(states.front(), state::kStarting);
  EXPECT_EQ(std::count(states.begin(), states.end(), state::kFinished), 1);
  EXPECT_EQ(std::count(states.begin(), states.end(), state::kError), 0);
  // Its finish is its own: the third run's command ran (the second one never did).
  std::vector<std::string> outputs;
  for (const auto& entry :
       std::filesystem::recursive_directory_iterator(dir_ / "agent0" / "agent" / "sandboxes")) {
    if (entry.path().filename() == "stdout") {
      outputs.push_back(tessera::testing::read_file(entry.path()));
    }
  }
  std::sort(outputs.begin(), outputs.end());
  EXPECT_EQ(outputs, (std::vector<std::string>{"first run\n", "third run\n"}));
}

// An agent that reported a task ended (its latest state, on an update still waiting for the
// framework's acknowledgement) and then died never sends the terminal update: when the master
// removes the agent, the framework hears the end from the master. The master used to forget the
// task, and the framework saw it starting forever.
TEST_F(MasterHostile, ATaskThatEndedOnAnAgentRemovedBeforeItsFinalUpdateEndsForTheFramework) {
  ASSERT_TRUE(cluster_.start_master());
  ASSERT_TRUE(cluster_.start_agent(0, small_agent("status_update_retry_ms = 100\n"
                                                  "status_update_retry_max_ms = 200\n")));
  RawFramework framework(peers_, cluster_.endpoint(), "unacked");
  framework.auto_acknowledge = false;
  ASSERT_EQ(framework.subscribe(subscribe_message("unacked")), "");
  auto offer = framework.next_offer();
  ASSERT_TRUE(offer);
  framework.accept({offer->offer_id}, {task("quick", "true", 1, 16)});
  ASSERT_TRUE(framework.wait_for_state("quick", state::kStarting));
  ASSERT_TRUE(wait_state([](const op::State& s) {
    const op::TaskState* quick = task_named(s, "quick");
    return quick && quick->state == state::kFinished;
  })) << cluster_.master().output();

  cluster_.agent(0).signal(SIGKILL);
  ASSERT_TRUE(cluster_.agent(0).wait().has_value());
  ASSERT_TRUE(framework.wait_for_state("quick", state::kFinished)) << cluster_.master().output();
  const TaskStatus end = framework.updates_of("quick").back();
  EXPECT_EQ(end.source, tessera::protocol::source::kMaster);
  EXPECT_EQ(end.reason, reason::kAgentRemoved);
  EXPECT_NE(end.message.find("before it sent the task's TASK_FINISHED update"), std::string::npos)
      << end.message;
  // Nothing is left to acknowledge: the task is over and its id free.
  EXPECT_TRUE(end.uuid.empty());
  ASSERT_TRUE(wait_state([](const op::State& s) {
    const op::TaskState* quick = task_named(s, "quick");
    return s.agents.empty() && s.active_tasks == 0 && quick && quick->state == state::kFinished;
  })) << cluster_.master().output();
}

// --- Agents speak only for themselves (item 6) --------------------------------------------

TEST_F(MasterHostile, AnAgentCannotSpeakForAnotherAgentsTask) {
  ASSERT_TRUE(cluster_.start_master());
  ASSERT_TRUE(cluster_.start_agent(0));
  std::string real = agent_id("agent0");
  RawFramework framework(peers_, cluster_.endpoint(), "victim");
  ASSERT_EQ(framework.subscribe(subscribe_message("victim")), "");
  launch_on(framework, real, {task("victim", "sleep 60")});
  ASSERT_TRUE(framework.wait_for_state("victim", state::kRunning));

  // A registered agent (not the one the task runs on) reports it finished.
  RawAgent hostile(peers_, cluster_.endpoint(), "hostile");
  agent_msg::Register join;
  join.hostname = "hostile";
  join.resources.scalars = {{"cpus", 1}, {"mem", 64}};
  auto joined = hostile.register_as(join);
  ASSERT_TRUE(joined && joined->is<agent_msg::Registered>()) << cluster_.master().output();
  TaskStatus forged;
  forged.task_id = "victim";
  forged.framework_id = framework.id();
  forged.agent_id = real;  // it may name any agent; the master takes the sender's id
  forged.state = state::kFinished;
  forged.source = tessera::protocol::source::kExecutor;
  forged.uuid = "forged";
  forged.exit_code = 0;
  hostile.send_update(hostile.id, forged);
  ASSERT_TRUE(peers_.run_until([&] {
    return cluster_.master().output().find("agent " + hostile.id +
                                           " sent a status update for task 'victim'") !=
           std::string::npos;
  })) << cluster_.master().output();
  // Sent as the real agent from the hostile connection: not even looked at.
  hostile.send_update(real, forged);
  ASSERT_TRUE(peers_.run_until([&] {
    return cluster_.master().output().find("from unregistered agent '" + real + "' ignored") !=
           std::string::npos;
  })) << cluster_.master().output();

  // It re-registers claiming the task, from a new connection (on its own, a registration is
  // taken as a resend, answered again and not looked at): the task stays where it runs.
  agent_msg::Register claim = join;
  claim.agent_id = hostile.id;
  claim.secret = joined->body<agent_msg::Registered>()->secret;
  claim.tasks.push_back({framework.id(), task("victim", "sleep 60"), state::kRunning, ""});
  RawAgent reconnected(peers_, cluster_.endpoint(), "hostile");
  auto reclaimed = reconnected.register_as(claim);
  ASSERT_TRUE(reclaimed && reclaimed->is<agent_msg::Registered>()) << cluster_.master().output();
  EXPECT_TRUE(cluster_.master().wait_for("agent " + hostile.id + " reports task 'victim'"))
      << cluster_.master().output();

  EXPECT_FALSE(framework.saw("victim", state::kFinished));
  op::State s = state();
  const op::TaskState* victim = task_named(s, "victim");
  ASSERT_NE(victim, nullptr);
  EXPECT_EQ(victim->state, state::kRunning);
  EXPECT_EQ(victim->agent_id, real);
  const auto* hostile_state = agent_named(s, "hostile");
  ASSERT_NE(hostile_state, nullptr);
  EXPECT_TRUE(hostile_state->used.empty());
}

// A process registering with a live agent's id replaced it, and the real agent's tasks became
// TASK_LOST. Now the id is taken only with the secret the master gave the agent, which the agent
// keeps in its work dir and which survives a master restart.
TEST_F(MasterHostile, ARegistrationUnderALiveAgentsIdWithoutItsSecretIsRefused) {
  ASSERT_TRUE(cluster_.start_master());
  ASSERT_TRUE(cluster_.start_agent(0));
  std::string real = agent_id("agent0");
  RawFramework framework(peers_, cluster_.endpoint(), "owner");
  ASSERT_EQ(framework.subscribe(subscribe_message("owner", 3600)), "");
  launch_on(framework, real, {task("precious", "sleep 60")});
  ASSERT_TRUE(framework.wait_for_state("precious", state::kRunning));

  // The secret is the agent's alone.
  auto secret_file = dir_ / "agent0" / "agent" / "agent_secret";
  struct stat info {};
  ASSERT_EQ(::stat(secret_file.c_str(), &info), 0) << secret_file;
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  std::string secret = tessera::testing::read_file(secret_file);
  EXPECT_EQ(secret.size(), 65u);  // 64 hex digits and a newline

  auto impostor_refused = [&](const std::string& presented, const std::string& why) {
    RawAgent impostor(peers_, cluster_.endpoint(), "impostor");
    agent_msg::Register message;
    message.agent_id = real;
    message.hostname = "impostor";
    message.resources.scalars = {{"cpus", 1}, {"mem", 64}};
    message.secret = presented;
    auto reply = impostor.register_as(message);
    if (!reply) return ::testing::AssertionFailure() << reply.error().message;
    auto refused = reply->body<agent_msg::Refused>();
    if (!reply->is<agent_msg::Refused>() || !refused) {
      return ::testing::AssertionFailure() << "answered '" << reply->type() << "'";
    }
    if (refused->reason.find(why) == std::string::npos) {
      return ::testing::AssertionFailure() << refused->reason;
    }
    return ::testing::AssertionSuccess();
  };
  EXPECT_TRUE(impostor_refused("", "it names agent '" + real + "' but presents no secret"));
  EXPECT_TRUE(impostor_refused(std::string(64, 'f'),
                               "it names agent '" + real + "' but its secret is not that agent's"));

  // The real agent was not touched.
  op::State s = state();
  ASSERT_EQ(s.agents.size(), 1u);
  EXPECT_EQ(s.agents[0].hostname, "agent0");
  EXPECT_TRUE(s.agents[0].active);
  EXPECT_EQ(task_named(s, "precious")->state, state::kRunning);
  EXPECT_FALSE(framework.saw("precious", state::kLost));

  // After a master restart the registry still knows the secret: the real agent re-registers
  // with it, and an impostor is still refused.
  ASSERT_TRUE(cluster_.restart_master());
  ASSERT_TRUE(wait_state([&](const op::State& now) {
    return now.agents.size() == 1 && now.agents[0].agent_id == real && now.agents[0].active;
  })) << cluster_.master().output()
      << cluster_.agent(0).output();
  EXPECT_TRUE(impostor_refused("", "presents no secret"));
  EXPECT_EQ(tessera::testing::read_file(secret_file), secret);
  EXPECT_EQ(cluster_.agent(0).count("refused"), 0u) << cluster_.agent(0).output();
}

// Resources an agent registers with pass the same check as a framework's.
TEST_F(MasterHostile, AnAgentRegisteringWithAmountsThatAreNotAmountsIsRefused) {
  ASSERT_TRUE(cluster_.start_master());
  for (auto [name, value] : std::vector<std::pair<std::string, double>>{
           {"cpus", std::nan("")}, {"mem", 1e19}, {"cpus", -4}}) {
    RawAgent agent(peers_, cluster_.endpoint(), "bad-" + name);
    agent_msg::Register message;
    message.hostname = "bad";
    message.resources.scalars = {{"cpus", 1}, {"mem", 64}};
    message.resources.scalars[name] = value;
    auto reply = agent.register_as(message);
    ASSERT_TRUE(reply) << reply.error().message;
    ASSERT_TRUE(reply->is<agent_msg::Refused>()) << reply->type();
    EXPECT_NE(reply->body<agent_msg::Refused>()->reason.find(
                  "its resources are invalid: resource '" + name + "': the amount"),
              std::string::npos)
        << reply->body<agent_msg::Refused>()->reason;
  }
  EXPECT_TRUE(state().agents.empty());
}

// An agent that resends its first registration before the answer came (the registry write can
// outlast its retry on a loaded machine) is one agent: every answer names the same id and
// secret, and the master lists one agent, not one per registration that offers would go to.
TEST_F(MasterHostile, AFirstRegistrationResentBeforeItsAnswerMakesOneAgent) {
  ASSERT_TRUE(cluster_.start_master());
  RawAgent agent(peers_, cluster_.endpoint(), "hasty");
  agent_msg::Register message;
  message.hostname = "hasty";
  message.resources.scalars = {{"cpus", 1}, {"mem", 64}};
  std::vector<agent_msg::Registered> answers;
  for (int i = 0; i < 3; ++i) {
    agent.client().request(
        message,
        [&](tessera::Result<Envelope> reply) {
          if (reply && reply->is<agent_msg::Registered>()) {
            answers.push_back(*reply->body<agent_msg::Registered>());
          }
        },
        10s);
  }
  ASSERT_TRUE(peers_.run_until([&] { return answers.size() == 3; }, 15s))
      << answers.size() << " answer(s)\n"
      << cluster_.master().output();
  for (const auto& answer : answers) {
    EXPECT_EQ(answer.agent_id, answers[0].agent_id);
    EXPECT_EQ(answer.secret, answers[0].secret);
  }
  EXPECT_FALSE(answers[0].secret.empty());
  EXPECT_EQ(state().agents.size(), 1u);
}

}  // namespace

namespace {

// --- Usage (issue 9, item 2) ---------------------------------------------------------------

// An agent's usage report is kept only for its own tasks, only with amounts that are amounts,
// and only when it is not oversized; the rest is ignored and the master serves on.
TEST_F(MasterHostile, UsageIsKeptOnlyForTheSendersOwnTasksAndOnlyWhenItsAmountsAreAmounts) {
  ASSERT_TRUE(cluster_.start_master());
  ASSERT_TRUE(cluster_.start_agent(0));
  std::string real = agent_id("agent0");
  RawAgent hostile(peers_, cluster_.endpoint(), "hostile");
  agent_msg::Register join;
  join.hostname = "hostile";
  join.resources.scalars = {{"cpus", 1}, {"mem", 64}};
  auto joined = hostile.register_as(join);
  ASSERT_TRUE(joined && joined->is<agent_msg::Registered>()) << cluster_.master().output();
  RawFramework framework(peers_, cluster_.endpoint(), "fw");
  ASSERT_EQ(framework.subscribe(subscribe_message("fw")), "");
  launch_on(framework, real, {task("victim", "sleep 60")});
  ASSERT_TRUE(framework.wait_for_state("victim", state::kRunning));
  // A task on the hostile agent, which never runs it: the master holds it as staging.
  launch_on(framework, hostile.id, {task("own", "sleep 60")});
  ASSERT_TRUE(wait_state([](const op::State& s) { return task_named(s, "own") != nullptr; }));

  auto report = [&](const std::string& agent, const std::string& task_id,
                    tessera::protocol::ResourceUsage usage) {
    hostile.client().send(agent_msg::Usage{agent, {{framework.id(), task_id, usage}}});
  };
  auto ignored = [&](const std::string& line) {
    return peers_.run_until(
        [&] { return cluster_.master().output().find(line) != std::string::npos; });
  };
  const double now = 1.8e9;
  // Another agent's task, as itself and as that agent.
  report(hostile.id, "victim", {1, 1000, 2000, now});
  EXPECT_TRUE(ignored("usage from agent '" + hostile.id + "': 1 of 1 entries"))
      << cluster_.master().output();
  report(real, "victim", {1, 1000, 2000, now});
  EXPECT_TRUE(ignored("usage from unregistered agent '" + real + "' ignored"))
      << cluster_.master().output();
  // Its own task, with amounts that are not amounts.
  size_t before = cluster_.master().count("entries name none of its tasks or hold amounts");
  for (auto bad : std::vector<tessera::protocol::ResourceUsage>{
           {std::numeric_limits<double>::quiet_NaN(), 1, 1, now},
           {std::numeric_limits<double>::infinity(), 1, 1, now},
           {-5, 1, 1, now},
           {1, -2, 1, now},
           {1, 1, std::numeric_limits<int64_t>::min(), now},
           {1, 1, 1, std::numeric_limits<double>::quiet_NaN()},
           {1, 1, 1, -1}}) {
    report(hostile.id, "own", bad);
  }
  EXPECT_TRUE(peers_.run_until([&] {
    return cluster_.master().count("entries name none of its tasks or hold amounts") >= before + 7;
  })) << cluster_.master().output();
  // More entries than a report may hold.
  agent_msg::Usage oversized{hostile.id, {}};
  oversized.tasks.resize(agent_msg::Usage::kMaxTasks + 1, {framework.id(), "own", {1, 1, 1, now}});
  hostile.client().send(oversized);
  EXPECT_TRUE(ignored("usage from agent '" + hostile.id + "' lists 1001 tasks, more than 1000"))
      << cluster_.master().output();
  // The real agent reports its task's usage itself; none of the hostile reports shows.
  op::State s = state();
  EXPECT_NE(task_named(s, "victim")->usage.mem_bytes, 1000);
  EXPECT_EQ(task_named(s, "own")->usage.timestamp, 0);

  // What is right is kept: the latest report, -1 (not measured) included.
  report(hostile.id, "own", {2.5, 4096, -1, now});
  ASSERT_TRUE(wait_state([&](const op::State& st) {
    const op::TaskState* own = task_named(st, "own");
    return own != nullptr && own->usage.timestamp == now;
  })) << cluster_.master().output();
  const op::TaskState* own = task_named(last, "own");
  EXPECT_EQ(own->usage.cpu_seconds, 2.5);
  EXPECT_EQ(own->usage.mem_bytes, 4096);
  EXPECT_EQ(own->usage.mem_peak_bytes, -1);
  EXPECT_NE(task_named(last, "victim")->usage.mem_bytes, 1000);
}

// --- State summaries (issue 13) ----------------------------------------------------------------

// An operator peer may ask for the state summary against any version with agents_delta: the
// answer is the whole summary, that it is unchanged, or only the agents whose views changed
// since that version (when none came or went), and those, put into the summary of that version,
// give the summary the master gives whole at the same version. An agent that comes makes the
// next answer whole.
TEST_F(MasterHostile, AStateSummaryAgainstAnyVersionIsWholeOrOnlyTheAgentsThatChanged) {
  ASSERT_NO_FATAL_FAILURE(start_two_agents());
  auto& reader = peers_.connect(cluster_.endpoint(), "summary-reader");
  auto summary = [&](uint64_t known, bool delta) {
    return summary_for(reader, {.known_version = known, .agents_delta = delta});
  };
  op::StateSummary first = summary(0, false);
  ASSERT_EQ(first.state.agents.size(), 2u);
  ASSERT_GT(first.version, 0u);
  for (uint64_t known :
       {uint64_t{1}, first.version, first.version + 1000, std::numeric_limits<uint64_t>::max()}) {
    op::StateSummary s = summary(known, true);
    if (s.unchanged) {
      EXPECT_EQ(s.version, known);
    } else if (s.agents_since != 0) {
      EXPECT_EQ(s.agents_since, known);
      EXPECT_LT(known, s.version);
    } else {
      EXPECT_EQ(s.state.agents.size(), 2u) << known;
    }
  }

  // A task changes agent0's view.
  std::string agent0 = agent_id("agent0");
  RawFramework framework(peers_, cluster_.endpoint(), "summaries");
  ASSERT_EQ(framework.subscribe(subscribe_message("summaries")), "");
  launch_on(framework, agent0, {task("t", "sleep 60")});
  ASSERT_TRUE(framework.wait_for_state("t", state::kRunning));
  bool compared = false;
  uint64_t latest = 0;
  for (int i = 0; i < 20 && !compared; ++i) {
    op::StateSummary whole = summary(0, false);
    op::StateSummary changed = summary(first.version, true);
    latest = changed.version;
    if (changed.version != whole.version) continue;  // the state moved in between
    ASSERT_EQ(changed.agents_since, first.version);
    std::vector<op::AgentState> merged = first.state.agents;
    bool named_agent0 = false;
    for (const op::AgentState& view : changed.state.agents) {
      named_agent0 |= view.agent_id == agent0;
      auto it = std::find_if(merged.begin(), merged.end(),
                             [&](const op::AgentState& a) { return a.agent_id == view.agent_id; });
      ASSERT_NE(it, merged.end()) << view.agent_id;
      *it = view;
    }
    EXPECT_TRUE(named_agent0);
    EXPECT_EQ(packed(merged), packed(whole.state.agents));
    compared = true;
  }
  EXPECT_TRUE(compared) << "the state never held still for two summaries";

  // An agent comes: the next answer against an earlier version is whole.
  RawAgent late(peers_, cluster_.endpoint(), "late");
  agent_msg::Register join;
  join.hostname = "late";
  join.resources.scalars = {{"cpus", 1}, {"mem", 64}};
  auto joined = late.register_as(join);
  ASSERT_TRUE(joined && joined->is<agent_msg::Registered>()) << cluster_.master().output();
  op::StateSummary after = summary(latest, true);
  EXPECT_EQ(after.agents_since, 0u);
  EXPECT_EQ(after.state.agents.size(), 3u);
  EXPECT_EQ(state().agents.size(), 3u);
}

// The master brings the summary's agents up to date from marks (only the agents whose views
// it changed are looked at) and keeps what the roles and executors take from every agent: after
// each kind of change, the summary's agents, roles and executors are those of the whole state
// taken afresh (operator.get_state).
TEST_F(MasterHostile, AStateSummaryShowsTheAgentsAndRolesOfTheWholeStateAfterEachKindOfChange) {
  ASSERT_NO_FATAL_FAILURE(start_two_agents());
  auto& reader = peers_.connect(cluster_.endpoint(), "summary-reader");
  auto summary = [&] { return summary_for(reader, {}); };
  // Compares when the summary's version is the same before and after the whole state was
  // taken: nothing changed in between.
  auto agrees = [&](const std::string& after) {
    for (int i = 0; i < 50; ++i) {
      op::StateSummary before = summary();
      op::State whole = state();
      op::StateSummary s = summary();
      if (s.version != before.version) continue;
      EXPECT_EQ(packed(s.state.agents), packed(whole.agents)) << "after " << after;
      EXPECT_EQ(packed(s.state.roles), packed(whole.roles)) << "after " << after;
      EXPECT_EQ(packed(s.state.executors), packed(whole.executors)) << "after " << after;
      EXPECT_EQ(s.state.agents.size(), whole.agents.size()) << "after " << after;
      return;
    }
    ADD_FAILURE() << "the state never held still for two summaries, after " << after;
  };
  agrees("two agents registered");

  RawFramework framework(peers_, cluster_.endpoint(), "marks");
  ASSERT_EQ(framework.subscribe(subscribe_message("marks")), "");
  auto first_offer = framework.next_offer();
  ASSERT_TRUE(first_offer.has_value());
  agrees("offers made");
  framework.decline({first_offer->offer_id}, 0.05);

  std::string agent0 = agent_id("agent0");
  launch_on(framework, agent0, {task("t", "sleep 60")});
  ASSERT_TRUE(framework.wait_for_state("t", state::kRunning));
  agrees("a task started (and offers declined)");
  ASSERT_TRUE(wait_state([&](const op::State& s) {
    const op::AgentState* a = agent_named(s, "agent0");
    return a != nullptr && a->used.scalar("cpus") > 0;
  }));

  // agent1 goes away: unreachable after the ping timeout, then removed. The task's role's share
  // is of the active agents' totals, which change each time.
  std::string agent1 = agent_id("agent1");
  cluster_.drop_agent(1);
  ASSERT_TRUE(wait_state([&](const op::State& s) {
    const op::AgentState* a = agent_named(s, "agent1");
    return a != nullptr && !a->active;
  }));
  agrees("an agent unreachable");
  ASSERT_TRUE(wait_state([&](const op::State& s) { return s.agents.size() == 1; }));
  agrees("an agent removed");

  RawAgent late(peers_, cluster_.endpoint(), "late");
  agent_msg::Register join;
  join.hostname = "late";
  join.resources.scalars = {{"cpus", 3}, {"mem", 64}, {"disk", 5}};
  auto joined = late.register_as(join);
  ASSERT_TRUE(joined && joined->is<agent_msg::Registered>()) << cluster_.master().output();
  agrees("an agent registered");

  framework.kill("t");
  ASSERT_TRUE(framework.wait_for_state("t", state::kKilled));
  agrees("the task killed");
  op::StateSummary last_summary = summary();
  ASSERT_EQ(last_summary.state.agents.size(), 2u);
}

// With offers_delta, an answer against an earlier version lists only the offers made since and
// names those gone since; put into the offers of that version they give the offers the master
// gives whole at the same version. Against a version the master never gave, the answer is whole.
TEST_F(MasterHostile, AStateSummaryAgainstAnEarlierVersionListsOnlyTheOffersMadeAndGoneSince) {
  ASSERT_NO_FATAL_FAILURE(start_two_agents());
  auto& reader = peers_.connect(cluster_.endpoint(), "offers-reader");
  auto summary = [&](uint64_t known, bool delta) {
    return summary_for(reader, {.known_version = known, .offers_delta = delta});
  };
  // The framework holds one offer of each agent.
  RawFramework framework(peers_, cluster_.endpoint(), "offers");
  ASSERT_EQ(framework.subscribe(subscribe_message("offers")), "");
  std::optional<scheduler::Offer> held[2] = {framework.next_offer(), framework.next_offer()};
  ASSERT_TRUE(held[0] && held[1]) << cluster_.master().output();
  op::StateSummary first = summary(0, false);
  ASSERT_EQ(first.state.offers.size(), 2u);
  for (uint64_t known : {first.version + 1000, std::numeric_limits<uint64_t>::max()}) {
    op::StateSummary s = summary(known, true);
    EXPECT_EQ(s.offers_since, 0u) << known;
    EXPECT_EQ(s.state.offers.size(), 2u) << known;
    EXPECT_TRUE(s.offers_gone.empty()) << known;
  }
  {
    // Nothing about the offers changed since: unchanged, or (if an agent's view moved) a delta
    // that lists no offer and names none gone.
    op::StateSummary same = summary(first.version, true);
    EXPECT_TRUE(same.unchanged || (same.offers_since == first.version &&
                                   same.state.offers.empty() && same.offers_gone.empty()));
  }

  // One offer is declined and made again under a new id.
  framework.decline({held[0]->offer_id}, 0);
  auto again = framework.next_offer();
  ASSERT_TRUE(again) << cluster_.master().output();
  ASSERT_NE(again->offer_id, held[0]->offer_id);
  bool compared = false;
  for (int i = 0; i < 20 && !compared; ++i) {
    op::StateSummary whole = summary(0, false);
    op::StateSummary changed = summary(first.version, true);
    if (changed.version != whole.version) continue;  // the state moved in between
    ASSERT_EQ(changed.offers_since, first.version);
    EXPECT_EQ(changed.agents_since, 0u);  // not asked for: the agents are whole
    EXPECT_EQ(changed.state.agents.size(), 2u);
    EXPECT_EQ(changed.offers_gone, std::vector<std::string>{held[0]->offer_id});
    ASSERT_EQ(changed.state.offers.size(), 1u);
    EXPECT_EQ(changed.state.offers[0].offer_id, again->offer_id);
    std::map<std::string, scheduler::Offer> merged;
    for (const auto& offer : first.state.offers) merged[offer.offer_id] = offer;
    for (const auto& id : changed.offers_gone) merged.erase(id);
    for (const auto& offer : changed.state.offers) merged[offer.offer_id] = offer;
    std::vector<scheduler::Offer> listed;
    for (auto& [id, offer] : merged) listed.push_back(offer);
    EXPECT_EQ(packed(listed), packed(whole.state.offers));
    // Both deltas asked together: the offers are the same delta, the agents whole or a delta.
    op::StateSummary both = summary_for(
        reader, {.known_version = first.version, .agents_delta = true, .offers_delta = true});
    if (both.version == changed.version) {
      EXPECT_EQ(both.offers_since, first.version);
      EXPECT_EQ(both.offers_gone, changed.offers_gone);
      EXPECT_EQ(packed(both.state.offers), packed(changed.state.offers));
      EXPECT_TRUE(both.agents_since == 0 || both.agents_since == first.version);
    }
    compared = true;
  }
  EXPECT_TRUE(compared) << "the state never held still for two summaries";
}

}  // namespace

// The master's units on their own: accept validation and registration checks
// (master/validation.h), the operator snapshot (master/snapshot.h), and the registry
// (master/registry.h) against a scripted leader plugin and its store (fake_leader.h).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "fake_leader.h"
#include "master/registry.h"
#include "master/snapshot.h"
#include "master/validation.h"
#include "support/loop.h"
#include "tessera/protocol/duration.h"
#include "tessera/protocol/executor.h"
#include "tessera/sdk/leadership.h"
#include "tessera/sdk/logger.h"

namespace {

using namespace std::chrono_literals;
using namespace tessera::host::master;
namespace protocol = tessera::protocol;
namespace sdk = tessera::sdk;
namespace state = protocol::state;
namespace reason = protocol::reason;
using tessera::testing::FakeLeader;

protocol::Resources resources(double cpus, double mem) {
  protocol::Resources r;
  r.scalars["cpus"] = cpus;
  r.scalars["mem"] = mem;
  return r;
}

protocol::TaskInfo task(const std::string& id, double cpus = 1, double mem = 64) {
  protocol::TaskInfo t;
  t.task_id = id;
  t.name = id;
  t.resources = resources(cpus, mem);
  t.command.value = "sleep 1";
  t.kill_grace_seconds = 1;
  return t;
}

// A master's state with one framework, two agents and offers on them.
struct World {
  World() {
    framework.id = "f1";
    other.id = "f2";
    for (const char* id : {"a1", "a2"}) {
      Agent& agent = agents[id];
      agent.id = id;
      agent.total = resources(4, 1024);
    }
    offer("o1", "f1", "a1", resources(1, 128));
    offer("o2", "f1", "a1", resources(2, 256));
    offer("o3", "f1", "a2", resources(1, 128));
    offer("o4", "f2", "a1", resources(1, 128));
  }
  void offer(const std::string& id, const std::string& framework_id, const std::string& agent_id,
             const protocol::Resources& r) {
    Offer& o = offers[id];
    o.offer.offer_id = id;
    o.offer.framework_id = framework_id;
    o.offer.agent_id = agent_id;
    o.offer.role = "web";
    o.offer.resources = r;
    agents[agent_id].offers.insert(id);
    for (Framework* holder : {&framework, &other}) {
      if (holder->id == framework_id) holder->offers.insert(id);
    }
  }
  Framework framework, other;
  std::map<std::string, Agent> agents;
  std::map<std::string, Offer> offers;
  std::map<std::string, Task> tasks;
};

// The World as a master's snapshot source, with framework f1 and nothing finished.
// A value's msgpack bytes, to compare two values whole.
template <typename T>
std::string packed(const T& value) {
  msgpack::sbuffer buffer;
  msgpack::pack(buffer, value);
  return {buffer.data(), buffer.size()};
}

struct SnapshotWorld : World {
  std::map<std::string, Framework> frameworks{{"f1", framework}};
  std::string master_id = "m", endpoint = "tcp://x";
  std::deque<protocol::operator_api::TaskState> completed;
  std::map<std::string, RoleSettings> settings;
  SnapshotSource source() {
    return {master_id, endpoint, agents, frameworks, tasks, offers, completed, settings};
  }
};

// --- Accept validation -------------------------------------------------------------------------

TEST(GatherOffers, OffersOfOneAgentAddUp) {
  World w;
  GatheredOffers g = gather_offers(w.framework, {"o1", "o2"}, w.offers, w.agents);
  EXPECT_EQ(g.problem, "");
  EXPECT_EQ(g.agent_id, "a1");
  EXPECT_EQ(g.role, "web");
  EXPECT_DOUBLE_EQ(g.available.scalar("cpus"), 3);
  EXPECT_DOUBLE_EQ(g.available.scalar("mem"), 384);
  EXPECT_EQ(g.usable, (std::vector<std::string>{"o1", "o2"}));
}

TEST(GatherOffers, EachWrongOfferIsNamedAndTheUsableOnesAreStillUsedUp) {
  World w;
  auto named_twice = gather_offers(w.framework, {"o1", "o1"}, w.offers, w.agents);
  EXPECT_EQ(named_twice.problem, "offer 'o1' is named twice");
  EXPECT_EQ(named_twice.reason, reason::kInvalidOffers);
  // Counted once: an offer named twice must not count its resources twice.
  EXPECT_DOUBLE_EQ(named_twice.available.scalar("cpus"), 1);
  EXPECT_EQ(named_twice.usable, std::vector<std::string>{"o1"});

  EXPECT_EQ(gather_offers(w.framework, {"o1", "gone"}, w.offers, w.agents).problem,
            "offer 'gone' is unknown or was rescinded");
  EXPECT_EQ(gather_offers(w.framework, {"o4"}, w.offers, w.agents).problem,
            "offer 'o4' belongs to another framework");
  auto split = gather_offers(w.framework, {"o1", "o3"}, w.offers, w.agents);
  EXPECT_EQ(split.problem, "offers 'o1' and 'o3' are on different agents");
  EXPECT_EQ(split.usable, std::vector<std::string>{"o1"});
  EXPECT_EQ(gather_offers(w.framework, {}, w.offers, w.agents).problem, "an accept names no offer");
}

TEST(GatherOffers, AnUnreachableOrUnknownAgentIsAgentUnknown) {
  World w;
  w.agents["a1"].active = false;
  auto unreachable = gather_offers(w.framework, {"o1"}, w.offers, w.agents);
  EXPECT_EQ(unreachable.problem, "agent 'a1' is unknown or unreachable");
  EXPECT_EQ(unreachable.reason, reason::kAgentUnknown);
  w.agents.erase("a2");
  EXPECT_EQ(gather_offers(w.framework, {"o3"}, w.offers, w.agents).reason, reason::kAgentUnknown);
}

TEST(TaskProblem, AValidTaskPassesAndItsKillGraceIsCapped) {
  World w;
  std::set<std::string> ids;
  protocol::TaskInfo t = task("t1");
  t.kill_grace_seconds = 1e9;
  EXPECT_EQ(task_problem(w.framework, t, "a1", resources(2, 128), w.tasks, ids), "");
  EXPECT_DOUBLE_EQ(t.kill_grace_seconds, protocol::limits::kMaxKillGraceSeconds);
  EXPECT_EQ(ids, std::set<std::string>{"t1"});
}

TEST(TaskProblem, EachRuleSaysWhy) {
  World w;
  auto problem = [&](protocol::TaskInfo t,
                     const protocol::Resources& available = resources(2, 128)) {
    std::set<std::string> ids{"seen"};
    return task_problem(w.framework, t, "a1", available, w.tasks, ids);
  };
  EXPECT_EQ(problem(task("")), "task id is empty");
  EXPECT_EQ(problem(task(std::string(kMaxIdBytes + 1, 'x'))), "task id is longer than 256 bytes");
  EXPECT_EQ(problem(task("seen")), "task id 'seen' is given twice in this accept");
  EXPECT_EQ(problem(task("#executor/e1")),
            "task ids starting with '#executor/' are reserved for executors");
  // A task in an executor needs no command of its own, but its executor does.
  protocol::TaskInfo in_executor = task("t1");
  in_executor.command.value.clear();
  in_executor.executor.executor_id = "e1";
  EXPECT_EQ(problem(in_executor), "executor 'e1' has an empty command");
  in_executor.executor.command.value = "./my-executor";
  EXPECT_EQ(problem(in_executor), "");
  in_executor.data = std::string(protocol::TaskInfo::kMaxDataBytes + 1, 'd');
  EXPECT_EQ(problem(in_executor), "task data is larger than 1048576 bytes");
  in_executor.data.clear();
  in_executor.executor.executor_id = std::string(kMaxIdBytes + 1, 'e');
  EXPECT_EQ(problem(in_executor), "executor id is longer than 256 bytes");
  protocol::TaskInfo elsewhere = task("t1");
  elsewhere.agent_id = "a2";
  EXPECT_EQ(problem(elsewhere), "task names agent 'a2' but the offers are on agent 'a1'");
  protocol::TaskInfo nan = task("t1");
  nan.resources.scalars["cpus"] = std::nan("");
  EXPECT_NE(problem(nan).find("task asks for invalid resources: "), std::string::npos);
  protocol::TaskInfo nothing = task("t1");
  nothing.resources = {};
  nothing.resources.scalars["disk"] = 1;
  EXPECT_EQ(problem(nothing), "task asks for neither cpus nor mem");
  protocol::TaskInfo no_command = task("t1");
  no_command.command.value.clear();
  EXPECT_EQ(problem(no_command), "task has an empty command");
  protocol::TaskInfo grace = task("t1");
  grace.kill_grace_seconds = -1;
  EXPECT_NE(problem(grace).find("kill_grace_seconds"), std::string::npos);
  EXPECT_EQ(problem(task("t1", 4)),
            "task asks for cpus:4;mem:64 but the offers have cpus:2;mem:128");
}

TEST(TaskProblem, AnIdStaysInUseUntilItsEndIsAcknowledged) {
  World w;
  Task& running = w.tasks[task_key("f1", "t1")];
  running.info = task("t1");
  std::set<std::string> ids;
  protocol::TaskInfo again = task("t1");
  EXPECT_EQ(task_problem(w.framework, again, "a1", resources(2, 128), w.tasks, ids),
            "task id 't1' is already in use by this framework");
  running.ended = true;
  EXPECT_EQ(task_problem(w.framework, again, "a1", resources(2, 128), w.tasks, ids),
            "task id 't1' is still in use: the framework has not acknowledged its terminal "
            "update");
  // Ids are per framework: another framework may use the same one.
  EXPECT_EQ(task_problem(w.other, again, "a1", resources(2, 128), w.tasks, ids), "");
}

protocol::TaskInfo executor_task(const std::string& id, double executor_cpus = 0.5) {
  protocol::TaskInfo t = task(id, 1, 64);
  t.command.value.clear();
  t.executor.executor_id = "e1";
  t.executor.command.value = "./executor";
  t.executor.resources = resources(executor_cpus, 32);
  return t;
}

TEST(ExecutorProblem, ANewExecutorMustFitWithItsTaskAndALaterTaskTakesOnlyItsOwn) {
  World w;
  bool starts = false;
  protocol::TaskInfo first = executor_task("t1");
  // 1 + 0.5 cpus do not fit in 1.
  EXPECT_EQ(executor_problem(w.agents["a1"], "f1", first, resources(1, 1024), starts),
            "task and its new executor 'e1' ask for cpus:1.5;mem:96 but the offers have "
            "cpus:1;mem:1024");
  EXPECT_EQ(executor_problem(w.agents["a1"], "f1", first, resources(2, 1024), starts), "");
  EXPECT_TRUE(starts);
  w.agents["a1"].executors[executor_key("f1", "e1")] = Executor{first.executor, "f1", "web"};
  // Running: the next task needs only its own share, and the same ExecutorInfo.
  protocol::TaskInfo second = executor_task("t2");
  second.executor.command.environment[protocol::executor::kTokenVariable] = "added by an agent";
  EXPECT_EQ(executor_problem(w.agents["a1"], "f1", second, resources(1, 64), starts), "");
  EXPECT_FALSE(starts);
  protocol::TaskInfo changed = executor_task("t3", 0.75);
  EXPECT_NE(executor_problem(w.agents["a1"], "f1", changed, resources(4, 1024), starts)
                .find("already runs on agent 'a1'"),
            std::string::npos);
  // Another framework's executor of the same id is another executor.
  EXPECT_EQ(executor_problem(w.agents["a1"], "f2", changed, resources(4, 1024), starts), "");
  EXPECT_TRUE(starts);
}

TEST(ExecutorProblem, HostileExecutorValuesAreRefused) {
  World w;
  bool starts = false;
  auto problem = [&](auto change) {
    protocol::TaskInfo t = executor_task("t");
    change(t.executor);
    return executor_problem(w.agents["a1"], "f1", t, resources(4, 1024), starts);
  };
  double nan = std::numeric_limits<double>::quiet_NaN();
  double inf = std::numeric_limits<double>::infinity();
  for (double bad : {-1.0, nan, inf}) {
    EXPECT_NE(problem([&](protocol::ExecutorInfo& e) {
                e.resources.scalars["cpus"] = bad;
              }).find("executor 'e1' asks for invalid resources"),
              std::string::npos)
        << bad;
    EXPECT_NE(problem([&](protocol::ExecutorInfo& e) {
                e.kill_grace_seconds = bad;
              }).find("kill_grace_seconds"),
              std::string::npos)
        << bad;
  }
  // A grace beyond the limit is clamped, as a task's is.
  protocol::TaskInfo t = executor_task("t");
  t.executor.kill_grace_seconds = 1e12;
  EXPECT_EQ(executor_problem(w.agents["a1"], "f1", t, resources(4, 1024), starts), "");
  EXPECT_EQ(t.executor.kill_grace_seconds, protocol::limits::kMaxKillGraceSeconds);
}

TEST(Snapshot, AnExecutorsResourcesAreUsedByItsAgentFrameworkAndRole) {
  World w;
  std::map<std::string, Framework> frameworks{{"f1", w.framework}};
  frameworks["f1"].roles = {"web"};
  protocol::ExecutorInfo executor;
  executor.executor_id = "e1";
  executor.resources = resources(0.5, 32);
  w.agents["a1"].executors[executor_key("f1", "e1")] = Executor{executor, "f1", "web"};
  frameworks["f1"].executors[executor_key("a1", "e1")] = executor.resources;
  std::string master_id = "m", endpoint = "tcp://x";
  std::deque<protocol::operator_api::TaskState> completed;
  std::map<std::string, RoleSettings> settings;
  SnapshotSource source{master_id, endpoint, w.agents,  frameworks,
                        w.tasks,   w.offers, completed, settings};
  auto s = snapshot(source);
  EXPECT_DOUBLE_EQ(s.agents.at(0).used.scalar("cpus"), 0.5);
  EXPECT_DOUBLE_EQ(s.agents.at(1).used.scalar("cpus"), 0);
  EXPECT_DOUBLE_EQ(s.frameworks.at(0).used.scalar("mem"), 32);
  EXPECT_DOUBLE_EQ(metrics(source).used.scalar("cpus"), 0.5);
  ASSERT_EQ(s.roles.size(), 1u);
  EXPECT_DOUBLE_EQ(s.roles.at(0).allocated.scalar("cpus"), 0.5);
}

// The agents' views of a summary, kept between summaries, are byte for byte those of a fresh
// snapshot after each change, and only the changed agents' views are built again.
TEST(Snapshot, KeptAgentViewsEqualAFreshSnapshotAndOnlyChangedOnesAreRebuilt) {
  SnapshotWorld w;
  SnapshotSource source = w.source();
  KeptAgentViews kept;
  // Brings the kept views up to date and checks them against a fresh snapshot's.
  auto rebuilt = [&] {
    TaskSums sums = task_sums(source);
    size_t count = keep_agent_views(source, sums, kept);
    EXPECT_EQ(packed(kept.agents), packed(snapshot(source).agents));
    return count;
  };
  EXPECT_EQ(rebuilt(), 2u);
  EXPECT_EQ(rebuilt(), 0u);

  Task& live = w.tasks[task_key("f1", "t1")];
  live.info = task("t1");
  live.info.agent_id = "a1";
  live.framework_id = "f1";
  live.role = "web";
  w.agents["a1"].tasks.insert(task_key("f1", "t1"));
  w.frameworks["f1"].tasks.insert(task_key("f1", "t1"));
  EXPECT_EQ(rebuilt(), 1u);  // a1 uses the task's resources
  EXPECT_DOUBLE_EQ(kept.agents.at(0).used.scalar("cpus"), 1);

  w.agents["a2"].active = false;
  EXPECT_EQ(rebuilt(), 1u);

  protocol::ExecutorInfo executor;
  executor.executor_id = "e1";
  executor.resources = resources(0.5, 32);
  w.agents["a2"].executors[executor_key("f1", "e1")] = Executor{executor, "f1", "web"};
  EXPECT_EQ(rebuilt(), 1u);
  w.agents["a2"].executors.begin()->second.info.resources = resources(0.25, 32);
  EXPECT_EQ(rebuilt(), 1u);
  EXPECT_DOUBLE_EQ(kept.agents.at(1).used.scalar("cpus"), 0.25);

  w.agents["a1"].offers.erase("o2");
  w.offers.erase("o2");
  EXPECT_EQ(rebuilt(), 1u);
  w.agents["a1"].attributes.push_back(protocol::scheduler::Attribute{"rack", "r1"});
  EXPECT_EQ(rebuilt(), 1u);
  w.agents["a1"].attributes.back().value = "r2";
  EXPECT_EQ(rebuilt(), 1u);
  w.agents["a1"].total.scalars["gpus"] = 1;
  EXPECT_EQ(rebuilt(), 1u);
  w.agents["a1"].hostname = "renamed";
  w.agents["a1"].registered_at = 7;
  EXPECT_EQ(rebuilt(), 1u);

  live.ended = true;  // the task gave its resources back
  EXPECT_EQ(rebuilt(), 1u);
  EXPECT_DOUBLE_EQ(kept.agents.at(0).used.scalar("cpus"), 0);

  // An agent gone and one added before the others.
  w.agents.erase("a2");
  w.agents["a0"].id = "a0";
  EXPECT_EQ(rebuilt(), 1u);
  ASSERT_EQ(kept.agents.size(), 2u);
  EXPECT_EQ(kept.agents.at(0).agent_id, "a0");
  EXPECT_EQ(rebuilt(), 0u);
}

// Sums of resources kept as tasks come and go are exact: the order of additions and removals
// does not show, and what was taken away leaves nothing behind.
TEST(ExactSum, AddsInThousandthsAndTakesAwayWithoutATrace) {
  ExactSum sum;
  for (int i = 0; i < 3; ++i) sum.add(resources(0.1, 64));
  EXPECT_EQ(sum.resources().scalars.at("cpus"), 0.3);  // not 0.30000000000000004
  EXPECT_EQ(sum.resources().scalars.at("mem"), 192);

  protocol::Resources ports;
  ports.ranges["ports"] = {{31000, 31005}, {31003, 31010}};  // overlapping in one holder
  protocol::Resources next;
  next.ranges["ports"] = {{31011, 31020}, {40000, 40000}};  // adjacent to the first
  sum.add(ports);
  sum.add(next);
  sum.add(next);  // two holders of the same ports
  std::vector<protocol::Range> expected{{31000, 31020}, {40000, 40000}};
  EXPECT_EQ(sum.resources().ranges.at("ports"), expected);
  sum.remove(next);  // the other holder still covers them
  EXPECT_EQ(sum.resources().ranges.at("ports"), expected);
  sum.remove(ports);
  expected = {{31011, 31020}, {40000, 40000}};
  EXPECT_EQ(sum.resources().ranges.at("ports"), expected);
  sum.remove(next);
  EXPECT_EQ(sum.resources().ranges.count("ports"), 0u);

  // A name stays while a holder names it, even with nothing in it (as += keeps it).
  protocol::Resources none;
  none.scalars["gpus"] = 0;
  none.ranges["ports"] = {};
  sum.add(none);
  EXPECT_EQ(sum.resources().scalars.at("gpus"), 0);
  EXPECT_TRUE(sum.resources().ranges.at("ports").empty());
  sum.remove(none);
  for (int i = 0; i < 3; ++i) sum.remove(resources(0.1, 64));
  EXPECT_TRUE(sum.resources().scalars.empty());
  EXPECT_TRUE(sum.resources().ranges.empty());

  // Amounts that agents report at registration are each bounded (1e10) but their number is not:
  // a million of the largest sum past 64 bits of thousandths, and still come and go exactly.
  protocol::Resources largest;
  largest.scalars["cpus"] = protocol::limits::kMaxScalar;
  for (int i = 0; i < 1000000; ++i) sum.add(largest);
  EXPECT_EQ(sum.resources().scalars.at("cpus"), 1e16);
  for (int i = 0; i < 1000000; ++i) sum.remove(largest);
  EXPECT_TRUE(sum.resources().scalars.empty());

  // The largest range value has nothing after it to mark, and still counts.
  protocol::Resources top;
  top.ranges["ids"] = {{UINT64_MAX - 1, UINT64_MAX}};
  sum.add(top);
  expected = {{UINT64_MAX - 1, UINT64_MAX}};
  EXPECT_EQ(sum.resources().ranges.at("ids"), expected);
  sum.remove(top);
  EXPECT_TRUE(sum.resources().ranges.empty());
}

// The sums a master keeps as its tasks start, end, move to a re-registered agent and go are,
// after every step of a random sequence, what summing the tasks afresh gives (task_sums), and
// that is what a plain sum per agent, framework and role gives: thousandths added up, ports
// joined.
TEST(TaskLedger, KeptSumsEqualAFreshSumAfterRandomChanges) {
  unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 random(seed);
  auto pick = [&random](size_t n) { return static_cast<size_t>(random() % n); };
  const std::vector<std::string> agents{"a1", "a2", "a3"}, frameworks{"f1", "f2"},
      roles{"*", "web", "batch"};
  std::map<std::string, Agent> agent_map;
  for (const auto& id : agents) agent_map[id].id = id;
  std::map<std::string, Framework> framework_map;
  for (const auto& id : frameworks) framework_map[id].id = id;
  std::map<std::string, Task> tasks;
  std::map<std::string, Offer> offers;
  std::deque<protocol::operator_api::TaskState> completed;
  std::map<std::string, RoleSettings> settings;
  std::string master_id = "m", endpoint = "tcp://x";
  SnapshotSource source{master_id, endpoint, agent_map, framework_map,
                        tasks,     offers,   completed, settings};
  // The plain sums, written out apart from ExactSum.
  auto plain = [&] {
    std::map<std::string, std::map<std::string, int64_t>> thousandths[3];
    std::map<std::string, protocol::Resources> joined[3];
    std::map<std::string, uint64_t> counts;
    for (const auto& [key, t] : tasks) {
      if (t.ended) continue;
      const std::string* keys[3] = {&t.info.agent_id, &t.framework_id, &t.role};
      for (int k = 0; k < 3; ++k) {
        for (const auto& [name, v] : t.info.resources.scalars) {
          thousandths[k][*keys[k]][name] += protocol::Resources::fixed(v);
        }
        protocol::Resources ranges;
        ranges.ranges = t.info.resources.ranges;
        joined[k][*keys[k]] += ranges;
      }
      ++counts[t.framework_id];
    }
    TaskSums sums;
    std::map<std::string, protocol::Resources>* out[3] = {&sums.agents, nullptr, &sums.roles};
    for (int k = 0; k < 3; ++k) {
      for (auto& [key, r] : joined[k]) {
        for (const auto& [name, v] : thousandths[k][key]) r.scalars[name] = v / 1000.0;
        if (k == 1) {
          sums.frameworks[key].used = r;
          sums.frameworks[key].active_tasks = counts[key];
        } else {
          (*out[k])[key] = r;
        }
      }
    }
    return sums;
  };
  auto same = [&](const TaskSums& a, const TaskSums& b) {
    std::map<std::string, std::pair<protocol::Resources, uint64_t>> fa, fb;
    for (const auto& [id, f] : a.frameworks) fa[id] = {f.used, f.active_tasks};
    for (const auto& [id, f] : b.frameworks) fb[id] = {f.used, f.active_tasks};
    return packed(a.agents) == packed(b.agents) && packed(fa) == packed(fb) &&
           packed(a.roles) == packed(b.roles);
  };
  TaskLedger ledger;
  int next = 0;
  for (int step = 0; step < 2000; ++step) {
    size_t what = pick(10);
    if (what < 5 || tasks.empty()) {  // a launch
      Task t;
      t.info = task("t" + std::to_string(++next), 0.001 * static_cast<double>(1 + pick(2000)),
                    static_cast<double>(pick(3) * 32));
      if (pick(3) == 0) t.info.resources.scalars["gpus"] = static_cast<double>(pick(2));
      if (pick(2) == 0) {
        uint64_t begin = 31000 + pick(50);
        t.info.resources.ranges["ports"] = {{begin, begin + pick(5)}};
      }
      t.info.agent_id = agents[pick(agents.size())];
      t.framework_id = frameworks[pick(frameworks.size())];
      t.role = roles[pick(roles.size())];
      std::string key = task_key(t.framework_id, t.info.task_id);
      ledger.add(t);
      tasks[key] = std::move(t);
    } else {
      auto it = std::next(tasks.begin(), static_cast<long>(pick(tasks.size())));
      Task& t = it->second;
      if (what < 7) {  // it ends
        if (!t.ended) {
          t.ended = true;
          ledger.remove(t);
        }
      } else if (what < 9) {  // it goes
        if (!t.ended) ledger.remove(t);
        tasks.erase(it);
      } else if (!t.ended) {  // a re-registering agent reports it
        ledger.remove(t);
        t.info.agent_id = agents[pick(agents.size())];
        ledger.add(t);
      }
    }
    if (pick(10) == 0 || step == 1999) {
      ASSERT_TRUE(same(ledger.sums(), task_sums(source))) << "step " << step;
      ASSERT_TRUE(same(ledger.sums(), plain())) << "step " << step;
    }
  }
  for (auto& [key, t] : tasks) {
    if (!t.ended) ledger.remove(t);
  }
  EXPECT_EQ(ledger.tasks(), 0u);
  EXPECT_TRUE(ledger.sums().agents.empty());
  EXPECT_TRUE(ledger.sums().frameworks.empty());
  EXPECT_TRUE(ledger.sums().roles.empty());
}

// Each kept view is marked with the version it was last built at, so that a summary can name
// only the views that changed after an earlier one; and a change of which agents there are is
// said, since such a summary cannot say that.
TEST(Snapshot, KeptAgentViewsMarkWhenEachWasBuiltAndWhetherAgentsCameOrWent) {
  SnapshotWorld w;
  SnapshotSource source = w.source();
  KeptAgentViews kept;
  auto keep = [&](uint64_t version) {
    keep_agent_views(source, task_sums(source), kept, version);
    return kept.built_at;
  };
  EXPECT_EQ(keep(1), (std::vector<uint64_t>{1, 1}));
  EXPECT_TRUE(kept.members_changed);  // from none
  EXPECT_EQ(keep(2), (std::vector<uint64_t>{1, 1}));
  EXPECT_FALSE(kept.members_changed);
  w.agents["a2"].active = false;
  EXPECT_EQ(keep(3), (std::vector<uint64_t>{1, 3}));
  EXPECT_FALSE(kept.members_changed);
  w.agents.erase("a1");
  EXPECT_EQ(keep(4), (std::vector<uint64_t>{3}));
  EXPECT_TRUE(kept.members_changed);
  w.agents["a0"].id = "a0";
  EXPECT_EQ(keep(5), (std::vector<uint64_t>{5, 3}));
  EXPECT_TRUE(kept.members_changed);
  // One gone and another come in the same summary: the count alone would not tell.
  w.agents.erase("a0");
  w.agents["a9"].id = "a9";
  EXPECT_EQ(keep(6), (std::vector<uint64_t>{3, 6}));
  EXPECT_TRUE(kept.members_changed);
}

// With marks, only the agents named are compared and built again: a view the marks do not name
// is kept as it was (the master names every agent whose view inputs it changes), and agents that
// come or go with their marks give the views of a fresh snapshot, in agent id order.
TEST(Snapshot, MarkedAgentViewsAreTheOnlyOnesLookedAtAndEqualAFreshSnapshot) {
  SnapshotWorld w;
  SnapshotSource source = w.source();
  KeptAgentViews kept;
  auto fresh = [&] { return packed(snapshot(source).agents); };
  auto keep = [&](uint64_t version, std::set<std::string> marked) {
    return keep_agent_views(source, task_sums(source), kept, version, &marked);
  };
  EXPECT_EQ(keep_agent_views(source, task_sums(source), kept, 1), 2u);

  // Unmarked, a change is not seen; marked, it is, and only that view is built.
  w.agents["a2"].active = false;
  EXPECT_EQ(keep(2, {}), 0u);
  EXPECT_NE(packed(kept.agents), fresh());
  EXPECT_EQ(keep(3, {"a2"}), 1u);
  EXPECT_EQ(packed(kept.agents), fresh());
  EXPECT_EQ(kept.built_at, (std::vector<uint64_t>{1, 3}));
  EXPECT_FALSE(kept.members_changed);
  // A marked agent whose view turned out the same is not built again.
  EXPECT_EQ(keep(4, {"a1", "a2"}), 0u);
  EXPECT_EQ(kept.built_at, (std::vector<uint64_t>{1, 3}));

  // An agent that comes, one that goes, and one that changes, in the same round.
  w.agents["a0"].id = "a0";
  w.agents["a0"].hostname = "zero";
  w.agents.erase("a2");
  w.agents["a1"].offers.erase("o2");
  w.offers.erase("o2");
  EXPECT_EQ(keep(5, {"a0", "a1", "a2"}), 2u);
  EXPECT_EQ(packed(kept.agents), fresh());
  EXPECT_EQ(kept.built_at, (std::vector<uint64_t>{5, 5}));
  EXPECT_TRUE(kept.members_changed);

  // Marks of agents that are not there (came and went between two summaries) change nothing.
  EXPECT_EQ(keep(6, {"gone", "a0"}), 0u);
  EXPECT_EQ(packed(kept.agents), fresh());
  EXPECT_FALSE(kept.members_changed);
}

// The ledger names the agents whose tasks' sums changed since it was last asked, whatever
// sums() was asked in between, and says when it kept too many to name.
TEST(TaskLedger, NamesTheAgentsWhoseSumsChangedSinceItWasLastAsked) {
  TaskLedger ledger;
  Task t;
  t.info = task("t1");
  t.info.agent_id = "a1";
  t.framework_id = "f1";
  t.role = "web";
  ledger.add(t);
  ledger.sums();
  EXPECT_EQ(ledger.take_changed_agents(), (std::set<std::string>{"a1"}));
  EXPECT_EQ(ledger.take_changed_agents(), std::set<std::string>{});
  t.info.agent_id = "a2";
  ledger.add(t);
  t.info.agent_id = "a1";
  ledger.remove(t);
  EXPECT_EQ(ledger.take_changed_agents(), (std::set<std::string>{"a1", "a2"}));
  // Agents that had tasks and lost them all are named too, up to a bound past which none is.
  for (int i = 0; i < 1100; ++i) {
    t.info.agent_id = "b" + std::to_string(i);
    ledger.add(t);
    ledger.remove(t);
  }
  EXPECT_EQ(ledger.take_changed_agents(), std::nullopt);
  EXPECT_EQ(ledger.take_changed_agents(), std::set<std::string>{});
}

// What the roles and executors take from every agent, kept by the master, gives the same roles
// and executors as taken afresh.
TEST(Snapshot, AgentAggregatesGiveTheRolesAndExecutorsOfAFreshSnapshot) {
  SnapshotWorld w;
  protocol::ExecutorInfo executor;
  executor.executor_id = "e1";
  executor.resources = resources(0.5, 32);
  w.agents["a2"].executors[executor_key("f1", "e1")] = Executor{executor, "f1", "batch"};
  w.agents["a1"].total.scalars["disk"] = 100;
  SnapshotSource source = w.source();
  AgentAggregates aggregates = agent_aggregates(w.agents);
  EXPECT_DOUBLE_EQ(aggregates.shared[2], 100);
  ASSERT_EQ(aggregates.executors.size(), 1u);
  TaskSums sums = task_sums(source);
  auto with = snapshot(source, false, &sums, true, true, &aggregates);
  auto without = snapshot(source, false);
  EXPECT_EQ(packed(with.roles), packed(without.roles));
  EXPECT_EQ(packed(with.executors), packed(without.executors));
  ASSERT_EQ(without.roles.size(), 1u);  // the executor's role
  EXPECT_EQ(without.roles.at(0).name, "batch");
  EXPECT_DOUBLE_EQ(without.roles.at(0).allocated.scalar("cpus"), 0.5);
  EXPECT_GT(without.roles.at(0).share, 0);
}

// The offers kept between summaries (keep_offers) are the outstanding ones in id order after
// any offers made and gone, say whether any came or went, and are moved, not copied, where
// they stay (their strings are the same buffers). The sums kept with them are what each
// framework's outstanding offers hold, added up afresh.
TEST(Snapshot, KeptOffersAreTheOutstandingOnesAndSayWhetherAnyCameOrWent) {
  SnapshotWorld w;
  // Hostnames longer than a string keeps in itself: a moved offer keeps its buffer.
  auto named = [&w](const std::string& id) {
    w.offers[id].offer.hostname = "a-host-name-longer-than-sixteen-" + id;
  };
  for (const auto& [id, offer] : w.offers) named(id);
  std::vector<protocol::scheduler::Offer> kept;
  OfferedSums offered;
  auto expect_sums = [&](int round) {
    std::map<std::string, protocol::Resources> fresh;
    for (const auto& [id, offer] : w.offers)
      fresh[offer.offer.framework_id] += offer.offer.resources;
    ASSERT_EQ(offered.size(), fresh.size()) << "round " << round;
    for (const auto& [framework_id, sum] : fresh) {
      ASSERT_EQ(offered.count(framework_id), 1u) << "round " << round << ": " << framework_id;
      protocol::Resources kept_sum = offered.at(framework_id).resources();
      EXPECT_EQ(kept_sum.scalars, sum.scalars) << "round " << round << ": " << framework_id;
      EXPECT_EQ(kept_sum.ranges, sum.ranges) << "round " << round << ": " << framework_id;
    }
  };
  EXPECT_TRUE(keep_offers(w.offers, kept, &offered));
  ASSERT_EQ(kept.size(), 4u);
  ASSERT_NO_FATAL_FAILURE(expect_sums(-1));
  EXPECT_FALSE(keep_offers(w.offers, kept, &offered));
  std::mt19937 random(11);
  int next = 5;
  for (int round = 0; round < 300; ++round) {
    bool change = random() % 3 != 0;
    if (change) {
      for (int i = 0; i < 3 && !w.offers.empty(); ++i) {
        if (random() % 2 == 0)
          w.offers.erase(std::next(w.offers.begin(), random() % w.offers.size()));
      }
      for (unsigned i = random() % 3; i > 0; --i) {
        std::string id = "o" + std::to_string(next++);
        protocol::Resources r = resources(1 + random() % 4, 1);
        uint64_t port = 31000 + random() % 20;
        r.ranges["ports"] = {protocol::Range{port, port + random() % 5}};
        w.offer(id, random() % 2 == 0 ? "f1" : "f2", "a1", r);
        named(id);
      }
    }
    std::vector<protocol::scheduler::Offer> before = kept;
    std::map<std::string, const char*> buffers;
    for (const auto& offer : kept) buffers[offer.offer_id] = offer.hostname.data();
    bool changed = keep_offers(w.offers, kept, &offered);
    ASSERT_EQ(kept.size(), w.offers.size()) << "round " << round;
    ASSERT_NO_FATAL_FAILURE(expect_sums(round));
    size_t i = 0;
    for (const auto& [id, offer] : w.offers) {
      ASSERT_EQ(kept[i].offer_id, id) << "round " << round;
      ASSERT_EQ(kept[i].resources.scalars, offer.offer.resources.scalars);
      ASSERT_EQ(kept[i].hostname, offer.offer.hostname);
      if (auto was = buffers.find(id); was != buffers.end()) {
        EXPECT_EQ(static_cast<const void*>(kept[i].hostname.data()),
                  static_cast<const void*>(was->second))
            << "round " << round << ": " << id << " was copied";
      }
      ++i;
    }
    bool same_ids =
        before.size() == kept.size() &&
        std::equal(before.begin(), before.end(), kept.begin(),
                   [](const auto& x, const auto& y) { return x.offer_id == y.offer_id; });
    EXPECT_EQ(changed, !same_ids) << "round " << round;
  }
}

// The offers gone since a version: those that version showed (made at or before it, gone
// after it), none of those made and gone after it; past the limit the oldest are dropped and
// versions before them are no longer covered.
TEST(GoneOffers, NameTheOffersGoneSinceAVersionWhileTheyAreKept) {
  GoneOffers gone(4);
  EXPECT_TRUE(gone.covers(0));
  EXPECT_TRUE(gone.since(0).empty());
  gone.add("o1", 1, 2);  // shown by version 1 only
  gone.add("o2", 1, 3);  // shown by 1 and 2
  gone.add("o3", 3, 3);  // made and gone before any summary showed it
  gone.add("o4", 2, 5);  // shown by 2, 3 and 4
  using Ids = std::vector<std::string>;
  EXPECT_EQ(gone.since(1), (Ids{"o1", "o2"}));
  EXPECT_EQ(gone.since(2), (Ids{"o2", "o4"}));
  EXPECT_EQ(gone.since(3), (Ids{"o4"}));
  EXPECT_EQ(gone.since(4), (Ids{"o4"}));
  EXPECT_EQ(gone.since(5), Ids{});
  EXPECT_TRUE(gone.covers(1));
  gone.add("o5", 4, 6);  // the fifth: o1 (gone at 2) is dropped
  EXPECT_EQ(gone.size(), 4u);
  EXPECT_FALSE(gone.covers(1));  // o1 would be missing from since(1)
  EXPECT_TRUE(gone.covers(2));
  EXPECT_EQ(gone.since(2), (Ids{"o2", "o4"}));  // o5 was made after 2
  EXPECT_EQ(gone.since(4), (Ids{"o4", "o5"}));
  gone.add("o6", 6, 7);
  gone.add("o7", 6, 7);
  EXPECT_FALSE(gone.covers(2));
  EXPECT_TRUE(gone.covers(3));
  EXPECT_EQ(gone.since(6), (Ids{"o6", "o7"}));
}

TEST(Snapshot, TheSummaryFingerprintChangesWithTheStateButNotWithItsCounters) {
  SnapshotWorld w;
  SnapshotSource source = w.source();
  auto summary = [&] { return snapshot(source, /*with_tasks=*/false, nullptr, false); };
  protocol::operator_api::State before = summary();
  std::string fingerprint = summary_fingerprint(before);
  before.counters.messages_received = 99;
  before.counters.events_published = 7;
  EXPECT_EQ(summary_fingerprint(before), fingerprint);  // counters are not the state
  EXPECT_EQ(summary_fingerprint(summary()), fingerprint);
  // Each of these changes the state a summary shows without any agent's view changing (the
  // offers themselves are not in it, keep_offers says when they change; what a framework is
  // offered is).
  std::vector<std::function<void()>> changes{
      [&] { w.settings["web"].weight = 3; },
      [&] { w.frameworks["f1"].connected = false; },
      [&] {
        w.offers.erase("o2");
        w.frameworks["f1"].offers.erase("o2");
      },
      [&] { w.frameworks["f1"].name = "renamed"; },
  };
  for (size_t i = 0; i < changes.size(); ++i) {
    changes[i]();
    std::string next = summary_fingerprint(summary());
    EXPECT_NE(next, fingerprint) << "change " << i;
    fingerprint = next;
  }
}

TEST(RegistrationProblem, ResourcesIdsAndReportedTasksAreChecked) {
  protocol::agent::Register m;
  m.resources = resources(2, 128);
  EXPECT_EQ(registration_problem(m), "");
  m.agent_id = std::string(kMaxIdBytes + 1, 'a');
  EXPECT_EQ(registration_problem(m), "its agent id is longer than 256 bytes");
  m.agent_id = "a1";
  m.tasks.push_back({"f1", task("t1"), "TASK_DREAMING", ""});
  EXPECT_EQ(registration_problem(m), "task 't1' is in the unknown state 'TASK_DREAMING'");
  m.tasks.back().state = state::kRunning;
  m.tasks.back().task.resources.scalars["mem"] = std::numeric_limits<double>::infinity();
  EXPECT_NE(registration_problem(m).find("task 't1' has invalid resources"), std::string::npos);
  m.tasks.back().framework_id.clear();
  EXPECT_EQ(registration_problem(m), "it reports a task without a task or framework id");
  m.tasks.clear();
  m.resources.scalars["cpus"] = -1;
  EXPECT_NE(registration_problem(m).find("its resources are invalid"), std::string::npos);
}

TEST(RoleProblem, RoleNamesArePathsWithoutSpaces) {
  EXPECT_EQ(role_problem("eng/web"), "");
  EXPECT_EQ(role_problem("*"), "");
  EXPECT_EQ(role_problem(""), "a role name is empty");
  EXPECT_EQ(role_problem("eng/web-1/.x"), "");
  EXPECT_EQ(role_problem(std::string(kMaxRoleBytes, 'r')), "");
  for (const std::string& bad :
       std::vector<std::string>{".", "..", "/web", "web/", "eng//web", "my role", "eng/./web",
                                "eng/../web", "-web", "eng/-web", "web\r", "w\veb", "web\x7f",
                                std::string("we\0b", 4), std::string(kMaxRoleBytes + 1, 'r')}) {
    EXPECT_NE(role_problem(bad), "") << sdk::escape(bad);
  }
  EXPECT_EQ(role_problem("web\r").find('\r'), std::string::npos) << "the name is escaped";
}

// --- The operator snapshot ---------------------------------------------------------------------

TEST(Snapshot, CountsLiveTasksAndOutstandingOffersAndListsFinishedTasksNewestFirst) {
  World w;
  std::map<std::string, Framework> frameworks{{"f1", w.framework}};
  auto add_task = [&](const std::string& id, bool ended) {
    Task& t = w.tasks[task_key("f1", id)];
    t.info = task(id);
    t.info.agent_id = "a1";
    t.framework_id = "f1";
    t.role = "web";
    t.sandbox = "/work/sandboxes/" + id;
    t.state = ended ? state::kFinished : state::kRunning;
    t.ended = ended;
    w.agents["a1"].tasks.insert(task_key("f1", id));
    frameworks["f1"].tasks.insert(task_key("f1", id));
  };
  add_task("live", false);
  add_task("ended", true);
  std::deque<protocol::operator_api::TaskState> completed;
  for (const char* id : {"old", "new"}) {
    Task done;
    done.info = task(id);
    done.status.state = state::kFinished;
    completed.push_back(completed_summary(done));
  }
  std::string master_id = "m1", endpoint = "tcp://127.0.0.1:5050";
  std::map<std::string, RoleSettings> role_settings;
  role_settings["ops"].weight = 3;
  auto s = snapshot(SnapshotSource{master_id, endpoint, w.agents, frameworks, w.tasks, w.offers,
                                   completed, role_settings});
  EXPECT_EQ(s.master_id, "m1");
  ASSERT_EQ(s.agents.size(), 2u);
  EXPECT_DOUBLE_EQ(s.agents[0].used.scalar("cpus"), 1);     // the ended task gave its cpus back
  EXPECT_DOUBLE_EQ(s.agents[0].offered.scalar("cpus"), 4);  // o1, o2 and f2's o4
  ASSERT_EQ(s.frameworks.size(), 1u);
  EXPECT_EQ(s.frameworks[0].active_tasks, 1);
  EXPECT_DOUBLE_EQ(s.frameworks[0].offered.scalar("cpus"), 4);  // o1, o2 and o3
  // Summed in one walk over the offers, the same as the framework's own view (its events').
  protocol::Resources own = framework_state(frameworks["f1"], w.tasks, w.offers).offered;
  EXPECT_EQ(s.frameworks[0].offered.scalars, own.scalars);
  EXPECT_EQ(s.frameworks[0].offered.ranges, own.ranges);
  ASSERT_EQ(s.tasks.size(), 4u);
  EXPECT_EQ(s.tasks[0].task_id, "ended");
  EXPECT_EQ(s.tasks[1].task_id, "live");
  EXPECT_EQ(s.tasks[2].task_id, "new");
  EXPECT_EQ(s.tasks[3].task_id, "old");
  EXPECT_EQ(s.active_tasks, 2u);
  EXPECT_EQ(s.tasks[1].sandbox, "/work/sandboxes/live");
  EXPECT_EQ(s.offers.size(), w.offers.size());
  // Roles: the operator's weight, and what the live task holds (the ended one gave it back).
  std::map<std::string, protocol::operator_api::RoleState> roles;
  for (const auto& r : s.roles) roles[r.name] = r;
  ASSERT_EQ(roles.count("ops"), 1u);
  EXPECT_DOUBLE_EQ(roles["ops"].weight, 3);
  EXPECT_DOUBLE_EQ(roles["ops"].share, 0);
  ASSERT_EQ(roles.count("web"), 1u);
  EXPECT_DOUBLE_EQ(roles["web"].weight, 1);
  EXPECT_DOUBLE_EQ(roles["web"].allocated.scalar("cpus"), 1);
  EXPECT_GT(roles["web"].share, 0);
}

TEST(Snapshot, OnlyAnAbsolutePrintableBoundedSandboxIsKept) {
  EXPECT_TRUE(acceptable_sandbox("/var/lib/tessera/agent/sandboxes/f/t/c"));
  EXPECT_FALSE(acceptable_sandbox(""));
  EXPECT_FALSE(acceptable_sandbox("relative/path"));
  EXPECT_FALSE(acceptable_sandbox("/with\nnewline"));
  EXPECT_FALSE(acceptable_sandbox("/" + std::string(kMaxSandboxBytes, 'a')));
}

TEST(Snapshot, AFinishedTaskIsKeptAsABoundedSummaryWithoutItsCommand) {
  Task t;
  t.info = task(std::string(1000, 'i'));
  t.info.command.value = std::string(100000, 'c');
  t.info.command.environment = {{"SECRET", "x"}};
  t.framework_id = "f1";
  t.status.state = state::kFailed;
  t.status.message = std::string(5000, 'm');
  t.status.reason = std::string(500, 'r');
  t.state = state::kFailed;
  auto summary = completed_summary(t);
  EXPECT_EQ(summary.task_id.size(), 256u + 3);
  EXPECT_EQ(summary.last_status.message.size(), 256u + 3);
  EXPECT_EQ(summary.last_status.reason.size(), 64u + 3);
  EXPECT_EQ(summary.state, state::kFailed);
  EXPECT_DOUBLE_EQ(summary.resources.scalar("mem"), 64);
}

FrameworkRecord framework_record(const std::string& id) {
  FrameworkRecord record;
  record.framework_id = id;
  return record;
}

// --- The registry ------------------------------------------------------------------------------

class RegistryTest : public ::testing::Test {
 protected:
  RegistryTest() : context_(zmq_ctx_new()) {
    bus_ = sdk::Bus{context_, &loop_, {}, "master"};
    leader_ = std::make_unique<FakeLeader>(bus_);
    store_options_.endpoint = FakeLeader::kEndpoint;
    store_options_.backoff_initial = 10ms;
    store_options_.give_up_after = 0ms;
  }
  ~RegistryTest() override {
    registry_.reset();
    leadership_.reset();
    leader_.reset();
    zmq_ctx_term(context_);
  }

  Registry& registry(const sdk::Leadership* fence = nullptr) {
    registry_ = std::make_unique<Registry>(bus_, clock_, fence, store_options_, 10ms);
    return *registry_;
  }
  bool run_until(const std::function<bool()>& done) {
    return tessera::testing::run_until(loop_, done, 10s);
  }
  // Writes through the registry and waits for the outcome.
  template <typename Write>
  bool wrote(Write write) {
    std::optional<bool> ok;
    write([&](bool done) { ok = done; });
    EXPECT_TRUE(run_until([&] { return ok.has_value(); }));
    return ok.value_or(false);
  }
  RecoveredRegistry recover() {
    std::optional<RecoveredRegistry> recovered;
    registry_->recover([&](RecoveredRegistry r) { recovered = std::move(r); });
    EXPECT_TRUE(run_until([&] { return recovered.has_value(); }));
    return recovered.value_or(RecoveredRegistry{});
  }
  // A removal time the registry keeps by default (an hour ago).
  double recently() const { return clock_.wall_seconds() - 3600; }
  // The stored set that `agent_id` belongs to (empty when the store has none).
  AgentSet stored_set_of(const std::string& agent_id) {
    std::string key = "master/" + Registry::agent_set_key(Registry::agent_set_of(agent_id));
    auto it = leader_->entries.find(key);
    if (it == leader_->entries.end()) return {};
    return msgpack::unpack(it->second.value.data(), it->second.value.size()).get().as<AgentSet>();
  }

  void* context_;
  sdk::EventLoop loop_;
  sdk::SystemClock clock_{loop_};
  sdk::Bus bus_;
  sdk::StoreOptions store_options_;
  std::unique_ptr<FakeLeader> leader_;
  std::unique_ptr<sdk::Leadership> leadership_;
  std::unique_ptr<Registry> registry_;
};

TEST_F(RegistryTest, WhatIsWrittenIsReadBackByTheNextLeader) {
  Registry& r = registry();
  recover();  // an empty store: agents are written once the sets are read
  EXPECT_TRUE(wrote([&](auto done) {
    r.put_framework(FrameworkRecord{"f1", "marathon", {"web"}, 600}, done);
  }));
  EXPECT_TRUE(wrote([&](auto done) { r.put_framework(framework_record("f2"), done); }));
  EXPECT_TRUE(wrote([&](auto done) { r.remove_framework("f2", done); }));
  EXPECT_TRUE(wrote([&](auto done) { r.put_agent("a1", "hash-1", done); }));
  EXPECT_TRUE(wrote([&](auto done) { r.put_agent("a2", "hash-2", done); }));
  double removed_at = recently();
  EXPECT_TRUE(wrote([&](auto done) { r.remove_agent("a2", removed_at, done); }));
  RoleSettings web;
  web.weight = 2;
  web.has_quota = true;
  web.quota = resources(4, 0);
  EXPECT_TRUE(wrote([&](auto done) { r.put_role("web", web, done); }));
  // Every key is the master's own.
  for (const auto& [key, entry] : leader_->entries) EXPECT_EQ(key.rfind("master/", 0), 0u) << key;
  // Agents are in their sets, the removed one moved from admitted to removed.
  EXPECT_EQ(stored_set_of("a1").admitted, (std::map<std::string, std::string>{{"a1", "hash-1"}}));
  EXPECT_EQ(stored_set_of("a2").admitted.count("a2"), 0u);
  EXPECT_EQ(stored_set_of("a2").removed, (std::map<std::string, double>{{"a2", removed_at}}));
  for (const auto& [key, entry] : leader_->entries) {
    EXPECT_EQ(key.rfind("master/agents/", 0), std::string::npos) << key;
  }

  registry();  // the next leader's
  RecoveredRegistry recovered = recover();
  ASSERT_EQ(recovered.frameworks.size(), 1u);
  EXPECT_EQ(recovered.frameworks[0].framework_id, "f1");
  EXPECT_EQ(recovered.frameworks[0].roles, std::vector<std::string>{"web"});
  EXPECT_DOUBLE_EQ(recovered.frameworks[0].failover_timeout_seconds, 600);
  EXPECT_EQ(recovered.agent_secrets, (std::map<std::string, std::string>{{"a1", "hash-1"}}));
  EXPECT_EQ(recovered.removed_agents, std::set<std::string>{"a2"});
  ASSERT_EQ(recovered.roles.count("web"), 1u);
  EXPECT_DOUBLE_EQ(recovered.roles["web"].weight, 2);
  EXPECT_DOUBLE_EQ(recovered.roles["web"].quota.scalar("cpus"), 4);
  EXPECT_FALSE(recovered.roles["web"].has_priority);
}

// Thousands of agents registering at once: they go out as their sets, in a batch or two, each
// one's `done` only once a stored set holds it; a removal later is one more write of one set.
TEST_F(RegistryTest, AgentWritesAskedForTogetherGoOutAsTheirSetsInAFewBatches) {
  Registry& r = registry();
  recover();
  constexpr int kAgents = 2500;
  int stored = 0;
  int early = 0;
  for (int i = 0; i < kAgents; ++i) {
    std::string id = "a" + std::to_string(i);
    r.put_agent(id, "hash-" + id, [&, id](bool ok) {
      if (!ok) return;
      ++stored;
      if (stored_set_of(id).admitted.count(id) == 0) ++early;
    });
  }
  ASSERT_TRUE(run_until([&] { return stored == kAgents; }));
  EXPECT_EQ(early, 0);
  EXPECT_LE(leader_->batch_times.size(), 2u);
  size_t sets = 0;
  for (const auto& [key, entry] : leader_->entries) {
    if (key.rfind("master/agent_sets/", 0) == 0) ++sets;
  }
  EXPECT_EQ(sets, Registry::kAgentSetCount);  // 2,500 ids fill every set

  size_t batches = leader_->batch_times.size();
  EXPECT_TRUE(wrote([&](auto done) { r.remove_agent("a7", recently(), done); }));
  EXPECT_EQ(leader_->batch_times.size(), batches + 1);
  EXPECT_EQ(stored_set_of("a7").admitted.count("a7"), 0u);
  EXPECT_EQ(stored_set_of("a7").removed.count("a7"), 1u);

  registry();
  RecoveredRegistry recovered = recover();
  EXPECT_EQ(recovered.agent_secrets.size(), static_cast<size_t>(kAgents - 1));
  EXPECT_EQ(recovered.agent_secrets["a42"], "hash-a42");
  EXPECT_EQ(recovered.removed_agents, std::set<std::string>{"a7"});
}

// An agent's set is written whole from what the registry read: before it read the sets, a write
// would replace the store's sets with what it knows (nothing), so it is refused.
TEST_F(RegistryTest, AgentWritesBeforeTheSetsAreReadAreRefused) {
  Registry& r = registry();
  EXPECT_FALSE(wrote([&](auto done) { r.put_agent("a1", "hash-1", done); }));
  EXPECT_FALSE(wrote([&](auto done) { r.remove_agent("a1", recently(), done); }));
  EXPECT_TRUE(leader_->entries.empty());
}

// A registry an earlier version wrote (a record per agent and per removed agent) is read as it
// was, its agents are written into their sets, and only then are the old records deleted.
TEST_F(RegistryTest, AnEarlierVersionsAgentRecordsAreReadAndMovedIntoTheSets) {
  leader_->preset("master/agents/old-1", AgentRecord{"hash-old-1"});
  leader_->preset("master/agents/old-2", AgentRecord{"hash-old-2"});
  leader_->preset("master/agents/gone", AgentRecord{"hash-gone"});
  leader_->preset("master/removed_agents/gone", recently());
  Registry& r = registry();
  RecoveredRegistry recovered = recover();
  EXPECT_EQ(recovered.agent_secrets,
            (std::map<std::string, std::string>{{"old-1", "hash-old-1"}, {"old-2", "hash-old-2"}}));
  EXPECT_EQ(recovered.removed_agents, std::set<std::string>{"gone"});

  ASSERT_TRUE(run_until([&] {
    return leader_->entries.count("master/agents/old-1") == 0 &&
           leader_->entries.count("master/removed_agents/gone") == 0;
  }));
  EXPECT_EQ(stored_set_of("old-1").admitted.at("old-1"), "hash-old-1");
  EXPECT_EQ(stored_set_of("old-2").admitted.at("old-2"), "hash-old-2");
  EXPECT_EQ(stored_set_of("gone").removed.count("gone"), 1u);
  EXPECT_EQ(stored_set_of("gone").admitted.count("gone"), 0u);
  for (const auto& [key, entry] : leader_->entries) {
    EXPECT_EQ(key.rfind("master/agent_sets/", 0), 0u) << key << " is left";
  }
  // The next leader reads the same from the sets alone; the registry goes on writing them.
  EXPECT_TRUE(wrote([&](auto done) { r.put_agent("new", "hash-new", done); }));
  registry();
  RecoveredRegistry again = recover();
  EXPECT_EQ(again.agent_secrets.size(), 3u);
  EXPECT_EQ(again.agent_secrets["old-2"], "hash-old-2");
  EXPECT_EQ(again.removed_agents, std::set<std::string>{"gone"});
}

// Removed agents are remembered for a bounded time and count (as Mesos's registry_max_agent_age
// and registry_max_agent_count): older ones are forgotten when a new leader reads the sets (the
// sets that shrink are written) and whenever their set is written, the oldest first beyond the
// count, so that the sets do not grow with every agent ever removed.
TEST_F(RegistryTest, RemovedAgentsAreForgottenPastTheirAgeAndBeyondTheCount) {
  double now = clock_.wall_seconds();
  AgentSet set;
  set.removed = {{"long-gone", now - 7200}, {"just-gone", now - 60}};
  leader_->preset("master/" + Registry::agent_set_key(Registry::agent_set_of("long-gone")), set);
  if (Registry::agent_set_of("just-gone") != Registry::agent_set_of("long-gone")) {
    AgentSet other;
    other.removed = {{"just-gone", now - 60}};
    leader_->preset("master/" + Registry::agent_set_key(Registry::agent_set_of("just-gone")),
                    other);
  }
  Registry& r = registry();
  r.keep_removed_agents(std::chrono::hours(1), 2 * Registry::kAgentSetCount);  // 2 per set
  RecoveredRegistry recovered = recover();
  EXPECT_EQ(recovered.removed_agents, std::set<std::string>{"just-gone"});
  ASSERT_TRUE(
      run_until([&] { return stored_set_of("long-gone").removed.count("long-gone") == 0; }));
  EXPECT_EQ(stored_set_of("just-gone").removed.count("just-gone"), 1u);

  // Three removals in one set that holds two: the oldest goes.
  std::vector<std::string> same_set;
  size_t target = Registry::agent_set_of("x0");
  for (int i = 0; same_set.size() < 3; ++i) {
    std::string id = "x" + std::to_string(i);
    if (Registry::agent_set_of(id) == target) same_set.push_back(id);
  }
  for (size_t i = 0; i < same_set.size(); ++i) {
    EXPECT_TRUE(wrote(
        [&](auto done) { r.remove_agent(same_set[i], now - 30 + static_cast<double>(i), done); }));
  }
  AgentSet stored = stored_set_of(same_set[0]);
  EXPECT_EQ(stored.removed.count(same_set[0]), 0u);
  EXPECT_EQ(stored.removed.count(same_set[1]), 1u);
  EXPECT_EQ(stored.removed.count(same_set[2]), 1u);

  // A forgotten id is not refused any more: it may be admitted again, as a new agent.
  EXPECT_TRUE(wrote([&](auto done) { r.put_agent("long-gone", "hash-new", done); }));
  registry();
  recovered = recover();
  EXPECT_EQ(recovered.agent_secrets["long-gone"], "hash-new");
  EXPECT_EQ(recovered.removed_agents.count("long-gone"), 0u);
}

// A set whose write fails is written again (whole) until it is stored, rather than left as the
// store had it until a neighbour changes: a removal that failed once still keeps the agent out.
TEST_F(RegistryTest, ASetWhoseWriteFailedIsWrittenAgainUntilItIsStored) {
  Registry& r = registry();
  recover();
  leader_->fail_next_batches = 3;  // written again after 10, 20 and 40 ms
  leader_->batch_times.clear();
  EXPECT_FALSE(wrote([&](auto done) { r.remove_agent("a1", recently(), done); }));
  ASSERT_TRUE(run_until([&] { return stored_set_of("a1").removed.count("a1") == 1; }));
  EXPECT_EQ(leader_->fail_next_batches, 0);
  // The waits double: each resend comes at least twice as late after its failure as the one
  // before (a timer never fires early; a busy machine only makes the gaps longer).
  const auto& times = leader_->batch_times;
  ASSERT_EQ(times.size(), 4u);  // the write and its three resends
  for (size_t i = 1; i < times.size(); ++i) {
    EXPECT_GE(times[i] - times[i - 1], 10ms * (1 << (i - 1))) << "resend " << i;
  }
  registry();
  EXPECT_EQ(recover().removed_agents, std::set<std::string>{"a1"});
}

// An earlier version's records are deleted only once every set they were moved into is stored:
// with more records than one batch holds, the sets' batch failing must not let a later batch
// delete the records (their agents would then be nowhere in the store).
TEST_F(RegistryTest, AnEarlierVersionsRecordsStayUntilTheSetsHoldingThemAreStored) {
  constexpr int kAgents = 2000;  // the sets and the deletes take more than one batch
  for (int i = 0; i < kAgents; ++i) {
    std::string id = "old-" + std::to_string(i);
    leader_->preset("master/agents/" + id, AgentRecord{"hash-" + id});
  }
  leader_->fail_next_batches = 1;  // the first write of the sets
  Registry& r = registry();
  recover();
  size_t last_left = kAgents;
  ASSERT_TRUE(run_until([&] {
    size_t left = 0;
    for (const auto& [key, entry] : leader_->entries) {
      if (key.rfind("master/agents/", 0) == 0) ++left;
    }
    if (left < last_left) {
      // Records went: every one of them must be in a stored set by now.
      for (int i = 0; i < kAgents; ++i) {
        std::string id = "old-" + std::to_string(i);
        if (leader_->entries.count("master/agents/" + id) == 0) {
          EXPECT_EQ(stored_set_of(id).admitted.count(id), 1u) << id << " is nowhere";
        }
      }
      last_left = left;
    }
    return left == 0;
  }));
  EXPECT_EQ(leader_->fail_next_batches, 0);
  registry();
  EXPECT_EQ(recover().agent_secrets.size(), static_cast<size_t>(kAgents));
  (void)r;
}

TEST_F(RegistryTest, RecordsThatCannotBeTrustedAreCheckedOrSkipped) {
  Registry& r = registry();
  // Written before failover timeouts were checked: NaN is read as 0, 1e300 as 365 days.
  EXPECT_TRUE(wrote([&](auto done) {
    r.put_framework(FrameworkRecord{"nan", "", {}, std::nan("")}, done);
  }));
  EXPECT_TRUE(wrote([&](auto done) {
    r.put_framework(FrameworkRecord{"huge", "", {}, 1e300}, done);
  }));
  leader_->entries["master/agents/garbled"] = {"\xc1 not msgpack", 1};
  leader_->entries["master/removed_agents/old"] = {"\xc1", 1};
  leader_->entries["master/agent_sets/00"] = {"\xc1 not msgpack either", 1};
  RecoveredRegistry recovered = recover();
  ASSERT_EQ(recovered.frameworks.size(), 2u);
  EXPECT_DOUBLE_EQ(recovered.frameworks[0].failover_timeout_seconds,
                   protocol::limits::kMaxFailoverTimeoutSeconds);  // "huge" sorts first
  EXPECT_DOUBLE_EQ(recovered.frameworks[1].failover_timeout_seconds, 0);
  EXPECT_TRUE(recovered.agent_secrets.empty());
  // A removal whose time is unreadable still keeps the id out.
  EXPECT_EQ(recovered.removed_agents, std::set<std::string>{"old"});
}

TEST_F(RegistryTest, ARegistryThatCannotBeReadIsReadAgainUntilItCan) {
  registry();
  leader_->fail_next = 3;
  RecoveredRegistry recovered = recover();
  EXPECT_TRUE(recovered.frameworks.empty());
  EXPECT_EQ(leader_->lists, 5 + 3);  // five listings, three of them refused once
}

TEST_F(RegistryTest, ADeposedMastersWritesAreFenced) {
  sdk::LeadershipOptions options;
  options.leader_endpoint = FakeLeader::kEndpoint;
  options.events_endpoint = FakeLeader::kEventsEndpoint;
  options.resync_interval = 1h;  // it hears of nothing after its election
  leadership_ = std::make_unique<sdk::Leadership>(bus_, clock_, options);
  ASSERT_TRUE(leadership_->campaign("m1", "tcp://127.0.0.1:5050").ok());
  ASSERT_TRUE(run_until([&] { return leadership_->leading(); }));
  Registry& r = registry(leadership_.get());
  recover();
  EXPECT_TRUE(wrote([&](auto done) { r.put_framework(framework_record("f1"), done); }));

  // Another master is elected; this one has not heard yet and writes in its old term.
  ++leader_->epoch;
  EXPECT_FALSE(wrote([&](auto done) { r.put_framework(framework_record("f2"), done); }));
  EXPECT_FALSE(wrote([&](auto done) { r.put_agent("a1", "hash-1", done); }));
  EXPECT_EQ(leader_->fenced, 2);
  EXPECT_EQ(leader_->entries.count("master/frameworks/f2"), 0u);
  EXPECT_TRUE(stored_set_of("a1").admitted.empty());

  // Once it knows it no longer leads, it does not even send them.
  leadership_->stop();
  EXPECT_FALSE(wrote([&](auto done) { r.put_role("web", RoleSettings{}, done); }));
  EXPECT_EQ(leader_->fenced, 2);
}

}  // namespace

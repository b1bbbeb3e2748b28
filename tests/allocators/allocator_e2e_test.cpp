// The allocators end to end, through the real master: one master and two agents as separate
// tessera-host processes on loopback, frameworks in the test process (the SDK's
// SchedulerClient), and the real `tessera` CLI to change roles and to read who got what.
//
// - AllocatorSwap: the same cluster run once with allocator_drf and once with
//   allocator_priority, changed only in the master's TOML. Two frameworks, "prod" (wants 6
//   tasks) and "batch" (wants 8), compete for 8 cpus: DRF splits it about 4/4, strict priority
//   gives prod its 6 and batch the 2 left over.
// - Weights and quotas changed from the CLI (`tessera roles update`) while the master runs.
//
// Every framework launches one task (1 cpu, 128 MB, a long sleep) per offer until it has what
// it wants, then suppresses. One task per offer, rather than as many as fit, is what makes the
// split follow the allocator's order task by task: an agent is offered whole to one framework,
// so a framework that filled every offer would get whole agents whatever the weights.
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cstdlib>
#include <functional>
#include <future>
#include <map>
#include <random>
#include <thread>

#include "support/cluster.h"
#include "tessera/protocol/task.h"
#include "tessera/sdk/scheduler.h"

namespace {

using namespace std::chrono_literals;
namespace json = boost::json;
namespace state = tessera::protocol::state;
using tessera::protocol::scheduler::Offer;
using tessera::testing::AgentSettings;
using tessera::testing::Cluster;
using tessera::testing::MasterSettings;
using tessera::testing::TempDir;

constexpr int kAgents = 2;
constexpr int kClusterCpus = 8;  // kAgents x 4
const char* const kAgentResources = "cpus:4;mem:4096;disk:1024;ports:[31000-31099]";

// Long sleeps with a unique argument, so that whatever is left of them is killed at the end.
class Sleeps {
 public:
  Sleeps() {
    std::random_device rd;
    arg_ = "300." + std::to_string(100000 + rd() % 800000);
  }
  ~Sleeps() {
    // "[s]leep" matches the tasks but not the shell that runs pkill.
    std::system(("pkill -KILL -f '[s]leep " + arg_ + "' 2>/dev/null").c_str());
  }
  std::string command() const { return "sleep " + arg_; }

 private:
  std::string arg_;
};

struct TenantSpec {
  std::string name;  // the framework's name; its role is the same word
  int demand = 0;    // how many tasks it launches before suppressing
};

// What the test thread reads of one framework (a copy made on the frameworks' thread).
struct TenantView {
  std::string framework_id;
  bool subscribed = false;
  int launched = 0;                   // accepted, over the whole test
  int running = 0;                    // whose latest state is TASK_RUNNING
  int live = 0;                       // not terminal yet
  int wanted = 0;                     // still to launch
  std::vector<std::string> problems;  // errors and unexpected task states
};

// Frameworks in the test process, all on one loop that runs on its own thread, so that they
// keep heartbeating and answering offers while the test thread starts agents and runs the CLI.
class Tenants {
 public:
  Tenants(const std::string& master, std::vector<TenantSpec> specs, std::string command)
      : context_(zmq_ctx_new()),
        bus_{context_, &loop_, {}, "tenants"},
        command_(std::move(command)) {
    thread_ = std::thread([this, master, specs] {
      for (const TenantSpec& spec : specs) {
        auto tenant = std::make_unique<Tenant>();
        tenant->name = spec.name;
        tenant->view.wanted = spec.demand;
        tessera::sdk::FrameworkInfo info;
        info.name = spec.name;
        info.roles = {spec.name};
        tessera::sdk::SchedulerOptions options;
        options.master = master;
        tenant->client = std::make_unique<tessera::sdk::SchedulerClient>(bus_, info, options);
        wire(*tenant);
        tenant->client->start();
        tenants_.push_back(std::move(tenant));
      }
      loop_.run();
      for (auto& tenant : tenants_) {
        if (tenant->client->subscribed()) tenant->client->teardown();
        tenant->client.reset();
      }
    });
  }
  ~Tenants() {
    loop_.request_stop();
    thread_.join();
    tenants_.clear();
    zmq_ctx_term(context_);
  }
  Tenants(const Tenants&) = delete;
  Tenants& operator=(const Tenants&) = delete;

  // Runs `fn` on the frameworks' thread and waits for it.
  template <typename F>
  auto call(F fn) -> decltype(fn()) {
    std::packaged_task<decltype(fn())()> task(std::move(fn));
    auto result = task.get_future();
    loop_.post([&task] { task(); });
    return result.get();
  }

  std::map<std::string, TenantView> views() {
    return call([this] {
      std::map<std::string, TenantView> out;
      for (auto& t : tenants_) {
        TenantView v = t->view;
        v.framework_id = t->client->framework_id();
        v.subscribed = t->client->subscribed();
        v.running = v.live = 0;
        for (const auto& [id, task] : t->tasks) {
          v.running += task.state == state::kRunning;
          v.live += !state::terminal(task.state);
        }
        out[t->name] = v;
      }
      return out;
    });
  }
  // The order in which tasks were launched, by framework name.
  std::vector<std::string> launch_order() {
    return call([this] { return launch_order_; });
  }

  // Every launch so far, "name@agent", in order (to explain a failure).
  std::string launch_log() {
    return call([this] { return launch_log_; });
  }

  // Polls the views until `done(views)`, up to `timeout`.
  bool wait_until(const std::function<bool(const std::map<std::string, TenantView>&)>& done,
                  std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (done(views())) return true;
      std::this_thread::sleep_for(20ms);
    }
    return done(views());
  }
  bool all_subscribed() {
    return wait_until(
        [](const auto& views) {
          for (const auto& [name, v] : views) {
            if (!v.subscribed) return false;
          }
          return true;
        },
        20s);
  }
  static int total_running(const std::map<std::string, TenantView>& views) {
    int n = 0;
    for (const auto& [name, v] : views) n += v.running;
    return n;
  }

  // Every framework stops wanting more, suppresses, and kills its tasks.
  void suppress_and_kill_all() {
    call([this] {
      for (auto& t : tenants_) {
        t->view.wanted = 0;
        t->client->suppress();
        for (auto& [id, task] : t->tasks) {
          if (state::terminal(task.state)) continue;
          task.killing = true;
          t->client->kill(id, task.agent_id);
        }
      }
    });
  }
  // Every framework wants `demand` more tasks and revives, back to back on one thread.
  void want_and_revive(const std::map<std::string, int>& demand) {
    call([this, demand] {
      for (auto& t : tenants_) t->view.wanted = demand.at(t->name);
      for (auto& t : tenants_) t->client->revive();
    });
  }

 private:
  struct Task {
    std::string state;
    std::string agent_id;
    bool killing = false;
  };
  struct Tenant {
    std::string name;
    std::unique_ptr<tessera::sdk::SchedulerClient> client;
    TenantView view;
    std::map<std::string, Task> tasks;
  };

  void wire(Tenant& t) {
    t.client->on_offers = [this, &t](const std::vector<Offer>& offers) {
      tessera::protocol::Resources need;
      need.scalars["cpus"] = 1;
      need.scalars["mem"] = 128;
      for (const Offer& offer : offers) {
        if (t.view.wanted > 0 && offer.resources.contains(need)) {
          tessera::protocol::TaskInfo task;
          task.task_id = t.name + "-" + std::to_string(++t.view.launched);
          task.name = task.task_id;
          task.resources = need;
          task.command.value = command_;
          task.kill_grace_seconds = 1;
          t.tasks[task.task_id] = Task{state::kStaging, offer.agent_id};
          launch_order_.push_back(t.name);
          launch_log_ += t.name + "@" + offer.hostname + " ";
          // The rest of the offer goes back at once, unfiltered, for the allocator to hand out
          // again by its order.
          t.client->accept({offer.offer_id}, {task}, 0);
          if (--t.view.wanted == 0) t.client->suppress();
        } else if (t.view.wanted == 0) {
          t.client->decline({offer.offer_id}, 0);  // raced the suppress
        } else {
          t.client->decline({offer.offer_id}, 1);  // does not fit (e.g. mem without cpus)
        }
      }
    };
    t.client->on_update = [&t](const tessera::protocol::TaskStatus& status) {
      auto it = t.tasks.find(status.task_id);
      if (it == t.tasks.end()) {
        t.view.problems.push_back("update for unknown task " + status.task_id);
        return;
      }
      it->second.state = status.state;
      if (!status.agent_id.empty()) it->second.agent_id = status.agent_id;
      bool expected = status.state == state::kStaging || status.state == state::kStarting ||
                      status.state == state::kRunning ||
                      ((status.state == state::kKilled || status.state == state::kKilling) &&
                       it->second.killing);
      if (!expected) {
        t.view.problems.push_back(status.task_id + ": " + status.state + " " + status.reason + " " +
                                  status.message);
      }
    };
    t.client->on_error = [&t](const std::string& message) {
      t.view.problems.push_back("error: " + message);
    };
  }

  void* context_;
  tessera::sdk::EventLoop loop_;
  tessera::sdk::Bus bus_;
  std::string command_;
  std::vector<std::unique_ptr<Tenant>> tenants_;  // only touched on thread_
  std::vector<std::string> launch_order_;
  std::string launch_log_;
  std::thread thread_;
};

// Who holds what, as `tessera frameworks --json` and `tessera tasks --json` say.
struct Shares {
  std::map<std::string, double> cpus;  // used cpus, by framework name
  std::map<std::string, int> running;  // TASK_RUNNING tasks, by framework name
  std::string text() const {
    std::string out;
    for (const auto& [name, c] : cpus) {
      out += name + "=" + std::to_string(static_cast<int>(c)) + " cpus/" +
             std::to_string(running.count(name) ? running.at(name) : 0) + " tasks ";
    }
    return out;
  }
};

class AllocatorE2E : public ::testing::Test {
 protected:
  // The CLI against this cluster's master: {exit code, output}.
  std::pair<int, std::string> cli(std::vector<std::string> args) {
    args.insert(args.begin(), TESSERA_CLI_BIN);
    args.push_back("--master");
    args.push_back(cluster_.endpoint());
    return tessera::testing::run(args, dir_ / ("cli-" + std::to_string(++cli_runs_) + ".log"), 20s);
  }

  ::testing::AssertionResult start_agents() {
    for (int i = 0; i < kAgents; ++i) {
      AgentSettings settings;
      settings.resources = kAgentResources;
      if (auto ok = cluster_.start_agent(i, settings); !ok) return ok;
    }
    return ::testing::AssertionSuccess();
  }

  // Waits until the frameworks' running tasks fill the cluster, then a little longer, so that
  // anything still in flight would show.
  ::testing::AssertionResult wait_full(Tenants& tenants) {
    bool full = tenants.wait_until(
        [](const auto& views) { return Tenants::total_running(views) >= kClusterCpus; }, 40s);
    auto views = tenants.views();
    std::string summary;
    for (const auto& [name, v] : views) {
      summary += name + ": running " + std::to_string(v.running) + ", launched " +
                 std::to_string(v.launched) + ", wanted " + std::to_string(v.wanted) + "; ";
      for (const auto& p : v.problems) summary += "\n  problem: " + p;
    }
    if (!full) {
      auto failure = ::testing::AssertionFailure()
                     << "the cluster did not fill up: " << summary << "\nmaster:\n"
                     << cluster_.master().output();
      for (int i = 0; i < kAgents; ++i) {
        failure << "\nagent" << i << ":\n" << cluster_.agent(i).output();
      }
      return failure;
    }
    std::this_thread::sleep_for(700ms);
    views = tenants.views();
    if (Tenants::total_running(views) != kClusterCpus) {
      return ::testing::AssertionFailure() << "more than the cluster runs: " << summary;
    }
    for (const auto& [name, v] : views) {
      if (!v.problems.empty()) return ::testing::AssertionFailure() << summary;
    }
    return ::testing::AssertionSuccess();
  }

  // Reads the shares with the CLI, as an operator would.
  Shares shares() {
    Shares out;
    auto [code, frameworks] = cli({"frameworks", "--json"});
    EXPECT_EQ(code, 0) << frameworks;
    std::map<std::string, std::string> names;  // framework id -> name
    try {
      json::value parsed = json::parse(frameworks);
      for (const json::value& f : parsed.at("frameworks").as_array()) {
        std::string name(f.at("name").as_string());
        names[std::string(f.at("id").as_string())] = name;
        out.cpus[name] = f.at("used_resources").at("cpus").to_number<double>();
      }
    } catch (const std::exception& e) {
      ADD_FAILURE() << "tessera frameworks --json: " << e.what() << "\n" << frameworks;
    }
    auto [code2, tasks] = cli({"tasks", "--json"});
    EXPECT_EQ(code2, 0) << tasks;
    try {
      json::value parsed = json::parse(tasks);
      for (const json::value& t : parsed.at("tasks").as_array()) {
        if (t.at("state").as_string() != state::kRunning) continue;
        ++out.running[names[std::string(t.at("framework_id").as_string())]];
      }
    } catch (const std::exception& e) {
      ADD_FAILURE() << "tessera tasks --json: " << e.what() << "\n" << tasks;
    }
    return out;
  }

  // Records the shares in the test's output (and the XML report).
  void report(const std::string& key, const Shares& s, Tenants& tenants) {
    std::printf("[   SHARES ] %s: %s\n             launches: %s\n", key.c_str(), s.text().c_str(),
                tenants.launch_log().c_str());
    RecordProperty(key, s.text());
  }

  // Declared first: the leftover sleeps are killed last, after the cluster has stopped.
  Sleeps sleeps_;
  TempDir dir_;
  Cluster cluster_{dir_};
  int cli_runs_ = 0;
};

// --- The same cluster with each allocator, changed only in TOML ---------------------------------

class AllocatorSwap : public AllocatorE2E, public ::testing::WithParamInterface<std::string> {};

TEST_P(AllocatorSwap, TwoRolesCompetingForAFullCluster) {
  const std::string allocator = GetParam();
  MasterSettings settings;
  settings.allocator = allocator;
  // The only difference between the two runs: which plugin, and the priorities its table has.
  settings.extra = "[plugins." + allocator + "]\nallocation_interval_ms = 500\n";
  if (allocator == "allocator_priority")
    settings.extra += "priorities = { prod = 10, batch = 0 }\n";
  ASSERT_TRUE(cluster_.start_master(settings));

  // Both frameworks subscribe before there is anything to offer: no head start.
  Tenants tenants(cluster_.endpoint(), {{"prod", 6}, {"batch", 8}}, sleeps_.command());
  ASSERT_TRUE(tenants.all_subscribed()) << cluster_.master().output();
  ASSERT_TRUE(start_agents());
  ASSERT_TRUE(wait_full(tenants));

  Shares s = shares();
  report(allocator, s, tenants);
  EXPECT_EQ(s.cpus["prod"] + s.cpus["batch"], kClusterCpus) << s.text();
  EXPECT_EQ(s.running["prod"] + s.running["batch"], kClusterCpus) << s.text();
  auto order = tenants.launch_order();
  if (allocator == "allocator_drf") {
    // Dominant Resource Fairness: half each (prod wants 6, batch 8; neither is satisfied).
    EXPECT_NEAR(s.cpus["prod"], 4, 1) << s.text();
    EXPECT_NEAR(s.cpus["batch"], 4, 1) << s.text();
    // And they took turns, rather than one filling up first: neither was ever more than 2
    // tasks ahead (2: an agent that registers while the other framework holds the first one's
    // offer goes to the one that just launched).
    int lead = 0, max_lead = 0;
    for (const std::string& name : order) {
      lead += name == "batch" ? 1 : -1;
      max_lead = std::max(max_lead, std::abs(lead));
    }
    EXPECT_LE(max_lead, 2) << tenants.launch_log();
  } else {
    // Strict priority: prod gets all it wants, batch only what is left over.
    EXPECT_EQ(s.cpus["prod"], 6) << s.text();
    EXPECT_EQ(s.cpus["batch"], 2) << s.text();
    EXPECT_EQ(s.running["prod"], 6) << s.text();
    EXPECT_EQ(s.running["batch"], 2) << s.text();
    // Batch got nothing before prod had everything.
    ASSERT_GE(order.size(), 6u);
    EXPECT_EQ(std::count(order.begin(), order.begin() + 6, "prod"), 6);
  }
}

INSTANTIATE_TEST_SUITE_P(Allocators, AllocatorSwap,
                         ::testing::Values("allocator_drf", "allocator_priority"),
                         [](const auto& info) { return info.param; });

// --- Weights and quotas from the CLI while the master runs ---------------------------------------

// Both frameworks want the whole cluster. First 1:1; then, after `tessera roles update b
// --weight 3`, the tasks are killed and demand comes back (both revive at once): 1:3.
TEST_F(AllocatorE2E, WeightChangedAtRunTimeFromTheCli) {
  ASSERT_TRUE(cluster_.start_master());  // allocator_drf, no [plugins.allocator_drf] table
  Tenants tenants(cluster_.endpoint(), {{"a", 8}, {"b", 8}}, sleeps_.command());
  ASSERT_TRUE(tenants.all_subscribed()) << cluster_.master().output();
  ASSERT_TRUE(start_agents());
  ASSERT_TRUE(wait_full(tenants));
  Shares before = shares();
  report("weights 1:1", before, tenants);
  EXPECT_NEAR(before.cpus["a"], 4, 1) << before.text();
  EXPECT_NEAR(before.cpus["b"], 4, 1) << before.text();

  auto [code, out] = cli({"roles", "update", "b", "--weight", "3"});
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("role 'b' updated"), std::string::npos) << out;
  ASSERT_TRUE(cluster_.master().wait_for("role 'b' has weight 3", 5s))
      << cluster_.master().output();

  tenants.suppress_and_kill_all();
  ASSERT_TRUE(tenants.wait_until(
      [](const auto& views) {
        for (const auto& [name, v] : views) {
          if (v.live != 0) return false;
        }
        return true;
      },
      20s))
      << cluster_.master().output();
  tenants.want_and_revive({{"a", 8}, {"b", 8}});
  ASSERT_TRUE(wait_full(tenants));
  Shares after = shares();
  report("weights 1:3", after, tenants);
  // Weighted DRF: b's share divided by 3 equals a's, 2 and 6 of 8 cpus.
  EXPECT_NEAR(after.cpus["a"], 2, 1) << after.text();
  EXPECT_NEAR(after.cpus["b"], 6, 1) << after.text();
  EXPECT_GT(after.cpus["b"], before.cpus["b"]) << before.text() << " then " << after.text();
}

// A quota set from the CLI before demand starts caps its role; removed from the CLI, the next
// round of demand is shared 1:1 again.
TEST_F(AllocatorE2E, QuotaSetFromTheCliCapsARole) {
  ASSERT_TRUE(cluster_.start_master());
  Tenants tenants(cluster_.endpoint(), {{"a", 8}, {"b", 8}}, sleeps_.command());
  ASSERT_TRUE(tenants.all_subscribed()) << cluster_.master().output();
  auto [code, out] = cli({"roles", "update", "b", "--quota", "cpus:2"});
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("role 'b' updated"), std::string::npos) << out;
  ASSERT_TRUE(cluster_.master().wait_for("role 'b' has quota limit 'cpus:2'", 5s))
      << cluster_.master().output();

  ASSERT_TRUE(start_agents());
  ASSERT_TRUE(wait_full(tenants));
  Shares capped = shares();
  report("quota b cpus:2", capped, tenants);
  EXPECT_EQ(capped.cpus["b"], 2) << capped.text();
  EXPECT_EQ(capped.cpus["a"], 6) << capped.text();

  std::tie(code, out) = cli({"roles", "update", "b", "--quota", ""});
  ASSERT_EQ(code, 0) << out;
  ASSERT_TRUE(cluster_.master().wait_for("role 'b' has quota limit 'none'", 5s))
      << cluster_.master().output();
  tenants.suppress_and_kill_all();
  ASSERT_TRUE(tenants.wait_until(
      [](const auto& views) {
        for (const auto& [name, v] : views) {
          if (v.live != 0) return false;
        }
        return true;
      },
      20s));
  tenants.want_and_revive({{"a", 8}, {"b", 8}});
  ASSERT_TRUE(wait_full(tenants));
  Shares free = shares();
  report("quota removed", free, tenants);
  EXPECT_NEAR(free.cpus["a"], 4, 1) << free.text();
  EXPECT_NEAR(free.cpus["b"], 4, 1) << free.text();
}

// The priority allocator with no priorities in its TOML: `tessera roles update prod --priority
// 10` while the master runs puts prod in a band above batch.
TEST_F(AllocatorE2E, PrioritySetFromTheCli) {
  MasterSettings settings;
  settings.allocator = "allocator_priority";
  ASSERT_TRUE(cluster_.start_master(settings));
  Tenants tenants(cluster_.endpoint(), {{"prod", 6}, {"batch", 8}}, sleeps_.command());
  ASSERT_TRUE(tenants.all_subscribed()) << cluster_.master().output();
  auto [code, out] = cli({"roles", "update", "prod", "--priority", "10"});
  ASSERT_EQ(code, 0) << out;
  ASSERT_TRUE(cluster_.master().wait_for("role 'prod' has priority 10", 5s))
      << cluster_.master().output();
  ASSERT_TRUE(start_agents());
  ASSERT_TRUE(wait_full(tenants));
  Shares s = shares();
  report("priority prod=10 from the CLI", s, tenants);
  EXPECT_EQ(s.cpus["prod"], 6) << s.text();
  EXPECT_EQ(s.cpus["batch"], 2) << s.text();
}

// A change the master or the allocator refuses fails in the CLI with exit 1 and the reason
// (docs/cli.md); the master answers only once the allocator has taken or refused it.
TEST_F(AllocatorE2E, RoleUpdatesTheMasterOrAllocatorRefusesFailInTheCli) {
  ASSERT_TRUE(cluster_.start_master());  // allocator_drf
  // docs/cli.md's own example of a quota has ports; allocators limit scalars only.
  auto [code, out] = cli({"roles", "update", "b", "--quota", "cpus:2;ports:[31000-31010]"});
  EXPECT_EQ(code, 1) << out;
  // Mesos's reservation syntax is not a resource name here: the CLI's own parser says so (usage).
  std::tie(code, out) = cli({"roles", "update", "b", "--quota", "cpus(r):1"});
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("'cpus(r)': roles and reservations in resource names are not supported"),
            std::string::npos)
      << out;
  // DRF has no priorities.
  std::tie(code, out) = cli({"roles", "update", "b", "--priority", "5"});
  EXPECT_EQ(code, 1) << out;
  EXPECT_NE(out.find("tessera: role 'b': the drf allocator has no priorities (use "
                     "allocator_priority)\n"),
            std::string::npos)
      << out;
  // Not a role name (a framework could not subscribe with it either).
  std::tie(code, out) = cli({"roles", "update", "a b", "--weight", "2"});
  EXPECT_EQ(code, 1) << out;
  EXPECT_NE(out.find("not a role name"), std::string::npos) << out;
  // Nothing was silently dropped: each refusal was answered.
  EXPECT_EQ(cluster_.master().count("ignoring 'allocator.set_"), 0u) << cluster_.master().output();
  // And a valid change still succeeds.
  std::tie(code, out) = cli({"roles", "update", "b", "--weight", "2"});
  EXPECT_EQ(code, 0) << out;
}

// Weights and quotas set from the CLI are in the registry: a restarted master gives them back
// to its allocator before it serves. Two separate updates of one role are both kept.
TEST_F(AllocatorE2E, RoleSettingsSurviveAMasterRestart) {
  ASSERT_TRUE(cluster_.start_master());  // allocator_drf, nothing in its TOML
  auto [code, out] = cli({"roles", "update", "b", "--quota", "cpus:2"});
  ASSERT_EQ(code, 0) << out;
  std::tie(code, out) = cli({"roles", "update", "b", "--weight", "3"});
  ASSERT_EQ(code, 0) << out;
  // Refused changes are not saved.
  std::tie(code, out) = cli({"roles", "update", "b", "--priority", "5"});
  ASSERT_EQ(code, 1) << out;

  ASSERT_TRUE(cluster_.restart_master());
  EXPECT_NE(cluster_.master().output().find("the settings of 1 role(s) from the registry"),
            std::string::npos)
      << cluster_.master().output();
  // This log is the restarted master's own: its allocator has both settings again (logged on
  // the allocator's thread, so maybe just after the master's line).
  EXPECT_TRUE(cluster_.master().wait_for("role 'b' has quota limit 'cpus:2'", 5s))
      << cluster_.master().output();
  EXPECT_TRUE(cluster_.master().wait_for("role 'b' has weight 3", 5s))
      << cluster_.master().output();
  EXPECT_EQ(cluster_.master().count("did not take a saved setting"), 0u)
      << cluster_.master().output();

  // And it acts on them: b is held to its 2 cpus, a gets the rest.
  Tenants tenants(cluster_.endpoint(), {{"a", 8}, {"b", 8}}, sleeps_.command());
  ASSERT_TRUE(tenants.all_subscribed()) << cluster_.master().output();
  ASSERT_TRUE(start_agents());
  ASSERT_TRUE(wait_full(tenants));
  Shares capped = shares();
  report("quota b cpus:2, after a master restart", capped, tenants);
  EXPECT_EQ(capped.cpus["b"], 2) << capped.text();
  EXPECT_EQ(capped.cpus["a"], 6) << capped.text();
}

}  // namespace

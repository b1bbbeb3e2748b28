// The API's copy of the master's tasks: /state and /tasks written from it are byte for byte what
// state_json and tasks_page write from the master's whole state, after any sequence of events;
// an event past a gap drops the copy.
#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <map>
#include <random>

#include "task_view.h"

namespace {

namespace json = boost::json;
namespace op = tessera::protocol::operator_api;
using tessera::master_http::StateContext;
using tessera::master_http::TaskQuery;
using tessera::master_http::TaskView;

// What the master keeps, as the test changes it: the tracked tasks by its key, the finished
// ones oldest first, bounded as the master bounds them.
struct Model {
  op::State base;  // agents, frameworks, offers, roles: everything but the tasks
  std::map<std::string, op::TaskState> tracked;
  std::deque<op::TaskState> completed;
  size_t max_completed = 5;

  op::State state() const {
    op::State s = base;
    s.tasks.clear();
    for (const auto& [key, task] : tracked) s.tasks.push_back(task);
    s.active_tasks = s.tasks.size();
    for (auto it = completed.rbegin(); it != completed.rend(); ++it) s.tasks.push_back(*it);
    return s;
  }
};

op::State base_state() {
  op::State s;
  s.master_id = "m1";
  s.endpoint = "tcp://127.0.0.1:5051";
  s.hostname = "h0";
  s.version = "0.1.0";
  for (const char* id : {"a1", "a2"}) {
    op::AgentState a;
    a.agent_id = id;
    a.hostname = std::string("host-") + id;
    a.total.scalars = {{"cpus", 4}, {"mem", 1024}};
    a.total.ranges["ports"] = {{31000, 31005}};
    a.attributes = {{"rack", "r1"}};
    s.agents.push_back(a);
  }
  // "f" and "f-2" and "f/x"-like neighbours: a framework's tasks are found by id, not by prefix.
  for (const char* id : {"f", "f-2", "f/x", "g"}) {
    op::FrameworkState f;
    f.framework_id = id;
    f.name = std::string("framework \"") + id + "\"";
    f.roles = {"eng"};
    s.frameworks.push_back(f);
  }
  tessera::protocol::scheduler::Offer offer;
  offer.offer_id = "o1";
  offer.framework_id = "f";
  offer.agent_id = "a1";
  offer.resources.scalars = {{"cpus", 1}};
  s.offers.push_back(offer);
  // Executors of two frameworks on both agents, and one of a framework the master no longer
  // lists (not shown).
  for (const char* framework : {"f", "g", "gone"}) {
    for (const char* agent : {"a1", "a2"}) {
      for (const char* executor : {"e1", "e2"}) {
        op::ExecutorState e;
        e.executor_id = executor;
        e.name = std::string("executor ") + executor;
        e.framework_id = framework;
        e.agent_id = agent;
        e.resources.scalars = {{"cpus", 0.5}, {"mem", 32}};
        s.executors.push_back(e);
      }
    }
  }
  op::RoleState role;
  role.name = "eng";
  role.share = 0.125;
  s.roles.push_back(role);
  return s;
}

op::TaskState random_task(std::mt19937& random, const std::string& framework, int id) {
  op::TaskState t;
  t.task_id = "task-" + std::to_string(id);
  t.name = (id % 3 == 0 ? "web " : "batch ") + std::to_string(id);
  t.framework_id = framework;
  t.agent_id = random() % 2 ? "a1" : "a2";
  const char* states[] = {"TASK_STAGING", "TASK_RUNNING", "TASK_FINISHED", "TASK_LOST"};
  t.state = states[random() % 4];
  t.resources.scalars = {{"cpus", 0.25 * static_cast<double>(1 + random() % 4)}, {"mem", 64}};
  t.last_status.state = t.state;
  t.last_status.timestamp = 1700000000.5 + id;
  t.last_status.message = "line \"one\"\nline two";
  t.sandbox = "/w/" + framework + "/" + t.task_id;
  // A third of the tasks run in an executor of their framework (some on executors the master
  // does not list).
  if (random() % 3 == 0) t.executor_id = random() % 3 == 0 ? "e3" : (random() % 2 ? "e1" : "e2");
  if (random() % 2) {
    t.usage.timestamp = 1700000001;
    t.usage.cpu_seconds = 1.5;
  }
  return t;
}

std::string expected_state(const op::State& state, const StateContext& context) {
  return json::serialize(tessera::master_http::state_json(state, context));
}

StateContext context() {
  StateContext c;
  c.leader_http = "http://127.0.0.1:5050";
  c.frameworks_http = {{"marathon", "/marathon"}};
  return c;
}

TEST(TaskView, StateFromTheCopyIsTheMastersStateAfterRandomEvents) {
  for (unsigned seed = 1; seed <= 20; ++seed) {
    std::mt19937 random(seed);
    Model model;
    model.base = base_state();
    // "gone": an orphan's framework; "f/x": its tasks' keys lie among those of "f".
    const char* frameworks[] = {"f", "f-2", "f/x", "g", "gone"};
    int next_id = 0;
    for (int i = 0; i < 6; ++i) {
      op::TaskState t = random_task(random, frameworks[random() % 5], next_id++);
      model.tracked[t.framework_id + "/" + t.task_id] = t;
    }
    // Blocks of 2 tasks (split, emptied and started again before the first as tasks come and
    // go) in odd seeds, of the default size in even ones.
    TaskView view(seed % 2 == 1 ? 2 : TaskView::kBlockTasks);
    view.set_max_completed(model.max_completed);
    uint64_t sequence = 40;
    view.reset(model.state(), sequence);
    for (int step = 0; step < 200; ++step) {
      ++sequence;
      unsigned what = random() % 4;
      if (what == 0 || model.tracked.empty()) {  // a launch
        op::TaskState t = random_task(random, frameworks[random() % 5], next_id++);
        model.tracked[t.framework_id + "/" + t.task_id] = t;
        ASSERT_EQ(view.tracked(sequence, t), TaskView::Step::applied);
      } else if (what == 1) {  // an update
        auto it = std::next(model.tracked.begin(), random() % model.tracked.size());
        it->second.state = "TASK_RUNNING";
        it->second.last_status.state = "TASK_RUNNING";
        it->second.last_status.timestamp += 1;
        ASSERT_EQ(view.tracked(sequence, it->second), TaskView::Step::applied);
      } else if (what == 2) {  // an end, an agent lost, a framework removed: no longer tracked
        auto it = std::next(model.tracked.begin(), random() % model.tracked.size());
        op::TaskState summary = it->second;
        summary.state = "TASK_KILLED";
        model.tracked.erase(it);
        model.completed.push_back(summary);
        while (model.completed.size() > model.max_completed) model.completed.pop_front();
        ASSERT_EQ(view.finished(sequence, summary), TaskView::Step::applied);
      } else {  // an offer or an agent: only the number
        ASSERT_EQ(view.other(sequence), TaskView::Step::applied);
      }
      // Usage comes with the summary, not as an event.
      std::vector<op::TaskUsage> usages;
      if (!model.tracked.empty() && random() % 5 == 0) {
        auto& task = std::next(model.tracked.begin(), random() % model.tracked.size())->second;
        task.usage.timestamp = 1700000100 + step;
        task.usage.mem_bytes = 4096 * step;
        usages.push_back(op::TaskUsage{task.framework_id, task.task_id, task.usage});
      }
      view.apply_usages(usages);

      op::State master = model.state();
      uint64_t version = view.version();
      ASSERT_EQ(view.state_body(model.base, context()), expected_state(master, context()))
          << "seed " << seed << " step " << step;
      // Again, from the lists kept since: the same.
      ASSERT_EQ(view.state_body(model.base, context()), expected_state(master, context()))
          << "seed " << seed << " step " << step;
      EXPECT_EQ(view.version(), version);
      for (const char* state : {"", "TASK_RUNNING"}) {
        for (const char* text : {"", "web"}) {
          for (size_t offset : {size_t{0}, size_t{2}, size_t{7}, size_t{100}}) {
            TaskQuery query;
            query.limit = 3;
            query.offset = offset;
            query.state = state;
            query.text = text;
            ASSERT_EQ(view.tasks_page_body(query),
                      json::serialize(tessera::master_http::tasks_page(master, query)))
                << "seed " << seed << " step " << step << " offset " << offset;
          }
        }
      }
    }
    EXPECT_EQ(view.sequence(), sequence);
    EXPECT_LE(view.completed_count(), model.max_completed);
  }
}

// The agents written once (AgentsJson) and again only where a summary names them
// (agents_since) give the /state that state_json writes from every agent, after any sequence of
// changes; an older set stays as it was, and a change naming an agent the set does not hold, or
// with no set held, gives none.
TEST(TaskView, AgentsWrittenOnceAndAgainWhereTheyChangedGiveTheSameState) {
  using tessera::master_http::AgentsJson;
  unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 random(seed);
  Model model;
  model.base = base_state();
  for (int i = 3; i <= 12; ++i) {
    op::AgentState a = model.base.agents.front();
    a.agent_id = "a" + std::to_string(i);  // "a10" sorts before "a2": the master's order
    a.hostname = "host-" + a.agent_id;
    model.base.agents.push_back(a);
  }
  std::sort(
      model.base.agents.begin(), model.base.agents.end(),
      [](const op::AgentState& x, const op::AgentState& y) { return x.agent_id < y.agent_id; });
  for (int i = 0; i < 6; ++i) {
    op::TaskState t = random_task(random, "f", i);
    model.tracked["f/" + t.task_id] = t;
  }
  TaskView view;
  view.reset(model.state(), 1);
  // The state /state shows when the agents come from `agents`.
  auto body = [&](const std::shared_ptr<const AgentsJson>& agents) {
    op::State without = model.base;
    without.agents.clear();
    StateContext with = context();
    with.agents = agents;
    return view.state_body(without, with);
  };

  op::StateSummary whole;
  whole.state = model.base;
  std::shared_ptr<const AgentsJson> agents = tessera::master_http::agents_json(whole, nullptr);
  ASSERT_NE(agents, nullptr);
  ASSERT_EQ(body(agents), expected_state(model.state(), context()));
  for (int step = 0; step < 200; ++step) {
    op::StateSummary changed;
    changed.agents_since = static_cast<uint64_t>(step) + 1;
    for (op::AgentState& agent : model.base.agents) {
      if (random() % 4 != 0) continue;
      agent.active = random() % 3 != 0;
      agent.used.scalars["cpus"] = 0.001 * static_cast<double>(random() % 4000);
      agent.offered.ranges["ports"] = {{31000, 31000 + random() % 5}};
      changed.state.agents.push_back(agent);
    }
    std::string before = *agents->joined;
    std::shared_ptr<const AgentsJson> next = tessera::master_http::agents_json(changed, agents);
    ASSERT_NE(next, nullptr) << "step " << step;
    EXPECT_EQ(*agents->joined, before);  // the older set is not changed
    agents = next;
    ASSERT_EQ(body(agents), expected_state(model.state(), context())) << "step " << step;
  }
  op::StateSummary stranger;
  stranger.agents_since = 1;
  stranger.state.agents.push_back(model.base.agents.front());
  stranger.state.agents.back().agent_id = "a99";
  EXPECT_EQ(tessera::master_http::agents_json(stranger, agents), nullptr);
  stranger.state.agents.back().agent_id = "a1";
  EXPECT_EQ(tessera::master_http::agents_json(stranger, nullptr), nullptr);
  EXPECT_NE(tessera::master_http::agents_json(stranger, agents), nullptr);
}

// The offers written once (OffersJson) and then only where a summary lists those made since
// and names those gone (offers_since) give the /state that state_json writes from every offer,
// after any sequence of offers made and gone, with offers of frameworks the state does not list
// and frameworks without offers; an older set stays as it was, and a delta that does not fit
// the set held (a gone offer it does not hold, a new one it holds, no set) gives none.
TEST(TaskView, OffersWrittenOnceAndThenOnlyTheNewOnesGiveTheSameState) {
  using tessera::master_http::OffersJson;
  using tessera::protocol::scheduler::Offer;
  unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 random(seed);
  Model model;
  model.base = base_state();
  model.base.offers.clear();
  TaskView view;
  view.reset(model.state(), 1);
  const char* frameworks[] = {"f", "f-2", "g", "gone"};  // "gone" is not in the state
  uint64_t next_offer = 0;
  auto make_offer = [&] {
    Offer offer;
    // Not zero-padded: "o10" sorts before "o9", as the master's ids may.
    offer.offer_id = "o" + std::to_string(++next_offer);
    offer.framework_id = frameworks[random() % 4];
    offer.agent_id = random() % 2 == 0 ? "a1" : "a2";
    offer.hostname = "host-" + offer.agent_id;
    offer.role = "eng";
    offer.resources.scalars = {{"cpus", 0.001 * static_cast<double>(random() % 4000)}};
    offer.resources.ranges["ports"] = {{31000, 31000 + random() % 5}};
    return offer;
  };
  auto by_id = [](std::vector<Offer>& offers) {
    std::sort(offers.begin(), offers.end(),
              [](const Offer& x, const Offer& y) { return x.offer_id < y.offer_id; });
  };
  for (int i = 0; i < 12; ++i) model.base.offers.push_back(make_offer());
  by_id(model.base.offers);
  // The state /state shows when the offers come from `offers`.
  auto body = [&](const std::shared_ptr<const OffersJson>& offers) {
    op::State without = model.base;
    without.offers.clear();
    StateContext with = context();
    with.offers = offers;
    return view.state_body(without, with);
  };
  op::StateSummary whole;
  whole.state = model.base;
  std::shared_ptr<const OffersJson> offers = tessera::master_http::offers_json(whole, nullptr);
  ASSERT_NE(offers, nullptr);
  ASSERT_EQ(body(offers), expected_state(model.state(), context()));
  for (int step = 0; step < 200; ++step) {
    op::StateSummary changed;
    changed.offers_since = static_cast<uint64_t>(step) + 1;
    std::vector<Offer> kept;
    for (Offer& offer : model.base.offers) {
      if (random() % 4 == 0) {
        changed.offers_gone.push_back(offer.offer_id);
      } else {
        kept.push_back(std::move(offer));
      }
    }
    // At least one offer stays outstanding, for the checks after the rounds.
    unsigned made = random() % 5;
    if (kept.empty() && made == 0) made = 1;
    for (unsigned i = made; i > 0; --i) {
      kept.push_back(make_offer());
      changed.state.offers.push_back(kept.back());
    }
    by_id(kept);
    by_id(changed.state.offers);
    model.base.offers = std::move(kept);
    std::map<std::string, std::string, std::less<>> before;
    for (const auto& [framework, list] : offers->joined) before[framework] = *list;
    std::shared_ptr<const OffersJson> next = tessera::master_http::offers_json(changed, offers);
    ASSERT_NE(next, nullptr) << "step " << step;
    for (const auto& [framework, list] : offers->joined) {
      EXPECT_EQ(*list, before[framework]);  // the older set is not changed
    }
    offers = next;
    ASSERT_EQ(body(offers), expected_state(model.state(), context())) << "step " << step;
  }
  ASSERT_FALSE(model.base.offers.empty());
  op::StateSummary unfit;
  unfit.offers_since = 1;
  unfit.offers_gone = {"o-never-made"};
  EXPECT_EQ(tessera::master_http::offers_json(unfit, offers), nullptr);
  unfit.offers_gone.clear();
  unfit.state.offers = {model.base.offers.front()};  // "made since", but held already
  EXPECT_EQ(tessera::master_http::offers_json(unfit, offers), nullptr);
  unfit.state.offers.clear();
  EXPECT_EQ(tessera::master_http::offers_json(unfit, nullptr), nullptr);
  EXPECT_NE(tessera::master_http::offers_json(unfit, offers), nullptr);
}

TEST(TaskView, ExecutorsAreListedWithTheirAgentResourcesAndTasks) {
  std::mt19937 random(5);
  Model model;
  model.base = base_state();
  for (int i = 0; i < 4; ++i) {
    op::TaskState t = random_task(random, "f", i);
    t.state = "TASK_RUNNING";
    t.agent_id = "a1";
    t.executor_id = i < 3 ? "e1" : "";
    model.tracked["f/" + t.task_id] = t;
  }
  TaskView view;
  view.reset(model.state(), 1);
  json::value state = json::parse(view.state_body(model.base, context()));
  const json::array& frameworks = state.at("frameworks").as_array();
  const json::object& f = frameworks.at(0).as_object();
  ASSERT_EQ(f.at("id").as_string(), "f");
  const json::array& executors = f.at("executors").as_array();
  ASSERT_EQ(executors.size(), 4u);  // e1 and e2 on a1 and on a2
  const json::object& e1 = executors.at(0).as_object();
  EXPECT_EQ(e1.at("executor_id").as_string(), "e1");
  EXPECT_EQ(e1.at("name").as_string(), "executor e1");
  EXPECT_EQ(e1.at("framework_id").as_string(), "f");
  EXPECT_EQ(e1.at("slave_id").as_string(), "a1");
  EXPECT_EQ(e1.at("resources").at("cpus").as_double(), 0.5);
  EXPECT_EQ(e1.at("resources").at("mem").as_int64(), 32);
  EXPECT_EQ(json::serialize(e1.at("tasks")), R"(["task-0","task-1","task-2"])");
  EXPECT_EQ(json::serialize(executors.at(1).at("tasks")), "[]");
  // The executor's task ends: it leaves the executor's list.
  op::TaskState ended = model.tracked.at("f/task-1");
  ended.state = "TASK_FINISHED";
  ASSERT_EQ(view.finished(2, ended), TaskView::Step::applied);
  state = json::parse(view.state_body(model.base, context()));
  EXPECT_EQ(json::serialize(state.at("frameworks").at(0).at("executors").at(0).at("tasks")),
            R"(["task-0","task-2"])");
}

TEST(TaskView, EventsAlreadyInTheStateReadAreSkippedAndAGapDropsTheCopy) {
  std::mt19937 random(7);
  Model model;
  model.base = base_state();
  TaskView view;
  EXPECT_FALSE(view.synced());
  view.reset(model.state(), 10);
  EXPECT_TRUE(view.synced());
  EXPECT_EQ(view.master_id(), "m1");
  op::TaskState t = random_task(random, "f", 1);
  // Published before the state was read: it is in it already.
  EXPECT_EQ(view.tracked(9, t), TaskView::Step::stale);
  EXPECT_EQ(view.tracked(10, t), TaskView::Step::stale);
  EXPECT_EQ(view.active_count(), 0u);
  EXPECT_EQ(view.tracked(11, t), TaskView::Step::applied);
  EXPECT_EQ(view.active_count(), 1u);
  // Event 12 was lost: the copy cannot be trusted any more.
  EXPECT_EQ(view.other(13), TaskView::Step::gap);
  EXPECT_FALSE(view.synced());
  EXPECT_EQ(view.active_count(), 0u);
  EXPECT_EQ(view.tracked(14, t), TaskView::Step::gap);
}

TEST(TaskView, FinishedTasksAreBoundedAsTheMasterBoundsThem) {
  std::mt19937 random(3);
  op::State state = base_state();
  for (int i = 0; i < 10; ++i) state.tasks.push_back(random_task(random, "f", i));
  state.active_tasks = 2;  // 8 finished, newest first
  TaskView view;
  view.reset(state, 1);
  EXPECT_EQ(view.active_count(), 2u);
  EXPECT_EQ(view.completed_count(), 8u);
  view.set_max_completed(3);
  ASSERT_EQ(view.completed_count(), 3u);
  // The newest three stay: the first three finished ones in the state's order.
  std::vector<op::TaskState> kept = view.tasks();
  ASSERT_EQ(kept.size(), 5u);
  EXPECT_EQ(kept[2].task_id, "task-2");
  EXPECT_EQ(kept[4].task_id, "task-4");
  EXPECT_EQ(view.finished(2, random_task(random, "f", 99)), TaskView::Step::applied);
  EXPECT_EQ(view.completed_count(), 3u);
  EXPECT_EQ(view.tasks()[2].task_id, "task-99");
}

}  // namespace

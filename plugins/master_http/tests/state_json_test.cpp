// The HTTP API's JSON, task pages, metrics text and role updates, from operator messages.
#include <gtest/gtest.h>

#include "state_json.h"

namespace {

namespace json = boost::json;
namespace op = tessera::protocol::operator_api;
namespace events = tessera::protocol::master_events;
using tessera::master_http::TaskQuery;

op::TaskState task(const std::string& id, const std::string& state, const std::string& fw = "f1") {
  op::TaskState t;
  t.task_id = id;
  t.name = "name-" + id;
  t.framework_id = fw;
  t.agent_id = "a1";
  t.state = state;
  t.resources.scalars = {{"cpus", 0.5}, {"mem", 32}};
  t.last_status.state = state;
  t.last_status.timestamp = 100;
  t.sandbox = "/w/sandboxes/" + fw + "/" + id + "/c1";
  return t;
}

op::State cluster() {
  op::State s;
  s.master_id = "m1";
  s.endpoint = "tcp://127.0.0.1:5051";
  op::AgentState a;
  a.agent_id = "a1";
  a.hostname = "h1";
  a.total.scalars = {{"cpus", 4}, {"mem", 1024}};
  a.total.ranges["ports"] = {{31010, 31010}, {31000, 31005}};
  a.attributes = {{"rack", "r1"}};
  s.agents.push_back(a);
  a.agent_id = "a2";
  a.active = false;
  s.agents.push_back(a);
  op::FrameworkState f;
  f.framework_id = "f1";
  f.name = "web";
  f.roles = {"eng"};
  s.frameworks.push_back(f);
  s.tasks = {task("t1", "TASK_RUNNING"), task("t2", "TASK_STAGING"), task("t3", "TASK_FINISHED")};
  s.active_tasks = 2;
  tessera::protocol::scheduler::Offer offer;
  offer.offer_id = "o1";
  offer.framework_id = "f1";
  offer.agent_id = "a1";
  offer.resources.scalars = {{"cpus", 1}};
  s.offers.push_back(offer);
  op::RoleState role;
  role.name = "eng";
  role.weight = 2;
  role.share = 0.25;
  s.roles.push_back(role);
  return s;
}

TEST(StateJson, ResourcesUseMesosNamesAndPortsAsRangeText) {
  auto r = tessera::master_http::resources_json(cluster().agents[0].total);
  EXPECT_EQ(r.at("cpus").to_number<double>(), 4);
  EXPECT_EQ(r.at("ports").as_string(), "[31000-31005, 31010-31010]");
}

TEST(StateJson, StatePutsTasksUnderTheirFrameworkWithSandboxesAndCountsAgents) {
  json::object s = tessera::master_http::state_json(
      cluster(), {"http://127.0.0.1:5050", {{"marathon", "/marathon"}}, nullptr, nullptr});
  EXPECT_EQ(s.at("leader").as_string(), "tcp://127.0.0.1:5051");
  EXPECT_EQ(s.at("leader_http").as_string(), "http://127.0.0.1:5050");
  EXPECT_EQ(s.at("frameworks_http"), (json::object{{"marathon", "/marathon"}}));
  EXPECT_EQ(s.at("activated_slaves").as_int64(), 1);
  EXPECT_EQ(s.at("deactivated_slaves").as_int64(), 1);
  EXPECT_EQ(s.at("slaves").as_array()[0].at("attributes").at("rack").as_string(), "r1");
  const auto& fw = s.at("frameworks").as_array().at(0).as_object();
  ASSERT_EQ(fw.at("tasks").as_array().size(), 2u);
  ASSERT_EQ(fw.at("completed_tasks").as_array().size(), 1u);
  EXPECT_EQ(fw.at("completed_tasks").as_array()[0].at("id").as_string(), "t3");
  EXPECT_EQ(fw.at("tasks").as_array()[0].at("sandbox").as_string(), "/w/sandboxes/f1/t1/c1");
  EXPECT_EQ(fw.at("tasks").as_array()[0].at("statuses").as_array()[0].at("state").as_string(),
            "TASK_RUNNING");
  EXPECT_EQ(fw.at("offers").as_array()[0].at("slave_id").as_string(), "a1");
  EXPECT_EQ(s.at("roles").as_array()[0].at("weight").to_number<double>(), 2);
}

TEST(StateJson, ATaskPageFiltersCountsAndPages) {
  op::State s = cluster();
  for (int i = 0; i < 50; ++i) s.tasks.push_back(task("bulk" + std::to_string(i), "TASK_RUNNING"));
  auto page = [&](std::optional<std::string> limit, std::optional<std::string> offset,
                  std::optional<std::string> state, std::optional<std::string> q) {
    auto query = TaskQuery::parse(limit, offset, state, std::nullopt, q);
    EXPECT_TRUE(query.ok());
    return tessera::master_http::tasks_page(s, *query);
  };
  auto all = page(std::nullopt, std::nullopt, std::nullopt, std::nullopt);
  EXPECT_EQ(all.at("total").as_uint64(), 53u);
  auto running = page("10", "45", "TASK_RUNNING", std::nullopt);
  EXPECT_EQ(running.at("total").as_uint64(), 51u);
  EXPECT_EQ(running.at("tasks").as_array().size(), 6u);
  auto searched = page(std::nullopt, std::nullopt, std::nullopt, "name-bulk4");
  EXPECT_EQ(searched.at("total").as_uint64(), 11u);  // bulk4 and bulk40..49
}

TEST(StateJson, BadTaskQueriesSayWhy) {
  auto bad = [](std::optional<std::string> limit, std::optional<std::string> offset,
                std::optional<std::string> state) {
    auto q = TaskQuery::parse(limit, offset, state, std::nullopt, std::nullopt);
    EXPECT_FALSE(q.ok());
    return q.ok() ? std::string() : q.error().message;
  };
  EXPECT_NE(bad("abc", std::nullopt, std::nullopt).find("limit must be a whole number"),
            std::string::npos);
  EXPECT_NE(bad("5000", std::nullopt, std::nullopt).find("from 0 to 1000"), std::string::npos);
  EXPECT_NE(bad("99999999999999999999999", std::nullopt, std::nullopt).find("limit"),
            std::string::npos);
  EXPECT_NE(bad(std::nullopt, "-1", std::nullopt).find("offset"), std::string::npos);
  EXPECT_NE(bad(std::nullopt, std::nullopt, "TASK_DREAMING").find("task state"), std::string::npos);
}

TEST(StateJson, MetricsAreInTheExpositionFormat) {
  op::Metrics m;
  m.agents_active = 3;
  m.tasks["TASK_RUNNING"] = 7;
  m.total.scalars = {{"cpus", 12}, {"gpus", 1}};
  m.used.scalars = {{"cpus", 2.5}};
  m.outstanding_offers = 2;
  std::string text = tessera::master_http::metrics_text(m, true, {});
  EXPECT_NE(text.find("# TYPE tessera_master_agents gauge\n"), std::string::npos);
  EXPECT_NE(text.find("tessera_master_agents{state=\"active\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("tessera_master_tasks{state=\"TASK_RUNNING\"} 7\n"), std::string::npos);
  EXPECT_NE(text.find("tessera_master_resources_total{resource=\"gpus\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("tessera_master_resources_used{resource=\"cpus\"} 2.5\n"), std::string::npos);
  EXPECT_NE(text.find("tessera_master_outstanding_offers 2\n"), std::string::npos);
  EXPECT_NE(text.find("tessera_master_elected 1\n"), std::string::npos);
}

TEST(StateJson, AllocationCyclesAreAPrometheusHistogramAndBusAndEventQueueAreCounted) {
  op::Metrics m;
  m.counters.messages_received = 40;
  m.counters.messages_sent = 42;
  // Buckets as the master keeps them, one count each (not cumulative): 2 cycles at most 0.1 ms,
  // 1 at most 1 ms, 1 over 1 s.
  m.counters.allocation_cycle_buckets.assign(std::size(op::kAllocationCycleBuckets) + 1, 0);
  m.counters.allocation_cycle_buckets[0] = 2;
  m.counters.allocation_cycle_buckets[3] = 1;
  m.counters.allocation_cycle_buckets.back() = 1;
  m.counters.allocation_cycle_seconds_sum = 2.5;
  tessera::master_http::ApiCounters api;
  api.event_queue_bytes = 300;
  api.event_queue_max_bytes = 200;
  std::string text = tessera::master_http::metrics_text(m, true, api);
  EXPECT_NE(text.find("# TYPE tessera_master_allocation_cycle_seconds histogram\n"),
            std::string::npos);
  EXPECT_NE(text.find("tessera_master_allocation_cycle_seconds_bucket{le=\"0.0001\"} 2\n"
                      "tessera_master_allocation_cycle_seconds_bucket{le=\"0.00025\"} 2\n"
                      "tessera_master_allocation_cycle_seconds_bucket{le=\"0.0005\"} 2\n"
                      "tessera_master_allocation_cycle_seconds_bucket{le=\"0.001\"} 3\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("tessera_master_allocation_cycle_seconds_bucket{le=\"1\"} 3\n"
                      "tessera_master_allocation_cycle_seconds_bucket{le=\"+Inf\"} 4\n"
                      "tessera_master_allocation_cycle_seconds_sum 2.5\n"
                      "tessera_master_allocation_cycle_seconds_count 4\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("tessera_master_messages_received_total 40\n"), std::string::npos);
  EXPECT_NE(text.find("tessera_master_messages_sent_total 42\n"), std::string::npos);
  EXPECT_NE(text.find("tessera_master_http_event_queue_bytes 300\n"), std::string::npos);
  EXPECT_NE(text.find("tessera_master_http_event_queue_max_bytes 200\n"), std::string::npos);

  // A master that has not allocated yet (or an older one): every bucket 0, still a histogram.
  std::string empty = tessera::master_http::metrics_text(op::Metrics{}, true, {});
  EXPECT_NE(empty.find("tessera_master_allocation_cycle_seconds_bucket{le=\"+Inf\"} 0\n"),
            std::string::npos);
  EXPECT_NE(empty.find("tessera_master_allocation_cycle_seconds_count 0\n"), std::string::npos);
}

TEST(StateJson, ServerTimingNamesEachPhaseEndedInMilliseconds) {
  using std::chrono::microseconds;
  tessera::master_http::StateTiming timing;
  EXPECT_EQ(timing.header(), "");
  auto start = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);
  timing.mark(start);
  EXPECT_EQ(timing.header(), "");
  timing.mark(start + microseconds(10));
  timing.mark(start + microseconds(41210));
  EXPECT_EQ(timing.header(), "copy;dur=0.01, master;dur=41.20");
  // A summary received before the request joined the wait for it: no time before the request.
  timing.mark(start + microseconds(5));
  timing.mark(start + microseconds(41210));
  timing.mark(start + microseconds(45000));
  // A mark past the last phase changes nothing.
  timing.mark(start + microseconds(900000));
  EXPECT_EQ(timing.header(),
            "copy;dur=0.01, master;dur=41.20, summary;dur=0.00, events;dur=0.00, body;dur=3.79");
}

TEST(StateJson, RoleUpdatesAreCheckedBeforeTheMasterSeesThem) {
  auto ok = tessera::master_http::role_update(
      "eng", json::parse(R"({"weight": 2.5, "quota": {"cpus": 4}, "priority": 3})"));
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(ok->weight, 2.5);
  EXPECT_TRUE(ok->set_quota);
  EXPECT_EQ(ok->quota.scalar("cpus"), 4);
  EXPECT_TRUE(ok->set_priority);
  EXPECT_EQ(ok->priority, 3);
  for (const char* body : {R"({"weight": -1})", R"({"weight": "x"})", R"({"weight": 1e300})",
                           R"({"quota": {"cpus": "4"}})", R"({"quota": 4})", R"({"priority": 1.5})",
                           R"({"colour": 1})", R"({})", R"([1])"}) {
    auto bad = tessera::master_http::role_update("eng", json::parse(body));
    EXPECT_FALSE(bad.ok()) << body;
    if (!bad.ok()) {
      EXPECT_EQ(bad.error().code, tessera::ErrorCode::kInvalidArgument) << body;
    }
  }
}

TEST(StateJson, MasterEventsBecomeTheApiEvents) {
  events::TaskUpdated updated{task("t1", "TASK_RUNNING")};
  auto e = tessera::master_http::api_event(updated);
  EXPECT_EQ(e.name, "task_updated");
  EXPECT_EQ(e.data.find('\n'), std::string::npos);
  EXPECT_EQ(json::parse(e.data).at("id").as_string(), "t1");
  events::TaskRemoved removed{task("t1", "TASK_FINISHED")};
  EXPECT_EQ(tessera::master_http::api_event(removed).name, "task_updated");
  events::AgentRemoved gone{"a1", "unreachable"};
  EXPECT_EQ(tessera::master_http::api_event(gone).name, "agent_removed");
  events::FrameworkAdded again;
  again.resubscribed = true;
  EXPECT_EQ(tessera::master_http::api_event(again).name, "framework_updated");
  // From the task's JSON written once: the same events, byte for byte.
  auto same = [](const auto& event) {
    std::string written = json::serialize(tessera::master_http::task_json(event.task));
    auto from_json = tessera::master_http::api_event(event, written);
    auto whole = tessera::master_http::api_event(event);
    EXPECT_EQ(from_json.name, whole.name);
    EXPECT_EQ(from_json.data, whole.data);
  };
  same(events::TaskAdded{task("t2", "TASK_STAGING")});
  same(updated);
  same(removed);
}

}  // namespace

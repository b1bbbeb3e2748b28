// The REST API as functions: status codes and bodies as Marathon answers them.
#include <gtest/gtest.h>

#include <algorithm>

#include "api.h"
#include "recording_driver.h"
#include "tessera/sdk/http/message.h"

namespace tessera::marathon {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using testing::offer;
using testing::RecordingDriver;

// A task's status as the master reports it: its id, agent and state.
protocol::TaskStatus status_of(const std::string& task_id, const std::string& agent_id,
                               const std::string& state) {
  protocol::TaskStatus status;
  status.task_id = task_id;
  status.agent_id = agent_id;
  status.state = state;
  return status;
}

class ApiTest : public ::testing::Test {
 protected:
  ApiTest() : scheduler_(clock_, driver_, options()), api_(scheduler_, info()) {}
  static SchedulerOptions options() {
    SchedulerOptions options;
    options.seed = 7;
    return options;
  }
  static ServiceInfo info() {
    ServiceInfo info;
    info.leading = [] { return true; };
    info.leader_address = [] { return std::string("127.0.0.1:8080"); };
    return info;
  }
  void offer_round() {
    scheduler_.on_offers({offer("o" + std::to_string(++round_), "agent0", "host0",
                                "cpus:4;mem:1024;ports:[31000-31099]")});
  }
  // Every task reports TASK_RUNNING.
  void run_all() {
    for (const auto& [id, task] : scheduler_.tasks()) {
      scheduler_.on_update(status_of(id, task.agent_id, protocol::state::kRunning));
    }
  }
  int round_ = 0;
  sdk::ManualClock clock_;
  RecordingDriver driver_;
  Scheduler scheduler_;
  Api api_;
};

TEST_F(ApiTest, CreateGetListAndConflict) {
  std::vector<json::object> posts;
  api_.on_api_post = [&](const json::object& body) { posts.push_back(body); };
  Reply created = api_.create_app(R"({"id": "/prod/web", "cmd": "sleep 100", "instances": 2,
                                      "labels": {"tier": "front"}})",
                                  "127.0.0.1");
  ASSERT_EQ(created.status, 201u) << to_text(created.body);
  EXPECT_EQ(created.body.at("id"), "/prod/web");
  EXPECT_EQ(created.body.at("deployments").as_array().size(), 1u);
  ASSERT_EQ(posts.size(), 1u);
  EXPECT_EQ(posts[0].at("uri"), "/v2/apps/prod/web");

  EXPECT_EQ(api_.create_app(R"({"id": "prod/web", "cmd": "x"})", "").status, 409u);

  Reply one = api_.get_app("prod/web", {});
  ASSERT_EQ(one.status, 200u);
  EXPECT_EQ(one.body.at("app").at("instances"), 2);
  EXPECT_TRUE(one.body.at("app").as_object().contains("tasks"));
  EXPECT_EQ(api_.get_app("nope", {}).status, 404u);
  EXPECT_EQ(api_.get_app("nope", {}).body.at("message"), "App '/nope' does not exist");

  api_.create_app(R"({"id": "/other", "cmd": "run"})", "");
  EXPECT_EQ(api_.list_apps({}).body.at("apps").as_array().size(), 2u);
  EXPECT_EQ(api_.list_apps({{"id", {"prod"}}}).body.at("apps").as_array().size(), 1u);
  EXPECT_EQ(api_.list_apps({{"cmd", {"run"}}}).body.at("apps").as_array().size(), 1u);
  EXPECT_EQ(api_.list_apps({{"label", {"tier==front"}}}).body.at("apps").as_array().size(), 1u);
  EXPECT_EQ(api_.list_apps({{"label", {"tier!=front"}}}).body.at("apps").as_array().size(), 0u);
  json::value listed = api_.list_apps({{"embed", {"apps.tasks"}}}).body;
  EXPECT_TRUE(listed.at("apps").as_array()[0].as_object().contains("tasks"));
  EXPECT_TRUE(listed.at("apps").as_array()[0].as_object().contains("tasksRunning"));
  EXPECT_FALSE(api_.list_apps({}).body.at("apps").as_array()[0].as_object().contains("tasks"));
}

TEST_F(ApiTest, MalformedJsonIs400AndBadFieldsAre422) {
  Reply malformed = api_.create_app("{oops", "");
  EXPECT_EQ(malformed.status, 400u);
  EXPECT_EQ(malformed.body.at("message"), "Invalid JSON");
  // As MarathonExceptionMapper: the parser's message is a string, not a list of fields.
  EXPECT_TRUE(malformed.body.at("details").is_string()) << to_text(malformed.body);
  Reply empty = api_.create_app(" \n", "");
  EXPECT_EQ(empty.status, 400u);
  EXPECT_EQ(empty.body.at("message"), "Please specify data in JSON format");
  Reply invalid = api_.create_app(R"({"id": "/a", "cmd": "x", "cpus": "many", "mem": -5})", "");
  ASSERT_EQ(invalid.status, 422u);
  EXPECT_EQ(invalid.body.at("message"), "Object is not valid");
  auto details = invalid.body.at("details").as_array();
  ASSERT_EQ(details.size(), 2u) << to_text(invalid.body);
  EXPECT_EQ(details[0].at("path"), "/cpus");
  EXPECT_EQ(details[1].at("path"), "/mem");
  EXPECT_EQ(details[1].at("errors").as_array()[0], "got -5.0, expected 0.0 or more");
}

TEST_F(ApiTest, ChangesDuringADeploymentNeedForce) {
  api_.create_app(R"({"id": "/a", "cmd": "x", "instances": 1})", "");
  Reply busy = api_.put_app("a", R"({"cmd": "x", "instances": 3})", {}, false, "");
  ASSERT_EQ(busy.status, 409u);
  EXPECT_EQ(busy.body.at("deployments").as_array().size(), 1u);
  Reply forced =
      api_.put_app("a", R"({"cmd": "x", "instances": 3})", {{"force", {"true"}}}, false, "");
  ASSERT_EQ(forced.status, 200u) << to_text(forced.body);
  EXPECT_FALSE(std::string(forced.body.at("deploymentId").as_string()).empty());
  EXPECT_EQ(scheduler_.app("/a")->instances, 3);
}

TEST_F(ApiTest, DeletingAnAppForcesByDefaultAsMarathonDoes) {
  api_.create_app(R"({"id": "/stuck", "cmd": "x", "instances": 1})", "");
  ASSERT_NE(scheduler_.deployment_of("/stuck"), nullptr);
  Reply refused = api_.delete_app("stuck", {{"force", {"false"}}});
  EXPECT_EQ(refused.status, 409u) << to_text(refused.body);
  Reply deleted = api_.delete_app("stuck", {});
  ASSERT_EQ(deleted.status, 200u) << to_text(deleted.body);
  EXPECT_FALSE(std::string(deleted.body.at("deploymentId").as_string()).empty());
  // Nothing ran: the app is gone at once.
  EXPECT_EQ(scheduler_.app("/stuck"), nullptr);
  // A forced cancel is 202 with no body, as Marathon answers it.
  api_.create_app(R"({"id": "/b", "cmd": "x", "instances": 1})", "");
  std::string id = scheduler_.deployment_of("/b")->id;
  Reply canceled = api_.delete_deployment(id, {{"force", {"true"}}});
  EXPECT_EQ(canceled.status, 202u);
  ASSERT_TRUE(canceled.text);
  EXPECT_TRUE(canceled.text->empty());
}

TEST_F(ApiTest, WhatCannotBeDoneIsRefusedOrSaid) {
  // This scheduler has no executor for COMMAND checks: an app that has one would never be
  // healthy, so it is refused with the check named, in an app and in a group.
  std::string check = R"("healthChecks": [{"protocol": "TCP"},
      {"protocol": "COMMAND", "command": {"value": "true"}}])";
  Reply refused = api_.create_app(R"({"id": "/c", "cmd": "x", )" + check + "}", "");
  ASSERT_EQ(refused.status, 422u) << to_text(refused.body);
  EXPECT_EQ(refused.body.at("details").as_array()[0].at("path"), "/healthChecks(1)");
  Reply in_group = api_.put_group(
      "", R"({"id": "/g", "apps": [{"id": "c", "cmd": "x", )" + check + "}]}", {}, true, "");
  ASSERT_EQ(in_group.status, 422u) << to_text(in_group.body);
  EXPECT_EQ(in_group.body.at("details").as_array()[0].at("path"), "/apps(0)/healthChecks(1)");
  EXPECT_EQ(api_.put_app("c", R"({"cmd": "x", )" + check + "}", {}, false, "").status, 422u);
  EXPECT_EQ(scheduler_.app("/c"), nullptr);
  // fetch and uris are kept but not fetched, and the answer says so.
  Reply fetching = api_.create_app(
      R"({"id": "/f", "cmd": "x", "fetch": [{"uri": "http://example.invalid/a.tgz"}]})", "");
  ASSERT_EQ(fetching.status, 201u) << to_text(fetching.body);
  auto warning = std::find_if(fetching.headers.begin(), fetching.headers.end(),
                              [](const auto& header) { return header.first == "Warning"; });
  ASSERT_NE(warning, fetching.headers.end());
  EXPECT_EQ(warning->second.rfind("299 ", 0), 0u);
  EXPECT_NE(warning->second.find("'/f'"), std::string::npos) << warning->second;
  Reply plain = api_.create_app(R"({"id": "/p", "cmd": "x"})", "");
  EXPECT_TRUE(std::none_of(plain.headers.begin(), plain.headers.end(),
                           [](const auto& header) { return header.first == "Warning"; }));
  // Marathon's search is by a part of the id or command, whatever the case.
  EXPECT_EQ(api_.list_apps({{"id", {"/F"}}}).body.at("apps").as_array().size(), 1u);
  EXPECT_EQ(api_.list_apps({{"cmd", {"X"}}}).body.at("apps").as_array().size(), 2u);
}

TEST_F(ApiTest, SeveralAppsChangeInOneDeployment) {
  api_.create_app(R"({"id": "/a", "cmd": "x", "instances": 1, "mem": 64})", "");
  offer_round();
  run_all();
  ASSERT_TRUE(scheduler_.deployments().empty());
  Reply changed =
      api_.put_apps(R"([{"id": "/a", "instances": 2}, {"id": "b", "cmd": "y"}])", {}, false, "");
  ASSERT_EQ(changed.status, 200u) << to_text(changed.body);
  ASSERT_EQ(scheduler_.deployments().size(), 1u);
  const Deployment& plan = scheduler_.deployments().begin()->second;
  EXPECT_EQ(plan.id, changed.body.at("deploymentId").as_string());
  EXPECT_EQ(plan.apps, (std::vector<std::string>{"/a", "/b"}));
  EXPECT_EQ(scheduler_.app("/a")->instances, 2);
  EXPECT_EQ(scheduler_.app("/a")->mem, 64.0);
  EXPECT_EQ(scheduler_.app("/b")->cmd, "y");
  // While it runs, another change needs force.
  EXPECT_EQ(api_.put_apps(R"([{"id": "/a", "instances": 3}])", {}, true, "").status, 409u);
  EXPECT_EQ(
      api_.put_apps(R"([{"id": "/a", "instances": 3}])", {{"force", {"true"}}}, true, "").status,
      200u);
  EXPECT_EQ(scheduler_.app("/a")->instances, 3);
  // PATCH changes only apps that exist; every bad item is named by its index.
  EXPECT_EQ(api_.put_apps(R"([{"id": "/nope", "instances": 1}])", {}, true, "").status, 404u);
  Reply invalid = api_.put_apps(R"([{"cmd": "x"}, {"id": "/c", "cmd": "x", "cpus": -1}])",
                                {{"force", {"true"}}}, false, "");
  ASSERT_EQ(invalid.status, 422u) << to_text(invalid.body);
  EXPECT_EQ(invalid.body.at("details").as_array()[0].at("path"), "/(0)/id");
  EXPECT_EQ(invalid.body.at("details").as_array()[1].at("path"), "/(1)/cpus");
  EXPECT_EQ(api_.put_apps(R"({"id": "/a"})", {}, false, "").status, 422u);
  EXPECT_EQ(scheduler_.app("/c"), nullptr);
}

TEST_F(ApiTest, TaskStatsCountTasksByVersionWithTheirLifeTimes) {
  api_.create_app(R"({"id": "/s", "cmd": "x", "instances": 2})", "");
  offer_round();
  // One task runs from now, the other stays staged.
  std::string running_id = scheduler_.tasks().begin()->first;
  scheduler_.on_update(status_of(running_id, "agent0", protocol::state::kRunning));
  clock_.advance(10s);
  EXPECT_FALSE(api_.get_app("s", {}).body.at("app").as_object().contains("taskStats"));
  json::value stats =
      api_.get_app("s", {{"embed", {"app.taskStats"}}}).body.at("app").at("taskStats");
  const json::value& total = stats.at("totalSummary").at("stats");
  EXPECT_EQ(total.at("counts"),
            (json::object{{"staged", 1}, {"running", 1}, {"healthy", 0}, {"unhealthy", 0}}));
  EXPECT_EQ(total.at("lifeTime").at("averageSeconds").as_double(), 10.0);
  EXPECT_EQ(total.at("lifeTime").at("medianSeconds").as_double(), 10.0);
  EXPECT_TRUE(stats.as_object().contains("withLatestConfig"));
  // No task has an older config: that part is left out.
  EXPECT_FALSE(stats.as_object().contains("withOutdatedConfig"));
  // After a config change the old tasks are the outdated ones.
  api_.put_app("s", R"({"cmd": "y"})", {{"force", {"true"}}}, false, "");
  json::value listed = api_.list_apps({{"embed", {"apps.taskStats"}}}).body;
  const json::value& after = listed.at("apps").as_array()[0].at("taskStats");
  EXPECT_EQ(after.at("withOutdatedConfig").at("stats").at("counts").at("running"), 1);
  EXPECT_FALSE(after.as_object().contains("withLatestConfig")) << json::serialize(after);
}

TEST_F(ApiTest, PatchKeepsOtherFieldsAndPutKeepsInstances) {
  api_.create_app(R"({"id": "/a", "cmd": "x", "instances": 2, "mem": 64})", "");
  offer_round();
  run_all();
  ASSERT_TRUE(scheduler_.deployments().empty());
  Reply patched = api_.put_app("a", R"({"instances": 1})", {}, true, "");
  ASSERT_EQ(patched.status, 200u) << to_text(patched.body);
  EXPECT_EQ(scheduler_.app("/a")->mem, 64.0);
  EXPECT_EQ(scheduler_.app("/a")->instances, 1);
  for (const auto& id : driver_.killed) {
    scheduler_.on_update(status_of(id, "agent0", protocol::state::kKilled));
  }
  Reply partial = api_.put_app("a", R"({"mem": 32})", {}, false, "");
  ASSERT_EQ(partial.status, 200u) << to_text(partial.body);
  EXPECT_EQ(scheduler_.app("/a")->cmd, "x");
  EXPECT_EQ(scheduler_.app("/a")->mem, 32.0);
  Reply put = api_.put_app("a", R"({"cmd": "y"})",
                           {{"partialUpdate", {"false"}}, {"force", {"true"}}}, false, "");
  ASSERT_EQ(put.status, 200u) << to_text(put.body);
  EXPECT_EQ(scheduler_.app("/a")->instances, 1);
  EXPECT_EQ(scheduler_.app("/a")->mem, 128.0);
  EXPECT_EQ(api_.put_app("new", R"({"cmd": "y"})", {}, false, "").status, 201u);
  EXPECT_EQ(api_.put_app("missing", R"({"cmd": "y"})", {}, true, "").status, 404u);
}

TEST_F(ApiTest, QueueSaysWhichResourceIsShort) {
  api_.create_app(R"({"id": "/big", "cmd": "x", "mem": 4096})", "");
  offer_round();
  Reply queue = api_.queue({});
  ASSERT_EQ(queue.body.at("queue").as_array().size(), 1u) << to_text(queue.body);
  const json::value& entry = queue.body.at("queue").as_array()[0];
  EXPECT_EQ(entry.at("count"), 1);
  EXPECT_EQ(entry.at("app").at("id"), "/big");
  bool memory_short = false;
  for (const auto& reason :
       entry.at("processedOffersSummary").at("rejectSummaryLastOffers").as_array()) {
    if (reason.at("reason") == "InsufficientMemory") memory_short = reason.at("declined") == 1;
    if (reason.at("reason") == "InsufficientCpus") {
      EXPECT_EQ(reason.at("declined"), 0);
    }
  }
  EXPECT_TRUE(memory_short) << to_text(queue.body);
  EXPECT_EQ(entry.at("largestOffer").at("mem"), 1024.0);
}

TEST_F(ApiTest, QueueFunnelsEachUnusedOfferUnderItsFirstReasonAndListsTheLastPerAgent) {
  // Too many cpus and too much memory: Marathon's funnel counts each offer once, under cpus.
  api_.create_app(R"({"id": "/huge", "cmd": "x", "cpus": 64, "mem": 65536})", "");
  offer_round();
  offer_round();
  Reply queue = api_.queue({{"embed", {"lastUnusedOffers"}}});
  const json::value& entry = queue.body.at("queue").as_array().at(0);
  const json::value& summary = entry.at("processedOffersSummary");
  EXPECT_EQ(summary.at("processedOffersCount"), 2);
  EXPECT_EQ(summary.at("unusedOffersCount"), 2);
  auto step = [&](const char* list, const char* reason) {
    for (const auto& item : summary.at(list).as_array()) {
      if (item.at("reason") == reason) return item.as_object();
    }
    return json::object{};
  };
  // Since the launch began: both offers; of the last offers: one per agent.
  EXPECT_EQ(step("rejectSummaryLaunchAttempt", "InsufficientCpus").at("declined"), 2);
  EXPECT_EQ(step("rejectSummaryLaunchAttempt", "InsufficientCpus").at("processed"), 2);
  EXPECT_EQ(step("rejectSummaryLaunchAttempt", "InsufficientMemory").at("declined"), 0);
  EXPECT_EQ(step("rejectSummaryLaunchAttempt", "InsufficientMemory").at("processed"), 0);
  EXPECT_EQ(step("rejectSummaryLastOffers", "InsufficientCpus").at("declined"), 1);
  EXPECT_EQ(step("rejectSummaryLastOffers", "UnfulfilledRole").at("processed"), 1);

  const json::array& unused = entry.at("lastUnusedOffers").as_array();
  ASSERT_EQ(unused.size(), 1u) << to_text(queue.body);
  EXPECT_EQ(unused[0].at("offer").at("agentId"), "agent0");
  EXPECT_EQ(unused[0].at("offer").at("hostname"), "host0");
  EXPECT_FALSE(unused[0].at("offer").at("resources").as_array().empty());
  EXPECT_EQ(unused[0].at("reason"), (json::array{"InsufficientCpus", "InsufficientMemory"}));
  EXPECT_TRUE(unused[0].at("timestamp").is_string());
  // Without the embed there is no list.
  EXPECT_FALSE(
      api_.queue({}).body.at("queue").as_array().at(0).as_object().contains("lastUnusedOffers"));
}

TEST_F(ApiTest, ResettingTheDelayLaunchesAtTheNextOffer) {
  api_.create_app(R"({"id": "/crash", "cmd": "x", "backoffSeconds": 300})", "");
  offer_round();
  ASSERT_EQ(driver_.launched.size(), 1u);
  protocol::TaskStatus failed;
  failed.task_id = driver_.launched[0].task_id;
  failed.agent_id = "agent0";
  failed.state = protocol::state::kFailed;
  scheduler_.on_update(failed);
  offer_round();
  EXPECT_EQ(driver_.launched.size(), 1u) << "delayed for 300 s";
  EXPECT_EQ(driver_.stored_backoffs.count("/crash"), 1u);

  EXPECT_EQ(api_.reset_delay("crash").status, 204u);
  EXPECT_EQ(driver_.stored_backoffs.count("/crash"), 0u);
  offer_round();
  EXPECT_EQ(driver_.launched.size(), 2u);
  Reply missing = api_.reset_delay("crash");
  EXPECT_EQ(missing.status, 404u);
  EXPECT_EQ(missing.body.at("message"), "Application /crash not found in tasks queue.");
}

TEST_F(ApiTest, TasksDeploymentsVersionsGroupsInfoAndLeader) {
  api_.create_app(R"({"id": "/prod/web", "cmd": "x", "instances": 2})", "");
  offer_round();
  EXPECT_EQ(api_.tasks({}, false).body.at("tasks").as_array().size(), 2u);
  EXPECT_EQ(api_.tasks({{"status", {"running"}}}, false).body.at("tasks").as_array().size(), 0u);
  EXPECT_EQ(
      api_.tasks({{"status[]", {"running", "staging"}}}, false).body.at("tasks").as_array().size(),
      2u);
  EXPECT_EQ(api_.app_tasks("prod/web").body.at("tasks").as_array().size(), 2u);
  json::array deployments = api_.deployments().body.as_array();
  ASSERT_EQ(deployments.size(), 1u);
  EXPECT_EQ(deployments[0].at("affectedApps").as_array()[0], "/prod/web");
  EXPECT_EQ(deployments[0].at("totalSteps"), 2);
  run_all();
  std::string text = *api_.tasks({}, true).text;
  EXPECT_EQ(text.rfind("prod_web\t10000\thost0:31000\thost0:31001\t\n", 0), 0u) << text;
  // The same for one app, as Marathon's AppTasksResource serves it.
  api_.create_app(R"({"id": "/other", "cmd": "x", "instances": 0})", "");
  EXPECT_EQ(*api_.app_tasks("prod/web", true).text,
            "prod_web\t10000\thost0:31000\thost0:31001\t\n");
  EXPECT_EQ(*api_.app_tasks("other", true).text, "other\t10001\t\n");
  Reply versions = api_.app_versions("prod/web");
  ASSERT_EQ(versions.body.at("versions").as_array().size(), 1u);
  std::string version(versions.body.at("versions").as_array()[0].as_string());
  EXPECT_EQ(api_.app_version("prod/web", version).body.at("id"), "/prod/web");
  EXPECT_EQ(api_.app_version("prod/web", "1999").status, 404u);
  Reply root = api_.groups("");
  EXPECT_EQ(root.body.at("groups").as_array()[0].at("id"), "/prod");
  EXPECT_EQ(root.body.at("groups").as_array()[0].at("apps").as_array()[0].at("id"), "/prod/web");
  EXPECT_EQ(api_.groups("nope").status, 404u);
  EXPECT_EQ(api_.info().body.at("elected"), true);
  EXPECT_EQ(api_.leader().body.at("leader"), "127.0.0.1:8080");
  EXPECT_EQ(api_.delete_deployment("nope", {}).status, 404u);
}

TEST_F(ApiTest, GroupsAreCreatedChangedAndDeletedWithTheirApps) {
  Reply created = api_.put_group("", R"({"id": "/prod", "apps": [{"id": "web", "cmd": "x"}],
      "groups": [{"id": "db", "apps": [{"id": "/prod/db/pg", "cmd": "y", "instances": 2}]}]})",
                                 {}, true, "");
  ASSERT_EQ(created.status, 201u) << to_text(created.body);
  ASSERT_NE(scheduler_.app("/prod/web"), nullptr);
  EXPECT_EQ(scheduler_.app("/prod/db/pg")->instances, 2);
  EXPECT_EQ(api_.put_group("", R"({"id": "/prod", "apps": []})", {}, true, "").status, 409u);
  Reply bad =
      api_.put_group("", R"({"id": "/qa", "apps": [{"id": "a", "cpus": -1}]})", {}, true, "");
  ASSERT_EQ(bad.status, 422u);
  EXPECT_EQ(bad.body.at("details").as_array()[0].at("path"), "/apps(0)/cpus");
  // PUT names only web: pg goes.
  Reply changed = api_.put_group("prod", R"({"apps": [{"id": "web", "cmd": "x", "instances": 3}]})",
                                 {{"force", {"true"}}}, false, "");
  ASSERT_EQ(changed.status, 200u) << to_text(changed.body);
  EXPECT_EQ(scheduler_.app("/prod/web")->instances, 3);
  // Without tasks to kill, a removed app is gone at once.
  EXPECT_EQ(scheduler_.app("/prod/db/pg"), nullptr);
  Reply deleted = api_.delete_group("prod", {{"force", {"true"}}});
  EXPECT_EQ(deleted.status, 200u);
  EXPECT_EQ(scheduler_.app("/prod/web"), nullptr);
  EXPECT_EQ(api_.delete_group("nope", {}).status, 404u);
}

// As Marathon's AppHelpers.updateOrRollback: an update naming only a `version` puts the app's
// definition of that version back (the UI's and the CLI's "revert"). The version was ignored:
// the answer was 200 with a deployment, and nothing was rolled back.
TEST_F(ApiTest, AnUpdateNamingAVersionRollsTheAppBack) {
  ASSERT_EQ(api_.create_app(R"({"id": "/a", "cmd": "first", "instances": 0})", "").status, 201u);
  std::string first = scheduler_.app("/a")->version;
  clock_.advance(1s);
  ASSERT_EQ(api_.put_app("a", R"({"cmd": "second", "mem": 64})", {}, false, "").status, 200u);
  ASSERT_EQ(scheduler_.app("/a")->cmd, "second");
  clock_.advance(1s);
  Reply back = api_.put_app("a", R"({"version": ")" + first + R"("})", {}, false, "");
  ASSERT_EQ(back.status, 200u) << to_text(back.body);
  EXPECT_EQ(scheduler_.app("/a")->cmd, "first");
  EXPECT_EQ(scheduler_.app("/a")->mem, 128.0);
  EXPECT_NE(scheduler_.app("/a")->version, first) << "the rollback is a new version";

  Reply mixed =
      api_.put_app("a", R"({"version": ")" + first + R"(", "cmd": "third"})", {}, false, "");
  EXPECT_EQ(mixed.status, 422u);
  EXPECT_EQ(scheduler_.app("/a")->cmd, "first");
  EXPECT_EQ(api_.put_app("a", R"({"version": "2001-01-01T00:00:00.000Z"})", {}, false, "").status,
            404u);
  EXPECT_EQ(api_.put_app("nope", R"({"version": ")" + first + R"("})", {}, false, "").status, 404u);
  // In a PUT of many apps too.
  clock_.advance(1s);
  ASSERT_EQ(api_.put_app("a", R"({"cmd": "fourth"})", {}, false, "").status, 200u);
  Reply many = api_.put_apps(R"([{"id": "/a", "version": ")" + first + R"("}])", {}, false, "");
  ASSERT_EQ(many.status, 200u) << to_text(many.body);
  EXPECT_EQ(scheduler_.app("/a")->cmd, "first");
}

// As Marathon's AppsResource.show: GET /v2/apps/prod/* lists the group's apps, /v2/apps/* the
// root's, and an unknown group is 404 (it was 200 with no apps, and /v2/apps/* 404 for an app
// "/*").
TEST_F(ApiTest, AGroupsAppsAreListedWithAStar) {
  ASSERT_EQ(api_.create_app(R"({"id": "/prod/web", "cmd": "x"})", "").status, 201u);
  ASSERT_EQ(api_.create_app(R"({"id": "/other", "cmd": "x"})", "").status, 201u);
  Reply prod = api_.get_app("prod/*", {});
  ASSERT_EQ(prod.status, 200u);
  EXPECT_EQ(prod.body.at("*").as_array().size(), 1u);
  Reply root = api_.get_app("*", {});
  ASSERT_EQ(root.status, 200u) << to_text(root.body);
  EXPECT_EQ(root.body.at("*").as_array().size(), 2u);
  Reply unknown = api_.get_app("nope/*", {});
  EXPECT_EQ(unknown.status, 404u);
  EXPECT_EQ(unknown.body.at("message"), "Group '/nope' does not exist");
}

// As Marathon's TasksResource and AppTasksResource: 400 for a kill that both scales and wipes
// (the wipe was ignored).
TEST_F(ApiTest, AKillCannotBothScaleAndWipe) {
  ASSERT_EQ(api_.create_app(R"({"id": "/a", "cmd": "x"})", "").status, 201u);
  Query both{{"scale", {"true"}}, {"wipe", {"true"}}};
  Reply all = api_.kill_app_tasks("a", both);
  EXPECT_EQ(all.status, 400u);
  EXPECT_EQ(all.body.at("message"), "You cannot use scale and wipe at the same time.");
  EXPECT_EQ(api_.kill_app_task("a", "a.1", both).status, 400u);
  EXPECT_EQ(api_.kill_tasks(R"({"ids": []})", both).status, 400u);
}

// As Marathon's PathId validation: an app id may not end with a word the API's paths use after
// an app's id; "/prod/tasks" could not be read, changed or deleted through /v2/apps.
TEST_F(ApiTest, AppIdsEndingWithAReservedWordAreRefused) {
  for (const char* id : {"/prod/tasks", "/restart", "/x/versions"}) {
    Reply refused = api_.create_app(std::string(R"({"cmd": "x", "id": ")") + id + "\"}", "");
    ASSERT_EQ(refused.status, 422u) << id;
    EXPECT_EQ(refused.body.at("details").as_array()[0].at("path"), "/id");
    EXPECT_EQ(scheduler_.app(id), nullptr);
  }
  EXPECT_EQ(api_.put_app("prod/tasks", R"({"cmd": "x"})", {}, false, "").status, 422u);
  EXPECT_EQ(api_.create_app(R"({"id": "/prod/tasks-1", "cmd": "x"})", "").status, 201u);
}

// As Marathon's root group validation ("Groups and Applications may not have the same
// identifier."): an app cannot be below an app, nor have a group's id, through any endpoint.
// PUT /v2/apps/{id}, PUT /v2/apps and the group endpoints used to make such apps, and
// PUT /v2/groups/{app} removed the app of that id.
TEST_F(ApiTest, AnAppAndAGroupCannotShareAnId) {
  ASSERT_EQ(api_.create_app(R"({"id": "/web", "cmd": "x"})", "").status, 201u);
  ASSERT_EQ(api_.create_app(R"({"id": "/prod/db", "cmd": "x"})", "").status, 201u);
  auto refused = [](const Reply& reply) {
    return reply.status == 422u &&
           to_text(reply.body).find("Groups and Applications may not have the same identifier") !=
               std::string::npos;
  };
  EXPECT_TRUE(refused(api_.create_app(R"({"id": "/web/sub", "cmd": "x"})", "")));
  EXPECT_TRUE(refused(api_.create_app(R"({"id": "/prod", "cmd": "x"})", "")));
  EXPECT_TRUE(refused(api_.put_app("web/sub", R"({"cmd": "x"})", {}, false, "")));
  EXPECT_TRUE(refused(api_.put_app("prod", R"({"cmd": "x"})", {}, false, "")));
  EXPECT_TRUE(refused(api_.put_apps(R"([{"id": "/web/a/b", "cmd": "x"}])", {}, false, "")));
  EXPECT_TRUE(refused(
      api_.put_group("", R"({"id": "/web/g", "apps": [{"id": "a", "cmd": "x"}]})", {}, true, "")));
  EXPECT_TRUE(refused(api_.put_group("prod/db", R"({})", {}, false, "")));
  EXPECT_TRUE(refused(api_.put_group("web", R"({"apps": []})", {{"dryRun", {"true"}}}, false, "")));
  EXPECT_TRUE(refused(api_.put_group("web", R"({"apps": []})", {{"force", {"true"}}}, false, "")));
  Reply at_app = api_.put_group("", R"({"id": "/web"})", {}, true, "");
  EXPECT_EQ(at_app.status, 409u);
  EXPECT_EQ(at_app.body.at("message"), "An app with the path /web already exists.");
  for (const char* id : {"/web/sub", "/prod", "/web/a/b", "/web/g/a"}) {
    EXPECT_EQ(scheduler_.app(id), nullptr) << id;
  }
  // Without tasks to kill, a removed app would be gone at once.
  EXPECT_NE(scheduler_.app("/web"), nullptr) << "PUT /v2/groups/web does not remove the app";
  // Apps beside each other are fine, as is a group change that removes the app in the way.
  EXPECT_EQ(api_.create_app(R"({"id": "/prod/web", "cmd": "x"})", "").status, 201u);
  EXPECT_EQ(api_.put_apps(R"([{"id": "/web-2", "cmd": "x"}])", {}, false, "").status, 200u);
}

// A group defined alone ("/p/q") implies its parent, which GET /v2/groups shows: it can be read
// and deleted too (it answered 404).
TEST_F(ApiTest, TheParentOfADefinedGroupExists) {
  ASSERT_EQ(api_.put_group("", R"({"id": "/p/q"})", {}, true, "").status, 201u);
  EXPECT_EQ(api_.groups("p").status, 200u);
  EXPECT_EQ(api_.delete_group("p", {}).status, 200u);
  EXPECT_EQ(api_.groups("p/q").status, 404u);
  EXPECT_EQ(api_.groups("p").status, 404u);
}

// A web page of another origin can POST to the API without a CORS preflight (a form, or fetch()
// with a text/plain body): with the API on 127.0.0.1, any page the operator opened could create
// an app running a command of its choice. Such changes are refused; clients that send no
// Origin (curl, Marathon clients) and pages served from the API's own origin are not.
TEST(ApiCrossOrigin, ChangesFromAnotherOriginAreRefused) {
  EXPECT_FALSE(Api::refuse_cross_origin("", "127.0.0.1:8080"));
  EXPECT_FALSE(Api::refuse_cross_origin("http://127.0.0.1:8080", "127.0.0.1:8080"));
  EXPECT_FALSE(Api::refuse_cross_origin("HTTP://Marathon.Example", "marathon.example:80"));
  EXPECT_FALSE(Api::refuse_cross_origin("https://marathon.example:443", "marathon.example"));
  for (const char* origin : {"http://evil.example", "http://127.0.0.1:8081", "null",
                             "http://127.0.0.1:8080.evil.example"}) {
    auto refused = Api::refuse_cross_origin(origin, "127.0.0.1:8080");
    ASSERT_TRUE(refused) << origin;
    EXPECT_EQ(refused->status, 403u);
  }
  EXPECT_TRUE(Api::refuse_cross_origin("http://127.0.0.1:8080", ""));
  // Case-insensitive in the scheme and the host alike (the http library's iequals), and only a
  // whole authority matches.
  EXPECT_FALSE(Api::refuse_cross_origin("hTTpS://LOCALHOST", "localhost:443"));
  EXPECT_FALSE(Api::refuse_cross_origin("http://localhost:80", "LocalHost"));
  for (const char* origin : {"http://", "http://:80", "127.0.0.1:8080", "http://127.0.0.1:808",
                             "ftp://127.0.0.1:8080:80"}) {
    EXPECT_TRUE(Api::refuse_cross_origin(origin, "127.0.0.1:8080")) << origin;
  }
}

// Marathon's AppsResource (and TasksResource's delete) consume only application/json: a body
// declared as a form (curl -d without a type, an HTML form) or as text/plain got in as JSON.
TEST(ApiMediaType, OnlyBodiesDeclaredAsJsonAreTaken) {
  for (const char* type :
       {"application/json", "application/json; charset=utf-8", "Application/JSON;charset=UTF-8",
        " application/json ", "*/*", "application/*", ""}) {
    EXPECT_FALSE(Api::refuse_media_type(type)) << type;
  }
  for (const char* type : {"application/x-www-form-urlencoded", "text/plain", "multipart/form-data",
                           "application/jsonx", "application/json+x", "text/json", "json",
                           "application", "; charset=utf-8", "application/vnd.api+json", "/"}) {
    auto refused = Api::refuse_media_type(type);
    ASSERT_TRUE(refused) << type;
    EXPECT_EQ(refused->status, 415u);
    EXPECT_EQ(refused->body, json::value(json::object{{"message", "Unsupported Media Type"}}));
  }
}

// api_post_event's clientIp was the peer with its port ("127.0.0.1:54321"); Marathon's is the
// client's address alone.
TEST_F(ApiTest, ApiPostEventsNameTheClientsAddressWithoutItsPort) {
  std::vector<json::object> posts;
  api_.on_api_post = [&](const json::object& body) { posts.push_back(body); };
  ASSERT_EQ(api_.create_app(R"({"id": "/a", "cmd": "x"})", "127.0.0.1:54321").status, 201u);
  ASSERT_EQ(api_.put_app("b", R"({"cmd": "x"})", {}, false, "[::1]:8080").status, 201u);
  ASSERT_EQ(api_.put_apps(R"([{"id": "/c", "cmd": "x"}])", {}, false, "10.0.0.7:1").status, 200u);
  ASSERT_EQ(api_.put_group("", R"({"id": "/g", "apps": [{"id": "d", "cmd": "x"}]})", {}, true,
                           "192.168.1.2:65535")
                .status,
            201u);
  ASSERT_EQ(posts.size(), 4u);
  EXPECT_EQ(posts[0].at("clientIp"), "127.0.0.1");
  EXPECT_EQ(posts[1].at("clientIp"), "::1");
  EXPECT_EQ(posts[2].at("clientIp"), "10.0.0.7");
  EXPECT_EQ(posts[3].at("clientIp"), "192.168.1.2");
  EXPECT_EQ(posts[3].at("uri"), "/v2/groups/g");
  // What is no HOST:PORT is given as it is.
  EXPECT_EQ(tessera::sdk::http::peer_address(""), "");
  EXPECT_EQ(tessera::sdk::http::peer_address("::1"), "::1");
  EXPECT_EQ(tessera::sdk::http::peer_address("host:"), "host:");
  EXPECT_EQ(tessera::sdk::http::peer_address("host:http"), "host:http");
  EXPECT_EQ(tessera::sdk::http::peer_address("[::1]"), "[::1]");
}

// Ids with dot segments are resolved as Marathon's PathId.canonicalPath resolves them ("/../x"
// got 422): ".." stays at the root. An id that resolves to the root names no app, and a group's
// id that does is refused too, so that no change meant for a group replaces or empties the tree.
TEST_F(ApiTest, IdsWithDotSegmentsAreResolvedAndNeverNameTheRoot) {
  Reply above = api_.create_app(R"({"id": "/../x", "cmd": "x"})", "");
  ASSERT_EQ(above.status, 201u) << to_text(above.body);
  EXPECT_EQ(above.body.at("id"), "/x");
  Reply here = api_.create_app(R"({"id": "/a/./b", "cmd": "x"})", "");
  ASSERT_EQ(here.status, 201u) << to_text(here.body);
  EXPECT_EQ(here.body.at("id"), "/a/b");
  EXPECT_EQ(api_.get_app("a/./b", {}).status, 200u);
  EXPECT_EQ(api_.get_app("../a/c/../b", {}).body.at("app").at("id"), "/a/b");
  ASSERT_EQ(api_.put_app("a/../c", R"({"cmd": "y"})", {}, false, "").status, 201u);
  EXPECT_NE(scheduler_.app("/c"), nullptr);
  Reply patched =
      api_.put_apps(R"([{"id": "../c/.", "cmd": "z"}])", {{"force", {"true"}}}, true, "");
  ASSERT_EQ(patched.status, 200u) << to_text(patched.body);
  EXPECT_EQ(scheduler_.app("/c")->cmd, "z");

  for (const char* id : {"/a/..", "/..", "/./", "../.."}) {
    Reply root = api_.create_app(std::string(R"({"cmd": "x", "id": ")") + id + R"("})", "");
    ASSERT_EQ(root.status, 422u) << id;
    EXPECT_EQ(root.body.at("details").as_array()[0].at("errors").as_array()[0],
              "Path must contain at least one path element");
    EXPECT_EQ(api_.put_app(id, R"({"cmd": "x"})", {}, false, "").status, 422u) << id;
    EXPECT_EQ(api_.get_app(id, {}).status, 404u) << id;
    EXPECT_EQ(api_.delete_app(id, {}).status, 404u) << id;
  }
  EXPECT_EQ(api_.put_apps(R"([{"id": "/a/..", "cmd": "x"}])", {}, false, "").status, 422u);

  // Groups: resolved the same way, but never to the root by dot segments.
  Reply group = api_.put_group(
      "", R"({"id": "/../team/./x/..", "apps": [{"id": "web", "cmd": "x"}]})", {}, true, "");
  ASSERT_EQ(group.status, 201u) << to_text(group.body);
  EXPECT_NE(scheduler_.app("/team/web"), nullptr);
  size_t apps = scheduler_.apps().size();
  for (const char* id : {"..", "team/..", "./", "a/b/../.."}) {
    Reply put = api_.put_group(id, R"({"apps": []})", {{"force", {"true"}}}, false, "");
    EXPECT_EQ(put.status, 422u) << id;
    EXPECT_EQ(api_.put_group("", std::string(R"({"apps": [], "id": ")") + id + R"("})",
                             {{"force", {"true"}}}, false, "")
                  .status,
              422u)
        << id;
    EXPECT_EQ(
        api_.put_group("team", std::string(R"({"id": "../)") + id + R"("})", {}, true, "").status,
        422u)
        << id;
    EXPECT_EQ(api_.delete_group(id, {{"force", {"true"}}}).status, 404u) << id;
    EXPECT_EQ(api_.groups(id).status, 404u) << id;
  }
  EXPECT_EQ(scheduler_.apps().size(), apps) << "nothing was replaced or removed";
  EXPECT_EQ(api_.groups("team/../team").status, 200u);
  // A subgroup is below its group: not the group again, not empty, not elsewhere.
  for (const char* sub : {".", "", "x/..", "../other", "/elsewhere"}) {
    Reply bad = api_.put_group(
        "", std::string(R"({"id": "/team", "groups": [{"id": ")") + sub + R"("}]})", {}, false, "");
    ASSERT_EQ(bad.status, 422u) << sub << to_text(bad.body);
    EXPECT_EQ(bad.body.at("details").as_array()[0].at("path"), "/groups(0)/id") << sub;
  }
  // Dependencies resolve from the group's parent, and not above the root.
  Reply dependent = api_.put_group("", R"({"id": "/dep", "dependencies": ["../../../team/./web"]})",
                                   {}, true, "");
  ASSERT_EQ(dependent.status, 201u) << to_text(dependent.body);
  EXPECT_EQ(scheduler_.groups().at("/dep").dependencies, std::vector<std::string>{"/team/web"});
}

// LIKE and UNLIKE patterns are compiled once, when the app is defined, and place its instances
// as they say.
TEST_F(ApiTest, ConstraintPatternsAreCompiledOnceAndPlaceTheInstances) {
  ASSERT_EQ(api_.create_app(R"({"id": "/web", "cmd": "x", "instances": 3, "cpus": 0.1, "mem": 1,
                                "constraints": [["hostname", "LIKE", "host[02]"],
                                                ["hostname", "UNLIKE", "host2"]]})",
                            "")
                .status,
            201u);
  const App* app = scheduler_.app("/web");
  ASSERT_NE(app, nullptr);
  ASSERT_NE(app->constraints[0].pattern, nullptr);
  const ConstraintPattern* compiled = app->constraints[0].pattern.get();
  std::vector<protocol::scheduler::Offer> offers;
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 3; ++i) {
      std::string n = std::to_string(i);
      offers.push_back(offer("o" + std::to_string(round) + n, "agent" + n, "host" + n,
                             "cpus:4;mem:1024;ports:[31000-31099]"));
    }
    scheduler_.on_offers(offers);
    offers.clear();
  }
  Reply tasks = api_.app_tasks("web");
  ASSERT_EQ(tasks.body.at("tasks").as_array().size(), 3u) << to_text(tasks.body);
  for (const auto& task : tasks.body.at("tasks").as_array()) EXPECT_EQ(task.at("host"), "host0");
  EXPECT_EQ(scheduler_.app("/web")->constraints[0].pattern.get(), compiled)
      << "matching used the app's own compiled pattern";
}

TEST_F(ApiTest, PostingToAGroupsPathCreatesTheGroupBelowIt) {
  // A relative id in the body is taken from the path; without one, the path is the group.
  Reply below =
      api_.put_group("team", R"({"id": "sub", "apps": [{"id": "web", "cmd": "x"}]})", {}, true, "");
  ASSERT_EQ(below.status, 201u) << to_text(below.body);
  EXPECT_NE(scheduler_.app("/team/sub/web"), nullptr);
  Reply at_path = api_.put_group("solo", R"({"dependencies": ["/team"]})", {}, true, "");
  ASSERT_EQ(at_path.status, 201u) << to_text(at_path.body);
  EXPECT_EQ(scheduler_.groups().at("/solo").dependencies, std::vector<std::string>{"/team"});
  Reply absolute = api_.put_group("team", R"({"id": "/elsewhere"})", {}, true, "");
  ASSERT_EQ(absolute.status, 201u) << to_text(absolute.body);
  EXPECT_TRUE(scheduler_.group_exists("/elsewhere"));
  EXPECT_EQ(api_.put_group("team", R"({"id": "sub"})", {}, true, "").status, 409u);
}

TEST_F(ApiTest, AGroupWithDependenciesIsOneDeploymentAndShowsWhatIsEmbedded) {
  // Relative dependencies are taken from the app's group, as Marathon does.
  Reply created = api_.put_group("", R"({"id": "/shop", "apps": [
        {"id": "web", "cmd": "x", "instances": 2, "dependencies": ["db/pg"]}],
      "groups": [{"id": "db", "apps": [{"id": "pg", "cmd": "y"}]}]})",
                                 {}, true, "");
  ASSERT_EQ(created.status, 201u) << to_text(created.body);
  EXPECT_EQ(scheduler_.app("/shop/web")->dependencies, std::vector<std::string>{"/shop/db/pg"});
  json::array deployments = api_.deployments().body.as_array();
  ASSERT_EQ(deployments.size(), 1u);
  EXPECT_EQ(deployments[0].at("id"), created.body.at("deploymentId"));
  EXPECT_EQ(deployments[0].at("affectedApps").as_array().size(), 2u);
  json::array steps = deployments[0].at("steps").as_array();
  ASSERT_EQ(steps.size(), 3u);
  EXPECT_EQ(steps[1].at("actions").as_array()[0].at("app"), "/shop/db/pg");
  EXPECT_EQ(steps[2].at("actions").as_array()[0].at("app"), "/shop/web");
  // A change while it runs is refused, unless forced.
  Reply busy = api_.put_group("shop", R"({"apps": []})", {}, false, "");
  EXPECT_EQ(busy.status, 409u);
  EXPECT_NE(scheduler_.app("/shop/web"), nullptr);

  // Default embeds: the apps and the subgroups; named embeds: only those.
  Reply tree = api_.groups("shop");
  ASSERT_EQ(tree.status, 200u);
  EXPECT_EQ(tree.body.at("apps").as_array()[0].at("id"), "/shop/web");
  EXPECT_FALSE(tree.body.at("apps").as_array()[0].as_object().contains("tasks"));
  EXPECT_EQ(tree.body.at("groups").as_array()[0].at("id"), "/shop/db");
  EXPECT_EQ(tree.body.at("apps").as_array()[0].at("dependencies").as_array()[0], "/shop/db/pg");
  offer_round();
  Reply with_tasks = api_.groups("shop", {{"embed", {"group.apps.tasks", "group.apps.counts"}}});
  EXPECT_FALSE(with_tasks.body.as_object().contains("groups"));
  const json::object& web = with_tasks.body.at("apps").as_array()[0].as_object();
  EXPECT_TRUE(web.contains("tasks"));
  EXPECT_EQ(web.at("tasksStaged"), 0) << "web launched before pg ran";
  Reply groups_only = api_.groups("", {{"embed", {"group.groups"}}});
  EXPECT_FALSE(groups_only.body.at("groups").as_array()[0].as_object().contains("apps"));

  // Cycles are refused.
  Reply cycle = api_.put_group("", R"({"id": "/loop", "apps": [
        {"id": "a", "cmd": "x", "dependencies": ["b"]},
        {"id": "b", "cmd": "x", "dependencies": ["a"]}]})",
                               {}, true, "");
  ASSERT_EQ(cycle.status, 422u);
  EXPECT_EQ(cycle.body.at("details").as_array()[0].at("errors").as_array()[0],
            "Dependency graph has cyclic dependencies.");
  EXPECT_EQ(scheduler_.app("/loop/a"), nullptr);

  // Deleting the group: one deployment stops both.
  Reply deleted = api_.delete_group("shop", {{"force", {"true"}}});
  ASSERT_EQ(deleted.status, 200u);
  deployments = api_.deployments().body.as_array();
  ASSERT_EQ(deployments.size(), 1u);
  EXPECT_EQ(deployments[0].at("steps").as_array()[0].at("actions").as_array().size(), 2u);
}

TEST_F(ApiTest, DeleteAndKillTasks) {
  api_.create_app(R"({"id": "/a", "cmd": "x", "instances": 2})", "");
  offer_round();
  std::string task = scheduler_.tasks_of("/a").front()->id;
  EXPECT_EQ(api_.kill_app_task("a", "nope", {}).status, 404u);
  // The app's first deployment still runs: scaling down needs force, as in Marathon.
  EXPECT_EQ(api_.kill_app_task("a", task, {{"scale", {"true"}}}).status, 409u);
  Reply killed = api_.kill_app_task("a", task, {{"scale", {"true"}}, {"force", {"true"}}});
  EXPECT_EQ(killed.status, 200u);
  EXPECT_EQ(scheduler_.app("/a")->instances, 1);
  // Scaling down by killing is a deployment of its own, named in the answer.
  const Deployment* scaling = scheduler_.deployment_of("/a");
  ASSERT_NE(scaling, nullptr);
  EXPECT_EQ(killed.body.at("deploymentId").as_string(), scaling->id);
  EXPECT_EQ(scaling->steps.at(0).at(0).action, "ScaleApplication");
  EXPECT_EQ(api_.delete_app("nope", {}).status, 404u);
  Reply deleted = api_.delete_app("a", {{"force", {"true"}}});
  EXPECT_EQ(deleted.status, 200u) << to_text(deleted.body);
}

TEST_F(ApiTest, GroupVersionsListTheTreesVersionsBelowTheGroupNewestFirst) {
  api_.put_group("", R"({"id": "/prod", "apps": [{"id": "web", "cmd": "x"}]})", {}, true, "");
  clock_.advance(1s);
  api_.create_app(R"({"id": "/qa/db", "cmd": "x"})", "");
  std::string first(scheduler_.app("/prod/web")->version);
  clock_.advance(1s);
  api_.put_app("prod/web", R"({"cmd": "y"})", {{"force", {"true"}}}, false, "");
  std::string second(scheduler_.app("/prod/web")->version);
  ASSERT_LT(first, second);
  Reply listed = api_.groups("prod/versions");
  ASSERT_EQ(listed.status, 200u) << to_text(listed.body);
  ASSERT_TRUE(listed.body.is_array()) << to_text(listed.body);
  std::vector<std::string> versions;
  for (const auto& v : listed.body.as_array()) versions.emplace_back(v.as_string());
  // The group's own definition (created with the first version) and both of its app's.
  EXPECT_EQ(versions, (std::vector<std::string>{second, first})) << to_text(listed.body);
  // The root's: those of every part of the tree.
  Reply root = api_.groups("versions");
  ASSERT_EQ(root.status, 200u);
  EXPECT_EQ(root.body.as_array().size(), 3u) << to_text(root.body);
  EXPECT_EQ(root.body.as_array()[1], json::value(scheduler_.app("/qa/db")->version));
  EXPECT_EQ(api_.groups("nope/versions").status, 404u);
  EXPECT_EQ(api_.groups("nope/versions").body.at("message"), "Group '/nope' does not exist");

  // The current version is the group itself, with its apps as their definitions.
  Reply current = api_.groups("prod/versions/" + second);
  ASSERT_EQ(current.status, 200u) << to_text(current.body);
  EXPECT_EQ(current.body.at("id"), "/prod");
  const json::object& web = current.body.at("apps").as_array()[0].as_object();
  EXPECT_EQ(web.at("cmd"), "y");
  EXPECT_FALSE(web.contains("tasksRunning"));
  // Older versions of the tree are not kept whole.
  Reply older = api_.groups("prod/versions/" + first);
  EXPECT_EQ(older.status, 404u);
  EXPECT_EQ(older.body.at("message"), "Group '/prod' does not exist");
  EXPECT_EQ(api_.groups("prod/versions/nonsense").status, 404u);
}

TEST_F(ApiTest, PutOnTheRootGroupReplacesTheTree) {
  api_.create_app(R"({"id": "/old", "cmd": "x"})", "");
  Reply changed =
      api_.put_group("", R"({"apps": [{"id": "top", "cmd": "x"}], "groups": [{"id": "team",
             "apps": [{"id": "web", "cmd": "y"}]}]})",
                     {{"force", {"true"}}}, false, "");
  ASSERT_EQ(changed.status, 200u) << to_text(changed.body);
  EXPECT_TRUE(changed.body.as_object().contains("deploymentId"));
  EXPECT_NE(scheduler_.app("/top"), nullptr);
  EXPECT_NE(scheduler_.app("/team/web"), nullptr);
  // The root's apps the body does not name are removed, as a PUT of any group does.
  EXPECT_EQ(scheduler_.app("/old"), nullptr);
  // With an id, the group it names.
  Reply team = api_.put_group("", R"({"id": "team", "apps": [{"id": "web", "cmd": "z"}]})",
                              {{"force", {"true"}}}, false, "");
  ASSERT_EQ(team.status, 200u) << to_text(team.body);
  EXPECT_EQ(*scheduler_.app("/team/web")->cmd, "z");
  EXPECT_NE(scheduler_.app("/top"), nullptr);
  // A dry run of the root answers the plan.
  Reply plan = api_.put_group("", R"({"apps": []})", {{"dryRun", {"true"}}}, false, "");
  ASSERT_EQ(plan.status, 200u);
  EXPECT_TRUE(plan.body.as_object().contains("steps"));
  EXPECT_NE(scheduler_.app("/top"), nullptr);
  // DELETE /v2/groups empties the root.
  EXPECT_EQ(api_.delete_group("", {{"force", {"true"}}}).status, 200u);
  EXPECT_TRUE(scheduler_.apps().empty());
}

TEST_F(ApiTest, ReadinessResultsAreEmbeddedOnlyWhenAskedFor) {
  api_.put_group("", R"({"id": "/g", "apps": [{"id": "web", "cmd": "x"}]})", {}, true, "");
  EXPECT_FALSE(api_.list_apps({}).body.at("apps").as_array()[0].as_object().contains(
      "readinessCheckResults"));
  Reply listed = api_.list_apps({{"embed", {"apps.readiness"}}});
  EXPECT_EQ(listed.body.at("apps").as_array()[0].at("readinessCheckResults"),
            json::value(json::array{}));
  Reply one = api_.get_app("g/web", {{"embed", {"app.readiness"}}});
  EXPECT_EQ(one.body.at("app").at("readinessCheckResults"), json::value(json::array{}));
  EXPECT_FALSE(
      api_.get_app("g/web", {}).body.at("app").as_object().contains("readinessCheckResults"));
  Reply group = api_.groups("g", {{"embed", {"group.apps.readiness"}}});
  EXPECT_EQ(group.body.at("apps").as_array()[0].at("readinessCheckResults"),
            json::value(json::array{}));
}

TEST_F(ApiTest, AbdicationIsAnsweredAsMarathonAnswersIt) {
  Reply leading = Api::abdicate(true);
  EXPECT_EQ(leading.status, 200u);
  EXPECT_EQ(leading.body.at("message"), "Leadership abdicated");
  Reply standby = Api::abdicate(false);
  EXPECT_EQ(standby.status, 404u);
  EXPECT_EQ(standby.body.at("message"), "There is no leader");
}

}  // namespace
}  // namespace tessera::marathon

// framework_marathon end to end: a real master host running the plugin and three agent hosts,
// each a separate tessera-host process on loopback, driven through Marathon's REST API with
// curl, as a Marathon client would.
#include <gtest/gtest.h>
#include <signal.h>

#include <boost/json.hpp>
#include <fstream>
#include <regex>
#include <set>

#include "http/http_support.h"
#include "support/cluster.h"

namespace {

using namespace std::chrono_literals;
namespace json = boost::json;
using tessera::testing::Cluster;
using tessera::testing::MasterSettings;
using tessera::testing::TempDir;
using tessera::testing::http::curl;
using tessera::testing::http::CurlResult;

// The agents' hostnames (agent0...) do not resolve: health checks connect to loopback instead.
MasterSettings marathon_master() {
  MasterSettings settings;
  settings.extra =
      "frameworks = [\"framework_marathon\"]\n"
      "[plugins.framework_marathon]\n"
      "http_address = \"127.0.0.1:0\"\n"
      "reconcile_interval_seconds = 5\n"
      "health_check_address = \"127.0.0.1\"\n";
  return settings;
}

// All agents share loopback: each gets ports of its own, so that tasks that listen do not clash.
tessera::testing::AgentSettings agent_settings(size_t index) {
  tessera::testing::AgentSettings settings;
  uint64_t first = 31000 + 100 * index;
  settings.resources = "cpus:4;mem:1024;disk:1024;ports:[" + std::to_string(first) + "-" +
                       std::to_string(first + 99) + "]";
  return settings;
}

// An app whose tasks serve their sandbox over HTTP on PORT0 and are healthy while the file
// "ok" is in it.
std::string http_app(const std::string& id, int instances, const std::string& extra = "") {
  return R"({"id": ")" + id + R"(", "instances": )" + std::to_string(instances) +
         R"(, "cpus": 0.1, "mem": 16,
    "cmd": "echo ok > \"$TESSERA_SANDBOX/ok\" && exec busybox httpd -f -p 127.0.0.1:$PORT0 -h \"$TESSERA_SANDBOX\"",
    "healthChecks": [{"protocol": "HTTP", "path": "/ok", "portIndex": 0, "gracePeriodSeconds": 30,
                      "intervalSeconds": 1, "timeoutSeconds": 2, "maxConsecutiveFailures": 2}])" +
         extra + "}";
}

// A database app whose one task becomes healthy (serves "ok" over HTTP) once the file `go`
// exists, so that a test decides when the apps that depend on it may start.
std::string db_app(const std::string& go) {
  return R"({"id": "db", "cpus": 0.1, "mem": 16,
        "cmd": "while [ ! -e )" +
         go +
         R"( ]; do sleep 0.1; done; echo ok > \"$TESSERA_SANDBOX/ok\" && exec busybox httpd -f -p 127.0.0.1:$PORT0 -h \"$TESSERA_SANDBOX\"",
        "healthChecks": [{"protocol": "HTTP", "path": "/ok", "portIndex": 0,
          "gracePeriodSeconds": 120, "intervalSeconds": 1, "timeoutSeconds": 2,
          "maxConsecutiveFailures": 2}]})";
}

// A Marathon client for the master host's plugin: finds its address in the endpoints file.
class Marathon {
 public:
  explicit Marathon(Cluster& cluster) : cluster_(cluster) { find_address(); }

  void find_address() {
    std::regex line("framework_marathon\\.http = \"([^\"]+)\"");
    base_.clear();
    tessera::testing::eventually([&] {
      std::smatch m;
      std::string text = tessera::testing::read_file(cluster_.dir() / "master.endpoints");
      if (!std::regex_search(text, m, line)) return false;
      base_ = "http://" + std::string(m[1]);
      return true;
    });
  }
  const std::string& base() const { return base_; }

  CurlResult call(const std::string& method, const std::string& path,
                  const std::string& body = "") {
    std::vector<std::string> args{"-X", method};
    if (!body.empty()) {
      args.insert(args.end(), {"-H", "Content-Type: application/json", "--data-binary", body});
    }
    args.push_back(base_ + path);
    return curl(cluster_.dir(), args);
  }
  json::value get(const std::string& path) {
    CurlResult r = call("GET", path);
    if (r.status != 200) return nullptr;
    boost::system::error_code ec;
    json::value value = json::parse(r.body, ec);
    return ec ? json::value(nullptr) : value;
  }
  // The app's tasks (id -> host) once it runs `running` of them and has no deployment, or an
  // empty map when that does not happen in time.
  std::map<std::string, std::string> running(const std::string& app, int64_t running,
                                             std::chrono::seconds timeout = 60s) {
    std::map<std::string, std::string> tasks;
    bool done = tessera::testing::eventually(
        [&] {
          json::value reply = get("/v2/apps" + app);
          if (!reply.is_object()) return false;
          const json::object& shown = reply.at("app").as_object();
          if (shown.at("tasksRunning").as_int64() != running) return false;
          if (!shown.at("deployments").as_array().empty()) return false;
          tasks.clear();
          for (const auto& task : shown.at("tasks").as_array()) {
            tasks[std::string(task.at("id").as_string())] =
                std::string(task.at("host").as_string());
          }
          return static_cast<int64_t>(tasks.size()) == running;
        },
        timeout);
    if (!done) tasks.clear();
    return tasks;
  }

  // Posts app `id` of `instances` tasks of `exec sleep 3600` (cpus 0.1, mem 16) and returns its
  // tasks once they all run (running()), or an empty map when the POST or that fails.
  std::map<std::string, std::string> sleepers(const std::string& id, int64_t instances) {
    CurlResult posted = call("POST", "/v2/apps",
                             json::serialize(json::object{{"id", id},
                                                          {"cmd", "exec sleep 3600"},
                                                          {"instances", instances},
                                                          {"cpus", 0.1},
                                                          {"mem", 16}}));
    if (posted.status != 201) return {};
    return running(id, instances);
  }

  // Whether the app's one task becomes healthy, its one check passed (true), in time.
  bool healthy_alone(const std::string& app_id, const std::string& task_id) {
    return tessera::testing::eventually([&] {
      json::value app = get("/v2/apps" + app_id);
      if (!app.is_object() || app.at("app").at("tasksHealthy") != 1) return false;
      const auto& task = app.at("app").at("tasks").as_array()[0];
      const auto& results = task.at("healthCheckResults").as_array();
      return task.at("id").as_string() == task_id && results.size() == 1 &&
             results[0].at("alive") == true && results[0].at("taskId").as_string() == task_id;
    });
  }
  // Whether the app's one task `task_id` is replaced by another, healthy one, in time.
  bool replaced_by_healthy(const std::string& app_id, const std::string& task_id) {
    return tessera::testing::eventually(
        [&] {
          json::value app = get("/v2/apps" + app_id);
          if (!app.is_object() || app.at("app").at("tasksHealthy") != 1) return false;
          const auto& tasks = app.at("app").at("tasks").as_array();
          return tasks.size() == 1 && tasks[0].at("id").as_string() != task_id;
        },
        60s);
  }

 private:
  Cluster& cluster_;
  std::string base_;
};

std::map<std::string, int> per_host(const std::map<std::string, std::string>& tasks) {
  std::map<std::string, int> out;
  for (const auto& [id, host] : tasks) ++out[host];
  return out;
}

TEST(MarathonE2E, DeploysUniqueScalesAndReplacesTheTaskOfAKilledAgent) {
  TempDir dir;
  Cluster cluster(dir);
  ASSERT_TRUE(cluster.start_master(marathon_master()));
  for (size_t i = 0; i < 3; ++i) ASSERT_TRUE(cluster.start_agent(i, agent_settings(i)));
  Marathon marathon(cluster);
  ASSERT_FALSE(marathon.base().empty()) << cluster.master().output();

  EXPECT_EQ(marathon.call("GET", "/ping").body, "pong");
  CurlResult created = marathon.call("POST", "/v2/apps", R"({
      "id": "/prod/web", "cmd": "sleep 3600", "instances": 3, "cpus": 0.1, "mem": 16,
      "constraints": [["hostname", "UNIQUE"]]})");
  ASSERT_EQ(created.status, 201) << created.body << cluster.master().output();
  auto web = marathon.running("/prod/web", 3);
  ASSERT_EQ(web.size(), 3u) << cluster.master().output();
  EXPECT_EQ(per_host(web),
            (std::map<std::string, int>{{"agent0", 1}, {"agent1", 1}, {"agent2", 1}}));

  // Scaling: spread over the agents by default, and back down.
  ASSERT_EQ(marathon
                .call("POST", "/v2/apps", R"({"id": "/scale", "cmd": "sleep 3600",
      "instances": 2, "cpus": 0.1, "mem": 16})")
                .status,
            201);
  ASSERT_EQ(marathon.running("/scale", 2).size(), 2u);
  CurlResult up = marathon.call("PUT", "/v2/apps/scale", R"({"instances": 6})");
  ASSERT_EQ(up.status, 200) << up.body;
  auto six = marathon.running("/scale", 6);
  ASSERT_EQ(six.size(), 6u) << cluster.master().output();
  EXPECT_EQ(per_host(six),
            (std::map<std::string, int>{{"agent0", 2}, {"agent1", 2}, {"agent2", 2}}));
  ASSERT_EQ(marathon.call("PATCH", "/v2/apps/scale", R"({"instances": 2})").status, 200);
  auto two = marathon.running("/scale", 2);
  ASSERT_EQ(two.size(), 2u);

  // kill -9 an agent: its instance of /scale is replaced on another agent; the UNIQUE app's
  // third instance cannot go anywhere else and waits, and the queue says why.
  std::string victim_host = two.begin()->second;
  size_t victim = static_cast<size_t>(victim_host.back() - '0');
  cluster.agent(victim).signal(SIGKILL);
  cluster.agent(victim).wait();
  cluster.drop_agent(victim);
  std::map<std::string, std::string> replaced;
  ASSERT_TRUE(tessera::testing::eventually(
      [&] {
        replaced = marathon.running("/scale", 2, 5s);
        if (replaced.size() != 2) return false;
        for (const auto& [id, host] : replaced) {
          if (host == victim_host) return false;
        }
        return true;
      },
      60s))
      << cluster.master().output();
  EXPECT_EQ(replaced.count(two.begin()->first), 0u);
  ASSERT_TRUE(tessera::testing::eventually(
      [&] {
        json::value queue = marathon.get("/v2/queue");
        if (!queue.is_object()) return false;
        for (const auto& entry : queue.at("queue").as_array()) {
          if (entry.at("app").at("id") != "/prod/web") continue;
          for (const auto& reason :
               entry.at("processedOffersSummary").at("rejectSummaryLastOffers").as_array()) {
            if (reason.at("reason") == "UnfulfilledConstraint" &&
                reason.at("declined").as_int64() > 0) {
              return entry.at("count") == 1;
            }
          }
        }
        return false;
      },
      60s))
      << json::serialize(marathon.get("/v2/queue"));
}

TEST(MarathonE2E, AStandbyProxiesTheApiToTheLeaderAndRedirectsEventStreams) {
  TempDir dir;
  Cluster cluster(dir);
  ASSERT_TRUE(cluster.start_master(marathon_master()));
  ASSERT_TRUE(cluster.start_agent(0, agent_settings(0)));
  Marathon leader(cluster);
  ASSERT_TRUE(tessera::testing::eventually([&] { return leader.get("/v2/apps").is_object(); }));
  std::string leader_address = leader.base().substr(std::string("http://").size());

  auto standby = cluster.start_standby(
      "frameworks = [\"framework_marathon\"]\n"
      "[plugins.framework_marathon]\nhttp_address = \"127.0.0.1:0\"\n");
  std::string base;
  ASSERT_TRUE(tessera::testing::eventually([&] {
    std::smatch m;
    std::string text = tessera::testing::read_file(dir / "standby.endpoints");
    std::regex line("framework_marathon\\.http = \"([^\"]+)\"");
    if (!std::regex_search(text, m, line)) return false;
    base = "http://" + std::string(m[1]);
    return true;
  })) << standby->output();
  std::string standby_address = base.substr(std::string("http://").size());

  // A change through the standby reaches the leader, and the answer comes back through it
  // with Marathon's proxy headers.
  auto headers = dir / "standby-headers";
  CurlResult created = curl(dir, {"-D", headers.string(), "-X", "POST", "-H",
                                  "Content-Type: application/json", "--data-binary",
                                  R"({"id": "/via-standby", "cmd": "sleep 3600", "cpus": 0.1,
                                      "mem": 16})",
                                  base + "/v2/apps"});
  ASSERT_EQ(created.status, 201) << created.body << standby->output();
  std::string head = tessera::testing::read_file(headers);
  EXPECT_NE(head.find("X-Marathon-Via: 1.1 " + standby_address), std::string::npos) << head;
  EXPECT_NE(head.find("X-Marathon-Leader: http://" + leader_address), std::string::npos) << head;
  EXPECT_TRUE(leader.get("/v2/apps/via-standby").is_object());
  CurlResult listed = curl(dir, {base + "/v2/apps?id=/via-standby"});
  EXPECT_EQ(listed.status, 200);
  EXPECT_NE(listed.body.find("\"/via-standby\""), std::string::npos) << listed.body;
  // Marathon's errors come back unchanged.
  CurlResult missing = curl(dir, {base + "/v2/apps/nothing-here"});
  EXPECT_EQ(missing.status, 404) << missing.body;

  // The standby names the leader, redirects event streams to it, and refuses a proxy loop.
  CurlResult named = curl(dir, {base + "/v2/leader"});
  EXPECT_NE(named.body.find(leader_address), std::string::npos) << named.body;
  CurlResult events = curl(dir, {"-D", headers.string(), base + "/v2/events"});
  EXPECT_EQ(events.status, 302);
  EXPECT_NE(tessera::testing::read_file(headers).find("Location: http://" + leader_address +
                                                      "/v2/events"),
            std::string::npos);
  CurlResult loop = curl(dir, {"-H", "X-Marathon-Via: 1.1 " + standby_address, base + "/v2/apps"});
  EXPECT_EQ(loop.status, 502);
  EXPECT_NE(loop.body.find("Detected proxying loop."), std::string::npos) << loop.body;

  // Without a leader to reach, the standby says so.
  cluster.master().stop(10s);
  CurlResult refused = curl(dir, {base + "/v2/apps"});
  EXPECT_EQ(refused.status, 502) << refused.body;
  EXPECT_NE(refused.body.find("Connection to leader refused."), std::string::npos) << refused.body;
  standby->stop(10s);
}

TEST(MarathonE2E, BadInputGetsMarathonsErrorsAndAnAppTooBigWaitsWithTheReason) {
  TempDir dir;
  Cluster cluster(dir);
  ASSERT_TRUE(cluster.start_master(marathon_master()));
  ASSERT_TRUE(cluster.start_agent(0, agent_settings(0)));
  Marathon marathon(cluster);

  CurlResult malformed = marathon.call("POST", "/v2/apps", "{\"id\": \"/a\", ");
  EXPECT_EQ(malformed.status, 400);
  EXPECT_NE(malformed.body.find("Invalid JSON"), std::string::npos) << malformed.body;

  CurlResult invalid = marathon.call(
      "POST", "/v2/apps", R"({"id": "/a", "cmd": "sleep 1", "cpus": -1, "mem": "lots"})");
  ASSERT_EQ(invalid.status, 422) << invalid.body;
  json::value body = json::parse(invalid.body);
  EXPECT_EQ(body.at("message"), "Object is not valid");
  std::set<std::string> paths;
  for (const auto& detail : body.at("details").as_array()) {
    paths.insert(std::string(detail.at("path").as_string()));
  }
  EXPECT_EQ(paths, (std::set<std::string>{"/cpus", "/mem"}));
  EXPECT_EQ(marathon.call("GET", "/v2/apps/nope").status, 404);

  ASSERT_EQ(marathon
                .call("POST", "/v2/apps",
                      R"({"id": "/big", "cmd": "sleep 3600", "cpus": 0.1, "mem": 100000})")
                .status,
            201);
  EXPECT_EQ(marathon.call("POST", "/v2/apps", R"({"id": "/big", "cmd": "x"})").status, 409);
  ASSERT_TRUE(tessera::testing::eventually(
      [&] {
        json::value queue = marathon.get("/v2/queue");
        if (!queue.is_object() || queue.at("queue").as_array().empty()) return false;
        const json::value& entry = queue.at("queue").as_array()[0];
        int64_t memory = 0;
        int64_t cpus = 0;
        for (const auto& reason :
             entry.at("processedOffersSummary").at("rejectSummaryLastOffers").as_array()) {
          if (reason.at("reason") == "InsufficientMemory")
            memory = reason.at("declined").as_int64();
          if (reason.at("reason") == "InsufficientCpus") cpus = reason.at("declined").as_int64();
        }
        return memory > 0 && cpus == 0 &&
               entry.at("largestOffer").at("mem").to_number<double>() == 1024.0;
      },
      30s))
      << json::serialize(marathon.get("/v2/queue"));
  // A change while its deployment is stuck needs force.
  EXPECT_EQ(marathon.call("PUT", "/v2/apps/big", R"({"cmd": "sleep 3600", "mem": 16})").status,
            409);
  EXPECT_EQ(marathon
                .call("PUT", "/v2/apps/big?force=true",
                      R"({"cmd": "sleep 3600", "mem": 16, "cpus": 0.1})")
                .status,
            200);
  EXPECT_EQ(marathon.running("/big", 1).size(), 1u);

  // A group of apps with a subgroup, created, read and deleted as one deployment each; the
  // api depends on the subgroup's db, so its tasks start only once the db is healthy, which it
  // is once the test creates the file "go".
  std::string go = (cluster.dir() / "go").string();
  CurlResult group = marathon.call("POST", "/v2/groups",
                                   R"({"id": "/team", "apps": [
      {"id": "api", "cmd": "exec sleep 3600", "cpus": 0.1, "mem": 16, "instances": 2,
       "dependencies": ["store/db"]}],
      "groups": [{"id": "store", "apps": [)" +
                                       db_app(go) + "]}]}");
  ASSERT_EQ(group.status, 201) << group.body;
  std::string deployment(json::parse(group.body).at("deploymentId").as_string());
  // The plan waits at the db's step: the api has no task yet.
  ASSERT_TRUE(tessera::testing::eventually([&] {
    json::value shown = marathon.get("/v2/apps/team/store/db");
    return shown.is_object() && shown.at("app").at("tasksRunning").as_int64() == 1;
  })) << cluster.master().output();
  json::value plans = marathon.get("/v2/deployments");
  ASSERT_EQ(plans.as_array().size(), 1u) << json::serialize(plans);
  EXPECT_EQ(plans.as_array()[0].at("id").as_string(), deployment);
  EXPECT_EQ(plans.as_array()[0].at("affectedApps").as_array().size(), 2u);
  EXPECT_EQ(plans.as_array()[0].at("currentActions").as_array()[0].at("app"), "/team/store/db");
  EXPECT_EQ(marathon.get("/v2/apps/team/api").at("app").at("tasks").as_array().size(), 0u);
  dir.write("go", "");
  EXPECT_EQ(marathon.running("/team/api", 2).size(), 2u);
  json::value tree = marathon.get("/v2/groups/team?embed=group.apps.tasks&embed=group.groups");
  ASSERT_TRUE(tree.is_object());
  const json::object& api = tree.at("apps").as_array()[0].as_object();
  EXPECT_EQ(api.at("id"), "/team/api");
  const json::object& db = tree.at("groups").as_array()[0].at("apps").as_array()[0].as_object();
  EXPECT_EQ(db.at("id"), "/team/store/db");
  ASSERT_EQ(db.at("tasks").as_array().size(), 1u);
  std::string db_started(db.at("tasks").as_array()[0].at("startedAt").as_string());
  for (const auto& task : api.at("tasks").as_array()) {
    EXPECT_GE(std::string(task.at("stagedAt").as_string()), db_started)
        << "an api task was launched before the db ran";
  }
  EXPECT_TRUE(tessera::testing::eventually(
      [&] { return marathon.get("/v2/deployments").as_array().empty(); }, 30s));
  CurlResult removed = marathon.call("DELETE", "/v2/groups/team");
  EXPECT_EQ(removed.status, 200);
  EXPECT_FALSE(json::parse(removed.body).at("deploymentId").as_string().empty());
  EXPECT_TRUE(tessera::testing::eventually([&] {
    return marathon.call("GET", "/v2/apps/team/api").status == 404 &&
           marathon.call("GET", "/v2/apps/team/store/db").status == 404;
  })) << cluster.master().output();
  EXPECT_EQ(marathon.call("GET", "/v2/groups/team").status, 404);
}

TEST(MarathonE2E, ARestartedMasterHostKeepsTheAppsAndAdoptsTheRunningTasks) {
  TempDir dir;
  Cluster cluster(dir);
  ASSERT_TRUE(cluster.start_master(marathon_master()));
  ASSERT_TRUE(cluster.start_agent(0, agent_settings(0)));
  ASSERT_TRUE(cluster.start_agent(1, agent_settings(1)));
  Marathon marathon(cluster);
  auto before = marathon.sleepers("/keep", 2);
  ASSERT_EQ(before.size(), 2u) << cluster.master().output();
  ASSERT_TRUE(tessera::testing::eventually(
      [&] { return tessera::testing::tasks_in(dir.path()).size() == 2; }));

  // A group without apps is kept in the store too, with its dependencies.
  ASSERT_EQ(
      marathon.call("POST", "/v2/groups", R"({"id": "/kept", "dependencies": ["/keep"]})").status,
      201);

  ASSERT_TRUE(cluster.restart_master());
  marathon.find_address();
  EXPECT_TRUE(cluster.master().wait_for("recovered 1 app(s), 2 task(s)"))
      << cluster.master().output();
  auto after = marathon.running("/keep", 2);
  EXPECT_EQ(after, before) << cluster.master().output();
  // Nothing was launched again: the same two processes run, and the new master host launched
  // nothing.
  EXPECT_EQ(tessera::testing::tasks_in(dir.path()).size(), 2u);
  EXPECT_EQ(cluster.master().output().find("launching '"), std::string::npos)
      << cluster.master().output();
  json::value app = marathon.get("/v2/apps/keep");
  ASSERT_TRUE(app.is_object());
  EXPECT_EQ(app.at("app").at("instances"), 2);
  json::value kept = marathon.get("/v2/groups/kept");
  ASSERT_TRUE(kept.is_object());
  EXPECT_EQ(kept.at("dependencies"), json::array{"/keep"});
}

// A change is answered only once it is stored: 1,200 apps in one request (several store batches,
// a few seconds of writes) survive a kill -9 of the host right after the answer. Before, the
// answer came first and the writes queued behind it were lost, or given up after 30 s.
TEST(MarathonE2E, AChangeThatWasAnsweredSurvivesAKillOfTheHostRightAfter) {
  TempDir dir;
  Cluster cluster(dir);
  ASSERT_TRUE(cluster.start_master(marathon_master()));
  Marathon marathon(cluster);
  std::string apps = "[";
  for (int i = 0; i < 1200; ++i) {
    if (i > 0) apps += ",";
    apps += R"({"id":"/many/a)" + std::to_string(i) + R"(","cmd":"sleep 9","instances":0})";
  }
  apps += "]";
  CurlResult put = marathon.call("PUT", "/v2/apps", apps);
  ASSERT_EQ(put.status, 200) << put.body << cluster.master().output();
  ASSERT_TRUE(cluster.restart_master(/*crash=*/true));
  marathon.find_address();
  EXPECT_TRUE(cluster.master().wait_for("recovered 1200 app(s)")) << cluster.master().output();
  json::value group = marathon.get("/v2/groups/many");
  ASSERT_TRUE(group.is_object()) << cluster.master().output();
  EXPECT_EQ(group.at("apps").as_array().size(), 1200u);
}

// DELETE /v2/leader abdicates as Marathon's does: the host is deposed, and its master stops as a
// deposed Mesos master does (Marathon too exits when it loses leadership), leaving the tasks
// running for the host that is started again (its supervisor's job) to adopt.
// A change of 1,200 apps keeps each one's definition before it in the deployment's record (for
// a rollback): over the store's limit of a value (1 MiB), which refused the record. The change
// was answered 503 "the change is not stored" though it went ahead, and a new leader had no
// deployment to resume or roll back. The record is stored in parts.
TEST(MarathonE2E, AChangeOfManyAppsIsStoredAndANewLeaderCanRollItBack) {
  TempDir dir;
  Cluster cluster(dir);
  ASSERT_TRUE(cluster.start_master(marathon_master()));
  Marathon marathon(cluster);
  auto apps = [](const std::string& cmd, int first_instances) {
    std::string out = "[";
    for (int i = 0; i < 1200; ++i) {
      if (i > 0) out += ",";
      out += R"({"id":"/many/a)" + std::to_string(i) + R"(","cmd":")" + cmd + R"(","instances":)" +
             std::to_string(i == 0 ? first_instances : 0) + "}";
    }
    return out + "]";
  };
  CurlResult put = marathon.call("PUT", "/v2/apps", apps("sleep 9", 0));
  ASSERT_EQ(put.status, 200) << put.body << cluster.master().output();
  // Every app changes; with no agent, /many/a0's instance keeps the deployment going.
  CurlResult changed = marathon.call("PUT", "/v2/apps?force=true", apps("sleep 10", 1));
  ASSERT_EQ(changed.status, 200) << changed.body << cluster.master().output();
  std::string id(json::parse(changed.body).at("deploymentId").as_string());

  ASSERT_TRUE(cluster.restart_master(/*crash=*/true));
  marathon.find_address();
  EXPECT_TRUE(cluster.master().wait_for("recovered 1200 app(s), 0 task(s), 1 deployment(s)"))
      << cluster.master().output();
  CurlResult rollback = marathon.call("DELETE", "/v2/deployments/" + id);
  ASSERT_EQ(rollback.status, 200) << rollback.body << cluster.master().output();
  json::value app = marathon.get("/v2/apps/many/a777");
  ASSERT_TRUE(app.is_object()) << cluster.master().output();
  EXPECT_EQ(app.at("app").at("cmd"), "sleep 9") << "the definition before the change is back";
}

TEST(MarathonE2E, AnAbdicationDeposesTheHostAndARestartAdoptsItsTasks) {
  TempDir dir;
  Cluster cluster(dir);
  ASSERT_TRUE(cluster.start_master(marathon_master()));
  ASSERT_TRUE(cluster.start_agent(0, agent_settings(0)));
  Marathon marathon(cluster);
  auto before = marathon.sleepers("/stay", 2);
  ASSERT_EQ(before.size(), 2u) << cluster.master().output();

  CurlResult abdicated = marathon.call("DELETE", "/v2/leader");
  EXPECT_EQ(abdicated.status, 200) << abdicated.body;
  EXPECT_NE(abdicated.body.find("\"Leadership abdicated\""), std::string::npos) << abdicated.body;
  EXPECT_TRUE(cluster.master().wait_for("gave up leadership")) << cluster.master().output();
  EXPECT_TRUE(cluster.master().wait_for("lost leadership")) << cluster.master().output();
  EXPECT_TRUE(cluster.master().wait(20s).has_value()) << "the deposed host did not stop";
  EXPECT_EQ(tessera::testing::tasks_in(dir.path()).size(), 2u);

  ASSERT_TRUE(cluster.restart_master(/*crash=*/true));
  marathon.find_address();
  EXPECT_TRUE(cluster.master().wait_for("recovered 1 app(s), 2 task(s)"))
      << cluster.master().output();
  EXPECT_EQ(marathon.running("/stay", 2), before) << cluster.master().output();
  EXPECT_EQ(tessera::testing::tasks_in(dir.path()).size(), 2u);
}

// The root group over HTTP: PUT replaces the tree, its versions are listed, DELETE empties it.
TEST(MarathonE2E, TheRootGroupIsReplacedListedByVersionAndEmptied) {
  TempDir dir;
  Cluster cluster(dir);
  ASSERT_TRUE(cluster.start_master(marathon_master()));
  Marathon marathon(cluster);
  ASSERT_EQ(marathon.call("POST", "/v2/apps", R"({"id": "/old", "cmd": "sleep 9", "instances": 0})")
                .status,
            201);
  CurlResult put = marathon.call("PUT", "/v2/groups", R"({"id": "/", "groups": [{"id": "/shop",
      "apps": [{"id": "/shop/web", "cmd": "sleep 9", "instances": 0}]}]})");
  ASSERT_EQ(put.status, 200) << put.body;
  EXPECT_NE(put.body.find("\"deploymentId\""), std::string::npos) << put.body;
  // The apps the body does not name are gone; the new one is there.
  EXPECT_EQ(marathon.call("GET", "/v2/apps/old").status, 404);
  json::value web = marathon.get("/v2/apps/shop/web");
  ASSERT_TRUE(web.is_object());
  std::string version(web.at("app").at("version").as_string());
  json::value versions = marathon.get("/v2/groups/versions");
  ASSERT_TRUE(versions.is_array()) << marathon.call("GET", "/v2/groups/versions").body;
  EXPECT_NE(std::find(versions.as_array().begin(), versions.as_array().end(), json::value(version)),
            versions.as_array().end());
  json::value shop_versions = marathon.get("/v2/groups/shop/versions");
  ASSERT_TRUE(shop_versions.is_array());
  EXPECT_EQ(shop_versions.as_array().front(), json::value(version));
  EXPECT_EQ(marathon.call("GET", "/v2/groups/nope/versions").status, 404);

  CurlResult emptied = marathon.call("DELETE", "/v2/groups");
  ASSERT_EQ(emptied.status, 200) << emptied.body;
  EXPECT_EQ(marathon.call("GET", "/v2/apps/shop/web").status, 404);
  json::value root = marathon.get("/v2/groups");
  ASSERT_TRUE(root.is_object());
  EXPECT_TRUE(root.at("apps").as_array().empty());
  EXPECT_TRUE(root.at("groups").as_array().empty()) << json::serialize(root);
}

TEST(MarathonE2E, EmptyNestedGroupsAndGroupDependenciesOrderTheDeployment) {
  TempDir dir;
  Cluster cluster(dir);
  ASSERT_TRUE(cluster.start_master(marathon_master()));
  ASSERT_TRUE(cluster.start_agent(0, agent_settings(0)));
  ASSERT_TRUE(cluster.start_agent(1, agent_settings(1)));
  Marathon marathon(cluster);

  // Empty groups, nested ones among them: created, listed, refused twice, deleted.
  CurlResult empty = marathon.call("POST", "/v2/groups", R"({"id": "/empty"})");
  ASSERT_EQ(empty.status, 201) << empty.body;
  EXPECT_FALSE(json::parse(empty.body).at("deploymentId").as_string().empty());
  EXPECT_EQ(marathon.call("POST", "/v2/groups", R"({"id": "/empty"})").status, 409);
  ASSERT_EQ(marathon.call("POST", "/v2/groups", R"({"id": "/outer", "groups": [{"id": "inner"}]})")
                .status,
            201);
  json::value root = marathon.get("/v2/groups");
  ASSERT_TRUE(root.is_object());
  std::set<std::string> listed;
  for (const auto& group : root.at("groups").as_array()) {
    listed.insert(std::string(group.at("id").as_string()));
  }
  EXPECT_EQ(listed, (std::set<std::string>{"/empty", "/outer"}));
  json::value inner = marathon.get("/v2/groups/outer/inner");
  ASSERT_TRUE(inner.is_object());
  EXPECT_TRUE(inner.at("apps").as_array().empty());
  EXPECT_EQ(marathon.call("DELETE", "/v2/groups/outer").status, 200);
  EXPECT_EQ(marathon.call("GET", "/v2/groups/outer/inner").status, 404);
  EXPECT_EQ(marathon.call("DELETE", "/v2/groups/empty").status, 200);
  EXPECT_EQ(marathon.call("GET", "/v2/groups/empty").status, 404);
  EXPECT_EQ(marathon.call("DELETE", "/v2/groups/empty").status, 404);

  // Bad dependencies: a path that is none, and groups that wait for each other.
  CurlResult bad =
      marathon.call("POST", "/v2/groups", R"({"id": "/bad", "dependencies": ["Not A Path!"]})");
  EXPECT_EQ(bad.status, 422);
  EXPECT_NE(bad.body.find("/dependencies(0)"), std::string::npos) << bad.body;
  CurlResult cycle = marathon.call("POST", "/v2/groups", R"({"id": "/loop", "groups": [
      {"id": "a", "dependencies": ["b"], "apps": [{"id": "x", "cmd": "sleep 3600", "mem": 16, "cpus": 0.1}]},
      {"id": "b", "dependencies": ["a"], "apps": [{"id": "y", "cmd": "sleep 3600", "mem": 16, "cpus": 0.1}]}]})");
  EXPECT_EQ(cycle.status, 422);
  EXPECT_NE(cycle.body.find("cyclic"), std::string::npos) << cycle.body;

  // The web group depends on the db group (relative to their parent): its apps start only once
  // the db's app is healthy, which it becomes when the test creates "go".
  std::string go = (cluster.dir() / "go").string();
  CurlResult shop = marathon.call("POST", "/v2/groups", R"({"id": "/shop", "groups": [
      {"id": "web", "dependencies": ["db"], "apps": [
        {"id": "front", "cmd": "exec sleep 3600", "cpus": 0.1, "mem": 16, "instances": 2}]},
      {"id": "db", "apps": [)" + db_app(go) + "]}]}");
  ASSERT_EQ(shop.status, 201) << shop.body;
  ASSERT_TRUE(tessera::testing::eventually([&] {
    json::value shown = marathon.get("/v2/apps/shop/db/db");
    return shown.is_object() && shown.at("app").at("tasksRunning").as_int64() == 1;
  })) << cluster.master().output();
  json::value plans = marathon.get("/v2/deployments");
  ASSERT_EQ(plans.as_array().size(), 1u) << json::serialize(plans);
  EXPECT_EQ(plans.as_array()[0].at("currentActions").as_array()[0].at("app"), "/shop/db/db");
  EXPECT_EQ(marathon.get("/v2/apps/shop/web/front").at("app").at("tasks").as_array().size(), 0u);
  json::value web = marathon.get("/v2/groups/shop/web");
  ASSERT_TRUE(web.is_object());
  EXPECT_EQ(web.at("dependencies"), json::array{"/shop/db"});
  dir.write("go", "");
  EXPECT_EQ(marathon.running("/shop/web/front", 2).size(), 2u) << cluster.master().output();
  json::value db = marathon.get("/v2/apps/shop/db/db");
  json::value front = marathon.get("/v2/apps/shop/web/front");
  ASSERT_TRUE(db.is_object() && front.is_object());
  std::string db_started(db.at("app").at("tasks").as_array()[0].at("startedAt").as_string());
  for (const auto& task : front.at("app").at("tasks").as_array()) {
    EXPECT_GE(std::string(task.at("stagedAt").as_string()), db_started)
        << "a front task was launched before the db ran";
  }
}

TEST(MarathonE2E, RollingBackAGroupDeploymentRestoresTheGroupWithItsApps) {
  TempDir dir;
  Cluster cluster(dir);
  ASSERT_TRUE(cluster.start_master(marathon_master()));
  ASSERT_TRUE(cluster.start_agent(0, agent_settings(0)));
  Marathon marathon(cluster);
  CurlResult created = marathon.call("POST", "/v2/groups", R"({"id": "/rb",
      "dependencies": ["/base"],
      "apps": [{"id": "web", "cmd": "exec sleep 3600", "cpus": 0.1, "mem": 16}]})");
  ASSERT_EQ(created.status, 201) << created.body;
  ASSERT_EQ(marathon.running("/rb/web", 1).size(), 1u) << cluster.master().output();

  // The change asks for more memory than any agent has, so its deployment stays in progress;
  // the group's dependencies and a new subgroup are in it too.
  CurlResult changed = marathon.call("PUT", "/v2/groups/rb", R"({"id": "/rb",
      "dependencies": ["/other"], "groups": [{"id": "extra"}],
      "apps": [{"id": "web", "cmd": "exec sleep 3600", "cpus": 0.1, "mem": 100000}]})");
  ASSERT_EQ(changed.status, 200) << changed.body;
  std::string deployment(json::parse(changed.body).at("deploymentId").as_string());
  json::value group = marathon.get("/v2/groups/rb");
  ASSERT_TRUE(group.is_object());
  EXPECT_EQ(group.at("dependencies"), json::array{"/other"});
  EXPECT_EQ(marathon.call("GET", "/v2/groups/rb/extra").status, 200);
  json::value plans = marathon.get("/v2/deployments");
  ASSERT_EQ(plans.as_array().size(), 1u) << json::serialize(plans);
  EXPECT_EQ(plans.as_array()[0].at("id").as_string(), deployment);

  CurlResult rolled = marathon.call("DELETE", "/v2/deployments/" + deployment);
  ASSERT_EQ(rolled.status, 200) << rolled.body;
  EXPECT_NE(json::parse(rolled.body).at("deploymentId").as_string(), deployment);
  // The group is as it was: its dependencies, no subgroup, its app's memory, one task running.
  ASSERT_EQ(marathon.running("/rb/web", 1).size(), 1u) << cluster.master().output();
  group = marathon.get("/v2/groups/rb");
  ASSERT_TRUE(group.is_object());
  EXPECT_EQ(group.at("dependencies"), json::array{"/base"});
  EXPECT_TRUE(group.at("groups").as_array().empty()) << json::serialize(group);
  EXPECT_EQ(marathon.call("GET", "/v2/groups/rb/extra").status, 404);
  EXPECT_EQ(marathon.get("/v2/apps/rb/web").at("app").at("mem").to_number<double>(), 16.0);

  // Apps are also changed together (PATCH /v2/apps: one deployment for the list).
  CurlResult scaled = marathon.call("PATCH", "/v2/apps", R"([{"id": "/rb/web", "instances": 2}])");
  ASSERT_EQ(scaled.status, 200) << scaled.body;
  EXPECT_FALSE(json::parse(scaled.body).at("deploymentId").as_string().empty());
  EXPECT_EQ(marathon.running("/rb/web", 2).size(), 2u) << cluster.master().output();

  // One app's tasks in the text form, the array form of the status filter, and a group created
  // below a path, as Marathon serves them.
  CurlResult text =
      curl(cluster.dir(), {"-H", "Accept: text/plain", marathon.base() + "/v2/apps/rb/web/tasks"});
  ASSERT_EQ(text.status, 200) << text.body;
  EXPECT_TRUE(std::regex_match(text.body, std::regex("rb_web\t10000\t(agent0:[0-9]+\t){2}\n")))
      << text.body;
  json::value running = marathon.get("/v2/tasks?status%5B%5D=running");
  ASSERT_TRUE(running.is_object());
  EXPECT_EQ(running.at("tasks").as_array().size(), 2u);
  EXPECT_EQ(marathon.call("POST", "/v2/groups/rb", R"({"id": "more"})").status, 201);
  EXPECT_EQ(marathon.call("GET", "/v2/groups/rb/more").status, 200);
}

TEST(MarathonE2E, RollingRestartKeepsMinimumHealthCapacityAndStreamsEvents) {
  TempDir dir;
  Cluster cluster(dir);
  ASSERT_TRUE(cluster.start_master(marathon_master()));
  for (size_t i = 0; i < 3; ++i) ASSERT_TRUE(cluster.start_agent(i, agent_settings(i)));
  Marathon marathon(cluster);
  std::string address = marathon.base().substr(7);
  auto port = static_cast<uint16_t>(std::stoi(address.substr(address.rfind(':') + 1)));
  tessera::testing::http::RawClient events(port, 60s);
  ASSERT_TRUE(events.send(
      "GET /v2/events HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n"));
  ASSERT_TRUE(events.read_until(":ok"));

  CurlResult created = marathon.call(
      "POST", "/v2/apps",
      http_app("/rolling", 4,
               R"(, "upgradeStrategy": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0})"));
  ASSERT_EQ(created.status, 201) << created.body;
  ASSERT_TRUE(events.read_until("event: api_post_event"));
  auto before = marathon.running("/rolling", 4);
  ASSERT_EQ(before.size(), 4u) << cluster.master().output();
  ASSERT_TRUE(tessera::testing::eventually([&] {
    json::value app = marathon.get("/v2/apps/rolling");
    return app.is_object() && app.at("app").at("tasksHealthy") == 4;
  }));
  ASSERT_TRUE(events.read_until("event: status_update_event"));
  ASSERT_TRUE(events.read_until("event: deployment_success"));

  CurlResult restart = marathon.call("POST", "/v2/apps/rolling/restart");
  ASSERT_EQ(restart.status, 200) << restart.body;
  // Sample every 100 ms until every task is new and the deployment is over.
  int64_t lowest = 4;
  int samples = 0;
  bool done = false;
  auto deadline = std::chrono::steady_clock::now() + 90s;
  while (!done && std::chrono::steady_clock::now() < deadline) {
    json::value app = marathon.get("/v2/apps/rolling");
    if (app.is_object()) {
      ++samples;
      const json::object& shown = app.at("app").as_object();
      lowest = std::min(lowest, shown.at("tasksHealthy").as_int64());
      bool all_new = shown.at("tasks").as_array().size() == 4;
      for (const auto& task : shown.at("tasks").as_array()) {
        all_new = all_new && before.count(std::string(task.at("id").as_string())) == 0;
      }
      done = all_new && shown.at("deployments").as_array().empty() && shown.at("tasksHealthy") == 4;
    }
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(done) << cluster.master().output();
  EXPECT_GE(lowest, 2) << "minimumHealthCapacity 0.5 of 4";
  EXPECT_GT(samples, 5);
  ASSERT_TRUE(events.read_until("\"taskStatus\":\"TASK_KILLED\""));
}

TEST(MarathonE2E, ATaskThatFailsItsHealthChecksIsReplaced) {
  TempDir dir;
  Cluster cluster(dir);
  ASSERT_TRUE(cluster.start_master(marathon_master()));
  ASSERT_TRUE(cluster.start_agent(0, agent_settings(0)));
  Marathon marathon(cluster);
  ASSERT_EQ(marathon.call("POST", "/v2/apps", http_app("/checked", 1)).status, 201);
  auto first = marathon.running("/checked", 1);
  ASSERT_EQ(first.size(), 1u) << cluster.master().output();
  std::string task_id = first.begin()->first;
  ASSERT_TRUE(marathon.healthy_alone("/checked", task_id)) << cluster.master().output();

  // The task's health file goes: its checks fail, it is killed and another takes its place.
  std::filesystem::path health_file;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir.path())) {
    if (entry.path().filename() == "ok" &&
        entry.path().string().find(task_id) != std::string::npos) {
      health_file = entry.path();
    }
  }
  ASSERT_FALSE(health_file.empty());
  std::filesystem::remove(health_file);
  ASSERT_TRUE(marathon.replaced_by_healthy("/checked", task_id)) << cluster.master().output();
  EXPECT_TRUE(cluster.master().wait_for("killing '" + task_id + "'"));
}

TEST(MarathonE2E, CommandHealthChecksRunInTheTasksSandboxAndReplaceAFailingTask) {
  TempDir dir;
  Cluster cluster(dir);
  ASSERT_TRUE(cluster.start_master(marathon_master()));
  ASSERT_TRUE(cluster.start_agent(0, agent_settings(0)));
  Marathon marathon(cluster);
  // The check passes while the task's sandbox (its working directory) holds "ok" and sees the
  // task's environment; it prints what it saw, which a failure's cause shows.
  CurlResult created = marathon.call("POST", "/v2/apps", R"({
      "id": "/command", "cmd": "echo ok > ok && exec sleep 3600", "cpus": 0.1, "mem": 16,
      "env": {"CHECKED": "yes"},
      "healthChecks": [{"protocol": "COMMAND",
                        "command": {"value": "echo sandbox $PWD; test $CHECKED = yes && test $MARATHON_APP_ID = /command && test -f ok"},
                        "gracePeriodSeconds": 30, "intervalSeconds": 1, "timeoutSeconds": 5,
                        "maxConsecutiveFailures": 2}]})");
  ASSERT_EQ(created.status, 201) << created.body;
  auto first = marathon.running("/command", 1);
  ASSERT_EQ(first.size(), 1u) << cluster.master().output();
  std::string task_id = first.begin()->first;
  ASSERT_TRUE(marathon.healthy_alone("/command", task_id)) << cluster.master().output();

  // The file goes from the task's sandbox: the check fails, the task is killed and replaced.
  std::filesystem::path health_file;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir.path())) {
    if (entry.path().filename() == "ok") health_file = entry.path();
  }
  ASSERT_FALSE(health_file.empty());
  std::filesystem::remove(health_file);
  // The failure's cause is the check's exit and output: it ran in the task's sandbox.
  std::string cause;
  ASSERT_TRUE(tessera::testing::eventually([&] {
    json::value app = marathon.get("/v2/apps/command");
    if (!app.is_object() || app.at("app").at("tasksUnhealthy") != 1) return false;
    const auto& result =
        app.at("app").at("tasks").as_array()[0].at("healthCheckResults").as_array()[0];
    if (!result.at("lastFailureCause").is_string()) return false;
    cause = std::string(result.at("lastFailureCause").as_string());
    return true;
  })) << cluster.master().output();
  EXPECT_NE(cause.find("exited with status 1: sandbox " + health_file.parent_path().string()),
            std::string::npos)
      << cause;
  ASSERT_TRUE(marathon.replaced_by_healthy("/command", task_id)) << cluster.master().output();
  EXPECT_TRUE(cluster.master().wait_for("killing '" + task_id + "'"));
  // The killed task's processes (its command and its checks) ended with it.
  EXPECT_TRUE(tessera::testing::eventually([&] {
    for (pid_t pid : tessera::testing::tasks_in(dir.path())) {
      std::string environment =
          tessera::testing::read_file("/proc/" + std::to_string(pid) + "/environ");
      if (environment.find("MESOS_TASK_ID=" + task_id) != std::string::npos) return false;
    }
    return true;
  })) << cluster.master().output();
}

TEST(MarathonE2E, ACrashLoopingAppsLaunchDelayGrows) {
  TempDir dir;
  Cluster cluster(dir);
  ASSERT_TRUE(cluster.start_master(marathon_master()));
  ASSERT_TRUE(cluster.start_agent(0, agent_settings(0)));
  Marathon marathon(cluster);
  ASSERT_EQ(marathon
                .call("POST", "/v2/apps", R"({"id": "/crash", "cmd": "exit 1", "cpus": 0.1,
      "mem": 16, "backoffSeconds": 1, "backoffFactor": 3, "maxLaunchDelaySeconds": 60})")
                .status,
            201);
  // Delays of 1, 3, 9 s: a delay above 3 s is seen only once it has grown twice.
  std::set<int64_t> delays;
  ASSERT_TRUE(tessera::testing::eventually(
      [&] {
        json::value queue = marathon.get("/v2/queue");
        if (!queue.is_object() || queue.at("queue").as_array().empty()) return false;
        const auto& delay = queue.at("queue").as_array()[0].at("delay");
        if (delay.at("overdue") == true) return false;
        delays.insert(delay.at("timeLeftSeconds").as_int64());
        return *delays.rbegin() > 3;
      },
      60s))
      << cluster.master().output();
  EXPECT_LE(*delays.begin(), 3);
  json::value app = marathon.get("/v2/apps/crash");
  ASSERT_TRUE(app.is_object());
  EXPECT_EQ(app.at("app").at("lastTaskFailure").at("state"), "TASK_FAILED");
}

}  // namespace

// The steps of a plan as "Action /app" lines, one string a step (actions in order).
std::vector<std::string> plan_steps(const json::value& plan) {
  std::vector<std::string> out;
  for (const auto& step : plan.at("steps").as_array()) {
    std::string line;
    for (const auto& action : step.at("actions").as_array()) {
      line += (line.empty() ? "" : " ") + std::string(action.at("action").as_string()) + " " +
              std::string(action.at("app").as_string());
    }
    out.push_back(line);
  }
  return out;
}

TEST(MarathonE2E, ADryRunOfAGroupChangeAnswersItsPlanAndChangesNothing) {
  TempDir dir;
  Cluster cluster(dir);
  ASSERT_TRUE(cluster.start_master(marathon_master()));
  ASSERT_TRUE(cluster.start_agent(0, agent_settings(0)));
  Marathon marathon(cluster);

  // web depends on db: Marathon's plan starts both, then scales db, then web.
  const std::string shop = R"({"id": "/shop", "apps": [
      {"id": "db", "cmd": "exec sleep 3600", "mem": 16, "cpus": 0.1, "instances": 1},
      {"id": "web", "cmd": "exec sleep 3600", "mem": 16, "cpus": 0.1, "instances": 1,
       "dependencies": ["/shop/db"]}]})";
  CurlResult dry = marathon.call("PUT", "/v2/groups/shop?dryRun=true", shop);
  ASSERT_EQ(dry.status, 200) << dry.body;
  EXPECT_EQ(plan_steps(json::parse(dry.body)),
            (std::vector<std::string>{"StartApplication /shop/db StartApplication /shop/web",
                                      "ScaleApplication /shop/db", "ScaleApplication /shop/web"}))
      << dry.body;
  EXPECT_EQ(marathon.call("GET", "/v2/groups/shop").status, 404);
  EXPECT_TRUE(marathon.get("/v2/apps").at("apps").as_array().empty());
  EXPECT_TRUE(marathon.get("/v2/deployments").as_array().empty());

  // Made for real, then a dry run of a new command for web and no db: only what would change.
  ASSERT_EQ(marathon.call("PUT", "/v2/groups/shop", shop).status, 200);
  ASSERT_EQ(marathon.running("/shop/db", 1).size(), 1U);
  std::map<std::string, std::string> web = marathon.running("/shop/web", 1);
  ASSERT_EQ(web.size(), 1U);
  std::string version(marathon.get("/v2/apps/shop/web").at("app").at("version").as_string());
  dry = marathon.call("PUT", "/v2/groups/shop?dryRun=true", R"({"id": "/shop", "apps": [
      {"id": "web", "cmd": "exec sleep 3601", "mem": 16, "cpus": 0.1, "instances": 1}]})");
  ASSERT_EQ(dry.status, 200) << dry.body;
  EXPECT_EQ(plan_steps(json::parse(dry.body)),
            (std::vector<std::string>{"StopApplication /shop/db", "RestartApplication /shop/web"}))
      << dry.body;
  json::value after = marathon.get("/v2/apps/shop/web");
  EXPECT_EQ(after.at("app").at("cmd").as_string(), "exec sleep 3600");
  EXPECT_EQ(after.at("app").at("version").as_string(), version);
  EXPECT_EQ(marathon.running("/shop/web", 1), web);
  EXPECT_EQ(marathon.running("/shop/db", 1).size(), 1U);
  EXPECT_TRUE(marathon.get("/v2/deployments").as_array().empty());

  // A dry run is still validated: a bad field gets Marathon's 422.
  CurlResult bad = marathon.call("PUT", "/v2/groups/shop?dryRun=true",
                                 R"({"id": "/shop", "apps": [{"id": "web", "cpus": -1}]})");
  EXPECT_EQ(bad.status, 422);
  EXPECT_NE(bad.body.find("cpus"), std::string::npos) << bad.body;
}

// Marathon's AppsResource and TasksResource's delete consume only application/json (Jersey's
// @Consumes: 415 for any other declared type). A body declared as a form (what curl -d sends
// without -H) or as text/plain was taken as JSON. As Jersey matches, a request that declares no
// type is taken, and Marathon's GroupsResource, which declares no @Consumes, takes any.
TEST(MarathonE2E, ABodyDeclaredAsAnythingButJsonIsRefusedAsMarathonsAppsResourceRefusesIt) {
  TempDir dir;
  Cluster cluster(dir);
  ASSERT_TRUE(cluster.start_master(marathon_master()));
  Marathon marathon(cluster);
  ASSERT_TRUE(tessera::testing::eventually([&] { return marathon.get("/v2/apps").is_object(); }))
      << cluster.master().output();
  auto send = [&](const std::string& method, const std::string& path, std::vector<std::string> type,
                  const std::string& body) {
    std::vector<std::string> args{"-X", method};
    args.insert(args.end(), type.begin(), type.end());
    args.insert(args.end(), {"--data-binary", body, marathon.base() + path});
    return curl(cluster.dir(), args);
  };
  const std::string app = R"({"id": "/typed", "cmd": "sleep 3600", "cpus": 0.1, "mem": 16})";
  const std::vector<std::string> text{"-H", "Content-Type: text/plain"};
  for (const auto& type : std::vector<std::vector<std::string>>{
           {}, text, {"-H", "Content-Type: application/xml"}, {"-H", "Content-Type: json"}}) {
    // No -H: curl declares the body application/x-www-form-urlencoded.
    CurlResult refused = send("POST", "/v2/apps", type, app);
    EXPECT_EQ(refused.status, 415) << refused.body;
    EXPECT_EQ(refused.body, R"({"message":"Unsupported Media Type"})");
  }
  EXPECT_EQ(marathon.call("GET", "/v2/apps/typed").status, 404) << "nothing was created";
  CurlResult created =
      send("POST", "/v2/apps", {"-H", "Content-Type: Application/JSON; charset=UTF-8"}, app);
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(send("PUT", "/v2/apps/typed", text, R"({"instances": 0})").status, 415);
  EXPECT_EQ(send("PATCH", "/v2/apps/typed", text, R"({"instances": 0})").status, 415);
  EXPECT_EQ(send("PUT", "/v2/apps", text, R"([{"id": "/typed", "instances": 0}])").status, 415);
  EXPECT_EQ(send("PATCH", "/v2/apps", text, R"([{"id": "/typed", "instances": 0}])").status, 415);
  EXPECT_EQ(send("POST", "/v2/tasks/delete", text, R"({"ids": []})").status, 415);
  EXPECT_EQ(marathon.get("/v2/apps/typed").at("app").at("instances"), 1) << "nothing changed";
  // Without a declared type (curl's -H "Content-Type:" drops it), the body is read as JSON.
  CurlResult untyped =
      send("PATCH", "/v2/apps/typed?force=true", {"-H", "Content-Type:"}, R"({"instances": 0})");
  EXPECT_EQ(untyped.status, 200) << untyped.body;
  EXPECT_EQ(marathon.get("/v2/apps/typed").at("app").at("instances"), 0);
  // Groups take any type, as Marathon's GroupsResource.
  CurlResult group = send("POST", "/v2/groups", text, R"({"id": "/any-type"})");
  EXPECT_EQ(group.status, 201) << group.body;
  // A body read whatever its type still has to be JSON.
  CurlResult garbage = send("POST", "/v2/groups", {}, "id=/form&apps=x");
  EXPECT_EQ(garbage.status, 400) << garbage.body;
  // Odd types are judged as types: only JSON gets in (here: the app exists, 409), and the API
  // goes on serving.
  for (const std::string& type : {std::string(6000, 'a'), std::string("\t/\t"),
                                  std::string("application/json/x"), std::string("*/json+x")}) {
    EXPECT_EQ(send("POST", "/v2/apps", {"-H", "Content-Type: " + type}, app).status, 415)
        << type.substr(0, 40);
  }
  EXPECT_EQ(send("POST", "/v2/apps",
                 {"-H", "Content-Type: application/json" + std::string(3000, ';')}, app)
                .status,
            409);
  // A constraint pattern deep enough to overflow the regex compiler's stack is refused before
  // it is compiled (it crashed the host).
  std::string deep = std::string(30'000, '(') + "a" + std::string(30'000, ')');
  CurlResult too_deep =
      marathon.call("POST", "/v2/apps",
                    json::serialize(json::object{
                        {"id", "/deep"},
                        {"cmd", "sleep 1"},
                        {"constraints", json::array{json::array{"hostname", "LIKE", deep}}}}));
  EXPECT_EQ(too_deep.status, 422) << too_deep.body.substr(0, 200);
  EXPECT_EQ(marathon.call("GET", "/ping").body, "pong");
}

// api_post_event named the client with its port ("127.0.0.1:54321"); Marathon's clientIp is the
// address alone.
TEST(MarathonE2E, ApiPostEventsNameTheClientsAddressWithoutItsPort) {
  TempDir dir;
  Cluster cluster(dir);
  ASSERT_TRUE(cluster.start_master(marathon_master()));
  Marathon marathon(cluster);
  ASSERT_TRUE(tessera::testing::eventually([&] { return marathon.get("/v2/apps").is_object(); }))
      << cluster.master().output();
  std::string address = marathon.base().substr(7);
  auto port = static_cast<uint16_t>(std::stoi(address.substr(address.rfind(':') + 1)));
  tessera::testing::http::RawClient events(port, 20s);
  ASSERT_TRUE(
      events.send("GET /v2/events?event_type=api_post_event HTTP/1.1\r\nHost: localhost\r\n"
                  "Accept: text/event-stream\r\n\r\n"));
  ASSERT_TRUE(events.read_until(":ok"));
  ASSERT_EQ(marathon.call("POST", "/v2/apps", R"({"id": "/seen", "cmd": "sleep 1"})").status, 201);
  ASSERT_TRUE(events.read_until("\"uri\":\"/v2/apps/seen\"")) << events.buffer();
  EXPECT_NE(events.buffer().find("\"clientIp\":\"127.0.0.1\","), std::string::npos)
      << events.buffer();
}

// A deployment whose record is in parts (the definitions it changed are over 384 KiB) passes a
// step, which writes only its part 0 again; a restarted host reads it back as it was, at its
// step, and can roll it back to every definition it held.
TEST(MarathonE2E, ASplitDeploymentThatPassedAStepIsResumedAndRolledBackAfterARestart) {
  TempDir dir;
  Cluster cluster(dir);
  ASSERT_TRUE(cluster.start_master(marathon_master()));
  ASSERT_TRUE(cluster.start_agent(0, agent_settings(0)));
  Marathon marathon(cluster);
  // /big/a, then /big/b after it; eight idle apps with a 60,000-character label each.
  auto group = [](const std::string& cmd, int64_t b_mem, char blob) {
    json::array apps{
        json::object{{"id", "a"}, {"cmd", cmd}, {"cpus", 0.1}, {"mem", 16}, {"instances", 1}},
        json::object{{"id", "b"},
                     {"cmd", cmd},
                     {"cpus", 0.1},
                     {"mem", b_mem},
                     {"instances", 1},
                     {"dependencies", json::array{"a"}}}};
    for (int i = 0; i < 8; ++i) {
      apps.push_back(json::object{
          {"id", "c" + std::to_string(i)},
          {"cmd", cmd},
          {"instances", 0},
          {"labels", json::object{{"blob", std::string(60'000, static_cast<char>(blob + i))}}}});
    }
    return json::serialize(json::object{{"id", "/big"}, {"apps", std::move(apps)}});
  };
  auto put = [&](const std::string& method, const std::string& path, const std::string& body) {
    auto file = cluster.dir() / "body.json";
    std::ofstream(file) << body;
    return curl(cluster.dir(), {"-X", method, "-H", "Content-Type: application/json",
                                "--data-binary", "@" + file.string(), marathon.base() + path});
  };
  CurlResult created = put("POST", "/v2/groups", group("exec sleep 3600", 16, 'a'));
  ASSERT_EQ(created.status, 201) << created.body << cluster.master().output();
  ASSERT_EQ(marathon.running("/big/b", 1).size(), 1u) << cluster.master().output();
  ASSERT_TRUE(tessera::testing::eventually(
      [&] { return marathon.get("/v2/deployments").as_array().empty(); }));

  // /big/b's new config cannot be placed (mem): the plan stays at its second step, once /big/a
  // runs its new task.
  CurlResult changed = put("PUT", "/v2/groups/big", group("exec sleep 3601", 100'000, 'k'));
  ASSERT_EQ(changed.status, 200) << changed.body << cluster.master().output();
  std::string id(json::parse(changed.body).at("deploymentId").as_string());
  json::value before;
  ASSERT_TRUE(tessera::testing::eventually(
      [&] {
        before = marathon.get("/v2/deployments");
        return before.is_array() && before.as_array().size() == 1 &&
               before.as_array()[0].at("currentStep") == 2;
      },
      60s))
      << json::serialize(before) << cluster.master().output();
  EXPECT_EQ(before.as_array()[0].at("id").as_string(), id);
  // A change is answered once every write before it is stored: the step's too.
  ASSERT_EQ(marathon.call("POST", "/v2/groups", R"({"id": "/stored"})").status, 201);

  ASSERT_TRUE(cluster.restart_master());
  marathon.find_address();
  EXPECT_TRUE(cluster.master().wait_for("recovered 10 app(s)")) << cluster.master().output();
  json::value after;
  ASSERT_TRUE(tessera::testing::eventually([&] {
    after = marathon.get("/v2/deployments");
    return after.is_array();
  })) << cluster.master().output();
  EXPECT_EQ(after, before) << "the deployment read back is the one that was stored";

  CurlResult rollback = marathon.call("DELETE", "/v2/deployments/" + id);
  ASSERT_EQ(rollback.status, 200) << rollback.body << cluster.master().output();
  for (int i = 0; i < 8; ++i) {
    json::value app = marathon.get("/v2/apps/big/c" + std::to_string(i));
    ASSERT_TRUE(app.is_object());
    EXPECT_EQ(app.at("app").at("cmd"), "exec sleep 3600");
    EXPECT_TRUE(app.at("app").at("labels").at("blob").as_string() ==
                std::string(60'000, static_cast<char>('a' + i)))
        << "the definition before the change is back, from the record's parts";
  }
  EXPECT_EQ(marathon.get("/v2/apps/big/b").at("app").at("mem").to_number<double>(), 16.0);
  EXPECT_TRUE(tessera::testing::eventually(
      [&] { return marathon.get("/v2/deployments").as_array().empty(); }, 60s))
      << json::serialize(marathon.get("/v2/deployments"));
  EXPECT_EQ(cluster.master().output().find("storing"), std::string::npos)
      << cluster.master().output();
}

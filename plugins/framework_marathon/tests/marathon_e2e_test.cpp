// framework_marathon end to end: a real master host running the plugin and three agent hosts,
// each a separate tessera-host process on loopback, driven through Marathon's REST API with
// curl, as a Marathon client would.
#include <gtest/gtest.h>
#include <signal.h>

#include <boost/json.hpp>
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

MasterSettings marathon_master() {
  MasterSettings settings;
  settings.extra =
      "frameworks = [\"framework_marathon\"]\n"
      "[plugins.framework_marathon]\n"
      "http_address = \"127.0.0.1:0\"\n"
      "reconcile_interval_seconds = 5\n";
  return settings;
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
  for (size_t i = 0; i < 3; ++i) ASSERT_TRUE(cluster.start_agent(i));
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

TEST(MarathonE2E, BadInputGetsMarathonsErrorsAndAnAppTooBigWaitsWithTheReason) {
  TempDir dir;
  Cluster cluster(dir);
  ASSERT_TRUE(cluster.start_master(marathon_master()));
  ASSERT_TRUE(cluster.start_agent(0));
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
}

TEST(MarathonE2E, ARestartedMasterHostKeepsTheAppsAndAdoptsTheRunningTasks) {
  TempDir dir;
  Cluster cluster(dir);
  ASSERT_TRUE(cluster.start_master(marathon_master()));
  ASSERT_TRUE(cluster.start_agent(0));
  ASSERT_TRUE(cluster.start_agent(1));
  Marathon marathon(cluster);
  ASSERT_EQ(marathon
                .call("POST", "/v2/apps", R"({"id": "/keep", "cmd": "exec sleep 3600",
      "instances": 2, "cpus": 0.1, "mem": 16})")
                .status,
            201);
  auto before = marathon.running("/keep", 2);
  ASSERT_EQ(before.size(), 2u) << cluster.master().output();
  ASSERT_TRUE(tessera::testing::eventually(
      [&] { return tessera::testing::tasks_in(dir.path()).size() == 2; }));

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
}

}  // namespace

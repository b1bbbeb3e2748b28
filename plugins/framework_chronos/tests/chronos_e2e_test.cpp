// framework_chronos end to end: a real master host running the plugin and a real agent, as
// separate tessera-host processes (tests/support/cluster.h), driven through the /v1/scheduler
// REST API with curl. Each job's command appends its task id to a file in the test's directory,
// so that what ran is counted from what the tasks themselves did, not from what the scheduler
// says it did.
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "chronos_time.h"
#include "http/http_support.h"
#include "support/cluster.h"

namespace tessera::chronos {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using testing::Cluster;
using testing::TempDir;
using testing::http::curl;
using testing::http::CurlResult;

// Lines of a file, without empty ones.
std::vector<std::string> lines_of(const std::filesystem::path& path) {
  std::vector<std::string> out;
  std::istringstream in(testing::read_file(path));
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

// "job@2024-...Z#2" -> "job@2024-...Z": the run a task id belongs to.
std::string run_of(const std::string& task_id) { return task_id.substr(0, task_id.rfind('#')); }

TimePoint scheduled_of(const std::string& run_id) {
  auto parsed = parse_time(run_id.substr(run_id.find('@') + 1));
  EXPECT_TRUE(parsed.ok()) << run_id;
  return parsed.ok() ? *parsed : TimePoint{};
}

class ChronosE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::MasterSettings master;
    master.extra =
        "frameworks = [\"framework_chronos\"]\n"
        "[plugins.framework_chronos]\n"
        "address = \"127.0.0.1:0\"\n"
        "failure_retry_ms = 300\n"
        "history_limit = 200\n"
        "reconcile_grace_ms = 5000\n"
        "task_mem = 16\n"
        "task_disk = 1\n";
    ASSERT_TRUE(cluster_.start_master(master));
    ASSERT_TRUE(cluster_.start_agent(0));
    find_api();
  }

  // The REST API's address, as the plugin announced it in the master's endpoints file.
  void find_api() {
    std::regex line("framework_chronos\\.http = \"([^\"]+)\"");
    std::string address;
    ASSERT_TRUE(testing::eventually([&] {
      std::smatch m;
      std::string text = testing::read_file(dir_ / "master.endpoints");
      if (!std::regex_search(text, m, line)) return false;
      address = m[1];
      return true;
    })) << cluster_.master().output();
    base_ = "http://" + address + "/v1/scheduler";
    // Serving once it has read its jobs back and leads.
    ASSERT_TRUE(testing::eventually([&] { return get("/jobs").status == 200; }, 30s))
        << cluster_.master().output();
  }

  CurlResult get(const std::string& path) { return curl(dir_, {base_ + path}); }
  CurlResult post(const std::string& path, const std::string& body) {
    return curl(dir_, {"-X", "POST", "-H", "Content-Type: application/json", "--data-binary", body,
                       base_ + path});
  }
  CurlResult put(const std::string& path) { return curl(dir_, {"-X", "PUT", base_ + path}); }
  CurlResult del(const std::string& path) { return curl(dir_, {"-X", "DELETE", base_ + path}); }

  json::object job(const std::string& name) {
    auto answer = get("/job/" + name);
    EXPECT_EQ(answer.status, 200) << answer.body;
    if (answer.status != 200) return {};
    return json::parse(answer.body).as_object();
  }
  int64_t count(const std::string& name, const char* field) {
    json::object j = job(name);
    return j.contains(field) ? j.at(field).to_number<int64_t>() : -1;
  }
  // Waits until the job's counter reaches `at_least`.
  bool wait_count(const std::string& name, const char* field, int64_t at_least,
                  std::chrono::milliseconds timeout = 40s) {
    return testing::eventually([&] { return count(name, field) >= at_least; }, timeout);
  }
  json::array runs(const std::string& name) {
    auto answer = get("/job/" + name + "/runs");
    EXPECT_EQ(answer.status, 200) << answer.body;
    if (answer.status != 200) return {};
    return json::parse(answer.body).as_array();
  }

  // A command that appends its task id (and `tag`) to the file `file` in the test directory.
  std::string record(const std::string& file, const std::string& tag = "") {
    return "echo " + tag + (tag.empty() ? "" : " ") + "$mesos_task_id >> " + (dir_ / file).string();
  }
  std::filesystem::path path(const std::string& file) const { return dir_ / file; }

  std::string diagnostics() {
    return "\nmaster:\n" + cluster_.master().output() + "\nagent:\n" + cluster_.agent(0).output();
  }

  TempDir dir_;
  Cluster cluster_{dir_};
  std::string base_;
};

TEST_F(ChronosE2E, AJobEveryTwoSecondsRunsThreeTimesTwoSecondsApart) {
  auto posted = post("/iso8601", R"({"name": "tick", "command": ")" + record("tick.log") +
                                     R"(", "schedule": "R3//PT2S"})");
  ASSERT_EQ(posted.status, 204) << posted.body;
  ASSERT_TRUE(wait_count("tick", "successCount", 3)) << diagnostics();

  std::vector<std::string> ran = lines_of(path("tick.log"));
  ASSERT_EQ(ran.size(), 3u) << diagnostics();
  std::set<std::string> distinct(ran.begin(), ran.end());
  EXPECT_EQ(distinct.size(), 3u);
  // Due times 2 s apart: the schedule, not the pace of the cluster, decides when runs are due.
  std::vector<TimePoint> due;
  for (const auto& task : ran) due.push_back(scheduled_of(run_of(task)));
  std::sort(due.begin(), due.end());
  EXPECT_EQ(due[1] - due[0], 2s);
  EXPECT_EQ(due[2] - due[1], 2s);
  // R3 is used up: Chronos disables the job; nothing failed.
  json::object tick = job("tick");
  EXPECT_EQ(tick.at("disabled"), true);
  EXPECT_EQ(tick.at("errorCount"), 0);
  for (const auto& run : runs("tick")) {
    EXPECT_EQ(run.at("status"), "succeeded") << run;
    EXPECT_EQ(run.at("trigger"), "schedule") << run;
    EXPECT_EQ(run.at("exitStatus"), 0) << run;
    EXPECT_FALSE(run.at("agent").as_string().empty()) << run;
  }
  auto stat = get("/job/stat/tick");
  ASSERT_EQ(stat.status, 200);
  EXPECT_EQ(json::parse(stat.body).at("histogram").at("count"), 3);
}

// A burst: more jobs due at the same instant than the agent has room for at once (4 cpus, 0.1
// each), so that runs are placed as their launches are stored, on offers kept for the burst
// and on offers that come as runs end. Each runs exactly once, at its due time.
TEST_F(ChronosE2E, JobsDueAtTheSameInstantEachRunOnce) {
  constexpr int kJobs = 60;
  std::string due =
      format_time(std::chrono::time_point_cast<Millis>(std::chrono::system_clock::now() + 6s));
  for (int i = 0; i < kJobs; ++i) {
    auto posted =
        post("/iso8601", R"({"name": "burst-)" + std::to_string(i) + R"(", "command": ")" +
                             record("burst.log") + R"(", "schedule": "R1/)" + due + R"(/PT1H"})");
    ASSERT_EQ(posted.status, 204) << posted.body;
  }
  auto succeeded = [&] {
    std::string csv = get("/graph/csv").body;
    int done = 0;
    for (size_t at = csv.find(",success,"); at != std::string::npos;
         at = csv.find(",success,", at + 1)) {
      ++done;
    }
    return done;
  };
  ASSERT_TRUE(testing::eventually([&] { return succeeded() == kJobs; }, 60s))
      << succeeded() << " of " << kJobs << " succeeded" << diagnostics();

  std::vector<std::string> ran = lines_of(path("burst.log"));
  std::set<std::string> distinct(ran.begin(), ran.end());
  EXPECT_EQ(ran.size(), static_cast<size_t>(kJobs)) << diagnostics();
  EXPECT_EQ(distinct.size(), static_cast<size_t>(kJobs));
  std::set<std::string> jobs;
  for (const std::string& task : ran) {
    // Every run is the job's one run at the due instant, first attempt (attempts count from 0).
    EXPECT_EQ(format_time(scheduled_of(run_of(task))), due) << task;
    EXPECT_EQ(task.substr(task.rfind('#')), "#0") << task;
    jobs.insert(task.substr(0, task.find('@')));
  }
  EXPECT_EQ(jobs.size(), static_cast<size_t>(kJobs));
  for (int i = 0; i < kJobs; i += 7) {
    std::string name = "burst-" + std::to_string(i);
    EXPECT_EQ(count(name, "successCount"), 1) << name;
    EXPECT_EQ(count(name, "errorCount"), 0) << name;
  }
}

TEST_F(ChronosE2E, AChildRunsAfterItsParentAndAGrandchildAfterBoth) {
  // The parent is never due by itself (R0): it runs when asked to.
  ASSERT_EQ(post("/iso8601", R"({"name": "parent", "command": ")" + record("order.log", "parent") +
                                 R"(", "schedule": "R0//PT1H"})")
                .status,
            204);
  ASSERT_EQ(post("/dependency", R"({"name": "child", "command": ")" + record("order.log", "child") +
                                    R"(", "parents": ["parent"]})")
                .status,
            204);
  ASSERT_EQ(post("/dependency", R"({"name": "grandchild", "command": ")" +
                                    record("order.log", "grandchild") +
                                    R"(", "parents": ["child", "parent"]})")
                .status,
            204);
  auto csv = get("/graph/csv");
  EXPECT_NE(csv.body.find("link,parent,child\n"), std::string::npos) << csv.body;
  EXPECT_NE(csv.body.find("link,child,grandchild\n"), std::string::npos) << csv.body;

  ASSERT_EQ(put("/job/parent").status, 204);
  ASSERT_TRUE(wait_count("grandchild", "successCount", 1)) << diagnostics();
  std::vector<std::string> order = lines_of(path("order.log"));
  ASSERT_EQ(order.size(), 3u) << diagnostics();
  EXPECT_EQ(order[0].substr(0, 7), "parent ");
  EXPECT_EQ(order[1].substr(0, 6), "child ");
  EXPECT_EQ(order[2].substr(0, 11), "grandchild ");
  // Each started only after what it depends on had ended.
  auto ended = [&](const std::string& name) {
    return *parse_time(runs(name).at(0).at("ended").as_string());
  };
  auto started = [&](const std::string& name) {
    return *parse_time(runs(name).at(0).at("started").as_string());
  };
  EXPECT_GE(started("child"), ended("parent"));
  EXPECT_GE(started("grandchild"), ended("child"));
  EXPECT_EQ(runs("child").at(0).at("trigger"), "parent");

  // A second round: the grandchild runs once more, once per round of both parents.
  ASSERT_EQ(put("/job/parent").status, 204);
  ASSERT_TRUE(wait_count("grandchild", "successCount", 2)) << diagnostics();
  EXPECT_EQ(count("child", "successCount"), 2);
  EXPECT_EQ(count("parent", "successCount"), 2);
  EXPECT_EQ(lines_of(path("order.log")).size(), 6u);
}

TEST_F(ChronosE2E, RunNowPassesItsArgumentsAndTheOutputIsInTheHistory) {
  ASSERT_EQ(
      post("/iso8601", R"({"name": "greet", "command": "echo", "schedule": "R0//PT1H"})").status,
      204);
  ASSERT_EQ(put("/job/greet?arguments=hello%20world").status, 204);
  ASSERT_TRUE(wait_count("greet", "successCount", 1)) << diagnostics();
  // The output is read while the run is counted, and put in its record when it comes.
  json::array history;
  EXPECT_TRUE(testing::eventually([&] {
    history = runs("greet");
    return history.size() == 1 && history[0].at("outputTail") == "hello world\n";
  })) << history;
  ASSERT_EQ(history.size(), 1u);
  EXPECT_EQ(history[0].at("trigger"), "manual");
  // Unknown jobs are a bad request, as in Chronos.
  auto missing = put("/job/nobody");
  EXPECT_EQ(missing.status, 400);
  EXPECT_NE(missing.body.find("nobody"), std::string::npos) << missing.body;
}

// GET /jobs is kept between changes and put together from each job's part: every change shows.
TEST_F(ChronosE2E, TheJobListingShowsEveryChange) {
  auto listing = [&] {
    auto answer = get("/jobs");
    EXPECT_EQ(answer.status, 200) << answer.body;
    std::map<std::string, json::object> jobs;
    if (answer.status != 200) return jobs;
    json::value parsed = json::parse(answer.body);
    for (const auto& entry : parsed.as_array()) {
      jobs[std::string(entry.at("name").as_string())] = entry.as_object();
    }
    return jobs;
  };
  for (const char* name : {"alpha", "beta", "gamma"}) {
    ASSERT_EQ(post("/iso8601", std::string(R"({"name": ")") + name +
                                   R"(", "command": "true", "schedule": "R0//PT1H"})")
                  .status,
              204);
  }
  auto first = listing();
  ASSERT_EQ(first.size(), 3u);
  EXPECT_EQ(first["beta"].at("command"), "true");
  EXPECT_EQ(listing(), first);  // kept: the same answer again

  ASSERT_EQ(
      post("/iso8601", R"({"name": "beta", "command": "echo changed", "schedule": "R0//PT1H"})")
          .status,
      204);
  ASSERT_EQ(put("/job/gamma").status, 204);
  ASSERT_TRUE(wait_count("gamma", "successCount", 1)) << diagnostics();
  ASSERT_EQ(del("/job/alpha").status, 204);
  auto after = listing();
  ASSERT_EQ(after.size(), 2u);
  EXPECT_EQ(after.count("alpha"), 0u);
  EXPECT_EQ(after["beta"].at("command"), "echo changed");
  EXPECT_EQ(after["gamma"].at("successCount"), 1);
  // The listing agrees with the job's own answer.
  EXPECT_EQ(after["gamma"].at("lastSuccess"), job("gamma").at("lastSuccess"));
}

TEST_F(ChronosE2E, AFailingJobIsRetriedThenCountsOneError) {
  ASSERT_EQ(post("/iso8601", R"({"name": "broken", "command": ")" + record("broken.log") +
                                 R"(; echo no luck >&2; exit 3", "schedule": "R1//PT1H",
                                 "retries": 2})")
                .status,
            204);
  ASSERT_TRUE(wait_count("broken", "errorCount", 1)) << diagnostics();
  // Three attempts of one run: the first and two retries.
  std::vector<std::string> ran = lines_of(path("broken.log"));
  ASSERT_EQ(ran.size(), 3u) << diagnostics();
  std::set<std::string> run_ids;
  for (const auto& task : ran) run_ids.insert(run_of(task));
  EXPECT_EQ(run_ids.size(), 1u);
  json::object broken = job("broken");
  EXPECT_EQ(broken.at("errorCount"), 1);
  EXPECT_EQ(broken.at("successCount"), 0);
  EXPECT_EQ(broken.at("errorsSinceLastSuccess"), 1);
  EXPECT_FALSE(broken.at("lastError").as_string().empty());
  json::array history;
  EXPECT_TRUE(testing::eventually([&] {
    history = runs("broken");
    return std::all_of(history.begin(), history.end(), [](const json::value& run) {
      return run.at("outputTail").as_string().find("no luck") != std::string::npos;
    });
  })) << history;
  ASSERT_EQ(history.size(), 3u);
  std::set<int64_t> attempts;
  for (const auto& run : history) {
    EXPECT_EQ(run.at("status"), "failed") << run;
    EXPECT_EQ(run.at("exitStatus"), 3) << run;
    EXPECT_NE(run.at("outputTail").as_string().find("no luck"), std::string::npos) << run;
    attempts.insert(run.at("attempt").to_number<int64_t>());
  }
  EXPECT_EQ(attempts, (std::set<int64_t>{0, 1, 2}));
  // Nothing more runs after the error is counted.
  EXPECT_EQ(job("broken").at("errorCount"), 1);
}

TEST_F(ChronosE2E, AJobIsPostedOnlyAsJsonSoThatNoWebPageCanPostOne) {
  // What a browser sends cross-site without asking first: a form, text/plain, or no type at
  // all (a Blob). Chronos answers 415 to each (its resources consume application/json only).
  std::string body = R"({"name": "csrf", "command": "true", "schedule": "R0//PT1H"})";
  for (const char* type :
       {"Content-Type: text/plain", "Content-Type: application/x-www-form-urlencoded",
        "Content-Type: multipart/form-data; boundary=x", "Content-Type:"}) {
    for (const char* route : {"/iso8601", "/dependency"}) {
      auto answer = curl(dir_, {"-X", "POST", "-H", type, "--data-binary", body, base_ + route});
      EXPECT_EQ(answer.status, 415) << type << " " << route << ": " << answer.body;
      EXPECT_NE(answer.body.find("\"status\":\"Unsupported Media Type\""), std::string::npos)
          << answer.body;
    }
  }
  EXPECT_EQ(get("/job/csrf").status, 400);
  // JSON with parameters, in any case, is JSON.
  auto json_answer =
      curl(dir_, {"-X", "POST", "-H", "Content-Type: Application/JSON; charset=utf-8",
                  "--data-binary", body, base_ + "/iso8601"});
  EXPECT_EQ(json_answer.status, 204) << json_answer.body;
  EXPECT_EQ(get("/job/csrf").status, 200);
}

TEST_F(ChronosE2E, BadRequestsGet400WithTheReasonAndTheSchedulerKeepsServing) {
  auto expect_400 = [&](const CurlResult& answer, const std::string& reason) {
    EXPECT_EQ(answer.status, 400) << answer.body;
    EXPECT_NE(answer.body.find(reason), std::string::npos) << answer.body;
    EXPECT_NE(answer.body.find("\"status\":\"Bad Request\""), std::string::npos) << answer.body;
  };
  expect_400(post("/iso8601", R"({"name": "x", "command": "true", "schedule": "every day"})"),
             "every day");
  expect_400(post("/iso8601", R"({"name": "x", "schedule": "R//PT1M"})"), "command");
  expect_400(post("/dependency", R"({"name": "x", "command": "true", "parents": ["ghost"]})"),
             "ghost");
  expect_400(post("/iso8601", "{not json"), "");
  ASSERT_EQ(post("/iso8601", R"({"name": "a", "command": "true", "schedule": "R0//PT1H"})").status,
            204);
  ASSERT_EQ(post("/dependency", R"({"name": "b", "command": "true", "parents": ["a"]})").status,
            204);
  // Making 'a' depend on 'b' closes a cycle.
  expect_400(post("/dependency", R"({"name": "a", "command": "true", "parents": ["b"]})"), "cycle");
  expect_400(get("/job/ghost"), "ghost");
  expect_400(get("/jobs/search?limit=lots"), "limit");
  // Still serving, and the job is still as it was.
  EXPECT_EQ(job("a").at("schedule"), "R0//PT1H");
  // The leader is this scheduler, at the address it serves on.
  auto leader = get("/leader");
  EXPECT_EQ(leader.status, 200);
  EXPECT_EQ(
      "http://" + std::string(json::parse(leader.body).at("leader").as_string()) + "/v1/scheduler",
      base_);
  auto ping = curl(dir_, {base_.substr(0, base_.find("/v1/")) + "/ping"});
  EXPECT_EQ(ping.status, 200);
  EXPECT_EQ(ping.body, "pong\n");
}

TEST_F(ChronosE2E, AStandbyForwardsRequestsToTheLeader) {
  auto standby = cluster_.start_standby(
      "frameworks = [\"framework_chronos\"]\n"
      "[plugins.framework_chronos]\naddress = \"127.0.0.1:0\"\n");
  std::string standby_base;
  ASSERT_TRUE(testing::eventually([&] {
    std::smatch m;
    std::string endpoints = testing::read_file(dir_ / "standby.endpoints");
    std::regex line("framework_chronos\\.http = \"([^\"]+)\"");
    if (!std::regex_search(endpoints, m, line)) return false;
    standby_base = "http://" + std::string(m[1]) + "/v1/scheduler";
    return true;
  })) << standby->output();

  // A job posted to the standby is the leader's; reads through the standby show it.
  CurlResult posted =
      curl(dir_, {"-X", "POST", "-H", "Content-Type: application/json", "--data-binary",
                  R"({"name": "via-standby", "command": "true", "schedule": "R1//PT1H"})",
                  standby_base + "/iso8601"});
  ASSERT_EQ(posted.status, 204) << posted.body << standby->output();
  EXPECT_EQ(job("via-standby").at("name").as_string(), "via-standby");
  CurlResult shown = curl(dir_, {standby_base + "/job/via-standby"});
  EXPECT_EQ(shown.status, 200);
  EXPECT_NE(shown.body.find("\"via-standby\""), std::string::npos) << shown.body;
  // The leader's errors come back as they are.
  CurlResult unknown = curl(dir_, {standby_base + "/job/nothing-here"});
  EXPECT_EQ(unknown.status, 400) << unknown.body;
  // A request that already went through this standby is not sent around again.
  std::string standby_address = standby_base.substr(7, standby_base.find('/', 7) - 7);
  CurlResult looped = curl(dir_, {"-H", "Via: 1.1 " + standby_address, standby_base + "/jobs"});
  EXPECT_EQ(looped.status, 503) << looped.body;

  // With the leader gone, the standby answers 503 with the reason.
  cluster_.master().stop(10s);
  CurlResult gone = curl(dir_, {standby_base + "/jobs"});
  EXPECT_EQ(gone.status, 503) << gone.body;
  EXPECT_NE(gone.body.find("did not answer"), std::string::npos) << gone.body;
  standby->stop(10s);
}

TEST_F(ChronosE2E, ARunWaitsForAnAgentItsConstraintsAllow) {
  ASSERT_EQ(post("/iso8601", R"({"name": "picky", "command": ")" + record("picky.log") +
                                 R"(", "schedule": "R0//PT1H",
                                 "constraints": [["hostname", "EQUALS", "elsewhere"]]})")
                .status,
            204);
  ASSERT_EQ(post("/iso8601", R"({"name": "easy", "command": ")" + record("easy.log") +
                                 R"(", "schedule": "R0//PT1H",
                                 "constraints": [["hostname", "LIKE", "agent[0-9]"]]})")
                .status,
            204);
  ASSERT_EQ(put("/job/picky").status, 204);
  ASSERT_EQ(put("/job/easy").status, 204);
  ASSERT_TRUE(wait_count("easy", "successCount", 1)) << diagnostics();
  // The agent was offered and taken for 'easy' after 'picky' was queued: 'picky' still waits.
  EXPECT_TRUE(lines_of(path("picky.log")).empty());
  auto summary = json::parse(get("/jobs/summary").body);
  for (const auto& entry : summary.at("jobs").as_array()) {
    if (entry.at("name") == "picky") {
      EXPECT_EQ(entry.at("state"), "queued") << entry;
    }
  }
  // Killing it ends the wait; it counts nothing.
  EXPECT_EQ(del("/task/kill/picky").status, 204);
  EXPECT_TRUE(testing::eventually([&] {
    auto runs_now = runs("picky");
    return !runs_now.empty() && runs_now.at(0).at("status") == "killed";
  }));
  EXPECT_EQ(count("picky", "errorCount"), 0);
}

// catchUpPolicy all with concurrencyPolicy forbid (the default): every missed time runs, one
// after the other, each once. The times are missed because they passed before the job was
// posted (its start is in the past), which the catch-up policy treats as times missed while no
// scheduler led.
TEST_F(ChronosE2E, CatchUpAllUnderForbidRunsEveryMissedTimeOnceOneAfterTheOther) {
  TimePoint start = std::chrono::time_point_cast<Millis>(std::chrono::system_clock::now()) - 9s;
  auto posted = post("/iso8601", R"({"name": "behind", "command": ")" + record("behind.log") +
                                     R"(; sleep 1", "schedule": "R5/)" + format_time(start) +
                                     R"(/PT2S", "catchUpPolicy": "all"})");
  ASSERT_EQ(posted.status, 204) << posted.body;
  ASSERT_TRUE(wait_count("behind", "successCount", 5, 60s))
      << json::serialize(runs("behind")) << diagnostics();

  // Each of the five due times ran once, first attempt.
  std::vector<std::string> ran = lines_of(path("behind.log"));
  std::set<std::string> expected;
  for (int i = 0; i < 5; ++i) expected.insert("behind@" + format_time(start + 2s * i) + "#0");
  EXPECT_EQ(std::set<std::string>(ran.begin(), ran.end()), expected);
  EXPECT_EQ(ran.size(), 5u);
  // As the user sees them: five runs, none skipped, each started after the one before ended.
  json::array history = runs("behind");
  ASSERT_EQ(history.size(), 5u) << history;
  std::vector<std::pair<TimePoint, json::object>> by_time;
  for (const auto& run : history) {
    EXPECT_EQ(run.at("status"), "succeeded") << run;
    by_time.emplace_back(*parse_time(run.at("scheduled").as_string()), run.as_object());
  }
  std::sort(by_time.begin(), by_time.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (size_t i = 1; i < by_time.size(); ++i) {
    EXPECT_GE(*parse_time(by_time[i].second.at("started").as_string()),
              *parse_time(by_time[i - 1].second.at("ended").as_string()))
        << by_time[i].second << " overlapped " << by_time[i - 1].second;
  }
  json::object behind = job("behind");
  EXPECT_EQ(behind.at("successCount"), 5);
  EXPECT_EQ(behind.at("errorCount"), 0);
  EXPECT_EQ(behind.at("disabled"), true);  // R5 used up, as in Chronos
}

// GET /job/stat/NAME is Chronos's stats of NAME whatever the names, and /job/NAME/runs the run
// history for every other name: /job/stat/runs is the stats of a job named 'runs'.
TEST_F(ChronosE2E, StatsAndRunHistoryRoutesHoldWhateverTheJobsAreNamed) {
  for (const char* name : {"stat", "runs", "other"}) {
    ASSERT_EQ(post("/iso8601", std::string(R"({"name": ")") + name + R"(", "command": ")" +
                                   record("names.log") + R"(", "schedule": "R0//PT1H"})")
                  .status,
              204);
  }
  ASSERT_EQ(put("/job/runs").status, 204);
  ASSERT_TRUE(wait_count("runs", "successCount", 1)) << diagnostics();

  auto json_of = [&](const std::string& route) {
    auto answer = get(route);
    EXPECT_EQ(answer.status, 200) << route << ": " << answer.body;
    return answer.status == 200 ? json::parse(answer.body) : json::value();
  };
  // The stats of 'runs': its one run.
  json::value stats_of_runs = json_of("/job/stat/runs");
  ASSERT_TRUE(stats_of_runs.is_object()) << stats_of_runs;
  EXPECT_EQ(stats_of_runs.at("histogram").at("count"), 1) << stats_of_runs;
  ASSERT_EQ(stats_of_runs.at("taskStatHistory").as_array().size(), 1u) << stats_of_runs;
  EXPECT_EQ(stats_of_runs.at("taskStatHistory").at(0).at("jobName"), "runs");
  // The stats of 'stat' (none ran), and the histories of 'runs' and 'other'.
  json::value stats_of_stat = json_of("/job/stat/stat");
  ASSERT_TRUE(stats_of_stat.is_object()) << stats_of_stat;
  EXPECT_EQ(stats_of_stat.at("histogram").at("count"), 0);
  json::value history_of_runs = json_of("/job/runs/runs");
  ASSERT_TRUE(history_of_runs.is_array()) << history_of_runs;
  ASSERT_EQ(history_of_runs.as_array().size(), 1u);
  EXPECT_EQ(history_of_runs.at(0).at("status"), "succeeded");
  json::value history_of_other = json_of("/job/other/runs");
  ASSERT_TRUE(history_of_other.is_array()) << history_of_other;
  EXPECT_TRUE(history_of_other.as_array().empty());
  EXPECT_EQ(job("stat").at("name"), "stat");
  EXPECT_EQ(json_of("/job/stat/stat/").at("histogram").at("count"), 0);  // a trailing slash

  // Without a job named 'runs', /job/stat/runs is still its stats: 400, although 'stat' exists.
  ASSERT_EQ(del("/job/runs").status, 204);
  auto gone = get("/job/stat/runs");
  EXPECT_EQ(gone.status, 400) << gone.body;
  EXPECT_NE(gone.body.find("job 'runs' not found"), std::string::npos) << gone.body;
  EXPECT_EQ(get("/job/stat/runs/extra").status, 404);
}

TEST_F(ChronosE2E, DotNamesAndHostileJobsAreRefusedWithTheReasonAndTheSchedulerKeepsServing) {
  auto expect_400 = [&](const CurlResult& answer, const std::string& reason) {
    EXPECT_EQ(answer.status, 400) << answer.body;
    EXPECT_NE(answer.body.find(reason), std::string::npos) << answer.body;
    EXPECT_NE(answer.body.find("\"status\":\"Bad Request\""), std::string::npos) << answer.body;
  };
  ASSERT_EQ(
      post("/iso8601", R"({"name": "base", "command": "true", "schedule": "R0//PT1H"})").status,
      204);
  // '.' and '..' name no job a URL can reach (/job/.. is /): refused on both routes.
  for (const char* name : {".", ".."}) {
    std::string reason = "invalid job name '" + std::string(name) +
                         "': '.' and '..' are not job names: a URL's path reads them as dot "
                         "segments, which clients remove ('/job/..' is '/')";
    expect_400(post("/iso8601", std::string(R"({"name": ")") + name +
                                    R"(", "command": "true", "schedule": "R0//PT1H"})"),
               reason);
    expect_400(post("/dependency", std::string(R"({"name": ")") + name +
                                       R"(", "command": "true", "parents": ["base"]})"),
               reason);
  }
  // Names near them, and other hostile names and values.
  ASSERT_EQ(
      post("/iso8601", R"({"name": "...", "command": "true", "schedule": "R0//PT1H"})").status,
      204);
  EXPECT_EQ(job("...").at("name"), "...");
  expect_400(post("/iso8601", R"({"name": "../base", "command": "true", "schedule": "R0//PT1H"})"),
             "invalid job name '../base'");
  expect_400(post("/iso8601", R"({"name": "a%2F..", "command": "true", "schedule": "R0//PT1H"})"),
             "invalid job name");
  expect_400(post("/iso8601", R"({"name": ".\u0000", "command": "true", "schedule": "R0//PT1H"})"),
             "invalid job name");
  expect_400(post("/iso8601", R"({"name": ")" + std::string(151, '.') +
                                  R"(", "command": "true", "schedule": "R0//PT1H"})"),
             "at most 150");
  expect_400(post("/iso8601", R"({"name": "big", "command": "true", "schedule": "R0//PT1H",
                                  "mem": 1e300})"),
             "'mem' must be a number from 0 to 1000000000000");
  expect_400(post("/iso8601", R"({"name": "big", "command": "true", "schedule": "R0//PT1H",
                                  "cpus": "1e7"})"),
             "'cpus' must be a number from 0 to 1000000");
  // The largest a job may ask is kept and written back as Chronos writes it.
  auto largest = post("/iso8601", R"({"name": "big", "command": "true", "schedule": "R0//PT1H",
                                      "cpus": 1000000, "mem": 1e12, "disk": "1e12"})");
  ASSERT_EQ(largest.status, 204) << largest.body;
  auto big = get("/job/big");
  EXPECT_NE(big.body.find(R"("cpus":1000000.0,"disk":1.0E12,"mem":1.0E12)"), std::string::npos)
      << big.body;
  // Percent-encoded dot segments reach no job, and nothing breaks.
  for (const char* target : {"/job/%2E%2E", "/job/%2e", "/job/stat/%2E%2E", "/job/%2E%2E/runs"}) {
    auto answer = get(target);
    EXPECT_TRUE(answer.status == 400 || answer.status == 404) << target << ": " << answer.body;
  }
  // Still serving, and nothing of the refused jobs was kept.
  auto listed = get("/jobs");
  ASSERT_EQ(listed.status, 200);
  std::set<std::string> names;
  json::value jobs = json::parse(listed.body);
  for (const auto& item : jobs.as_array()) {
    names.insert(std::string(item.at("name").as_string()));
  }
  EXPECT_EQ(names, (std::set<std::string>{"...", "base", "big"}));
}

// A run's CHRONOS_RESOURCE_* variables are written as Chronos writes them (Java's
// Double.toString): "16.0", not "16".
TEST_F(ChronosE2E, ARunSeesItsResourcesWrittenAsChronosWritesThem) {
  ASSERT_EQ(post("/iso8601", R"({"name": "sized", "schedule": "R0//PT1H", "cpus": 0.25,
                                 "command": "echo $CHRONOS_RESOURCE_CPU $CHRONOS_RESOURCE_MEM $CHRONOS_RESOURCE_DISK"})")
                .status,
            204);
  ASSERT_EQ(put("/job/sized").status, 204);
  ASSERT_TRUE(wait_count("sized", "successCount", 1)) << diagnostics();
  json::array history;
  EXPECT_TRUE(testing::eventually([&] {
    history = runs("sized");
    return history.size() == 1 && !history[0].at("outputTail").as_string().empty();
  })) << history;
  ASSERT_EQ(history.size(), 1u);
  // cpus as given, mem and disk the scheduler's defaults here (task_mem 16, task_disk 1).
  EXPECT_EQ(history[0].at("outputTail"), "0.25 16.0 1.0\n");
}

TEST_F(ChronosE2E, ARestartedMasterHostNeitherSkipsNorRepeatsARun) {
  ASSERT_EQ(post("/iso8601", R"({"name": "steady", "command": ")" + record("steady.log") +
                                 R"(", "schedule": "R//PT2S", "catchUpPolicy": "once"})")
                .status,
            204);
  ASSERT_TRUE(testing::eventually([&] { return lines_of(path("steady.log")).size() >= 3; }, 40s))
      << diagnostics();
  // The master host is down for at least two due times (an outage of this length, not a wait
  // for something): they follow the catch-up policy when it is back.
  TimePoint last_due = scheduled_of(run_of(lines_of(path("steady.log")).back()));
  ASSERT_EQ(cluster_.master().stop(), 0) << diagnostics();
  std::this_thread::sleep_until(last_due + 5s);
  ASSERT_TRUE(cluster_.restart_master()) << diagnostics();
  find_api();
  size_t before = lines_of(path("steady.log")).size();
  ASSERT_TRUE(
      testing::eventually([&] { return lines_of(path("steady.log")).size() >= before + 3; }, 60s))
      << diagnostics();
  std::set<std::string> skipped;
  for (const auto& run : runs("steady")) {
    if (run.at("status") == "skipped") skipped.insert(std::string(run.at("runId").as_string()));
  }
  ASSERT_EQ(del("/job/steady").status, 204);

  // No run twice: every line is a distinct run, each run once.
  std::vector<std::string> ran = lines_of(path("steady.log"));
  std::set<std::string> run_ids;
  for (const auto& task : ran) {
    EXPECT_TRUE(run_ids.insert(run_of(task)).second) << "run twice: " << task;
  }
  // No run lost silently: every due time between the first and the last run either ran or was
  // recorded as skipped by the catch-up policy (the times that passed while the master was
  // down), and at most the latest of those missed times ran late.
  std::vector<TimePoint> due;
  for (const auto& run : run_ids) due.push_back(scheduled_of(run));
  std::sort(due.begin(), due.end());
  ASSERT_GE(due.size(), 6u);
  std::vector<TimePoint> gaps;
  for (size_t i = 1; i < due.size(); ++i) {
    EXPECT_EQ((due[i] - due[0]) % 2s, 0ms) << "off the schedule";
    for (TimePoint t = due[i - 1] + 2s; t < due[i]; t += 2s) gaps.push_back(t);
  }
  EXPECT_GE(gaps.size(), 1u) << "the outage missed no due time";
  for (TimePoint t : gaps) {
    std::string run = "steady@" + format_time(t);
    EXPECT_EQ(skipped.count(run), 1u)
        << run << " neither ran nor was skipped by the catch-up policy" << diagnostics();
  }
}

}  // namespace
}  // namespace tessera::chronos

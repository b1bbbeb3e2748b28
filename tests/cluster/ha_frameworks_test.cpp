// Marathon and Chronos following the leading master, end to end with real processes: a 3-node
// ZooKeeper ensemble, three masters with leader_zookeeper each running framework_marathon and
// framework_chronos (which act only while their host leads), three agents, and curl as the REST
// client. A Marathon app with 6 instances and a Chronos job every 2 s run; kill -9 of the
// leading master; the next leader's Marathon and Chronos serve (also through the remaining
// standby, which forwards to it), the same 6 task ids run with the same processes, and the
// job's runs have neither a gap nor a duplicate against the schedule's due times.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "chronos_time.h"
#include "ha_cluster.h"
#include "http/http_support.h"
#include "support/task_processes.h"

namespace {

using namespace std::chrono_literals;
namespace json = boost::json;
using tessera::testing::eventually;
using tessera::testing::HaCluster;
using tessera::testing::processes_with;
using tessera::testing::TaskProcessReaper;
using tessera::testing::TempDir;
using tessera::testing::http::curl;
using tessera::testing::http::CurlResult;

constexpr const char* kMarker = "TESSERA_HA_FRAMEWORKS_TEST";
// Short, so that a killed leader's ephemeral node goes soon; long enough for a loaded machine.
constexpr int kSessionTimeoutMs = 3000;
constexpr auto kPeriod = 2s;

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::vector<std::string> lines_of(const std::filesystem::path& path) {
  std::vector<std::string> out;
  std::istringstream in(tessera::testing::read_file(path));
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

// "ticker@2026-...Z#2" -> "ticker@2026-...Z": the run a Chronos task id belongs to.
std::string run_of(const std::string& task_id) { return task_id.substr(0, task_id.rfind('#')); }

tessera::chronos::TimePoint due_of(const std::string& run_id) {
  auto parsed = tessera::chronos::parse_time(run_id.substr(run_id.find('@') + 1));
  EXPECT_TRUE(parsed.ok()) << run_id;
  return parsed.ok() ? *parsed : tessera::chronos::TimePoint{};
}

class HaFrameworksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TESSERA_REQUIRE_ZOOKEEPER();
    cluster_ = std::make_unique<HaCluster>(dir_, 3, kSessionTimeoutMs);
    cluster_->master_extra =
        "frameworks = [\"framework_marathon\", \"framework_chronos\"]\n"
        "[plugins.framework_marathon]\nhttp_address = \"127.0.0.1:0\"\n"
        "reconcile_interval_seconds = 5\n"
        "[plugins.framework_chronos]\naddress = \"127.0.0.1:0\"\nhistory_limit = 200\n"
        "reconcile_grace_ms = 5000\ntask_mem = 16\ntask_disk = 1\n";
  }

  // The REST base of master `i`'s Marathon (http://HOST:PORT) or Chronos
  // (http://HOST:PORT/v1/scheduler), "" until its process announced it.
  std::string marathon(size_t i) {
    std::string address = cluster_->announced(i, "framework_marathon.http");
    return address.empty() ? "" : "http://" + address;
  }
  std::string chronos(size_t i) {
    std::string address = cluster_->announced(i, "framework_chronos.http");
    return address.empty() ? "" : "http://" + address + "/v1/scheduler";
  }

  CurlResult get(const std::string& url) { return curl(dir_, {url}); }
  CurlResult send(const std::string& method, const std::string& url, const std::string& body) {
    return curl(dir_,
                {"-X", method, "-H", "Content-Type: application/json", "--data-binary", body, url});
  }

  // The Marathon app's task ids and how many of them are running, as `base` answers (empty
  // when it does not answer 200).
  std::pair<std::set<std::string>, size_t> app_tasks(const std::string& base) {
    CurlResult answer = get(base + "/v2/apps/ha/web");
    std::pair<std::set<std::string>, size_t> out{{}, 0};
    if (answer.status != 200) return out;
    json::object app = json::parse(answer.body).at("app").as_object();
    for (const auto& task : app.at("tasks").as_array()) {
      out.first.insert(std::string(task.at("id").as_string()));
      if (task.at("state") == "TASK_RUNNING") ++out.second;
    }
    return out;
  }

  // The Marathon tasks' processes: task id -> pids (the shell and its sleep).
  std::map<std::string, std::set<pid_t>> task_processes() {
    std::map<std::string, std::set<pid_t>> out;
    for (const auto& p : processes_with(kMarker, marker_)) out[p.task_id].insert(p.pid);
    return out;
  }

  TempDir dir_;
  std::unique_ptr<HaCluster> cluster_;
  std::string marker_ = std::to_string(::getpid()) + "-" + std::to_string(std::rand());
};

TEST_F(HaFrameworksTest, ZOOKEEPER_LeaderKilledMarathonAndChronosResumeOnTheNextLeader) {
  TaskProcessReaper reaper(kMarker, marker_);
  HaCluster& cluster = *cluster_;
  ASSERT_TRUE(cluster.start(3, 3));
  const int first = cluster.leader();
  ASSERT_EQ(first, 0);
  for (size_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(eventually([&] { return !marathon(i).empty() && !chronos(i).empty(); }, 30s))
        << cluster.logs();
  }
  ASSERT_TRUE(eventually([&] { return get(marathon(0) + "/v2/apps").status == 200; }, 60s))
      << cluster.logs();
  ASSERT_TRUE(eventually([&] { return get(chronos(0) + "/jobs").status == 200; }, 60s))
      << cluster.logs();

  // The app, posted to a standby: it is forwarded to the leader, as Marathon's proxy does.
  std::string app = R"({"id": "/ha/web", "instances": 6, "cpus": 0.1, "mem": 16,
      "cmd": "sleep 600", "env": {")" +
                    std::string(kMarker) + R"(": ")" + marker_ + R"("}})";
  CurlResult posted;
  ASSERT_TRUE(eventually(
      [&] { return (posted = send("POST", marathon(1) + "/v2/apps", app)).status == 201; }, 60s))
      << posted.status << " " << posted.body << cluster.logs();
  // The job, posted to the other standby. Catch-up "all": the due times that pass while no
  // scheduler leads run late, each once, so that the runs have no gap.
  std::string ticks = (dir_ / "ticker.log").string();
  std::string job = R"({"name": "ticker", "command": "echo $mesos_task_id >> )" + ticks +
                    R"(", "schedule": "R//PT2S", "catchUpPolicy": "all", "epsilon": "PT60S"})";
  CurlResult job_posted;
  ASSERT_TRUE(eventually(
      [&] { return (job_posted = send("POST", chronos(2) + "/iso8601", job)).status == 204; }, 60s))
      << job_posted.status << " " << job_posted.body << cluster.logs();

  std::pair<std::set<std::string>, size_t> before;
  ASSERT_TRUE(eventually(
      [&] {
        before = app_tasks(marathon(0));
        return before.first.size() == 6 && before.second == 6 && task_processes().size() == 6;
      },
      90s))
      << cluster.logs();
  ASSERT_TRUE(eventually([&] { return lines_of(dir_ / "ticker.log").size() >= 3; }, 60s))
      << cluster.logs();
  // Each standby answers with the leader's view.
  EXPECT_EQ(app_tasks(marathon(1)).first, before.first);
  EXPECT_EQ(get(chronos(1) + "/job/ticker").status, 200);
  const auto processes = task_processes();

  // kill -9 the leading master: its Marathon and Chronos go with it.
  auto killed_at = std::chrono::steady_clock::now();
  cluster.kill_master(static_cast<size_t>(first));
  const size_t runs_before = lines_of(dir_ / "ticker.log").size();
  int next = -1;
  ASSERT_TRUE(eventually([&] { return (next = cluster.wait_leader(first, 1s)) >= 0; }, 60s))
      << cluster.logs();
  const size_t standby = next == 1 ? 2 : 1;
  ASSERT_TRUE(eventually(
      [&] {
        auto now = app_tasks(marathon(static_cast<size_t>(next)));
        return now.first == before.first && now.second == 6;
      },
      60s))
      << cluster.logs();
  double marathon_back = seconds_since(killed_at);
  ASSERT_TRUE(eventually(
      [&] { return get(chronos(static_cast<size_t>(next)) + "/job/ticker").status == 200; }, 60s))
      << cluster.logs();
  double chronos_back = seconds_since(killed_at);
  std::cout << "[ measured ] leader killed: Marathon served the same 6 tasks after "
            << marathon_back << " s, Chronos served after " << chronos_back
            << " s (session timeout " << kSessionTimeoutMs << " ms)\n";

  // The job runs on: three more runs after the kill, the late ones included.
  ASSERT_TRUE(
      eventually([&] { return lines_of(dir_ / "ticker.log").size() >= runs_before + 3 + 2; }, 60s))
      << cluster.logs();
  // The standby left forwards to the new leader.
  EXPECT_TRUE(eventually([&] { return app_tasks(marathon(standby)).first == before.first; }, 30s))
      << cluster.logs();
  EXPECT_TRUE(eventually([&] { return get(chronos(standby) + "/job/ticker").status == 200; }, 30s))
      << cluster.logs();

  // The same 6 tasks with the same processes: nothing was killed or launched again.
  auto after = app_tasks(marathon(static_cast<size_t>(next)));
  EXPECT_EQ(after.first, before.first);
  EXPECT_EQ(after.second, 6U);
  EXPECT_EQ(task_processes(), processes);
  auto listed = cluster.tasks();
  for (const auto& id : before.first) {
    ASSERT_EQ(listed.count(id), 1U) << id;
    EXPECT_EQ(listed[id].first, "TASK_RUNNING") << id;
  }

  // A run the old leader launched but the master never got is launched again after
  // reconcile_grace_ms: it may end after later runs. Wait until the runs so far leave no due
  // time out (a gap that stays is a missed run), then stop the job.
  auto contiguous = [&] {
    std::vector<tessera::chronos::TimePoint> times;
    for (const auto& task : lines_of(dir_ / "ticker.log")) times.push_back(due_of(run_of(task)));
    std::sort(times.begin(), times.end());
    for (size_t i = 1; i < times.size(); ++i) {
      if (times[i] - times[i - 1] > kPeriod) return false;
    }
    return true;
  };
  EXPECT_TRUE(eventually(contiguous, 30s)) << tessera::testing::read_file(dir_ / "ticker.log");
  // Stop the job, then check its runs against the schedule: each due time from the first run
  // to the last ran exactly once (a run's id is its due time; a relaunch would repeat it).
  ASSERT_EQ(curl(dir_, {"-X", "DELETE", chronos(static_cast<size_t>(next)) + "/job/ticker"}).status,
            204);
  std::set<std::string> runs;
  for (const auto& task : lines_of(dir_ / "ticker.log")) {
    EXPECT_TRUE(runs.insert(run_of(task)).second) << "run twice: " << task;
  }
  std::vector<tessera::chronos::TimePoint> due;
  for (const auto& run : runs) due.push_back(due_of(run));
  std::sort(due.begin(), due.end());
  ASSERT_GE(due.size(), 6U);
  for (size_t i = 1; i < due.size(); ++i) {
    EXPECT_EQ(due[i] - due[i - 1], std::chrono::duration_cast<std::chrono::milliseconds>(kPeriod))
        << "a gap before the run due at " << tessera::chronos::format_time(due[i]) << "\n"
        << tessera::testing::read_file(dir_ / "ticker.log");
  }
}

}  // namespace

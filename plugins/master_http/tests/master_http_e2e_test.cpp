// master_http end to end: a real master host running the plugin (HTTP on port 0, announced in
// its endpoints file) and a real agent host, a framework in the test process launching a task,
// and curl and a raw socket as the HTTP clients a user would point at the master.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <random>
#include <regex>
#include <set>

#include "http/http_support.h"
#include "master/peers.h"
#include "state_json.h"
#include "support/cluster.h"
#include "support/framework.h"

namespace {

using namespace std::chrono_literals;
namespace json = boost::json;
using tessera::testing::Cluster;
using tessera::testing::MasterSettings;
using tessera::testing::TempDir;
using tessera::testing::http::curl;
using tessera::testing::http::CurlResult;
using tessera::testing::http::RawClient;
namespace state = tessera::protocol::state;

MasterSettings http_master() {
  MasterSettings settings;
  settings.node_extra = "services = [\"master_http\"]\n";
  settings.extra =
      "[plugins.master_http]\naddress = \"127.0.0.1:0\"\nheartbeat_interval_ms = 500\n"
      "usage_refresh_ms = 0\n";
  return settings;
}

class MasterHttpE2E : public ::testing::Test {
 protected:
  virtual MasterSettings master_settings() { return http_master(); }

  void SetUp() override {
    ASSERT_TRUE(cluster_.start_master(master_settings()));
    ASSERT_TRUE(cluster_.start_agent(0));
    std::regex line("master_http\\.http = \"([^\"]+)\"");
    std::string text = tessera::testing::read_file(dir_ / "master.endpoints");
    std::smatch m;
    ASSERT_TRUE(std::regex_search(text, m, line)) << text;
    address_ = m[1];
    port_ = static_cast<uint16_t>(std::stoi(address_.substr(address_.rfind(':') + 1)));
  }

  CurlResult call(const std::string& method, const std::string& path,
                  const std::string& body = "") {
    std::vector<std::string> args{"-X", method};
    if (!body.empty()) {
      args.insert(args.end(), {"-H", "Content-Type: application/json", "--data-binary", body});
    }
    args.push_back("http://" + address_ + path);
    return curl(dir_, args);
  }
  json::value get(const std::string& path) {
    CurlResult r = call("GET", path);
    EXPECT_EQ(r.status, 200) << path << ": " << r.body;
    boost::system::error_code ec;
    json::value value = json::parse(r.body, ec);
    return ec ? json::value(nullptr) : value;
  }
  // The message of a JSON error answer.
  std::string error_of(const CurlResult& r) {
    boost::system::error_code ec;
    json::value value = json::parse(r.body, ec);
    if (ec || !value.is_object() || !value.as_object().contains("message")) return "";
    return std::string(value.at("message").as_string());
  }

  // Runs the tessera CLI against the cluster's master; the exit status and what it printed.
  std::pair<int, std::string> tessera(std::vector<std::string> args) {
    std::vector<std::string> argv{TESSERA_CLI_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    static int runs = 0;
    return tessera::testing::run(argv, dir_ / ("cli-" + std::to_string(++runs) + ".log"), 60s);
  }
  // A framework in the test process that runs `command` as task `id` on the first offer.
  std::unique_ptr<tessera::testing::TestFramework> run_task(const std::string& id,
                                                            const std::string& command) {
    tessera::sdk::FrameworkInfo info;
    info.name = "runner-" + id;
    // The framework's loop runs only while the test waits on it: between waits it misses
    // heartbeats, and must keep its task when the master disconnects it.
    info.failover_timeout_seconds = 3600;
    auto framework = std::make_unique<tessera::testing::TestFramework>(cluster_.endpoint(), info);
    auto* f = framework.get();
    auto launched = std::make_shared<bool>(false);
    f->on_offer = [f, id, command, launched](const tessera::protocol::scheduler::Offer& offer) {
      if (*launched) return (void)f->client().decline({offer.offer_id}, 60);
      *launched = true;
      auto task = tessera::testing::command_task(id, command);
      task.agent_id = offer.agent_id;
      f->client().accept({offer.offer_id}, {task}, 60);
    };
    return framework;
  }

  TempDir dir_;
  Cluster cluster_{dir_};
  std::string address_;
  uint16_t port_ = 0;
};

TEST_F(MasterHttpE2E, StateTasksMetricsAndEventsShowATaskAndItsSandbox) {
  // A client of the event stream, opened first as the API asks.
  RawClient events(port_, 30s);
  ASSERT_TRUE(events.send(tessera::testing::http::get_request("/events")));
  ASSERT_TRUE(events.read_until(":ok")) << events.buffer();

  CurlResult health = call("GET", "/health");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, "ok\n");

  json::value before = get("/state");
  ASSERT_TRUE(before.is_object());
  EXPECT_EQ(before.at("leader").as_string(), cluster_.endpoint());
  EXPECT_EQ(before.at("leader_http").as_string(), "http://" + address_);
  EXPECT_EQ(before.at("activated_slaves").to_number<int64_t>(), 1);
  EXPECT_EQ(before.at("slaves").as_array()[0].at("resources").at("cpus").to_number<double>(), 4);
  EXPECT_EQ(before.at("slaves").as_array()[0].at("resources").at("ports").as_string(),
            "[31000-31099]");

  tessera::sdk::FrameworkInfo info;
  info.name = "http-test";
  info.roles = {"eng"};
  info.failover_timeout_seconds = 3600;  // kept while the test does not run its loop
  tessera::testing::TestFramework framework(cluster_.endpoint(), info);
  bool launched = false;
  framework.on_offer = [&](const tessera::protocol::scheduler::Offer& offer) {
    if (launched) return (void)framework.client().decline({offer.offer_id}, 60);
    launched = true;
    auto task = tessera::testing::command_task("web-1", "echo hello from web-1; exec sleep 60");
    task.agent_id = offer.agent_id;
    framework.client().accept({offer.offer_id}, {task}, 60);
  };
  ASSERT_TRUE(framework.wait_for_state("web-1", state::kRunning)) << cluster_.master().output();

  ASSERT_TRUE(events.read_until("event: task_added")) << events.buffer();
  ASSERT_TRUE(events.read_until("\"state\":\"TASK_RUNNING\"")) << events.buffer();
  EXPECT_NE(events.buffer().find("event: framework_added"), std::string::npos);

  json::value page = get("/tasks?state=TASK_RUNNING&q=web");
  ASSERT_TRUE(page.is_object());
  ASSERT_EQ(page.at("total").to_number<uint64_t>(), 1u);
  const json::object& task = page.at("tasks").as_array()[0].as_object();
  EXPECT_EQ(task.at("id").as_string(), "web-1");
  std::string sandbox(task.at("sandbox").as_string());
  ASSERT_FALSE(sandbox.empty());
  // What a user does with it: read the task's output there.
  EXPECT_TRUE(tessera::testing::eventually([&] {
    return tessera::testing::read_file(std::filesystem::path(sandbox) / "stdout")
               .find("hello from web-1") != std::string::npos;
  }));
  EXPECT_EQ(get("/tasks?state=TASK_FINISHED").at("total").to_number<uint64_t>(), 0u);

  json::value after = get("/state");
  const json::object& fw = after.at("frameworks").as_array()[0].as_object();
  EXPECT_EQ(fw.at("name").as_string(), "http-test");
  ASSERT_EQ(fw.at("tasks").as_array().size(), 1u);
  EXPECT_EQ(fw.at("tasks").as_array()[0].at("sandbox").as_string(), sandbox);
  EXPECT_EQ(fw.at("used_resources").at("cpus").to_number<double>(), 0.1);

  CurlResult metrics = call("GET", "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("tessera_master_agents{state=\"active\"} 1\n"), std::string::npos)
      << metrics.body;
  EXPECT_NE(metrics.body.find("tessera_master_tasks{state=\"TASK_RUNNING\"} 1\n"),
            std::string::npos)
      << metrics.body;
  EXPECT_NE(metrics.body.find("tessera_master_resources_used{resource=\"cpus\"} 0.1\n"),
            std::string::npos)
      << metrics.body;
  EXPECT_NE(metrics.body.find("tessera_master_http_event_subscribers 1\n"), std::string::npos);
  // The allocator's cycle that made the offer is in the histogram, and the master sent messages
  // (the subscription's answer, offers, updates) as it received them.
  auto sample = [&](const std::string& name) -> double {
    std::smatch m;
    std::regex line("\n" + std::regex_replace(name, std::regex(R"([{}+])"), R"(\$&)") +
                    " ([0-9.e+-]+)\n");
    return std::regex_search(metrics.body, m, line) ? std::stod(m[1]) : -1;
  };
  EXPECT_GE(sample("tessera_master_allocation_cycle_seconds_count"), 1) << metrics.body;
  EXPECT_EQ(sample("tessera_master_allocation_cycle_seconds_bucket{le=\"+Inf\"}"),
            sample("tessera_master_allocation_cycle_seconds_count"));
  EXPECT_GT(sample("tessera_master_allocation_cycle_seconds_sum"), 0) << metrics.body;
  EXPECT_GE(sample("tessera_master_messages_sent_total"), 3) << metrics.body;
  EXPECT_GE(sample("tessera_master_messages_received_total"), 3) << metrics.body;
  EXPECT_GE(sample("tessera_master_http_event_queue_bytes"), 0) << metrics.body;

  // Roles: a weight set over HTTP is what /roles shows, with the role's share.
  CurlResult put = call("PUT", "/roles/eng", R"({"weight": 3})");
  EXPECT_EQ(put.status, 200) << put.body;
  json::value roles = get("/roles");
  bool seen = false;
  for (const auto& role : roles.at("roles").as_array()) {
    if (role.at("name").as_string() != "eng") continue;
    seen = true;
    EXPECT_EQ(role.at("weight").to_number<double>(), 3);
    EXPECT_EQ(role.at("allocated").at("cpus").to_number<double>(), 0.1);
    EXPECT_GT(role.at("share").to_number<double>(), 0);
  }
  EXPECT_TRUE(seen) << json::serialize(roles);
  // /state shows it too, although no master event came since the last /state: the master's
  // summary has a new version, so the API does not answer with the body it kept.
  auto eng_weight = [](const json::value& shown) {
    for (const auto& role : shown.at("roles").as_array()) {
      if (role.at("name").as_string() == "eng") return role.at("weight").to_number<double>();
    }
    return -1.0;
  };
  EXPECT_EQ(eng_weight(get("/state")), 3);
  // A counter of /metrics, -1 when it is not there.
  auto counter = [&](const std::string& name) {
    std::smatch m;
    std::string text = call("GET", "/metrics").body;
    std::regex line("\n" + name + " ([0-9]+)\n");
    return std::regex_search(text, m, line) ? std::stoi(m[1]) : -1;
  };
  int partial_before = counter("tessera_master_http_state_summaries_partial_total");
  ASSERT_GE(partial_before, 0);
  ASSERT_EQ(call("PUT", "/roles/eng", R"({"weight": 4})").status, 200);
  EXPECT_EQ(eng_weight(get("/state")), 4);
  // No agent came or went: the master named only the agents that changed (if any), not all.
  EXPECT_GT(counter("tessera_master_http_state_summaries_partial_total"), partial_before);
  // While nothing changes, /state is sent again from the body kept since the last one (counted
  // in /metrics): the same bytes as the master's own state gives.
  auto reused = [&] { return counter("tessera_master_http_state_bodies_reused_total"); };
  int reused_before = reused();
  ASSERT_GE(reused_before, 0);
  bool same = false;
  for (int i = 0; i < 20 && !same; ++i) {
    std::string first = call("GET", "/state").body;
    int between = reused();
    std::string second = call("GET", "/state").body;
    same = reused() == between + 1 && second == first;
  }
  EXPECT_TRUE(same) << "no /state was answered from the kept body";
  tessera::testing::Peers peers;
  tessera::master_http::StateContext context;
  context.leader_http = "http://" + address_;
  std::string served, expected;
  for (int i = 0; i < 20 && (served.empty() || served != expected); ++i) {
    // The task's usage may change between the two reads: read both again then.
    expected = json::serialize(
        tessera::master_http::state_json(peers.state(cluster_.endpoint()), context));
    served = call("GET", "/state").body;
  }
  EXPECT_EQ(served, expected);
  // Where the answer spent its time, as a browser's developer tools show it: each phase.
  CurlResult timed = curl(dir_, {"-D", "-", "http://" + address_ + "/state"});
  EXPECT_EQ(timed.status, 200);
  EXPECT_TRUE(std::regex_search(
      timed.output, std::regex("\r\nServer-Timing: copy;dur=[0-9.]+, master;dur=[0-9.]+, "
                               "summary;dur=[0-9.]+, events;dur=[0-9.]+, body;dur=[0-9.]+\r\n")))
      << timed.output;

  // The stream stays alive with heartbeats.
  events.buffer().clear();
  EXPECT_TRUE(events.read_until("event: heartbeat"));
}

TEST_F(MasterHttpE2E, SandboxFilesAreListedReadAndDownloadedThroughTheMaster) {
  auto framework = run_task("printer",
                            "seq 1 200000; echo oops >&2; mkdir -p logs; echo deep > logs/app.log; "
                            "exec sleep 60");
  ASSERT_TRUE(framework->wait_for_state("printer", state::kRunning)) << cluster_.master().output();
  json::value page = get("/tasks?q=printer");
  ASSERT_EQ(page.at("total").to_number<uint64_t>(), 1u);
  std::filesystem::path sandbox(
      std::string(page.at("tasks").as_array()[0].at("sandbox").as_string()));
  ASSERT_TRUE(tessera::testing::eventually(
      [&] { return std::filesystem::exists(sandbox / "logs" / "app.log"); }));
  std::string stdout_text = tessera::testing::read_file(sandbox / "stdout");
  ASSERT_GT(stdout_text.size(), 1u << 20);  // more than one read's worth

  json::value listing = get("/files/browse?task_id=printer");
  std::set<std::string> names;
  for (const auto& entry : listing.as_array())
    names.insert(std::string(entry.at("path").as_string()));
  EXPECT_TRUE(names.count("stdout") && names.count("stderr") && names.count("logs"))
      << json::serialize(listing);
  json::value logs = get("/files/browse?task_id=printer&path=logs");
  ASSERT_EQ(logs.as_array().size(), 1u);
  EXPECT_EQ(logs.as_array()[0].at("path").as_string(), "logs/app.log");

  json::value head = get("/files/read?task_id=printer&path=stdout&offset=0&length=8");
  EXPECT_EQ(head.at("data").as_string(), "1\n2\n3\n4\n");
  json::value size = get("/files/read?task_id=printer&path=stdout&offset=-1");
  EXPECT_EQ(size.at("data").as_string(), "");
  EXPECT_EQ(size.at("offset").to_number<int64_t>(), static_cast<int64_t>(stdout_text.size()));
  json::value err = get("/files/read?task_id=printer&path=stderr");
  EXPECT_EQ(err.at("data").as_string(), "oops\n");
  CurlResult download = call("GET", "/files/download?task_id=printer&path=stdout");
  EXPECT_EQ(download.status, 200);
  EXPECT_TRUE(download.body == stdout_text)
      << download.body.size() << " bytes, not " << stdout_text.size();

  // Hostile paths: each refused with the reason, nothing outside the sandbox read.
  std::filesystem::create_symlink("/etc/passwd", sandbox / "passwd");
  std::filesystem::create_directory_symlink("/etc", sandbox / "etc");
  struct Case {
    std::string query;
    int status;
    std::string message;
  };
  std::vector<Case> cases = {
      {"/files/read?task_id=printer&path=../../etc/passwd", 400, "'..' may not appear"},
      {"/files/read?task_id=printer&path=%2Fetc%2Fpasswd", 400, "must be relative"},
      {"/files/read?task_id=printer&path=passwd", 400, "'passwd' is a symbolic link"},
      {"/files/read?task_id=printer&path=etc/passwd", 400, "'etc' is a symbolic link"},
      {"/files/browse?task_id=printer&path=etc", 400, "'etc' is a symbolic link"},
      {"/files/download?task_id=printer&path=passwd", 400, "symbolic link"},
      {"/files/read?task_id=printer&path=nothing", 404, "no file 'nothing'"},
      {"/files/read?task_id=nope&path=stdout", 404, "no task 'nope' is known"},
      {"/files/read?task_id=printer&path=stdout&length=99999999", 400, "length must be"},
      {"/files/read?task_id=printer&path=stdout&offset=-7", 400, "offset must be"},
      {"/files/read?path=stdout", 400, "task_id is required"},
      {"/files/read?task_id=printer", 400, "path is required"},
  };
  for (const auto& c : cases) {
    CurlResult r = call("GET", c.query);
    EXPECT_EQ(r.status, c.status) << c.query << ": " << r.body;
    EXPECT_NE(error_of(r).find(c.message), std::string::npos) << c.query << ": " << r.body;
    EXPECT_EQ(r.body.find("root:"), std::string::npos) << c.query;
  }
  EXPECT_EQ(call("GET", "/health").status, 200);
}

TEST_F(MasterHttpE2E, HostileRequestsGetClearErrorsAndTheApiKeepsServing) {
  struct Case {
    std::string method, path, body;
    int status;
    std::string message;
  };
  std::vector<Case> cases = {
      {"GET", "/tasks?limit=abc", "", 400, "limit must be a whole number from 0 to 1000"},
      {"GET", "/tasks?limit=100000", "", 400, "limit must be a whole number from 0 to 1000"},
      {"GET", "/tasks?offset=-5", "", 400, "offset must be a whole number"},
      {"GET", "/tasks?state=%00%0A", "", 400, "state must be a task state"},
      {"GET", "/tasks?q=" + std::string(5000, 'x'), "", 400, "at most 1024 bytes"},
      {"PUT", "/roles/eng", "{", 400, "malformed JSON"},
      {"PUT", "/roles/eng", R"({"weight": -1})", 400, "weight must be a finite number"},
      {"PUT", "/roles/eng", R"({"quota": {"cpus": 1e308}})", 400, "quota 'cpus' must be"},
      {"PUT", "/roles/eng", R"({"shoe_size": 9})", 400, "unknown key 'shoe_size'"},
      {"PUT", "/roles/bad%20role", R"({"weight": 2})", 400, "role"},
      {"GET", "/no/such/thing", "", 404, ""},
  };
  for (const auto& c : cases) {
    CurlResult r = call(c.method, c.path, c.body);
    EXPECT_EQ(r.status, c.status) << c.method << " " << c.path.substr(0, 80) << ": " << r.body;
    EXPECT_NE(error_of(r).find(c.message), std::string::npos)
        << c.method << " " << c.path.substr(0, 80) << ": " << r.body;
  }
  // Event-stream clients that never read do not hold the API up.
  std::vector<std::unique_ptr<RawClient>> idle;
  for (int i = 0; i < 20; ++i) {
    idle.push_back(std::make_unique<RawClient>(port_, 30s, 1024));
    ASSERT_TRUE(idle.back()->send(tessera::testing::http::get_request("/events")));
  }
  EXPECT_EQ(call("GET", "/health").status, 200);
  json::value state = get("/state");
  ASSERT_TRUE(state.is_object());
  EXPECT_EQ(state.at("activated_slaves").to_number<int64_t>(), 1);
}

TEST_F(MasterHttpE2E, TheCliShowsStateLogsAndRolesFollowsOutputAndKillsATask) {
  auto framework = run_task("cli-task",
                            "echo line1; echo line2; echo oops >&2; "
                            "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done");
  ASSERT_TRUE(framework->wait_for_state("cli-task", state::kRunning)) << cluster_.master().output();
  std::string master = cluster_.endpoint();

  auto [state_code, summary] = tessera({"state", "--master", master});
  EXPECT_EQ(state_code, 0) << summary;
  EXPECT_NE(summary.find("agents      1 active, 0 unreachable"), std::string::npos) << summary;
  EXPECT_NE(summary.find("tasks       1 TASK_RUNNING"), std::string::npos) << summary;

  // Global options before the command, as well as after it.
  auto [json_code, state_text] = tessera({"--master", master, "state", "--json"});
  ASSERT_EQ(json_code, 0) << state_text;
  json::value state = json::parse(state_text);
  const auto& task = state.at("frameworks").as_array()[0].at("tasks").as_array()[0];
  std::string sandbox(task.at("sandbox").as_string());
  EXPECT_FALSE(sandbox.empty());
  auto [tasks_code, tasks_text] = tessera({"tasks", "--json", "--master", master});
  ASSERT_EQ(tasks_code, 0) << tasks_text;
  EXPECT_EQ(json::parse(tasks_text).at("tasks").as_array()[0].at("sandbox").as_string(), sandbox);

  ASSERT_TRUE(tessera::testing::eventually([&] {
    return tessera::testing::read_file(std::filesystem::path(sandbox) / "stdout").find("tick 1") !=
           std::string::npos;
  }));
  auto [logs_code, logs] = tessera({"logs", "cli-task", "--lines", "0", "--master", master});
  EXPECT_EQ(logs_code, 0) << logs;
  EXPECT_EQ(logs.rfind("line1\nline2\ntick 0\n", 0), 0u) << logs;
  auto [err_code, err] = tessera({"logs", "cli-task", "--stderr", "--master", master});
  EXPECT_EQ(err_code, 0) << err;
  EXPECT_EQ(err, "oops\n");
  auto [missing_code, missing] = tessera({"logs", "nope", "--master", master});
  EXPECT_EQ(missing_code, 1) << missing;
  EXPECT_NE(missing.find("tessera: stdout of task 'nope': no task 'nope' is known"),
            std::string::npos)
      << missing;

  // Following: what the task writes after the command started is printed as it comes.
  {
    tessera::testing::Process follow(
        {TESSERA_CLI_BIN, "logs", "cli-task", "-f", "--lines", "1", "--master", master},
        dir_ / "follow.log");
    size_t first = 0;
    ASSERT_TRUE(tessera::testing::eventually([&] {
      std::string out = follow.output();
      size_t at = out.find("tick ");
      if (at == std::string::npos) return false;
      first = std::stoul(out.substr(at + 5));
      return out.find("tick " + std::to_string(first + 3) + "\n") != std::string::npos;
    })) << follow.output();
  }

  // The HTTP API's address works as --master: /state names the bus endpoint.
  auto [http_code, via_http] = tessera({"tasks", "--master", "http://" + address_});
  EXPECT_EQ(http_code, 0) << via_http;
  EXPECT_NE(via_http.find("cli-task"), std::string::npos) << via_http;

  auto [roles_code, roles] = tessera({"roles", "--master", master});
  EXPECT_EQ(roles_code, 0) << roles;
  EXPECT_EQ(roles.rfind("ROLE  WEIGHT  PRIORITY  QUOTA  ALLOCATED", 0), 0u) << roles;
  EXPECT_NE(roles.find("cpus:0.1;mem:16"), std::string::npos) << roles;

  auto [kill_code, killed] = tessera({"kill", "cli-task", "--master", master});
  EXPECT_EQ(kill_code, 0) << killed;
  EXPECT_NE(killed.find("killing task 'cli-task'"), std::string::npos) << killed;
  ASSERT_TRUE(framework->wait_for_state("cli-task", state::kKilled)) << cluster_.master().output();
  auto [again_code, again] = tessera({"kill", "cli-task", "--master", master});
  EXPECT_EQ(again_code, 1) << again;
  EXPECT_NE(again.find("task 'cli-task'"), std::string::npos) << again;
  // Its output stays readable after it ended.
  auto [after_code, after] =
      tessera({"logs", "cli-task", "--lines", "1", "--stderr", "--master", master});
  EXPECT_EQ(after_code, 0) << after;
  EXPECT_EQ(after, "oops\n");
}

TEST_F(MasterHttpE2E, ExecShowsTheTaskOutputAndWhyNoOfferFits) {
  std::string master = cluster_.endpoint();
  auto [code, out] = tessera({"--master", master, "exec", "--mem", "16", "--",
                              "echo out-line; echo err-line >&2; exit 3"});
  EXPECT_EQ(code, 3) << out;
  EXPECT_NE(out.find("out-line\n"), std::string::npos) << out;
  EXPECT_NE(out.find("err-line\n"), std::string::npos) << out;
  EXPECT_NE(out.find("tessera: the task's sandbox is " + (dir_ / "agent0").string()),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("tessera: the end of its stderr:\nerr-line\n"), std::string::npos) << out;

  auto [wait_code, waited] =
      tessera({"exec", "--mem", "999999", "--timeout", "2", "--master", master, "--", "true"});
  EXPECT_EQ(wait_code, 124) << waited;
  EXPECT_NE(waited.find("waiting: the largest offer seen, "), std::string::npos) << waited;
  EXPECT_NE(waited.find("is short of mem (1024 offered, 999999 needed)"), std::string::npos)
      << waited;
  EXPECT_NE(waited.find("within 2 s; the largest offer seen"), std::string::npos) << waited;

  auto [gpu_code, gpus] = tessera(
      {"exec", "--resources", "gpus:1", "--timeout", "2", "--master", master, "--", "true"});
  EXPECT_EQ(gpu_code, 124) << gpus;
  EXPECT_NE(gpus.find("is short of gpus (0 offered, 1 needed)"), std::string::npos) << gpus;
}

// A standby master's API whose leader's API is not known (this fixture keeps no store, where the
// leader's API publishes its address): it says it does not lead, and names the leader's bus
// endpoint, where the CLI given the standby's HTTP address goes. With the address known it
// redirects instead (master_http_standby_test.cpp).
TEST_F(MasterHttpE2E, AStandbyWithoutTheLeadersApiAnswers503AndNamesTheLeader) {
  std::string text =
      "[node]\nname = \"standby\"\nroles = [\"master\"]\nleader = \"fixture_leader_elsewhere\"\n"
      "services = [\"master_http\"]\nwork_dir = \"" +
      (dir_ / "standby").string() + "\"\nplugin_dirs = [\"" TESSERA_PLUGIN_DIR "\", \"" +
      TESSERA_FIXTURE_PLUGIN_DIR + "\"]\nendpoints_file = \"" +
      (dir_ / "standby.endpoints").string() +
      "\"\n[master]\nallocator = \"allocator_drf\"\nendpoint = \"tcp://127.0.0.1:0\"\n"
      "[plugins.fixture_leader_elsewhere]\nleader = \"" +
      cluster_.endpoint() + "\"\n[plugins.master_http]\naddress = \"127.0.0.1:0\"\n";
  tessera::testing::Process standby({TESSERA_HOST_BIN, dir_.write("standby.toml", text).string()},
                                    dir_ / "standby.log");
  ASSERT_TRUE(standby.wait_for("standing by", 20s)) << standby.output();
  // The plugins start side by side: the API may announce its address after the master stands by.
  std::smatch m;
  std::string endpoints;
  ASSERT_TRUE(tessera::testing::eventually(
      [&] {
        endpoints = tessera::testing::read_file(dir_ / "standby.endpoints");
        return std::regex_search(endpoints, m, std::regex("master_http\\.http = \"([^\"]+)\""));
      },
      20s))
      << endpoints;
  std::string standby_http = "http://" + std::string(m[1]);

  CurlResult health = curl(dir_, {standby_http + "/health"});
  EXPECT_EQ(health.status, 200) << health.body;
  EXPECT_EQ(health.body, "standby; the leader is at " + cluster_.endpoint() + "\n");
  CurlResult state = curl(dir_, {standby_http + "/state"});
  EXPECT_EQ(state.status, 503);
  EXPECT_EQ(json::parse(state.body).at("leader").as_string(), cluster_.endpoint());
  CurlResult metrics = curl(dir_, {standby_http + "/metrics"});
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("tessera_master_elected 0\n"), std::string::npos) << metrics.body;

  auto [code, agents] = tessera({"agents", "--master", standby_http});
  EXPECT_EQ(code, 0) << agents;
  EXPECT_NE(agents.find("agent0"), std::string::npos) << agents;
  standby.stop(10s);
}

// /state and /tasks are written from the API's own copy of the tasks, kept from the master's
// events: after a random sequence of launches, ends, kills, an agent's loss and a framework's
// removal, they are what the master's own state gives (state_json and tasks_page of its
// operator.get_state), byte for byte.
// The test drives two frameworks and itself on one thread, one loop at a time: heartbeats are
// far apart, so that a framework waiting for its turn is not taken for disconnected (a
// disconnected framework misses the master's own updates, such as a TASK_ERROR, for good).
class MasterHttpRandomEventsE2E : public MasterHttpE2E {
 protected:
  MasterSettings master_settings() override {
    MasterSettings settings = http_master();
    settings.heartbeat_interval_ms = 5000;
    return settings;
  }
};

TEST_F(MasterHttpRandomEventsE2E, StateFromTheApisCopyIsTheMastersAfterRandomEvents) {
  namespace op = tessera::protocol::operator_api;
  using tessera::master_http::TaskQuery;
  ASSERT_TRUE(cluster_.start_agent(1));
  tessera::testing::Peers peers;
  struct Runner {
    std::unique_ptr<tessera::testing::TestFramework> framework;
    std::vector<tessera::protocol::TaskInfo> queue;
    std::vector<std::string> launched;
  };
  std::vector<Runner> runners(2);
  // Waits a moment, the frameworks' loops taking turns with the test's: a framework kept off its
  // loop misses its heartbeats, is disconnected, and its calls are not sent.
  auto pause = [&](std::chrono::milliseconds total) {
    peers.run_until([] { return false; }, total / 2);
    for (auto& runner : runners) {
      if (runner.framework) runner.framework->run_until([] { return false; }, total / 4);
    }
  };
  // Polls the master's own state until `done` holds for it.
  auto master_until = [&](const std::function<bool(const op::State&)>& done) {
    auto deadline = std::chrono::steady_clock::now() + 60s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (done(peers.state(cluster_.endpoint()))) return true;
      pause(100ms);
    }
    return false;
  };
  ASSERT_TRUE(master_until([](const op::State& s) { return s.agents.size() == 2; }));
  // The copy is read now, and from here on kept by the events alone.
  get("/state");

  unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 random(seed);

  // Two frameworks (created below), each launching the tasks queued for it on the offers it gets.
  for (size_t i = 0; i < runners.size(); ++i) {
    tessera::sdk::FrameworkInfo info;
    info.name = "random-" + std::to_string(i);
    info.failover_timeout_seconds = 3600;
    runners[i].framework =
        std::make_unique<tessera::testing::TestFramework>(cluster_.endpoint(), info);
    Runner* runner = &runners[i];
    auto* f = runner->framework.get();
    f->on_offer = [runner, f](const tessera::protocol::scheduler::Offer& offer) {
      std::vector<tessera::protocol::TaskInfo> tasks;
      while (!runner->queue.empty() && tasks.size() < 4) {
        tasks.push_back(runner->queue.back());
        tasks.back().agent_id = offer.agent_id;
        runner->launched.push_back(tasks.back().task_id);
        runner->queue.pop_back();
      }
      if (tasks.empty()) return (void)f->client().decline({offer.offer_id}, 1);
      f->client().accept({offer.offer_id}, tasks, 1);
    };
  }
  // Runs the frameworks until every queued task is launched and each has a state.
  // Runs the frameworks, taking turns (each answers its own offers, so neither holds the
  // cluster's offers while the other waits), until every queued task is launched and each has
  // a state.
  auto settle = [&]() {
    auto settled = [](const Runner& runner) {
      if (!runner.framework) return true;
      if (!runner.queue.empty()) return false;
      for (const auto& id : runner.launched) {
        if (runner.framework->state(id).empty()) return false;
      }
      return true;
    };
    auto deadline = std::chrono::steady_clock::now() + 60s;
    while (!std::all_of(runners.begin(), runners.end(), settled)) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << cluster_.master().output();
      for (auto& runner : runners) {
        if (runner.framework) runner.framework->run_until([] { return false; }, 20ms);
      }
    }
  };
  // The API's answers equal the master's own state, once events have come (a generous
  // deadline: the answers are compared again until then).
  auto compare = [&](const std::string& when) {
    std::string expected_state, served_state, expected_page, served_page;
    TaskQuery everything;
    everything.limit = TaskQuery::kMaxLimit;
    TaskQuery running;
    running.state = state::kRunning;
    running.offset = 1;
    running.limit = 2;
    auto deadline = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < deadline) {
      op::State master = peers.state(cluster_.endpoint());
      tessera::master_http::StateContext context;
      context.leader_http = "http://" + address_;
      expected_state = json::serialize(tessera::master_http::state_json(master, context));
      expected_page = json::serialize(tessera::master_http::tasks_page(master, everything)) +
                      json::serialize(tessera::master_http::tasks_page(master, running));
      served_state = call("GET", "/state").body;
      served_page = call("GET", "/tasks?limit=1000").body +
                    call("GET", "/tasks?state=TASK_RUNNING&offset=1&limit=2").body;
      if (served_state == expected_state && served_page == expected_page) return;
      pause(200ms);
    }
    EXPECT_EQ(served_state, expected_state) << when;
    EXPECT_EQ(served_page, expected_page) << when;
  };

  int next_task = 0;
  int steps = 10;
  int lose_agent_at = 3 + static_cast<int>(random() % 3);
  int remove_framework_at = 6 + static_cast<int>(random() % 3);
  for (int step = 0; step < steps; ++step) {
    std::string what;
    if (step == lose_agent_at) {
      what = "agent 1 lost";
      cluster_.drop_agent(1);
      ASSERT_TRUE(master_until([](const op::State& s) { return s.agents.size() == 1; }));
    } else if (step == remove_framework_at) {
      what = "framework 1 removed";
      ASSERT_TRUE(runners[1].framework->subscribed());
      ASSERT_TRUE(runners[1].framework->client().teardown());
      runners[1].framework.reset();
      ASSERT_TRUE(master_until([](const op::State& s) { return s.frameworks.size() == 1; }));
    } else {
      size_t which = runners[1].framework ? random() % 2 : 0;
      Runner& runner = runners[which];
      unsigned action = random() % 3;
      // Killed: a task the master still has running. (A framework kept off its loop here
      // misses heartbeats and is disconnected for a while; the master's own updates meanwhile,
      // such as TASK_LOST for the tasks of a removed agent, are not sent again: a framework
      // learns them by reconciling, which this one does not.)
      std::vector<std::string> live;
      for (const auto& task : peers.state(cluster_.endpoint()).tasks) {
        if (!state::terminal(task.state) &&
            std::find(runner.launched.begin(), runner.launched.end(), task.task_id) !=
                runner.launched.end()) {
          live.push_back(task.task_id);
        }
      }
      if (action == 2 && !live.empty()) {
        const std::string id = live[random() % live.size()];
        what = "kill of " + id;
        ASSERT_TRUE(runner.framework->subscribed());
        ASSERT_TRUE(runner.framework->client().kill(id, runner.framework->last(id).agent_id));
        ASSERT_TRUE(runner.framework->run_until(
            [&] { return state::terminal(runner.framework->state(id)); }, 60s))
            << what << ": its state is '" << runner.framework->state(id) << "' on agent '"
            << runner.framework->last(id).agent_id << "'\nmaster:\n"
            << cluster_.master().output() << "\nagent 0:\n"
            << cluster_.agent(0).output();
      } else {
        int count = 1 + static_cast<int>(random() % 4);
        what = std::to_string(count) + " launch(es) on framework " + std::to_string(which);
        for (int i = 0; i < count; ++i) {
          std::string id = "t" + std::to_string(next_task++);
          // Some end at once (finished or failed), the rest run until killed.
          const char* commands[] = {"exec sleep 600", "true", "exit 3"};
          runner.queue.push_back(tessera::testing::command_task(id, commands[random() % 3]));
        }
      }
    }
    settle();
    compare("after step " + std::to_string(step) + ": " + what);
    if (HasFailure()) return;
  }
  // Nothing was read again: the events alone kept the copy.
  EXPECT_NE(call("GET", "/metrics").body.find("tessera_master_http_state_copy_reads_total 0\n"),
            std::string::npos);
}

// A framework's own executor (tests/executors/test_executor, a real process started by the
// agent) is listed in /state under its framework, as Mesos lists executors: its id, name, agent,
// resources and the tasks it runs; its share is counted in the agent's used resources; what the
// API writes from its copy is what the master's own state gives.
TEST_F(MasterHttpE2E, StateListsExecutorsWithTheirAgentResourcesAndTasks) {
  namespace op = tessera::protocol::operator_api;
  get("/state");  // the copy is read now and kept by the events from here on
  auto executor_task = [](const std::string& id) {
    tessera::protocol::TaskInfo t;
    t.task_id = id;
    t.name = id;
    t.resources.scalars = {{"cpus", 0.1}, {"mem", 16}};
    t.data = "run";
    t.executor.executor_id = "e1";
    t.executor.name = "test executor";
    t.executor.command.value = TEST_EXECUTOR;
    t.executor.kill_grace_seconds = 1;
    t.executor.resources.scalars = {{"cpus", 0.25}, {"mem", 32}};
    return t;
  };
  tessera::sdk::FrameworkInfo info;
  info.name = "executors";
  info.failover_timeout_seconds = 3600;
  tessera::testing::TestFramework framework(cluster_.endpoint(), info);
  bool launched = false;
  framework.on_offer = [&](const tessera::protocol::scheduler::Offer& offer) {
    if (launched) return (void)framework.client().decline({offer.offer_id}, 60);
    launched = true;
    std::vector<tessera::protocol::TaskInfo> tasks{
        executor_task("x1"), executor_task("x2"), executor_task("x3"),
        tessera::testing::command_task("plain", "exec sleep 600")};
    for (auto& t : tasks) t.agent_id = offer.agent_id;
    framework.client().accept({offer.offer_id}, tasks, 60);
  };
  ASSERT_TRUE(framework.run_until(
      [&] {
        for (const char* id : {"x1", "x2", "x3", "plain"}) {
          if (framework.state(id) != state::kRunning) return false;
        }
        return true;
      },
      60s))
      << cluster_.agent(0).output();
  std::string agent_id = framework.last("x1").agent_id;

  // What /state shows of the framework's executors, once the API has the events.
  tessera::testing::Peers peers;
  auto executors_until = [&](const std::string& tasks) {
    json::value shown;
    auto deadline = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < deadline) {
      shown = get("/state");
      for (const auto& f : shown.at("frameworks").as_array()) {
        if (f.at("id").as_string() != framework.client().framework_id()) continue;
        const json::array& executors = f.at("executors").as_array();
        if (executors.size() == 1 && json::serialize(executors[0].at("tasks")) == tasks) {
          return executors[0].as_object();
        }
      }
      framework.run_until([] { return false; }, 100ms);
    }
    ADD_FAILURE() << "no executor running " << tasks << " in " << json::serialize(shown);
    return json::object();
  };
  json::object executor = executors_until(R"(["x1","x2","x3"])");
  EXPECT_EQ(executor["executor_id"].as_string(), "e1");
  EXPECT_EQ(executor["name"].as_string(), "test executor");
  EXPECT_EQ(executor["framework_id"].as_string(), framework.client().framework_id());
  EXPECT_EQ(executor["slave_id"].as_string(), agent_id);
  EXPECT_EQ(executor["resources"].at("cpus").to_number<double>(), 0.25);
  EXPECT_EQ(executor["resources"].at("mem").to_number<double>(), 32);
  // The agent's used resources hold the executor's share beside its four tasks'.
  json::value state = get("/state");
  for (const auto& agent : state.at("slaves").as_array()) {
    if (agent.at("id").as_string() != agent_id) continue;
    EXPECT_NEAR(agent.at("used_resources").at("cpus").to_number<double>(), 0.25 + 4 * 0.1, 1e-9);
  }

  // One of its tasks is killed: it leaves the executor's list, and the rest is the master's.
  framework.client().kill("x2", agent_id);
  ASSERT_TRUE(framework.run_until([&] { return state::terminal(framework.state("x2")); }, 60s));
  executor = executors_until(R"(["x1","x3"])");
  std::string expected, served;
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline) {
    tessera::master_http::StateContext context;
    context.leader_http = "http://" + address_;
    expected = json::serialize(
        tessera::master_http::state_json(peers.state(cluster_.endpoint()), context));
    served = call("GET", "/state").body;
    if (served == expected) break;
    framework.run_until([] { return false; }, 200ms);
  }
  EXPECT_EQ(served, expected);
}

// The same API on a master_http told to lose every 4th master event from its copy of the tasks:
// each loss is noticed (at the next event, or when the master's summary names an event the copy
// never got), the copy is read again, and /state and /tasks stay the master's.
class MasterHttpLostEventsE2E : public MasterHttpE2E {
 protected:
  MasterSettings master_settings() override {
    MasterSettings settings = http_master();
    settings.extra += "test_drop_event_every = 4\n";
    return settings;
  }
};

TEST_F(MasterHttpLostEventsE2E, ALostEventMakesTheApiReadTheStateAgain) {
  namespace op = tessera::protocol::operator_api;
  tessera::testing::Peers peers;
  get("/state");
  tessera::sdk::FrameworkInfo info;
  info.name = "lossy";
  info.failover_timeout_seconds = 3600;
  tessera::testing::TestFramework framework(cluster_.endpoint(), info);
  int launched = 0;
  framework.on_offer = [&](const tessera::protocol::scheduler::Offer& offer) {
    if (launched >= 6) return (void)framework.client().decline({offer.offer_id}, 60);
    std::vector<tessera::protocol::TaskInfo> tasks;
    for (int i = 0; i < 3 && launched < 6; ++i) {
      // Odd ones run on, even ones end at once.
      std::string id = "lossy-" + std::to_string(launched);
      tasks.push_back(tessera::testing::command_task(id, launched % 2 ? "exec sleep 600" : "true"));
      ++launched;
      tasks.back().agent_id = offer.agent_id;
    }
    framework.client().accept({offer.offer_id}, tasks, 60);
  };
  ASSERT_TRUE(framework.run_until(
      [&] {
        if (launched < 6) return false;
        for (int i = 0; i < 6; ++i) {
          std::string state = framework.state("lossy-" + std::to_string(i));
          if (state != state::kRunning && state != state::kFinished) return false;
        }
        return true;
      },
      60s))
      << cluster_.master().output();

  std::string expected, served;
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline) {
    op::State master = peers.state(cluster_.endpoint());
    tessera::master_http::StateContext context;
    context.leader_http = "http://" + address_;
    tessera::master_http::TaskQuery everything;
    expected = json::serialize(tessera::master_http::state_json(master, context)) +
               json::serialize(tessera::master_http::tasks_page(master, everything));
    served = call("GET", "/state").body + call("GET", "/tasks").body;
    if (served == expected) break;
    peers.run_until([] { return false; }, 200ms);
  }
  EXPECT_EQ(served, expected);
  // Six launches make at least 18 events (added, running, finished...): some were lost.
  std::smatch m;
  std::string metrics = call("GET", "/metrics").body;
  ASSERT_TRUE(std::regex_search(metrics, m,
                                std::regex("tessera_master_http_state_copy_reads_total (\\d+)")))
      << metrics;
  EXPECT_GE(std::stoi(m[1]), 1) << metrics;
}

}  // namespace

// The CLI's pure parts: fitting offers, tables, JSON shapes, exit statuses. (Resource texts are
// read by protocol::parse_resources, tested in tests/master.)
#include <gtest/gtest.h>

#include "exec.h"
#include "logs.h"
#include "options.h"
#include "state_view.h"

namespace {

using namespace tessera;
using namespace tessera::cli;
namespace json = boost::json;

TEST(Fit, ScalarsAndPorts) {
  TaskNeeds needs{0.5, 64, 0, 3, {}};
  protocol::Resources offered;
  offered.scalars = {{"cpus", 1}, {"mem", 64}};
  offered.ranges["ports"] = {{31000, 31001}, {31005, 31010}};
  auto take = fit(needs, offered);
  ASSERT_TRUE(take);
  EXPECT_EQ(take->scalar("cpus"), 0.5);
  EXPECT_EQ(take->scalar("mem"), 64);
  std::vector<protocol::Range> ports{{31000, 31001}, {31005, 31005}};
  EXPECT_EQ(take->ranges.at("ports"), ports);
  EXPECT_EQ(take->to_string(), "cpus:0.5;mem:64;ports:[31000-31001,31005-31005]");

  EXPECT_FALSE(fit(TaskNeeds{2, 64, 0, 0, {}}, offered)) << "too few cpus";
  EXPECT_FALSE(fit(TaskNeeds{0.5, 65, 0, 0, {}}, offered)) << "too little memory";
  EXPECT_FALSE(fit(TaskNeeds{0.5, 64, 0, 9, {}}, offered)) << "too few ports";
  offered.ranges.clear();
  EXPECT_FALSE(fit(TaskNeeds{0.5, 64, 0, 1, {}}, offered)) << "no ports at all";
  EXPECT_TRUE(fit(TaskNeeds{0.5, 64, 0, 0, {}}, offered));
  // Fixed-point comparison: 0.1 + 0.2 fits in 0.3.
  offered.scalars = {{"cpus", 0.3}};
  EXPECT_TRUE(fit(TaskNeeds{0.1 + 0.2, 0, 0, 0, {}}, offered));
}

TEST(Fit, DescribeIsTheTimeoutMessageText) {
  EXPECT_EQ((TaskNeeds{0.5, 64, 0, 0, {}}).describe(), "cpus:0.5;mem:64");
  EXPECT_EQ((TaskNeeds{1, 0, 100, 2, {}}).describe(), "cpus:1;disk:100;ports:2");
}

TEST(ParseEnv, NameEqualsValue) {
  auto kv = parse_env("A=b=c");
  ASSERT_TRUE(kv.ok());
  EXPECT_EQ(kv->first, "A");
  EXPECT_EQ(kv->second, "b=c");
  EXPECT_TRUE(parse_env("EMPTY=").ok());
  EXPECT_EQ(parse_env("nope").error().message,
            "bad environment variable 'nope': expected NAME=VALUE");
  EXPECT_FALSE(parse_env("=x").ok());
}

TEST(CommandInfo, OneWordIsShellFormSeveralAreExecForm) {
  auto shell = command_info({"echo hi | wc -c"}, {{"A", "1"}});
  EXPECT_TRUE(shell.shell);
  EXPECT_EQ(shell.value, "echo hi | wc -c");
  EXPECT_TRUE(shell.arguments.empty());
  EXPECT_EQ(shell.environment.at("A"), "1");
  auto exec = command_info({"/bin/echo", "a b", "c"}, {});
  EXPECT_FALSE(exec.shell);
  EXPECT_EQ(exec.value, "/bin/echo");
  EXPECT_EQ(exec.arguments, (std::vector<std::string>{"a b", "c"}));
}

TEST(ExitStatus, FollowsTheTaskState) {
  namespace st = protocol::state;
  auto with = [](const char* state, int32_t code) {
    protocol::TaskStatus s;
    s.state = state;
    s.exit_code = code;
    return exit_status_for(s);
  };
  EXPECT_EQ(with(st::kFinished, 0), 0);
  EXPECT_EQ(with(st::kFinished, -1), 0);
  EXPECT_EQ(with(st::kFailed, 3), 3);
  EXPECT_EQ(with(st::kFailed, 255), 255);
  EXPECT_EQ(with(st::kFailed, -1), 1) << "killed by a signal or unknown";
  EXPECT_EQ(with(st::kFailed, 0), 1) << "failed is never success";
  EXPECT_EQ(with(st::kKilled, -1), 137);
  EXPECT_EQ(with(st::kError, -1), 1);
  EXPECT_EQ(with(st::kLost, -1), 1);
  EXPECT_EQ(with(st::kDropped, -1), 1);
  EXPECT_EQ(with(st::kGone, -1), 1);
}

TEST(StatusLine, StateTaskAgentAndDetails) {
  protocol::TaskStatus s;
  s.state = protocol::state::kRunning;
  s.task_id = "t.1";
  s.agent_id = "a1";
  EXPECT_EQ(status_line(s), "TASK_RUNNING task 't.1' on agent 'a1'");
  s.state = protocol::state::kFailed;
  s.exit_code = 3;
  s.reason = protocol::reason::kCommandExited;
  s.message = "exited with status 3";
  EXPECT_EQ(status_line(s),
            "TASK_FAILED task 't.1' on agent 'a1', exit code 3, REASON_COMMAND_EXECUTOR_FAILED: "
            "exited with status 3");
}

TEST(Table, AlignsColumnsWithoutTrailingBlanks) {
  Table t({"ID", "NAME", "X"});
  t.add({"a-long-id", "n", ""});
  t.add({"b", "name2", "1"});
  EXPECT_EQ(t.render(),
            "ID         NAME   X\n"
            "a-long-id  n\n"
            "b          name2  1\n");
}

protocol::operator_api::State sample_state() {
  namespace op = protocol::operator_api;
  op::State state;
  state.master_id = "m1";
  op::AgentState a;
  a.agent_id = "agent-1";
  a.hostname = "node1";
  a.total.scalars = {{"cpus", 4}, {"mem", 2048}, {"disk", 10000}};
  a.total.ranges["ports"] = {{31000, 32000}};
  a.used.scalars = {{"cpus", 0.5}, {"mem", 64}};
  a.attributes = {{"rack", "r1"}};
  a.registered_at = 1700000000.5;
  state.agents.push_back(a);
  a.agent_id = "agent-22";
  a.hostname = "n2";
  a.active = false;
  a.used = {};
  a.attributes.clear();
  state.agents.push_back(a);
  op::FrameworkState f;
  f.framework_id = "fw-1";
  f.name = "marathon";
  f.roles = {"web", "batch"};
  f.used.scalars = {{"cpus", 0.5}, {"mem", 64}};
  f.active_tasks = 1;
  f.failover_timeout_seconds = 600;
  state.frameworks.push_back(f);
  op::TaskState t;
  t.task_id = "web.1";
  t.name = "web";
  t.framework_id = "fw-1";
  t.agent_id = "agent-1";
  t.state = protocol::state::kRunning;
  t.resources.scalars = {{"cpus", 0.5}, {"mem", 64}};
  t.last_status.state = protocol::state::kRunning;
  t.last_status.timestamp = 1700000001;
  state.tasks.push_back(t);
  op::TaskState measured = t;
  measured.task_id = "web.2";
  measured.usage = {12.345, 3 * 1024 * 1024, -1, 1700000002};
  state.tasks.push_back(measured);
  return state;
}

TEST(StateTables, AgentsFrameworksTasks) {
  auto state = sample_state();
  EXPECT_EQ(agents_table(state),
            "ID        HOSTNAME  ACTIVE  CPUS   MEM      DISK\n"
            "agent-1   node1     true    0.5/4  64/2048  0/10000\n"
            "agent-22  n2        false   0/4    0/2048   0/10000\n");
  EXPECT_EQ(frameworks_table(state),
            "ID    NAME      ROLES      CONNECTED  TASKS  CPUS  MEM\n"
            "fw-1  marathon  web,batch  true       1      0.5   64\n");
  EXPECT_EQ(
      tasks_table(state),
      "ID     NAME  STATE         FRAMEWORK  AGENT    CPUS  MEM  CPU-SECS  MEM-USED  MEM-PEAK\n"
      "web.1  web   TASK_RUNNING  fw-1       agent-1  0.5   64   -         -         -\n"
      "web.2  web   TASK_RUNNING  fw-1       agent-1  0.5   64   12.35     3.0       -\n");
  EXPECT_EQ(tasks_table(protocol::operator_api::State{}),
            "ID  NAME  STATE  FRAMEWORK  AGENT  CPUS  MEM  CPU-SECS  MEM-USED  MEM-PEAK\n");
}

TEST(StateJson, MesosFieldNames) {
  auto state = sample_state();
  json::value agents = json::parse(pretty(agents_json(state)));
  const auto& a = agents.at("agents").at(0).as_object();
  EXPECT_EQ(a.at("id").as_string(), "agent-1");
  EXPECT_EQ(a.at("hostname").as_string(), "node1");
  EXPECT_EQ(a.at("active").as_bool(), true);
  EXPECT_EQ(a.at("resources").at("cpus").to_number<double>(), 4.0);
  EXPECT_EQ(a.at("resources").at("ports").as_string(), "[31000-32000]");
  EXPECT_EQ(a.at("resources").at("gpus").to_number<double>(), 0.0);
  EXPECT_EQ(a.at("used_resources").at("mem").to_number<double>(), 64.0);
  EXPECT_EQ(a.at("unreserved_resources").at("cpus").to_number<double>(), 3.5);
  EXPECT_EQ(a.at("attributes").at("rack").as_string(), "r1");
  EXPECT_EQ(a.at("registered_time").to_number<double>(), 1700000000.5);
  EXPECT_EQ(agents.at("agents").at(1).at("active").as_bool(), false);

  json::value frameworks = json::parse(pretty(frameworks_json(state)));
  const auto& f = frameworks.at("frameworks").at(0).as_object();
  EXPECT_EQ(f.at("id").as_string(), "fw-1");
  EXPECT_EQ(f.at("name").as_string(), "marathon");
  EXPECT_EQ(f.at("roles").as_array().size(), 2u);
  EXPECT_EQ(f.at("active").as_bool(), true);
  EXPECT_EQ(f.at("failover_timeout").to_number<double>(), 600.0);
  EXPECT_EQ(f.at("used_resources").at("cpus").to_number<double>(), 0.5);
  EXPECT_EQ(f.at("active_tasks").to_number<int>(), 1);

  json::value tasks = json::parse(pretty(tasks_json(state)));
  const auto& t = tasks.at("tasks").at(0).as_object();
  EXPECT_EQ(t.at("id").as_string(), "web.1");
  EXPECT_EQ(t.at("framework_id").as_string(), "fw-1");
  EXPECT_EQ(t.at("agent_id").as_string(), "agent-1");
  EXPECT_EQ(t.at("slave_id").as_string(), "agent-1");
  EXPECT_EQ(t.at("state").as_string(), "TASK_RUNNING");
  EXPECT_EQ(t.at("resources").at("mem").to_number<double>(), 64.0);
  EXPECT_EQ(t.at("statuses").at(0).at("state").as_string(), "TASK_RUNNING");
  EXPECT_FALSE(t.contains("usage"));  // nothing reported yet
  // What was measured is shown; what was not (the peak here) is left out.
  const auto& u = tasks.at("tasks").at(1).at("usage").as_object();
  EXPECT_EQ(u.at("cpu_seconds").to_number<double>(), 12.345);
  EXPECT_EQ(u.at("mem_bytes").to_number<int64_t>(), 3 * 1024 * 1024);
  EXPECT_EQ(u.at("timestamp").to_number<int64_t>(), 1700000002);
  EXPECT_FALSE(u.contains("mem_peak_bytes"));
}

TEST(StateJson, PrettyPrintsNestedValues) {
  json::value v = json::parse(R"({"a":[1,{"b":"c"}],"e":{},"f":[]})");
  EXPECT_EQ(pretty(v),
            "{\n  \"a\": [\n    1,\n    {\n      \"b\": \"c\"\n    }\n  ],\n  \"e\": {},\n"
            "  \"f\": []\n}\n");
}

// Fractions as people write them (docs/cli.md shows "cpus": 0.5), not Boost.JSON's "5E-1".
TEST(StateJson, FractionsPrintInTheirShortestPlainForm) {
  json::value v = json::parse(R"([0.5, 1.5, 1700000000.5, 0.1, -2.25])");
  EXPECT_EQ(pretty(v), "[\n  0.5,\n  1.5,\n  1700000000.5,\n  0.1,\n  -2.25\n]\n");
}

// Tables and messages show quantities whole (six digits showed a 2 TiB disk, 2097152 MiB, as
// 2.09715e+06) and without binary noise (a framework holding 0.1 + 0.2 cpus holds 0.3).
TEST(Number, QuantitiesPrintWholeAndRoundedToTheUnit) {
  EXPECT_EQ(tessera::cli::number(2097152), "2097152");
  EXPECT_EQ(tessera::cli::number(0.1 + 0.2), "0.3");
  EXPECT_EQ(tessera::cli::number(0.5), "0.5");
  EXPECT_EQ(tessera::cli::number(1e10), "1e+10");
  tessera::protocol::Resources used;
  used.scalars = {{"cpus", 0.1}, {"disk", 2097152}};
  used += tessera::protocol::Resources{{{"cpus", 0.2}}, {}};
  EXPECT_EQ(used.to_string(), "cpus:0.3;disk:2097152");
  tessera::cli::TaskNeeds needs;
  needs.mem = 1234567;
  EXPECT_EQ(needs.describe(), "mem:1234567");
}

TEST(Shortfall, NamesEachShortResourceWithWhatWasOfferedAndNeeded) {
  tessera::cli::TaskNeeds needs;
  needs.cpus = 1;
  needs.mem = 512;
  needs.ports = 2;
  needs.other.scalars["gpus"] = 1;
  tessera::protocol::Resources offered;
  offered.scalars = {{"cpus", 4}, {"mem", 256}};
  offered.ranges["ports"] = {{31000, 31000}};
  auto missing = tessera::cli::shortfall(needs, offered);
  EXPECT_EQ(missing,
            (std::vector<std::string>{"gpus (0 offered, 1 needed)", "mem (256 offered, 512 needed)",
                                      "ports (1 offered, 2 needed)"}));
  offered.scalars["mem"] = 512;
  offered.scalars["gpus"] = 1;
  offered.ranges["ports"] = {{31000, 31001}};
  EXPECT_TRUE(tessera::cli::shortfall(needs, offered).empty());
  EXPECT_TRUE(tessera::cli::fit(needs, offered).has_value());
}

TEST(QuotaShortfall, NamesWhatTheQuotaLeavesTooLittleOfCountingWhatTheRoleHolds) {
  tessera::cli::TaskNeeds needs;
  needs.cpus = 1;
  needs.mem = 64;
  tessera::protocol::operator_api::RoleState role;
  role.name = "batch";
  EXPECT_TRUE(tessera::cli::quota_shortfall(needs, role).empty()) << "no quota, no limit";
  role.has_quota = true;
  role.quota.scalars = {{"cpus", 2}};  // mem is not limited
  role.allocated.scalars = {{"cpus", 1.5}, {"mem", 4096}};
  EXPECT_EQ(tessera::cli::quota_shortfall(needs, role),
            std::vector<std::string>{"cpus (quota 2, 1.5 in use, 1 needed)"});
  role.allocated.scalars["cpus"] = 1;  // exactly what is left fits
  EXPECT_TRUE(tessera::cli::quota_shortfall(needs, role).empty());
}

TEST(LastLines, KeepsTheLastLinesWithoutCountingAFinalNewline) {
  using tessera::cli::last_lines;
  EXPECT_EQ(last_lines("a\nb\nc\n", 2), "b\nc\n");
  EXPECT_EQ(last_lines("a\nb\nc", 2), "b\nc");
  EXPECT_EQ(last_lines("a\nb\n", 5), "a\nb\n");
  EXPECT_EQ(last_lines("a\nb\n", 0), "a\nb\n");
  EXPECT_EQ(last_lines("", 3), "");
}

}  // namespace

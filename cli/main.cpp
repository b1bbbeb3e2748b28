// tessera: the command line of a Tessera cluster. `tessera exec` runs a command as a task (like
// mesos-execute); `tessera agents|frameworks|tasks` show the master's state; `tessera roles
// update` changes a role's weight, quota or priority. docs/cli.md documents every command.
//
// Exit status: see docs/cli.md (0 success, 2 usage or master unreachable; `exec` passes the
// task's own status through).
#include <signal.h>
#include <CLI/CLI.hpp>

#include <cmath>
#include <cstdlib>
#include <iostream>

#include "exec.h"
#include "http_master.h"
#include "logs.h"
#include "options.h"
#include "session.h"
#include "state_json.h"
#include "state_view.h"
#include "tessera/abi.h"
#include "tessera/abi_fingerprint.h"
#include "tessera/protocol/operator.h"

namespace {

using namespace tessera;
namespace op = tessera::protocol::operator_api;

// Accepts a number >= 0 (or > 0); CLI11's own checks print the whole double range on failure.
CLI::Validator number_at_least_zero(bool allow_zero) {
  return CLI::Validator(
      [allow_zero](std::string& text) -> std::string {
        try {
          size_t used = 0;
          double v = std::stod(text, &used);
          if (used == text.size() && std::isfinite(v) && (v > 0 || (allow_zero && v == 0))) {
            return "";
          }
        } catch (const std::exception&) {
        }
        return "'" + text + "' is not a number " + (allow_zero ? ">= 0" : "> 0");
      },
      allow_zero ? "NUMBER>=0" : "NUMBER>0");
}
const CLI::Validator kNonNegative = number_at_least_zero(true);
const CLI::Validator kPositive = number_at_least_zero(false);

int fail(const std::string& message, int code) {
  std::cerr << "tessera: " << message << std::endl;
  return code;
}

std::chrono::milliseconds to_ms(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

// Options every command that talks to the master has.
struct MasterOptions {
  std::string master;
  double connect_timeout = 5;
  bool verbose = false;

  void add_to(CLI::App* command) {
    command->add_option("--master", master,
                        "the master: " + std::string(sdk::kMasterAddressForms) +
                            " (default: $TESSERA_MASTER, else " + cli::kDefaultMaster + ")");
    command
        ->add_option("--connect-timeout", connect_timeout,
                     "seconds to wait for the master to answer")
        ->check(kPositive)
        ->capture_default_str();
    command->add_flag("-v,--verbose", verbose, "log what the client does to stderr");
  }
  // The masters to ask; http://HOST:PORT (the master's HTTP API) is asked for the leader's bus
  // endpoint.
  Result<std::string> address() const {
    const char* env = std::getenv("TESSERA_MASTER");
    std::string given = !master.empty() ? master : (env != nullptr ? env : "");
    if (cli::is_http_master(given)) {
      auto leader = cli::master_from_http(given, to_ms(connect_timeout));
      if (!leader) {
        return make_error(leader.error().code,
                          std::string(master.empty() ? "TESSERA_MASTER" : "--master") + ": " +
                              leader.error().message);
      }
      return cli::resolve_master(*leader, nullptr);
    }
    return cli::resolve_master(master, env);
  }
  int log_level() const { return verbose ? TESSERA_LOG_DEBUG : TESSERA_LOG_WARN; }
};

// Asks the master for its state; prints one view of it.
int show_state(const MasterOptions& m, bool as_json, const std::string& what) {
  auto masters = m.address();
  if (!masters) return fail(masters.error().message, cli::kExitMaster);
  cli::Session session(m.log_level());
  auto reply = cli::ask_master(session, *masters, op::GetState{}, to_ms(m.connect_timeout));
  if (!reply) return fail(reply.error().message, cli::kExitMaster);
  if (reply->is<op::Result>()) {
    auto result = reply->body<op::Result>();
    return fail("master: " + (result ? result->error : result.error().message), 1);
  }
  auto state = reply->body<op::State>();
  if (!reply->is<op::State>() || !state) {
    return fail("master answered '" + reply->type() + "' to operator.get_state", 1);
  }
  if (what == "state") {
    std::cout << (as_json ? cli::pretty(master_http::state_json(*state, {}))
                          : cli::state_summary(*state));
  } else if (what == "roles") {
    boost::json::array roles;
    for (const auto& role : state->roles) roles.push_back(master_http::role_json(role));
    std::cout << (as_json ? cli::pretty(boost::json::object{{"roles", std::move(roles)}})
                          : cli::roles_table(*state));
  } else if (what == "agents") {
    std::cout << (as_json ? cli::pretty(cli::agents_json(*state)) : cli::agents_table(*state));
  } else if (what == "frameworks") {
    std::cout << (as_json ? cli::pretty(cli::frameworks_json(*state))
                          : cli::frameworks_table(*state));
  } else {
    std::cout << (as_json ? cli::pretty(cli::tasks_json(*state)) : cli::tasks_table(*state));
  }
  return 0;
}

int kill_task(const MasterOptions& m, const op::KillTask& call) {
  auto masters = m.address();
  if (!masters) return fail(masters.error().message, cli::kExitMaster);
  cli::Session session(m.log_level());
  auto reply = cli::ask_master(session, *masters, call, to_ms(m.connect_timeout));
  if (!reply) return fail(reply.error().message, cli::kExitMaster);
  auto result = reply->body<op::Result>();
  if (!reply->is<op::Result>() || !result) {
    return fail("master answered '" + reply->type() + "' to operator.kill_task", 1);
  }
  if (!result->ok) return fail(result->error, 1);
  std::cout << "killing task '" << call.task_id << "'" << std::endl;
  return 0;
}

int update_role(const MasterOptions& m, const op::UpdateRole& call) {
  auto masters = m.address();
  if (!masters) return fail(masters.error().message, cli::kExitMaster);
  cli::Session session(m.log_level());
  auto reply = cli::ask_master(session, *masters, call, to_ms(m.connect_timeout));
  if (!reply) return fail(reply.error().message, cli::kExitMaster);
  auto result = reply->body<op::Result>();
  if (!reply->is<op::Result>() || !result) {
    return fail("master answered '" + reply->type() + "' to operator.update_role", 1);
  }
  if (!result->ok) return fail("role '" + call.role + "': " + result->error, 1);
  std::cout << "role '" << call.role << "' updated" << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  CLI::App app{"tessera: runs commands on a Tessera cluster and shows its state"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("tessera ") + TESSERA_SDK_VERSION);
  // Usage errors look like every other error of the CLI (docs/cli.md).
  app.failure_message([](const CLI::App* failed, const CLI::Error& e) {
    std::string text = std::string("tessera: ") + e.what() + "\n";
    if (failed != nullptr) text += "Run with --help for more information.\n";
    return text;
  });

  // Options every command that talks to the master takes, before or after the command's name
  // (fallthrough: a subcommand hands options it does not know to the app).
  MasterOptions master;
  master.add_to(&app);
  app.fallthrough();

  // exec
  cli::ExecOptions exec;
  std::vector<std::string> env_items;
  CLI::App* exec_cmd = app.add_subcommand(
      "exec", "run a command as a task and exit with its status (like mesos-execute)");
  exec.needs.cpus = 0.1;
  exec.needs.mem = 32;
  exec_cmd->add_option("--cpus", exec.needs.cpus, "CPUs for the task")
      ->check(kNonNegative)
      ->capture_default_str();
  exec_cmd->add_option("--mem", exec.needs.mem, "memory for the task, in MB")
      ->check(kNonNegative)
      ->capture_default_str();
  exec_cmd->add_option("--disk", exec.needs.disk, "disk for the task, in MB")->check(kNonNegative);
  exec_cmd->add_option("--ports", exec.needs.ports, "how many ports the task needs");
  std::string resources_text;
  exec_cmd->add_option("--resources", resources_text,
                       "any resources, \"gpus:1;cpus:2\" (cpus, mem and disk here win over "
                       "their own options)");
  exec_cmd->add_option("--name", exec.name, "the task's name (its id is NAME.RANDOM)")
      ->capture_default_str();
  exec_cmd->add_option("--role", exec.role, "the role to take resources from")
      ->capture_default_str();
  exec_cmd->add_option("--user", exec.user, "the user to run the task as (default: the agent's)");
  exec_cmd->add_option("--env", env_items, "an environment variable NAME=VALUE (repeatable)")
      ->allow_extra_args(false);
  exec_cmd
      ->add_option("--timeout", exec.offer_timeout_seconds,
                   "seconds to wait for a fitting offer (0: forever)")
      ->check(kNonNegative)
      ->capture_default_str();
  exec_cmd
      ->add_option("command", exec.command,
                   "the command: one word runs with /bin/sh -c, several run without a shell")
      ->required();
  exec_cmd->positionals_at_end();

  // agents, frameworks, tasks
  bool as_json = false;
  std::string state_what;
  for (const char* what : {"agents", "frameworks", "tasks"}) {
    std::string help = std::string("list the cluster's ") + what;
    CLI::App* cmd = app.add_subcommand(what, help);
    cmd->add_flag("--json", as_json, "print JSON (Mesos field names) instead of a table");
    cmd->callback([&state_what, what] { state_what = what; });
  }

  // roles update
  op::UpdateRole role_call;
  std::string quota_text;
  bool has_priority = false;
  bool roles_json = false;
  CLI::App* roles_cmd =
      app.add_subcommand("roles", "list roles (weights, quotas, shares), or change one");
  roles_cmd->require_subcommand(0, 1);
  roles_cmd->add_flag("--json", roles_json, "print JSON instead of a table");
  CLI::App* update_cmd =
      roles_cmd->add_subcommand("update", "set a role's weight, quota or priority");
  update_cmd->add_option("role", role_call.role, "the role")->required();
  update_cmd->add_option("--weight", role_call.weight, "the role's weight (DRF share divisor)")
      ->check(kPositive);
  CLI::Option* quota_opt = update_cmd->add_option(
      "--quota", quota_text,
      "the most the role may be offered in total, \"cpus:4;mem:1024\" (\"\" removes the limit)");
  CLI::Option* priority_opt = update_cmd->add_option("--priority", role_call.priority,
                                                     "the role's priority (higher first)");

  // state
  bool state_json_flag = false;
  CLI::App* state_cmd = app.add_subcommand(
      "state", "summarise the cluster: agents, frameworks, tasks by state, resources");
  state_cmd->add_flag("--json", state_json_flag, "print the master's state as /state does");

  // logs
  cli::LogsOptions logs;
  CLI::App* logs_cmd =
      app.add_subcommand("logs", "print a task's stdout (or stderr) from its sandbox");
  logs_cmd->add_option("task", logs.task_id, "the task's id")->required();
  logs_cmd->add_option("--framework", logs.framework_id, "the task's framework (when ids clash)");
  logs_cmd->add_flag("--stderr", logs.stderr_file, "print stderr instead of stdout");
  logs_cmd->add_flag("-f,--follow", logs.follow, "keep printing what the task writes");
  logs_cmd->add_option("--lines", logs.lines, "how many of the last lines to print first (0: all)")
      ->capture_default_str();

  // kill
  op::KillTask kill_call;
  CLI::App* kill_cmd = app.add_subcommand("kill", "kill a running task");
  kill_cmd->add_option("task", kill_call.task_id, "the task's id")->required();
  kill_cmd->add_option("--framework", kill_call.framework_id,
                       "the task's framework (when ids clash)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Help and version exit 0; every usage error exits 2, as documented.
    int code = app.exit(e);
    return code == 0 ? 0 : cli::kExitMaster;
  }

  if (exec_cmd->parsed()) {
    for (const auto& item : env_items) {
      auto kv = cli::parse_env(item);
      if (!kv) return fail(kv.error().message, cli::kExitMaster);
      exec.environment[kv->first] = kv->second;
    }
    if (!resources_text.empty()) {
      auto asked = protocol::parse_resources(resources_text);
      if (!asked) return fail("--resources: " + asked.error().message, cli::kExitMaster);
      for (auto [name, amount] : asked->scalars) {
        double* known = name == "cpus"   ? &exec.needs.cpus
                        : name == "mem"  ? &exec.needs.mem
                        : name == "disk" ? &exec.needs.disk
                                         : nullptr;
        if (known != nullptr) {
          *known = amount;
        } else {
          exec.needs.other.scalars[name] = amount;
        }
      }
      exec.needs.other.ranges = asked->ranges;
    }
    if (exec.needs.scalars().empty() && exec.needs.ports == 0) {
      return fail("the task asks for no resources: give --cpus, --mem, --disk or --ports",
                  cli::kExitMaster);
    }
    // The check the master makes, made here first so that a usage error says so at once.
    if (Status s = protocol::check_resources(exec.needs.scalars()); !s) {
      return fail(s.error().message, cli::kExitMaster);
    }
    auto masters = master.address();
    if (!masters) return fail(masters.error().message, cli::kExitMaster);
    exec.master = *masters;
    exec.connect_timeout_seconds = master.connect_timeout;
    return cli::run_exec(exec, master.log_level(), std::cout, std::cerr);
  }
  if (!state_what.empty()) return show_state(master, as_json, state_what);
  if (state_cmd->parsed()) return show_state(master, state_json_flag, "state");
  if (logs_cmd->parsed()) {
    auto masters = master.address();
    if (!masters) return fail(masters.error().message, cli::kExitMaster);
    return cli::run_logs(*masters, logs, to_ms(master.connect_timeout), master.log_level(),
                         std::cout, std::cerr);
  }
  if (kill_cmd->parsed()) return kill_task(master, kill_call);
  if (roles_cmd->parsed() && !update_cmd->parsed()) {
    return show_state(master, roles_json, "roles");
  }
  if (update_cmd->parsed()) {
    if (*quota_opt) {
      auto quota = protocol::parse_resources(quota_text);
      if (!quota) return fail("--quota: " + quota.error().message, cli::kExitMaster);
      role_call.set_quota = true;
      role_call.quota = *quota;
    }
    has_priority = static_cast<bool>(*priority_opt);
    role_call.set_priority = has_priority;
    if (role_call.weight < 0 && !role_call.set_quota && !role_call.set_priority) {
      return fail("roles update: nothing to change: give --weight, --quota or --priority",
                  cli::kExitMaster);
    }
    return update_role(master, role_call);
  }
  return fail("no command", cli::kExitMaster);
}

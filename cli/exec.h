// `tessera exec`: run one command as a task on the cluster, like mesos-execute.
#pragma once

#include <iosfwd>
#include <map>
#include <string>
#include <vector>

#include "options.h"
#include "tessera/protocol/task.h"

namespace tessera::cli {

// Exit statuses of `tessera exec` besides the task's own (docs/cli.md lists them all).
inline constexpr int kExitTaskProblem = 1;  // FAILED without a code, ERROR, LOST, DROPPED...
inline constexpr int kExitMaster = 2;       // usage, master unreachable, subscription refused
inline constexpr int kExitKilled = 137;     // TASK_KILLED (128 + SIGKILL), not by Ctrl-C
inline constexpr int kExitNoOffer = 124;    // no fitting offer within --timeout (as timeout(1))

struct ExecOptions {
  std::string master;  // resolved: tcp://HOST:PORT, or several comma-separated
  TaskNeeds needs;
  std::string name = "tessera-exec";  // the task's name and the prefix of its id
  std::string role = "*";
  std::string user;
  std::map<std::string, std::string> environment;
  double offer_timeout_seconds = 60;  // 0: wait for an offer forever
  double connect_timeout_seconds = 5;
  std::vector<std::string> command;  // one item: shell form; more: exec form; none: the image's
  std::string docker_image;          // non-empty: the task runs in a Docker container of it
  std::string network = "none";      // the container's network: "none" or "host"
};

// The task's container: DOCKER with the image and network when an image is given, else the
// agent's default (posix) runtime.
protocol::ContainerInfo container_info(const ExecOptions& options);

// The command of the task: one item runs with /bin/sh -c (shell form); several run the first
// as the program with the rest as its arguments (exec form, no shell).
protocol::CommandInfo command_info(const std::vector<std::string>& command,
                                   const std::map<std::string, std::string>& environment);

// The exit status for a task's terminal status (see docs/cli.md).
int exit_status_for(const protocol::TaskStatus& status);

// One line for a state change: "TASK_FAILED task 'ID' on agent 'A', exit code 3: MESSAGE".
std::string status_line(const protocol::TaskStatus& status);

// Runs the whole command; returns the exit status. Progress and task states go to `out`,
// errors to `err`. SIGINT and SIGTERM are handled while it runs (they kill the task).
int run_exec(const ExecOptions& options, int log_level, std::ostream& out, std::ostream& err);

}  // namespace tessera::cli

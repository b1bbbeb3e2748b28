// COMMAND health checks, run beside the task on its agent as Mesos's command executor runs them.
//
// An app with a COMMAND check has each task launched inside tessera-marathon-executor (one
// executor per task, its id the task's id). The scheduler puts the checks in the task's `data`
// (encode_command_checks); the executor runs the task's command, runs each check's command with
// /bin/sh -c in the task's sandbox and environment every intervalSeconds (killed after
// timeoutSeconds), and sends each result to the scheduler as a framework message
// (encode_check_result). Grace periods and consecutive failures are judged by the scheduler, as
// for its own HTTP and TCP checks. Both directions are decoded with every field bounded: the
// executor trusts nothing it did not get from its agent, the scheduler nothing from an agent.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "app.h"
#include "scheduler.h"
#include "tessera/result.h"

namespace tessera::marathon {

// The longest check command accepted (Marathon sets no limit; a command is a short script).
inline constexpr size_t kMaxCheckCommandBytes = 8192;
// The most COMMAND checks one app may have.
inline constexpr size_t kMaxCommandChecks = 16;
// The longest cause a result carries (the check's output tail is cut to it).
inline constexpr size_t kMaxCheckCauseBytes = 1024;

struct CommandCheck {
  size_t index = 0;  // the check's position in the app's healthChecks
  std::string command;
  int64_t interval_seconds = 60;
  int64_t timeout_seconds = 20;
};

struct CheckResult {
  std::string task_id;
  size_t index = 0;
  bool alive = false;
  std::string cause;
};

// The COMMAND checks of `checks` (with their positions), empty when there are none.
std::vector<CommandCheck> command_checks(const std::vector<HealthCheck>& checks);

std::string encode_command_checks(const std::vector<CommandCheck>& checks);
Result<std::vector<CommandCheck>> decode_command_checks(const std::string& data);

std::string encode_check_result(const CheckResult& result);
Result<CheckResult> decode_check_result(const std::string& data);

// Why a result from executor `executor_id` on agent `agent_id` is not taken; nullopt when it is
// (it comes from that task's own executor on the task's agent, for one of its app's COMMAND
// checks). `quiet`: the task is no longer known (killed and replaced meanwhile), nobody's fault.
struct CheckResultRefusal {
  std::string reason;
  bool quiet = false;
};
std::optional<CheckResultRefusal> refuse_check_result(const Scheduler& scheduler,
                                                      const CheckResult& result,
                                                      const std::string& executor_id,
                                                      const std::string& agent_id);

}  // namespace tessera::marathon

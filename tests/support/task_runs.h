// Test support for end-to-end tests that run tasks on a real cluster (support/cluster.h) from a
// framework in the test process (support/framework.h) and restart agents under them: what the
// framework heard of each task, one accept for a whole list of tasks, and an agent restart that
// keeps the framework's loop running.
#pragma once

#include <atomic>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/cluster.h"
#include "support/framework.h"

namespace tessera::testing {

inline std::string random_hex() {
  std::random_device rd;
  std::ostringstream out;
  out << std::hex << rd() << rd();
  return out.str();
}

// A framework that keeps its tasks however long its loop pauses: it is only disconnected, never
// removed with them.
inline sdk::FrameworkInfo long_lived_framework(const std::string& name) {
  sdk::FrameworkInfo info;
  info.name = name;
  info.failover_timeout_seconds = 3600;
  return info;
}

// The terminal statuses a framework heard for a task, each once: agent updates by uuid (a resent
// one is the same status), the master's own (no uuid) one by one. Reconciliation answers repeat
// what is known and are not counted.
inline size_t terminal_statuses(const TestFramework& framework, const std::string& task_id) {
  std::set<std::string> agent_uuids;
  size_t from_master = 0;
  for (const protocol::TaskStatus& s : framework.all_updates()) {
    if (s.task_id != task_id || !protocol::state::terminal(s.state) ||
        s.reason == protocol::reason::kReconciliation) {
      continue;
    }
    if (s.uuid.empty()) {
      ++from_master;
    } else {
      agent_uuids.insert(s.uuid);
    }
  }
  return agent_uuids.size() + from_master;
}

// Whether the framework heard a terminal status for every one of `task_ids`.
inline bool all_terminal(const TestFramework& framework, const std::vector<std::string>& task_ids) {
  for (const std::string& id : task_ids) {
    if (terminal_statuses(framework, id) == 0) return false;
  }
  return true;
}

// " TASK_RUNNING TASK_FAILED/REASON(exit 3)(master)...": what the framework heard of a task, for
// failure messages.
inline std::string history(const TestFramework& framework, const std::string& task_id) {
  std::string out;
  for (const protocol::TaskStatus& s : framework.all_updates()) {
    if (s.task_id != task_id) continue;
    out += " " + s.state + (s.reason.empty() ? "" : "/" + s.reason) +
           (s.exit_code >= 0 ? "(exit " + std::to_string(s.exit_code) + ")" : "") +
           (s.uuid.empty() ? "(master)" : "");
  }
  return out;
}

// Launches `tasks` in one accept of the first offer that holds them all (the agent then gets one
// burst of launches); `agent_id` is set to the offer's agent. Both must outlive the framework's
// loop runs.
inline void accept_in_one_go(TestFramework& framework, std::vector<protocol::TaskInfo>& tasks,
                             std::string& agent_id) {
  framework.on_offer = [&](const protocol::scheduler::Offer& offer) {
    protocol::Resources needed;
    for (const protocol::TaskInfo& t : tasks) needed += t.resources;
    if (!tasks.empty() && offer.resources.contains(needed)) {
      agent_id = offer.agent_id;
      framework.client().accept({offer.offer_id}, tasks, 1);
      tasks.clear();
    } else {
      framework.client().decline({offer.offer_id}, 1);
    }
  };
}

// Restarts agent `index` on its work dir while the framework's loop keeps running (so that it
// keeps its heartbeats and hears what the master says meanwhile).
inline ::testing::AssertionResult restart_agent(Cluster& cluster, TestFramework& framework,
                                                const AgentSettings& settings = {},
                                                size_t index = 0) {
  cluster.drop_agent(index);
  std::atomic<bool> done{false};
  ::testing::AssertionResult result = ::testing::AssertionFailure();
  std::thread restarter([&] {
    result = cluster.start_agent(index, settings);
    done = true;
  });
  framework.run_until([&] { return done.load(); }, std::chrono::seconds(60));
  restarter.join();
  return result;
}

}  // namespace tessera::testing

// The agent role: runs a node's tasks for the leading master.
//
// It finds the master through an sdk::MasterDetector on the leader plugin (leader.get on
// inproc://tessera.leader, and leader.info events; a master.not_leader answer is followed to the
// leader it names), registers with the resources and attributes of its [agent] table, runs
// the tasks the master sends through the first isolator of [agent] isolators, and reports every
// task state change as a status update that is checkpointed before it is sent and resent with
// backoff until acknowledged (status_updates.h). Its id and its tasks survive a restart in the
// work dir (checkpoint.h); a restarted agent asks the isolator which containers are still
// alive, reports the others, and re-registers with the live ones. See README.md beside this
// file for the keys, the messages and the files.
//
// Threading: created and configured on the host's main thread; everything else runs on the
// role's own loop thread (one owner, no locks), like any plugin.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "checkpoint.h"
#include "roles.h"
#include "status_updates.h"
#include "tessera/protocol/agent.h"
#include "tessera/protocol/isolator.h"
#include "tessera/protocol/store.h"
#include "tessera/sdk/master_detector.h"

namespace tessera::host::agent {

// The settings of the [agent] table, checked.
struct AgentSettings {
  std::vector<std::string> isolators;
  protocol::Resources resources;
  std::vector<protocol::scheduler::Attribute> attributes;
  std::string hostname;
  std::chrono::milliseconds status_update_retry{1000};
  std::chrono::milliseconds status_update_retry_max{60000};
  std::chrono::milliseconds registration_retry{200};
  std::chrono::milliseconds registration_retry_max{5000};
};

// Reads [agent]. Errors are recorded in the table (file:line) as for any plugin.
AgentSettings read_settings(sdk::ConfigTable& table, const std::string& node_name);

// The environment a task gets from the agent: TASK_ID, TESSERA_FRAMEWORK_ID, TESSERA_AGENT_ID,
// HOST, and one PORTn per port of the task's "ports" ranges in order, with PORT (= PORT0) and
// PORTS (comma-separated).
std::map<std::string, std::string> task_environment(const std::string& framework_id,
                                                    const protocol::TaskInfo& task,
                                                    const std::string& agent_id,
                                                    const std::string& hostname);

// The status a container's exit means for its task.
struct ExitOutcome {
  std::string state;
  std::string reason;
  std::string message;
  int32_t exit_code = -1;
};
ExitOutcome exit_outcome(const protocol::isolator::Exited& exited, bool kill_requested);

class Agent : public Role {
 public:
  explicit Agent(sdk::PluginContext& context);
  ~Agent() override;

  Status configure(sdk::ConfigTable& table) override;
  Status start() override;
  void stopping() override;

 private:
  struct Task {
    TaskCheckpoint saved;
    bool launching = false;                                // isolator.launch sent, not answered yet
    std::optional<protocol::isolator::Exited> early_exit;  // an exit seen before the launch reply
  };
  using Clock = StatusUpdateQueue::Clock;

  // Recovery and the master connection.
  void recover();
  void recover_containers(const std::vector<TaskKey>& keys);
  // Asks the detector for the leading master and connects to it if it is another one.
  void find_master();
  void on_leader_moved(const std::string& endpoint);
  void connect_master(const std::string& endpoint);
  void drop_master();
  void try_register();
  void on_registered(const protocol::agent::Registered& registered);
  void tick();

  // What the master asks.
  void run_task(const std::string& framework_id, const protocol::TaskInfo& task);
  void kill_task(const std::string& framework_id, const std::string& task_id);
  void on_ack(const protocol::agent::StatusAck& ack);
  void shutdown(const std::string& reason);
  void finish_shutdown();

  // Containers.
  // Sends a queued launch (after the commit that made its container durable), or ends a task
  // killed before it got there.
  void start_launch(const TaskKey& key, const std::string& container_id);
  void launch(const TaskKey& key, std::map<std::string, std::string> environment);
  void on_launched(const TaskKey& key, const std::string& container_id, Result<Envelope> reply);
  void send_kill(const Task& task);
  void on_exited(const protocol::isolator::Exited& exited);

  // Status updates: checkpointed, queued, sent while registered.
  void emit(const TaskKey& key, const std::string& state, const std::string& reason,
            const std::string& message, const std::string& source, int32_t exit_code = -1);
  void save(const TaskKey& key);
  // Group commit: writes every changed checkpoint, makes them durable with one flush, then
  // queues the updates made since the last commit, sends what is due and starts the launches
  // that waited for it. When the checkpoint cannot be written or flushed, hold() keeps all of
  // it in memory, unsent, and the commit is tried again every kCheckpointRetry.
  void commit();
  void hold(const std::string& problem, Clock::time_point now);
  void flush_updates();

  AgentSettings settings_;
  std::unique_ptr<Checkpoint> checkpoint_;
  std::unique_ptr<StatusUpdateQueue> updates_;
  // Updates made but not yet durable (never sent before commit()), and the tasks whose
  // checkpoint must be rewritten at the next commit.
  std::map<TaskKey, std::vector<protocol::TaskStatus>> staged_;
  std::set<TaskKey> dirty_;
  size_t staged_count_ = 0;
  // Launches (task, container) waiting for the commit that records their container.
  std::vector<std::pair<TaskKey, std::string>> launch_queue_;
  // While the checkpoint fails: when to try again, and when the error was last logged.
  static constexpr std::chrono::seconds kCheckpointRetry{1};
  static constexpr std::chrono::seconds kCheckpointErrorEvery{60};
  bool checkpoint_failing_ = false;
  Clock::time_point next_checkpoint_retry_{};
  Clock::time_point last_checkpoint_error_{};
  std::string agent_id_;
  std::map<TaskKey, Task> tasks_;
  std::map<std::string, TaskKey> containers_;
  uint64_t launches_ = 0;

  std::unique_ptr<sdk::MasterDetector> detector_;
  std::unique_ptr<sdk::Client> isolator_;
  std::unique_ptr<sdk::Subscriber> isolator_events_;
  // The connection to the current master. A replaced one is kept (unused) in retired_masters_:
  // a channel cannot leave its loop while the loop runs.
  std::unique_ptr<sdk::Client> master_;
  std::vector<std::unique_ptr<sdk::Client>> retired_masters_;
  std::string master_endpoint_;
  uint64_t master_generation_ = 0;

  bool recovered_ = false;
  bool finding_master_ = false;
  Clock::time_point last_find_{};
  bool registering_ = false;
  bool registered_ = false;
  std::chrono::milliseconds registration_backoff_{200};
  std::chrono::duration<double> ping_interval_{5.0};
  Clock::time_point last_master_contact_{};
  bool shutting_down_ = false;
  Clock::time_point shutdown_deadline_{};
  sdk::EventLoop::TimerId ticker_ = 0;
};

}  // namespace tessera::host::agent

// The agent role: runs a node's tasks for the leading master.
//
// It finds the master through an sdk::MasterDetector on the leader plugin (leader.get on
// inproc://tessera.leader, and leader.info events; a master.not_leader answer is followed to the
// leader it names), registers with the resources and attributes of its [agent] table, runs
// each task the master sends in the container runtime of its container type ([agent] runtimes)
// with every other plugin of [agent] isolators around it (prepare, isolate, cleanup, in order;
// protocol/isolator.h), and reports every
// task state change as a status update that is checkpointed before it is sent and resent with
// backoff until acknowledged (status_updates.h). Its id and its tasks survive a restart in the
// work dir (checkpoint.h); a restarted agent asks its runtimes which containers are still
// alive and its isolators what they still hold, reports the others, and re-registers with the
// live ones. See README.md beside this
// file for the keys, the messages and the files.
//
// Threading: created and configured on the host's main thread; everything else runs on the
// role's own loop thread (one owner, no locks), like any plugin.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "checkpoint.h"
#include "journal_flusher.h"
#include "roles.h"
#include "status_updates.h"
#include "tessera/protocol/agent.h"
#include "tessera/protocol/executor.h"
#include "tessera/protocol/files.h"
#include "tessera/protocol/isolator.h"
#include "tessera/protocol/store.h"
#include "tessera/sdk/channels.h"
#include "tessera/sdk/master_detector.h"

namespace tessera::host::agent {

// The settings of the [agent] table, checked.
struct AgentSettings {
  std::vector<std::string> isolators;
  // The runtime plugin of each kind of container ("posix": container type "" or "MESOS";
  // "docker": "DOCKER"), and the other plugins of `isolators`, in order: run around every task.
  std::map<std::string, std::string> runtimes;
  std::vector<std::string> chain;
  protocol::Resources resources;
  std::vector<protocol::scheduler::Attribute> attributes;
  std::string hostname;
  std::chrono::milliseconds status_update_retry{1000};
  std::chrono::milliseconds status_update_retry_max{60000};
  std::chrono::milliseconds registration_retry{200};
  std::chrono::milliseconds registration_retry_max{5000};
  // How often the usage of running tasks is collected from their isolators (or, without any,
  // their runtime) and sent to the master (agent.usage); 0: never.
  std::chrono::milliseconds usage_interval{5000};
  // How long a launched executor has to register before it is killed.
  std::chrono::milliseconds executor_registration_timeout{60000};
  // The most launches sent to the isolators and not yet running (prepare to release); the rest
  // wait their turn in order.
  size_t max_launches_in_flight = 64;
};

// Reads [agent]. Errors are recorded in the table (file:line) as for any plugin.
AgentSettings read_settings(sdk::ConfigTable& table, const std::string& node_name);

// The environment a task gets, built here and nowhere else: the command's own environment,
// then (winning over it) TASK_ID, TESSERA_FRAMEWORK_ID, TESSERA_AGENT_ID, HOST,
// TESSERA_SANDBOX (when given), and one PORTn per port of the task's "ports" ranges in order,
// with PORT (= PORT0) and PORTS (comma-separated). A runtime adds only what its kind of
// container needs underneath (isolator_posix: the host's PATH and locale).
std::map<std::string, std::string> task_environment(const std::string& framework_id,
                                                    const protocol::TaskInfo& task,
                                                    const std::string& agent_id,
                                                    const std::string& hostname,
                                                    const std::string& sandbox = "");

// The kind of runtime a container type needs: "posix" for "" and "MESOS", "docker" for
// "DOCKER", "" for anything else.
std::string runtime_kind(const std::string& container_type);

// The status a container's exit means for its task.
struct ExitOutcome {
  std::string state;
  std::string reason;
  std::string message;
  int32_t exit_code = -1;
};
// A limitation (an isolator's reason, e.g. memory) makes it TASK_FAILED with that reason even
// when the agent killed the container for it.
ExitOutcome exit_outcome(const protocol::isolator::Exited& exited, bool kill_requested);

class Agent : public Role {
 public:
  explicit Agent(sdk::PluginContext& context);
  ~Agent() override;

  Status configure(sdk::ConfigTable& table) override;
  Status start() override;
  void stopping() override;

 private:
  // Where a task is in its launch: each step is one request to one plugin.
  enum class Stage { kQueued, kPreparing, kLaunching, kIsolating, kReleasing, kRunning, kEnding };
  struct Task {
    TaskCheckpoint saved;
    Stage stage = Stage::kQueued;
    std::string runtime;         // the plugin that runs its container
    size_t prepared = 0;         // isolators of the chain that prepared it
    std::string launch_failure;  // why a launch step failed after the process was started
    std::string limit_reason;    // an isolator's limitation that ended it
    std::string limit_message;
    std::optional<protocol::isolator::Exited> exit;  // the runtime's report, while cleaning up
    // A task of an executor: whether its executor has it (LaunchTask sent, or named when the
    // executor registered again). Not kept across restarts: the executor says.
    bool delivered = false;
  };
  // A framework's executor. Its process is a container like a task's and lives in tasks_ under
  // executor_key(): launch, recovery and exit are the tasks' own, and emit() on such a key
  // changes the executor's state (on_executor_state) instead of sending a status update.
  struct Executor {
    std::string framework_id;
    std::string executor_id;
    std::string token;  // given in its environment; proves a connection is this executor
    std::string peer;   // the routing id of its registered connection; empty: not registered
    StatusUpdateQueue::Clock::time_point waiting_since{};  // since when it may register
    bool timed_out = false;                                // killed for not registering in time
    // Asked to shut down (by its framework, or because the framework was removed): killed at
    // shutdown_deadline if it has not ended by then, and its unfinished tasks end TASK_KILLED.
    bool shutting_down = false;
    StatusUpdateQueue::Clock::time_point shutdown_deadline{};
    // How it ended, for the master (agent.executor_exited): exit code (-1: a signal or unknown)
    // and why.
    int32_t exit_status = -1;
    std::string end_message;
  };
  using Clock = StatusUpdateQueue::Clock;
  size_t chain_size(const Task& task) const;

  // Recovery and the master connection.
  void recover();
  void recover_containers(const std::vector<TaskKey>& keys);
  // After every plugin answered its recover: a container its runtime still runs is adopted
  // (and killed if an isolator lost it); any other is cleaned up and its task reported.
  void adopt_or_report(const TaskKey& key,
                       const std::map<std::string, std::set<std::string>>& alive);
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

  // Containers. A launch is a chain of requests: prepare on every isolator of the chain,
  // launch on the runtime (held when there are isolators), isolate on every isolator, release;
  // an exit runs cleanup on every isolator (in reverse order) before the task's end is
  // reported. Each step checks that the task is still on that container.
  // Sends a queued launch (after the commit that made its container durable, and once fewer
  // than max_launches_in_flight launches are under way), or ends a task killed before it got
  // there.
  void start_launch(const TaskKey& key, const std::string& container_id);
  // Whether a task in this stage counts among the launches in flight.
  static bool in_launch(Stage stage);
  // Moves a task to another stage, keeping the count of launches in flight; one that leaves
  // the window lets the next waiting launch start.
  void set_stage(Task& task, Stage stage);
  void pump_launches();
  // The task on this container, unless it is terminal (or, for launching(), ending).
  Task* owner(const TaskKey& key, const std::string& container_id);
  Task* launching(const TaskKey& key, const std::string& container_id);
  void prepare(const TaskKey& key, const std::string& container_id, size_t index);
  void launch(const TaskKey& key, const std::string& container_id);
  void on_launched(const TaskKey& key, const std::string& container_id, Result<Envelope> reply);
  void isolate(const TaskKey& key, const std::string& container_id, size_t index);
  void release(const TaskKey& key, const std::string& container_id);
  void running(const TaskKey& key);
  // A step after the process started failed: the container is killed and the task fails.
  void abandon_launch(const TaskKey& key, const std::string& problem);
  // Runs cleanup on the first `count` isolators of the chain, last first, then `done` with the
  // first limitation one of them reports.
  void cleanup(const std::string& container_id, size_t count,
               std::function<void(std::string reason, std::string message)> done);
  void send_kill(const Task& task, double grace_seconds);
  void send_kill(const Task& task);
  void on_exited(const protocol::isolator::Exited& exited);
  void on_limitation(const protocol::isolator::Limitation& limitation);
  void report_exit(const TaskKey& key);
  // Asks the plugins of every running task for its usage (isolator.get_usage), and sends what
  // they measured to the master once all have answered. One collection at a time.
  void collect_usage();
  void send_usage(const std::map<TaskKey, protocol::ResourceUsage>& usage);
  sdk::Client* plugin(const std::string& name);
  // Connects to every plugin of [agent] isolators; exits and limitations come back on these
  // connections.
  Status connect_plugins();

  // Status updates: checkpointed, queued, sent while registered.
  void emit(const TaskKey& key, const std::string& state, const std::string& reason,
            const std::string& message, const std::string& source, int32_t exit_code = -1);
  void save(const TaskKey& key);
  // Group commit: writes every changed checkpoint, makes them durable with one flush, then
  // queues the updates made since the last commit, sends what is due and starts the launches
  // that waited for it. When the checkpoint cannot be written or flushed, hold() keeps all of
  // it in memory, unsent, and the commit is tried again every kCheckpointRetry.
  void commit();
  // The flusher's wake-up: takes its result and releases the batch it made durable.
  void on_flushed();
  struct CommitBatch;
  // Releases what a flush made durable (updates to send, launches to start, executors' work),
  // or, when it failed, puts it back to be written and flushed again and holds (false).
  bool commit_done(CommitBatch batch, const Status& flushed);
  void hold(const std::string& problem, Clock::time_point now);
  void flush_updates();
  // Executors (executors.cpp).
  static TaskKey executor_key(const std::string& framework_id, const std::string& executor_id);
  static bool is_executor_key(const TaskKey& key);
  Status bind_executor_endpoint();
  // Gives the task a container, a sandbox and TASK_STARTING, and queues its launch for the next
  // commit; a task that cannot have one fails.
  void queue_container(const TaskKey& key);
  void run_executor_task(const TaskKey& key);
  void kill_executor_task(const TaskKey& key);
  void recover_executor(const TaskKey& key);
  void on_executor_state(const TaskKey& key, const std::string& state, const std::string& message,
                         int32_t exit_code);
  void on_executor_register(const sdk::Request& request,
                            const protocol::executor::Register& message);
  void on_executor_update(const sdk::Request& request,
                          const protocol::executor::StatusUpdate& message);
  Executor* executor_of(const std::string& peer);
  // The framework was removed: its executors are asked to end and killed after their grace.
  void shutdown_executors(const std::string& framework_id);
  // Asks one executor to end (executor.shutdown) and kills it after its kill grace if it has
  // not; its unfinished tasks end TASK_KILLED. `why` is said to the executor and logged.
  void shutdown_executor(const TaskKey& key, const std::string& why);
  // The executors this agent runs (not ended), as their frameworks described them, for the
  // master's accounting of what they hold (agent.register).
  std::vector<protocol::agent::RunningExecutor> running_executors() const;
  // Framework messages, best effort: from the master to a registered executor, and back.
  void to_executor(const protocol::agent::FrameworkMessage& message);
  void from_executor(const sdk::Request& request, const protocol::executor::Message& message);
  // After a commit: sends the tasks that waited for it to their executors, and the acks of the
  // executors' updates it made durable; forgets the executors that ended.
  struct ExecutorAck;
  void release_executor_work(const std::vector<TaskKey>& deliveries,
                             const std::vector<ExecutorAck>& acks);
  void check_executor_registrations(Clock::time_point now);
  // Answers an operator's request for a task's sandbox files, relayed by the master.
  protocol::files::Answer sandbox_files(const protocol::files::Request& request);

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
  // One connection per isolator plugin (runtimes and isolators), by plugin name.
  std::map<std::string, std::unique_ptr<sdk::Client>> plugins_;
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
  // Spreads the registration retries (sdk::jittered): after a failover every agent of the
  // cluster registers with the new master at once.
  std::mt19937_64 registration_random_{std::random_device{}()};
  std::chrono::duration<double> ping_interval_{5.0};
  Clock::time_point last_master_contact_{};
  bool shutting_down_ = false;
  Clock::time_point shutdown_deadline_{};
  sdk::EventLoop::TimerId ticker_ = 0;
  // Executors, by executor_key(); where they connect; what waits for the next commit.
  std::map<TaskKey, Executor> executors_;
  std::unique_ptr<sdk::Server> executor_server_;
  std::string executor_endpoint_;
  std::string executor_endpoint_problem_;
  std::vector<TaskKey> executor_deliveries_;
  struct ExecutorAck {
    std::string peer;
    uint64_t sequence = 0;
    protocol::executor::StatusAck ack;
  };
  std::vector<ExecutorAck> executor_acks_;
  std::set<TaskKey> ended_executors_;
  // What one journal flush makes durable: taken from the staged work when the flush starts,
  // released (or, if it failed, put back) when it is done.
  struct CommitBatch {
    std::map<TaskKey, std::vector<protocol::TaskStatus>> updates;
    size_t update_count = 0;
    std::vector<std::pair<TaskKey, std::string>> launches;
    std::vector<TaskKey> deliveries;
    std::vector<ExecutorAck> acks;
    std::set<TaskKey> keys;  // whose checkpoints it wrote
  };
  // The batch of the flush in progress, on the flusher's thread.
  std::optional<CommitBatch> flushing_;
  std::unique_ptr<JournalFlusher> flusher_;
  // Launches whose container is durable, waiting for room among the launches in flight.
  std::deque<std::pair<TaskKey, std::string>> ready_launches_;
  size_t launches_in_flight_ = 0;
  bool pumping_launches_ = false;
  bool collecting_usage_ = false;
  Clock::time_point next_usage_{};
};

}  // namespace tessera::host::agent

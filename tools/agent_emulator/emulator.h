// AgentEmulator: thousands of agents in one process, each a real peer of the agent protocol
// (tessera/protocol/agent.h) on its own ZeroMQ DEALER connection to the leading master, running
// "tasks" that are only timers: no process, no sandbox, no checkpoint.
//
// Why one connection per agent: the master knows an agent by the routing id of its connection
// and acts on a message only when it comes on the connection of the agent it names, so agents
// cannot share a socket without changing the master. What is shared is everything else: one
// thread, one epoll set over the sockets' ZMQ_FD descriptors, one timer heap, one ZeroMQ
// context (one I/O thread by default) and one master detector.
//
// Each agent behaves as host/agent does on the wire: it registers (re-registers with its id,
// secret and every task it has not finished reporting), retries unanswered registrations with
// backoff (200 ms doubling to 5 s), answers pings, registers again after 3 silent ping
// intervals or when the master changes, and sends each task's status updates one at a time,
// resending the one in flight with backoff until its acknowledgement comes back.
//
// The master is found with the SDK's MasterDetector (a HOST:PORT list, or zk:// through
// leader_zookeeper's detector), shared by all agents: a master change moves every agent to the
// new leader at once.
//
// Threading: everything runs on the thread that calls run(); request_stop() may be called from
// any thread (a signal handler's thread included, through the loop's eventfd).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <random>
#include <string>
#include <vector>

#include <msgpack.hpp>

#include "tessera/protocol/agent.h"
#include "tessera/protocol/master.h"
#include "tessera/result.h"
#include "tessera/sdk/event_loop.h"
#include "tessera/sdk/master_detector.h"

namespace tessera::emulator {

using Clock = std::chrono::steady_clock;

// How long an emulated task runs: the label `emulator.duration_seconds`, else a command of the
// form `sleep N`; absent (or not a finite number from 0 to 10^7), it runs until killed.
std::optional<std::chrono::milliseconds> task_duration(const protocol::TaskInfo& task);

struct EmulatorOptions {
  std::string master;  // HOST:PORT, a comma-separated list, or zk://HOST:PORT,.../PATH
  size_t agents = 100;
  std::string resources = "cpus:8;mem:16384;disk:100000;ports:[31000-32000]";
  std::map<std::string, std::string> attributes;  // each agent also gets `emulator_index`
  std::string hostname_prefix = "emu-";
  // Tasks each agent holds from its first registration (RUNNING, of `task_framework`, each
  // asking for `task_resources`, running until killed): a large cluster without launching it.
  size_t tasks_per_agent = 0;
  std::string task_framework;
  std::string task_resources = "cpus:0.1;mem:32";
  std::chrono::milliseconds status_update_retry{1000};
  std::chrono::milliseconds status_update_retry_max{60000};
  std::chrono::milliseconds registration_retry{200};
  std::chrono::milliseconds registration_retry_max{5000};
  // How often a summary line is printed (0: never); changes of note are printed when they
  // happen.
  std::chrono::milliseconds report_interval{1000};
  int io_threads = 1;
};

// What the emulator counts, for reports and tests.
struct EmulatorStats {
  size_t agents = 0;
  size_t registered = 0;
  size_t tasks = 0;            // tasks held (not yet finished reporting)
  size_t running = 0;          // of which latest state is TASK_RUNNING
  uint64_t launched = 0;       // agent.run_task accepted
  uint64_t finished = 0;       // tasks that reached a terminal state
  uint64_t updates_sent = 0;   // status updates sent, resends included
  uint64_t acks = 0;           // acknowledgements that ended an update
  uint64_t registrations = 0;  // agent.registered received
  uint64_t pings = 0;
  uint64_t dropped = 0;  // messages that could not be decoded or were not for an agent
  // Answers that gave an agent that had an id another one: the master admitted it twice.
  uint64_t id_changes = 0;
};

class AgentEmulator {
 public:
  explicit AgentEmulator(EmulatorOptions options);
  ~AgentEmulator();
  AgentEmulator(const AgentEmulator&) = delete;
  AgentEmulator& operator=(const AgentEmulator&) = delete;

  // Checks the options, raises the descriptor limit as far as the agents need (and the process
  // may), and opens the ZeroMQ context. Call before run().
  Status prepare();
  // Serves until request_stop().
  void run();
  void request_stop() { loop_.request_stop(); }

  const EmulatorStats& stats() const { return stats_; }
  sdk::EventLoop& loop() { return loop_; }

 private:
  struct Task {
    std::string framework_id;
    protocol::TaskInfo info;
    std::string latest;                        // the newest state
    std::deque<protocol::TaskStatus> unacked;  // oldest first; the front is in flight
    Clock::time_point resend_at = Clock::time_point::max();
    std::chrono::milliseconds backoff{0};
    Clock::time_point finish_at = Clock::time_point::max();
  };
  struct Agent {
    size_t index = 0;
    std::string hostname;
    std::string id;
    std::string secret;
    void* socket = nullptr;
    int fd = -1;
    uint64_t sequence = 0;
    uint64_t register_sequence = 0;
    bool registered = false;
    Clock::time_point register_at = Clock::time_point::max();
    // A registration waits for its connection: sent from drain() as soon as ZeroMQ can take it.
    bool register_waiting = false;
    std::chrono::milliseconds register_backoff{0};
    Clock::time_point last_contact{};
    std::chrono::milliseconds silence_limit{15000};
    std::map<std::string, Task> tasks;  // by framework id + '\n' + task id
    Clock::time_point wake = Clock::time_point::max();
    // The encoded body of its agent.register, kept while what it says (id, secret, tasks and
    // their latest states) is unchanged; empty: build it again. After a master change every
    // agent registers at once, and building thousands of registrations, ten tasks each, again
    // took the emulator's thread from sending them.
    std::string register_body;
  };
  struct Wake {
    Clock::time_point when;
    size_t agent;
    bool operator>(const Wake& other) const { return when > other.when; }
  };

  // The master.
  void find_master();
  void switch_master(const std::string& endpoint);
  void control_tick();
  void heard_from_master(Agent& agent);
  void on_not_leader(const protocol::master::NotLeader& answer);

  // Sockets.
  Status open_socket(Agent& agent);
  void close_socket(Agent& agent);
  void on_epoll();
  void drain(Agent& agent);
  // Sends a message; `body` is a message struct or a PackedBody (tessera/message.h).
  template <typename T>
  bool send(Agent& agent, const T& body);
  // Whether ZeroMQ takes a message for the agent's connection now (it is up, with room).
  static bool writable(Agent& agent);
  void handle(Agent& agent, const void* data, size_t size);

  // One agent's protocol.
  void send_register(Agent& agent, Clock::time_point now);
  void on_registered(Agent& agent, const protocol::agent::Registered& registered);
  void set_registered(Agent& agent, bool registered);
  void run_task(Agent& agent, const std::string& framework_id, const protocol::TaskInfo& task);
  void kill_task(Agent& agent, const std::string& framework_id, const std::string& task_id);
  void on_ack(Agent& agent, const protocol::agent::StatusAck& ack);
  void shutdown(Agent& agent, const std::string& reason);
  void emit(Agent& agent, Task& task, const std::string& state, const std::string& reason,
            const std::string& message, const std::string& source, int32_t exit_code = -1);
  void send_update(Agent& agent, Task& task, Clock::time_point now);
  void tick(Agent& agent, Clock::time_point now);
  void schedule(Agent& agent, Clock::time_point when);
  void run_due();
  void report(bool summary);

  EmulatorOptions options_;
  protocol::Resources resources_;
  protocol::Resources task_resources_;
  void* context_ = nullptr;
  sdk::EventLoop loop_;
  sdk::Bus bus_;
  int epoll_fd_ = -1;
  std::unique_ptr<sdk::MasterDetector> detector_;
  std::vector<Agent> agents_;
  std::priority_queue<Wake, std::vector<Wake>, std::greater<>> wakes_;
  msgpack::sbuffer buffer_;
  uint64_t uuid_counter_ = 0;
  uint64_t uuid_seed_ = 0;
  std::mt19937_64 random_;  // spreads registration retries (sdk::jittered)
  uint64_t open_failures_ = 0;
  uint64_t sockets_opened_ = 0;  // numbers each connection's routing id

  std::string master_;  // the endpoint the agents are connected to ("" when none)
  uint64_t generation_ = 0;
  Clock::time_point generation_start_{};
  bool generation_heard_ = false;
  bool generation_leading_told_ = false;
  bool finding_ = false;
  Clock::time_point find_after_{};
  Clock::time_point last_not_leader_{};
  Clock::time_point started_{};
  bool all_registered_reported_ = false;
  bool first_registered_reported_ = false;  // in this generation
  EmulatorStats stats_;
};

}  // namespace tessera::emulator

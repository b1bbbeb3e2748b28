// PosixLauncher: the process launcher shared by container runtimes (isolator_posix now). Runs
// each container as a process in its own session and process group, watches
// it, kills it with SIGTERM then SIGKILL, and after an agent restart re-adopts the live
// containers and kills what is left of the others.
//
// A plain library: it knows nothing about plugins, messages or ZeroMQ. Its owner drives it:
//   - fd() is readable when a watched container's leader process ended: call on_readable();
//   - timers (SIGKILL escalation, waiting for a process group to empty) go through the
//     Scheduler the owner passes in, so the owner's event loop (or a test's) runs them;
//   - every ended container is reported once through the ExitHandler, after its whole process
//     group is gone.
//
// Each task runs under a small supervisor of its own (tessera-task-supervisor,
// task_supervisor.cpp), started with posix_spawn, never fork (the host may be large): the
// supervisor forks the task, waits for it, and writes its exit status into the status page of
// the container's state file before it exits. It lives in a session of its own, outside the task's
// process group and cgroups, so it outlives the agent: a task that ends while the agent is down, or
// after a restarted agent re-adopted it, is reported with its real exit status. Supervisors are
// watched through pidfds (Linux >= 5.3) gathered in one epoll set, and reaped one by one with
// waitid(P_PIDFD): the launcher never calls waitpid(-1), so it never steals another isolator's
// (or the host's) children.
//
// For recovery each container has a small state file in the state directory. It is written
// twice: before the process is spawned (the intent: container id, sandbox, boot id, phase
// "launching"), and once it runs (pid, process group, the process's start time in clock ticks
// since boot, phase "running"). Every task process is a session and process group leader (setsid),
// and its environment carries the container marker TESSERA_CONTAINER_ID=ID. So whenever the
// launcher's process dies, including between posix_spawn and the second write, recovery can find
// what it started: by the recorded pid and start time, or, for a container still "launching", by
// the marker (the container's leader is the session leader that carries it). A container is
// re-adopted only if its leader still runs, is not a zombie, and has the recorded start time on
// the same boot: a pid reused by an unrelated process is never mistaken for it. Whatever of a
// container is not re-adopted is killed (see recover()).
//
// A state file is two pages (the record, NUL-padded; the supervisor's status), and the file of
// an ended container is kept as a spare that a later launch renames into place, so that a
// launch creates and deletes no inode (README.md, "State files").
//
// The state files are not fsynced: they describe processes, and no process outlives a reboot
// (a file from another boot is stale whatever it says). A killed launcher leaves its writes in
// the page cache, where the next one reads them. Each write is one pwrite(2) of whole pages, or
// of less than a page (whole or not at all when the writer is killed); the record is written
// over the intent.
//
// Threading: not thread-safe. Create, use and destroy it on one thread (the plugin's loop
// thread); the scheduler's callbacks must run on that thread too. Destroying it leaves the
// processes running (and their state files in place) so that a new launcher can recover them;
// kill_all() is the explicit way to end them.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "tessera/result.h"

namespace tessera::process_launcher {

// Runs `fn` once, `delay` from now, on the launcher's thread. A scheduled call may outlive the
// container it was scheduled for; the launcher checks that itself.
using Scheduler = std::function<void(std::chrono::milliseconds delay, std::function<void()> fn)>;

struct Exit {
  std::string container_id;
  int32_t exit_code = -1;  // -1 when killed by a signal or when the status is unknown
  int32_t signal = 0;      // the signal that ended the leader process, 0 if none or unknown
  std::string message;     // for people: "exited with status 3", "killed by signal 9", ...
};
using ExitHandler = std::function<void(const Exit&)>;

struct LaunchSpec {
  std::string container_id;
  std::filesystem::path sandbox;  // created when missing; cwd, stdout and stderr live there
  bool shell = true;              // true: /bin/sh -c value; false: exec value with arguments
  std::string value;
  std::vector<std::string> arguments;              // exec form: argv[1..]; argv[0] is `value`
  std::map<std::string, std::string> environment;  // the task's whole environment
  // Started held: the process exists (its pid can be attached to cgroups, its children will be
  // too) but runs the command only after release(). Held, it is the supervisor's forked child
  // waiting for one byte on the supervisor's control socket, which then execs the command in
  // place (same pid); when the socket closes without that byte (the launcher's process died)
  // it exits 125 without running anything.
  bool hold = false;
};

struct Launched {
  pid_t pid = 0;
  uint64_t start_time = 0;  // clock ticks since boot (field 22 of /proc/PID/stat)
};

// The answer to start_launch(): the task's pid once its supervisor reported it, or why the
// launch failed. Called once per started launch, on the launcher's thread, from on_readable()
// or a scheduled call, and always before that container's exit is reported.
using LaunchedHandler = std::function<void(const std::string& container_id, Result<Launched>)>;

struct Recovered {
  // Named by the agent and re-adopted: running, or ended while the agent was down with the
  // status its supervisor recorded, which is then reported through the ExitHandler (from a
  // scheduled call, so after the caller has answered the recovery).
  std::vector<std::string> alive;
  std::vector<std::string> gone;     // named by the agent, not running: anything left was killed
  std::vector<std::string> orphans;  // not named by the agent: killed, and their state forgotten
};

// The environment variable that marks every process of a container with the container's id.
inline constexpr const char* kContainerMarker = "TESSERA_CONTAINER_ID";
// The one variable in a task supervisor's environment: the id of the container it supervises
// (the supervisor does not carry the container marker: it is not one of the task's processes).
inline constexpr const char* kSupervisorMarker = "TESSERA_SUPERVISOR_OF";
// The supervisor program's file name, beside the plugins.
inline constexpr const char* kSupervisorProgram = "tessera-task-supervisor";

struct MarkedProcess {
  pid_t pid = 0;
  pid_t session = 0;
  uint64_t start_time = 0;
};

// The environment a task gets: PATH, HOME, LANG, LC_ALL, LC_CTYPE and TZ from `host_env` (PATH
// defaults to the standard one when the host has none), then `command_env`, then `agent_env`
// (the agent's TASK_ID, PORT0..N, HOST win over the command's). Nothing else of the host's
// environment leaks into a task.
std::map<std::string, std::string> task_environment(
    const std::map<std::string, std::string>& command_env,
    const std::map<std::string, std::string>& agent_env, char** host_env);

// The start time (clock ticks since boot) of a live, non-zombie process, or nothing.
std::optional<uint64_t> process_start_time(pid_t pid);
// What one live process uses (/proc/PID/stat and status): its cpu time with that of the
// children it has waited for, and its resident memory now and at its peak (-1 where the kernel
// does not say). Nothing for a zombie or a process that is gone. Children still running are not
// counted: a task's whole usage is isolator_cgroups' to measure.
struct ProcessUsage {
  double cpu_seconds = -1;
  int64_t memory_bytes = -1;
  int64_t memory_peak_bytes = -1;
};
std::optional<ProcessUsage> process_usage(pid_t pid);
// The task supervisors (processes whose environment carries kSupervisorMarker) of
// `container_ids`, by container id, zombies included (one scan of /proc). A task forked by its
// supervisor and not yet exec'd counts too: it is still the supervisor's copy.
std::map<std::string, std::vector<MarkedProcess>> supervisor_processes(
    const std::set<std::string>& container_ids);
// Pids of the processes of group `pgid` that are not zombies (scans /proc).
std::vector<pid_t> live_group_members(pid_t pgid);
// The process groups that have a member that is not a zombie (one scan of /proc).
std::set<pid_t> live_process_groups();
// The live (non-zombie) processes whose environment marks them as belonging to one of
// `container_ids`, by container id (one scan of /proc; this process and processes whose
// environment cannot be read, such as other users', are skipped). A process caught in the
// middle of an exec has no environment yet: it is counted for the container whose sandbox (a
// key of `sandboxes`: canonical path -> container id) is its working directory, when it leads
// its own session (a task's first process, never a bystander that merely sits in a sandbox).
std::map<std::string, std::vector<MarkedProcess>> marked_processes(
    const std::set<std::string>& container_ids,
    const std::map<std::string, std::string>& sandboxes = {});

class PosixLauncher {
 public:
  // `state_dir` (created when missing) keeps one file per container for recovery, and the
  // status files its supervisors write. `supervisor`: the supervisor program; empty: the one
  // beside the shared object this library is linked into, else the one this build made. Fails
  // when there is none.
  static Result<std::unique_ptr<PosixLauncher>> create(
      std::filesystem::path state_dir, Scheduler scheduler, ExitHandler on_exit,
      const std::filesystem::path& supervisor = {});
  ~PosixLauncher();
  PosixLauncher(const PosixLauncher&) = delete;
  PosixLauncher& operator=(const PosixLauncher&) = delete;

  // Readable when a container's leader process has ended; then call on_readable().
  int fd() const { return epoll_fd_; }
  void on_readable();

  // Starts a container without waiting for it: the supervisor is spawned (or, with
  // kMaxStartingLaunches supervisors already starting, the launch waits its turn in a queue),
  // and `on_launched` gets the task's pid when the supervisor reports it. So a burst of launches
  // overlaps the supervisors' starts instead of paying each one's scheduling in turn, and the
  // owner's loop keeps serving everything else meanwhile. Fails at once for a container id
  // already known, an empty command or a sandbox path that is not absolute; whatever fails
  // later (a sandbox that cannot be created, an exec-form program that cannot be executed, a
  // supervisor that does not report) goes to `on_launched`.
  Status start_launch(const LaunchSpec& spec, LaunchedHandler on_launched);
  // The same, waiting for the answer (for tests and benches: it blocks the caller's thread
  // until the supervisor reports, and bypasses the queue).
  Result<Launched> launch(const LaunchSpec& spec);
  // How many launches may wait for their supervisors' report at once; more wait in a queue.
  static constexpr size_t kMaxStartingLaunches = 32;

  // Lets a container launched with `hold` run its command. Fails for an unknown container, one
  // not launched yet, or one not held (any more).
  Status release(const std::string& container_id);

  // Sends SIGTERM to the container's process group now and SIGKILL to it after `grace` (0:
  // SIGKILL at once). The exit is reported through the ExitHandler when the group is gone. A
  // container whose launch is not answered yet is killed right after the answer.
  Status kill(const std::string& container_id, std::chrono::milliseconds grace);

  // After an agent restart. `containers` are every container the agent knows (id, pid as the
  // agent checkpointed it; 0 = not known yet, use the state file's). Those whose leader still
  // runs are re-adopted (alive); the others are gone, and whatever is left of them (the rest of
  // their process group, any process that carries their marker) is killed. A container with a
  // state file that the agent does not name is an orphan (launched for a task the agent never
  // recorded, or no longer wants): all of it is killed. Gone and orphan containers' state files
  // are removed. No exit is reported for any of them.
  Recovered recover(const std::vector<std::pair<std::string, int64_t>>& containers);

  // Synchronously ends every container: SIGTERM to its process group, up to `grace` for every
  // member to go, then SIGKILL (and up to 2 s more until none is left), and forgets them (no
  // exit is reported). For shutting down with kill_on_stop. Launches under way are waited for
  // first and answered; queued ones are answered with an error and never started.
  void kill_all(std::chrono::milliseconds grace);

  bool running(const std::string& container_id) const;
  std::optional<pid_t> pid(const std::string& container_id) const;
  size_t size() const { return containers_.size(); }
  const std::filesystem::path& state_dir() const { return state_dir_; }

 private:
  struct Container {
    std::string id;
    uint64_t serial = 0;  // tells a relaunched id's timers from the old one's
    pid_t pid = 0;        // the task's; also the process group id
    uint64_t start_time = 0;
    pid_t supervisor = 0;  // 0 when not supervised (any more): then the task itself is watched
    uint64_t supervisor_start_time = 0;
    std::string sandbox;   // canonical, for the state file ("" when it cannot be written there)
    int pidfd = -1;        // the supervisor's, or the task's when not supervised
    int gate = -1;         // the supervisor's control socket, until release()
    bool adopted = false;  // re-adopted after a restart: maybe not our child
    bool supervisor_lost = false;  // its supervisor ended before the task: status unknown
    bool killing = false;          // SIGTERM sent by kill()
    bool sigkilled = false;        // SIGKILL sent by the escalation timer
    bool leader_done = false;      // leader reaped; waiting for the rest of the group
    Exit exit;
    std::chrono::steady_clock::time_point group_deadline;
    // Between start_launch() and the supervisor's report of the task's pid (pid is 0 until
    // then): the launch's answer, and the control socket, watched for the report.
    bool queued = false;     // waiting for a free launch slot, nothing spawned yet
    bool launching = false;  // spawned, the pid not reported yet
    bool hold = false;
    LaunchedHandler on_launched;
    int control = -1;
    std::string report;  // the bytes of the pid report received so far
    std::optional<std::chrono::milliseconds> kill_after_launch;  // kill() came first
  };
  struct QueuedLaunch {
    LaunchSpec spec;
    uint64_t serial = 0;
  };

  PosixLauncher(std::filesystem::path state_dir, std::filesystem::path supervisor, int epoll_fd,
                Scheduler scheduler, ExitHandler on_exit);

  // start_launch() and launch(): checks the launch and records the container; queued when
  // `may_queue` and every launch slot is taken, else spawned at once.
  Status admit(const LaunchSpec& spec, LaunchedHandler on_launched, bool may_queue,
               uint64_t* serial);
  // Spawns the supervisor of a launch and sends it the launch; its answer comes later.
  Status begin_launch(const LaunchSpec& spec, Container& c);
  // Reads what the control socket holds of the pid report; completes the launch when whole,
  // fails it at end of file. Returns whether the container is still launching.
  bool read_report(const std::string& id, uint64_t serial);
  void complete_launch(Container& c, pid_t pid);
  void fail_launch(const std::string& id, uint64_t serial, const std::string& message);
  void start_queued();
  // Blocks until the launch of `id` is answered (or its report is overdue).
  void settle(const std::string& id, uint64_t serial);
  Status watch_fd(int fd, uint64_t serial, bool control);
  Status watch(Container& c);
  void unwatch(Container& c);
  void leader_ended(Container& c);
  // The supervisor ended: the exit from its status file, or, without one, the task watched by
  // itself if it still runs.
  void supervisor_ended(Container& c);
  void await_group(const std::string& id, uint64_t serial);
  void finish(std::string id);  // by value: the caller's may be the container's own id
  void escalate(const std::string& id, uint64_t serial);
  Container* find(const std::string& id, uint64_t serial);
  std::filesystem::path state_file(const std::string& id) const;
  std::filesystem::path status_file(const std::string& id) const;
  // `create`: the intent of a new container (a spare file renamed into place, or a new one;
  // its status page cleared); otherwise the record written over the intent.
  Status write_state_file(const std::string& id, const std::string& text, bool create);
  // An ended container's state file becomes a spare (or is removed when there are enough).
  void retire_state_file(const std::string& id);
  std::filesystem::path spare_dir() const;
  Status write_intent(const std::string& id, const std::string& sandbox);
  Status write_state(const Container& c);
  // Recovery of one container from its state file: re-adopts its leader (true), or not.
  bool adopt(const std::string& id, const std::map<std::string, std::string>& state,
             int64_t agent_pid, const std::vector<MarkedProcess>& marked,
             const std::vector<MarkedProcess>& supervisors);
  // A container re-adopted after a restart, with a new serial, not watched yet.
  Container adopted(const std::string& id, pid_t pid, uint64_t start_time, std::string sandbox);
  // Recovery of a supervised container: its supervisor re-adopted, or its task reported ended
  // with the supervisor's status (true); or neither (the supervisor was killed).
  bool adopt_supervised(const std::string& id, const std::map<std::string, std::string>& state,
                        pid_t pid, uint64_t start_time);
  // Kills whatever is left of a container that is not adopted, and removes its state file.
  void destroy(const std::string& id, const std::map<std::string, std::string>& state,
               const std::vector<MarkedProcess>& marked,
               const std::vector<MarkedProcess>& supervisors);

  std::filesystem::path state_dir_;
  std::filesystem::path supervisor_;
  int epoll_fd_ = -1;
  Scheduler scheduler_;
  ExitHandler on_exit_;
  std::map<std::string, Container> containers_;
  std::map<uint64_t, std::string> by_serial_;
  uint64_t next_serial_ = 0;
  size_t starting_ = 0;  // launches spawned and not answered yet
  std::deque<QueuedLaunch> queue_;
  std::string boot_id_;
  std::vector<std::filesystem::path> spare_state_files_;
  uint64_t next_spare_ = 0;
  // The soft RLIMIT_NOFILE tasks get (the host's before it raised its own), 0: the host's.
  uint64_t task_nofile_soft_limit_ = 0;
};

}  // namespace tessera::process_launcher

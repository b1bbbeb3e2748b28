// The Marathon scheduler's logic: apps and their tasks, deployments, the launch queue with
// backoff and rejection statistics, and what to do with offers and status updates.
//
// It does no I/O. What it decides goes out through a Driver (launch, decline, kill, revive,
// persist, publish an event) that the plugin implements on the SDK's SchedulerClient, Store and
// HTTP event stream, and a unit test implements by recording. Time comes from an sdk::Clock,
// so a test moves it with a ManualClock.
//
// Converging: after every change (an API call, an update, an offer round, a timer) each app is
// brought towards its target: as many tasks of its current config as `instances`, no tasks of
// an older config. A config change replaces tasks as upgradeStrategy allows (at least
// ceil(instances x minimumHealthCapacity) healthy tasks, at most
// instances x (1 + maximumOverCapacity) tasks); a scale-down kills by killSelection.
//
// Threading: one thread (the plugin's loop); not thread-safe.
#pragma once

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <msgpack.hpp>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "app.h"
#include "matcher.h"
#include "tessera/message.h"
#include "tessera/protocol/scheduler.h"
#include "tessera/protocol/task.h"
#include "tessera/sdk/clock.h"

namespace tessera::marathon {

// The state of one health check of one task.
struct HealthResult {
  bool alive = false;
  int64_t consecutive_failures = 0;
  std::string first_success;  // ISO 8601, "" when never
  std::string last_success;
  std::string last_failure;
  std::string last_failure_cause;
};

// What the store keeps of a task (the plugin persists it when launched and when it changes
// state, and removes it when terminal), so that a restarted scheduler adopts running tasks.
struct StoredTask {
  std::string id;
  std::string app_id;
  std::string agent_id;
  std::string hostname;
  std::map<std::string, std::string> attributes;
  std::vector<uint64_t> host_ports;
  std::vector<int64_t> service_ports;
  std::string version;         // the app version it was launched with
  std::string config_version;  // that version's lastConfigChangeAt
  std::string state = protocol::state::kStaging;
  std::string staged_at;   // ISO 8601
  std::string started_at;  // "" until running
  uint64_t sequence = 0;   // launch order: killSelection compares it
  TESSERA_MSGPACK_MAP(id, app_id, agent_id, hostname, attributes, host_ports, service_ports,
                      version, config_version, state, staged_at, started_at, sequence);
};

// A task: its stored record and what the scheduler saw of it since it started.
struct Task : StoredTask {
  std::vector<HealthResult> health;
  bool kill_sent = false;
  bool replaced = false;  // counted out (unreachable too long); killed if it comes back
  std::optional<sdk::Clock::Monotonic::time_point> running_since;
  std::optional<sdk::Clock::Monotonic::time_point> unreachable_since;
  bool inactive_timer_set = false;  // a timer converges when unreachable_since runs out

  Placement placement() const { return {agent_id, hostname, attributes}; }
  bool running() const { return state == protocol::state::kRunning; }
};

// An app (or an app version) in the store: its Marathon JSON.
struct StoredApp {
  std::string json;
  TESSERA_MSGPACK_MAP(json);
};

// A group's own definition, apart from its apps (Marathon's Group): kept so that a group exists
// without apps and so that its dependencies order deployments. In the store as
// {"id", "dependencies", "version"} under groups/ID.
struct GroupSpec {
  std::string id;
  std::vector<std::string> dependencies;  // canonical ids of groups or apps
  std::string version;
};
boost::json::object to_json(const GroupSpec& group);
std::optional<GroupSpec> parse_stored_group(const std::string& text);

// A group definition as a deployment found it and left it (absent: not defined), so that a
// rollback reverts it as Marathon's DeploymentPlanReverter does.
struct GroupChange {
  std::optional<GroupSpec> before;
  std::optional<GroupSpec> after;
};

struct DeploymentAction {
  std::string action;  // StartApplication, ScaleApplication, RestartApplication, StopApplication
  std::string app;
};

// A deployment: the change of one app or of a group of apps (Marathon's DeploymentPlan). Its
// steps run one after the other; the actions of a step together. A group's plan stops the
// removed apps first, then starts the new ones with no instances, then scales or restarts
// the apps in the order of their dependencies (an app after everything it depends on).
struct Deployment {
  std::string id;
  std::string version;
  std::vector<std::string> apps;  // the affected apps
  std::vector<std::vector<DeploymentAction>> steps;
  size_t current_step = 1;              // 1-based, as Marathon counts
  std::set<std::string> stopping;       // apps being removed
  std::map<std::string, App> previous;  // what a rollback restores (absent: the app was new)
  // The group definitions it changed (their dependencies, or whether they exist), by group id.
  std::map<std::string, GroupChange> groups;
  sdk::Clock::Monotonic::time_point last_progress{};
  // How many actions of the current step were found done, in order (a step of thousands of apps
  // is not walked again at every status update); the step is done once all are, checked again
  // together at the end.
  size_t done_actions = 0;

  bool affects(const std::string& app_id) const {
    return std::find(apps.begin(), apps.end(), app_id) != apps.end();
  }
  // The 1-based step of the action that brings `app_id` to its target (its Scale, Restart or
  // Stop; 0 when none), before which its tasks are left alone.
  size_t step_of(const std::string& app_id) const;
  // Indexes the steps by app for step_of (call once the steps are set: a group deployment has
  // thousands of apps, and step_of is asked for each of them at every converging pass).
  void index_steps();

 private:
  std::map<std::string, size_t> step_by_app_;
};

// Steps as Marathon's JSON shows them: [{"actions": [{"action", "app"}, ...]}, ...].
boost::json::array steps_json(const std::vector<std::vector<DeploymentAction>>& steps);

// In the store. Records written before group deployments have only `app_id`, `stop` and
// `previous_json`; both forms are read.
struct StoredDeployment {
  std::string id;
  std::string version;
  std::string app_id;
  bool stop = false;
  std::vector<std::vector<std::string>> steps;  // each action: {action, app}, flattened
  uint64_t current_step = 1;
  std::string previous_json;  // "" when the app was new
  std::vector<std::string> apps;
  std::vector<std::string> stopping;
  std::map<std::string, std::string> previous_apps;  // app id -> its JSON before the change
  // Group id -> its definition's JSON before and after the change, each absent where the group
  // was not defined (records written before groups were part of deployments have neither).
  std::map<std::string, std::string> groups_before;
  std::map<std::string, std::string> groups_after;
  // A record too large for one store value is stored as `parts` records (split_deployment):
  // part 0 is the whole record but for some of the maps above, parts 1... hold the rest of them.
  // Records of one part (and those written before parts) have 0 and 0.
  uint64_t part = 0;
  uint64_t parts = 0;
  TESSERA_MSGPACK_MAP(id, version, app_id, stop, steps, current_step, previous_json, apps, stopping,
                      previous_apps, groups_before, groups_after, part, parts);
};

// The environment of a task of `app`, as Marathon's TaskBuilder makes it: MESOS_TASK_ID,
// MARATHON_APP_ID, MARATHON_APP_VERSION, MARATHON_APP_DOCKER_IMAGE, MARATHON_APP_RESOURCE_CPUS
// (MEM, DISK, GPUS), MARATHON_APP_LABELS and MARATHON_APP_LABEL_<KEY>, PORT0..., PORT_<port>,
// PORT_<NAME>, PORT, PORTS and HOST, then the app's `env`, which wins over all of them.
std::map<std::string, std::string> task_environment(const App& app, const Task& task);

// A deployment's record as records of at most about `max_bytes` each (a store value has a
// limit, 1 MiB, that the definitions before a change of a thousand apps go over): part 0 first,
// with everything but what of previous_apps, groups_before and groups_after does not fit, then
// parts 1... with the rest. One record (part 0 of 0 parts) when it fits.
std::vector<StoredDeployment> split_deployment(const StoredDeployment& whole, size_t max_bytes);
// The parts of one deployment read back, in any order, as one record; nullopt without its part 0
// (parts whose part 0 is gone: a removal cut short). Parts that part 0 does not count (left
// behind by a write that took fewer parts, cut short before it removed them) are left out. A
// missing later part leaves out only the definitions it held.
std::optional<StoredDeployment> join_deployment(std::vector<StoredDeployment> parts);

// What of each deployment's record is in the store, part by part (split_deployment), as the
// bytes last written, so that a deployment written again (at each step it passes) puts only
// the parts whose bytes changed and removes the parts it no longer has. A deployment of a
// thousand apps is several parts of definitions that do not change while it runs; only part 0,
// with the current step, does.
//
// It decides what to write; the caller writes it, in order, through a writer that keeps that
// order (sdk::StoreWriter), and calls failed() when a write of a part fails.
class DeploymentRecordParts {
 public:
  struct Write {
    uint64_t part = 0;
    std::optional<std::string> encoded;  // the part's record as stored (msgpack); none: remove
  };
  // What a deployment's parts read back from the store make (recover()).
  struct Recovered {
    std::optional<StoredDeployment> whole;  // none without its part 0
    std::vector<uint64_t> leftovers;        // parts that are no part of it, to remove
  };

  explicit DeploymentRecordParts(size_t max_part_bytes) : max_part_bytes_(max_part_bytes) {}

  // The writes that store `deployment` over what was written of it: the parts whose bytes
  // changed, parts 1... before part 0 (which a new leader reads the deployment from, so that it
  // never names parts not stored yet), then the removals of the parts it no longer has.
  std::vector<Write> save(const StoredDeployment& deployment);
  // The writes that remove deployment `id`: part 0 first (parts that a removal cut short leaves
  // behind are no deployment), then its other parts.
  std::vector<Write> remove(const std::string& id);
  // The parts of one deployment as read back from the store (a new leader): the deployment
  // they make, remembered as stored, and the parts to remove: all of them without part 0,
  // else those part 0 does not count (join_deployment).
  Recovered recover(std::vector<StoredDeployment> parts);
  // A write of part `part` of deployment `id` failed: it is no longer known to be stored, and
  // the next save() writes it again.
  void failed(const std::string& id, uint64_t part);
  // How many parts deployment `id` has in the store (0: none).
  size_t parts(const std::string& id) const;

 private:
  size_t max_part_bytes_;
  // Deployment id -> each part's bytes as written; none: not known to be stored as anything
  // (written again at the next save).
  std::map<std::string, std::vector<std::optional<std::string>>> written_;
};

// An offer an app could not use, with every reason, as /v2/queue's lastUnusedOffers lists it.
struct UnusedOffer {
  protocol::scheduler::Offer offer;
  std::vector<RejectReason> reasons;
  std::string at;  // ISO 8601
};

// Launch-queue statistics for one app since its instances began to wait, as /v2/queue reports
// them (Marathon's OfferMatchStatistics).
struct OfferStatistics {
  uint64_t processed = 0;
  uint64_t unused = 0;
  std::string last_unused_at;
  std::string last_used_at;
  // Per unused offer, its first reason in the funnel order of kAllRejectReasons.
  std::map<RejectReason, uint64_t> declined;
  // The last unused offer of each agent, at most kMaxUnusedOffers agents (the oldest goes).
  std::map<std::string, UnusedOffer> last_unused;
  protocol::Resources largest;  // the largest offer seen (by cpus, then mem)
};
inline constexpr size_t kMaxUnusedOffers = 256;

struct Backoff {
  double delay_seconds = 0;  // 0: none
  sdk::Clock::Monotonic::time_point until{};
  uint64_t failures = 0;
};

// An app's backoff in the store, so that a new leader keeps delaying a crash-looping app
// instead of launching it at once. The end of the delay is wall-clock time (milliseconds since
// the epoch): monotonic time does not survive a restart.
struct StoredBackoff {
  std::string app_id;
  double delay_seconds = 0;
  uint64_t failures = 0;
  int64_t until_epoch_ms = 0;
  TESSERA_MSGPACK_MAP(app_id, delay_seconds, failures, until_epoch_ms);
};

class Driver {
 public:
  virtual ~Driver() = default;
  virtual void launch(const std::vector<std::string>& offer_ids,
                      const std::vector<protocol::TaskInfo>& tasks) = 0;
  virtual void decline(const std::vector<std::string>& offer_ids, double refuse_seconds) = 0;
  virtual void kill(const std::string& task_id, const std::string& agent_id) = 0;
  virtual void revive() = 0;
  virtual void save_app(const App& app) = 0;
  virtual void remove_app(const std::string& app_id) = 0;
  virtual void save_version(const App& app) = 0;
  virtual void remove_version(const std::string& app_id, const std::string& version) = 0;
  virtual void save_task(const StoredTask& task) = 0;
  virtual void remove_task(const std::string& task_id) = 0;
  virtual void save_deployment(const StoredDeployment& deployment) = 0;
  virtual void remove_deployment(const std::string& id) = 0;
  virtual void save_backoff(const StoredBackoff& backoff) = 0;
  virtual void remove_backoff(const std::string& app_id) = 0;
  virtual void save_group(const GroupSpec& group) = 0;
  virtual void remove_group(const std::string& group_id) = 0;
  // An event for /v2/events; `body` already has eventType and timestamp.
  virtual void publish(const std::string& event_type, const boost::json::object& body) = 0;
  // Something the operator should know of, for the plugin's log.
  virtual void warn(const std::string& /*message*/) {}
};

struct SchedulerOptions {
  // Spread an app's instances over agents (fewest of its instances first), or pack them.
  bool spread = true;
  // How long offers that do not fit are refused, and offers when nothing waits.
  double refuse_unfit_seconds = 1;
  double refuse_idle_seconds = 5;
  // How long a task must run (and pass its health checks) before its app's backoff resets.
  std::chrono::milliseconds backoff_reset_after{std::chrono::seconds(60)};
  // A deployment that makes no progress for this long is rolled back (0: never).
  std::chrono::milliseconds deployment_deadline{0};
  // Versions kept per app (older ones are removed).
  size_t max_versions = 50;
  // Seed of task and deployment ids (0: random).
  uint64_t seed = 0;
  // First service port handed out for port definitions with port 0.
  int64_t service_port_base = 10000;
  // The program that runs a task with COMMAND health checks beside it on its agent
  // (tessera-marathon-executor); empty: COMMAND checks are not run.
  std::string command_executor;
};

// What a piece of work costs, for /metrics and bench/: how often it ran, in seconds of real time.
struct WorkStatistics {
  uint64_t count = 0;
  double total_seconds = 0;
  double max_seconds = 0;

  void add(double seconds) {
    ++count;
    total_seconds += seconds;
    max_seconds = std::max(max_seconds, seconds);
  }
};
// Every converge() call that ran (not one nested in another).
using ConvergeStatistics = WorkStatistics;

// An app's state as the API shows it.
struct AppCounts {
  int64_t staged = 0;
  int64_t running = 0;
  int64_t healthy = 0;
  int64_t unhealthy = 0;
};

class Scheduler {
 public:
  Scheduler(sdk::Clock& clock, Driver& driver, SchedulerOptions options = {});
  // Cancels the scheduler's timers (a deposed leader drops its Scheduler while they are set).
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Recovery: what the store held. Call before serving; adopt() restores state without
  // persisting it again.
  void adopt_app(App app);
  void adopt_group(GroupSpec group);
  void adopt_version(App app);
  void adopt_task(const StoredTask& task);
  void adopt_deployment(const StoredDeployment& stored);
  // A backoff whose app is unknown is ignored; one that has run out is dropped.
  void adopt_backoff(const StoredBackoff& stored);

  // API changes. Each returns the deployment it started (id, version) or the problem.
  struct Change {
    std::string deployment_id;
    std::string version;
  };
  // The app must be new.
  Change create_app(App app);
  // Replaces (or creates) the app: a scale when only instances changed, else a restart.
  Change update_app(App app);
  Change delete_app(const std::string& app_id);
  Change restart_app(const std::string& app_id);
  // A group change as one deployment: `targets` are created or updated (unchanged ones are left
  // out of it), `removals` removed; the group definitions `groups` are stored (the version of
  // the deployment) and `removed_groups` forgotten at once, and the deployment keeps what they
  // were so that rolling it back restores them. Dependencies must not form a cycle (see
  // dependency_cycle).
  Change deploy_group(std::vector<App> targets, const std::vector<std::string>& removals,
                      std::vector<GroupSpec> groups = {},
                      const std::vector<std::string>& removed_groups = {});
  // The steps deploy_group would give the same change, without making it (Marathon's
  // `dryRun=true`).
  std::vector<std::vector<DeploymentAction>> plan_group(
      const std::vector<App>& targets, const std::vector<std::string>& removals,
      const std::vector<GroupSpec>& groups = {},
      const std::vector<std::string>& removed_groups = {}) const;
  // An app of a cycle among the apps' dependencies (their own and their groups', see
  // dependencies_of) once `targets` replace the apps of the same id, `removals` are gone and
  // `groups` replace the group definitions of the same id; nullopt when there is none.
  std::optional<std::string> dependency_cycle(const std::vector<App>& targets,
                                              const std::vector<std::string>& removals,
                                              const std::vector<GroupSpec>& groups = {}) const;
  // The apps `app_id` waits for in a deployment: its own dependencies and those of every group
  // above it, each an app or every app below a group, among `app_ids` (the app itself when a
  // group above it depends on a group that holds it: a cycle).
  std::set<std::string> dependencies_of(const std::string& app_id,
                                        const std::vector<std::string>& own,
                                        const std::set<std::string>& app_ids,
                                        const std::map<std::string, GroupSpec>& groups) const;
  // Cancels (force) or rolls back the deployment. False when there is none.
  std::optional<Change> cancel_deployment(const std::string& id, bool force);
  // Kills tasks; `scale` lowers instances by as many, each app's in a ScaleApplication
  // deployment (added to `scalings` when given). Returns the tasks killed.
  std::vector<Task> kill_tasks(const std::vector<std::string>& task_ids, bool scale,
                               std::vector<Change>* scalings = nullptr);
  // Forgets the app's launch delay here and in the store (DELETE /v2/queue/{id}/delay, a
  // config change, a healthy run); waiting instances launch at the next offers.
  void reset_backoff(const std::string& app_id);

  // From the master.
  void on_offers(const std::vector<protocol::scheduler::Offer>& offers);
  void on_update(const protocol::TaskStatus& status);
  void on_agent_lost(const std::string& agent_id);
  // A health check result for `task_id`'s check number `index`.
  void on_health(const std::string& task_id, size_t index, bool alive, const std::string& cause);
  // Timers call this; it also runs after every change.
  void converge();

  // Reads for the API.
  const std::map<std::string, App>& apps() const { return apps_; }
  // The groups defined through /v2/groups (a group may also exist only through its apps' ids).
  const std::map<std::string, GroupSpec>& groups() const { return groups_; }
  // Whether the group exists: the root, a defined group, or an app below it.
  bool group_exists(const std::string& group_id) const;
  const App* app(const std::string& id) const;
  const std::map<std::string, Task>& tasks() const { return tasks_; }
  std::vector<const Task*> tasks_of(const std::string& app_id) const;
  const std::map<std::string, Deployment>& deployments() const { return deployments_; }
  const Deployment* deployment_of(const std::string& app_id) const;
  const std::map<std::string, App>* versions(const std::string& app_id) const;
  AppCounts counts(const std::string& app_id) const;
  bool healthy(const Task& task) const;
  // How many instances of the app wait for offers (0 when none).
  int64_t waiting(const std::string& app_id) const;
  const OfferStatistics* statistics(const std::string& app_id) const;
  const Backoff* backoff(const std::string& app_id) const;
  std::optional<std::string> queued_since(const std::string& app_id) const;
  const std::map<std::string, boost::json::object>& last_task_failures() const {
    return last_failures_;
  }
  sdk::Clock& clock() { return clock_; }
  const ConvergeStatistics& converge_statistics() const { return converge_statistics_; }
  // Every on_offers() call: judging each offer for each waiting app, and placing instances.
  const WorkStatistics& offer_round_statistics() const { return offer_round_statistics_; }
  // Whether COMMAND health checks are run (an executor to run them beside the task is set).
  bool runs_command_checks() const { return !options_.command_executor.empty(); }

  // JSON views.
  boost::json::object task_json(const Task& task) const;
  boost::json::object deployment_json(const Deployment& deployment) const;
  static StoredTask stored(const Task& task);
  static StoredDeployment stored(const Deployment& deployment);

  // ISO 8601 with milliseconds, from the wall clock; strictly after `after` when given.
  std::string timestamp(const std::string& after = "") const;

 private:
  struct Launchable {
    std::string app_id;
    int64_t count = 0;
  };

  Change start_deployment(const App& target, std::optional<App> previous,
                          std::vector<std::vector<DeploymentAction>> steps, bool stop = false);
  // Replaces the deployments that affect any of its apps, stores and starts it.
  Change start_deployment(Deployment deployment);
  // Moves deployments on past their finished steps, finishes or rolls back those that are
  // done or stuck. True when a step was passed (the apps it released need converging).
  bool advance_deployments();
  void finish_deployment(const std::string& id, bool success, const std::string& reason);
  // A new deployment back to what `deployment` changed.
  Change roll_back(const Deployment& deployment);
  // The group definitions as they are once `deployment`'s group changes are reverted, as
  // Marathon reverts them: a removed group comes back with its dependencies, a changed one gets
  // back the dependencies it lost and loses those it gained, a created one goes if nothing was
  // put in it meanwhile (else it only loses its dependencies). `leaving` are apps the rollback
  // removes: they do not keep a group.
  std::map<std::string, GroupSpec> reverted_groups(const Deployment& deployment,
                                                   const std::set<std::string>& leaving) const;
  void store_app(const App& app);
  // What a group change does to an existing app (its service ports kept): RestartApplication
  // for a new config, ScaleApplication for other instances or dependencies, nothing when it
  // is left as it is.
  static std::optional<std::string> change_action(const App& previous, const App& target);
  void converge_app(const std::string& app_id);
  // Converges the apps marked as changed (changed_apps_), then whatever passing a deployment
  // step releases, until nothing moves. converge() marks every app first.
  void converge_changed();
  void mark_changed(const std::string& app_id) { changed_apps_.insert(app_id); }
  void mark_changed(const Deployment& deployment);
  // deployment_by_app_ follows deployments_ through these two.
  void index_deployment(const Deployment& deployment);
  void unindex_deployment(const Deployment& deployment);
  // Calls converge() at `at` if the app's backoff still stands then (a healthy run long enough
  // resets it; nothing else would look at the app when nothing changes).
  void schedule_backoff_check(const std::string& app_id, sdk::Clock::Monotonic::time_point at);
  void kill(Task& task);
  void task_terminal(Task& task, const protocol::TaskStatus& status);
  void record_failure(const std::string& app_id);
  // Says once per app version that a LIKE or UNLIKE pattern was too costly to match (Driver::warn).
  void report_undecided(const App& app, const Constraint& constraint, const Placement& placement);
  static void record_unused(OfferStatistics& stats, const protocol::scheduler::Offer& offer,
                            std::vector<RejectReason> reasons, const std::string& now_text);
  std::vector<Task*> app_tasks(const std::string& app_id);
  std::vector<Task*> active_tasks(const std::string& app_id);
  std::vector<Placement> placements(const std::string& app_id) const;
  std::string new_id();
  std::string new_task_id(const std::string& app_id);
  void assign_service_ports(App& app, const App* previous);
  void emit(const std::string& type, boost::json::object body);
  // Runs `action` at `at` (a timer the destructor cancels).
  void schedule(sdk::Clock::Monotonic::time_point at, std::function<void()> action);
  void schedule_revive(sdk::Clock::Monotonic::time_point at);

  sdk::Clock& clock_;
  Driver& driver_;
  SchedulerOptions options_;
  std::mt19937_64 random_;
  std::map<std::string, App> apps_;
  std::map<std::string, GroupSpec> groups_;
  std::map<std::string, std::map<std::string, App>> versions_;
  std::map<std::string, Task> tasks_;
  std::map<std::string, std::set<std::string>> by_app_;   // task ids by app id
  std::map<std::string, Deployment> deployments_;         // by id
  std::map<std::string, std::string> deployment_by_app_;  // app id -> the id of its deployment
  std::map<std::string, int64_t> to_launch_;              // by app id
  std::map<std::string, std::string> queued_since_;
  std::map<std::string, OfferStatistics> statistics_;
  // App id -> the version whose LIKE or UNLIKE pattern was found too costly to match (and said
  // so once, not at every offer).
  std::map<std::string, std::string> undecided_reported_;
  std::map<std::string, Backoff> backoff_;
  std::map<std::string, boost::json::object> last_failures_;
  std::set<int64_t> service_ports_used_;
  uint64_t sequence_ = 0;
  bool converging_ = false;
  ConvergeStatistics converge_statistics_;
  WorkStatistics offer_round_statistics_;
  // Per app of a deployment, as of its last converging: whether it has reached its target (its
  // current config, as many healthy tasks as instances, nothing being killed) and a summary
  // that changes when it progresses.
  std::set<std::string> settled_;
  std::map<std::string, std::string> progress_;
  // Apps to converge at the next pass: those whose definition, tasks, health or deployment
  // changed since they were last converged (a status update touches one app, not thousands).
  std::set<std::string> changed_apps_;
  std::set<std::string> backoff_checks_;  // apps with a schedule_backoff_check timer set
  std::set<sdk::Clock::TimerId> revive_timers_;
};

// "2025-01-01T00:00:00.000Z": Marathon's form of versions and timestamps.
std::string format_iso8601(sdk::Clock::Wall::time_point time);
// Milliseconds since the epoch of a time in that form; nullopt for any other text.
std::optional<int64_t> parse_iso8601_ms(std::string_view text);

}  // namespace tessera::marathon

// The Chronos framework plugin: drives the scheduler core (scheduler_core.h) from the plugin's
// loop, on the plugin's clock, against the real cluster and store, and serves Chronos 3's
// /v1/scheduler REST API.
//
// - Leadership: it acts only while its host leads (sdk::Leadership). On election it reads every
//   job back from the store (one key per job), restores the core (missed times follow each
//   job's catch-up policy), then subscribes as a framework with the framework id it saved; when
//   deposed it drops everything in memory and stops launching.
// - Exactly once: every change the core makes is written to the store (fenced to the term)
//   before its actions are carried out, and a status update is acknowledged only once what it
//   changed is stored; so a restarted or failed-over scheduler finds every run it launched in
//   flight and every time it consumed behind the job's consumedUntil.
// - Launching: runs wait in a queue until an offer fits them (cpus, mem, disk, constraints).
//   After each (re)subscription the runs in flight are reconciled with the master; one the
//   cluster still does not know after `reconcile_grace_ms` is launched again under the same
//   task id if it never started, or counted as failed (and retried) if it had.
//
// Threading: everything runs on the plugin's loop thread (SDK rule); no locks.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "output_reader.h"
#include "scheduler_core.h"
#include "tessera/sdk/http.h"
#include "tessera/sdk/leadership.h"
#include "tessera/sdk/plugin.h"
#include "tessera/sdk/scheduler.h"
#include "tessera/sdk/store.h"
#include "tessera/sdk/store_writer.h"

namespace tessera::chronos {

// The store key of the leader's REST address (HOST:PORT), which standbys forward requests to.
inline constexpr const char* kLeaderKey = "leader";

// The plugin's TOML table (README lists each key).
struct FrameworkSettings {
  std::string http_host = "127.0.0.1";
  uint16_t http_port = 4400;
  sdk::http::ServerOptions http;
  std::string framework_name = "chronos";
  std::string role = "*";
  std::string user;
  std::string master;  // empty: the host's leader plugin
  double failover_timeout_seconds = 604800;
  double kill_grace_seconds = 3;
  std::chrono::milliseconds reconcile_grace{10000};
  std::chrono::milliseconds reconcile_interval{1000};
  SchedulerConfig scheduler;
};

class ChronosFramework : public sdk::FrameworkPlugin {
 public:
  explicit ChronosFramework(sdk::PluginContext& context);
  ~ChronosFramework() override;
  ChronosFramework(const ChronosFramework&) = delete;
  ChronosFramework& operator=(const ChronosFramework&) = delete;

  Status configure(sdk::ConfigTable& table) override;
  Status start() override;
  void stopping() override;

 private:
  // Called when a commit is over: ok when the changes are stored and the actions carried out.
  using Committed = std::function<void(const Status&)>;

  // ---- Leadership and recovery.
  void elected();
  void deposed();
  void recover();
  // What recover() reads: the jobs, their scheduling states and their run histories.
  struct Listings {
    sdk::Listing<std::string> jobs;
    sdk::Listing<std::string> states;
    sdk::Listing<std::string> history;
  };
  void recovered(const Listings& listings, const std::string& framework_id);
  void subscribe(const std::string& framework_id);
  void subscribed(const std::string& framework_id);

  // ---- Scheduling.
  TimePoint now() const;
  void arm_wakeup();
  void wake_up();
  // Stores what the core changed, then carries out `actions`; `done` after both (or the error).
  void commit(std::vector<Action> actions, Committed done = {});
  // Store writes (through writer_): those of the jobs' scheduling state first, then histories,
  // gathered into batches (one store request and commit each), two in flight at a time, each
  // kind in order. A value of nullopt deletes the key.
  enum class WriteKind { job, history };
  void write(WriteKind kind, const std::string& key, std::optional<std::string> value,
             sdk::Store::Done<uint64_t> done);
  void settled();
  void save_histories();
  void save_histories_soon();

  // Writes the jobs whose runs started (and nothing else changed) within kStartedDelay.
  void store_starts_soon();
  void carry_out(const std::vector<Action>& actions);
  // ---- Offers. Runs are placed on the offers held (on the next turn of the loop, so that the
  // runs whose writes were answered together go out together); the runs left waiting revive
  // offers.
  void place_soon();
  void place_waiting();
  // Keeps the unused offers while more runs are about to be queued (launching()), for at most
  // kOfferHold each, and declines the others.
  void release_offers();
  // True while more runs are about to be queued for offers: due jobs not yet decided, or launch
  // decisions not yet stored.
  bool launching() const;
  // Whether work that can wait (history writes, storing starts) waits for the launches: true
  // while launching(), for at most kLaunchHold from the first time it was asked (`since`).
  bool hold_for_launches(sdk::Clock::Monotonic::time_point& since);
  void kill(const KillRun& kill);
  void on_offers(const std::vector<protocol::scheduler::Offer>& offers);
  protocol::TaskInfo task_for(const LaunchRun& launch, const Job& job,
                              const protocol::scheduler::Offer& offer) const;
  void on_update(const protocol::TaskStatus& status);
  void task_unknown(const protocol::TaskStatus& status);
  void finish(const std::string& task_id, RunOutcome outcome, std::optional<int> exit_status,
              const std::string& message, const std::string& output, Committed done);
  void reconcile();

  // ---- GET /jobs's answer, made ahead.
  // Every job's text joined, each job's text made if it is not kept.
  std::string jobs_listing();
  // Makes the answer once the jobs stop changing (kListingQuiet), a part at a time from `from`.
  void render_listing_soon();
  void render_listing(const std::string& from);

  // ---- REST API (rest_api.cpp).
  void add_routes();
  // Runs `handler` only while this scheduler leads and has recovered; otherwise 503.
  // A route's handler that runs while this host leads and has read its jobs; a standby proxies
  // the request to the leader (as Chronos's RedirectFilter), a leader still reading answers 503.
  sdk::http::AsyncHandler when_ready(sdk::http::Handler handler);
  sdk::http::AsyncHandler when_ready(sdk::http::AsyncHandler handler);
  void forward_to_leader(const sdk::http::Request& request, sdk::http::Responder answer);
  void post_job(const sdk::http::Request& request, sdk::http::Responder answer, JobForm form);
  // Answers 204 (or `ok`) once the actions' changes are stored.
  void answer_after_commit(Result<std::vector<Action>> actions, sdk::http::Responder answer,
                           sdk::http::Response ok);

  // One commit: its store writes still unanswered (plus one while it is being made), the first
  // error, and what to do once they are stored.
  struct Batch {
    size_t remaining = 1;
    std::string error;
    uint64_t term = 0;
    // Actions carried out as soon as their job's write is stored, by job.
    std::map<std::string, std::vector<Action>> by_job;
    // The writes of each job still unanswered (its definition, state, removal).
    std::map<std::string, size_t> writes_left;
    // Actions that wait for no write of their own: carried out when the whole batch is stored.
    std::vector<Action> actions;
    Committed done;
  };

  FrameworkSettings settings_;
  std::unique_ptr<sdk::Leadership> leadership_;
  std::unique_ptr<sdk::Store> store_;
  std::unique_ptr<sdk::StoreWriter> writer_;  // see write()
  std::unique_ptr<sdk::SchedulerClient> client_;
  std::unique_ptr<sdk::http::Server> server_;
  std::unique_ptr<SchedulerCore> core_;
  std::unique_ptr<OutputReader> output_;  // finished runs' output, through the master
  std::string http_address_;
  std::unique_ptr<sdk::http::Client> proxy_;  // a standby's requests to the leader
  // GET /jobs's answer, kept until a job changes, and each job's part of it, kept until that
  // job changes: after a few changes the listing is put together again from the parts rather
  // than from every job (10,000 jobs are 6.5 MB of JSON).
  std::optional<std::string> jobs_listing_;
  std::map<std::string, std::string> job_texts_;
  sdk::Clock::Monotonic::time_point last_job_change_{};
  sdk::Clock::TimerId render_timer_ = 0;
  std::string framework_id_;
  // True while leading and recovered: only then are the core and the API live.
  bool ready_ = false;
  // One more at every election and deposition, so that callbacks of an earlier term do nothing.
  uint64_t term_ = 0;
  sdk::Clock::TimerId wakeup_timer_ = 0;
  sdk::Clock::TimerId reconcile_timer_ = 0;
  sdk::Clock::TimerId history_timer_ = 0;
  sdk::Clock::TimerId place_timer_ = 0;
  sdk::Clock::TimerId offer_timer_ = 0;
  // Offers not used yet, kept while runs are about to be queued (release_offers), with when
  // each came.
  struct HeldOffer {
    protocol::scheduler::Offer offer;
    sdk::Clock::Monotonic::time_point since;
  };
  std::vector<HeldOffer> held_offers_;
  // Runs decided by commits whose writes are not yet answered (carried out, they wait in
  // waiting_ or are sent).
  size_t launches_unstored_ = 0;
  // Since when history writes and the storing of starts have waited for launches.
  sdk::Clock::Monotonic::time_point histories_held_since_{};
  sdk::Clock::Monotonic::time_point starts_held_since_{};
  // Jobs whose run history changed since it was last written.
  std::set<std::string> unsaved_histories_;
  // Jobs whose runs started since their state was last written (SchedulerCore::Dirty's
  // `started`), and whether the next commit writes them.
  std::set<std::string> unstored_starts_;
  bool store_starts_now_ = false;
  sdk::Clock::TimerId started_timer_ = 0;
  // Commits in the order they were made; settled() finishes them in that order.
  std::deque<std::shared_ptr<Batch>> batches_;
  // Runs waiting for an offer, oldest first.
  std::deque<LaunchRun> waiting_;
  // Tasks in flight the master has not yet told this subscription about (task -> agent).
  std::map<std::string, std::string> unconfirmed_;
  sdk::Clock::Monotonic::time_point subscribed_at_{};
  // Tasks a kill was asked for; sent again after a re-subscription.
  std::set<std::string> killing_;
};

}  // namespace tessera::chronos

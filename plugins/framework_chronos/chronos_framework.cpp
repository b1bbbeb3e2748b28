#include "chronos_framework.h"

#include <algorithm>
#include <fstream>

#include "json_fields.h"
#include "offer_matching.h"
#include "tessera/protocol/task.h"

namespace tessera::chronos {

namespace state = protocol::state;
using std::chrono::milliseconds;

namespace {

constexpr const char* kJobsPrefix = "jobs/";
constexpr const char* kStatePrefix = "state/";
constexpr const char* kHistoryPrefix = "history/";
constexpr const char* kFrameworkIdKey = "framework_id";
// How long to wait before reading the store again after a failed read or write.
constexpr milliseconds kRecoveryRetry{1000};
// The longest a wake-up timer is set for: a wall clock that jumps is noticed this soon.
constexpr milliseconds kLongestSleep{30000};
// Store batches in flight at once (see write()).
constexpr size_t kMaxBatchesInFlight = 2;
// How long a changed run history waits before it is written (changes in between are merged).
constexpr milliseconds kHistoryDelay{1000};
// GET /jobs's answer is made ahead of the request once no job has changed for this long, this
// many jobs' texts at a time.
constexpr milliseconds kListingQuiet{250};
constexpr size_t kListingPart = 1000;
// The most scheduled jobs decided in one turn of the loop (wake_up).
constexpr size_t kJobsPerTick = 500;
// The longest a job whose runs started waits to be written when nothing else changes it.
constexpr milliseconds kStartedDelay{1000};
// How long an unused offer is kept while more runs are about to be queued: the runs stored a
// moment later go out on it at once, instead of reviving offers and waiting for the allocator's
// next cycle (up to its allocation_interval_ms, 1 s by default, while a burst keeps it busy).
constexpr milliseconds kOfferHold{3000};
// The longest history writes and the storing of starts wait for a burst of launches to be
// stored and sent (hold_for_launches).
constexpr milliseconds kLaunchHold{5000};

// What a run asks when it must never be placed (its job is gone, or it was placed already).
RunDemand never_fits() { return RunDemand{1e12, 1e12, 1e12, {}}; }

RunDemand demand_of(const Job& job) {
  return RunDemand{job.cpus, job.mem, job.disk, job.constraints};
}

std::vector<std::string> split_words(const std::string& text) {
  std::vector<std::string> words;
  std::string word;
  for (char c : text) {
    if (c == ' ' || c == '\t') {
      if (!word.empty()) words.push_back(std::move(word));
      word.clear();
    } else {
      word += c;
    }
  }
  if (!word.empty()) words.push_back(std::move(word));
  return words;
}

}  // namespace

ChronosFramework::ChronosFramework(sdk::PluginContext& context) : FrameworkPlugin(context) {}

ChronosFramework::~ChronosFramework() = default;

Status ChronosFramework::configure(sdk::ConfigTable& table) {
  std::string address = table.get<std::string>("address", "127.0.0.1:4400");
  size_t colon = address.rfind(':');
  bool port_ok = colon != std::string::npos && colon + 1 < address.size() &&
                 address.size() - colon - 1 <= 5 &&
                 std::all_of(address.begin() + static_cast<std::ptrdiff_t>(colon) + 1,
                             address.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!port_ok || colon == 0 || std::stoi(address.substr(colon + 1)) > 65535) {
    table.error_at("address", "'" + address + "' is not HOST:PORT (port 0 to 65535)");
  } else {
    settings_.http_host = address.substr(0, colon);
    settings_.http_port = static_cast<uint16_t>(std::stoi(address.substr(colon + 1)));
  }
  auto http_table = table.table("http");
  settings_.http = sdk::http::ServerOptions::from_config(http_table);
  http_table.reject_unknown_keys();

  settings_.framework_name = table.get<std::string>("framework_name", "chronos");
  settings_.role = table.get<std::string>("role", "*");
  settings_.user = table.get<std::string>("user", "");
  settings_.master = table.get<std::string>("master", "");
  settings_.failover_timeout_seconds =
      static_cast<double>(table.integer("failover_timeout_seconds", 604800, 0, 31536000));
  settings_.kill_grace_seconds =
      static_cast<double>(table.integer("kill_grace_seconds", 3, 0, 600));
  settings_.reconcile_grace = milliseconds(table.integer("reconcile_grace_ms", 10000, 0, 3600000));
  // Before runs' output came through the master, it was read from these directories.
  if (!table.get<std::vector<std::string>>("agent_work_dirs", {}).empty()) {
    log().warn("'agent_work_dirs' is no longer used: runs' output is read through the master");
  }

  SchedulerConfig& scheduler = settings_.scheduler;
  auto amount = [&](const char* key, double fallback) {
    double value = table.get<double>(key, fallback);
    if (!(value > 0 && value <= 1e6)) {
      table.error_at(key, "expected a number above 0 and at most 1000000");
      return fallback;
    }
    return value;
  };
  scheduler.job_defaults.cpus = amount("task_cpus", 0.1);
  scheduler.job_defaults.mem = amount("task_mem", 128);
  scheduler.job_defaults.disk = amount("task_disk", 256);
  scheduler.job_defaults.run_as_user = table.get<std::string>("task_user", "");
  std::string epsilon = table.get<std::string>("task_epsilon", "PT60S");
  if (auto parsed = parse_duration(epsilon); parsed) {
    scheduler.job_defaults.epsilon = *parsed;
  } else {
    table.error_at("task_epsilon", parsed.error().message);
  }
  std::string catch_up = table.choice("catch_up_policy", "once", {"skip", "once", "all"});
  scheduler.job_defaults.catch_up = catch_up == "skip"  ? CatchUpPolicy::skip
                                    : catch_up == "all" ? CatchUpPolicy::all
                                                        : CatchUpPolicy::once;
  scheduler.failure_retry_delay =
      milliseconds(table.integer("failure_retry_ms", 60000, 0, 86400000));
  scheduler.disable_after_failures = table.integer("disable_after_failures", 0, 0, 1000000);
  scheduler.history_limit = static_cast<size_t>(table.integer("history_limit", 20, 1, 1000));
  scheduler.output_tail_limit =
      static_cast<size_t>(table.integer("output_tail_bytes", 2048, 0, 65536));
  return {};
}

Status ChronosFramework::start() {
  output_ = std::make_unique<OutputReader>(bus(), settings_.scheduler.output_tail_limit);
  server_ = std::make_unique<sdk::http::Server>(loop(), log(), settings_.http);
  add_routes();
  auto address = server_->listen(settings_.http_host, settings_.http_port);
  if (!address) return address.error().context("Chronos REST API");
  http_address_ = *address;
  context().announce("http", http_address_);
  log().info("Chronos REST API on {}", http_address_);

  leadership_ = std::make_unique<sdk::Leadership>(bus(), clock());
  store_ = std::make_unique<sdk::Store>(bus(), clock());
  store_->fence_with(leadership_.get());
  sdk::StoreWriterOptions writing;
  writing.lanes = 2;  // WriteKind: the jobs' scheduling state before histories
  writing.max_batches_in_flight = kMaxBatchesInFlight;
  writer_ = std::make_unique<sdk::StoreWriter>(*store_, writing);
  leadership_->on_elected = [this](uint64_t) { elected(); };
  leadership_->on_deposed = [this] { deposed(); };
  return leadership_->start();
}

void ChronosFramework::stopping() {
  output_.reset();
  client_.reset();
  server_.reset();
}

// ---- Leadership and recovery.

void ChronosFramework::elected() {
  deposed();
  log().info("leading: reading the jobs from the store");
  recover();
}

void ChronosFramework::deposed() {
  ++term_;
  ready_ = false;
  client_.reset();
  core_.reset();
  jobs_listing_.reset();
  job_texts_.clear();
  waiting_.clear();
  unconfirmed_.clear();
  killing_.clear();
  // Offers are void once the subscription is (client_ is gone).
  held_offers_.clear();
  launches_unstored_ = 0;
  histories_held_since_ = {};
  starts_held_since_ = {};
  // What was not yet stored is not acted on; whoever waits for it hears so.
  std::deque<std::shared_ptr<Batch>> abandoned;
  abandoned.swap(batches_);
  for (const auto& batch : abandoned) {
    if (batch->done) batch->done(make_error(ErrorCode::kUnavailable, "no longer leading"));
  }
  unsaved_histories_.clear();
  unstored_starts_.clear();
  store_starts_now_ = false;
  if (writer_) writer_->drop("no longer leading");
  for (sdk::Clock::TimerId* timer :
       {&wakeup_timer_, &reconcile_timer_, &history_timer_, &place_timer_, &offer_timer_,
        &started_timer_, &render_timer_}) {
    if (*timer != 0) clock().cancel(*timer);
    *timer = 0;
  }
}

void ChronosFramework::recover() {
  uint64_t term = term_;
  auto retry = [this, term](const std::string& why) {
    if (term != term_) return;
    log().error("cannot read the jobs from the store: {}; retrying", why);
    clock().after(kRecoveryRetry, [this, term] {
      if (term == term_) recover();
    });
  };
  auto listings = std::make_shared<Listings>();
  store_->list<std::string>(kJobsPrefix, [this, term, retry, listings](auto jobs) {
    if (term != term_) return;
    if (!jobs) return retry(jobs.error().message);
    listings->jobs = std::move(*jobs);
    store_->list<std::string>(kStatePrefix, [this, term, retry, listings](auto states) {
      if (term != term_) return;
      if (!states) return retry(states.error().message);
      listings->states = std::move(*states);
      store_->list<std::string>(kHistoryPrefix, [this, term, retry, listings](auto history) {
        if (term != term_) return;
        if (!history) return retry(history.error().message);
        listings->history = std::move(*history);
        store_->get<std::string>(kFrameworkIdKey, [this, term, retry, listings](auto id) {
          if (term != term_) return;
          if (!id) return retry(id.error().message);
          recovered(*listings, *id ? (*id)->value : std::string());
        });
      });
    });
  });
}

void ChronosFramework::recovered(const Listings& listings, const std::string& framework_id) {
  core_ = std::make_unique<SchedulerCore>(settings_.scheduler);
  std::vector<boost::json::value> saved;
  for (const auto& entry : listings.jobs.entries) {
    boost::system::error_code error;
    boost::json::value value = boost::json::parse(entry.value, error);
    if (error) {
      log().error("stored job {} is not JSON ({}); skipped", sdk::quote(entry.key),
                  error.message());
      continue;
    }
    saved.push_back(std::move(value));
  }
  std::map<std::string, boost::json::value> states;
  for (const auto& entry : listings.states.entries) {
    boost::system::error_code error;
    boost::json::value value = boost::json::parse(entry.value, error);
    // Kept as it is: restore() drops the job of a state it cannot read.
    if (error) value = nullptr;
    states.emplace(entry.key.substr(std::string(kStatePrefix).size()), std::move(value));
  }
  auto report = core_->restore(saved, now(), states);
  for (const std::string& dropped : report.dropped) {
    log().error("stored {} was dropped", sdk::printable(dropped, 1000));
  }
  for (const auto& entry : listings.history.entries) {
    std::string name = entry.key.substr(std::string(kHistoryPrefix).size());
    boost::system::error_code error;
    boost::json::value value = boost::json::parse(entry.value, error);
    if (error || core_->find_job(name) == nullptr) continue;
    if (auto s = core_->restore_history(name, value); !s) {
      log().warn("history of job {} not restored: {}", sdk::quote(name), s.error().message);
    }
  }
  log().info("restored {} job(s) from the store", report.restored);
  framework_id_ = framework_id;
  ready_ = true;
  store_->put(kLeaderKey, http_address_);
  render_listing_soon();
  commit({});
  subscribe(framework_id);
}

void ChronosFramework::subscribe(const std::string& framework_id) {
  sdk::FrameworkInfo info;
  info.framework_id = framework_id;
  info.name = settings_.framework_name;
  info.roles = {settings_.role};
  info.failover_timeout_seconds = settings_.failover_timeout_seconds;
  info.user = settings_.user;
  sdk::SchedulerOptions options;
  options.master = settings_.master;
  // Acknowledged only once what an update changed is stored (on_update).
  options.auto_acknowledge = false;
  client_ = std::make_unique<sdk::SchedulerClient>(bus(), info, options);
  client_->on_subscribed = [this](const std::string& id) { subscribed(id); };
  client_->on_offers = [this](const std::vector<protocol::scheduler::Offer>& offers) {
    on_offers(offers);
  };
  client_->on_rescind = [this](const std::string& offer_id) {
    std::erase_if(held_offers_,
                  [&](const HeldOffer& held) { return held.offer.offer_id == offer_id; });
  };
  client_->on_update = [this](const protocol::TaskStatus& status) { on_update(status); };
  client_->on_error = [this](const std::string& message) {
    log().error("the master refused framework {}: {}", sdk::quote(framework_id_), message);
  };
  client_->start();
}

void ChronosFramework::subscribed(const std::string& framework_id) {
  if (framework_id != framework_id_) {
    framework_id_ = framework_id;
    store_->put(kFrameworkIdKey, framework_id, [this](const sdk::StoreResult<uint64_t>& r) {
      if (!r) log().error("cannot save the framework id: {}", r.error().message);
    });
  }
  // What was in flight before this subscription is confirmed by reconciliation; what waits for
  // an offer has not been sent. Offers of an earlier subscription are void.
  unconfirmed_.clear();
  held_offers_.clear();
  subscribed_at_ = clock().now();
  std::set<std::string> waiting;
  for (const LaunchRun& launch : waiting_) waiting.insert(launch.task_id);
  for (const auto& active : core_->active_tasks()) {
    if (waiting.count(active.launch.task_id) == 0)
      unconfirmed_[active.launch.task_id] = active.agent;
    if (killing_.count(active.launch.task_id) != 0) {
      client_->kill(active.launch.task_id, active.agent);
    }
  }
  if (!waiting_.empty()) client_->revive();
  reconcile();
  if (reconcile_timer_ == 0) {
    reconcile_timer_ = clock().every(settings_.reconcile_interval, [this] { reconcile(); });
  }
}

// ---- Scheduling.

TimePoint ChronosFramework::now() const {
  return std::chrono::time_point_cast<Millis>(
      const_cast<ChronosFramework*>(this)->clock().wall_now());
}

void ChronosFramework::arm_wakeup() {
  if (wakeup_timer_ != 0) clock().cancel(wakeup_timer_);
  wakeup_timer_ = 0;
  if (!ready_) return;
  auto next = core_->next_wakeup();
  if (!next) return;
  auto delay = std::clamp(std::chrono::duration_cast<milliseconds>(*next - now()), milliseconds(0),
                          kLongestSleep);
  wakeup_timer_ = clock().after(delay, [this] {
    wakeup_timer_ = 0;
    wake_up();
  });
}

void ChronosFramework::wake_up() {
  if (!ready_) return;
  // A part of the due jobs per turn of the loop: their writes go to the store while the next
  // part is decided, and status updates and offers are served in between (10,000 jobs due at
  // one second held the loop 0.35 to 1.4 s in one tick, and the first launch waited for all).
  commit(core_->tick(now(), kJobsPerTick));
  if (auto next = core_->next_wakeup(); next && *next <= now()) arm_wakeup();
}

void ChronosFramework::commit(std::vector<Action> actions, Committed done) {
  auto batch = std::make_shared<Batch>();
  batch->term = term_;
  batch->done = std::move(done);
  batches_.push_back(batch);
  SchedulerCore::Dirty dirty = core_->take_dirty();
  if (!dirty.changed.empty() || !dirty.removed.empty()) {
    jobs_listing_.reset();
    render_listing_soon();
  }
  for (const std::string& name : dirty.changed) job_texts_.erase(name);
  for (const std::string& name : dirty.removed) job_texts_.erase(name);
  // Jobs whose runs only started are written later, with the next change of each or at the
  // latest kStartedDelay on: the update was acknowledged already (on_update says why).
  unstored_starts_.insert(dirty.started.begin(), dirty.started.end());
  for (const std::string& name : dirty.changed) unstored_starts_.erase(name);
  for (const std::string& name : dirty.removed) unstored_starts_.erase(name);
  if (store_starts_now_) {
    store_starts_now_ = false;
    dirty.changed.insert(dirty.changed.end(), unstored_starts_.begin(), unstored_starts_.end());
    unstored_starts_.clear();
  } else if (!unstored_starts_.empty()) {
    store_starts_soon();
  }
  std::set<std::string> written(dirty.changed.begin(), dirty.changed.end());
  written.insert(dirty.removed.begin(), dirty.removed.end());
  // An action waits only for its own job's write, so that of 10,000 runs due together the first
  // is launched when its job is stored, not when the last one is.
  for (Action& action : actions) {
    const std::string& job =
        std::visit([](const auto& a) -> const std::string& { return a.job; }, action);
    if (std::holds_alternative<LaunchRun>(action)) ++launches_unstored_;
    if (written.count(job) != 0) {
      batch->by_job[job].push_back(std::move(action));
    } else {
      batch->actions.push_back(std::move(action));
    }
  }
  // A job's actions are carried out once every write of the job in this commit is stored.
  auto stored = [this, batch](const std::string& job, const std::string& error) {
    if (!error.empty() && batch->error.empty()) batch->error = error;
    auto own = batch->by_job.find(job);
    if (own != batch->by_job.end() && --batch->writes_left[job] == 0) {
      std::vector<Action> ready = std::move(own->second);
      batch->by_job.erase(own);
      if (batch->error.empty() && batch->term == term_ && ready_) carry_out(ready);
    }
    if (--batch->remaining == 0) settled();
  };
  auto write_job_key = [&](const std::string& key, const std::string& name,
                           std::optional<std::string> value) {
    ++batch->remaining;
    ++batch->writes_left[name];
    write(WriteKind::job, key, std::move(value),
          [stored, name](const sdk::StoreResult<uint64_t>& r) {
            stored(name, r || r.code() == sdk::StoreCode::kNotFound ? "" : r.error().message);
          });
  };
  // A run changes only its job's state: the definition is written only when it changed, and
  // then alone, since it holds the state too and its newer version makes restore() pass over
  // the older state/ key (a POST is one write, not two).
  const std::set<std::string> defined(dirty.defined.begin(), dirty.defined.end());
  for (const std::string& name : dirty.changed) {
    if (core_->find_job(name) == nullptr) continue;
    if (defined.count(name) != 0) {
      write_job_key(kJobsPrefix + name, name, to_json_text(core_->save_job(name)));
    } else {
      write_job_key(kStatePrefix + name, name, to_json_text(core_->save_job_state(name)));
    }
  }
  for (const std::string& name : dirty.removed) {
    unsaved_histories_.erase(name);
    write_job_key(kJobsPrefix + name, name, std::nullopt);
    write_job_key(kStatePrefix + name, name, std::nullopt);
    write(WriteKind::history, kHistoryPrefix + name, std::nullopt, {});
  }
  // The history is only informative: it is written later, at most once a second per job,
  // without holding anything back.
  unsaved_histories_.insert(dirty.history_changed.begin(), dirty.history_changed.end());
  if (!unsaved_histories_.empty()) save_histories_soon();
  stored("", "");
}

std::string ChronosFramework::jobs_listing() {
  // The same text as the array written whole: items joined by ','.
  std::vector<const Job*> jobs = core_->jobs();
  size_t bytes = 2;
  for (const Job* job : jobs) {
    auto text = job_texts_.find(job->name);
    if (text == job_texts_.end()) {
      text = job_texts_.emplace(job->name, to_json_text(job_to_json(*job, true))).first;
    }
    bytes += text->second.size() + 1;
  }
  std::string listing;
  listing.reserve(bytes);
  listing += '[';
  for (const Job* job : jobs) {
    if (listing.size() > 1) listing += ',';
    listing += job_texts_.at(job->name);
  }
  listing += ']';
  return listing;
}

void ChronosFramework::render_listing_soon() {
  last_job_change_ = clock().now();
  if (render_timer_ == 0) {
    render_timer_ = clock().after(kListingQuiet, [this] {
      render_timer_ = 0;
      render_listing({});
    });
  }
}

void ChronosFramework::render_listing(const std::string& from) {
  if (!ready_ || jobs_listing_) return;
  // Only once the jobs have stopped changing for a moment: during a burst of runs every job
  // changes several times a second, and rendering them then would only take CPU from the runs.
  auto quiet = clock().now() - last_job_change_;
  if (launching()) quiet = {};
  if (quiet < kListingQuiet) {
    render_timer_ = clock().after(
        std::chrono::duration_cast<milliseconds>(kListingQuiet - quiet) + milliseconds(1),
        [this, from] {
          render_timer_ = 0;
          render_listing(from);
        });
    return;
  }
  // A part at a time, so that requests and status updates are served in between.
  std::vector<const Job*> jobs = core_->jobs();
  auto next =
      std::lower_bound(jobs.begin(), jobs.end(), from,
                       [](const Job* job, const std::string& name) { return job->name < name; });
  size_t rendered = 0;
  for (; next != jobs.end() && rendered < kListingPart; ++next) {
    if (job_texts_.count((*next)->name) != 0) continue;
    job_texts_.emplace((*next)->name, to_json_text(job_to_json(**next, true)));
    ++rendered;
  }
  if (next == jobs.end()) {
    jobs_listing_ = jobs_listing();
    return;
  }
  render_timer_ = clock().after(milliseconds(0), [this, from = (*next)->name] {
    render_timer_ = 0;
    render_listing(from);
  });
}

void ChronosFramework::save_histories_soon() {
  if (history_timer_ != 0) return;
  history_timer_ = clock().after(kHistoryDelay, [this] {
    history_timer_ = 0;
    save_histories();
  });
}

void ChronosFramework::store_starts_soon() {
  if (started_timer_ != 0) return;
  started_timer_ = clock().after(kStartedDelay, [this] {
    started_timer_ = 0;
    if (!ready_) return;
    // Not needed for exactly-once (on_update says why): while a burst of launches is being
    // stored, thousands of these writes would only queue before the launches' own.
    if (hold_for_launches(starts_held_since_)) return store_starts_soon();
    store_starts_now_ = true;
    commit({});
  });
}

void ChronosFramework::save_histories() {
  if (!ready_) return;
  // Only informative: written once the launches of a burst are out (or kLaunchHold on).
  if (hold_for_launches(histories_held_since_)) return save_histories_soon();
  std::set<std::string> names;
  names.swap(unsaved_histories_);
  for (const std::string& name : names) {
    if (core_->find_job(name) == nullptr) continue;
    write(WriteKind::history, kHistoryPrefix + name, to_json_text(core_->save_history(name)),
          [this, name](const sdk::StoreResult<uint64_t>& r) {
            if (!r) {
              log().warn("history of job {} not saved: {}", sdk::quote(name), r.error().message);
            }
          });
  }
}

void ChronosFramework::write(WriteKind kind, const std::string& key,
                             std::optional<std::string> value, sdk::Store::Done<uint64_t> done) {
  // A burst (10,000 runs due together, each changing its job three times) is written as a few
  // large batches rather than one request per write: a batch is one round trip and one commit
  // (one fsync) at the leader plugin, so the store keeps up, and while one batch is being
  // stored the next fills up. A job's state that changes again while its put still waits is
  // merged into that put, which answers both commits once stored (each needs its own change
  // stored, and the newest value holds it): a store write saved per change under load.
  size_t lane = kind == WriteKind::job ? 0 : 1;
  if (value) {
    writer_->put(key, *value, std::move(done), lane);
  } else {
    writer_->remove(key, std::move(done), lane);
  }
}

void ChronosFramework::settled() {
  // Batches finish in the order they were made, so the actions that waited for no write of
  // their own are carried out in the order the core decided them.
  while (!batches_.empty() && batches_.front()->remaining == 0) {
    std::shared_ptr<Batch> batch = batches_.front();
    batches_.pop_front();
    if (batch->term != term_ || !ready_) {
      if (batch->done) batch->done(make_error(ErrorCode::kUnavailable, "no longer leading"));
      continue;
    }
    if (!batch->error.empty()) {
      // What is in memory is no longer what is stored: read the store again.
      log().error("store write failed: {}; reloading the jobs from the store", batch->error);
      if (batch->done) batch->done(make_error(ErrorCode::kUnavailable, batch->error));
      bool leading = leadership_->leading();
      deposed();
      if (leading) recover();
      return;
    }
    carry_out(batch->actions);
    if (batch->done) batch->done({});
  }
  arm_wakeup();
  // The last launch of a burst may be stored without any run to place: the offers kept for it
  // go back at once.
  if (!held_offers_.empty()) release_offers();
}

void ChronosFramework::carry_out(const std::vector<Action>& actions) {
  bool launched = false;
  for (const Action& action : actions) {
    if (const auto* launch = std::get_if<LaunchRun>(&action)) {
      log().info("run {} of job {} is due (attempt {})", sdk::quote(launch->run_id),
                 sdk::quote(launch->job), launch->attempt);
      if (launches_unstored_ > 0) --launches_unstored_;
      waiting_.push_back(*launch);
      launched = true;
    } else if (const auto* killed = std::get_if<KillRun>(&action)) {
      kill(*killed);
    }
  }
  if (launched) place_soon();
}

void ChronosFramework::place_soon() {
  // One placement (and at most one revive) for all the runs queued by what is being handled
  // now: a batch's writes are answered together, and each job's runs are queued as its own
  // write is. Placing each job's run alone would take a whole offer per run.
  if (place_timer_ != 0) return;
  place_timer_ = clock().after(milliseconds(0), [this] {
    place_timer_ = 0;
    if (!client_ || !client_->subscribed()) return;
    place_waiting();
    if (!waiting_.empty()) client_->revive();
    release_offers();
  });
}

bool ChronosFramework::launching() const {
  if (!ready_) return false;
  // Runs already waiting are not counted: they were tried on every offer held, and one that
  // fits no agent (its constraints) would otherwise keep offers and hold writes back for ever.
  if (launches_unstored_ > 0) return true;
  auto next = core_->next_wakeup();
  return next && *next <= now();
}

bool ChronosFramework::hold_for_launches(sdk::Clock::Monotonic::time_point& since) {
  auto at = clock().now();
  if (!launching()) {
    since = {};
    return false;
  }
  if (since == sdk::Clock::Monotonic::time_point{}) since = at;
  if (at - since >= kLaunchHold) {
    since = {};
    return false;
  }
  return true;
}

void ChronosFramework::release_offers() {
  if (held_offers_.empty() || !client_) return;
  auto at = clock().now();
  bool keep = launching();
  auto kept = [&](const HeldOffer& held) { return keep && at - held.since < kOfferHold; };
  // Called after every commit: most calls keep every offer and move nothing.
  if (!std::all_of(held_offers_.begin(), held_offers_.end(), kept)) {
    std::vector<HeldOffer> still_held;
    for (HeldOffer& held : held_offers_) {
      if (kept(held)) {
        still_held.push_back(std::move(held));
        continue;
      }
      // Runs that wait did not fit this agent: a short refusal; none waits: a long one (a new
      // run revives offers).
      client_->decline({held.offer.offer_id}, waiting_.empty() ? 30 : 1);
    }
    held_offers_.swap(still_held);
  }
  if (held_offers_.empty() || offer_timer_ != 0) return;
  // Armed for the earliest expiry (the offers are kept in the order they came); offers kept
  // later expire later, so one timer is enough.
  auto expiry = held_offers_.front().since + kOfferHold;
  offer_timer_ = clock().after(
      std::chrono::duration_cast<milliseconds>(expiry - at) + milliseconds(1), [this] {
        offer_timer_ = 0;
        release_offers();
      });
}

void ChronosFramework::kill(const KillRun& kill) {
  auto waiting = std::find_if(waiting_.begin(), waiting_.end(),
                              [&](const LaunchRun& w) { return w.task_id == kill.task_id; });
  if (waiting != waiting_.end()) {
    // Never sent: it ends here.
    waiting_.erase(waiting);
    finish(kill.task_id, RunOutcome::killed, std::nullopt, kill.reason, "", {});
    return;
  }
  killing_.insert(kill.task_id);
  auto active = core_->active_task(kill.task_id);
  std::string agent = active ? active->agent : std::string();
  log().info("killing task {}: {}", sdk::quote(kill.task_id), kill.reason);
  if (client_ && client_->subscribed()) client_->kill(kill.task_id, agent);
}

void ChronosFramework::on_offers(const std::vector<protocol::scheduler::Offer>& offers) {
  auto at = clock().now();
  for (const auto& offer : offers) held_offers_.push_back(HeldOffer{offer, at});
  if (ready_) place_waiting();
  release_offers();
}

void ChronosFramework::place_waiting() {
  if (!ready_ || waiting_.empty() || held_offers_.empty() || !client_) return;
  // What each waiting run asks, worked out once for all the offers: with 10,000 runs waiting
  // and many offers, doing it per offer was the launch path's largest cost.
  std::vector<RunDemand> demands;
  std::vector<const Job*> jobs;
  demands.reserve(waiting_.size());
  jobs.reserve(waiting_.size());
  for (const LaunchRun& launch : waiting_) {
    const Job* job = core_->find_job(launch.job);
    jobs.push_back(job);
    // A run whose job is gone asks for nothing that fits; the core has ended it.
    demands.push_back(job ? demand_of(*job) : never_fits());
  }
  std::vector<bool> launched(demands.size(), false);
  size_t left = demands.size();
  std::vector<HeldOffer> unused;
  for (HeldOffer& held : held_offers_) {
    const auto& offer = held.offer;
    std::vector<size_t> placed = left == 0 ? std::vector<size_t>{} : place_on_offer(offer, demands);
    if (placed.empty()) {
      unused.push_back(std::move(held));
      continue;
    }
    std::vector<protocol::TaskInfo> tasks;
    tasks.reserve(placed.size());
    for (size_t index : placed) {
      tasks.push_back(task_for(waiting_[index], *jobs[index], offer));
      log().info("launching task {} on agent {}", sdk::quote(waiting_[index].task_id),
                 sdk::quote(offer.hostname));
      launched[index] = true;
      // Taken: no later offer of this call places it again.
      demands[index] = never_fits();
      --left;
    }
    client_->accept({offer.offer_id}, tasks, 1);
  }
  held_offers_.swap(unused);
  if (left == demands.size()) return;
  // One pass that keeps the runs not launched, in their order.
  std::deque<LaunchRun> still_waiting;
  for (size_t i = 0; i < waiting_.size(); ++i) {
    if (!launched[i]) still_waiting.push_back(std::move(waiting_[i]));
  }
  waiting_.swap(still_waiting);
}

protocol::TaskInfo ChronosFramework::task_for(const LaunchRun& launch, const Job& job,
                                              const protocol::scheduler::Offer& offer) const {
  protocol::TaskInfo task;
  task.task_id = launch.task_id;
  task.name = "ChronosTask:" + job.name;
  task.agent_id = offer.agent_id;
  task.resources = task_resources(demand_of(job));
  task.command.shell = job.shell;
  task.command.value = job.command;
  if (job.shell) {
    // Chronos appends the run-now arguments to a shell command.
    if (!launch.arguments.empty()) task.command.value += " " + launch.arguments;
  } else {
    task.command.arguments = job.arguments;
    for (std::string& word : split_words(launch.arguments)) {
      task.command.arguments.push_back(std::move(word));
    }
  }
  task.command.environment =
      task_environment(job, launch.task_id, launch.scheduled, launch.attempt, offer.hostname);
  task.command.user = job.run_as_user;
  if (job.container && !job.container->image.empty() && job.container->type == "DOCKER") {
    task.container.type = "DOCKER";
    task.container.image = job.container->image;
    task.container.network = job.container->network == "HOST" ? "host" : "none";
  }
  task.kill_grace_seconds = settings_.kill_grace_seconds;
  task.labels["chronos.job"] = job.name;
  task.labels["chronos.run"] = launch.run_id;
  task.labels["chronos.trigger"] = std::string(to_string(launch.trigger));
  return task;
}

void ChronosFramework::on_update(const protocol::TaskStatus& status) {
  // Not acknowledged while not ready: the agent sends it again.
  if (!ready_) return;
  const std::string& task = status.task_id;
  uint64_t term = term_;
  Committed acknowledge = [this, status, term](const Status& stored) {
    if (stored && term == term_ && client_) client_->acknowledge(status);
  };
  if (status.state == state::kUnknown) return task_unknown(status);
  unconfirmed_.erase(task);
  if (status.state == state::kRunning) {
    // Acknowledged at once, its change stored later (commit's `started` jobs): what a failover
    // must not lose is the launch, stored before the task was sent; whether it started, a new
    // leader learns again by reconciling every run in flight (README, "Durability").
    if (core_->run_started(task, status.agent_id, now())) store_starts_soon();
    return acknowledge({});
  }
  if (!state::terminal(status.state)) return acknowledge({});
  auto active = core_->active_task(task);
  // An offer kept for a burst (release_offers) can be rescinded, or its agent lost, while its
  // accept is on the way: the master refuses the accept's tasks with TASK_ERROR for that reason,
  // and they never reached an agent.
  bool refused_offer =
      status.state == state::kError && (status.reason == protocol::reason::kInvalidOffers ||
                                        status.reason == protocol::reason::kAgentUnknown);
  if ((status.state == state::kDropped || refused_offer) && active && !active->started &&
      killing_.count(task) == 0) {
    // The cluster dropped it before it ran (a rescinded offer, say): it waits for another.
    log().info("task {} was dropped ({}); launching it again", sdk::quote(task),
               sdk::printable(status.message));
    waiting_.push_back(active->launch);
    place_soon();
    return acknowledge({});
  }
  RunOutcome outcome = RunOutcome::failed;
  if (status.state == state::kFinished) outcome = RunOutcome::succeeded;
  if (status.state == state::kKilled && killing_.count(task) != 0) outcome = RunOutcome::killed;
  killing_.erase(task);
  std::optional<int> exit_status;
  if (status.exit_code >= 0) exit_status = status.exit_code;
  std::string message = status.state;
  if (!status.message.empty()) message += ": " + status.message;
  if (!active) return finish(task, outcome, exit_status, message, "", acknowledge);
  // The run is counted at once; its output is read meanwhile and put in its record when it
  // comes. The update is acknowledged once both are done: until then the master keeps the task,
  // which the read asks it about. Dependents and the run's end no longer wait for the read.
  struct Pending {
    int left = 2;
    bool stored = false;
  };
  auto pending = std::make_shared<Pending>();
  auto one_done = [pending, acknowledge = std::move(acknowledge)] {
    if (--pending->left == 0)
      acknowledge(pending->stored ? Status{} : make_error(ErrorCode::kUnavailable, "not stored"));
  };
  finish(task, outcome, exit_status, message, "", [pending, one_done](const Status& stored) {
    pending->stored = static_cast<bool>(stored);
    one_done();
  });
  output_->read(client_ ? client_->master_endpoint() : std::string(), framework_id_, task,
                [this, term, task, one_done](const std::string& output) {
                  // A new term reconciles the task again.
                  if (term != term_) return;
                  if (!output.empty() && core_->attach_output(task, output)) {
                    unsaved_histories_.insert(task.substr(0, task.find('@')));
                    save_histories_soon();
                  }
                  one_done();
                });
}

void ChronosFramework::task_unknown(const protocol::TaskStatus& status) {
  const std::string& task = status.task_id;
  if (unconfirmed_.count(task) == 0) return;
  // Agents re-register with a new master some time after it starts: until then the master
  // does not know their tasks.
  if (clock().now() - subscribed_at_ < settings_.reconcile_grace) return;
  unconfirmed_.erase(task);
  auto active = core_->active_task(task);
  if (!active) return;
  if (!active->started) {
    log().info("the cluster does not know task {}: launching it", sdk::quote(task));
    waiting_.push_back(active->launch);
    place_soon();
  } else {
    finish(task, RunOutcome::failed, std::nullopt,
           "TASK_LOST: the cluster no longer knows the task", "", {});
  }
}

void ChronosFramework::finish(const std::string& task_id, RunOutcome outcome,
                              std::optional<int> exit_status, const std::string& message,
                              const std::string& output, Committed done) {
  auto actions = core_->run_finished(task_id, outcome, exit_status, message, output, now());
  if (!actions) {
    // Unknown or already finished (a duplicate update): nothing changes.
    if (done) done({});
    return;
  }
  commit(std::move(*actions), std::move(done));
}

void ChronosFramework::reconcile() {
  if (!ready_ || !client_ || !client_->subscribed() || unconfirmed_.empty()) return;
  std::vector<protocol::scheduler::ReconcileTask> tasks;
  for (const auto& [task, agent] : unconfirmed_) tasks.push_back({task, agent});
  client_->reconcile(tasks);
}

}  // namespace tessera::chronos

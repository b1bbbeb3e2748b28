#include "master/master.h"

#include <sodium.h>
#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <random>

#include "master/snapshot.h"
#include "master/validation.h"
#include "tessera/protocol/duration.h"
#include "tessera/protocol/files.h"
#include "tessera/protocol/master.h"
#include "tessera/protocol/master_events.h"

namespace tessera::host::master {

namespace scheduler = protocol::scheduler;
namespace agent_msg = protocol::agent;
namespace alloc = protocol::allocator;
namespace store = protocol::store;
namespace state = protocol::state;
namespace reason = protocol::reason;
namespace op = protocol::operator_api;
namespace events = protocol::master_events;

namespace {

// Resent first registrations remembered per connection while the first is being written.
constexpr size_t kMaxResentRegistrations = 16;

std::string random_hex(size_t digits) {
  static thread_local std::mt19937_64 random{std::random_device{}()};
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < digits; ++i) out += hex[random() % 16];
  return out;
}

std::string to_hex(const unsigned char* bytes, size_t size) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < size; ++i) {
    out += hex[bytes[i] >> 4];
    out += hex[bytes[i] & 15];
  }
  return out;
}

// A fresh agent secret: 32 bytes from the kernel's CSPRNG, in hex. Empty when the kernel gives
// none (the registration is then refused and retried).
std::string new_agent_secret() {
  unsigned char bytes[32];
  size_t filled = 0;
  while (filled < sizeof bytes) {
    ssize_t n = getrandom(bytes + filled, sizeof bytes - filled, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return "";
    }
    filled += static_cast<size_t>(n);
  }
  return to_hex(bytes, sizeof bytes);
}

// What the registry keeps of a secret: its BLAKE2b-256 hash in hex, so that reading the store
// does not give away the secrets agents prove their ids with.
std::string secret_hash(const std::string& secret) {
  unsigned char digest[crypto_generichash_BYTES];
  crypto_generichash(digest, sizeof digest, reinterpret_cast<const unsigned char*>(secret.data()),
                     secret.size(), nullptr, 0);
  return to_hex(digest, sizeof digest);
}

bool secret_proves(const std::string& secret, const std::string& recorded_hash) {
  if (secret.empty() || recorded_hash.empty()) return false;
  std::string hash = secret_hash(secret);
  return hash.size() == recorded_hash.size() &&
         sodium_memcmp(hash.data(), recorded_hash.data(), hash.size()) == 0;
}

std::string local_hostname() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0) return "localhost";
  return name;
}

}  // namespace

Master::Master(sdk::PluginContext& context) : Role(context) {}
Master::~Master() = default;

Options read_options(sdk::ConfigTable& table) {
  Options options;
  // The slots are read by the host; reading them here marks them as known keys.
  (void)table.get<std::string>("allocator", "");
  (void)table.get<std::vector<std::string>>("frameworks", {});
  options.endpoint = table.get<std::string>("endpoint", options.endpoint);
  options.advertise = table.get<std::string>("advertise", "");
  auto ms = [&](const char* key, std::chrono::milliseconds fallback) {
    return std::chrono::milliseconds(table.integer(key, fallback.count(), 1, 86400000));
  };
  options.agent_ping_interval = ms("agent_ping_interval_ms", options.agent_ping_interval);
  options.agent_ping_timeout = ms("agent_ping_timeout_ms", options.agent_ping_timeout);
  options.agent_removal_timeout = ms("agent_removal_timeout_ms", options.agent_removal_timeout);
  options.agent_removals_per_minute =
      table.integer("agent_removals_per_minute", options.agent_removals_per_minute, 0, 1000000);
  options.heartbeat_interval = ms("heartbeat_interval_ms", options.heartbeat_interval);
  options.registry_max_removed_agent_age = std::chrono::hours(table.integer(
      "registry_max_removed_agent_age_hours",
      std::chrono::duration_cast<std::chrono::hours>(options.registry_max_removed_agent_age)
          .count(),
      0, int64_t{24} * 365 * 100));
  options.registry_max_removed_agents = table.integer(
      "registry_max_removed_agents", options.registry_max_removed_agents, 0, 100000000);
  options.max_completed_tasks =
      table.integer("max_completed_tasks", options.max_completed_tasks, 0, 10000000);
  return options;
}

Status Master::configure(sdk::ConfigTable& table) {
  options_ = read_options(table);
  return {};
}

Status Master::start() {
  // Agent secrets are hashed with libsodium, which picks its implementations here.
  if (sodium_init() < 0) return make_error("master: libsodium cannot be initialised");
  master_id_ = random_hex(8);
  server_ = std::make_unique<sdk::Server>(bus(), "master");
  // Pushes to an agent or framework (run_task, offers, updates) come in bursts: allow a deep
  // queue per peer rather than ZeroMQ's 1000.
  server_->set_high_water_mark(1 << 20);
  auto bound = server_->bind(options_.endpoint);
  if (!bound) return bound.error();
  endpoint_ = options_.advertise.empty() ? *bound : options_.advertise;
  context().announce("endpoint", endpoint_);
  // Service plugins of this host (the HTTP API) ask this master, leading or not, in-process.
  // On the server's lane: the HTTP API's requests are served in turn with the agents' and
  // frameworks' messages, not after one message of each connected agent.
  if (auto local = server_->bind_lane(op::kLocalEndpoint); !local) {
    log().warn("master: operators in this process cannot reach it: {}", local.error().message);
  }
  start_time_ = now_seconds();
  hostname_ = local_hostname();
  version_ = context().host_version();
  events_ = std::make_unique<sdk::Publisher>(bus(), "master.events");
  if (auto published = events_->bind(events::kEndpoint); !published) return published.error();

  // Agents.
  server_->on<agent_msg::Register>([this](const sdk::Request& r, const agent_msg::Register& m) {
    Caller caller = caller_of(r);
    if (reading_registry() && held(r, [this, caller, m] { on_register(caller, m); })) return;
    if (serving(r)) on_register(caller, m);
  });
  server_->on<agent_msg::Pong>([this](const sdk::Request& r, const agent_msg::Pong& m) {
    if (!serving(r)) return;
    auto it = agents_.find(m.agent_id);
    if (it != agents_.end() && it->second.peer == r.peer) {
      it->second.last_pong = clock().now();
      first_registrations_.erase(r.peer);
    }
  });
  server_->on<agent_msg::StatusUpdate>(
      [this](const sdk::Request& r, const agent_msg::StatusUpdate& m) {
        if (serving(r)) on_status_update(r, m);
      });
  server_->on<agent_msg::Usage>([this](const sdk::Request& r, const agent_msg::Usage& m) {
    if (serving(r)) on_usage(r, m);
  });
  server_->on<agent_msg::FrameworkMessage>(
      [this](const sdk::Request& r, const agent_msg::FrameworkMessage& m) {
        if (serving(r)) on_executor_message(r, m);
      });
  server_->on<agent_msg::ExecutorExited>(
      [this](const sdk::Request& r, const agent_msg::ExecutorExited& m) {
        if (serving(r)) on_executor_exited(r, m);
      });

  // Frameworks. Anything a framework sends counts as a sign of life.
  server_->on<scheduler::Subscribe>([this](const sdk::Request& r, const scheduler::Subscribe& m) {
    Caller caller = caller_of(r);
    if (reading_registry() && held(r, [this, caller, m] { on_subscribe(caller, m); })) return;
    if (serving(r)) on_subscribe(caller, m);
  });
  server_->on<scheduler::Accept>([this](const sdk::Request& r, const scheduler::Accept& m) {
    if (serving(r) && framework_of(r, m.framework_id)) on_accept(r, m);
  });
  server_->on<scheduler::Decline>([this](const sdk::Request& r, const scheduler::Decline& m) {
    if (serving(r) && framework_of(r, m.framework_id)) on_decline(m);
  });
  server_->on<scheduler::Kill>([this](const sdk::Request& r, const scheduler::Kill& m) {
    if (serving(r) && framework_of(r, m.framework_id)) on_kill(m);
  });
  server_->on<scheduler::Acknowledge>(
      [this](const sdk::Request& r, const scheduler::Acknowledge& m) {
        if (serving(r) && framework_of(r, m.framework_id)) on_acknowledge(m);
      });
  server_->on<scheduler::Reconcile>([this](const sdk::Request& r, const scheduler::Reconcile& m) {
    if (serving(r) && framework_of(r, m.framework_id)) on_reconcile(m);
  });
  server_->on<scheduler::Revive>([this](const sdk::Request& r, const scheduler::Revive& m) {
    if (!serving(r) || !framework_of(r, m.framework_id)) return;
    // No allocate_now: a revive makes the allocator's next batched cycle come batch_delay_ms
    // later, so revives arriving together are served in one cycle. A cycle per revive would
    // hand every free agent to whichever framework revived first.
    allocator_->send(alloc::Revive{m.framework_id, m.role});
  });
  server_->on<scheduler::Suppress>([this](const sdk::Request& r, const scheduler::Suppress& m) {
    if (serving(r) && framework_of(r, m.framework_id)) {
      allocator_->send(alloc::Suppress{m.framework_id, m.role});
    }
  });
  server_->on<scheduler::Heartbeat>([this](const sdk::Request& r, const scheduler::Heartbeat&) {
    if (!serving(r)) return;
    auto it = peers_.find(r.peer);
    if (it == peers_.end()) return;
    auto fw = frameworks_.find(it->second);
    if (fw != frameworks_.end()) fw->second.last_seen = clock().now();
  });
  server_->on<scheduler::FrameworkMessage>(
      [this](const sdk::Request& r, const scheduler::FrameworkMessage& m) {
        if (serving(r) && framework_of(r, m.framework_id)) on_framework_message(m);
      });
  server_->on<scheduler::ShutdownExecutor>(
      [this](const sdk::Request& r, const scheduler::ShutdownExecutor& m) {
        if (!serving(r)) return;
        if (Framework* fw = framework_of(r, m.framework_id)) on_shutdown_executor(*fw, m);
      });
  server_->on<scheduler::Teardown>([this](const sdk::Request& r, const scheduler::Teardown& m) {
    if (serving(r) && framework_of(r, m.framework_id)) {
      remove_framework(m.framework_id, "the framework tore itself down");
    }
  });

  // Operators.
  server_->on<op::GetState>([this](const sdk::Request& r, const op::GetState&) {
    if (serving(r)) server_->reply(r, state());
  });
  server_->on<op::GetStateSummary>([this](const sdk::Request& r, const op::GetStateSummary& m) {
    if (!serving(r)) return;
    const op::StateSummary& summary = state_summary(m.roles_only, m.with_usages);
    bool known = !m.roles_only && m.known_version != 0;
    // What may be sent as a delta against the summary the client holds: the agents while none
    // came or went since, the offers while every offer gone since is still on record.
    bool agents = m.agents_delta && m.known_version >= members_version_;
    bool offers = m.offers_delta && gone_offers_.covers(m.known_version);
    if (known && m.known_version == summary.version) {
      server_->reply(r, unchanged_summary(summary));
    } else if (known && (agents || offers) && m.known_version < summary.version) {
      reply_delta(r, m.known_version, agents, offers);
    } else {
      server_->reply(r, summary);
    }
  });
  server_->on<op::GetMetrics>([this](const sdk::Request& r, const op::GetMetrics&) {
    if (!serving(r)) return;
    op::Metrics answer = metrics(snapshot_source());
    answer.start_time = start_time_;
    answer.counters = counters_;
    answer.counters.messages_sent = server_->sent();
    server_->reply(r, answer);
  });
  server_->on<protocol::files::Request>(
      [this](const sdk::Request& r, const protocol::files::Request& m) {
        if (serving(r)) on_files_request(r, m);
      });
  server_->on<protocol::files::Answer>(
      [this](const sdk::Request& r, const protocol::files::Answer& m) {
        if (serving(r)) on_files_answer(r, m);
      });
  server_->on<op::KillTask>([this](const sdk::Request& r, const op::KillTask& m) {
    if (serving(r)) server_->reply(r, operator_kill(m));
  });
  server_->on<op::UpdateRole>([this](const sdk::Request& r, const op::UpdateRole& m) {
    if (serving(r)) on_update_role(r, m);
  });

  // The allocator.
  allocator_ = std::make_unique<sdk::Client>(bus(), "master.allocator");
  // Inproc, in one process: no limit, so that no allocator event is ever dropped (re-adding
  // 10,000 agents after a failover is one burst).
  allocator_->set_high_water_mark(0);
  if (auto s = allocator_->connect(alloc::kEndpoint); !s) return s;
  allocator_->on<alloc::Allocated>(
      [this](const Envelope&, const alloc::Allocated& m) { on_allocated(m); });

  // The leader plugin: election, and the registry in its store (writes fenced to the term).
  leadership_ = std::make_unique<sdk::Leadership>(bus(), clock());
  leadership_->on_elected = [this](uint64_t epoch) { on_elected(epoch); };
  leadership_->on_deposed = [this] { on_deposed(); };
  leadership_->on_leader = [this](const store::Leader& leader) {
    // Said once per change of leader, so that an operator sees which master this one defers to.
    if (!leading_ && leader.known && leader.master_id != master_id_) {
      log().info("standing by; the leader is '{}' at {}", sdk::printable(leader.master_id),
                 sdk::printable(leader.endpoint));
    }
  };
  // A write is retried for the Store's default 30 s, then fails (an agent's registration is
  // then not admitted, and the agent registers again); the registry's reads retry until they
  // succeed (Registry::recover).
  // Each request may take long: the leader plugin serves one at a time, and listing the agents
  // of a large cluster (10,000 records) takes seconds on a loaded machine. A request that timed
  // out would be sent again while the plugin still serves the first, and a listing that always
  // takes longer than the timeout would never end. The plugin is in this process, so a longer
  // wait loses nothing: a request is never lost on inproc.
  sdk::StoreOptions store_options;
  store_options.request_timeout = std::chrono::seconds(30);
  registry_ = std::make_unique<Registry>(bus(), clock(), leadership_.get(), store_options);
  registry_->keep_removed_agents(options_.registry_max_removed_agent_age,
                                 static_cast<size_t>(options_.registry_max_removed_agents));
  registry_->on_forgotten([this](const std::vector<std::string>& agent_ids) {
    for (const std::string& agent_id : agent_ids) removed_agents_.erase(agent_id);
  });
  if (auto s = leadership_->campaign(master_id_, endpoint_); !s) return s;

  clock().every(options_.agent_ping_interval, [this] { check_agents(); });
  clock().every(options_.heartbeat_interval, [this] { check_frameworks(); });
  log().info("master {} listening on {}", master_id_, endpoint_);
  return {};
}

void Master::stopping() { log().info("master {} stopping", master_id_); }

double Master::now_seconds() { return clock().wall_seconds(); }

bool Master::serving(const sdk::Request& request) {
  ++counters_.messages_received;
  if (leading_) return true;
  // The sender learns where to go at once, rather than after its timeout. A master elected but
  // still reading its registry names no leader (itself would send the client straight back):
  // the client tries again shortly.
  protocol::master::NotLeader answer;
  const store::Leader& leader = leadership_->leader();
  bool other_leads = leader.known && leader.master_id != master_id_;
  if (other_leads) {
    answer.leader = leader.endpoint;
    answer.leader_id = leader.master_id;
  }
  answer.master_id = master_id_;
  answer.message = other_leads || !leadership_->leading()
                       ? protocol::master::not_leader_message(answer.leader)
                       : "not serving yet: this master was elected and is reading its registry";
  log().debug("'{}' from {} answered not_leader: {}", sdk::escape(request.message.type()),
              sdk::printable(request.message.header().sender), answer.message);
  server_->reply(request, answer);
  return false;
}

bool Master::reading_registry() const {
  return !leading_ && leadership_->leading() && leadership_->leader().master_id == master_id_;
}

bool Master::held(const sdk::Request& request, std::function<void()> serve) {
  if (auto it = held_by_peer_.find(request.peer); it != held_by_peer_.end()) {
    held_[it->second] = std::move(serve);
  } else {
    if (held_.size() >= kMaxHeldRequests) return false;
    held_by_peer_.emplace(request.peer, held_.size());
    held_.push_back(std::move(serve));
  }
  ++counters_.messages_received;
  log().debug("'{}' from {} kept until the registry is read", sdk::escape(request.message.type()),
              sdk::quote(request.message.header().sender));
  return true;
}

// --- Leadership and the registry -------------------------------------------------------------

void Master::on_elected(uint64_t epoch) {
  // The leader plugin speaks for the host: on a host where another master campaigned since
  // (a restarted one has a new id), the term is that master's.
  if (leadership_->leader().master_id != master_id_) return on_deposed();
  log().info("elected leader at {} (epoch {}); reading the registry", endpoint_, epoch);
  // A reading from an earlier term is dropped: when the leader plugin suspends and confirms
  // this master again (a new epoch) while it reads, the reading of the new term is the one
  // that serves, once; the earlier one would apply the registry a second time.
  registry_->recover([this, epoch](RecoveredRegistry registry) {
    if (leadership_->epoch() != epoch) {
      log().info("the registry read in epoch {} is dropped: this master leads in epoch {} now",
                 epoch, leadership_->epoch());
      return;
    }
    recovered(std::move(registry));
  });
}

void Master::on_deposed() {
  // Held requests get no answer: their senders time out and go to the leader they detect.
  held_.clear();
  held_by_peer_.clear();
  // Not serving yet: on_leader said who leads instead.
  if (!leading_) return;
  // Another master leads now: this one's view is stale, and its registry writes are fenced.
  // Stop, as a Mesos master does; the node exits and its supervisor restarts it as a standby.
  log().error("lost leadership to {}; stopping", sdk::printable(leadership_->leader().endpoint));
  leading_ = false;
  loop().request_stop();
}

void Master::recovered(RecoveredRegistry registry) {
  // Deposed while reading: another master serves.
  if (!leadership_->leading() || leadership_->leader().master_id != master_id_) return;
  // The failover timeout counts from when the framework could have noticed the new master:
  // its client needs a few heartbeat intervals of silence before it re-subscribes, so a
  // framework with failover_timeout 0 (like `tessera exec`) would otherwise lose its tasks to
  // every master restart. Frameworks are added first, so that agents re-registering with their
  // tasks find them.
  auto deadline_base = clock().now() + 4 * options_.heartbeat_interval + std::chrono::seconds(5);
  for (const FrameworkRecord& record : registry.frameworks) {
    Framework& fw = frameworks_[record.framework_id];
    fw.id = record.framework_id;
    fw.name = record.name;
    fw.roles = record.roles;
    fw.failover_timeout_seconds = record.failover_timeout_seconds;
    fw.connected = false;
    fw.failover_deadline =
        deadline_base +
        protocol::WireDuration{record.failover_timeout_seconds}.as<Clock::duration>();
    allocator_->send(alloc::FrameworkAdded{fw.id, fw.roles, false});
  }
  // The agents' secrets, so that an agent proves its id to this master as to the last one.
  agent_secrets_ = std::move(registry.agent_secrets);
  removed_agents_ = std::move(registry.removed_agents);
  awaited_agents_.clear();
  for (const auto& [agent_id, secret] : agent_secrets_) {
    if (removed_agents_.count(agent_id) == 0 && agents_.count(agent_id) == 0) {
      awaited_agents_.insert(agent_id);
    }
  }
  serving_since_ = clock().now();
  // Role settings before serving: the allocator has every runtime weight, quota and priority
  // before the first offers go out.
  for (const auto& entry : registry.roles) {
    const std::string& role = entry.first;
    const RoleSettings& settings = entry.second;
    role_settings_[role] = settings;
    // The allocator may refuse one (a priority given to allocator_drf after a swap): said in
    // the log, and the other settings still apply.
    auto refused = [this, role](Result<Envelope> answer) {
      auto r =
          answer ? answer->body<alloc::RoleResult>() : Result<alloc::RoleResult>(answer.error());
      if (!r || !r->ok) {
        log().warn("role '{}': the allocator did not take a saved setting: {}", sdk::escape(role),
                   r ? sdk::printable(r->error, 1000) : r.error().message);
      }
    };
    auto timeout = std::chrono::seconds(5);
    if (settings.weight >= 0) {
      allocator_->request(alloc::SetWeight{role, settings.weight}, refused, timeout);
    }
    if (settings.has_quota) {
      allocator_->request(alloc::SetQuota{role, settings.quota}, refused, timeout);
    }
    if (settings.has_priority) {
      allocator_->request(alloc::SetPriority{role, settings.priority}, refused, timeout);
    }
  }
  leading_ = true;
  // In the order they came, so that where a client moved to a new connection meanwhile, its
  // latest request is served last and wins.
  std::vector<std::function<void()>> held = std::exchange(held_, {});
  held_by_peer_.clear();
  log().info(
      "recovered {} framework(s), {} removed agent(s) and the settings of {} role(s) from the "
      "registry; serving, first the {} registration(s) and subscription(s) that came meanwhile",
      frameworks_.size(), removed_agents_.size(), registry.roles.size(), held.size());
  for (auto& serve : held) serve();
}

// --- Agents ------------------------------------------------------------------------------------

void Master::on_register(const Caller& caller, const agent_msg::Register& message) {
  if (!message.agent_id.empty() && removed_agents_.count(message.agent_id) != 0) {
    log().warn("agent {} at {} was removed from the cluster; telling it to shut down",
               sdk::printable(message.agent_id), sdk::printable(message.hostname));
    server_->send(caller.peer,
                  agent_msg::Shutdown{"agent " + message.agent_id +
                                      " was removed from the cluster; restart it with a clean "
                                      "work dir to join as a new agent"});
    return;
  }
  auto refuse = [&](const std::string& why) {
    log().warn("registration of agent '{}' at '{}' refused: {}", sdk::printable(message.agent_id),
               sdk::printable(message.hostname), sdk::printable(why, 1000));
    server_->reply_later(caller.peer, caller.sequence, agent_msg::Refused{why});
  };
  if (std::string problem = registration_problem(message); !problem.empty()) {
    return refuse(problem);
  }
  if (message.resources.empty() && message.tasks.empty()) {
    log().warn("agent at {} registers with no resources", sdk::printable(message.hostname));
  }
  uint64_t sequence = caller.sequence;
  if (message.agent_id.empty()) {
    if (auto first = first_registrations_.find(caller.peer); first != first_registrations_.end()) {
      // The same agent again before it had its answer: the same id, not a second agent.
      if (!first->second.admitted) {
        if (first->second.resent.size() < kMaxResentRegistrations) {
          first->second.resent.push_back(sequence);
        }
        return;
      }
      server_->reply_later(caller.peer, caller.sequence,
                           registered(first->second.agent_id, first->second.secret));
      return;
    }
  } else {
    first_registrations_.erase(caller.peer);
  }
  std::string agent_id = message.agent_id;
  if (agent_id.empty()) agent_id = master_id_ + "-S" + std::to_string(next_agent_++);
  // An id the registry has a secret for is taken only by whoever holds the secret: without it,
  // a second process naming a live agent's id would replace it and lose its tasks.
  std::string secret, hash;
  if (auto known = agent_secrets_.find(agent_id); known != agent_secrets_.end()) {
    if (!secret_proves(message.secret, known->second)) {
      return refuse(message.secret.empty()
                        ? "it names agent '" + agent_id + "' but presents no secret"
                        : "it names agent '" + agent_id + "' but its secret is not that agent's");
    }
    hash = known->second;
  } else {
    // A new agent, or one that registered before agents had secrets: it gets one now.
    secret = new_agent_secret();
    if (secret.empty()) return refuse("the master cannot draw a random secret; try again");
    hash = secret_hash(secret);
  }
  if (secret.empty()) {
    // A registration resent on the connection the agent is admitted on (it did not have its
    // answer in time: after a failover the new leader is slow to answer thousands at once) is
    // answered again and changes nothing. Admitting it again would redo the agent's tasks and
    // allocation for every resend, which made a busy master busier (10,000 agents sent 2.4
    // registrations each), and would take a task launched since the first as lost, since the
    // resend was built before it. What changed on this connection since came as updates.
    if (auto known = agents_.find(agent_id);
        known != agents_.end() && known->second.active && known->second.peer == caller.peer) {
      known->second.last_pong = clock().now();
      server_->reply_later(caller.peer, sequence, registered(agent_id, secret));
      log().debug("agent {} registered again on its connection; answered again",
                  sdk::printable(agent_id));
      return;
    }
    // It proved a secret the registry holds (read back at election, or written when it was
    // given): its record is there, and a re-registration writes nothing. After a failover every
    // agent re-registers at once, and a write each would hold the new leader back.
    admit_agent(caller.peer, sequence, message, agent_id, secret, hash);
    return;
  }
  // A new agent, or a new secret, is admitted once the registry has it: a secret the agent was
  // told must survive a master restart.
  std::string peer = caller.peer;
  if (message.agent_id.empty())
    first_registrations_[peer] = FirstRegistration{agent_id, secret, false, {}};
  registry_->put_agent(
      agent_id, hash, [this, peer, sequence, message, agent_id, secret, hash](bool ok) {
        auto first = first_registrations_.find(peer);
        bool mine = first != first_registrations_.end() && first->second.agent_id == agent_id;
        if (!ok) {
          // Not admitted: a registration resent later starts again.
          if (mine) first_registrations_.erase(first);
          return;
        }
        admit_agent(peer, sequence, message, agent_id, secret, hash);
        if (!mine) return;
        first->second.admitted = true;
        for (uint64_t resent : std::exchange(first->second.resent, {})) {
          server_->reply_later(peer, resent, registered(agent_id, secret));
        }
      });
}

agent_msg::Registered Master::registered(const std::string& agent_id,
                                         const std::string& secret) const {
  return agent_msg::Registered{agent_id, master_id_,
                               std::chrono::duration<double>(options_.agent_ping_interval).count(),
                               secret};
}

void Master::admit_agent(const std::string& peer, uint64_t request_sequence,
                         const agent_msg::Register& message, const std::string& agent_id,
                         const std::string& secret, const std::string& secret_hash) {
  agent_secrets_[agent_id] = secret_hash;
  // Back: no longer awaited (removed as not come back) once agent_removal_timeout has passed.
  awaited_agents_.erase(agent_id);
  auto existing = agents_.find(agent_id);
  bool reregistering = existing != agents_.end();
  if (reregistering) {
    // Start from a clean slate in the allocator: what the agent reports is the truth.
    for (const std::string& offer_id : std::set<std::string>(existing->second.offers)) {
      rescind_offer(offer_id, 0, true);
    }
    allocator_->send(alloc::AgentRemoved{agent_id});
    peers_.erase(existing->second.peer);
  }
  Agent& agent = agents_[agent_id];
  agent_changed(agent_id, true);
  agent.id = agent_id;
  agent.peer = peer;
  agent.hostname = message.hostname;
  agent.total = message.resources;
  agent.attributes = message.attributes;
  agent.active = true;
  agent.last_pong = clock().now();
  if (agent.registered_at == 0) agent.registered_at = now_seconds();
  peers_[peer] = agent_id;

  // Reconcile tasks: what the agent runs is kept; what the master thought ran there but the
  // agent does not report is lost, unless it has ended (its terminal update is still being
  // resent, and the framework's acknowledgement removes it).
  std::set<std::string> reported;
  std::vector<alloc::Allocation> allocated;
  std::vector<std::pair<std::string, std::string>> orphans;  // framework id, task id
  for (const auto& running : message.tasks) {
    std::string key = task_key(running.framework_id, running.task.task_id);
    std::string reported_state = running.state.empty() ? state::kRunning : running.state;
    auto it = tasks_.find(key);
    if (it != tasks_.end() && it->second.info.agent_id != agent_id &&
        agents_.count(it->second.info.agent_id) != 0) {
      // An agent speaks only for its own tasks.
      log().warn("agent {} reports task '{}' of framework '{}', which runs on agent {}; ignored",
                 sdk::printable(agent_id), sdk::printable(running.task.task_id),
                 sdk::printable(running.framework_id), sdk::printable(it->second.info.agent_id));
      continue;
    }
    // An agent re-registers with the tasks that still run; an ended one is nothing to track.
    if (it == tasks_.end() && state::terminal(reported_state)) continue;
    bool inserted = it == tasks_.end();
    if (inserted) it = tasks_.try_emplace(key).first;
    Task& task = it->second;
    // Its agent may change below: it counts again once that is set.
    if (!inserted && !task.ended) ledger_.remove(task);
    reported.insert(key);
    if (inserted) {
      task.info = running.task;
      task.framework_id = running.framework_id;
      task.role = "*";
      task.status.task_id = running.task.task_id;
      task.status.framework_id = running.framework_id;
    }
    task.info.agent_id = agent_id;
    task.status.agent_id = agent_id;
    if (acceptable_sandbox(running.sandbox)) task.sandbox = running.sandbox;
    agent.tasks.insert(key);
    auto fw = frameworks_.find(running.framework_id);
    if (fw != frameworks_.end()) {
      fw->second.tasks.insert(key);
      if (!fw->second.roles.empty() && inserted) task.role = fw->second.roles.front();
    }
    // A task that has ended stays ended: its resources were given back already.
    if (task.ended) continue;
    ledger_.add(task);
    bool changed = task.state != reported_state;
    task.status.state = reported_state;
    task.state = reported_state;
    // `status` is no longer the agent's update as it came (its uuid with another state): the
    // agent resends its unacknowledged updates itself once registered.
    task.unacknowledged = false;
    if (inserted) {
      publish(events::TaskAdded{task_state(task)});
    } else if (changed) {
      publish(events::TaskUpdated{task_state(task)});
    }
    if (state::terminal(reported_state)) {
      // Left out of what the agent is added with, so there is nothing to give back.
      task.ended = true;
      ledger_.remove(task);
      continue;
    }
    if (fw == frameworks_.end()) {
      // Its framework was removed (or never known to this master's registry): nobody will
      // manage it, so it is killed. Its resources stay counted until it has ended.
      orphans.emplace_back(running.framework_id, running.task.task_id);
    }
    allocated.push_back(alloc::Allocation{running.framework_id, task.role, task.info.resources});
  }
  for (const std::string& key : std::set<std::string>(agent.tasks)) {
    if (reported.count(key) != 0) continue;
    auto it = tasks_.find(key);
    if (it == tasks_.end() || it->second.ended) continue;
    master_update(it->second, state::kLost, reason::kAgentRestarted,
                  "the agent re-registered without this task");
    finish_task(key);
  }
  std::vector<std::pair<std::string, std::string>> orphan_executors =
      readd_executors(agent, message.executors, allocated);
  allocator_->send(alloc::AgentAdded{agent_id, agent.hostname, agent.total, allocated});
  publish(events::AgentAdded{agent_state(agent, tasks_, offers_), reregistering});
  server_->reply_later(peer, request_sequence, registered(agent_id, secret));
  // The arguments are built only when the line is written: after a failover this runs for every
  // agent of the cluster, and masters usually log at warn.
  if (log().enabled(TESSERA_LOG_INFO)) {
    log().info("{} agent {} at {} with {}", reregistering ? "re-registered" : "registered",
               sdk::printable(agent_id), sdk::printable(agent.hostname),
               sdk::printable(agent.total.to_string(), 1000));
  }
  for (const auto& [framework_id, task_id] : orphans) {
    log().warn("killing task '{}' on agent {}: its framework {} is gone", sdk::escape(task_id),
               sdk::printable(agent_id), sdk::printable(framework_id));
    server_->send(peer, agent_msg::KillTask{framework_id, task_id});
  }
  for (const auto& [framework_id, executor_id] : orphan_executors) {
    log().warn("shutting down executor '{}' on agent {}: its framework {} is gone",
               sdk::escape(executor_id), sdk::printable(agent_id), sdk::printable(framework_id));
    server_->send(peer, agent_msg::ShutdownExecutor{framework_id, executor_id});
  }
}

std::vector<std::pair<std::string, std::string>> Master::readd_executors(
    Agent& agent, const std::vector<agent_msg::RunningExecutor>& running,
    std::vector<alloc::Allocation>& allocated) {
  // What the agent reports is the truth: the executors the master counted there are replaced.
  agent_changed(agent.id, true);
  for (const auto& [key, executor] : agent.executors) {
    auto fw = frameworks_.find(executor.framework_id);
    if (fw != frameworks_.end()) {
      fw->second.executors.erase(executor_key(agent.id, executor.info.executor_id));
    }
  }
  agent.executors.clear();
  std::vector<std::pair<std::string, std::string>> orphans;  // framework id, executor id
  for (const agent_msg::RunningExecutor& reported : running) {
    const protocol::ExecutorInfo& info = reported.executor;
    if (reported.framework_id.empty() || info.executor_id.empty() ||
        info.executor_id.size() > kMaxIdBytes || reported.framework_id.size() > kMaxIdBytes ||
        !protocol::check_resources(info.resources)) {
      log().warn(
          "agent {} reports executor '{}' of framework '{}' with invalid ids or resources; "
          "ignored",
          sdk::printable(agent.id), sdk::escape(info.executor_id),
          sdk::escape(reported.framework_id));
      continue;
    }
    auto fw = frameworks_.find(reported.framework_id);
    if (fw == frameworks_.end()) {
      // Nobody will manage it: it is shut down, and counted until it has ended.
      orphans.emplace_back(reported.framework_id, info.executor_id);
    }
    std::string role = fw != frameworks_.end() && !fw->second.roles.empty()
                           ? fw->second.roles.front()
                           : std::string("*");
    agent.executors[executor_key(reported.framework_id, info.executor_id)] =
        Executor{info, reported.framework_id, role};
    if (fw != frameworks_.end()) {
      fw->second.executors[executor_key(agent.id, info.executor_id)] = info.resources;
    }
    allocated.push_back(alloc::Allocation{reported.framework_id, role, info.resources});
  }
  return orphans;
}

void Master::on_usage(const sdk::Request& request, const agent_msg::Usage& message) {
  auto agent = agents_.find(message.agent_id);
  if (agent == agents_.end() || agent->second.peer != request.peer) {
    log().warn("usage from unregistered agent '{}' ignored", sdk::escape(message.agent_id));
    return;
  }
  if (message.tasks.size() > agent_msg::Usage::kMaxTasks) {
    log().warn("usage from agent '{}' lists {} tasks, more than {}; ignored",
               sdk::escape(message.agent_id), message.tasks.size(), agent_msg::Usage::kMaxTasks);
    return;
  }
  size_t ignored = 0;
  for (const agent_msg::TaskUsage& entry : message.tasks) {
    auto task = tasks_.find(task_key(entry.framework_id, entry.task_id));
    // Only the sender's own tasks, and only amounts that make sense.
    if (task == tasks_.end() || task->second.info.agent_id != message.agent_id ||
        !protocol::agent::valid_usage(entry.usage)) {
      ++ignored;
      continue;
    }
    task->second.usage = entry.usage;
  }
  if (ignored > 0) {
    log().warn(
        "usage from agent '{}': {} of {} entries name none of its tasks or hold amounts out "
        "of range; ignored",
        sdk::escape(message.agent_id), ignored, message.tasks.size());
  }
}

void Master::on_status_update(const sdk::Request& request, const agent_msg::StatusUpdate& message) {
  protocol::TaskStatus status = message.status;
  auto ack_to_agent = [&] {
    server_->send(request.peer,
                  agent_msg::StatusAck{status.framework_id, status.task_id, status.uuid});
  };
  auto agent = agents_.find(message.agent_id);
  if (agent == agents_.end() || agent->second.peer != request.peer) {
    log().warn("status update for task '{}' from unregistered agent '{}' ignored",
               sdk::escape(status.task_id), sdk::escape(message.agent_id));
    return;
  }
  agent->second.last_pong = clock().now();
  if (!state::known(status.state)) {
    log().warn("status update for task '{}' from agent {} has the unknown state '{}'; ignored",
               sdk::printable(status.task_id), sdk::printable(message.agent_id),
               sdk::printable(status.state));
    return;
  }
  // The sender speaks for itself: whatever agent the update names, it is the sender's.
  status.agent_id = message.agent_id;
  std::string latest = state::known(message.latest_state) ? message.latest_state : status.state;
  std::string key = task_key(status.framework_id, status.task_id);
  auto it = tasks_.find(key);
  if (it != tasks_.end() && it->second.info.agent_id != message.agent_id) {
    log().warn(
        "agent {} sent a status update for task '{}' of framework '{}', which runs on agent {}; "
        "ignored",
        sdk::printable(message.agent_id), sdk::printable(status.task_id),
        sdk::printable(status.framework_id), sdk::printable(it->second.info.agent_id));
    return;
  }
  auto fw = frameworks_.find(status.framework_id);
  if (it != tasks_.end() && acceptable_sandbox(message.sandbox)) {
    it->second.sandbox = message.sandbox;
  }
  if (fw == frameworks_.end()) {
    // Nobody will ever acknowledge this: do it here, and end the task if it still runs.
    ack_to_agent();
    if (it != tasks_.end()) {
      it->second.status = status;
      set_state(it->second, latest);
      publish(events::TaskUpdated{task_state(it->second)});
      if (it->second.ended) finish_task(key);
    }
    if (!state::terminal(latest)) {
      server_->send(request.peer, agent_msg::KillTask{status.framework_id, status.task_id});
    }
    return;
  }
  if (it != tasks_.end()) {
    Task& task = it->second;
    task.status = status;
    task.unacknowledged = !status.uuid.empty();
    set_state(task, latest);
    if (state::terminal(status.state) && !status.uuid.empty()) task.terminal_uuid = status.uuid;
    publish(events::TaskUpdated{task_state(task)});
  } else if (!state::terminal(status.state)) {
    log().warn("status update for unknown task '{}' of framework '{}'", sdk::escape(status.task_id),
               sdk::escape(status.framework_id));
  }
  // Forwarded whether or not the framework is connected now: the agent resends until the
  // framework acknowledges, so a disconnected framework gets it again later.
  if (fw->second.connected) send_update(fw->second, status);
}

void Master::check_agents() {
  if (!leading_) return;
  expire_files_requests();
  auto now = clock().now();
  std::vector<std::string> to_remove;
  for (auto& [id, agent] : agents_) {
    if (agent.active) {
      if (now - agent.last_pong > options_.agent_ping_timeout) {
        mark_unreachable(agent);
      } else {
        server_->send(agent.peer, agent_msg::Ping{++next_ping_});
      }
    } else if (now - agent.unreachable_since > options_.agent_removal_timeout) {
      to_remove.push_back(id);
    }
  }
  // The registry's agents that never came back to this master count as unreachable from when
  // it began serving (one that came back left awaited_agents_ at its registration).
  if (!awaited_agents_.empty() && now - serving_since_ > options_.agent_removal_timeout) {
    to_remove.insert(to_remove.end(), awaited_agents_.begin(), awaited_agents_.end());
  }
  // Removals are rate-limited, so that a network partition does not remove half the cluster
  // before an operator can act.
  auto minute_ago = now - std::chrono::minutes(1);
  recent_removals_.erase(std::remove_if(recent_removals_.begin(), recent_removals_.end(),
                                        [&](auto t) { return t < minute_ago; }),
                         recent_removals_.end());
  for (const std::string& id : to_remove) {
    if (options_.agent_removals_per_minute > 0 &&
        static_cast<int64_t>(recent_removals_.size()) >= options_.agent_removals_per_minute) {
      log().warn("agent removals are rate-limited ({} per minute); agent {} waits",
                 options_.agent_removals_per_minute, sdk::printable(id));
      break;
    }
    recent_removals_.push_back(now);
    std::string limit = std::to_string(options_.agent_removal_timeout.count()) + " ms";
    remove_agent(id, agents_.count(id) != 0 ? "unreachable for longer than " + limit
                                            : "not registered with the new leader within " + limit +
                                                  " of its election");
  }
}

void Master::mark_unreachable(Agent& agent) {
  log().warn("agent {} at {} missed its pings for {} ms; marking it unreachable",
             sdk::printable(agent.id), sdk::printable(agent.hostname),
             options_.agent_ping_timeout.count());
  agent.active = false;
  agent_changed(agent.id, true);
  agent.unreachable_since = clock().now();
  for (const std::string& offer_id : std::set<std::string>(agent.offers)) {
    rescind_offer(offer_id, 0, true);
  }
  allocator_->send(alloc::AgentActivation{agent.id, false});
  for (const std::string& key : agent.tasks) {
    auto it = tasks_.find(key);
    if (it == tasks_.end() || it->second.ended) continue;
    master_update(it->second, state::kUnreachable, reason::kAgentUnreachable,
                  "agent " + agent.id + " is unreachable");
  }
}

void Master::remove_agent(const std::string& agent_id, const std::string& why) {
  auto it = agents_.find(agent_id);
  if (it == agents_.end()) {
    if (awaited_agents_.erase(agent_id) != 0) {
      // No task of it is known here: the frameworks hear that the agent is lost, and an
      // explicit reconciliation of one of its tasks is answered TASK_GONE from now on.
      log().warn(
          "removing agent {}, which has not registered with this master since it began "
          "serving: {}",
          sdk::printable(agent_id), sdk::printable(why, 1000));
      record_agent_removed(agent_id, why);
    }
    return;
  }
  Agent& agent = it->second;
  log().warn("removing agent {} at {}: {}", sdk::printable(agent_id),
             sdk::printable(agent.hostname), sdk::printable(why, 1000));
  for (const std::string& offer_id : std::set<std::string>(agent.offers)) {
    rescind_offer(offer_id, 0, true);
  }
  for (const std::string& key : std::set<std::string>(agent.tasks)) {
    auto task = tasks_.find(key);
    if (task == tasks_.end()) continue;
    if (!task->second.ended) {
      master_update(task->second, state::kLost, reason::kAgentRemoved,
                    "agent " + agent_id + " was removed: " + why);
    } else if (task->second.terminal_uuid.empty()) {
      // The agent said the task ended (its latest state) while an earlier update still waited
      // for the framework's acknowledgement; the terminal update itself never came and now never
      // will: the framework hears the end from the master, or it would wait for it forever.
      std::string ended_state = task->second.state;
      master_update(task->second, ended_state.c_str(), reason::kAgentRemoved,
                    "agent " + agent_id + " was removed (" + why + ") before it sent the task's " +
                        ended_state + " update");
    }
    finish_task(key);
  }
  // The allocator forgets the agent with what its executors held.
  for (const auto& [key, executor] : std::map<std::string, Executor>(agent.executors)) {
    remove_executor(agent, executor.framework_id, executor.info.executor_id, false);
  }
  allocator_->send(alloc::AgentRemoved{agent_id});
  peers_.erase(agent.peer);
  first_registrations_.erase(agent.peer);
  agents_.erase(it);
  agent_changed(agent_id, true);
  record_agent_removed(agent_id, why);
}

void Master::record_agent_removed(const std::string& agent_id, const std::string& why) {
  publish(events::AgentRemoved{agent_id, why});
  for (auto& [id, fw] : frameworks_) {
    if (fw.connected) server_->send(fw.peer, scheduler::AgentLost{agent_id});
  }
  agent_secrets_.erase(agent_id);
  removed_agents_.insert(agent_id);
  registry_->remove_agent(agent_id, now_seconds(), [this, agent_id](bool ok) {
    if (ok) log().info("agent {} is recorded as removed in the registry", sdk::printable(agent_id));
  });
}

// --- Frameworks -------------------------------------------------------------------------------

Framework* Master::framework_of(const sdk::Request& request, const std::string& framework_id) {
  auto it = frameworks_.find(framework_id);
  if (it == frameworks_.end() || it->second.peer != request.peer) {
    // scheduler.error is final for a framework, so a stray call (e.g. from a connection that a
    // re-subscription replaced) is only logged.
    log().warn("'{}' for framework '{}' from a connection it is not subscribed on; dropped",
               sdk::escape(request.message.type()), sdk::escape(framework_id));
    return nullptr;
  }
  it->second.last_seen = clock().now();
  return &it->second;
}

void Master::on_subscribe(const Caller& caller, const scheduler::Subscribe& message) {
  if (!message.framework_id.empty() && removed_frameworks_.count(message.framework_id) != 0) {
    server_->reply_later(caller.peer, caller.sequence,
                         scheduler::Error{"framework '" + message.framework_id +
                                          "' was removed; subscribe without an id"});
    return;
  }
  std::vector<std::string> roles =
      message.roles.empty() ? std::vector<std::string>{"*"} : message.roles;
  for (const auto& role : roles) {
    if (std::string problem = role_problem(role); !problem.empty()) {
      server_->reply_later(caller.peer, caller.sequence,
                           scheduler::Error{"invalid role: " + problem});
      return;
    }
  }
  // The failover timeout becomes a deadline at the first disconnect: checked here, so that no
  // value (NaN, infinity, 1e300) can overflow it into the past and kill the tasks at once.
  auto failover =
      protocol::wire_duration("failover_timeout_seconds", message.failover_timeout_seconds,
                              protocol::limits::kMaxFailoverTimeoutSeconds);
  if (!failover) {
    server_->reply_later(caller.peer, caller.sequence,
                         scheduler::Error{"invalid framework: " + failover.error().message});
    return;
  }
  if (failover->clamped) {
    log().warn("framework '{}': failover_timeout_seconds {:g} capped at {:g} s",
               sdk::printable(message.name), message.failover_timeout_seconds, failover->seconds);
  }
  std::string id = message.framework_id;
  if (id.empty()) id = master_id_ + "-" + std::to_string(next_framework_++);
  if (frameworks_.count(id) != 0) return subscribe(caller, message, id, roles, failover->seconds);
  // A framework this master does not know is told it subscribed only once its record is
  // stored: it can launch tasks from then on, and a master elected after this one dies must
  // know it when agents re-register with those tasks (a task of a framework that is in no
  // registry is killed as an orphan). A write that fails is logged by the registry; the
  // subscription is not answered, and the client subscribes again (an id this master made up
  // is deleted again: a write that timed out may still have been applied).
  double failover_seconds = failover->seconds;
  auto answer = [this, caller, message, id, roles, failover_seconds](bool stored) {
    if (!leading_) return;
    if (!stored) {
      if (message.framework_id.empty()) registry_->remove_framework(id);
      return;
    }
    if (removed_frameworks_.count(id) != 0) {
      // Torn down while its record was written (a subscription with this id that came
      // meanwhile): the record goes again.
      registry_->remove_framework(id);
      server_->reply_later(caller.peer, caller.sequence,
                           scheduler::Error{"framework '" + id + "' was removed"});
      return;
    }
    subscribe(caller, message, id, roles, failover_seconds);
  };
  registry_->put_framework(FrameworkRecord{id, message.name, roles, failover_seconds},
                           std::move(answer));
}

void Master::subscribe(const Caller& caller, const scheduler::Subscribe& message,
                       const std::string& id, const std::vector<std::string>& roles,
                       double failover_seconds) {
  auto [it, created] = frameworks_.try_emplace(id);
  Framework& fw = it->second;
  bool resubscribing = !created;
  scheduler::Subscribed subscribed{
      id, master_id_, std::chrono::duration<double>(options_.heartbeat_interval).count()};
  // A framework that subscribed without an id learns the one it was given only from this
  // answer: when its connection is gone (its client gave up waiting for the record's write and
  // subscribes again, for a new id) nobody can ever use this id, so it is forgotten rather than
  // kept, disconnected, for its failover timeout.
  bool fresh = created && message.framework_id.empty();
  if (fresh && !server_->reply_later(caller.peer, caller.sequence, subscribed)) {
    frameworks_.erase(it);
    registry_->remove_framework(id);
    log().warn("framework '{}' could not be told its id {} (its connection is gone); forgotten",
               sdk::escape(message.name), sdk::printable(id));
    return;
  }
  if (resubscribing) {
    // A new connection: whatever was offered to the old one comes back.
    for (const std::string& offer_id : std::set<std::string>(fw.offers)) {
      rescind_offer(offer_id, 0, false);
    }
    peers_.erase(fw.peer);
  }
  fw.id = id;
  fw.peer = caller.peer;
  fw.name = message.name;
  fw.roles = roles;
  fw.failover_timeout_seconds = failover_seconds;
  fw.connected = true;
  fw.last_seen = clock().now();
  if (fw.registered_at == 0) fw.registered_at = now_seconds();
  peers_[caller.peer] = id;
  if (created) {
    allocator_->send(alloc::FrameworkAdded{id, roles, true});
  } else {
    allocator_->send(alloc::FrameworkActivation{id, true});
  }
  // A new framework's record was stored before this; a re-subscription's is updated.
  if (resubscribing) {
    registry_->put_framework(FrameworkRecord{id, fw.name, fw.roles, fw.failover_timeout_seconds});
  }
  publish(events::FrameworkAdded{framework_state(fw, tasks_, offers_), resubscribing});
  bool answered = fresh || server_->reply_later(caller.peer, caller.sequence, subscribed);
  // No AllocateNow: the allocator runs a cycle shortly after a framework is added or
  // activated, shared by frameworks subscribing together.
  log().info("{} framework {} '{}' with roles {}", resubscribing ? "re-subscribed" : "subscribed",
             sdk::printable(id), sdk::escape(fw.name),
             sdk::printable(sdk::detail::join(roles, ","), 1000));
  // The connection it came on is gone (a subscription kept while a new leader read its
  // registry, whose client gave up on it meanwhile): offers sent there would be lost until it
  // subscribes again, so it is disconnected until it does.
  if (!answered) {
    disconnect_framework(fw, "could not be told it subscribed (its connection is gone)");
    return;
  }
  if (resubscribing) resend_unacknowledged(fw);
}

void Master::resend_unacknowledged(Framework& fw) {
  // An update that reached the master while the framework was disconnected was not forwarded,
  // and one forwarded may have been lost with the old connection (or its acknowledgement
  // was): each is sent again now, after the subscription's answer, rather than at its agent's
  // next resend (which backs off up to a minute). A duplicate is harmless: the agent ignores an
  // acknowledgement for an update it no longer waits on.
  size_t resent = 0;
  for (const std::string& key : fw.tasks) {
    auto it = tasks_.find(key);
    if (it == tasks_.end() || !it->second.unacknowledged) continue;
    send_update(fw, it->second.status);
    ++resent;
  }
  if (resent > 0) {
    log().info("framework {} re-subscribed: sent its {} unacknowledged update(s) again",
               sdk::printable(fw.id), resent);
  }
}

void Master::task_error(Framework& framework, const protocol::TaskInfo& task, const char* st,
                        const char* why, const std::string& message) {
  protocol::TaskStatus status;
  status.task_id = task.task_id;
  status.agent_id = task.agent_id;
  status.framework_id = framework.id;
  status.state = st;
  status.reason = why;
  status.source = protocol::source::kMaster;
  status.message = message;
  status.timestamp = now_seconds();
  log().info("task '{}' of framework {}: {} ({})", sdk::escape(task.task_id),
             sdk::printable(framework.id), st, sdk::printable(message, 1000));
  send_update(framework, status);
}

void Master::send_update(Framework& framework, const protocol::TaskStatus& status) {
  server_->send(framework.peer, scheduler::Update{status});
}

void Master::master_update(Task& task, const char* st, const char* why,
                           const std::string& message) {
  set_state(task, st);
  task.status.state = st;
  task.status.reason = why;
  task.status.source = protocol::source::kMaster;
  task.status.message = message;
  task.status.uuid.clear();  // generated by the master: nothing to acknowledge
  task.unacknowledged = false;
  task.status.timestamp = now_seconds();
  publish(events::TaskUpdated{task_state(task)});
  auto fw = frameworks_.find(task.framework_id);
  if (fw != frameworks_.end() && fw->second.connected) send_update(fw->second, task.status);
}

void Master::set_state(Task& task, const std::string& st) {
  // An ended task stays as it ended: no later report revives it.
  if (task.ended) return;
  task.state = st;
  if (!state::terminal(st)) return;
  // The first terminal state gives the resources back, acknowledged or not: a framework that
  // never acknowledges must not keep what its ended tasks held.
  task.ended = true;
  ledger_.remove(task);
  if (agents_.count(task.info.agent_id) != 0) {
    allocator_->send(
        alloc::Recover{task.framework_id, task.info.agent_id, task.role, task.info.resources, 0});
  }
}

void Master::finish_task(const std::string& key) {
  auto it = tasks_.find(key);
  if (it == tasks_.end()) return;
  Task task = std::move(it->second);
  tasks_.erase(it);
  if (!task.ended) ledger_.remove(task);
  if (!task.ended && agents_.count(task.info.agent_id) != 0) {
    allocator_->send(
        alloc::Recover{task.framework_id, task.info.agent_id, task.role, task.info.resources, 0});
  }
  auto agent = agents_.find(task.info.agent_id);
  if (agent != agents_.end()) agent->second.tasks.erase(key);
  auto fw = frameworks_.find(task.framework_id);
  if (fw != frameworks_.end()) fw->second.tasks.erase(key);
  // A summary, not the task: a command or labels of megabytes must not stay in the master.
  op::TaskState summary = completed_summary(std::move(task));
  publish(events::TaskRemoved{summary});
  if (options_.max_completed_tasks <= 0) return;
  completed_.push_back(std::move(summary));
  while (static_cast<int64_t>(completed_.size()) > options_.max_completed_tasks) {
    completed_.pop_front();
  }
}

double Master::refuse_seconds(const Framework& framework, double requested) {
  auto checked =
      protocol::wire_duration("refuse_seconds", requested, protocol::limits::kMaxRefuseSeconds);
  if (!checked) {
    log().warn("framework {}: {}; using the default of 5 s", framework.id, checked.error().message);
    return 5;
  }
  if (checked->clamped) {
    log().warn("framework {}: refuse_seconds {:g} capped at {:g} s", framework.id, requested,
               checked->seconds);
  }
  return checked->seconds;
}

void Master::on_accept(const sdk::Request& request, const scheduler::Accept& message) {
  Framework& fw = frameworks_.at(message.framework_id);
  GatheredOffers gathered = gather_offers(fw, message.offer_ids, offers_, agents_);
  const std::string& agent_id = gathered.agent_id;
  protocol::Resources& available = gathered.available;
  auto agent = agents_.find(agent_id);
  // The offers are used up either way: they leave the outstanding set now.
  for (const std::string& offer_id : gathered.usable) {
    publish(events::OfferRescinded{offer_id, fw.id, agent_id, events::offer_end::kAccepted});
    forget_offer(offers_.find(offer_id));
    fw.offers.erase(offer_id);
    if (agent != agents_.end()) agent->second.offers.erase(offer_id);
    agent_changed(agent_id, false);
  }
  if (!gathered.problem.empty()) {
    for (const auto& task : message.tasks) {
      task_error(fw, task, state::kError, gathered.reason, gathered.problem);
    }
    if (!agent_id.empty()) {
      allocator_->send(alloc::Recover{fw.id, agent_id, gathered.role, available, 0});
    }
    return;
  }

  std::set<std::string> ids_in_this_accept;
  for (protocol::TaskInfo task : message.tasks) {
    std::string why = task_problem(fw, task, agent_id, available, tasks_, ids_in_this_accept);
    bool starts_executor = false;
    if (why.empty() && !task.executor.executor_id.empty()) {
      why = executor_problem(agent->second, fw.id, task, available, starts_executor);
    }
    if (!why.empty()) {
      task_error(fw, task, state::kError, reason::kTaskInvalid, why);
      continue;
    }
    available -= task.resources;
    if (starts_executor) {
      // What the new executor holds stays allocated with the task instead of going back.
      available -= task.executor.resources;
      add_executor(agent->second, fw, gathered.role, task.executor);
    }
    task.agent_id = agent_id;
    std::string key = task_key(fw.id, task.task_id);
    Task& t = tasks_[key];  // a new key: task_problem refused ids in use
    t.info = task;
    t.framework_id = fw.id;
    t.role = gathered.role;
    t.status.task_id = task.task_id;
    t.status.agent_id = agent_id;
    t.status.framework_id = fw.id;
    t.status.state = state::kStaging;
    t.state = state::kStaging;
    t.status.source = protocol::source::kMaster;
    t.status.timestamp = now_seconds();
    ledger_.add(t);
    fw.tasks.insert(key);
    agent->second.tasks.insert(key);
    publish(events::TaskAdded{task_state(t)});
    server_->send(agent->second.peer, agent_msg::RunTask{fw.id, task});
  }
  // What the tasks did not use goes back, refused for a while if the framework asked.
  if (!available.empty()) {
    allocator_->send(alloc::Recover{fw.id, agent_id, gathered.role, available,
                                    refuse_seconds(fw, message.refuse_seconds)});
  }
}

void Master::add_executor(Agent& agent, Framework& framework, const std::string& role,
                          const protocol::ExecutorInfo& info) {
  // Counted from now on: the first task's launch takes it out of the offers with the task.
  agent.executors[executor_key(framework.id, info.executor_id)] =
      Executor{info, framework.id, role};
  framework.executors[executor_key(agent.id, info.executor_id)] = info.resources;
  agent_changed(agent.id, true);
}

void Master::remove_executor(Agent& agent, const std::string& framework_id,
                             const std::string& executor_id, bool give_back) {
  auto it = agent.executors.find(executor_key(framework_id, executor_id));
  if (it == agent.executors.end()) return;
  if (give_back && !it->second.info.resources.empty()) {
    allocator_->send(
        alloc::Recover{framework_id, agent.id, it->second.role, it->second.info.resources, 0});
  }
  agent.executors.erase(it);
  agent_changed(agent.id, true);
  auto fw = frameworks_.find(framework_id);
  if (fw != frameworks_.end()) fw->second.executors.erase(executor_key(agent.id, executor_id));
}

void Master::on_executor_exited(const sdk::Request& request,
                                const agent_msg::ExecutorExited& message) {
  auto agent = agents_.find(message.agent_id);
  if (agent == agents_.end() || agent->second.peer != request.peer) {
    log().warn("executor exit from unregistered agent '{}' ignored", sdk::escape(message.agent_id));
    return;
  }
  std::string why = sdk::printable(message.message, 1000);
  log().info("executor '{}' of framework '{}' on agent {} ended (status {}): {}",
             sdk::escape(message.executor_id), sdk::escape(message.framework_id),
             sdk::printable(message.agent_id), message.status, why);
  // Only the sender's own executors are forgotten: the key names this agent.
  bool known =
      agent->second.executors.count(executor_key(message.framework_id, message.executor_id)) != 0;
  remove_executor(agent->second, message.framework_id, message.executor_id, true);
  auto fw = frameworks_.find(message.framework_id);
  if (!known || fw == frameworks_.end() || !fw->second.connected) return;
  server_->send(fw->second.peer,
                scheduler::ExecutorExited{message.framework_id, message.agent_id,
                                          message.executor_id, message.status, why});
}

void Master::on_shutdown_executor(Framework& framework,
                                  const scheduler::ShutdownExecutor& message) {
  auto agent = agents_.find(message.agent_id);
  // A framework shuts down only its own executors: the key is its own id.
  bool owned = agent != agents_.end() &&
               agent->second.executors.count(executor_key(framework.id, message.executor_id)) != 0;
  if (!owned || !agent->second.active) {
    log().warn("framework {} asked to shut down executor '{}' on agent '{}': {}; dropped",
               sdk::printable(framework.id), sdk::escape(message.executor_id),
               sdk::escape(message.agent_id),
               owned ? "the agent is not connected" : "the framework runs no such executor there");
    return;
  }
  log().info("framework {} shuts down its executor '{}' on agent {}", sdk::printable(framework.id),
             sdk::escape(message.executor_id), sdk::printable(message.agent_id));
  server_->send(agent->second.peer, agent_msg::ShutdownExecutor{framework.id, message.executor_id});
}

void Master::on_decline(const scheduler::Decline& message) {
  double refuse = refuse_seconds(frameworks_.at(message.framework_id), message.refuse_seconds);
  for (const std::string& offer_id : message.offer_ids) {
    auto it = offers_.find(offer_id);
    if (it == offers_.end() || it->second.offer.framework_id != message.framework_id) continue;
    rescind_offer(offer_id, refuse, false, events::offer_end::kDeclined);
  }
}

void Master::on_kill(const scheduler::Kill& message) {
  auto it = tasks_.find(task_key(message.framework_id, message.task_id));
  Framework& fw = frameworks_.at(message.framework_id);
  if (it == tasks_.end()) {
    protocol::TaskInfo unknown;
    unknown.task_id = message.task_id;
    unknown.agent_id = message.agent_id;
    task_error(fw, unknown, state::kUnknown, reason::kTaskUnknown,
               "no task '" + message.task_id + "' is known to this master");
    return;
  }
  // An ended task has nothing left to kill; its terminal update is on its way.
  if (it->second.ended) return;
  auto agent = agents_.find(it->second.info.agent_id);
  if (agent == agents_.end()) return;
  server_->send(agent->second.peer, agent_msg::KillTask{message.framework_id, message.task_id});
}

// Framework messages are best effort, as in Mesos: one that cannot be delivered is dropped with
// a log line; the SDK refuses to send one beyond the size limit, so one that arrives larger is
// a broken or hostile peer.
void Master::on_framework_message(const scheduler::FrameworkMessage& message) {
  auto agent = agents_.find(message.agent_id);
  if (message.data.size() > protocol::kMaxFrameworkMessageBytes || message.executor_id.empty() ||
      agent == agents_.end() || !agent->second.active) {
    log().info(
        "dropped a framework message from framework '{}' to executor '{}' on agent '{}' "
        "({} bytes): {}",
        sdk::escape(message.framework_id), sdk::escape(message.executor_id),
        sdk::escape(message.agent_id), message.data.size(),
        message.data.size() > protocol::kMaxFrameworkMessageBytes ? "too large"
        : message.executor_id.empty()                             ? "no executor named"
                                                                  : "the agent is not connected");
    return;
  }
  server_->send(agent->second.peer,
                agent_msg::FrameworkMessage{message.agent_id, message.framework_id,
                                            message.executor_id, message.data});
}

void Master::on_executor_message(const sdk::Request& request,
                                 const agent_msg::FrameworkMessage& message) {
  // Only from the agent itself, for a framework that is connected now.
  auto agent = agents_.find(message.agent_id);
  if (agent == agents_.end() || agent->second.peer != request.peer) return;
  auto fw = frameworks_.find(message.framework_id);
  if (fw == frameworks_.end() || !fw->second.connected ||
      message.data.size() > protocol::kMaxFrameworkMessageBytes) {
    log().info("dropped a framework message from executor '{}' on agent '{}' to framework '{}'",
               sdk::escape(message.executor_id), sdk::escape(message.agent_id),
               sdk::escape(message.framework_id));
    return;
  }
  server_->send(fw->second.peer, scheduler::FrameworkMessage{message.framework_id, message.agent_id,
                                                             message.executor_id, message.data});
}

void Master::on_acknowledge(const scheduler::Acknowledge& message) {
  std::string key = task_key(message.framework_id, message.task_id);
  auto task = tasks_.find(key);
  // A task the master knows is acknowledged to the agent it runs on, whatever agent the
  // framework names.
  const std::string& agent_id =
      task != tasks_.end() ? task->second.info.agent_id : message.agent_id;
  auto agent = agents_.find(agent_id);
  if (agent != agents_.end()) {
    server_->send(agent->second.peer,
                  agent_msg::StatusAck{message.framework_id, message.task_id, message.uuid});
  }
  if (task != tasks_.end() && !message.uuid.empty() && message.uuid == task->second.status.uuid) {
    task->second.unacknowledged = false;
  }
  // The acknowledgement of its terminal update is the end of a task: its id is free again.
  if (task != tasks_.end() && task->second.ended && !message.uuid.empty() &&
      message.uuid == task->second.terminal_uuid) {
    finish_task(key);
  }
}

void Master::on_reconcile(const scheduler::Reconcile& message) {
  Framework& fw = frameworks_.at(message.framework_id);
  auto report = [&](const Task& task) {
    protocol::TaskStatus status = task.status;
    status.state = task.state.empty() ? status.state : task.state;
    status.reason = reason::kReconciliation;
    status.source = protocol::source::kMaster;
    status.uuid.clear();
    send_update(fw, status);
  };
  if (message.tasks.empty()) {
    for (const std::string& key : fw.tasks) {
      auto it = tasks_.find(key);
      if (it != tasks_.end()) report(it->second);
    }
    return;
  }
  for (const auto& wanted : message.tasks) {
    auto it = tasks_.find(task_key(fw.id, wanted.task_id));
    if (it != tasks_.end()) {
      report(it->second);
      continue;
    }
    // A task of an agent that has not come back to this master yet (a failover) is answered
    // once the agent re-registers with its tasks (a later reconciliation) or is removed (then
    // TASK_GONE): TASK_UNKNOWN now would have the framework replace a task that still runs.
    if (!wanted.agent_id.empty() && awaited_agents_.count(wanted.agent_id) != 0) {
      continue;
    }
    protocol::TaskInfo unknown;
    unknown.task_id = wanted.task_id;
    unknown.agent_id = wanted.agent_id;
    bool agent_gone = !wanted.agent_id.empty() && removed_agents_.count(wanted.agent_id) != 0;
    task_error(fw, unknown, agent_gone ? state::kGone : state::kUnknown, reason::kReconciliation,
               agent_gone ? "the task's agent was removed" : "the master knows no such task");
  }
}

void Master::check_frameworks() {
  if (!leading_) return;
  auto now = clock().now();
  std::vector<std::string> expired;
  for (auto& [id, fw] : frameworks_) {
    if (fw.connected) {
      if (now - fw.last_seen > 3 * options_.heartbeat_interval) {
        disconnect_framework(fw, "missed its heartbeats");
      } else {
        server_->send(fw.peer, scheduler::Heartbeat{});
      }
    } else if (now >= fw.failover_deadline) {
      expired.push_back(id);
    }
  }
  for (const std::string& id : expired) {
    remove_framework(id, "it did not come back within its failover timeout");
  }
}

void Master::disconnect_framework(Framework& fw, std::string_view why) {
  log().warn("framework {} '{}' {}; it has {} s to re-subscribe", sdk::printable(fw.id),
             sdk::escape(fw.name), why, fw.failover_timeout_seconds);
  fw.connected = false;
  // Checked and capped when it came in (on_subscribe, recover_registry), so this cannot
  // overflow.
  fw.failover_deadline =
      clock().now() + protocol::WireDuration{fw.failover_timeout_seconds}.as<Clock::duration>();
  for (const std::string& offer_id : std::set<std::string>(fw.offers)) {
    rescind_offer(offer_id, 0, false);
  }
  allocator_->send(alloc::FrameworkActivation{fw.id, false});
  peers_.erase(fw.peer);
}

void Master::remove_framework(const std::string& framework_id, const std::string& why) {
  auto it = frameworks_.find(framework_id);
  if (it == frameworks_.end()) return;
  Framework& fw = it->second;
  log().warn("removing framework {} '{}': {}; killing its {} task(s)", sdk::printable(fw.id),
             sdk::escape(fw.name), sdk::printable(why, 1000), fw.tasks.size());
  for (const std::string& offer_id : std::set<std::string>(fw.offers)) {
    rescind_offer(offer_id, 0, false);
  }
  for (const std::string& key : std::set<std::string>(fw.tasks)) {
    auto task = tasks_.find(key);
    if (task == tasks_.end()) continue;
    auto agent = agents_.find(task->second.info.agent_id);
    if (agent != agents_.end() && !task->second.ended) {
      server_->send(agent->second.peer,
                    agent_msg::KillTask{framework_id, task->second.info.task_id});
    }
    if (!task->second.ended) {
      task->second.status.state = state::kKilled;
      task->second.status.reason = reason::kFrameworkRemoved;
      set_state(task->second, state::kKilled);
      publish(events::TaskUpdated{task_state(task->second)});
    }
    finish_task(key);
  }
  // Its executors end with it (an agent that runs none ignores this), and what they held goes
  // back now, as its tasks' did.
  for (auto& [agent_id, agent] : agents_) {
    for (const auto& [key, executor] : std::map<std::string, Executor>(agent.executors)) {
      if (executor.framework_id == framework_id) {
        remove_executor(agent, framework_id, executor.info.executor_id, true);
      }
    }
    if (agent.active) server_->send(agent.peer, agent_msg::ShutdownFramework{framework_id});
  }
  allocator_->send(alloc::FrameworkRemoved{framework_id});
  publish(events::FrameworkRemoved{framework_id, why});
  peers_.erase(fw.peer);
  frameworks_.erase(it);
  removed_frameworks_.insert(framework_id);
  registry_->remove_framework(framework_id);
}

// --- Offers ------------------------------------------------------------------------------------

namespace {

// Counts one allocation cycle in the histogram of /metrics; a duration the allocator did not
// give (older allocators), or that is not a finite amount, is left out.
void record_allocation_cycle(op::MasterCounters& counters, double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return;
  constexpr size_t kBounds = std::size(op::kAllocationCycleBuckets);
  counters.allocation_cycle_buckets.resize(kBounds + 1);
  size_t bucket = 0;
  while (bucket < kBounds && seconds > op::kAllocationCycleBuckets[bucket]) ++bucket;
  ++counters.allocation_cycle_buckets[bucket];
  counters.allocation_cycle_seconds_sum += seconds;
}

}  // namespace

void Master::on_allocated(const alloc::Allocated& message) {
  if (!leading_) return;
  ++counters_.allocations;
  record_allocation_cycle(counters_, message.cycle_seconds);
  std::map<std::string, scheduler::Offers> batches;
  for (const alloc::Grant& grant : message.grants) {
    auto fw = frameworks_.find(grant.framework_id);
    auto agent = agents_.find(grant.agent_id);
    if (fw == frameworks_.end() || !fw->second.connected || agent == agents_.end() ||
        !agent->second.active) {
      // Things changed since the allocator decided: give it straight back.
      allocator_->send(
          alloc::Recover{grant.framework_id, grant.agent_id, grant.role, grant.resources, 0});
      continue;
    }
    scheduler::Offer offer;
    offer.offer_id = master_id_ + "-O" + std::to_string(next_offer_++);
    offer.framework_id = grant.framework_id;
    offer.agent_id = grant.agent_id;
    offer.hostname = agent->second.hostname;
    offer.role = grant.role;
    offer.resources = grant.resources;
    offer.attributes = agent->second.attributes;
    offers_[offer.offer_id] = Offer{offer, summary_version_ + 1};
    fw->second.offers.insert(offer.offer_id);
    agent->second.offers.insert(offer.offer_id);
    agent_changed(grant.agent_id, false);
    publish(events::OfferMade{offer});
    batches[grant.framework_id].offers.push_back(std::move(offer));
  }
  for (auto& [framework_id, batch] : batches) {
    Framework& fw = frameworks_.at(framework_id);
    // A connection the framework's client gave up on (after a failover it may close one the
    // master is still answering on): its offers would be lost until it subscribed again, their
    // resources held. They go back now, and it is disconnected until it re-subscribes, as when
    // it misses its heartbeats. (The server's queue for a peer holds 2^20 messages: one that
    // is full is a framework that reads nothing, and is treated alike.)
    if (!server_->send(fw.peer, batch)) {
      disconnect_framework(fw, "could not be sent its offers (its connection is gone)");
    }
  }
}

void Master::rescind_offer(const std::string& offer_id, double refuse_seconds, bool tell,
                           const char* why) {
  auto it = offers_.find(offer_id);
  if (it == offers_.end()) return;
  const scheduler::Offer& offer = it->second.offer;
  publish(events::OfferRescinded{offer_id, offer.framework_id, offer.agent_id, why});
  allocator_->send(alloc::Recover{offer.framework_id, offer.agent_id, offer.role, offer.resources,
                                  refuse_seconds});
  auto fw = frameworks_.find(offer.framework_id);
  if (fw != frameworks_.end()) {
    fw->second.offers.erase(offer_id);
    if (tell && fw->second.connected) server_->send(fw->second.peer, scheduler::Rescind{offer_id});
  }
  auto agent = agents_.find(offer.agent_id);
  if (agent != agents_.end()) agent->second.offers.erase(offer_id);
  agent_changed(offer.agent_id, false);
  forget_offer(it);
}

void Master::agent_changed(const std::string& id, bool aggregate) {
  if (aggregate) aggregates_.reset();
  if (all_views_marked_) return;
  // Bounded: the agents there are and those removed since the last summary. Past that (no
  // summary asked for during a long churn of agents) every view is compared at the next one.
  if (marked_views_.size() > agents_.size() + 1024) {
    all_views_marked_ = true;
    marked_views_.clear();
    return;
  }
  marked_views_.insert(id);
}

void Master::forget_offer(std::map<std::string, Offer>::iterator offer) {
  if (offer == offers_.end()) return;
  // The next summary is the first without it.
  gone_offers_.add(offer->first, offer->second.made_at, summary_version_ + 1);
  offers_.erase(offer);
}

// --- Operators ---------------------------------------------------------------------------------

void Master::on_update_role(const sdk::Request& request, const op::UpdateRole& message) {
  std::string problem = role_problem(message.role);
  if (problem.empty() && message.weight < 0 && !message.set_quota && !message.set_priority) {
    problem = "nothing to change: give a weight, a quota or a priority";
  }
  if (problem.empty() && message.set_quota) {
    for (const auto& [name, ranges] : message.quota.ranges) {
      if (!ranges.empty()) problem = "a quota limits scalar resources only, not '" + name + "'";
    }
    // Plain names and amounts the allocator can account: Mesos's reservation syntax
    // ("cpus(role)") is not a resource here, and a quota on it would silently limit nothing.
    if (Status s = protocol::check_resources(message.quota); problem.empty() && !s) {
      problem = "invalid quota: " + s.error().message;
    }
  }
  if (!problem.empty()) return (void)server_->reply(request, op::Result{false, problem});

  // Answered once the allocator has answered every change (it may refuse one). What it takes
  // is saved in the registry before the answer, so that what the operator was told survives a
  // master restart.
  struct Pending {
    std::string peer;
    uint64_t sequence;
    int remaining = 0;
    int taken = 0;
    std::vector<std::string> errors;
  };
  auto pending = std::make_shared<Pending>();
  pending->peer = request.peer;
  pending->sequence = request.message.header().sequence;
  std::string role = message.role;
  auto finish = [this, pending, role] {
    if (pending->taken > 0) {
      log().info("operator updated role '{}'", sdk::escape(role));
      allocator_->send(alloc::AllocateNow{});
    }
    auto answer = [this, pending](bool saved) {
      if (!saved) {
        pending->errors.push_back(
            "the change is in effect, but the registry could not save it: a master restart "
            "would undo it");
      }
      server_->reply_later(
          pending->peer, pending->sequence,
          op::Result{pending->errors.empty(), sdk::detail::join(pending->errors, "; ")});
    };
    if (pending->taken == 0) return answer(true);
    registry_->put_role(role, role_settings_[role], answer);
  };
  // One request per change; `take` records it in role_settings_ once the allocator agrees.
  auto ask = [&](const auto& change, std::function<void(RoleSettings&)> take) {
    allocator_->request(
        change,
        [this, pending, role, take = std::move(take), finish](Result<Envelope> reply) {
          auto result =
              reply ? reply->body<alloc::RoleResult>() : Result<alloc::RoleResult>(reply.error());
          if (!result) {
            pending->errors.push_back("no answer from the allocator: " + result.error().message);
          } else if (!result->ok) {
            // The answer is about this role already: "role 'R': " would say it twice.
            std::string prefix = "role '" + role + "': ";
            std::string error = result->error;
            if (error.rfind(prefix, 0) == 0) error.erase(0, prefix.size());
            pending->errors.push_back(error);
          } else {
            take(role_settings_[role]);
            ++pending->taken;
          }
          if (--pending->remaining == 0) finish();
        },
        std::chrono::seconds(5));
  };
  pending->remaining = (message.weight >= 0) + message.set_quota + message.set_priority;
  if (message.weight >= 0) {
    ask(alloc::SetWeight{role, message.weight},
        [weight = message.weight](RoleSettings& s) { s.weight = weight; });
  }
  if (message.set_quota) {
    // An empty quota is saved too: it removes a limit the allocator's TOML may set.
    ask(alloc::SetQuota{role, message.quota}, [quota = message.quota](RoleSettings& s) {
      s.has_quota = true;
      s.quota = quota;
    });
  }
  if (message.set_priority) {
    ask(alloc::SetPriority{role, message.priority}, [priority = message.priority](RoleSettings& s) {
      s.has_priority = true;
      s.priority = priority;
    });
  }
}

op::Result Master::operator_kill(const op::KillTask& message) {
  auto fail = [](std::string error) { return op::Result{false, std::move(error)}; };
  Task* found = nullptr;
  size_t matches = 0;
  for (auto& [key, task] : tasks_) {
    if (task.info.task_id != message.task_id) continue;
    if (!message.framework_id.empty() && task.framework_id != message.framework_id) continue;
    ++matches;
    found = &task;
  }
  if (found == nullptr) return fail("no live task " + sdk::quote(message.task_id) + " is known");
  if (matches > 1) {
    return fail("several frameworks have a task " + sdk::quote(message.task_id) +
                ": name the framework");
  }
  if (found->ended) {
    return fail("task " + sdk::quote(message.task_id) + " has ended already (" +
                found->shown_state() + ")");
  }
  auto agent = agents_.find(found->info.agent_id);
  if (agent == agents_.end() || !agent->second.active) {
    return fail("the agent of task " + sdk::quote(message.task_id) + " is not connected");
  }
  log().info("operator kills task {} of framework {}", sdk::quote(message.task_id),
             sdk::quote(found->framework_id));
  server_->send(agent->second.peer, agent_msg::KillTask{found->framework_id, message.task_id});
  return op::Result{};
}

// --- Sandbox files ------------------------------------------------------------------------------

namespace {

// How long an agent has to answer a sandbox request, and how many may wait at once.
constexpr auto kFilesTimeout = std::chrono::seconds(10);
constexpr size_t kMaxPendingFiles = 1024;

protocol::files::Answer files_failure(const char* code, std::string error) {
  protocol::files::Answer answer;
  answer.code = code;
  answer.error = std::move(error);
  return answer;
}

}  // namespace

void Master::on_files_request(const sdk::Request& request, const protocol::files::Request& m) {
  namespace files = protocol::files;
  auto refuse = [&](const char* code, std::string error) {
    server_->reply(request, files_failure(code, std::move(error)));
  };
  if (m.task_id.empty() || m.task_id.size() > kMaxIdBytes || m.framework_id.size() > kMaxIdBytes) {
    return refuse(files::code::kInvalid, "a task id of 1 to 256 bytes is needed");
  }
  if (m.operation != files::kBrowse && m.operation != files::kRead) {
    return refuse(files::code::kInvalid,
                  "unknown operation " + sdk::quote(m.operation) + " (expected browse or read)");
  }
  if (m.path.size() > files::kMaxPathBytes) {
    return refuse(files::code::kInvalid, "the path is longer than 4096 bytes");
  }
  if (m.offset < -1 || m.length > files::kMaxReadBytes) {
    return refuse(files::code::kInvalid, "offset must be -1 or more and length at most 1048576");
  }
  // The task: a live one, else the newest completed one with that id.
  std::string framework_id, agent_id, sandbox, executor_id;
  auto take = [&](const std::string& fw, const std::string& agent, const std::string& dir,
                  const std::string& executor) {
    framework_id = fw;
    agent_id = agent;
    sandbox = dir;
    executor_id = executor;
  };
  auto take_live = [&](const Task& task) {
    take(task.framework_id, task.info.agent_id, task.sandbox, task.info.executor.executor_id);
  };
  if (!m.framework_id.empty()) {
    // The framework's own task, found by its key: a framework that reads each finished run's
    // output (Chronos) asks once per run, and a scan of every task per request was 13 % of the
    // master's time with 10,000 runs ending.
    auto it = tasks_.find(task_key(m.framework_id, m.task_id));
    if (it != tasks_.end() && it->second.framework_id == m.framework_id &&
        it->second.info.task_id == m.task_id) {
      take_live(it->second);
    }
  } else {
    for (const auto& [key, task] : tasks_) {
      if (task.info.task_id == m.task_id) {
        take_live(task);
        break;
      }
    }
  }
  for (auto it = completed_.rbegin(); agent_id.empty() && it != completed_.rend(); ++it) {
    if (it->task_id == m.task_id &&
        (m.framework_id.empty() || it->framework_id == m.framework_id)) {
      take(it->framework_id, it->agent_id, it->sandbox, it->executor_id);
    }
  }
  if (agent_id.empty()) {
    return refuse(files::code::kNotFound, "no task " + sdk::quote(m.task_id) + " is known");
  }
  if (sandbox.empty()) {
    return refuse(files::code::kNotFound,
                  "the agent has not reported task " + sdk::quote(m.task_id) + "'s sandbox yet");
  }
  auto agent = agents_.find(agent_id);
  if (agent == agents_.end() || !agent->second.active) {
    return refuse(files::code::kUnavailable, "agent " + sdk::quote(agent_id) + " of task " +
                                                 sdk::quote(m.task_id) + " is not connected");
  }
  if (pending_files_.size() >= kMaxPendingFiles) {
    return refuse(files::code::kUnavailable, "too many sandbox requests in flight; try again");
  }
  files::Request forwarded = m;
  forwarded.request_id = ++next_files_request_;
  forwarded.framework_id = framework_id;
  forwarded.sandbox = sandbox;
  forwarded.executor_id = executor_id;
  pending_files_[forwarded.request_id] =
      PendingFiles{request.peer, request.message.header().sequence, agent_id, sandbox,
                   clock().now() + kFilesTimeout};
  server_->send(agent->second.peer, forwarded);
}

void Master::on_files_answer(const sdk::Request& request, const protocol::files::Answer& m) {
  namespace files = protocol::files;
  auto it = pending_files_.find(m.request_id);
  auto sender = peers_.find(request.peer);
  if (it == pending_files_.end() || sender == peers_.end() ||
      sender->second != it->second.agent_id) {
    log().debug("a sandbox answer {} that no request of the sender waits for; ignored",
                m.request_id);
    return;
  }
  PendingFiles pending = std::move(it->second);
  pending_files_.erase(it);
  files::Answer answer = m;
  answer.request_id = 0;
  if (answer.data.size() > files::kMaxReadBytes || answer.entries.size() > files::kMaxEntries) {
    answer = files_failure(files::code::kUnavailable, "the agent answered more than was asked");
  }
  answer.sandbox = pending.sandbox;
  server_->reply_later(pending.operator_peer, pending.operator_sequence, answer);
}

void Master::expire_files_requests() {
  auto now = clock().now();
  for (auto it = pending_files_.begin(); it != pending_files_.end();) {
    if (it->second.deadline > now) {
      ++it;
      continue;
    }
    server_->reply_later(
        it->second.operator_peer, it->second.operator_sequence,
        files_failure(protocol::files::code::kUnavailable,
                      "agent " + sdk::quote(it->second.agent_id) + " did not answer in time"));
    it = pending_files_.erase(it);
  }
}

SnapshotSource Master::snapshot_source() const {
  return SnapshotSource{master_id_, endpoint_, agents_,    frameworks_,
                        tasks_,     offers_,   completed_, role_settings_};
}

op::State Master::state() const {
  op::State out = snapshot(snapshot_source());
  out.version = version_;
  out.start_time = start_time_;
  out.hostname = hostname_;
  out.counters = counters_;
  out.counters.messages_sent = server_->sent();
  return out;
}

const op::StateSummary& Master::state_summary(bool roles_only, bool with_usages) const {
  SnapshotSource source = snapshot_source();
  const TaskSums& sums = ledger_.sums();
  if (roles_only) {
    roles_summary_ = op::StateSummary{};
    roles_summary_.state.master_id = master_id_;
    if (!aggregates_) aggregates_ = agent_aggregates(agents_);
    roles_summary_.state.roles = role_states(source, &sums, &*aggregates_);
    return roles_summary_;
  }
  // The agents' views stay in the summary between calls; they are taken out while it is
  // written again.
  kept_agent_views_.agents = std::move(summary_.state.agents);
  size_t agents_before = kept_agent_views_.agents.size();
  std::vector<scheduler::Offer> kept_offers = std::move(summary_.state.offers);
  op::StateSummary& out = summary_;
  out = op::StateSummary{};
  if (!aggregates_) aggregates_ = agent_aggregates(agents_);
  bool offers_changed = keep_offers(offers_, kept_offers, &offered_sums_);
  out.state = snapshot(source, /*with_tasks=*/false, &sums, /*with_agents=*/false,
                       /*with_offers=*/false, &*aggregates_, &offered_sums_);
  // Only the agents marked since the last summary, and those whose tasks' sums changed, are
  // looked at (all of them the first time).
  if (auto ledger_marks = ledger_.take_changed_agents()) {
    marked_views_.merge(*ledger_marks);
  } else {
    all_views_marked_ = true;
  }
  size_t rebuilt = keep_agent_views(source, sums, kept_agent_views_, summary_version_ + 1,
                                    all_views_marked_ ? nullptr : &marked_views_);
  marked_views_.clear();
  all_views_marked_ = false;
  out.state.agents = std::move(kept_agent_views_.agents);
  out.state.offers = std::move(kept_offers);
  // A new version when an agent's view changed (rebuilt), one came or went (the count), an
  // offer came or went, or anything else but the counters did (the fingerprint).
  std::string fingerprint = summary_fingerprint(out.state);
  if (rebuilt > 0 || out.state.agents.size() != agents_before || offers_changed ||
      fingerprint != summary_fingerprint_ || summary_version_ == 0) {
    ++summary_version_;
    summary_fingerprint_ = std::move(fingerprint);
  }
  if (kept_agent_views_.members_changed) members_version_ = summary_version_;
  out.version = summary_version_;
  out.state.version = version_;
  out.state.start_time = start_time_;
  out.state.hostname = hostname_;
  out.state.counters = counters_;
  out.state.counters.messages_sent = server_->sent();
  out.event_sequence = counters_.events_published;
  out.completed_tasks = completed_.size();
  out.max_completed_tasks =
      static_cast<uint64_t>(std::max<int64_t>(options_.max_completed_tasks, 0));
  if (!with_usages) return out;
  for (const auto& [key, task] : tasks_) {
    if (task.usage.timestamp > 0) {
      out.usages.push_back(op::TaskUsage{task.framework_id, task.info.task_id, task.usage});
    }
  }
  return out;
}

void Master::reply_delta(const sdk::Request& request, uint64_t version, bool agents, bool offers) {
  // The summary itself is sent with only the views built and the offers made after `version`
  // in it, then gets all of them back: no copy of those that did not change.
  std::vector<op::AgentState> all_agents;
  if (agents) {
    all_agents = std::move(summary_.state.agents);
    summary_.state.agents.clear();
    for (size_t i = 0; i < all_agents.size(); ++i) {
      if (kept_agent_views_.built_at[i] > version) summary_.state.agents.push_back(all_agents[i]);
    }
    summary_.agents_since = version;
  }
  std::vector<scheduler::Offer> all_offers;
  if (offers) {
    all_offers = std::move(summary_.state.offers);
    summary_.state.offers.clear();
    // The summary was just brought to offers_: the same offers, in the same order.
    for (const auto& [id, offer] : offers_) {
      if (offer.made_at > version) summary_.state.offers.push_back(offer.offer);
    }
    summary_.offers_since = version;
    summary_.offers_gone = gone_offers_.since(version);
  }
  server_->reply(request, summary_);
  if (agents) {
    summary_.agents_since = 0;
    summary_.state.agents = std::move(all_agents);
  }
  if (offers) {
    summary_.offers_since = 0;
    summary_.offers_gone.clear();
    summary_.state.offers = std::move(all_offers);
  }
}

op::StateSummary Master::unchanged_summary(const op::StateSummary& summary) const {
  op::StateSummary out;
  out.state.master_id = summary.state.master_id;
  out.event_sequence = summary.event_sequence;
  out.completed_tasks = summary.completed_tasks;
  out.max_completed_tasks = summary.max_completed_tasks;
  out.usages = summary.usages;
  out.version = summary.version;
  out.unchanged = true;
  return out;
}

}  // namespace tessera::host::master

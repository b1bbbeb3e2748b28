#include "zookeeper_leader.h"

#include <algorithm>
#include <utility>

#include "tessera/protocol/store_rules.h"

namespace tessera::leader {

namespace store = protocol::store;
using namespace std::chrono_literals;

namespace {

store::Entry to_message(zk::StoreEntry entry) {
  return store::Entry{std::move(entry.key), std::move(entry.value), entry.version};
}

bool same_view(const store::Leader& a, const store::Leader& b) {
  return a.known == b.known && a.master_id == b.master_id && a.endpoint == b.endpoint &&
         a.this_node == b.this_node && a.epoch == b.epoch;
}

}  // namespace

ZooKeeperLeader::ZooKeeperLeader(sdk::PluginContext& context) : LeaderPlugin(context) {}

Status ZooKeeperLeader::configure(sdk::ConfigTable& table) {
  master_node_ = context().node_has_role("master");

  if (auto servers = table.required<std::string>("servers")) {
    auto checked = zk::check_servers(*servers);
    if (checked) {
      servers_ = *checked;
    } else {
      table.error_at("servers", checked.error().message);
    }
  }
  root_ = table.get<std::string>("path", "/tessera");
  if (std::string problem = zk::path_problem(root_); !problem.empty()) {
    table.error_at("path", sdk::quote(root_) + " " + problem);
  }
  // ZooKeeper servers negotiate the timeout into [2, 20] ticks; these bounds only keep it sane.
  session_timeout_ms_ = static_cast<int>(table.integer("session_timeout_ms", 10000, 1000, 600000));
  connect_timeout_ =
      std::chrono::milliseconds(table.integer("connect_timeout_ms", 5000, 0, 600000));
  endpoint_ = table.optional_endpoint("endpoint", sdk::EndpointUse::bind);
  return {};
}

Status ZooKeeperLeader::start() {
  store_.emplace(root_);
  events_ = std::make_unique<sdk::Publisher>(bus(), "leader.events");
  auto events = events_->bind(store::kEventsEndpoint);
  if (!events) return events.error();

  server_ = std::make_unique<sdk::Server>(bus(), "leader");
  serve_store();
  serve_leader();
  auto bound = server_->bind(store::kEndpoint);
  if (!bound) return bound.error();
  std::optional<std::string> remote;
  if (endpoint_) {
    auto bound_remote = server_->bind(*endpoint_);
    if (!bound_remote) return bound_remote.error();
    remote = *bound_remote;
  }

  // The first session is waited for here, so that the node serves its first requests with
  // ZooKeeper's answers; an ensemble that is down is not fatal: requests are answered
  // "unavailable" and the session keeps trying.
  open_session();
  if (session_ && session_->wait_connected(connect_timeout_)) {
    on_connected();
  } else {
    log().warn("ZooKeeper at {} is not reachable yet; the store answers 'unavailable' until it is",
               servers_);
  }
  if (remote) context().announce("store", *remote);
  last_tick_ = std::chrono::steady_clock::now();
  loop().every(100ms, [this] { tick(); });
  log().info("ZooKeeper leader on {} under {} (session timeout {} ms); {}serving the store on {}",
             servers_, root_, session_timeout_ms_,
             master_node_ ? "the local master campaigns; " : "", *bound);
  return {};
}

void ZooKeeperLeader::stopping() {
  log().info("stopping after {} write(s); closing the ZooKeeper session", writes_);
  // Closing the session deletes the candidate znode at once: the next master need not wait for
  // the session to expire.
  session_.reset();
}

void ZooKeeperLeader::open_session() {
  prepared_ = false;
  own_node_.clear();
  session_.reset();
  auto opened = zk::Session::open(servers_, session_timeout_ms_, &loop(),
                                  [this](const zk::Event& event) { on_event(event); });
  if (!opened) {
    log().error("{}", opened.error().message);
    return;
  }
  session_ = std::move(*opened);
}

void ZooKeeperLeader::on_event(const zk::Event& event) {
  if (!session_) return;
  if (event.type == ZOO_SESSION_EVENT) {
    if (event.state == ZOO_CONNECTED_STATE) {
      log().info("connected to ZooKeeper (session 0x{:x}, timeout {} ms)", session_->id(),
                 session_->timeout_ms());
      on_connected();
    } else if (event.state == ZOO_CONNECTING_STATE) {
      disconnected();
    } else if (event.state == ZOO_EXPIRED_SESSION_STATE || event.state == ZOO_AUTH_FAILED_STATE) {
      suspend("the ZooKeeper session " + zk::state_name(event.state));
      // A new session; the local master's candidacy is renewed in it once connected.
      open_session();
    }
    return;
  }
  if (event.path == store_->epoch_path()) {
    refresh_epoch();
    return;
  }
  evaluate();
}

void ZooKeeperLeader::disconnected() {
  if (!leading_) {
    log().warn("the connection to ZooKeeper was lost; reconnecting");
    return;
  }
  if (disconnect_timer_ != 0) return;
  // The client notices a silent server after 2/3 of the session timeout (a closed connection
  // at once); the server expires the session one timeout after it last heard from it. Leading
  // on for a quarter of the timeout lets the client reconnect to another server of the
  // ensemble without a new term, and still stops before the session can expire.
  auto grace = std::chrono::milliseconds(std::max(session_->timeout_ms(), 1000) / 4);
  log().warn("the connection to ZooKeeper was lost; leading on for {} ms while reconnecting",
             grace.count());
  disconnect_timer_ = loop().after(grace, [this, grace] {
    disconnect_timer_ = 0;
    if (session_ && session_->connected()) return;
    suspend("disconnected from ZooKeeper for " + std::to_string(grace.count()) + " ms");
  });
}

void ZooKeeperLeader::on_connected() {
  if (disconnect_timer_ != 0) loop().cancel(disconnect_timer_);
  disconnect_timer_ = 0;
  if (!session_ || !session_->connected()) return;
  if (!prepared_) {
    if (auto s = store_->prepare(*session_); !s) {
      log().error("preparing {} in ZooKeeper: {}", root_, s.error().message);
      return;
    }
    prepared_ = true;
  }
  refresh_epoch();
  if (campaign_ && own_node_.empty()) enter_candidacy();
  evaluate();
}

void ZooKeeperLeader::suspend(const std::string& reason) {
  if (!leading_) {
    log().warn("{}", reason);
    return;
  }
  leading_ = false;
  log().warn("{}: no longer leading until ZooKeeper confirms this node's candidacy", reason);
  store::Leader unknown;
  unknown.epoch = epoch_;
  publish(unknown);
}

void ZooKeeperLeader::tick() {
  auto now = std::chrono::steady_clock::now();
  auto stalled = std::chrono::duration_cast<std::chrono::milliseconds>(now - last_tick_);
  last_tick_ = now;
  // A thread stalled this long may have missed the end of its session: the server hears a
  // ping every third of the timeout, so after half of it without one it may expire the session
  // soon, and another master lead. Stop at once and ask ZooKeeper.
  int timeout = session_ ? session_->timeout_ms() : 0;
  auto limit =
      std::chrono::milliseconds(std::max(timeout > 0 ? timeout : session_timeout_ms_, 1000) / 2);
  if (stalled > limit && leading_) {
    suspend("this plugin's thread was stalled for " + std::to_string(stalled.count()) +
            " ms (the process was stopped or starved)");
    evaluate();
    return;
  }
  if (!session_) {
    open_session();
  } else if (session_->expired()) {
    suspend("the ZooKeeper session expired");
    open_session();
  } else if (session_->connected() && !prepared_) {
    on_connected();
  }
}

void ZooKeeperLeader::enter_candidacy() {
  if (!campaign_ || !session_ || !session_->connected() || !prepared_) return;
  std::string created;
  int rc = session_->create(store_->election_path() + "/" + std::string(zk::kCandidatePrefix),
                            zk::candidate_data(*campaign_), ZOO_EPHEMERAL | ZOO_SEQUENCE, &created);
  if (rc != ZOK) {
    log().warn("cannot enter the election for master '{}': {}", campaign_->master_id,
               zk::describe(rc));
    return;
  }
  own_node_ = created;
  log().info("master '{}' at {} is a candidate ({})", campaign_->master_id, campaign_->endpoint,
             own_node_);
}

void ZooKeeperLeader::withdraw_candidacy() {
  if (own_node_.empty()) return;
  if (session_) session_->remove(own_node_, -1);
  own_node_.clear();
  if (leading_) suspend("the local master's candidacy was withdrawn");
}

void ZooKeeperLeader::evaluate() {
  if (!session_ || !session_->connected() || !prepared_) return;
  for (int attempt = 0; attempt < 10; ++attempt) {
    std::vector<std::string> names;
    int rc = session_->children(store_->election_path(), names);
    if (rc != ZOK) {
      log().warn("reading the candidates: {}", zk::describe(rc));
      return;
    }
    auto candidates = zk::order_candidates(std::move(names));
    if (!own_node_.empty()) {
      std::string own = own_node_.substr(own_node_.rfind('/') + 1);
      if (std::find(candidates.begin(), candidates.end(), own) == candidates.end()) {
        // Deleted under us (by an operator, or with an old session): campaign again.
        own_node_.clear();
        if (leading_) suspend("this node's candidate znode is gone");
        enter_candidacy();
        continue;
      }
      // Watch only the predecessor: when it goes, this candidate may be next.
      auto it = std::find(candidates.begin(), candidates.end(), own);
      if (it != candidates.begin()) {
        Stat stat{};
        int found = session_->exists(store_->election_path() + "/" + *(it - 1), &stat, true);
        if (found == ZNONODE) continue;
      }
    }
    if (candidates.empty()) {
      // No leader: watch the election for the first candidate.
      session_->children(store_->election_path(), names, true);
      if (!names.empty()) continue;
      leading_ = false;
      store::Leader unknown;
      unknown.epoch = epoch_;
      return publish(unknown);
    }
    std::string leader_path = store_->election_path() + "/" + candidates.front();
    std::string data;
    rc = session_->get(leader_path, data, nullptr, zk::kMaxCandidateBytes, true);
    if (rc == ZNONODE) continue;
    if (rc != ZOK) {
      log().warn("reading the leader's candidate {}: {}", leader_path, zk::describe(rc));
      return;
    }
    auto candidate = zk::parse_candidate(data);
    store::Leader view;
    view.epoch = epoch_;
    if (!candidate) {
      log().warn("the lowest candidate {} is not a Tessera master's: {}", leader_path,
                 candidate.error().message);
      leading_ = false;
      return publish(view);
    }
    view.known = true;
    view.master_id = candidate->master_id;
    view.endpoint = candidate->endpoint;
    view.this_node = leader_path == own_node_;
    if (view.this_node && !leading_) {
      if (!start_term()) continue;
      log().info("elected master '{}' at {} (epoch {})", view.master_id, view.endpoint, epoch_);
    }
    if (!view.this_node) leading_ = false;
    view.epoch = epoch_;
    return publish(view);
  }
}

bool ZooKeeperLeader::start_term() {
  for (int attempt = 0; attempt < 10; ++attempt) {
    auto current = store_->epoch(*session_);
    if (!current) {
      log().warn("starting a term: {}", current.error().message);
      return false;
    }
    uint64_t next = *current + 1;
    int failed = -1;
    int rc = session_->multi(
        {zk::Op::check(own_node_, -1),
         zk::Op::set(store_->epoch_path(), zk::epoch_data(next), static_cast<int>(*current))},
        &failed);
    if (rc == ZOK) {
      epoch_ = next;
      leading_ = true;
      return true;
    }
    if (failed == 0) return false;  // The candidacy is gone: evaluate again.
    if (rc != ZBADVERSION) {
      log().warn("starting a term: {}", zk::describe(rc));
      return false;
    }
  }
  return false;
}

void ZooKeeperLeader::refresh_epoch() {
  if (!session_ || !session_->connected()) return;
  auto current = store_->epoch(*session_, true);
  if (!current) {
    log().warn("{}", current.error().message);
    return;
  }
  if (*current <= epoch_) return;
  epoch_ = *current;
  // Another node started a term: if this one thought it led, it no longer does.
  if (leading_) {
    suspend("epoch " + std::to_string(epoch_) + " was started elsewhere");
    evaluate();
    return;
  }
  store::Leader view = leader_;
  view.epoch = epoch_;
  publish(view);
}

void ZooKeeperLeader::publish(store::Leader leader) {
  if (same_view(leader, leader_)) return;
  leader_ = std::move(leader);
  events_->publish(leader_);
}

void ZooKeeperLeader::serve_leader() {
  server_->on<store::GetLeader>([this](const sdk::Request& request, const store::GetLeader&) {
    server_->reply(request, leader_);
  });

  server_->on<store::Campaign>(
      [this](const sdk::Request& request, const store::Campaign& campaign) {
        if (!master_node_) {
          log().warn("master {} campaigned on a node without the master role; ignored",
                     sdk::quote(campaign.master_id));
          server_->reply(request, leader_);
          return;
        }
        zk::Candidate candidate{campaign.endpoint, campaign.master_id};
        auto data_problem = zk::parse_candidate(zk::candidate_data(candidate));
        if (!data_problem) {
          log().warn("master {} cannot campaign: {}", sdk::quote(campaign.master_id),
                     data_problem.error().message);
          server_->reply(request, leader_);
          return;
        }
        bool same = campaign_ && campaign_->master_id == candidate.master_id &&
                    campaign_->endpoint == candidate.endpoint;
        if (!same || own_node_.empty()) {
          // A new master (a restarted one has a new id) replaces the old candidacy.
          withdraw_candidacy();
          campaign_ = candidate;
          enter_candidacy();
          evaluate();
        }
        server_->reply(request, leader_);
      });

  // Giving up leadership: the candidate znode is removed (this host stops acting as leader at
  // once) and made again, last in the queue; the next candidate, watching it, leads.
  server_->on<store::Resign>([this](const sdk::Request& request, const store::Resign& resign) {
    if (!leading_ || !campaign_ || resign.master_id != campaign_->master_id) {
      log().warn("{} asked master {} to give up leadership, which it does not hold; ignored",
                 sdk::quote(request.message.header().sender), sdk::quote(resign.master_id));
      server_->reply(request, leader_);
      return;
    }
    log().info(
        "master '{}' gives up leadership (asked by {}); it campaigns again as the last "
        "candidate",
        campaign_->master_id, sdk::quote(request.message.header().sender));
    withdraw_candidacy();
    enter_candidacy();
    evaluate();
    server_->reply(request, leader_);
  });
}

void ZooKeeperLeader::serve_store() {
  server_->on<store::Get>([this](const sdk::Request& request, const store::Get& get) {
    if (!admit(request, "get", get.key, false)) return;
    if (!session_ || !session_->connected()) return unavailable(request, "get");
    auto found = store_->get(*session_, get.key);
    if (!found) return unavailable(request, found.error().message);
    store::Result result;
    result.ok = true;
    if (*found) {
      result.version = (*found)->version;
      result.entries.push_back(to_message(std::move(**found)));
    }
    answer(request, result);
  });

  server_->on<store::Put>([this](const sdk::Request& request, const store::Put& put) {
    if (!admit_write(request, "put", put.key, put.value.size(), put.epoch)) return;
    auto write = store_->put(*session_, put.key, put.value, put.epoch);
    answer_write(request, "put", put.key, write, put.epoch, std::nullopt);
  });

  server_->on<store::CompareAndSet>(
      [this](const sdk::Request& request, const store::CompareAndSet& cas) {
        if (!admit_write(request, "compare-and-set", cas.key, cas.value.size(), cas.epoch)) {
          return;
        }
        auto write = store_->put(*session_, cas.key, cas.value, cas.epoch, cas.expected_version);
        answer_write(request, "compare-and-set", cas.key, write, cas.epoch, cas.expected_version);
      });

  server_->on<store::Delete>([this](const sdk::Request& request, const store::Delete& remove) {
    if (!admit_write(request, "delete", remove.key, 0, remove.epoch)) return;
    auto write = store_->remove(*session_, remove.key, remove.epoch);
    answer_write(request, "delete", remove.key, write, remove.epoch, std::nullopt);
  });

  // A batch is applied in one ZooKeeper multi when it can be (ZooKeeperStore::apply_together:
  // inline values of distinct keys, nothing raced), which is what makes a burst of registry
  // writes cheap. Otherwise it is applied write by write, each fenced as a single write is: a
  // value may span chunk znodes written before its key's znode, which one multi cannot hold. So
  // it is not atomic here: at the first write that fails, the ones before it stay applied and
  // the answer is that write's failure.
  server_->on<store::Batch>([this](const sdk::Request& request, const store::Batch& batch) {
    auto refused = store::check_batch(request.message.header().sender, batch);
    const std::string& first = batch.writes.empty() ? std::string() : batch.writes.front().key;
    if (!refused) refused = store::check_fenced("batch", first, batch.epoch, epoch_);
    if (!refused && batch.epoch > static_cast<uint64_t>(INT32_MAX)) {
      refused = store::unknown_epoch("batch", first, batch.epoch, epoch_);
    }
    if (refused) return deny(request, refused->code, refused->message);
    if (!session_ || !session_->connected()) return unavailable(request, "batch");
    store::Result result;
    result.ok = true;
    result.entries.reserve(batch.writes.size());
    if (auto together = store_->apply_together(*session_, batch.writes, batch.epoch)) {
      for (size_t i = 0; i < batch.writes.size(); ++i) {
        const store::BatchWrite& write = batch.writes[i];
        const zk::Write& applied = (*together)[i];
        if (applied.outcome == zk::Write::Outcome::kDone) {
          ++writes_;
          events_->publish(store::Changed{write.key, applied.version, write.remove});
        }
        result.entries.push_back(store::Entry{write.key, {}, applied.version});
      }
      return answer(request, result);
    }
    for (const store::BatchWrite& write : batch.writes) {
      auto applied = write.remove ? store_->remove(*session_, write.key, batch.epoch)
                                  : store_->put(*session_, write.key, write.value, batch.epoch);
      if (write.remove && applied && applied->outcome == zk::Write::Outcome::kNotFound) {
        result.entries.push_back(store::Entry{write.key, {}, 0});
        continue;
      }
      if (!applied || applied->outcome != zk::Write::Outcome::kDone) {
        answer_write(request, write.remove ? "delete" : "put", write.key, applied, batch.epoch,
                     std::nullopt);
        return;
      }
      ++writes_;
      events_->publish(store::Changed{write.key, applied->version, write.remove});
      result.entries.push_back(store::Entry{write.key, {}, applied->version});
    }
    answer(request, result);
  });

  server_->on<store::List>([this](const sdk::Request& request, const store::List& list) {
    if (!admit(request, "list", list.prefix, true)) return;
    if (!session_ || !session_->connected()) return unavailable(request, "list");
    auto page = store_->list_page(*session_, list.prefix, list.start_after,
                                  store::list_page_limit(list), store::kMaxListBytes);
    if (!page && page.error().code == ErrorCode::kInvalidArgument) {
      // A directory with more children than a listing reads: refused, not worth a retry.
      return answer(request, store::refused_result(store::code::kTooLarge, page.error().message));
    }
    if (!page) return unavailable(request, page.error().message);
    for (const std::string& why : page->skipped) {
      log().warn("listing {}: left out {} (delete or repair it with a ZooKeeper client)",
                 protocol::store::quote_key(list.prefix), why);
    }
    store::Result result;
    result.ok = true;
    result.more = page->more;
    result.entries.reserve(page->entries.size());
    for (auto& entry : page->entries) result.entries.push_back(to_message(std::move(entry)));
    answer(request, result);
  });
}

bool ZooKeeperLeader::answer_write(const sdk::Request& request, const char* verb,
                                   const std::string& key, const Result<zk::Write>& write,
                                   uint64_t epoch, std::optional<uint64_t> expected) {
  if (!write) {
    unavailable(request, write.error().message);
    return false;
  }
  store::Result result;
  switch (write->outcome) {
    case zk::Write::Outcome::kDone:
      result.ok = true;
      result.version = write->version;
      answer(request, result);
      ++writes_;
      events_->publish(store::Changed{key, write->version, std::string(verb) == "delete"});
      return true;
    case zk::Write::Outcome::kConflict:
      result.conflict = true;
      result.code = store::code::kConflict;
      result.version = write->version;
      result.error = store::conflict_message(key, expected.value_or(0), write->version);
      answer(request, result);
      return false;
    case zk::Write::Outcome::kNotFound:
      answer(request, store::refused_result(store::code::kNotFound,
                                            "key " + store::quote_key(key) + " not found"));
      return false;
    case zk::Write::Outcome::kFenced: {
      epoch_ = std::max(epoch_, write->epoch);
      auto refused = store::check_fenced(verb, key, epoch, write->epoch);
      deny(request, store::code::kFenced, refused ? refused->message : "fenced");
      return false;
    }
    case zk::Write::Outcome::kEpochUnknown: {
      auto refused = store::unknown_epoch(verb, key, epoch, write->epoch);
      deny(request, refused.code, refused.message);
      return false;
    }
  }
  return false;
}

void ZooKeeperLeader::answer(const sdk::Request& request, store::Result result) {
  result.epoch = epoch_;
  // ZooKeeper has just answered the calls that served this request, so the session was alive
  // then, and the server counts every request as a heartbeat: the time this thread spent in
  // them (a listing of 5,000 agents took over a second) is not a stall in which the session may
  // have ended unnoticed. Counted as one, it suspended the leader and started a new term in
  // the middle of its registry read.
  if (session_ && session_->connected()) last_tick_ = std::chrono::steady_clock::now();
  server_->reply(request, result);
}

void ZooKeeperLeader::unavailable(const sdk::Request& request, const std::string& why) {
  std::string message =
      session_ && session_->connected()
          ? "ZooKeeper at " + servers_ + ": " + why
          : why + ": ZooKeeper at " + servers_ + " is not connected (" +
                (session_ ? zk::state_name(session_->state()) : std::string("no session")) + ")";
  log().warn("{}", message);
  answer(request, store::refused_result(store::code::kUnavailable, message));
}

void ZooKeeperLeader::deny(const sdk::Request& request, const char* code,
                           const std::string& message) {
  log().warn("refused a request of {}: {}", sdk::quote(request.message.header().sender), message);
  answer(request, store::refused_result(code, message));
}

bool ZooKeeperLeader::admit(const sdk::Request& request, const char* verb, const std::string& key,
                            bool prefix) {
  auto refused = store::check_key(request.message.header().sender, verb, key, prefix);
  if (refused) deny(request, refused->code, refused->message);
  return !refused;
}

bool ZooKeeperLeader::admit_write(const sdk::Request& request, const char* verb,
                                  const std::string& key, size_t value_size, uint64_t epoch) {
  if (!admit(request, verb, key, false)) return false;
  if (auto refused = store::check_value(verb, key, value_size)) {
    deny(request, refused->code, refused->message);
    return false;
  }
  if (!session_ || !session_->connected()) {
    unavailable(request, store::describe_request(verb, key));
    return false;
  }
  // Epochs only grow, so an epoch older than the one known is over. One newer than the one
  // known may have been started elsewhere a moment ago: ZooKeeper's check decides.
  auto refused = store::check_fenced(verb, key, epoch, epoch_);
  if (!refused && epoch > static_cast<uint64_t>(INT32_MAX)) {
    refused = store::unknown_epoch(verb, key, epoch, epoch_);
  }
  if (refused) deny(request, refused->code, refused->message);
  return !refused;
}

}  // namespace tessera::leader

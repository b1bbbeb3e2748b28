#include "standalone_leader.h"

#include <optional>
#include <utility>

#include "tessera/protocol/store_rules.h"

namespace tessera::leader {

namespace store = protocol::store;

namespace {

// An epoch as kept in the store: decimal text, readable with the sqlite3 shell.
std::optional<uint64_t> parse_epoch(const std::string& text) {
  if (text.empty() || text.size() > 20 ||
      text.find_first_not_of("0123456789") != std::string::npos) {
    return std::nullopt;
  }
  try {
    return std::stoull(text);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

store::Entry to_message(StoreEntry entry) {
  return store::Entry{std::move(entry.key), std::move(entry.value), entry.version};
}

}  // namespace

StandaloneLeader::StandaloneLeader(sdk::PluginContext& context) : LeaderPlugin(context) {}

Status StandaloneLeader::configure(sdk::ConfigTable& table) {
  master_node_ = context().node_has_role("master");

  // Addresses are checked here, so a typo is caught by --check rather than at the first
  // connect.
  master_ = table.optional_endpoint("master", sdk::EndpointUse::connect);
  if (!master_node_ && !table.has("master")) {
    table.error_at("master",
                   "required on a node without the master role (roles: " + context().node_roles() +
                       "): the address of the one master, such as 'tcp://10.0.0.1:5051'");
  }

  std::string file = table.get<std::string>("store_file", "store.sqlite");
  if (file.empty()) {
    table.error_at("store_file", "must not be empty");
  } else {
    std::filesystem::path path(file);
    store_file_ = path.is_absolute() ? path : context().plugin_work_dir() / path;
  }

  endpoint_ = table.optional_endpoint("endpoint", sdk::EndpointUse::bind);
  return {};
}

Status StandaloneLeader::start() {
  auto opened = SqliteStore::open(store_file_);
  if (!opened) return opened.error();
  store_.emplace(std::move(*opened));
  epoch_key_ = context().name() + "/epoch";
  auto saved = store_->get(epoch_key_);
  if (!saved) return saved.error();
  if (*saved) {
    auto epoch = parse_epoch((*saved)->value);
    if (!epoch) {
      return make_error("store '" + store_file_.string() + "': key " + quote_key(epoch_key_) +
                        " holds no epoch number");
    }
    epoch_ = *epoch;
  }

  events_ = std::make_unique<sdk::Publisher>(bus(), "leader.events");
  auto events = events_->bind(store::kEventsEndpoint);
  if (!events) return events.error();

  server_ = std::make_unique<sdk::Server>(bus(), "leader");
  serve_store();
  serve_leader();
  auto bound = server_->bind(store::kEndpoint);
  if (!bound) return bound.error();
  if (endpoint_) {
    auto remote = server_->bind(*endpoint_);
    if (!remote) return remote.error();
    context().announce("store", *remote);
  }

  if (!master_node_) {
    // An agent-only node knows its master from the configuration alone.
    leader_.known = true;
    leader_.endpoint = *master_;
    leader_.this_node = false;
    log().info("the master is {} (configured); serving the store {} on {}{}", *master_,
               store_file_.string(), *bound, endpoint_ ? " and " + *endpoint_ : "");
  } else {
    log().info(
        "standalone leader: the local master is elected when it campaigns; serving the "
        "store {} on {}{}",
        store_file_.string(), *bound, endpoint_ ? " and " + *endpoint_ : "");
  }
  return {};
}

void StandaloneLeader::stopping() {
  log().info("stopping after {} write(s) to {}", writes_, store_file_.string());
  store_.reset();
}

void StandaloneLeader::serve_store() {
  server_->on<store::Get>([this](const sdk::Request& request, const store::Get& get) {
    if (!admit(request, "get", get.key, false)) return;
    auto found = store_->get(get.key);
    if (!found) return refuse(request, found.error());
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
    auto version = store_->put(put.key, put.value);
    if (!version) return refuse(request, version.error());
    store::Result result;
    result.ok = true;
    result.version = *version;
    answer(request, result);
    changed(put.key, *version, false);
  });

  server_->on<store::CompareAndSet>(
      [this](const sdk::Request& request, const store::CompareAndSet& cas) {
        if (!admit_write(request, "compare-and-set", cas.key, cas.value.size(), cas.epoch)) return;
        auto outcome = store_->compare_and_set(cas.key, cas.expected_version, cas.value);
        if (!outcome) return refuse(request, outcome.error());
        store::Result result;
        result.version = outcome->version;
        if (outcome->applied) {
          result.ok = true;
          answer(request, result);
          changed(cas.key, outcome->version, false);
          return;
        }
        result.conflict = true;
        result.code = store::code::kConflict;
        result.error = store::conflict_message(cas.key, cas.expected_version, outcome->version);
        answer(request, result);
      });

  server_->on<store::Delete>([this](const sdk::Request& request, const store::Delete& remove) {
    if (!admit_write(request, "delete", remove.key, 0, remove.epoch)) return;
    auto removed = store_->remove(remove.key);
    if (!removed) return refuse(request, removed.error());
    if (!*removed) {
      return answer(request, store::refused_result(store::code::kNotFound,
                                                   "key " + quote_key(remove.key) + " not found"));
    }
    store::Result result;
    result.ok = true;
    result.version = **removed;
    answer(request, result);
    changed(remove.key, **removed, true);
  });

  server_->on<store::Batch>([this](const sdk::Request& request, const store::Batch& batch) {
    auto refused = store::check_batch(request.message.header().sender, batch);
    const std::string& first = batch.writes.empty() ? std::string() : batch.writes.front().key;
    if (!refused) refused = store::check_fenced("batch", first, batch.epoch, epoch_);
    if (!refused && batch.epoch > epoch_) {
      refused = store::unknown_epoch("batch", first, batch.epoch, epoch_);
    }
    if (refused) return deny(request, refused->code, refused->message);
    auto versions = store_->apply(batch.writes);
    if (!versions) return refuse(request, versions.error());
    store::Result result;
    result.ok = true;
    result.entries.reserve(batch.writes.size());
    for (size_t i = 0; i < batch.writes.size(); ++i) {
      result.entries.push_back(store::Entry{batch.writes[i].key, {}, (*versions)[i]});
    }
    answer(request, result);
    for (size_t i = 0; i < batch.writes.size(); ++i) {
      // A removal of an absent key changed nothing.
      if (batch.writes[i].remove && (*versions)[i] == 0) continue;
      changed(batch.writes[i].key, (*versions)[i], batch.writes[i].remove);
    }
  });

  server_->on<store::List>([this](const sdk::Request& request, const store::List& list) {
    if (!admit(request, "list", list.prefix, true)) return;
    auto page = store_->list_page(list.prefix, list.start_after, store::list_page_limit(list),
                                  store::kMaxListBytes);
    if (!page) return refuse(request, page.error());
    store::Result result;
    result.ok = true;
    result.more = page->more;
    result.entries.reserve(page->entries.size());
    for (auto& entry : page->entries) result.entries.push_back(to_message(std::move(entry)));
    answer(request, result);
  });
}

void StandaloneLeader::serve_leader() {
  server_->on<store::GetLeader>([this](const sdk::Request& request, const store::GetLeader&) {
    server_->reply(request, leader_);
  });

  server_->on<store::Campaign>(
      [this](const sdk::Request& request, const store::Campaign& campaign) {
        if (!master_node_) {
          // Only a master campaigns, and this node has none: answer with the configured master.
          log().warn(
              "master '{}' at {} campaigned on a node without the master role; the master "
              "stays {}",
              campaign.master_id, campaign.endpoint, leader_.endpoint);
          server_->reply(request, leader_);
          return;
        }
        if (master_ && *master_ != campaign.endpoint) {
          log().warn(
              "master '{}' campaigns at {} but plugins.leader_standalone.master says {}; "
              "electing the local master",
              campaign.master_id, campaign.endpoint, *master_);
        }
        bool changed = !leader_.known || leader_.master_id != campaign.master_id ||
                       leader_.endpoint != campaign.endpoint || !leader_.this_node;
        if (changed) {
          // Without a durable new epoch there is no safe election: no answer, so the master
          // campaigns again.
          if (!next_epoch()) return;
          leader_.known = true;
          leader_.master_id = campaign.master_id;
          leader_.endpoint = campaign.endpoint;
          leader_.this_node = true;
          leader_.epoch = epoch_;
        }
        server_->reply(request, leader_);
        if (changed) {
          log().info("elected master '{}' at {} (epoch {})", leader_.master_id, leader_.endpoint,
                     leader_.epoch);
          events_->publish(leader_);
        }
      });

  // The local master is the only candidate: giving up leadership elects it again, in a new
  // epoch, so whatever acted in the old term is deposed and fenced.
  server_->on<store::Resign>([this](const sdk::Request& request, const store::Resign& resign) {
    if (!leader_.known || !leader_.this_node || resign.master_id != leader_.master_id) {
      log().warn("{} asked master {} to give up leadership, which it does not hold; ignored",
                 sdk::quote(request.message.header().sender), sdk::quote(resign.master_id));
      server_->reply(request, leader_);
      return;
    }
    if (!next_epoch()) {
      server_->reply(request, leader_);
      return;
    }
    leader_.epoch = epoch_;
    log().info(
        "master '{}' gave up leadership (asked by {}); the only candidate, it is elected again "
        "(epoch {})",
        leader_.master_id, sdk::quote(request.message.header().sender), leader_.epoch);
    server_->reply(request, leader_);
    events_->publish(leader_);
  });
}

void StandaloneLeader::answer(const sdk::Request& request, store::Result result) {
  result.epoch = epoch_;
  server_->reply(request, result);
}

void StandaloneLeader::refuse(const sdk::Request& request, const Error& error) {
  // The store itself failed (disk full, corrupt, busy): the operator needs to know.
  log().error("{}", error.message);
  answer(request, store::refused_result(store::code::kUnavailable, error.message));
}

void StandaloneLeader::deny(const sdk::Request& request, const char* code,
                            const std::string& message) {
  log().warn("refused a request of {}: {}", sdk::quote(request.message.header().sender), message);
  answer(request, store::refused_result(code, message));
}

bool StandaloneLeader::admit(const sdk::Request& request, const char* verb, const std::string& key,
                             bool prefix) {
  auto refused = store::check_key(request.message.header().sender, verb, key, prefix);
  if (refused) deny(request, refused->code, refused->message);
  return !refused;
}

bool StandaloneLeader::admit_write(const sdk::Request& request, const char* verb,
                                   const std::string& key, size_t value_size, uint64_t epoch) {
  if (!admit(request, verb, key, false)) return false;
  auto refused = store::check_value(verb, key, value_size);
  if (!refused) refused = store::check_fenced(verb, key, epoch, epoch_);
  if (!refused && epoch > epoch_) refused = store::unknown_epoch(verb, key, epoch, epoch_);
  if (refused) deny(request, refused->code, refused->message);
  return !refused;
}

bool StandaloneLeader::next_epoch() {
  uint64_t next = epoch_ + 1;
  auto saved = store_->put(epoch_key_, std::to_string(next));
  if (!saved) {
    log().error("cannot start epoch {}: {}", next, saved.error().message);
    return false;
  }
  epoch_ = next;
  return true;
}

void StandaloneLeader::changed(const std::string& key, uint64_t version, bool deleted) {
  ++writes_;
  events_->publish(store::Changed{key, version, deleted});
}

}  // namespace tessera::leader

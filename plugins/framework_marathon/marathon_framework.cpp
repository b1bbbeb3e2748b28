#include "marathon_framework.h"

#include <unistd.h>

#include <algorithm>
#include <climits>
#include <utility>

#include "command_check.h"
#include "tessera/sdk/config.h"

namespace tessera::marathon {

namespace json = boost::json;

namespace {

// Store keys, relative to the plugin's prefix: one per app, per version, per task and per
// deployment, so that no value grows with the number of apps.
constexpr const char* kFrameworkIdKey = "framework_id";
// The leader's API address (HOST:PORT), which standbys proxy to.
constexpr const char* kLeaderKey = "leader";
// Marathon's proxy headers (LeaderProxyFilter, RequestForwarder).
constexpr const char* kLeaderHeader = "X-Marathon-Leader";
constexpr const char* kViaHeader = "X-Marathon-Via";
std::string app_key(const std::string& app_id) { return "apps" + app_id; }
std::string version_key(const std::string& app_id, const std::string& version) {
  // '@' cannot appear in an app id, so one app's versions never share a prefix with another's.
  return "versions" + app_id + "@" + version;
}
std::string task_key(const std::string& task_id) { return "tasks/" + task_id; }
std::string deployment_key(const std::string& id) { return "deployments/" + id; }
// Part 1... of a deployment's record too large for one value (split_deployment).
std::string deployment_part_key(const std::string& id, uint64_t part) {
  return part == 0 ? deployment_key(id) : deployment_key(id) + "/" + std::to_string(part);
}
// App ids begin with '/', so this is "backoff/prod/web".
std::string backoff_key(const std::string& app_id) { return "backoff" + app_id; }
// Group ids begin with '/' too: "groups/prod".
std::string group_key(const std::string& group_id) { return "groups" + group_id; }

// tessera-marathon-executor beside the running program (BUILD/bin, or the installed bin/), where
// CMake puts both.
std::string default_command_executor() {
  char path[PATH_MAX];
  ssize_t length = readlink("/proc/self/exe", path, sizeof path - 1);
  if (length <= 0) return "";
  std::string program(path, static_cast<size_t>(length));
  return program.substr(0, program.rfind('/') + 1) + "tessera-marathon-executor";
}

http::Response to_http(Reply reply) {
  http::Response response =
      reply.text ? http::Response(reply.status, std::move(*reply.text), reply.content_type)
                 : http::Response(reply.status, to_text(reply.body), reply.content_type);
  for (const auto& [name, value] : reply.headers) response.set_header(name, value);
  return response;
}

// The query keys the API reads, with every value each has.
Query query_of(const http::Request& request) {
  Query query;
  for (const char* key : {"embed", "id", "cmd", "label", "force", "scale", "wipe", "host", "status",
                          "status[]", "partialUpdate", "dryRun"}) {
    auto values = request.query_all(key);
    if (!values.empty()) query[key] = std::move(values);
  }
  return query;
}

}  // namespace

MarathonFramework::~MarathonFramework() = default;

Status MarathonFramework::configure(sdk::ConfigTable& table) {
  std::string address = table.get<std::string>("http_address", "127.0.0.1:8080");
  if (std::string problem = sdk::detail::tcp_problem(address, sdk::EndpointUse::bind);
      !problem.empty() || address.find(':') == std::string::npos) {
    table.error_at("http_address",
                   "'" + address + "': " + (problem.empty() ? "expected HOST:PORT" : problem));
  } else {
    size_t colon = address.rfind(':');
    http_host_ = address.substr(0, colon);
    http_port_ = static_cast<uint16_t>(std::stoi(address.substr(colon + 1)));
  }
  master_ = table.get<std::string>("master", "");
  framework_name_ = table.get<std::string>("framework_name", "marathon");
  role_ = table.get<std::string>("role", "*");
  failover_timeout_seconds_ =
      static_cast<double>(table.integer("failover_timeout_seconds", 604800, 0, 365LL * 86400));
  std::string placement = table.choice("placement", "spread", {"spread", "pack"});
  scheduler_options_.spread = placement == "spread";
  scheduler_options_.backoff_reset_after =
      std::chrono::seconds(table.integer("backoff_reset_after_seconds", 60, 0, 86400));
  scheduler_options_.deployment_deadline =
      std::chrono::seconds(table.integer("deployment_deadline_seconds", 0, 0, 30LL * 86400));
  scheduler_options_.max_versions =
      static_cast<size_t>(table.integer("max_versions_per_app", 50, 1, 10000));
  reconcile_interval_ =
      std::chrono::seconds(table.integer("reconcile_interval_seconds", 60, 1, 86400));
  health_address_ = table.get<std::string>("health_check_address", "");
  scheduler_options_.command_executor =
      table.get<std::string>("command_executor", default_command_executor());
  auto http_table = table.table("http");
  http_options_ = http::ServerOptions::from_config(http_table);
  http_table.reject_unknown_keys();
  return {};
}

Status MarathonFramework::start() {
  server_ = std::make_unique<http::Server>(loop(), log(), http_options_);
  routes();
  auto address = server_->listen(http_host_, http_port_);
  if (!address) return address.error().context("framework_marathon http_address");
  http_address_ = *address;
  context().announce("http", http_address_);
  log().info("serving Marathon's API on http://{}", http_address_);

  leadership_ = std::make_unique<sdk::Leadership>(bus(), clock());
  store_ = std::make_unique<sdk::Store>(bus(), clock());
  store_->fence_with(leadership_.get());
  sdk::StoreWriterOptions writing;
  writing.retry_unavailable_after = std::chrono::seconds(1);
  writer_ = std::make_unique<sdk::StoreWriter>(*store_, writing);
  leadership_->on_elected = [this](uint64_t) { elected(); };
  leadership_->on_deposed = [this] { deposed(); };
  return leadership_->start();
}

void MarathonFramework::stopping() {
  // Stops without tearing the framework down: its tasks keep running for the next leader.
  deposed();
}

void MarathonFramework::elected() {
  log().info("leading: recovering apps from the store");
  recover(++term_);
}

void MarathonFramework::deposed() {
  ++term_;
  // What was not stored is for the next leader to decide again from the store.
  if (writer_) writer_->drop("no longer leading; the change may not be stored");
  if (client_) client_->stop();
  client_.reset();
  health_.reset();
  api_.reset();
  scheduler_.reset();
  for (sdk::Clock::TimerId* timer : {&tick_timer_, &reconcile_timer_}) {
    if (*timer != 0) clock().cancel(*timer);
    *timer = 0;
  }
}

void MarathonFramework::recover(uint64_t term) {
  // Read one kind of record after the other; each step checks that the term is still current.
  auto current = [this, term] { return term == term_; };
  auto failed = [this, current](const char* what, const sdk::StoreError& error) {
    if (!current()) return;
    log().error("recovering {}: {}", what, error.message);
    // Try again: the store may be starting.
    clock().after(std::chrono::seconds(1), [this, term = term_] {
      if (term == term_) recover(term);
    });
  };
  auto records =
      std::make_shared<std::tuple<std::string, sdk::Listing<StoredApp>, sdk::Listing<StoredApp>,
                                  sdk::Listing<StoredTask>, sdk::Listing<StoredDeployment>,
                                  sdk::Listing<StoredBackoff>, sdk::Listing<StoredApp>>>();
  store_->get<std::string>(kFrameworkIdKey, [=, this](auto id) {
    if (!current()) return;
    if (!id) return failed("the framework id", id.error());
    if (id->has_value()) std::get<0>(*records) = (*id)->value;
    store_->list<StoredApp>("apps/", [=, this](auto apps) {
      if (!current()) return;
      if (!apps) return failed("apps", apps.error());
      std::get<1>(*records) = std::move(*apps);
      store_->list<StoredApp>("versions/", [=, this](auto versions) {
        if (!current()) return;
        if (!versions) return failed("versions", versions.error());
        std::get<2>(*records) = std::move(*versions);
        store_->list<StoredTask>("tasks/", [=, this](auto tasks) {
          if (!current()) return;
          if (!tasks) return failed("tasks", tasks.error());
          std::get<3>(*records) = std::move(*tasks);
          store_->list<StoredDeployment>("deployments/", [=, this](auto deployments) {
            if (!current()) return;
            if (!deployments) return failed("deployments", deployments.error());
            std::get<4>(*records) = std::move(*deployments);
            store_->list<StoredBackoff>("backoff/", [=, this](auto backoffs) {
              if (!current()) return;
              if (!backoffs) return failed("backoffs", backoffs.error());
              std::get<5>(*records) = std::move(*backoffs);
              store_->list<StoredApp>("groups/", [=, this](auto groups) {
                if (!current()) return;
                if (!groups) return failed("groups", groups.error());
                std::get<6>(*records) = std::move(*groups);
                framework_id_ = std::get<0>(*records);
                scheduler_ = std::make_unique<Scheduler>(clock(), *this, scheduler_options_);
                for (const auto& entry : std::get<6>(*records).entries) {
                  if (auto group = parse_stored_group(entry.value.json)) {
                    scheduler_->adopt_group(std::move(*group));
                  } else {
                    log().warn("ignoring the unreadable group record {}", sdk::quote(entry.key));
                  }
                }
                for (const auto& entry : std::get<1>(*records).entries) {
                  scheduler_->adopt_app(parse_stored_app(entry.value.json));
                }
                for (const auto& entry : std::get<2>(*records).entries) {
                  scheduler_->adopt_version(parse_stored_app(entry.value.json));
                }
                for (const auto& entry : std::get<3>(*records).entries) {
                  scheduler_->adopt_task(entry.value);
                }
                // A deployment's record may be in parts (split_deployment); parts without
                // their part 0, or that it does not count, are what a removal or a write cut
                // short left behind.
                std::map<std::string, std::vector<StoredDeployment>> deployment_parts;
                deployment_parts_ = DeploymentRecordParts(kDeploymentPartBytes);
                for (const auto& entry : std::get<4>(*records).entries) {
                  deployment_parts[entry.value.id].push_back(entry.value);
                }
                for (auto& [id, parts] : deployment_parts) {
                  auto recovered = deployment_parts_.recover(std::move(parts));
                  if (recovered.whole) scheduler_->adopt_deployment(*recovered.whole);
                  for (uint64_t part : recovered.leftovers) {
                    writer_->remove(deployment_part_key(id, part));
                  }
                }
                for (const auto& entry : std::get<5>(*records).entries) {
                  scheduler_->adopt_backoff(entry.value);
                }
                log().info(
                    "recovered {} app(s), {} task(s), {} deployment(s); framework id {}",
                    scheduler_->apps().size(), scheduler_->tasks().size(),
                    scheduler_->deployments().size(),
                    framework_id_.empty() ? std::string("none yet") : sdk::quote(framework_id_));
                start_scheduling(term);
              });
            });
          });
        });
      });
    });
  });
}

void MarathonFramework::start_scheduling(uint64_t term) {
  ServiceInfo info;
  info.name = framework_name_;
  info.framework_id = framework_id_;
  info.http_address = http_address_;
  info.leading = [this] { return leadership_ && leadership_->leading(); };
  info.leader_address = [this] {
    return leadership_ && leadership_->leading() ? http_address_ : std::string();
  };
  api_ = std::make_unique<Api>(*scheduler_, info);
  store_->put(kLeaderKey, http_address_, [this](auto r) { store_done("the leader's address", r); });
  api_->on_api_post = [this](const json::object& body) {
    json::object event = body;
    event["eventType"] = "api_post_event";
    event["timestamp"] = scheduler_->timestamp();
    publish("api_post_event", event);
  };
  health_ = std::make_unique<HealthChecker>(loop(), clock(), *scheduler_, health_address_);

  sdk::FrameworkInfo framework;
  framework.framework_id = framework_id_;
  framework.name = framework_name_;
  framework.roles = {role_};
  framework.failover_timeout_seconds = failover_timeout_seconds_;
  sdk::SchedulerOptions options;
  options.master = master_;
  client_ = std::make_unique<sdk::SchedulerClient>(bus(), framework, options);
  client_->on_subscribed = [this, term](const std::string& id) {
    if (term != term_) return;
    if (id != framework_id_) {
      framework_id_ = id;
      api_->set_framework_id(id);
      store_->put(kFrameworkIdKey, id, [this](const sdk::StoreResult<uint64_t>& r) {
        store_done("the framework id", r);
      });
    }
    log().info("subscribed as framework {}; reconciling {} task(s)", sdk::quote(id),
               scheduler_->tasks().size());
    reconcile();
    client_->revive();
    scheduler_->converge();
  };
  client_->on_offers = [this](const std::vector<protocol::scheduler::Offer>& offers) {
    scheduler_->on_offers(offers);
  };
  client_->on_update = [this](const protocol::TaskStatus& status) {
    scheduler_->on_update(status);
  };
  client_->on_message = [this](const protocol::scheduler::FrameworkMessage& message) {
    on_check_result(message);
  };
  client_->on_agent_lost = [this](const std::string& agent) { scheduler_->on_agent_lost(agent); };
  client_->on_error = [this](const std::string& message) {
    log().error("the master refused the framework: {}", message);
  };
  client_->start();
  tick_timer_ = clock().every(std::chrono::seconds(1), [this] {
    scheduler_->converge();
    health_->tick();
  });
  reconcile_timer_ = clock().every(reconcile_interval_, [this] {
    if (client_->subscribed()) reconcile();
  });
}

void MarathonFramework::reconcile() {
  // Each task this scheduler knows, by name (as Marathon does): the master answers those it
  // has forgotten too (TASK_GONE on an agent removed meanwhile, TASK_UNKNOWN on one that is
  // registered without it), which a reconciliation of what the master knows cannot tell.
  // Then the implicit one, for what the master knows and this scheduler does not.
  std::vector<protocol::scheduler::ReconcileTask> known;
  for (const auto& [id, task] : scheduler_->tasks()) {
    if (!protocol::state::terminal(task.state)) known.push_back({id, task.agent_id});
  }
  if (!known.empty()) client_->reconcile(known);
  client_->reconcile();
}

void MarathonFramework::on_check_result(const protocol::scheduler::FrameworkMessage& message) {
  auto result = decode_check_result(message.data);
  if (!result) {
    log().warn("a message from executor {} on agent {}: {}", sdk::quote(message.executor_id),
               sdk::quote(message.agent_id), result.error().message);
    return;
  }
  if (auto refusal =
          refuse_check_result(*scheduler_, *result, message.executor_id, message.agent_id)) {
    if (!refusal->quiet) {
      log().warn("ignoring a check result for {} from executor {} on agent {}: {}",
                 sdk::quote(result->task_id), sdk::quote(message.executor_id),
                 sdk::quote(message.agent_id), refusal->reason);
    }
    return;
  }
  health_->report(result->task_id, result->index, result->alive, result->cause);
}

void MarathonFramework::store_done(const std::string& what,
                                   const sdk::StoreResult<uint64_t>& result) {
  if (result) return;
  ++store_failures_;
  log().error("storing {}: {}", what, result.error().message);
}

// ---- Driver ----

void MarathonFramework::launch(const std::vector<std::string>& offer_ids,
                               const std::vector<protocol::TaskInfo>& tasks) {
  for (const auto& task : tasks) {
    log().info("launching {} on agent {}", sdk::quote(task.task_id), sdk::quote(task.agent_id));
  }
  if (client_) client_->accept(offer_ids, tasks);
}

void MarathonFramework::decline(const std::vector<std::string>& offer_ids, double refuse_seconds) {
  if (client_) client_->decline(offer_ids, refuse_seconds);
}

void MarathonFramework::kill(const std::string& task_id, const std::string& agent_id) {
  log().info("killing {}", sdk::quote(task_id));
  if (client_) client_->kill(task_id, agent_id);
}

void MarathonFramework::revive() {
  if (client_) client_->revive();
}

void MarathonFramework::warn(const std::string& message) { log().warn("{}", message); }

// ---- Writes ----
//
// The scheduler's writes go through an sdk::StoreWriter: coalesced by key (a later put of a key
// replaces the one not yet sent) and stored as batches, one batch at a time so that a batch
// sent again after a failure can never overwrite a newer value of its keys. A batch the store
// did not take is kept and sent again a second later: what is in memory is never silently
// dropped. A change asked for over HTTP is answered once its writes are stored (the writer's
// when_stored, in leader_route), as Marathon answers after its deployment plan is persisted.

// ---- Driver: the scheduler's records ----

void MarathonFramework::save_app(const App& app) {
  writer_->put(app_key(app.id), StoredApp{to_text(to_json(app))});
}

void MarathonFramework::remove_app(const std::string& app_id) { writer_->remove(app_key(app_id)); }

void MarathonFramework::save_version(const App& app) {
  writer_->put(version_key(app.id, app.version), StoredApp{to_text(to_json(app))});
}

void MarathonFramework::remove_version(const std::string& app_id, const std::string& version) {
  writer_->remove(version_key(app_id, version));
}

void MarathonFramework::save_group(const GroupSpec& group) {
  writer_->put(group_key(group.id), StoredApp{to_text(to_json(group))});
}

void MarathonFramework::remove_group(const std::string& group_id) {
  writer_->remove(group_key(group_id));
}

void MarathonFramework::save_task(const StoredTask& task) { writer_->put(task_key(task.id), task); }

void MarathonFramework::remove_task(const std::string& task_id) {
  writer_->remove(task_key(task_id));
}

void MarathonFramework::save_deployment(const StoredDeployment& deployment) {
  // Only the parts whose bytes changed (at a step, part 0 alone), later parts before part 0.
  write_deployment_parts(deployment.id, deployment_parts_.save(deployment));
}

void MarathonFramework::remove_deployment(const std::string& id) {
  write_deployment_parts(id, deployment_parts_.remove(id));
}

void MarathonFramework::write_deployment_parts(const std::string& id,
                                               std::vector<DeploymentRecordParts::Write> writes) {
  // The writer stores in the order asked, which is the order the parts must land in.
  for (DeploymentRecordParts::Write& write : writes) {
    std::string key = deployment_part_key(id, write.part);
    if (!write.encoded) {
      writer_->remove(key);
      continue;
    }
    // A part that could not be stored is written again at the next save, not taken as stored.
    writer_->put_encoded(key, std::move(*write.encoded),
                         [this, term = term_, id, part = write.part](const auto& result) {
                           if (!result && term == term_) deployment_parts_.failed(id, part);
                         });
  }
}

void MarathonFramework::save_backoff(const StoredBackoff& backoff) {
  writer_->put(backoff_key(backoff.app_id), backoff);
}

void MarathonFramework::remove_backoff(const std::string& app_id) {
  writer_->remove(backoff_key(app_id));
}

void MarathonFramework::publish(const std::string& event_type, const json::object& body) {
  events_.publish(event_type, to_text(body));
}

// ---- HTTP ----

void MarathonFramework::leader_route(http::Method method, std::string_view pattern,
                                     std::function<Reply(const http::Request&)> handler,
                                     bool json_body) {
  server_->route_async(
      method, pattern,
      [this, handler = std::move(handler), json_body](const http::Request& request,
                                                      http::Responder answer) {
        if (auto refused = refuse_cross_origin(request)) {
          answer.send(std::move(*refused));
          return;
        }
        if (api_) {
          std::optional<Reply> unsupported =
              json_body ? Api::refuse_media_type(request.header("Content-Type")) : std::nullopt;
          if (unsupported) {
            // Refused before anything changes: nothing to wait for in the store.
            http::Response response = to_http(std::move(*unsupported));
            response.set_header(kLeaderHeader, "http://" + http_address_);
            answer.send(std::move(response));
            return;
          }
          auto response = std::make_shared<http::Response>(to_http(handler(request)));
          response->set_header(kLeaderHeader, "http://" + http_address_);
          if (request.method() == http::Method::get || request.method() == http::Method::head) {
            answer.send(std::move(*response));
            return;
          }
          // A change is answered once what it wrote is stored.
          auto responder = std::make_shared<http::Responder>(std::move(answer));
          writer_->when_stored([this, response, responder](bool stored, const std::string& why) {
            if (stored) {
              responder->send(std::move(*response));
              return;
            }
            http::Response failed = http::json_error(503, "the change is not stored: " + why);
            failed.set_header(kLeaderHeader, "http://" + http_address_);
            responder->send(std::move(failed));
          });
        } else if (leadership_ && leadership_->leading()) {
          answer.send(http::json_error(503, "Marathon is recovering its state; try again shortly"));
        } else {
          forward_to_leader(request, std::move(answer));
        }
      });
}

std::optional<http::Response> MarathonFramework::refuse_cross_origin(
    const http::Request& request) const {
  if (request.method() == http::Method::get || request.method() == http::Method::head) {
    return std::nullopt;
  }
  // Proxied by a standby, which checked it (against its own address) before: a browser cannot
  // add this header to a cross-site request without a CORS preflight, which is refused.
  if (!request.header(kViaHeader).empty()) return std::nullopt;
  auto refused = Api::refuse_cross_origin(request.header("Origin"), request.header("Host"));
  if (!refused) return std::nullopt;
  http::Response response = to_http(std::move(*refused));
  if (api_) response.set_header(kLeaderHeader, "http://" + http_address_);
  return response;
}

void MarathonFramework::find_leader(std::function<void(std::string)> found) {
  store_->get<std::string>(kLeaderKey, [this, found = std::move(found)](auto stored) {
    std::string address = stored && stored->has_value() ? (*stored)->value : std::string();
    // The key still naming this host means the next leader has not written it yet.
    found(address == http_address_ ? std::string() : address);
  });
}

void MarathonFramework::forward_to_leader(const http::Request& request, http::Responder answer) {
  std::string via = "1.1 " + http_address_;
  auto responder = std::make_shared<http::Responder>(std::move(answer));
  if (request.header(kViaHeader).find(via) != std::string_view::npos) {
    responder->send(http::json_error(502, "Detected proxying loop."));
    return;
  }
  http::ClientRequest forwarded = http::proxied_request(request);
  std::string previous_via(request.header(kViaHeader));
  std::string forwarded_for(request.header("X-Forwarded-For"));
  std::string peer = http::peer_address(request.peer());
  std::erase_if(forwarded.headers, [](const auto& header) {
    return http::detail::iequals(header.first, kViaHeader) ||
           http::detail::iequals(header.first, "X-Forwarded-For");
  });
  forwarded.headers.emplace_back(kViaHeader,
                                 previous_via.empty() ? via : previous_via + ", " + via);
  forwarded.headers.emplace_back("X-Forwarded-For",
                                 forwarded_for.empty() ? peer : forwarded_for + ", " + peer);
  find_leader([this, responder, via, forwarded = std::move(forwarded)](const std::string& leader) {
    if (leader.empty()) {
      responder->send(http::json_error(502, "Could not determine the current leader"));
      return;
    }
    if (!proxy_) proxy_ = std::make_unique<http::Client>(loop());
    proxy_->send(leader, forwarded, [this, responder, via, leader](http::ClientReply reply) {
      if (!reply.error.empty()) {
        log().warn("proxying to the leader at {}: {}", sdk::quote(leader), reply.error);
        bool timed_out = reply.error.find("no answer") != std::string::npos;
        responder->send(
            http::json_error(timed_out ? 504 : 502, timed_out ? "Connection to leader timed out."
                                                              : "Connection to leader refused."));
        return;
      }
      http::Response response = http::proxied_response(std::move(reply));
      response.set_header(kViaHeader, via);
      responder->send(std::move(response));
    });
  });
}

void MarathonFramework::routes() {
  using http::Method;
  using http::Request;
  auto& s = *server_;
  auto id_of = [](const Request& r) { return std::string(r.param("id")); };

  s.route(Method::get, "/ping",
          [](const Request&) { return http::Response(200, "pong", "text/plain; charset=utf-8"); });
  s.route_async(Method::get, "/v2/leader", [this](const Request&, http::Responder answer) {
    if (api_) {
      answer.send(to_http(api_->leader()));
      return;
    }
    // Another host leads: the leader's API address, as that leader stored it.
    auto responder = std::make_shared<http::Responder>(std::move(answer));
    find_leader([responder](const std::string& leader) {
      responder->send(leader.empty() ? http::json_error(404, "There is no leader")
                                     : http::Response::json(json::object{{"leader", leader}}));
    });
  });
  // The host gives its leadership up (the leader plugin's leader.resign): another master leads
  // if one campaigns, the only one is elected again in a new term; this Marathon stops acting
  // when its host is deposed, as any deposed leader does.
  s.route(Method::delete_, "/v2/leader", [this](const Request& r) {
    if (auto refused = refuse_cross_origin(r)) return std::move(*refused);
    bool had_api = api_ != nullptr;
    bool resigned = leadership_ && leadership_->resign();
    if (resigned) log().info("leadership abdicated over DELETE /v2/leader");
    http::Response response = to_http(Api::abdicate(resigned));
    if (had_api) response.set_header(kLeaderHeader, "http://" + http_address_);
    return response;
  });
  s.route(Method::get, "/v2/info", [this](const Request&) {
    if (api_) return to_http(api_->info());
    return http::Response::json(json::object{
        {"name", framework_name_}, {"version", "1.9.0"}, {"elected", false}, {"leader", nullptr}});
  });
  leader_route(Method::get, "/v2/apps",
               [this](const Request& r) { return api_->list_apps(query_of(r)); });
  // The changes that take a JSON body, which Marathon's resources consume only as
  // application/json (415 otherwise); its GroupsResource takes any type.
  constexpr bool kJsonBody = true;
  leader_route(
      Method::post, "/v2/apps",
      [this](const Request& r) { return api_->create_app(r.body(), r.peer()); }, kJsonBody);
  leader_route(
      Method::put, "/v2/apps",
      [this](const Request& r) { return api_->put_apps(r.body(), query_of(r), false, r.peer()); },
      kJsonBody);
  leader_route(
      Method::patch, "/v2/apps",
      [this](const Request& r) { return api_->put_apps(r.body(), query_of(r), true, r.peer()); },
      kJsonBody);
  leader_route(Method::get, "/v2/apps/{id*}",
               [this, id_of](const Request& r) { return api_->get_app(id_of(r), query_of(r)); });
  leader_route(
      Method::put, "/v2/apps/{id*}",
      [this, id_of](const Request& r) {
        return api_->put_app(id_of(r), r.body(), query_of(r), false, r.peer());
      },
      kJsonBody);
  leader_route(
      Method::patch, "/v2/apps/{id*}",
      [this, id_of](const Request& r) {
        return api_->put_app(id_of(r), r.body(), query_of(r), true, r.peer());
      },
      kJsonBody);
  leader_route(Method::delete_, "/v2/apps/{id*}",
               [this, id_of](const Request& r) { return api_->delete_app(id_of(r), query_of(r)); });
  leader_route(Method::post, "/v2/apps/{id*}/restart", [this, id_of](const Request& r) {
    return api_->restart_app(id_of(r), query_of(r));
  });
  auto wants_text = [](const Request& r) {
    return r.header("Accept").find("text/plain") != std::string_view::npos;
  };
  leader_route(Method::get, "/v2/apps/{id*}/tasks", [this, id_of, wants_text](const Request& r) {
    return api_->app_tasks(id_of(r), wants_text(r));
  });
  leader_route(Method::delete_, "/v2/apps/{id*}/tasks", [this, id_of](const Request& r) {
    return api_->kill_app_tasks(id_of(r), query_of(r));
  });
  leader_route(Method::delete_, "/v2/apps/{id*}/tasks/{task}", [this, id_of](const Request& r) {
    return api_->kill_app_task(id_of(r), std::string(r.param("task")), query_of(r));
  });
  leader_route(Method::get, "/v2/apps/{id*}/versions",
               [this, id_of](const Request& r) { return api_->app_versions(id_of(r)); });
  leader_route(Method::get, "/v2/apps/{id*}/versions/{version}", [this, id_of](const Request& r) {
    return api_->app_version(id_of(r), std::string(r.param("version")));
  });
  leader_route(Method::get, "/v2/tasks", [this, wants_text](const Request& r) {
    return api_->tasks(query_of(r), wants_text(r));
  });
  leader_route(
      Method::post, "/v2/tasks/delete",
      [this](const Request& r) { return api_->kill_tasks(r.body(), query_of(r)); }, kJsonBody);
  leader_route(Method::get, "/v2/queue",
               [this](const Request& r) { return api_->queue(query_of(r)); });
  leader_route(Method::delete_, "/v2/queue/{id*}/delay",
               [this, id_of](const Request& r) { return api_->reset_delay(id_of(r)); });
  leader_route(Method::get, "/v2/deployments",
               [this](const Request&) { return api_->deployments(); });
  leader_route(Method::delete_, "/v2/deployments/{id}", [this, id_of](const Request& r) {
    return api_->delete_deployment(id_of(r), query_of(r));
  });
  leader_route(Method::get, "/v2/groups",
               [this](const Request& r) { return api_->groups("", query_of(r)); });
  leader_route(Method::get, "/v2/groups/{id*}",
               [this, id_of](const Request& r) { return api_->groups(id_of(r), query_of(r)); });
  leader_route(Method::post, "/v2/groups", [this](const Request& r) {
    return api_->put_group("", r.body(), query_of(r), true, r.peer());
  });
  leader_route(Method::put, "/v2/groups", [this](const Request& r) {
    return api_->put_group("", r.body(), query_of(r), false, r.peer());
  });
  leader_route(Method::delete_, "/v2/groups",
               [this](const Request& r) { return api_->delete_group("", query_of(r)); });
  leader_route(Method::post, "/v2/groups/{id*}", [this, id_of](const Request& r) {
    return api_->put_group(id_of(r), r.body(), query_of(r), true, r.peer());
  });
  leader_route(Method::put, "/v2/groups/{id*}", [this, id_of](const Request& r) {
    return api_->put_group(id_of(r), r.body(), query_of(r), false, r.peer());
  });
  leader_route(Method::delete_, "/v2/groups/{id*}", [this, id_of](const Request& r) {
    return api_->delete_group(id_of(r), query_of(r));
  });
  s.route(Method::get, "/v2/eventSubscriptions", [](const Request&) {
    return http::Response::json(json::object{{"callbackUrls", json::array{}}});
  });
  s.route_async(Method::get, "/v2/events", [this](const Request& r, http::Responder answer) {
    if (!leadership_ || !leadership_->leading()) {
      // As Marathon: a standby redirects event streams to the leader instead of proxying them.
      auto responder = std::make_shared<http::Responder>(std::move(answer));
      find_leader([responder, target = std::string(r.target())](const std::string& leader) {
        if (leader.empty()) {
          responder->send(http::json_error(502, "Could not determine the current leader"));
          return;
        }
        http::Response redirect(302);
        redirect.set_header("Location", "http://" + leader + target);
        responder->send(std::move(redirect));
      });
      return;
    }
    auto wanted = r.query_all("event_type");
    if (wanted.empty()) {
      answer.send(events_.subscribe(r));
      return;
    }
    answer.send(events_.subscribe(r, [wanted](std::string_view event) {
      return std::find(wanted.begin(), wanted.end(), event) != wanted.end();
    }));
  });
  s.route(Method::get, "/metrics", [this](const Request&) {
    std::string text;
    auto metric = [&text](const char* name, const char* type, const char* help,
                          const std::string& value) {
      text += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" +
              name + " " + value + "\n";
    };
    auto gauge = [&metric](const char* name, const char* help, size_t value) {
      metric(name, "gauge", help, std::to_string(value));
    };
    gauge("marathon_leading", "1 while this Marathon leads", api_ ? 1 : 0);
    gauge("marathon_apps", "apps defined", scheduler_ ? scheduler_->apps().size() : 0);
    gauge("marathon_tasks", "tasks known", scheduler_ ? scheduler_->tasks().size() : 0);
    gauge("marathon_deployments", "deployments in progress",
          scheduler_ ? scheduler_->deployments().size() : 0);
    gauge("marathon_store_failures", "store writes that failed",
          store_failures_ + (writer_ ? writer_->failures() : 0));
    // Bringing apps towards their targets, after every change (bench/bench_marathon --apps).
    ConvergeStatistics converging;
    if (scheduler_) converging = scheduler_->converge_statistics();
    metric("marathon_converges_total", "counter", "converging passes run by this leader",
           std::to_string(converging.count));
    metric("marathon_converge_seconds_total", "counter", "seconds spent converging by this leader",
           std::to_string(converging.total_seconds));
    metric("marathon_converge_seconds_max", "gauge", "the longest converging pass of this leader",
           std::to_string(converging.max_seconds));
    // Offer rounds: each offer judged for each waiting app, and instances placed.
    WorkStatistics rounds;
    if (scheduler_) rounds = scheduler_->offer_round_statistics();
    metric("marathon_offer_rounds_total", "counter", "offer rounds handled by this leader",
           std::to_string(rounds.count));
    metric("marathon_offer_round_seconds_total", "counter",
           "seconds spent handling offer rounds by this leader",
           std::to_string(rounds.total_seconds));
    metric("marathon_offer_round_seconds_max", "gauge", "the longest offer round of this leader",
           std::to_string(rounds.max_seconds));
    return http::Response(200, text, "text/plain; version=0.0.4");
  });
}

}  // namespace tessera::marathon

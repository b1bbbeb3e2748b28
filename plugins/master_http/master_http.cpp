#include "master_http.h"

#include <type_traits>
#include <utility>

#include "proxy.h"
#include "tessera/protocol/master.h"
#include "tessera/sdk/config.h"

#if __has_include("webui_assets.h")
#include "webui_assets.h"
#define TESSERA_MASTER_HTTP_WEBUI 1
#endif

namespace tessera::master_http {

namespace json = boost::json;
namespace op = protocol::operator_api;
namespace events = protocol::master_events;

MasterHttp::MasterHttp(sdk::PluginContext& context) : ServicePlugin(context) {}
MasterHttp::~MasterHttp() = default;

Status MasterHttp::configure(sdk::ConfigTable& table) {
  std::string address = table.get<std::string>("address", "127.0.0.1:5050");
  if (std::string problem = sdk::detail::tcp_problem(address, sdk::EndpointUse::bind);
      !problem.empty() || address.find(':') == std::string::npos) {
    table.error_at("address",
                   "'" + address + "': " + (problem.empty() ? "expected HOST:PORT" : problem));
  } else {
    size_t colon = address.rfind(':');
    host_ = address.substr(0, colon);
    port_ = static_cast<uint16_t>(std::stoi(address.substr(colon + 1)));
  }
  master_timeout_ =
      std::chrono::milliseconds(table.integer("master_timeout_ms", 10'000, 100, 600'000));
  heartbeat_interval_ =
      std::chrono::milliseconds(table.integer("heartbeat_interval_ms", 15'000, 100, 3'600'000));
  usage_refresh_ =
      std::chrono::milliseconds(table.integer("usage_refresh_ms", 5'000, 0, 3'600'000));
  test_drop_event_every_ =
      static_cast<uint64_t>(table.integer("test_drop_event_every", 0, 0, 1'000'000));
  for (const char* framework : kProxiedFrameworks) {
    std::string upstream = table.get<std::string>(framework, "");
    if (upstream.empty()) continue;
    if (std::string problem = sdk::detail::tcp_problem(upstream, sdk::EndpointUse::connect);
        !problem.empty()) {
      table.error_at(framework, "'" + upstream + "': " + problem);
    } else {
      upstreams_[framework] = upstream;
    }
  }
  proxy_options_.timeout =
      std::chrono::milliseconds(table.integer("proxy_timeout_ms", 10'000, 100, 600'000));
  proxy_options_.max_reply_bytes =
      static_cast<size_t>(table.integer("proxy_max_reply_bytes", 16 << 20, 1024, int64_t{1} << 30));
  proxy_options_.max_in_flight =
      static_cast<size_t>(table.integer("proxy_max_in_flight", 256, 1, 65'536));
  auto http_table = table.table("http");
  http_options_ = http::ServerOptions::from_config(http_table);
  http_table.reject_unknown_keys();
  return {};
}

Status MasterHttp::start() {
  if (context().node_roles().find("master") == std::string::npos) {
    return make_error(ErrorCode::kInvalidArgument,
                      "master_http serves a master's API: add \"master\" to [node] roles");
  }
  master_ = std::make_unique<sdk::Client>(bus(), "master_http.master");
  // The master's state of a large cluster is a large message, from a peer in this process.
  MessageLimits limits;
  limits.max_bytes = size_t{1} << 30;
  limits.max_values = size_t{1} << 28;
  master_->set_limits(limits);
  if (auto s = master_->connect(op::kLocalEndpoint); !s) return s;

  broadcaster_ = std::make_unique<http::EventBroadcaster>();
  server_ = std::make_unique<http::Server>(loop(), log(), http_options_);
  routes();
  auto address = server_->listen(host_, port_);
  if (!address) return address.error().context("master_http address");
  address_ = *address;
  context().announce("http", address_);
  log().info("serving the master's HTTP API on http://{}", address_);

  follow_events();
  follow_leadership();
  clock().every(heartbeat_interval_, [this] { publish(ApiEvent{"heartbeat", "{}"}); });
  return {};
}

void MasterHttp::stopping() {
  leadership_.reset();
  store_.reset();
  proxy_.reset();
  broadcaster_.reset();
  server_.reset();
}

void MasterHttp::follow_events() {
  events_ = std::make_unique<sdk::Subscriber>(bus(), "master_http.events");
  // Deep, so that a burst (every task of a failover's re-registrations) is not dropped here.
  events_->set_high_water_mark(1 << 20);
  auto follow = [this]<typename E>() {
    events_->subscribe<E>(
        [this](const Envelope& message, const E& event) { relay(message, event); });
  };
  follow.operator()<events::AgentAdded>();
  follow.operator()<events::AgentRemoved>();
  follow.operator()<events::FrameworkAdded>();
  follow.operator()<events::FrameworkRemoved>();
  follow.operator()<events::TaskAdded>();
  follow.operator()<events::TaskUpdated>();
  follow.operator()<events::TaskRemoved>();
  // Offers are not shown as events, but their numbers keep the gap check exact.
  events_->subscribe<events::OfferMade>([this](const Envelope& message, const events::OfferMade&) {
    last_event_sequence_ = message.header().sequence;
    copy_event(last_event_sequence_, ViewEvent::other, nullptr);
  });
  events_->subscribe<events::OfferRescinded>(
      [this](const Envelope& message, const events::OfferRescinded&) {
        last_event_sequence_ = message.header().sequence;
        copy_event(last_event_sequence_, ViewEvent::other, nullptr);
      });
  if (auto s = events_->connect(events::kEndpoint); !s) {
    log().error("master_http: cannot follow the master's events: {}", s.error().message);
  }
}

template <typename E>
void MasterHttp::relay(const Envelope& message, const E& event) {
  uint64_t sequence = message.header().sequence;
  if (last_event_sequence_ != 0 && sequence != last_event_sequence_ + 1) {
    // Events were lost between the master and here: clients must read the state again.
    ++counters_.events_lost;
    log().warn("master_http: {} master event(s) lost; telling clients to read the state again",
               sequence > last_event_sequence_ ? sequence - last_event_sequence_ - 1 : 0);
    publish(ApiEvent{"reset", R"({"message":"events were lost; read /state again"})"});
  }
  last_event_sequence_ = sequence;
  if constexpr (std::is_same_v<E, events::TaskAdded> || std::is_same_v<E, events::TaskUpdated> ||
                std::is_same_v<E, events::TaskRemoved>) {
    // The task's JSON is written once, for the /events clients and the copy alike.
    std::string written = json::serialize(task_json(event.task));
    publish(api_event(event, written));
    copy_event(sequence,
               std::is_same_v<E, events::TaskRemoved> ? ViewEvent::finished : ViewEvent::tracked,
               &event.task, std::move(written));
  } else {
    publish(api_event(event));
    copy_event(sequence, ViewEvent::other, nullptr);
  }
}

void MasterHttp::copy_event(uint64_t sequence, ViewEvent kind, const op::TaskState* task,
                            std::string written) {
  if (reading_view_) {
    // The state being read may or may not hold this event: it is applied after, if newer.
    if (held_events_.size() >= kMaxHeldEvents) {
      held_overflow_ = true;
      held_events_.clear();
    }
    if (!held_overflow_) {
      held_events_.push_back(
          HeldEvent{sequence, kind, task ? *task : op::TaskState{}, std::move(written)});
    }
    return;
  }
  if (!view_.synced()) return;
  if (test_drop_event_every_ > 0 && ++events_copied_ % test_drop_event_every_ == 0) return;
  TaskView::Step step = TaskView::Step::applied;
  switch (kind) {
    case ViewEvent::tracked:
      step = view_.tracked(sequence, *task, std::move(written));
      break;
    case ViewEvent::finished:
      step = view_.finished(sequence, *task, std::move(written));
      break;
    case ViewEvent::other:
      step = view_.other(sequence);
      break;
  }
  // A body of tasks that changed is not sent again: let go of its lists now.
  if (state_body_.view_version != view_.version()) state_body_ = KeptBody{};
  if (kind != ViewEvent::other && step == TaskView::Step::applied) write_blocks_when_quiet();
  if (step == TaskView::Step::gap) {
    ++counters_.view_resyncs;
    log().warn("master_http: master event {} came after a gap; the copy of the tasks is read again",
               sequence);
    keep_view();
  }
  // Requests waiting for this event (or for a copy that is now read again) go on.
  std::vector<ViewHandler> ready;
  for (auto it = catching_up_.begin(); it != catching_up_.end();) {
    if (view_.synced() && it->second.sequence > view_.sequence()) {
      ++it;
      continue;
    }
    clock().cancel(it->second.timer);
    ready.push_back(std::move(it->second.handler));
    it = catching_up_.erase(it);
  }
  for (auto& handler : ready) handler(nullptr);
}

void MasterHttp::write_blocks_when_quiet() {
  last_task_event_ = std::chrono::steady_clock::now();
  if (blocks_timer_ == 0) write_blocks_after(kQuietBlocks);
}

void MasterHttp::write_blocks_after(std::chrono::milliseconds wait) {
  blocks_timer_ = clock().after(wait, [this] {
    blocks_timer_ = 0;
    auto quiet = std::chrono::steady_clock::now() - last_task_event_;
    if (quiet < kQuietBlocks) {
      // Events came meanwhile: a quiet moment after the last one.
      return write_blocks_after(std::chrono::ceil<std::chrono::milliseconds>(kQuietBlocks - quiet));
    }
    view_.write_changed_blocks();
  });
}

void MasterHttp::drop_view(const char* why) {
  state_body_ = KeptBody{};
  if (!view_.synced()) return;
  log().info("master_http: the copy of the tasks is read again: {}", why);
  view_.clear();
}

void MasterHttp::keep_view() {
  if (!leadership_ || !leadership_->leading() || view_.synced() || reading_view_ ||
      view_retry_timer_ != 0) {
    return;
  }
  with_view([this](const MasterProblem* problem) {
    if (problem == nullptr || view_retry_timer_ != 0) return;
    // The leader plugin may tell this API before it tells the master that it leads.
    view_retry_timer_ = clock().after(kViewRetry, [this] {
      view_retry_timer_ = 0;
      keep_view();
    });
  });
}

void MasterHttp::with_view(ViewHandler handler) {
  if (view_.synced()) return handler(nullptr);
  waiting_for_view_.push_back(std::move(handler));
  if (reading_view_) return;
  reading_view_ = true;
  held_events_.clear();
  held_overflow_ = false;
  with_state([this](const op::State* state, const MasterProblem& problem) {
    reading_view_ = false;
    if (state != nullptr && !held_overflow_) {
      view_.reset(*state, state->counters.events_published);
      write_blocks_when_quiet();
      for (const HeldEvent& held : held_events_) {
        copy_event(held.sequence, held.kind, held.kind == ViewEvent::other ? nullptr : &held.task,
                   held.json);
      }
    }
    held_events_.clear();
    if (state != nullptr && !view_.synced()) {
      // Events were lost while the state was read: read it again.
      held_overflow_ = false;
      std::vector<ViewHandler> waiting = std::move(waiting_for_view_);
      waiting_for_view_.clear();
      for (auto& next : waiting) with_view(std::move(next));
      return;
    }
    std::vector<ViewHandler> waiting = std::move(waiting_for_view_);
    waiting_for_view_.clear();
    for (auto& next : waiting) next(state != nullptr ? nullptr : &problem);
  });
}

void MasterHttp::with_summary(SummaryHandler handler) {
  waiting_for_summary_.push_back(std::move(handler));
  if (waiting_for_summary_.size() > 1) return;
  op::GetStateSummary ask;
  auto now = std::chrono::steady_clock::now();
  if (usages_read_ == std::chrono::steady_clock::time_point{} ||
      now - usages_read_ >= usage_refresh_) {
    ask.with_usages = true;
    usages_read_ = now;
  }
  if (summary_ != nullptr) {
    ask.known_version = summary_->version;
    ask.agents_delta = true;
    ask.offers_delta = true;
  }
  master_->request(
      ask,
      [this, known = summary_, known_agents = summary_agents_,
       known_offers = summary_offers_](Result<Envelope> reply) {
        auto received = std::chrono::steady_clock::now();
        std::shared_ptr<SummaryAnswer> answer;
        MasterProblem problem;
        if (reply && reply->is<op::StateSummary>()) {
          auto summary = reply->body<op::StateSummary>();
          // Agents and offers written for this answer: all, or those of the summary held and
          // what changed since.
          std::shared_ptr<const AgentsJson> agents;
          std::shared_ptr<const OffersJson> offers;
          bool same_master =
              summary && known != nullptr && known->state.master_id == summary->state.master_id;
          auto fits = [&](uint64_t since) {
            return since == 0 || (same_master && known->version == since);
          };
          if (summary && !summary->unchanged && fits(summary->agents_since) &&
              fits(summary->offers_since)) {
            agents = agents_json(*summary, known_agents);
            offers = offers_json(*summary, known_offers);
          }
          if (!summary) {
            problem = MasterProblem{
                500, "the master's state does not decode: " + summary.error().message, ""};
          } else if (summary->unchanged ? !same_master || known->version != summary->version
                                        : agents == nullptr || offers == nullptr) {
            // Not the summary this API holds (the master went on since, or another master
            // answers): ask again, whole.
            summary_.reset();
            summary_agents_.reset();
            summary_offers_.reset();
            std::vector<SummaryHandler> waiting = std::move(waiting_for_summary_);
            waiting_for_summary_.clear();
            for (auto& next : waiting) with_summary(std::move(next));
            return;
          } else {
            answer = std::make_shared<SummaryAnswer>();
            answer->received = received;
            answer->event_sequence = summary->event_sequence;
            answer->max_completed_tasks = summary->max_completed_tasks;
            answer->usages = std::move(summary->usages);
            if (summary->unchanged) {
              answer->whole = known;
              answer->agents = known_agents;
              answer->offers = known_offers;
            } else {
              summary->usages.clear();
              summary->state.agents.clear();  // written in `agents`
              summary->state.offers.clear();  // written in `offers`
              summary->offers_gone.clear();
              if (summary->agents_since != 0 || summary->offers_since != 0) {
                ++counters_.partial_summaries;
              }
              summary->agents_since = 0;
              summary->offers_since = 0;
              summary_ = std::make_shared<const op::StateSummary>(std::move(*summary));
              summary_agents_ = std::move(agents);
              summary_offers_ = std::move(offers);
              answer->whole = summary_;
              answer->agents = summary_agents_;
              answer->offers = summary_offers_;
            }
          }
        } else {
          problem = problem_of(reply, "its state");
          drop_view("the master does not answer as the leader");
        }
        if (answer == nullptr) {
          summary_.reset();
          summary_agents_.reset();
          summary_offers_.reset();
        }
        leading_ = answer != nullptr;
        std::vector<SummaryHandler> waiting = std::move(waiting_for_summary_);
        waiting_for_summary_.clear();
        for (auto& next : waiting) next(answer, problem);
      },
      master_timeout_);
}

void MasterHttp::after_event(uint64_t sequence, ViewHandler handler) {
  if (!view_.synced() || view_.sequence() >= sequence) return handler(nullptr);
  uint64_t id = ++next_catch_up_;
  CatchUp& wait = catching_up_[id];
  wait.sequence = sequence;
  wait.handler = std::move(handler);
  wait_for_events(id);
}

void MasterHttp::wait_for_events(uint64_t id) {
  CatchUp& wait = catching_up_.at(id);
  wait.seen = view_.sequence();
  // The events left the master before its answer did: if none has come for kEventSilence, they
  // were lost. While they come the copy is only behind (a burst of them queued): reading it
  // again would cost far more than waiting.
  wait.timer = clock().after(kEventSilence, [this, id] {
    auto it = catching_up_.find(id);
    if (it == catching_up_.end()) return;
    if (view_.synced() && view_.sequence() > it->second.seen) return wait_for_events(id);
    ViewHandler late = std::move(it->second.handler);
    catching_up_.erase(it);
    ++counters_.view_resyncs;
    drop_view("the master's events did not come");
    late(nullptr);
    keep_view();
  });
}

void MasterHttp::serve_state(const std::shared_ptr<http::Responder>& out, bool retried) {
  auto timing = std::make_shared<StateTiming>();
  timing->mark();
  with_view([this, out, retried, timing](const MasterProblem* problem) {
    if (problem != nullptr) return (void)out->send(problem_response(*problem));
    timing->mark();
    with_summary([this, out, retried, timing](const std::shared_ptr<const SummaryAnswer>& answer,
                                              const MasterProblem& summary_problem) {
      if (answer == nullptr) return (void)out->send(problem_response(summary_problem));
      timing->mark(answer->received);
      timing->mark();
      if (answer->whole->state.master_id != view_.master_id()) {
        drop_view("another master answers");
      }
      // The copy must hold at least every event the summary's state has seen; events newer
      // than the summary may already be in it (they are a moment younger than the agents).
      after_event(answer->event_sequence, [this, out, answer, retried,
                                           timing](const MasterProblem*) {
        if (!view_.synced()) {
          if (retried) {
            return (void)out->send(
                http::json_error(503, "the master's events do not follow its state"));
          }
          return serve_state(out, true);
        }
        timing->mark();
        view_.apply_usages(answer->usages);
        view_.set_max_completed(answer->max_completed_tasks);
        // The same summary and the same copy: the same body, sent again from its pieces.
        if (state_body_.summary != answer->whole || state_body_.view_version != view_.version()) {
          StateContext context;
          context.leader_http = "http://" + address_;
          context.frameworks_http = frameworks_http(upstreams_);
          context.agents = answer->agents;
          context.offers = answer->offers;
          state_body_.pieces = view_.state_pieces(answer->whole->state, context);
          state_body_.summary = answer->whole;
          state_body_.view_version = view_.version();
        } else {
          ++counters_.state_bodies_reused;
        }
        timing->mark();
        http::Response response = http::Response::pieces(state_body_.pieces, "application/json");
        response.set_header("Server-Timing", timing->header());
        out->send(std::move(response));
      });
    });
  });
}

void MasterHttp::publish(const ApiEvent& event) {
  if (!broadcaster_) return;
  broadcaster_->publish(event.name, event.data);
  ++counters_.events_sent;
}

void MasterHttp::with_state(StateHandler handler) {
  waiting_for_state_.push_back(std::move(handler));
  if (waiting_for_state_.size() > 1) return;
  master_->request(
      op::GetState{},
      [this](Result<Envelope> reply) {
        std::vector<StateHandler> waiting = std::move(waiting_for_state_);
        waiting_for_state_.clear();
        Result<op::State> state = make_error("no answer");
        MasterProblem problem;
        if (reply && reply->is<op::State>()) {
          state = reply->body<op::State>();
          if (!state)
            problem = MasterProblem{
                500, "the master's state does not decode: " + state.error().message, ""};
        } else {
          problem = problem_of(reply, "its state");
        }
        leading_ = state.ok();
        for (auto& handler : waiting) handler(state ? &*state : nullptr, problem);
      },
      master_timeout_);
}

MasterHttp::MasterProblem MasterHttp::problem_of(const Result<Envelope>& reply, const char* what) {
  if (!reply) {
    leading_ = false;
    return MasterProblem{
        503, std::string("the master did not answer for ") + what + ": " + reply.error().message,
        ""};
  }
  if (reply->is<protocol::master::NotLeader>()) {
    leading_ = false;
    auto body = reply->body<protocol::master::NotLeader>();
    if (!body) return MasterProblem{503, "this master does not lead", ""};
    return MasterProblem{503, protocol::master::not_leader_message(body->leader), body->leader};
  }
  return MasterProblem{
      500, "the master answered '" + sdk::printable(reply->type(), 64) + "' for " + what, ""};
}

http::Response MasterHttp::problem_response(const MasterProblem& problem) const {
  json::object body;
  body["message"] = problem.message;
  if (!problem.leader.empty()) body["leader"] = problem.leader;
  return http::Response::json(body, problem.status);
}

namespace {

// How much of a file one step of a download reads, and how much may wait unsent before the
// next step waits for the client.
constexpr uint64_t kDownloadChunk = uint64_t{256} * 1024;

}  // namespace

void MasterHttp::ask_files(const protocol::files::Request& request, FilesHandler handler) {
  master_->request(
      request,
      [this, handler = std::move(handler)](Result<Envelope> reply) {
        if (reply && reply->is<protocol::files::Answer>()) {
          auto answer = reply->body<protocol::files::Answer>();
          if (answer) return handler(&*answer, http::Response());
          return handler(nullptr, http::json_error(500, "the master's answer does not decode"));
        }
        handler(nullptr, problem_response(problem_of(reply, "the task's files")));
      },
      master_timeout_);
}

http::Response MasterHttp::files_failure(const protocol::files::Answer& answer) {
  return http::json_error(files_status(answer.code), answer.error);
}

void MasterHttp::files_routes() {
  namespace files = protocol::files;
  auto request_of = [](const char* operation, const http::Request& r) {
    return files_request(operation, r.query("task_id"), r.query("framework_id"), r.query("path"),
                         r.query("offset"), r.query("length"));
  };
  // Browse and read: one request to the master, its answer as JSON.
  auto json_route = [this, request_of](const char* path, const char* operation,
                                       boost::json::value (*to_json)(const files::Answer&)) {
    leader_route(
        http::Method::get, path,
        [this, request_of, operation, to_json](const http::Request& r, http::Responder responder) {
          auto out = std::make_shared<http::Responder>(std::move(responder));
          auto request = request_of(operation, r);
          if (!request) return (void)out->send(http::json_error(request.error()));
          ask_files(*request, [out, to_json](const files::Answer* answer, http::Response problem) {
            if (answer == nullptr) return (void)out->send(std::move(problem));
            if (!answer->code.empty()) return (void)out->send(files_failure(*answer));
            out->send(http::Response::json(to_json(*answer)));
          });
        });
  };
  json_route("/files/browse", files::kBrowse,
             [](const files::Answer& a) { return boost::json::value(browse_json(a)); });
  json_route("/files/read", files::kRead,
             [](const files::Answer& a) { return boost::json::value(read_json(a)); });
  // A download first asks for the size, so that a missing file is a 404 rather than an empty
  // 200; then reads the file a chunk at a time, each when the client has taken the last.
  leader_route(
      http::Method::get, "/files/download",
      [this, request_of](const http::Request& r, http::Responder responder) {
        auto out = std::make_shared<http::Responder>(std::move(responder));
        auto request = request_of(files::kRead, r);
        if (!request) return (void)out->send(http::json_error(request.error()));
        request->offset = -1;
        ask_files(*request, [this, out, request = *request](const files::Answer* answer,
                                                            http::Response problem) mutable {
          if (answer == nullptr) return (void)out->send(std::move(problem));
          if (!answer->code.empty()) return (void)out->send(files_failure(*answer));
          request.offset = 0;
          request.length = kDownloadChunk;
          uint64_t size = answer->size;
          std::string name = request.path.substr(request.path.rfind('/') + 1);
          for (char& c : name) {
            if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20) c = '_';
          }
          http::Response response = http::Response::chunked(
              "application/octet-stream", [this, request, size](http::Stream stream) {
                download(std::move(stream), request, size);
              });
          response.set_header("Content-Disposition", "attachment; filename=\"" + name + "\"");
          out->send(std::move(response));
        });
      });
}

void MasterHttp::download(http::Stream stream, const protocol::files::Request& request,
                          uint64_t size) {
  if (!stream.open()) return;
  if (static_cast<uint64_t>(request.offset) >= size) return stream.finish();
  if (stream.buffered() > kDownloadChunk) {
    clock().after(std::chrono::milliseconds(20),
                  [this, stream, request, size] { download(stream, request, size); });
    return;
  }
  ask_files(request, [this, stream = std::move(stream), next = request, size](
                         const protocol::files::Answer* answer, const http::Response&) mutable {
    if (!stream.open()) return;
    if (answer == nullptr || !answer->code.empty() || answer->data.empty()) {
      // The file shrank or went away, or the agent did not answer: the client gets what was
      // read, and the log says the download ended early.
      if (answer == nullptr || !answer->code.empty()) {
        log().warn("download of {} of task {} ended early at byte {}", sdk::quote(next.path),
                   sdk::quote(next.task_id), next.offset);
      }
      return stream.finish();
    }
    stream.write(answer->data);
    next.offset += static_cast<int64_t>(answer->data.size());
    download(stream, next, size);
  });
}

void MasterHttp::leader_route(http::Method method, std::string_view pattern,
                              http::AsyncHandler handler) {
  server_->route_async(
      method, pattern,
      [this, handler = std::move(handler)](const http::Request& r, http::Responder responder) {
        if (auto redirect = standby_redirect(r)) {
          return (void)responder.send(std::move(*redirect));
        }
        handler(r, std::move(responder));
      });
}

void MasterHttp::leader_route(http::Method method, std::string_view pattern,
                              http::Handler handler) {
  server_->route(method, pattern,
                 [this, handler = std::move(handler)](const http::Request& r) -> http::Response {
                   if (auto redirect = standby_redirect(r)) return std::move(*redirect);
                   return handler(r);
                 });
}

std::optional<http::Response> MasterHttp::standby_redirect(const http::Request& request) const {
  if (!leadership_ || leadership_->leading() || leader_http_.empty()) return std::nullopt;
  std::string target(request.target());
  if (target.empty() || target.front() != '/') target = request.path();
  http::Response response = http::json_error(
      307, "this master does not lead; the leader's HTTP API is at " + leader_http_);
  response.set_header("Location", leader_http_ + target);
  response.set_header("Cache-Control", "no-store");
  return response;
}

void MasterHttp::follow_leadership() {
  sdk::StoreOptions options;
  // A standby asks again on its own schedule: one read never waits long.
  options.give_up_after = std::chrono::milliseconds(2000);
  store_ = std::make_unique<sdk::Store>(bus(), clock(), options);
  leadership_ = std::make_unique<sdk::Leadership>(bus(), clock());
  store_->fence_with(leadership_.get());
  leadership_->on_elected = [this](uint64_t epoch) {
    leader_http_.clear();
    drop_view("this master was elected");
    keep_view();
    LeaderHttp published{"http://" + address_, epoch};
    store_->put(kLeaderHttpKey, published, [this](const sdk::StoreResult<uint64_t>& written) {
      if (!written) {
        log().warn("master_http: cannot publish this API's address for standbys: {}",
                   written.error().message);
      }
    });
  };
  leadership_->on_leader = [this](const protocol::store::Leader& leader) {
    if (leader.this_node || leader.epoch != leader_http_epoch_) leader_http_.clear();
    if (leader.epoch != leader_http_epoch_) drop_view("the leader changed");
    leader_http_epoch_ = leader.epoch;
    if (!leader.this_node && leader.known) read_leader_http();
  };
  if (auto s = leadership_->start(); !s) {
    log().warn("master_http: cannot follow the leadership; a standby will not redirect: {}",
               s.error().message);
  }
}

void MasterHttp::read_leader_http() {
  if (reading_leader_http_ || !leader_http_.empty()) return;
  reading_leader_http_ = true;
  store_->get<LeaderHttp>(kLeaderHttpKey, [this](auto stored) {
    reading_leader_http_ = false;
    const protocol::store::Leader& leader = leadership_->leader();
    if (leadership_->leading() || !leader.known) return;
    // Only the address the current leader wrote in its own term: until it has, the key still
    // holds the one before, which would send clients to a master that no longer leads.
    if (stored && stored->has_value() && (*stored)->value.epoch == leader.epoch &&
        !(*stored)->value.url.empty()) {
      leader_http_ = (*stored)->value.url;
      return;
    }
    if (retry_timer_ != 0) return;
    retry_timer_ = clock().after(std::chrono::milliseconds(500), [this] {
      retry_timer_ = 0;
      read_leader_http();
    });
  });
}

void MasterHttp::proxy_routes() {
  for (const char* framework : kProxiedFrameworks) {
    for (http::Method method : {http::Method::get, http::Method::post, http::Method::put,
                                http::Method::delete_, http::Method::patch}) {
      for (const std::string& pattern :
           {std::string("/") + framework, std::string("/") + framework + "/{path*}"}) {
        leader_route(method, pattern, [this](const http::Request& r, http::Responder responder) {
          forward(r, std::move(responder));
        });
      }
    }
  }
}

void MasterHttp::forward(const http::Request& request, http::Responder responder) {
  if (request.target().size() > kMaxProxiedTargetBytes) {
    return (void)responder.send(http::json_error(
        414, "the target is " + std::to_string(request.target().size()) +
                 " bytes long; the proxy sends at most " + std::to_string(kMaxProxiedTargetBytes)));
  }
  auto target = proxy_target(request.target(), request.segments());
  if (!target) return (void)responder.send(http::json_error(target.error()));
  auto upstream = upstreams_.find(target->framework);
  if (upstream == upstreams_.end()) {
    return (void)responder.send(http::json_error(
        404, "this master does not proxy '" + target->framework + "': set [plugins.master_http] " +
                 target->framework + " = \"HOST:PORT\" to its HTTP address"));
  }
  std::string address = upstream->second;
  if (asks_for_event_stream(*target, request.header("Accept"))) {
    return (void)responder.send(
        http::json_error(501, "the master does not relay event streams; read them from " +
                                  target->framework + " at http://" + address + target->target));
  }
  // A change from a web page is checked here, against the address the browser used: the
  // upstream would compare its Origin with its own address and refuse every change asked through
  // the proxy. A same-origin change goes on without its Origin.
  bool change = request.method() != http::Method::get && request.method() != http::Method::head;
  if (change && !http::same_origin(request.header("Origin"), request.header("Host"))) {
    return (void)responder.send(http::json_error(
        403, "refused a change from the web page at " + sdk::quote(request.header("Origin"), 256) +
                 ": not this master's origin (cross-site request)"));
  }
  http::ClientRequest forwarded = http::proxied_request(request);
  forwarded.target = target->target;
  std::erase_if(forwarded.headers,
                [](const auto& header) { return http::detail::iequals(header.first, "Origin"); });
  // HEAD is asked as GET, whose answer the server sends without its body: the client's parser
  // would otherwise wait for a body the upstream never sends.
  if (request.method() == http::Method::head) forwarded.method = "GET";
  std::string peer = http::peer_address(request.peer());
  std::string forwarded_for(request.header("X-Forwarded-For"));
  std::erase_if(forwarded.headers, [](const auto& header) {
    return http::detail::iequals(header.first, "X-Forwarded-For") ||
           http::detail::iequals(header.first, "X-Forwarded-Prefix");
  });
  forwarded.headers.emplace_back("X-Forwarded-For",
                                 forwarded_for.empty() ? peer : forwarded_for + ", " + peer);
  forwarded.headers.emplace_back("X-Forwarded-Prefix", "/" + target->framework);
  if (!proxy_) proxy_ = std::make_unique<http::Client>(loop(), proxy_options_);
  auto out = std::make_shared<http::Responder>(std::move(responder));
  ++counters_.proxied;
  proxy_->send(address, forwarded,
               [this, out, framework = target->framework, address](http::ClientReply reply) {
                 if (!reply.error.empty()) {
                   ++counters_.proxy_failures;
                   log().warn("proxying to {} at {}: {}", sdk::quote(framework),
                              sdk::quote(address), reply.error);
                   bool timed_out = reply.error.starts_with("no answer");
                   return (void)out->send(http::json_error(
                       timed_out ? 504 : 502,
                       framework + " at '" + address + "' did not answer: " + reply.error));
                 }
                 std::string location(reply.header("Location"));
                 http::Response response = http::proxied_response(std::move(reply));
                 if (!location.empty()) {
                   response.set_header("Location", proxied_location(location, framework, address));
                 }
                 out->send(std::move(response));
               });
}

void MasterHttp::routes() {
  // Counted for /metrics.
  server_->set_authorizer([this](const http::Request&) {
    ++counters_.requests;
    return http::Access::allow();
  });

  leader_route(http::Method::get, "/state",
               [this](const http::Request&, http::Responder responder) {
                 serve_state(std::make_shared<http::Responder>(std::move(responder)), false);
               });

  leader_route(
      http::Method::get, "/tasks", [this](const http::Request& r, http::Responder responder) {
        auto out = std::make_shared<http::Responder>(std::move(responder));
        auto query = TaskQuery::parse(r.query("limit"), r.query("offset"), r.query("state"),
                                      r.query("framework_id"), r.query("q"));
        if (!query) return (void)out->send(http::json_error(query.error()));
        with_view([this, query = *query, out](const MasterProblem* problem) {
          if (problem != nullptr) return (void)out->send(problem_response(*problem));
          out->send(http::Response(200, view_.tasks_page_body(query), "application/json"));
        });
      });

  leader_route(http::Method::get, "/roles",
               [this](const http::Request&, http::Responder responder) {
                 auto out = std::make_shared<http::Responder>(std::move(responder));
                 master_->request(
                     op::GetStateSummary{.roles_only = true},
                     [this, out](Result<Envelope> reply) {
                       auto summary = reply && reply->is<op::StateSummary>()
                                          ? reply->body<op::StateSummary>()
                                          : Result<op::StateSummary>(make_error("no answer"));
                       if (!summary) {
                         return (void)out->send(problem_response(problem_of(reply, "its roles")));
                       }
                       json::array roles;
                       for (const auto& role : summary->state.roles) {
                         roles.push_back(role_json(role));
                       }
                       out->send(http::Response::json(json::object{{"roles", std::move(roles)}}));
                     },
                     master_timeout_);
               });

  leader_route(http::Method::put, "/roles/{role*}",
               [this](const http::Request& r, http::Responder responder) {
                 auto out = std::make_shared<http::Responder>(std::move(responder));
                 auto body = r.json();
                 if (!body) return (void)out->send(http::json_error(body.error()));
                 auto update = role_update(std::string(r.param("role")), *body);
                 if (!update) return (void)out->send(http::json_error(update.error()));
                 master_->request(
                     *update,
                     [this, role = update->role, out](Result<Envelope> reply) {
                       if (!reply || !reply->is<op::Result>()) {
                         return (void)out->send(problem_response(problem_of(reply, "the role")));
                       }
                       auto result = reply->body<op::Result>();
                       if (!result || !result->ok) {
                         return (void)out->send(http::json_error(
                             400, result ? result->error : "the master's answer does not decode"));
                       }
                       out->send(http::Response::json(json::object{{"role", role}}));
                     },
                     master_timeout_);
               });

  // /health answers on every master, leading or not, so that a load balancer sees each one
  // alive; a standby says so, and where the leader is.
  server_->route_async(
      http::Method::get, "/health", [this](const http::Request&, http::Responder responder) {
        auto out = std::make_shared<http::Responder>(std::move(responder));
        master_->request(
            op::GetMetrics{},
            [this, out](Result<Envelope> reply) {
              if (reply && reply->is<op::Metrics>()) {
                leading_ = true;
                return (void)out->send(http::Response::text("ok\n"));
              }
              MasterProblem problem = problem_of(reply, "its health");
              if (reply && reply->is<protocol::master::NotLeader>()) {
                std::string leader = !leader_http_.empty() ? leader_http_ : problem.leader;
                return (void)out->send(http::Response::text(
                    "standby; the leader is " +
                    (leader.empty() ? std::string("not known yet") : "at " + leader) + "\n"));
              }
              out->send(problem_response(problem));
            },
            master_timeout_);
      });

  server_->route_async(
      http::Method::get, "/metrics", [this](const http::Request&, http::Responder responder) {
        auto out = std::make_shared<http::Responder>(std::move(responder));
        master_->request(
            op::GetMetrics{},
            [this, out](Result<Envelope> reply) {
              op::Metrics metrics;
              if (reply && reply->is<op::Metrics>()) {
                auto body = reply->body<op::Metrics>();
                if (body) metrics = std::move(*body);
                leading_ = body.ok();
              } else {
                // A standby still answers: it reports that it does not lead, and the API's own
                // counters.
                (void)problem_of(reply, "its metrics");
              }
              ApiCounters api = counters_;
              api.event_subscribers = broadcaster_ ? broadcaster_->subscribers() : 0;
              if (broadcaster_) {
                auto backlog = broadcaster_->backlog();
                api.event_queue_bytes = backlog.total_bytes;
                api.event_queue_max_bytes = backlog.max_bytes;
              }
              api.slow_readers = server_->stats().slow_readers;
              out->send(http::Response(200, metrics_text(metrics, leading_, api),
                                       "text/plain; version=0.0.4; charset=utf-8"));
            },
            master_timeout_);
      });

  files_routes();
  proxy_routes();

  leader_route(http::Method::get, "/events",
               [this](const http::Request& r) { return broadcaster_->subscribe(r); });

#ifdef TESSERA_MASTER_HTTP_WEBUI
  auto asset = [](std::string_view path) {
    auto found = webui::find_asset(path);
    if (!found) return http::json_error(404, "no file '" + std::string(path) + "' in the web UI");
    return http::Response(200, std::string(found->body), found->content_type);
  };
  leader_route(http::Method::get, "/", [asset](const http::Request&) { return asset("/"); });
  leader_route(http::Method::get, "/ui/{path*}", [asset](const http::Request& r) {
    return asset("/ui/" + std::string(r.param("path")));
  });
#else
  leader_route(http::Method::get, "/", [](const http::Request&) {
    return http::Response::text(
        "Tessera master HTTP API: /state /tasks /health /metrics /events /roles (docs/api.md)\n");
  });
#endif
}

}  // namespace tessera::master_http

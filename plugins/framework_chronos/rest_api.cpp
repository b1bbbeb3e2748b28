// Chronos 3's /v1/scheduler REST API on the SDK's HTTP server: the same paths, JSON and status
// codes as Chronos for what is implemented (204 for a change, 400 with {"status", "message"}
// for every bad request, "not found" included), plus /job/NAME/runs.
#include <charconv>

#include "chronos_framework.h"
#include "json_fields.h"

namespace tessera::chronos {

namespace http = sdk::http;

namespace {

constexpr const char* kBase = "/v1/scheduler";

// Chronos's error body (its ApiResult): the status's reason phrase and the message.
http::Response chronos_error(unsigned status, const std::string& message) {
  boost::json::object body;
  body["status"] = status == 400   ? "Bad Request"
                   : status == 415 ? "Unsupported Media Type"
                   : status == 503 ? "Service Unavailable"
                                   : "Internal Server Error";
  body["message"] = message;
  return http::Response(status, boost::json::serialize(body), "application/json");
}

http::Response json_answer(const boost::json::value& value) {
  return http::Response(200, to_json_text(value), "application/json");
}

std::string path(const char* rest) { return std::string(kBase) + rest; }

// A query parameter that must be a non-negative integer of at most `high`.
Result<size_t> count_parameter(const http::Request& request, const char* key, size_t fallback,
                               size_t high) {
  auto text = request.query(key);
  if (!text || text->empty()) return fallback;
  size_t value = 0;
  auto [end, error] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (error != std::errc() || end != text->data() + text->size() || value > high) {
    return make_error(ErrorCode::kInvalidArgument,
                      "'" + std::string(key) + "' must be an integer from 0 to " +
                          std::to_string(high) + ", got '" + *text + "'");
  }
  return value;
}

// Whether the body is declared JSON: Content-Type application/json, parameters allowed
// ("application/json; charset=utf-8"). Chronos's resources @Consume only that (415 otherwise),
// which is also what keeps a web page from posting a job: a browser sends a cross-site POST
// without asking first only with a form's or text/plain's type (or none), never this one.
bool declared_json(std::string_view content_type) {
  content_type = content_type.substr(0, content_type.find(';'));
  while (!content_type.empty() && (content_type.back() == ' ' || content_type.back() == '\t')) {
    content_type.remove_suffix(1);
  }
  while (!content_type.empty() && (content_type.front() == ' ' || content_type.front() == '\t')) {
    content_type.remove_prefix(1);
  }
  return http::detail::iequals(content_type, "application/json");
}

}  // namespace

http::AsyncHandler ChronosFramework::when_ready(http::Handler handler) {
  return when_ready(http::AsyncHandler(
      [handler = std::move(handler)](const http::Request& request, http::Responder answer) {
        answer.send(handler(request));
      }));
}

http::AsyncHandler ChronosFramework::when_ready(http::AsyncHandler handler) {
  return
      [this, handler = std::move(handler)](const http::Request& request, http::Responder answer) {
        if (ready_) {
          handler(request, std::move(answer));
        } else if (leadership_ && leadership_->leading()) {
          answer.send(chronos_error(503, "this scheduler is still reading its jobs"));
        } else {
          forward_to_leader(request, std::move(answer));
        }
      };
}

void ChronosFramework::forward_to_leader(const http::Request& request, http::Responder answer) {
  auto responder = std::make_shared<http::Responder>(std::move(answer));
  // A request that already passed through this host would only come back: the stored leader
  // is stale (the next one has not written its address yet).
  std::string via = "1.1 " + http_address_;
  if (request.header("Via").find(via) != std::string_view::npos || !store_) {
    responder->send(chronos_error(503, "this scheduler is not leading and knows no leader"));
    return;
  }
  http::ClientRequest forwarded = http::proxied_request(request);
  std::string previous_via(request.header("Via"));
  std::erase_if(forwarded.headers,
                [](const auto& header) { return http::detail::iequals(header.first, "Via"); });
  forwarded.headers.emplace_back("Via", previous_via.empty() ? via : previous_via + ", " + via);
  store_->get<std::string>(
      kLeaderKey, [this, responder, forwarded = std::move(forwarded)](auto found) {
        std::string leader = found && *found ? (*found)->value : std::string();
        if (leader.empty() || leader == http_address_) {
          responder->send(chronos_error(503, "this scheduler is not leading and knows no leader"));
          return;
        }
        if (!proxy_) proxy_ = std::make_unique<http::Client>(loop());
        proxy_->send(leader, forwarded, [this, responder, leader](http::ClientReply reply) {
          if (!reply.error.empty()) {
            log().warn("forwarding to the leader at {}: {}", sdk::quote(leader), reply.error);
            responder->send(chronos_error(503, "the leader at '" + leader + "' did not answer"));
            return;
          }
          responder->send(http::proxied_response(std::move(reply)));
        });
      });
}

void ChronosFramework::answer_after_commit(Result<std::vector<Action>> actions,
                                           http::Responder answer, http::Response ok) {
  if (!actions) {
    answer.send(chronos_error(400, actions.error().message));
    return;
  }
  auto responder = std::make_shared<http::Responder>(std::move(answer));
  auto response = std::make_shared<http::Response>(std::move(ok));
  commit(std::move(*actions), [responder, response](const Status& stored) {
    responder->send(stored ? *response : chronos_error(503, stored.error().message));
  });
}

void ChronosFramework::post_job(const http::Request& request, http::Responder answer,
                                JobForm form) {
  if (!declared_json(request.header("Content-Type"))) {
    return (void)answer.send(
        chronos_error(415, "a job is posted as JSON, with 'Content-Type: application/json'"));
  }
  auto body = request.json();
  if (!body) return (void)answer.send(chronos_error(400, body.error().message));
  auto job = parse_job(*body, form, settings_.scheduler.job_defaults, now());
  if (!job) return (void)answer.send(chronos_error(400, job.error().message));
  if (auto s = check_new_job(*job, now()); !s) {
    return (void)answer.send(chronos_error(400, s.error().message));
  }
  std::string name = job->name;
  if (auto s = core_->put_job(std::move(*job), now()); !s) {
    return (void)answer.send(chronos_error(400, s.error().message));
  }
  log().info("job {} saved", sdk::quote(name));
  answer_after_commit(std::vector<Action>{}, std::move(answer), http::Response(204));
}

void ChronosFramework::add_routes() {
  using http::Method;
  using http::Request;
  using http::Responder;
  server_->route(Method::get, "/ping",
                 [](const Request&) { return http::Response(200, "pong\n", "text/plain"); });
  server_->route_async(Method::get, path("/leader"), [this](const Request&, Responder answer) {
    if (ready_ || !store_) {
      boost::json::object body;
      body["leader"] = ready_ ? http_address_ : std::string();
      answer.send(http::Response::json(body));
      return;
    }
    // A standby tells where the leader serves, as the leader wrote it.
    auto responder = std::make_shared<Responder>(std::move(answer));
    store_->get<std::string>(kLeaderKey, [responder](auto found) {
      boost::json::object body;
      body["leader"] = found && *found ? (*found)->value : std::string();
      responder->send(http::Response::json(body));
    });
  });

  server_->route_async(Method::post, path("/iso8601"),
                       when_ready(http::AsyncHandler([this](const Request& r, Responder answer) {
                         post_job(r, std::move(answer), JobForm::scheduled);
                       })));
  server_->route_async(Method::post, path("/dependency"),
                       when_ready(http::AsyncHandler([this](const Request& r, Responder answer) {
                         post_job(r, std::move(answer), JobForm::dependent);
                       })));

  server_->route_async(Method::get, path("/jobs"), when_ready(http::Handler([this](const Request&) {
                         // Kept between changes: a UI lists far more often than jobs change.
                         if (!jobs_listing_) jobs_listing_ = jobs_listing();
                         return http::Response(200, *jobs_listing_, "application/json");
                       })));
  server_->route_async(Method::get, path("/jobs/summary"),
                       when_ready(http::Handler(
                           [this](const Request&) { return json_answer(core_->summary_json()); })));
  server_->route_async(Method::get, path("/jobs/search"),
                       when_ready(http::Handler([this](const Request& r) {
                         SchedulerCore::SearchQuery query;
                         query.name = r.query("name").value_or("");
                         query.command = r.query("command").value_or("");
                         query.any = r.query("any").value_or("");
                         auto limit = count_parameter(r, "limit", 10, 1'000'000);
                         if (!limit) return chronos_error(400, limit.error().message);
                         auto offset = count_parameter(r, "offset", 0, 1'000'000'000);
                         if (!offset) return chronos_error(400, offset.error().message);
                         query.limit = *limit;
                         query.offset = *offset;
                         boost::json::array jobs;
                         for (const Job* job : core_->search(query))
                           jobs.push_back(job_to_json(*job));
                         return json_answer(jobs);
                       })));

  server_->route_async(Method::get, path("/job/{name}"),
                       when_ready(http::Handler([this](const Request& r) {
                         std::string name(r.param("name"));
                         const Job* job = core_->find_job(name);
                         if (job == nullptr)
                           return chronos_error(400, "Job '" + name + "' not found");
                         return json_answer(job_to_json(*job));
                       })));
  server_->route_async(
      Method::put, path("/job/{name}"),
      when_ready(http::AsyncHandler([this](const Request& r, Responder answer) {
        std::string name(r.param("name"));
        std::string arguments = r.query("arguments").value_or("");
        if (arguments.size() > 65536) {
          return (void)answer.send(chronos_error(400, "'arguments' is longer than 65536 bytes"));
        }
        answer_after_commit(core_->run_now(name, arguments, now()), std::move(answer),
                            http::Response(204));
      })));
  server_->route_async(Method::delete_, path("/job/{name}"),
                       when_ready(http::AsyncHandler([this](const Request& r, Responder answer) {
                         std::string name(r.param("name"));
                         answer_after_commit(core_->remove_job(name), std::move(answer),
                                             http::Response(204));
                       })));
  server_->route_async(
      Method::put, path("/job/success/{name}"),
      when_ready(http::AsyncHandler([this](const Request& r, Responder answer) {
        std::string name(r.param("name"));
        answer_after_commit(
            core_->mark_success(name, now()), std::move(answer),
            http::Response(200, "marked job " + name + " as successful: true", "application/json"));
      })));
  server_->route_async(Method::delete_, path("/task/kill/{name}"),
                       when_ready(http::AsyncHandler([this](const Request& r, Responder answer) {
                         std::string name(r.param("name"));
                         answer_after_commit(core_->kill_runs(name, now()), std::move(answer),
                                             http::Response(204));
                       })));

  server_->route_async(Method::get, path("/graph/csv"),
                       when_ready(http::Handler([this](const Request&) {
                         return http::Response(200, core_->graph_csv(), "text/plain");
                       })));
  server_->route_async(Method::get, path("/graph/dot"),
                       when_ready(http::Handler([this](const Request&) {
                         return http::Response(200, core_->graph_dot(), "text/plain");
                       })));
  // GET /job/stat/runs matches both of these routes, with as many literal segments each; it is
  // always Chronos's: the stats of a job named 'runs' (400 when there is none), never the run
  // history of a job named 'stat', whose history therefore has no URL (its stats are
  // /job/stat/stat). Among equal routes the router takes the one registered first
  // (sdk/http/router.h), so the stats route must stay before the history route
  // (ChronosE2E.StatsAndRunHistoryRoutesHoldWhateverTheJobsAreNamed checks it).
  server_->route_async(Method::get, path("/job/stat/{name}"),
                       when_ready(http::Handler([this](const Request& r) {
                         auto stat = core_->stat_json(std::string(r.param("name")));
                         if (!stat) return chronos_error(400, stat.error().message);
                         return json_answer(*stat);
                       })));
  server_->route_async(Method::get, path("/job/{name}/runs"),
                       when_ready(http::Handler([this](const Request& r) {
                         auto runs = core_->runs_json(std::string(r.param("name")));
                         if (!runs) return chronos_error(400, runs.error().message);
                         return json_answer(*runs);
                       })));
}

}  // namespace tessera::chronos

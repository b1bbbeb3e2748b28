// The master's state in the JSON of the HTTP API (docs/api.md; Mesos's names): pure functions
// of the operator protocol's messages, so that they are unit-tested without a master.
#pragma once

#include <boost/json.hpp>
#include <chrono>
#include <cstdint>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tessera/protocol/files.h"
#include "tessera/protocol/master_events.h"
#include "tessera/protocol/operator.h"
#include "tessera/result.h"

namespace tessera::master_http {

struct AgentsJson;
struct OffersJson;

// What /state shows besides the master's own state: where the API itself is.
struct StateContext {
  std::string leader_http;  // "http://host:port" of this API when its master leads
  // The framework APIs this master proxies: {"marathon": "/marathon"}.
  std::map<std::string, std::string> frameworks_http;
  // The agents ("slaves") already written (AgentsJson): when set, state_json counts them from
  // here and leaves "slaves" empty, and TaskView::state_pieces copies these in.
  std::shared_ptr<const AgentsJson> agents;
  // The outstanding offers already written (OffersJson): when set, state_json leaves each
  // framework's "offers" empty, and TaskView::state_pieces copies these in.
  std::shared_ptr<const OffersJson> offers;
};

// The agents of a state summary as /state writes them, kept between summaries so that one that
// names only the agents that changed (StateSummary::agents_since) writes only those again.
struct AgentsJson {
  struct Agent {
    bool active = false;
    // agent_json, serialized; shared with the sets written from this one, so that a copy of
    // the set copies no JSON.
    std::shared_ptr<const std::string> json;
  };
  std::map<std::string, Agent> agents;        // by id: the master's order
  std::shared_ptr<const std::string> joined;  // every agent's JSON, comma-separated
  int64_t active = 0;
};
// The agents of `summary`: all of them, or, when it names only those that changed
// (agents_since), `known` (the agents of the summary it names) with those written again. Null
// when they do not fit `known` (an agent it does not hold, or none held).
std::shared_ptr<const AgentsJson> agents_json(const protocol::operator_api::StateSummary& summary,
                                              const std::shared_ptr<const AgentsJson>& known);

// The outstanding offers of a state summary as /state writes them (each framework's "offers"),
// kept between summaries so that one that lists only the offers made since an earlier one and
// names those gone (StateSummary::offers_since) writes only the new ones.
struct OffersJson {
  struct Offer {
    std::string framework_id;
    std::shared_ptr<const std::string> json;  // offer_json, serialized; shared as AgentsJson's
  };
  std::map<std::string, Offer> offers;  // by offer id: the master's order
  // By framework id: its offers' JSON, comma-separated, in offer id order.
  std::map<std::string, std::shared_ptr<const std::string>, std::less<>> joined;
};
// The offers of `summary`: all of them, or, when it lists only those made since an earlier one
// (offers_since), `known` (the offers of that one) without those gone and with the new ones.
// Null when they do not fit `known` (a gone offer it does not hold, a new one it already holds,
// or none held).
std::shared_ptr<const OffersJson> offers_json(const protocol::operator_api::StateSummary& summary,
                                              const std::shared_ptr<const OffersJson>& known);
// {"id", "slave_id", "hostname", "role", "resources"}.
boost::json::object offer_json(const protocol::scheduler::Offer& offer);

// A whole number as an integer, any other as a double (Boost.JSON writes 4.0 as "4E0").
boost::json::value number_json(double value);
// {"cpus": n, "mem": n, "disk": n, "ports": "[31000-31005, 31010-31010]", other scalars}.
boost::json::object resources_json(const protocol::Resources& resources);
// The latest usage an agent reported for a task; what was not measured (-1) is left out.
boost::json::object usage_json(const protocol::ResourceUsage& usage);
boost::json::object task_json(const protocol::operator_api::TaskState& task);
boost::json::object agent_json(const protocol::operator_api::AgentState& agent);
// A framework without its tasks and offers (what framework events carry).
boost::json::object framework_json(const protocol::operator_api::FrameworkState& framework);
boost::json::object role_json(const protocol::operator_api::RoleState& role);

// The ids of the tracked tasks each executor runs, by executor_tasks_key(), in the order of the
// tracked tasks.
using ExecutorTasks = std::map<std::string, std::vector<std::string>, std::less<>>;
std::string executor_tasks_key(const std::string& framework_id, const std::string& agent_id,
                               const std::string& executor_id);
// {"executor_id", "name", "framework_id", "slave_id", "resources", "tasks": [task ids]}.
boost::json::object executor_json(const protocol::operator_api::ExecutorState& executor,
                                  const ExecutorTasks& tasks);

boost::json::object state_json(const protocol::operator_api::State& state,
                               const StateContext& context);
// The same, with the executors' tasks given rather than read from state.tasks (a state without
// its tasks, whose tasks are kept elsewhere).
boost::json::object state_json(const protocol::operator_api::State& state,
                               const StateContext& context, const ExecutorTasks& executor_tasks);

// GET /tasks's query: which tasks, and which page of them.
struct TaskQuery {
  size_t limit = 100;
  size_t offset = 0;
  std::string state;         // exact ("TASK_RUNNING"); empty: any
  std::string framework_id;  // exact; empty: any
  std::string text;          // a substring of the id or the name; empty: any

  static constexpr size_t kMaxLimit = 1000;
  // Reads the query's values (absent: nullopt); an invalid one is an invalid-argument error
  // that says which and why.
  static Result<TaskQuery> parse(const std::optional<std::string>& limit,
                                 const std::optional<std::string>& offset,
                                 const std::optional<std::string>& state,
                                 const std::optional<std::string>& framework_id,
                                 const std::optional<std::string>& text);
};
// {"total": tasks matching, "tasks": [the page]}: the active tasks, then the completed ones.
boost::json::object tasks_page(const protocol::operator_api::State& state, const TaskQuery& query);

// Where one /state answer spent its time, sent as its Server-Timing header (W3C Server Timing:
// a browser's developer tools show it, bench_state reads it). mark() is called as each phase
// ends, after the start: "copy" (reading the API's copy of the tasks, when it had none),
// "master" (until the master's summary came, with any wait for one already asked), "summary"
// (decoding it and writing the agents and offers that changed), "events" (the copy catching up
// with the events the summary has seen), "body" (writing the tasks that changed).
class StateTiming {
 public:
  static constexpr const char* kPhases[] = {"copy", "master", "summary", "events", "body"};
  // A mark before the one before it (a summary that came before this request joined the wait
  // for it) counts as at that one.
  void mark(std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now()) {
    if (marks_ == std::size(at_)) return;
    at_[marks_] = marks_ > 0 && now < at_[marks_ - 1] ? at_[marks_ - 1] : now;
    ++marks_;
  }
  // "copy;dur=0.01, master;dur=41.2, ...": each phase ended so far, in milliseconds.
  std::string header() const;

 private:
  std::chrono::steady_clock::time_point at_[std::size(kPhases) + 1];
  size_t marks_ = 0;
};

// The Prometheus text exposition of the master's metrics and of the API's own counters.
struct ApiCounters {
  uint64_t event_subscribers = 0;
  uint64_t event_queue_bytes = 0;      // written for /events clients, not yet sent, in all
  uint64_t event_queue_max_bytes = 0;  // the most waiting for one client
  uint64_t events_sent = 0;
  uint64_t events_lost = 0;   // gaps in the master's event stream
  uint64_t view_resyncs = 0;  // times the API's copy of the tasks was read again after a gap
  // /state answers sent from the body kept since an earlier one (the master said its summary
  // was unchanged and no task had changed).
  uint64_t state_bodies_reused = 0;
  // State summaries in which the master named only what changed since the one held
  // (StateSummary::agents_since, offers_since): only those agents' and offers' JSON was written.
  uint64_t partial_summaries = 0;
  uint64_t requests = 0;
  uint64_t slow_readers = 0;    // event-stream clients dropped for not reading
  uint64_t proxied = 0;         // requests forwarded to Marathon or Chronos
  uint64_t proxy_failures = 0;  // of them, those the upstream did not answer
};
std::string metrics_text(const protocol::operator_api::Metrics& metrics, bool leading,
                         const ApiCounters& api);

// PUT /roles/{role}'s body as the operator request: {"weight": n, "quota": R, "priority": n},
// each optional; an invalid body is an invalid-argument error.
Result<protocol::operator_api::UpdateRole> role_update(const std::string& role,
                                                       const boost::json::value& body);

// A /files/... query as the request to the master: `operation` browse or read; offset from -1
// (the size only) and length at most 1 MiB (default 1 MiB) for a read.
Result<protocol::files::Request> files_request(const std::string& operation,
                                               const std::optional<std::string>& task_id,
                                               const std::optional<std::string>& framework_id,
                                               const std::optional<std::string>& path,
                                               const std::optional<std::string>& offset,
                                               const std::optional<std::string>& length);
// The HTTP status of a failed answer's code (not_found 404, invalid 400, unavailable 503).
unsigned files_status(const std::string& code);
// /files/browse's answer: [{"path", "size", "mtime", "mode"}].
boost::json::array browse_json(const protocol::files::Answer& answer);
// /files/read's answer: {"data", "offset", "size"}.
boost::json::object read_json(const protocol::files::Answer& answer);

// A master event as a Server-Sent Event: its name and one-line JSON data.
struct ApiEvent {
  std::string name;
  std::string data;
};
ApiEvent api_event(const protocol::master_events::AgentAdded& event);
ApiEvent api_event(const protocol::master_events::AgentRemoved& event);
ApiEvent api_event(const protocol::master_events::FrameworkAdded& event);
ApiEvent api_event(const protocol::master_events::FrameworkRemoved& event);
ApiEvent api_event(const protocol::master_events::TaskAdded& event);
ApiEvent api_event(const protocol::master_events::TaskUpdated& event);
ApiEvent api_event(const protocol::master_events::TaskRemoved& event);
// The same events of a task from its JSON already written (json::serialize(task_json(task))):
// the same bytes, so that the API's copy of the tasks and /events share one serialization.
ApiEvent api_event(const protocol::master_events::TaskAdded& event, const std::string& task_json);
ApiEvent api_event(const protocol::master_events::TaskUpdated& event, const std::string& task_json);
ApiEvent api_event(const protocol::master_events::TaskRemoved& event, const std::string& task_json);

}  // namespace tessera::master_http

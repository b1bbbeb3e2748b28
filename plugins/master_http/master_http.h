// master_http: the master's HTTP API (docs/api.md), a service plugin on a master node. It asks
// this host's master over the bus (operator.get_state, get_metrics, update_role on
// protocol::operator_api::kLocalEndpoint), follows the master event stream
// (inproc://tessera.master.events) and serves them with the SDK's HTTP server.
//
// Everything runs on the plugin's loop thread: handlers, bus replies and events, one at a time.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "state_json.h"
#include "task_view.h"
#include "tessera/sdk/channels.h"
#include "tessera/sdk/http.h"
#include "tessera/sdk/http/client.h"
#include "tessera/sdk/leadership.h"
#include "tessera/sdk/plugin.h"
#include "tessera/sdk/store.h"

namespace tessera::master_http {

namespace http = sdk::http;

// What the leading master's API publishes in the store (key "master_http/leader_http") for the
// standbys to redirect to: its URL and the term it leads in.
struct LeaderHttp {
  std::string url;  // "http://HOST:PORT"
  uint64_t epoch = 0;
  TESSERA_MSGPACK_MAP(url, epoch);
};
inline constexpr const char* kLeaderHttpKey = "leader_http";

class MasterHttp : public sdk::ServicePlugin {
 public:
  explicit MasterHttp(sdk::PluginContext& context);
  ~MasterHttp() override;

  Status configure(sdk::ConfigTable& table) override;
  Status start() override;
  void stopping() override;

 private:
  // What this host's master answered: its answer, or why there is none (not leading: the
  // leader it names; no answer in time).
  struct MasterProblem {
    unsigned status = 503;
    std::string message;
    std::string leader;  // the leading master's bus endpoint, when the master named one
  };
  using StateHandler =
      std::function<void(const protocol::operator_api::State*, const MasterProblem&)>;

  // Called once the copy of the tasks is current (problem null) or cannot be read.
  using ViewHandler = std::function<void(const MasterProblem* problem)>;
  // The master's answer to operator.get_state_summary: the state (the summary last received
  // whole: an answer that it is unchanged reuses it), and what that answer itself says.
  struct SummaryAnswer {
    // Its agents and offers are in `agents` and `offers`, written as /state shows them.
    std::shared_ptr<const protocol::operator_api::StateSummary> whole;
    std::shared_ptr<const AgentsJson> agents;
    std::shared_ptr<const OffersJson> offers;
    uint64_t event_sequence = 0;
    uint64_t max_completed_tasks = 0;
    std::chrono::steady_clock::time_point received;  // when the master's reply came
    std::vector<protocol::operator_api::TaskUsage> usages;
  };
  // The answer is shared by the requests that waited for it (null when there is none).
  using SummaryHandler =
      std::function<void(const std::shared_ptr<const SummaryAnswer>&, const MasterProblem&)>;

  using FilesHandler =
      std::function<void(const protocol::files::Answer* answer, http::Response problem)>;

  void routes();
  // A route that only the leader's API serves: a standby that knows the leader's API answers
  // 307 to it instead.
  void leader_route(http::Method method, std::string_view pattern, http::AsyncHandler handler);
  void leader_route(http::Method method, std::string_view pattern, http::Handler handler);
  // The 307 to the leader's API, when this master stands by and knows where that is.
  std::optional<http::Response> standby_redirect(const http::Request& request) const;
  // Publishes this API's URL when this host is elected; on a standby, reads the leader's.
  void follow_leadership();
  void read_leader_http();
  void files_routes();
  // /marathon/... and /chronos/...: forwarded to the framework's own HTTP server.
  void proxy_routes();
  void forward(const http::Request& request, http::Responder responder);
  // Asks the master for a task's files; `handler` gets the answer, or the response to give when
  // there is none.
  void ask_files(const protocol::files::Request& request, FilesHandler handler);
  static http::Response files_failure(const protocol::files::Answer& answer);
  // Sends the file from request.offset to `size` on `stream`, a chunk at a time.
  void download(http::Stream stream, const protocol::files::Request& request, uint64_t size);
  void follow_events();
  // Asks the master for its state; requests that arrive while one is in flight share its answer.
  void with_state(StateHandler handler);
  // Reads the master's state into the copy of the tasks unless it is current; `handler` runs
  // once it is (or with why it cannot be read).
  void with_view(ViewHandler handler);
  // Asks the master for its state without tasks; requests that arrive while one is in flight
  // share its answer.
  void with_summary(SummaryHandler handler);
  // Waits (a bounded time) until the copy has applied the master's event `sequence`, then runs
  // `handler`; if the events do not come, the copy is read again first.
  void after_event(uint64_t sequence, ViewHandler handler);
  // Arms the wait `id` of after_event for the next kEventSilence.
  void wait_for_events(uint64_t id);
  static constexpr std::chrono::milliseconds kEventSilence{2000};
  void serve_state(const std::shared_ptr<http::Responder>& out, bool retried);
  // A master event in the copy of the tasks: applied, kept while the state is read, or, after a
  // gap, the copy is dropped and read again by the next request.
  enum class ViewEvent { tracked, finished, other };
  // `written`: the task's JSON, when already written for /events.
  void copy_event(uint64_t sequence, ViewEvent kind, const protocol::operator_api::TaskState* task,
                  std::string written = {});
  // Drops the copy: it is read again before the next answer (a new leader, a master that does
  // not lead).
  void drop_view(const char* why);
  // Reads the copy now, while this master leads and the copy is not current, rather than on the
  // next request: elected, the master's state is small and the events keep it from then on, so
  // that no request pays for reading every task (docs/bench-state.md). Tried again every
  // kViewRetry while the master does not answer as the leader yet.
  void keep_view();
  static constexpr std::chrono::milliseconds kViewRetry{500};
  // Once no task event has come for kQuietBlocks, the copy's changed blocks are written
  // (TaskView::write_changed_blocks) rather than by the next /state.
  void write_blocks_when_quiet();
  void write_blocks_after(std::chrono::milliseconds wait);
  static constexpr std::chrono::milliseconds kQuietBlocks{1000};
  std::chrono::steady_clock::time_point last_task_event_{};
  sdk::Clock::TimerId blocks_timer_ = 0;
  sdk::Clock::TimerId view_retry_timer_ = 0;
  // The answer for a request that found no leading master.
  http::Response problem_response(const MasterProblem& problem) const;
  // Reads why the master did not answer with `T` (not leading, no answer).
  MasterProblem problem_of(const Result<Envelope>& reply, const char* what);
  template <typename E>
  void relay(const Envelope& message, const E& event);
  void publish(const ApiEvent& event);

  std::string host_ = "127.0.0.1";
  uint16_t port_ = 5050;
  std::chrono::milliseconds master_timeout_{10'000};
  std::chrono::milliseconds heartbeat_interval_{15'000};
  // How often /state asks the master for the tasks' usage (it changes without events).
  std::chrono::milliseconds usage_refresh_{5'000};
  std::chrono::steady_clock::time_point usages_read_{};
  // Tests only: every Nth master event is kept from the copy of the tasks, as if it were lost
  // (0: none), so that the recovery from lost events is exercised on a real master.
  uint64_t test_drop_event_every_ = 0;
  uint64_t events_copied_ = 0;
  http::ServerOptions http_options_;
  // The proxied framework APIs: "marathon" -> its HOST:PORT (absent: not proxied).
  std::map<std::string, std::string> upstreams_;
  http::ClientOptions proxy_options_;

  std::string address_;   // bound HOST:PORT
  bool leading_ = false;  // the last answer of the master
  std::unique_ptr<http::Server> server_;
  std::unique_ptr<http::EventBroadcaster> broadcaster_;
  std::unique_ptr<http::Client> proxy_;
  std::unique_ptr<sdk::Store> store_;
  std::unique_ptr<sdk::Leadership> leadership_;
  std::string leader_http_;  // the leader's API ("http://HOST:PORT") when this host stands by
  uint64_t leader_http_epoch_ = 0;
  bool reading_leader_http_ = false;
  sdk::Clock::TimerId retry_timer_ = 0;
  std::unique_ptr<sdk::Client> master_;
  std::unique_ptr<sdk::Subscriber> events_;
  uint64_t last_event_sequence_ = 0;
  ApiCounters counters_;
  std::vector<StateHandler> waiting_for_state_;

  // The copy of the master's tasks that /state and /tasks are written from.
  TaskView view_;
  std::vector<ViewHandler> waiting_for_view_;
  bool reading_view_ = false;
  // Events that arrived while the state was read, applied after it; past kMaxHeldEvents the
  // state is read again instead.
  struct HeldEvent {
    uint64_t sequence = 0;
    ViewEvent kind = ViewEvent::other;
    protocol::operator_api::TaskState task;
    std::string json;  // the task's JSON
  };
  static constexpr size_t kMaxHeldEvents = size_t{1} << 18;
  std::vector<HeldEvent> held_events_;
  bool held_overflow_ = false;
  std::vector<SummaryHandler> waiting_for_summary_;
  // The last summary received whole: the next request names its version, and the master leaves
  // the state out while it has not changed.
  std::shared_ptr<const protocol::operator_api::StateSummary> summary_;
  // Its agents and offers, written; the master names only those that changed since
  // (agents_delta, offers_delta).
  std::shared_ptr<const AgentsJson> summary_agents_;
  std::shared_ptr<const OffersJson> summary_offers_;
  // The last /state body, and what it was written from: a request whose summary and copy of the
  // tasks are the same is answered with the same pieces, nothing written again.
  struct KeptBody {
    std::shared_ptr<const protocol::operator_api::StateSummary> summary;
    uint64_t view_version = 0;
    std::vector<http::Response::Piece> pieces;
  };
  KeptBody state_body_;
  struct CatchUp {
    uint64_t sequence = 0;
    uint64_t seen = 0;  // the copy's sequence when the timer was set
    ViewHandler handler;
    sdk::Clock::TimerId timer = 0;
  };
  std::map<uint64_t, CatchUp> catching_up_;  // by an id of their own
  uint64_t next_catch_up_ = 0;
};

}  // namespace tessera::master_http

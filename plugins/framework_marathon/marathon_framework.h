// The Marathon framework inside a master host: follows the host's leadership, and while the host
// leads, recovers its state from the store, subscribes to the master through the SDK's
// SchedulerClient, keeps apps running (Scheduler) and serves Marathon's /v2 API (Api) with
// Server-Sent Events. While it does not lead, the API answers 503 except /ping, /v2/info and
// /v2/leader.
//
// Threading: everything runs on the plugin's loop thread.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "api.h"
#include "health_checker.h"
#include "scheduler.h"
#include "tessera/sdk/http.h"
#include "tessera/sdk/leadership.h"
#include "tessera/sdk/plugin.h"
#include "tessera/sdk/scheduler.h"
#include "tessera/sdk/store.h"
#include "tessera/sdk/store_writer.h"

namespace tessera::marathon {

namespace http = sdk::http;

class MarathonFramework : public sdk::FrameworkPlugin, public Driver {
 public:
  explicit MarathonFramework(sdk::PluginContext& context) : FrameworkPlugin(context) {}
  ~MarathonFramework() override;

  Status configure(sdk::ConfigTable& table) override;
  Status start() override;
  void stopping() override;

 private:
  // Driver: what the scheduler decides, carried out through the SDK.
  void launch(const std::vector<std::string>& offer_ids,
              const std::vector<protocol::TaskInfo>& tasks) override;
  void decline(const std::vector<std::string>& offer_ids, double refuse_seconds) override;
  void kill(const std::string& task_id, const std::string& agent_id) override;
  void revive() override;
  void save_app(const App& app) override;
  void remove_app(const std::string& app_id) override;
  void save_version(const App& app) override;
  void remove_version(const std::string& app_id, const std::string& version) override;
  void save_task(const StoredTask& task) override;
  void remove_task(const std::string& task_id) override;
  void save_deployment(const StoredDeployment& deployment) override;
  void save_backoff(const StoredBackoff& backoff) override;
  void remove_backoff(const std::string& app_id) override;
  void save_group(const GroupSpec& group) override;
  void remove_group(const std::string& group_id) override;
  void remove_deployment(const std::string& id) override;
  void publish(const std::string& event_type, const boost::json::object& body) override;
  void warn(const std::string& message) override;

  void elected();
  void deposed();
  // Reads apps, versions, tasks and deployments from the store, then starts scheduling.
  void recover(uint64_t term);
  void start_scheduling(uint64_t term);
  void routes();
  // Routes `pattern` to `handler` while this host leads and has recovered; a standby proxies
  // the request to the leader (as Marathon's LeaderProxyFilter), a leader still recovering
  // answers 503.
  // With `json_body`, a request whose declared body is not JSON is answered 415 before the
  // handler sees it (Api::refuse_media_type).
  void leader_route(http::Method method, std::string_view pattern,
                    std::function<Reply(const http::Request&)> handler, bool json_body = false);
  void forward_to_leader(const http::Request& request, http::Responder answer);
  // The leader's API address as the leader stored it ("" when unknown or this host).
  void find_leader(std::function<void(std::string)> found);
  // 403 for a change asked for by a web page of another origin (Api::refuse_cross_origin).
  std::optional<http::Response> refuse_cross_origin(const http::Request& request) const;
  // A COMMAND check's result from the executor that runs it (command_check.h).
  void on_check_result(const protocol::scheduler::FrameworkMessage& message);
  void store_done(const std::string& what, const sdk::StoreResult<uint64_t>& result);
  // Writes deployment `id`'s parts as deployment_parts_ decided (save_deployment,
  // remove_deployment), in their order.
  void write_deployment_parts(const std::string& id,
                              std::vector<DeploymentRecordParts::Write> writes);

  void reconcile();

  // Configuration.
  std::string http_host_ = "127.0.0.1";
  uint16_t http_port_ = 8080;
  http::ServerOptions http_options_;
  std::string master_;
  std::string framework_name_ = "marathon";
  std::string role_ = "*";
  double failover_timeout_seconds_ = 604800;
  SchedulerOptions scheduler_options_;
  std::chrono::milliseconds reconcile_interval_{std::chrono::seconds(60)};
  std::string health_address_;  // where health checks connect; empty: the task's host

  // Services.
  std::unique_ptr<sdk::Leadership> leadership_;
  std::unique_ptr<sdk::Store> store_;
  // The scheduler's writes (see marathon_framework.cpp: "Writes").
  std::unique_ptr<sdk::StoreWriter> writer_;
  std::unique_ptr<http::Server> server_;
  http::EventBroadcaster events_;
  std::string http_address_;
  std::unique_ptr<http::Client> proxy_;  // a standby's requests to the leader

  // While leading.
  uint64_t term_ = 0;  // the recovery in progress or done; a newer term voids older callbacks
  std::string framework_id_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<Api> api_;
  std::unique_ptr<sdk::SchedulerClient> client_;
  std::unique_ptr<HealthChecker> health_;
  sdk::Clock::TimerId tick_timer_ = 0;
  sdk::Clock::TimerId reconcile_timer_ = 0;
  uint64_t store_failures_ = 0;
  // The most a deployment record's part holds: well below the store's limit of a value (1 MiB),
  // and as large as the writer's batches (512 KiB), beyond which a value goes in a batch alone.
  static constexpr size_t kDeploymentPartBytes = size_t{384} * 1024;
  // What each deployment's record is stored as, part by part (save_deployment writes only the
  // parts that changed, remove_deployment removes them all).
  DeploymentRecordParts deployment_parts_{kDeploymentPartBytes};
};

}  // namespace tessera::marathon

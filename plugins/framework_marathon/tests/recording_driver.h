// A Driver that records what the scheduler asks for, for the unit tests.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "scheduler.h"

namespace tessera::marathon::testing {

class RecordingDriver : public Driver {
 public:
  struct Launch {
    std::vector<std::string> offer_ids;
    std::vector<protocol::TaskInfo> tasks;
  };

  void launch(const std::vector<std::string>& offer_ids,
              const std::vector<protocol::TaskInfo>& tasks) override {
    launches.push_back({offer_ids, tasks});
    for (const auto& task : tasks) launched.push_back(task);
  }
  void decline(const std::vector<std::string>& offer_ids, double refuse_seconds) override {
    for (const auto& id : offer_ids) declined.emplace_back(id, refuse_seconds);
  }
  void kill(const std::string& task_id, const std::string&) override { killed.push_back(task_id); }
  void revive() override { ++revives; }
  void save_app(const App& app) override { stored_apps[app.id] = app; }
  void remove_app(const std::string& app_id) override { stored_apps.erase(app_id); }
  void save_version(const App& app) override { stored_versions[app.id + "@" + app.version] = app; }
  void remove_version(const std::string& app_id, const std::string& version) override {
    stored_versions.erase(app_id + "@" + version);
  }
  void save_task(const StoredTask& task) override { stored_tasks[task.id] = task; }
  void remove_task(const std::string& task_id) override { stored_tasks.erase(task_id); }
  void save_deployment(const StoredDeployment& deployment) override {
    stored_deployments[deployment.id] = deployment;
  }
  void remove_deployment(const std::string& id) override { stored_deployments.erase(id); }
  void save_backoff(const StoredBackoff& backoff) override {
    stored_backoffs[backoff.app_id] = backoff;
  }
  void remove_backoff(const std::string& app_id) override { stored_backoffs.erase(app_id); }
  void save_group(const GroupSpec& group) override { stored_groups[group.id] = group; }
  void remove_group(const std::string& group_id) override { stored_groups.erase(group_id); }
  void publish(const std::string& type, const boost::json::object& body) override {
    events.emplace_back(type, body);
  }
  void warn(const std::string& message) override { warnings.push_back(message); }

  size_t count_events(const std::string& type) const {
    size_t n = 0;
    for (const auto& [t, body] : events) n += t == type ? 1 : 0;
    return n;
  }

  std::vector<Launch> launches;
  std::vector<protocol::TaskInfo> launched;
  std::vector<std::pair<std::string, double>> declined;
  std::vector<std::string> killed;
  std::map<std::string, GroupSpec> stored_groups;
  int revives = 0;
  std::map<std::string, App> stored_apps;
  std::map<std::string, App> stored_versions;
  std::map<std::string, StoredTask> stored_tasks;
  std::map<std::string, StoredDeployment> stored_deployments;
  std::map<std::string, StoredBackoff> stored_backoffs;
  std::vector<std::pair<std::string, boost::json::object>> events;
  std::vector<std::string> warnings;
};

// An offer of `resources` (Mesos text form) from agent `agent` at `hostname`.
inline protocol::scheduler::Offer offer(const std::string& id, const std::string& agent,
                                        const std::string& hostname, const std::string& resources,
                                        std::map<std::string, std::string> attributes = {}) {
  protocol::scheduler::Offer out;
  out.offer_id = id;
  out.agent_id = agent;
  out.hostname = hostname;
  out.role = "*";
  out.resources = protocol::parse_resources(resources).value();
  for (const auto& [name, value] : attributes) out.attributes.push_back({name, value});
  return out;
}

}  // namespace tessera::marathon::testing

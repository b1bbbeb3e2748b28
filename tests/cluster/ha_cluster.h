// Test support for the HA end-to-end tests: a ZooKeeper ensemble (support/zookeeper.h), several
// tessera-host masters and agents with leader_zookeeper on it, all real processes on loopback
// under one TempDir, and the `tessera` CLI asked through zk://.
//
// A master is leading when its current log says it serves ("...from the registry; serving")
// and its process still runs: a master that loses its leadership stops (exits), as a Mesos
// master does.
#pragma once

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "support/process.h"
#include "support/zookeeper.h"

namespace tessera::testing {

class HaCluster {
 public:
  static constexpr const char* kPath = "/ha";
  static constexpr const char* kServing = "from the registry; serving";

  HaCluster(const TempDir& dir, size_t zookeeper_servers, int session_timeout_ms)
      : dir_(dir),
        zookeeper_(dir, static_cast<int>(zookeeper_servers)),
        session_timeout_ms_(session_timeout_ms) {}

  ~HaCluster() {
    for (auto& agent : agents_) {
      if (agent) agent->stop(std::chrono::seconds(10));
    }
    for (auto& master : masters_) {
      if (master) master->stop(std::chrono::seconds(10));
    }
  }

  // More TOML for every master, after its [master] keys: "frameworks = [...]" and the framework
  // plugins' tables. Set before starting the masters.
  std::string master_extra;

  ZooKeeperServers& zookeeper() { return zookeeper_; }
  // What agents, frameworks and the CLI are given: zk://SERVERS/ha.
  std::string address() const { return zookeeper_.address(kPath); }

  // Starts master `i` (again, on the same work dir, after it was killed: a new master id).
  void start_master(size_t i) {
    if (masters_.size() <= i) {
      masters_.resize(i + 1);
      starts_.resize(i + 1);
    }
    std::string name = "master-" + std::to_string(i);
    std::string text = "[node]\nname = \"" + name +
                       "\"\nroles = [\"master\"]\nleader = \"leader_zookeeper\"\nwork_dir = \"" +
                       (dir_ / name).string() + "\"\nplugin_dirs = [\"" TESSERA_PLUGIN_DIR "\"]\n" +
                       "endpoints_file = \"" + (dir_ / (name + ".endpoints")).string() + "\"\n" +
                       "[master]\nallocator = \"allocator_drf\"\nendpoint = \"tcp://127.0.0.1:0\"\n"
                       "agent_ping_interval_ms = 200\nagent_ping_timeout_ms = 3000\n"
                       "agent_removal_timeout_ms = 60000\nheartbeat_interval_ms = 300\n" +
                       master_extra + "\n" + leader_table();
    auto config = dir_.write(name + ".toml", text);
    ++starts_[i];
    masters_[i] =
        std::make_unique<Process>(std::vector<std::string>{TESSERA_HOST_BIN, config.string()},
                                  dir_ / (name + "." + std::to_string(starts_[i]) + ".log"));
  }

  // What master `i`'s current process announced as KEY in its endpoints file ("" until then),
  // such as "framework_marathon.http".
  std::string announced(size_t i, const std::string& key) const {
    std::string text = read_file(dir_ / ("master-" + std::to_string(i) + ".endpoints"));
    std::string prefix = key + " = \"";
    size_t at = text.find(prefix);
    if (at == std::string::npos) return "";
    at += prefix.size();
    size_t end = text.find('"', at);
    return end == std::string::npos ? "" : text.substr(at, end - at);
  }

  void start_agent(size_t i) {
    if (agents_.size() <= i) agents_.resize(i + 1);
    std::string name = "agent-" + std::to_string(i);
    std::string text = "[node]\nname = \"" + name +
                       "\"\nroles = [\"agent\"]\nleader = \"leader_zookeeper\"\nwork_dir = \"" +
                       (dir_ / name).string() + "\"\nplugin_dirs = [\"" TESSERA_PLUGIN_DIR "\"]\n" +
                       "[agent]\nisolators = [\"isolator_posix\"]\nhostname = \"" + name +
                       "\"\nresources = \"cpus:2;mem:512;disk:512;ports:[" +
                       std::to_string(31000 + i * 100) + "-" + std::to_string(31099 + i * 100) +
                       "]\"\n" + leader_table() + "[plugins.isolator_posix]\nkill_on_stop = true\n";
    auto config = dir_.write(name + ".toml", text);
    agents_[i] = std::make_unique<Process>(
        std::vector<std::string>{TESSERA_HOST_BIN, config.string()}, dir_ / (name + ".log"));
  }

  // Starts `masters` masters in order (the first serves before the others start, so it leads;
  // the others stand by) and `agents` agents, and waits until the leader has every agent
  // active.
  ::testing::AssertionResult start(size_t masters, size_t agents) {
    start_master(0);
    if (wait_leader() != 0) return ::testing::AssertionFailure() << "no leader:\n" << logs();
    for (size_t i = 1; i < masters; ++i) start_master(i);
    for (size_t i = 1; i < masters; ++i) {
      if (!masters_[i]->wait_for("standing by")) {
        return ::testing::AssertionFailure() << "master " << i << " is not a standby:\n" << logs();
      }
    }
    for (size_t i = 0; i < agents; ++i) start_agent(i);
    if (!eventually([&] { return active_agents().size() == agents; }, std::chrono::seconds(60))) {
      return ::testing::AssertionFailure() << "the agents did not register:\n" << logs();
    }
    return ::testing::AssertionSuccess();
  }

  size_t masters() const { return masters_.size(); }
  Process* master(size_t i) { return i < masters_.size() ? masters_[i].get() : nullptr; }
  Process* agent(size_t i) { return i < agents_.size() ? agents_[i].get() : nullptr; }
  // SIGKILL, and the process is forgotten (its work dir stays).
  void kill_master(size_t i) { masters_[i].reset(); }

  bool running(size_t i) {
    return masters_[i] && !masters_[i]->wait(std::chrono::milliseconds(0)).has_value();
  }

  // The master serving now (excluding `except`), or -1.
  int leader(int except = -1) {
    for (size_t i = 0; i < masters_.size(); ++i) {
      if (static_cast<int>(i) == except || !running(i)) continue;
      if (masters_[i]->output().find(kServing) != std::string::npos) return static_cast<int>(i);
    }
    return -1;
  }

  // Waits until a master other than `except` serves; returns it (-1 after `timeout`).
  int wait_leader(int except = -1, std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
    int found = -1;
    eventually([&] { return (found = leader(except)) >= 0; }, timeout);
    return found;
  }

  // Runs the CLI with `args` and the cluster's zk:// address; {exit code, output}.
  std::pair<int, std::string> cli(std::vector<std::string> args) {
    std::vector<std::string> argv{TESSERA_CLI_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"--master", address(), "--json", "--connect-timeout", "10"});
    return run(argv, dir_ / ("cli." + std::to_string(++cli_runs_) + ".log"));
  }

  // The ids of the agents the leading master has active (through the CLI); empty on failure.
  std::set<std::string> active_agents() {
    auto [code, out] = cli({"agents"});
    std::set<std::string> ids;
    if (code != 0) return ids;
    boost::json::value listing = boost::json::parse(out);
    for (const auto& agent : listing.at("agents").as_array()) {
      if (agent.at("active").as_bool()) ids.insert(std::string(agent.at("id").as_string()));
    }
    return ids;
  }

  // Task id -> {state, agent id} as the leading master lists them (through the CLI).
  std::map<std::string, std::pair<std::string, std::string>> tasks() {
    auto [code, out] = cli({"tasks"});
    std::map<std::string, std::pair<std::string, std::string>> listed;
    if (code != 0) return listed;
    boost::json::value listing = boost::json::parse(out);
    for (const auto& task : listing.at("tasks").as_array()) {
      listed[std::string(task.at("id").as_string())] = {
          std::string(task.at("state").as_string()), std::string(task.at("slave_id").as_string())};
    }
    return listed;
  }

  std::string logs() {
    std::string out;
    for (size_t i = 0; i < masters_.size(); ++i) {
      if (masters_[i]) out += "--- master " + std::to_string(i) + ":\n" + masters_[i]->output();
    }
    for (size_t i = 0; i < agents_.size(); ++i) {
      if (agents_[i]) out += "--- agent " + std::to_string(i) + ":\n" + agents_[i]->output();
    }
    return out;
  }

 private:
  std::string leader_table() const {
    return "[plugins.leader_zookeeper]\nservers = \"" + zookeeper_.connect_string() +
           "\"\npath = \"" + kPath +
           "\"\nsession_timeout_ms = " + std::to_string(session_timeout_ms_) + "\n";
  }

  const TempDir& dir_;
  ZooKeeperServers zookeeper_;
  int session_timeout_ms_;
  std::vector<std::unique_ptr<Process>> masters_;
  std::vector<int> starts_;
  std::vector<std::unique_ptr<Process>> agents_;
  int cli_runs_ = 0;
};

}  // namespace tessera::testing

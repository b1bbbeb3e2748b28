// Test support: a real cluster of tessera-host processes on loopback, each node with its own
// TOML file and work dir under one TempDir. The master binds port 0 and announces its endpoint
// through its endpoints file; agents are configured with that endpoint. Every process it starts
// ends with the cluster, and every task they start with the TempDir (support/process.h); both
// end with the test binary, however it ends.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "support/process.h"

namespace tessera::testing {

struct MasterSettings {
  std::string allocator = "allocator_drf";
  std::string endpoint = "tcp://127.0.0.1:0";
  // Short, so that losses are noticed in seconds.
  int agent_ping_interval_ms = 200;
  int agent_ping_timeout_ms = 1500;
  int agent_removal_timeout_ms = 2000;
  int heartbeat_interval_ms = 300;
  std::string extra;       // more TOML for [master], and any tables after it
  std::string node_extra;  // more TOML for [node] (services = [...])
};

struct AgentSettings {
  std::string resources = "cpus:4;mem:1024;disk:1024;ports:[31000-31099]";
  std::string extra;                             // more TOML for [agent]
  std::string isolators = "\"isolator_posix\"";  // the [agent] isolators list, inside [ ]
  std::string plugins;                           // more TOML tables after the agent's plugin tables
  std::string master;  // the master endpoint the agent is given (empty: the cluster's master)
};

class Cluster {
 public:
  explicit Cluster(const TempDir& dir) : dir_(dir) {}
  ~Cluster() {
    // Agents first, then the master; Process's destructor SIGKILLs whatever does not stop. The
    // tasks of agents that were killed live on (as they would on a real machine) until the
    // test's TempDir, which holds their sandboxes, ends them (support/process.h).
    for (auto& agent : agents_) {
      if (agent) agent->stop(std::chrono::seconds(10));
    }
    if (master_) master_->stop(std::chrono::seconds(10));
  }

  // Starts the master and waits for its endpoint. Returns false (with the log) on failure.
  ::testing::AssertionResult start_master(const MasterSettings& settings = {}) {
    master_settings_ = settings;
    std::string text =
        "[node]\nname = \"master\"\nroles = [\"master\"]\nleader = \"leader_standalone\"\n"
        "work_dir = \"" +
        (dir_ / "master").string() +
        "\"\n"
        "plugin_dirs = [\"" TESSERA_PLUGIN_DIR
        "\"]\n"
        "endpoints_file = \"" +
        (dir_ / "master.endpoints").string() + "\"\n" + settings.node_extra +
        "\n[master]\nallocator = \"" + settings.allocator +
        "\"\n"
        "endpoint = \"" +
        settings.endpoint +
        "\"\n"
        "agent_ping_interval_ms = " +
        std::to_string(settings.agent_ping_interval_ms) +
        "\nagent_ping_timeout_ms = " + std::to_string(settings.agent_ping_timeout_ms) +
        "\nagent_removal_timeout_ms = " + std::to_string(settings.agent_removal_timeout_ms) +
        "\nheartbeat_interval_ms = " + std::to_string(settings.heartbeat_interval_ms) + "\n" +
        settings.extra + "\n";
    auto config = dir_.write("master.toml", text);
    master_ = std::make_unique<Process>(std::vector<std::string>{TESSERA_HOST_BIN, config.string()},
                                        dir_ / "master.log");
    std::regex line("master\\.endpoint = \"([^\"]+)\"");
    for (int i = 0; i < 500; ++i) {
      std::smatch m;
      std::string text2 = read_file(dir_ / "master.endpoints");
      if (std::regex_search(text2, m, line)) {
        endpoint_ = m[1];
        if (master_->wait_for("from the registry; serving", std::chrono::seconds(10))) {
          return ::testing::AssertionSuccess();
        }
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return ::testing::AssertionFailure() << "master did not start:\n" << master_->output();
  }

  // Starts agent number `index` (its work dir is kept across restarts), and waits until it is
  // registered: the master has admitted it and the agent has taken (and saved) its id.
  ::testing::AssertionResult start_agent(size_t index, const AgentSettings& settings = {}) {
    if (agents_.size() <= index) agents_.resize(index + 1);
    if (agent_settings_.size() <= index) agent_settings_.resize(index + 1);
    agent_settings_[index] = settings;
    std::string name = "agent" + std::to_string(index);
    std::string text = "[node]\nname = \"" + name +
                       "\"\nroles = [\"agent\"]\nleader = \"leader_standalone\"\n"
                       "work_dir = \"" +
                       (dir_ / name).string() +
                       "\"\n"
                       "plugin_dirs = [\"" TESSERA_PLUGIN_DIR
                       "\"]\n"
                       "[agent]\nisolators = [" +
                       settings.isolators + "]\nhostname = \"" + name +
                       "\"\n"
                       "resources = \"" +
                       settings.resources + "\"\n" + settings.extra +
                       "\n"
                       "[plugins.leader_standalone]\nmaster = \"" +
                       (settings.master.empty() ? endpoint_ : settings.master) +
                       "\"\n"
                       "[plugins.isolator_posix]\nkill_on_stop = true\n" +
                       settings.plugins;
    auto config = dir_.write(name + ".toml", text);
    size_t before =
        master_ ? master_->count("registered agent") + master_->count("re-registered agent") : 0;
    agents_[index] = std::make_unique<Process>(
        std::vector<std::string>{TESSERA_HOST_BIN, config.string()}, dir_ / (name + ".log"));
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      size_t now = master_->count("registered agent") + master_->count("re-registered agent");
      // The agent's own line too: it has its id on disk only once it has read the answer.
      if (now > before && master_->output().find("at " + name + " with") != std::string::npos &&
          agents_[index]->output().find("agent: registered as '") != std::string::npos) {
        return ::testing::AssertionSuccess();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return ::testing::AssertionFailure() << name << " did not register:\n"
                                         << agents_[index]->output() << "\nmaster:\n"
                                         << master_->output();
  }

  // Stops the master (SIGTERM) and starts it again on the same work dir and the same endpoint
  // (the port it bound the first time), as an operator restarting it would; with `crash`, kills
  // it (SIGKILL) instead, as a power cut or the OOM killer would.
  ::testing::AssertionResult restart_master(bool crash = false) {
    if (crash) master_->signal(SIGKILL);
    if (auto code = master_->stop(std::chrono::seconds(10)); code != 0 && !crash) {
      return ::testing::AssertionFailure() << "master did not stop cleanly:\n" << master_->output();
    }
    std::filesystem::rename(dir_ / "master.log", dir_ / "master.before-restart.log");
    std::filesystem::remove(dir_ / "master.endpoints");
    MasterSettings settings = master_settings_;
    settings.endpoint = endpoint_;
    return start_master(settings);
  }

  // Starts a host that runs framework plugins without leading, as a standby master host would:
  // no role of its own, its leader plugin naming the master, its store the master's SQLite
  // file (so that it reads what the leading host wrote). `extra` is TOML after [master], such
  // as "frameworks = [...]" and the plugins' tables; its endpoints are in standby.endpoints.
  std::unique_ptr<Process> start_standby(const std::string& extra) {
    std::filesystem::path store;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(dir_ / "master")) {
      if (entry.path().filename() == "store.sqlite") store = entry.path();
    }
    std::string text =
        "[node]\nname = \"standby\"\nroles = []\nleader = \"leader_standalone\"\n"
        "work_dir = \"" +
        (dir_ / "standby").string() +
        "\"\n"
        "plugin_dirs = [\"" TESSERA_PLUGIN_DIR
        "\"]\n"
        "endpoints_file = \"" +
        (dir_ / "standby.endpoints").string() +
        "\"\n"
        "[plugins.leader_standalone]\nmaster = \"" +
        endpoint_ + "\"\nstore_file = \"" + store.string() + "\"\n[master]\n" + extra;
    return std::make_unique<Process>(
        std::vector<std::string>{TESSERA_HOST_BIN, dir_.write("standby.toml", text).string()},
        dir_ / "standby.log");
  }

  Process& master() { return *master_; }
  Process& agent(size_t index) { return *agents_.at(index); }
  // Forgets a stopped or killed agent process (its work dir stays, and so do its tasks).
  void drop_agent(size_t index) { agents_.at(index).reset(); }
  const std::string& endpoint() const { return endpoint_; }
  const TempDir& dir() const { return dir_; }

 private:
  const TempDir& dir_;
  MasterSettings master_settings_;
  std::vector<AgentSettings> agent_settings_;
  std::unique_ptr<Process> master_;
  std::vector<std::unique_ptr<Process>> agents_;
  std::string endpoint_;
};

}  // namespace tessera::testing

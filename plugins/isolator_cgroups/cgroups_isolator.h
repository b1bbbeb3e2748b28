// CgroupsIsolator: every task in a cgroup of its own (cpu shares and an optional CFS cap, a
// memory limit, a pids limit), served as the isolator half of the isolator protocol
// (protocol/isolator.h: prepare, isolate, update, usage, cleanup, recover; limitations pushed).
// The cgroup logic is cgroups.h, a plain library; plugin.cpp holds the descriptor.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "cgroups.h"
#include "tessera/protocol/isolator.h"
#include "tessera/sdk/plugin.h"

namespace tessera::isolator_cgroups {

class CgroupsIsolator : public tessera::sdk::IsolatorPlugin {
 public:
  explicit CgroupsIsolator(tessera::sdk::PluginContext& context);

  tessera::Status configure(tessera::sdk::ConfigTable& table) override;
  tessera::Status start() override;
  // Removes the agent's own parent cgroup when no task is left in it (tasks that keep running
  // for a restarted agent keep it).
  void stopping() override;

 private:
  struct Container {
    std::string peer;  // who hears of its limitations: the agent that prepared or recovered it
    Limits limits;
    bool limitation_sent = false;
  };

  void prepare(const tessera::sdk::Request& request, const protocol::isolator::Prepare& prepare);
  void isolate(const tessera::sdk::Request& request, const protocol::isolator::Isolate& isolate);
  void update(const tessera::sdk::Request& request, const protocol::isolator::Update& update);
  void usage(const tessera::sdk::Request& request, const protocol::isolator::GetUsage& usage);
  void cleanup(const tessera::sdk::Request& request, const protocol::isolator::Cleanup& cleanup);
  void recover(const tessera::sdk::Request& request, const protocol::isolator::Recover& recover);
  void fail(const tessera::sdk::Request& request, const std::string& container_id,
            const std::string& message);
  // The OOM killer ran in a container's cgroup: its limitation, said once.
  void check_limits();
  std::string memory_message(const Container& container) const;

  // Where it serves: the agent of its host connects to isolator::endpoint(NAME), the default;
  // tests that play the agent from another process set another address.
  std::string endpoint_;
  std::string version_ = "auto";
  std::string parent_ = "tessera";
  LimitSettings settings_;
  int64_t oom_poll_ms_ = 250;

  std::optional<Cgroups> cgroups_;
  std::map<std::string, Container> containers_;
  std::unique_ptr<tessera::sdk::Server> server_;
};

}  // namespace tessera::isolator_cgroups
